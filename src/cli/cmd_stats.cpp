// xbypass stats [--interface I] [--watch SECONDS] [--json]: the kernel counters of the running run,
// through its control socket; --watch prints them again every SECONDS until interrupted.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/control_client.h"
#include "cli/netns_option.h"
#include "common/json.h"

namespace xb::cli {
namespace {

constexpr std::string_view kUsage =
    "Usage: xbypass stats [--interface NAME] [--watch SECONDS] [--json] [--netns NAME]\n\n"
    "Prints the bypass counters of the running xbypass per interface (pass, drop, ips-forward,\n"
    "cpu-redirect, ..., flow-entries; in the Suricata mode suricata-pid, suricata-entries-v4/-v6,\n"
    "suricata-packets, suricata-bytes), through its control socket.\n\n"
    "  --interface NAME  the run on NAME, and only NAME's counters\n"
    "  --watch SECONDS   print again every SECONDS (with the change since the last print), until ^C\n"
    "  --json            one JSON object per print\n\n"
    "Exit status: 0 ok, 1 no run to ask (XB8201, XB8202) or it refused, 2 usage error.\n";

// Values that are a state, not a count: --watch prints no change for them.
bool is_gauge(const std::string& k) {
    return k == "flow-entries" || k == "suricata-pid" || k == "suricata-entries-v4" || k == "suricata-entries-v6";
}

int run_stats(int argc, char** argv) {
    std::string iface, netns;
    long watch = 0;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--json") json = true;
        else if ((a == "-i" || a == "--interface") && i + 1 < argc) iface = argv[++i];
        else if (a == "--netns" && i + 1 < argc) netns = argv[++i];
        else if (a == "--watch" && i + 1 < argc) {
            char* end = nullptr;
            watch = std::strtol(argv[++i], &end, 10);
            if (*end || watch <= 0) return std::fprintf(stderr, "xbypass stats: --watch takes a positive number of seconds\n"), kExitUsage;
        } else {
            std::fprintf(stderr, "xbypass stats: unknown argument '%s'\n\n%.*s", argv[i], static_cast<int>(kUsage.size()), kUsage.data());
            return kExitUsage;
        }
    }
    std::optional<ScopedNetns> in_ns;
    if (!enter_netns_option(netns, in_ns, "XB0002", json)) return kExitUsage;
    auto sock = pick_socket(iface);
    if (!sock) return std::fprintf(stderr, "xbypass stats: %s\n", sock.error().message.c_str()), kExitRejected;
    JsonWriter req;
    req.begin_object().field("cmd", "stats");
    if (!iface.empty()) req.field("interface", iface);
    req.end_object();
    std::map<std::string, uint64_t> last;
    for (bool first = true;; first = false) {
        auto res = call(*sock, req.str());
        if (!res) return std::fprintf(stderr, "xbypass stats: %s\n", res.error().message.c_str()), kExitRejected;
        const auto* ifs = res->get("interfaces");
        JsonWriter o;
        o.begin_object().key("interfaces").begin_object();
        std::string text;
        for (const auto& [name, counters] : ifs ? ifs->object() : std::map<std::string, control::JsonValue>{}) {
            o.key(name).begin_object();
            text += name + ":";
            if (const auto* dp = counters.get("datapath"); dp && dp->kind() == control::JsonValue::Kind::String) {
                o.field("datapath", dp->string());
                text += " datapath=" + dp->string();
            }
            for (const auto& [k, v] : counters.object()) {
                if (v.kind() != control::JsonValue::Kind::Number) continue;
                uint64_t n = static_cast<uint64_t>(v.number());
                o.field(k, n);
                text += " " + k + "=" + std::to_string(n);
                std::string id = name + "/" + k;
                if (!first && !is_gauge(k)) text += "(+" + std::to_string(n - std::min(n, last[id])) + ")";
                last[id] = n;
            }
            o.end_object();
            text += "\n";
        }
        o.end_object().end_object();
        if (json) std::printf("%s\n", o.str().c_str());
        else std::fputs(text.empty() ? "no interface runs a bypass program\n" : text.c_str(), stdout);
        std::fflush(stdout);
        if (!watch) return kExitOk;
        sleep(static_cast<unsigned>(watch));
    }
}

const CommandRegistration kRegistration{
    Command{"stats", "the kernel counters of the running xbypass (control socket), once or --watch", kUsage, run_stats}};

}  // namespace
}  // namespace xb::cli
