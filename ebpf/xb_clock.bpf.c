// SPDX-License-Identifier: GPL-2.0
/* The kernel's jiffies and HZ for user space. The bypass programs stamp flows with bpf_jiffies64()
 * (inlined by the verifier: no helper call per packet); user space runs this program
 * (BPF_PROG_TEST_RUN, never attached) to turn those stamps into CLOCK_MONOTONIC_COARSE time. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 clock_jiffies = 0;
__u64 clock_hz = 0;
/* Filled by libbpf from the kernel config; 0 when it cannot be read (user space then measures). */
extern unsigned int CONFIG_HZ __kconfig __weak;

SEC("xdp")
int xb_clock(struct xdp_md *ctx)
{
    (void)ctx;
    clock_jiffies = bpf_jiffies64();
    clock_hz = CONFIG_HZ;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
