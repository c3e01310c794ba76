// xbypass run -c FILE: check, probe, plan, then attach and stay in the foreground, logging the
// counters every stats-interval, until SIGINT or SIGTERM; then detach exactly what was attached.
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>
#include <string>

#include "cli/command.h"
#include "config.h"
#include "common/log.h"
#include "common/mounts.h"
#include "cli/netns_option.h"
#include "config/check.h"
#include "datapath/flow.h"
#include "plugin/session.h"

namespace xb::cli {
namespace {

constexpr std::string_view kUsage =
    "Usage: xbypass run -c FILE [--interface NAME] [--netns NAME] [--flows FILE] [--duration SECONDS]\n\n"
    "Checks the configuration, probes the interfaces and the kernel, plans the datapath of each\n"
    "interface, attaches it (all interfaces or none), and runs in the foreground until SIGINT or\n"
    "SIGTERM, logging the bypass counters every stats-interval. On exit it detaches exactly what it\n"
    "attached. A rejected configuration exits 1 with nothing attached, pinned or created.\n\n"
    "Options:\n"
    "  -c, --config FILE      the configuration file\n"
    "  -i, --interface NAME   run on NAME only: the config's entry for NAME, or else its first entry\n"
    "                         applied to NAME (lets a default file run on any interface)\n"
    "      --netns NAME       enter network namespace NAME (/run/netns/NAME) first; only the network\n"
    "                         namespace is entered, so bpffs stays visible\n"
    "      --flows FILE       bypass these flows once attached (PROTO SRC SPORT DST DPORT [VLAN [VLAN]])\n"
    "      --duration SECONDS stop by itself after SECONDS\n"
    "  -h, --help             this text\n\n"
    "Exit status: 0 ran and detached cleanly, 1 rejected or failed to attach, 2 usage or I/O error.\n";

int usage_error(const std::string& why) {
    std::fprintf(stderr, "xbypass run: %s\n\n%.*s", why.c_str(), static_cast<int>(kUsage.size()), kUsage.data());
    return kExitUsage;
}

// Narrows the configuration to one interface named on the command line.
bool select_interface(config::Config& cfg, const std::string& name, Diagnostics& diags) {
    for (auto& ic : cfg.interfaces) {
        if (ic.name == name) {
            config::InterfaceConfig keep = ic;
            cfg.interfaces = {keep};
            return true;
        }
    }
    if (cfg.interfaces.empty()) {
        diags.error("XB0003", "--interface " + name + ": the configuration has no interface entry to apply",
                    "add an entry under xbypass.interfaces");
        return false;
    }
    config::InterfaceConfig first = cfg.interfaces.front();
    diags.info("XB0004", "--interface " + name + ": using the settings of interface " + first.name, "",
               first.origin.location, first.origin.key_path);
    first.name = name;
    cfg.interfaces = {first};
    return true;
}

void print_diagnostics(Diagnostics& d) {
    d.sort_by_location();
    for (const auto& x : d) {
        std::string t = x.to_text();
        std::fwrite(t.data(), 1, t.size(), stderr);
    }
}

int run(int argc, char** argv) {
    std::string file, iface, netns, flows_file;
    long duration = 0;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto need = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = nullptr;
        if (a == "-c" || a == "--config") {
            if (!(v = need())) return usage_error(std::string(a) + " needs a file name");
            file = v;
        } else if (a == "-i" || a == "--interface") {
            if (!(v = need())) return usage_error(std::string(a) + " needs an interface name");
            iface = v;
        } else if (a == "--netns") {
            if (!(v = need())) return usage_error("--netns needs a namespace name");
            netns = v;
        } else if (a == "--flows") {
            if (!(v = need())) return usage_error("--flows needs a file name");
            flows_file = v;
        } else if (a == "--duration") {
            if (!(v = need())) return usage_error("--duration needs a number of seconds");
            char* end = nullptr;
            duration = std::strtol(v, &end, 10);
            if (*end || duration <= 0) return usage_error("--duration takes a positive number of seconds");
        } else {
            return usage_error("unknown argument '" + std::string(a) + "'");
        }
    }
    if (file.empty()) return usage_error("no configuration file given (-c FILE)");

    // Signals are taken synchronously (sigtimedwait) so a stop request never interrupts an attach.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_signals, nullptr);

    std::optional<ScopedNetns> in_netns;
    if (!enter_netns_option(netns, in_netns, "XB0002", false)) return kExitUsage;

    config::CheckReport report = config::run_static_checks(file);
    if (report.io_error || !report.accepted()) {
        std::string out = report.to_text();
        std::fwrite(out.data(), 1, out.size(), stderr);
        return report.exit_code();
    }
    config::Config cfg = report.config;
    Diagnostics diags = report.diagnostics;
    if (!iface.empty() && !select_interface(cfg, iface, diags)) {
        print_diagnostics(diags);
        return kExitRejected;
    }

    auto& logger = Logger::instance();
    logger.set_level(cfg.global.log_level);
    if (!cfg.global.log_file.empty()) {
        if (auto st = logger.open_file(cfg.global.log_file); !st) {
            std::fprintf(stderr, "error[XB0005]: %s\n", st.error().message.c_str());
            return kExitUsage;
        }
    }
    // bpffs for pins and tracefs for tracepoints; mounting them changes nothing else.
    (void)ensure_bpffs();
    (void)ensure_tracefs();

    log_notice("main", "xbypass " + std::string(PACKAGE_VERSION) + " starting with " + file +
                           (netns.empty() ? "" : " in network namespace " + netns));
    session::Assessment assessment = session::assess(cfg);
    diags.append(assessment.diagnostics);
    logger.log_block(LogLevel::Notice, "plan", session::startup_block(assessment));
    diags.sort_by_location();
    for (const auto& d : diags) logger.log(d, "check");
    if (!assessment.accepted()) {
        log_error("main", "configuration rejected: nothing was attached");
        return kExitRejected;
    }

    Diagnostics start_diags;
    auto session = session::Session::start(assessment, start_diags);
    for (const auto& d : start_diags) logger.log(d, "datapath");
    if (!session) {
        log_error("main", "startup failed: every interface was rolled back, nothing is attached");
        return kExitRejected;
    }
    for (const auto& ri : session->interfaces())
        log_notice("datapath", ri.plan.interface + ": " + std::string(plan::datapath_name(ri.plan.datapath)) +
                                   (ri.plan.program.empty() ? "" : " running " + ri.plan.program) + ", verified attached");

    if (!flows_file.empty()) {
        Diagnostics fd;
        auto flows = datapath::load_flows_file(flows_file, fd);
        for (const auto& d : fd) logger.log(d, "bypass");
        for (const auto& f : flows)
            for (const auto& ri : session->interfaces()) {
                if (!ri.program) continue;
                auto st = session->bypass_flow(ri.plan.interface, f.key);
                if (st) log_notice("bypass", ri.plan.interface + ": bypassing " + datapath::flow_key_to_string(f.key));
                else log_error("bypass", ri.plan.interface + ": cannot bypass " + datapath::flow_key_to_string(f.key) +
                                             ": " + st.error().message);
            }
    }

    std::ofstream eve;
    if (!cfg.global.eve_log.empty()) {
        eve.open(cfg.global.eve_log, std::ios::app);
        if (!eve) log_warning("main", "cannot open eve-log " + cfg.global.eve_log + "; stats go to the log only");
    }
    auto report_stats = [&] {
        logger.log_block(LogLevel::Notice, "stats", session->stats_text());
        if (eve.is_open()) eve << session->stats_json() << '\n' << std::flush;
    };

    timespec start{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    long interval = cfg.global.stats_interval ? cfg.global.stats_interval : 3600;
    long next_stats = interval;  // seconds after start
    int exit_code = kExitOk;
    for (;;) {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = now.tv_sec - start.tv_sec;
        // Wake for the lease at least, whatever the stats interval.
        long wait = std::clamp(next_stats - elapsed, 1L, static_cast<long>(session::kLeaseRenewSeconds));
        if (duration) {
            if (elapsed >= duration) break;
            wait = std::min(wait, duration - elapsed);
        }
        timespec timeout{wait, 0};
        int sig = sigtimedwait(&stop_signals, nullptr, &timeout);
        if (sig == SIGINT || sig == SIGTERM) {
            log_notice("main", std::string("signal ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + " received, stopping");
            break;
        }
        // A lease that cannot be renewed lapses: the kernel then stops bypassing, which loses nothing.
        if (auto st = session->renew_leases(); !st)
            log_warning("bypass", "cannot renew the flow table lease: " + st.error().message +
                                      "; when it lapses, bypassed flows go to the IDS again");
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec < next_stats) continue;
        next_stats = now.tv_sec - start.tv_sec + interval;
        if (cfg.global.stats_interval) report_stats();
        auto expired = session->expire_idle(static_cast<uint64_t>(now.tv_sec) * 1000000000ull +
                                            static_cast<uint64_t>(now.tv_nsec));
        if (expired && *expired) log_info("bypass", "expired " + std::to_string(*expired) + " idle flows");
        if (auto st = session->verify(); !st) {
            log_error("datapath", "the datapath is no longer as planned: " + st.error().message + "; stopping");
            exit_code = kExitRejected;
            break;
        }
    }
    report_stats();
    session.reset();  // detaches exactly what was attached
    log_notice("main", "detached; exiting");
    return exit_code;
}

const CommandRegistration kRegistration{
    Command{"run", "attach the planned datapath and run until SIGINT/SIGTERM", kUsage, run}};

}  // namespace
}  // namespace xb::cli
