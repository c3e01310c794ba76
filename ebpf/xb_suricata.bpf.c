// SPDX-License-Identifier: GPL-2.0
/* The bypass programs of the Suricata mode (doc/suricata.md): the same parser and actions as
 * xb_bypass.bpf.c, but the flow table is the pair of maps an unmodified Suricata 7 writes its
 * bypassed flows into (xb_suricata.h): flow_table_v4 and flow_table_v6, per-CPU hashes that
 * xbypass pins where Suricata looks for them. One body, instantiated once per set of actions:
 *
 *   xdp_sur_ids      hit: XDP_DROP            miss: XDP_PASS
 *   xdp_sur_ids_cpu  hit: XDP_DROP            miss: cpumap redirect
 *   xdp_sur_ips      hit: devmap redirect     miss: XDP_PASS
 *   xdp_sur_ips_cpu  hit: devmap redirect     miss: cpumap redirect
 *   tc_sur_ids       hit: TC_ACT_SHOT         miss: TC_ACT_OK
 *   tc_sur_ips       hit: bpf_redirect(peer)  miss: TC_ACT_OK
 *
 * A hit is never XDP_ABORTED. Fragments, non-IP and malformed frames go to the stack, as in the
 * built-in programs. Suricata inserts both directions of a flow; a frame whose own direction is
 * missing is looked up reversed too, so a flow whose second insert failed is still bypassed.
 * The lease (xb_lease_until, xb_actions.h) is how user space stops bypassing at once when the
 * Suricata that owns the entries is gone, and when xbypass itself dies without detaching. The steps
 * around the lookup (counting, lease, IPS forward, cpu redirect, tc preamble) are xb_actions.h's,
 * shared with xb_bypass.bpf.c. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "xb_actions.h"
#include "xb_consts.h"
#include "xb_flow.h"
#include "xb_parse.h"
#include "xb_suricata.h"

/* Set through the skeleton before load (with cfg_vlan_tracking and the CPU list: xb_actions.h). */
const volatile __u32 cfg_ips_peer_ifindex = 0; /* tc_sur_ips only; XDP uses the devmap */

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __type(key, struct xb_sur_key_v4);
    __type(value, struct xb_sur_pair);
    __uint(max_entries, XB_SUR_DEFAULT_ENTRIES);
} flow_table_v4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __type(key, struct xb_sur_key_v6);
    __type(value, struct xb_sur_pair);
    __uint(max_entries, XB_SUR_DEFAULT_ENTRIES);
} flow_table_v6 SEC(".maps");

/* This CPU's pair of the entry for key (either direction), or NULL. */
static __always_inline struct xb_sur_pair *xb_sur_find(const struct xb_flow_key *k)
{
    __u16 pv = xb_sur_proto_vlan0(k->proto, k->vlan_outer);
    struct xb_sur_pair *v;
    if (k->family == XB_FAMILY_IPV4) {
        struct xb_sur_key_v4 key = {
            .src = k->src_addr[0], .dst = k->dst_addr[0], .src_port = k->src_port, .dst_port = k->dst_port,
            .proto_vlan0 = pv, .vlan1 = k->vlan_inner,
        };
        v = bpf_map_lookup_elem(&flow_table_v4, &key);
        if (v)
            return v;
        key.src = k->dst_addr[0];
        key.dst = k->src_addr[0];
        key.src_port = k->dst_port;
        key.dst_port = k->src_port;
        return bpf_map_lookup_elem(&flow_table_v4, &key);
    }
    struct xb_sur_key_v6 key6 = {.src_port = k->src_port, .dst_port = k->dst_port, .proto_vlan0 = pv,
                                 .vlan1 = k->vlan_inner};
    __builtin_memcpy(key6.src, k->src_addr, 16);
    __builtin_memcpy(key6.dst, k->dst_addr, 16);
    v = bpf_map_lookup_elem(&flow_table_v6, &key6);
    if (v)
        return v;
    __builtin_memcpy(key6.src, k->dst_addr, 16);
    __builtin_memcpy(key6.dst, k->src_addr, 16);
    key6.src_port = k->dst_port;
    key6.dst_port = k->src_port;
    return bpf_map_lookup_elem(&flow_table_v6, &key6);
}

static __always_inline int xb_sur_xdp(struct xdp_md *ctx, const int ips, const int cpu_redirect)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct xb_counters *cnt = xb_counter_block();
    struct xb_flow_key key;

    int status = xb_parse_frame(data, data_end, cfg_vlan_tracking, -1, &key);
    if (status != XB_PARSE_OK) {
        xb_count(cnt, xb_status_counter(status));
        xb_count(cnt, XB_CNT_PASS);
        return XDP_PASS;
    }
    struct xb_sur_pair *v = xb_sur_find(&key);
    if (v && xb_lease_holds(cnt, bpf_jiffies64())) {
        xb_count(cnt, XB_CNT_HIT);
        v->packets++; /* this CPU's pair: no other writer */
        v->bytes += (__u64)(data_end - data);
        if (ips) {
            if (xb_xdp_ips_forward(cnt) == XDP_REDIRECT)
                return XDP_REDIRECT;
            xb_count(cnt, XB_CNT_PASS); /* the peer's slot is empty: Suricata gets the frame */
            return XDP_PASS;
        }
        xb_count(cnt, XB_CNT_DROP);
        return XDP_DROP;
    }
    xb_count(cnt, XB_CNT_MISS);
    return xb_xdp_miss(&key, cnt, cpu_redirect);
}

SEC("xdp")
int xdp_sur_ids(struct xdp_md *ctx)
{
    return xb_sur_xdp(ctx, 0, 0);
}

SEC("xdp")
int xdp_sur_ids_cpu(struct xdp_md *ctx)
{
    return xb_sur_xdp(ctx, 0, 1);
}

SEC("xdp")
int xdp_sur_ips(struct xdp_md *ctx)
{
    return xb_sur_xdp(ctx, 1, 0);
}

SEC("xdp")
int xdp_sur_ips_cpu(struct xdp_md *ctx)
{
    return xb_sur_xdp(ctx, 1, 1);
}

static __always_inline int xb_sur_tc(struct __sk_buff *skb, const int ips)
{
    xb_tc_pull_headers(skb);
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct xb_counters *cnt = xb_counter_block();
    struct xb_flow_key key;

    int status = xb_parse_frame(data, data_end, cfg_vlan_tracking, xb_tc_hw_vlan(skb), &key);
    if (status != XB_PARSE_OK) {
        xb_count(cnt, xb_status_counter(status));
        xb_count(cnt, XB_CNT_PASS);
        return TC_ACT_OK;
    }
    struct xb_sur_pair *v = xb_sur_find(&key);
    if (v && xb_lease_holds(cnt, bpf_jiffies64())) {
        xb_count(cnt, XB_CNT_HIT);
        v->packets++;
        v->bytes += skb->len;
        if (ips)
            return xb_tc_ips_forward(cnt, cfg_ips_peer_ifindex);
        xb_count(cnt, XB_CNT_DROP);
        return TC_ACT_SHOT;
    }
    xb_count(cnt, XB_CNT_MISS);
    xb_count(cnt, XB_CNT_PASS);
    return TC_ACT_OK;
}

SEC("tc")
int tc_sur_ids(struct __sk_buff *skb)
{
    return xb_sur_tc(skb, 0);
}

SEC("tc")
int tc_sur_ips(struct __sk_buff *skb)
{
    return xb_sur_tc(skb, 1);
}

char LICENSE[] SEC("license") = "GPL";
