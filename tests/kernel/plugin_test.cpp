// The plugin's C ABI (include/xbypass/plugin.h) against the real kernel: an engine written in C++
// that calls only the xb_* functions, on veth pairs in namespaces made by the harness. Refusals and
// their diagnostics, misuse, several threads at once, both capture methods with a bypass, IPS
// verdicts, and detaching on close.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness/run_helpers.h"
#include "harness/sandbox.h"
#include "xbypass/plugin.h"

namespace {

using xb::test::Sandbox;
using xb::test::TempFile;

constexpr const char* kTxAddr = "10.78.0.1";
constexpr const char* kCapAddr = "10.78.0.2";

uint64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

using Clock = std::chrono::steady_clock;
Clock::time_point after_s(double s) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// A configuration with one interface and stats off; `extra` is indented keys of that interface.
std::string config(const std::string& dev, const std::string& extra = "") {
    return xb::test::one_interface(dev, extra);
}

// Namespace tx (t0, 10.78.0.1) and the capture namespace (v0, 10.78.0.2) joined by a veth pair.
struct Net {
    Sandbox sb;
    std::string tx, cap;
    Net() {
        tx = sb.add_netns("ptx");
        cap = sb.add_netns("pcap");
        sb.add_veth(tx, "t0", cap, "v0");
        for (const auto& ns : {tx, cap})
            (void)sb.try_exec_in(ns, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
        sb.add_address(tx, "t0", std::string(kTxAddr) + "/24");
        sb.add_address(cap, "v0", std::string(kCapAddr) + "/24");
        sb.link_up(tx, "t0");
        sb.link_up(cap, "v0");
        sb.add_neighbor(tx, "t0", kCapAddr, sb.mac_address(cap, "v0"));
        sb.add_neighbor(cap, "v0", kTxAddr, sb.mac_address(tx, "t0"));
        // Checksums filled in, as from a wire (a local veth sender leaves them partial).
        sb.exec_in(tx, "ethtool -K t0 tx off >/dev/null");
    }
};

// What is attached to dev in ns: XDP (any mode) or a tc ingress filter; "" when nothing.
std::string attached(Sandbox& sb, const std::string& ns, const std::string& dev) {
    std::string what;
    auto link = xb::test::run_command("ip -n " + ns + " link show dev " + dev);
    if (link.status != 0) return "ip link show failed: " + link.output;
    if (link.output.find("xdp") != std::string::npos) what += "XDP: " + link.output;
    auto tc = sb.try_exec_in(ns, "tc filter show dev " + dev + " ingress");
    if (!tc.output.empty()) what += "tc ingress filter: " + tc.output;
    return what;
}

struct Opened {
    xb_plugin* plugin = nullptr;
    int rc = 0;
    std::string error;
    std::string diagnostics;
};

Opened open_plugin(const std::string& path, const std::string& ns, uint32_t flags = 0) {
    xb_open_opts opts{};
    opts.sz = sizeof opts;
    opts.netns = ns.c_str();
    opts.log_level = XB_LOG_WARNING;
    opts.flags = flags;
    Opened o;
    xb_diagnostics* d = nullptr;
    o.rc = xb_open(path.c_str(), &opts, &o.plugin, &d);
    o.error = xb_last_error();
    o.diagnostics = xb_diagnostics_text(d);
    xb_diagnostics_free(d);
    return o;
}

xb_interface_info interface_info(xb_plugin* p, uint32_t index = 0) {
    xb_interface_info info{};
    info.sz = sizeof info;
    EXPECT_EQ(xb_interface_get(p, index, &info), 0) << xb_last_error();
    return info;
}

xb_stats stats_of(xb_plugin* p, const char* dev) {
    xb_stats st{};
    st.sz = sizeof st;
    EXPECT_EQ(xb_stats_get(p, dev, &st), 0) << xb_last_error();
    return st;
}

// UDP ports of an untagged or single-tagged IPv4 frame; false for anything else.
bool udp_ports(const uint8_t* d, uint32_t len, uint16_t* sport, uint16_t* dport) {
    uint32_t off = 12;
    if (len < 14) return false;
    uint16_t type = static_cast<uint16_t>(d[off] << 8 | d[off + 1]);
    if (type == 0x8100) {
        off += 4;
        if (len < off + 2) return false;
        type = static_cast<uint16_t>(d[off] << 8 | d[off + 1]);
    }
    off += 2;
    if (type != 0x0800 || len < off + 20) return false;
    uint32_t ihl = static_cast<uint32_t>(d[off] & 0x0f) * 4;
    if (d[off + 9] != IPPROTO_UDP || len < off + ihl + 4) return false;
    off += ihl;
    *sport = static_cast<uint16_t>(d[off] << 8 | d[off + 1]);
    *dport = static_cast<uint16_t>(d[off + 2] << 8 | d[off + 3]);
    return true;
}

uint16_t udp_dport(const xb_packet& p) {
    uint16_t s = 0, d = 0;
    return udp_ports(p.data, p.caplen, &s, &d) ? d : 0;
}

// UDP flows from tx (10.78.0.1:src) to the capture side (10.78.0.2:dst), one socket per flow, sent
// round robin from a thread of the test in the tx namespace until stopped or `limit` rounds.
class Sender {
public:
    Sender(Sandbox& sb, const std::string& ns, std::vector<std::pair<uint16_t, uint16_t>> flows, int interval_us,
           long limit = -1)
        : flows_(std::move(flows)) {
        thread_ = std::thread([this, &sb, ns, interval_us, limit] {
            std::vector<int> fds;
            sb.run_in(ns, [&] {
                for (auto [src, dst] : flows_) {
                    (void)dst;
                    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                    int one = 1;
                    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                    sockaddr_in sa{};
                    sa.sin_family = AF_INET;
                    sa.sin_port = htons(src);
                    inet_pton(AF_INET, kTxAddr, &sa.sin_addr);
                    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) failed_ = true;
                    fds.push_back(fd);
                }
            });
            sockaddr_in dst{};
            dst.sin_family = AF_INET;
            inet_pton(AF_INET, kCapAddr, &dst.sin_addr);
            for (long round = 0; !stop_ && (limit < 0 || round < limit); ++round) {
                for (size_t k = 0; k < fds.size(); ++k) {
                    dst.sin_port = htons(flows_[k].second);
                    if (sendto(fds[k], "payload", 7, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 7) ++sent_;
                }
                usleep(static_cast<useconds_t>(interval_us));
            }
            for (int fd : fds) close(fd);
            done_ = true;
        });
    }
    ~Sender() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    bool done() const { return done_; }
    bool failed() const { return failed_; }
    long sent() const { return sent_; }

private:
    std::vector<std::pair<uint16_t, uint16_t>> flows_;
    std::atomic<bool> stop_{false}, done_{false}, failed_{false};
    std::atomic<long> sent_{0};
    std::thread thread_;
};

xb_flow synthetic_flow(uint32_t n) {
    xb_flow f{};
    f.sz = sizeof f;
    f.family = 4;
    f.proto = IPPROTO_UDP;
    f.src_port = static_cast<uint16_t>(10000 + n % 50000);
    f.dst_port = 53;
    uint8_t src[4] = {10, 99, static_cast<uint8_t>(n / 50000), 1}, dst[4] = {10, 99, 200, 2};
    std::memcpy(f.src_addr, src, 4);
    std::memcpy(f.dst_addr, dst, 4);
    return f;
}

// --- 1. refused configurations --------------------------------------------------------------------

struct RefusedCase {
    const char* name;
    const char* dev;
    const char* extra;
    const char* code;
};
class Refused : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(Refused, ReturnsRejectedWithLocatedDiagnosticsAndAttachesNothing) {
    XB_REQUIRE_KERNEL();
    Net net;
    const RefusedCase& c = GetParam();
    TempFile conf(config(c.dev, c.extra));
    xb_open_opts opts{};
    opts.sz = sizeof opts;
    opts.netns = net.cap.c_str();
    opts.log_level = XB_LOG_ERROR;
    xb_plugin* p = reinterpret_cast<xb_plugin*>(1);
    xb_diagnostics* d = nullptr;
    int rc = xb_open(conf.path.c_str(), &opts, &p, &d);
    std::string why = xb_last_error();
    EXPECT_EQ(rc, XB_ERR_REJECTED) << why << "\n" << xb_diagnostics_text(d);
    EXPECT_EQ(p, nullptr);
    xb_close(p == reinterpret_cast<xb_plugin*>(1) ? nullptr : p);
    EXPECT_NE(why.find(c.code), std::string::npos) << why;
    ASSERT_NE(d, nullptr);
    bool found = false;
    for (size_t i = 0; i < xb_diagnostics_count(d); ++i) {
        xb_diagnostic x{};
        x.sz = sizeof x;
        ASSERT_EQ(xb_diagnostics_get(d, i, &x), 0) << xb_last_error();
        ASSERT_NE(x.code, nullptr);
        if (std::string(x.code) != c.code) continue;
        found = true;
        SCOPED_TRACE(xb_diagnostics_text(d));
        EXPECT_EQ(x.severity, XB_SEVERITY_ERROR);
        EXPECT_EQ(std::string(x.file), conf.path);
        EXPECT_GT(x.line, 0u);
        EXPECT_GT(x.column, 0u);
        EXPECT_STRNE(x.key, "");
        EXPECT_STRNE(x.message, "");
        EXPECT_STRNE(x.hint, "");
    }
    EXPECT_TRUE(found) << "no " << c.code << " among:\n" << xb_diagnostics_text(d);
    xb_diagnostics_free(d);
    EXPECT_EQ(attached(net.sb, net.cap, "v0"), "");
}

INSTANTIATE_TEST_SUITE_P(
    Configs, Refused,
    ::testing::Values(RefusedCase{"MissingInterface", "nosuch0", "", "XB4001"},
                      RefusedCase{"AfXdpOnTc", "v0", "      datapath: tc\n      capture: af-xdp\n", "XB4040"},
                      RefusedCase{"AfXdpWithCpuRedirect", "v0", "      capture: af-xdp\n      cpu-redirect: [0]\n", "XB4041"},
                      RefusedCase{"RingSizeNotPowerOfTwo", "v0", "      ring-size: 1000\n", "XB1130"},
                      RefusedCase{"UnknownKey", "v0", "      ring-sise: 2048\n", "XB1103"},
                      // Packet sockets get their copy before tc ingress: a bypass there would not hide
                      // the flow from the engine, so the planner refuses the tc datapath for it.
                      RefusedCase{"AfPacketOnTc", "v0", "      datapath: tc\n      capture: af-packet\n", "XB4050"}),
    [](const auto& i) { return std::string(i.param.name); });

// --- 2. wrong order and bad arguments -------------------------------------------------------------

#define EXPECT_XB(call, code)                                                   \
    do {                                                                        \
        EXPECT_EQ((call), (code)) << #call << ": " << xb_last_error();          \
        EXPECT_STRNE(xb_last_error(), "") << #call << " left no message";       \
    } while (0)

TEST(Misuse, WrongOrderAndBadArgumentsReturnTheirCodes) {
    XB_REQUIRE_KERNEL();
    Net net;
    TempFile conf(config("v0", "      capture: af-packet\n      threads: 1\n"));
    Opened o = open_plugin(conf.path, net.cap);
    ASSERT_EQ(o.rc, 0) << o.error << "\n" << o.diagnostics;
    xb_plugin* p = o.plugin;
    xb_capture* c = nullptr;
    xb_capture* again = reinterpret_cast<xb_capture*>(1);
    EXPECT_XB(xb_capture_open(p, "v0", 1, &again), XB_ERR_INVAL);
    EXPECT_EQ(again, nullptr);
    EXPECT_XB(xb_capture_open(p, "v0", 1000000, &again), XB_ERR_INVAL);
    EXPECT_XB(xb_capture_open(p, "nosuch0", 0, &again), XB_ERR_NOENT);
    ASSERT_EQ(xb_capture_open(p, "v0", 0, &c), 0) << xb_last_error();
    again = reinterpret_cast<xb_capture*>(1);
    EXPECT_XB(xb_capture_open(p, "v0", 0, &again), XB_ERR_STATE);
    EXPECT_EQ(again, nullptr);

    xb_flow flow = synthetic_flow(1);
    EXPECT_XB(xb_bypass(p, "nosuch0", &flow), XB_ERR_NOENT);
    EXPECT_XB(xb_bypass(p, nullptr, &flow), XB_ERR_NOENT);
    EXPECT_XB(xb_stats_get(p, "nosuch0", nullptr), XB_ERR_NOENT);
    xb_flow bad = flow;
    bad.family = 5;
    EXPECT_XB(xb_bypass(p, "v0", &bad), XB_ERR_INVAL);
    EXPECT_XB(xb_unbypass(p, "v0", &bad), XB_ERR_INVAL);
    bad = flow;
    bad.sz = 0;
    EXPECT_XB(xb_bypass(p, "v0", &bad), XB_ERR_INVAL);
    bad = flow;
    bad.vlan_id[0] = 4096;
    EXPECT_XB(xb_bypass(p, "v0", &bad), XB_ERR_INVAL);
    EXPECT_XB(xb_bypass(p, "v0", nullptr), XB_ERR_INVAL);
    EXPECT_XB(xb_unbypass(p, "v0", &flow), XB_ERR_NOENT);

    // Result structs without their size.
    xb_stats st{};
    EXPECT_XB(xb_stats_get(p, "v0", &st), XB_ERR_INVAL);
    xb_interface_info info{};
    EXPECT_XB(xb_interface_get(p, 0, &info), XB_ERR_INVAL);
    info.sz = sizeof info;
    EXPECT_XB(xb_interface_get(p, 1, &info), XB_ERR_INVAL);
    xb_capture_stats cs{};
    EXPECT_XB(xb_capture_stats_get(c, &cs), XB_ERR_INVAL);
    // A frame of this test's own: 10.78.0.1:4000 -> 10.78.0.2:5001, UDP.
    uint8_t frame[42] = {};
    frame[12] = 0x08;
    frame[14] = 0x45;
    frame[17] = 28;
    frame[22] = 64;
    frame[23] = IPPROTO_UDP;
    inet_pton(AF_INET, kTxAddr, frame + 26);
    inet_pton(AF_INET, kCapAddr, frame + 30);
    frame[34] = 4000 >> 8, frame[35] = 4000 & 0xff, frame[36] = 5001 >> 8, frame[37] = 5001 & 0xff, frame[39] = 8;
    xb_packet pkt{};
    pkt.data = frame;
    pkt.caplen = pkt.wirelen = sizeof frame;
    xb_flow out{};
    EXPECT_XB(xb_capture_flow(c, &pkt, &out), XB_ERR_INVAL);
    out.sz = sizeof out;
    ASSERT_EQ(xb_capture_flow(c, &pkt, &out), 0) << xb_last_error();
    EXPECT_EQ(out.family, 4);
    EXPECT_EQ(out.proto, IPPROTO_UDP);
    EXPECT_EQ(out.src_port, 4000);
    EXPECT_EQ(out.dst_port, 5001);
    xb_packet truncated = pkt;
    truncated.caplen = 20;
    EXPECT_XB(xb_capture_flow(c, &truncated, &out), XB_ERR_NOENT);
    {
        // Diagnostics of a refusal, read without a size.
        TempFile refused(config("nosuch0"));
        xb_open_opts opts{};
        opts.sz = sizeof opts;
        opts.netns = net.cap.c_str();
        opts.log_level = XB_LOG_ERROR;
        xb_plugin* none = nullptr;
        xb_diagnostics* d = nullptr;
        EXPECT_EQ(xb_open(refused.path.c_str(), &opts, &none, &d), XB_ERR_REJECTED);
        ASSERT_GT(xb_diagnostics_count(d), 0u);
        xb_diagnostic x{};
        EXPECT_XB(xb_diagnostics_get(d, 0, &x), XB_ERR_INVAL);
        x.sz = sizeof x;
        EXPECT_XB(xb_diagnostics_get(d, xb_diagnostics_count(d), &x), XB_ERR_INVAL);
        xb_diagnostics_free(d);
    }

    // IDS mode: no verdicts.
    EXPECT_XB(xb_capture_verdict(c, &pkt, XB_VERDICT_FORWARD), XB_ERR_NOTSUP);
    EXPECT_XB(xb_capture_verdict(c, &pkt, XB_VERDICT_DROP), XB_ERR_NOTSUP);
    EXPECT_XB(xb_capture_verdict(c, &pkt, 7), XB_ERR_INVAL);
    xb_packet pkts[4];
    EXPECT_EQ(xb_capture_recv(c, pkts, 0, 0), 0);
    EXPECT_XB(xb_capture_recv(c, nullptr, 4, 0), XB_ERR_INVAL);
    EXPECT_GE(xb_capture_fd(c), 0);

    // After all that the handle still works: a bypass, its stats, its end.
    EXPECT_EQ(xb_bypass(p, "v0", &flow), 0) << xb_last_error();
    EXPECT_STREQ(xb_last_error(), "") << "success clears the message";
    EXPECT_EQ(stats_of(p, "v0").flow_entries, 2u);
    EXPECT_EQ(xb_unbypass(p, "v0", &flow), 0) << xb_last_error();
    EXPECT_EQ(stats_of(p, "v0").flow_entries, 0u);
    xb_capture_close(c);
    // A closed thread can be opened again.
    ASSERT_EQ(xb_capture_open(p, "v0", 0, &c), 0) << xb_last_error();
    xb_close(p);  // closes c too

    // Opened without capture: no capture handles.
    o = open_plugin(conf.path, net.cap, XB_OPEN_NO_CAPTURE);
    ASSERT_EQ(o.rc, 0) << o.error << "\n" << o.diagnostics;
    info = interface_info(o.plugin);
    EXPECT_STREQ(info.capture, "none");
    EXPECT_EQ(info.threads, 0u);
    EXPECT_XB(xb_capture_open(o.plugin, "v0", 0, &again), XB_ERR_STATE);
    EXPECT_EQ(again, nullptr);
    EXPECT_EQ(xb_bypass(o.plugin, "v0", &flow), 0) << xb_last_error();
    xb_close(o.plugin);

    // Unknown flags, a bad log level, a missing namespace.
    xb_open_opts opts{};
    opts.sz = sizeof opts;
    opts.netns = net.cap.c_str();
    opts.flags = 0x80;
    xb_plugin* none = reinterpret_cast<xb_plugin*>(1);
    EXPECT_XB(xb_open(conf.path.c_str(), &opts, &none, nullptr), XB_ERR_INVAL);
    EXPECT_EQ(none, nullptr);
    opts.flags = 0;
    opts.log_level = 99;
    EXPECT_XB(xb_open(conf.path.c_str(), &opts, &none, nullptr), XB_ERR_INVAL);
    opts.log_level = 0;
    opts.netns = "xbt-no-such-namespace";
    EXPECT_XB(xb_open(conf.path.c_str(), &opts, &none, nullptr), XB_ERR_SYSTEM);
    EXPECT_EQ(none, nullptr);
    EXPECT_EQ(attached(net.sb, net.cap, "v0"), "");
}

// opts.log_level governs every line of xb_open, the start-up block included, and the callback gets them.
TEST(Logging, TheOpenersLevelAppliesFromTheFirstLine) {
    XB_REQUIRE_KERNEL();
    Net net;
    TempFile conf("xbypass:\n  log-level: debug\n  stats-interval: 0\n  interfaces:\n    - interface: v0\n"
                  "      capture: af-packet\n");
    struct Lines {
        std::mutex mu;
        std::vector<std::pair<int, std::string>> all;
    } lines;
    xb_open_opts opts{};
    opts.sz = sizeof opts;
    opts.netns = net.cap.c_str();
    opts.log_level = XB_LOG_WARNING;
    opts.log_user = &lines;
    opts.log = [](int level, const char* module, const char* message, void* user) {
        auto* l = static_cast<Lines*>(user);
        std::lock_guard lock(l->mu);
        l->all.emplace_back(level, std::string(module) + ": " + message);
    };
    xb_plugin* p = nullptr;
    ASSERT_EQ(xb_open(conf.path.c_str(), &opts, &p, nullptr), 0) << xb_last_error();
    xb_close(p);
    auto take = [&] {
        std::lock_guard lock(lines.mu);
        return std::exchange(lines.all, {});
    };
    for (const auto& [level, text] : take()) EXPECT_LE(level, XB_LOG_WARNING) << text;
    // At notice the start-up block is there (and reaches the callback).
    opts.log_level = XB_LOG_NOTICE;
    ASSERT_EQ(xb_open(conf.path.c_str(), &opts, &p, nullptr), 0) << xb_last_error();
    xb_close(p);
    bool plan_line = false;
    for (const auto& [level, text] : take()) {
        EXPECT_LE(level, XB_LOG_NOTICE) << text;
        plan_line |= text.rfind("plan: ", 0) == 0;
    }
    EXPECT_TRUE(plan_line) << "no start-up block line reached the callback";
    // Without a callback the library logs to stderr again, not to the callback of an earlier open.
    opts.log = nullptr;
    opts.log_user = nullptr;
    ASSERT_EQ(xb_open(conf.path.c_str(), &opts, &p, nullptr), 0) << xb_last_error();
    xb_close(p);
    EXPECT_TRUE(take().empty()) << "an xb_open without a callback still logged to the previous one";
}

// --- 3. several threads at once -------------------------------------------------------------------

TEST(Threads, ReceiversAndBypassersAtOnce) {
    XB_REQUIRE_KERNEL();
    Net net;
    TempFile conf(config("v0", "      capture: af-packet\n      threads: 2\n      cluster-type: cluster_flow\n"));
    Opened o = open_plugin(conf.path, net.cap);
    ASSERT_EQ(o.rc, 0) << o.error << "\n" << o.diagnostics;
    xb_plugin* p = o.plugin;
    ASSERT_EQ(interface_info(p).threads, 2u);

    std::vector<std::pair<uint16_t, uint16_t>> flows;
    for (uint16_t k = 0; k < 6; ++k) flows.emplace_back(static_cast<uint16_t>(41000 + k), static_cast<uint16_t>(6000 + k));
    Sender sender(net.sb, net.tx, flows, 500);

    // The fanout group has both threads from the later open to the first close: only packets the
    // kernel stamped in between count (the stamp is taken no later than the fanout decision).
    std::atomic<uint64_t> formed_ns{0}, stop_ns{UINT64_MAX};
    std::latch opened(2), closing(2);
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<std::string> errors;
    auto error = [&](const std::string& e) {
        std::lock_guard lock(mu);
        errors.push_back(e);
    };
    // per receiver: destination port -> packets received after the group formed
    std::vector<std::map<uint16_t, long>> seen(2);
    std::vector<long> received(2, 0);
    std::vector<std::thread> workers;
    for (uint32_t t = 0; t < 2; ++t) {
        workers.emplace_back([&, t] {
            xb_capture* c = nullptr;
            int rc = xb_capture_open(p, "v0", t, &c);
            if (rc != 0) error("capture_open " + std::to_string(t) + ": " + xb_last_error());
            uint64_t now = realtime_ns();
            for (uint64_t prev = formed_ns.load(); prev < now && !formed_ns.compare_exchange_weak(prev, now);) {
            }
            opened.count_down();
            opened.wait();
            if (!c) {
                closing.count_down();
                return;
            }
            const uint64_t formed = formed_ns.load();
            xb_packet pkts[64];
            while (!stop) {
                int n = xb_capture_recv(c, pkts, 64, 100);
                if (n < 0) {
                    error(std::string("recv: ") + xb_last_error());
                    break;
                }
                for (int i = 0; i < n; ++i) {
                    ++received[t];
                    if (pkts[i].ts_ns > formed && pkts[i].ts_ns < stop_ns)
                        if (uint16_t port = udp_dport(pkts[i]); port >= 6000 && port < 6006) ++seen[t][port];
                }
                if (xb_capture_release(c) != 0) error(std::string("release: ") + xb_last_error());
            }
            xb_capture_stats cs{};
            cs.sz = sizeof cs;
            if (xb_capture_stats_get(c, &cs) != 0) error(std::string("capture_stats: ") + xb_last_error());
            else if (cs.received != static_cast<uint64_t>(received[t]))
                error("thread " + std::to_string(t) + " received " + std::to_string(received[t]) + ", stats say " +
                      std::to_string(cs.received));
            closing.count_down();
            closing.wait();
            usleep(50000);  // well after stop_ns, even for a coarse kernel clock
            xb_capture_close(c);
        });
    }
    // Two bypassers on 1,000 flows each: bypass, bypass again, unbypass, in a pattern that changes
    // every pass; stats between.
    constexpr uint32_t kFlowsEach = 1000;
    std::vector<std::vector<bool>> state(2, std::vector<bool>(kFlowsEach, false));
    std::atomic<long> ops[2] = {0, 0};  // read by the main thread while the bypassers run
    for (uint32_t t = 0; t < 2; ++t) {
        workers.emplace_back([&, t] {
            for (uint32_t pass = 0; !stop; ++pass) {
                for (uint32_t i = 0; i < kFlowsEach && !stop; ++i) {
                    xb_flow f = synthetic_flow(t * kFlowsEach + i);
                    bool on = state[t][i];
                    int rc;
                    if (on && (i + pass) % 3 == 0) {
                        rc = xb_unbypass(p, "v0", &f);
                        if (rc == 0) state[t][i] = false;
                    } else {
                        rc = xb_bypass(p, "v0", &f);  // also when already bypassed: 0
                        if (rc == 0) state[t][i] = true;
                    }
                    if (rc != 0) error("flow " + std::to_string(t * kFlowsEach + i) + ": " + xb_strerror(rc) + ": " + xb_last_error());
                    ++ops[t];
                    if (i % 100 == 0) {
                        xb_stats st{};
                        st.sz = sizeof st;
                        if (xb_stats_get(p, "v0", &st) != 0) error(std::string("stats: ") + xb_last_error());
                    }
                }
            }
        });
    }
    // The main thread reads the stats all along, and stops everything after a few seconds of traffic.
    opened.wait();
    // At least 4 s of traffic, and until each bypasser has made one full pass over its flows (slow
    // under the sanitizers on a loaded machine), within a minute.
    auto until = after_s(4), deadline = after_s(60);
    int stats_reads = 0;
    uint64_t max_entries = 0;
    while ((Clock::now() < until || ops[0] <= kFlowsEach || ops[1] <= kFlowsEach) && Clock::now() < deadline) {
        xb_stats st{};
        st.sz = sizeof st;
        if (xb_stats_get(p, "v0", &st) != 0) error(std::string("stats (main): ") + xb_last_error());
        else max_entries = std::max(max_entries, st.flow_entries), ++stats_reads;
        usleep(20000);
    }
    stop_ns = realtime_ns();
    stop = true;
    for (auto& w : workers) w.join();
    sender.stop();
    EXPECT_FALSE(sender.failed());
    for (const auto& e : errors) ADD_FAILURE() << e;
    EXPECT_GE(stats_reads, 5);  // each read walks the flow table: slow next to the bypassers, never failing
    EXPECT_GT(ops[0].load(), kFlowsEach);
    EXPECT_GT(ops[1].load(), kFlowsEach);
    EXPECT_GT(max_entries, 0u);

    for (uint16_t port = 6000; port < 6006; ++port) {
        long a = seen[0].count(port) ? seen[0][port] : 0, b = seen[1].count(port) ? seen[1][port] : 0;
        EXPECT_GT(a + b, 100) << "flow to port " << port << " barely arrived";
        EXPECT_TRUE(a == 0 || b == 0) << "flow to port " << port << " reached both threads: " << a << " and " << b;
    }
    uint64_t still = 0;
    for (const auto& s : state)
        for (bool on : s) still += on;
    xb_stats st = stats_of(p, "v0");
    EXPECT_EQ(st.flow_entries, 2 * still);
    EXPECT_EQ(st.bypass_refused, 0u);
    EXPECT_EQ(st.capture_received, static_cast<uint64_t>(received[0] + received[1]));
    xb_close(p);
    EXPECT_EQ(attached(net.sb, net.cap, "v0"), "");
}

// --- 4. both capture methods deliver, and a bypassed flow stops arriving ----------------------------

struct CaptureCase {
    const char* name;
    const char* extra;
    const char* capture;
    const char* datapath;
};
class Capture : public ::testing::TestWithParam<CaptureCase> {};

TEST_P(Capture, DeliversTrafficAndABypassedFlowStopsArriving) {
    XB_REQUIRE_KERNEL();
    Net net;
    const CaptureCase& cc = GetParam();
    TempFile conf(config("v0", cc.extra));
    Opened o = open_plugin(conf.path, net.cap);
    ASSERT_EQ(o.rc, 0) << o.error << "\n" << o.diagnostics;
    xb_plugin* p = o.plugin;
    xb_interface_info info = interface_info(p);
    EXPECT_STREQ(info.capture, cc.capture);
    EXPECT_STREQ(info.datapath, cc.datapath);
    EXPECT_TRUE(info.can_bypass);
    ASSERT_GE(info.threads, 1u);
    std::vector<xb_capture*> caps(info.threads, nullptr);
    for (uint32_t t = 0; t < info.threads; ++t) ASSERT_EQ(xb_capture_open(p, "v0", t, &caps[t]), 0) << xb_last_error();

    constexpr uint16_t kBypassed = 5001, kOther = 5002;
    Sender sender(net.sb, net.tx, {{40000, kBypassed}, {40001, kOther}}, 300);
    long before[2] = {0, 0}, after[2] = {0, 0};
    bool bypassed = false, settled = false;
    uint64_t settled_ns = 0, drop_at_bypass = 0;
    auto settle_deadline = after_s(0);
    auto deadline = after_s(40);
    xb_packet pkts[64];
    auto receive_all = [&](int timeout_ms) {
        int total = 0;
        for (uint32_t t = 0; t < info.threads; ++t) {
            int n = xb_capture_recv(caps[t], pkts, 64, timeout_ms);
            EXPECT_GE(n, 0) << xb_last_error();
            for (int i = 0; i < n; ++i) {
                uint16_t port = udp_dport(pkts[i]);
                int k = port == kBypassed ? 0 : port == kOther ? 1 : -1;
                if (k < 0) continue;
                // After the drop counter grew, only packets the kernel took later count: AF_PACKET
                // stamps them on arrival, AF_XDP on receipt (and its ring was drained at settling).
                if (settled && pkts[i].ts_ns > settled_ns) ++after[k];
                else ++before[k];
                if (k == 0 && !bypassed && before[0] >= 10) {
                    xb_flow flow{};
                    flow.sz = sizeof flow;
                    if (xb_capture_flow(caps[t], &pkts[i], &flow) != 0) {
                        ADD_FAILURE() << "xb_capture_flow: " << xb_last_error();
                        deadline = Clock::now();
                        return total;
                    }
                    EXPECT_EQ(flow.family, 4);
                    EXPECT_EQ(flow.proto, IPPROTO_UDP);
                    EXPECT_EQ(flow.dst_port, kBypassed);
                    EXPECT_EQ(flow.src_port, 40000);
                    drop_at_bypass = stats_of(p, "v0").drop;
                    if (xb_bypass(p, "v0", &flow) != 0) {
                        ADD_FAILURE() << "xb_bypass: " << xb_last_error();
                        deadline = Clock::now();
                        return total;
                    }
                    bypassed = true;
                    settle_deadline = after_s(10);
                }
            }
            total += n > 0 ? n : 0;
            EXPECT_EQ(xb_capture_release(caps[t]), 0);
        }
        return total;
    };
    while (Clock::now() < deadline && !HasFatalFailure()) {
        receive_all(20);
        if (bypassed && !settled) {
            xb_stats st = stats_of(p, "v0");
            if (st.drop >= drop_at_bypass + 20) {
                // What was queued before the bypass is read now: from here on, nothing of the flow.
                for (int k = 0; k < 50 && receive_all(0) > 0; ++k) {
                }
                settled = true;
                settled_ns = realtime_ns();
            } else {
                ASSERT_LT(Clock::now(), settle_deadline) << "the kernel did not drop the bypassed flow: drop=" << st.drop;
            }
        }
        if (settled && after[1] >= 200) break;
    }
    sender.stop();
    EXPECT_FALSE(sender.failed());
    xb_stats st = stats_of(p, "v0");
    uint64_t received = 0;
    for (auto* c : caps) {
        xb_capture_stats cs{};
        cs.sz = sizeof cs;
        EXPECT_EQ(xb_capture_stats_get(c, &cs), 0) << xb_last_error();
        received += cs.received;
        xb_capture_close(c);
    }
    EXPECT_TRUE(bypassed) << "the flow to " << kBypassed << " never arrived";
    EXPECT_TRUE(settled);
    EXPECT_GE(before[0], 10);
    EXPECT_EQ(after[0], 0) << "packets of the bypassed flow reached the engine after the kernel dropped it";
    EXPECT_GE(after[1], 200) << "the other flow stopped arriving";
    EXPECT_EQ(st.flow_entries, 2u);
    EXPECT_GE(st.hit, 20u);
    EXPECT_EQ(st.bypass_accepted, 1u);
    EXPECT_EQ(st.capture_received, received);
    if (std::string(cc.capture) == "af-xdp") {
        EXPECT_GT(st.xsk_redirect, 0u);
    }
    xb_close(p);
    EXPECT_EQ(attached(net.sb, net.cap, "v0"), "");
}

INSTANTIATE_TEST_SUITE_P(
    Methods, Capture,
    ::testing::Values(
        CaptureCase{"AfPacketXdp", "      capture: af-packet\n      datapath: xdp-native\n", "af-packet", "xdp-native"},
        CaptureCase{"AfXdpNative", "      capture: af-xdp\n      datapath: xdp-native\n", "af-xdp", "xdp-native"},
        CaptureCase{"AfXdpGeneric", "      capture: af-xdp\n      datapath: xdp-generic\n", "af-xdp", "xdp-generic"}),
    [](const auto& i) { return std::string(i.param.name); });

// --- 5. IPS verdicts -------------------------------------------------------------------------------

// Frames arriving on dev in ns, counted by UDP destination port (a packet socket of the test's own).
class FarSide {
public:
    FarSide(Sandbox& sb, const std::string& ns, const std::string& dev) {
        sb.run_in(ns, [&] {
            fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
            sockaddr_ll sa{};
            sa.sll_family = AF_PACKET;
            sa.sll_protocol = htons(ETH_P_ALL);
            sa.sll_ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
            EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
            int bytes = 16 << 20;  // room for every frame of the test even when drained late
            EXPECT_EQ(setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes), 0) << strerror(errno);
        });
    }
    ~FarSide() { close(fd_); }
    void drain() {
        uint8_t buf[2048];
        sockaddr_ll from{};
        socklen_t len = sizeof from;
        for (ssize_t n; (n = recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len)) >= 0;
             len = sizeof from) {
            uint16_t s = 0, d = 0;
            if (from.sll_pkttype != PACKET_OUTGOING && udp_ports(buf, static_cast<uint32_t>(n), &s, &d)) ++by_port[d];
        }
    }
    long count(uint16_t port) { return by_port.count(port) ? by_port[port] : 0; }

private:
    int fd_ = -1;
    std::map<uint16_t, long> by_port;
};

TEST(Ips, ForwardedPacketsLeaveThroughThePeerDroppedOnesDoNot) {
    XB_REQUIRE_KERNEL();
    Net net;
    std::string far = net.sb.add_netns("pfar");
    net.sb.add_veth(net.cap, "p0", far, "p1");
    net.sb.link_up(net.cap, "p0");
    net.sb.link_up(far, "p1");
    FarSide far_side(net.sb, far, "p1");
    TempFile conf(config("v0", "      capture: af-packet\n      ips-peer: p0\n"));
    Opened o = open_plugin(conf.path, net.cap);
    ASSERT_EQ(o.rc, 0) << o.error << "\n" << o.diagnostics;
    xb_plugin* p = o.plugin;
    xb_interface_info info = interface_info(p);
    EXPECT_STREQ(info.ips_peer, "p0");
    EXPECT_STREQ(info.capture, "af-packet");
    std::vector<xb_capture*> caps(info.threads, nullptr);
    for (uint32_t t = 0; t < info.threads; ++t) ASSERT_EQ(xb_capture_open(p, "v0", t, &caps[t]), 0) << xb_last_error();

    constexpr uint16_t kForward = 5001, kDrop = 5002;
    constexpr long kRounds = 300;
    Sender sender(net.sb, net.tx, {{40000, kForward}, {40001, kDrop}}, 1000, kRounds);
    long forwarded = 0, dropped = 0;
    xb_packet pkts[64];
    for (auto deadline = after_s(30); Clock::now() < deadline && (forwarded < kRounds || dropped < kRounds);) {
        for (uint32_t t = 0; t < info.threads; ++t) {
            int n = xb_capture_recv(caps[t], pkts, 64, 20);
            ASSERT_GE(n, 0) << xb_last_error();
            for (int i = 0; i < n; ++i) {
                uint16_t port = udp_dport(pkts[i]);
                if (port == kForward) {
                    ASSERT_EQ(xb_capture_verdict(caps[t], &pkts[i], XB_VERDICT_FORWARD), 0) << xb_last_error();
                    ++forwarded;
                } else if (port == kDrop) {
                    ASSERT_EQ(xb_capture_verdict(caps[t], &pkts[i], XB_VERDICT_DROP), 0) << xb_last_error();
                    ++dropped;
                }
            }
            xb_capture_release(caps[t]);
        }
        far_side.drain();
        if (sender.done()) break;
    }
    sender.stop();
    // What was still queued when the sender finished.
    for (int k = 0; k < 20; ++k)
        for (uint32_t t = 0; t < info.threads; ++t) {
            int n = xb_capture_recv(caps[t], pkts, 64, 20);
            for (int i = 0; i < n; ++i) {
                uint16_t port = udp_dport(pkts[i]);
                if (port == kForward && xb_capture_verdict(caps[t], &pkts[i], XB_VERDICT_FORWARD) == 0) ++forwarded;
                if (port == kDrop && xb_capture_verdict(caps[t], &pkts[i], XB_VERDICT_DROP) == 0) ++dropped;
            }
            xb_capture_release(caps[t]);
        }
    EXPECT_GE(forwarded, kRounds * 9 / 10);
    EXPECT_GE(dropped, kRounds * 9 / 10);
    for (auto deadline = after_s(5); Clock::now() < deadline && far_side.count(kForward) < forwarded; usleep(20000))
        far_side.drain();
    usleep(100000);
    far_side.drain();
    EXPECT_EQ(far_side.count(kForward), forwarded) << "every FORWARD verdict arrives on the far side of the peer";
    EXPECT_EQ(far_side.count(kDrop), 0) << "no DROP verdict may arrive";
    uint64_t fwd = 0, vdrop = 0, failed = 0;
    for (auto* c : caps) {
        xb_capture_stats cs{};
        cs.sz = sizeof cs;
        EXPECT_EQ(xb_capture_stats_get(c, &cs), 0) << xb_last_error();
        fwd += cs.forwarded;
        vdrop += cs.verdict_dropped;
        failed += cs.forward_failed;
        xb_capture_close(c);
    }
    EXPECT_EQ(fwd, static_cast<uint64_t>(forwarded));
    EXPECT_EQ(vdrop, static_cast<uint64_t>(dropped));
    EXPECT_EQ(failed, 0u);
    xb_close(p);
    EXPECT_EQ(attached(net.sb, net.cap, "v0"), "");
}

// --- 6. expiry events ------------------------------------------------------------------------------

// Raw UDP/IPv4 frames written out of dev in ns with a packet socket: any source address, so both
// directions of a flow can arrive on the capture interface, as on a SPAN port.
class RawSender {
public:
    RawSender(Sandbox& sb, const std::string& ns, const std::string& dev, const std::string& dst_mac) {
        std::string src_mac = sb.mac_address(ns, dev);
        auto parse = [](const std::string& m, uint8_t* out) {
            unsigned b[6] = {};
            EXPECT_EQ(std::sscanf(m.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]), 6) << m;
            for (int i = 0; i < 6; ++i) out[i] = static_cast<uint8_t>(b[i]);
        };
        parse(dst_mac, dst_);
        parse(src_mac, src_);
        sb.run_in(ns, [&] {
            fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
            ifindex_ = static_cast<int>(if_nametoindex(dev.c_str()));
        });
        EXPECT_GE(fd_, 0) << strerror(errno);
    }
    ~RawSender() { close(fd_); }
    // One frame src:sport -> dst:dport with 7 bytes of payload; true when the kernel took it.
    bool send(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
        uint8_t f[14 + 20 + 8 + 7] = {};
        std::memcpy(f, dst_, 6);
        std::memcpy(f + 6, src_, 6);
        f[12] = 0x08;
        uint8_t* ip = f + 14;
        ip[0] = 0x45;
        ip[3] = 20 + 8 + 7;
        ip[8] = 64;
        ip[9] = IPPROTO_UDP;
        inet_pton(AF_INET, src, ip + 12);
        inet_pton(AF_INET, dst, ip + 16);
        uint32_t sum = 0;
        for (int i = 0; i < 20; i += 2) sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
        while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
        ip[10] = static_cast<uint8_t>(~sum >> 8), ip[11] = static_cast<uint8_t>(~sum);
        uint8_t* udp = ip + 20;
        udp[0] = static_cast<uint8_t>(sport >> 8), udp[1] = static_cast<uint8_t>(sport);
        udp[2] = static_cast<uint8_t>(dport >> 8), udp[3] = static_cast<uint8_t>(dport);
        udp[5] = 8 + 7;  // no UDP checksum (0 is allowed for IPv4)
        std::memcpy(udp + 8, "payload", 7);
        sockaddr_ll sa{};
        sa.sll_family = AF_PACKET;
        sa.sll_ifindex = ifindex_;
        sa.sll_halen = 6;
        std::memcpy(sa.sll_addr, dst_, 6);
        return sendto(fd_, f, sizeof f, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == static_cast<ssize_t>(sizeof f);
    }
    static constexpr uint64_t kFrameBytes = 14 + 20 + 8 + 7;

private:
    int fd_ = -1, ifindex_ = 0;
    uint8_t dst_[6]{}, src_[6]{};
};

xb_flow udp_flow(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
    xb_flow f{};
    f.sz = sizeof f;
    f.family = 4;
    f.proto = IPPROTO_UDP;
    f.src_port = sport;
    f.dst_port = dport;
    inet_pton(AF_INET, src, f.src_addr);
    inet_pton(AF_INET, dst, f.dst_addr);
    return f;
}

bool same_flow(const xb_flow& a, const xb_flow& b) {
    return a.family == b.family && a.proto == b.proto && a.src_port == b.src_port && a.dst_port == b.dst_port &&
           a.vlan_id[0] == b.vlan_id[0] && a.vlan_id[1] == b.vlan_id[1] && !std::memcmp(a.src_addr, b.src_addr, 16) &&
           !std::memcmp(a.dst_addr, b.dst_addr, 16);
}

// A bypassed flow with packets both ways, then none: the housekeeping expires it and the engine gets
// its final kernel counts (xb_expired_flows). A flow with packets in one direction only is not
// expired while they come; once they stop, it is, with nothing counted the other way.
TEST(Expiry, AnIdleFlowArrivesWithItsFinalCountsAOneWayFlowStaysWhileActive) {
    XB_REQUIRE_KERNEL();
    Net net;
    // timeout 3 s: a sweep every 1.5 s (rounded to 1 s); the one-way flow sends every 50 ms.
    TempFile conf(config("v0", "      capture: af-packet\n      datapath: xdp-native\n"
                               "      flow-table:\n        timeout: 3\n"));
    Opened o = open_plugin(conf.path, net.cap);
    ASSERT_EQ(o.rc, 0) << o.error << "\n" << o.diagnostics;
    xb_plugin* p = o.plugin;
    EXPECT_STREQ(interface_info(p).datapath, "xdp-native");
    ASSERT_EQ(xb_expired_flows(p, nullptr, 0), 0) << xb_last_error();  // starts the queue
    xb_expired_flow events[8];
    events[0].sz = 0;
    EXPECT_XB(xb_expired_flows(p, events, 8), XB_ERR_INVAL);
    EXPECT_XB(xb_expired_flows(p, nullptr, 8), XB_ERR_INVAL);

    const xb_flow both = udp_flow(kTxAddr, 40000, kCapAddr, 5001);
    const xb_flow one_way = udp_flow(kTxAddr, 40001, kCapAddr, 5002);
    ASSERT_EQ(xb_bypass(p, "v0", &both), 0) << xb_last_error();
    ASSERT_EQ(xb_bypass(p, "v0", &one_way), 0) << xb_last_error();
    const uint64_t bypassed_at = realtime_ns();

    RawSender raw(net.sb, net.tx, "t0", net.sb.mac_address(net.cap, "v0"));
    // The one-way flow, all along, from its own thread.
    std::atomic<bool> stop_one_way{false};
    std::atomic<long> one_way_sent{0};
    std::thread one_way_thread([&] {
        RawSender own(net.sb, net.tx, "t0", net.sb.mac_address(net.cap, "v0"));
        while (!stop_one_way) {
            if (own.send(kTxAddr, 40001, kCapAddr, 5002)) ++one_way_sent;
            usleep(50000);
        }
    });
    // The two-way flow: 40 frames each way over about a second, then silence.
    long fwd = 0, rev = 0;
    for (int i = 0; i < 40; ++i) {
        fwd += raw.send(kTxAddr, 40000, kCapAddr, 5001);
        rev += raw.send(kCapAddr, 5001, kTxAddr, 40000);
        usleep(25000);
    }
    const uint64_t last_sent = realtime_ns();
    ASSERT_EQ(fwd, 40);
    ASSERT_EQ(rev, 40);

    std::vector<xb_expired_flow> got;
    auto drain = [&] {
        events[0].sz = sizeof events[0];
        int n = xb_expired_flows(p, events, 8);
        EXPECT_GE(n, 0) << xb_last_error();
        for (int i = 0; i < n; ++i) {
            EXPECT_EQ(events[i].sz, sizeof events[i]);
            got.push_back(events[i]);
        }
    };
    auto has = [&](const xb_flow& f) {
        return std::any_of(got.begin(), got.end(), [&](const xb_expired_flow& e) { return same_flow(e.flow, f); });
    };
    // The timeout (3 s) after the last packet, plus sweeps: a generous minute.
    for (auto deadline = after_s(60); Clock::now() < deadline && !has(both); usleep(100000)) drain();
    ASSERT_TRUE(has(both)) << "no expiry event for the idle flow within a minute";
    const uint64_t seen_at = realtime_ns();
    // The one-way flow keeps coming: still bypassed a further two timeouts later.
    for (auto until = after_s(7); Clock::now() < until; usleep(100000)) drain();
    EXPECT_FALSE(has(one_way)) << "the flow with packets in one direction was expired while they came";
    xb_flow_counts oc{};
    oc.sz = sizeof oc;
    EXPECT_EQ(xb_bypass_counts(p, "v0", &one_way, &oc), 0) << xb_last_error();
    EXPECT_GT(oc.pkts_forward, 0u);
    stop_one_way = true;
    one_way_thread.join();
    for (auto deadline = after_s(60); Clock::now() < deadline && !has(one_way); usleep(100000)) drain();
    EXPECT_TRUE(has(one_way)) << "the one-way flow was not expired once its packets stopped";

    for (const auto& e : got) {
        EXPECT_STREQ(e.interface, "v0");
        EXPECT_EQ(e.flow.sz, sizeof(xb_flow));
        EXPECT_LE(e.first_seen_ns, e.last_seen_ns);
        // Wall-clock times at the kernel's jiffy resolution, within a second of what the test saw.
        EXPECT_GE(e.first_seen_ns + 1000000000ull, bypassed_at);
        EXPECT_LE(e.first_seen_ns, bypassed_at + 1000000000ull);
        if (same_flow(e.flow, both)) {
            // The kernel's counts, both directions: every frame the test sent was dropped and counted.
            EXPECT_EQ(e.pkts_forward, 40u);
            EXPECT_EQ(e.pkts_reverse, 40u);
            EXPECT_GE(e.bytes_forward, 40u * RawSender::kFrameBytes);
            EXPECT_GE(e.bytes_reverse, 40u * RawSender::kFrameBytes);
            EXPECT_GE(e.last_seen_ns + 1000000000ull, last_sent);
            EXPECT_LE(e.last_seen_ns, seen_at);
        } else if (same_flow(e.flow, one_way)) {
            EXPECT_EQ(e.pkts_forward, static_cast<uint64_t>(one_way_sent.load()));
            EXPECT_EQ(e.pkts_reverse, 0u);
            EXPECT_EQ(e.bytes_reverse, 0u);
        } else {
            ADD_FAILURE() << "an expiry event for a flow the test did not bypass";
        }
    }
    EXPECT_EQ(got.size(), 2u) << "each flow is reported once";
    xb_stats st = stats_of(p, "v0");
    EXPECT_EQ(st.flow_entries, 0u);
    EXPECT_EQ(st.flows_expired, 2u);
    EXPECT_EQ(st.expiry_events, 2u);
    EXPECT_EQ(st.expiry_events_dropped, 0u);
    EXPECT_EQ(xb_bypass_counts(p, "v0", &both, &oc), XB_ERR_NOENT);
    xb_close(p);
    EXPECT_EQ(attached(net.sb, net.cap, "v0"), "");
}

// --- 7. close detaches ------------------------------------------------------------------------------

class Close : public ::testing::TestWithParam<const char*> {};

TEST_P(Close, DetachesAndTheInterfaceCanBeOpenedAgain) {
    XB_REQUIRE_KERNEL();
    Net net;
    TempFile conf(config("v0", std::string("      capture: af-packet\n      datapath: ") + GetParam() + "\n"));
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        Opened o = open_plugin(conf.path, net.cap);
        ASSERT_EQ(o.rc, 0) << o.error << "\n" << o.diagnostics;
        EXPECT_NE(attached(net.sb, net.cap, "v0"), "") << "xb_open attached nothing";
        xb_capture* c = nullptr;
        ASSERT_EQ(xb_capture_open(o.plugin, "v0", 0, &c), 0) << xb_last_error();  // left for xb_close
        xb_flow f = synthetic_flow(7);
        EXPECT_EQ(xb_bypass(o.plugin, "v0", &f), 0) << xb_last_error();
        xb_close(o.plugin);
        EXPECT_EQ(attached(net.sb, net.cap, "v0"), "");
    }
}

INSTANTIATE_TEST_SUITE_P(Datapaths, Close, ::testing::Values("xdp-native", "xdp-generic"),
                         [](const auto& i) {
                             std::string n = i.param;
                             n.erase(std::remove(n.begin(), n.end(), '-'), n.end());
                             return n;
                         });

}  // namespace
