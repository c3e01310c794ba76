// Diagnostic: the one way every layer reports a rejection, a warning or a note to the operator.
// Codes are stable ("XB1203"); each has an entry in doc/troubleshooting.md.
//   XB0xxx usage and I/O, XB1xxx configuration, XB2xxx probe, XB3xxx BPF datapath,
//   XB4xxx plan, XB5xxx attach/verify/rollback, XB6xxx bypass and monitor, XB7xxx engine/plugin.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace xb {

enum class Severity { Error, Warning, Info };

std::string_view severity_name(Severity s);  // "error", "warning", "info"

// Where a diagnostic comes from in a configuration file; line 0 means "no location".
struct SourceLocation {
    std::string file;
    unsigned line = 0;    // 1-based
    unsigned column = 0;  // 1-based
    bool known() const { return line != 0; }
};

struct Diagnostic {
    std::string code;       // stable code, e.g. "XB1203"
    Severity severity = Severity::Error;
    SourceLocation location;
    std::string key_path;   // e.g. "xbypass.interfaces[0].cpu-redirect"; empty when not from config
    std::string message;    // the cause, one sentence
    std::string hint;       // the fix, one sentence; may be empty

    // "file:line:col: error[XB1203]: message (key: path)\n  hint: ...\n"
    std::string to_text() const;
    std::string to_json() const;  // one JSON object, no newline
};

// An ordered collection with the queries every caller needs.
class Diagnostics {
public:
    void add(Diagnostic d) { items_.push_back(std::move(d)); }
    void error(std::string code, std::string message, std::string hint = {}, SourceLocation loc = {},
               std::string key_path = {});
    void warning(std::string code, std::string message, std::string hint = {}, SourceLocation loc = {},
                 std::string key_path = {});
    void info(std::string code, std::string message, std::string hint = {}, SourceLocation loc = {},
              std::string key_path = {});
    void append(const Diagnostics& other);

    bool has_errors() const;
    size_t count(Severity s) const;
    bool contains(std::string_view code) const;
    bool empty() const { return items_.empty(); }
    size_t size() const { return items_.size(); }
    const std::vector<Diagnostic>& items() const { return items_; }
    auto begin() const { return items_.begin(); }
    auto end() const { return items_.end(); }

    // Stable sort by file, line, column (diagnostics without a location last).
    void sort_by_location();
    std::string to_text() const;
    std::string to_json() const;  // a JSON array

private:
    std::vector<Diagnostic> items_;
};

}  // namespace xb
