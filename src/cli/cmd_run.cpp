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
#include "common/file_lock.h"
#include "common/log.h"
#include "common/owners.h"
#include "control/server.h"
#include "common/mounts.h"
#include "common/owners.h"
#include "cli/netns_option.h"
#include "config/check.h"
#include "datapath/flow.h"
#include "session/session.h"
#include "session/control.h"
#include "session/reload.h"
#include "session/startup.h"
#include "session/upkeep.h"

namespace xb::cli {
namespace {

constexpr std::string_view kUsage =
    "Usage: xbypass run -c FILE [--interface NAME] [--netns NAME] [--flows FILE] [--duration SECONDS]\n\n"
    "Checks the configuration, probes the interfaces and the kernel, plans the datapath of each\n"
    "interface, attaches it (all interfaces or none), and runs in the foreground until SIGINT or\n"
    "SIGTERM, logging the bypass counters every stats-interval. On exit it detaches exactly what it\n"
    "attached. A rejected configuration exits 1 with nothing attached, pinned or created.\n"
    "SIGHUP (or `reload` on the control socket) reloads the configuration without a gap: an invalid\n"
    "one changes nothing. The control socket is /run/xbypass/<netns inode>-<pid>.sock (doc/operations.md).\n\n"
    "Options:\n"
    "  -c, --config FILE      the configuration file\n"
    "  -i, --interface NAME   run on NAME only: the config's entry for NAME, or else its first entry\n"
    "                         applied to NAME (lets a default file run on any interface)\n"
    "      --netns NAME       enter network namespace NAME (/run/netns/NAME) first; only the network\n"
    "                         namespace is entered, so bpffs stays visible\n"
    "      --flows FILE       bypass these flows once attached (PROTO SRC SPORT DST DPORT [VLAN [VLAN]]);\n"
    "                         read and checked before anything is attached: a bad file refuses the start\n"
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
            if (!(v = need()) || !*v) return usage_error(std::string(a) + " needs a file name");
            file = v;
        } else if (a == "-i" || a == "--interface") {
            if (!(v = need()) || !*v) return usage_error(std::string(a) + " needs an interface name (not an empty one)");
            iface = v;
        } else if (a == "--netns") {
            if (!(v = need()) || !*v) return usage_error("--netns needs a namespace name (not an empty one)");
            netns = v;
        } else if (a == "--flows") {
            if (!(v = need()) || !*v) return usage_error("--flows needs a file name (not an empty one)");
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
    sigaddset(&stop_signals, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
    UniqueFd sig_fd(signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sig_fd) {
        std::fprintf(stderr, "xbypass run: signalfd: %s\n", std::strerror(errno));
        return kExitUsage;
    }

    std::optional<ScopedNetns> in_netns;
    if (!enter_netns_option(netns, in_netns, "XB0002", false)) return kExitUsage;

    session::StartRequest request;
    request.config_file = file;
    request.interface = iface;
    request.flows_file = flows_file;
    session::Startup started = session::start(request);
    if (!started.session) {
        // Refused before anything was logged (static checks, I/O): the diagnostics go to stderr.
        if (!started.logged) print_diagnostics(started.diagnostics);
        return started.exit_code;
    }
    auto& session = started.session;
    if (!netns.empty()) log_event(LogLevel::Notice, "main", "XB0013", "running in network namespace " + netns);

    if (!flows_file.empty()) {
        log_event(LogLevel::Notice, "bypass", "XB6050", std::to_string(started.flows.size()) + " flows loaded from " + flows_file);
        for (const auto& f : started.flows) {
            // Many flows take a while: a stop request (blocked, so pending) ends the loading early.
            sigset_t pending;
            if (sigpending(&pending) == 0 && (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1)) {
                log_event(LogLevel::Notice, "bypass", "XB6051", "stop requested while bypassing the flows; the rest are not bypassed");
                break;
            }
            for (const auto& ri : session->interfaces()) {
                if (!ri.program) continue;
                auto st = session->bypass_flow(ri.plan.interface, f.key);
                if (st) {
                    log_event(LogLevel::Notice, "bypass", "XB6052", ri.plan.interface + ": bypassing " + datapath::flow_key_to_string(f.key));
                } else {
                    Logger::instance().log(
                        Diagnostic{"XB6001", Severity::Error, SourceLocation{flows_file, f.line, 1}, "",
                                   ri.plan.interface + ": cannot bypass " + datapath::flow_key_to_string(f.key) + ": " +
                                       st.error().message,
                                   "make the flow-table larger or turn lru on; the flow still reaches the IDS"},
                        "bypass");
                }
            }
        }
    }

    session::Upkeep upkeep(*session, started.config.global);
    config::Config running = started.config;
    bool stop = false;
    auto do_reload = [&](const std::string& other) {
        session::ReloadRequest rr;
        rr.config_file = other.empty() ? file : other;
        rr.interface = iface;
        auto outcome = session::reload(*session, running, rr);
        if (outcome.ok()) {
            running = outcome.config;
            if (!other.empty()) file = other;
        }
        return outcome;
    };
    session::ControlContext ctx;
    ctx.session = session.get();
    ctx.config_file = [&] { return file; };
    ctx.reload = do_reload;
    ctx.shutdown = [&] {
        log_event(LogLevel::Notice, "main", "XB0015", "shutdown requested on the control socket, stopping");
        stop = true;
    };
    std::optional<control::Server> server;
    if (auto ns = current_netns_inode()) {
        auto srv = control::Server::listen(control::socket_path(*ns, getpid()),
                                           [&](const control::Request& r) { return session::handle_control(ctx, r); });
        if (srv) {
            server.emplace(std::move(srv).value());
            log_event(LogLevel::Notice, "control", "XB8011", "control socket " + server->path());
        } else {
            Logger::instance().log(Diagnostic{"XB8010", Severity::Warning, {}, "",
                                              "cannot open the control socket: " + srv.error().message,
                                              "make /run/xbypass writable; the run goes on without status, flows, stats "
                                              "and reload over the socket (SIGHUP still reloads)"},
                                   "control");
        }
    }
    const uint64_t start_s = session::Upkeep::monotonic_seconds();
    int exit_code = kExitOk;
    while (!stop) {
        uint64_t now = session::Upkeep::monotonic_seconds();
        uint64_t wait = upkeep.seconds_to_next(now);
        if (duration) {
            uint64_t elapsed = now - start_s;
            if (elapsed >= static_cast<uint64_t>(duration)) break;
            wait = std::min<uint64_t>(wait, static_cast<uint64_t>(duration) - elapsed);
        }
        // A signal, a link event, a control request or the next upkeep, whichever comes first.
        std::vector<pollfd> extra{{sig_fd.get(), POLLIN, 0}};
        if (upkeep.link_fd() >= 0) extra.push_back({upkeep.link_fd(), POLLIN, 0});
        int timeout_ms = static_cast<int>(wait * 1000);
        if (server) server->serve_once(timeout_ms, &extra);
        else (void)poll(extra.data(), extra.size(), timeout_ms);
        if (extra[0].revents & POLLIN) {
            signalfd_siginfo si{};
            while (read(sig_fd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                if (si.ssi_signo == SIGHUP) {
                    log_event(LogLevel::Notice, "main", "XB0017", "signal SIGHUP received, reloading");
                    (void)do_reload({});
                    continue;
                }
                log_event(LogLevel::Notice, "main", "XB0014", std::string("signal ") + (si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM") +
                                       " received, stopping");
                stop = true;
            }
            if (stop) break;
        }
        // A link event or the periodic upkeep may find the datapath changed: the same XB5020 either way.
        Status changed = (extra.size() > 1 && (extra[1].revents & POLLIN)) ? upkeep.on_link_events() : Status{};
        if (changed) changed = upkeep.tick(session::Upkeep::monotonic_seconds());
        if (auto st = changed; !st) {
            Logger::instance().log(
                Diagnostic{"XB5020", Severity::Error, {}, "",
                           "the datapath is no longer as planned: " + st.error().message + "; stopping",
                           "find what changed the interface (ip link, tc filter show, another tool) and start again"},
                "datapath");
            exit_code = kExitRejected;
            break;
        }
    }
    server.reset();
    upkeep.report_stats();
    session.reset();  // detaches exactly what was attached
    log_event(LogLevel::Notice, "main", "XB0016", "detached; exiting");
    return exit_code;
}

const CommandRegistration kRegistration{
    Command{"run", "attach the planned datapath and run until SIGINT/SIGTERM", kUsage, run}};

}  // namespace
}  // namespace xb::cli
