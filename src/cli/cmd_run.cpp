// xbypass run -c FILE: check, probe, plan, then attach and stay in the foreground, logging the
// counters every stats-interval, until SIGINT or SIGTERM; then detach exactly what was attached.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <string>

#include "cli/command.h"
#include "config.h"
#include "common/log.h"
#include "common/mounts.h"
#include "common/owners.h"
#include "cli/netns_option.h"
#include "config/check.h"
#include "datapath/flow.h"
#include "plugin/session.h"
#include "session/startup.h"
#include "session/upkeep.h"

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

    session::StartRequest request;
    request.config_file = file;
    request.interface = iface;
    session::Startup started = session::start(request);
    if (!started.session) {
        // Refused before anything was logged (static checks, I/O): the diagnostics go to stderr.
        if (!started.logged) print_diagnostics(started.diagnostics);
        return started.exit_code;
    }
    auto& session = started.session;
    if (!netns.empty()) log_notice("main", "running in network namespace " + netns);

    if (!flows_file.empty()) {
        Diagnostics fd;
        auto flows = datapath::load_flows_file(flows_file, fd);
        for (const auto& d : fd) Logger::instance().log(d, "bypass");
        for (const auto& f : flows)
            for (const auto& ri : session->interfaces()) {
                if (!ri.program) continue;
                auto st = session->bypass_flow(ri.plan.interface, f.key);
                if (st) log_notice("bypass", ri.plan.interface + ": bypassing " + datapath::flow_key_to_string(f.key));
                else log_error("bypass", ri.plan.interface + ": cannot bypass " + datapath::flow_key_to_string(f.key) +
                                             ": " + st.error().message);
            }
    }

    UniqueFd signal_fd(signalfd(-1, &stop_signals, SFD_CLOEXEC));
    if (!signal_fd) {
        log_error("main", std::string("cannot wait for signals: ") + std::strerror(errno));
        return kExitUsage;
    }
    session::Upkeep upkeep(*session, started.config.global);
    const uint64_t start_s = session::Upkeep::monotonic_seconds();
    int exit_code = kExitOk;
    for (;;) {
        uint64_t now = session::Upkeep::monotonic_seconds();
        uint64_t wait = upkeep.seconds_to_next(now);
        if (duration) {
            uint64_t elapsed = now - start_s;
            if (elapsed >= static_cast<uint64_t>(duration)) break;
            wait = std::min<uint64_t>(wait, static_cast<uint64_t>(duration) - elapsed);
        }
        // A stop signal, a link event or the next upkeep, whichever comes first.
        pollfd fds[2] = {{signal_fd.get(), POLLIN, 0}, {upkeep.link_fd(), POLLIN, 0}};
        int ready = poll(fds, fds[1].fd >= 0 ? 2 : 1, static_cast<int>(wait * 1000));
        if (ready > 0 && (fds[0].revents & POLLIN)) {
            signalfd_siginfo si{};
            int sig = read(signal_fd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si) ? static_cast<int>(si.ssi_signo) : SIGTERM;
            log_notice("main", std::string("signal ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + " received, stopping");
            break;
        }
        if (ready > 0 && (fds[1].revents & POLLIN)) {
            if (auto st = upkeep.on_link_events(); !st) {
                log_error("datapath", "the datapath is no longer as planned: " + st.error().message + "; stopping");
                exit_code = kExitRejected;
                break;
            }
        }
        if (auto st = upkeep.tick(session::Upkeep::monotonic_seconds()); !st) {
            log_error("datapath", "the datapath is no longer as planned: " + st.error().message + "; stopping");
            exit_code = kExitRejected;
            break;
        }
    }
    upkeep.report_stats();
    session.reset();  // detaches exactly what was attached
    log_notice("main", "detached; exiting");
    return exit_code;
}

const CommandRegistration kRegistration{
    Command{"run", "attach the planned datapath and run until SIGINT/SIGTERM", kUsage, run}};

}  // namespace
}  // namespace xb::cli
