// xbypass flows [--interface I] [--proto P] [--address A] [--port N] [--limit N] [--json]: the
// bypassed flows of the running run, through its control socket.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/control_client.h"
#include "cli/netns_option.h"
#include "common/json.h"

namespace xb::cli {
namespace {

constexpr std::string_view kUsage =
    "Usage: xbypass flows [--interface NAME] [--proto P] [--address ADDR] [--port N] [--limit N] [--json]\n"
    "                     [--netns NAME]\n\n"
    "Lists the bypassed flows of the running xbypass (its flow table), through its control socket:\n"
    "one line per direction with packets and bytes the kernel counted for it.\n\n"
    "  --interface NAME  the run on NAME, and only NAME's flows (default: the only run, every interface)\n"
    "  --proto P         tcp, udp, icmp, icmpv6, sctp or a number\n"
    "  --address ADDR    flows with ADDR at either end\n"
    "  --port N          flows with port N at either end\n"
    "  --limit N         at most N flows (default 1000)\n"
    "  --json            the control socket's reply result as is\n\n"
    "Exit status: 0 ok, 1 no run to ask (XB8201, XB8202) or it refused, 2 usage error.\n";

int run_flows(int argc, char** argv) {
    std::string iface, netns, proto, address;
    long port = -1, limit = 0;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        auto num = [&](long& out, long lo, long hi) {
            char* end = nullptr;
            out = std::strtol(v, &end, 10);
            return *v && !*end && out >= lo && out <= hi;
        };
        if (a == "--json") { json = true; continue; }
        if (!v) return std::fprintf(stderr, "xbypass flows: %s needs a value\n\n%.*s", argv[i], static_cast<int>(kUsage.size()), kUsage.data()), kExitUsage;
        ++i;
        if (a == "-i" || a == "--interface") iface = v;
        else if (a == "--netns") netns = v;
        else if (a == "--proto") proto = v;
        else if (a == "--address") address = v;
        else if (a == "--port") { if (!num(port, 0, 65535)) return std::fprintf(stderr, "xbypass flows: --port takes 0..65535\n"), kExitUsage; }
        else if (a == "--limit") { if (!num(limit, 1, 1000000)) return std::fprintf(stderr, "xbypass flows: --limit takes 1..1000000\n"), kExitUsage; }
        else return std::fprintf(stderr, "xbypass flows: unknown option '%s'\n\n%.*s", argv[i - 1], static_cast<int>(kUsage.size()), kUsage.data()), kExitUsage;
    }
    std::optional<ScopedNetns> in_ns;
    if (!enter_netns_option(netns, in_ns, "XB0002", json)) return kExitUsage;
    auto sock = pick_socket(iface);
    if (!sock) return std::fprintf(stderr, "xbypass flows: %s\n", sock.error().message.c_str()), kExitRejected;
    JsonWriter w;
    w.begin_object().field("cmd", "flows");
    if (!iface.empty()) w.field("interface", iface);
    if (!proto.empty()) w.field("proto", proto);
    if (!address.empty()) w.field("address", address);
    if (port >= 0) w.field("port", static_cast<int64_t>(port));
    if (limit > 0) w.field("limit", static_cast<int64_t>(limit));
    w.end_object();
    auto res = call(*sock, w.str());
    if (!res) return std::fprintf(stderr, "xbypass flows: %s\n", res.error().message.c_str()), kExitRejected;
    const auto* flows = res->get("flows");
    if (json) {
        // Re-encode the result (the reply line minus the envelope).
        JsonWriter o;
        o.begin_object().key("flows").begin_array();
        for (const auto& f : flows ? flows->array() : std::vector<control::JsonValue>{}) {
            o.begin_object();
            for (const auto& [k, v] : f.object()) {
                if (v.kind() == control::JsonValue::Kind::String) o.field(k, v.string());
                else if (v.kind() == control::JsonValue::Kind::Number) o.field(k, static_cast<uint64_t>(v.number()));
                else if (v.kind() == control::JsonValue::Kind::Array) {
                    o.key(k).begin_array();
                    for (const auto& x : v.array()) o.value(static_cast<uint64_t>(x.number()));
                    o.end_array();
                }
            }
            o.end_object();
        }
        o.end_array().field("count", static_cast<uint64_t>(res->get("count") ? res->get("count")->number() : 0))
            .field("truncated", res->get("truncated") && res->get("truncated")->boolean()).end_object();
        std::printf("%s\n", o.str().c_str());
        return kExitOk;
    }
    size_t n = 0;
    for (const auto& f : flows ? flows->array() : std::vector<control::JsonValue>{}) {
        auto s = [&](const char* k) { const auto* v = f.get(k); return v ? (v->kind() == control::JsonValue::Kind::String ? v->string() : std::to_string(static_cast<uint64_t>(v->number()))) : std::string(); };
        std::printf("%s: %s %s:%s -> %s:%s packets=%s bytes=%s\n", s("interface").c_str(), s("proto").c_str(), s("src").c_str(),
                    s("sport").c_str(), s("dst").c_str(), s("dport").c_str(), s("packets").c_str(), s("bytes").c_str());
        ++n;
    }
    bool truncated = res->get("truncated") && res->get("truncated")->boolean();
    std::printf("%zu flow entr%s%s\n", n, n == 1 ? "y" : "ies", truncated ? " (limit reached; more are bypassed)" : "");
    return kExitOk;
}

const CommandRegistration kRegistration{
    Command{"flows", "the bypassed flows of the running xbypass (control socket)", kUsage, run_flows}};

}  // namespace
}  // namespace xb::cli
