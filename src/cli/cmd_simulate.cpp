// xbypass simulate: what the bypass program would do with each packet of a capture.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/command.h"
#include "common/diagnostic.h"
#include "datapath/pcap.h"
#include "datapath/simulate.h"

namespace xb::cli {
namespace {

constexpr std::string_view kUsage =
    "Usage: xbypass simulate --pcap FILE [--flows FILE] [--datapath xdp|tc] [--cpu-redirect LIST]\n"
    "                        [--vlan-tracking yes|no] [--json]\n\n"
    "Loads the bypass program, fills its flow table from FILE (both directions of each flow), runs\n"
    "every packet of the capture through it with BPF_PROG_TEST_RUN, and prints per packet the parsed\n"
    "flow key and the verdict: bypass (a hit, dropped or forwarded to the IPS peer), pass (to the\n"
    "stack and the IDS) or cpu-redirect (a miss sent to a CPU, chosen by the symmetric flow hash).\n\n"
    "  --pcap FILE            classic pcap capture, Ethernet (pcapng: convert with editcap -F pcap),\n"
    "                         a regular file of any size, read record by record\n"
    "  --flows FILE           one flow per line: PROTO SRC_IP SRC_PORT DST_IP DST_PORT [VLAN0 [VLAN1]]\n"
    "                         (a regular file of at most 16 MiB; a repeated flow counts once)\n"
    "                         PROTO is tcp, udp or a number; '#' starts a comment\n"
    "  --datapath xdp|tc      program to run (default xdp)\n"
    "  --cpu-redirect LIST    CPUs for misses, e.g. 0-3,6 (XDP only)\n"
    "  --vlan-tracking yes|no key flows by VLAN ids too (default yes)\n"
    "  --json                 one JSON object per packet per line\n\n"
    "Needs root (it loads a BPF program). Exit status: 0 ok, 1 the program could not be loaded,\n"
    "2 usage error or unreadable input (a truncated or corrupt record ends the run after the\n"
    "verdicts of the packets before it).\n";

int usage_error(const std::string& message, bool json) {
    Diagnostic d{"XB3120", Severity::Error, {}, "", message, "run 'xbypass simulate --help' for the options"};
    if (json) std::printf("%s\n", d.to_json().c_str());
    else std::fputs(d.to_text().c_str(), stderr);
    return kExitUsage;
}

void print_diagnostics(const Diagnostics& diags, bool json) {
    for (const auto& d : diags) {
        if (json) std::printf("%s\n", d.to_json().c_str());
        else std::fputs(d.to_text().c_str(), stderr);
    }
}

int run_simulate(int argc, char** argv) {
    std::string pcap_path, flows_path;
    datapath::SimulateOptions options;
    bool json = false;
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--json") == 0) json = true;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--json") continue;
        auto value = [&](std::string* out) {
            if (i + 1 >= argc || !*argv[i + 1]) return false;  // an empty value is no value
            *out = argv[++i];
            return true;
        };
        std::string v;
        if (arg == "--pcap") {
            if (!value(&pcap_path)) return usage_error("--pcap needs a file name (not an empty one)", json);
        } else if (arg == "--flows") {
            if (!value(&flows_path)) return usage_error("--flows needs a file name (not an empty one)", json);
        } else if (arg == "--datapath") {
            if (!value(&v)) return usage_error("--datapath needs xdp or tc", json);
            if (v == "xdp") options.datapath = datapath::Hook::Xdp;
            else if (v == "tc") options.datapath = datapath::Hook::Tc;
            else return usage_error("--datapath '" + v + "' is not xdp or tc", json);
        } else if (arg == "--cpu-redirect") {
            if (!value(&v)) return usage_error("--cpu-redirect needs a CPU list", json);
            auto cpus = datapath::parse_cpu_list(v);
            if (!cpus) return usage_error("--cpu-redirect: " + cpus.error().message, json);
            options.cpu_redirect = *cpus;
        } else if (arg == "--vlan-tracking") {
            if (!value(&v)) return usage_error("--vlan-tracking needs yes or no", json);
            if (v == "yes" || v == "true") options.vlan_tracking = true;
            else if (v == "no" || v == "false") options.vlan_tracking = false;
            else return usage_error("--vlan-tracking '" + v + "' is not yes or no", json);
        } else {
            return usage_error("unknown option '" + arg + "'", json);
        }
    }
    if (pcap_path.empty()) return usage_error("--pcap FILE is required", json);

    Diagnostics diags;
    std::vector<datapath::FlowSpec> flows;
    if (!flows_path.empty()) flows = datapath::load_flows_file(flows_path, diags);
    auto capture = datapath::PcapReader::open(pcap_path, diags);
    if (diags.has_errors() || !capture) {
        print_diagnostics(diags, json);
        return kExitUsage;
    }
    // Record by record: each verdict is printed as it is known, so memory stays flat for any size.
    size_t bypass = 0, pass = 0, redirected = 0;
    bool capture_failed = false, header = json;
    auto print_header = [&] {
        if (!header) std::printf("%-6s%-22s%-18s%s\n", "#", "verdict", "reason", "flow");
        header = true;
    };
    datapath::PacketSource source = [&](datapath::PcapPacket& p) -> Result<bool> {
        auto more = capture->next(p, diags);
        if (!more) capture_failed = true;
        return more;
    };
    auto sink = [&](const datapath::PacketVerdict& v) {
        print_header();
        std::printf("%s\n", json ? v.to_json().c_str() : v.to_text().c_str());
        bypass += v.verdict == "bypass";
        pass += v.verdict == "pass";
        redirected += v.verdict == "cpu-redirect";
    };
    auto ran = datapath::simulate(options, flows, source, sink, diags);
    std::fflush(stdout);
    if (!ran) {
        print_diagnostics(diags, json);
        if (!diags.has_errors()) std::fprintf(stderr, "xbypass simulate: %s\n", ran.error().message.c_str());
        // A truncated or corrupt record: the verdicts above are those of the packets before it.
        return capture_failed ? kExitUsage : kExitRejected;
    }
    print_header();
    print_diagnostics(diags, json);  // warnings (e.g. frames the kernel would not run)
    if (!json)
        std::printf("\n%zu packets: %zu bypass, %zu pass, %zu cpu-redirect (%zu flows loaded, %s datapath)\n", *ran,
                    bypass, pass, redirected, flows.size(), options.datapath == datapath::Hook::Xdp ? "xdp" : "tc");
    return kExitOk;
}

const CommandRegistration kRegistration{Command{
    "simulate", "run the packets of a pcap through the bypass program and print each verdict", kUsage,
    run_simulate}};

}  // namespace
}  // namespace xb::cli
