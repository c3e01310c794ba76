// Static checks of a configuration file (no running system needed): what `xbypass check` runs
// first. Later stages (probe, plan) append their diagnostics to the same report.
#pragma once

#include <optional>
#include <string>

#include "common/diagnostic.h"
#include "config/config.h"

namespace xb::config {

struct CheckReport {
    std::string file;
    Config config;            // valid only when the static checks found no error
    Diagnostics diagnostics;  // append later stages' diagnostics here
    bool io_error = false;    // the file could not be read
    std::string plan_text;    // later stages: the plan, printed before the diagnostics
    std::string plan_json;    // later stages: the plan as a JSON object, added as "plan"

    bool accepted() const { return !io_error && !diagnostics.has_errors(); }
    // 0 accepted (warnings allowed), 1 rejected, 2 the file could not be read.
    int exit_code() const;
    // "FILE: accepted (0 errors, 1 warning, 2 notes)" — no newline.
    std::string verdict() const;
    // Diagnostics sorted by location, then the verdict line.
    std::string to_text();
    // {"file":..,"verdict":"accepted"|"rejected"|"error","errors":N,"warnings":N,"notes":N,"diagnostics":[..]}
    std::string to_json();
};

// Loads and validates the file, then checks the output files it names (check_output_files). Both
// `xbypass check` and the startup sequence of `run` and the plugin begin here.
CheckReport run_static_checks(const std::string& path, const LoadOptions& options = {});

// Why `path` cannot be opened for appending (without creating it), or nullopt when it can.
std::optional<std::string> output_file_problem(const std::string& path);
// log-file that cannot be opened: XB0005 (error); eve-log: XB0006 (warning, the stats go to the log).
void check_output_files(const Config& config, Diagnostics& diags);

}  // namespace xb::config
