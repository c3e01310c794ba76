#include "engine/rules/addresses.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace xb::engine {

bool Cidr::contains(uint8_t fam, const Address& address) const {
    if (fam != family) return false;
    unsigned full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(bytes.data(), address.data(), full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (address[full] & mask) == bytes[full];
}

std::string Cidr::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
    return std::string(buf) + "/" + std::to_string(prefix);
}

std::optional<Cidr> parse_cidr(std::string_view text) {
    std::string_view addr = text, len;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        addr = text.substr(0, slash);
        len = text.substr(slash + 1);
        if (len.empty()) return std::nullopt;
    }
    if (addr.empty() || addr.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    Cidr c;
    std::string a(addr);
    if (a.find(':') != std::string::npos) {
        if (inet_pton(AF_INET6, a.c_str(), c.bytes.data()) != 1) return std::nullopt;
        c.family = 6;
        c.prefix = 128;
    } else {
        if (inet_pton(AF_INET, a.c_str(), c.bytes.data()) != 1) return std::nullopt;
        c.family = 4;
        c.prefix = 32;
    }
    if (!len.empty()) {
        unsigned p = 0;
        auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), p);
        if (ec != std::errc() || ptr != len.data() + len.size() || p > c.prefix) return std::nullopt;
        c.prefix = static_cast<uint8_t>(p);
    }
    unsigned full = c.prefix / 8, rest = c.prefix % 8;
    if (rest != 0) c.bytes[full++] &= static_cast<uint8_t>(0xff << (8 - rest));
    for (unsigned i = full; i < 16; ++i) c.bytes[i] = 0;
    return c;
}

namespace {

constexpr int kMaxVariableDepth = 8;

std::optional<PortRange> parse_port_range(std::string_view text) {
    auto number = [](std::string_view s, uint16_t& out) {
        unsigned v = 0;
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v > 65535) return false;
        out = static_cast<uint16_t>(v);
        return true;
    };
    PortRange r;
    auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        if (!number(text, r.low)) return std::nullopt;
        r.high = r.low;
        return r;
    }
    std::string_view lo = text.substr(0, colon), hi = text.substr(colon + 1);
    if (lo.empty() && hi.empty()) return std::nullopt;
    if (!lo.empty() && !number(lo, r.low)) return std::nullopt;
    if (!hi.empty() && !number(hi, r.high)) return std::nullopt;
    if (r.low > r.high) return std::nullopt;
    return r;
}

// Recursive descent over one set's text; variables are parsed from their values in place.
template <class Leaf>
class SetParser {
public:
    SetParser(std::string_view text, const Groups& groups, bool ports, int depth, size_t error_base,
              bool in_variable)
        : text_(text), groups_(groups), ports_(ports), depth_(depth), base_(error_base), in_var_(in_variable) {}

    std::optional<SetExpr<Leaf>> parse_all() {
        auto e = element();
        if (!e) return std::nullopt;
        skip_space();
        if (pos_ != text_.size()) return fail(bad_code(), "unexpected '" + std::string(text_.substr(pos_, 1)) + "' after " + what(), pos_);
        return e;
    }
    SetError error;

private:
    std::string what() const { return ports_ ? "the port set" : "the address set"; }
    std::string bad_code() const { return ports_ ? "XB7106" : "XB7104"; }
    std::nullopt_t fail(std::string code, std::string message, size_t at, std::string hint = {}) {
        if (error.code.empty()) {
            error.code = std::move(code);
            error.message = std::move(message);
            error.offset = in_var_ ? base_ : base_ + at;
            error.hint = hint.empty() ? (ports_ ? "write any, N, N:M, :M, N:, a list [a,b] or a negation !a"
                                                : "write any, an address, a CIDR (10.0.0.0/8, 2001:db8::/32), a list [a,b] or a negation !a")
                                      : std::move(hint);
        }
        return std::nullopt;
    }
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
    }

    std::optional<SetExpr<Leaf>> element() {
        skip_space();
        size_t start = pos_;
        if (pos_ >= text_.size()) return fail(bad_code(), what() + " is empty", pos_);
        if (text_[pos_] == '!') {
            ++pos_;
            auto inner = element();
            if (!inner) return std::nullopt;
            inner->negated = !inner->negated;
            if (inner->negated && inner->kind == SetExpr<Leaf>::Kind::Any)
                return fail(bad_code(), "!any matches nothing", start, "remove the rule or write a set it should match");
            return inner;
        }
        if (text_[pos_] == '[') {
            ++pos_;
            SetExpr<Leaf> list;
            list.kind = SetExpr<Leaf>::Kind::List;
            for (;;) {
                auto item = element();
                if (!item) return std::nullopt;
                list.items.push_back(std::move(*item));
                skip_space();
                if (pos_ < text_.size() && text_[pos_] == ',') { ++pos_; continue; }
                if (pos_ < text_.size() && text_[pos_] == ']') { ++pos_; break; }
                return fail(bad_code(), "the list that starts here is not closed by ']'", start);
            }
            return list;
        }
        size_t end = pos_;
        while (end < text_.size() && text_[end] != ',' && text_[end] != ']' && text_[end] != '[' && text_[end] != ' ' &&
               text_[end] != '\t')
            ++end;
        std::string_view token = text_.substr(pos_, end - pos_);
        pos_ = end;
        if (token.empty()) return fail(bad_code(), "an element of " + what() + " is missing", start);
        if (token == "any") return SetExpr<Leaf>{};
        if (token[0] == '$') return variable(token.substr(1), start);
        SetExpr<Leaf> leaf;
        leaf.kind = SetExpr<Leaf>::Kind::Leaf;
        if constexpr (std::is_same_v<Leaf, Cidr>) {
            auto c = parse_cidr(token);
            if (!c) return fail("XB7104", "'" + std::string(token) + "' is not an address or CIDR", start);
            leaf.leaf = *c;
        } else {
            auto r = parse_port_range(token);
            if (!r) return fail("XB7106", "'" + std::string(token) + "' is not a port or a port range (0-65535, low <= high)", start);
            leaf.leaf = *r;
        }
        return leaf;
    }

    std::optional<SetExpr<Leaf>> variable(std::string_view name, size_t start) {
        auto it = groups_.find(std::string(name));
        std::string kind = ports_ ? "port-groups" : "address-groups";
        if (it == groups_.end())
            return fail("XB7105", "the variable $" + std::string(name) + " is not defined", start,
                        "define " + std::string(name) + " under vars: " + kind + " or use another variable");
        if (depth_ >= kMaxVariableDepth)
            return fail("XB7105", "the variable $" + std::string(name) + " refers to itself (or variables nest deeper than 8)",
                        start, "break the cycle in vars: " + kind);
        SetParser inner(it->second, groups_, ports_, depth_ + 1, in_var_ ? base_ : base_ + start, true);
        auto e = inner.parse_all();
        if (!e) {
            error = inner.error;
            if (error.code != "XB7105") error.message = "in $" + std::string(name) + " (\"" + it->second + "\"): " + error.message;
            return std::nullopt;
        }
        return e;
    }

    std::string_view text_;
    const Groups& groups_;
    bool ports_;
    int depth_;
    size_t base_;
    bool in_var_;
    size_t pos_ = 0;
};

template <class Leaf>
Parsed<SetExpr<Leaf>> parse_set(std::string_view text, const Groups& groups, bool ports) {
    SetParser<Leaf> p(text, groups, ports, 0, 0, false);
    Parsed<SetExpr<Leaf>> out;
    out.value = p.parse_all();
    if (!out.value) out.error = p.error;
    return out;
}

}  // namespace

Parsed<AddressSet> parse_address_set(std::string_view text, const Groups& address_groups) {
    return parse_set<Cidr>(text, address_groups, false);
}

Parsed<PortSet> parse_port_set(std::string_view text, const Groups& port_groups) {
    return parse_set<PortRange>(text, port_groups, true);
}

}  // namespace xb::engine
