/* Flow table key and value, the counter block and the counter indexes: shared byte-for-byte between
 * the BPF programs and user space (C and C++). Fixed-width types and explicit padding only; the
 * layout is checked by static asserts on both sides. Changing anything here changes the map ABI. */
#ifndef XB_FLOW_H
#define XB_FLOW_H

#include <linux/types.h>

#ifdef __cplusplus
#define XB_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define XB_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* xb_flow_key.family */
#define XB_FAMILY_IPV4 4
#define XB_FAMILY_IPV6 6

/* One key for IPv4 and IPv6 so that one lookup serves both; IPv4 uses word 0 of each address. */
struct xb_flow_key {
    __u32 src_addr[4]; /* network byte order; IPv4 in [0], [1..3] zero */
    __u32 dst_addr[4]; /* network byte order */
    __u16 src_port;    /* network byte order; 0 for protocols without ports */
    __u16 dst_port;    /* network byte order */
    __u16 vlan_outer;  /* host byte order VLAN id (0-4095); 0 when untagged or vlan-tracking is off */
    __u16 vlan_inner;  /* host byte order VLAN id of the second tag (QinQ); 0 when absent */
    __u8 family;       /* XB_FAMILY_IPV4 or XB_FAMILY_IPV6 */
    __u8 proto;        /* IPPROTO_* of the transport header (after IPv6 extension headers) */
    __u8 pad[2];       /* always zero: the key is hashed byte by byte */
};
XB_STATIC_ASSERT(sizeof(struct xb_flow_key) == 44, "xb_flow_key layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_flow_key, src_port) == 32, "xb_flow_key layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_flow_key, vlan_outer) == 36, "xb_flow_key layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_flow_key, family) == 40, "xb_flow_key layout changed");

/* One slot of the flow table (xb_table.h): a key, where its counters are, and the sequence number
 * that says whether the key is valid. seq 0: never used (empty); odd: being written; even: the key
 * is valid. Every write of a slot by user space takes a new, larger seq, so a reader that sees the
 * same even seq before and after comparing the key has compared a key that did not change
 * meanwhile. 64 bytes: one cache line (the array is memory-mapped, BPF_F_MMAPABLE, page aligned). */
struct xb_flow_slot {
    struct xb_flow_key key;
    __u32 stats_index;       /* 2 * flow id (+1: the reverse direction): counters at xb_flow_stats[flow id] */
    __u64 seq;
    __u32 last_seen_jiffies; /* low 32 bits of bpf_jiffies64() at the last hit, written by the program */
    __u32 inserted_jiffies;  /* low 32 bits of the kernel's jiffies when the flow was inserted */
};
XB_STATIC_ASSERT(sizeof(struct xb_flow_slot) == 64, "xb_flow_slot layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_flow_slot, stats_index) == 44, "xb_flow_slot layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_flow_slot, seq) == 48, "xb_flow_slot layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_flow_slot, last_seen_jiffies) == 56, "xb_flow_slot layout changed");

/* The slot hash's key (xb_table.h): random per table, made when the table is created, kept in the
 * table's metadata slot (struct xb_table_meta) so that pinned maps keep it, and handed to the
 * program as a load-time constant. */
struct xb_hash_key {
    __u32 k[10];      /* NH term offsets */
    __u64 v4_tail;    /* the terms of an IPv4 key's zero words 1-3 (computed from k[4..9]) */
};
XB_STATIC_ASSERT(sizeof(struct xb_hash_key) == 48, "xb_hash_key layout changed");

/* The last element of xb_flow_slots, past every probe window: what the table is. Never read by the
 * programs (seq stays odd: never a valid key). */
#define XB_TABLE_MAGIC 0x78627462u /* "xbtb" */
struct xb_table_meta {
    __u32 magic;
    __u32 slot_count; /* home slots (the array has XB_FLOW_WINDOW more: XB_FLOW_WINDOW - 1 probe, 1 meta) */
    struct xb_hash_key hash_key;
    __u64 seq;        /* odd, at the slot's seq offset */
};
XB_STATIC_ASSERT(sizeof(struct xb_table_meta) == sizeof(struct xb_flow_slot), "xb_table_meta layout changed");
XB_STATIC_ASSERT(__builtin_offsetof(struct xb_table_meta, seq) == 56, "xb_table_meta layout changed");

/* Per direction of a flow (per CPU with a per-CPU table: user space sums the CPUs). */
struct xb_flow_value {
    __u64 packets;
    __u64 bytes;             /* frame bytes as the hook saw them (XDP: data_end - data, tc: skb->len) */
};
XB_STATIC_ASSERT(sizeof(struct xb_flow_value) == 16, "xb_flow_value layout changed");

/* The element of xb_flow_stats: one per flow id (xb_flow_slot.stats_index / 2), both directions
 * (stats_index & 1), so that user space reads or zeroes a flow's counts with one element. User
 * space zeroes an element (in batches) before its flow id serves a new flow. */
struct xb_flow_stats_elem {
    struct xb_flow_value dir[2];
};
XB_STATIC_ASSERT(sizeof(struct xb_flow_stats_elem) == 32, "xb_flow_stats_elem layout changed");

/* Counter indexes. Outcome counters (PASS, DROP, IPS_FORWARD, CPU_REDIRECT, XSK_REDIRECT) add up to
 * the packets seen: every packet ends in exactly one of them. The others say why: HIT/MISS for frames that were
 * looked up, PARSE_ERROR, FRAGMENT and NOT_IP for frames that never reach the lookup, and
 * REDIRECT_FAIL when a redirect could not be started (the frame then goes to the stack: PASS).
 * ORPHANED counts hits that were not bypassed because the run that owns the flow table stopped
 * renewing its lease (it died without detaching): they are handled, and counted, as misses. */
enum xb_counter {
    XB_CNT_PASS = 0,
    XB_CNT_DROP = 1,
    XB_CNT_IPS_FORWARD = 2,
    XB_CNT_CPU_REDIRECT = 3,
    XB_CNT_REDIRECT_FAIL = 4,
    XB_CNT_PARSE_ERROR = 5,
    XB_CNT_FRAGMENT = 6,
    XB_CNT_HIT = 7,
    XB_CNT_MISS = 8,
    XB_CNT_NOT_IP = 9,
    XB_CNT_ORPHANED = 10,
    XB_CNT_XSK_REDIRECT = 11, /* into the AF_XDP socket of the frame's receive queue (xsk variants) */
    XB_CNT_MAX = 12,
};

/* The only element of the per-CPU counters array: one lookup per packet counts everything. */
struct xb_counters {
    __u64 value[XB_CNT_MAX];
};
XB_STATIC_ASSERT(sizeof(struct xb_counters) == 8 * XB_CNT_MAX, "xb_counters layout changed");

#endif /* XB_FLOW_H */
