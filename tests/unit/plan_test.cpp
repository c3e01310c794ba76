// Planner: a table of capability sets and configurations with the expected plan or rejection code.
// Pure logic: capabilities are written by hand here; the kernel-facing probe has its own tests.
#include <gtest/gtest.h>

#include <functional>

#include "common/netdev_uapi.h"
#include "plan/plan.h"

namespace xb::plan {
namespace {

using probe::Support;
namespace nd = xb::netdev;

constexpr uint64_t kVeth = nd::XDP_ACT_BASIC | nd::XDP_ACT_REDIRECT | nd::XDP_ACT_RX_SG;  // 0x23
constexpr uint64_t kTap = nd::XDP_ACT_BASIC | nd::XDP_ACT_REDIRECT | nd::XDP_ACT_NDO_XMIT;  // 0x7

probe::InterfaceCaps device(const std::string& name, std::optional<uint64_t> features, int ifindex) {
    probe::InterfaceCaps c;
    c.name = name;
    c.ifindex = ifindex;
    c.exists = true;
    c.xdp_features = features;
    c.mtu = 1500;
    c.oper_state = probe::OperState::Up;
    c.driver = "veth";
    return c;
}

probe::KernelCaps full_kernel() {
    probe::KernelCaps k;
    for (const char* p : {"xdp", "sched_cls", "tracepoint"}) k.prog_types.push_back({p, Support::Yes, 0});
    for (const char* m : {"hash", "percpu_hash", "lru_hash", "lru_percpu_hash", "cpumap", "devmap", "devmap_hash",
                          "xskmap", "percpu_array"})
        k.map_types.push_back({m, Support::Yes, 0});
    for (const char* h : {"bpf_map_lookup_elem", "bpf_redirect_map", "bpf_ktime_get_ns"})
        k.helpers.push_back({"xdp", h, Support::Yes});
    for (const char* h : {"bpf_map_lookup_elem", "bpf_redirect", "bpf_ktime_get_ns"})
        k.helpers.push_back({"sched_cls", h, Support::Yes});
    k.xdp_link = {"xdp_link", Support::Yes, 0};
    k.bpffs = "/sys/fs/bpf";
    k.tracefs = "/sys/kernel/tracing";
    k.freplace = {"freplace", Support::No, EPERM};
    k.freplace_error = "Operation not permitted (lockdown)";
    k.online_cpus = {0, 1};
    return k;
}

// The built-in variants, as the manifests describe them.
std::vector<ProgramRequirements> builtin() {
    auto xdp = [](const char* name, bool cpu, bool ips) {
        ProgramRequirements r;
        r.program = name;
        r.hook = Hook::Xdp;
        r.cpu_redirect = cpu;
        r.ips_forward = ips;
        r.map_types = {"percpu_hash", "percpu_array"};
        r.helpers = {"bpf_map_lookup_elem", "bpf_ktime_get_ns"};
        if (cpu || ips) r.helpers.push_back("bpf_redirect_map");
        if (cpu) {
            r.map_types.push_back("cpumap");
            r.devices.push_back({false, nd::XDP_ACT_REDIRECT, "cpu redirect"});
            r.max_redirect_cpus = 64;
        }
        if (ips) {
            r.map_types.push_back("devmap");
            r.devices.push_back({false, nd::XDP_ACT_REDIRECT, "forwarding to the IPS peer"});
            r.devices.push_back({true, nd::XDP_ACT_NDO_XMIT, "receiving forwarded frames"});
        }
        return r;
    };
    auto tc = [](const char* name, bool ips) {
        ProgramRequirements r;
        r.program = name;
        r.hook = Hook::Tc;
        r.ips_forward = ips;
        r.map_types = {"percpu_hash", "percpu_array"};
        r.helpers = {"bpf_map_lookup_elem", "bpf_ktime_get_ns"};
        if (ips) r.helpers.push_back("bpf_redirect");
        return r;
    };
    return {xdp("xdp_ids", false, false), xdp("xdp_ids_cpu", true, false), xdp("xdp_ips", false, true),
            xdp("xdp_ips_cpu", true, true), tc("tc_ids", false), tc("tc_ips", true)};
}

PlanInput base_input(std::optional<uint64_t> features = kVeth) {
    PlanInput in;
    in.config.file = "test.yaml";
    config::InterfaceConfig ic;
    ic.name = "eth0";
    ic.origin.location = {"test.yaml", 3, 5};
    ic.origin.key_path = "xbypass.interfaces[0]";
    in.config.interfaces.push_back(ic);
    in.interfaces["eth0"] = device("eth0", features, 2);
    in.kernel = full_kernel();
    in.builtin = builtin();
    return in;
}

config::InterfaceConfig& iface(PlanInput& in) { return in.config.interfaces[0]; }
probe::InterfaceCaps& dev(PlanInput& in) { return in.interfaces["eth0"]; }

struct Case {
    const char* name;
    std::function<void(PlanInput&)> setup;
    Datapath expected;               // when accepted
    const char* error_code;          // non-null: rejected with this code
    const char* warning_code;        // non-null: this warning is present
    const char* why_not_substring;   // non-null: some considered datapath's reason contains it
};

void add_peer(PlanInput& in, std::optional<uint64_t> features) {
    iface(in).ips_peer = "peer0";
    in.interfaces["peer0"] = device("peer0", features, 3);
}

void foreign_xdp(PlanInput& in, bool dispatcher = false) {
    probe::AttachedXdp a;
    a.mode = probe::XdpAttachMode::Native;
    a.prog_id = 77;
    a.prog_name = dispatcher ? "xdp_dispatcher" : "other_tool";
    a.via = probe::AttachedVia::Netlink;
    a.libxdp_dispatcher = dispatcher;
    dev(in).xdp.push_back(a);
}

const Case kCases[] = {
    {"auto_veth_native", [](PlanInput&) {}, Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"auto_tap_native", [](PlanInput& in) { dev(in).xdp_features = kTap; }, Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"auto_ifb_generic", [](PlanInput& in) { dev(in).xdp_features = 0; }, Datapath::XdpGeneric, nullptr, nullptr,
     "no native XDP support"},
    {"auto_unknown_features_not_assumed", [](PlanInput& in) { dev(in).xdp_features.reset(); }, Datapath::XdpGeneric,
     nullptr, nullptr, "unknown"},
    {"native_on_ifb_rejected", [](PlanInput& in) { dev(in).xdp_features = 0; iface(in).datapath = config::Datapath::XdpNative; },
     Datapath::None, "XB4002", nullptr, "no native XDP support"},
    {"native_on_ifb_fallback_generic",
     [](PlanInput& in) {
         dev(in).xdp_features = 0;
         iface(in).datapath = config::Datapath::XdpNative;
         iface(in).on_unsupported = config::OnUnsupported::Fallback;
     },
     Datapath::XdpGeneric, nullptr, "XB4003", nullptr},
    {"native_unknown_features_rejected",
     [](PlanInput& in) { dev(in).xdp_features.reset(); iface(in).datapath = config::Datapath::XdpNative; },
     Datapath::None, "XB4002", nullptr, "unknown"},
    {"generic_pinned", [](PlanInput& in) { iface(in).datapath = config::Datapath::XdpGeneric; }, Datapath::XdpGeneric,
     nullptr, nullptr, nullptr},
    {"tc_pinned", [](PlanInput& in) { iface(in).datapath = config::Datapath::Tc; }, Datapath::Tc, nullptr, nullptr, nullptr},
    {"cpu_redirect_native_on_tap", [](PlanInput& in) { dev(in).xdp_features = kTap; iface(in).cpu_redirect.cpus = {0, 1}; },
     Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"cpu_redirect_native_on_veth_warns_about_partial_checksums",
     [](PlanInput& in) { dev(in).kind = "veth"; iface(in).cpu_redirect.cpus = {0, 1}; }, Datapath::XdpNative, nullptr,
     "XB4032", nullptr},
    {"cpu_redirect_without_redirect_feature_goes_generic",
     [](PlanInput& in) { dev(in).xdp_features = nd::XDP_ACT_BASIC; iface(in).cpu_redirect.cpus = {1}; },
     Datapath::XdpGeneric, nullptr, nullptr, "lacks redirect"},
    {"cpu_redirect_without_redirect_pinned_native_rejected",
     [](PlanInput& in) {
         dev(in).xdp_features = nd::XDP_ACT_BASIC;
         iface(in).cpu_redirect.cpus = {1};
         iface(in).datapath = config::Datapath::XdpNative;
     },
     Datapath::None, "XB4002", nullptr, "lacks redirect"},
    {"cpu_not_online", [](PlanInput& in) { iface(in).cpu_redirect.cpus = {0, 5}; }, Datapath::None, "XB4005", nullptr,
     nullptr},
    {"online_cpus_unknown", [](PlanInput& in) { iface(in).cpu_redirect.cpus = {0}; in.kernel.online_cpus.clear(); },
     Datapath::None, "XB4006", nullptr, nullptr},
    {"cpu_redirect_without_cpumap_nothing_works",
     [](PlanInput& in) {
         iface(in).cpu_redirect.cpus = {0};
         for (auto& m : in.kernel.map_types)
             if (m.name == "cpumap") m.supported = Support::No;
     },
     Datapath::None, "XB4004", nullptr, "cpu-redirect needs XDP"},
    {"cpu_redirect_with_tc_rejected",
     [](PlanInput& in) { iface(in).cpu_redirect.cpus = {0}; iface(in).datapath = config::Datapath::Tc; }, Datapath::None,
     "XB4002", nullptr, "cpu-redirect needs XDP"},
    {"ips_peer_missing", [](PlanInput& in) { iface(in).ips_peer = "nope0"; }, Datapath::None, "XB4007", nullptr, nullptr},
    {"ips_peer_veth_without_ndo_xmit_goes_generic", [](PlanInput& in) { add_peer(in, kVeth); }, Datapath::XdpGeneric,
     nullptr, nullptr, "peer0 lacks ndo-xmit"},
    {"ips_peer_tap_native", [](PlanInput& in) { add_peer(in, kTap); }, Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"ips_peer_unknown_features_goes_generic", [](PlanInput& in) { add_peer(in, std::nullopt); }, Datapath::XdpGeneric,
     nullptr, nullptr, "features of peer0 are unknown"},
    {"ips_peer_down",
     [](PlanInput& in) {
         add_peer(in, kTap);
         in.interfaces["peer0"].oper_state = probe::OperState::Down;
     },
     Datapath::None, "XB4008", nullptr, nullptr},
    {"foreign_xdp_refused", [](PlanInput& in) { foreign_xdp(in); }, Datapath::None, "XB4010", nullptr, nullptr},
    {"foreign_xdp_with_tc_warns",
     [](PlanInput& in) { foreign_xdp(in); iface(in).datapath = config::Datapath::Tc; }, Datapath::Tc, nullptr, "XB4017",
     nullptr},
    {"foreign_xdp_replaced",
     [](PlanInput& in) { foreign_xdp(in); iface(in).coexist = config::Coexist::Replace; }, Datapath::XdpNative, nullptr,
     "XB4012", nullptr},
    {"multiprog_without_freplace",
     [](PlanInput& in) { iface(in).coexist = config::Coexist::Multiprog; }, Datapath::None, "XB4011", nullptr, nullptr},
    {"multiprog_joins_dispatcher",
     [](PlanInput& in) {
         in.kernel.freplace.supported = Support::Yes;
         foreign_xdp(in, true);
         iface(in).coexist = config::Coexist::Multiprog;
     },
     Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"multiprog_without_other_programs_creates_the_dispatcher",
     [](PlanInput& in) {
         in.kernel.freplace.supported = Support::Yes;
         iface(in).coexist = config::Coexist::Multiprog;
     },
     Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"multiprog_auto_follows_a_generic_dispatcher",
     [](PlanInput& in) {
         in.kernel.freplace.supported = Support::Yes;
         foreign_xdp(in, true);
         dev(in).xdp.back().mode = probe::XdpAttachMode::Generic;
         iface(in).coexist = config::Coexist::Multiprog;
     },
     Datapath::XdpGeneric, nullptr, nullptr, "runs in generic mode, and multiprog can join it only in that mode"},
    {"multiprog_native_cannot_join_a_generic_dispatcher",
     [](PlanInput& in) {
         in.kernel.freplace.supported = Support::Yes;
         foreign_xdp(in, true);
         dev(in).xdp.back().mode = probe::XdpAttachMode::Generic;
         iface(in).coexist = config::Coexist::Multiprog;
         iface(in).datapath = config::Datapath::XdpNative;
     },
     Datapath::None, "XB4002", nullptr, "multiprog can join it only in that mode"},
    {"multiprog_with_tc_leaves_the_dispatcher_alone",
     [](PlanInput& in) {
         in.kernel.freplace.supported = Support::Yes;
         foreign_xdp(in, true);
         iface(in).coexist = config::Coexist::Multiprog;
         iface(in).datapath = config::Datapath::Tc;
     },
     Datapath::Tc, nullptr, nullptr, nullptr},
    {"multiprog_cannot_join_plain_program",
     [](PlanInput& in) {
         in.kernel.freplace.supported = Support::Yes;
         foreign_xdp(in);
         iface(in).coexist = config::Coexist::Multiprog;
     },
     Datapath::None, "XB4018", nullptr, nullptr},
    {"pinned_maps_without_bpffs",
     [](PlanInput& in) { iface(in).pinned_maps = true; in.kernel.bpffs.reset(); }, Datapath::None, "XB4013", nullptr,
     nullptr},
    {"pin_path_off_bpffs",
     [](PlanInput& in) { iface(in).pinned_maps = true; in.config.global.pin_path = "/tmp/pins"; }, Datapath::None,
     "XB4021", nullptr, nullptr},
    {"pinned_maps_ok", [](PlanInput& in) { iface(in).pinned_maps = true; }, Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"interface_missing", [](PlanInput& in) { in.interfaces.clear(); }, Datapath::None, "XB4001", nullptr, nullptr},
    {"offload_rejected", [](PlanInput& in) { iface(in).datapath = config::Datapath::Offload; }, Datapath::None, "XB4016",
     nullptr, nullptr},
    {"offload_fallback",
     [](PlanInput& in) {
         iface(in).datapath = config::Datapath::Offload;
         iface(in).on_unsupported = config::OnUnsupported::Fallback;
     },
     Datapath::XdpNative, nullptr, "XB4016", nullptr},
    {"jumbo_mtu_needs_frags", [](PlanInput& in) { dev(in).mtu = 9000; }, Datapath::XdpGeneric, nullptr, nullptr,
     "exceeds single-buffer XDP"},
    {"xdp_prog_type_unknown_goes_tc",
     [](PlanInput& in) {
         for (auto& p : in.kernel.prog_types)
             if (p.name == "xdp") p.supported = Support::Unknown;
     },
     Datapath::Tc, nullptr, nullptr, "cannot load xdp programs"},
    {"bypass_off_attaches_nothing", [](PlanInput& in) { iface(in).bypass = false; }, Datapath::None, nullptr, nullptr,
     nullptr},
    {"interface_down_warns", [](PlanInput& in) { dev(in).oper_state = probe::OperState::Down; }, Datapath::XdpNative,
     nullptr, "XB4030", nullptr},
    {"custom_tc_only_program_goes_tc",
     [](PlanInput& in) {
         iface(in).custom_program = "/x/filter.o";
         ProgramRequirements r;
         r.program = "/x/filter.o";
         r.hook = Hook::Tc;
         r.custom = true;
         in.custom["/x/filter.o"] = {r};
     },
     Datapath::Tc, nullptr, nullptr, "custom program has no XDP program"},
    {"custom_needing_redirect_on_ifb_rejected",
     [](PlanInput& in) {
         dev(in).xdp_features = 0;
         iface(in).datapath = config::Datapath::XdpNative;
         iface(in).custom_program = "/x/redir.o";
         ProgramRequirements r;
         r.program = "/x/redir.o";
         r.custom = true;
         r.helpers = {"bpf_redirect_map"};
         r.map_types = {"cpumap"};
         r.devices = {{false, nd::XDP_ACT_REDIRECT, "bpf_redirect_map into a cpumap"}};
         in.custom["/x/redir.o"] = {r};
     },
     Datapath::None, "XB4014", nullptr, nullptr},
    {"custom_needing_redirect_on_basic_only_device",
     [](PlanInput& in) {
         dev(in).xdp_features = nd::XDP_ACT_BASIC;
         iface(in).custom_program = "/x/redir.o";
         ProgramRequirements r;
         r.program = "/x/redir.o";
         r.custom = true;
         r.devices = {{false, nd::XDP_ACT_REDIRECT, "bpf_redirect_map into a cpumap"}};
         in.custom["/x/redir.o"] = {r};
     },
     Datapath::XdpGeneric, nullptr, nullptr, "lacks redirect, which bpf_redirect_map into a cpumap needs"},
    {"custom_undetermined_warns",
     [](PlanInput& in) {
         iface(in).custom_program = "/x/odd.o";
         ProgramRequirements r;
         r.program = "/x/odd.o";
         r.custom = true;
         r.undetermined = {"return value of instruction 12 is computed"};
         in.custom["/x/odd.o"] = {r};
     },
     Datapath::XdpNative, nullptr, "XB4015", nullptr},
    {"custom_unprobed_helper_is_a_note_not_a_rejection",
     [](PlanInput& in) {
         iface(in).custom_program = "/x/csum.o";
         ProgramRequirements r;
         r.program = "/x/csum.o";
         r.custom = true;
         r.helpers = {"bpf_csum_diff"};
         in.custom["/x/csum.o"] = {r};
     },
     Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"helper_probed_no_is_a_rejection_reason",
     [](PlanInput& in) {
         iface(in).cpu_redirect.cpus = {0};
         for (auto& h : in.kernel.helpers)
             if (h.helper == "bpf_redirect_map") h.supported = Support::No;
     },
     Datapath::None, "XB4004", nullptr, "helper bpf_redirect_map is not available"},
};

class PlanTable : public ::testing::TestWithParam<Case> {};

TEST_P(PlanTable, Decides) {
    const Case& c = GetParam();
    PlanInput in = base_input();
    c.setup(in);
    Plan plan = make_plan(in);
    std::string diags = plan.diagnostics.to_text();
    if (c.error_code) {
        EXPECT_FALSE(plan.accepted()) << diags;
        EXPECT_TRUE(plan.diagnostics.contains(c.error_code)) << "expected " << c.error_code << ", got:\n" << diags;
        EXPECT_TRUE(plan.interfaces.empty()) << "a rejected interface must have no plan";
    } else {
        ASSERT_TRUE(plan.accepted()) << diags;
        ASSERT_EQ(plan.interfaces.size(), 1u);
        EXPECT_EQ(datapath_name(plan.interfaces[0].datapath), datapath_name(c.expected)) << plan_to_text(plan, in);
        // multiprog goes through the dispatcher exactly when the bypass runs in XDP.
        bool through_dispatcher = iface(in).coexist == config::Coexist::Multiprog && c.expected != Datapath::Tc;
        EXPECT_EQ(plan.interfaces[0].multiprog, through_dispatcher);
    }
    if (c.warning_code) {
        EXPECT_TRUE(plan.diagnostics.contains(c.warning_code)) << diags;
    }
    if (c.why_not_substring) {
        std::string all = diags;
        for (const auto& p : plan.interfaces)
            for (const auto& k : p.considered)
                for (const auto& r : k.why_not) all += r + "\n";
        EXPECT_NE(all.find(c.why_not_substring), std::string::npos) << all;
    }
    // Every error points at the configuration.
    for (const auto& d : plan.diagnostics)
        if (d.severity == Severity::Error) {
            EXPECT_TRUE(d.location.known()) << d.to_text();
        }
}

INSTANTIATE_TEST_SUITE_P(Cases, PlanTable, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

TEST(Plan, FasterDatapathsCarryTheirReasons) {
    PlanInput in = base_input(0);  // ifb-like
    Plan plan = make_plan(in);
    ASSERT_TRUE(plan.accepted());
    const auto& p = plan.interfaces[0];
    ASSERT_EQ(p.considered.size(), 2u);
    EXPECT_EQ(p.considered[0].datapath, Datapath::XdpNative);
    EXPECT_FALSE(p.considered[0].chosen);
    EXPECT_FALSE(p.considered[0].why_not.empty());
    EXPECT_TRUE(p.considered[1].chosen);
    std::string text = plan_to_text(plan, in);
    EXPECT_NE(text.find("xdp-native: not possible: eth0 (driver veth) has no native XDP support"), std::string::npos)
        << text;
    std::string json = plan_to_json(plan, in);
    EXPECT_NE(json.find(R"("datapath":"xdp-generic")"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("xdp_features":0)"), std::string::npos) << json;
}

TEST(Plan, AllCpusResolveToOnlineCpus) {
    PlanInput in = base_input();
    iface(in).cpu_redirect.all = true;
    in.kernel.online_cpus = {0, 1, 2, 3};
    Plan plan = make_plan(in);
    ASSERT_TRUE(plan.accepted()) << plan.diagnostics.to_text();
    EXPECT_EQ(plan.interfaces[0].cpus, (std::vector<unsigned>{0, 1, 2, 3}));
    EXPECT_EQ(plan.interfaces[0].program, "xdp_ids_cpu");
}

TEST(Plan, OneRejectedInterfaceRejectsTheWholePlanButKeepsCheckingOthers) {
    PlanInput in = base_input();
    config::InterfaceConfig second = iface(in);
    second.name = "eth1";
    second.cpu_redirect.cpus = {9};
    in.config.interfaces.push_back(second);
    in.interfaces["eth1"] = device("eth1", kVeth, 4);
    config::InterfaceConfig third = iface(in);
    third.name = "ghost0";
    in.config.interfaces.push_back(third);
    Plan plan = make_plan(in);
    EXPECT_FALSE(plan.accepted());
    EXPECT_TRUE(plan.diagnostics.contains("XB4005"));
    EXPECT_TRUE(plan.diagnostics.contains("XB4001"));
}

TEST(Plan, ReplaceIsDroppedWhenTcIsChosen) {
    PlanInput in = base_input();
    foreign_xdp(in);
    iface(in).coexist = config::Coexist::Replace;
    iface(in).datapath = config::Datapath::Tc;
    Plan plan = make_plan(in);
    ASSERT_TRUE(plan.accepted());
    EXPECT_FALSE(plan.interfaces[0].replace.has_value()) << "tc must leave other tools' XDP programs alone";
}

}  // namespace
}  // namespace xb::plan
