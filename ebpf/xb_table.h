/* The flow table: open addressing with linear probing and robin-hood order over an array of slots
 * (struct xb_flow_slot), memory-mapped into user space; each direction's counters in a second array
 * at the slot's stats_index (2 * flow id, +1 for the reverse direction). Why not a BPF hash map: a
 * hash map lookup is a call into the kernel (hashing, then memcmp), and on CPUs whose return
 * instructions carry speculation mitigations each call and return costs as much as a whole empty
 * XDP program; array lookups are inlined by the verifier, so a lookup here is a few loads and
 * compares.
 *
 * Rules, kept by user space (src/datapath/flow_table.cpp), the only writer of slots:
 *  - a key sits within XB_FLOW_WINDOW slots of its home slot (xb_home_slot), with no empty slot
 *    (seq 0) between home and it: a lookup stops at the first empty slot. There is no wrap-around:
 *    the array has XB_FLOW_WINDOW - 1 slots past the last home slot, then the metadata slot;
 *  - keys of one run are in order of their home slot (robin hood): inserting shifts the keys after
 *    the new one's place one slot on, removing shifts them back, so no removed markers are left;
 *  - a slot changes in two writes: first to an odd seq (the key is not valid any more), then to its
 *    new content; seq values only grow. A key that moves is written to its new slot before its old
 *    slot changes. The BPF side reads seq, compares the key, reads seq again: only an unchanged even
 *    seq is a hit (x86 keeps loads in order; see doc/datapath.md).
 *
 * The hash is plain C on fixed-width values so that user space computes the very same home slot;
 * its offsets are a random key per table (struct xb_hash_key). Changing the hash changes where keys
 * live: bump kPinLayoutVersion (src/session/session.h) with it. */
#ifndef XB_TABLE_H
#define XB_TABLE_H

#include "xb_consts.h"
#include "xb_flow.h"

/* One NH term (as in UMAC): two 32-bit words, each offset by a key word, multiplied into 64 bits, so
 * every input bit moves the product's bits from its own position up to bit 63. */
static inline __u64 xb_nh(__u32 a, __u32 b, __u32 ka, __u32 kb)
{
    return (__u64)(__u32)(a + ka) * (__u64)(__u32)(b + kb);
}

/* The constant terms an IPv4 key's zero address words 1-3 contribute (xb_hash_key.v4_tail). */
static inline __u64 xb_hash_v4_tail(const struct xb_hash_key *hk)
{
    return xb_nh(0, 0, hk->k[4], hk->k[5]) + xb_nh(0, 0, hk->k[6], hk->k[7]) + xb_nh(0, 0, hk->k[8], hk->k[9]);
}

/* In BPF programs, a point the compiler cannot move the loads through p across: without it LLVM's
 * BPF scheduler issues every key and hash-key load of the hash up front and, with five scratch
 * registers, spills them to the stack to reload them at their use. User space: nothing. */
#ifdef __bpf__
#define XB_LOADS_AFTER(p) asm volatile("" : "+r"(p))
#else
#define XB_LOADS_AFTER(p) ((void)0)
#endif

/* Slot hash over every byte of the key (each direction is its own entry and hashes on its own). The
 * NH terms do not wait for each other, so this costs a few cycles where a chain of mixing rounds
 * would cost one round per word. With random offsets, which keys collide is not known outside. */
static inline __u32 xb_slot_hash(const struct xb_flow_key *k, const struct xb_hash_key *hk)
{
    /* VLAN ids are 12 bits and the protocol 8: they share one word. The family is left out: an
     * IPv4 key and an IPv6 key with the same words only share a home slot, the key compare still
     * tells them apart. */
    __u64 h = xb_nh(k->src_addr[0], k->dst_addr[0], hk->k[0], hk->k[1]);
    XB_LOADS_AFTER(k);
    XB_LOADS_AFTER(hk);
    __u32 tags_proto = ((__u32)k->vlan_outer << 20) | ((__u32)(k->vlan_inner & 0x0fff) << 8) | k->proto;
    h += xb_nh(((__u32)k->src_port << 16) | k->dst_port, tags_proto, hk->k[2], hk->k[3]);
    XB_LOADS_AFTER(k);
    XB_LOADS_AFTER(hk);
    if (k->family == XB_FAMILY_IPV4) {
        h += hk->v4_tail; /* words 1-3 of IPv4 addresses are zero: their terms are constants */
    } else {
        h += xb_nh(k->src_addr[1], k->dst_addr[1], hk->k[4], hk->k[5]);
        XB_LOADS_AFTER(k);
        XB_LOADS_AFTER(hk);
        h += xb_nh(k->src_addr[2], k->dst_addr[2], hk->k[6], hk->k[7]);
        XB_LOADS_AFTER(k);
        XB_LOADS_AFTER(hk);
        h += xb_nh(k->src_addr[3], k->dst_addr[3], hk->k[8], hk->k[9]);
    }
    /* fold the high half (where NH's products carry most of their mixing) into the low half, then
     * one multiply-xorshift round */
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    return (__u32)h;
}

/* Home slot of a hash in a table of slot_count home slots: multiply-shift, any count. */
static inline __u32 xb_home_slot(__u32 hash, __u32 slot_count)
{
    return (__u32)(((__u64)hash * slot_count) >> 32);
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

/* Home slots for a flow table sized for `flows` flows (2 * flows entries, both directions): two
 * slots per entry (load at most one half), which robin-hood order keeps within a 16-slot window at
 * every size measured (bench/flow_table_bench: 1k, 64k, 1M flows all accepted). */
static inline __u32 xb_slot_count(__u32 flows)
{
    __u64 want = (__u64)flows * 4;
    if (want < XB_FLOW_WINDOW)
        want = XB_FLOW_WINDOW;
    return (__u32)want;
}

/* Elements of the xb_flow_slots array: the home slots, the probe tail, the metadata slot. */
static inline __u32 xb_slot_array_entries(__u32 slot_count)
{
    return slot_count + XB_FLOW_WINDOW;
}

#endif /* XB_TABLE_H */
