#include "common/libbpf_log.h"

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <cstdarg>
#include <cstdio>
#include <string>

#include "common/log.h"

namespace xb {

namespace {
int print_as(LogLevel ours, const char* module, const char* fmt, va_list args) {
    auto& logger = Logger::instance();
    if (!logger.enabled(ours)) return 0;
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    std::string msg(buf, n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (!msg.empty()) logger.event(ours, module, "XB0020", msg);
    return n;
}

int libbpf_to_logger(enum libbpf_print_level level, const char* fmt, va_list args) {
    return print_as(level == LIBBPF_WARN ? LogLevel::Info : LogLevel::Debug, "libbpf", fmt, args);
}

int libxdp_to_logger(enum libxdp_print_level level, const char* fmt, va_list args) {
    return print_as(level == LIBXDP_WARN ? LogLevel::Info : LogLevel::Debug, "libxdp", fmt, args);
}
}  // namespace

void route_libbpf_logs() {
    libbpf_set_print(libbpf_to_logger);
    libxdp_set_print(libxdp_to_logger);
}

}  // namespace xb
