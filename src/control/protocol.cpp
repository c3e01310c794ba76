#include "control/protocol.h"

#include <arpa/inet.h>

#include <cmath>
#include <cstring>

#include "common/json.h"
#include "control/json_value.h"

namespace xb::control {

std::string_view command_name(Command c) {
    switch (c) {
        case Command::Status: return "status";
        case Command::Stats: return "stats";
        case Command::Flows: return "flows";
        case Command::Bypass: return "bypass";
        case Command::Unbypass: return "unbypass";
        case Command::Reload: return "reload";
        case Command::Shutdown: return "shutdown";
    }
    return "?";
}

std::optional<uint8_t> parse_proto(std::string_view s) {
    if (s == "tcp") return 6;
    if (s == "udp") return 17;
    if (s == "icmp") return 1;
    if (s == "icmpv6") return 58;
    if (s == "sctp") return 132;
    if (s.empty() || s.size() > 3) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > 255) return std::nullopt;
    return static_cast<uint8_t>(v);
}

std::string proto_name(uint8_t proto) {
    switch (proto) {
        case 6: return "tcp";
        case 17: return "udp";
        case 1: return "icmp";
        case 58: return "icmpv6";
        case 132: return "sctp";
        default: return std::to_string(proto);
    }
}

namespace {

std::string id_text(const JsonValue& id) {
    JsonWriter w;
    switch (id.kind()) {
        case JsonValue::Kind::String: w.value(id.string()); break;
        case JsonValue::Kind::Number: w.value(id.number()); break;
        case JsonValue::Kind::Bool: w.value(id.boolean()); break;
        default: return {};
    }
    return w.str();
}

struct Reader {
    const JsonValue& obj;
    std::string error;

    const JsonValue* member(std::string_view key, JsonValue::Kind kind, const char* what) {
        const JsonValue* v = obj.get(key);
        if (!v || v->kind() == JsonValue::Kind::Null) return nullptr;
        if (v->kind() != kind && error.empty()) error = "\"" + std::string(key) + "\" must be " + what;
        return v->kind() == kind ? v : nullptr;
    }
    bool string(std::string_view key, std::string& out) {
        if (auto* v = member(key, JsonValue::Kind::String, "a string")) {
            out = v->string();
            return true;
        }
        return false;
    }
    // An integer in [lo, hi]; as a JSON number or a decimal string.
    bool integer(std::string_view key, double lo, double hi, double& out) {
        const JsonValue* v = obj.get(key);
        if (!v || v->kind() == JsonValue::Kind::Null) return false;
        double d = 0;
        if (v->kind() == JsonValue::Kind::Number) {
            d = v->number();
        } else if (v->kind() == JsonValue::Kind::String && !v->string().empty() && v->string().size() < 12 &&
                   v->string().find_first_not_of("0123456789") == std::string::npos) {
            d = std::stod(v->string());
        } else {
            if (error.empty()) error = "\"" + std::string(key) + "\" must be a whole number";
            return false;
        }
        if (d != std::floor(d) || d < lo || d > hi) {
            if (error.empty())
                error = "\"" + std::string(key) + "\" must be a whole number from " + std::to_string(static_cast<long long>(lo)) +
                        " to " + std::to_string(static_cast<long long>(hi));
            return false;
        }
        out = d;
        return true;
    }
    bool proto(std::string_view key, uint8_t& out) {
        const JsonValue* v = obj.get(key);
        if (!v || v->kind() == JsonValue::Kind::Null) return false;
        std::optional<uint8_t> p;
        if (v->kind() == JsonValue::Kind::String) p = parse_proto(v->string());
        else if (v->kind() == JsonValue::Kind::Number && v->number() >= 0 && v->number() <= 255 &&
                 v->number() == std::floor(v->number()))
            p = static_cast<uint8_t>(v->number());
        if (!p) {
            if (error.empty()) error = "\"" + std::string(key) + "\" must be tcp, udp, icmp, icmpv6, sctp or 0..255";
            return false;
        }
        out = *p;
        return true;
    }
    // An IPv4 or IPv6 address; family is 4 or 6.
    bool address(std::string_view key, uint8_t& family, uint8_t* out) {
        std::string s;
        if (!string(key, s)) return false;
        std::memset(out, 0, 16);
        if (inet_pton(AF_INET, s.c_str(), out) == 1) family = 4;
        else if (inet_pton(AF_INET6, s.c_str(), out) == 1) family = 6;
        else {
            if (error.empty()) error = "\"" + std::string(key) + "\" is not an IPv4 or IPv6 address";
            return false;
        }
        return true;
    }
};

bool known_member(Command c, const std::string& k) {
    if (k == "cmd" || k == "id") return true;
    switch (c) {
        case Command::Status:
        case Command::Stats: return k == "interface";
        case Command::Flows: return k == "interface" || k == "proto" || k == "address" || k == "port" || k == "limit";
        case Command::Bypass:
        case Command::Unbypass:
            return k == "interface" || k == "proto" || k == "src" || k == "dst" || k == "sport" || k == "dport" ||
                   k == "vlan";
        case Command::Reload: return k == "config";
        case Command::Shutdown: return false;
    }
    return false;
}

}  // namespace

std::variant<Request, ProtocolError> parse_request(std::string_view line) {
    if (line.size() > kMaxRequestBytes)
        return ProtocolError{kErrOversized, "the request is longer than " + std::to_string(kMaxRequestBytes) + " bytes", {}};
    auto parsed = JsonValue::parse(line);
    if (!parsed) return ProtocolError{kErrMalformed, "the request is not JSON: " + parsed.error().message, {}};
    const JsonValue& v = *parsed;
    if (!v.is_object()) return ProtocolError{kErrMalformed, "the request must be a JSON object", {}};
    Request r;
    if (const JsonValue* id = v.get("id")) r.id_json = id_text(*id);
    const JsonValue* cmd = v.get("cmd");
    if (!cmd || cmd->kind() != JsonValue::Kind::String)
        return ProtocolError{kErrMalformed, "the request has no \"cmd\" string", r.id_json};
    static constexpr Command kAll[] = {Command::Status, Command::Stats,  Command::Flows,   Command::Bypass,
                                       Command::Unbypass, Command::Reload, Command::Shutdown};
    bool found = false;
    for (Command c : kAll)
        if (command_name(c) == cmd->string()) r.cmd = c, found = true;
    if (!found)
        return ProtocolError{kErrUnknown,
                             "unknown command \"" + cmd->string().substr(0, 64) +
                                 "\" (status, stats, flows, bypass, unbypass, reload, shutdown)",
                             r.id_json};
    for (const auto& [k, _] : v.object())
        if (!known_member(r.cmd, k))
            return ProtocolError{kErrArgument, std::string(command_name(r.cmd)) + " takes no \"" + k.substr(0, 64) + "\"",
                                 r.id_json};
    Reader rd{v, {}};
    double n = 0;
    switch (r.cmd) {
        case Command::Status:
        case Command::Stats: rd.string("interface", r.interface); break;
        case Command::Flows: {
            rd.string("interface", r.filter.interface);
            rd.proto("proto", r.filter.proto);
            uint8_t fam = 0;
            if (rd.address("address", fam, r.filter.address)) r.filter.family = fam, r.filter.has_address = true;
            if (rd.integer("port", 0, 65535, n)) r.filter.port = static_cast<int>(n);
            if (rd.integer("limit", 1, static_cast<double>(kMaxFlowLimit), n)) r.filter.limit = static_cast<size_t>(n);
            break;
        }
        case Command::Bypass:
        case Command::Unbypass: {
            FlowSpec& f = r.flow;
            if (!rd.string("interface", f.interface) && rd.error.empty()) rd.error = "\"interface\" is required";
            if (!rd.proto("proto", f.proto) && rd.error.empty()) rd.error = "\"proto\" is required";
            uint8_t fs = 0, fd = 0;
            if (!rd.address("src", fs, f.src) && rd.error.empty()) rd.error = "\"src\" is required";
            if (!rd.address("dst", fd, f.dst) && rd.error.empty()) rd.error = "\"dst\" is required";
            if (rd.error.empty() && fs != fd) rd.error = "\"src\" and \"dst\" must both be IPv4 or both IPv6";
            f.family = fs;
            bool ports = f.proto == 6 || f.proto == 17 || f.proto == 132;
            if (rd.integer("sport", 0, 65535, n)) f.sport = static_cast<uint16_t>(n);
            else if (ports && rd.error.empty()) rd.error = "\"sport\" is required for " + proto_name(f.proto);
            if (rd.integer("dport", 0, 65535, n)) f.dport = static_cast<uint16_t>(n);
            else if (ports && rd.error.empty()) rd.error = "\"dport\" is required for " + proto_name(f.proto);
            if (const JsonValue* vl = v.get("vlan"); vl && vl->kind() != JsonValue::Kind::Null) {
                bool ok = vl->kind() == JsonValue::Kind::Array && vl->array().size() <= 2;
                for (size_t i = 0; ok && i < vl->array().size(); ++i) {
                    const JsonValue& x = vl->array()[i];
                    ok = x.kind() == JsonValue::Kind::Number && x.number() >= 0 && x.number() <= 4095 &&
                         x.number() == std::floor(x.number());
                    if (ok) f.vlan[i] = static_cast<uint16_t>(x.number());
                }
                if (!ok && rd.error.empty()) rd.error = "\"vlan\" must be a list of at most two VLAN ids (0..4095)";
            }
            break;
        }
        case Command::Reload: rd.string("config", r.config); break;
        case Command::Shutdown: break;
    }
    if (!rd.error.empty())
        return ProtocolError{kErrArgument, std::string(command_name(r.cmd)) + ": " + rd.error, r.id_json};
    return r;
}

std::string ok_reply(std::string_view result_json, std::string_view id_json) {
    std::string out = "{\"ok\":true";
    if (!id_json.empty()) out += ",\"id\":" + std::string(id_json);
    out += ",\"result\":" + (result_json.empty() ? std::string("{}") : std::string(result_json)) + "}";
    return out;
}

std::string error_reply(std::string_view code, std::string_view message, std::string_view id_json) {
    JsonWriter w;
    w.begin_object().field("code", code).field("message", message).end_object();
    std::string out = "{\"ok\":false";
    if (!id_json.empty()) out += ",\"id\":" + std::string(id_json);
    out += ",\"error\":" + w.str() + "}";
    return out;
}

}  // namespace xb::control
