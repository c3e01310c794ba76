#include "capture/af_packet.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "common/owners.h"

namespace xb::capture {

std::optional<FanoutType> fanout_from_cluster_type(std::string_view name) {
    if (name == "cluster_flow") return FanoutType::Hash;
    if (name == "cluster_cpu") return FanoutType::Cpu;
    if (name == "cluster_qm") return FanoutType::QueueMapping;
    if (name == "cluster_rollover") return FanoutType::Rollover;
    if (name == "cluster_round_robin") return FanoutType::LoadBalance;
    return std::nullopt;
}

namespace {

// "v0 (ifindex 3)" when the name is known in the calling namespace, else "ifindex 3".
std::string describe_interface(int ifindex) {
    char name[IF_NAMESIZE] = {};
    std::string where = "ifindex " + std::to_string(ifindex);
    if (ifindex > 0 && if_indextoname(static_cast<unsigned>(ifindex), name) != nullptr)
        return std::string(name) + " (" + where + ")";
    return where;
}

uint16_t fanout_mode(FanoutType t) {
    switch (t) {
    // DEFRAG so that the fragments of one datagram hash alike and reach the same thread, as Suricata does.
    case FanoutType::Hash: return PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG;
    case FanoutType::Cpu: return PACKET_FANOUT_CPU;
    case FanoutType::QueueMapping: return PACKET_FANOUT_QM;
    case FanoutType::LoadBalance: return PACKET_FANOUT_LB;
    case FanoutType::Rollover: return PACKET_FANOUT_ROLLOVER;
    }
    return PACKET_FANOUT_HASH;
}

bool is_power_of_two(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

Status validate(const AfPacketOptions& o, const std::string& where) {
    const long page = sysconf(_SC_PAGESIZE);
    if (o.ifindex <= 0) return Error{EINVAL, "af-packet needs an interface: ifindex " + std::to_string(o.ifindex) + " is not one"};
    if (!is_power_of_two(o.block_size) || page <= 0 || o.block_size % static_cast<uint32_t>(page) != 0)
        return Error{EINVAL, "af-packet block-size " + std::to_string(o.block_size) + " on " + where +
                                 " must be a power of two and a multiple of the page size (" + std::to_string(page) + ")"};
    if (o.frame_size < TPACKET3_HDRLEN || o.frame_size % TPACKET_ALIGNMENT != 0 || o.frame_size > o.block_size)
        return Error{EINVAL, "af-packet frame-size " + std::to_string(o.frame_size) + " on " + where + " must be a multiple of " +
                                 std::to_string(TPACKET_ALIGNMENT) + " between " + std::to_string(TPACKET3_HDRLEN) +
                                 " and the block size " + std::to_string(o.block_size)};
    if (o.frame_count == 0) return Error{EINVAL, "af-packet frame-count on " + where + " must be at least 1"};
    return {};
}

// The mmap'ed ring, unmapped on destruction.
class RingMapping {
public:
    RingMapping() = default;
    RingMapping(uint8_t* base, size_t length) : base_(base), length_(length) {}
    RingMapping(RingMapping&& o) noexcept : base_(std::exchange(o.base_, nullptr)), length_(std::exchange(o.length_, 0)) {}
    RingMapping& operator=(RingMapping&&) = delete;
    RingMapping(const RingMapping&) = delete;
    ~RingMapping() {
        if (base_ != nullptr) munmap(base_, length_);
    }
    uint8_t* base() const { return base_; }

private:
    uint8_t* base_ = nullptr;
    size_t length_ = 0;
};

class AfPacketReceiver final : public Receiver {
public:
    AfPacketReceiver(UniqueFd fd, RingMapping ring, uint32_t block_size, uint32_t block_count, int ifindex, std::string where)
        : fd_(std::move(fd)), ring_(std::move(ring)), block_size_(block_size), block_count_(block_count),
          ifindex_(ifindex), where_(std::move(where)) {}

    Method method() const override { return Method::AfPacket; }
    int fd() const override { return fd_.get(); }

    Result<size_t> receive(std::span<Packet> out, int timeout_ms) override {
        using Clock = std::chrono::steady_clock;
        const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : 0);
        size_t n = 0;
        while (n < out.size()) {
            if (remaining_in_block_ == 0) {
                // Every block is handed out and none released yet: the next one is still ours.
                if (finished_blocks_ == block_count_) break;
                tpacket_block_desc* desc = block(read_block_);
                if ((__atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
                    if (n > 0 || timeout_ms == 0) break;
                    int wait_ms = -1;
                    if (timeout_ms > 0) {
                        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
                        if (left <= 0) break;
                        wait_ms = static_cast<int>(left);
                    }
                    Status waited = wait_readable(wait_ms);
                    if (!waited) return waited.error();
                    continue;  // readable or not, the block status says whether there is something
                }
                remaining_in_block_ = desc->hdr.bh1.num_pkts;
                next_frame_ = reinterpret_cast<uint8_t*>(desc) + desc->hdr.bh1.offset_to_first_pkt;
                if (remaining_in_block_ == 0) {  // an empty block the timer retired: nothing to hand out
                    finish_block();
                    continue;
                }
            }
            const auto* hdr = reinterpret_cast<const tpacket3_hdr*>(next_frame_);
            next_frame_ += hdr->tp_next_offset;
            if (--remaining_in_block_ == 0) finish_block();
            const auto* sll = reinterpret_cast<const sockaddr_ll*>(reinterpret_cast<const uint8_t*>(hdr) +
                                                                  TPACKET_ALIGN(sizeof(tpacket3_hdr)));
            if (sll->sll_pkttype == PACKET_OUTGOING) continue;
            Packet& p = out[n++];
            p = Packet{};
            p.data = reinterpret_cast<const uint8_t*>(hdr) + hdr->tp_mac;
            p.caplen = hdr->tp_snaplen;
            p.wirelen = hdr->tp_len;
            p.timestamp_ns = static_cast<uint64_t>(hdr->tp_sec) * 1000000000ull + hdr->tp_nsec;
            p.ifindex = static_cast<uint32_t>(ifindex_);
            if (hdr->tp_status & TP_STATUS_VLAN_VALID) {
                p.vlan_tci[0] = static_cast<uint16_t>(hdr->hv1.tp_vlan_tci);
                p.vlan_count = 1;
            }
        }
        if (n > 0) {
            received_ += n;
            ++batches_;
        }
        return n;
    }

    void release() override {
        for (; finished_blocks_ > 0; --finished_blocks_) {
            __atomic_store_n(&block(release_block_)->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
            release_block_ = (release_block_ + 1) % block_count_;
        }
    }

    Result<ReceiverStats> stats() override {
        tpacket_stats_v3 st{};
        socklen_t len = sizeof st;
        if (getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0)
            return Error::from_errno(errno, "PACKET_STATISTICS on " + where_);
        kernel_drops_ += st.tp_drops;  // the kernel resets its counters on every read
        return ReceiverStats{received_, kernel_drops_, batches_};
    }

private:
    tpacket_block_desc* block(uint32_t index) const {
        return reinterpret_cast<tpacket_block_desc*>(ring_.base() + static_cast<size_t>(index) * block_size_);
    }

    void finish_block() {
        remaining_in_block_ = 0;
        ++finished_blocks_;
        read_block_ = (read_block_ + 1) % block_count_;
    }

    Status wait_readable(int wait_ms) {
        pollfd pfd{fd_.get(), POLLIN, 0};
        int r = poll(&pfd, 1, wait_ms);
        if (r < 0) return Error::from_errno(errno, "poll on the af-packet socket of " + where_);
        if (r > 0 && (pfd.revents & POLLNVAL)) return Error::from_errno(EBADF, "poll on the af-packet socket of " + where_);
        if (r > 0 && (pfd.revents & POLLERR)) {
            // Reading SO_ERROR clears it; an error that names no cause would make poll() spin.
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
            return Error::from_errno(err != 0 ? err : EIO, "af-packet socket of " + where_);
        }
        return {};
    }

    UniqueFd fd_;
    RingMapping ring_;
    uint32_t block_size_;
    uint32_t block_count_;
    int ifindex_;
    std::string where_;
    // Blocks are read and released in ring order: release_block_ is the oldest one handed out and not
    // yet released, finished_blocks_ of them are done, read_block_ is the one being read or next.
    uint32_t read_block_ = 0;
    uint32_t release_block_ = 0;
    uint32_t finished_blocks_ = 0;
    uint32_t remaining_in_block_ = 0;
    const uint8_t* next_frame_ = nullptr;
    uint64_t received_ = 0;
    uint64_t batches_ = 0;
    uint64_t kernel_drops_ = 0;
};

}  // namespace

Result<std::unique_ptr<Receiver>> open_af_packet(const AfPacketOptions& o) {
    const std::string where = describe_interface(o.ifindex);
    if (Status valid = validate(o, where); !valid) return valid.error();

    // Protocol 0 until bind: the socket queues nothing from other interfaces before the ring is ready.
    UniqueFd fd(socket(AF_PACKET, SOCK_RAW, 0));
    if (!fd) return Error::from_errno(errno, "af-packet socket for " + where);
    int version = TPACKET_V3;
    if (setsockopt(fd.get(), SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
        return Error::from_errno(errno, "PACKET_VERSION TPACKET_V3 on " + where);

    const uint32_t frames_per_block = o.block_size / o.frame_size;
    // At least 4 blocks, whatever the ring size: the kernel fills one block while the engine still
    // holds others, and a ring of one or two large blocks would drop all the while.
    constexpr uint64_t kMinBlocks = 4;
    const uint64_t wanted_blocks =
        std::max(kMinBlocks, (static_cast<uint64_t>(o.frame_count) + frames_per_block - 1) / frames_per_block);
    if (wanted_blocks > UINT32_MAX / frames_per_block)
        return Error{EINVAL, "af-packet frame-count " + std::to_string(o.frame_count) + " on " + where + " is too large"};
    tpacket_req3 req{};
    req.tp_block_size = o.block_size;
    req.tp_block_nr = static_cast<uint32_t>(wanted_blocks);
    req.tp_frame_size = o.frame_size;
    req.tp_frame_nr = req.tp_block_nr * frames_per_block;
    req.tp_retire_blk_tov = o.block_timeout_ms;
    // No TP_FT_REQ_FILL_RXHASH: nothing reads tp_rxhash, and asking for it runs the flow dissector on
    // every frame that no fanout hashes anyway (bench/capture_bench, one thread: receive cost 0.95-0.97x
    // of libpcap's with it, 1.02x without).
    if (setsockopt(fd.get(), SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
        return Error::from_errno(errno, "PACKET_RX_RING (" + std::to_string(req.tp_block_nr) + " blocks of " +
                                            std::to_string(req.tp_block_size) + " bytes) on " + where);
    const size_t ring_bytes = static_cast<size_t>(req.tp_block_nr) * req.tp_block_size;
    void* base = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (base == MAP_FAILED) return Error::from_errno(errno, "mmap of the " + std::to_string(ring_bytes) + "-byte ring on " + where);
    RingMapping ring(static_cast<uint8_t*>(base), ring_bytes);

    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = o.ifindex;
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return Error::from_errno(errno, "bind of the af-packet socket to " + where);

    // The kernel joins only bound sockets to a fanout group, and every member must be bound alike.
    if (o.fanout_group != 0) {
        const uint32_t arg = o.fanout_group | (static_cast<uint32_t>(fanout_mode(o.fanout_type)) << 16);
        if (setsockopt(fd.get(), SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0)
            return Error::from_errno(errno, "PACKET_FANOUT group " + std::to_string(o.fanout_group) + " on " + where +
                                                " (members of a group must share type and interface)");
    }
    return std::unique_ptr<Receiver>(
        new AfPacketReceiver(std::move(fd), std::move(ring), req.tp_block_size, req.tp_block_nr, o.ifindex, where));
}

}  // namespace xb::capture
