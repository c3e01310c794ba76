/* Maps of xbypass's own bypass programs (xb_bypass.bpf.c; the counters, the cpumap and the IPS
 * devmap every bypass program has are in xb_actions.h). Types and sizes written here are defaults:
 * the loader sets the flow table's slot count, the type of its counters (per-CPU or shared) and the
 * XSKMAP size (one slot per receive queue) before load. The loader finds maps by these names. */
#ifndef XB_MAPS_H
#define XB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xb_consts.h"
#include "xb_flow.h"

/* Flows to bypass (xb_table.h), both directions inserted by user space: the keys, memory-mapped by
 * user space, which writes them without system calls... */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, struct xb_flow_slot);
    __uint(max_entries, XB_DEFAULT_FLOW_ENTRIES * 4 + XB_FLOW_WINDOW);
    __uint(map_flags, BPF_F_MMAPABLE);
} xb_flow_slots SEC(".maps");

/* ...and their counters, one element per flow id (both directions; xb_flow_slot.stats_index): per
 * CPU (plain adds) or shared (atomic adds). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct xb_flow_stats_elem);
    __uint(max_entries, XB_DEFAULT_FLOW_ENTRIES);
} xb_flow_stats SEC(".maps");

/* AF_XDP sockets of the xsk variants: key = receive queue (ctx->rx_queue_index), value = socket fd
 * (user space writes fds; the kernel holds the sockets). The loader sets max_entries to the number
 * of queues; a queue beyond it, or an empty slot, makes the redirect fail (the frame is passed). */
struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, XB_DEFAULT_XSK_QUEUES);
} xb_xsk_map SEC(".maps");

#endif /* XB_MAPS_H */
