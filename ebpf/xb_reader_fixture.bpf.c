// SPDX-License-Identifier: GPL-2.0
/* Not a bypass program: a fixture for tests/unit/datapath_unit_test.cpp, shaped like the custom
 * programs the instruction reader must handle (a BPF-to-BPF call into .text that uses a map and a
 * helper, a computed return value, a constant return through a register). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 16);
} fixture_seen SEC(".maps");

__attribute__((noinline)) int fixture_count(__u32 key)
{
    __u64 *v = bpf_map_lookup_elem(&fixture_seen, &key);
    if (v)
        return 1;
    __u64 one = bpf_ktime_get_ns();
    bpf_map_update_elem(&fixture_seen, &key, &one, BPF_ANY);
    return 0;
}

SEC("xdp")
int fixture_subprog(struct xdp_md *ctx)
{
    /* returns XDP_DROP or XDP_PASS, but through a subprogram's result */
    return fixture_count(ctx->rx_queue_index) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int fixture_computed(struct xdp_md *ctx)
{
    /* the verdict depends on the frame: not a constant */
    return (ctx->data_end - ctx->data) & 3;
}

char LICENSE[] SEC("license") = "GPL";
