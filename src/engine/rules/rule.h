// xids rules: the types of Suricata's rule subset (header, contents with their modifiers, pcre,
// flow, bypass). rule_parser.h makes them from text, matcher.h compiles them with Hyperscan.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/diagnostic.h"
#include "engine/rules/addresses.h"

namespace xb::engine {

enum class RuleAction { Alert, Pass, Drop, Reject };
enum class RuleProto { Tcp, Udp, Icmp, Ip };

std::string_view action_name(RuleAction a);  // "alert", ...
std::string_view proto_name(RuleProto p);    // "tcp", ...

// One packet's direction: host-order ports, addresses in network order (IPv4 in the first 4 bytes).
struct FlowTuple {
    uint8_t family = 4;
    uint8_t proto = 0;  // IPPROTO_*
    std::array<uint8_t, 16> src{}, dst{};
    uint16_t sport = 0, dport = 0;
};

// Variables the header may use: "HOME_NET" -> "[10.0.0.0/8,192.168.0.0/16]", "HTTP_PORTS" -> "80".
struct RuleVars {
    std::map<std::string, std::string> address_groups, port_groups;
};

struct Content {
    std::vector<uint8_t> bytes;
    bool nocase = false;
    // depth/offset: absolute, from the start of the direction's stream; distance/within: relative
    // to the end of the previous content's match. A content has one kind or the other.
    std::optional<uint32_t> depth, offset, distance, within;
    bool relative() const { return distance.has_value() || within.has_value(); }
};

// A pcre option compiled for Hyperscan: the expression between the slashes and HS_FLAG_* bits.
struct PcreExpression {
    std::string expression;
    unsigned hs_flags = 0;
};

struct Rule {
    RuleAction action = RuleAction::Alert;
    RuleProto proto = RuleProto::Ip;
    AddressSet src, dst;
    PortSet sport, dport;
    bool bidirectional = false;  // `<>`
    std::string msg, classtype;
    uint32_t sid = 0, rev = 1, priority = 3;
    std::vector<Content> contents;
    std::vector<std::string> pcres;  // as written: "/abc\d+/i"
    bool flow_to_server = false, flow_to_client = false, flow_established = false;
    bool bypass = false;
    SourceLocation location;  // where the rule starts (column 1)
    std::string text;         // the rule as one line (continuations joined)

    // Protocol, addresses and ports of one packet direction; with `<>` either way. A packet
    // without ports (ICMP, other IP protocols) matches only when both port sets are `any`.
    bool header_matches(const FlowTuple& packet_direction) const;
};

// "/abc/i" -> {"abc", HS_FLAG_CASELESS}. Flags i, s, m, x; anything else is refused (the message
// names it). Does not ask Hyperscan whether it can compile the expression.
Parsed<PcreExpression> translate_pcre(std::string_view written);

}  // namespace xb::engine
