// Subcommands register themselves: each cmd_*.cpp defines one static CommandRegistration, so adding a
// command never edits main.cpp. Exit codes: 0 accepted/ok, 1 rejected, 2 usage or I/O error.
#pragma once

#include <string_view>
#include <vector>

namespace xb::cli {

constexpr int kExitOk = 0;
constexpr int kExitRejected = 1;
constexpr int kExitUsage = 2;

using CommandFn = int (*)(int argc, char** argv);  // argv[0] is the subcommand name

struct Command {
    std::string_view name;
    std::string_view summary;  // one line for `xbypass --help`
    std::string_view usage;    // the full usage text for `xbypass NAME --help`
    CommandFn run;
};

const std::vector<Command>& commands();  // sorted by name

struct CommandRegistration {
    explicit CommandRegistration(Command c);
};

}  // namespace xb::cli
