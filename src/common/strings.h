// Small string helpers shared by the renderers (probe, plan, CLI).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xb {

// "a, b, c" with the given separator.
std::string join(const std::vector<std::string>& items, const char* separator);
// "0x23"
std::string hex(uint64_t value);
// Sorted CPU ids as ranges: {0,1,2,5} -> "0-2,5"; empty -> "none".
std::string cpu_list_text(const std::vector<unsigned>& sorted_cpus);
// Text safe to quote in a diagnostic: control bytes (NUL, \x01, ESC, DEL...) become "\xNN" so that a
// message is never cut short or turned into terminal escapes; UTF-8 and other bytes >= 0x80 stay.
std::string printable(std::string_view text);
// Code points in UTF-8 text (bytes that are not continuation bytes).
size_t utf8_length(std::string_view text);

}  // namespace xb
