#include "common/libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <string>

#include "common/log.h"

namespace xb {

namespace {
int print_to_logger(enum libbpf_print_level level, const char* fmt, va_list args) {
    LogLevel ours = level == LIBBPF_WARN ? LogLevel::Info : LogLevel::Debug;
    auto& logger = Logger::instance();
    if (!logger.enabled(ours)) return 0;
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    std::string msg(buf, n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (!msg.empty()) logger.log(ours, "libbpf", msg);
    return n;
}
}  // namespace

void route_libbpf_logs() { libbpf_set_print(print_to_logger); }

}  // namespace xb
