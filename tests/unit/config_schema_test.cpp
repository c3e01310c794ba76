// Schema validation and the model: CPU lists, suggestions, defaults, af-packet mapping, origins.
#include <gtest/gtest.h>

#include "config/config.h"
#include "config/schema.h"

namespace xb::config {
namespace {

LoadedConfig load(std::string_view text) {
    LoadOptions o;
    o.inspect_custom_programs = false;
    return load_config_string(text, "t.yaml", o);
}

struct CpuCase {
    const char* text;
    bool ok;
    bool all;
    std::vector<unsigned> cpus;
    const char* code;  // on failure
    size_t offset;     // on failure
    std::vector<unsigned> duplicates;
};

TEST(CpuList, Table) {
    const std::vector<CpuCase> cases = {
        {"0-3", true, false, {0, 1, 2, 3}, "", 0, {}},
        {"1,3-5", true, false, {1, 3, 4, 5}, "", 0, {}},
        {" 2 ", true, false, {2}, "", 0, {}},
        {"7, 1 - 2", true, false, {1, 2, 7}, "", 0, {}},
        {"all", true, true, {}, "", 0, {}},
        {"ALL", true, true, {}, "", 0, {}},
        {"none", true, false, {}, "", 0, {}},
        {"0-3,2", true, false, {0, 1, 2, 3}, "", 0, {2}},
        {"8191", true, false, {8191}, "", 0, {}},
        {"", false, false, {}, "XB1111", 0, {}},
        {"1,,2", false, false, {}, "XB1111", 2, {}},
        {"1,", false, false, {}, "XB1111", 2, {}},
        {"a", false, false, {}, "XB1111", 0, {}},
        {"1-", false, false, {}, "XB1111", 2, {}},
        {"-3", false, false, {}, "XB1111", 0, {}},
        {"0x2", false, false, {}, "XB1111", 0, {}},
        {"1,all", false, false, {}, "XB1111", 2, {}},
        {"5-2", false, false, {}, "XB1112", 0, {}},
        {"1,7-3", false, false, {}, "XB1112", 2, {}},
        {"8192", false, false, {}, "XB1113", 0, {}},
        {"0-99999999999999999999", false, false, {}, "XB1113", 2, {}},
    };
    for (const auto& c : cases) {
        CpuList out;
        std::vector<unsigned> dups;
        CpuListError err;
        bool ok = parse_cpu_list_text(c.text, &out, &dups, &err);
        EXPECT_EQ(ok, c.ok) << "'" << c.text << "': " << err.message;
        if (ok) {
            EXPECT_EQ(out.all, c.all) << c.text;
            EXPECT_EQ(out.cpus, c.cpus) << c.text;
            EXPECT_EQ(dups, c.duplicates) << c.text;
        } else {
            EXPECT_EQ(err.code, c.code) << c.text;
            EXPECT_EQ(err.offset, c.offset) << c.text;
            EXPECT_FALSE(err.message.empty());
        }
    }
}

TEST(Suggest, ClosestKeyWithinDistance) {
    std::vector<std::string_view> keys = {"cpu-redirect", "datapath", "coexist", "threads"};
    EXPECT_EQ(suggest("cpu-redirct", keys), "cpu-redirect");
    EXPECT_EQ(suggest("data-path", keys), "datapath");
    EXPECT_EQ(suggest("Threads", keys), "threads");
    EXPECT_EQ(suggest("completely-different", keys), "");
    EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
    EXPECT_EQ(edit_distance("", "abc"), 3u);
}

TEST(Model, DefaultsForAMinimalInterface) {
    auto l = load("xbypass:\n  interfaces:\n    - interface: eth0\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    const Config& c = l.config;
    EXPECT_EQ(c.source, ConfigSource::Xbypass);
    EXPECT_EQ(c.global.log_level, LogLevel::Notice);
    EXPECT_EQ(c.global.pin_path, "/sys/fs/bpf/xbypass");
    EXPECT_EQ(c.global.stats_interval, 8u);
    ASSERT_EQ(c.interfaces.size(), 1u);
    const InterfaceConfig& i = c.interfaces[0];
    EXPECT_EQ(i.name, "eth0");
    EXPECT_TRUE(i.bypass);
    EXPECT_EQ(i.datapath, Datapath::Auto);
    EXPECT_EQ(i.on_unsupported, OnUnsupported::Reject);
    EXPECT_FALSE(i.cpu_redirect.enabled());
    EXPECT_EQ(i.flow_table.size, 65536u);
    EXPECT_EQ(i.flow_table.timeout, 60u);
    EXPECT_TRUE(i.flow_table.percpu);
    EXPECT_TRUE(i.flow_table.lru);
    EXPECT_TRUE(i.vlan_tracking);
    EXPECT_EQ(i.coexist, Coexist::Refuse);
    EXPECT_EQ(i.threads, kThreadsAuto);
    EXPECT_EQ(i.origin_of("datapath"), nullptr);
    EXPECT_EQ(i.origin.location.line, 3u);
    EXPECT_EQ(i.location_of("datapath").line, 3u);
}

TEST(Model, EveryKeyReadWithItsOrigin) {
    auto l = load(
        "xbypass:\n"
        "  log-level: debug\n"
        "  log-file: /var/log/xbypass.log\n"
        "  stats-interval: 0\n"
        "  pin-path: /sys/fs/bpf/t\n"
        "  eve-log: /var/log/eve.json\n"
        "  interfaces:\n"
        "    - interface: veth0\n"
        "      bypass: off\n"
        "      datapath: XDP-Generic\n"
        "      on-unsupported: fallback\n"
        "      cpu-redirect: [3, \"0-1\"]\n"
        "      flow-table: {size: 1024, timeout: 30, percpu: no, lru: false}\n"
        "      vlan-tracking: no\n"
        "      ips-peer: veth1\n"
        "      coexist: multiprog\n"
        "      pinned-maps: yes\n"
        "      pinned-maps-name: flows\n"
        "      threads: 2\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    const GlobalConfig& g = l.config.global;
    EXPECT_EQ(g.log_level, LogLevel::Debug);
    EXPECT_EQ(g.log_file, "/var/log/xbypass.log");
    EXPECT_EQ(g.stats_interval, 0u);
    EXPECT_EQ(g.pin_path, "/sys/fs/bpf/t");
    EXPECT_EQ(g.eve_log, "/var/log/eve.json");
    EXPECT_EQ(g.origins.at("pin-path").location.line, 5u);
    const InterfaceConfig& i = l.config.interfaces.at(0);
    EXPECT_FALSE(i.bypass);
    EXPECT_EQ(i.datapath, Datapath::XdpGeneric);
    EXPECT_EQ(i.on_unsupported, OnUnsupported::Fallback);
    EXPECT_EQ(i.cpu_redirect.cpus, (std::vector<unsigned>{0, 1, 3}));
    EXPECT_EQ(i.flow_table.size, 1024u);
    EXPECT_EQ(i.flow_table.timeout, 30u);
    EXPECT_FALSE(i.flow_table.percpu);
    EXPECT_FALSE(i.flow_table.lru);
    EXPECT_FALSE(i.vlan_tracking);
    EXPECT_EQ(i.ips_peer, "veth1");
    EXPECT_EQ(i.coexist, Coexist::Multiprog);
    EXPECT_TRUE(i.pinned_maps);
    EXPECT_EQ(i.pinned_maps_name, "flows");
    EXPECT_EQ(i.threads, 2u);
    ASSERT_TRUE(i.origin_of("cpu-redirect"));
    EXPECT_EQ(i.origin_of("cpu-redirect")->location.line, 12u);
    EXPECT_EQ(i.origin_of("cpu-redirect")->key_path, "xbypass.interfaces[0].cpu-redirect");
    ASSERT_TRUE(i.origin_of("flow-table.timeout"));
    EXPECT_EQ(i.origin_of("flow-table.timeout")->key_path, "xbypass.interfaces[0].flow-table.timeout");
}

TEST(Model, AfPacketMapsOntoTheModelWithDefaults) {
    auto l = load(
        "%YAML 1.1\n"
        "---\n"
        "outputs: []\n"
        "af-packet:\n"
        "  - interface: eth0\n"
        "    xdp-mode: driver\n"
        "    copy-mode: ips\n"
        "    copy-iface: eth1\n"
        "  - interface: eth1\n"
        "    xdp-mode: soft\n"
        "    copy-mode: ips\n"
        "    copy-iface: eth0\n"
        "    use-percpu-hash: no\n"
        "    bypass: no\n"  // not the Suricata mode, where use-percpu-hash: no is refused (XB1212)
        "    cluster-id: 98\n"
        "  - interface: default\n"
        "    bypass: yes\n"
        "    xdp-cpu-redirect: [\"1-2\"]\n"
        "    xdp-filter-file: /nonexistent/xdp_filter.bpf\n"
        "    pinned-maps: true\n"
        "    pinned-maps-name: pinned\n"
        "    threads: auto\n"
        "    cluster-type: cluster_qm\n"
        "    ring-size: 4096\n"
        "    block-size: 65536\n"
        "    block-timeout: 40\n"
        "    tpacket-v3: yes\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    EXPECT_EQ(l.config.source, ConfigSource::AfPacket);
    ASSERT_EQ(l.config.interfaces.size(), 2u);
    const InterfaceConfig& a = l.config.interfaces[0];
    const InterfaceConfig& b = l.config.interfaces[1];
    EXPECT_EQ(a.name, "eth0");
    EXPECT_EQ(a.datapath, Datapath::XdpNative);
    EXPECT_EQ(b.datapath, Datapath::XdpGeneric);
    EXPECT_EQ(a.ips_peer, "eth1");
    EXPECT_EQ(b.ips_peer, "eth0");
    EXPECT_TRUE(a.bypass);
    EXPECT_EQ(a.cpu_redirect.cpus, (std::vector<unsigned>{1, 2}));
    // bypass + pinned-maps: the Suricata mode, where xbypass runs its own programs on Suricata's maps
    // and the entry's xdp-filter-file is not used (XB1213, a note).
    EXPECT_TRUE(a.suricata_maps);
    EXPECT_TRUE(a.custom_program.empty());
    EXPECT_TRUE(l.diagnostics.contains("XB1213")) << l.diagnostics.to_text();
    EXPECT_TRUE(a.pinned_maps);
    EXPECT_EQ(a.pinned_maps_name, "pinned");
    EXPECT_TRUE(a.flow_table.percpu);
    EXPECT_FALSE(b.flow_table.percpu);
    // Origins name the af-packet key the value came from, in the default entry when inherited.
    EXPECT_EQ(a.origin_of("datapath")->key_path, "af-packet[0].xdp-mode");
    EXPECT_EQ(a.origin_of("cpu-redirect")->key_path, "af-packet[2].xdp-cpu-redirect");
    EXPECT_EQ(a.origin_of("cpu-redirect")->location.line, 18u);
    EXPECT_EQ(a.origin_of("ips-peer")->key_path, "af-packet[0].copy-iface");
    EXPECT_EQ(b.origin_of("flow-table.percpu")->key_path, "af-packet[1].use-percpu-hash");
    EXPECT_EQ(l.config.find("eth1"), &b);
    EXPECT_EQ(l.config.find("eth2"), nullptr);
    // The capture keys are used: an af-packet entry is captured with AF_PACKET, its ring keys
    // inherited from the default entry like the others.
    EXPECT_EQ(a.capture.method, CaptureMethod::AfPacket);
    EXPECT_EQ(b.capture.method, CaptureMethod::AfPacket);
    EXPECT_EQ(a.capture.cluster_type, "cluster_qm");
    EXPECT_EQ(a.capture.ring_size, 4096u);
    EXPECT_EQ(a.origin_of("ring-size")->key_path, "af-packet[2].ring-size");
    EXPECT_EQ(a.capture.block_size, 65536u);
    EXPECT_EQ(a.capture.block_timeout_ms, 40u);
    EXPECT_EQ(b.capture.block_timeout_ms, 40u);
    EXPECT_EQ(a.origin_of("block-timeout")->key_path, "af-packet[2].block-timeout");
    // cluster-id 98 is taken by eth1, so eth0 (without one) gets 99 and nothing collides.
    EXPECT_EQ(b.capture.cluster_id, 98u);
    EXPECT_EQ(a.capture.cluster_id, 99u);
    // tpacket-v3 is understood as a Suricata key and reported as not used; so is the filter file
    // (XB1213, above): two notes.
    ASSERT_TRUE(l.diagnostics.contains("XB1200"));
    EXPECT_EQ(l.diagnostics.count(Severity::Info), 2u);
}

TEST(Model, AfPacketBypassIsOffUnlessAskedFor) {
    auto l = load("af-packet:\n  - interface: eth0\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    EXPECT_FALSE(l.config.interfaces.at(0).bypass);
    EXPECT_EQ(l.config.interfaces.at(0).datapath, Datapath::Auto);
}

TEST(Model, AfPacketHwModeMapsToOffload) {
    auto l = load("af-packet:\n  - interface: eth0\n    xdp-mode: hw\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    EXPECT_EQ(l.config.interfaces.at(0).datapath, Datapath::Offload);
}

TEST(Model, XbypassWinsOverAfPacketWithAWarning) {
    auto l = load("af-packet:\n  - interface: eth9\nxbypass:\n  interfaces:\n    - interface: eth0\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    ASSERT_EQ(l.config.interfaces.size(), 1u);
    EXPECT_EQ(l.config.interfaces[0].name, "eth0");
    ASSERT_EQ(l.diagnostics.size(), 1u);
    EXPECT_EQ(l.diagnostics.begin()->code, "XB1102");
    EXPECT_EQ(l.diagnostics.begin()->severity, Severity::Warning);
    EXPECT_EQ(l.diagnostics.begin()->location.line, 1u);
}

TEST(Model, UnknownKeySuggestsTheClosestName) {
    auto l = load("xbypass:\n  interfaces:\n    - interface: eth0\n      cpu-redirct: 1\n");
    ASSERT_FALSE(l.accepted());
    const Diagnostic& d = *l.diagnostics.begin();
    EXPECT_EQ(d.code, "XB1103");
    EXPECT_NE(d.message.find("did you mean 'cpu-redirect'?"), std::string::npos) << d.message;
    EXPECT_EQ(d.key_path, "xbypass.interfaces[0].cpu-redirct");
    EXPECT_EQ(d.location.line, 4u);
    EXPECT_EQ(d.location.column, 7u);
}

TEST(Model, CpuListErrorPointsAtTheToken) {
    auto l = load("xbypass:\n  interfaces:\n    - interface: eth0\n      cpu-redirect: \"1,7-3\"\n");
    ASSERT_FALSE(l.accepted());
    const Diagnostic& d = *l.diagnostics.begin();
    EXPECT_EQ(d.code, "XB1112");
    EXPECT_EQ(d.location.line, 4u);
    EXPECT_EQ(d.location.column, 24u);  // the '7' after the opening quote
}

TEST(Capture, KeysReadWithTheirOrigins) {
    auto l = load(
        "xbypass:\n"
        "  interfaces:\n"
        "    - interface: eth0\n"
        "      capture: AF-XDP\n"
        "      ring-size: 64\n"
        "      block-size: 4194304\n"
        "      block-timeout: 1\n"
        "      cluster-id: 0\n"
        "      cluster-type: Cluster_Round_Robin\n"
        "      threads: 4\n"
        "    - interface: eth1\n"
        "      capture: af-packet\n"
        "      ring-size: 65536\n"
        "      block-size: 4096\n"
        "      block-timeout: 1000\n"
        "      cluster-id: 65535\n"
        "    - interface: eth2\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    EXPECT_TRUE(l.diagnostics.empty()) << l.diagnostics.to_text();
    const auto& a = l.config.interfaces.at(0);
    EXPECT_EQ(a.capture.method, CaptureMethod::AfXdp);
    EXPECT_EQ(a.capture.ring_size, 64u);
    EXPECT_EQ(a.capture.block_size, 4194304u);
    EXPECT_EQ(a.capture.block_timeout_ms, 1u);
    EXPECT_EQ(a.capture.cluster_id, 0u);
    EXPECT_EQ(a.capture.cluster_type, "cluster_round_robin");
    EXPECT_EQ(a.threads, 4u);
    ASSERT_TRUE(a.origin_of("capture"));
    EXPECT_EQ(a.origin_of("capture")->key_path, "xbypass.interfaces[0].capture");
    EXPECT_EQ(a.origin_of("capture")->location.line, 4u);
    EXPECT_EQ(a.origin_of("cluster-type")->location.line, 9u);
    const auto& b = l.config.interfaces.at(1);
    EXPECT_EQ(b.capture.method, CaptureMethod::AfPacket);
    EXPECT_EQ(b.capture.ring_size, 65536u);
    EXPECT_EQ(b.capture.block_size, 4096u);
    EXPECT_EQ(b.capture.block_timeout_ms, 1000u);
    EXPECT_EQ(b.capture.cluster_id, 65535u);
    EXPECT_EQ(b.capture.cluster_type, "cluster_flow");
    const auto& c = l.config.interfaces.at(2);
    EXPECT_EQ(c.capture.method, CaptureMethod::Auto);
    EXPECT_EQ(c.capture.ring_size, 2048u);
    EXPECT_EQ(c.capture.block_size, 262144u);
    EXPECT_EQ(c.capture.block_timeout_ms, 10u);  // Suricata's default
    EXPECT_EQ(c.capture.cluster_id, 99u);  // the first default id
    EXPECT_EQ(c.origin_of("capture"), nullptr);
}

TEST(Capture, DefaultClusterIdsCountDownAndSkipExplicitOnes) {
    auto l = load(
        "xbypass:\n"
        "  interfaces:\n"
        "    - interface: eth0\n"
        "    - interface: eth1\n"
        "      cluster-id: 98\n"
        "    - interface: eth2\n"
        "    - interface: eth3\n"
        "      cluster-id: 99\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    std::vector<unsigned> ids;
    for (const auto& i : l.config.interfaces) ids.push_back(i.capture.cluster_id);
    EXPECT_EQ(ids, (std::vector<unsigned>{97, 98, 96, 99}));
}

struct CaptureRefusal {
    const char* name;
    const char* entry;  // lines below "- interface: eth0", each indented by 6
    const char* code;
    unsigned line;
    unsigned column;
    const char* key_path;
    const char* message_part;
};

// Each static refusal of a capture key, with its code and where it points.
TEST(Capture, StaticRefusals) {
    const std::vector<CaptureRefusal> cases = {
        {"capture_unknown", "capture: pcap", "XB1110", 4, 16, "xbypass.interfaces[0].capture", "af-packet"},
        {"ring_not_power_of_two", "ring-size: 1000", "XB1130", 4, 18, "xbypass.interfaces[0].ring-size",
         "AF_XDP rings must be powers of two"},
        {"ring_too_small", "ring-size: 32", "XB1131", 4, 18, "xbypass.interfaces[0].ring-size", "overflows"},
        {"ring_too_large", "ring-size: 131072", "XB1131", 4, 18, "xbypass.interfaces[0].ring-size", "256 MiB"},
        {"ring_not_a_number", "ring-size: 2k", "XB1108", 4, 18, "xbypass.interfaces[0].ring-size", "whole number"},
        {"block_not_page_multiple", "block-size: 5000", "XB1132", 4, 19, "xbypass.interfaces[0].block-size",
         "not a multiple of the 4096-byte page"},
        {"block_zero", "block-size: 0", "XB1132", 4, 19, "xbypass.interfaces[0].block-size", "4096-byte page"},
        {"block_not_power_of_two", "block-size: 12288", "XB1133", 4, 19, "xbypass.interfaces[0].block-size",
         "not a power of two"},
        {"block_too_large", "block-size: 8388608", "XB1134", 4, 19, "xbypass.interfaces[0].block-size", "above 4 MiB"},
        {"block_timeout_zero", "block-timeout: 0", "XB1138", 4, 22, "xbypass.interfaces[0].block-timeout",
         "outside 1..1000"},
        {"block_timeout_too_long", "block-timeout: 1001", "XB1138", 4, 22, "xbypass.interfaces[0].block-timeout",
         "waits that long"},
        {"block_timeout_with_unit", "block-timeout: 10ms", "XB1108", 4, 22, "xbypass.interfaces[0].block-timeout",
         "whole number"},
        {"cluster_id_too_large", "cluster-id: 65536", "XB1135", 4, 19, "xbypass.interfaces[0].cluster-id",
         "16 bits"},
        {"cluster_id_negative", "cluster-id: -1", "XB1109", 4, 19, "xbypass.interfaces[0].cluster-id", "outside"},
        {"cluster_type_unknown", "cluster-type: cluster_flo", "XB1110", 4, 21, "xbypass.interfaces[0].cluster-type",
         "did you mean 'cluster_flow'?"},
        {"cluster_type_ebpf", "cluster-type: cluster_ebpf", "XB1136", 4, 21, "xbypass.interfaces[0].cluster-type",
         "ebpf-lb-file"},
        {"cluster_type_random", "cluster-type: cluster_random", "XB1136", 4, 21, "xbypass.interfaces[0].cluster-type",
         "does not do"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto l = load(std::string("xbypass:\n  interfaces:\n    - interface: eth0\n      ") + c.entry + "\n");
        ASSERT_FALSE(l.accepted());
        ASSERT_EQ(l.diagnostics.size(), 1u) << l.diagnostics.to_text();
        const Diagnostic& d = *l.diagnostics.begin();
        EXPECT_EQ(d.code, c.code) << d.to_text();
        EXPECT_EQ(d.severity, Severity::Error);
        EXPECT_EQ(d.location.line, c.line);
        EXPECT_EQ(d.location.column, c.column);
        EXPECT_EQ(d.key_path, c.key_path);
        EXPECT_NE(d.message.find(c.message_part), std::string::npos) << d.message;
        EXPECT_FALSE(d.hint.empty());
    }
}

TEST(Capture, AfPacketRingKeysAreCheckedTheSameWay) {
    auto l = load("af-packet:\n  - interface: eth0\n    ring-size: 3000\n    cluster-type: cluster_ebpf\n");
    ASSERT_FALSE(l.accepted());
    EXPECT_TRUE(l.diagnostics.contains("XB1130")) << l.diagnostics.to_text();
    EXPECT_TRUE(l.diagnostics.contains("XB1136")) << l.diagnostics.to_text();
    for (const auto& d : l.diagnostics) {
        if (d.code == "XB1130") {
            EXPECT_EQ(d.key_path, "af-packet[0].ring-size");
        }
        if (d.code == "XB1136") {
            EXPECT_EQ(d.location.line, 4u);
        }
    }
}

TEST(Capture, TwoInterfacesInOneFanoutGroupAreRefused) {
    auto l = load(
        "xbypass:\n"
        "  interfaces:\n"
        "    - interface: eth0\n"
        "      cluster-id: 7\n"
        "    - interface: eth1\n"
        "      cluster-id: 7\n");
    ASSERT_FALSE(l.accepted());
    ASSERT_EQ(l.diagnostics.size(), 1u) << l.diagnostics.to_text();
    const Diagnostic& d = *l.diagnostics.begin();
    EXPECT_EQ(d.code, "XB1137");
    EXPECT_EQ(d.location.line, 6u);
    EXPECT_EQ(d.key_path, "xbypass.interfaces[1].cluster-id");
    EXPECT_NE(d.message.find("first at line 4"), std::string::npos) << d.message;
    // An af-xdp interface joins no fanout group: its cluster-id collides with nothing.
    auto ok = load(
        "xbypass:\n"
        "  interfaces:\n"
        "    - interface: eth0\n"
        "      cluster-id: 7\n"
        "    - interface: eth1\n"
        "      capture: af-xdp\n"
        "      cluster-id: 7\n");
    EXPECT_TRUE(ok.accepted()) << ok.diagnostics.to_text();
}

TEST(Capture, AfPacketDefaultEntryCannotPutEveryInterfaceInOneGroup) {
    auto l = load(
        "af-packet:\n"
        "  - interface: eth0\n"
        "  - interface: eth1\n"
        "  - interface: default\n"
        "    cluster-id: 99\n");
    ASSERT_FALSE(l.accepted());
    EXPECT_TRUE(l.diagnostics.contains("XB1137")) << l.diagnostics.to_text();
}

TEST(AfXdp, OnlyAfXdpInterfacesAreCapturedWithAfXdpAndBypassOn) {
    auto l = load(
        "af-xdp:\n"
        "  - interface: eth0\n"
        "    force-xdp-mode: drv\n"
        "    busy-poll-budget: 64\n"
        "  - interface: eth1\n"
        "    threads: 2\n"
        "    vendor-knob: 1\n"
        "  - interface: default\n"
        "    threads: 4\n"
        "    enable-busy-poll: yes\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    EXPECT_EQ(l.config.source, ConfigSource::AfXdp);
    EXPECT_EQ(config_source_name(l.config.source), "af-xdp");
    ASSERT_EQ(l.config.interfaces.size(), 2u);
    const auto& a = l.config.interfaces[0];
    const auto& b = l.config.interfaces[1];
    EXPECT_EQ(a.name, "eth0");
    EXPECT_EQ(a.capture.method, CaptureMethod::AfXdp);
    EXPECT_TRUE(a.bypass);
    EXPECT_EQ(a.threads, 4u);  // from the default entry
    EXPECT_EQ(a.origin_of("threads")->key_path, "af-xdp[2].threads");
    EXPECT_EQ(a.origin_of("capture")->key_path, "af-xdp[0]");
    EXPECT_EQ(a.origin_of("interface")->location.line, 2u);
    EXPECT_EQ(b.threads, 2u);
    EXPECT_EQ(b.origin_of("threads")->location.line, 6u);
    // Every other key is accepted and listed as not used, at its line.
    std::vector<unsigned> lines;
    for (const auto& d : l.diagnostics) {
        EXPECT_EQ(d.code, "XB1211") << d.to_text();
        EXPECT_EQ(d.severity, Severity::Info);
        lines.push_back(d.location.line);
    }
    EXPECT_EQ(lines, (std::vector<unsigned>{3, 4, 7, 10}));
}

TEST(AfXdp, AddsToAfPacket) {
    auto l = load(
        "af-packet:\n"
        "  - interface: eth0\n"
        "    xdp-mode: driver\n"
        "    threads: 8\n"
        "  - interface: eth1\n"
        "    bypass: no\n"
        "  - interface: eth3\n"
        "af-xdp:\n"
        "  - interface: eth0\n"
        "    threads: 2\n"
        "  - interface: eth1\n"
        "  - interface: eth2\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    EXPECT_EQ(l.config.source, ConfigSource::AfPacket);
    ASSERT_EQ(l.config.interfaces.size(), 4u);
    const InterfaceConfig* eth0 = l.config.find("eth0");
    const InterfaceConfig* eth1 = l.config.find("eth1");
    const InterfaceConfig* eth2 = l.config.find("eth2");
    const InterfaceConfig* eth3 = l.config.find("eth3");
    ASSERT_TRUE(eth0 && eth1 && eth2 && eth3);
    // In both lists: af-packet's settings, af-xdp's capture and threads; bypass on unless af-packet sets it.
    EXPECT_EQ(eth0->datapath, Datapath::XdpNative);
    EXPECT_EQ(eth0->capture.method, CaptureMethod::AfXdp);
    EXPECT_EQ(eth0->threads, 2u);
    EXPECT_TRUE(eth0->bypass);
    EXPECT_EQ(eth1->capture.method, CaptureMethod::AfXdp);
    EXPECT_FALSE(eth1->bypass);
    EXPECT_EQ(eth2->capture.method, CaptureMethod::AfXdp);
    EXPECT_TRUE(eth2->bypass);
    EXPECT_EQ(eth3->capture.method, CaptureMethod::AfPacket);
    EXPECT_FALSE(eth3->bypass);
}

TEST(AfXdp, IgnoredNextToAnXbypassSection) {
    auto l = load("af-xdp:\n  - interface: eth9\nxbypass:\n  interfaces:\n    - interface: eth0\n");
    ASSERT_TRUE(l.accepted()) << l.diagnostics.to_text();
    ASSERT_EQ(l.config.interfaces.size(), 1u);
    EXPECT_EQ(l.config.interfaces[0].capture.method, CaptureMethod::Auto);
    ASSERT_EQ(l.diagnostics.size(), 1u);
    EXPECT_EQ(l.diagnostics.begin()->code, "XB1210");
    EXPECT_EQ(l.diagnostics.begin()->severity, Severity::Warning);
    EXPECT_EQ(l.diagnostics.begin()->location.line, 1u);
}

TEST(AfXdp, Refusals) {
    struct R {
        const char* text;
        const char* code;
        unsigned line;
    };
    const std::vector<R> cases = {
        {"af-xdp:\n  - interface: default\n    threads: 2\n", "XB1101", 1},
        {"af-xdp:\n  - interface: eth0\n  - interface: eth0\n", "XB1114", 3},
        {"af-xdp:\n  - interface: eth0\n  - interface: default\n  - interface: default\n", "XB1207", 4},
        {"af-xdp:\n  - threads: 2\n", "XB1116", 2},
        {"af-xdp:\n  - interface: eth0\n    threads: 0\n", "XB1109", 3},
        {"af-xdp:\n  interface: eth0\n", "XB1105", 2},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        auto l = load(c.text);
        EXPECT_FALSE(l.accepted());
        ASSERT_TRUE(l.diagnostics.contains(c.code)) << l.diagnostics.to_text();
        for (const auto& d : l.diagnostics)
            if (d.code == c.code) {
                EXPECT_EQ(d.location.line, c.line) << d.to_text();
            }
    }
}

TEST(Model, SchemaKeysListEverything) {
    auto keys = xbypass_schema_keys();
    EXPECT_EQ(keys.size(), 7u + 21u + 4u);  // globals, interface keys, flow-table keys
    EXPECT_NE(std::find(keys.begin(), keys.end(), "interfaces[].flow-table.lru"), keys.end());
    EXPECT_NE(std::find(keys.begin(), keys.end(), "eve-log"), keys.end());
}

TEST(Model, InterfaceNamesAndPinPathsAreRefusedWithTheRightReason) {
    struct {
        std::string yaml_value;  // double-quoted YAML scalar
        const char* key;         // "interface" or "pin-path"
        const char* code;        // empty: accepted
        const char* message_part;
    } cases[] = {
        {"eth0", "interface", "", ""},
        {"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9", "interface", "XB1115",
         "is 18 bytes long (9 characters); the kernel allows at most 15 bytes"},
        {"0123456789abcdefg", "interface", "XB1115", "is 17 bytes long; the kernel"},
        {"eth\\u0001x", "interface", "XB1115", "'eth\\x01x' in 'xbypass.interfaces[0].interface' contains the control character \\x01"},
        {"eth\\tx", "interface", "XB1115", "contains the control character \\x09"},
        {"eth:1", "interface", "XB1115", "contains '/', ':' or white space"},
        {"..", "interface", "XB1115", "is reserved"},
        {"/sys/fs/bpf/xb", "pin-path", "", ""},
        {"/sys/fs/bpf/../../../tmp/x", "pin-path", "XB1125", "has a '.' or '..' component"},
        {"/sys/fs/bpf/./x", "pin-path", "XB1125", "has a '.' or '..' component"},
        {"/sys/fs/bpf/x/..", "pin-path", "XB1125", "has a '.' or '..' component"},
        {"/sys/fs/bpf/x..y", "pin-path", "", ""},
        {"sys/fs/bpf", "pin-path", "XB1125", "not an absolute path"},
    };
    for (const auto& c : cases) {
        std::string yaml = std::string(c.key) == "pin-path"
                               ? "xbypass:\n  pin-path: \"" + c.yaml_value + "\"\n  interfaces:\n    - interface: eth0\n"
                               : "xbypass:\n  interfaces:\n    - interface: \"" + c.yaml_value + "\"\n";
        LoadedConfig r = load(yaml);
        if (!*c.code) {
            EXPECT_FALSE(r.diagnostics.has_errors()) << c.yaml_value << "\n" << r.diagnostics.to_text();
            continue;
        }
        ASSERT_TRUE(r.diagnostics.contains(c.code)) << c.yaml_value << "\n" << r.diagnostics.to_text();
        bool found = false;
        for (const auto& d : r.diagnostics)
            if (d.code == c.code) found = d.message.find(c.message_part) != std::string::npos;
        EXPECT_TRUE(found) << c.yaml_value << "\n" << r.diagnostics.to_text();
    }
}

}  // namespace
}  // namespace xb::config
