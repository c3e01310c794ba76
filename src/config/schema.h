// Schema validation: turns a YAML node tree (yaml.h) into the Config model (config.h), reporting
// every problem as a diagnostic (codes XB11xx for the xbypass section, XB12xx for af-packet). Pure apart from custom-program
// inspection, which LoadOptions can turn off.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/yaml.h"

namespace xb::config {

// `base_dir` resolves relative custom-program paths ("" = current directory).
Config validate_config(const YamlNode& root, const std::string& file, const std::string& base_dir,
                       Diagnostics& diags, const LoadOptions& options = {});

// Every key of the `xbypass` schema as a dotted path below `xbypass`: "log-level", ...,
// "interfaces", "interfaces[].interface", ..., "interfaces[].flow-table.size". Used by the test
// that checks conf/xbypass.yaml documents every key.
std::vector<std::string> xbypass_schema_keys();

// The af-packet keys xbypass maps onto its model (the others are reported as not used).
std::vector<std::string> af_packet_mapped_keys();

// Parses a CPU list value text ("0-3", "1,3-5", "all", "none", "2"); used for scalars and for
// each item of a YAML list. On error returns false and sets *error (one sentence), *code and
// *offset (byte offset in text of the bad token).
struct CpuListError {
    std::string code;     // XB1111 malformed, XB1112 reversed range, XB1113 CPU number too large
    std::string message;
    size_t offset = 0;
};
bool parse_cpu_list_text(std::string_view text, CpuList* out, std::vector<unsigned>* duplicates,
                         CpuListError* error);

// Levenshtein distance; `suggest` returns the closest candidate within a small distance, or "".
size_t edit_distance(std::string_view a, std::string_view b);
std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace xb::config
