#include "datapath/kernel_clock.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "xb_clock.skel.h"

namespace xb::datapath {

Result<std::shared_ptr<KernelClock>> KernelClock::load() {
    xb_clock* skel = xb_clock__open_and_load();
    if (!skel) {
        // libbpf refuses CONFIG_HZ, weak or not, when it finds no kernel config to read (neither
        // /boot/config-$(uname -r) nor /proc/config.gz: containers, minimal images). HZ 0 then
        // has it measured (measure_hz).
        LIBBPF_OPTS(bpf_object_open_opts, opts, .kconfig = "CONFIG_HZ=0\n");
        skel = xb_clock__open_opts(&opts);
        if (skel && xb_clock__load(skel) != 0) {
            int err = errno;
            xb_clock__destroy(skel);
            skel = nullptr;
            errno = err;
        }
    }
    if (!skel) return Error::from_errno(errno, "cannot load the clock program");
    std::shared_ptr<KernelClock> clock(new KernelClock(skel));
    if (auto st = clock->measure_hz(); !st) return st.error();
    return clock;
}

// HZ from the kernel config, or counted: jiffies over 200 ms, rounded to the nearest HZ a kernel
// can be built with (100, 250, 300, 1000 are 20, 50, 60, 200 jiffies then; a lagging VM tick
// loses a few, not half). Samples pair jiffies with CLOCK_MONOTONIC_COARSE, which also moves in
// ticks; an end is retaken (up to 10 times, then the last kept) when that clock moved on while the
// sample ran, i.e. a tick or a preemption fell between the two reads and would skew the pairing.
Status KernelClock::measure_hz() {
    auto tight_sample = [this]() -> Result<KernelClockSample> {
        Result<KernelClockSample> s = Error{EAGAIN, "no clock sample"};
        for (int i = 0; i < 10; ++i) {
            timespec before{};
            clock_gettime(CLOCK_MONOTONIC_COARSE, &before);
            s = raw_sample();
            if (!s) return s;
            uint64_t b = static_cast<uint64_t>(before.tv_sec) * 1000000000ull + static_cast<uint64_t>(before.tv_nsec);
            if (s->monotonic_ns - b <= 1000000) break;
        }
        return s;
    };
    auto first = tight_sample();
    if (!first) return first.error();
    if (first->hz) {
        hz_ = first->hz;
        return {};
    }
    ::usleep(200000);
    auto later = tight_sample();
    if (!later) return later.error();
    double measured = static_cast<double>(later->jiffies - first->jiffies) * 1e9 /
                      static_cast<double>(std::max<uint64_t>(later->monotonic_ns - first->monotonic_ns, 1));
    hz_ = 100;
    for (uint64_t choice : {100ull, 250ull, 300ull, 1000ull})
        if (std::abs(measured - static_cast<double>(choice)) < std::abs(measured - static_cast<double>(hz_))) hz_ = choice;
    return {};
}

KernelClock::~KernelClock() { xb_clock__destroy(skel_); }

Result<KernelClockSample> KernelClock::sample() const {
    auto s = raw_sample();
    if (s) s->hz = hz_;
    return s;
}

Result<KernelClockSample> KernelClock::raw_sample() const {
    unsigned char frame[64] = {};  // the kernel wants at least an Ethernet header to run XDP
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof frame, .repeat = 1);
    if (bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.xb_clock), &opts) != 0)
        return Error::from_errno(errno, "cannot run the clock program");
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    KernelClockSample s;
    s.jiffies = skel_->bss->clock_jiffies;
    s.hz = skel_->bss->clock_hz;
    s.monotonic_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    return s;
}

}  // namespace xb::datapath
