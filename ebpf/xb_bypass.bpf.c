// SPDX-License-Identifier: GPL-2.0
/* The bypass programs. One body, instantiated once per set of actions, so that a program never
 * contains an action its device may not be able to do (no redirect code without cpu redirect or an
 * IPS peer): the planner chooses the program whose manifest (src/datapath/manifest.cpp) the devices
 * satisfy. Options that do not change the actions are load-time constants (.rodata) the verifier
 * folds: VLAN tracking, the per-CPU flow table, the CPU list, the tc IPS peer.
 *
 *   xdp_ids      hit: XDP_DROP            miss: XDP_PASS
 *   xdp_ids_cpu  hit: XDP_DROP            miss: cpumap redirect
 *   xdp_ips      hit: devmap redirect     miss: XDP_PASS
 *   xdp_ips_cpu  hit: devmap redirect     miss: cpumap redirect
 *   xdp_ids_xsk  hit: XDP_DROP            miss: XSKMAP redirect (AF_XDP socket of the rx queue)
 *   xdp_ips_xsk  hit: devmap redirect     miss: XSKMAP redirect
 *   tc_ids       hit: TC_ACT_SHOT         miss: TC_ACT_OK
 *   tc_ips       hit: bpf_redirect(peer)  miss: TC_ACT_OK
 * Fragments, non-IP and malformed frames go to the stack (XDP_PASS / TC_ACT_OK), except in the xsk
 * variants: there the engine reads its AF_XDP socket and nothing else, so every frame that is not
 * bypassed — fragments, non-IP and malformed ones too, and hits whose IPS peer slot is empty — goes
 * to the socket (counted as before, with XSK_REDIRECT as the outcome). Only when the socket slot of
 * the queue is empty does a frame go to the stack (REDIRECT_FAIL + PASS), so nothing is lost. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "xb_actions.h"
#include "xb_consts.h"
#include "xb_flow.h"
#include "xb_hash.h"
#include "xb_maps.h"
#include "xb_parse.h"
#include "xb_table.h"

/* Set through the skeleton before load (with cfg_vlan_tracking and the CPU list: xb_actions.h). */
const volatile __u8 cfg_flow_percpu = 1;  /* per-CPU flow table: plain adds; shared: atomic adds */
const volatile __u32 cfg_slot_count = XB_DEFAULT_FLOW_ENTRIES * 4; /* home slots in xb_flow_slots */
const volatile struct xb_hash_key cfg_hash_key = {};                /* the table's (xb_table_meta) */

/* tc_ips: the IPS peer's ifindex (XDP uses the devmap). Written by user space: 0 while the peer
 * cannot receive (down, gone, moved away), when hits go to the stack (REDIRECT_FAIL + PASS) instead
 * of being redirected into a device that would drop them. One aligned word: a reader sees the old
 * or the new value. Its own section so that the lease's .bss write does not cover it. */
volatile __u32 xb_tc_ips_peer SEC(".data.ips_peer") = 0;

/* Equal keys, compared as five 8-byte words and one 4-byte word (both keys 8-byte aligned: the slot
 * by the array's element alignment, the packet's key by its declaration); most discriminating first,
 * so that a slot of another flow is usually left after one compare. */
static __always_inline int xb_flow_key_equal_words(const struct xb_flow_key *slot_key, const struct xb_flow_key *key)
{
    const __u64 *a = (const __u64 *)slot_key;
    const __u64 *b = (const __u64 *)key;
    return a[2] == b[2] && a[0] == b[0] && a[4] == b[4] && a[1] == b[1] && a[3] == b[3] &&
           *(const __u32 *)&a[5] == *(const __u32 *)&b[5];
}

/* The slot of key in the flow table (see xb_table.h for the rules user space keeps), or NULL. */
static __always_inline struct xb_flow_slot *xb_flow_find(const struct xb_flow_key *key)
{
    /* The key through a pointer the compiler cannot see through (so it does not fold the
     * constants' initial zeros) with plain loads it may place next to their uses: volatile loads
     * would stay in source order, all up front, and spill. */
    const struct xb_hash_key *hk = (const struct xb_hash_key *)&cfg_hash_key;
    asm volatile("" : "+r"(hk));
    __u32 home = xb_home_slot(xb_slot_hash(key, hk), cfg_slot_count);
    XB_UNROLL
    for (int i = 0; i < XB_FLOW_WINDOW; i++) {
        __u32 idx = home + i; /* no wrap-around: the array has XB_FLOW_WINDOW - 1 slots past the last home */
        struct xb_flow_slot *slot = bpf_map_lookup_elem(&xb_flow_slots, &idx);
        if (!slot)
            return 0;
        __u64 seq = *(volatile __u64 *)&slot->seq;
        if (seq == 0)
            return 0; /* empty: the key is not further on */
        if (seq & 1)
            continue; /* being written */
        if (!xb_flow_key_equal_words(&slot->key, key))
            continue;
        asm volatile("" ::: "memory");
        if (*(volatile __u64 *)&slot->seq == seq)
            return slot;
    }
    return 0;
}

/* Counts a hit on the flow in slot at jiffy now; the caller decides the action. The last-seen time
 * lives in the (shared) slot so that a sweep reads it from user space's mapping: it is written only
 * when it changes, once a jiffy at most, so that CPUs reading the slot rarely lose its cache line. */
static __always_inline void xb_touch_flow(struct xb_flow_slot *slot, __u64 bytes, __u64 now)
{
    __u32 idx = slot->stats_index;
    __u32 flow = idx >> 1;
    __u32 now32 = (__u32)now;
    if (slot->last_seen_jiffies != now32)
        slot->last_seen_jiffies = now32;
    struct xb_flow_stats_elem *c = bpf_map_lookup_elem(&xb_flow_stats, &flow);
    if (!c)
        return;
    struct xb_flow_value *v = &c->dir[idx & 1];
    if (cfg_flow_percpu) {
        v->packets++;
        v->bytes += bytes;
    } else {
        __sync_fetch_and_add(&v->packets, 1);
        __sync_fetch_and_add(&v->bytes, bytes);
    }
}

/* xsk variants: the frame goes to the AF_XDP socket of its receive queue; an empty slot (no socket
 * bound there, or a queue beyond the map) passes it to the stack, as a failed cpu redirect does. */
static __always_inline int xb_to_xsk(struct xdp_md *ctx, struct xb_counters *cnt)
{
    int act = bpf_redirect_map(&xb_xsk_map, ctx->rx_queue_index, XDP_PASS);
    if (act == XDP_REDIRECT) {
        xb_count(cnt, XB_CNT_XSK_REDIRECT);
        return XDP_REDIRECT;
    }
    xb_count(cnt, XB_CNT_REDIRECT_FAIL);
    xb_count(cnt, XB_CNT_PASS);
    return XDP_PASS;
}

/* ips, cpu_redirect and xsk are constants at every call site: each variant keeps only its code. */
static __always_inline int xb_xdp(struct xdp_md *ctx, const int ips, const int cpu_redirect, const int xsk)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct xb_counters *cnt = xb_counter_block();
    struct xb_flow_key key __attribute__((aligned(8))); /* compared in 8-byte words */

    int status = xb_parse_frame(data, data_end, cfg_vlan_tracking, -1, &key);
    if (status != XB_PARSE_OK) {
        xb_count(cnt, xb_status_counter(status));
        if (xsk)
            return xb_to_xsk(ctx, cnt); /* the engine sees frames through its socket only */
        xb_count(cnt, XB_CNT_PASS);
        return XDP_PASS;
    }

    asm volatile("" : : "r"(&key) : "memory");
    struct xb_flow_slot *slot = xb_flow_find(&key);
    __u64 now = slot ? bpf_jiffies64() : 0;
    if (slot && xb_lease_holds(cnt, now)) {
        xb_count(cnt, XB_CNT_HIT);
        xb_touch_flow(slot, (__u64)(data_end - data), now);
        if (ips) {
            if (xb_xdp_ips_forward(cnt) == XDP_REDIRECT)
                return XDP_REDIRECT;
            if (xsk)
                return xb_to_xsk(ctx, cnt); /* the engine's only view is its socket */
            xb_count(cnt, XB_CNT_PASS);
            return XDP_PASS;
        }
        xb_count(cnt, XB_CNT_DROP);
        return XDP_DROP;
    }

    xb_count(cnt, XB_CNT_MISS);
    if (xsk)
        return xb_to_xsk(ctx, cnt);
    return xb_xdp_miss(&key, cnt, cpu_redirect);
}

SEC("xdp")
int xdp_ids(struct xdp_md *ctx)
{
    return xb_xdp(ctx, 0, 0, 0);
}

SEC("xdp")
int xdp_ids_cpu(struct xdp_md *ctx)
{
    return xb_xdp(ctx, 0, 1, 0);
}

SEC("xdp")
int xdp_ips(struct xdp_md *ctx)
{
    return xb_xdp(ctx, 1, 0, 0);
}

SEC("xdp")
int xdp_ips_cpu(struct xdp_md *ctx)
{
    return xb_xdp(ctx, 1, 1, 0);
}

SEC("xdp")
int xdp_ids_xsk(struct xdp_md *ctx)
{
    return xb_xdp(ctx, 0, 0, 1);
}

SEC("xdp")
int xdp_ips_xsk(struct xdp_md *ctx)
{
    return xb_xdp(ctx, 1, 0, 1);
}

static __always_inline int xb_tc(struct __sk_buff *skb, const int ips)
{
    xb_tc_pull_headers(skb);
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct xb_counters *cnt = xb_counter_block();
    struct xb_flow_key key __attribute__((aligned(8))); /* compared in 8-byte words */

    int status = xb_parse_frame(data, data_end, cfg_vlan_tracking, xb_tc_hw_vlan(skb), &key);
    if (status != XB_PARSE_OK) {
        xb_count(cnt, xb_status_counter(status));
        xb_count(cnt, XB_CNT_PASS);
        return TC_ACT_OK;
    }

    struct xb_flow_slot *slot = xb_flow_find(&key);
    __u64 now = slot ? bpf_jiffies64() : 0;
    if (slot && xb_lease_holds(cnt, now)) {
        xb_count(cnt, XB_CNT_HIT);
        xb_touch_flow(slot, skb->len, now);
        if (ips)
            return xb_tc_ips_forward(cnt, xb_tc_ips_peer); /* 0 while the peer cannot receive */
        xb_count(cnt, XB_CNT_DROP);
        return TC_ACT_SHOT;
    }
    xb_count(cnt, XB_CNT_MISS);
    xb_count(cnt, XB_CNT_PASS);
    return TC_ACT_OK;
}

SEC("tc")
int tc_ids(struct __sk_buff *skb)
{
    return xb_tc(skb, 0);
}

SEC("tc")
int tc_ips(struct __sk_buff *skb)
{
    return xb_tc(skb, 1);
}

char LICENSE[] SEC("license") = "GPL";
