#include "datapath/flow.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <unordered_map>

#include "common/input_file.h"
#include "common/json.h"
#include "common/strings.h"
#include "xb_hash.h"

namespace xb::datapath {

namespace {

bool parse_uint(std::string_view s, unsigned max, unsigned* out) {
    if (s.empty()) return false;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
    *out = v;
    return true;
}

Result<uint8_t> parse_proto(std::string_view s) {
    if (s == "tcp" || s == "TCP") return static_cast<uint8_t>(IPPROTO_TCP);
    if (s == "udp" || s == "UDP") return static_cast<uint8_t>(IPPROTO_UDP);
    unsigned v = 0;
    if (parse_uint(s, 255, &v)) return static_cast<uint8_t>(v);
    return Error{EINVAL, "protocol '" + std::string(s) + "' is not tcp, udp or a number 0-255"};
}

// Fills addr (4 words, network order) from an IPv4 or IPv6 literal; returns the family or 0.
int parse_address(std::string_view text, uint32_t addr[4]) {
    std::memset(addr, 0, 16);
    if (text.find('\0') != std::string_view::npos) return 0;  // inet_pton would stop at the NUL
    std::string s(text);
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        addr[0] = v4.s_addr;
        return XB_FAMILY_IPV4;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
        std::memcpy(addr, &v6, 16);
        return XB_FAMILY_IPV6;
    }
    return 0;
}

}  // namespace

Result<FlowKey> make_flow_key(std::string_view proto, std::string_view src_ip, uint16_t src_port,
                              std::string_view dst_ip, uint16_t dst_port, uint16_t vlan_outer,
                              uint16_t vlan_inner) {
    FlowKey key{};
    auto p = parse_proto(proto);
    if (!p) return p.error();
    key.proto = *p;
    int src_family = parse_address(src_ip, key.src_addr);
    if (!src_family) return Error{EINVAL, "'" + std::string(src_ip) + "' is not an IPv4 or IPv6 address"};
    int dst_family = parse_address(dst_ip, key.dst_addr);
    if (!dst_family) return Error{EINVAL, "'" + std::string(dst_ip) + "' is not an IPv4 or IPv6 address"};
    if (src_family != dst_family) return Error{EINVAL, "source and destination are not of the same IP family"};
    key.family = static_cast<uint8_t>(src_family);
    bool has_ports = key.proto == IPPROTO_TCP || key.proto == IPPROTO_UDP;
    if (!has_ports && (src_port || dst_port))
        return Error{EINVAL, "protocol " + std::to_string(key.proto) + " has no ports, so they must be 0"};
    key.src_port = htons(src_port);
    key.dst_port = htons(dst_port);
    if (vlan_outer > 4095 || vlan_inner > 4095) return Error{EINVAL, "a VLAN id is above 4095"};
    key.vlan_outer = vlan_outer;
    key.vlan_inner = vlan_inner;
    return key;
}

FlowKey reverse_flow_key(const FlowKey& key) {
    FlowKey r = key;
    std::memcpy(r.src_addr, key.dst_addr, sizeof r.src_addr);
    std::memcpy(r.dst_addr, key.src_addr, sizeof r.dst_addr);
    r.src_port = key.dst_port;
    r.dst_port = key.src_port;
    return r;
}

bool flow_key_equal(const FlowKey& a, const FlowKey& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::string proto_name(uint8_t proto) {
    switch (proto) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "ipv6-icmp";
    default: return std::to_string(proto);
    }
}

std::string address_string(const FlowKey& key, bool source) {
    const uint32_t* a = source ? key.src_addr : key.dst_addr;
    char buf[INET6_ADDRSTRLEN] = {};
    if (key.family == XB_FAMILY_IPV4) inet_ntop(AF_INET, a, buf, sizeof buf);
    else inet_ntop(AF_INET6, a, buf, sizeof buf);
    return buf;
}

std::string flow_key_to_string(const FlowKey& key) {
    auto endpoint = [&](bool source) {
        std::string addr = address_string(key, source);
        if (key.family == XB_FAMILY_IPV6) addr = "[" + addr + "]";
        return addr + ":" + std::to_string(ntohs(source ? key.src_port : key.dst_port));
    };
    std::string s = proto_name(key.proto) + " " + endpoint(true) + " -> " + endpoint(false);
    if (key.vlan_outer || key.vlan_inner)
        s += " vlan " + std::to_string(key.vlan_outer) + "/" + std::to_string(key.vlan_inner);
    return s;
}

std::string flow_key_to_json(const FlowKey& key) {
    JsonWriter w;
    w.begin_object();
    if (key.proto == IPPROTO_TCP || key.proto == IPPROTO_UDP) w.field("proto", proto_name(key.proto));
    else w.field("proto", static_cast<unsigned>(key.proto));
    w.field("src_ip", address_string(key, true));
    w.field("src_port", static_cast<unsigned>(ntohs(key.src_port)));
    w.field("dst_ip", address_string(key, false));
    w.field("dst_port", static_cast<unsigned>(ntohs(key.dst_port)));
    w.key("vlan").begin_array().value(static_cast<unsigned>(key.vlan_outer)).value(
        static_cast<unsigned>(key.vlan_inner)).end_array();
    w.end_object();
    return w.str();
}

uint32_t flow_hash(const FlowKey& key) { return xb_flow_hash(&key); }

unsigned redirect_cpu_for(const FlowKey& key, const std::vector<unsigned>& cpus) {
    return cpus[xb_hash_to_index(xb_flow_hash(&key), static_cast<uint32_t>(cpus.size()))];
}

std::vector<FlowSpec> parse_flows(std::string_view text, const std::string& file_name, Diagnostics& diags) {
    std::vector<FlowSpec> flows;
    // Each flow once: a repeated line, or the other direction of an earlier line (the table holds
    // both directions of every flow), is a duplicate.
    std::unordered_map<std::string, unsigned> seen;  // key bytes -> line of first occurrence
    std::vector<std::pair<unsigned, unsigned>> duplicates;  // (line, first line)
    auto key_bytes = [](const FlowKey& k) { return std::string(reinterpret_cast<const char*>(&k), sizeof k); };
    unsigned line_no = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);

        // Split on blanks, remembering each field's column for the diagnostics.
        std::vector<std::pair<std::string_view, unsigned>> fields;
        for (size_t i = 0; i < line.size();) {
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
            size_t start = i;
            while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
            if (i > start) fields.emplace_back(line.substr(start, i - start), static_cast<unsigned>(start + 1));
        }
        if (fields.empty()) {
            if (end == text.size()) break;
            continue;
        }
        auto bad = [&](unsigned column, std::string message) {
            diags.error("XB3101", std::move(message),
                        "write PROTO SRC_IP SRC_PORT DST_IP DST_PORT [VLAN0 [VLAN1]], e.g. "
                        "'tcp 10.0.0.1 1234 10.0.0.2 80'",
                        SourceLocation{file_name, line_no, column});
        };
        auto quoted = [](std::string_view f) { return "'" + printable(f) + "'"; };
        if (fields.size() < 5 || fields.size() > 7) {
            bad(fields.size() > 7 ? fields[7].second : fields.front().second,
                "a flow line needs 5 to 7 fields, this one has " + std::to_string(fields.size()));
        } else {
            unsigned nums[4] = {0, 0, 0, 0};  // src port, dst port, vlan0, vlan1
            const size_t num_field[4] = {2, 4, 5, 6};
            const unsigned max[4] = {65535, 65535, 4095, 4095};
            const char* what[4] = {"source port", "destination port", "outer VLAN id", "inner VLAN id"};
            bool ok = true;
            auto proto = parse_proto(fields[0].first);
            if (!proto) {
                bad(fields[0].second, "protocol " + quoted(fields[0].first) + " is not tcp, udp or a number 0-255");
                ok = false;
            }
            uint32_t addr[4];
            int family[2] = {0, 0};
            for (int i = 0; i < 2 && ok; ++i) {
                const auto& f = fields[i == 0 ? 1 : 3];
                family[i] = parse_address(f.first, addr);
                if (!family[i]) {
                    bad(f.second, std::string(i == 0 ? "source" : "destination") + " address " + quoted(f.first) +
                                      " is not an IPv4 or IPv6 address");
                    ok = false;
                }
            }
            if (ok && family[0] != family[1]) {
                bad(fields[3].second, "destination " + quoted(fields[3].first) + " is not of the source's IP family (" +
                                          (family[0] == XB_FAMILY_IPV4 ? "IPv4" : "IPv6") + ")");
                ok = false;
            }
            for (int i = 0; i < 4 && ok; ++i) {
                if (num_field[i] >= fields.size()) break;
                if (!parse_uint(fields[num_field[i]].first, max[i], &nums[i])) {
                    bad(fields[num_field[i]].second,
                        std::string(what[i]) + " " + quoted(fields[num_field[i]].first) + " is not a number 0-" +
                            std::to_string(max[i]));
                    ok = false;
                }
            }
            if (ok && *proto != IPPROTO_TCP && *proto != IPPROTO_UDP) {
                for (int i = 0; i < 2 && ok; ++i)
                    if (nums[i]) {
                        bad(fields[num_field[i]].second, "protocol " + std::to_string(*proto) +
                                                             " has no ports, so the " + what[i] + " must be 0");
                        ok = false;
                    }
            }
            if (ok) {
                auto key = make_flow_key(fields[0].first, fields[1].first, static_cast<uint16_t>(nums[0]),
                                         fields[3].first, static_cast<uint16_t>(nums[1]),
                                         static_cast<uint16_t>(nums[2]), static_cast<uint16_t>(nums[3]));
                if (!key) {
                    bad(fields[0].second, key.error().message);
                } else {
                    auto first = seen.find(key_bytes(*key));
                    if (first == seen.end()) first = seen.find(key_bytes(reverse_flow_key(*key)));
                    if (first != seen.end()) {
                        duplicates.emplace_back(line_no, first->second);
                    } else {
                        seen.emplace(key_bytes(*key), line_no);
                        flows.push_back(FlowSpec{*key, line_no});
                    }
                }
            }
        }
        if (end == text.size()) break;
    }
    if (!duplicates.empty()) {
        std::string list;
        constexpr size_t kShown = 10;
        for (size_t i = 0; i < duplicates.size() && i < kShown; ++i)
            list += (i ? ", " : "") + std::to_string(duplicates[i].first) + " (as line " +
                    std::to_string(duplicates[i].second) + ")";
        if (duplicates.size() > kShown) list += " and " + std::to_string(duplicates.size() - kShown) + " more";
        diags.warning("XB3102",
                      std::to_string(duplicates.size()) + (duplicates.size() == 1 ? " line repeats" : " lines repeat") +
                          " an earlier flow (either direction), counted once: line" +
                          (duplicates.size() == 1 ? " " : "s ") + list,
                      "remove the repeated lines; each flow is bypassed in both directions from one line",
                      SourceLocation{file_name, duplicates.front().first, 1});
    }
    return flows;
}

std::vector<FlowSpec> load_flows_file(const std::string& path, Diagnostics& diags) {
    InputFile in = read_input_file(path, kMaxFlowsFileBytes);
    if (in.problem == InputFileProblem::TooLarge) {
        diags.error("XB3103", input_file_refusal(in, path, "flows file"),
                    "split the flows into several files, or bypass them through the plugin ABI",
                    SourceLocation{path, 0, 0});
        return {};
    }
    if (!in.ok()) {
        diags.error("XB3100", input_file_refusal(in, path, "flows file"),
                    in.problem == InputFileProblem::NotRegular ? "give a regular file with one flow per line"
                                                               : "check the path and its permissions",
                    SourceLocation{path, 0, 0});
        return {};
    }
    return parse_flows(in.bytes, path, diags);
}

}  // namespace xb::datapath
