// --netns NAME, shared by the subcommands: enter only the network namespace (bpffs stays visible)
// for the rest of the command, or print a diagnostic.
#pragma once

#include <optional>
#include <string>

#include "common/netns.h"

namespace xb::cli {

// Enters `name` (no-op when empty) and keeps the guard in `guard`. On failure prints a diagnostic
// with `code` (text or JSON) to stderr and returns false: the caller exits with kExitUsage.
bool enter_netns_option(const std::string& name, std::optional<ScopedNetns>& guard, const char* code, bool json);

}  // namespace xb::cli
