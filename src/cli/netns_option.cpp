#include "cli/netns_option.h"

#include <cstdio>

#include "common/diagnostic.h"

namespace xb::cli {

bool enter_netns_option(const std::string& name, std::optional<ScopedNetns>& guard, const char* code, bool json) {
    if (name.empty()) return true;
    auto entered = ScopedNetns::enter_named(name);
    if (!entered) {
        Diagnostic d{code, Severity::Error, {}, {},
                     "cannot enter network namespace '" + name + "': " + entered.error().message,
                     "check the name with 'ip netns list' and run as root"};
        std::fputs(json ? (d.to_json() + "\n").c_str() : d.to_text().c_str(), stderr);
        return false;
    }
    guard.emplace(std::move(entered).value());
    return true;
}

}  // namespace xb::cli
