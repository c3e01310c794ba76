// xbypass probe [IFACE...] [--json] [--netns NAME]: what the interfaces and the kernel support.
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/netns_option.h"
#include "common/diagnostic.h"
#include "common/netns.h"
#include "probe/probe.h"
#include "probe/render.h"

namespace xb::cli {
namespace {

constexpr std::string_view kUsage =
    "Usage: xbypass probe [IFACE...] [--json] [--netns NAME] [--no-kernel]\n"
    "\n"
    "Probes what each interface and the running kernel really support: the netdev XDP features\n"
    "(basic, redirect, ndo-xmit, ...), what XDP programs and tc filters are attached, driver,\n"
    "queues, MTU, state, GRO, the veth peer; and the kernel's BPF program/map types, helpers,\n"
    "XDP links, bpffs/tracefs, BTF, freplace (libxdp dispatcher), online CPUs.\n"
    "\n"
    "  IFACE        interfaces to probe (default: every interface of the network namespace)\n"
    "  --json       one JSON object {\"kernel\": {...}, \"interfaces\": [...]} (see doc/probe.md)\n"
    "  --netns NAME probe inside the network namespace NAME (/run/netns/NAME, or a path)\n"
    "  --no-kernel  interfaces only\n"
    "\n"
    "Exit status: 0 ok, 1 an interface does not exist (diagnostic XB2001), 2 usage or I/O error.\n";

int run_probe(int argc, char** argv) {
    std::vector<std::string> names;
    bool json = false, kernel = true;
    std::optional<std::string> netns;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--json") {
            json = true;
        } else if (a == "--no-kernel") {
            kernel = false;
        } else if (a == "--netns") {
            if (i + 1 >= argc || !*argv[i + 1]) {
                std::fprintf(stderr, "xbypass probe: --netns needs a namespace name (not an empty one)\n%.*s",
                             static_cast<int>(kUsage.size()), kUsage.data());
                return kExitUsage;
            }
            netns = argv[++i];
        } else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "xbypass probe: unknown option '%s'\n%.*s", argv[i], static_cast<int>(kUsage.size()),
                         kUsage.data());
            return kExitUsage;
        } else {
            names.emplace_back(a);
        }
    }

    std::optional<ScopedNetns> in_ns;
    if (!enter_netns_option(netns.value_or(""), in_ns, "XB2011", json)) return kExitUsage;

    Diagnostics errors;
    std::vector<probe::InterfaceCaps> ifaces;
    if (names.empty()) {
        auto all = probe::probe_all_interfaces();
        if (!all) {
            errors.error("XB2010", "cannot list the interfaces: " + all.error().message,
                         "run as root with CAP_NET_ADMIN");
        } else {
            ifaces = std::move(all).value();
        }
    } else {
        for (const auto& n : names) {
            auto c = probe::probe_interface(n);
            if (c) ifaces.push_back(std::move(c).value());
            else if (c.error().code == ENODEV) errors.add(probe::missing_interface_diagnostic(n));
            else errors.error("XB2010", "cannot probe interface '" + n + "': " + c.error().message,
                              "run as root with CAP_NET_ADMIN");
        }
    }
    std::optional<probe::KernelCaps> k;
    if (kernel) k = probe::probe_kernel();

    if (json) {
        std::string out = probe::report_to_json(k ? &*k : nullptr, ifaces);
        if (!errors.empty()) {
            // Keep stdout one JSON document: errors become a member of it.
            out.pop_back();
            out += ",\"errors\":" + errors.to_json() + "}";
        }
        std::printf("%s\n", out.c_str());
    } else {
        if (!ifaces.empty()) std::fputs(probe::interfaces_to_text(ifaces).c_str(), stdout);
        if (k) std::printf("%s%s", ifaces.empty() ? "" : "\n", probe::kernel_to_text(*k).c_str());
        std::fputs(errors.to_text().c_str(), stderr);
    }
    if (errors.has_errors()) {
        for (const auto& d : errors)
            if (d.code == "XB2010") return kExitUsage;
        return kExitRejected;
    }
    return kExitOk;
}

const CommandRegistration kRegistration{Command{
    "probe", "what the interfaces and the kernel support (XDP features, attached programs, BPF)", kUsage,
    run_probe}};

}  // namespace
}  // namespace xb::cli
