// Small string helpers shared by the renderers (probe, plan, CLI).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xb {

// "a, b, c" with the given separator.
std::string join(const std::vector<std::string>& items, const char* separator);
// "0x23"
std::string hex(uint64_t value);
// Sorted CPU ids as ranges: {0,1,2,5} -> "0-2,5"; empty -> "none".
std::string cpu_list_text(const std::vector<unsigned>& sorted_cpus);

}  // namespace xb
