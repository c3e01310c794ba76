// Planner: a table of capability sets and configurations with the expected plan or rejection code.
// Pure logic: capabilities are written by hand here; the kernel-facing probe has its own tests.
#include <gtest/gtest.h>

#include <algorithm>
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
    // AF_XDP capture in the bypass pass: misses are redirected into an XSKMAP slot per receive queue.
    auto xsk = [&](const char* name, bool ips) {
        ProgramRequirements r = xdp(name, false, ips);
        r.xsk_capture = true;
        r.map_types.push_back("xskmap");
        if (!ips) r.helpers.push_back("bpf_redirect_map");
        r.devices.push_back({false, nd::XDP_ACT_REDIRECT, "redirecting misses into AF_XDP sockets"});
        return r;
    };
    // The xsk variants come first so that a planner ignoring xsk_capture would pick them.
    return {xsk("xdp_ids_xsk", false), xsk("xdp_ips_xsk", true), xdp("xdp_ids", false, false),
            xdp("xdp_ids_cpu", true, false), xdp("xdp_ips", false, true), xdp("xdp_ips_cpu", true, true),
            tc("tc_ids", false), tc("tc_ips", true)};
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

void tc_filter_at(PlanInput& in, uint16_t priority, uint32_t handle, const char* kind, const char* prog_name) {
    probe::TcFilter f;
    f.direction = probe::TcDirection::Ingress;
    f.priority = priority;
    f.handle = handle;
    f.kind = kind;
    f.prog_id = std::string(kind) == "bpf" ? 91 : 0;
    f.prog_name = prog_name;
    dev(in).tc_filters.push_back(f);
}

const Case kCases[] = {
    {"auto_veth_native", [](PlanInput&) {}, Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"auto_tap_native", [](PlanInput& in) { dev(in).xdp_features = kTap; }, Datapath::XdpNative, nullptr, nullptr, nullptr},
    {"auto_ifb_generic", [](PlanInput& in) { dev(in).xdp_features = 0; }, Datapath::XdpGeneric, nullptr, nullptr,
     "no native XDP support"},
    // Before 6.3 (features unknown) a program needing only basic XDP tries native (UntestedNative below).
    {"auto_unknown_features_tries_native", [](PlanInput& in) { dev(in).xdp_features.reset(); }, Datapath::XdpNative,
     nullptr, nullptr, nullptr},
    {"native_on_ifb_rejected", [](PlanInput& in) { dev(in).xdp_features = 0; iface(in).datapath = config::Datapath::XdpNative; },
     Datapath::None, "XB4002", nullptr, "no native XDP support"},
    {"native_on_ifb_fallback_generic",
     [](PlanInput& in) {
         dev(in).xdp_features = 0;
         iface(in).datapath = config::Datapath::XdpNative;
         iface(in).on_unsupported = config::OnUnsupported::Fallback;
     },
     Datapath::XdpGeneric, nullptr, "XB4003", nullptr},
    {"native_unknown_features_accepted_with_a_warning",
     [](PlanInput& in) { dev(in).xdp_features.reset(); iface(in).datapath = config::Datapath::XdpNative; },
     Datapath::XdpNative, nullptr, "XB4048", nullptr},
    {"native_unknown_features_with_cpu_redirect_rejected",
     [](PlanInput& in) {
         dev(in).xdp_features.reset();
         iface(in).datapath = config::Datapath::XdpNative;
         iface(in).cpu_redirect.cpus = {1};
     },
     Datapath::None, "XB4002", nullptr, "native XDP is not assumed (cpu redirect needs redirect)"},
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
    {"tc_foreign_bpf_filter_at_our_place",
     [](PlanInput& in) {
         iface(in).datapath = config::Datapath::Tc;
         tc_filter_at(in, kTcPriority, kTcHandle, "bpf", "other_tool");
     },
     Datapath::None, "XB4019", nullptr, "bpf program 'other_tool' (id 91), holds xbypass's place"},
    {"tc_foreign_u32_filter_at_our_place",
     [](PlanInput& in) {
         iface(in).datapath = config::Datapath::Tc;
         tc_filter_at(in, kTcPriority, kTcHandle, "u32", "");
     },
     Datapath::None, "XB4019", nullptr, "u32 filter, holds xbypass's place on eth0 ingress (priority 22594, handle 0x5842)"},
    {"tc_leftover_of_our_program_is_taken_over_at_attach",
     [](PlanInput& in) {
         iface(in).datapath = config::Datapath::Tc;
         tc_filter_at(in, kTcPriority, kTcHandle, "bpf", "tc_ids");
     },
     Datapath::Tc, nullptr, nullptr, nullptr},
    {"tc_filter_elsewhere_is_no_obstacle",
     [](PlanInput& in) {
         iface(in).datapath = config::Datapath::Tc;
         tc_filter_at(in, 1, kTcHandle, "bpf", "other_tool");
         tc_filter_at(in, kTcPriority, 1, "bpf", "other_tool");
     },
     Datapath::Tc, nullptr, nullptr, nullptr},
    {"xdp_is_not_hindered_by_a_filter_at_our_tc_place",
     [](PlanInput& in) { tc_filter_at(in, kTcPriority, kTcHandle, "bpf", "other_tool"); },
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
        // Without an engine no xsk variant is ever chosen, and the capture keeps its defaults.
        EXPECT_EQ(plan.interfaces[0].program.find("_xsk"), std::string::npos) << plan.interfaces[0].program;
        EXPECT_EQ(plan.interfaces[0].capture.method, Capture::AfPacket);
        EXPECT_TRUE(plan.interfaces[0].capture.why_not_af_xdp.empty());
        EXPECT_EQ(plan_to_text(plan, in).find("capture:"), std::string::npos);
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

// --- kernels before 6.3: native XDP tried on unknown features ---------------------------------------

struct UntestedCase {
    const char* name;
    std::function<void(PlanInput&)> setup;
    Datapath expected;            // when accepted
    const char* error_code;       // non-null: rejected with this code
    bool native_untested;
    bool generic_if_refused;
    const char* warning_code;     // non-null: present; null: no warning at all
    const char* text_substring;   // non-null: the startup text (or the diagnostics) contains it
};

void unknown(PlanInput& in) { dev(in).xdp_features.reset(); }
void pin(PlanInput& in, config::Datapath d, bool fallback = false) {
    iface(in).datapath = d;
    if (fallback) iface(in).on_unsupported = config::OnUnsupported::Fallback;
}

const UntestedCase kUntestedCases[] = {
    {"auto_basic_try_then_generic", unknown, Datapath::XdpNative, nullptr, true, true, nullptr,
     "generic XDP is attached if the driver refuses it"},
    {"auto_basic_text_says_try_then_generic", unknown, Datapath::XdpNative, nullptr, true, true, nullptr,
     "chosen: xdp-native, program xdp_ids (try-then-generic: features unknown)"},
    {"auto_basic_real_manifest_device_bits",
     [](PlanInput& in) {
         unknown(in);
         for (auto& r : in.builtin)
             if (r.hook == Hook::Xdp) r.devices.push_back({false, nd::XDP_ACT_BASIC, "the bypass"});
     },
     Datapath::XdpNative, nullptr, true, true, nullptr, nullptr},
    {"native_pinned_reject_tries_native_only",
     [](PlanInput& in) { unknown(in); pin(in, config::Datapath::XdpNative); }, Datapath::XdpNative, nullptr, true,
     false, "XB4048", "the start fails if the driver refuses it"},
    {"native_pinned_fallback_try_then_generic",
     [](PlanInput& in) { unknown(in); pin(in, config::Datapath::XdpNative, true); }, Datapath::XdpNative, nullptr,
     true, true, "XB4048", "generic XDP is used if the driver refuses it"},
    {"auto_cpu_redirect_stays_unknown_goes_generic",
     [](PlanInput& in) { unknown(in); iface(in).cpu_redirect.cpus = {1}; }, Datapath::XdpGeneric, nullptr, false,
     false, nullptr, "native XDP is not assumed (cpu redirect needs redirect)"},
    {"auto_ips_peer_stays_unknown_goes_generic",
     [](PlanInput& in) { unknown(in); add_peer(in, std::nullopt); }, Datapath::XdpGeneric, nullptr, false, false,
     nullptr, "forwarding to the IPS peer needs redirect"},
    {"native_pinned_ips_peer_rejected",
     [](PlanInput& in) { unknown(in); add_peer(in, std::nullopt); pin(in, config::Datapath::XdpNative); },
     Datapath::None, "XB4002", false, false, nullptr, nullptr},
    {"auto_jumbo_mtu_goes_generic", [](PlanInput& in) { unknown(in); dev(in).mtu = 9000; }, Datapath::XdpGeneric,
     nullptr, false, false, nullptr, "MTU 9000 needs multi-buffer XDP"},
    {"auto_multiprog_not_tried",
     [](PlanInput& in) {
         unknown(in);
         iface(in).coexist = config::Coexist::Multiprog;
         in.kernel.freplace.supported = Support::Yes;
     },
     Datapath::XdpGeneric, nullptr, false, false, nullptr, "native XDP is not assumed"},
    {"generic_pinned_not_tried", [](PlanInput& in) { unknown(in); pin(in, config::Datapath::XdpGeneric); },
     Datapath::XdpGeneric, nullptr, false, false, nullptr, nullptr},
    {"known_features_without_native_not_tried", [](PlanInput& in) { dev(in).xdp_features = 0; },
     Datapath::XdpGeneric, nullptr, false, false, nullptr, "no native XDP support"},
    {"known_veth_native_not_untested", [](PlanInput&) {}, Datapath::XdpNative, nullptr, false, false, nullptr,
     nullptr},
};

class UntestedNative : public ::testing::TestWithParam<UntestedCase> {};

TEST_P(UntestedNative, Decides) {
    const UntestedCase& c = GetParam();
    PlanInput in = base_input();
    c.setup(in);
    Plan plan = make_plan(in);
    std::string text = plan.diagnostics.to_text();
    for (const auto& p : plan.interfaces)
        for (const auto& k : p.considered)
            for (const auto& r : k.why_not) text += r + "\n";
    text += plan_to_text(plan, in);
    if (c.error_code) {
        EXPECT_FALSE(plan.accepted()) << text;
        EXPECT_TRUE(plan.diagnostics.contains(c.error_code)) << text;
    } else {
        ASSERT_TRUE(plan.accepted()) << text;
        ASSERT_EQ(plan.interfaces.size(), 1u);
        const InterfacePlan& p = plan.interfaces[0];
        EXPECT_EQ(datapath_name(p.datapath), datapath_name(c.expected)) << text;
        EXPECT_EQ(p.native_untested, c.native_untested) << text;
        EXPECT_EQ(p.generic_if_refused, c.generic_if_refused) << text;
        std::string json = plan_to_json(plan, in);
        EXPECT_NE(json.find(std::string(R"("native_untested":)") + (c.native_untested ? "true" : "false")),
                  std::string::npos) << json;
        if (c.warning_code) {
            EXPECT_TRUE(plan.diagnostics.contains(c.warning_code)) << text;
        } else {
            EXPECT_FALSE(plan.diagnostics.contains("XB4048")) << text;
        }
    }
    if (c.text_substring) {
        EXPECT_NE(text.find(c.text_substring), std::string::npos) << text;
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, UntestedNative, ::testing::ValuesIn(kUntestedCases),
                         [](const ::testing::TestParamInfo<UntestedCase>& i) { return std::string(i.param.name); });

// --- capture (engine_capture) -------------------------------------------------------------------

constexpr unsigned kCaptureLine = 9;

PlanInput engine_input() {
    PlanInput in = base_input();
    in.engine_capture = true;
    dev(in).rx_queues = 2;
    in.kernel.online_cpus = {0, 1, 2, 3};
    return in;
}

void capture(PlanInput& in, config::CaptureMethod m) {
    iface(in).capture.method = m;
    iface(in).origins["capture"] = {{"test.yaml", kCaptureLine, 7}, "xbypass.interfaces[0].capture"};
}

void set_map_type(PlanInput& in, const char* name, Support s) {
    for (auto& m : in.kernel.map_types)
        if (m.name == name) m.supported = s;
}

struct CaptureCase {
    const char* name;
    std::function<void(PlanInput&)> setup;
    const char* error_code;        // non-null: rejected with this code (pointing at `capture` for XB404x)
    Datapath datapath;             // when accepted
    Capture method;
    const char* program;
    uint32_t threads;
    bool zerocopy;
    const char* why_not_af_xdp;    // non-null: a reason in CapturePlan::why_not_af_xdp contains it; null: none
    const char* text;              // non-null: the error message, a note or a datapath reason contains it
};

using config::CaptureMethod;

const CaptureCase kCaptureCases[] = {
    // auto: the fastest datapath, then AF_XDP on it when possible.
    {"auto_native_veth_af_xdp_copy_mode", [](PlanInput&) {}, nullptr, Datapath::XdpNative, Capture::AfXdp,
     "xdp_ids_xsk", 2, false, nullptr, "copy mode: eth0 does not report xsk-zerocopy"},
    {"auto_native_zerocopy", [](PlanInput& in) { dev(in).xdp_features = kVeth | nd::XDP_ACT_XSK_ZEROCOPY; }, nullptr,
     Datapath::XdpNative, Capture::AfXdp, "xdp_ids_xsk", 2, true, nullptr, "zero-copy mode"},
    {"auto_generic_af_xdp_is_copy_mode_even_with_zerocopy_bit",
     [](PlanInput& in) { iface(in).datapath = config::Datapath::XdpGeneric; dev(in).xdp_features = kVeth | nd::XDP_ACT_XSK_ZEROCOPY; },
     nullptr, Datapath::XdpGeneric, Capture::AfXdp, "xdp_ids_xsk", 2, false, nullptr, "generic XDP copies"},
    {"auto_generic_only_device_af_xdp", [](PlanInput& in) { dev(in).xdp_features = 0; }, nullptr, Datapath::XdpGeneric,
     Capture::AfXdp, "xdp_ids_xsk", 2, false, nullptr, nullptr},
    {"auto_native_without_redirect_keeps_native_and_af_packet",
     [](PlanInput& in) { dev(in).xdp_features = nd::XDP_ACT_BASIC; }, nullptr, Datapath::XdpNative, Capture::AfPacket,
     "xdp_ids", 2, false, "lacks redirect, which redirecting misses into AF_XDP sockets needs", nullptr},
    // Packet sockets see frames before tc ingress: tc cannot hide a bypassed flow from the engine.
    {"pinned_tc_refused_for_an_engine", [](PlanInput& in) { iface(in).datapath = config::Datapath::Tc; }, "XB4050",
     Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "before tc ingress runs"},
    {"auto_tc_only_possible_refused_for_an_engine",
     [](PlanInput& in) {
         for (auto& p : in.kernel.prog_types)
             if (p.name == "xdp") p.supported = Support::No;
     },
     "XB4004", Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "before tc ingress runs"},
    {"auto_cpu_redirect_af_packet",
     [](PlanInput& in) { dev(in).xdp_features = kTap; iface(in).cpu_redirect.cpus = {0, 1}; }, nullptr,
     Datapath::XdpNative, Capture::AfPacket, "xdp_ids_cpu", 2, false, "a miss can go to one place only", nullptr},
    {"auto_custom_program_af_packet",
     [](PlanInput& in) {
         iface(in).custom_program = "/x/f.o";
         ProgramRequirements r;
         r.program = "/x/f.o";
         r.custom = true;
         in.custom["/x/f.o"] = {r};
     },
     nullptr, Datapath::XdpNative, Capture::AfPacket, "/x/f.o", 2, false, "custom program does not redirect", nullptr},
    {"auto_multiprog_af_packet",
     [](PlanInput& in) {
         in.kernel.freplace.supported = Support::Yes;
         iface(in).coexist = config::Coexist::Multiprog;
     },
     nullptr, Datapath::XdpNative, Capture::AfPacket, "xdp_ids", 2, false, "libxdp dispatcher", nullptr},
    {"auto_kernel_without_xskmap_af_packet", [](PlanInput& in) { set_map_type(in, "xskmap", Support::No); }, nullptr,
     Datapath::XdpNative, Capture::AfPacket, "xdp_ids", 2, false, "map type xskmap is not available (probe: no)",
     nullptr},
    {"auto_xskmap_not_probed_is_not_assumed",
     [](PlanInput& in) {
         auto& m = in.kernel.map_types;
         m.erase(std::remove_if(m.begin(), m.end(), [](const probe::Probed& p) { return p.name == "xskmap"; }), m.end());
     },
     nullptr, Datapath::XdpNative, Capture::AfPacket, "xdp_ids", 2, false, "xskmap is not available (probe: unknown)",
     nullptr},
    // Features unknown: native is tried for the plain program (basic XDP), but redirecting into AF_XDP
    // sockets needs redirect, which is not assumed: AF_PACKET on it.
    {"auto_native_unknown_features_tries_native_with_af_packet", [](PlanInput& in) { dev(in).xdp_features.reset(); },
     nullptr, Datapath::XdpNative, Capture::AfPacket, "xdp_ids", 2, false,
     "redirecting misses into AF_XDP sockets needs redirect", nullptr},
    {"af_xdp_unknown_features_goes_generic",
     [](PlanInput& in) { dev(in).xdp_features.reset(); capture(in, config::CaptureMethod::AfXdp); },
     nullptr, Datapath::XdpGeneric, Capture::AfXdp, "xdp_ids_xsk", 2, false, nullptr, nullptr},
    {"auto_threads_not_matching_queues_af_packet", [](PlanInput& in) { iface(in).threads = 3; }, nullptr,
     Datapath::XdpNative, Capture::AfPacket, "xdp_ids", 3, false, "threads is 3 and eth0 has 2 receive queues", nullptr},
    {"auto_threads_matching_queues_af_xdp", [](PlanInput& in) { iface(in).threads = 2; }, nullptr, Datapath::XdpNative,
     Capture::AfXdp, "xdp_ids_xsk", 2, false, nullptr, nullptr},
    {"auto_ips_pair_af_xdp",
     [](PlanInput& in) { dev(in).xdp_features = kTap; add_peer(in, kTap); }, nullptr, Datapath::XdpNative,
     Capture::AfXdp, "xdp_ips_xsk", 2, false, nullptr, nullptr},
    {"auto_no_xsk_variant_af_packet",
     [](PlanInput& in) {
         auto& b = in.builtin;
         b.erase(std::remove_if(b.begin(), b.end(), [](const ProgramRequirements& r) { return r.xsk_capture; }), b.end());
     },
     nullptr, Datapath::XdpNative, Capture::AfPacket, "xdp_ids", 2, false, "no built-in program redirects misses",
     nullptr},
    {"auto_bypass_off_af_packet", [](PlanInput& in) { iface(in).bypass = false; }, nullptr, Datapath::None,
     Capture::AfPacket, "", 2, false, "bypass is off", nullptr},
    {"auto_queues_unknown_one_socket",
     [](PlanInput& in) { dev(in).rx_queues = 0; }, nullptr, Datapath::XdpNative, Capture::AfXdp, "xdp_ids_xsk", 1,
     false, nullptr, "receive queue count of eth0 is unknown: taken as 1"},
    // af-packet: threads auto = min(queues, online CPUs).
    {"af_packet_threads_auto_limited_by_cpus",
     [](PlanInput& in) { capture(in, CaptureMethod::AfPacket); dev(in).rx_queues = 8; }, nullptr, Datapath::XdpNative,
     Capture::AfPacket, "xdp_ids", 4, false, nullptr, nullptr},
    {"af_packet_threads_auto_cpus_unknown_uses_queues",
     [](PlanInput& in) { capture(in, CaptureMethod::AfPacket); dev(in).rx_queues = 8; in.kernel.online_cpus.clear(); },
     nullptr, Datapath::XdpNative, Capture::AfPacket, "xdp_ids", 8, false, nullptr, nullptr},
    {"af_packet_threads_auto_queues_unknown_one",
     [](PlanInput& in) { capture(in, CaptureMethod::AfPacket); dev(in).rx_queues = 0; }, nullptr, Datapath::XdpNative,
     Capture::AfPacket, "xdp_ids", 1, false, nullptr, nullptr},
    {"af_packet_threads_explicit",
     [](PlanInput& in) { capture(in, CaptureMethod::AfPacket); iface(in).threads = 7; }, nullptr, Datapath::XdpNative,
     Capture::AfPacket, "xdp_ids", 7, false, nullptr, nullptr},
    {"af_packet_with_cpu_redirect_is_fine",
     [](PlanInput& in) { capture(in, CaptureMethod::AfPacket); dev(in).xdp_features = kTap; iface(in).cpu_redirect.cpus = {1}; },
     nullptr, Datapath::XdpNative, Capture::AfPacket, "xdp_ids_cpu", 2, false, nullptr, nullptr},
    // af-xdp asked for: the fastest XDP datapath the xsk variant works on, or a refusal at `capture`.
    {"af_xdp_native", [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); }, nullptr, Datapath::XdpNative,
     Capture::AfXdp, "xdp_ids_xsk", 2, false, nullptr, nullptr},
    {"af_xdp_native_zerocopy",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); dev(in).xdp_features = kTap | nd::XDP_ACT_XSK_ZEROCOPY; },
     nullptr, Datapath::XdpNative, Capture::AfXdp, "xdp_ids_xsk", 2, true, nullptr, "zero-copy"},
    {"af_xdp_without_redirect_goes_generic",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); dev(in).xdp_features = nd::XDP_ACT_BASIC; }, nullptr,
     Datapath::XdpGeneric, Capture::AfXdp, "xdp_ids_xsk", 2, false, nullptr,
     "lacks redirect, which redirecting misses into AF_XDP sockets needs"},
    {"af_xdp_pinned_native_without_redirect_rejected",
     [](PlanInput& in) {
         capture(in, CaptureMethod::AfXdp);
         dev(in).xdp_features = nd::XDP_ACT_BASIC;
         iface(in).datapath = config::Datapath::XdpNative;
     },
     "XB4002", Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "lacks redirect"},
    {"af_xdp_pinned_native_fallback_generic",
     [](PlanInput& in) {
         capture(in, CaptureMethod::AfXdp);
         dev(in).xdp_features = nd::XDP_ACT_BASIC;
         iface(in).datapath = config::Datapath::XdpNative;
         iface(in).on_unsupported = config::OnUnsupported::Fallback;
     },
     nullptr, Datapath::XdpGeneric, Capture::AfXdp, "xdp_ids_xsk", 2, false, nullptr, nullptr},
    {"af_xdp_threads_equal_queues",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); iface(in).threads = 2; }, nullptr, Datapath::XdpNative,
     Capture::AfXdp, "xdp_ids_xsk", 2, false, nullptr, nullptr},
    {"af_xdp_with_tc_rejected",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); iface(in).datapath = config::Datapath::Tc; }, "XB4040",
     Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "datapath is tc"},
    {"af_xdp_when_only_tc_works_rejected",
     [](PlanInput& in) {
         capture(in, CaptureMethod::AfXdp);
         for (auto& p : in.kernel.prog_types)
             if (p.name == "xdp") p.supported = Support::No;
     },
     "XB4040", Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "only tc could"},
    {"af_xdp_with_cpu_redirect_rejected",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); iface(in).cpu_redirect.cpus = {0}; }, "XB4041",
     Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "a miss can go to one place only"},
    {"af_xdp_with_custom_program_rejected",
     [](PlanInput& in) {
         capture(in, CaptureMethod::AfXdp);
         iface(in).custom_program = "/x/f.o";
         ProgramRequirements r;
         r.program = "/x/f.o";
         r.custom = true;
         in.custom["/x/f.o"] = {r};
     },
     "XB4042", Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "custom-program"},
    {"af_xdp_with_multiprog_rejected",
     [](PlanInput& in) {
         capture(in, CaptureMethod::AfXdp);
         in.kernel.freplace.supported = Support::Yes;
         iface(in).coexist = config::Coexist::Multiprog;
     },
     "XB4043", Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "XDP_PASS"},
    {"af_xdp_kernel_without_xskmap_rejected",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); set_map_type(in, "xskmap", Support::No); }, "XB4044",
     Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "xskmap is not available (probe: no)"},
    {"af_xdp_more_threads_than_queues_rejected",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); iface(in).threads = 4; }, "XB4045", Datapath::None,
     Capture::AfPacket, "", 0, false, nullptr, "2 thread(s) would have no queue"},
    {"af_xdp_threads_with_unknown_queues_rejected",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); iface(in).threads = 2; dev(in).rx_queues = 0; }, "XB4045",
     Datapath::None, Capture::AfPacket, "", 0, false, nullptr, "queue count is unknown, taken as 1"},
    {"af_xdp_fewer_threads_than_queues_rejected",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); iface(in).threads = 1; }, "XB4046", Datapath::None,
     Capture::AfPacket, "", 0, false, nullptr, "`ethtool -L eth0 combined 1`"},
    {"af_xdp_bypass_off_rejected",
     [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); iface(in).bypass = false; }, "XB4047", Datapath::None,
     Capture::AfPacket, "", 0, false, nullptr, "bypass is off"},
    {"af_xdp_ips_pair", [](PlanInput& in) { capture(in, CaptureMethod::AfXdp); dev(in).xdp_features = kTap; add_peer(in, kTap); },
     nullptr, Datapath::XdpNative, Capture::AfXdp, "xdp_ips_xsk", 2, false, nullptr, nullptr},
};

class CaptureTable : public ::testing::TestWithParam<CaptureCase> {};

TEST_P(CaptureTable, Decides) {
    const CaptureCase& c = GetParam();
    PlanInput in = engine_input();
    c.setup(in);
    Plan plan = make_plan(in);
    std::string diags = plan.diagnostics.to_text();
    std::string all = diags;
    for (const auto& p : plan.interfaces) {
        for (const auto& k : p.considered)
            for (const auto& r : k.why_not) all += r + "\n";
        for (const auto& n : p.notes) all += n + "\n";
    }
    for (const auto& d : plan.diagnostics) all += d.hint + "\n";
    if (c.text) {
        EXPECT_NE(all.find(c.text), std::string::npos) << all;
    }
    if (c.error_code) {
        EXPECT_FALSE(plan.accepted()) << diags;
        EXPECT_TRUE(plan.diagnostics.contains(c.error_code)) << "expected " << c.error_code << ", got:\n" << diags;
        EXPECT_TRUE(plan.interfaces.empty());
        for (const auto& d : plan.diagnostics) {
            if (d.code.rfind("XB404", 0) != 0) continue;
            EXPECT_EQ(d.location.line, kCaptureLine) << d.to_text();
            EXPECT_EQ(d.key_path, "xbypass.interfaces[0].capture") << d.to_text();
            EXPECT_FALSE(d.hint.empty());
        }
        return;
    }
    ASSERT_TRUE(plan.accepted()) << diags;
    ASSERT_EQ(plan.interfaces.size(), 1u);
    const InterfacePlan& p = plan.interfaces[0];
    std::string text = plan_to_text(plan, in);
    EXPECT_EQ(datapath_name(p.datapath), datapath_name(c.datapath)) << text;
    EXPECT_EQ(capture_name(p.capture.method), capture_name(c.method)) << text;
    EXPECT_EQ(p.program, c.program) << text;
    EXPECT_EQ(p.capture.threads, c.threads) << text;
    EXPECT_EQ(p.capture.zerocopy, c.zerocopy) << text;
    EXPECT_EQ(p.capture.requested, iface(in).capture.method);
    if (c.why_not_af_xdp) {
        std::string why;
        for (const auto& r : p.capture.why_not_af_xdp) why += r + "\n";
        EXPECT_NE(why.find(c.why_not_af_xdp), std::string::npos) << why;
        EXPECT_NE(text.find("    af-xdp: not possible: "), std::string::npos) << text;
    } else {
        EXPECT_TRUE(p.capture.why_not_af_xdp.empty()) << p.capture.why_not_af_xdp.front();
        EXPECT_EQ(text.find("af-xdp: not possible"), std::string::npos) << text;
    }
    EXPECT_NE(text.find("  capture: " + std::string(capture_name(c.method))), std::string::npos) << text;
    // AF_XDP always runs the xsk variant, AF_PACKET never.
    EXPECT_EQ(p.program.find("_xsk") != std::string::npos, p.capture.method == Capture::AfXdp) << p.program;
}

INSTANTIATE_TEST_SUITE_P(Cases, CaptureTable, ::testing::ValuesIn(kCaptureCases),
                         [](const ::testing::TestParamInfo<CaptureCase>& i) { return std::string(i.param.name); });

TEST(Capture, EveryReasonOnceWhenSeveralRuleAfXdpOut) {
    PlanInput in = engine_input();
    set_map_type(in, "xskmap", Support::No);
    iface(in).threads = 5;
    Plan plan = make_plan(in);
    ASSERT_TRUE(plan.accepted()) << plan.diagnostics.to_text();
    const auto& why = plan.interfaces[0].capture.why_not_af_xdp;
    // xskmap (said once, though the xsk variant needs it too) and the threads.
    ASSERT_EQ(why.size(), 2u) << plan_to_text(plan, in);
    EXPECT_EQ(why[0], "map type xskmap is not available (probe: no)");
    EXPECT_NE(why[1].find("threads is 5"), std::string::npos);
}

TEST(Capture, RingAndFanoutCopiedFromTheConfig) {
    PlanInput in = engine_input();
    capture(in, CaptureMethod::AfPacket);
    iface(in).capture.ring_size = 4096;
    iface(in).capture.block_size = 65536;
    iface(in).capture.cluster_id = 42;
    iface(in).capture.cluster_type = "cluster_qm";
    iface(in).capture.block_timeout_ms = 25;
    Plan plan = make_plan(in);
    ASSERT_TRUE(plan.accepted()) << plan.diagnostics.to_text();
    const CapturePlan& c = plan.interfaces[0].capture;
    EXPECT_EQ(c.ring_size, 4096u);
    EXPECT_EQ(c.block_size, 65536u);
    EXPECT_EQ(c.cluster_id, 42u);
    EXPECT_EQ(c.cluster_type, "cluster_qm");
    EXPECT_EQ(c.block_timeout_ms, 25u);
    EXPECT_EQ(c.rx_queues, 2u);
    std::string text = plan_to_text(plan, in);
    EXPECT_NE(text.find("  capture: af-packet (requested af-packet), 2 threads (receive queues: 2), fanout group 42 "
                        "cluster_qm, rings of 4096 frames in blocks of 65536 bytes, block-timeout 25 ms\n"),
              std::string::npos)
        << text;
    std::string json = plan_to_json(plan, in);
    EXPECT_NE(json.find(R"("capture":{"method":"af-packet","requested":"af-packet","threads":2,"rx_queues":2,)"
                        R"("zerocopy":false,"ring_size":4096,"block_size":65536,"block_timeout_ms":25,"cluster_id":42,)"
                        R"("cluster_type":"cluster_qm","why_not_af_xdp":[]})"),
              std::string::npos)
        << json;
}

TEST(Capture, TextAndJsonSayWhyNotAfXdp) {
    PlanInput in = engine_input();
    dev(in).xdp_features = nd::XDP_ACT_BASIC;
    Plan plan = make_plan(in);
    ASSERT_TRUE(plan.accepted()) << plan.diagnostics.to_text();
    std::string text = plan_to_text(plan, in);
    EXPECT_NE(text.find("  capture: af-packet (requested auto), 2 threads"), std::string::npos) << text;
    EXPECT_NE(text.find("    af-xdp: not possible: eth0 lacks redirect"), std::string::npos) << text;
    std::string json = plan_to_json(plan, in);
    EXPECT_NE(json.find(R"("why_not_af_xdp":["eth0 lacks redirect)"), std::string::npos) << json;
}

TEST(Capture, TextOfAnAfXdpPlan) {
    PlanInput in = engine_input();
    dev(in).rx_queues = 4;
    dev(in).xdp_features = kVeth | nd::XDP_ACT_XSK_ZEROCOPY;
    Plan plan = make_plan(in);
    ASSERT_TRUE(plan.accepted()) << plan.diagnostics.to_text();
    std::string text = plan_to_text(plan, in);
    EXPECT_NE(text.find("  chosen: xdp-native, program xdp_ids_xsk\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  capture: af-xdp (requested auto), 4 threads on queues 0-3 (receive queues: 4), zero-copy, "
                        "rings of 2048 frames, block-timeout 10 ms\n"),
              std::string::npos)
        << text;
    std::string json = plan_to_json(plan, in);
    EXPECT_NE(json.find(R"("method":"af-xdp","requested":"auto","threads":4,"rx_queues":4,"zerocopy":true)"),
              std::string::npos)
        << json;
}

TEST(Capture, WithoutAnEngineNothingAboutCaptureIsPlannedOrRefused) {
    // The same input that an engine would have refused (XB4041): `xbypass run` plans as before.
    PlanInput in = engine_input();
    in.engine_capture = false;
    capture(in, CaptureMethod::AfXdp);
    dev(in).xdp_features = kTap;
    iface(in).cpu_redirect.cpus = {0};
    Plan plan = make_plan(in);
    ASSERT_TRUE(plan.accepted()) << plan.diagnostics.to_text();
    EXPECT_EQ(plan.interfaces[0].program, "xdp_ids_cpu");
    EXPECT_EQ(plan_to_text(plan, in).find("capture"), std::string::npos);
    EXPECT_EQ(plan_to_json(plan, in).find("\"capture\""), std::string::npos);
    in.engine_capture = true;
    EXPECT_TRUE(make_plan(in).diagnostics.contains("XB4041"));
}

TEST(Capture, SeveralRefusalsAreAllReported) {
    PlanInput in = engine_input();
    capture(in, CaptureMethod::AfXdp);
    iface(in).cpu_redirect.cpus = {0};
    iface(in).datapath = config::Datapath::Tc;
    iface(in).threads = 1;
    Plan plan = make_plan(in);
    EXPECT_FALSE(plan.accepted());
    EXPECT_TRUE(plan.diagnostics.contains("XB4040"));
    EXPECT_TRUE(plan.diagnostics.contains("XB4041"));
    EXPECT_TRUE(plan.diagnostics.contains("XB4046"));
}

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
