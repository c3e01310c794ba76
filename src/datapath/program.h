// The bypass program in user space, Katran style: loads the built-in object (embedded skeleton),
// keeps only the program variant the options call for, sizes and types the maps before load, and
// hands out program and map fds by name. Attaching is datapath/attach.h's job: this file only
// loads. FlowTable fills and reads the flow table; read_counters() sums the per-CPU counters.
#pragma once

#include <linux/bpf.h>

#include <array>
#include <functional>
#include <map>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/diagnostic.h"
#include "common/owners.h"
#include "common/result.h"
#include "datapath/flow.h"
#include "datapath/flow_table.h"
#include "datapath/manifest.h"
#include "datapath/pin.h"
#include "xb_consts.h"

struct xb_bypass;
struct bpf_object;

namespace xb::datapath {

struct ProgramOptions {
    Hook datapath = Hook::Xdp;
    bool vlan_tracking = true;
    std::vector<unsigned> cpu_redirect;  // CPU ids for misses (XDP only); empty: no cpu redirect
    uint32_t cpumap_queue_size = 2048;   // frames queued per redirect CPU
    int ips_peer_ifindex = 0;            // 0: IDS (drop hits); else forward hits to this device
    // AF_XDP capture in the same pass (XDP only, not with cpu_redirect): 0: none; N: the xsk variant,
    // whose misses go to the socket in xb_xsk_map[rx queue], with a map of N slots (queues 0..N-1).
    uint32_t xsk_queues = 0;
    uint32_t flow_table_size = XB_DEFAULT_FLOW_ENTRIES;
    bool flow_table_percpu = true;
    bool flow_table_lru = false;
    // Hits are bypassed for this long after load unless renew_lease() extends it; 0: no lease.
    uint32_t lease_seconds = 0;
    // Maps of an earlier run (pinned), by name, to use instead of creating new ones. The caller keeps
    // the fds; check them against pinnable_maps() first (libbpf only refuses at load).
    std::map<std::string, int> reuse_maps;
};

// The maps worth pinning (the flow table's slots and counters, the bypass counters), with the layout
// these options give them.
std::vector<MapSpec> pinnable_maps(const ProgramOptions& options);

// Checks the options without touching the kernel; every problem is an XB30xx diagnostic.
bool validate_options(const ProgramOptions& options, Diagnostics& diags);

// Counters summed over CPUs, indexed by enum xb_counter.
struct Counters {
    std::array<uint64_t, XB_CNT_MAX> value{};
    uint64_t operator[](enum xb_counter c) const { return value[c]; }
    uint64_t total_packets() const;  // pass + drop + ips-forward + cpu-redirect + xsk-redirect
};
std::string_view counter_name(enum xb_counter c);  // "pass", "drop", "ips-forward", ...

// The verdict of one BPF_PROG_TEST_RUN of a frame.
struct TestRunResult {
    uint32_t retval = 0;          // XDP_* or TC_ACT_*
    uint32_t duration_ns = 0;     // average per repetition, as the kernel reports it
};

// Who loads the prepared object. By default libbpf; coexist: multiprog hands it to libxdp, which
// loads it as an extension of its dispatcher and attaches it in the same step. The loader must
// load `obj` (with bpf_object__load, directly or through libxdp) or fail.
using ObjectLoader = std::function<Status(bpf_object* obj, const std::string& program)>;

class BypassProgram {
public:
    // Validates the options, opens the embedded object, keeps the program variant the options need,
    // sets map sizes/types and the load-time constants, loads, and fills the cpumap (and the IPS
    // devmap for XDP). Errors are also added to diags as XB3xxx diagnostics.
    static Result<BypassProgram> load(const ProgramOptions& options, Diagnostics& diags,
                                      const ObjectLoader& loader = {});

    BypassProgram(BypassProgram&&) noexcept;
    BypassProgram& operator=(BypassProgram&&) noexcept;
    ~BypassProgram();

    const ProgramOptions& options() const { return options_; }
    const Manifest& manifest() const { return *manifest_; }
    std::string_view program_name() const { return manifest_->program; }
    int prog_fd() const;
    // Map fd by name (xb_flow_slots, xb_flow_stats, xb_counters, xb_cpu_map, xb_ips_devmap,
    // xb_xsk_map); -1 when not created.
    int map_fd(std::string_view name) const;
    FlowTable flow_table() const;
    Result<Counters> read_counters() const;
    // The lease (see xb_lease_until in xb_bypass.bpf.c): hits are bypassed only until the kernel's
    // jiffy `jiffies` (0: always). renew_lease sets it `seconds` from now.
    Status renew_lease(uint32_t seconds);
    Status set_lease_until(uint64_t jiffies);
    // The jiffy the lease runs until, as the kernel holds it now (0: no lease).
    Result<uint64_t> lease_until() const;
    Status reset_counters();
    // Where hits of the IPS variants go: the peer's ifindex, or 0 while it cannot receive (hits then
    // go to the stack, counted redirect-fail and pass). XDP: the devmap slot is filled or emptied;
    // tc: the program's peer word. Atomic for the running program. EINVAL without an IPS peer.
    Status set_ips_peer(int ifindex);
    Result<int> ips_peer() const;  // 0 when emptied
    unsigned possible_cpus() const { return possible_cpus_; }

    // Runs one frame through the program (BPF_PROG_TEST_RUN), repeat times.
    Result<TestRunResult> test_run(std::span<const uint8_t> frame, uint32_t repeat = 1) const;

private:
    BypassProgram() = default;
    ProgramOptions options_;
    const Manifest* manifest_ = nullptr;
    struct xb_bypass* skel_ = nullptr;  // "struct": plugin.h has a function of the same name
    unsigned possible_cpus_ = 1;
    std::shared_ptr<FlowTableState> table_;
};

// Runs a frame through any loaded program fd (used by the benchmark for its baselines too).
Result<TestRunResult> test_run_prog(int prog_fd, Hook hook, std::span<const uint8_t> frame, uint32_t repeat);

}  // namespace xb::datapath
