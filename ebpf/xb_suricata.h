/* Suricata 7's bypass map layout, as an unmodified Suricata writes it into the pinned maps
 * /sys/fs/bpf/suricata-<iface>-flow_table_v4 and -flow_table_v6 (af-packet, bypass: yes,
 * pinned-maps: yes): shared byte-for-byte between xb_suricata.bpf.c and user space (C and C++),
 * checked by static asserts on both sides. Written from what Suricata 7.0.10 was observed to store
 * (tests/suricata/suricata_test.sh dumps the maps with bpftool), not from its sources:
 *   - addresses and ports in network byte order, the source first (Suricata inserts both
 *     directions, each with its own key);
 *   - then a 16-bit word in the host's byte order: bit 0 is 1 for TCP and 0 for any other
 *     protocol, bits 1-15 the outer VLAN id (0 when untagged). A UDP frame of VLAN 5 is stored as
 *     the bytes 0a 00 on x86-64: (5 << 1) | 0 = 0x000a;
 *   - then the inner VLAN id as a 16-bit word in the host's byte order (0 when absent).
 * The value is one struct xb_sur_pair per possible CPU (BPF_MAP_TYPE_PERCPU_HASH): Suricata sums
 * the CPUs' packets and compares the sum with the one it read before to tell a live flow from an
 * idle one, so every hit adds one packet and its bytes on the CPU that saw it. */
#ifndef XB_SURICATA_H
#define XB_SURICATA_H

#include <linux/types.h>

#include "xb_flow.h"

/* Map names: Suricata opens <pin-root>/suricata-<iface>-<name>. */
#define XB_SUR_MAP_V4 "flow_table_v4"
#define XB_SUR_MAP_V6 "flow_table_v6"
/* Entries per map when xbypass creates them (Suricata's own filter uses the same size). */
#define XB_SUR_DEFAULT_ENTRIES 32768

/* Bit 0 of xb_sur_key_v4.proto_vlan0: 1 for TCP. */
#define XB_SUR_PROTO_TCP 1u

struct xb_sur_key_v4 {
    __u32 src;         /* network byte order */
    __u32 dst;         /* network byte order */
    __u16 src_port;    /* network byte order */
    __u16 dst_port;    /* network byte order */
    __u16 proto_vlan0; /* host byte order: (outer VLAN id << 1) | (1 if TCP) */
    __u16 vlan1;       /* host byte order: inner VLAN id */
};
XB_STATIC_ASSERT(sizeof(struct xb_sur_key_v4) == 16, "xb_sur_key_v4 layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_sur_key_v4, src_port) == 8, "xb_sur_key_v4 layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_sur_key_v4, proto_vlan0) == 12, "xb_sur_key_v4 layout changed");

struct xb_sur_key_v6 {
    __u32 src[4];      /* network byte order */
    __u32 dst[4];      /* network byte order */
    __u16 src_port;    /* network byte order */
    __u16 dst_port;    /* network byte order */
    __u16 proto_vlan0; /* as in xb_sur_key_v4 */
    __u16 vlan1;
};
XB_STATIC_ASSERT(sizeof(struct xb_sur_key_v6) == 40, "xb_sur_key_v6 layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_sur_key_v6, src_port) == 32, "xb_sur_key_v6 layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_sur_key_v6, proto_vlan0) == 36, "xb_sur_key_v6 layout changed");

/* Per CPU and key. */
struct xb_sur_pair {
    __u64 packets;
    __u64 bytes;
};
XB_STATIC_ASSERT(sizeof(struct xb_sur_pair) == 16, "xb_sur_pair layout changed");

/* The 16-bit word after the ports, from the parsed key (host byte order). */
static inline __u16 xb_sur_proto_vlan0(__u8 proto, __u16 vlan_outer)
{
    return (__u16)(((vlan_outer & 0x0fff) << 1) | (proto == 6 /* IPPROTO_TCP */ ? XB_SUR_PROTO_TCP : 0u));
}

#endif /* XB_SURICATA_H */
