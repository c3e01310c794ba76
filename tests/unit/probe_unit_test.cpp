// Pure parts of the probe: parsers, names, JSON and text rendering, the planner-facing helpers.
#include <gtest/gtest.h>

#include "common/netdev_uapi.h"
#include "probe/capabilities.h"
#include "probe/render.h"

namespace xb::probe {
namespace {

TEST(ParseCpuList, Table) {
    struct Case {
        const char* text;
        std::optional<std::vector<unsigned>> want;
    } cases[] = {
        {"0-1\n", std::vector<unsigned>{0, 1}},
        {"0", std::vector<unsigned>{0}},
        {"0-3,8,10-11", std::vector<unsigned>{0, 1, 2, 3, 8, 10, 11}},
        {"", std::vector<unsigned>{}},
        {"5-5", std::vector<unsigned>{5}},
        {"3-1", std::nullopt},
        {"a", std::nullopt},
        {"1,", std::nullopt},
        {"1-", std::nullopt},
        {"-1", std::nullopt},
        {"1,,2", std::nullopt},
        {"0-4294967295", std::nullopt},
    };
    for (const auto& c : cases) EXPECT_EQ(parse_cpu_list(c.text), c.want) << "input '" << c.text << "'";
}

TEST(ParseLockdown, Table) {
    EXPECT_EQ(parse_lockdown("none [integrity] confidentiality\n"), "integrity");
    EXPECT_EQ(parse_lockdown("[none] integrity confidentiality\n"), "none");
    EXPECT_EQ(parse_lockdown("none integrity [confidentiality]"), "confidentiality");
    EXPECT_EQ(parse_lockdown("none integrity"), std::nullopt);
    EXPECT_EQ(parse_lockdown("[]"), std::nullopt);
    EXPECT_EQ(parse_lockdown(""), std::nullopt);
}

TEST(Names, KernelSpelling) {
    EXPECT_EQ(support_name(Support::Yes), "yes");
    EXPECT_EQ(support_name(Support::No), "no");
    EXPECT_EQ(support_name(Support::Unknown), "unknown");
    EXPECT_EQ(xdp_attach_mode_name(XdpAttachMode::Generic), "generic");
    EXPECT_EQ(xdp_attach_mode_name(XdpAttachMode::Native), "native");
    EXPECT_EQ(xdp_attach_mode_name(XdpAttachMode::Offload), "offload");
    EXPECT_EQ(attached_via_name(AttachedVia::BpfLink), "bpf-link");
    EXPECT_EQ(attached_via_name(AttachedVia::Netlink), "netlink");
    EXPECT_EQ(oper_state_name(OperState::Up), "up");
    EXPECT_EQ(oper_state_name(OperState::LowerLayerDown), "lowerlayerdown");
    EXPECT_EQ(oper_state_name(static_cast<OperState>(200)), "unknown");
}

TEST(XdpFeatureNames, Table) {
    using V = std::vector<std::string>;
    struct Case {
        uint64_t bits;
        V want;
    } cases[] = {
        {0, V{}},
        {0x23, V{"basic", "redirect", "rx-sg"}},  // veth
        {0x7, V{"basic", "redirect", "ndo-xmit"}},  // tap
        {0x7f, V{"basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload", "rx-sg", "ndo-xmit-sg"}},
        {0x101, V{"basic", "0x100"}},  // a bit newer than this build is shown, not dropped
    };
    for (const auto& c : cases) EXPECT_EQ(xdp_feature_names(c.bits), c.want) << std::hex << c.bits;
    EXPECT_EQ(xdp_rx_metadata_names(7), (V{"timestamp", "hash", "vlan-tag"}));
}

InterfaceCaps sample_veth() {
    InterfaceCaps c;
    c.name = "veth0";
    c.ifindex = 5;
    c.exists = true;
    c.kind = "veth";
    c.driver = "veth";
    c.xdp_features = 0x23;
    c.xdp_zc_max_segs = 1;
    c.xdp_rx_metadata_features = 0x6;
    c.rx_queues = 2;
    c.tx_queues = 2;
    c.mtu = 1500;
    c.oper_state = OperState::Up;
    c.gro = false;
    c.veth_peer = VethPeer{4, 7, "veth1"};
    c.xdp.push_back({XdpAttachMode::Native, 42, "xdp_pass", AttachedVia::BpfLink, 9, false});
    c.clsact = Support::Yes;
    c.tc_filters.push_back({TcDirection::Egress, 1, 3, 1, "bpf", 43, "tc_pass", "tc.o:[tc]", true});
    c.tcx = Support::Yes;
    c.tcx_programs.push_back({TcDirection::Ingress, 44, "tcx_in", 10});
    return c;
}

TEST(RenderJson, InterfaceHasEveryFieldTheDocPromises) {
    EXPECT_EQ(interface_to_json(sample_veth()),
              R"({"name":"veth0","ifindex":5,"exists":true,"kind":"veth","driver":"veth",)"
              R"("xdp_features":35,"xdp_features_names":["basic","redirect","rx-sg"],"xdp_zc_max_segs":1,)"
              R"("xdp_rx_metadata_features":6,"xdp_rx_metadata_features_names":["hash","vlan-tag"],)"
              R"("rx_queues":2,"tx_queues":2,"mtu":1500,"oper_state":"up","gro":false,)"
              R"("veth_peer":{"ifindex":4,"netnsid":7,"name":"veth1"},)"
              R"("xdp":[{"mode":"native","prog_id":42,"prog_name":"xdp_pass","attached_via":"bpf-link",)"
              R"("link_id":9,"libxdp_dispatcher":false}],"clsact":"yes",)"
              R"("tc_filters":[{"direction":"egress","priority":1,"protocol":3,"handle":1,"kind":"bpf",)"
              R"("prog_id":43,"prog_name":"tc_pass","tc_name":"tc.o:[tc]","direct_action":true}],)"
              R"("tcx":"yes","tcx_programs":[{"direction":"ingress","prog_id":44,"prog_name":"tcx_in","link_id":10}],)"
              R"("notes":[]})");
}

TEST(RenderJson, UnknownIsNullNeverZero) {
    InterfaceCaps c;
    c.name = "eth9";
    c.ifindex = 2;
    c.exists = true;
    c.notes.push_back({"XB2002", Severity::Warning, {}, "", "XDP features of eth9 are unknown", "use Linux 6.3"});
    std::string j = interface_to_json(c);
    EXPECT_NE(j.find(R"("driver":null)"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("xdp_features":null,"xdp_features_names":null)"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("gro":null)"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("veth_peer":null)"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("clsact":"unknown")"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("notes":[{"code":"XB2002")"), std::string::npos) << j;
}

TEST(RenderJson, KernelObject) {
    KernelCaps k;
    k.release = "6.18.0";
    k.prog_types = {{"xdp", Support::Yes, 0}};
    k.map_types = {{"cpumap", Support::Yes, 0}, {"xskmap", Support::Unknown, 1}};
    k.helpers = {{"xdp", "bpf_redirect_map", Support::Yes}, {"sched_cls", "bpf_redirect", Support::No}};
    k.xdp_link.supported = Support::Yes;
    k.bpffs = "/sys/fs/bpf";
    k.vmlinux_btf = Support::Yes;
    k.freplace = {"freplace", Support::No, 1};
    k.freplace_error = "refused";
    k.online_cpus = {0, 1};
    EXPECT_EQ(kernel_to_json(k),
              R"({"release":"6.18.0","prog_types":{"xdp":"yes"},"map_types":{"cpumap":"yes","xskmap":"unknown"},)"
              R"("helpers":{"xdp":{"bpf_redirect_map":"yes"},"sched_cls":{"bpf_redirect":"no"}},)"
              R"("xdp_link":"yes","bpffs":"/sys/fs/bpf","tracefs":null,"vmlinux_btf":"yes",)"
              R"("freplace":{"loadable":"no","errno":1,"error":"refused"},"online_cpus":[0,1],"lockdown":null,)"
              R"("notes":[]})");
    std::string report = report_to_json(&k, {sample_veth()});
    EXPECT_EQ(report.rfind(R"({"kernel":{"release":"6.18.0")", 0), 0u) << report;
    EXPECT_NE(report.find(R"(,"interfaces":[{"name":"veth0")"), std::string::npos) << report;
    EXPECT_EQ(report_to_json(nullptr, {}), R"({"interfaces":[]})");
}

TEST(RenderText, TableRowsAndAttachments) {
    InterfaceCaps unknown;
    unknown.name = "old0";
    unknown.exists = true;
    std::string t = interfaces_to_text({sample_veth(), unknown});
    EXPECT_NE(t.find("INTERFACE"), std::string::npos);
    EXPECT_NE(t.find("0x23 basic,redirect,rx-sg"), std::string::npos) << t;
    EXPECT_NE(t.find("veth peer: veth1 (ifindex 4, netnsid 7)"), std::string::npos) << t;
    EXPECT_NE(t.find("xdp native  prog 42"), std::string::npos) << t;
    EXPECT_NE(t.find("via bpf-link (link 9)"), std::string::npos) << t;
    EXPECT_NE(t.find("tc egress  pref 1"), std::string::npos) << t;
    EXPECT_NE(t.find("prog 43 tc_pass (tc.o:[tc]) direct-action"), std::string::npos) << t;
    EXPECT_NE(t.find("tcx ingress prog 44 tcx_in via bpf-link (link 10)"), std::string::npos) << t;
    // Unknown features say so; zero features say "none".
    EXPECT_NE(t.find("old0"), std::string::npos);
    EXPECT_NE(t.find("unknown"), std::string::npos);
    InterfaceCaps none = unknown;
    none.xdp_features = 0;
    EXPECT_NE(interfaces_to_text({none}).find("none (generic only)"), std::string::npos);
}

TEST(RenderSummary, OneLogLinePerInterfaceAndKernel) {
    EXPECT_EQ(interface_summary(sample_veth()),
              "veth0: driver veth, xdp-features 0x23 (basic,redirect,rx-sg), mtu 1500, queues 2/2, up, gro off, "
              "veth peer veth1, xdp native prog 42 xdp_pass via bpf-link, clsact yes (1 filters, 1 bpf), tcx 1 programs");
    InterfaceCaps old;
    old.name = "eth0";
    EXPECT_EQ(interface_summary(old),
              "eth0: driver -, xdp-features unknown, mtu 0, queues 0/0, unknown, gro unknown, clsact unknown");
    KernelCaps k;
    k.release = "6.18.0";
    k.prog_types = {{"xdp", Support::Yes, 0}};
    k.map_types = {{"cpumap", Support::Yes, 0}};
    k.xdp_link.supported = Support::Yes;
    k.freplace = {"freplace", Support::No, 1};
    k.bpffs = "/sys/fs/bpf";
    k.vmlinux_btf = Support::Yes;
    k.online_cpus = {0, 1};
    EXPECT_EQ(kernel_summary(k), "kernel 6.18.0: xdp yes, xdp-link yes, cpumap yes, freplace no (errno 1), "
                                 "bpffs /sys/fs/bpf, tracefs none, btf yes, cpus 2");
}

TEST(InterfaceCaps, FeatureQueryIsTriState) {
    InterfaceCaps c;
    EXPECT_EQ(c.has_xdp_feature(netdev::XDP_ACT_REDIRECT), Support::Unknown);
    c.xdp_features = 0x23;
    EXPECT_EQ(c.has_xdp_feature(netdev::XDP_ACT_REDIRECT), Support::Yes);
    EXPECT_EQ(c.has_xdp_feature(netdev::XDP_ACT_NDO_XMIT), Support::No);
    c.xdp.push_back({XdpAttachMode::Generic, 3, "p", AttachedVia::Netlink, 0, false});
    ASSERT_NE(c.xdp_in_mode(XdpAttachMode::Generic), nullptr);
    EXPECT_EQ(c.xdp_in_mode(XdpAttachMode::Generic)->prog_id, 3u);
    EXPECT_EQ(c.xdp_in_mode(XdpAttachMode::Native), nullptr);
}

TEST(KernelCaps, Lookups) {
    KernelCaps k;
    k.map_types = {{"cpumap", Support::Yes, 0}};
    k.helpers = {{"xdp", "bpf_redirect_map", Support::No}};
    ASSERT_NE(k.map_type("cpumap"), nullptr);
    EXPECT_EQ(k.map_type("cpumap")->supported, Support::Yes);
    EXPECT_EQ(k.map_type("devmap"), nullptr);
    EXPECT_EQ(k.helper("xdp", "bpf_redirect_map"), Support::No);
    EXPECT_EQ(k.helper("xdp", "bpf_other"), Support::Unknown);
}

}  // namespace
}  // namespace xb::probe
