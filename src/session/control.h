// What a run answers on its control socket (control/protocol.h): status, stats, flows, bypass,
// unbypass against the Session; reload and shutdown through the front end's own callbacks (the
// front end knows its configuration file and how it stops).
#pragma once

#include <functional>
#include <string>

#include "config/config.h"
#include "control/protocol.h"
#include "session/session.h"
#include "session/reload.h"

namespace xb::session {

struct ControlContext {
    Session* session = nullptr;
    std::function<std::string()> config_file; // the file running now (changes with reload's "config")
    std::string mode = "run";                 // "run" or "plugin"
    std::function<ReloadOutcome(const std::string& file)> reload;  // file empty: the running one
    std::function<void()> shutdown;           // null: shutdown is refused (the engine decides)
};

// One reply line (without the newline) for a parsed request.
std::string handle_control(ControlContext& ctx, const control::Request& request);

// The reload outcome as the JSON result of a reply (also what `xbypass run` logs).
std::string reload_json(const ReloadOutcome& outcome);

}  // namespace xb::session
