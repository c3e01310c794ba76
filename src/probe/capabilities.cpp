#include "probe/capabilities.h"

#include <charconv>

namespace xb::probe {

std::string_view support_name(Support s) {
    switch (s) {
        case Support::Yes: return "yes";
        case Support::No: return "no";
        case Support::Unknown: break;
    }
    return "unknown";
}

std::string_view xdp_attach_mode_name(XdpAttachMode m) {
    switch (m) {
        case XdpAttachMode::Generic: return "generic";
        case XdpAttachMode::Native: return "native";
        case XdpAttachMode::Offload: break;
    }
    return "offload";
}

std::string_view attached_via_name(AttachedVia a) {
    switch (a) {
        case AttachedVia::Netlink: return "netlink";
        case AttachedVia::BpfLink: return "bpf-link";
        case AttachedVia::Unknown: break;
    }
    return "unknown";
}

std::string_view tc_direction_name(TcDirection d) { return d == TcDirection::Ingress ? "ingress" : "egress"; }

std::string_view oper_state_name(OperState s) {
    switch (s) {
        case OperState::NotPresent: return "notpresent";
        case OperState::Down: return "down";
        case OperState::LowerLayerDown: return "lowerlayerdown";
        case OperState::Testing: return "testing";
        case OperState::Dormant: return "dormant";
        case OperState::Up: return "up";
        case OperState::Unknown: break;
    }
    return "unknown";
}

// Out of line: inlined into callers, g++ 12 reports a false -Wmaybe-uninitialized on the optional.
Support InterfaceCaps::has_xdp_feature(uint64_t bit) const {
    if (!xdp_features) return Support::Unknown;
    return support_from((*xdp_features & bit) != 0);
}

namespace {
std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

bool parse_unsigned(std::string_view s, unsigned* out) {
    s = trim(s);
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

std::optional<std::vector<unsigned>> parse_cpu_list(std::string_view text) {
    text = trim(text);
    std::vector<unsigned> out;
    if (text.empty()) return out;
    while (!text.empty()) {
        size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        if (comma != std::string_view::npos && text.empty()) return std::nullopt;  // trailing comma
        size_t dash = item.find('-');
        unsigned lo = 0, hi = 0;
        if (dash == std::string_view::npos) {
            if (!parse_unsigned(item, &lo)) return std::nullopt;
            hi = lo;
        } else if (!parse_unsigned(item.substr(0, dash), &lo) || !parse_unsigned(item.substr(dash + 1), &hi) ||
                   hi < lo) {
            return std::nullopt;
        }
        if (hi - lo > 65536) return std::nullopt;  // no machine has that many; refuse rather than allocate
        for (unsigned c = lo; c <= hi; ++c) out.push_back(c);
    }
    return out;
}

std::optional<std::string> parse_lockdown(std::string_view text) {
    size_t open = text.find('[');
    if (open == std::string_view::npos) return std::nullopt;
    size_t close = text.find(']', open);
    if (close == std::string_view::npos || close == open + 1) return std::nullopt;
    return std::string(text.substr(open + 1, close - open - 1));
}

}  // namespace xb::probe
