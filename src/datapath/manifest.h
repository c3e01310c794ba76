// What each built-in bypass program needs, as data for the planner: the actions it may return, the
// helpers it calls, the map types it references, and the NETDEV_XDP_ACT bits those imply on which
// device. tests/kernel/bpf_manifest_test.cpp reads the compiled instructions (insn_reader.h) and
// checks them against these manifests, so the two cannot drift apart.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace xb::datapath {

enum class Hook { Xdp, Tc };
std::string_view hook_name(Hook h);  // "xdp", "tc"

enum class Device { Capture, IpsPeer };
std::string_view device_name(Device d);  // "capture", "ips-peer"

// NETDEV_XDP_ACT bits (xb::netdev::XdpAct) a device must report for the program to work in native
// XDP mode. Generic XDP and tc need none of them.
struct DeviceNeed {
    Device device = Device::Capture;
    uint64_t xdp_act_bits = 0;
    std::string_view reason;  // one sentence for the planner's explanation
};

struct Manifest {
    std::string_view program;  // program (function) name in ebpf/xb_bypass.bpf.c
    Hook hook = Hook::Xdp;
    bool cpu_redirect = false;  // redirects misses to a CPU through a cpumap
    bool ips_forward = false;   // forwards hits to the IPS peer
    bool xsk_capture = false;   // redirects misses into the XSKMAP slot of their receive queue (AF_XDP)
    bool suricata_maps = false; // looks flows up in Suricata's flow_table_v4/_v6 (ebpf/xb_suricata.bpf.c)
    std::vector<int> actions;                 // XDP_* or TC_ACT_* values it may return, sorted
    std::vector<enum bpf_func_id> helpers;    // sorted
    std::vector<enum bpf_map_type> map_types; // as compiled, sorted; the flow counters' type is
                                              // then set at load time (flow_stats_map_type)
    std::vector<DeviceNeed> devices;
};

// The eight built-in programs: xdp_ids, xdp_ids_cpu, xdp_ips, xdp_ips_cpu, xdp_ids_xsk, xdp_ips_xsk,
// tc_ids, tc_ips.
const std::vector<Manifest>& builtin_manifests();
// Looks in both lists.
const Manifest* find_manifest(std::string_view program);
// The six programs of the Suricata mode (ebpf/xb_suricata.bpf.c): xdp_sur_ids, xdp_sur_ids_cpu,
// xdp_sur_ips, xdp_sur_ips_cpu, tc_sur_ids, tc_sur_ips. They read Suricata 7's own bypass maps.
const std::vector<Manifest>& suricata_manifests();
// The Suricata-mode program for a datapath and its actions; nullptr for tc with cpu redirect.
const Manifest* select_suricata_manifest(Hook hook, bool cpu_redirect, bool ips_forward);
// The program for a datapath and the actions it must have; nullptr when there is none: tc has no
// cpu redirect and no AF_XDP capture, and cpu redirect with xsk capture is refused (a miss can go
// to one place only).
const Manifest* select_manifest(Hook hook, bool cpu_redirect, bool ips_forward, bool xsk_capture = false);

// The map type the loader gives the flow table's counters (compiled as BPF_MAP_TYPE_PERCPU_ARRAY).
enum bpf_map_type flow_stats_map_type(bool percpu);

// Name of an action value for a hook: "XDP_PASS", "TC_ACT_SHOT", ...
std::string_view action_name(Hook hook, int action);

}  // namespace xb::datapath
