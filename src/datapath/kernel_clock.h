// The kernel's jiffies, read by running ebpf/xb_clock.bpf.c: flows are stamped in jiffies on the
// packet path (the one clock a BPF program reads without a helper call).
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

    Result<KernelClockSample> sample() const;

private:
    explicit KernelClock(xb_clock* skel) : skel_(skel) {}
    xb_clock* skel_;
};

}  // namespace xb::datapath
