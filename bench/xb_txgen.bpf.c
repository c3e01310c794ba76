// SPDX-License-Identifier: GPL-2.0
/* Load generator of bench/capture_bench: run through BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on
 * the sender side of a veth, XDP_TX transmits every frame to the peer. The UDP source port is
 * rewritten per frame so that the load is `flows` flows (ports sport_base .. sport_base+flows-1);
 * the frame must be Ethernet + IPv4 without options + UDP with checksum 0 (the ports are not part of
 * the IPv4 checksum). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

const volatile __u32 flows = 1;
const volatile __u16 sport_base = 10000;
__u32 seq = 0; /* the generator runs on one CPU: a plain counter */

SEC("xdp")
int xdp_txgen(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct udphdr *udp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
    if ((void *)(udp + 1) > end)
        return XDP_TX;
    if (flows > 1) {
        __u32 n = seq++;
        udp->source = bpf_htons((__u16)(sport_base + n % flows));
    }
    return XDP_TX;
}

/* The cheapest receive there is, attached to v1 for capture_bench's cost baseline: every frame
 * dropped at XDP, before any skb, copy or wakeup. */
SEC("xdp")
int xdp_rxdrop(struct xdp_md *ctx)
{
    (void)ctx;
    return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
