/* Maps of the bypass programs. Types and sizes written here are defaults: the loader sets the flow
 * table's slot count, the type of its counters (per-CPU or shared) and the cpumap size before load.
 * The loader finds maps by these names. */
#ifndef XB_MAPS_H
#define XB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xb_consts.h"
#include "xb_flow.h"

/* Flows to bypass (xb_table.h), both directions inserted by user space: the keys... */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, struct xb_flow_slot);
    __uint(max_entries, XB_DEFAULT_FLOW_ENTRIES * 2);
} xb_flow_slots SEC(".maps");

/* ...and their counters, at the same index: per CPU (plain adds) or shared (atomic adds). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, struct xb_flow_value);
    __uint(max_entries, XB_DEFAULT_FLOW_ENTRIES * 2);
} xb_flow_stats SEC(".maps");

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

#endif /* XB_MAPS_H */
