#include "common/log.h"

#include <strings.h>

#include <cerrno>
#include <ctime>

#include "common/json.h"

namespace xb {

namespace {
constexpr std::string_view kLevelNames[] = {"Error", "Warning", "Notice", "Info", "Config", "Debug"};
}

std::string_view log_level_name(LogLevel l) { return kLevelNames[static_cast<int>(l)]; }

bool parse_log_level(std::string_view s, LogLevel* out) {
    for (int i = 0; i < 6; ++i) {
        if (s.size() == kLevelNames[i].size() && strncasecmp(s.data(), kLevelNames[i].data(), s.size()) == 0) {
            *out = static_cast<LogLevel>(i);
            return true;
        }
    }
    return false;
}

Logger& Logger::instance() {
    static Logger logger;
    return logger;
}

Status Logger::open_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "ae");
    if (!f) return Error::from_errno(errno, "cannot open log file " + path);
    std::lock_guard lock(mu_);
    if (file_) std::fclose(file_);
    file_ = f;
    return {};
}

void Logger::close_file() {
    std::lock_guard lock(mu_);
    if (file_) std::fclose(file_);
    file_ = nullptr;
}

std::string Logger::format(LogLevel l, std::string_view module, std::string_view message) const {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    localtime_r(&ts.tv_sec, &t);
    if (json_) {
        char stamp[48];
        std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &t);
        char frac[24];
        std::snprintf(frac, sizeof frac, ".%06ld", static_cast<long>(ts.tv_nsec / 1000 % 1000000));
        JsonWriter w;
        w.begin_object()
            .field("timestamp", std::string(stamp) + frac)
            .field("event_type", "engine")
            .field("log_level", log_level_name(l))
            .field("module", module)
            .field("message", message)
            .end_object();
        return w.str();
    }
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%d/%m/%Y -- %H:%M:%S", &t);
    std::string line = stamp;
    line += " - <";
    line += log_level_name(l);
    line += "> - [";
    line += module;
    line += "] ";
    line += message;
    return line;
}

void Logger::set_sink(Sink sink) {
    std::lock_guard lock(mu_);
    sink_ = std::move(sink);
}

void Logger::log(LogLevel l, std::string_view module, std::string_view message) {
    if (!enabled(l)) return;
    std::string line = format(l, module, message);
    line.push_back('\n');
    std::lock_guard lock(mu_);
    if (sink_) sink_(l, module, message);
    else if (to_stderr_) std::fwrite(line.data(), 1, line.size(), stderr);
    if (file_) {
        std::fwrite(line.data(), 1, line.size(), file_);
        std::fflush(file_);
    }
}

void Logger::log_block(LogLevel l, std::string_view module, std::string_view text) {
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        if (!line.empty()) log(l, module, line);
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

void Logger::event(LogLevel l, std::string_view module, std::string_view code, std::string_view message) {
    if (!enabled(l)) return;
    std::string line;
    for (char c : log_level_name(l)) line.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    line += '[';
    line += code;
    line += "]: ";
    line += message;
    log(l, module, line);
}

void Logger::event_block(LogLevel l, std::string_view module, std::string_view code, std::string_view text) {
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        if (!line.empty()) event(l, module, code, line);
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

void Logger::log(const Diagnostic& d, std::string_view module) {
    LogLevel l = d.severity == Severity::Error     ? LogLevel::Error
                 : d.severity == Severity::Warning ? LogLevel::Warning
                                                   : LogLevel::Info;
    std::string msg = d.to_text();
    if (!msg.empty() && msg.back() == '\n') msg.pop_back();
    log(l, module, msg);
}

}  // namespace xb
