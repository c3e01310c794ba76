// Table-driven file tests: every file under tests/data/config/{valid,invalid} states what it expects
// in comments ("# expect: XB1103 7" = a diagnostic XB1103 on line 7). Invalid files must be
// rejected with exactly the expected errors; valid files accepted with only the expected warnings.
// Also: the conf/ examples are accepted and complete.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config.h"
#include "config/schema.h"
#include "config/yaml.h"

namespace xb::config {
namespace {

namespace fs = std::filesystem;

const fs::path kSrc = XB_SRCDIR;

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Expectation {
    std::string code;
    unsigned line = 0;
    bool operator<(const Expectation& o) const { return std::tie(code, line) < std::tie(o.code, o.line); }
};

std::set<Expectation> expectations(const std::string& text) {
    std::set<Expectation> out;
    const std::string marker = "# expect: ";
    for (size_t pos = text.find(marker); pos != std::string::npos; pos = text.find(marker, pos + 1)) {
        std::istringstream fields(text.substr(pos + marker.size(), text.find('\n', pos) - pos - marker.size()));
        Expectation e;
        if (fields >> e.code >> e.line) out.insert(e);
    }
    return out;
}

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::string describe(const Diagnostics& d) { return d.to_text(); }

TEST(ConfigFiles, InvalidFilesAreRejectedWithTheirCodeAndLine) {
    auto files = files_in(kSrc / "tests/data/config/invalid");
    EXPECT_GE(files.size(), 60u);
    std::set<std::string> codes_covered;
    for (const auto& f : files) {
        SCOPED_TRACE(f.filename().string());
        std::string text = read_all(f);
        auto expected = expectations(text);
        ASSERT_FALSE(expected.empty()) << "no '# expect: CODE LINE' comment";
        LoadedConfig l = load_config_file(f.string());
        EXPECT_FALSE(l.accepted()) << describe(l.diagnostics);
        std::set<Expectation> errors, all;
        for (const auto& d : l.diagnostics) {
            EXPECT_EQ(d.location.file, f.string());
            all.insert({d.code, d.location.line});
            if (d.severity == Severity::Error) errors.insert({d.code, d.location.line});
            EXPECT_FALSE(d.message.empty());
            EXPECT_FALSE(d.hint.empty()) << d.code;
        }
        for (const auto& e : expected) {
            EXPECT_TRUE(all.count(e)) << "missing " << e.code << " at line " << e.line << "; got:\n"
                                      << describe(l.diagnostics);
            codes_covered.insert(e.code);
        }
        for (const auto& e : errors)
            EXPECT_TRUE(expected.count(e)) << "unexpected " << e.code << " at line " << e.line << "; got:\n"
                                           << describe(l.diagnostics);
    }
    EXPECT_GE(codes_covered.size(), 35u);  // distinct codes exercised by the files
}

TEST(ConfigFiles, ValidFilesAreAccepted) {
    auto files = files_in(kSrc / "tests/data/config/valid");
    EXPECT_GE(files.size(), 15u);
    for (const auto& f : files) {
        SCOPED_TRACE(f.filename().string());
        std::string text = read_all(f);
        auto expected = expectations(text);
        LoadedConfig l = load_config_file(f.string());
        EXPECT_TRUE(l.accepted()) << describe(l.diagnostics);
        EXPECT_FALSE(l.config.interfaces.empty());
        std::set<Expectation> all;
        for (const auto& d : l.diagnostics) {
            all.insert({d.code, d.location.line});
            if (d.severity == Severity::Warning) {
                EXPECT_TRUE(expected.count({d.code, d.location.line})) << "unexpected warning:\n" << d.to_text();
            }
        }
        for (const auto& e : expected)
            EXPECT_TRUE(all.count(e)) << "missing " << e.code << " at line " << e.line;
    }
}

// The keys below `xbypass` present in a parsed file, in xbypass_schema_keys() notation.
void collect_keys(const YamlNode& xb, std::set<std::string>& keys) {
    for (const auto& [k, v] : xb.entries) keys.insert(k->value);
    const YamlNode* list = xb.find("interfaces");
    if (!list) return;
    for (const auto& entry : list->items) {
        for (const auto& [k, v] : entry->entries) {
            keys.insert("interfaces[]." + k->value);
            if (k->value == "flow-table")
                for (const auto& [fk, fv] : v->entries) keys.insert("interfaces[].flow-table." + fk->value);
        }
    }
}

TEST(ConfigFiles, DefaultConfigIsAcceptedAndHasEveryKey) {
    fs::path conf = kSrc / "conf/xbypass.yaml";
    LoadedConfig l = load_config_file(conf.string());
    EXPECT_TRUE(l.accepted()) << describe(l.diagnostics);
    EXPECT_EQ(l.diagnostics.count(Severity::Warning), 0u) << describe(l.diagnostics);
    Diagnostics d;
    YamlNodePtr root = parse_yaml(read_all(conf), conf.string(), d);
    ASSERT_TRUE(root);
    const YamlNode* xb = root->find("xbypass");
    ASSERT_TRUE(xb);
    std::set<std::string> present;
    collect_keys(*xb, present);
    for (const auto& key : xbypass_schema_keys()) EXPECT_TRUE(present.count(key)) << "conf/xbypass.yaml lacks " << key;
    // Every key is explained by a comment in the file, like suricata.yaml.
    std::string text = read_all(conf);
    EXPECT_GE(std::count(text.begin(), text.end(), '#'), 40);
}

TEST(ConfigFiles, SuricataExampleIsAcceptedAndUsesEveryMappedKey) {
    fs::path conf = kSrc / "conf/suricata-af-packet.yaml";
    LoadedConfig l = load_config_file(conf.string());
    EXPECT_TRUE(l.accepted()) << describe(l.diagnostics);
    EXPECT_EQ(l.config.source, ConfigSource::AfPacket);
    std::string text = read_all(conf);
    for (const auto& key : af_packet_mapped_keys())
        EXPECT_NE(text.find(key + ":"), std::string::npos) << key;
}

}  // namespace
}  // namespace xb::config
