#include "monitor/health.h"

namespace xb::monitor {

std::string_view fault_name(Fault f) {
    switch (f) {
        case Fault::None: return "none";
        case Fault::CpuRedirectFailing: return "cpu-redirect-failing";
        case Fault::Aborting: return "aborting";
        case Fault::RedirectErrors: return "redirect-errors";
    }
    return "none";
}

Finding assess_health(const HealthSample& before, const HealthSample& now) {
    ExceptionCounts d = now.exceptions - before.exceptions;
    uint64_t fails = now.redirect_fail > before.redirect_fail ? now.redirect_fail - before.redirect_fail : 0;
    Finding f;
    if (now.cpu_redirect) {
        uint64_t cpu_errors = d[Event::RedirectCpuError];
        // A redirect into an emptied cpumap slot fails in the helper (no tracepoint): the program
        // counts it as redirect-fail, and the missing entry says it was the cpumap.
        if (cpu_errors || (fails && now.cpumap_incomplete)) {
            f.fault = Fault::CpuRedirectFailing;
            f.cause = "cpu redirect fails: " + std::to_string(cpu_errors) + " redirect errors into the cpumap, " +
                      std::to_string(fails) + " redirect-fail" +
                      (now.cpumap_incomplete ? ", and a CPU of the plan has no cpumap entry any more" : "");
            return f;
        }
    }
    if (uint64_t aborts = d[Event::Aborted] + d[Event::InvalidAction]) {
        f.fault = Fault::Aborting;
        f.cause = std::to_string(d[Event::Aborted]) + " XDP_ABORTED and " + std::to_string(d[Event::InvalidAction]) +
                  " invalid actions";
        (void)aborts;
        return f;
    }
    if (uint64_t errs = d[Event::RedirectError] + d[Event::DevmapDrop] + d[Event::DevmapError] + d[Event::TxError]) {
        f.fault = Fault::RedirectErrors;
        f.cause = std::to_string(errs) + " frames failed after the program redirected or transmitted them (" +
                  std::to_string(d[Event::RedirectError]) + " redirect errors, " + std::to_string(d[Event::DevmapDrop]) +
                  " devmap drops, " + std::to_string(d[Event::DevmapError]) + " devmap errors, " +
                  std::to_string(d[Event::TxError]) + " tx errors)";
    }
    return f;
}

}  // namespace xb::monitor
