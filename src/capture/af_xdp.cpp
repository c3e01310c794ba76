#include "capture/af_xdp.h"

#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <xdp/xsk.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace xb::capture {

namespace {

// The kernel's smallest UMEM chunk (XDP_UMEM_MIN_CHUNK_SIZE in net/xdp/xdp_umem.h, not in the uapi).
constexpr uint32_t kMinFrameSize = 2048;

bool power_of_two(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

uint64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

class AfXdpReceiver final : public Receiver {
public:
    explicit AfXdpReceiver(const AfXdpOptions& o) : opt_(o) {}
    AfXdpReceiver(const AfXdpReceiver&) = delete;
    AfXdpReceiver& operator=(const AfXdpReceiver&) = delete;

    ~AfXdpReceiver() override {
        // While our socket is bound to (interface, queue) no other socket can bind there, so the slot
        // holds ours or nothing: deleting it first stops redirects into a socket about to close.
        if (in_map_) {
            uint32_t key = opt_.queue;
            (void)bpf_map_delete_elem(opt_.xsk_map_fd, &key);
        }
        if (xsk_) xsk_socket__delete(xsk_);
        if (umem_) (void)xsk_umem__delete(umem_);
        if (area_ != MAP_FAILED) ::munmap(area_, area_size_);
    }

    Status open();

    Method method() const override { return Method::AfXdp; }
    int fd() const override { return xsk_ ? xsk_socket__fd(xsk_) : -1; }
    Result<size_t> receive(std::span<Packet> out, int timeout_ms) override;
    void release() override;
    Result<ReceiverStats> stats() override;

private:
    std::string where() const {
        return "interface " + opt_.ifname + " queue " + std::to_string(opt_.queue);
    }
    Error fail(int err, const std::string& what) const { return Error::from_errno(err, what + " on " + where()); }
    // Hands free frames to the kernel, as many as the fill ring takes.
    void refill();
    // Wakes the kernel when it asked for it (XDP_USE_NEED_WAKEUP): it stopped looking at the fill ring.
    void kick_if_needed();

    AfXdpOptions opt_;
    void* area_ = MAP_FAILED;
    size_t area_size_ = 0;
    xsk_umem* umem_ = nullptr;
    xsk_socket* xsk_ = nullptr;
    xsk_ring_prod fill_{};
    xsk_ring_cons comp_{};
    xsk_ring_cons rx_{};
    bool in_map_ = false;
    // Moderation state (see AfXdpOptions::batch_wait_us).
    bool drained_ = false;            // the last receive() emptied the rx ring (fewer than asked for)
    double rate_pps_ = 0;             // arrival rate between the last batches; 0: none known (quiet)
    std::chrono::steady_clock::time_point last_batch_{};
    uint32_t held_ = 0;               // rx descriptors handed out since the last release()
    uint32_t held_first_ = 0;         // rx ring index of the first of them
    std::vector<uint64_t> free_;      // frame addresses owned by user space, not in any ring
    ReceiverStats counts_;
};

Status AfXdpReceiver::open() {
    if (opt_.ifname.empty() && opt_.ifindex > 0) {
        char name[IF_NAMESIZE] = {};
        if (!if_indextoname(static_cast<unsigned>(opt_.ifindex), name))
            return Error::from_errno(errno, "cannot find interface " + std::to_string(opt_.ifindex) +
                                                " for AF_XDP capture on queue " + std::to_string(opt_.queue));
        opt_.ifname = name;
    }
    if (opt_.ifname.empty())
        return Error{EINVAL, "AF_XDP capture needs an interface name or index (queue " + std::to_string(opt_.queue) +
                                 ")"};
    if (opt_.ifindex <= 0) {
        unsigned idx = if_nametoindex(opt_.ifname.c_str());
        if (idx == 0) return fail(errno, "cannot find the interface for AF_XDP capture");
        opt_.ifindex = static_cast<int>(idx);
    }
    if (opt_.xsk_map_fd < 0)
        return Error{EINVAL, "AF_XDP capture on " + where() +
                                 " needs the bypass program's xb_xsk_map (load it with xsk_queues > 0)"};
    if (!power_of_two(opt_.ring_size))
        return Error{EINVAL, "AF_XDP ring size " + std::to_string(opt_.ring_size) + " on " + where() +
                                 " is not a power of two"};
    // Aligned UMEM: the kernel finds a frame's start by masking, which needs a power of two.
    if (!power_of_two(opt_.frame_size) || opt_.frame_size < kMinFrameSize)
        return Error{EINVAL, "AF_XDP frame size " + std::to_string(opt_.frame_size) + " on " + where() +
                                 " is not a power of two of at least " + std::to_string(kMinFrameSize)};
    if (opt_.frame_count == 0)
        return Error{EINVAL, "AF_XDP capture on " + where() + " needs at least one UMEM frame"};
    if (opt_.generic && opt_.bind == XskBind::ZeroCopy)
        return Error{EOPNOTSUPP, "AF_XDP zero-copy on " + where() +
                                     " needs the XDP program in native mode, and it runs in generic mode"};

    area_size_ = static_cast<size_t>(opt_.frame_count) * opt_.frame_size;
    area_ = ::mmap(nullptr, area_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area_ == MAP_FAILED) return fail(errno, "cannot map " + std::to_string(area_size_) + " bytes of UMEM");

    xsk_umem_config ucfg{};
    ucfg.fill_size = opt_.ring_size;
    ucfg.comp_size = opt_.ring_size;
    ucfg.frame_size = opt_.frame_size;
    ucfg.frame_headroom = XSK_UMEM__DEFAULT_FRAME_HEADROOM;
    ucfg.flags = XSK_UMEM__DEFAULT_FLAGS;
    if (int err = xsk_umem__create(&umem_, area_, area_size_, &fill_, &comp_, &ucfg)) {
        umem_ = nullptr;
        return fail(-err, "cannot register the AF_XDP UMEM");
    }

    xsk_socket_config scfg{};
    scfg.rx_size = opt_.ring_size;
    scfg.tx_size = 0;  // receive only
    // Our bypass program is the XDP program: libxdp must not load (or look for) its own.
    scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
    scfg.xdp_flags = opt_.generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
    scfg.bind_flags = static_cast<uint16_t>((opt_.bind == XskBind::ZeroCopy ? XDP_ZEROCOPY : XDP_COPY) |
                                            XDP_USE_NEED_WAKEUP);
    if (int err = xsk_socket__create(&xsk_, opt_.ifname.c_str(), opt_.queue, umem_, &rx_, nullptr, &scfg)) {
        xsk_ = nullptr;
        return fail(-err, std::string("cannot bind an AF_XDP socket in ") +
                              (opt_.bind == XskBind::ZeroCopy ? "zero-copy" : "copy") + " mode");
    }

    // Every frame starts in user space; the fill ring takes as many as it holds, the rest wait in
    // free_ for room (frames the kernel fills come back through release()).
    free_.reserve(opt_.frame_count);
    for (uint32_t i = opt_.frame_count; i-- > 0;) free_.push_back(static_cast<uint64_t>(i) * opt_.frame_size);
    refill();

    uint32_t key = opt_.queue;
    int sock = xsk_socket__fd(xsk_);
    // BPF_NOEXIST: a slot holding another socket belongs to someone else; never take it over.
    if (bpf_map_update_elem(opt_.xsk_map_fd, &key, &sock, BPF_NOEXIST) != 0) {
        int err = errno;
        if (err == EEXIST) return fail(err, "another AF_XDP socket already holds xb_xsk_map's slot");
        if (err == E2BIG)
            return fail(err, "the queue is beyond xb_xsk_map's slots (load the program with more xsk queues)");
        return fail(err, "cannot put the AF_XDP socket into xb_xsk_map");
    }
    in_map_ = true;
    return {};
}

void AfXdpReceiver::refill() {
    if (free_.empty()) return;
    uint32_t idx = 0;
    uint32_t n = xsk_prod_nb_free(&fill_, static_cast<uint32_t>(free_.size()));
    n = std::min<uint32_t>(n, static_cast<uint32_t>(free_.size()));
    if (n == 0 || xsk_ring_prod__reserve(&fill_, n, &idx) != n) return;
    for (uint32_t i = 0; i < n; ++i) {
        *xsk_ring_prod__fill_addr(&fill_, idx + i) = free_.back();
        free_.pop_back();
    }
    xsk_ring_prod__submit(&fill_, n);
}

void AfXdpReceiver::kick_if_needed() {
    if (xsk_ring_prod__needs_wakeup(&fill_))
        (void)::recvfrom(xsk_socket__fd(xsk_), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
}

Result<size_t> AfXdpReceiver::receive(std::span<Packet> out, int timeout_ms) {
    if (out.empty()) return size_t{0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
    // Sleeps for about a batch's worth of arrivals at the observed rate (see batch_wait_us), once per
    // call: after a batch that emptied the ring, or when the ring is found empty while packets are
    // still coming (rather than sleeping in poll() and being woken by the next NAPI poll).
    bool waited = false;
    auto moderate = [&] {
        waited = true;
        const double target = static_cast<double>(std::min<size_t>(out.size(), std::max<uint32_t>(opt_.ring_size / 8, 1)));
        double us = std::min(target / rate_pps_ * 1e6, static_cast<double>(opt_.batch_wait_us));
        if (timeout_ms > 0) us = std::min(us, static_cast<double>(timeout_ms) * 1000.0);
        if (us < 50) return;  // shorter sleeps save nothing over the poll they replace
        const auto whole = static_cast<long>(us);
        timespec pause{static_cast<time_t>(whole / 1000000), (whole % 1000000) * 1000L};
        nanosleep(&pause, nullptr);
    };
    const bool moderated = opt_.batch_wait_us && timeout_ms != 0;
    if (moderated && drained_ && rate_pps_ > 0) moderate();
    uint32_t idx = 0;
    uint32_t n = 0;
    for (;;) {
        refill();
        kick_if_needed();
        // peek continues after what earlier calls handed out: those entries stay ours until release().
        n = xsk_ring_cons__peek(&rx_, static_cast<uint32_t>(std::min<size_t>(out.size(), UINT32_MAX)), &idx);
        if (n > 0 || timeout_ms == 0) break;
        if (moderated && !waited && rate_pps_ > 0) {
            moderate();
            continue;
        }
        int wait = -1;
        if (timeout_ms > 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            wait = static_cast<int>(left.count());
        }
        pollfd p{xsk_socket__fd(xsk_), POLLIN, 0};
        int r = ::poll(&p, 1, wait);
        if (r < 0) return fail(errno, "waiting for AF_XDP packets failed");
        if (r == 0 && timeout_ms > 0) {
            // one last look: the deadline passed
            n = xsk_ring_cons__peek(&rx_, static_cast<uint32_t>(std::min<size_t>(out.size(), UINT32_MAX)), &idx);
            break;
        }
    }
    const auto batch_time = std::chrono::steady_clock::now();
    drained_ = n > 0 && n < out.size();
    if (n > 0) {
        // The rate over the interval since the last batch; an interval longer than the longest wait
        // means the traffic paused, and the next receive() polls rather than guesses.
        const double dt = std::chrono::duration<double>(batch_time - last_batch_).count();
        if (dt > 0 && dt * 1e6 < 2.0 * std::max<uint32_t>(opt_.batch_wait_us, 1000)) {
            const double now_pps = static_cast<double>(n) / dt;
            rate_pps_ = rate_pps_ > 0 ? 0.5 * rate_pps_ + 0.5 * now_pps : now_pps;
        } else {
            rate_pps_ = 0;
        }
        last_batch_ = batch_time;
    }
    if (n == 0) return size_t{0};
    if (held_ == 0) held_first_ = idx;
    const uint64_t now = realtime_ns();
    for (uint32_t i = 0; i < n; ++i) {
        const xdp_desc* d = xsk_ring_cons__rx_desc(&rx_, idx + i);
        Packet& p = out[i];
        p = Packet{};
        p.data = static_cast<const uint8_t*>(xsk_umem__get_data(area_, d->addr));
        p.caplen = d->len;
        p.wirelen = d->len;
        p.timestamp_ns = now;
        p.ifindex = static_cast<uint32_t>(opt_.ifindex);
        p.queue = opt_.queue;
    }
    held_ += n;
    counts_.received += n;
    counts_.batches++;
    return static_cast<size_t>(n);
}

void AfXdpReceiver::release() {
    if (held_ == 0) return;
    // The descriptor's address points into its frame (after the headroom): mask back to the frame.
    const uint64_t mask = ~static_cast<uint64_t>(opt_.frame_size - 1);
    for (uint32_t i = 0; i < held_; ++i)
        free_.push_back(xsk_ring_cons__rx_desc(&rx_, held_first_ + i)->addr & mask);
    xsk_ring_cons__release(&rx_, held_);
    held_ = 0;
    refill();
}

Result<ReceiverStats> AfXdpReceiver::stats() {
    xdp_statistics st{};
    socklen_t len = sizeof st;
    if (::getsockopt(xsk_socket__fd(xsk_), SOL_XDP, XDP_STATISTICS, &st, &len) != 0)
        return fail(errno, "cannot read the AF_XDP socket's statistics");
    ReceiverStats s = counts_;
    // rx_dropped: no free frame (fill ring empty) or a bad frame; rx_ring_full: the rx ring had no
    // room. Disjoint, one per frame. rx_fill_ring_empty_descs is left out: in copy mode the kernel
    // counts a frame without a fill entry there *and* in rx_dropped (measured: the sum counted each
    // twice), and in zero-copy mode it counts the driver's failed buffer allocations, not frames.
    s.dropped = st.rx_dropped + st.rx_ring_full;
    return s;
}

}  // namespace

Result<std::unique_ptr<Receiver>> open_af_xdp(const AfXdpOptions& options, std::string* zerocopy_refused) {
    if (zerocopy_refused) zerocopy_refused->clear();
    auto r = std::make_unique<AfXdpReceiver>(options);
    if (auto st = r->open(); !st) {
        if (options.bind != XskBind::ZeroCopy || !zerocopy_refused) return st.error();
        // The failed attempt is undone (socket, UMEM, slot) before the queue is bound again.
        r.reset();
        AfXdpOptions copy = options;
        copy.bind = XskBind::Copy;
        r = std::make_unique<AfXdpReceiver>(copy);
        if (auto again = r->open(); !again) return again.error();
        *zerocopy_refused = st.error().message;
    }
    return std::unique_ptr<Receiver>(std::move(r));
}

}  // namespace xb::capture
