// The exception monitor and runtime health against the real kernel: exceptions counted per
// interface, a cpumap redirect that starts failing (degrade swaps to the program without cpu
// redirect, keeping the flow table), an IPS peer that goes down or moves away (hits reach the stack,
// forwarding resumes when it is back), and tracepoints that cannot be attached (a warning, the run
// continues). Every namespace is the test's own; waits poll with deadlines of several seconds.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "config/config.h"
#include "harness/run_helpers.h"
#include "harness/sandbox.h"
#include "harness/trivial_prog.h"
#include "monitor/health.h"
#include "monitor/link_watch.h"
#include "monitor/monitor.h"
#include "session/session.h"
#include "session/upkeep.h"

namespace xb::session {
namespace {

using test::kBypassedPort;
using test::kOtherPort;
using test::kSourcePort;
using test::one_interface;
using test::Sandbox;
using test::UdpPair;

config::Config load(const std::string& yaml) { return test::load_config(yaml); }

// Polls pred (in the calling thread) every 20 ms for up to `seconds`.
template <class Pred>
bool eventually(Pred pred, double seconds = 5.0) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

UniqueFd udp_socket(uint16_t port, const char* addr) {
    UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, addr, &sa.sin_addr);
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
    return fd;
}

// Datagrams sent from `tx` (bound to 10.77.0.1:4000) to 10.77.0.2:port.
void send_n(int tx, uint16_t port, int n) {
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    inet_pton(AF_INET, "10.77.0.2", &dst.sin_addr);
    for (int i = 0; i < n; ++i)
        ASSERT_EQ(sendto(tx, "payload", 7, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst), 7) << strerror(errno);
}

// Datagrams waiting on fd, read until 200 ms pass without one.
int drain(int fd) {
    int n = 0;
    char buf[2048];
    for (int idle = 0; idle < 20;) {
        if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) {
            ++n;
            idle = 0;
            continue;
        }
        ++idle;
        usleep(10000);
    }
    return n;
}

datapath::FlowKey bypassed_key() {
    auto key = datapath::make_flow_key("udp", "10.77.0.1", kSourcePort, "10.77.0.2", kBypassedPort);
    EXPECT_TRUE(key);
    return *key;
}

// --- the exception monitor on its own -------------------------------------------------------------

TEST(ExceptionMonitor, AnInvalidActionIsCountedForItsInterfaceOnly) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    net.sb.add_veth(net.capture, "c0", net.sb.add_netns("other"), "c1");
    net.sb.link_up(net.capture, "c0");
    net.sb.run_in(net.capture, [&] {
        int b0 = static_cast<int>(if_nametoindex("b0")), c0 = static_cast<int>(if_nametoindex("c0"));
        auto m = monitor::ExceptionMonitor::start({{b0, 0}, {c0, 0}});
        ASSERT_TRUE(m) << m.error().message;
        EXPECT_EQ((*m)->prog_ids().size(), 4u);
        // Another tool's program returning action 99 (no such action) on b0; c0 is watched too and
        // gets no traffic.
        UniqueFd bad = test::load_trivial_xdp("xbt_invalid", 99);
        auto att = datapath::XdpAttachment::attach(b0, bad.get(), datapath::XdpMode::Generic);
        ASSERT_TRUE(att) << att.error().message;
        UniqueFd tx;
        net.sb.run_in(net.sender, [&] {
            tx = udp_socket(kSourcePort, "10.77.0.1");
            send_n(tx.get(), kOtherPort, 20);
        });
        EXPECT_TRUE(eventually([&] {
            auto c = (*m)->read(b0);
            return c && (*c)[monitor::Event::InvalidAction] >= 20;
        })) << "the kernel's xdp_exception for action 99 was not counted on b0";
        auto on_b0 = (*m)->read(b0);
        ASSERT_TRUE(on_b0);
        EXPECT_EQ((*on_b0)[monitor::Event::Aborted], 0u);
        auto on_c0 = (*m)->read(c0);
        ASSERT_TRUE(on_c0);
        EXPECT_EQ(on_c0->total(), 0u) << "an exception of b0 was counted for c0";
        EXPECT_FALSE((*m)->read(12345)) << "an interface that is not watched has no counts";

        // XDP_ABORTED on the same interface goes to its own counter.
        UniqueFd abort_prog = test::load_trivial_xdp("xbt_aborted", XDP_ABORTED);
        ASSERT_TRUE(att->replace_program(abort_prog.get()));
        net.sb.run_in(net.sender, [&] { send_n(tx.get(), kOtherPort, 10); });
        EXPECT_TRUE(eventually([&] {
            auto c = (*m)->read(b0);
            return c && (*c)[monitor::Event::Aborted] >= 10;
        }));
    });
}

TEST(ExceptionMonitor, WithoutKernelBtfItCannotStartAndSaysWhy) {
    XB_REQUIRE_KERNEL();
    monitor::MonitorOptions o;
    o.btf_path = "/nonexistent/xbt-vmlinux";
    auto m = monitor::ExceptionMonitor::start({{1, 0}}, o);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("exception monitor"), std::string::npos) << m.error().message;
}

// Tracepoints that cannot be attached never refuse a run: a warning (XB6003) and no exception counts.
TEST(ExceptionMonitor, UnavailableTracepointsAreAWarningAndTheRunContinues) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    net.sb.run_in(net.capture, [&] {
        Assessment a = assess(load(one_interface("b0", "      datapath: xdp-generic\n")));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        Diagnostics d;
        SessionOptions so;
        so.monitor.btf_path = "/nonexistent/xbt-vmlinux";
        auto s = Session::start(a, d, so);
        ASSERT_TRUE(s) << d.to_text();
        EXPECT_TRUE(d.contains("XB6003")) << d.to_text();
        EXPECT_FALSE(d.has_errors()) << d.to_text();
        EXPECT_FALSE(s->exception_monitor_running());
        EXPECT_TRUE(s->verify());
        EXPECT_EQ(s->stats_text().find("exceptions:"), std::string::npos);
        Diagnostics hd;
        EXPECT_TRUE(s->check_health(hd));
    });
}

TEST(ExceptionMonitor, SessionStatsCarryTheExceptionCounts) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    net.sb.run_in(net.capture, [&] {
        Assessment a = assess(load(one_interface("b0", "      datapath: xdp-generic\n")));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        Diagnostics d;
        auto s = Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        ASSERT_TRUE(s->exception_monitor_running()) << d.to_text();
        EXPECT_NE(s->stats_text().find(" exceptions: aborted=0 invalid-action=0"), std::string::npos) << s->stats_text();
        EXPECT_NE(s->stats_json().find("\"exceptions\":{\"aborted\":0"), std::string::npos) << s->stats_json();
        auto e = s->exceptions("b0");
        ASSERT_TRUE(e);
        EXPECT_EQ(e->total(), 0u);
    });
}

// --- health decisions -----------------------------------------------------------------------------

TEST(Health, DecisionsFromTwoSamples) {
    monitor::HealthSample before, now;
    EXPECT_EQ(monitor::assess_health(before, now).fault, monitor::Fault::None);
    now.cpu_redirect = true;
    now.redirect_fail = 5;
    EXPECT_EQ(monitor::assess_health(before, now).fault, monitor::Fault::None) << "redirect-fail alone may be the IPS peer";
    now.cpumap_incomplete = true;
    EXPECT_EQ(monitor::assess_health(before, now).fault, monitor::Fault::CpuRedirectFailing);
    monitor::HealthSample cpu_err;
    cpu_err.cpu_redirect = true;
    cpu_err.exceptions.value[XB_MON_REDIRECT_CPU_ERROR] = 1;
    EXPECT_EQ(monitor::assess_health(before, cpu_err).fault, monitor::Fault::CpuRedirectFailing);
    monitor::HealthSample aborts;
    aborts.exceptions.value[XB_MON_ABORTED] = 3;
    auto f = monitor::assess_health(before, aborts);
    EXPECT_EQ(f.fault, monitor::Fault::Aborting);
    EXPECT_NE(f.cause.find("3 XDP_ABORTED"), std::string::npos) << f.cause;
    EXPECT_EQ(monitor::assess_health(aborts, aborts).fault, monitor::Fault::None) << "only changes count";
    monitor::HealthSample devmap;
    devmap.exceptions.value[XB_MON_DEVMAP_DROP] = 2;
    EXPECT_EQ(monitor::assess_health(before, devmap).fault, monitor::Fault::RedirectErrors);
}

// --- cpu redirect failing: degrade ------------------------------------------------------------------

TEST(RuntimeHealth, AFailingCpuRedirectDegradesToTheProgramWithoutItKeepingTheFlowTable) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    UniqueFd rx_other, rx_bypassed, tx;
    net.sb.run_in(net.capture, [&] {
        rx_other = udp_socket(kOtherPort, "10.77.0.2");
        rx_bypassed = udp_socket(kBypassedPort, "10.77.0.2");
    });
    net.sb.run_in(net.sender, [&] { tx = udp_socket(kSourcePort, "10.77.0.1"); });
    net.sb.run_in(net.capture, [&] {
        Assessment a = assess(load(one_interface("b0", "      datapath: xdp-generic\n      cpu-redirect: \"0\"\n")));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        Diagnostics d;
        auto s = Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        ASSERT_TRUE(s->exception_monitor_running()) << d.to_text();
        const RunningInterface& ri = s->interfaces()[0];
        ASSERT_EQ(ri.program->program_name(), "xdp_ids_cpu");
        ASSERT_TRUE(s->bypass_flow("b0", bypassed_key()));
        uint32_t before_id = test::xdp_prog_id("b0");

        // Someone deletes the CPU's cpumap entry behind the run's back.
        uint32_t cpu = 0;
        ASSERT_EQ(bpf_map_delete_elem(ri.program->map_fd("xb_cpu_map"), &cpu), 0);
        net.sb.run_in(net.sender, [&] { send_n(tx.get(), kOtherPort, 20); });
        Diagnostics hd;
        EXPECT_TRUE(eventually([&] {
            EXPECT_TRUE(s->check_health(hd));
            return s->interfaces()[0].program->program_name() == "xdp_ids";
        })) << hd.to_text();
        EXPECT_TRUE(hd.contains("XB6020")) << hd.to_text();
        const RunningInterface& now = s->interfaces()[0];
        EXPECT_EQ(now.degraded_from, "xdp_ids_cpu");
        EXPECT_EQ(test::xdp_state("b0").generic_prog_id, test::xdp_prog_id("b0")) << "still generic XDP";
        EXPECT_NE(test::xdp_prog_id("b0"), before_id) << "the program was swapped";
        EXPECT_EQ(datapath::prog_name_of_id(test::xdp_prog_id("b0")), "xdp_ids");
        EXPECT_TRUE(s->verify());
        // The flow inserted before the swap is still there and still bypassed; other traffic flows.
        EXPECT_TRUE(now.program->flow_table().lookup(bypassed_key()));
        auto c0 = now.program->read_counters();
        ASSERT_TRUE(c0);
        EXPECT_EQ(drain(rx_other.get()), 20) << "misses reach the stack while the cpumap fails";
        net.sb.run_in(net.sender, [&] {
            send_n(tx.get(), kOtherPort, 30);
            send_n(tx.get(), kBypassedPort, 30);
        });
        EXPECT_EQ(drain(rx_other.get()), 30);
        EXPECT_EQ(drain(rx_bypassed.get()), 0) << "the flow table was not kept";
        auto c1 = now.program->read_counters();
        ASSERT_TRUE(c1);
        EXPECT_GE((*c1)[XB_CNT_DROP] - (*c0)[XB_CNT_DROP], 30u);
        EXPECT_EQ((*c1)[XB_CNT_REDIRECT_FAIL], (*c0)[XB_CNT_REDIRECT_FAIL]) << "no more redirect failures";
        EXPECT_GE((*c1)[XB_CNT_MISS], 50u) << "counters continue from the old program";
    });
}

// rx packets and rx drops of dev in the calling thread's namespace (/proc/thread-self/net/dev).
std::pair<uint64_t, uint64_t> rx_of(const std::string& dev) {
    std::ifstream f("/proc/thread-self/net/dev");
    std::string line;
    while (std::getline(f, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        name.erase(0, name.find_first_not_of(' '));
        if (name != dev) continue;
        std::istringstream in(line.substr(colon + 1));
        uint64_t bytes = 0, packets = 0, errs = 0, drop = 0;
        in >> bytes >> packets >> errs >> drop;
        return {packets, drop};
    }
    ADD_FAILURE() << dev << " not in /proc/net/dev";
    return {0, 0};
}

// A bypassed IPS flow on b0 in native XDP, forwarded to p0 (whose far end p1 is in a sink
// namespace), and redirect errors already counted for b0: the peer's far end lost its GRO, so the
// peer lost ndo-xmit and the devmap enqueue failed. GRO is back when `then` runs in the capture
// namespace, so frames before and after a swap are forwarded; the run has not looked yet.
// `before_start` runs in the capture namespace before the session starts.
void with_failing_native_ips(const std::function<void(UdpPair&, const std::string& sink, Session&, UniqueFd& tx)>& then,
                             const std::function<void()>& before_start = {}) {
    UdpPair net;
    bool known = false;
    net.sb.run_in(net.capture, [&] { known = test::xdp_features_known("b0"); });
    if (!known) GTEST_SKIP() << "native XDP needs the kernel to report xdp-features (Linux 6.3+)";
    std::string sink = net.sb.add_netns("sink");
    net.sb.add_veth(net.capture, "p0", sink, "p1");
    // p1's receive count is the forwarded frames only: p0's stack sends nothing (no IPv6 ND).
    net.sb.exec_in(net.capture, "sysctl -qw net.ipv6.conf.p0.disable_ipv6=1");
    net.sb.link_up(sink, "p1");
    net.sb.link_up(net.capture, "p0");
    net.sb.exec_in(sink, "ethtool -K p1 gro on >/dev/null");
    UniqueFd tx;
    net.sb.run_in(net.sender, [&] { tx = udp_socket(kSourcePort, "10.77.0.1"); });
    net.sb.run_in(net.capture, [&] {
        if (before_start) before_start();
        Assessment a = assess(load(one_interface("b0", "      datapath: xdp-native\n      ips-peer: p0\n")));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        Diagnostics d;
        auto s = Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        ASSERT_TRUE(s->exception_monitor_running());
        ASSERT_TRUE(s->bypass_flow("b0", bypassed_key()));
        net.sb.exec_in(sink, "ethtool -K p1 gro off >/dev/null");
        EXPECT_TRUE(eventually([&] {
            net.sb.run_in(net.sender, [&] { send_n(tx.get(), kBypassedPort, 5); });
            auto e = s->exceptions("b0");
            return e && (*e)[monitor::Event::RedirectError] + (*e)[monitor::Event::DevmapDrop] > 0;
        })) << s->stats_text();
        net.sb.exec_in(sink, "ethtool -K p1 gro on >/dev/null");
        usleep(100000);
        then(net, sink, *s, tx);
    });
}

// Frames failing in the native driver after the program move the same program to generic XDP,
// where the redirect takes the skb path. The kernel refuses native and generic XDP at once, so the
// swap has a window with no XDP program; the same program runs at tc ingress through it. Measured
// under continuous traffic of the bypassed flow: every frame sent is forwarded to the peer, before,
// in and after the window, none reaches the capture namespace's stack, and the tc filter is gone
// afterwards.
TEST(RuntimeHealth, DevmapDropsInNativeXdpDegradeToGeneric) {
    XB_REQUIRE_KERNEL();
    with_failing_native_ips([](UdpPair& net, const std::string& sink, Session& session, UniqueFd& tx) {
        Session* s = &session;
        UniqueFd rx_window = udp_socket(kBypassedPort, "10.77.0.2");  // the window's frames would end here
        int big = 4 << 20;
        setsockopt(rx_window.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
        uint32_t id = test::xdp_state("b0").native_prog_id;
        ASSERT_NE(id, 0u);
        std::pair<uint64_t, uint64_t> p1_before{}, p1_after{};
        net.sb.run_in(sink, [&] { p1_before = rx_of("p1"); });
        auto b0_before = rx_of("b0");
        // Continuous traffic of the bypassed flow (paced so that veth's 256-frame ring never fills)
        // while the run degrades.
        std::atomic<bool> stop{false};
        std::atomic<uint64_t> sent{0};
        std::thread sender([&] {
            sockaddr_in dst{};
            dst.sin_family = AF_INET;
            dst.sin_port = htons(kBypassedPort);
            inet_pton(AF_INET, "10.77.0.2", &dst.sin_addr);
            while (!stop) {
                for (int i = 0; i < 8; ++i)
                    if (sendto(tx.get(), "payload", 7, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 7) ++sent;
                usleep(50);
            }
        });
        usleep(300000);
        Diagnostics hd;
        Status health = s->check_health(hd);
        usleep(300000);
        stop = true;
        sender.join();
        EXPECT_TRUE(health) << health.error().message;
        ASSERT_TRUE(hd.contains("XB6024")) << hd.to_text() << s->stats_text();
        EXPECT_TRUE(s->interfaces()[0].degrade_window_covered) << hd.to_text();
        const int b0 = static_cast<int>(if_nametoindex("b0"));
        EXPECT_EQ(test::tc_filter_prog_id(b0, datapath::kTcHandle, datapath::kTcPriority), 0u)
            << "the tc filter that covered the window stays";
        EXPECT_EQ(net.sb.exec_in(net.capture, "tc qdisc show dev b0").find("clsact"), std::string::npos)
            << "the clsact qdisc made for the cover stays";
        datapath::XdpState st = test::xdp_state("b0");
        EXPECT_EQ(st.native_prog_id, 0u);
        EXPECT_EQ(st.generic_prog_id, id) << "the same program, now generic";
        EXPECT_TRUE(s->verify());
        EXPECT_TRUE(s->interfaces()[0].program->flow_table().lookup(bypassed_key()));
        const uint64_t window_ns = s->interfaces()[0].degrade_window_ns;
        EXPECT_GT(window_ns, 0u);

        // Every frame sent is forwarded to p1: by native XDP, tc in the window, then generic XDP.
        usleep(200000);
        const int in_stack = drain(rx_window.get());
        net.sb.run_in(sink, [&] { p1_after = rx_of("p1"); });
        auto b0_after = rx_of("b0");
        const uint64_t forwarded = p1_after.first - p1_before.first;
        std::printf("[ window   ] %.1f us from the start of the native detach to the end of the generic attach; %" PRIu64
                    " frames sent, %" PRIu64 " forwarded, %d reached the stack in the window, b0 rx drops %" PRIu64 "\n",
                    static_cast<double>(window_ns) / 1000.0, sent.load(), forwarded, in_stack,
                    b0_after.second - b0_before.second);
        EXPECT_GT(sent.load(), 1000u);
        EXPECT_EQ(in_stack, 0) << "bypassed frames reached the stack in the window";
        EXPECT_EQ(forwarded, sent.load()) << "frames were lost around the swap: " << s->stats_text();
        EXPECT_EQ(b0_after.second - b0_before.second, 0u);

        // Generic redirects go through the skb path: no more devmap drops, even without the peer's GRO.
        net.sb.exec_in(sink, "ethtool -K p1 gro off >/dev/null");
        auto before = s->exceptions("b0");
        auto fwd0 = s->interfaces()[0].program->read_counters();
        net.sb.run_in(net.sender, [&] { send_n(tx.get(), kBypassedPort, 20); });
        usleep(200000);
        auto after = s->exceptions("b0");
        auto fwd1 = s->interfaces()[0].program->read_counters();
        ASSERT_TRUE(before && after && fwd0 && fwd1);
        EXPECT_EQ((*after - *before).total(), 0u) << s->stats_text();
        EXPECT_GE((*fwd1)[XB_CNT_IPS_FORWARD] - (*fwd0)[XB_CNT_IPS_FORWARD], 20u);
    });
}

// When the cover cannot be attached (another tool's tc filter at our handle and priority), the
// degrade goes on without it, says why, and leaves the other tool's filter in place.
TEST(RuntimeHealth, NativeDegradeWithoutTheTcCoverSaysWhy) {
    XB_REQUIRE_KERNEL();
    UniqueFd theirs;
    uint32_t their_id = 0;
    with_failing_native_ips(
        [&](UdpPair&, const std::string&, Session& s, UniqueFd&) {
            Diagnostics hd;
            Status health = s.check_health(hd);
            EXPECT_TRUE(health) << health.error().message;
            ASSERT_TRUE(hd.contains("XB6024")) << hd.to_text() << s.stats_text();
            EXPECT_NE(hd.to_text().find("no tc cover"), std::string::npos) << hd.to_text();
            EXPECT_FALSE(s.interfaces()[0].degrade_window_covered);
            EXPECT_NE(test::xdp_state("b0").generic_prog_id, 0u) << "degraded all the same";
            const int b0 = static_cast<int>(if_nametoindex("b0"));
            EXPECT_EQ(test::tc_filter_prog_id(b0, datapath::kTcHandle, datapath::kTcPriority), their_id)
                << "the other tool's filter stays";
            EXPECT_TRUE(s.interfaces()[0].program->flow_table().lookup(bypassed_key()));
        },
        [&] {
            theirs = test::load_trivial_tc("other_tc");
            ASSERT_TRUE(theirs);
            const int b0 = static_cast<int>(if_nametoindex("b0"));
            ASSERT_EQ(test::attach_tc_filter(b0, theirs.get(), datapath::kTcHandle, datapath::kTcPriority), 0);
            their_id = test::tc_filter_prog_id(b0, datapath::kTcHandle, datapath::kTcPriority);
            ASSERT_NE(their_id, 0u);
        });
}

TEST(RuntimeHealth, OnRuntimeErrorStopDetachesAndWarnOnlyLogs) {
    XB_REQUIRE_KERNEL();
    for (const char* policy : {"stop", "warn"}) {
        UdpPair net;
        UniqueFd tx;
        net.sb.run_in(net.sender, [&] { tx = udp_socket(kSourcePort, "10.77.0.1"); });
        net.sb.run_in(net.capture, [&] {
            Assessment a = assess(load(one_interface(
                "b0", std::string("      datapath: xdp-generic\n      cpu-redirect: \"0\"\n      on-runtime-error: ") + policy +
                          "\n")));
            ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
            Diagnostics d;
            auto s = Session::start(a, d);
            ASSERT_TRUE(s) << d.to_text();
            uint32_t cpu = 0;
            ASSERT_EQ(bpf_map_delete_elem(s->interfaces()[0].program->map_fd("xb_cpu_map"), &cpu), 0);
            net.sb.run_in(net.sender, [&] { send_n(tx.get(), kOtherPort, 10); });
            Diagnostics hd;
            bool stopped = false;
            EXPECT_TRUE(eventually([&] {
                if (!s->check_health(hd)) stopped = true;
                return hd.contains(std::string(policy) == "stop" ? "XB6021" : "XB6022");
            })) << policy << ": " << hd.to_text();
            if (std::string(policy) == "stop") {
                EXPECT_TRUE(stopped);
                EXPECT_EQ(test::xdp_prog_id("b0"), 0u) << "stop detaches";
            } else {
                EXPECT_FALSE(stopped);
                EXPECT_EQ(datapath::prog_name_of_id(test::xdp_prog_id("b0")), "xdp_ids_cpu") << "warn changes nothing";
            }
        });
    }
}

// --- the IPS peer goes down, moves away, comes back ---------------------------------------------------

struct PeerCase {
    const char* name;
    const char* datapath;
};
class PeerLoss : public ::testing::TestWithParam<PeerCase> {};

TEST_P(PeerLoss, HitsReachTheStackWhileThePeerCannotReceiveAndForwardingResumes) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    std::string sink = net.sb.add_netns("sink");
    std::string away = net.sb.add_netns("away");
    net.sb.add_veth(net.capture, "p0", sink, "p1");
    net.sb.link_up(sink, "p1");
    net.sb.link_up(net.capture, "p0");
    // The peer's far end takes XDP frames (veth's ndo_xdp_xmit needs GRO or XDP there).
    net.sb.exec_in(sink, "ethtool -K p1 gro on >/dev/null");
    UniqueFd rx_bypassed, tx;
    net.sb.run_in(net.capture, [&] { rx_bypassed = udp_socket(kBypassedPort, "10.77.0.2"); });
    net.sb.run_in(net.sender, [&] { tx = udp_socket(kSourcePort, "10.77.0.1"); });
    net.sb.run_in(net.capture, [&] {
        auto cfg = load(one_interface("b0", std::string("      datapath: ") + GetParam().datapath + "\n      ips-peer: p0\n"));
        Assessment a = assess(cfg);
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        Diagnostics d;
        auto s = Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        ASSERT_TRUE(s->bypass_flow("b0", bypassed_key()));
        Upkeep upkeep(*s, cfg.global);  // its link listener lives in this namespace
        ASSERT_GE(upkeep.link_fd(), 0);
        auto counters = [&] {
            auto c = s->interfaces()[0].program->read_counters();
            EXPECT_TRUE(c);
            return c ? *c : datapath::Counters{};
        };
        auto send_bypassed = [&](int n) { net.sb.run_in(net.sender, [&] { send_n(tx.get(), kBypassedPort, n); }); };

        send_bypassed(20);
        EXPECT_EQ(drain(rx_bypassed.get()), 0) << "forwarded to the peer, not to the stack";
        datapath::Counters c0 = counters();
        EXPECT_GE(c0[XB_CNT_IPS_FORWARD], 20u);

        // Down: the event alone (no verification) stops the forwarding.
        net.sb.exec_in(net.capture, "ip link set p0 down");
        EXPECT_TRUE(eventually([&] {
            EXPECT_TRUE(upkeep.on_link_events());
            return s->interfaces()[0].peer_down;
        })) << "the link event was not handled";
        auto peer_now = s->interfaces()[0].program->ips_peer();
        ASSERT_TRUE(peer_now);
        EXPECT_EQ(*peer_now, 0);
        send_bypassed(20);
        EXPECT_EQ(drain(rx_bypassed.get()), 20) << "hits must reach the stack while the peer is down";
        datapath::Counters c1 = counters();
        EXPECT_EQ(c1[XB_CNT_IPS_FORWARD], c0[XB_CNT_IPS_FORWARD]) << "nothing counted as forwarded";
        EXPECT_GE(c1[XB_CNT_REDIRECT_FAIL] - c0[XB_CNT_REDIRECT_FAIL], 20u);
        EXPECT_TRUE(s->verify()) << "a handled peer loss does not fail verification";
        Diagnostics again;
        EXPECT_TRUE(s->check_links(again));
        EXPECT_TRUE(again.items().empty()) << "said once: " << again.to_text();

        // Up again: forwarding resumes.
        net.sb.exec_in(net.capture, "ip link set p0 up");
        EXPECT_TRUE(eventually([&] {
            EXPECT_TRUE(upkeep.on_link_events());
            return !s->interfaces()[0].peer_down;
        }));
        // The peer's carrier may lag its flag by a moment; frames sent before it counts as up are
        // allowed to be passed, never lost.
        EXPECT_TRUE(eventually([&] {
            send_bypassed(5);
            drain(rx_bypassed.get());
            return counters()[XB_CNT_IPS_FORWARD] >= c1[XB_CNT_IPS_FORWARD] + 5;
        })) << "forwarding did not resume";

        // Moved to another namespace: RTM_DELLINK here.
        net.sb.exec_in(net.capture, "ip link set p0 netns " + away);
        EXPECT_TRUE(eventually([&] {
            EXPECT_TRUE(upkeep.on_link_events());
            return s->interfaces()[0].peer_down;
        }));
        datapath::Counters c2 = counters();
        send_bypassed(20);
        EXPECT_EQ(drain(rx_bypassed.get()), 20) << "hits must reach the stack while the peer is away";
        EXPECT_EQ(counters()[XB_CNT_IPS_FORWARD], c2[XB_CNT_IPS_FORWARD]);

        // Back and up: forwarding resumes (by name: the ifindex may have changed).
        net.sb.exec_in(away, "ip link set p0 netns " + net.capture);
        net.sb.exec_in(net.capture, "ip link set p0 up");
        EXPECT_TRUE(eventually([&] {
            EXPECT_TRUE(upkeep.on_link_events());
            return !s->interfaces()[0].peer_down;
        }));
        auto peer = s->interfaces()[0].program->ips_peer();
        ASSERT_TRUE(peer);
        EXPECT_EQ(*peer, static_cast<int>(if_nametoindex("p0")));
        EXPECT_TRUE(eventually([&] {
            send_bypassed(5);
            drain(rx_bypassed.get());
            return counters()[XB_CNT_IPS_FORWARD] >= c2[XB_CNT_IPS_FORWARD] + 5;
        })) << "forwarding did not resume after the peer came back";
    });
}

// --- `xbypass run` end to end: its own link listener and on-runtime-error: stop --------------------

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The exit status of child once it ended within `seconds`, else -1 (then it is killed).
int wait_exit(pid_t child, double seconds) {
    int status = 0;
    bool done = eventually([&] { return waitpid(child, &status, WNOHANG) == child; }, seconds);
    if (!done) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string run_config(const std::string& log, const std::string& extra) {
    return "xbypass:\n  stats-interval: 0\n  log-file: " + log + "\n  interfaces:\n    - interface: b0\n" + extra;
}

TEST(RunCommand, AnIpsPeerGoingDownIsHandledByTheRunAtOnce) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    std::string sink = net.sb.add_netns("sink");
    net.sb.add_veth(net.capture, "p0", sink, "p1");
    net.sb.link_up(sink, "p1");
    net.sb.link_up(net.capture, "p0");
    const std::string log = "/tmp/xbt-mon-" + std::to_string(getpid()) + "-peer.log";
    test::TempFile conf(run_config(log, "      datapath: tc\n      ips-peer: p0\n"));
    pid_t child = test::spawn_run(net.capture, conf.path);
    ASSERT_GT(child, 0);
    EXPECT_TRUE(eventually([&] { return read_file(log).find("verified attached") != std::string::npos; }, 10))
        << read_file(log);
    net.sb.exec_in(net.capture, "ip link set p0 down");
    // Well before the 10 s verification: the listener saw it.
    EXPECT_TRUE(eventually([&] { return read_file(log).find("warning[XB6010]") != std::string::npos; }, 5))
        << read_file(log);
    net.sb.exec_in(net.capture, "ip link set p0 up");
    EXPECT_TRUE(eventually([&] { return read_file(log).find("info[XB6011]") != std::string::npos; }, 5)) << read_file(log);
    kill(child, SIGTERM);
    EXPECT_EQ(wait_exit(child, 10), 0) << read_file(log);
    unlink(log.c_str());
}

// The cpumap of the running program, found from the program attached to dev (another tool's view).
int running_cpumap_fd(const std::string& dev) {
    UniqueFd prog(bpf_prog_get_fd_by_id(test::xdp_prog_id(dev)));
    if (!prog) return -1;
    uint32_t ids[8] = {};
    bpf_prog_info info{};
    info.nr_map_ids = 8;
    info.map_ids = reinterpret_cast<uint64_t>(ids);
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(prog.get(), &info, &len) != 0) return -1;
    for (uint32_t i = 0; i < std::min<uint32_t>(info.nr_map_ids, 8); ++i) {
        int fd = bpf_map_get_fd_by_id(ids[i]);
        bpf_map_info mi{};
        uint32_t ml = sizeof mi;
        if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &mi, &ml) == 0 && mi.type == BPF_MAP_TYPE_CPUMAP) return fd;
        if (fd >= 0) close(fd);
    }
    return -1;
}

TEST(RunCommand, OnRuntimeErrorStopEndsTheRunWithStatus1AndDegradeKeepsItRunning) {
    XB_REQUIRE_KERNEL();
    for (const char* policy : {"stop", "degrade"}) {
        UdpPair net;
        const std::string log = "/tmp/xbt-mon-" + std::to_string(getpid()) + "-" + policy + ".log";
        test::TempFile conf(run_config(log, std::string("      datapath: xdp-generic\n      cpu-redirect: \"0\"\n"
                                                        "      on-runtime-error: ") + policy + "\n"));
        pid_t child = test::spawn_run(net.capture, conf.path);
        ASSERT_GT(child, 0);
        EXPECT_TRUE(eventually([&] { return read_file(log).find("verified attached") != std::string::npos; }, 10))
            << read_file(log);
        net.sb.run_in(net.capture, [&] {
            UniqueFd cpumap(running_cpumap_fd("b0"));
            ASSERT_TRUE(cpumap) << "no cpumap on the running program";
            uint32_t cpu = 0;
            ASSERT_EQ(bpf_map_delete_elem(cpumap.get(), &cpu), 0);
        });
        UniqueFd tx;
        net.sb.run_in(net.sender, [&] { tx = udp_socket(kSourcePort, "10.77.0.1"); });
        if (std::string(policy) == "stop") {
            bool ended = eventually([&] {
                net.sb.run_in(net.sender, [&] { send_n(tx.get(), kOtherPort, 5); });
                int status = 0;
                if (waitpid(child, &status, WNOHANG) != child) return false;
                EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << read_file(log);
                return true;
            }, 10);
            if (!ended) {
                kill(child, SIGKILL);
                waitpid(child, nullptr, 0);
            }
            EXPECT_TRUE(ended) << read_file(log);
            EXPECT_NE(read_file(log).find("error[XB6021]"), std::string::npos) << read_file(log);
            net.sb.run_in(net.capture, [&] { EXPECT_EQ(test::xdp_prog_id("b0"), 0u); });
        } else {
            EXPECT_TRUE(eventually([&] {
                net.sb.run_in(net.sender, [&] { send_n(tx.get(), kOtherPort, 5); });
                return read_file(log).find("warning[XB6020]") != std::string::npos;
            }, 10)) << read_file(log);
            net.sb.run_in(net.capture, [&] { EXPECT_EQ(datapath::prog_name_of_id(test::xdp_prog_id("b0")), "xdp_ids"); });
            kill(child, SIGTERM);
            EXPECT_EQ(wait_exit(child, 10), 0) << read_file(log);
        }
        unlink(log.c_str());
    }
}

INSTANTIATE_TEST_SUITE_P(Datapaths, PeerLoss,
                         ::testing::Values(PeerCase{"generic", "xdp-generic"}, PeerCase{"tc", "tc"}),
                         [](const auto& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace xb::session
