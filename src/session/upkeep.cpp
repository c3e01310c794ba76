#include "session/upkeep.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <algorithm>
#include <shared_mutex>

#include "common/log.h"
#include "config/check.h"
#include "session/expiry_queue.h"

namespace xb::session {

uint64_t Upkeep::monotonic_seconds() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec);
}

Upkeep::Upkeep(Session& session, const config::GlobalConfig& global)
    : session_(session), global_(global) {
    // Without periodic stats the table is still swept and the datapath still verified.
    interval_s_ = global_.stats_interval ? global_.stats_interval : kLeaseRenewSeconds;
    uint64_t now = monotonic_seconds();
    next_periodic_s_ = now + interval_s_;
    next_lease_s_ = now + kLeaseRenewSeconds;
    next_health_s_ = now + 1;
    next_expiry_s_ = now + expiry_period_s();
    if (auto w = monitor::LinkWatcher::open()) {
        links_.emplace(std::move(w).value());
    } else {
        Logger::instance().log(Diagnostic{"XB6015", Severity::Warning, {}, "",
                                          "cannot listen to link events: " + w.error().message +
                                              "; IPS peers and capture interfaces are checked every " +
                                              std::to_string(interval_s_) + " s instead",
                                          "run as root; the kernel must have rtnetlink (CONFIG_NET)"},
                               "monitor");
    }
    // Events between the start and the listener: look once now.
    Diagnostics d;
    (void)session_.check_links(d);
    // An eve-log the start's checks found unusable was reported there (XB0006); not twice.
    if (!global_.eve_log.empty() && !config::output_file_problem(global_.eve_log)) {
        eve_.open(global_.eve_log, std::ios::app);
        if (!eve_)
            Logger::instance().log(Diagnostic{"XB0006", Severity::Warning, {}, "xbypass.eve-log",
                                              "eve-log '" + global_.eve_log + "' cannot be opened for appending: " +
                                                  std::strerror(errno) + "; the stats go to the log only",
                                              "create its directory or fix its permissions, or leave eve-log out"},
                                   "main");
    }
}

uint64_t Upkeep::seconds_to_next(uint64_t now_s) const {
    // The Suricata mode looks every second whether its Suricata still lives (fail open at once).
    if (session_.has_suricata()) return 1;
    uint64_t next = std::min({next_periodic_s_, next_lease_s_, next_health_s_, next_expiry_s_});
    return std::clamp<uint64_t>(next > now_s ? next - now_s : 1, 1, kLeaseRenewSeconds);
}

uint64_t Upkeep::expiry_period_s() const {
    uint64_t shortest = interval_s_ * 2;
    {
        std::shared_lock live(session_.live_mutex());
        for (const auto& ri : session_.interfaces())
            if (ri.program) shortest = std::min<uint64_t>(shortest, ri.plan.flow_table.timeout);
    }
    return std::clamp<uint64_t>(shortest / 2, 1, interval_s_);
}

void Upkeep::expire(uint64_t now_s) {
    next_expiry_s_ = now_s + expiry_period_s();
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    auto expired = session_.expire_idle(static_cast<uint64_t>(now.tv_sec) * 1000000000ull +
                                        static_cast<uint64_t>(now.tv_nsec));
    if (!expired) {
        log_event(LogLevel::Warning, "bypass", "XB6054", "cannot expire idle flows: " + expired.error().message);
        return;
    }
    if (expired->empty()) return;
    log_event(LogLevel::Info, "bypass", "XB6053", "expired " + std::to_string(expired->size()) + " idle flows");
    // For the engine, when it asked (xb_expired_flows); what does not fit is counted as dropped.
    session_.expiry_events().push(*expired);
}

void Upkeep::report_stats() {
    Logger::instance().event_block(LogLevel::Notice, "stats", "XB6055", session_.stats_text());
    if (eve_.is_open()) eve_ << session_.stats_json() << '\n' << std::flush;
}

Status Upkeep::on_link_events() {
    if (!links_) return {};
    Diagnostics d;
    auto events = links_->read();
    if (!events) {
        // Events were lost (ENOBUFS): the links' state now says everything needed.
        log_event(LogLevel::Info, "monitor", "XB6005", events.error().message + "; checking every link");
        return session_.check_links(d);
    }
    return session_.on_link_events(*events, d);
}

Status Upkeep::tick(uint64_t now_s) {
    session_.check_suricata();
    session_.release_retired();
    if (now_s >= next_health_s_) {
        next_health_s_ = now_s + 1;
        Diagnostics d;
        if (auto st = session_.check_health(d); !st) return st;
    }
    if (now_s >= next_lease_s_) {
        next_lease_s_ = now_s + kLeaseRenewSeconds;
        // A lease that cannot be renewed lapses: the kernel then stops bypassing, which loses nothing.
        if (auto st = session_.renew_leases(); !st)
            Logger::instance().log(Diagnostic{"XB6002", Severity::Warning, {}, "",
                                              "cannot renew the flow table lease: " + st.error().message +
                                                  "; when it lapses, bypassed flows go to the IDS again",
                                              "nothing is lost; if it repeats, check that the flow table maps still exist"},
                                   "bypass");
    }
    if (now_s >= next_expiry_s_) expire(now_s);
    if (now_s < next_periodic_s_) return {};
    next_periodic_s_ = now_s + interval_s_;
    if (global_.stats_interval) report_stats();
    // Verification does not depend on stats-interval; link events make it immediate in between.
    Diagnostics d;
    if (auto st = session_.check_links(d); !st) return st;
    return session_.verify();
}

}  // namespace xb::session
