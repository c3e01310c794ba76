// Feature-adaptive loading end to end, against the real kernel: the configuration is loaded from
// YAML, the interfaces and kernel probed, the plan made, programs attached and verified, and real
// UDP traffic sent between namespaces made by the test.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>

#include "common/log.h"
#include "config/config.h"
#include "datapath/attach.h"
#include "harness/run_helpers.h"
#include "harness/sandbox.h"
#include "harness/trivial_prog.h"
#include "session/session.h"
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
        // Another size: the pinned table cannot be adopted; refused by the assessment (so by check
        // too), before anything is loaded or attached.
        Assessment resized = assess(load(config("      flow-table:\n        size: 4096\n")));
        EXPECT_FALSE(resized.accepted());
        const Diagnostics& d = resized.diagnostics;
        EXPECT_TRUE(d.contains("XB5008")) << d.to_text();
        EXPECT_NE(d.to_text().find("max entries 262160, expected 16400"), std::string::npos) << d.to_text();
        Diagnostics start_diags;
        EXPECT_FALSE(Session::start(resized, start_diags));
        TempFile resized_conf(config("      flow-table:\n        size: 4096\n"));
        auto checked = test::run_command(xbypass() + " check --netns " + ns + " -c " + resized_conf.path);
        EXPECT_EQ(checked.status, 1) << checked.output;
        EXPECT_NE(checked.output.find("error[XB5008]: v0: pinned map"), std::string::npos) << checked.output;
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

// What the logger says while a scope lives (the sink is reset at its end, also on failure).
struct LogCapture {
    std::vector<std::string> lines;
    LogCapture() {
        Logger::instance().set_sink([this](LogLevel, std::string_view, std::string_view m) { lines.emplace_back(m); });
    }
    ~LogCapture() { Logger::instance().set_sink({}); }
    std::string with(const std::string& what) const {
        for (const auto& l : lines)
            if (l.find(what) != std::string::npos) return l;
        return {};
    }
    std::string all() const {
        std::string out;
        for (const auto& l : lines) out += l + "\n";
        return out;
    }
};

// Another tool's program takes the place of the run's on v0 of a veth namespace while the run lives;
// stopping the run must leave that program attached and say so with XB5022, not XB5021 (nothing of
// ours was left to detach). Each test brings the other tool's program, how it takes our place and
// what it checks after the stop.
class RunCommandOurPlaceTaken : public ::testing::Test {
protected:
    void SetUp() override {
        XB_REQUIRE_KERNEL();
        sb_ = std::make_unique<Sandbox>();
    }

    // A veth namespace named after tag, and the other tool's program (its id in other_id_).
    void prepare(std::string_view tag, UniqueFd other) {
        ns_ = sb_->add_veth_netns(tag);
        other_ = std::move(other);
        auto id = datapath::prog_id_of(other_.get());
        ASSERT_TRUE(id);
        other_id_ = *id;
    }

    // In the namespace, with the log captured: a run on v0 with `datapath` starts, take_our_place(ifindex)
    // puts other_ where the run's program is, the run must see it is not its own any more, the run stops
    // and after_stop(ifindex) checks what is left. A fatal failure in take_our_place skips the rest: with
    // our place not taken, what follows would only report failures that follow from that one.
    void run_and_stop(const std::string& datapath, const std::function<void(int)>& take_our_place,
                      const std::function<void(int)>& after_stop) {
        log_.emplace();
        sb_->run_in(ns_, [&] {
            const int ifindex = static_cast<int>(if_nametoindex("v0"));
            {
                Assessment a = assess(load(one_interface("v0", "      datapath: " + datapath + "\n")));
                ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
                Diagnostics d;
                auto s = Session::start(a, d);
                ASSERT_TRUE(s) << d.to_text();
                take_our_place(ifindex);
                if (HasFatalFailure()) return;
                EXPECT_FALSE(s->verify()) << "the run sees that its program is not its own any more";
            }  // the session stops
            after_stop(ifindex);
        });
    }

    // The stop's XB5022 line holds each of parts, and the stop logged no XB5021.
    void expect_xb5022_with(std::initializer_list<std::string> parts) const {
        std::string line = log_->with("XB5022");
        for (const auto& part : parts) EXPECT_NE(line.find(part), std::string::npos) << part << "\n" << log_->all();
        EXPECT_TRUE(log_->with("XB5021").empty()) << log_->all();
    }

    std::unique_ptr<Sandbox> sb_;
    std::string ns_;
    UniqueFd other_;
    uint32_t other_id_ = 0;
    std::optional<LogCapture> log_;
};

// Another tool replaces the run's tc filter at its own handle and priority (BPF_TC_F_REPLACE, as
// `tc filter replace` does): stopping the session leaves the other tool's filter (and the clsact
// qdisc the run created, which it now uses) and says so with XB5022, not XB5021.
TEST_F(RunCommandOurPlaceTaken, AFilterAnotherToolPutInOurPlaceSurvivesTheStopWithXB5022) {
    ASSERT_NO_FATAL_FAILURE(prepare("tcrep", test::load_trivial_tc("other_tc")));
    run_and_stop(
        "tc",
        [&](int ifindex) {
            uint32_t ours = test::tc_filter_prog_id(ifindex, datapath::kTcHandle, datapath::kTcPriority);
            ASSERT_NE(ours, 0u);
            bpf_tc_hook hook{};
            hook.sz = sizeof hook;
            hook.ifindex = ifindex;
            hook.attach_point = BPF_TC_INGRESS;
            bpf_tc_opts opts{};
            opts.sz = sizeof opts;
            opts.handle = datapath::kTcHandle;
            opts.priority = datapath::kTcPriority;
            opts.prog_fd = other_.get();
            opts.flags = BPF_TC_F_REPLACE;
            ASSERT_EQ(bpf_tc_attach(&hook, &opts), 0);
            ASSERT_EQ(test::tc_filter_prog_id(ifindex, datapath::kTcHandle, datapath::kTcPriority), other_id_);
        },
        [&](int ifindex) {
            EXPECT_EQ(test::tc_filter_prog_id(ifindex, datapath::kTcHandle, datapath::kTcPriority), other_id_)
                << "xbypass's stop removed the other tool's filter";
            auto n = datapath::count_clsact_filters(ifindex);
            ASSERT_TRUE(n);
            EXPECT_EQ(*n, 1u);
        });
    expect_xb5022_with({"not detached, not ours: ifindex ",
                        "tc ingress handle 0x5842 priority 22594: the tc filter at our handle runs program " +
                            std::to_string(other_id_),
                        "(other_tc); it was left attached"});
    EXPECT_NE(sb_->exec_in(ns_, "tc qdisc show dev v0").find("clsact"), std::string::npos)
        << "the clsact qdisc the other tool's filter sits on must stay";
}

// The same for XDP: another tool force-detaches the run's BPF link (BPF_LINK_DETACH by link id, as
// xbypass's own coexist: replace does) and attaches its program through netlink. Closing the run's
// defunct link leaves theirs, and XB5022 says so.
TEST_F(RunCommandOurPlaceTaken, AnXdpProgramAnotherToolPutInOurPlaceSurvivesTheStopWithXB5022) {
    ASSERT_NO_FATAL_FAILURE(prepare("xdprep", test::load_trivial_xdp("other_xdp")));
    run_and_stop(
        "xdp-generic",
        [&](int ifindex) {
            bpf_xdp_query_opts q{};
            q.sz = sizeof q;
            ASSERT_EQ(bpf_xdp_query(ifindex, XDP_FLAGS_SKB_MODE, &q), 0);
            ASSERT_NE(q.skb_prog_id, 0u);
            // The link that holds it (the other tool finds it as `bpftool link` would).
            uint32_t link_id = 0, next = 0;
            while (bpf_link_get_next_id(link_id, &next) == 0) {
                link_id = next;
                UniqueFd l(bpf_link_get_fd_by_id(link_id));
                bpf_link_info li{};
                uint32_t len = sizeof li;
                if (l && bpf_obj_get_info_by_fd(l.get(), &li, &len) == 0 && li.type == BPF_LINK_TYPE_XDP &&
                    li.xdp.ifindex == static_cast<uint32_t>(ifindex) && li.prog_id == q.skb_prog_id) {
                    ASSERT_EQ(bpf_link_detach(l.get()), 0);
                    break;
                }
            }
            ASSERT_EQ(test::xdp_prog_id("v0"), 0u) << "the run's link was not found and detached";
            ASSERT_EQ(bpf_xdp_attach(ifindex, other_.get(), XDP_FLAGS_SKB_MODE, nullptr), 0);
        },
        [&](int ifindex) {
            EXPECT_EQ(test::xdp_state("v0").generic_prog_id, other_id_)
                << "xbypass's stop removed the other tool's program";
            EXPECT_EQ(bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, nullptr), 0);
        });
    expect_xb5022_with({"runs XDP program " + std::to_string(other_id_) + " (other_xdp) in generic mode, not ours",
                        "our BPF link was detached by someone else; it was left attached"});
}

// Another tool's filter at xbypass's own priority and handle: `check` shows it and refuses as `run`
// does (XB4019, the handle in hex), before anything is attached; the filter is left alone.
TEST(RunCommand, AForeignTcFilterAtOurPlaceIsRefusedByCheckAndRun) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("tcplace");
    auto other = test::load_trivial_tc("other_tc");
    TempFile conf(one_interface("v0", "      datapath: tc\n"));
    // Elsewhere on the hook a filter is no obstacle, and check's startup block shows it.
    uint32_t elsewhere_id = 0;
    sb.run_in(ns, [&] {
        ASSERT_EQ(test::attach_tc_filter(if_nametoindex("v0"), other.get(), 1, 1), 0);
        elsewhere_id = test::tc_filter_prog_id(if_nametoindex("v0"), 1, 1);
    });
    auto shown = test::run_command(xbypass() + " check --netns " + ns + " -c " + conf.path);
    EXPECT_EQ(shown.status, 0) << shown.output;
    EXPECT_NE(shown.output.find("attached now: tc ingress bpf 'other_tc' (id " + std::to_string(elsewhere_id) +
                                ") pref 1 handle 0x1"),
              std::string::npos)
        << shown.output;
    uint32_t other_id = 0;
    sb.run_in(ns, [&] {
        ASSERT_EQ(test::attach_tc_filter(if_nametoindex("v0"), other.get(), datapath::kTcHandle, datapath::kTcPriority), 0);
        other_id = test::tc_filter_prog_id(if_nametoindex("v0"), datapath::kTcHandle, datapath::kTcPriority);
    });
    ASSERT_NE(other_id, 0u);
    const std::string refusal = "error[XB4019]: a tc filter of another tool, bpf program 'other_tc' (id " +
                                std::to_string(other_id) + "), holds xbypass's place on v0 ingress (priority 22594, handle 0x5842)";
    auto checked = test::run_command(xbypass() + " check --netns " + ns + " -c " + conf.path);
    EXPECT_EQ(checked.status, 1) << checked.output;
    EXPECT_NE(checked.output.find(refusal), std::string::npos) << checked.output;
    auto r = run_xbypass(ns, conf.path);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find(refusal), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("XB5005"), std::string::npos) << r.output;
    sb.run_in(ns, [&] {
        EXPECT_EQ(test::tc_filter_prog_id(if_nametoindex("v0"), datapath::kTcHandle, datapath::kTcPriority), other_id);
        auto n = datapath::count_clsact_filters(if_nametoindex("v0"));
        EXPECT_TRUE(n && *n == 2u);
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
    // Another tool takes our tc handle and priority on w0 after the plan (which would have refused
    // it, XB4019): the attach fails.
    auto squatter = test::load_trivial_tc("squatter");
    std::string yaml =
        "xbypass:\n  stats-interval: 0\n  interfaces:\n    - interface: v0\n    - interface: w0\n      datapath: tc\n";
    sb.run_in(ns, [&] {
        Assessment a = assess(load(yaml));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        ASSERT_EQ(test::attach_tc_filter(if_nametoindex("w0"), squatter.get(), datapath::kTcHandle, datapath::kTcPriority), 0);
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

// A second run in another process with XDP: refused by the interface lock (XB5011), not taken for
// another tool's program (XB4010); `check` says the same, and the first run keeps its program.
TEST(RunCommand, ASecondXdpRunIsRefusedByTheLockAndCheckSaysSo) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("twicexdp");
    TempFile conf(one_interface("v0", "      datapath: xdp-generic\n"));
    pid_t child = spawn_run(ns, conf.path);
    ASSERT_GT(child, 0);
    uint32_t first_id = 0;
    EXPECT_TRUE(poll_in(sb, ns, [&] { return (first_id = test::xdp_prog_id("v0")) != 0; }));
    for (const std::string cmd : {"run --duration 1", "check"}) {
        auto r = test::run_command(xbypass() + " " + cmd + " --netns " + ns + " -c " + conf.path);
        EXPECT_EQ(r.status, 1) << cmd << "\n" << r.output;
        EXPECT_NE(r.output.find("error[XB5011]"), std::string::npos) << cmd << "\n" << r.output;
        EXPECT_NE(r.output.find("held by pid " + std::to_string(child)), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("XB4010"), std::string::npos) << cmd << "\n" << r.output;
    }
    sb.run_in(ns, [&] { EXPECT_EQ(test::xdp_prog_id("v0"), first_id) << "the first run must keep its program"; });
    kill(child, SIGTERM);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// --flows is read and checked before anything is attached: a bad one refuses the start (exit 1).
TEST(RunCommand, ABadFlowsFileRefusesTheStartWithNothingAttached) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("flows");
    TempFile conf(one_interface("v0", "      datapath: tc\n"));
    TempFile malformed("tcp 10.0.0.1 1 10.0.0.2 2\nudp 10.0.0.1 1 nowhere 2\n");
    char dir[] = "/tmp/xb-run-flows-XXXXXX";
    ASSERT_TRUE(::mkdtemp(dir));
    const std::string fifo = std::string(dir) + "/fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);  // no writer: a blocking open would hang the run
    struct {
        std::string flows;
        std::string expected;
    } cases[] = {
        {std::string(dir) + "/missing", "error[XB3100]: cannot read the flows file '" + std::string(dir) + "/missing': No such file"},
        {malformed.path, ":2:16: error[XB3101]: destination address 'nowhere' is not an IPv4 or IPv6 address"},
        {dir, "it is a directory"},
        {"/dev/zero", "it is a character device"},
        {"/proc/self/mem", "pseudo-file"},
        {fifo, "it is a FIFO"},
    };
    for (const auto& c : cases) {
        auto r = run_xbypass(ns, conf.path, "--flows " + c.flows);
        EXPECT_EQ(r.status, 1) << c.flows << "\n" << r.output;
        EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.flows << "\n" << r.output;
        EXPECT_EQ(r.output.find("verified attached"), std::string::npos) << r.output;
        sb.run_in(ns, [] {
            auto n = datapath::count_clsact_filters(if_nametoindex("v0"));
            EXPECT_TRUE(!n || *n == 0) << "nothing may be attached";
        });
    }
    std::filesystem::remove_all(dir);
}

TEST(RunCommand, EmptyOptionValuesAndAFifoConfigurationAreRefusedAtOnce) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("empty");
    TempFile conf(one_interface("v0", "      datapath: tc\n"));
    char dir[] = "/tmp/xb-run-fifo-XXXXXX";
    ASSERT_TRUE(::mkdtemp(dir));
    const std::string fifo = std::string(dir) + "/conf.yaml";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    struct {
        std::string args;
        std::string expected;
    } cases[] = {
        {"--netns '' -c " + conf.path, "--netns needs a namespace name (not an empty one)"},
        {"--netns " + ns + " -c " + conf.path + " --interface ''", "needs an interface name (not an empty one)"},
        {"--netns " + ns + " -c " + conf.path + " --flows ''", "--flows needs a file name (not an empty one)"},
        {"--netns " + ns + " -c ''", "-c needs a file name"},
        {"--netns " + ns + " -c " + fifo, "error[XB1001]: cannot read configuration file '" + fifo + "': it is a FIFO"},
    };
    for (const auto& c : cases) {
        auto r = test::run_command("timeout 20 " + xbypass() + " run --duration 1 " + c.args);
        EXPECT_EQ(r.status, 2) << c.args << "\n" << r.output;
        EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.args << "\n" << r.output;
    }
    std::filesystem::remove_all(dir);
}

TEST(RunCommand, RepeatedFlowLinesAreReportedAndBypassedOnce) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("dups");
    TempFile conf(one_interface("v0", "      datapath: tc\n"));
    std::string text;
    for (int i = 0; i < 100; ++i) text += "tcp 10.0.0.1 1 10.0.0.2 2\n";
    text += "tcp 10.0.0.2 2 10.0.0.1 1\nudp 10.0.0.1 1 10.0.0.2 2\n";
    TempFile flows(text);
    auto r = run_xbypass(ns, conf.path, "--flows " + flows.path);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(flows.path + ":2:1: warning[XB3102]: 100 lines repeat an earlier flow"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("notice[XB6050]: 2 flows loaded from " + flows.path), std::string::npos) << r.output;
}

// Every line `run` logs, from the start to the exit, carries a code (doc/troubleshooting.md has each):
// the ordinary events too (start XB0010, startup block XB4060, attached XB5040, flows XB6050/XB6052,
// the counters XB6055, the stop XB0016), at log-level info so that the info lines are seen as well.
TEST(RunCommand, EveryLoggedLineCarriesACode) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("coded");
    TempFile conf("xbypass:\n  log-level: info\n  stats-interval: 1\n  interfaces:\n    - interface: v0\n      datapath: tc\n");
    TempFile flows("tcp 10.0.0.1 1 10.0.0.2 2\n");
    auto r = test::run_command("timeout 30 " + xbypass() + " run --netns " + ns + " -c " + conf.path +
                               " --duration 2 --flows " + flows.path);
    EXPECT_EQ(r.status, 0) << r.output;
    // "DD/MM/YYYY -- HH:MM:SS - <Level> - [module] MESSAGE"; the message starts with its code,
    // "notice[XB0010]: ...", or a diagnostic with its location first: "FILE:5:7: warning[XB4030]: ...".
    // (Parsed by hand: std::regex trips g++ 12's -Wmaybe-uninitialized in the sanitizer build.)
    auto message_of = [](const std::string& line) -> std::optional<std::string> {
        if (line.size() < 30 || line[2] != '/' || line[5] != '/' || line.compare(10, 4, " -- ") != 0 ||
            line.compare(22, 4, " - <") != 0)
            return std::nullopt;
        size_t module = line.find("> - [", 26);
        size_t end = module == std::string::npos ? module : line.find("] ", module + 5);
        if (end == std::string::npos) return std::nullopt;
        return line.substr(end + 2);
    };
    auto has_code = [](const std::string& msg) {
        for (const char* level : {"error", "warning", "notice", "info", "config"}) {
            const std::string tag = std::string(level) + "[XB";
            for (size_t at = msg.find(tag); at != std::string::npos; at = msg.find(tag, at + 1)) {
                if (at != 0 && (at < 2 || msg.compare(at - 2, 2, ": ") != 0)) continue;
                size_t d = at + tag.size();
                if (d + 7 <= msg.size() && std::all_of(msg.begin() + d, msg.begin() + d + 4, ::isdigit) &&
                    msg.compare(d + 4, 3, "]: ") == 0)
                    return true;
            }
        }
        return false;
    };
    size_t lines = 0;
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) {
        auto msg = message_of(line);
        if (!msg) continue;
        ++lines;
        EXPECT_TRUE(has_code(*msg)) << "a log line without a code: " << line;
    }
    EXPECT_GT(lines, 5u) << r.output;
    for (const char* code : {"notice[XB0010]", "notice[XB0013]", "notice[XB4060]", "notice[XB5040]", "notice[XB6050]",
                             "notice[XB6052]", "notice[XB6055]", "notice[XB8011]", "notice[XB0016]", "info[XB5044]"})
        EXPECT_NE(r.output.find(code), std::string::npos) << code << " missing in\n" << r.output;
}

// Without bpffs and tracefs (a fresh mount namespace where both are unmounted; the test's own, so
// nothing else loses them): `run` mounts them and pins; `check` mounts nothing yet says what run
// will do, so it accepts pinned-maps (note XB2027/XB2028, not the XB4013 refusal) as run does.
TEST(RunCommand, CheckAndRunAgreeWhenBpffsAndTracefsAreNotMounted) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("nomount");
    const std::string pins = "/sys/fs/bpf/xbt-" + std::to_string(getpid()) + "-nomount";
    TempFile conf("xbypass:\n  log-level: info\n  pin-path: " + pins +
                  "\n  interfaces:\n    - interface: v0\n      datapath: tc\n      pinned-maps: yes\n");
    // The steps, as a script run inside the new mount namespace.
    const std::string mounted =
        "echo \"mounted: $(awk '$3==\"bpf\"||$3==\"tracefs\"{printf \"%s \", $3}' /proc/self/mounts)\"\n";
    TempFile script(
        "for t in bpf tracefs; do\n"
        "  while m=$(awk -v t=$t '$3==t{print $2; exit}' /proc/self/mounts) && [ -n \"$m\" ]; do\n"
        "    umount -l \"$m\" || exit 9\n"
        "  done\n"
        "done\n" +
        mounted + xbypass() + " check --netns " + ns + " -c " + conf.path + "\necho \"check=$?\"\n" + mounted +
        xbypass() + " run --netns " + ns + " -c " + conf.path + " --duration 1\necho \"run=$?\"\n" + mounted +
        "ls " + pins + "/v0\n");
    auto r = test::run_command("timeout 60 unshare -m --propagation private sh " + script.path);
    EXPECT_NE(r.output.find("check=0"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("run=0"), std::string::npos) << r.output;
    const size_t check_at = r.output.find("check=");
    const size_t run_at = r.output.find("run=");
    ASSERT_NE(check_at, std::string::npos) << r.output;
    ASSERT_NE(run_at, std::string::npos) << r.output;
    const std::string check_out = r.output.substr(0, check_at), run_out = r.output.substr(check_at, run_at - check_at);
    // Nothing was mounted before check, nor by check; run mounted both (and they stay: its namespace).
    std::vector<std::string> states;
    std::istringstream in(r.output);
    for (std::string l; std::getline(in, l);)
        if (l.rfind("mounted:", 0) == 0) states.push_back(l);
    ASSERT_EQ(states.size(), 3u) << r.output;
    EXPECT_EQ(states[0], "mounted: ") << "the test could not unmount them: " << r.output;
    EXPECT_EQ(states[1], "mounted: ") << "check mounted something: " << r.output;
    EXPECT_EQ(states[2], "mounted: bpf tracefs ") << r.output;
    EXPECT_NE(check_out.find("info[XB2027]: bpffs was not mounted: xbypass run mounts it at /sys/fs/bpf"), std::string::npos)
        << check_out;
    EXPECT_NE(check_out.find("info[XB2028]: tracefs was not mounted: xbypass run mounts it at /sys/kernel/tracing"),
              std::string::npos)
        << check_out;
    EXPECT_NE(run_out.find("info[XB2027]: bpffs was not mounted: mounted it at /sys/fs/bpf"), std::string::npos) << run_out;
    EXPECT_NE(run_out.find("info[XB2028]: tracefs was not mounted: mounted it at /sys/kernel/tracing"), std::string::npos)
        << run_out;
    EXPECT_NE(run_out.find("notice[XB5040]: v0: tc running"), std::string::npos) << run_out;
    EXPECT_NE(r.output.substr(run_at).find("xb_counters"), std::string::npos) << "the maps were pinned: " << r.output;
    for (const char* code : {"XB4013", "XB2021", "XB2022", "XB4021"})
        EXPECT_EQ(r.output.find(code), std::string::npos) << code << " in " << r.output;
    // The pins lived on the namespace's own bpffs, gone with it; none are left on the machine's.
    EXPECT_FALSE(std::filesystem::exists(pins));
}

// A full flow table (lru off) refuses what `--flows` has beyond its size: each refused flow is
// XB6001 at its line of the file, the run goes on (the flow still reaches the IDS) and exits 0.
TEST(RunCommand, FlowsBeyondAFullTableAreXB6001AtTheirLine) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("full");
    TempFile conf(one_interface("v0", "      datapath: tc\n      flow-table:\n        size: 16\n        lru: no\n"));
    std::string text;
    constexpr int kFlows = 300;
    for (int i = 0; i < kFlows; ++i) text += "tcp 10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + " 1000 10.0.0.2 80\n";
    TempFile flows(text);
    auto r = run_xbypass(ns, conf.path, "--flows " + flows.path);
    EXPECT_EQ(r.status, 0) << r.output.substr(0, 3000);
    size_t bypassed = 0, refused = 0, first_refused_line = 0;
    std::istringstream in(r.output);
    for (std::string l; std::getline(in, l);) {
        if (l.find("notice[XB6052]: v0: bypassing") != std::string::npos) ++bypassed;
        size_t at = l.find(flows.path + ":");
        if (l.find("error[XB6001]: v0: cannot bypass") != std::string::npos && at != std::string::npos) {
            if (!refused++) first_refused_line = std::stoul(l.substr(at + flows.path.size() + 1));
        }
    }
    EXPECT_GE(bypassed, 16u) << r.output.substr(0, 3000);
    EXPECT_GT(refused, 0u) << r.output.substr(0, 3000);
    EXPECT_EQ(bypassed + refused, static_cast<size_t>(kFlows));
    EXPECT_EQ(first_refused_line, bypassed + 1) << "the first refused flow is the line after the last one bypassed";
    EXPECT_NE(r.output.find("hint: make the flow-table larger or turn lru on"), std::string::npos);
}

// Bypassing many flows takes seconds: SIGTERM meanwhile stops the run at once, and it detaches.
TEST(RunCommand, SigtermWhileBypassingManyFlowsStopsTheRun) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("manyflows");
    TempFile conf(one_interface("v0", "      datapath: tc\n      flow-table:\n        size: 1048576\n"));
    std::string text;
    for (unsigned i = 0; i < 400000; ++i)
        text += "tcp 10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
                std::to_string(i & 255) + " 1000 10.0.0.2 80\n";
    TempFile flows(text);
    // The run's output goes into a pipe this test reads. SIGTERM is sent as soon as "flows loaded"
    // (logged just before the bypassing starts) has been read, before reading on: the run cannot get
    // far, since a line per flow fills the unread pipe within a few hundred flows and blocks it. So
    // the stop always lands in the middle of the bypassing, however fast the table is.
    int out[2];
    ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
    const std::string bin = xbypass();
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        dup2(out[1], 1);
        dup2(out[1], 2);
        execl(bin.c_str(), "xbypass", "run", "--netns", ns.c_str(), "-c", conf.path.c_str(), "--duration", "60",
              "--flows", flows.path.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(out[1]);
    std::string output;
    bool signalled = false;
    char buf[4096];
    for (;;) {
        ssize_t n = read(out[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        output.append(buf, static_cast<size_t>(n));
        if (!signalled && output.find("XB6050") != std::string::npos) {
            kill(child, SIGTERM);
            signalled = true;
        }
    }
    close(out[0]);
    int status = 0;
    waitpid(child, &status, 0);
    const std::string tail = output.substr(output.size() > 2000 ? output.size() - 2000 : 0);
    ASSERT_TRUE(signalled) << tail;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n" << tail;
    EXPECT_NE(output.find("notice[XB6050]: 400000 flows loaded"), std::string::npos);
    EXPECT_NE(output.find("notice[XB6051]: stop requested while bypassing the flows"), std::string::npos) << tail;
    EXPECT_NE(output.find("notice[XB0014]: signal SIGTERM received, stopping"), std::string::npos) << tail;
    EXPECT_NE(output.find("notice[XB0016]: detached; exiting"), std::string::npos) << tail;
    sb.run_in(ns, [] {
        auto n = datapath::count_clsact_filters(if_nametoindex("v0"));
        EXPECT_TRUE(!n || *n == 0);
    });
}

// run refuses, or warns about, the output files as check does (one shared check), with the location.
TEST(RunCommand, OutputFilesAreCheckedAsCheckDoes) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("outputs");
    char dir[] = "/tmp/xb-run-out-XXXXXX";
    ASSERT_TRUE(::mkdtemp(dir));
    const std::string missing = std::string(dir) + "/missing/x";
    TempFile log_conf("xbypass:\n  log-file: " + missing + "\n  interfaces:\n    - interface: v0\n      datapath: tc\n");
    auto r = run_xbypass(ns, log_conf.path);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find(log_conf.path + ":2:3: error[XB0005]: log-file '" + missing +
                            "' cannot be opened for appending: its directory " + dir + "/missing does not exist"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("hint: create its directory"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("verified attached"), std::string::npos) << r.output;
    TempFile eve_conf("xbypass:\n  stats-interval: 1\n  eve-log: " + missing +
                      "\n  interfaces:\n    - interface: v0\n      datapath: tc\n");
    r = run_xbypass(ns, eve_conf.path);
    EXPECT_EQ(r.status, 0) << r.output;
    size_t first = r.output.find("warning[XB0006]");
    EXPECT_NE(first, std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("warning[XB0006]", first + 1), std::string::npos) << "reported once:\n" << r.output;
    std::filesystem::remove_all(dir);
}

// pinned-maps with a pin-path whose directories do not exist yet (the default /sys/fs/bpf/xbypass
// on a fresh machine): run creates them, as check promised.
TEST(PinnedMaps, AMissingPinPathIsCreated) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_veth_netns("pinmk");
    const std::string pin_path = sb.pin_dir("pinmk") + "/not/yet";
    TempFile conf("xbypass:\n  stats-interval: 0\n  pin-path: " + pin_path +
                  "\n  interfaces:\n    - interface: v0\n      datapath: tc\n      pinned-maps: yes\n");
    auto checked = test::run_command(xbypass() + " check --netns " + ns + " -c " + conf.path);
    EXPECT_EQ(checked.status, 0) << checked.output;
    auto r = run_xbypass(ns, conf.path);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_TRUE(std::filesystem::exists(pin_path + "/v0/xb_flow_slots")) << r.output;
}

// tc's bpf_redirect to an ifindex that no longer exists drops the frame without a trace: the run
// must notice the IPS peer going away and stop forwarding into nothing (hits go to the stack).
TEST(RunCommand, AnIpsPeerThatGoesAwayStopsForwarding) {
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
        Diagnostics ld;
        EXPECT_TRUE(s->check_links(ld));
        EXPECT_TRUE(ld.contains("XB6010")) << ld.to_text();
        EXPECT_TRUE(s->interfaces()[0].peer_down);
        auto peer = s->interfaces()[0].program->ips_peer();
        ASSERT_TRUE(peer);
        EXPECT_EQ(*peer, 0) << "the tc program must not redirect to the gone ifindex";
        EXPECT_TRUE(s->verify()) << "a handled peer loss does not stop the run";
    });
}

// The interface itself deleted under a run: XB5020 says it is gone (was "runs program 0 ... not
// ours", without a code), and the run exits 1.
TEST(RunCommand, AnInterfaceDeletedUnderTheRunIsXB5020SayingItIsGone) {
    XB_REQUIRE_KERNEL();
    for (const char* datapath : {"xdp-generic", "tc"}) {
        Sandbox sb;
        std::string ns = sb.add_veth_netns("gone");
        TempFile conf("xbypass:\n  stats-interval: 1\n  interfaces:\n    - interface: v0\n      datapath: " +
                      std::string(datapath) + "\n");
        // The link goes once the run has attached and verified it (XB5040), however slow the machine:
        // a fixed delay deleted it mid-start in the TCG VM, and the start then failed instead.
        TempFile log("");
        auto r = test::run_command("sh -c 'timeout 60 " + xbypass() + " run --netns " + ns + " -c " + conf.path +
                                   " --duration 40 > " + log.path + " 2>&1 & p=$!; i=0; while [ $i -lt 600 ] && ! grep -q XB5040 " +
                                   log.path + "; do sleep 0.05; i=$((i+1)); done; ip -n " + ns +
                                   " link del v0; wait $p; rc=$?; cat " + log.path + "; exit $rc'");
        EXPECT_EQ(r.status, 1) << datapath << "\n" << r.output;
        EXPECT_NE(r.output.find("error[XB5020]: the datapath is no longer as planned: "), std::string::npos)
            << datapath << "\n" << r.output;
        EXPECT_NE(r.output.find("is gone (the interface was deleted or moved to another namespace)"), std::string::npos)
            << datapath << "\n" << r.output;
        EXPECT_EQ(r.output.find("runs program 0"), std::string::npos) << r.output;
    }
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
    // Followed by the exception counts where the exception monitor runs.
    EXPECT_TRUE(r.stats_line.find(" flow-entries=2 flows=1 flow-capacity=65536 flows-accepted=1 flows-refused=0 "
                                  "flows-evicted=0 flows-expired=0\n") != std::string::npos ||
                r.stats_line.find(" flow-entries=2 flows=1 flow-capacity=65536 flows-accepted=1 flows-refused=0 "
                                  "flows-evicted=0 flows-expired=0 exceptions:") != std::string::npos)
        << "both directions of the one flow: " << r.stats_line;
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
