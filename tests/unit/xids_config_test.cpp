// xids.yaml: Suricata's keys read into XidsConfig, and every problem a located, coded diagnostic.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/xids_config.h"

namespace xb::engine {
namespace {

XidsConfigLoad load(const std::string& text) { return load_xids_config_string(text, "/etc/xbypass/xids.yaml"); }

TEST(XidsConfig, SuricataKeysAreRead) {
    auto l = load(R"(
plugins: [/usr/lib/libxbypass.so.1]
default-rule-path: /etc/rules
rule-files: [a.rules, /abs/b.rules]
vars:
  address-groups: {HOME_NET: "[10.0.0.0/8]", EXTERNAL_NET: "!$HOME_NET"}
  port-groups: {HTTP_PORTS: "80"}
default-log-dir: /var/log/xids
outputs:
  - fast: {enabled: yes}
  - eve-log:
      enabled: yes
      filename: eve.json
      types: [alert, {flow: {}}]
stream:
  bypass: yes
  reassembly: {depth: 512kb}
app-layer: {protocols: {tls: {encryption-handling: bypass}}}
flow-timeouts:
  tcp: {new: 5, established: 50, closed: 1, bypassed: 20, emergency-new: 1}
stats: {interval: 3}
xids: {udp-bypass-after: 7, max-flows: 1000}
xbypass: {interfaces: [{interface: eth0}]}
)");
    ASSERT_TRUE(l.ok()) << l.diagnostics.to_text();
    const auto& c = l.config;
    EXPECT_EQ(c.plugin_path, "/usr/lib/libxbypass.so.1");
    EXPECT_EQ(c.rule_files, (std::vector<std::string>{"/etc/rules/a.rules", "/abs/b.rules"}));
    EXPECT_EQ(c.address_groups.at("EXTERNAL_NET"), "!$HOME_NET");
    EXPECT_EQ(c.port_groups.at("HTTP_PORTS"), "80");
    EXPECT_TRUE(c.eve_enabled);
    EXPECT_EQ(c.eve_file, "/var/log/xids/eve.json");
    EXPECT_TRUE(c.eve_alert);
    EXPECT_TRUE(c.eve_flow);
    EXPECT_FALSE(c.eve_stats) << "types given: only those";
    EXPECT_TRUE(c.stream_bypass);
    EXPECT_EQ(c.stream_depth, 512u * 1024);
    EXPECT_EQ(c.tls, TlsHandling::Bypass);
    EXPECT_EQ(c.tcp.new_s, 5u);
    EXPECT_EQ(c.tcp.established_s, 50u);
    EXPECT_EQ(c.tcp.bypassed_s, 20u);
    EXPECT_EQ(c.stats_interval, 3u);
    EXPECT_EQ(c.udp_bypass_after, 7u);
    EXPECT_EQ(c.max_flows, 1000u);
}

TEST(XidsConfig, DefaultsAndRelativePaths) {
    auto l = load("rule-files: [x.rules]\noutputs:\n  - eve-log: {filename: e.json}\n");
    ASSERT_TRUE(l.ok()) << l.diagnostics.to_text();
    EXPECT_EQ(l.config.plugin_path, "libxbypass.so.1") << "found by the loader's search path";
    EXPECT_EQ(l.config.rule_files, (std::vector<std::string>{"/etc/xbypass/x.rules"})) << "relative to the file";
    EXPECT_EQ(l.config.eve_file, "/etc/xbypass/./e.json");
    EXPECT_TRUE(l.config.eve_alert && l.config.eve_flow && l.config.eve_stats) << "no types: all three";
    EXPECT_EQ(l.config.stream_depth, 1u << 20);
    EXPECT_FALSE(l.config.stream_bypass);
    EXPECT_EQ(l.config.tls, TlsHandling::TrackOnly);
}

struct Bad {
    const char* name;
    const char* yaml;
    const char* code;
    unsigned line;
    const char* key;
};

class XidsConfigBad : public ::testing::TestWithParam<Bad> {};

TEST_P(XidsConfigBad, IsRefusedWithALocatedDiagnostic) {
    const Bad& b = GetParam();
    auto l = load(b.yaml);
    const Diagnostic* found = nullptr;
    for (const auto& d : l.diagnostics)
        if (d.code == b.code) found = &d;
    ASSERT_NE(found, nullptr) << "expected " << b.code << ", got:\n" << l.diagnostics.to_text();
    EXPECT_EQ(found->location.line, b.line) << found->to_text();
    EXPECT_EQ(found->key_path, b.key) << found->to_text();
    EXPECT_FALSE(found->hint.empty() && found->severity == Severity::Error) << found->to_text();
}

INSTANTIATE_TEST_SUITE_P(
    Table, XidsConfigBad,
    ::testing::Values(
        Bad{"depth_not_a_size", "rule-files: [a]\nstream:\n  reassembly:\n    depth: lots\n", "XB7207", 4,
            "stream.reassembly.depth"},
        Bad{"bad_boolean", "rule-files: [a]\nstream:\n  bypass: maybe\n", "XB1107", 3, "stream.bypass"},
        Bad{"bad_tls_choice", "rule-files: [a]\napp-layer:\n  protocols:\n    tls:\n      encryption-handling: decrypt\n",
            "XB1110", 5, "app-layer.protocols.tls.encryption-handling"},
        Bad{"timeout_out_of_range", "rule-files: [a]\nflow-timeouts:\n  udp:\n    new: 999999\n", "XB1109", 4,
            "flow-timeouts.udp.new"},
        Bad{"unknown_timeout_key", "rule-files: [a]\nflow-timeouts:\n  tcp:\n    nwe: 3\n", "XB1103", 4,
            "flow-timeouts.tcp.nwe"},
        Bad{"unknown_protocol", "rule-files: [a]\nflow-timeouts:\n  sctp: {new: 3}\n", "XB1103", 3, "flow-timeouts.sctp"},
        Bad{"rule_files_not_a_list", "rule-files: a.rules\n", "XB1105", 1, "rule-files"},
        Bad{"typo_at_top_level", "rule-file: [a]\n", "XB7205", 1, "rule-file"},
        Bad{"no_rules_is_a_warning", "stats: {interval: 2}\n", "XB7202", 1, "rule-files"},
        Bad{"two_plugins", "rule-files: [a]\nplugins: [a.so, b.so]\n", "XB7203", 2, "plugins[1]"},
        Bad{"unknown_xids_key", "rule-files: [a]\nxids:\n  max-flow: 3\n", "XB1103", 3, "xids.max-flow"},
        Bad{"max_flows_too_small", "rule-files: [a]\nxids:\n  max-flows: 3\n", "XB1109", 3, "xids.max-flows"},
        Bad{"duplicate_key", "rule-files: [a]\nxids:\n  max-flows: 30\n  max-flows: 40\n", "XB1010", 4, "xids.max-flows"},
        Bad{"invalid_yaml", "rule-files: [a\n", "XB1005", 2, ""}),
    [](const auto& i) { return std::string(i.param.name); });

TEST(XidsConfig, ErrorsRefuseAndTheRestOfASuricataYamlIsNotUsed) {
    auto l = load("rule-files: [a]\nlogging: {}\ndetect: {}\nstream: {bypass: maybe}\n");
    EXPECT_FALSE(l.ok());
    bool listed = false;
    for (const auto& d : l.diagnostics)
        if (d.code == "XB7204") listed = d.message.find("logging, detect") != std::string::npos;
    EXPECT_TRUE(listed) << l.diagnostics.to_text();
}

TEST(XidsConfig, MissingFileIsAnIoError) {
    auto l = load_xids_config("/nonexistent/xids.yaml");
    EXPECT_TRUE(l.io_error);
    EXPECT_TRUE(l.diagnostics.contains("XB1001"));
}

TEST(XidsConfig, TheShippedFileIsAccepted) {
    auto l = load_xids_config(std::string(XB_SRCDIR) + "/conf/xids.yaml");
    EXPECT_TRUE(l.ok()) << l.diagnostics.to_text();
    EXPECT_EQ(l.config.rule_files.size(), 1u);
    EXPECT_EQ(l.config.tls, TlsHandling::Bypass);
}

struct SizeCase {
    const char* text;
    bool ok;
    uint64_t value;
};

TEST(XidsConfig, SizesAsSuricataWritesThem) {
    for (const auto& c : std::vector<SizeCase>{{"1mb", true, 1u << 20},
                                               {"512kb", true, 512u * 1024},
                                               {"64 KiB", true, 64u * 1024},
                                               {"1048576", true, 1048576},
                                               {"2gb", true, 2ull << 30},
                                               {"0", true, 0},
                                               {"mb", false, 0},
                                               {"1tb", false, 0},
                                               {"-1", false, 0},
                                               {"99999999999999999999", false, 0}}) {
        uint64_t v = 12345;
        EXPECT_EQ(parse_size(c.text, &v), c.ok) << c.text;
        if (c.ok) {
            EXPECT_EQ(v, c.value) << c.text;
        }
    }
}

}  // namespace
}  // namespace xb::engine
