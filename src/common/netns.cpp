#include "common/netns.h"

#include <fcntl.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>

namespace xb {

Result<NetnsHandle> NetnsHandle::open_path(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error::from_errno(errno, "cannot open network namespace " + path);
    return NetnsHandle(UniqueFd(fd));
}

Result<NetnsHandle> NetnsHandle::current() { return open_path("/proc/thread-self/ns/net"); }

Result<NetnsHandle> NetnsHandle::open_named(const std::string& name) {
    if (name.find('/') != std::string::npos) return open_path(name);
    return open_path("/run/netns/" + name);
}

Status NetnsHandle::enter() const {
    if (::setns(fd_.get(), CLONE_NEWNET) != 0) return Error::from_errno(errno, "setns(CLONE_NEWNET)");
    return {};
}

Result<ScopedNetns> ScopedNetns::enter(const NetnsHandle& target) {
    auto original = NetnsHandle::current();
    if (!original) return original.error();
    if (auto st = target.enter(); !st) return st.error();
    return ScopedNetns(std::move(original).value());
}

Result<ScopedNetns> ScopedNetns::enter_named(const std::string& name) {
    auto target = NetnsHandle::open_named(name);
    if (!target) return target.error();
    return enter(*target);
}

ScopedNetns::~ScopedNetns() {
    if (original_.fd() < 0) return;  // moved from
    if (auto st = original_.enter(); !st) {
        // Staying in the wrong namespace would make every later operation lie; stop here.
        std::fprintf(stderr, "xbypass: fatal: cannot return to the original network namespace: %s\n",
                     st.error().message.c_str());
        std::abort();
    }
}

}  // namespace xb
