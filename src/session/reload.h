// Reload without a gap, shared by `xbypass run` (SIGHUP, the control socket) and the plugin
// (xb_reload): re-read the configuration, check it, probe and plan; an invalid one is refused with
// its diagnostics (XB8101) and the running datapath is untouched. A valid one is applied as a
// difference by Session::apply: program changes are atomic swaps (BPF link update, tc filter
// replace) that keep the flow table and the counters; added interfaces are attached, removed ones
// detached; what cannot change live (XB8102: datapath hook, flow-table size/per-cpu/lru, pinned
// maps, multiprog, capture, global options other than log-level) changes nothing and needs a restart.
#pragma once

#include <string>
#include <vector>

#include "common/diagnostic.h"
#include "config/config.h"
#include "session/session.h"

namespace xb::session {

struct ReloadRequest {
    std::string config_file;       // the file to read (the running one's when reloading it again)
    std::string interface;         // as at start: narrow to this interface
    bool engine_capture = false;   // as at start
    bool allow_interface_changes = true;  // the plugin: interfaces are fixed while an engine captures
};

struct ReloadOutcome {
    enum class Kind { Applied, Unchanged, Refused, RestartNeeded, Failed };
    Kind kind = Kind::Unchanged;
    Diagnostics diagnostics;            // the new configuration's findings, then XB81xx
    std::vector<std::string> changes;   // what was done ("eth0: program xb_xdp_cpu swapped in ...")
    config::Config config;              // the configuration now running (the new one when applied)
    bool ok() const { return kind == Kind::Applied || kind == Kind::Unchanged; }
};
std::string_view reload_kind_name(ReloadOutcome::Kind k);  // "applied", "unchanged", "refused", ...

// `running` is the configuration the session runs now. Logs what it does.
ReloadOutcome reload(Session& session, const config::Config& running, const ReloadRequest& request);

// Global options whose change needs a restart (pure; log-level is applied live).
std::vector<std::string> global_restart_reasons(const config::GlobalConfig& now, const config::GlobalConfig& next);
// Per-interface options whose change needs a restart (pure).
std::vector<std::string> restart_reasons(const plan::InterfacePlan& now, const plan::InterfacePlan& next);

}  // namespace xb::session
