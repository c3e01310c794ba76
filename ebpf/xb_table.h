/* The flow table: open addressing with linear probing over an array of slots (struct xb_flow_slot),
 * the per-flow counters in a second array at the same index. Why not a BPF hash map: a hash map
 * lookup is a call into the kernel (hashing, then memcmp), and on CPUs whose return instructions
 * carry speculation mitigations each call and return costs as much as a whole empty XDP program;
 * array lookups are inlined by the verifier, so a lookup here is a few loads and compares.
 *
 * Rules, kept by user space (src/datapath/flow_slots.cpp), the only writer of slots:
 *  - a key sits within XB_FLOW_WINDOW slots of its home slot (hash & mask), with no never-used slot
 *    (seq 0) between home and it: a lookup stops at the first never-used slot;
 *  - a slot changes in two writes: first to an odd seq (the key is not valid any more), then to its
 *    new content; seq values only grow. The BPF side reads seq, compares the key, reads seq again:
 *    only an unchanged even seq is a hit (x86 keeps loads in order; see doc/datapath.md).
 *
 * The hash is plain C on fixed-width values so that user space computes the very same home slot.
 * Changing it changes where keys live: bump kPinLayoutVersion (src/plugin/session.h) with it. */
#ifndef XB_TABLE_H
#define XB_TABLE_H

#include "xb_consts.h"
#include "xb_flow.h"

/* One NH term (as in UMAC): two 32-bit words, each offset by a constant, multiplied into 64 bits, so
 * every input bit moves the product's bits from its own position up to bit 63. */
static inline __u64 xb_nh(__u32 a, __u32 b, __u32 ka, __u32 kb)
{
    return (__u64)(__u32)(a + ka) * (__u64)(__u32)(b + kb);
}

/* Home slot hash over every byte of the key (each direction is its own entry and hashes on its
 * own). The NH terms do not wait for each other, so this costs a few cycles where a chain of
 * mixing rounds would cost one round per word. */
static inline __u32 xb_slot_hash(const struct xb_flow_key *k)
{
    /* VLAN ids are 12 bits and the protocol 8: they share one word. The family is left out: an
     * IPv4 key and an IPv6 key with the same words only share a home slot, the key compare still
     * tells them apart. */
    __u32 tags_proto = ((__u32)k->vlan_outer << 20) | ((__u32)(k->vlan_inner & 0x0fff) << 8) | k->proto;
    __u64 h = xb_nh(k->src_addr[0], k->dst_addr[0], 0x9e3779b9u, 0x7f4a7c15u) +
              xb_nh(((__u32)k->src_port << 16) | k->dst_port, tags_proto, 0xff51afd7u, 0xed558ccdu);
    if (k->family == XB_FAMILY_IPV4) {
        /* words 1-3 of IPv4 addresses are zero: their terms are constants (the same sum as below) */
        h += xb_nh(0, 0, 0xc2b2ae3du, 0x27d4eb4fu) + xb_nh(0, 0, 0x165667b1u, 0x9e3779f9u) +
             xb_nh(0, 0, 0xd6e8feb8u, 0x6659fd93u);
    } else {
        h += xb_nh(k->src_addr[1], k->dst_addr[1], 0xc2b2ae3du, 0x27d4eb4fu) +
             xb_nh(k->src_addr[2], k->dst_addr[2], 0x165667b1u, 0x9e3779f9u) +
             xb_nh(k->src_addr[3], k->dst_addr[3], 0xd6e8feb8u, 0x6659fd93u);
    }
    /* fold the high half (where NH's products carry most of their mixing) into the low half the
     * mask keeps, then one multiply-xorshift round */
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    return (__u32)h;
}

static inline int xb_flow_key_equal(const struct xb_flow_key *a, const struct xb_flow_key *b)
{
    /* Most discriminating words first: a miss usually stops at the first compare. */
    return a->dst_addr[0] == b->dst_addr[0] && a->src_addr[0] == b->src_addr[0] &&
           a->src_port == b->src_port && a->dst_port == b->dst_port && a->proto == b->proto &&
           a->family == b->family && a->vlan_outer == b->vlan_outer && a->vlan_inner == b->vlan_inner &&
           a->src_addr[1] == b->src_addr[1] && a->dst_addr[1] == b->dst_addr[1] &&
           a->src_addr[2] == b->src_addr[2] && a->dst_addr[2] == b->dst_addr[2] &&
           a->src_addr[3] == b->src_addr[3] && a->dst_addr[3] == b->dst_addr[3];
}

/* Slots for a flow table sized for `flows` flows: twice as many (load at most one half keeps the
 * probe windows short), a power of two, at least the window. */
static inline __u32 xb_slot_count(__u32 flows)
{
    __u64 want = (__u64)flows * 2;
    __u64 n = XB_FLOW_WINDOW;
    while (n < want)
        n <<= 1;
    return (__u32)n;
}

#endif /* XB_TABLE_H */
