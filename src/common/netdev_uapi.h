// Stable UAPI of the netdev generic-netlink family (include/uapi/linux/netdev.h, Linux >= 6.3).
// Debian 12's linux-libc-dev lacks that header; these values are ABI and never change. This is the
// one place they are defined: probe, plan and the program manifests all use these names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace xb::netdev {

inline constexpr const char* kFamilyName = "netdev";
inline constexpr uint8_t kFamilyVersion = 1;

// Commands
inline constexpr uint8_t CMD_DEV_GET = 1;

// NETDEV_A_DEV_* attributes
inline constexpr uint16_t A_DEV_IFINDEX = 1;
inline constexpr uint16_t A_DEV_PAD = 2;
inline constexpr uint16_t A_DEV_XDP_FEATURES = 3;            // u64 bitmask of XdpAct
inline constexpr uint16_t A_DEV_XDP_ZC_MAX_SEGS = 4;         // u32 (6.6+)
inline constexpr uint16_t A_DEV_XDP_RX_METADATA_FEATURES = 5;  // u64 bitmask of XdpRxMetadata (6.8+)
inline constexpr uint16_t A_DEV_XSK_FEATURES = 6;            // u64 (6.11+)

// enum netdev_xdp_act
enum XdpAct : uint64_t {
    XDP_ACT_BASIC = 1,         // XDP_PASS, XDP_DROP, XDP_ABORTED, XDP_TX
    XDP_ACT_REDIRECT = 2,      // the driver can XDP_REDIRECT out of its rx path
    XDP_ACT_NDO_XMIT = 4,      // the device can receive redirected frames (ndo_xdp_xmit)
    XDP_ACT_XSK_ZEROCOPY = 8,
    XDP_ACT_HW_OFFLOAD = 16,
    XDP_ACT_RX_SG = 32,        // multi-buffer (frags) on rx
    XDP_ACT_NDO_XMIT_SG = 64,
};
inline constexpr uint64_t XDP_ACT_MASK = 127;

// enum netdev_xdp_rx_metadata
enum XdpRxMetadata : uint64_t {
    XDP_RX_METADATA_TIMESTAMP = 1,
    XDP_RX_METADATA_HASH = 2,
    XDP_RX_METADATA_VLAN_TAG = 4,
};

// Flag names spelled as the kernel's YNL spec spells them.
inline constexpr struct {
    uint64_t bit;
    std::string_view name;
} kXdpActNames[] = {
    {XDP_ACT_BASIC, "basic"},         {XDP_ACT_REDIRECT, "redirect"},     {XDP_ACT_NDO_XMIT, "ndo-xmit"},
    {XDP_ACT_XSK_ZEROCOPY, "xsk-zerocopy"}, {XDP_ACT_HW_OFFLOAD, "hw-offload"}, {XDP_ACT_RX_SG, "rx-sg"},
    {XDP_ACT_NDO_XMIT_SG, "ndo-xmit-sg"},
};

inline constexpr struct {
    uint64_t bit;
    std::string_view name;
} kXdpRxMetadataNames[] = {
    {XDP_RX_METADATA_TIMESTAMP, "timestamp"}, {XDP_RX_METADATA_HASH, "hash"}, {XDP_RX_METADATA_VLAN_TAG, "vlan-tag"},
};

// "basic,redirect,rx-sg" (empty string for 0); unknown bits as "0x..".
inline std::string xdp_act_names(uint64_t bits) {
    std::string out;
    for (const auto& f : kXdpActNames) {
        if (bits & f.bit) {
            if (!out.empty()) out += ',';
            out += f.name;
        }
    }
    return out;
}

}  // namespace xb::netdev
