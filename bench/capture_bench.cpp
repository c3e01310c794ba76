// Packets per second delivered to user space by each capture method, next to libpcap measured in
// the same round: libpcap (pcap_open_live, TPACKET_V3, immediate mode off, default buffer, snaplen
// 65535, pcap_next_ex), AF_PACKET through capture/af_packet.h (one receiver; two receivers in a
// fanout group, a thread each), and AF_XDP through capture/af_xdp.h (copy mode, fed by xdp_ids_xsk
// attached in native mode). Then a bypassed flow: the generated flows are put into the flow table
// and the packets that still reach user space are counted (expected: 0).
//
// Setup: two namespaces "xbb-<pid>-tx" and "xbb-<pid>-rx" with a veth pair v0 (tx) / v1 (rx), one
// rx and one tx queue each, GRO on v1 (so that v1 accepts XDP frames without a program of its own).
// Load: bench/xb_txgen.bpf.c (XDP_TX) run with BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES, batch
// 64, on v0: every run of the program transmits the frame to v1. 60-byte UDP frames over `--flows`
// flows (source ports 10000..). The generator thread runs on CPU 0; receiver thread 0 on CPU 1
// (a second receiver thread on CPU 0). Note that v1's NAPI poll (XDP, GRO, the stack, the AF_PACKET
// and AF_XDP copy) runs in the generator's softirq, on CPU 0.
//
// Every method is measured in rounds alternating with libpcap; the ratio printed is the median of
// the per-round ratios (so that a noisy moment of the VM weighs on both sides or on none), the pps
// columns are the medians of the rounds. The namespaces are removed on every exit (also on
// SIGINT/SIGTERM); leftovers of a killed run are swept at start. Exits non-zero only on setup errors.
// With --threaded-napi, v1's NAPI poll runs in its kernel thread pinned to CPU 1 instead: then CPU 0
// only generates, and CPU 1 carries the whole receive path (kernel and user space) of one receiver.
// Usage: capture_bench [--rounds N] [--window-ms N] [--flows N] [--xsk-ring N] [--threaded-napi]
//        [--work-ns N] [--only PREFIX] [--verbose] (root).
// --work-ns: every receiver (libpcap's too) spends N ns of CPU on each packet, as an engine's
// inspection would; then the receivers are the limit, and what more threads deliver shows.
// --xsk-ring: ring entries of a second AF_XDP case (default 16384; the first uses the defaults).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sys/socket.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "capture_bench_pcap.h"
#include "capture/af_packet.h"
#include "capture/af_xdp.h"
#include "common/diagnostic.h"
#include "common/netns.h"
#include "datapath/attach.h"
#include "datapath/flow.h"
#include "datapath/program.h"
#include "kernel/bpf_packet_builder.h"
#include "xb_txgen.skel.h"

using namespace xb;
using Clock = std::chrono::steady_clock;

namespace {

// --- namespaces -----------------------------------------------------------------------------------

std::string g_tx_ns, g_rx_ns;  // set once created; removed by cleanup()
bool g_verbose = false;        // --verbose: per-run details on stderr
uint64_t g_work_ns = 0;        // --work-ns N: CPU each receiver spends per packet, as an engine's inspection would

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

void cleanup() {
    for (std::string* ns : {&g_tx_ns, &g_rx_ns}) {
        if (!ns->empty()) (void)sh("ip netns del " + *ns);
        ns->clear();
    }
}

void on_signal(int sig) {
    cleanup();
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

// Namespaces of earlier runs whose process is gone.
void sweep_leftovers() {
    DIR* d = opendir("/run/netns");
    if (!d) return;
    std::vector<std::string> dead;
    while (dirent* e = readdir(d)) {
        int pid = 0;
        char role[8] = {};
        if (std::sscanf(e->d_name, "xbb-%d-%7s", &pid, role) == 2 && pid > 0 &&
            kill(pid, 0) != 0 && errno == ESRCH)
            dead.push_back(e->d_name);
    }
    closedir(d);
    for (const auto& n : dead) (void)sh("ip netns del " + n);
}

bool setup_namespaces(std::string& err) {
    const std::string p = "xbb-" + std::to_string(getpid()) + "-";
    const std::vector<std::pair<std::string, bool>> steps = {
        {"ip netns add " + p + "tx", false},
        {"ip netns add " + p + "rx", false},
        // No IPv6: router solicitations and MLD reports would reach the captures as misses.
        {"ip netns exec " + p + "tx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1", false},
        {"ip netns exec " + p + "rx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1", false},
        {"ip -n " + p + "tx link add v0 address 02:00:00:00:00:01 numtxqueues 1 numrxqueues 1 type veth peer name v1 "
         "address 02:00:00:00:00:02 numtxqueues 1 numrxqueues 1 netns " + p + "rx", false},
        {"ip -n " + p + "tx link set lo up", false},
        {"ip -n " + p + "rx link set lo up", false},
        {"ip -n " + p + "tx link set v0 up", false},
        {"ip -n " + p + "rx link set v1 up", false},
        {"ip netns exec " + p + "rx ethtool -K v1 gro on", false},
    };
    for (size_t i = 0; i < steps.size(); ++i) {
        if (i == 0) g_tx_ns = p + "tx";
        if (i == 1) g_rx_ns = p + "rx";
        if (sh(steps[i].first) != 0) {
            err = "setup failed: " + steps[i].first;
            return false;
        }
    }
    return true;
}

// Pids of kernel threads named exactly `name` (or starting with it, with prefix).
std::vector<int> threads_named(const std::string& name, bool prefix) {
    std::vector<int> out;
    DIR* d = opendir("/proc");
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        int pid = std::atoi(e->d_name);
        if (pid <= 0) continue;
        char buf[64] = {};
        FILE* f = std::fopen(("/proc/" + std::string(e->d_name) + "/comm").c_str(), "r");
        if (!f) continue;
        if (std::fgets(buf, sizeof buf, f)) {
            std::string comm(buf);
            if (!comm.empty() && comm.back() == '\n') comm.pop_back();
            if (prefix ? comm.rfind(name, 0) == 0 : comm == name) out.push_back(pid);
        }
        std::fclose(f);
    }
    closedir(d);
    return out;
}

// --threaded-napi: v1's NAPI poll in a kernel thread of its own ("napi/v1-<id>"), pinned to CPU 1
// with the receivers, instead of the generator's softirq on CPU 0.
std::string g_napi_thread;  // its name, once known

bool enable_threaded_napi(std::string& err) {
    auto before = threads_named("napi/v1-", true);
    if (sh("ip netns exec " + g_rx_ns + " sh -c 'echo 1 > /sys/class/net/v1/threaded'") != 0) {
        err = "cannot enable threaded NAPI on v1";
        return false;
    }
    for (int pid : threads_named("napi/v1-", true)) {
        if (std::find(before.begin(), before.end(), pid) != before.end()) continue;
        char buf[64] = {};
        FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/comm").c_str(), "r");
        if (f && std::fgets(buf, sizeof buf, f)) g_napi_thread = std::string(buf, std::strcspn(buf, "\n"));
        if (f) std::fclose(f);
    }
    if (g_napi_thread.empty()) {
        err = "threaded NAPI on v1: no new napi/v1-* kernel thread appeared";
        return false;
    }
    return true;
}

// Pins the NAPI thread (found by name: it is recreated when v1's NAPI is) to CPU 1.
void pin_napi_thread() {
    if (g_napi_thread.empty()) return;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(1 % std::max(1u, std::thread::hardware_concurrency()), &s);
    for (int pid : threads_named(g_napi_thread, false)) (void)sched_setaffinity(pid, sizeof s, &s);
}

void pin_to(unsigned cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &s);
    (void)pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

// --- CPU accounting -------------------------------------------------------------------------------

uint64_t thread_cpu_ns(std::thread& t) {
    clockid_t cid;
    timespec ts{};
    if (!t.joinable() || pthread_getcpuclockid(t.native_handle(), &cid) != 0 || clock_gettime(cid, &ts) != 0) return 0;
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// CPU time of the kernel threads that can carry v1's receive path: ksoftirqd (softirqs deferred
// out of the generator's context) and threaded NAPI. From the scheduler (/proc/PID/schedstat).
uint64_t kernel_threads_cpu_ns() {
    uint64_t sum = 0;
    for (const char* name : {"ksoftirqd/", "napi/"})
        for (int pid : threads_named(name, true)) {
            FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/schedstat").c_str(), "r");
            if (!f) continue;
            unsigned long long ns = 0;
            if (std::fscanf(f, "%llu", &ns) == 1) sum += ns;
            std::fclose(f);
        }
    return sum;
}

// --- load generator -------------------------------------------------------------------------------

constexpr uint16_t kSportBase = 10000;
constexpr uint16_t kDport = 9;
const char* const kSrcIp = "10.99.0.1";
const char* const kDstIp = "10.99.0.2";

class Generator {
public:
    Generator(int prog_fd, std::vector<uint8_t> frame) : prog_fd_(prog_fd), frame_(std::move(frame)) {}
    ~Generator() { stop(); }

    void start() {
        stop_ = false;
        sent_ = 0;
        error_.clear();
        thread_ = std::thread([this] { run(); });
    }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
    const std::string& error() const { return error_; }
    // CPU time of the generator thread (while it runs): with CONFIG_IRQ_TIME_ACCOUNTING off, as
    // here, it includes the softirqs run on its way out of BPF_PROG_RUN, i.e. v1's NAPI poll.
    uint64_t cpu_ns() { return thread_cpu_ns(thread_); }

private:
    static constexpr int kChunk = 16384;  // frames per BPF_PROG_RUN call: stop is checked between calls

    void run() {
        pin_to(0);
        auto ns = ScopedNetns::enter_named(g_tx_ns);
        if (!ns.ok()) {
            error_ = "cannot enter " + g_tx_ns + ": " + ns.error().message;
            return;
        }
        const int ifindex = static_cast<int>(if_nametoindex("v0"));
        xdp_md md{};
        md.ingress_ifindex = static_cast<uint32_t>(ifindex);
        md.data_end = static_cast<uint32_t>(frame_.size());
        bpf_test_run_opts opts{};
        opts.sz = sizeof opts;
        opts.data_in = frame_.data();
        opts.data_size_in = static_cast<uint32_t>(frame_.size());
        opts.ctx_in = &md;
        opts.ctx_size_in = sizeof md;
        opts.repeat = kChunk;
        opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
        opts.batch_size = 64;
        while (!stop_.load(std::memory_order_relaxed)) {
            if (bpf_prog_test_run_opts(prog_fd_, &opts) != 0) {
                error_ = std::string("BPF_PROG_RUN (live frames) on v0: ") + std::strerror(errno);
                return;
            }
            sent_.fetch_add(kChunk, std::memory_order_relaxed);
        }
    }

    int prog_fd_;
    std::vector<uint8_t> frame_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> sent_{0};
    std::string error_;
};

// --- capture methods ------------------------------------------------------------------------------

// One opened capture: threads() drain functions, each run in its own thread until stop.
class Capture {
public:
    virtual ~Capture() = default;
    virtual size_t threads() const { return 1; }
    virtual void drain(size_t i, const std::atomic<bool>& stop, std::atomic<uint64_t>& count) = 0;
    // Packets the datapath dropped as bypassed (0 without a bypass program); read after the run.
    virtual uint64_t bypass_drops() { return 0; }
    // Packets the kernel dropped because the capture's ring was full (or had no free frame) over
    // the whole run; read after the drain threads are gone.
    virtual uint64_t ring_drops() = 0;
    // The bypass program's counters, for the record: "xsk-redirect N redirect-fail N ..." (or "").
    virtual std::string datapath_counters() { return ""; }
};

class PcapCapture : public Capture {
public:
    static std::unique_ptr<Capture> open(std::string& err) {
        // 100 ms timeout: the TPACKET_V3 block timeout; lets the loop see stop.
        bench::PcapHandle* h = bench::pcap_open("v1", 100, err);
        if (!h) return nullptr;
        return std::unique_ptr<Capture>(new PcapCapture(h));
    }
    ~PcapCapture() override { bench::pcap_close(h_); }
    uint64_t ring_drops() override { return bench::pcap_drops(h_); }
    void drain(size_t, const std::atomic<bool>& stop, std::atomic<uint64_t>& count) override {
        bench::pcap_drain(h_, stop, count, g_work_ns);
    }

private:
    explicit PcapCapture(bench::PcapHandle* h) : h_(h) {}
    bench::PcapHandle* h_;
};

// No capture at all: what the generator offers when v1 only runs GRO and the stack drops the frames.
class NoCapture : public Capture {
public:
    size_t threads() const override { return 0; }
    void drain(size_t, const std::atomic<bool>&, std::atomic<uint64_t>&) override {}
    uint64_t ring_drops() override { return 0; }
};

// v1 drops every frame at XDP (xdp_rxdrop): the generator's cost per frame with the cheapest
// receive, subtracted from each method's to leave what delivering to user space costs.
class XdpDropCapture : public Capture {
public:
    static std::unique_ptr<Capture> open(int prog_fd, std::string& err) {
        auto a = datapath::XdpAttachment::attach(static_cast<int>(if_nametoindex("v1")), prog_fd, datapath::XdpMode::Native);
        if (!a.ok()) {
            err = "attaching xdp_rxdrop native on v1: " + a.error().message;
            return nullptr;
        }
        std::unique_ptr<XdpDropCapture> c(new XdpDropCapture);
        c->a_.emplace(std::move(a).value());
        return c;
    }
    size_t threads() const override { return 0; }
    void drain(size_t, const std::atomic<bool>&, std::atomic<uint64_t>&) override {}
    uint64_t ring_drops() override { return 0; }

private:
    std::optional<datapath::XdpAttachment> a_;
};

void drain_receiver(capture::Receiver& rx, const std::atomic<bool>& stop, std::atomic<uint64_t>& count) {
    std::vector<capture::Packet> batch(256);
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
        auto r = rx.receive(batch, 100);
        if (!r.ok()) {
            if (r.error().code == EINTR) continue;
            break;
        }
        for (size_t i = 0; i < *r; ++i) bench::busy_on_packet(batch[i].data, batch[i].caplen, g_work_ns);
        n += *r;
        rx.release();
        count.store(n, std::memory_order_relaxed);
    }
    if (g_verbose)
        if (auto st = rx.stats(); st.ok())
            std::fprintf(stderr, "  receiver: %llu packets in %llu batches, %llu dropped\n",
                         (unsigned long long)st->received, (unsigned long long)st->batches, (unsigned long long)st->dropped);
}

datapath::FlowKey flow_key(unsigned i) {
    auto k = datapath::make_flow_key("udp", kSrcIp, static_cast<uint16_t>(kSportBase + i), kDstIp, kDport);
    return *k;
}

// The bypass program, attached native on v1, optionally with the generated flows in its table.
struct Datapath {
    std::optional<datapath::BypassProgram> prog;
    std::optional<datapath::XdpAttachment> attachment;

    bool load(uint32_t xsk_queues, unsigned bypass_flows, std::string& err) {
        datapath::ProgramOptions o;
        o.xsk_queues = xsk_queues;
        o.flow_table_size = 65536;
        Diagnostics d;
        auto p = datapath::BypassProgram::load(o, d);
        if (!p.ok()) {
            err = "loading the bypass program: " + p.error().message + "\n" + d.to_text();
            return false;
        }
        prog.emplace(std::move(p).value());
        for (unsigned i = 0; i < bypass_flows; ++i) {
            auto s = prog->flow_table().insert(flow_key(i));
            if (!s.ok()) {
                err = "flow table insert: " + s.error().message;
                return false;
            }
        }
        auto a = datapath::XdpAttachment::attach(static_cast<int>(if_nametoindex("v1")), prog->prog_fd(),
                                                 datapath::XdpMode::Native);
        if (!a.ok()) {
            err = "attaching " + std::string(prog->program_name()) + " native on v1: " + a.error().message;
            return false;
        }
        attachment.emplace(std::move(a).value());
        return true;
    }
    uint64_t drops() {
        if (!prog) return 0;
        auto c = prog->read_counters();
        return c.ok() ? (*c)[XB_CNT_DROP] : 0;
    }
    std::string counters() {
        if (!prog) return "";
        auto c = prog->read_counters();
        if (!c.ok()) return "";
        std::string s;
        for (int i = 0; i < XB_CNT_MAX; ++i)
            if ((*c)[static_cast<enum xb_counter>(i)])
                s += std::string(datapath::counter_name(static_cast<enum xb_counter>(i))) + " " +
                     std::to_string((*c)[static_cast<enum xb_counter>(i)]) + " ";
        return s;
    }
};

class AfPacketCapture : public Capture {
public:
    static std::unique_ptr<Capture> open(unsigned receivers, unsigned bypass_flows, std::string& err) {
        std::unique_ptr<AfPacketCapture> c(new AfPacketCapture);
        if (bypass_flows && !c->dp_.load(0, bypass_flows, err)) return nullptr;
        capture::AfPacketOptions o;
        o.ifindex = static_cast<int>(if_nametoindex("v1"));
        if (receivers > 1) {
            o.fanout_group = static_cast<uint16_t>(getpid() & 0xffff);
            o.fanout_type = capture::FanoutType::Hash;
        }
        for (unsigned i = 0; i < receivers; ++i) {
            auto r = capture::open_af_packet(o);
            if (!r.ok()) {
                err = "open_af_packet v1: " + r.error().message;
                return nullptr;
            }
            c->rx_.push_back(std::move(r).value());
        }
        return c;
    }
    size_t threads() const override { return rx_.size(); }
    void drain(size_t i, const std::atomic<bool>& stop, std::atomic<uint64_t>& count) override {
        drain_receiver(*rx_[i], stop, count);
    }
    uint64_t bypass_drops() override { return dp_.drops(); }
    uint64_t ring_drops() override {
        uint64_t d = 0;
        for (auto& r : rx_)
            if (auto s = r->stats(); s.ok()) d += s->dropped;
        return d;
    }
    std::string datapath_counters() override { return dp_.counters(); }

private:
    Datapath dp_;
    std::vector<std::unique_ptr<capture::Receiver>> rx_;
};

class AfXdpCapture : public Capture {
public:
    // ring 0: AfXdpOptions' defaults (2048 rx/fill entries, 4096 frames of 4096 bytes); else ring
    // entries with twice as many frames of 2048 bytes.
    static std::unique_ptr<Capture> open(unsigned bypass_flows, uint32_t ring, std::string& err) {
        std::unique_ptr<AfXdpCapture> c(new AfXdpCapture);
        if (!c->dp_.load(1, bypass_flows, err)) return nullptr;
        capture::AfXdpOptions o;
        o.ifname = "v1";
        o.queue = 0;
        o.xsk_map_fd = c->dp_.prog->map_fd("xb_xsk_map");
        o.bind = capture::XskBind::Copy;
        if (ring) {
            o.ring_size = ring;
            o.frame_count = 2 * ring;
            o.frame_size = 2048;
        }
        auto r = capture::open_af_xdp(o);
        if (!r.ok()) {
            err = "open_af_xdp v1 queue 0: " + r.error().message;
            return nullptr;
        }
        c->rx_ = std::move(r).value();
        return c;
    }
    void drain(size_t, const std::atomic<bool>& stop, std::atomic<uint64_t>& count) override {
        drain_receiver(*rx_, stop, count);
    }
    uint64_t bypass_drops() override { return dp_.drops(); }
    uint64_t ring_drops() override {
        if (g_verbose) {
            xdp_statistics st{};
            socklen_t len = sizeof st;
            if (getsockopt(rx_->fd(), SOL_XDP, XDP_STATISTICS, &st, &len) == 0)
                std::fprintf(stderr, "  xsk: rx_dropped %llu rx_invalid %llu rx_ring_full %llu fill_empty %llu\n",
                             (unsigned long long)st.rx_dropped, (unsigned long long)st.rx_invalid_descs,
                             (unsigned long long)st.rx_ring_full, (unsigned long long)st.rx_fill_ring_empty_descs);
        }
        auto s = rx_->stats();
        return s.ok() ? s->dropped : 0;
    }
    std::string datapath_counters() override { return dp_.counters(); }

private:
    Datapath dp_;  // declared first: the receiver (and its xsk map slot) goes before the program
    std::unique_ptr<capture::Receiver> rx_;
};

// --- measurement ----------------------------------------------------------------------------------

struct Sample {
    double pps = 0;          // delivered to user space, in the window
    double offered_pps = 0;  // frames the generator ran, in the window
    uint64_t delivered = 0;  // packets in the window
    uint64_t sent = 0;       // frames the generator ran in the window
    uint64_t cpu_ns = 0;     // CPU of the whole path in the window: generator (+ its softirqs), receivers, ksoftirqd, napi
    uint64_t bypass_drops = 0;  // XDP drops of bypassed packets over the whole run
    double ring_drop_pps = 0;   // ring drops over the whole run (settle + window), per second
    std::string counters;       // the bypass program's counters over the whole run
};

using Opener = std::function<std::unique_ptr<Capture>(std::string&)>;

bool run_once(const Opener& open, Generator& gen, int settle_ms, int window_ms, Sample& out, std::string& err) {
    std::unique_ptr<Capture> cap = open(err);
    if (!cap) return false;
    pin_napi_thread();
    std::atomic<bool> stop{false};
    std::vector<std::atomic<uint64_t>> counts(cap->threads());
    std::vector<std::thread> drains;
    drains.reserve(cap->threads());
    for (size_t i = 0; i < cap->threads(); ++i)
        drains.emplace_back([&, i] {
            pin_to(static_cast<unsigned>(1 + i));
            cap->drain(i, stop, counts[i]);
        });
    auto total = [&] {
        uint64_t s = 0;
        for (auto& c : counts) s += c.load(std::memory_order_relaxed);
        return s;
    };
    const auto start = Clock::now();
    gen.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
    // CPU of the whole path, by part, each read once: the generator (with v1's softirq), the kernel
    // threads, the receivers.
    struct PathCpu {
        uint64_t gen = 0, kernel = 0, rx = 0;
        uint64_t total() const { return gen + kernel + rx; }
    };
    auto path_cpu = [&] {
        PathCpu c{gen.cpu_ns(), kernel_threads_cpu_ns(), 0};
        for (auto& t : drains) c.rx += thread_cpu_ns(t);
        return c;
    };
    const auto t0 = Clock::now();
    const uint64_t c0 = total(), s0 = gen.sent();
    const PathCpu cpu0 = path_cpu();
    std::this_thread::sleep_for(std::chrono::milliseconds(window_ms));
    const auto t1 = Clock::now();
    const uint64_t c1 = total(), s1 = gen.sent();
    const PathCpu cpu1 = path_cpu();
    gen.stop();
    const double run_secs = std::chrono::duration<double>(Clock::now() - start).count();
    stop = true;
    for (auto& t : drains) t.join();
    if (!gen.error().empty()) {
        err = gen.error();
        return false;
    }
    const double secs = std::chrono::duration<double>(t1 - t0).count();
    out.delivered = c1 - c0;
    out.sent = s1 - s0;
    out.cpu_ns = cpu1.total() - cpu0.total();
    out.pps = static_cast<double>(c1 - c0) / secs;
    out.offered_pps = static_cast<double>(s1 - s0) / secs;
    out.bypass_drops = cap->bypass_drops();
    out.ring_drop_pps = static_cast<double>(cap->ring_drops()) / run_secs;
    out.counters = cap->datapath_counters();
    if (g_verbose)
        std::fprintf(stderr, "  run: %.0f pps of %.0f offered, ring drops %.0f/s %s\n"
                             "  cpu per frame sent: generator (+ softirqs) %.0f ns, kernel threads %.0f ns; receivers %.0f ns per packet delivered\n",
                     out.pps, out.offered_pps, out.ring_drop_pps, out.counters.c_str(),
                     out.sent ? static_cast<double>(cpu1.gen - cpu0.gen) / static_cast<double>(out.sent) : 0.0,
                     out.sent ? static_cast<double>(cpu1.kernel - cpu0.kernel) / static_cast<double>(out.sent) : 0.0,
                     out.delivered ? static_cast<double>(cpu1.rx - cpu0.rx) / static_cast<double>(out.delivered) : 0.0);
    return true;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// /proc/loadavg: the machine may be shared; the numbers say how much else ran.
std::string loadavg() {
    char buf[128] = {};
    FILE* f = std::fopen("/proc/loadavg", "r");
    if (!f) return "?\n";
    if (!std::fgets(buf, sizeof buf, f)) buf[0] = 0;
    std::fclose(f);
    return buf;
}

int fail(const std::string& msg) {
    std::fprintf(stderr, "capture_bench: %s\n", msg.c_str());
    cleanup();
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 5, window_ms = 2000, settle_ms = 300;
    unsigned flows = 64;
    uint32_t big_ring = 16384;
    bool threaded_napi = false;
    const char* only = nullptr;  // --only PREFIX: the methods whose name starts with it
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--verbose") == 0) g_verbose = true;
        else if (std::strcmp(argv[i], "--threaded-napi") == 0) threaded_napi = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--verbose") == 0 || std::strcmp(argv[i], "--threaded-napi") == 0) {
            --i;
            continue;
        }
        if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::max(1, std::atoi(argv[i + 1]));
        else if (std::strcmp(argv[i], "--window-ms") == 0) window_ms = std::max(100, std::atoi(argv[i + 1]));
        else if (std::strcmp(argv[i], "--xsk-ring") == 0) big_ring = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
        else if (std::strcmp(argv[i], "--only") == 0) only = argv[i + 1];
        else if (std::strcmp(argv[i], "--work-ns") == 0) g_work_ns = std::strtoull(argv[i + 1], nullptr, 10);
        else if (std::strcmp(argv[i], "--flows") == 0) flows = static_cast<unsigned>(std::clamp(std::atoi(argv[i + 1]), 1, 1000));
    }
    libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });
    if (geteuid() != 0) return fail("needs root (namespaces, BPF)");
    std::atexit(cleanup);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_signal);
    struct stat st;
    if (stat("/sys/fs/bpf", &st) == 0) (void)sh("mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf");
    sweep_leftovers();

    std::string err;
    if (!setup_namespaces(err)) return fail(err);
    if (threaded_napi && !enable_threaded_napi(err)) return fail(err);

    xb_txgen* txgen = xb_txgen__open();
    if (!txgen) return fail(std::string("cannot open the load generator: ") + std::strerror(errno));
    txgen->rodata->flows = flows;
    txgen->rodata->sport_base = kSportBase;
    if (xb_txgen__load(txgen) != 0) {
        xb_txgen__destroy(txgen);
        return fail(std::string("cannot load the load generator: ") + std::strerror(errno));
    }
    auto frame = test::PacketBuilder().ipv4(kSrcIp, kDstIp).udp(kSportBase, kDport).payload(18).build();
    // PacketBuilder's MACs: dst 02:00:00:00:00:02 (v1), src 02:00:00:00:00:01 (v0).
    Generator gen(bpf_program__fd(txgen->progs.xdp_txgen), frame);

    // The captures are opened in the receiving namespace (the main thread stays there).
    auto in_rx = ScopedNetns::enter_named(g_rx_ns);
    if (!in_rx.ok()) {
        xb_txgen__destroy(txgen);
        return fail("cannot enter " + g_rx_ns + ": " + in_rx.error().message);
    }

    struct Method {
        const char* name;
        Opener open;
    };
    const Opener pcap = [](std::string& e) { return PcapCapture::open(e); };
    const std::string big_ring_name = "af-xdp copy ring " + std::to_string(big_ring);
    const std::vector<Method> methods = {
        {"af-packet 1 thread", [](std::string& e) { return AfPacketCapture::open(1, 0, e); }},
        {"af-packet 2 threads", [](std::string& e) { return AfPacketCapture::open(2, 0, e); }},
        {"af-xdp copy", [](std::string& e) { return AfXdpCapture::open(0, 0, e); }},
        {big_ring_name.c_str(), [big_ring](std::string& e) { return AfXdpCapture::open(0, big_ring, e); }},
    };

    std::printf("capture_bench: veth v0 -> v1 (1 rx queue), %u UDP flows of %zu-byte frames, XDP_TX live frames "
                "batch 64 on CPU 0, receivers from CPU 1; %d rounds of %d ms (settle %d ms); v1 NAPI: %s\n",
                flows, frame.size(), rounds, window_ms, settle_ms,
                threaded_napi ? ("thread " + g_napi_thread + " on CPU 1").c_str() : "softirq of the generator (CPU 0)");
    if (g_work_ns) std::printf("receivers spend %llu ns of CPU on each packet (--work-ns)\n", (unsigned long long)g_work_ns);
    std::printf("load average before: %s", loadavg().c_str());
    {
        std::vector<double> alone;
        for (int r = 0; r < 3; ++r) {
            Sample s;
            if (!run_once([](std::string&) { return std::unique_ptr<Capture>(new NoCapture); }, gen, settle_ms,
                          window_ms, s, err))
                return fail(err);
            alone.push_back(s.offered_pps);
        }
        std::printf("generator alone (no capture, v1 GRO + stack drop): %.0f pps offered (median of 3)\n", median(alone));
    }
    const int rxdrop_fd = bpf_program__fd(txgen->progs.xdp_rxdrop);
    const Opener xdp_drop = [rxdrop_fd](std::string& e) { return XdpDropCapture::open(rxdrop_fd, e); };
    std::printf("%-22s %12s %12s %12s %12s %12s %8s %9s %9s %8s\n", "method", "pps", "libpcap pps", "offered pps", "drops/s",
                "pcap drops/s", "ratio", "ns/pkt", "pcap ns", "cost x");
    double ratio_xdp_big = 0;
    double ratio_xdp = 0, ratio_afp1 = 0, afp1_pps = 0, afp2_pps = 0;
    double cost_xdp = 0, cost_xdp_big = 0, cost_afp1 = 0;
    std::vector<double> drop_ns;
    int rc = 0;
    for (const auto& m : methods) {
        if (only && std::strncmp(m.name, only, std::strlen(only)) != 0) continue;
        std::vector<double> ratios, pps, base_pps, offered, drops, base_drops, cost, base_cost, cost_ratios;
        for (int r = 0; r < rounds; ++r) {
            Sample base, s, drop;
            if (!run_once(pcap, gen, settle_ms, window_ms, base, err) ||
                !run_once(m.open, gen, settle_ms, window_ms, s, err) ||
                !run_once(xdp_drop, gen, settle_ms, window_ms, drop, err)) {
                rc = 1;
                break;
            }
            // CPU per packet delivered to user space, over what the same frames cost when v1 drops them
            // at XDP: the receive path's own cost, kernel and user space, whatever the offered rate.
            const double per_frame_drop = drop.sent ? static_cast<double>(drop.cpu_ns) / static_cast<double>(drop.sent) : 0;
            auto delivery_ns = [per_frame_drop](const Sample& x) {
                return x.delivered ? (static_cast<double>(x.cpu_ns) - per_frame_drop * static_cast<double>(x.sent)) /
                                         static_cast<double>(x.delivered)
                                   : 0.0;
            };
            cost.push_back(delivery_ns(s));
            base_cost.push_back(delivery_ns(base));
            if (cost.back() > 0) cost_ratios.push_back(base_cost.back() / cost.back());
            drop_ns.push_back(per_frame_drop);
            base_pps.push_back(base.pps);
            pps.push_back(s.pps);
            offered.push_back(s.offered_pps);
            drops.push_back(s.ring_drop_pps);
            base_drops.push_back(base.ring_drop_pps);
            if (base.pps > 0) ratios.push_back(s.pps / base.pps);
        }
        if (rc) break;
        const double ratio = median(ratios);
        const double cost_ratio = median(cost_ratios);
        std::printf("%-22s %12.0f %12.0f %12.0f %12.0f %12.0f %7.2fx %9.0f %9.0f %7.2fx\n", m.name, median(pps),
                    median(base_pps), median(offered), median(drops), median(base_drops), ratio, median(cost),
                    median(base_cost), cost_ratio);
        std::fflush(stdout);
        if (std::strcmp(m.name, "af-xdp copy") == 0) ratio_xdp = ratio, cost_xdp = cost_ratio;
        if (m.name == big_ring_name) ratio_xdp_big = ratio, cost_xdp_big = cost_ratio;
        if (std::strcmp(m.name, "af-packet 1 thread") == 0) ratio_afp1 = ratio, afp1_pps = median(pps), cost_afp1 = cost_ratio;
        if (std::strcmp(m.name, "af-packet 2 threads") == 0) afp2_pps = median(pps);
    }
    if (rc == 0) {
        const std::vector<Method> bypass = {
            {"af-xdp copy", [flows](std::string& e) { return AfXdpCapture::open(flows, 0, e); }},
            {"af-packet + xdp_ids", [flows](std::string& e) { return AfPacketCapture::open(1, flows, e); }},
        };
        for (const auto& m : bypass) {
            Sample s;
            if (!run_once(m.open, gen, settle_ms, window_ms, s, err)) {
                rc = 1;
                break;
            }
            std::printf("bypassed flow (%s): %llu packets reached user space in %d ms "
                        "(offered %.0f pps, %llu dropped in XDP as bypassed)\n",
                        m.name, static_cast<unsigned long long>(s.delivered), window_ms, s.offered_pps,
                        static_cast<unsigned long long>(s.bypass_drops));
        }
    }
    if (rc == 0) std::printf("load average after: %s", loadavg().c_str());
    if (rc == 0) {
        std::printf("goals (reported, not asserted): af-xdp >= 2x libpcap: %.2fx %s (ring %u: %.2fx); "
                    "af-packet 1 thread >= 1x: %.2fx %s; 2 threads / 1 thread: %.2fx\n",
                    ratio_xdp, ratio_xdp >= 2 ? "met" : "NOT met", big_ring, ratio_xdp_big, ratio_afp1, ratio_afp1 >= 1 ? "met" : "NOT met",
                    afp1_pps > 0 ? afp2_pps / afp1_pps : 0.0);
        // What a receiver could take if the load outpaced it: libpcap's CPU per delivered packet over the
        // method's, both net of what the same frames cost when v1 drops them at XDP.
        std::printf("receive cost per packet (libpcap / method, the capacity ratio on one core): af-xdp %.2fx %s "
                    "(ring %u: %.2fx %s); af-packet 1 thread %.2fx %s; cost baseline (v1 drops at XDP): %.0f ns/frame\n",
                    cost_xdp, cost_xdp >= 2 ? "(>= 2x)" : "(< 2x)", big_ring, cost_xdp_big, cost_xdp_big >= 2 ? "(>= 2x)" : "(< 2x)",
                    cost_afp1, cost_afp1 >= 1 ? "(>= 1x)" : "(< 1x)", median(drop_ns));
    }
    gen.stop();
    xb_txgen__destroy(txgen);
    if (rc) return fail(err);
    cleanup();
    return 0;
}
