// What a running session needs done while it runs, shared by `xbypass run`'s main loop and the
// plugin's housekeeping thread: renew the flow tables' leases, log the counters every
// stats-interval (and write them to eve-log), expire idle flows and verify the datapath.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include "common/result.h"
#include "config/config.h"
#include "plugin/session.h"

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

private:
    Session& session_;
    config::GlobalConfig global_;
    uint64_t interval_s_;      // stats, expiry and verification period
    uint64_t next_periodic_s_;
    uint64_t next_lease_s_;
    std::ofstream eve_;
};

}  // namespace xb::session
