#include "session/startup.h"

#include "config.h"
#include "common/log.h"
#include "config/check.h"

namespace xb::session {

bool select_interface(config::Config& cfg, const std::string& name, Diagnostics& diags) {
    for (auto& ic : cfg.interfaces) {
        if (ic.name == name) {
            config::InterfaceConfig keep = ic;
            cfg.interfaces = {keep};
            return true;
        }
    }
    if (cfg.interfaces.empty()) {
        diags.error("XB0003", "--interface " + name + ": the configuration has no interface entry to apply",
                    "add an entry under xbypass.interfaces");
        return false;
    }
    config::InterfaceConfig first = cfg.interfaces.front();
    diags.info("XB0004", "--interface " + name + ": using the settings of interface " + first.name, "",
               first.origin.location, first.origin.key_path);
    first.name = name;
    cfg.interfaces = {first};
    return true;
}

Startup start(const StartRequest& request) {
    Startup out;
    config::CheckReport report = config::run_static_checks(request.config_file);
    out.diagnostics = report.diagnostics;
    if (report.io_error || !report.accepted()) {
        out.exit_code = report.exit_code();
        return out;
    }
    out.config = report.config;
    if (!request.interface.empty() && !select_interface(out.config, request.interface, out.diagnostics)) {
        out.exit_code = 1;
        return out;
    }
    if (!request.flows_file.empty()) {
        out.flows = datapath::load_flows_file(request.flows_file, out.diagnostics);
        if (out.diagnostics.has_errors()) {
            out.exit_code = 1;
            return out;
        }
    }
    auto& logger = Logger::instance();
    if (request.configure_logger) {
        logger.set_level(request.log_level.value_or(out.config.global.log_level));
        if (!out.config.global.log_file.empty()) {
            if (auto st = logger.open_file(out.config.global.log_file); !st) {
                out.diagnostics.error("XB0005", st.error().message, "make the log-file's directory exist and writable",
                                      out.config.global.origins.count("log-file")
                                          ? out.config.global.origins.at("log-file").location
                                          : SourceLocation{},
                                      "xbypass.log-file");
                out.exit_code = 2;
                return out;
            }
        }
    }
    log_event(LogLevel::Notice, "main", "XB0010", "xbypass " + std::string(PACKAGE_VERSION) + " starting with " + request.config_file);
    AssessOptions ao;
    ao.engine_capture = request.engine_capture;
    ao.mount_filesystems = true;  // bpffs and tracefs where missing (check says it will)
    Assessment assessment = assess(out.config, ao);
    out.diagnostics.append(assessment.diagnostics);
    logger.event_block(LogLevel::Notice, "plan", "XB4060", startup_block(assessment));
    Diagnostics shown = out.diagnostics;
    shown.sort_by_location();
    for (const auto& d : shown) logger.log(d, "check");
    out.logged = true;
    if (!assessment.accepted()) {
        log_event(LogLevel::Notice, "main", "XB0011", "configuration rejected (see the errors above): nothing was attached");
        out.exit_code = 1;
        return out;
    }
    Diagnostics start_diags;
    out.session = Session::start(assessment, start_diags);
    for (const auto& d : start_diags) logger.log(d, "datapath");
    out.diagnostics.append(start_diags);
    if (!out.session) {
        log_event(LogLevel::Notice, "main", "XB0012", "startup failed (see the errors above): every interface was rolled back, nothing is attached");
        out.exit_code = 1;
        return out;
    }
    for (const auto& ri : out.session->interfaces())
        log_event(LogLevel::Notice, "datapath", "XB5040", ri.plan.interface + ": " + std::string(plan::datapath_name(ri.plan.datapath)) +
                                   (ri.plan.program.empty() ? "" : " running " + ri.plan.program) + ", verified attached");
    return out;
}

}  // namespace xb::session
