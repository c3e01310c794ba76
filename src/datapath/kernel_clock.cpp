#include "datapath/kernel_clock.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cerrno>

#include "xb_clock.skel.h"

namespace xb::datapath {

Result<std::shared_ptr<KernelClock>> KernelClock::load() {
    xb_clock* skel = xb_clock__open_and_load();
    if (!skel) {
        // libbpf refuses CONFIG_HZ, weak or not, when it finds no kernel config to read (neither
        // /boot/config-$(uname -r) nor /proc/config.gz: containers, minimal images). HZ 0 then
        // makes user space measure it.
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
    return std::shared_ptr<KernelClock>(new KernelClock(skel));
}

KernelClock::~KernelClock() { xb_clock__destroy(skel_); }

Result<KernelClockSample> KernelClock::sample() const {
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
