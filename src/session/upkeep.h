// What a running session needs done while it runs, shared by `xbypass run`'s main loop and the
// plugin's housekeeping thread: renew the flow tables' leases, log the counters every
// stats-interval (and write them to eve-log), verify the datapath; expire idle flows every half
// timeout (queued for the engine when it asked for expiry events: session/expiry_queue.h); every
// second, act on the exception monitor's counts (on-runtime-error); and at once, on link events
// (an rtnetlink listener in the namespace the Upkeep is made in: poll link_fd() with the other waits).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include <optional>

#include "common/result.h"
#include "monitor/link_watch.h"
#include "config/config.h"
#include "session/session.h"

namespace xb::session {

class Upkeep {
public:
    Upkeep(Session& session, const config::GlobalConfig& global);

    // Does what is due at `now_s` (CLOCK_MONOTONIC seconds). An error means the datapath is no
    // longer as planned (a program removed by someone else, an IPS peer gone).
    Status tick(uint64_t now_s);
    // Seconds until something is due (at least 1, at most the lease renewal period).
    uint64_t seconds_to_next(uint64_t now_s) const;
    // Logs the counters (and writes the EVE stats record when eve-log is set).
    void report_stats();

    static uint64_t monotonic_seconds();

    // The link watcher's socket (-1 when it could not be opened: XB6015, links are then checked
    // at every verification only). When it is readable, call on_link_events().
    int link_fd() const { return links_ ? links_->fd() : -1; }
    // Handles the queued link events; an error means the run must stop (a capture interface gone).
    Status on_link_events();

private:
    Session& session_;
    config::GlobalConfig global_;
    uint64_t interval_s_;      // stats, expiry and verification period
    uint64_t next_periodic_s_;
    uint64_t next_lease_s_;
    uint64_t next_health_s_;
    uint64_t next_expiry_s_;
    // Seconds between sweeps: half the shortest flow-table timeout, at least 1, at most interval_s_
    // (a flow leaves within 1.5 timeouts of its last packet).
    uint64_t expiry_period_s() const;
    void expire(uint64_t now_s);
    std::optional<monitor::LinkWatcher> links_;
    std::ofstream eve_;
};

}  // namespace xb::session
