/* The symmetric flow hash that picks the redirect CPU. Plain C on fixed-width values so that the very
 * same code runs in the BPF program and in user space (xbypass simulate reports the CPU from it).
 * Symmetric: addresses and ports of the two directions are combined with XOR, so A->B and B->A hash
 * equal and land on the same CPU. VLAN ids are equal in both directions and left out. */
#ifndef XB_HASH_H
#define XB_HASH_H

#include "xb_flow.h"

static inline __u32 xb_mix32(__u32 h)
{
    /* murmur3 finalizer: every input bit affects every output bit */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static inline __u32 xb_flow_hash(const struct xb_flow_key *k)
{
    __u32 h = 0x9e3779b9u ^ k->proto;
    h = xb_mix32(h ^ k->src_addr[0] ^ k->dst_addr[0]);
    h = xb_mix32(h ^ k->src_addr[1] ^ k->dst_addr[1]);
    h = xb_mix32(h ^ k->src_addr[2] ^ k->dst_addr[2]);
    h = xb_mix32(h ^ k->src_addr[3] ^ k->dst_addr[3]);
    h = xb_mix32(h ^ (__u32)(k->src_port ^ k->dst_port));
    return h;
}

/* Index into a CPU list of n entries (n > 0): multiply-shift instead of a division. */
static inline __u32 xb_hash_to_index(__u32 hash, __u32 n)
{
    return (__u32)(((__u64)hash * n) >> 32);
}

#endif /* XB_HASH_H */
