/* What every bypass program shares, whichever flow table it reads (xb_bypass.bpf.c: xbypass's own
 * table; xb_suricata.bpf.c: Suricata's maps): the counter, cpumap and devmap maps, the load-time
 * constants of the actions, the lease word, and the steps around the lookup — counting, the lease
 * check, a hit's IPS forward, a miss's cpu redirect, the tc preamble. All static __always_inline, so
 * every program variant keeps only the code of its own actions (the callers pass constants).
 * Included by one BPF object each: the maps and globals below are that object's own. */
#ifndef XB_ACTIONS_H
#define XB_ACTIONS_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "xb_consts.h"
#include "xb_flow.h"
#include "xb_hash.h"
#include "xb_parse.h"

/* Set through the skeleton before load. */
const volatile __u8 cfg_vlan_tracking = 1;
const volatile __u32 cfg_cpu_count = 0; /* entries used in cfg_cpu_ids */
const volatile __u32 cfg_cpu_ids[XB_MAX_REDIRECT_CPUS] = {};

/* The run that loaded this program vouches for its flow table until this jiffy, and renews it
 * while it lives; 0: no lease (tests, simulate). A run killed without detaching leaves its program
 * behind (a tc filter, a libxdp dispatcher component): once the lease lapses, hits are no longer
 * bypassed but handled as misses, so no flow stays hidden from the IDS. In the Suricata mode it is
 * also made to lapse (1, long past) when the Suricata that owns the entries is gone. Written by
 * user space: the object's .bss holds it alone. */
volatile __u64 xb_lease_until = 0;

/* One struct xb_counters per CPU: counting takes no lock and one (inlined) lookup. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct xb_counters);
    __uint(max_entries, 1);
} xb_counters SEC(".maps");

/* Redirect CPUs for flows not (yet) bypassed: key = CPU id, value = queue size. */
struct {
    __uint(type, BPF_MAP_TYPE_CPUMAP);
    __type(key, __u32);
    __type(value, struct bpf_cpumap_val);
    __uint(max_entries, XB_MAX_REDIRECT_CPUS);
} xb_cpu_map SEC(".maps");

/* The IPS peer, at key XB_IPS_PEER_KEY. */
struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __type(key, __u32);
    __type(value, struct bpf_devmap_val);
    __uint(max_entries, 1);
} xb_ips_devmap SEC(".maps");

static __always_inline struct xb_counters *xb_counter_block(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&xb_counters, &zero);
}

static __always_inline void xb_count(struct xb_counters *c, __u32 idx)
{
    if (c && idx < XB_CNT_MAX)
        c->value[idx]++;
}

/* The counter of a frame the parser did not make a key of. */
static __always_inline __u32 xb_status_counter(int status)
{
    if (status == XB_PARSE_FRAGMENT)
        return XB_CNT_FRAGMENT;
    if (status == XB_PARSE_NOT_IP)
        return XB_CNT_NOT_IP;
    return XB_CNT_PARSE_ERROR;
}

/* Whether the owning run's lease holds at jiffy now; a lapsed one is counted. */
static __always_inline int xb_lease_holds(struct xb_counters *cnt, __u64 now)
{
    __u64 until = xb_lease_until;
    if (until == 0 || now <= until)
        return 1;
    xb_count(cnt, XB_CNT_ORPHANED);
    return 0;
}

/* XDP, a hit of an IPS variant: to the peer in the devmap (XDP_REDIRECT, counted IPS_FORWARD), or
 * XDP_PASS when its slot is empty (counted REDIRECT_FAIL; the caller decides where the frame goes
 * and counts that: the IDS still gets it, nothing is lost). */
static __always_inline int xb_xdp_ips_forward(struct xb_counters *cnt)
{
    int act = bpf_redirect_map(&xb_ips_devmap, XB_IPS_PEER_KEY, XDP_PASS);
    if (act == XDP_REDIRECT) {
        xb_count(cnt, XB_CNT_IPS_FORWARD);
        return XDP_REDIRECT;
    }
    xb_count(cnt, XB_CNT_REDIRECT_FAIL);
    return XDP_PASS;
}

/* XDP, a miss (already counted MISS): with cpu redirect to the flow's CPU by hash (XDP_REDIRECT),
 * else — or when the redirect fails (REDIRECT_FAIL) — to the stack on this CPU (PASS). */
static __always_inline int xb_xdp_miss(const struct xb_flow_key *key, struct xb_counters *cnt, const int cpu_redirect)
{
    if (cpu_redirect && cfg_cpu_count > 0) {
        __u32 idx = xb_hash_to_index(xb_flow_hash(key), cfg_cpu_count);
        if (idx < XB_MAX_REDIRECT_CPUS) {
            int act = bpf_redirect_map(&xb_cpu_map, cfg_cpu_ids[idx], XDP_PASS);
            if (act == XDP_REDIRECT) {
                xb_count(cnt, XB_CNT_CPU_REDIRECT);
                return XDP_REDIRECT;
            }
        }
        xb_count(cnt, XB_CNT_REDIRECT_FAIL);
    }
    xb_count(cnt, XB_CNT_PASS);
    return XDP_PASS;
}

/* tc: headers may sit in paged data on real traffic: make the first bytes linear when they are not.
 * (Before reading skb->data: the pull moves it.) */
static __always_inline void xb_tc_pull_headers(struct __sk_buff *skb)
{
    __u32 linear = skb->data_end - skb->data;
    if (linear < XB_TC_PULL_LEN && skb->len > linear)
        bpf_skb_pull_data(skb, skb->len < XB_TC_PULL_LEN ? skb->len : XB_TC_PULL_LEN);
}

/* tc: at ingress the kernel has usually moved the outer tag out of the frame into skb->vlan_tci
 * (-1: no such tag; the parser reads the frame's own). */
static __always_inline int xb_tc_hw_vlan(const struct __sk_buff *skb)
{
    return skb->vlan_present ? (int)(skb->vlan_tci & 0x0fff) : -1;
}

/* tc, a hit of an IPS variant: to peer (TC_ACT_REDIRECT, counted IPS_FORWARD); with no peer (0: it
 * cannot receive) or a failed redirect the stack — and the IDS — gets the frame (REDIRECT_FAIL and
 * PASS, TC_ACT_OK). */
static __always_inline int xb_tc_ips_forward(struct xb_counters *cnt, __u32 peer)
{
    if (peer) {
        int act = bpf_redirect(peer, 0);
        if (act == TC_ACT_REDIRECT) {
            xb_count(cnt, XB_CNT_IPS_FORWARD);
            return TC_ACT_REDIRECT;
        }
    }
    xb_count(cnt, XB_CNT_REDIRECT_FAIL);
    xb_count(cnt, XB_CNT_PASS);
    return TC_ACT_OK;
}

#endif /* XB_ACTIONS_H */
