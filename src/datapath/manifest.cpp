#include "datapath/manifest.h"

#include <linux/pkt_cls.h>

#include <algorithm>

#include "common/netdev_uapi.h"

namespace xb::datapath {

std::string_view hook_name(Hook h) { return h == Hook::Xdp ? "xdp" : "tc"; }
std::string_view device_name(Device d) { return d == Device::Capture ? "capture" : "ips-peer"; }

namespace {

Manifest xdp_manifest(std::string_view name, bool cpu, bool ips, bool xsk = false) {
    Manifest m;
    m.program = name;
    m.hook = Hook::Xdp;
    m.cpu_redirect = cpu;
    m.ips_forward = ips;
    m.xsk_capture = xsk;
    const bool redirects = cpu || ips || xsk;
    m.actions = {XDP_PASS};
    if (!ips) m.actions.push_back(XDP_DROP);
    if (redirects) m.actions.push_back(XDP_REDIRECT);
    m.helpers = {BPF_FUNC_map_lookup_elem, BPF_FUNC_jiffies64};
    if (redirects) m.helpers.push_back(BPF_FUNC_redirect_map);
    // ARRAY: the flow slots, and the .rodata load-time constants; PERCPU_ARRAY: the counters.
    m.map_types = {BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY};
    if (cpu) m.map_types.push_back(BPF_MAP_TYPE_CPUMAP);
    if (ips) m.map_types.push_back(BPF_MAP_TYPE_DEVMAP);
    if (xsk) m.map_types.push_back(BPF_MAP_TYPE_XSKMAP);
    uint64_t capture_bits = netdev::XDP_ACT_BASIC;
    if (redirects) capture_bits |= netdev::XDP_ACT_REDIRECT;
    std::string_view capture_reason = "the program drops or passes frames on the capture device";
    if (xsk)
        capture_reason = "frames that are not bypassed are redirected into the AF_XDP socket of their receive "
                         "queue (XDP_REDIRECT to an XSKMAP) from the capture device's receive path";
    else if (redirects)
        capture_reason = "the program drops or passes frames and returns XDP_REDIRECT from the capture device's "
                         "receive path";
    m.devices.push_back({Device::Capture, capture_bits, capture_reason});
    if (ips)
        m.devices.push_back({Device::IpsPeer, netdev::XDP_ACT_NDO_XMIT,
                             "bypassed frames are transmitted on the IPS peer through ndo_xdp_xmit"});
    std::sort(m.actions.begin(), m.actions.end());
    std::sort(m.helpers.begin(), m.helpers.end());
    std::sort(m.map_types.begin(), m.map_types.end());
    return m;
}

Manifest tc_manifest(std::string_view name, bool ips) {
    Manifest m;
    m.program = name;
    m.hook = Hook::Tc;
    m.ips_forward = ips;
    m.actions = {TC_ACT_OK, ips ? TC_ACT_REDIRECT : TC_ACT_SHOT};
    m.helpers = {BPF_FUNC_map_lookup_elem, BPF_FUNC_skb_pull_data, BPF_FUNC_jiffies64};
    if (ips) m.helpers.push_back(BPF_FUNC_redirect);
    m.map_types = {BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY};
    std::sort(m.actions.begin(), m.actions.end());
    std::sort(m.helpers.begin(), m.helpers.end());
    std::sort(m.map_types.begin(), m.map_types.end());
    return m;
}

// The Suricata-mode variants: the same actions and device needs; Suricata's per-CPU hashes instead
// of the flow slots and their counters (ARRAY stays: the .rodata constants and the lease in .bss).
Manifest suricata_manifest(Manifest m, std::string_view name) {
    m.program = name;
    m.suricata_maps = true;
    m.helpers.erase(std::remove(m.helpers.begin(), m.helpers.end(), BPF_FUNC_jiffies64), m.helpers.end());
    m.helpers.push_back(BPF_FUNC_jiffies64);  // the lease check
    m.map_types.push_back(BPF_MAP_TYPE_PERCPU_HASH);
    std::sort(m.helpers.begin(), m.helpers.end());
    std::sort(m.map_types.begin(), m.map_types.end());
    return m;
}

}  // namespace

const std::vector<Manifest>& suricata_manifests() {
    static const std::vector<Manifest> all = {
        suricata_manifest(xdp_manifest("", false, false), "xdp_sur_ids"),
        suricata_manifest(xdp_manifest("", true, false), "xdp_sur_ids_cpu"),
        suricata_manifest(xdp_manifest("", false, true), "xdp_sur_ips"),
        suricata_manifest(xdp_manifest("", true, true), "xdp_sur_ips_cpu"),
        suricata_manifest(tc_manifest("", false), "tc_sur_ids"),
        suricata_manifest(tc_manifest("", true), "tc_sur_ips"),
    };
    return all;
}

const Manifest* select_suricata_manifest(Hook hook, bool cpu_redirect, bool ips_forward) {
    for (const auto& m : suricata_manifests())
        if (m.hook == hook && m.cpu_redirect == cpu_redirect && m.ips_forward == ips_forward) return &m;
    return nullptr;
}

const std::vector<Manifest>& builtin_manifests() {
    static const std::vector<Manifest> all = {
        xdp_manifest("xdp_ids", false, false), xdp_manifest("xdp_ids_cpu", true, false),
        xdp_manifest("xdp_ips", false, true),  xdp_manifest("xdp_ips_cpu", true, true),
        xdp_manifest("xdp_ids_xsk", false, false, true), xdp_manifest("xdp_ips_xsk", false, true, true),
        tc_manifest("tc_ids", false),          tc_manifest("tc_ips", true),
    };
    return all;
}

const Manifest* find_manifest(std::string_view program) {
    for (const auto& m : builtin_manifests())
        if (m.program == program) return &m;
    for (const auto& m : suricata_manifests())
        if (m.program == program) return &m;
    return nullptr;
}

const Manifest* select_manifest(Hook hook, bool cpu_redirect, bool ips_forward, bool xsk_capture) {
    for (const auto& m : builtin_manifests())
        if (m.hook == hook && m.cpu_redirect == cpu_redirect && m.ips_forward == ips_forward &&
            m.xsk_capture == xsk_capture)
            return &m;
    return nullptr;
}

enum bpf_map_type flow_stats_map_type(bool percpu) {
    return percpu ? BPF_MAP_TYPE_PERCPU_ARRAY : BPF_MAP_TYPE_ARRAY;
}

std::string_view action_name(Hook hook, int action) {
    if (hook == Hook::Xdp) {
        switch (action) {
        case XDP_ABORTED: return "XDP_ABORTED";
        case XDP_DROP: return "XDP_DROP";
        case XDP_PASS: return "XDP_PASS";
        case XDP_TX: return "XDP_TX";
        case XDP_REDIRECT: return "XDP_REDIRECT";
        }
        return "XDP_?";
    }
    switch (action) {
    case TC_ACT_UNSPEC: return "TC_ACT_UNSPEC";
    case TC_ACT_OK: return "TC_ACT_OK";
    case TC_ACT_SHOT: return "TC_ACT_SHOT";
    case TC_ACT_REDIRECT: return "TC_ACT_REDIRECT";
    case TC_ACT_PIPE: return "TC_ACT_PIPE";
    }
    return "TC_ACT_?";
}

}  // namespace xb::datapath
