// The startup sequence `xbypass run` and the plugin ABI share: static checks of the file (and of the
// flows file, if any: a bad one refuses the start before anything is attached), logging as
// configured, bpffs and tracefs, probe and plan (the startup block is logged), then load, attach and
// verify every interface or none. What a front end adds is only how it reports the outcome.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/diagnostic.h"
#include "config/config.h"
#include "datapath/flow.h"
#include "session/session.h"

namespace xb::session {

struct StartRequest {
    std::string config_file;
    std::string interface;        // run on this interface only (its entry, else the first applied to it)
    bool engine_capture = false;  // an engine receives the packets through the plugin: plan capture
    bool configure_logger = true; // apply the configuration's log-level and log-file to the logger
    std::optional<LogLevel> log_level;  // with configure_logger: this level instead of the configuration's
    std::string flows_file;       // flows to bypass once attached (`run --flows`): read and checked first
};

struct Startup {
    config::Config config;          // as run (narrowed to `interface` when one was named)
    Diagnostics diagnostics;        // every finding: static checks, probe, plan, attach
    std::vector<datapath::FlowSpec> flows;  // from flows_file, unique, read before anything was attached
    std::unique_ptr<Session> session;  // null when refused or when attaching failed
    int exit_code = 0;              // 0 running, 1 refused or failed to attach (nothing attached), 2 I/O
    bool logged = false;            // the diagnostics went to the log (else the front end reports them)
};

Startup start(const StartRequest& request);

// Narrows cfg to the interface `name`: its entry, or else the first entry applied to it (XB0004, a
// note); XB0003 when the configuration has no entry at all.
bool select_interface(config::Config& cfg, const std::string& name, Diagnostics& diags);

}  // namespace xb::session
