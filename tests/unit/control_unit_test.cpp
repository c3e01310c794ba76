// The control protocol, table-driven: JSON reading, request parsing (every command, every
// argument error), replies. Pure: no socket, no kernel.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <variant>

#include "control/json_value.h"
#include "control/protocol.h"

namespace xb::control {
namespace {

struct JsonCase {
    const char* text;
    bool ok;
};

class JsonRead : public ::testing::TestWithParam<JsonCase> {};

TEST_P(JsonRead, AcceptsJsonAndRefusesTheRest) {
    auto v = JsonValue::parse(GetParam().text);
    EXPECT_EQ(static_cast<bool>(v), GetParam().ok) << GetParam().text << (v ? "" : ": " + v.error().message);
}

INSTANTIATE_TEST_SUITE_P(
    Table, JsonRead,
    ::testing::Values(JsonCase{"{}", true}, JsonCase{" {\"a\" : [1, -2.5e3, true, false, null, \"x\"]} ", true},
                      JsonCase{"\"\\u00e9\\ud83d\\ude00\\n\"", true}, JsonCase{"[]", true}, JsonCase{"0", true},
                      JsonCase{"", false}, JsonCase{"{", false}, JsonCase{"{\"a\":}", false}, JsonCase{"{\"a\" 1}", false},
                      JsonCase{"[1,]", false}, JsonCase{"{\"a\":1,}", false}, JsonCase{"01x", false},
                      JsonCase{"\"abc", false}, JsonCase{"\"\\x\"", false}, JsonCase{"\"\\ud800\"", false},
                      JsonCase{"\"\\udc00\"", false}, JsonCase{"tru", false}, JsonCase{"{} {}", false},
                      JsonCase{"{\"a\":1,\"a\":2}", false}, JsonCase{"\"a\x01\"", false}, JsonCase{"1e999", false},
                      JsonCase{"[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]", false}, JsonCase{"-", false},
                      JsonCase{"1.", false}));

TEST(JsonRead, ValuesAreRead) {
    auto v = JsonValue::parse(R"({"s":"a\"b\u0041","n":42,"b":true,"l":[1,2],"o":{"k":null}})");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->get("s")->string(), "a\"bA");
    EXPECT_EQ(v->get("n")->number(), 42);
    EXPECT_TRUE(v->get("b")->boolean());
    EXPECT_EQ(v->get("l")->array().size(), 2u);
    EXPECT_EQ(v->get("o")->get("k")->kind(), JsonValue::Kind::Null);
    EXPECT_EQ(v->get("missing"), nullptr);
}

struct RequestCase {
    const char* line;
    const char* error_code;  // nullptr: accepted
    const char* message_part = "";
};

class RequestParse : public ::testing::TestWithParam<RequestCase> {};

TEST_P(RequestParse, AcceptsOrSaysWhy) {
    const auto& c = GetParam();
    auto r = parse_request(c.line);
    if (!c.error_code) {
        auto* e = std::get_if<ProtocolError>(&r);
        EXPECT_TRUE(std::holds_alternative<Request>(r)) << c.line << ": " << (e ? e->code + " " + e->message : "");
        return;
    }
    ASSERT_TRUE(std::holds_alternative<ProtocolError>(r)) << c.line;
    const auto& e = std::get<ProtocolError>(r);
    EXPECT_EQ(e.code, c.error_code) << c.line << ": " << e.message;
    EXPECT_NE(e.message.find(c.message_part), std::string::npos) << e.message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, RequestParse,
    ::testing::Values(
        RequestCase{R"({"cmd":"status"})", nullptr}, RequestCase{R"({"cmd":"status","interface":"eth0","id":7})", nullptr},
        RequestCase{R"({"cmd":"stats"})", nullptr}, RequestCase{R"({"cmd":"shutdown","id":"x"})", nullptr},
        RequestCase{R"({"cmd":"reload"})", nullptr}, RequestCase{R"({"cmd":"reload","config":"/etc/x.yaml"})", nullptr},
        RequestCase{R"({"cmd":"flows"})", nullptr},
        RequestCase{R"({"cmd":"flows","interface":"b0","proto":"udp","address":"10.0.0.1","port":53,"limit":10})", nullptr},
        RequestCase{R"({"cmd":"flows","proto":17,"address":"fe80::1","port":"53"})", nullptr},
        RequestCase{R"({"cmd":"bypass","interface":"b0","proto":"udp","src":"10.0.0.1","sport":1,"dst":"10.0.0.2","dport":2})", nullptr},
        RequestCase{R"({"cmd":"unbypass","interface":"b0","proto":"tcp","src":"::1","sport":1,"dst":"::2","dport":2,"vlan":[10,20]})", nullptr},
        RequestCase{R"({"cmd":"bypass","interface":"b0","proto":"icmp","src":"10.0.0.1","dst":"10.0.0.2"})", nullptr},
        RequestCase{"", kErrMalformed}, RequestCase{"not json", kErrMalformed, "not JSON"},
        RequestCase{"[1,2]", kErrMalformed, "object"}, RequestCase{R"({"id":1})", kErrMalformed, "cmd"},
        RequestCase{R"({"cmd":5})", kErrMalformed, "cmd"}, RequestCase{R"({"cmd":"frobnicate"})", kErrUnknown, "frobnicate"},
        RequestCase{R"({"cmd":"status","bogus":1})", kErrArgument, "bogus"},
        RequestCase{R"({"cmd":"shutdown","interface":"x"})", kErrArgument, "interface"},
        RequestCase{R"({"cmd":"status","interface":3})", kErrArgument, "string"},
        RequestCase{R"({"cmd":"flows","limit":0})", kErrArgument, "limit"},
        RequestCase{R"({"cmd":"flows","limit":1.5})", kErrArgument, "limit"},
        RequestCase{R"({"cmd":"flows","port":70000})", kErrArgument, "port"},
        RequestCase{R"({"cmd":"flows","proto":"gre2"})", kErrArgument, "proto"},
        RequestCase{R"({"cmd":"flows","address":"10.0.0.256"})", kErrArgument, "address"},
        RequestCase{R"({"cmd":"bypass","proto":"udp","src":"10.0.0.1","sport":1,"dst":"10.0.0.2","dport":2})", kErrArgument, "interface"},
        RequestCase{R"({"cmd":"bypass","interface":"b0","src":"10.0.0.1","sport":1,"dst":"10.0.0.2","dport":2})", kErrArgument, "proto"},
        RequestCase{R"({"cmd":"bypass","interface":"b0","proto":"udp","sport":1,"dst":"10.0.0.2","dport":2})", kErrArgument, "src"},
        RequestCase{R"({"cmd":"bypass","interface":"b0","proto":"udp","src":"10.0.0.1","sport":1,"dst":"::2","dport":2})", kErrArgument, "both"},
        RequestCase{R"({"cmd":"bypass","interface":"b0","proto":"udp","src":"10.0.0.1","dst":"10.0.0.2","dport":2})", kErrArgument, "sport"},
        RequestCase{R"({"cmd":"bypass","interface":"b0","proto":"udp","src":"10.0.0.1","sport":-1,"dst":"10.0.0.2","dport":2})", kErrArgument, "sport"},
        RequestCase{R"({"cmd":"bypass","interface":"b0","proto":"udp","src":"10.0.0.1","sport":1,"dst":"10.0.0.2","dport":2,"vlan":[5000]})", kErrArgument, "vlan"},
        RequestCase{R"({"cmd":"bypass","interface":"b0","proto":"udp","src":"10.0.0.1","sport":1,"dst":"10.0.0.2","dport":2,"vlan":[1,2,3]})", kErrArgument, "vlan"}));

TEST(RequestParse, OversizedLineIsRefused) {
    std::string line = R"({"cmd":"status","interface":")" + std::string(kMaxRequestBytes, 'a') + "\"}";
    auto r = parse_request(line);
    ASSERT_TRUE(std::holds_alternative<ProtocolError>(r));
    EXPECT_EQ(std::get<ProtocolError>(r).code, kErrOversized);
}

TEST(RequestParse, FieldsAreRead) {
    auto r = parse_request(
        R"({"cmd":"bypass","id":"q1","interface":"b0","proto":"udp","src":"10.0.0.1","sport":4000,"dst":"10.0.0.2","dport":5001,"vlan":[7]})");
    ASSERT_TRUE(std::holds_alternative<Request>(r));
    const auto& q = std::get<Request>(r);
    EXPECT_EQ(q.cmd, Command::Bypass);
    EXPECT_EQ(q.id_json, "\"q1\"");
    EXPECT_EQ(q.flow.interface, "b0");
    EXPECT_EQ(q.flow.proto, 17);
    EXPECT_EQ(q.flow.family, 4);
    EXPECT_EQ(q.flow.sport, 4000);
    EXPECT_EQ(q.flow.dport, 5001);
    EXPECT_EQ(q.flow.vlan[0], 7);
    in_addr a{};
    inet_pton(AF_INET, "10.0.0.1", &a);
    EXPECT_EQ(std::memcmp(q.flow.src, &a, 4), 0);
    auto f = std::get<Request>(parse_request(R"({"cmd":"flows","address":"::1","limit":5,"port":53})"));
    EXPECT_TRUE(f.filter.has_address);
    EXPECT_EQ(*f.filter.family, 6);
    EXPECT_EQ(f.filter.limit, 5u);
    EXPECT_EQ(f.filter.port, 53);
    EXPECT_EQ(std::get<Request>(parse_request(R"({"cmd":"flows"})")).filter.limit, kDefaultFlowLimit);
}

TEST(Replies, CarryTheIdAndAreJson) {
    std::string ok = ok_reply("{\"a\":1}", "7");
    EXPECT_EQ(ok, "{\"ok\":true,\"id\":7,\"result\":{\"a\":1}}");
    std::string err = error_reply(kErrUnknown, "no \"such\" command", "\"x\"");
    auto v = JsonValue::parse(err);
    ASSERT_TRUE(v) << err;
    EXPECT_FALSE(v->get("ok")->boolean());
    EXPECT_EQ(v->get("id")->string(), "x");
    EXPECT_EQ(v->get("error")->get("code")->string(), "XB8003");
    EXPECT_EQ(v->get("error")->get("message")->string(), "no \"such\" command");
    // An error for a request whose id could be read echoes it.
    auto r = parse_request(R"({"cmd":"nope","id":3})");
    EXPECT_EQ(std::get<ProtocolError>(r).id_json, "3");
}

TEST(Proto, NamesAndNumbers) {
    EXPECT_EQ(parse_proto("tcp"), 6);
    EXPECT_EQ(parse_proto("47"), 47);
    EXPECT_FALSE(parse_proto("256"));
    EXPECT_FALSE(parse_proto(""));
    EXPECT_EQ(proto_name(17), "udp");
    EXPECT_EQ(proto_name(47), "47");
}

}  // namespace
}  // namespace xb::control
