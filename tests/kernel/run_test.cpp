// Feature-adaptive loading end to end, against the real kernel: the configuration is loaded from
// YAML, the interfaces and kernel probed, the plan made, programs attached and verified, and real
// UDP traffic sent between namespaces made by the test.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "config/config.h"
#include "datapath/attach.h"
#include "harness/run_helpers.h"
#include "harness/sandbox.h"
#include "harness/trivial_prog.h"
#include "plugin/session.h"
#include "probe/probe.h"

namespace xb::session {
namespace {

using test::Sandbox;
using test::kBypassedPort;
using test::kOtherPort;
using test::kSourcePort;
using test::one_interface;
using test::poll_in;
using test::run_xbypass;
using test::send_traffic;
using test::spawn_run;
using test::TempFile;
using test::TrafficResult;
using test::UdpPair;
using test::xdp_state;

config::Config load(const std::string& yaml) { return test::load_config(yaml); }
std::string xbypass() { return test::xbypass_binary(); }

// --- auto picks the fastest datapath each device really supports --------------------------------

struct DeviceCase {
    const char* kind;
    plan::Datapath expected;
};

class AutoDatapath : public ::testing::TestWithParam<DeviceCase> {};

TEST_P(AutoDatapath, AttachesWhatTheDeviceSupports) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("auto");
    std::string peer = sb.add_netns("autopeer");
    std::string kind = GetParam().kind, dev = "dut0";
    if (kind == "veth") {
        sb.add_veth(ns, dev, peer, "p0");
        sb.link_up(peer, "p0");
    } else if (kind == "tap") {
        sb.add_tap(ns, dev);
    } else if (kind == "tun") {
        sb.add_tun(ns, dev);
    } else if (kind == "vxlan") {
        sb.add_vxlan(ns, dev, 42);
    } else if (kind == "ifb") {
        sb.add_ifb(ns, dev);
    } else {
        dev = "lo";
    }
    if (dev != "lo") sb.link_up(ns, dev);
    sb.run_in(ns, [&] {
        // Where the kernel cannot report XDP features (before 6.3), native XDP is tried for the plain
        // program (basic XDP only), and a driver without native XDP refuses it: generic XDP then.
        plan::Datapath expected = GetParam().expected;
        bool known = test::xdp_features_known(dev);
        Assessment a = assess(load(one_interface(dev)));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        ASSERT_EQ(a.plan.interfaces.size(), 1u);
        const auto& planned = a.plan.interfaces[0];
        // Tried only with single-buffer frames (vxlan and lo have MTUs of 64 KiB: generic at once).
        bool tried = !known && a.input.interfaces.at(dev).mtu <= plan::kSingleBufferXdpMaxMtu;
        EXPECT_EQ(planned.datapath, tried ? plan::Datapath::XdpNative : expected) << startup_block(a);
        EXPECT_EQ(planned.native_untested, tried) << startup_block(a);
        EXPECT_EQ(planned.generic_if_refused, tried) << startup_block(a);
        Diagnostics d;
        auto s = Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        ASSERT_EQ(s->interfaces().size(), 1u);
        EXPECT_EQ(s->interfaces()[0].plan.datapath, expected) << d.to_text();
        bool refused = tried && expected != plan::Datapath::XdpNative;
        EXPECT_EQ(d.contains("XB5030"), refused) << d.to_text();
        EXPECT_EQ(s->interfaces()[0].native_refused.empty(), !refused) << s->interfaces()[0].native_refused;
        auto st = xdp_state(dev);
        if (expected == plan::Datapath::XdpNative) {
            EXPECT_NE(st.native_prog_id, 0u);
            EXPECT_EQ(st.generic_prog_id, 0u);
        } else {
            EXPECT_NE(st.generic_prog_id, 0u);
            EXPECT_EQ(st.native_prog_id, 0u);
        }
        s.reset();
        EXPECT_FALSE(xdp_state(dev).any()) << "stopping must detach";
    });
}

INSTANTIATE_TEST_SUITE_P(Devices, AutoDatapath,
                         ::testing::Values(DeviceCase{"veth", plan::Datapath::XdpNative},
                                           DeviceCase{"tap", plan::Datapath::XdpNative},
                                           DeviceCase{"tun", plan::Datapath::XdpGeneric},
                                           DeviceCase{"vxlan", plan::Datapath::XdpGeneric},
                                           DeviceCase{"ifb", plan::Datapath::XdpGeneric},
                                           DeviceCase{"lo", plan::Datapath::XdpGeneric}),
                         [](const auto& i) { return std::string(i.param.kind); });

// --- the xbypass command: rejections leave nothing behind --------------------------------------

TEST(CheckCommand, ProbesAndPlansWithoutAttaching) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("check");
    sb.add_ifb(ns, "ifb0");
    sb.link_up(ns, "ifb0");
    bool known = false;
    sb.run_in(ns, [&] { known = test::xdp_features_known("ifb0"); });
    // Pinned native: refused where the features say no native XDP; before 6.3 (unknown) accepted
    // with a warning, since only the attach can tell (check never attaches).
    TempFile pinned(one_interface("ifb0", "      datapath: xdp-native\n"));
    auto r = test::run_command(xbypass() + " check --netns " + ns + " -c " + pinned.path);
    EXPECT_EQ(r.status, known ? 1 : 0) << r.output;
    EXPECT_NE(r.output.find(known ? "error[XB4002]" : "warning[XB4048]"), std::string::npos) << r.output;
    TempFile automatic(one_interface("ifb0"));
    r = test::run_command(xbypass() + " check --netns " + ns + " -c " + automatic.path);
    EXPECT_EQ(r.status, 0) << r.output;
    // The reason names what is missing: the driver's native support; before 6.3 native is tried.
    if (known) {
        EXPECT_NE(r.output.find("chosen: xdp-generic"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("xdp-native: not possible: ifb0"), std::string::npos) << r.output;
    } else {
        EXPECT_NE(r.output.find("chosen: xdp-native, program xdp_ids (try-then-generic: features unknown)"),
                  std::string::npos) << r.output;
        EXPECT_NE(r.output.find("generic XDP is attached if the driver refuses it"), std::string::npos) << r.output;
    }
    r = test::run_command(xbypass() + " check --json --netns " + ns + " -c " + automatic.path);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(known ? R"("datapath":"xdp-generic")" : R"("datapath":"xdp-native")"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find(known ? R"("generic_if_refused":false)" : R"("generic_if_refused":true)"),
              std::string::npos) << r.output;
    sb.run_in(ns, [] { EXPECT_FALSE(xdp_state("ifb0").any()) << "check must never attach"; });
}

uint32_t map_id_of(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

uint32_t pinned_map_id(const std::string& path) {
    UniqueFd fd(bpf_obj_get(path.c_str()));
    return fd ? map_id_of(fd.get()) : 0;
}

// The ids of the maps the program with this id uses.
std::vector<uint32_t> map_ids_of_prog(uint32_t prog_id) {
    UniqueFd fd(bpf_prog_get_fd_by_id(prog_id));
    if (!fd) return {};
    std::vector<uint32_t> ids(16);
    bpf_prog_info info{};
    info.nr_map_ids = static_cast<uint32_t>(ids.size());
    info.map_ids = reinterpret_cast<uint64_t>(ids.data());
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return {};
    ids.resize(std::min<size_t>(info.nr_map_ids, ids.size()));
    return ids;
}

TEST(PinnedMaps, ARestartAdoptsThePinnedFlowTableAndAnotherLayoutIsRefused) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("pins");
    std::string pin_path = sb.pin_dir("pins");
    auto config = [&](const std::string& flow_table) {
        return "xbypass:\n  stats-interval: 0\n  pin-path: " + pin_path +
               "\n  interfaces:\n    - interface: v0\n      pinned-maps: yes\n" + flow_table;
    };
    const std::string flows_pin = pin_path + "/v0/xb_flow_slots";
    auto key = datapath::make_flow_key("tcp", "10.1.0.1", 1234, "10.1.0.2", 80);
    ASSERT_TRUE(key);
    sb.run_in(ns, [&] {
        {
            Assessment a = assess(load(config("")));
            ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
            Diagnostics d;
            auto s = Session::start(a, d);
            ASSERT_TRUE(s) << d.to_text();
            EXPECT_FALSE(s->interfaces()[0].reused_pins) << "nothing was pinned before";
            ASSERT_TRUE(s->bypass_flow("v0", *key));
        }
        EXPECT_FALSE(xdp_state("v0").any()) << "stopping must detach";
        const uint32_t pinned_id = pinned_map_id(flows_pin);
        ASSERT_NE(pinned_id, 0u) << "the flow table must stay pinned after a stop";
        {
            Assessment a = assess(load(config("")));
            Diagnostics d;
            auto s = Session::start(a, d);
            ASSERT_TRUE(s) << d.to_text();
            const RunningInterface& ri = s->interfaces()[0];
            EXPECT_TRUE(ri.reused_pins);
            EXPECT_EQ(ri.reused_flows, 2u) << "both directions of the flow bypassed by the first run";
            EXPECT_EQ(map_id_of(ri.program->map_fd("xb_flow_slots")), pinned_id);
            EXPECT_TRUE(ri.program->flow_table().lookup(*key).has_value());
            // What matters for the traffic: the program attached now looks flows up in that same map.
            auto ids = map_ids_of_prog(test::xdp_prog_id("v0"));
            EXPECT_NE(std::find(ids.begin(), ids.end(), pinned_id), ids.end())
                << "the attached program does not use the pinned flow table";
        }
        // Another size: the pinned table cannot be adopted; refused before anything is attached.
        Assessment resized = assess(load(config("      flow-table:\n        size: 4096\n")));
        ASSERT_TRUE(resized.accepted()) << resized.diagnostics.to_text();
        Diagnostics d;
        EXPECT_FALSE(Session::start(resized, d));
        EXPECT_TRUE(d.contains("XB5008")) << d.to_text();
        EXPECT_NE(d.to_text().find("max entries 131072, expected 8192"), std::string::npos) << d.to_text();
        EXPECT_FALSE(xdp_state("v0").any());
        EXPECT_EQ(pinned_map_id(flows_pin), pinned_id) << "a refused start must keep the earlier pins";
    });
}

TEST(RunCommand, NativeOnIfbIsRejectedAndNothingIsAttached) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("rej");
    sb.add_ifb(ns, "ifb0");
    sb.link_up(ns, "ifb0");
    TempFile conf(one_interface("ifb0", "      datapath: xdp-native\n"));
    auto r = run_xbypass(ns, conf.path);
    EXPECT_EQ(r.status, 1) << r.output;
    bool known = false;
    sb.run_in(ns, [&] { known = test::xdp_features_known("ifb0"); });
    if (known) {
        EXPECT_NE(r.output.find("XB4002"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("no native XDP support"), std::string::npos) << r.output;
    } else {  // before 6.3: accepted with a warning, tried, refused by the driver: the start fails
        EXPECT_NE(r.output.find("warning[XB4048]"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("error[XB5031]"), std::string::npos) << r.output;
    }
    sb.run_in(ns, [] { EXPECT_FALSE(xdp_state("ifb0").any()); });
}

TEST(RunCommand, NativeOnIfbWithFallbackRunsGenericAndWarns) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("fb");
    sb.add_ifb(ns, "ifb0");
    sb.link_up(ns, "ifb0");
    TempFile conf(one_interface("ifb0", "      datapath: xdp-native\n      on-unsupported: fallback\n"));
    auto r = run_xbypass(ns, conf.path);
    EXPECT_EQ(r.status, 0) << r.output;
    bool known = false;
    sb.run_in(ns, [&] { known = test::xdp_features_known("ifb0"); });
    // Before 6.3 the fallback happens at attach time, when the driver refuses native XDP.
    EXPECT_NE(r.output.find(known ? "warning[XB4003]" : "warning[XB5030]"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("ifb0: xdp-generic running"), std::string::npos) << r.output;
    sb.run_in(ns, [] { EXPECT_FALSE(xdp_state("ifb0").any()) << "exit must detach"; });
}

// Debian 12 and other kernels before 6.3 (no netdev family: XDP features unknown). The plain bypass
// program needs only basic XDP, so `auto` tries native: veth has it and keeps it; ifb has no native
// XDP, its driver refuses the attach, and generic XDP runs instead (XB5030). From 6.3 on the
// features decide up front and nothing is tried.
TEST(UnknownFeatures, VethKeepsNativeAndIfbGetsGenericAfterTheRefusedAttach) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("unk");
    std::string peer = sb.add_netns("unkpeer");
    sb.add_veth(ns, "v0", peer, "p0");
    sb.link_up(peer, "p0");
    sb.link_up(ns, "v0");
    sb.add_ifb(ns, "ifb0");
    sb.link_up(ns, "ifb0");
    bool known = true;
    sb.run_in(ns, [&] { known = test::xdp_features_known("v0") && test::xdp_features_known("ifb0"); });
    const std::string yaml =
        "xbypass:\n  stats-interval: 0\n  interfaces:\n    - interface: v0\n    - interface: ifb0\n";
    sb.run_in(ns, [&] {
        Assessment a = assess(load(yaml));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        ASSERT_EQ(a.plan.interfaces.size(), 2u);
        for (const auto& p : a.plan.interfaces) {
            EXPECT_EQ(p.native_untested, !known) << startup_block(a);
            EXPECT_EQ(p.generic_if_refused, !known) << startup_block(a);
        }
        EXPECT_EQ(a.plan.interfaces[1].datapath, known ? plan::Datapath::XdpGeneric : plan::Datapath::XdpNative);
        Diagnostics d;
        auto s = Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        EXPECT_FALSE(d.has_errors()) << d.to_text();
        EXPECT_EQ(d.contains("XB5030"), !known) << d.to_text();
        ASSERT_EQ(s->interfaces().size(), 2u);
        EXPECT_EQ(s->interfaces()[0].plan.datapath, plan::Datapath::XdpNative);
        EXPECT_EQ(s->interfaces()[1].plan.datapath, plan::Datapath::XdpGeneric);
        EXPECT_TRUE(s->interfaces()[0].native_refused.empty());
        if (!known) {
            EXPECT_FALSE(s->interfaces()[1].native_refused.empty());
            EXPECT_NE(d.to_text().find("ifb0: the driver refused native XDP"), std::string::npos) << d.to_text();
        }
        auto v = xdp_state("v0"), i = xdp_state("ifb0");
        EXPECT_NE(v.native_prog_id, 0u);
        EXPECT_EQ(v.generic_prog_id, 0u);
        EXPECT_NE(i.generic_prog_id, 0u);
        EXPECT_EQ(i.native_prog_id, 0u);
        s.reset();
        EXPECT_FALSE(xdp_state("v0").any());
        EXPECT_FALSE(xdp_state("ifb0").any());
    });
    // The same through `xbypass run`: the startup block says what is tried, the log what happened.
    TempFile conf(yaml);
    auto r = run_xbypass(ns, conf.path);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("v0: xdp-native running"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("ifb0: xdp-generic running"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("try-then-generic") != std::string::npos, !known) << r.output;
    EXPECT_EQ(r.output.find("warning[XB5030]") != std::string::npos, !known) << r.output;
    sb.run_in(ns, [] { EXPECT_FALSE(xdp_state("v0").any() || xdp_state("ifb0").any()) << "exit must detach"; });
}

TEST(RunCommand, CpuNotOnlineIsRejected) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("cpu");
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    TempFile conf(one_interface("v0", "      cpu-redirect: \"" + std::to_string(ncpu + 3) + "\"\n"));
    auto r = run_xbypass(ns, conf.path);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("XB4005"), std::string::npos) << r.output;
    sb.run_in(ns, [] { EXPECT_FALSE(xdp_state("v0").any()); });
}

TEST(RunCommand, MissingInterfaceIsRejected) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("missing");
    TempFile conf(one_interface("ghost0"));
    auto r = run_xbypass(ns, conf.path);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("XB4001"), std::string::npos) << r.output;
}

TEST(RunCommand, ForeignXdpProgramIsRefusedAndStillAttached) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("foreign");
    auto foreign = test::load_trivial_xdp("other_tool");
    uint32_t foreign_id = 0;
    sb.run_in(ns, [&] {
        ASSERT_EQ(bpf_xdp_attach(if_nametoindex("v0"), foreign.get(), XDP_FLAGS_DRV_MODE, nullptr), 0);
        foreign_id = xdp_state("v0").native_prog_id;
    });
    TempFile refuse(one_interface("v0"));
    auto r = run_xbypass(ns, refuse.path);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("XB4010"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("other_tool"), std::string::npos) << r.output;
    sb.run_in(ns, [&] { EXPECT_EQ(xdp_state("v0").native_prog_id, foreign_id) << "the other tool's program must stay"; });

    TempFile replace(one_interface("v0", "      coexist: replace\n"));
    sb.run_in(ns, [&] {
        Assessment a = assess(load(one_interface("v0", "      coexist: replace\n")));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        EXPECT_TRUE(a.diagnostics.contains("XB4012"));
        Diagnostics d;
        auto s = Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        // Ours runs in the mode the plan chose (generic where native is not known), the other is gone.
        uint32_t ours = test::xdp_prog_id("v0");
        EXPECT_NE(ours, foreign_id);
        EXPECT_NE(ours, 0u);
        EXPECT_EQ(xdp_state("v0").native_prog_id == 0, a.plan.interfaces[0].datapath == plan::Datapath::XdpGeneric);
        EXPECT_TRUE(s->verify());
    });
}

TEST(RunCommand, TcDatapathLeavesOtherFiltersAlone) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("tc");
    auto other = test::load_trivial_tc("other_tc");
    sb.run_in(ns, [&] {
        ASSERT_EQ(test::attach_tc_filter(if_nametoindex("v0"), other.get(), 1, 1), 0);
        {
            Assessment a = assess(load(one_interface("v0", "      datapath: tc\n")));
            ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
            Diagnostics d;
            auto s = Session::start(a, d);
            ASSERT_TRUE(s) << d.to_text();
            EXPECT_FALSE(xdp_state("v0").any()) << "datapath tc must not attach XDP";
            auto n = datapath::count_clsact_filters(if_nametoindex("v0"));
            ASSERT_TRUE(n);
            EXPECT_EQ(*n, 2u);
        }
        auto n = datapath::count_clsact_filters(if_nametoindex("v0"));
        ASSERT_TRUE(n);
        EXPECT_EQ(*n, 1u) << "the other filter must survive our detach";
        EXPECT_NE(test::tc_filter_prog_id(if_nametoindex("v0"), 1, 1), 0u);
    });
}

// coexist: multiprog needs freplace (libxdp's dispatcher). Where the kernel refuses it (this
// machine's lockdown) the run is rejected with nothing attached; where it loads, the run joins the
// dispatcher. tests/kernel/dispatcher_test.cpp covers the second case in a VM.
TEST(RunCommand, MultiprogFollowsWhatTheProbeSaysOfFreplace) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("mprog");
    TempFile conf(one_interface("v0", "      coexist: multiprog\n"));
    bool freplace = probe::probe_kernel().freplace.supported == probe::Support::Yes;
    auto r = run_xbypass(ns, conf.path);
    if (!freplace) {
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_NE(r.output.find("XB4011"), std::string::npos) << r.output;
    } else {
        EXPECT_EQ(r.status, 0) << r.output;
        EXPECT_NE(r.output.find("joined the libxdp dispatcher"), std::string::npos) << r.output;
    }
    sb.run_in(ns, [] { EXPECT_FALSE(xdp_state("v0").any()) << "nothing may stay attached"; });
}

TEST(RunCommand, SecondInterfaceFailingRollsBackTheFirst) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("roll");
    std::string peer = sb.add_netns("rollpeer");
    sb.add_veth(ns, "v0", peer, "v1");
    sb.add_veth(ns, "w0", peer, "w1");
    sb.link_up(ns, "v0");
    sb.link_up(ns, "w0");
    // Another tool holds our tc handle and priority on w0: the plan is fine, the attach fails.
    auto squatter = test::load_trivial_tc("squatter");
    std::string yaml =
        "xbypass:\n  stats-interval: 0\n  interfaces:\n    - interface: v0\n    - interface: w0\n      datapath: tc\n";
    sb.run_in(ns, [&] {
        ASSERT_EQ(test::attach_tc_filter(if_nametoindex("w0"), squatter.get(), datapath::kTcHandle, datapath::kTcPriority), 0);
        Assessment a = assess(load(yaml));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        Diagnostics d;
        auto s = Session::start(a, d);
        EXPECT_FALSE(s);
        EXPECT_TRUE(d.contains("XB5005")) << d.to_text();
        EXPECT_FALSE(xdp_state("v0").any()) << "v0 must be rolled back when w0 fails";
        auto squatter_id = datapath::prog_id_of(squatter.get());
        ASSERT_TRUE(squatter_id);
        EXPECT_EQ(test::tc_filter_prog_id(if_nametoindex("w0"), datapath::kTcHandle, datapath::kTcPriority), *squatter_id)
            << "the other tool's filter must be untouched";
    });
}

TEST(RunCommand, SigkillLeavesNothingAttached) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("kill");
    TempFile conf(one_interface("v0"));
    pid_t child = spawn_run(ns, conf.path);
    ASSERT_GT(child, 0);
    EXPECT_TRUE(poll_in(sb, ns, [] { return test::xdp_prog_id("v0") != 0; }))
        << "xbypass run did not attach within 5 s";
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(poll_in(sb, ns, [] { return !xdp_state("v0").any(); }, 300))
        << "an XDP program stayed attached after SIGKILL";
}

TEST(RunCommand, SigtermDetachesAndExitsZero) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("term");
    TempFile conf(one_interface("v0", "      datapath: tc\n"));
    pid_t child = spawn_run(ns, conf.path);
    ASSERT_GT(child, 0);
    EXPECT_TRUE(poll_in(sb, ns, [] {
        auto n = datapath::count_clsact_filters(if_nametoindex("v0"));
        return n && *n == 1;
    }));
    kill(child, SIGTERM);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_FALSE(sb.exec_in(ns, "tc qdisc show dev v0").find("clsact") != std::string::npos)
        << "the clsact qdisc we created must go";
}

// tc filters have no link that dies with the process: a killed tc run leaves its filter. The next
// run, holding the interface lock that nobody else has, knows it is a leftover and takes it over.
TEST(RunCommand, TcFilterLeftByAKilledRunIsTakenOverByTheNextRun) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("left");
    TempFile conf(one_interface("v0", "      datapath: tc\n"));
    pid_t child = spawn_run(ns, conf.path);
    ASSERT_GT(child, 0);
    uint32_t leftover = 0;
    poll_in(sb, ns, [&] {
        leftover = test::tc_filter_prog_id(if_nametoindex("v0"), datapath::kTcHandle, datapath::kTcPriority);
        return leftover != 0;
    });
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    ASSERT_NE(leftover, 0u) << "xbypass run did not attach within 5 s";
    sb.run_in(ns, [&] {
        EXPECT_EQ(test::tc_filter_prog_id(if_nametoindex("v0"), datapath::kTcHandle, datapath::kTcPriority), leftover)
            << "expected the killed run's filter to be left (no tcx link in libbpf 1.1)";
    });
    auto r = run_xbypass(ns, conf.path);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("replaced the tc filter left by an earlier xbypass run that did not stop (program id " +
                            std::to_string(leftover) + ")"),
              std::string::npos)
        << r.output;
    sb.run_in(ns, [&] {
        auto n = datapath::count_clsact_filters(if_nametoindex("v0"));
        ASSERT_TRUE(n);
        EXPECT_EQ(*n, 0u) << "the second run's stop must leave no filter";
    });
    EXPECT_EQ(sb.exec_in(ns, "tc qdisc show dev v0").find("clsact"), std::string::npos);
}

TEST(RunCommand, ASecondRunOnTheSameInterfaceIsRefused) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("twice");
    const std::string yaml = one_interface("v0", "      datapath: tc\n");
    TempFile conf(yaml);
    sb.run_in(ns, [&] {
        Assessment a = assess(load(yaml));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        Diagnostics d;
        auto first = Session::start(a, d);
        ASSERT_TRUE(first) << d.to_text();
        // Same program name, same handle: without the lock the second run would take the filter over.
        auto r = run_xbypass(ns, conf.path);
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_NE(r.output.find("error[XB5011]"), std::string::npos) << r.output;
        EXPECT_NE(r.output.find("held by pid " + std::to_string(getpid())), std::string::npos) << r.output;
        EXPECT_TRUE(first->verify()) << "the first run must keep its filter";
    });
}

// tc's bpf_redirect to an ifindex that no longer exists drops the frame without a trace: the run
// must notice the IPS peer going away instead of forwarding into nothing.
TEST(RunCommand, AnIpsPeerThatGoesAwayFailsVerification) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("ips");
    sb.add_veth(ns, "p0", sb.add_netns("ipsp"), "p1");
    sb.link_up(ns, "p0");
    const std::string yaml = one_interface("v0", "      datapath: tc\n      ips-peer: p0\n");
    sb.run_in(ns, [&] {
        Assessment a = assess(load(yaml));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        Diagnostics d;
        auto s = Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        EXPECT_EQ(s->interfaces()[0].program->program_name(), "tc_ips");
        EXPECT_TRUE(s->verify());
        sb.exec_in(ns, "ip link del p0");
        auto st = s->verify();
        ASSERT_FALSE(st);
        EXPECT_NE(st.error().message.find("the IPS peer p0"), std::string::npos) << st.error().message;
        EXPECT_NE(st.error().message.find("is gone"), std::string::npos) << st.error().message;
    });
}

// --- traffic ----------------------------------------------------------------------------------

struct TrafficCase {
    const char* name;
    const char* extra;
};
class Traffic : public ::testing::TestWithParam<TrafficCase> {};

TEST_P(Traffic, BypassedFlowIsDroppedInTheKernelOthersPass) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    // Native on veth runs on every kernel: before 6.3 (features unknown) it is tried, and veth has it.
    TrafficResult r = send_traffic(net, GetParam().extra);
    EXPECT_EQ(r.bypassed_received, 0) << "the bypassed flow reached user space";
    EXPECT_EQ(r.other_received, 50) << "the other flow lost packets";
    EXPECT_GE(r.counters[XB_CNT_HIT], 50u);
    EXPECT_GE(r.counters[XB_CNT_DROP], 50u);
    EXPECT_GE(r.counters[XB_CNT_MISS], 50u);
    EXPECT_NE(r.stats_line.find(" flow-entries=2\n"), std::string::npos) << "both directions of the one flow: " << r.stats_line;
}

INSTANTIATE_TEST_SUITE_P(Datapaths, Traffic,
                         ::testing::Values(TrafficCase{"native", "      datapath: xdp-native\n"},
                                           TrafficCase{"generic", "      datapath: xdp-generic\n"},
                                           TrafficCase{"tc", "      datapath: tc\n"}),
                         [](const auto& i) { return std::string(i.param.name); });

// What a run killed without detaching leaves behind (a tc filter, a dispatcher component) stops
// renewing its lease; once it lapses the bypassed flow reaches user space again, counted.
TEST(TrafficLease, ALapsedLeaseLetsTheBypassedFlowThrough) {
    XB_REQUIRE_KERNEL();
    UdpPair net;
    TrafficResult r = send_traffic(net, "      datapath: tc\n", false, 50, [](Session& s) {
        ASSERT_TRUE(s.interfaces()[0].program->set_lease_until(1).ok());  // jiffy 1: long past
    });
    EXPECT_EQ(r.bypassed_received, 50) << "a lapsed lease must bypass nothing";
    EXPECT_EQ(r.other_received, 50);
    EXPECT_GE(r.counters[XB_CNT_ORPHANED], 50u);
    EXPECT_EQ(r.counters[XB_CNT_DROP], 0u);
    EXPECT_NE(r.stats_line.find(" orphaned="), std::string::npos) << r.stats_line;
}

TEST(TrafficCpuRedirect, UnbypassedPacketsArriveOnTheConfiguredCpu) {
    XB_REQUIRE_KERNEL();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    for (long cpu = 0; cpu < std::min(ncpu, 2L); ++cpu) {
        UdpPair net;
        // Native where the kernel can say the driver redirects (6.3+), else generic: cpumap works in both.
        bool known = false;
        net.sb.run_in(net.capture, [&] { known = test::xdp_features_known("b0"); });
        std::string mode = known ? "xdp-native" : "xdp-generic";
        TrafficResult r =
            send_traffic(net, "      datapath: " + mode + "\n      cpu-redirect: \"" + std::to_string(cpu) + "\"\n", true);
        EXPECT_EQ(r.bypassed_received, 0);
        EXPECT_EQ(r.other_received, 50);
        EXPECT_GE(r.counters[XB_CNT_CPU_REDIRECT], 50u);
        ASSERT_GT(r.stack_packets_per_cpu.size(), static_cast<size_t>(cpu));
        // Every unbypassed packet reached the stack on the configured CPU, none elsewhere (the
        // interface's own IPv6 link-local frames may add one or two there).
        for (size_t c = 0; c < r.stack_packets_per_cpu.size(); ++c) {
            if (c == static_cast<size_t>(cpu)) {
                EXPECT_GE(r.stack_packets_per_cpu[c], 50u) << "CPU " << c;
            } else {
                EXPECT_EQ(r.stack_packets_per_cpu[c], 0u) << "CPU " << c;
            }
        }
    }
}

}  // namespace
}  // namespace xb::session
