// Rule files: Suricata's rule subset, one rule a line (a trailing backslash continues a rule on
// the next line), `#` comments. Each bad rule gives one diagnostic (XB71xx, file:line:col of the
// offending field or option) and is left out; parsing goes on with the next rule.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/diagnostic.h"
#include "engine/rules/rule.h"

namespace xb::engine {

struct RuleSetLoad {
    std::vector<Rule> rules;  // the good rules, in file order
    Diagnostics diagnostics;
    bool ok() const { return !diagnostics.has_errors(); }
};

RuleSetLoad parse_rules(std::string_view text, const std::string& file_name, const RuleVars& vars);

// The files in order; a missing or unreadable file is a diagnostic (XB7117), so is a sid that an
// earlier rule of any file already has (XB7111).
RuleSetLoad load_rule_files(const std::vector<std::string>& paths, const RuleVars& vars);

}  // namespace xb::engine
