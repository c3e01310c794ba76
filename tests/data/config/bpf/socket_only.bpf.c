// A BPF object with only a socket filter: the custom-program check must reject it (no XDP/tc).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int socket_keep_all(struct __sk_buff *skb)
{
	(void)skb;
	return -1;
}

char LICENSE[] SEC("license") = "GPL";
