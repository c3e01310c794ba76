// xbypass check -c FILE [--json] [--netns NAME] [--static]: everything but attaching — static
// checks, then the probe of the interfaces and kernel and the plan (unless --static).
// Stages run in order and append to one report; each stage runs only when the previous ones
// accepted the file (later issues add probe and plan stages here).
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/netns_option.h"
#include "config/check.h"
#include "session/session.h"

namespace xb::cli {
namespace {

constexpr std::string_view kUsage =
    "Usage: xbypass check -c FILE [--json] [--netns NAME] [--static]\n\n"
    "Validates a configuration file (an xbypass.yaml, or a suricata.yaml with an af-packet section)\n"
    "and prints every diagnostic sorted by location, then a one-line verdict.\n\n"
    "Options:\n"
    "  -c, --config FILE   the configuration file to check\n"
    "      --json          print one JSON object instead of text\n"
    "      --netns NAME    probe and plan inside network namespace NAME\n"
    "      --static        only the checks that need no running system (no probe, no plan)\n"
    "  -h, --help          this text\n\n"
    "Exit status: 0 accepted (warnings allowed), 1 rejected, 2 usage or I/O error.\n";

int usage_error(const std::string& why) {
    std::fprintf(stderr, "xbypass check: %s\n\n%.*s", why.c_str(), static_cast<int>(kUsage.size()), kUsage.data());
    return kExitUsage;
}

int run_check(int argc, char** argv) {
    std::string file;
    bool json = false, static_only = false;
    std::string netns;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--json") {
            json = true;
        } else if (a == "--static") {
            static_only = true;
        } else if (a == "--netns") {
            if (i + 1 >= argc || !*argv[i + 1]) return usage_error("--netns needs a namespace name (not an empty one)");
            netns = argv[++i];
        } else if (a == "-c" || a == "--config") {
            if (i + 1 >= argc || !*argv[i + 1]) return usage_error(std::string(a) + " needs a file name (not an empty one)");
            file = argv[++i];
        } else if (a.rfind("--config=", 0) == 0) {
            file = std::string(a.substr(9));
        } else {
            return usage_error("unknown argument '" + std::string(a) + "'");
        }
    }
    if (file.empty()) return usage_error("no configuration file given (-c FILE)");

    config::CheckReport report = config::run_static_checks(file);
    if (report.accepted() && !static_only) {
        std::optional<ScopedNetns> in_netns;
        if (!enter_netns_option(netns, in_netns, "XB0002", json)) return kExitUsage;
        session::Assessment a = session::assess(report.config);
        report.diagnostics.append(a.diagnostics);
        report.plan_text = session::startup_block(a);
        report.plan_json = plan::plan_to_json(a.plan, a.input);
    }
    if (!json && !report.plan_text.empty()) std::fwrite(report.plan_text.data(), 1, report.plan_text.size(), stdout);

    std::string out = json ? report.to_json() + "\n" : report.to_text();
    std::fwrite(out.data(), 1, out.size(), stdout);
    return report.exit_code();
}

const CommandRegistration kRegistration{
    Command{"check", "validate a configuration file and print every diagnostic", kUsage, run_check}};

}  // namespace
}  // namespace xb::cli
