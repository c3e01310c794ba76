/* Frame parser shared by the XDP and tc programs: Ethernet, up to two VLAN tags (802.1Q/802.1ad in
 * any order), IPv4 with options, IPv6 with a bounded walk over extension headers, TCP/UDP ports.
 * Every read is bounds-checked against data_end; a frame that ends early or carries impossible
 * values is XB_PARSE_MALFORMED, never an abort.
 *
 * The same code is compiled for the host as C++ (src/datapath/parse_mirror.cpp) so that
 * `xbypass simulate` prints the key the program computed: hence explicit casts, byte pointers for
 * arithmetic, and no bpf_helpers.h here. */
#ifndef XB_PARSE_H
#define XB_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifdef __bpf__
#define XB_UNROLL _Pragma("unroll")
#else
#define XB_UNROLL
#endif

#include "xb_consts.h"
#include "xb_flow.h"

enum xb_parse_status {
    XB_PARSE_OK = 0,        /* key filled */
    XB_PARSE_NOT_IP = 1,    /* not IPv4/IPv6 (ARP, LLDP, ...): the stack handles it */
    XB_PARSE_FRAGMENT = 2,  /* IPv4 MF/offset or IPv6 fragment header: the IDS reassembles it */
    XB_PARSE_MALFORMED = 3, /* truncated, impossible header values, too many tags or extensions */
};

/* 802.1Q/802.1ad tag after the MAC addresses (linux/if_vlan.h keeps its own copy kernel-internal). */
struct xb_vlan_hdr {
    __be16 tci;
    __be16 encapsulated_proto;
};

/* IPv6 extension header prefix common to hop-by-hop, routing, destination options, mobility, AH. */
struct xb_ipv6_ext {
    __u8 nexthdr;
    __u8 hdrlen;
};

#ifndef IPPROTO_MH
#define IPPROTO_MH 135
#endif

static __always_inline int xb_is_vlan_proto(__be16 proto)
{
    return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* Fills the port fields from the transport header at l4; other protocols keep ports zero. */
static __always_inline int xb_parse_l4(unsigned char *l4, void *data_end, struct xb_flow_key *key)
{
    if (key->proto == IPPROTO_TCP) {
        struct tcphdr *tcp = (struct tcphdr *)l4;
        if ((void *)(tcp + 1) > data_end)
            return XB_PARSE_MALFORMED;
        key->src_port = tcp->source;
        key->dst_port = tcp->dest;
    } else if (key->proto == IPPROTO_UDP) {
        struct udphdr *udp = (struct udphdr *)l4;
        if ((void *)(udp + 1) > data_end)
            return XB_PARSE_MALFORMED;
        key->src_port = udp->source;
        key->dst_port = udp->dest;
    }
    return XB_PARSE_OK;
}

static __always_inline int xb_parse_ipv4(unsigned char *cur, void *data_end, struct xb_flow_key *key)
{
    struct iphdr *ip = (struct iphdr *)cur;
    if ((void *)(ip + 1) > data_end)
        return XB_PARSE_MALFORMED;
    if (ip->version != 4 || ip->ihl < 5)
        return XB_PARSE_MALFORMED;
    __u32 hdr_len = ip->ihl * 4;
    if ((void *)(cur + hdr_len) > data_end)
        return XB_PARSE_MALFORMED;
    /* more-fragments flag or a fragment offset: never bypassed, the IDS reassembles */
    if (ip->frag_off & bpf_htons(0x3fff))
        return XB_PARSE_FRAGMENT;
    key->family = XB_FAMILY_IPV4;
    key->proto = ip->protocol;
    key->src_addr[0] = ip->saddr;
    key->dst_addr[0] = ip->daddr;
    return xb_parse_l4(cur + hdr_len, data_end, key);
}

static __always_inline int xb_parse_ipv6(unsigned char *cur, void *data_end, struct xb_flow_key *key)
{
    struct ipv6hdr *ip6 = (struct ipv6hdr *)cur;
    if ((void *)(ip6 + 1) > data_end)
        return XB_PARSE_MALFORMED;
    if (ip6->version != 6)
        return XB_PARSE_MALFORMED;
    key->family = XB_FAMILY_IPV6;
    __builtin_memcpy(key->src_addr, &ip6->saddr, 16);
    __builtin_memcpy(key->dst_addr, &ip6->daddr, 16);

    __u8 nexthdr = ip6->nexthdr;
    cur = (unsigned char *)(ip6 + 1);
    /* Most frames carry TCP or UDP right after the fixed header: no walk for them. */
    if (nexthdr == IPPROTO_TCP || nexthdr == IPPROTO_UDP) {
        key->proto = nexthdr;
        return xb_parse_l4(cur, data_end, key);
    }
    XB_UNROLL
    for (int i = 0; i < XB_IPV6_MAX_EXT_HEADERS; i++) {
        struct xb_ipv6_ext *ext = (struct xb_ipv6_ext *)cur;
        switch (nexthdr) {
        case IPPROTO_HOPOPTS:
        case IPPROTO_ROUTING:
        case IPPROTO_DSTOPTS:
        case IPPROTO_MH:
            if ((void *)(ext + 1) > data_end)
                return XB_PARSE_MALFORMED;
            nexthdr = ext->nexthdr;
            cur += (ext->hdrlen + 1) * 8;
            break;
        case IPPROTO_AH:
            if ((void *)(ext + 1) > data_end)
                return XB_PARSE_MALFORMED;
            nexthdr = ext->nexthdr;
            cur += (ext->hdrlen + 2) * 4;
            break;
        case IPPROTO_FRAGMENT:
            return XB_PARSE_FRAGMENT;
        default:
            key->proto = nexthdr;
            return xb_parse_l4(cur, data_end, key);
        }
    }
    /* Still an extension header after the bound: we cannot know the transport protocol. */
    switch (nexthdr) {
    case IPPROTO_HOPOPTS:
    case IPPROTO_ROUTING:
    case IPPROTO_DSTOPTS:
    case IPPROTO_MH:
    case IPPROTO_AH:
        return XB_PARSE_MALFORMED;
    case IPPROTO_FRAGMENT:
        return XB_PARSE_FRAGMENT;
    }
    key->proto = nexthdr;
    return xb_parse_l4(cur, data_end, key);
}

/* Parses the frame into *key (zeroed here). hw_vlan_id >= 0 is an outer tag the hook already took
 * out of the frame (tc ingress: skb->vlan_tci); it counts as the first of the two tags. VLAN ids are
 * stored only when vlan_tracking is set. */
static __always_inline int xb_parse_frame(void *data, void *data_end, int vlan_tracking, int hw_vlan_id,
                                          struct xb_flow_key *key)
{
    __builtin_memset(key, 0, sizeof(*key));
    struct ethhdr *eth = (struct ethhdr *)data;
    if ((void *)(eth + 1) > data_end)
        return XB_PARSE_MALFORMED;

    unsigned char *cur = (unsigned char *)(eth + 1);
    __be16 proto = eth->h_proto;
    __u32 tags = 0;
    if (hw_vlan_id >= 0) {
        if (vlan_tracking)
            key->vlan_outer = hw_vlan_id & 0x0fff;
        tags = 1;
    }
    XB_UNROLL
    for (int i = 0; i < 2; i++) {
        if (!xb_is_vlan_proto(proto))
            break;
        if (tags >= 2)
            return XB_PARSE_MALFORMED; /* a third tag: more than the key can hold */
        struct xb_vlan_hdr *vh = (struct xb_vlan_hdr *)cur;
        if ((void *)(vh + 1) > data_end)
            return XB_PARSE_MALFORMED;
        if (vlan_tracking) {
            __u16 vid = bpf_ntohs(vh->tci) & 0x0fff;
            if (tags == 0)
                key->vlan_outer = vid;
            else
                key->vlan_inner = vid;
        }
        tags++;
        proto = vh->encapsulated_proto;
        cur = (unsigned char *)(vh + 1);
    }
    if (xb_is_vlan_proto(proto))
        return XB_PARSE_MALFORMED;

    if (proto == bpf_htons(ETH_P_IP))
        return xb_parse_ipv4(cur, data_end, key);
    if (proto == bpf_htons(ETH_P_IPV6))
        return xb_parse_ipv6(cur, data_end, key);
    return XB_PARSE_NOT_IP;
}

#endif /* XB_PARSE_H */
