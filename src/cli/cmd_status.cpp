// xbypass status [IFACE] [--json] [--netns NAME]: every XDP program and tc filter of the network
// namespace, whose it is, its mode and lease, and the run that owns it — from the kernel's state.
#include <cstdio>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/inspect.h"
#include "cli/netns_option.h"
#include "common/json.h"

namespace xb::cli {
namespace {

constexpr std::string_view kUsage =
    "Usage: xbypass status [IFACE] [--json] [--netns NAME]\n\n"
    "Lists every interface with an XDP program or a tc filter, from the kernel's own state (no\n"
    "running xbypass needed): whose program it is (xbypass's built-in programs by name, or another\n"
    "tool's, with its id and name), its mode, the lease of the flow table (a run renews it; a killed\n"
    "run's lapses and nothing is bypassed), and the live run that owns the interface (pid, config);\n"
    "in the Suricata mode also the pairing with Suricata (paired / waiting / failed open, its pid and\n"
    "since when, the entries of its maps and what the kernel bypassed into them).\n\n"
    "  IFACE        only this interface\n"
    "  --json       one JSON object {\"attachments\": [...]}\n"
    "  --netns NAME in the network namespace NAME\n\n"
    "Exit status: 0 ok, 1 IFACE does not exist, 2 usage or I/O error.\n";

int run_status(int argc, char** argv) {
    std::string iface, netns;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--json") json = true;
        else if (a == "--netns" && i + 1 < argc) netns = argv[++i];
        else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "xbypass status: unknown option '%s'\n\n%.*s", argv[i], static_cast<int>(kUsage.size()),
                         kUsage.data());
            return kExitUsage;
        } else if (iface.empty()) iface = std::string(a);
        else {
            std::fprintf(stderr, "xbypass status: one interface at most\n");
            return kExitUsage;
        }
    }
    std::optional<ScopedNetns> in_ns;
    if (!enter_netns_option(netns, in_ns, "XB0002", json)) return kExitUsage;
    auto found = inspect(iface);
    if (!found) {
        std::fprintf(stderr, "xbypass status: %s\n", found.error().message.c_str());
        return found.error().code == ENODEV ? kExitRejected : kExitUsage;
    }
    if (json) {
        JsonWriter w;
        w.begin_object().key("attachments").begin_array();
        for (const auto& a : *found) {
            w.begin_object()
                .field("interface", a.interface)
                .field("ifindex", a.ifindex)
                .field("hook", a.hook)
                .field("mode", a.mode)
                .field("prog_id", a.prog_id)
                .field("prog_name", a.prog_name)
                .field("owner", a.ours ? "xbypass" : "other")
                .field("via", a.via);
            if (a.ours) {
                w.key("lease").begin_object().field("known", a.lease.known);
                if (a.lease.known) w.field("until_jiffies", a.lease.until).field("seconds_left", a.lease.seconds_left)
                                      .field("held", !a.lease.until || a.lease.seconds_left > 0);
                w.end_object().field("pinned", a.pinned);
                if (a.run) {
                    w.key("run").begin_object().field("pid", static_cast<int64_t>(a.run->pid)).field("config", a.run->config)
                        .field("socket", a.run->socket).end_object();
                    if (const auto& sp = a.run->suricata) {
                        w.key("suricata").begin_object().field("state", sp->state).field("pid", sp->pid);
                        if (!sp->process.empty()) w.field("process", sp->process);
                        if (!sp->since.empty()) w.field("since", sp->since);
                        w.field("entries-v4", sp->entries_v4).field("entries-v6", sp->entries_v6)
                            .field("packets", sp->packets).field("bytes", sp->bytes).end_object();
                    }
                } else {
                    w.key("run").null();
                }
            }
            w.end_object();
        }
        w.end_array().end_object();
        std::printf("%s\n", w.str().c_str());
        return kExitOk;
    }
    if (found->empty()) {
        std::printf("%s\n", iface.empty() ? "no XDP program or tc filter on any interface"
                                          : ("no XDP program or tc filter on " + iface).c_str());
        return kExitOk;
    }
    for (const auto& a : *found) {
        std::printf("%s: %s %s, program %s (id %u), %s\n", a.interface.c_str(), a.hook.c_str(), a.mode.c_str(),
                    a.prog_name.c_str(), a.prog_id, a.via.c_str());
        if (!a.ours) {
            std::printf("  owner: another tool (not an xbypass program)\n");
            continue;
        }
        std::printf("  owner: xbypass%s\n", a.pinned ? " (maps pinned)" : "");
        std::printf("  lease: %s\n", a.lease.text().c_str());
        if (a.run)
            std::printf("  run: pid %d%s%s\n", static_cast<int>(a.run->pid),
                        a.run->config.empty() ? "" : (", config " + a.run->config).c_str(),
                        a.run->socket.empty() ? "" : (", control socket " + a.run->socket).c_str());
        if (a.run && a.run->suricata) std::printf("  suricata: %s\n", a.run->suricata->text().c_str());
        if (!a.run)
            std::printf("  run: none alive — a leftover of a run that did not stop (remove it with `xbypass detach %s`)\n",
                        a.interface.c_str());
    }
    return kExitOk;
}

const CommandRegistration kRegistration{
    Command{"status", "what runs on the interfaces: ours or another tool's, lease, owning run", kUsage, run_status}};

}  // namespace
}  // namespace xb::cli
