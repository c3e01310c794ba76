// SPDX-License-Identifier: GPL-2.0
/* Baselines for the benchmark: the cheapest possible XDP and tc programs, measured in the same run
 * as the bypass programs so that the ratio says what the bypass itself costs. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_empty(struct xdp_md *ctx)
{
    (void)ctx;
    return XDP_PASS;
}

SEC("tc")
int tc_empty(struct __sk_buff *skb)
{
    (void)skb;
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
