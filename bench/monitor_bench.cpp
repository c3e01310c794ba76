// The exception monitor's cost, measured in one run. The same two-instruction XDP program returning
// an invalid action (99), XDP_ABORTED or XDP_PASS is attached (native) to v0 of a veth pair in a
// namespace of the bench's own; frames reach it through the driver: an XDP_TX program run on v1
// with BPF_PROG_TEST_RUN and live frames (BPF_F_TEST_XDP_LIVE_FRAMES, batch 64) transmits each into
// v0, whose NAPI runs the program in the same syscall, and veth's driver path traces the exception
// (BPF_PROG_TEST_RUN on the program itself never fires xdp_exception: the test runner only
// returns the verdict). Time per frame (the kernel's `duration`, whose timer stops while the run is
// scheduled out), with and without the monitor attached and watching v0; rounds alternate so that
// neighbours on a shared machine weigh on both alike; the fastest round of each is reported.
//   ns per event   = (with - without) per counted exception (goal: at most 50 ns)
//   normal packets = (with - without) per frame for XDP_PASS (goal: 0: the tracepoints do not fire)
// It also prints how many events the monitor counted (one per frame the exception program saw).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/netns.h"
#include "common/owners.h"
#include "monitor/monitor.h"

namespace {

using namespace xb;

constexpr uint32_t kRepeat = 100000;
constexpr int kRounds = 21;

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

UniqueFd load_returning(int action, const char* name) {
    bpf_insn insns[2] = {};
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = action
    insns[0].dst_reg = BPF_REG_0;
    insns[0].imm = action;
    insns[1].code = BPF_JMP | BPF_EXIT;
    return UniqueFd(bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, 2, nullptr));
}

// Time per frame (the kernel's duration, ns) of one live-frames run of `repeat` frames of the XDP_TX program on ifindex.
double ns_per_frame(int prog_fd, int ifindex, std::vector<uint8_t>& frame) {
    xdp_md md{};
    md.ingress_ifindex = static_cast<uint32_t>(ifindex);
    md.data_end = static_cast<uint32_t>(frame.size());
    bpf_test_run_opts opts{};
    opts.sz = sizeof opts;
    opts.data_in = frame.data();
    opts.data_size_in = static_cast<uint32_t>(frame.size());
    opts.ctx_in = &md;
    opts.ctx_size_in = sizeof md;
    opts.repeat = kRepeat;
    opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
    opts.batch_size = 64;
    if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
        std::fprintf(stderr, "BPF_PROG_RUN (live frames): %s\n", std::strerror(errno));
        std::exit(1);
    }
    // The kernel's own timer: it stops while the run is scheduled out, so neighbours weigh less.
    return opts.duration;
}

// The least disturbed round: interference only ever adds time.
double best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

}  // namespace

int main() {
    const std::string ns = "xbbench-mon-" + std::to_string(getpid());
    if (sh("ip netns add " + ns) != 0 ||
        sh("ip -n " + ns + " link add v0 type veth peer name v1") != 0 ||
        sh("ip -n " + ns + " link set v0 up") != 0 || sh("ip -n " + ns + " link set v1 up") != 0) {
        std::fprintf(stderr, "cannot make namespace %s with a veth (run as root)\n", ns.c_str());
        (void)sh("ip netns del " + ns);
        return 1;
    }
    int rc = 0;
    {
        auto in = ScopedNetns::enter_named(ns);
        if (!in) {
            std::fprintf(stderr, "cannot enter %s: %s\n", ns.c_str(), in.error().message.c_str());
            (void)sh("ip netns del " + ns);
            return 1;
        }
        const int v0 = static_cast<int>(if_nametoindex("v0")), v1 = static_cast<int>(if_nametoindex("v1"));
        // A UDP frame to nowhere: with XDP_PASS the stack drops it early (no such address).
        std::vector<uint8_t> frame(64, 0);
        const uint8_t head[] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 50, 0, 0, 0x40, 0, 64, 17};
        std::memcpy(frame.data(), head, sizeof head);
        UniqueFd txgen = load_returning(XDP_TX, "xbbench_tx");
        if (!txgen) {
            std::fprintf(stderr, "cannot load the XDP_TX program: %s\n", std::strerror(errno));
            rc = 1;
        }
        struct Case {
            const char* name;
            int action;
            monitor::Event event;
            bool exception;
        } cases[] = {{"invalid action (99)", 99, monitor::Event::InvalidAction, true},
                     {"XDP_ABORTED", XDP_ABORTED, monitor::Event::Aborted, true},
                     {"XDP_PASS (normal)", XDP_PASS, monitor::Event::Aborted, false}};
        std::printf("exception monitor cost: native XDP on veth v0 fed by XDP_TX live frames from v1, %u frames per "
                    "run, fastest of %d alternating rounds\n",
                    kRepeat, kRounds);
        std::printf("%-22s %12s %12s %16s %12s\n", "v0's program returns", "without ns", "with ns", "monitor ns/event",
                    "counted");
        for (const auto& c : cases) {
            if (rc) break;
            UniqueFd prog = load_returning(c.action, "xbbench_ret");
            if (!prog || bpf_xdp_attach(v0, prog.get(), XDP_FLAGS_DRV_MODE, nullptr) != 0) {
                std::fprintf(stderr, "cannot attach the test program to v0: %s\n", std::strerror(errno));
                rc = 1;
                break;
            }
            std::vector<double> without, with;
            uint64_t counted = 0;
            (void)ns_per_frame(txgen.get(), v1, frame);  // warm up
            for (int r = 0; r < kRounds; ++r) {
                without.push_back(ns_per_frame(txgen.get(), v1, frame));
                auto m = monitor::ExceptionMonitor::start({{v0, 0}});
                if (!m) {
                    std::fprintf(stderr, "the exception monitor cannot start: %s\n", m.error().message.c_str());
                    rc = 1;
                    break;
                }
                with.push_back(ns_per_frame(txgen.get(), v1, frame));
                if (auto counts = (*m)->read(v0)) counted += counts->total();
            }
            (void)bpf_xdp_detach(v0, XDP_FLAGS_DRV_MODE, nullptr);
            if (rc) break;
            double a = best(without), b = best(with);
            // Per event: the extra time over the frames that were events (all of them, when counted).
            double per_event = c.exception ? (b - a) * kRepeat * kRounds / std::max<double>(counted, 1) : b - a;
            std::printf("%-22s %12.1f %12.1f %+16.1f %12lu\n", c.name, a, b, per_event, static_cast<unsigned long>(counted));
            if (c.exception && counted == 0) {
                std::fprintf(stderr, "%s: the monitor counted no event: the measurement means nothing\n", c.name);
                rc = 1;
            }
        }
    }
    (void)sh("ip netns del " + ns);
    return rc;
}
