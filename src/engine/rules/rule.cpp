#include "engine/rules/rule.h"

#include <hs/hs.h>
#include <netinet/in.h>

namespace xb::engine {

std::string_view action_name(RuleAction a) {
    switch (a) {
        case RuleAction::Alert: return "alert";
        case RuleAction::Pass: return "pass";
        case RuleAction::Drop: return "drop";
        case RuleAction::Reject: return "reject";
    }
    return "?";
}

std::string_view proto_name(RuleProto p) {
    switch (p) {
        case RuleProto::Tcp: return "tcp";
        case RuleProto::Udp: return "udp";
        case RuleProto::Icmp: return "icmp";
        case RuleProto::Ip: return "ip";
    }
    return "?";
}

bool Rule::header_matches(const FlowTuple& t) const {
    switch (proto) {
        case RuleProto::Tcp: if (t.proto != IPPROTO_TCP) return false; break;
        case RuleProto::Udp: if (t.proto != IPPROTO_UDP) return false; break;
        case RuleProto::Icmp: if (t.proto != IPPROTO_ICMP && t.proto != IPPROTO_ICMPV6) return false; break;
        case RuleProto::Ip: break;
    }
    bool has_ports = t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP || t.proto == IPPROTO_SCTP;
    if (!has_ports && !(sport.is_any() && dport.is_any())) return false;
    auto one_way = [&](const std::array<uint8_t, 16>& s, uint16_t sp, const std::array<uint8_t, 16>& d, uint16_t dp) {
        return src.matches(t.family, s) && dst.matches(t.family, d) &&
               (!has_ports || (sport.matches(sp) && dport.matches(dp)));
    };
    return one_way(t.src, t.sport, t.dst, t.dport) || (bidirectional && one_way(t.dst, t.dport, t.src, t.sport));
}

Parsed<PcreExpression> translate_pcre(std::string_view w) {
    Parsed<PcreExpression> out;
    auto refuse = [&](std::string message, std::string hint) {
        out.error = {"XB7114", std::move(message), std::move(hint), 0};
        return out;
    };
    auto last = w.rfind('/');
    if (w.size() < 2 || w[0] != '/' || last == 0)
        return refuse("the pcre is not written as /expression/flags",
                      "write pcre:\"/expression/flags\" with flags among i, s, m, x");
    PcreExpression e;
    e.expression = std::string(w.substr(1, last - 1));
    if (e.expression.empty()) return refuse("the pcre expression is empty", "write an expression between the slashes");
    bool extended = false;
    for (char f : w.substr(last + 1)) {
        switch (f) {
            case 'i': e.hs_flags |= HS_FLAG_CASELESS; break;
            case 's': e.hs_flags |= HS_FLAG_DOTALL; break;
            case 'm': e.hs_flags |= HS_FLAG_MULTILINE; break;
            case 'x': extended = true; break;
            default:
                return refuse(std::string("the pcre flag '") + f + "' is not supported",
                              "keep to the flags i, s, m and x (relative and buffer flags such as R or U are not part of xids)");
        }
    }
    if (extended) e.expression = "(?x)" + e.expression;
    out.value = std::move(e);
    return out;
}

}  // namespace xb::engine
