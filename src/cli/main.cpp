// xbypass: the command-line tool. Subcommands live in cmd_*.cpp and register themselves.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/command.h"
#include "common/libbpf_log.h"
#include "config.h"

namespace xb::cli {

namespace {
std::vector<Command>& registry() {
    static std::vector<Command> r;
    return r;
}
}  // namespace

CommandRegistration::CommandRegistration(Command c) {
    auto& r = registry();
    auto it = r.begin();
    while (it != r.end() && it->name < c.name) ++it;
    r.insert(it, c);
}

const std::vector<Command>& commands() { return registry(); }

static void print_help(FILE* out) {
    std::fprintf(out,
                 "Usage: xbypass COMMAND [OPTIONS]\n"
                 "       xbypass --help | --version\n\n"
                 "In-kernel flow bypass for IDS capture: probes interfaces and the kernel, plans the\n"
                 "fastest datapath that really works (native XDP, generic XDP, tc), and refuses\n"
                 "configurations that would drop traffic silently.\n\nCommands:\n");
    for (const auto& c : commands()) {
        std::fprintf(out, "  %-10.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                     static_cast<int>(c.summary.size()), c.summary.data());
    }
    std::fprintf(out, "\nRun 'xbypass COMMAND --help' for a command's options.\n"
                      "Exit status: 0 ok or accepted, 1 rejected, 2 usage or I/O error.\n");
}

}  // namespace xb::cli

int main(int argc, char** argv) {
    using namespace xb::cli;
    xb::route_libbpf_logs();
    if (argc < 2) {
        print_help(stderr);
        return kExitUsage;
    }
    std::string_view arg = argv[1];
    if (arg == "--help" || arg == "-h" || arg == "help") {
        print_help(stdout);
        return kExitOk;
    }
    if (arg == "--version" || arg == "-V") {
        std::printf("xbypass %s\n", PACKAGE_VERSION);
        return kExitOk;
    }
    for (const auto& c : commands()) {
        if (c.name != arg) continue;
        for (int i = 2; i < argc; ++i) {
            if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
                std::fwrite(c.usage.data(), 1, c.usage.size(), stdout);
                return kExitOk;
            }
        }
        return c.run(argc - 1, argv + 1);
    }
    std::fprintf(stderr, "xbypass: unknown command '%s'\n\n", argv[1]);
    print_help(stderr);
    return kExitUsage;
}
