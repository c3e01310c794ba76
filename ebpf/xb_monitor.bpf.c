// SPDX-License-Identifier: GPL-2.0
/* The exception monitor: tp_btf programs on the kernel's XDP error tracepoints, loaded only while a
 * run is active. Each looks its device's ifindex up in xb_mon_ifindex (filled by the loader with the
 * run's interfaces; an ifindex below XB_MON_DIRECT_IFINDEX in the array xb_mon_direct, a plain load)
 * and, for the cpumap event that names no device, the map id in xb_mon_mapid; an event of another
 * interface costs that one lookup and nothing else. Counters are per CPU, indexed
 * by slot * XB_MON_EV_MAX + event. The tracepoints fire only on errors (and, for cpumap/devmap, once
 * per bulk flush), never on a normal XDP_PASS/DROP: normal packets cost nothing. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "xb_monitor.h"

/* Only the field read; CO-RE relocates it to the running kernel's layout (vmlinux BTF). */
struct net_device {
    int ifindex;
} __attribute__((preserve_access_index));
struct bpf_prog;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);   /* ifindex below XB_MON_DIRECT_IFINDEX */
    __type(value, __u32); /* slot + 1; 0: not watched */
    __uint(max_entries, XB_MON_DIRECT_IFINDEX);
} xb_mon_direct SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);   /* ifindex (XB_MON_DIRECT_IFINDEX and above) */
    __type(value, __u32); /* slot */
    __uint(max_entries, XB_MON_MAX_SLOTS);
} xb_mon_ifindex SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);   /* id of a run's cpumap */
    __type(value, __u32); /* slot of its interface */
    __uint(max_entries, XB_MON_MAX_SLOTS);
} xb_mon_mapid SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, XB_MON_MAX_SLOTS * XB_MON_EV_MAX);
} xb_mon_counts SEC(".maps");

static __always_inline void xb_mon_count(__u32 slot, __u32 event, __u64 n)
{
    if (slot >= XB_MON_MAX_SLOTS)
        return;
    __u32 idx = slot * XB_MON_EV_MAX + event;
    __u64 *c = bpf_map_lookup_elem(&xb_mon_counts, &idx);
    if (c)
        *c += n;
}

static __always_inline void xb_mon_add(void *filter, __u32 key, __u32 event, __u64 n)
{
    __u32 *slot = bpf_map_lookup_elem(filter, &key);
    if (slot)
        xb_mon_count(*slot, event, n);
}

/* By ifindex: small ones through the array, the rest through the hash. */
static __always_inline void xb_mon_add_dev(__u32 ifindex, __u32 event, __u64 n)
{
    if (ifindex < XB_MON_DIRECT_IFINDEX) {
        __u32 *v = bpf_map_lookup_elem(&xb_mon_direct, &ifindex);
        if (v && *v)
            xb_mon_count(*v - 1, event, n);
        return;
    }
    xb_mon_add(&xb_mon_ifindex, ifindex, event, n);
}

SEC("tp_btf/xdp_exception")
int BPF_PROG(xb_mon_exception, const struct net_device *dev, const struct bpf_prog *xdp, __u32 act)
{
    __u32 event = act == XDP_ABORTED ? XB_MON_ABORTED : act > XDP_REDIRECT ? XB_MON_INVALID_ACTION : XB_MON_TX_ERROR;
    xb_mon_add_dev((__u32)dev->ifindex, event, 1);
    return 0;
}

SEC("tp_btf/xdp_redirect_err")
int BPF_PROG(xb_mon_redirect_err, const struct net_device *dev, const struct bpf_prog *xdp, const void *tgt, int err,
             enum bpf_map_type map_type, __u32 map_id, __u32 index)
{
    __u32 event = map_type == BPF_MAP_TYPE_CPUMAP ? XB_MON_REDIRECT_CPU_ERROR : XB_MON_REDIRECT_ERROR;
    xb_mon_add_dev((__u32)dev->ifindex, event, 1);
    return 0;
}

SEC("tp_btf/xdp_cpumap_enqueue")
int BPF_PROG(xb_mon_cpumap_enqueue, int map_id, unsigned int processed, unsigned int drops, int to_cpu)
{
    if (drops)
        xb_mon_add(&xb_mon_mapid, (__u32)map_id, XB_MON_CPUMAP_DROP, drops);
    return 0;
}

SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(xb_mon_devmap_xmit, const struct net_device *from_dev, const struct net_device *to_dev, int sent,
             int drops, int err)
{
    __u32 ifindex = (__u32)from_dev->ifindex;
    if (drops > 0)
        xb_mon_add_dev(ifindex, XB_MON_DEVMAP_DROP, (__u64)drops);
    if (err)
        xb_mon_add_dev(ifindex, XB_MON_DEVMAP_ERROR, 1);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
