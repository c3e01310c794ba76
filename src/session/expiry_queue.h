// Expiry events waiting for an engine: the flows the upkeep's sweeps removed, with their final kernel
// counts, until the engine takes them (the plugin's xb_expired_flows). Bounded: what does not fit is
// counted as dropped per interface, never silently lost. Off until an engine asks for events (an
// engine that never takes them pays nothing). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "session/session.h"

namespace xb::session {

// One expired flow as queued: the session's event and CLOCK_REALTIME minus CLOCK_MONOTONIC at the
// sweep (the flow's times are CLOCK_MONOTONIC_COARSE; engines write wall-clock times).
struct QueuedExpiry {
    ExpiredFlow flow;
    int64_t realtime_offset_ns = 0;
};

class ExpiryQueue {
public:
    // Starts queueing (later calls keep the first capacity); events before it are not kept.
    void enable(size_t capacity);
    bool enabled() const;
    // Queues what fits; the rest is counted as dropped on its interface.
    void push(const std::vector<ExpiredFlow>& flows);
    // Takes up to max events, oldest first.
    std::vector<QueuedExpiry> take(size_t max);

    struct Counts {
        uint64_t queued = 0;   // events queued (this interface)
        uint64_t dropped = 0;  // events that found the queue full
    };
    Counts counts(const std::string& interface) const;
    size_t waiting() const;
    size_t capacity() const;

private:
    mutable std::mutex mu_;
    bool enabled_ = false;
    size_t capacity_ = 0;
    std::deque<QueuedExpiry> events_;
    std::map<std::string, Counts> counts_;
};

}  // namespace xb::session
