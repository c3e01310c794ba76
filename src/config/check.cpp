#include "config/check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "common/json.h"
#include "common/strings.h"

namespace xb::config {

namespace {

std::string plural(size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string_view verdict_word(const CheckReport& r) {
    if (r.io_error) return "error";
    return r.accepted() ? "accepted" : "rejected";
}

SourceLocation origin_location(const GlobalConfig& g, const std::string& key) {
    auto it = g.origins.find(key);
    return it == g.origins.end() ? SourceLocation{} : it->second.location;
}

}  // namespace

std::optional<std::string> output_file_problem(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return "it is a directory";
        if (S_ISFIFO(st.st_mode)) return "it is a FIFO, whose opening blocks until something reads it";
        if (S_ISSOCK(st.st_mode)) return "it is a socket";
        if (::access(path.c_str(), W_OK) != 0) return "it is not writable (" + std::string(std::strerror(errno)) + ")";
        return std::nullopt;
    }
    if (errno != ENOENT) return std::string(std::strerror(errno));
    std::string dir = ".";
    if (auto slash = path.rfind('/'); slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
    if (::stat(dir.c_str(), &st) != 0) {
        if (errno == ENOENT) return "its directory " + dir + " does not exist";
        return "its directory " + dir + " cannot be examined (" + std::string(std::strerror(errno)) + ")";
    }
    if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        return "its directory " + dir + " is not writable (" + std::string(std::strerror(errno)) + ")";
    return std::nullopt;
}

void check_output_files(const Config& config, Diagnostics& diags) {
    const GlobalConfig& g = config.global;
    if (!g.log_file.empty())
        if (auto why = output_file_problem(g.log_file))
            diags.error("XB0005", "log-file '" + printable(g.log_file) + "' cannot be opened for appending: " + *why,
                        "create its directory or fix its permissions, or leave log-file out to log to standard error",
                        origin_location(g, "log-file"), "xbypass.log-file");
    if (!g.eve_log.empty())
        if (auto why = output_file_problem(g.eve_log))
            diags.warning("XB0006",
                          "eve-log '" + printable(g.eve_log) + "' cannot be opened for appending: " + *why +
                              "; the stats would go to the log only",
                          "create its directory or fix its permissions, or leave eve-log out",
                          origin_location(g, "eve-log"), "xbypass.eve-log");
}

int CheckReport::exit_code() const {
    if (io_error) return 2;
    return accepted() ? 0 : 1;
}

std::string CheckReport::verdict() const {
    return file + ": " + std::string(verdict_word(*this)) + " (" +
           plural(diagnostics.count(Severity::Error), "error", "errors") + ", " +
           plural(diagnostics.count(Severity::Warning), "warning", "warnings") + ", " +
           plural(diagnostics.count(Severity::Info), "note", "notes") + ")";
}

std::string CheckReport::to_text() {
    diagnostics.sort_by_location();
    return diagnostics.to_text() + verdict() + "\n";
}

std::string CheckReport::to_json() {
    diagnostics.sort_by_location();
    JsonWriter w;
    w.begin_object();
    w.field("file", file).field("verdict", verdict_word(*this));
    w.field("errors", diagnostics.count(Severity::Error));
    w.field("warnings", diagnostics.count(Severity::Warning));
    w.field("notes", diagnostics.count(Severity::Info));
    w.key("diagnostics").raw(diagnostics.to_json());
    if (!plan_json.empty()) w.key("plan").raw(plan_json);
    w.end_object();
    return w.str();
}

CheckReport run_static_checks(const std::string& path, const LoadOptions& options) {
    LoadedConfig loaded = load_config_file(path, options);
    CheckReport r;
    r.file = path;
    r.config = std::move(loaded.config);
    r.diagnostics = std::move(loaded.diagnostics);
    r.io_error = loaded.io_error;
    // What `run` would refuse when it opens its output files; `check` and `run` both come here.
    if (!r.io_error && !r.diagnostics.has_errors()) check_output_files(r.config, r.diagnostics);
    return r;
}

}  // namespace xb::config
