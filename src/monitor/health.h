// Runtime health: from two samples of an interface's counters (the exception monitor's and the
// bypass program's own), what is failing now. A pure function: the session decides what to do with
// the finding (on-runtime-error: degrade, stop, warn).
#pragma once

#include <cstdint>
#include <string>

#include "monitor/monitor.h"

namespace xb::monitor {

struct HealthSample {
    ExceptionCounts exceptions;
    uint64_t redirect_fail = 0;    // the bypass program's redirect-fail counter
    bool cpu_redirect = false;     // the running program redirects misses to a cpumap
    bool cpumap_incomplete = false;  // a CPU of the plan has no entry in the cpumap any more
};

enum class Fault {
    None,
    CpuRedirectFailing,  // the cpumap redirect fails (redirect errors into the cpumap, or an emptied CPU entry)
    Aborting,            // the kernel reports XDP_ABORTED or invalid actions on the interface
    RedirectErrors,      // other redirect errors (devmap, xskmap): frames lost after the program
};
std::string_view fault_name(Fault f);  // "none", "cpu-redirect-failing", "aborting", "redirect-errors"

struct Finding {
    Fault fault = Fault::None;
    std::string cause;  // one sentence with the counts that changed
};

// What failed between `before` and `now` (the worst first: cpu redirect, then aborts, then other
// redirect errors).
Finding assess_health(const HealthSample& before, const HealthSample& now);

}  // namespace xb::monitor
