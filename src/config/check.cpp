#include "config/check.h"

#include "common/json.h"

namespace xb::config {

namespace {

std::string plural(size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string_view verdict_word(const CheckReport& r) {
    if (r.io_error) return "error";
    return r.accepted() ? "accepted" : "rejected";
}

}  // namespace

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
    return r;
}

}  // namespace xb::config
