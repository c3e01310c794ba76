// Address and port sets of Suricata's rule header: any, CIDRs (IPv4 and IPv6), single addresses,
// port numbers and ranges, lists `[a,b]`, negation `!a` / `![..]`, and variables (`$HOME_NET`)
// resolved from the rule variables. A set is an expression tree evaluated per packet.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xb::engine {

using Address = std::array<uint8_t, 16>;  // network order; IPv4 in the first 4 bytes

struct Cidr {
    uint8_t family = 4;  // 4 or 6
    Address bytes{};     // host bits cleared
    uint8_t prefix = 32;
    bool contains(uint8_t family, const Address& address) const;
    std::string to_string() const;
};

struct PortRange {
    uint16_t low = 0, high = 65535;
    bool contains(uint16_t port) const { return port >= low && port <= high; }
};

// One element of a set: `any`, a leaf (CIDR or port range) or a list, possibly negated. A list
// matches what any of its plain items matches (everything when it has none) minus what any of
// its negated items matches, so `[10.0.0.0/8,!10.1.0.0/16]` and `[!$HOME_NET]` mean what they say.
template <class LeafT>
struct SetExpr {
    enum class Kind : uint8_t { Any, Leaf, List };
    Kind kind = Kind::Any;
    bool negated = false;
    LeafT leaf{};
    std::vector<SetExpr> items;

    template <class... V>
    bool matches(const V&... v) const {
        return negated != matches_plain(v...);
    }
    template <class... V>
    bool matches_plain(const V&... v) const {
        switch (kind) {
            case Kind::Any: return true;
            case Kind::Leaf: return leaf.contains(v...);
            case Kind::List: break;
        }
        bool has_plain = false, plain_hit = false;
        for (const auto& item : items) {
            if (item.negated) {
                if (item.matches_plain(v...)) return false;
            } else {
                has_plain = true;
                plain_hit = plain_hit || item.matches_plain(v...);
            }
        }
        return plain_hit || !has_plain;
    }
    bool is_any() const { return kind == Kind::Any && !negated; }
};

using AddressSet = SetExpr<Cidr>;
using PortSet = SetExpr<PortRange>;

// Why a set did not parse: a diagnostic code (XB7104 address, XB7105 variable, XB7106 port),
// the cause, a hint, and the byte offset in the text where it was found (for a problem inside a
// variable's value: the offset of the `$` that referred to it).
struct SetError {
    std::string code, message, hint;
    size_t offset = 0;
};

template <class T>
struct Parsed {
    std::optional<T> value;
    SetError error;
    bool ok() const { return value.has_value(); }
};

using Groups = std::map<std::string, std::string>;  // "HOME_NET" -> "[10.0.0.0/8]"

Parsed<AddressSet> parse_address_set(std::string_view text, const Groups& address_groups);
Parsed<PortSet> parse_port_set(std::string_view text, const Groups& port_groups);

// A single address or CIDR ("10.0.0.0/8", "2001:db8::1"); nullopt if it is neither.
std::optional<Cidr> parse_cidr(std::string_view text);

}  // namespace xb::engine
