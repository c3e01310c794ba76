// The link watcher: an rtnetlink socket subscribed to RTMGRP_LINK in the calling thread's network
// namespace, so that a run learns at once when a capture interface or an IPS peer goes down, comes
// back, disappears or moves to another namespace (RTM_DELLINK here). Non-blocking: the run polls
// fd() with its other waits and calls read() when it is readable.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

struct mnl_socket;

namespace xb::monitor {

struct LinkEvent {
    int ifindex = 0;
    std::string name;
    bool gone = false;        // deleted, or moved to another namespace
    bool can_receive = false; // administratively up and with carrier (IFF_UP and IFF_RUNNING)
};

class LinkWatcher {
public:
    static Result<LinkWatcher> open();
    LinkWatcher(LinkWatcher&& o) noexcept;
    LinkWatcher& operator=(LinkWatcher&& o) noexcept;
    ~LinkWatcher();

    int fd() const;
    // Every event queued since the last call (none when nothing happened). ENOBUFS (the kernel
    // dropped events) is reported as an error: the caller then re-checks every link itself.
    Result<std::vector<LinkEvent>> read();

private:
    explicit LinkWatcher(mnl_socket* s) : sock_(s) {}
    mnl_socket* sock_ = nullptr;
};

// The state of one link now, by ifindex (gone when it does not exist in this namespace).
LinkEvent link_state(int ifindex);

}  // namespace xb::monitor
