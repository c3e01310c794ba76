// The YAML layer: locations, anchors, aliases, merge keys, and the limits against hostile input.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "config/yaml.h"

namespace xb::config {
namespace {

struct Parsed {
    YamlNodePtr root;
    Diagnostics diags;
};

Parsed parse(std::string_view text, const YamlLimits& limits = {}) {
    Parsed p;
    p.root = parse_yaml(text, "t.yaml", p.diags, limits);
    return p;
}

TEST(Yaml, KeepsLineAndColumnOfEveryNode) {
    auto p = parse("%YAML 1.1\n---\nxbypass:\n  interfaces:\n    - interface: eth0\n      threads: 4\n");
    ASSERT_TRUE(p.root) << p.diags.to_text();
    const YamlNode* x = p.root->find("xbypass");
    ASSERT_TRUE(x);
    EXPECT_EQ(x->loc.line, 4u);
    EXPECT_EQ(x->loc.column, 3u);
    const YamlNode* list = x->find("interfaces");
    ASSERT_TRUE(list && list->is_sequence());
    const YamlNode& entry = *list->items.at(0);
    EXPECT_EQ(entry.loc.line, 5u);
    EXPECT_EQ(entry.loc.column, 7u);
    const YamlNode* threads = entry.find("threads");
    ASSERT_TRUE(threads);
    EXPECT_EQ(threads->value, "4");
    EXPECT_EQ(threads->loc.line, 6u);
    EXPECT_EQ(threads->loc.column, 16u);
    EXPECT_EQ(threads->loc.file, "t.yaml");
}

TEST(Yaml, AliasesShareTheAnchoredNode) {
    auto p = parse("a: &x [1, 2]\nb: *x\n");
    ASSERT_TRUE(p.root) << p.diags.to_text();
    EXPECT_EQ(p.root->find("a"), p.root->find("b"));
    EXPECT_EQ(p.root->find("b")->items.size(), 2u);
}

TEST(Yaml, MergeKeysExplicitKeysWinThenEarlierSources) {
    auto p = parse(
        "base: &base {a: 1, b: 2}\n"
        "other: &other {b: 3, c: 4}\n"
        "m:\n"
        "  <<: [*base, *other]\n"
        "  a: 9\n");
    ASSERT_TRUE(p.root) << p.diags.to_text();
    const YamlNode* m = p.root->find("m");
    ASSERT_TRUE(m);
    ASSERT_EQ(m->entries.size(), 3u);
    EXPECT_EQ(m->find("a")->value, "9");
    EXPECT_EQ(m->find("b")->value, "2");
    EXPECT_EQ(m->find("c")->value, "4");
    EXPECT_EQ(m->find("<<"), nullptr);
}

TEST(Yaml, NullForms) {
    auto p = parse("a:\nb: ~\nc: null\nd: ''\ne: NULL\n");
    ASSERT_TRUE(p.root);
    EXPECT_TRUE(p.root->find("a")->is_null());
    EXPECT_TRUE(p.root->find("b")->is_null());
    EXPECT_TRUE(p.root->find("c")->is_null());
    EXPECT_FALSE(p.root->find("d")->is_null());  // a quoted empty string is a value
    EXPECT_TRUE(p.root->find("e")->is_null());
}

TEST(Yaml, EmptyDocumentIsANullRoot) {
    for (std::string_view text : {"", "# only a comment\n", "%YAML 1.1\n---\n"}) {
        auto p = parse(text);
        ASSERT_TRUE(p.root) << text;
        EXPECT_TRUE(p.root->is_null()) << text;
        EXPECT_TRUE(p.diags.empty());
    }
}

struct Rejection {
    const char* name;
    std::string text;
    const char* code;
    unsigned line;
    unsigned column;  // 0: not checked
};

class YamlRejects : public ::testing::TestWithParam<Rejection> {};

TEST_P(YamlRejects, WithCodeAndLocation) {
    const Rejection& r = GetParam();
    auto p = parse(r.text);
    EXPECT_FALSE(p.root);
    ASSERT_EQ(p.diags.size(), 1u) << p.diags.to_text();
    const Diagnostic& d = *p.diags.begin();
    EXPECT_EQ(d.code, r.code) << d.to_text();
    EXPECT_EQ(d.severity, Severity::Error);
    EXPECT_EQ(d.location.line, r.line) << d.to_text();
    if (r.column) {
        EXPECT_EQ(d.location.column, r.column) << d.to_text();
    }
    EXPECT_FALSE(d.hint.empty());
}

std::string nested(unsigned depth) {
    std::string s;
    for (unsigned i = 0; i < depth; ++i) s += std::string(i * 2, ' ') + "k:\n";
    return s + std::string(depth * 2, ' ') + "v\n";
}

INSTANTIATE_TEST_SUITE_P(
    Table, YamlRejects,
    ::testing::Values(
        Rejection{"nul_byte", std::string("a: 1\nb: \0\n", 10), "XB1003", 2, 4},
        Rejection{"invalid_utf8", "a: 1\nb: \xff\xfe\n", "XB1003", 2, 4},
        Rejection{"overlong_utf8", "a: \xc0\xaf\n", "XB1003", 1, 4},
        Rejection{"escape_char", "a: \x1b[31m\n", "XB1003", 1, 4},
        Rejection{"tab_indent", "a:\n\tb: 1\n", "XB1004", 2, 1},
        Rejection{"tab_after_spaces", "a:\n  b:\n  \tc: 1\n", "XB1004", 3, 3},
        Rejection{"unclosed_quote", "a: \"x\nb: 2\n", "XB1005", 3, 0},
        Rejection{"bad_indent", "a:\n  b: 1\n c: 2\n", "XB1005", 3, 0},
        Rejection{"unclosed_flow", "a: [1, 2\n", "XB1005", 2, 0},
        Rejection{"too_deep", nested(70), "XB1006", 65, 0},
        Rejection{"undefined_alias", "a: *nope\n", "XB1008", 1, 4},
        Rejection{"merge_scalar", "a: &s 1\nb:\n  <<: *s\n", "XB1009", 1, 4},
        Rejection{"complex_key", "? [a, b]\n: 1\n", "XB1011", 1, 3},
        Rejection{"two_documents", "a: 1\n---\nb: 2\n", "XB1012", 2, 1}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Yaml, RejectsOversizedInput) {
    YamlLimits limits;
    limits.max_bytes = 100;
    auto p = parse(std::string(101, '#'), limits);
    EXPECT_FALSE(p.root);
    EXPECT_TRUE(p.diags.contains("XB1002"));
    auto q = parse(std::string(100, '#'), limits);
    EXPECT_TRUE(q.root);
}

TEST(Yaml, BillionLaughsIsRejectedFast) {
    std::string text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
    for (int i = 1; i < 10; ++i) {
        std::string prev = "*a" + std::to_string(i - 1);
        text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
        for (int j = 0; j < 10; ++j) text += (j ? ", " : "") + prev;
        text += "]\n";
    }
    auto start = std::chrono::steady_clock::now();
    auto p = parse(text);
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(p.root);
    ASSERT_TRUE(p.diags.contains("XB1007")) << p.diags.to_text();
    EXPECT_EQ(p.diags.begin()->location.line, 5u);  // a4 expands to 1.1e5 nodes, over the 1e5 limit
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 200);
}

TEST(Yaml, ModerateAliasUseIsAccepted) {
    std::string text = "base: &b {size: 1, timeout: 2}\nlist:\n";
    for (int i = 0; i < 100; ++i) text += "  - *b\n";
    auto p = parse(text);
    ASSERT_TRUE(p.root) << p.diags.to_text();
    EXPECT_EQ(p.root->find("list")->items.size(), 100u);
}

TEST(Yaml, DepthLimitIsExact) {
    YamlLimits limits;
    limits.max_depth = 5;
    EXPECT_TRUE(parse(nested(5), limits).root);  // five nested mappings, the root included
    EXPECT_FALSE(parse(nested(6), limits).root);
}

}  // namespace
}  // namespace xb::config
