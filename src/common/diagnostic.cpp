#include "common/diagnostic.h"

#include <algorithm>
#include <tuple>

#include "common/json.h"

namespace xb {

std::string_view severity_name(Severity s) {
    switch (s) {
        case Severity::Error: return "error";
        case Severity::Warning: return "warning";
        case Severity::Info: return "info";
    }
    return "error";
}

std::string Diagnostic::to_text() const {
    std::string out;
    if (!location.file.empty()) {
        out += location.file;
        if (location.known()) {
            out += ':' + std::to_string(location.line) + ':' + std::to_string(location.column);
        }
        out += ": ";
    }
    out += severity_name(severity);
    out += '[' + code + "]: " + message;
    if (!key_path.empty()) out += " (key: " + key_path + ")";
    out += '\n';
    if (!hint.empty()) out += "  hint: " + hint + '\n';
    return out;
}

std::string Diagnostic::to_json() const {
    JsonWriter w;
    w.begin_object();
    w.field("code", code).field("severity", severity_name(severity));
    if (!location.file.empty()) w.field("file", location.file);
    if (location.known()) w.field("line", location.line).field("column", location.column);
    if (!key_path.empty()) w.field("key", key_path);
    w.field("message", message);
    if (!hint.empty()) w.field("hint", hint);
    w.end_object();
    return w.str();
}

void Diagnostics::error(std::string code, std::string message, std::string hint, SourceLocation loc,
                        std::string key_path) {
    items_.push_back({std::move(code), Severity::Error, std::move(loc), std::move(key_path), std::move(message),
                      std::move(hint)});
}

void Diagnostics::warning(std::string code, std::string message, std::string hint, SourceLocation loc,
                          std::string key_path) {
    items_.push_back({std::move(code), Severity::Warning, std::move(loc), std::move(key_path),
                      std::move(message), std::move(hint)});
}

void Diagnostics::info(std::string code, std::string message, std::string hint, SourceLocation loc,
                       std::string key_path) {
    items_.push_back({std::move(code), Severity::Info, std::move(loc), std::move(key_path), std::move(message),
                      std::move(hint)});
}

void Diagnostics::append(const Diagnostics& other) {
    items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

bool Diagnostics::has_errors() const { return count(Severity::Error) > 0; }

size_t Diagnostics::count(Severity s) const {
    return static_cast<size_t>(std::count_if(items_.begin(), items_.end(), [s](const Diagnostic& d) {
        return d.severity == s;
    }));
}

bool Diagnostics::contains(std::string_view code) const {
    return std::any_of(items_.begin(), items_.end(), [code](const Diagnostic& d) { return d.code == code; });
}

void Diagnostics::sort_by_location() {
    std::stable_sort(items_.begin(), items_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        // Located diagnostics first, by file then position.
        auto key = [](const Diagnostic& d) {
            return std::make_tuple(!d.location.known(), d.location.file, d.location.line, d.location.column);
        };
        return key(a) < key(b);
    });
}

std::string Diagnostics::to_text() const {
    std::string out;
    for (const auto& d : items_) out += d.to_text();
    return out;
}

std::string Diagnostics::to_json() const {
    std::string out = "[";
    for (size_t i = 0; i < items_.size(); ++i) {
        if (i) out += ',';
        out += items_[i].to_json();
    }
    out += ']';
    return out;
}

}  // namespace xb
