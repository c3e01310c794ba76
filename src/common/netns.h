// Network namespaces by handle. Only the network namespace is entered (setns CLONE_NEWNET): the
// mount namespace stays the root one, so bpffs and tracefs remain visible (`ip netns exec` would
// remount /sys and hide them).
#pragma once

#include <string>

#include "common/owners.h"
#include "common/result.h"

namespace xb {

class NetnsHandle {
public:
    // The namespace the calling thread is in now.
    static Result<NetnsHandle> current();
    // A namespace created by `ip netns add NAME` (/run/netns/NAME), or any nsfs path.
    static Result<NetnsHandle> open_named(const std::string& name);
    static Result<NetnsHandle> open_path(const std::string& path);

    int fd() const { return fd_.get(); }
    // Moves the calling thread into this namespace.
    Status enter() const;

private:
    explicit NetnsHandle(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

// Enters a namespace for the lifetime of the guard and returns the calling thread to where it was.
class ScopedNetns {
public:
    static Result<ScopedNetns> enter(const NetnsHandle& target);
    static Result<ScopedNetns> enter_named(const std::string& name);
    ScopedNetns(ScopedNetns&& o) noexcept = default;
    ScopedNetns& operator=(ScopedNetns&&) = delete;
    ~ScopedNetns();

private:
    explicit ScopedNetns(NetnsHandle original) : original_(std::move(original)) {}
    NetnsHandle original_;
    bool active_ = true;
};

}  // namespace xb
