// Reload without a gap, against the real kernel: continuous UDP traffic through reloads that swap
// the program (cpu redirect on and off for XDP, vlan tracking for tc): no packet of the bypassed
// flow reaches user space during or after the swaps, no packet of the other flow is lost (counted
// at the receiver), the flow table keeps its entries and the counters continue. Refused and
// restart-needing configurations change nothing; added and removed interfaces are attached and
// detached.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <fstream>
#include <chrono>
#include <thread>

#include <bpf/libbpf.h>

#include "datapath/flow.h"
#include "harness/run_helpers.h"
#include "harness/sandbox.h"
#include "monitor/monitor.h"
#include "session/session.h"
#include "session/reload.h"
#include "session/startup.h"

namespace xb::session {
namespace {

using test::TempFile;
using test::UdpPair;

UniqueFd udp_socket(uint16_t port, const char* addr) {
    UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int big = 8 << 20;
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, addr, &sa.sin_addr);
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
    return fd;
}

// The UDP line of this thread's network namespace's SNMP counters ("InErrors RcvbufErrors ..."),
// for a failure message: frames that reached the stack but not the socket.
std::string udp_errors() {
    std::ifstream f("/proc/thread-self/net/snmp");
    std::string names, values, line;
    while (std::getline(f, line))
        if (line.rfind("Udp: ", 0) == 0) (names.empty() ? names : values) = line;
    std::istringstream n(names), v(values);
    std::string out, a, b;
    while (n >> a && v >> b)
        if (a == "InErrors" || a == "RcvbufErrors" || a == "NoPorts" || a == "InDatagrams") out += a + " " + b + " ";
    return out;
}

std::string conf(const std::string& dev, const std::string& extra) {
    return "xbypass:\n  stats-interval: 0\n  interfaces:\n    - interface: " + dev + "\n" + extra;
}

Startup start_on(const std::string& file) {
    StartRequest r;
    r.config_file = file;
    r.configure_logger = false;
    return start(r);
}

uint32_t attached_prog(const std::string& dev, bool tc) {
    if (!tc) return test::xdp_prog_id(dev);
    bpf_tc_hook h{};
    h.sz = sizeof h;
    h.ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
    h.attach_point = BPF_TC_INGRESS;
    bpf_tc_opts o{};
    o.sz = sizeof o;
    o.handle = datapath::kTcHandle;
    o.priority = datapath::kTcPriority;
    return bpf_tc_query(&h, &o) == 0 ? o.prog_id : 0;
}

struct SwapCase {
    const char* name;
    const char* datapath;
    const char* a;  // extra keys of configuration A
    const char* b;  // of configuration B: a program change from A
    const char* program_a;
    const char* program_b;
};

class ReloadSwap : public ::testing::TestWithParam<SwapCase> {};

TEST_P(ReloadSwap, NoBypassedPacketReachesUserSpaceAndNoOtherIsLost) {
    XB_REQUIRE_KERNEL();
    const SwapCase& c = GetParam();
    UdpPair net;
    const bool tc = std::string(c.datapath) == "tc";
    std::string dp = std::string("      datapath: ") + c.datapath + "\n";
    TempFile fa(conf("b0", dp + c.a)), fb(conf("b0", dp + c.b));
    UniqueFd rx_bypassed, rx_other, tx;
    net.sb.run_in(net.capture, [&] {
        rx_bypassed = udp_socket(test::kBypassedPort, "10.77.0.2");
        rx_other = udp_socket(test::kOtherPort, "10.77.0.2");
    });
    net.sb.run_in(net.sender, [&] { tx = udp_socket(test::kSourcePort, "10.77.0.1"); });
    net.sb.run_in(net.capture, [&] {
        auto started = start_on(fa.path);
        ASSERT_TRUE(started.session) << started.diagnostics.to_text();
        Session& s = *started.session;
        ASSERT_EQ(s.interfaces()[0].plan.program, c.program_a);
        auto key = datapath::make_flow_key("udp", "10.77.0.1", test::kSourcePort, "10.77.0.2", test::kBypassedPort);
        ASSERT_TRUE(key);
        ASSERT_TRUE(s.bypass_flow("b0", *key));
        // A second bypassed flow that sees no traffic: the table must keep it too.
        auto idle = datapath::make_flow_key("udp", "10.77.0.1", 7000, "10.77.0.2", 7001);
        ASSERT_TRUE(s.bypass_flow("b0", *idle));
        auto entries_before = s.interfaces()[0].program->flow_table().entries();
        ASSERT_TRUE(entries_before);
        ASSERT_EQ(entries_before->size(), 4u);  // two flows, both directions

        // Continuous traffic: the sender alternates the two flows; receivers drain as it goes.
        std::atomic<bool> stop{false};
        std::atomic<int> sent_other{0}, sent_bypassed{0}, got_other{0}, got_bypassed{0};
        std::thread sender([&] {
            sockaddr_in dst{};
            dst.sin_family = AF_INET;
            inet_pton(AF_INET, "10.77.0.2", &dst.sin_addr);
            while (!stop) {
                for (uint16_t port : {test::kBypassedPort, test::kOtherPort}) {
                    dst.sin_port = htons(port);
                    if (sendto(tx.get(), "payload", 7, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 7)
                        ++(port == test::kOtherPort ? sent_other : sent_bypassed);
                }
                usleep(200);
            }
        });
        std::thread receiver([&] {
            char buf[2048];
            // After the sender stops, frames can still be on their way: with cpu redirect a cpumap
            // kthread passes them to the stack, and on a machine loaded by other work that kthread
            // waits for its CPU (seen: over half a second). Drain until every frame of the other flow
            // is in, or 20 s have passed since the stop.
            std::chrono::steady_clock::time_point stopped{};
            for (;;) {
                bool any = false;
                if (recv(rx_other.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) ++got_other, any = true;
                if (recv(rx_bypassed.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) ++got_bypassed, any = true;
                if (any) continue;
                if (stop) {
                    const auto now = std::chrono::steady_clock::now();
                    if (stopped == std::chrono::steady_clock::time_point{}) stopped = now;
                    if (got_other.load() >= sent_other.load() || now - stopped > std::chrono::seconds(20)) break;
                }
                usleep(stop ? 2000 : 100);
            }
            // One last look for a bypassed frame that would arrive late.
            usleep(100000);
            while (recv(rx_bypassed.get(), buf, sizeof buf, MSG_DONTWAIT) >= 0) ++got_bypassed;
        });
        usleep(200000);
        const config::Config cfg_a = started.config;
        config::Config running = cfg_a;
        uint32_t prog = attached_prog("b0", tc);
        int swaps = 0;
        for (int round = 0; round < 3; ++round) {
            for (const std::string* file : {&fb.path, &fa.path}) {
                ReloadRequest rr;
                rr.config_file = *file;
                auto out = reload(s, running, rr);
                ASSERT_EQ(out.kind, ReloadOutcome::Kind::Applied) << out.diagnostics.to_text();
                running = out.config;
                uint32_t now = attached_prog("b0", tc);
                EXPECT_NE(now, prog) << "the program must have been swapped";
                EXPECT_NE(now, 0u) << "something must always be attached";
                prog = now;
                EXPECT_EQ(s.interfaces()[0].plan.program, file == &fb.path ? c.program_b : c.program_a);
                ++swaps;
                usleep(100000);
            }
        }
        stop = true;
        sender.join();
        receiver.join();
        EXPECT_EQ(swaps, 6);
        EXPECT_GT(sent_other.load(), 1000);
        EXPECT_EQ(got_bypassed.load(), 0) << "a bypassed packet reached user space";
        // A cpumap's kthread starved by other work on the machine drops what its queue cannot hold, swap
        // or not; the exception monitor counts those drops (xdp_cpumap_enqueue). Anything lost beyond
        // them is lost by the swap.
        uint64_t cpumap_drops = 0;
        std::string exceptions = "no exception monitor";
        if (auto e = s.exceptions("b0")) {
            cpumap_drops = (*e)[monitor::Event::CpumapDrop];
            exceptions.clear();
            for (size_t i = 0; i < monitor::kEventCount; ++i)
                exceptions += std::string(monitor::event_name(static_cast<monitor::Event>(i))) + " " +
                              std::to_string(e->value[i]) + " ";
        }
        std::string program_counters;
        if (auto c = s.interfaces()[0].program->read_counters())
            for (int i = 0; i < XB_CNT_MAX; ++i)
                program_counters += std::string(datapath::counter_name(static_cast<enum xb_counter>(i))) + " " +
                                    std::to_string((*c)[static_cast<enum xb_counter>(i)]) + " ";
        EXPECT_EQ(static_cast<uint64_t>(got_other.load()) + cpumap_drops, static_cast<uint64_t>(sent_other.load()))
            << "packets of the unbypassed flow were lost (received " << got_other.load() << " of " << sent_other.load()
            << "; kernel exception counts: " << exceptions << "; program: " << program_counters
            << "; udp: " << udp_errors() << ")";
        auto entries_after = s.interfaces()[0].program->flow_table().entries();
        ASSERT_TRUE(entries_after);
        EXPECT_EQ(entries_after->size(), 4u) << "the flow table must keep its entries";
        auto counters = s.interfaces()[0].program->read_counters();
        ASSERT_TRUE(counters);
        // The counters carried over: every bypassed packet was counted, in whichever program.
        EXPECT_EQ((*counters)[XB_CNT_HIT], static_cast<uint64_t>(sent_bypassed.load()));
        EXPECT_GE((*counters)[XB_CNT_MISS], static_cast<uint64_t>(sent_other.load()));
    });
}

INSTANTIATE_TEST_SUITE_P(
    Datapaths, ReloadSwap,
    ::testing::Values(SwapCase{"xdp_native_cpu_redirect", "xdp-native", "", "      cpu-redirect: \"0\"\n", "xdp_ids", "xdp_ids_cpu"},
                      SwapCase{"xdp_generic_cpu_redirect", "xdp-generic", "      cpu-redirect: \"0\"\n", "", "xdp_ids_cpu", "xdp_ids"},
                      SwapCase{"tc_vlan_tracking", "tc", "", "      vlan-tracking: no\n", "tc_ids", "tc_ids"}),
    [](const auto& i) { return std::string(i.param.name); });

// --- what a reload refuses changes nothing ------------------------------------------------------


TEST(Reload, InvalidConfigurationIsRefusedAndNothingChanges) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    TempFile good(conf("b0", "      datapath: xdp-generic\n"));
    TempFile bad(conf("b0", "      datapath: xdp-generic\n      no-such-key: 1\n"));
    TempFile plan_refused(conf("b0", "      datapath: xdp-generic\n      ips-peer: nosuchdev\n"));
    net.sb.run_in(net.capture, [&] {
        auto started = start_on(good.path);
        ASSERT_TRUE(started.session) << started.diagnostics.to_text();
        auto key = datapath::make_flow_key("udp", "10.77.0.1", 1, "10.77.0.2", 2);
        ASSERT_TRUE(started.session->bypass_flow("b0", *key));
        uint32_t prog = test::xdp_prog_id("b0");
        for (const std::string* f : {&bad.path, &plan_refused.path}) {
            ReloadRequest rr;
            rr.config_file = *f;
            auto out = reload(*started.session, started.config, rr);
            EXPECT_EQ(out.kind, ReloadOutcome::Kind::Refused);
            bool xb8101 = false;
            for (const auto& d : out.diagnostics) xb8101 |= d.code == "XB8101";
            EXPECT_TRUE(xb8101) << out.diagnostics.to_text();
            EXPECT_TRUE(out.changes.empty());
            EXPECT_EQ(test::xdp_prog_id("b0"), prog);
            EXPECT_TRUE(started.session->interfaces()[0].program->flow_table().lookup(*key));
        }
        ReloadRequest missing;
        missing.config_file = "/nonexistent/xbypass.yaml";
        EXPECT_EQ(reload(*started.session, started.config, missing).kind, ReloadOutcome::Kind::Refused);
        EXPECT_EQ(test::xdp_prog_id("b0"), prog);
    });
}

struct RestartCase {
    const char* name;
    const char* a;
    const char* b;
};

class ReloadRestart : public ::testing::TestWithParam<RestartCase> {};

TEST_P(ReloadRestart, NeedsARestartAndNothingChanges) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    TempFile fa(conf("b0", GetParam().a)), fb(conf("b0", GetParam().b));
    net.sb.run_in(net.capture, [&] {
        auto started = start_on(fa.path);
        ASSERT_TRUE(started.session) << started.diagnostics.to_text();
        uint32_t xdp = test::xdp_prog_id("b0"), tcp = attached_prog("b0", true);
        ReloadRequest rr;
        rr.config_file = fb.path;
        auto out = reload(*started.session, started.config, rr);
        EXPECT_EQ(out.kind, ReloadOutcome::Kind::RestartNeeded) << out.diagnostics.to_text();
        bool xb8102 = false;
        for (const auto& d : out.diagnostics) xb8102 |= d.code == "XB8102";
        EXPECT_TRUE(xb8102) << out.diagnostics.to_text();
        EXPECT_EQ(test::xdp_prog_id("b0"), xdp);
        EXPECT_EQ(attached_prog("b0", true), tcp);
    });
}

INSTANTIATE_TEST_SUITE_P(
    Options, ReloadRestart,
    ::testing::Values(
        RestartCase{"flow_table_size", "      datapath: xdp-generic\n",
                    "      datapath: xdp-generic\n      flow-table:\n        size: 1024\n"},
        RestartCase{"hook_xdp_to_tc", "      datapath: xdp-generic\n", "      datapath: tc\n"},
        RestartCase{"hook_tc_to_xdp", "      datapath: tc\n", "      datapath: xdp-generic\n"},
        RestartCase{"pinned_maps", "      datapath: tc\n", "      datapath: tc\n      pinned-maps: yes\n"}),
    [](const auto& i) { return std::string(i.param.name); });

TEST(Reload, AddsAndRemovesInterfaces) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    net.sb.add_ifb(net.capture, "ifb7");
    net.sb.link_up(net.capture, "ifb7");
    TempFile one(conf("b0", "      datapath: xdp-generic\n"));
    TempFile two(conf("b0", "      datapath: xdp-generic\n    - interface: ifb7\n      datapath: tc\n"));
    net.sb.run_in(net.capture, [&] {
        auto started = start_on(one.path);
        ASSERT_TRUE(started.session) << started.diagnostics.to_text();
        uint32_t b0 = test::xdp_prog_id("b0");
        ReloadRequest rr;
        rr.config_file = two.path;
        auto out = reload(*started.session, started.config, rr);
        ASSERT_EQ(out.kind, ReloadOutcome::Kind::Applied) << out.diagnostics.to_text();
        EXPECT_EQ(started.session->interfaces().size(), 2u);
        EXPECT_NE(attached_prog("ifb7", true), 0u);
        EXPECT_EQ(test::xdp_prog_id("b0"), b0) << "an unchanged interface is not touched";
        // The plugin's policy: interfaces are fixed while an engine captures.
        ReloadRequest fixed;
        fixed.config_file = one.path;
        fixed.allow_interface_changes = false;
        EXPECT_EQ(reload(*started.session, out.config, fixed).kind, ReloadOutcome::Kind::RestartNeeded);
        EXPECT_NE(attached_prog("ifb7", true), 0u);
        rr.config_file = one.path;
        auto back = reload(*started.session, out.config, rr);
        ASSERT_EQ(back.kind, ReloadOutcome::Kind::Applied) << back.diagnostics.to_text();
        EXPECT_EQ(started.session->interfaces().size(), 1u);
        EXPECT_EQ(attached_prog("ifb7", true), 0u) << "the removed interface must be detached";
        EXPECT_EQ(test::xdp_prog_id("b0"), b0);
        // The same file again: nothing to do.
        EXPECT_EQ(reload(*started.session, back.config, rr).kind, ReloadOutcome::Kind::Unchanged);
    });
}

}  // namespace
}  // namespace xb::session
