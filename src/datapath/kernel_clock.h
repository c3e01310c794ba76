// The kernel's jiffies, read by running ebpf/xb_clock.bpf.c: flows are stamped in jiffies on the
// packet path (the one clock a BPF program reads without a helper call). Every sample carries the
// kernel's HZ: from its config, or measured once at load when no config is readable.
#pragma once

#include <memory>

#include "common/result.h"
#include "datapath/flow_table.h"

struct xb_clock;

namespace xb::datapath {

class KernelClock {
public:
    static Result<std::shared_ptr<KernelClock>> load();
    ~KernelClock();
    KernelClock(const KernelClock&) = delete;
    KernelClock& operator=(const KernelClock&) = delete;

    // Jiffies and HZ (never 0) with CLOCK_MONOTONIC_COARSE at the same moment.
    Result<KernelClockSample> sample() const;

private:
    explicit KernelClock(xb_clock* skel) : skel_(skel) {}
    Result<KernelClockSample> raw_sample() const;
    Status measure_hz();
    xb_clock* skel_;
    uint64_t hz_ = 0;
};

}  // namespace xb::datapath
