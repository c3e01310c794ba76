// Logging in Suricata's manner: "22/11/2026 -- 04:15:18 - <Info> - [probe] message", to stderr and
// optionally a file; or one JSON object per line ({"timestamp","log_level","module","message"}).
#pragma once

#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "common/diagnostic.h"
#include "common/result.h"

namespace xb {

enum class LogLevel { Error = 0, Warning, Notice, Info, Config, Debug };

std::string_view log_level_name(LogLevel l);  // "Error", "Warning", ... as Suricata prints them
// Parses "error", "warning", "notice", "info", "config", "debug" (case-insensitive).
bool parse_log_level(std::string_view s, LogLevel* out);

class Logger {
public:
    static Logger& instance();

    void set_level(LogLevel l) { level_ = l; }
    LogLevel level() const { return level_; }
    void set_json(bool on) { json_ = on; }
    void set_stderr(bool on) { to_stderr_ = on; }
    // Where lines go instead of stderr (an engine's log, through the plugin ABI); empty: stderr again.
    // The sink gets the message unformatted and is never called concurrently with itself.
    using Sink = std::function<void(LogLevel, std::string_view module, std::string_view message)>;
    void set_sink(Sink sink);
    Status open_file(const std::string& path);  // appends; the file gets the same format as stderr
    void close_file();

    bool enabled(LogLevel l) const { return static_cast<int>(l) <= static_cast<int>(level_); }
    void log(LogLevel l, std::string_view module, std::string_view message);
    // Each line of a multi-line text as its own log line (startup blocks, stats tables).
    void log_block(LogLevel l, std::string_view module, std::string_view text);
    // A diagnostic as a log line at the level its severity implies.
    void log(const Diagnostic& d, std::string_view module);
    // A coded run-time event (a start, a stop, a flow bypassed, a reload): "notice[XB0010]: message",
    // the level's name in lower case then the code, as a diagnostic's text. Each code has its entry in
    // doc/troubleshooting.md. log_block's lines each get the code.
    void event(LogLevel l, std::string_view module, std::string_view code, std::string_view message);
    void event_block(LogLevel l, std::string_view module, std::string_view code, std::string_view text);

    // Formats one line (no trailing newline) without writing it; used by tests.
    std::string format(LogLevel l, std::string_view module, std::string_view message) const;

private:
    Logger() = default;
    std::mutex mu_;
    LogLevel level_ = LogLevel::Notice;
    bool json_ = false;
    bool to_stderr_ = true;
    FILE* file_ = nullptr;
    Sink sink_;
};

inline void log_error(std::string_view m, std::string_view msg) { Logger::instance().log(LogLevel::Error, m, msg); }
inline void log_warning(std::string_view m, std::string_view msg) { Logger::instance().log(LogLevel::Warning, m, msg); }
inline void log_notice(std::string_view m, std::string_view msg) { Logger::instance().log(LogLevel::Notice, m, msg); }
inline void log_info(std::string_view m, std::string_view msg) { Logger::instance().log(LogLevel::Info, m, msg); }
inline void log_config(std::string_view m, std::string_view msg) { Logger::instance().log(LogLevel::Config, m, msg); }
inline void log_event(LogLevel l, std::string_view module, std::string_view code, std::string_view message) {
    Logger::instance().event(l, module, code, message);
}
inline void log_debug(std::string_view m, std::string_view msg) { Logger::instance().log(LogLevel::Debug, m, msg); }

}  // namespace xb
