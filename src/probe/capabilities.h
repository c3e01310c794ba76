// What an interface and the running kernel really support, as probed. Pure data, no I/O: the planner
// (src/plan) consumes these types and is unit-tested with hand-made values.
//
// Honesty rule: anything the probe could not find out is "unknown" (Support::Unknown, std::nullopt),
// never "no". The reason it could not is in `notes` as a diagnostic (XB2xxx).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/diagnostic.h"

namespace xb::probe {

// Tri-state answer for every question the probe can fail to answer.
enum class Support { Yes, No, Unknown };
std::string_view support_name(Support s);  // "yes", "no", "unknown"
inline Support support_from(bool b) { return b ? Support::Yes : Support::No; }

enum class XdpAttachMode { Generic, Native, Offload };
std::string_view xdp_attach_mode_name(XdpAttachMode m);  // "generic", "native", "offload"

// Who holds an XDP attachment: a BPF link (detaches when its last fd closes) or netlink (stays until
// someone removes it). Unknown when the link table could not be read.
enum class AttachedVia { Netlink, BpfLink, Unknown };
std::string_view attached_via_name(AttachedVia a);  // "netlink", "bpf-link", "unknown"

// One XDP program attached to an interface in one mode.
struct AttachedXdp {
    XdpAttachMode mode = XdpAttachMode::Native;
    uint32_t prog_id = 0;
    std::string prog_name;  // empty when the program info could not be read
    AttachedVia via = AttachedVia::Unknown;
    uint32_t link_id = 0;   // non-zero when via == BpfLink
    bool libxdp_dispatcher = false;  // libxdp's multi-program dispatcher ("xdp_dispatcher")
};

enum class TcDirection { Ingress, Egress };
std::string_view tc_direction_name(TcDirection d);  // "ingress", "egress"

// One tc filter on a clsact hook (any classifier kind; BPF fields set for cls_bpf).
struct TcFilter {
    TcDirection direction = TcDirection::Ingress;
    uint16_t priority = 0;
    uint16_t protocol = 0;  // host byte order ETH_P_* (0x0003 = all)
    uint32_t handle = 0;
    std::string kind;       // "bpf", "u32", ...
    uint32_t prog_id = 0;   // cls_bpf only (0 otherwise)
    std::string prog_name;  // cls_bpf only: the kernel's program name (bpf_prog_info.name)
    std::string tc_name;    // cls_bpf only: the name tc recorded (TCA_BPF_NAME, e.g. "prog.o:[tc]")
    bool direct_action = false;
};

// A tc program attached through tcx (Linux >= 6.6: BPF_TCX_INGRESS/EGRESS, no qdisc, usually held by
// a BPF link). Invisible to a clsact filter dump, so listed separately.
struct TcxProgram {
    TcDirection direction = TcDirection::Ingress;
    uint32_t prog_id = 0;
    std::string prog_name;
    uint32_t link_id = 0;  // non-zero when a BPF link holds it
};

// RFC 2863 operational state as the kernel reports it (IF_OPER_*).
enum class OperState : uint8_t { Unknown = 0, NotPresent, Down, LowerLayerDown, Testing, Dormant, Up };
std::string_view oper_state_name(OperState s);  // "unknown", "notpresent", "down", ..., "up"

// The other end of a veth pair.
struct VethPeer {
    int ifindex = 0;                    // in the peer's namespace
    std::optional<int> netnsid;         // nsid of the peer's namespace as seen from ours; nullopt = same namespace
    std::string name;                   // empty when it could not be resolved
};

struct InterfaceCaps {
    std::string name;
    int ifindex = 0;
    bool exists = false;

    std::string kind;                   // rtnetlink IFLA_INFO_KIND ("veth", "vxlan", "tun"...); empty for hardware/lo
    std::optional<std::string> driver;  // ETHTOOL_GDRVINFO driver; nullopt when the device has no ethtool driver info

    // netdev generic-netlink family (Linux >= 6.3). nullopt = unknown (family missing or query failed),
    // which is not the same as 0 (the kernel says: no XDP feature at all, i.e. generic XDP only).
    std::optional<uint64_t> xdp_features;            // bitmask of xb::netdev::XdpAct
    std::optional<uint32_t> xdp_zc_max_segs;         // Linux >= 6.6
    std::optional<uint64_t> xdp_rx_metadata_features;  // bitmask of xb::netdev::XdpRxMetadata, Linux >= 6.8

    uint32_t rx_queues = 0;  // in use (ethtool channels), else as allocated (rtnetlink)
    uint32_t tx_queues = 0;
    uint32_t mtu = 0;
    OperState oper_state = OperState::Unknown;
    std::optional<bool> gro;            // NETIF_F_GRO; nullopt when ethtool could not tell

    std::optional<VethPeer> veth_peer;  // set for veth devices only

    std::vector<AttachedXdp> xdp;       // at most one per mode
    Support clsact = Support::Unknown;  // a clsact qdisc is present
    std::vector<TcFilter> tc_filters;   // on clsact ingress and egress; empty when clsact is absent
    // tcx: Yes = the kernel has tcx and tcx_programs lists what is attached; No = the kernel has no
    // tcx (before 6.6), so nothing can be attached that way; Unknown = the query failed otherwise.
    Support tcx = Support::Unknown;
    std::vector<TcxProgram> tcx_programs;

    std::vector<Diagnostic> notes;      // what could not be found out, and why

    // Convenience for the planner.
    Support has_xdp_feature(uint64_t bit) const;  // Unknown while xdp_features is unknown
    const AttachedXdp* xdp_in_mode(XdpAttachMode m) const {
        for (const auto& a : xdp)
            if (a.mode == m) return &a;
        return nullptr;
    }
};

// A yes/no/unknown answer to "does the kernel have X", with the kernel's errno when it said no or
// could not be asked.
struct Probed {
    std::string name;  // "xdp", "cpumap", "bpf_redirect_map", ...
    Support supported = Support::Unknown;
    int error = 0;     // errno from the kernel (0 when supported)
};

// A helper as available to one program type.
struct ProbedHelper {
    std::string prog_type;  // "xdp", "sched_cls"
    std::string helper;     // "bpf_redirect_map"
    Support supported = Support::Unknown;
};

struct KernelCaps {
    std::string release;                // uname -r
    std::vector<Probed> prog_types;     // xdp, sched_cls, tracepoint
    std::vector<Probed> map_types;      // hash, percpu_hash, lru_hash, ..., percpu_array
    std::vector<ProbedHelper> helpers;  // the helpers the datapath uses, per program type
    Probed xdp_link{"xdp_link"};        // XDP attach through a BPF link (Linux >= 5.9)
    std::optional<std::string> bpffs;   // mount point, nullopt when not mounted
    std::optional<std::string> tracefs;
    Support vmlinux_btf = Support::Unknown;
    Probed freplace{"freplace"};        // BPF_PROG_TYPE_EXT loadable against an XDP program (libxdp dispatcher)
    std::string freplace_error;         // the kernel's refusal in words when freplace is "no"/"unknown"
    std::vector<unsigned> online_cpus;  // empty = unknown
    std::optional<std::string> lockdown;  // "none", "integrity", "confidentiality"; nullopt when unreadable

    std::vector<Diagnostic> notes;

    const Probed* prog_type(std::string_view n) const { return find(prog_types, n); }
    const Probed* map_type(std::string_view n) const { return find(map_types, n); }
    Support helper(std::string_view prog_type, std::string_view helper) const {
        for (const auto& h : helpers)
            if (h.prog_type == prog_type && h.helper == helper) return h.supported;
        return Support::Unknown;
    }

private:
    static const Probed* find(const std::vector<Probed>& v, std::string_view n) {
        for (const auto& p : v)
            if (p.name == n) return &p;
        return nullptr;
    }
};

// "0-3,8,10-11" -> {0,1,2,3,8,10,11}; nullopt on malformed input. Pure, used for
// /sys/devices/system/cpu/online and by the config layer for CPU lists.
std::optional<std::vector<unsigned>> parse_cpu_list(std::string_view text);
// The bracketed word of /sys/kernel/security/lockdown ("none [integrity] confidentiality" -> "integrity").
std::optional<std::string> parse_lockdown(std::string_view text);

}  // namespace xb::probe
