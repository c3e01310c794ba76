// The planner: a pure function (no I/O) from the validated configuration, the probed capabilities
// and the programs' requirements to, per interface, the datapath and program to load — or a
// rejection with diagnostics. Every decision carries its reasons, including why each faster
// datapath was not chosen, so an operator can read why traffic goes where it goes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/diagnostic.h"
#include "config/config.h"
#include "probe/capabilities.h"

namespace xb::plan {

enum class Datapath { XdpNative, XdpGeneric, Tc, None };
std::string_view datapath_name(Datapath d);  // "xdp-native", "xdp-generic", "tc", "none"

enum class Hook { Xdp, Tc };

// What a native-mode XDP program needs a device to report (NETDEV_XDP_ACT bits).
struct DeviceRequirement {
    bool on_ips_peer = false;  // false: the capture device
    uint64_t xdp_act_bits = 0;
    std::string reason;        // why, in one clause ("cpu redirect uses bpf_redirect_map")
};

// Requirements of one program: a built-in one (from its manifest) or a custom one (derived from its
// instructions). Names are the kernel's (map types as libbpf spells them: "cpumap"; helpers:
// "bpf_redirect_map").
struct ProgramRequirements {
    std::string program;     // built-in program name, or the custom object's path
    Hook hook = Hook::Xdp;
    bool cpu_redirect = false;
    bool ips_forward = false;
    bool xsk_capture = false;  // redirects misses into an XSKMAP (AF_XDP capture in the same pass)
    bool custom = false;
    bool suricata_maps = false;  // reads Suricata's flow_table_v4/_v6 (the Suricata mode)
    std::vector<std::string> map_types;
    std::vector<std::string> helpers;
    std::vector<DeviceRequirement> devices;
    bool frags_aware = false;         // handles multi-buffer frames (xdp.frags)
    unsigned max_redirect_cpus = 0;   // 0: no limit
    std::vector<std::string> undetermined;  // custom programs: what could not be derived
};

struct PlanInput {
    config::Config config;
    std::map<std::string, probe::InterfaceCaps> interfaces;  // by name: capture interfaces and IPS peers
    probe::KernelCaps kernel;
    std::vector<ProgramRequirements> builtin;                // the built-in variants
    std::map<std::string, std::vector<ProgramRequirements>> custom;  // by custom-program path, one per hook
    // An engine captures through the plugin: plan the capture method too (AF_XDP may pick an xsk
    // program variant). false (`xbypass run`/`check`): capture keeps its defaults and no xsk variant
    // is ever chosen.
    bool engine_capture = false;
};

// One datapath the planner looked at, in speed order.
struct Considered {
    Datapath datapath = Datapath::XdpNative;
    bool chosen = false;
    std::vector<std::string> why_not;  // empty when usable
};

// The other tool's program to replace (coexist: replace).
struct Replacement {
    uint32_t prog_id = 0;
    std::string prog_name;
    probe::XdpAttachMode mode = probe::XdpAttachMode::Native;
    uint32_t link_id = 0;
};

// How the engine receives packets on an interface, decided like the datapath.
enum class Capture { AfPacket, AfXdp };
std::string_view capture_name(Capture c);  // "af-packet", "af-xdp"

struct CapturePlan {
    Capture method = Capture::AfPacket;
    config::CaptureMethod requested = config::CaptureMethod::Auto;
    uint32_t threads = 1;          // receive handles (AF_XDP: one per receive queue, queues 0..threads-1)
    uint32_t rx_queues = 0;        // the device's receive queues as probed; 0 = unknown
    bool zerocopy = false;         // AF_XDP bound in zero-copy mode (the device reports xsk-zerocopy)
    uint32_t ring_size = 2048;
    uint32_t block_size = 262144;  // AF_PACKET
    uint32_t block_timeout_ms = 10;  // both methods (config::CaptureConfig::block_timeout_ms)
    uint16_t cluster_id = 99;      // AF_PACKET fanout group
    std::string cluster_type = "cluster_flow";
    std::vector<std::string> why_not_af_xdp;  // empty when AF_XDP was chosen
};

// Where xbypass's tc filter goes on clsact ingress ("XB"); datapath/attach.h uses the same values.
inline constexpr uint32_t kTcHandle = 0x5842;
inline constexpr uint32_t kTcPriority = 0x5842;
// The kernel keeps the first 15 characters of a program's name (BPF_OBJ_NAME_LEN - 1).
inline constexpr size_t kKernelProgNameMax = 15;

struct InterfacePlan {
    std::string interface;
    int ifindex = 0;
    Datapath datapath = Datapath::None;
    config::Datapath requested = config::Datapath::Auto;
    bool downgraded = false;         // on-unsupported: fallback took a slower datapath
    std::string program;             // built-in program name or custom path
    bool custom = false;
    std::vector<unsigned> cpus;      // resolved cpu-redirect ("all" = the online CPUs)
    std::string ips_peer;
    int ips_peer_ifindex = 0;
    bool vlan_tracking = true;
    config::OnRuntimeError on_runtime_error = config::OnRuntimeError::Degrade;
    config::FlowTableConfig flow_table;
    bool pinned_maps = false;
    std::string pin_dir;             // <pin-path>/<pinned-maps-name or interface>; Suricata mode: the
                                     // directory of Suricata's pins (pin-path if set, else /sys/fs/bpf)
    bool suricata_maps = false;      // the Suricata mode: pins <pin_dir>/suricata-<iface>-flow_table_v4/_v6
    std::optional<Replacement> replace;
    bool multiprog = false;          // attach through the libxdp dispatcher
    // Native XDP chosen while the device's XDP features are unknown (the netdev family exists from
    // Linux 6.3) for a program that needs only basic XDP: the driver decides at attach time. A
    // driver without native XDP refuses the attach (nothing can be dropped silently), and then
    // generic XDP is attached instead when generic_if_refused ("native, try-then-generic"), else
    // the start fails.
    bool native_untested = false;
    bool generic_if_refused = false;
    CapturePlan capture;
    std::vector<Considered> considered;
    std::vector<std::string> notes;  // facts worth printing in the startup block
};

struct Plan {
    std::vector<InterfacePlan> interfaces;
    Diagnostics diagnostics;
    bool accepted() const { return !diagnostics.has_errors(); }
};

// Largest MTU single-buffer XDP takes on 4 KiB pages (PAGE_SIZE - headroom - skb_shared_info -
// Ethernet header, as drivers compute it); above it a program must handle fragments.
inline constexpr uint32_t kSingleBufferXdpMaxMtu = 3498;

Plan make_plan(const PlanInput& input);

// The plan as text (the startup block) and as JSON.
std::string plan_to_text(const Plan& plan, const PlanInput& input);
std::string plan_to_json(const Plan& plan, const PlanInput& input);

}  // namespace xb::plan
