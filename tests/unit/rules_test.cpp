// xids rules: the parser (valid rules, one diagnostic per bad rule with its code and column),
// header matching (CIDR v4/v6, negation, lists, port ranges, <>), and the Hyperscan matcher.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "engine/rules/matcher.h"
#include "engine/rules/rule_parser.h"

namespace xb::engine {
namespace {

RuleVars test_vars() {
    RuleVars v;
    v.address_groups["HOME_NET"] = "[10.0.0.0/8,192.168.0.0/16,2001:db8::/32]";
    v.address_groups["EXTERNAL_NET"] = "!$HOME_NET";
    v.address_groups["LOOP"] = "$LOOP";
    v.address_groups["BAD"] = "[10.0.0.0/8,300.1.1.1]";
    v.port_groups["HTTP_PORTS"] = "[80,8080:8081]";
    return v;
}

RuleSetLoad parse(const std::string& text) { return parse_rules(text, "t.rules", test_vars()); }

// ---- valid rules -----------------------------------------------------------------------------

TEST(RuleParser, ValidRules) {
    struct Case {
        const char* text;
        std::function<void(const Rule&)> check;
    };
    const Case cases[] = {
        {R"(alert tcp any any -> any 80 (msg:"web"; sid:1;))",
         [](const Rule& r) {
             EXPECT_EQ(r.action, RuleAction::Alert);
             EXPECT_EQ(r.proto, RuleProto::Tcp);
             EXPECT_EQ(r.msg, "web");
             EXPECT_EQ(r.sid, 1u);
             EXPECT_EQ(r.rev, 1u);
             EXPECT_EQ(r.priority, 3u);
             EXPECT_FALSE(r.bidirectional);
         }},
        {R"(pass udp $HOME_NET any <> $EXTERNAL_NET $HTTP_PORTS (msg:"a \"q\" \; b"; sid:7; rev:3; priority:1; classtype:trojan-activity;))",
         [](const Rule& r) {
             EXPECT_EQ(r.action, RuleAction::Pass);
             EXPECT_EQ(r.proto, RuleProto::Udp);
             EXPECT_TRUE(r.bidirectional);
             EXPECT_EQ(r.msg, "a \"q\" ; b");
             EXPECT_EQ(r.rev, 3u);
             EXPECT_EQ(r.priority, 1u);
             EXPECT_EQ(r.classtype, "trojan-activity");
         }},
        {R"(drop icmp any any -> any any (msg:"m"; sid:2; bypass;))",
         [](const Rule& r) {
             EXPECT_EQ(r.action, RuleAction::Drop);
             EXPECT_EQ(r.proto, RuleProto::Icmp);
             EXPECT_TRUE(r.bypass);
         }},
        {R"(reject ip any any -> any any (msg:"m"; sid:3; flow:established,to_server;))",
         [](const Rule& r) {
             EXPECT_EQ(r.action, RuleAction::Reject);
             EXPECT_TRUE(r.flow_established);
             EXPECT_TRUE(r.flow_to_server);
             EXPECT_FALSE(r.flow_to_client);
         }},
        {R"(alert tcp any any -> any any (msg:"m"; sid:4; flow:from_server;))",
         [](const Rule& r) { EXPECT_TRUE(r.flow_to_client); }},
        {R"(alert tcp any any -> any any (msg:"m"; sid:5; content:"GET |20 2f|a\;\"\\"; nocase; depth:20; offset:2; content:"|0d0a|"; distance:0; within:50;))",
         [](const Rule& r) {
             ASSERT_EQ(r.contents.size(), 2u);
             EXPECT_EQ(std::string(r.contents[0].bytes.begin(), r.contents[0].bytes.end()), "GET  /a;\"\\");
             EXPECT_TRUE(r.contents[0].nocase);
             EXPECT_EQ(r.contents[0].depth, 20u);
             EXPECT_EQ(r.contents[0].offset, 2u);
             EXPECT_EQ(r.contents[1].bytes, (std::vector<uint8_t>{0x0d, 0x0a}));
             EXPECT_EQ(r.contents[1].distance, 0u);
             EXPECT_EQ(r.contents[1].within, 50u);
             EXPECT_FALSE(r.contents[1].nocase);
         }},
        {R"(alert tcp any any -> any any (msg:"m"; sid:6; pcre:"/ab[0-9]+c/ism"; pcre:"/x y/x";))",
         [](const Rule& r) { EXPECT_EQ(r.pcres, (std::vector<std::string>{"/ab[0-9]+c/ism", "/x y/x"})); }},
        {R"(alert tcp [1.2.3.4,!1.2.3.5] [1:1024,!80] -> ![5.6.7.8/24,9.9.9.9] !22 (msg:"m"; sid:8;))",
         [](const Rule& r) { EXPECT_FALSE(r.src.is_any()); }},
        {"alert tcp any any -> any any (msg:\"m\"; \\\n  sid:9; \\\n content:\"x\";)",
         [](const Rule& r) {
             EXPECT_EQ(r.sid, 9u);
             EXPECT_EQ(r.location.line, 1u);
             ASSERT_EQ(r.contents.size(), 1u);
         }},
        {R"(alert tcp any any -> any any (msg:"m"; sid:10; reference:url,example.com; metadata:a b; gid:1;))",
         [](const Rule& r) { EXPECT_EQ(r.sid, 10u); }},
        {R"(  alert tcp [10.0.0.0/8, 192.168.1.0/24] any -> any any (msg:"spaces in a list"; sid:11;)  )",
         [](const Rule& r) { EXPECT_EQ(r.location.column, 3u); }},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        auto load = parse(c.text);
        EXPECT_FALSE(load.diagnostics.has_errors()) << load.diagnostics.to_text();
        ASSERT_EQ(load.rules.size(), 1u);
        EXPECT_EQ(load.rules[0].location.file, "t.rules");
        c.check(load.rules[0]);
    }
}

TEST(RuleParser, IgnoredOptionsGiveOneInfoPerName) {
    auto load = parse(
        "alert tcp any any -> any any (msg:\"m\"; sid:1; metadata:x;)\n"
        "alert tcp any any -> any any (msg:\"m\"; sid:2; metadata:y; reference:url,x;)\n");
    EXPECT_TRUE(load.ok());
    EXPECT_EQ(load.rules.size(), 2u);
    ASSERT_EQ(load.diagnostics.size(), 2u);
    for (const auto& d : load.diagnostics) {
        EXPECT_EQ(d.code, "XB7116");
        EXPECT_EQ(d.severity, Severity::Info);
    }
    EXPECT_EQ(load.diagnostics.items()[0].location.column, 47u);
}

// ---- invalid rules: one diagnostic each, code and column -------------------------------------

TEST(RuleParser, InvalidRules) {
    struct Case {
        const char* text;
        const char* code;
        unsigned column;
    };
    //  columns:   1234567890123456789012345678901234567890
    const Case cases[] = {
        {R"(alarm tcp any any -> any any (msg:"m"; sid:1;))", "XB7102", 1},
        {R"(alert http any any -> any any (msg:"m"; sid:1;))", "XB7103", 7},
        {R"(alert tcp any any -> any)", "XB7101", 25},
        {R"(alert tcp 10.0.0.300 any -> any any (msg:"m"; sid:1;))", "XB7104", 11},
        {R"(alert tcp [1.2.3.4,1.2.3.0/33] any -> any any (msg:"m"; sid:1;))", "XB7104", 20},
        {R"(alert tcp !any any -> any any (msg:"m"; sid:1;))", "XB7104", 11},
        {R"(alert tcp [1.2.3.4 any -> any any (msg:"m"; sid:1;))", "XB7104", 11},
        {R"(alert tcp $NOPE any -> any any (msg:"m"; sid:1;))", "XB7105", 11},
        {R"(alert tcp any any -> [1.1.1.1,$LOOP] any (msg:"m"; sid:1;))", "XB7105", 31},
        {R"(alert tcp $BAD any -> any any (msg:"m"; sid:1;))", "XB7104", 11},
        {R"(alert tcp any 70000 -> any any (msg:"m"; sid:1;))", "XB7106", 15},
        {R"(alert tcp any any -> any [80,90:10] (msg:"m"; sid:1;))", "XB7106", 30},
        {R"(alert tcp any any -> any $NO_PORTS (msg:"m"; sid:1;))", "XB7105", 26},
        {R"(alert tcp any any => any any (msg:"m"; sid:1;))", "XB7107", 19},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; fast_pattern;))", "XB7108", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:x;))", "XB7109", 40},
        {R"(alert tcp any any -> any any (msg:"m"; sid:0;))", "XB7109", 40},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; priority:300;))", "XB7109", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; sid:2;))", "XB7109", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; bypass:yes;))", "XB7109", 47},
        {R"(alert tcp any any -> any any (sid:1;))", "XB7110", 1},
        {R"(alert tcp any any -> any any (msg:"m";))", "XB7110", 1},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"|4|";))", "XB7112", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"|zz|";))", "XB7112", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"a|41";))", "XB7112", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"";))", "XB7112", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:abc;))", "XB7112", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:!"abc";))", "XB7112", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"a\x";))", "XB7112", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; nocase;))", "XB7113", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"abc"; depth:2;))", "XB7113", 62},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"abc"; distance:1;))", "XB7113", 62},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"a"; content:"b"; offset:1; within:4;))", "XB7113", 83},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"a"; content:"bcd"; within:2;))", "XB7113", 75},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"a"; depth:4; depth:5;))", "XB7113", 69},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; content:"a"; content:"bc"; distance:3; within:4;))", "XB7113", 86},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; pcre:"/(a)\1/";))", "XB7114", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; pcre:"/(?<=a)b/";))", "XB7114", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; pcre:"/abc/R";))", "XB7114", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; pcre:"abc";))", "XB7114", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; flow:stateless;))", "XB7115", 47},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1; flow:to_server,to_client;))", "XB7115", 47},
        {R"(alert tcp any any -> any any msg:"m"; sid:1;)", "XB7118", 30},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1;)", "XB7118", 45},
        {R"(alert tcp any any -> any any (msg:"m"; sid:1))", "XB7118", 40},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        auto load = parse(std::string("# a comment\n\n") + c.text + "\n");
        EXPECT_TRUE(load.rules.empty());
        ASSERT_EQ(load.diagnostics.count(Severity::Error), 1u) << load.diagnostics.to_text();
        const Diagnostic& d = *std::find_if(load.diagnostics.begin(), load.diagnostics.end(),
                                            [](const Diagnostic& x) { return x.severity == Severity::Error; });
        EXPECT_EQ(d.code, c.code) << d.to_text();
        EXPECT_EQ(d.location.file, "t.rules");
        EXPECT_EQ(d.location.line, 3u);
        EXPECT_EQ(d.location.column, c.column) << d.to_text();
        EXPECT_FALSE(d.message.empty());
        EXPECT_FALSE(d.hint.empty());
    }
}

TEST(RuleParser, GoesOnAfterABadRuleAndRefusesDuplicateSids) {
    auto load = parse(
        "alert tcp any any -> any any (msg:\"a\"; sid:1;)\n"
        "alert tcp any any -> any any (msg:\"b\"; sid:2; bogus;)\n"
        "alert tcp any any -> any any (msg:\"c\"; sid:1;)\n"
        "alert tcp any any -> any any (msg:\"d\"; \\\n"
        "   sid:4; bogus2;)\n"
        "alert tcp any any -> any any (msg:\"e\"; sid:5;)\n");
    ASSERT_EQ(load.rules.size(), 2u);
    EXPECT_EQ(load.rules[0].sid, 1u);
    EXPECT_EQ(load.rules[1].sid, 5u);
    EXPECT_EQ(load.rules[1].location.line, 6u);
    ASSERT_EQ(load.diagnostics.size(), 3u);
    EXPECT_EQ(load.diagnostics.items()[0].code, "XB7108");
    EXPECT_EQ(load.diagnostics.items()[1].code, "XB7111");
    EXPECT_EQ(load.diagnostics.items()[1].location.line, 3u);
    EXPECT_NE(load.diagnostics.items()[1].message.find("t.rules:1"), std::string::npos);
    // The option on the continuation line: line 5, column of "bogus2".
    EXPECT_EQ(load.diagnostics.items()[2].code, "XB7108");
    EXPECT_EQ(load.diagnostics.items()[2].location.line, 5u);
    EXPECT_EQ(load.diagnostics.items()[2].location.column, 11u);
}

TEST(RuleParser, LoadRuleFiles) {
    char dir[] = "/tmp/xb-rules-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string a = std::string(dir) + "/a.rules", b = std::string(dir) + "/b.rules";
    std::ofstream(a) << "alert tcp any any -> any any (msg:\"a\"; sid:1;)\n";
    std::ofstream(b) << "alert tcp any any -> any any (msg:\"b\"; sid:2;)\nalert tcp any any -> any any (msg:\"c\"; sid:1;)\n";
    auto load = load_rule_files({a, std::string(dir) + "/missing.rules", b}, test_vars());
    EXPECT_EQ(load.rules.size(), 2u);
    ASSERT_EQ(load.diagnostics.size(), 2u);
    EXPECT_EQ(load.diagnostics.items()[0].code, "XB7117");
    EXPECT_EQ(load.diagnostics.items()[1].code, "XB7111");
    EXPECT_EQ(load.diagnostics.items()[1].location.file, b);
    EXPECT_EQ(load.diagnostics.items()[1].location.line, 2u);
    std::remove(a.c_str());
    std::remove(b.c_str());
    rmdir(dir);
}

// ---- header matching ---------------------------------------------------------------------------

FlowTuple tuple(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t proto = IPPROTO_TCP) {
    FlowTuple t;
    t.proto = proto;
    t.family = std::string(src).find(':') != std::string::npos ? 6 : 4;
    int af = t.family == 6 ? AF_INET6 : AF_INET;
    EXPECT_EQ(inet_pton(af, src, t.src.data()), 1);
    EXPECT_EQ(inet_pton(af, dst, t.dst.data()), 1);
    t.sport = sport;
    t.dport = dport;
    return t;
}

TEST(RuleHeader, Matches) {
    struct Case {
        const char* header;
        FlowTuple packet;
        bool expected;
    };
    const Case cases[] = {
        {"tcp any any -> any any", tuple("1.2.3.4", 1, "5.6.7.8", 2), true},
        {"tcp any any -> any any", tuple("1.2.3.4", 1, "5.6.7.8", 2, IPPROTO_UDP), false},
        {"udp any any -> any any", tuple("1.2.3.4", 1, "5.6.7.8", 2, IPPROTO_UDP), true},
        {"ip any any -> any any", tuple("1.2.3.4", 1, "5.6.7.8", 2, IPPROTO_UDP), true},
        {"icmp any any -> any any", tuple("1.2.3.4", 0, "5.6.7.8", 0, IPPROTO_ICMP), true},
        {"icmp any any -> any any", tuple("2001:db8::1", 0, "2001:db8::2", 0, IPPROTO_ICMPV6), true},
        {"ip any 80 -> any any", tuple("1.2.3.4", 0, "5.6.7.8", 0, IPPROTO_ICMP), false},
        {"tcp 10.0.0.0/8 any -> any any", tuple("10.200.1.1", 1, "5.6.7.8", 2), true},
        {"tcp 10.0.0.0/8 any -> any any", tuple("11.0.0.1", 1, "5.6.7.8", 2), false},
        {"tcp 10.1.2.3/12 any -> any any", tuple("10.15.255.255", 1, "5.6.7.8", 2), true},
        {"tcp 10.1.2.3/12 any -> any any", tuple("10.16.0.0", 1, "5.6.7.8", 2), false},
        {"tcp 1.2.3.4 any -> any any", tuple("1.2.3.4", 1, "5.6.7.8", 2), true},
        {"tcp 1.2.3.4 any -> any any", tuple("1.2.3.5", 1, "5.6.7.8", 2), false},
        {"tcp 2001:db8::/32 any -> any any", tuple("2001:db8:ffff::1", 1, "2001:db9::1", 2), true},
        {"tcp 2001:db8::/32 any -> any any", tuple("2001:db9::1", 1, "2001:db8::1", 2), false},
        {"tcp 2001:db8::/32 any -> any any", tuple("1.2.3.4", 1, "5.6.7.8", 2), false},
        {"tcp 10.0.0.0/8 any -> any any", tuple("::a00:1", 1, "::1", 2), false},
        {"tcp !10.0.0.0/8 any -> any any", tuple("10.0.0.1", 1, "5.6.7.8", 2), false},
        {"tcp !10.0.0.0/8 any -> any any", tuple("11.0.0.1", 1, "5.6.7.8", 2), true},
        {"tcp [10.0.0.0/8,!10.1.0.0/16] any -> any any", tuple("10.1.0.1", 1, "5.6.7.8", 2), false},
        {"tcp [10.0.0.0/8,!10.1.0.0/16] any -> any any", tuple("10.2.0.1", 1, "5.6.7.8", 2), true},
        {"tcp ![1.1.1.1,2.2.2.2] any -> any any", tuple("2.2.2.2", 1, "5.6.7.8", 2), false},
        {"tcp ![1.1.1.1,2.2.2.2] any -> any any", tuple("3.3.3.3", 1, "5.6.7.8", 2), true},
        {"tcp $HOME_NET any -> $EXTERNAL_NET any", tuple("192.168.1.1", 1, "8.8.8.8", 2), true},
        {"tcp $HOME_NET any -> $EXTERNAL_NET any", tuple("192.168.1.1", 1, "10.0.0.1", 2), false},
        {"tcp $HOME_NET any -> $EXTERNAL_NET any", tuple("2001:db8::5", 1, "2001:db9::5", 2), true},
        {"tcp [!$HOME_NET] any -> any any", tuple("8.8.8.8", 1, "10.0.0.1", 2), true},
        {"tcp any any -> any 80", tuple("1.2.3.4", 1, "5.6.7.8", 80), true},
        {"tcp any any -> any 80", tuple("1.2.3.4", 1, "5.6.7.8", 81), false},
        {"tcp any any -> any 1000:2000", tuple("1.2.3.4", 1, "5.6.7.8", 2000), true},
        {"tcp any any -> any 1000:2000", tuple("1.2.3.4", 1, "5.6.7.8", 2001), false},
        {"tcp any any -> any :1023", tuple("1.2.3.4", 1, "5.6.7.8", 0), true},
        {"tcp any any -> any 1024:", tuple("1.2.3.4", 1, "5.6.7.8", 65535), true},
        {"tcp any any -> any 1024:", tuple("1.2.3.4", 1, "5.6.7.8", 1023), false},
        {"tcp any any -> any !80", tuple("1.2.3.4", 1, "5.6.7.8", 80), false},
        {"tcp any any -> any [1:100,!50]", tuple("1.2.3.4", 1, "5.6.7.8", 50), false},
        {"tcp any any -> any [1:100,!50]", tuple("1.2.3.4", 1, "5.6.7.8", 51), true},
        {"tcp any any -> any $HTTP_PORTS", tuple("1.2.3.4", 1, "5.6.7.8", 8081), true},
        {"tcp any any -> any $HTTP_PORTS", tuple("1.2.3.4", 1, "5.6.7.8", 8082), false},
        {"tcp 1.1.1.1 any -> 2.2.2.2 80", tuple("2.2.2.2", 80, "1.1.1.1", 5000), false},
        {"tcp 1.1.1.1 any <> 2.2.2.2 80", tuple("2.2.2.2", 80, "1.1.1.1", 5000), true},
        {"tcp 1.1.1.1 any <> 2.2.2.2 80", tuple("1.1.1.1", 5000, "2.2.2.2", 80), true},
        {"tcp 1.1.1.1 any <> 2.2.2.2 80", tuple("2.2.2.2", 81, "1.1.1.1", 5000), false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.header);
        auto load = parse(std::string("alert ") + c.header + " (msg:\"m\"; sid:1;)");
        ASSERT_EQ(load.rules.size(), 1u) << load.diagnostics.to_text();
        EXPECT_EQ(load.rules[0].header_matches(c.packet), c.expected);
    }
}

// ---- matching ----------------------------------------------------------------------------------

std::vector<Rule> rules_of(const std::string& text) {
    auto load = parse(text);
    EXPECT_FALSE(load.diagnostics.has_errors()) << load.diagnostics.to_text();
    return load.rules;
}

// The sids matched by feeding the chunks, in order, to one stream (then closing it).
std::vector<uint32_t> run(const std::vector<Rule>& rules, const std::vector<std::string>& chunks) {
    auto m = Matcher::compile(rules);
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    if (!m.ok()) return {};
    auto scratch = m->make_scratch();
    auto stream = m->open_stream();
    std::vector<uint32_t> sids;
    auto cb = [&](size_t i) { sids.push_back(rules[i].sid); };
    for (const auto& c : chunks)
        m->scan(*stream, {reinterpret_cast<const uint8_t*>(c.data()), c.size()}, *scratch, cb);
    m->close_stream(*stream, *scratch, cb);
    std::sort(sids.begin(), sids.end());
    return sids;
}

std::string rule(uint32_t sid, const std::string& options) {
    return "alert tcp any any -> any any (msg:\"r\"; sid:" + std::to_string(sid) + "; " + options + ")\n";
}

TEST(Matcher, Table) {
    struct Case {
        const char* name;
        std::string options;
        std::vector<std::string> chunks;
        bool expected;
    };
    const Case cases[] = {
        {"literal", R"(content:"evil";)", {"an evil payload"}, true},
        {"literal absent", R"(content:"evil";)", {"a nice payload"}, false},
        {"split across two scans", R"(content:"evilpayload";)", {"xxevilpa", "yloadxx"}, true},
        {"split across three scans", R"(content:"evilpayload";)", {"xxevil", "pay", "load"}, true},
        {"hex bytes", R"(content:"|00 ff|a|0d0a|";)", {std::string("x\0\xff" "a\r\ny", 6)}, true},
        {"case matters", R"(content:"Evil";)", {"an EVIL payload"}, false},
        {"nocase", R"(content:"Evil"; nocase;)", {"an EVIL payload"}, true},
        {"nocase hex letters", R"(content:"|41|b"; nocase;)", {"xaBx"}, true},
        {"depth inside", R"(content:"abc"; depth:5;)", {"xxabcyy"}, true},
        {"depth outside", R"(content:"abc"; depth:4;)", {"xxabcyy"}, false},
        {"offset inside", R"(content:"abc"; offset:2;)", {"xxabcyy"}, true},
        {"offset outside", R"(content:"abc"; offset:3;)", {"xxabcyy"}, false},
        {"offset and depth window", R"(content:"abc"; offset:2; depth:3;)", {"xxabcyy"}, true},
        {"offset and depth window, later copy", R"(content:"abc"; offset:2; depth:3;)", {"xxxabcy"}, false},
        {"depth counts from stream start", R"(content:"abc"; depth:10;)", {"0123456789", "abc"}, false},
        {"offset across scans", R"(content:"abc"; offset:10;)", {"abc4567890", "abc"}, true},
        {"two contents in order", R"(content:"one"; content:"two"; distance:0;)", {"one two"}, true},
        {"two contents out of order", R"(content:"one"; content:"two"; distance:0;)", {"two one"}, false},
        {"two unrelated contents, any order", R"(content:"one"; content:"two";)", {"two one"}, true},
        {"two unrelated contents, one missing", R"(content:"one"; content:"two";)", {"one one"}, false},
        {"distance satisfied", R"(content:"ab"; content:"cd"; distance:3;)", {"ab123cd"}, true},
        {"distance too short", R"(content:"ab"; content:"cd"; distance:4;)", {"ab123cd"}, false},
        {"within satisfied", R"(content:"ab"; content:"cd"; within:5;)", {"ab123cd"}, true},
        {"within too far", R"(content:"ab"; content:"cd"; within:4;)", {"ab123cd"}, false},
        {"distance and within window", R"(content:"ab"; content:"cd"; distance:2; within:5;)", {"ab12cd"}, true},
        {"later first content satisfies within", R"(content:"ab"; content:"cd"; within:4;)", {"ab1234ab1cd"}, true},
        {"relative across scans", R"(content:"ab"; content:"cd"; distance:1; within:6;)", {"xab12", "3cd"}, true},
        {"chain of three", R"(content:"a1"; content:"b2"; distance:0; within:4; content:"c3"; distance:0; within:4;)",
         {"a1xb2xc3"}, true},
        {"chain of three broken", R"(content:"a1"; content:"b2"; distance:0; within:4; content:"c3"; distance:0; within:4;)",
         {"a1xb2xxxxc3"}, false},
        {"pcre", R"(pcre:"/user=[a-z]+[0-9]{3}/";)", {"GET /?user=bob123 "}, true},
        {"pcre absent", R"(pcre:"/user=[a-z]+[0-9]{3}/";)", {"GET /?user=bob12 "}, false},
        {"pcre nocase", R"(pcre:"/USER=bob/i";)", {"user=BOB"}, true},
        {"pcre dotall", R"(pcre:"/a.b/s";)", {"a\nb"}, true},
        {"pcre without dotall", R"(pcre:"/a.b/";)", {"a\nb"}, false},
        {"pcre multiline", R"(pcre:"/^b/m";)", {"a\nb"}, true},
        {"pcre extended", R"(pcre:"/a b c/x";)", {"abc"}, true},
        {"pcre at stream end", R"(pcre:"/done$/";)", {"all ", "done"}, true},
        {"content and pcre", R"(content:"GET"; pcre:"/id=\d+/";)", {"GET /x?id=42"}, true},
        {"content and pcre, pcre missing", R"(content:"GET"; pcre:"/id=\d+/";)", {"GET /x?id=x"}, false},
        {"pcre split across scans", R"(pcre:"/abc[0-9]+def/";)", {"abc12", "34def"}, true},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto rules = rules_of(rule(1, c.options));
        ASSERT_EQ(rules.size(), 1u);
        EXPECT_EQ(run(rules, c.chunks), c.expected ? std::vector<uint32_t>{1} : std::vector<uint32_t>{});
    }
}

TEST(Matcher, OncePerRulePerStream) {
    auto rules = rules_of(rule(1, R"(content:"x";)") + rule(2, R"(content:"a"; content:"b"; distance:0;)") +
                          rule(3, R"(pcre:"/y/";)"));
    EXPECT_EQ(run(rules, {"xxxx abab", "x ab y", "yyy"}), (std::vector<uint32_t>{1, 2, 3}));
    // A new stream matches again.
    auto m = Matcher::compile(rules);
    ASSERT_TRUE(m.ok());
    auto scratch = m->make_scratch();
    for (int i = 0; i < 2; ++i) {
        auto s = m->open_stream();
        int count = 0;
        std::string data = "x x x";
        m->scan(*s, {reinterpret_cast<const uint8_t*>(data.data()), data.size()}, *scratch, [&](size_t) { ++count; });
        EXPECT_EQ(count, 1);
    }
}

// scan_packet: each packet on its own (a UDP rule, UDP packets). Per packet, the sids that matched
// it; nothing carries over from one packet to the next.
TEST(Matcher, ScanPacketTreatsEachPacketOnItsOwn) {
    struct Case {
        const char* name;
        std::string options;
        std::vector<std::string> packets;
        std::vector<bool> expected;  // per packet
    };
    const Case cases[] = {
        {"match in each packet", R"(content:"evil";)", {"evil", "evil evil", "nice"}, {true, true, false}},
        {"no match across packets", R"(content:"evilpayload";)", {"xxevilpa", "yloadxx"}, {false, false}},
        {"offsets restart per packet", R"(content:"abc"; depth:5;)", {"0123456789", "abc"}, {false, true}},
        {"offset and depth together", R"(content:"abc"; offset:2; depth:5;)", {"abc", "..abc", "......abc"},
         {false, true, false}},
        {"pcre $ at each packet's end", R"(pcre:"/done$/";)", {"done", "done later", "all done"}, {true, false, true}},
        {"relative contents within one packet", R"(content:"ab"; content:"cd"; distance:0;)", {"ab", "cd", "abcd"},
         {false, false, true}},
        {"within counts from the previous match", R"(content:"ab"; content:"cd"; within:4;)", {"ab...cd", "abcd.."},
         {false, true}},
        {"empty packet", R"(content:"x";)", {"", "x"}, {false, true}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto rules = parse("alert udp any any -> any any (msg:\"r\"; sid:1; " + c.options + ")\n").rules;
        ASSERT_EQ(rules.size(), 1u);
        auto m = Matcher::compile(rules);
        ASSERT_TRUE(m.ok());
        auto scratch = m->make_scratch();
        ASSERT_TRUE(scratch);
        for (size_t i = 0; i < c.packets.size(); ++i) {
            int count = 0;
            const auto& d = c.packets[i];
            m->scan_packet(IPPROTO_UDP, {reinterpret_cast<const uint8_t*>(d.data()), d.size()}, *scratch,
                           [&](size_t) { ++count; });
            EXPECT_EQ(count, c.expected[i] ? 1 : 0) << "packet " << i;
        }
    }
}

// The databases follow the rules' protocols: a packet is scanned only for the rules whose protocol
// admits it (`ip` admits every one), a TCP stream only for tcp and ip rules.
TEST(Matcher, PatternsAreGroupedByTheRulesProtocol) {
    auto rules = parse(
                     "alert tcp any any -> any any (msg:\"t\"; content:\"tcponly\"; sid:1;)\n"
                     "alert udp any any -> any any (msg:\"u\"; content:\"udponly\"; sid:2;)\n"
                     "alert icmp any any -> any any (msg:\"i\"; content:\"icmponly\"; sid:3;)\n"
                     "alert ip any any -> any any (msg:\"a\"; content:\"anyproto\"; sid:4;)\n"
                     "alert udp any any -> any any (msg:\"s\"; content:\"anyproto\"; sid:5;)\n")
                     .rules;
    ASSERT_EQ(rules.size(), 5u);
    auto m = Matcher::compile(rules);
    ASSERT_TRUE(m.ok());
    auto scratch = m->make_scratch();
    ASSERT_TRUE(scratch);
    const std::string all = "tcponly udponly icmponly anyproto";
    std::span<const uint8_t> bytes{reinterpret_cast<const uint8_t*>(all.data()), all.size()};
    struct Case {
        uint8_t proto;
        size_t patterns;
        std::vector<uint32_t> sids;
    };
    const Case cases[] = {
        {IPPROTO_TCP, 2, {1, 4}},      // a TCP fragment
        {IPPROTO_UDP, 2, {2, 4, 5}},   // "anyproto" is one pattern of two rules
        {IPPROTO_ICMP, 2, {3, 4}},
        {IPPROTO_ICMPV6, 2, {3, 4}},
        {IPPROTO_GRE, 1, {4}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(static_cast<int>(c.proto));
        EXPECT_EQ(m->packet_pattern_count(c.proto), c.patterns);
        std::vector<uint32_t> sids;
        m->scan_packet(c.proto, bytes, *scratch, [&](size_t i) { sids.push_back(rules[i].sid); });
        std::sort(sids.begin(), sids.end());
        EXPECT_EQ(sids, c.sids);
    }
    auto stream = m->open_stream();
    ASSERT_TRUE(stream);
    std::vector<uint32_t> sids;
    auto cb = [&](size_t i) { sids.push_back(rules[i].sid); };
    m->scan(*stream, bytes, *scratch, cb);
    m->close_stream(*stream, *scratch, cb);
    std::sort(sids.begin(), sids.end());
    EXPECT_EQ(sids, (std::vector<uint32_t>{1, 4}));

    // Without a rule for a protocol, its packets are not scanned at all.
    auto tcp_only = parse("alert tcp any any -> any any (msg:\"t\"; content:\"x\"; sid:1;)\n").rules;
    auto t = Matcher::compile(tcp_only);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->packet_pattern_count(IPPROTO_UDP), 0u);
    auto ts = t->make_scratch();
    ASSERT_TRUE(ts);
    t->scan_packet(IPPROTO_UDP, bytes, *ts, [](size_t) { FAIL(); });
}

TEST(Matcher, SharedPatternsAndHeaderOnlyRules) {
    auto rules = rules_of(rule(1, R"(content:"abc";)") + rule(2, R"(content:"abc";)") + rule(3, "") +
                          rule(4, R"(content:"abc"; nocase;)") + rule(5, R"(content:"abc"; content:"abc"; distance:0;)"));
    auto m = Matcher::compile(rules);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->pattern_count(), 2u);  // "abc" and "abc" caseless
    EXPECT_EQ(m->rules_without_content(), (std::vector<size_t>{2}));
    EXPECT_EQ(run(rules, {"ABC"}), (std::vector<uint32_t>{4}));
    EXPECT_EQ(run(rules, {"abc"}), (std::vector<uint32_t>{1, 2, 4}));
    EXPECT_EQ(run(rules, {"abcab", "c"}), (std::vector<uint32_t>{1, 2, 4, 5}));
}

TEST(Matcher, EmptyRuleSet) {
    auto m = Matcher::compile({});
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->pattern_count(), 0u);
    auto scratch = m->make_scratch();
    auto s = m->open_stream();
    ASSERT_TRUE(scratch && s);
    std::string d = "abc";
    m->scan(*s, {reinterpret_cast<const uint8_t*>(d.data()), d.size()}, *scratch, [](size_t) { FAIL(); });
    m->close_stream(*s, *scratch, [](size_t) { FAIL(); });
}

TEST(Matcher, ThousandsOfRulesCompile) {
    std::string text;
    for (uint32_t i = 1; i <= 2000; ++i) {
        std::string opts = "content:\"marker" + std::to_string(i) + "x\";";
        if (i % 3 == 0) opts += " nocase;";
        if (i % 5 == 0) opts += " content:\"tail" + std::to_string(i) + "\"; distance:0; within:100;";
        if (i % 7 == 0) opts += " pcre:\"/id" + std::to_string(i) + "=[0-9]+/\";";
        text += rule(i, opts);
    }
    auto rules = rules_of(text);
    ASSERT_EQ(rules.size(), 2000u);
    EXPECT_EQ(run(rules, {"...marker41x... marker42x MARKER3X ", "marker35x tail35 id35=1", " marker10x"}),
              (std::vector<uint32_t>{3, 35, 41}));
}

TEST(Matcher, PositionStateIsBounded) {
    // Many first-content matches keep only the first and the latest kRecentPositions: a
    // second content right after the latest first-content match is still found.
    auto rules = rules_of(rule(1, R"(content:"a"; content:"b"; distance:0; within:1;)"));
    std::string data(1000, 'a');
    data += "b";
    EXPECT_EQ(run(rules, {data}), (std::vector<uint32_t>{1}));
}

}  // namespace
}  // namespace xb::engine
