// The control protocol: one JSON object per line each way (doc/operations.md). A request names its
// command in "cmd" and may carry an "id" that the reply echoes. Replies are {"ok":true,"result":...}
// or {"ok":false,"error":{"code":"XB80nn","message":"..."}}. Parsing is pure and total.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace xb::control {

inline constexpr size_t kMaxRequestBytes = 64 * 1024;  // one request line, without its newline
inline constexpr size_t kDefaultFlowLimit = 1000;
inline constexpr size_t kMaxFlowLimit = 1000000;

enum class Command { Status, Stats, Flows, Bypass, Unbypass, Reload, Shutdown };
std::string_view command_name(Command c);

// flows: which entries to list (every filter optional).
struct FlowFilter {
    std::string interface;
    uint8_t proto = 0;             // 0: any
    std::optional<uint8_t> family; // with address
    uint8_t address[16] = {};      // matches either end
    bool has_address = false;
    int port = -1;                 // matches either end; -1: any
    size_t limit = kDefaultFlowLimit;
};

// bypass / unbypass: one flow (both directions are handled by the run).
struct FlowSpec {
    std::string interface;
    uint8_t family = 4;  // 4 or 6
    uint8_t proto = 0;   // 6 tcp, 17 udp, or any IP protocol number
    uint8_t src[16] = {}, dst[16] = {};
    uint16_t sport = 0, dport = 0;  // host byte order
    uint16_t vlan[2] = {0, 0};
};

struct Request {
    Command cmd = Command::Status;
    std::string id_json;  // the request's "id" as JSON text, echoed in the reply; empty: none
    std::string interface;  // status / stats: only this interface
    FlowFilter filter;    // flows
    FlowSpec flow;        // bypass / unbypass
    std::string config;   // reload: another configuration file (empty: the running one's)
};

// Error codes of replies (doc/troubleshooting.md, XB8xxx).
inline constexpr const char* kErrMalformed = "XB8001";
inline constexpr const char* kErrOversized = "XB8002";
inline constexpr const char* kErrUnknown = "XB8003";
inline constexpr const char* kErrArgument = "XB8004";
inline constexpr const char* kErrFailed = "XB8005";
inline constexpr const char* kErrBusy = "XB8006";

struct ProtocolError {
    std::string code;
    std::string message;
    std::string id_json;  // when the request could be read that far
};

std::variant<Request, ProtocolError> parse_request(std::string_view line);

// Replies (without the trailing newline).
std::string ok_reply(std::string_view result_json, std::string_view id_json = {});
std::string error_reply(std::string_view code, std::string_view message, std::string_view id_json = {});

// "tcp"/"udp"/"icmp"/"icmpv6"/"sctp" or a number 0..255 → protocol number; nullopt when neither.
std::optional<uint8_t> parse_proto(std::string_view s);
std::string proto_name(uint8_t proto);

}  // namespace xb::control
