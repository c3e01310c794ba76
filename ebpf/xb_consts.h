/* Constants shared by the BPF programs and the user-space loader. */
#ifndef XB_CONSTS_H
#define XB_CONSTS_H

/* Most CPUs a cpu-redirect list may name (size of the .rodata CPU table). */
#define XB_MAX_REDIRECT_CPUS 64
/* Default size of the XSKMAP (receive queues with an AF_XDP socket); the loader sets the real one. */
#define XB_DEFAULT_XSK_QUEUES 64
/* IPv6 extension headers walked before giving up (the frame then counts as a parse error). */
#define XB_IPV6_MAX_EXT_HEADERS 8
/* Default flow table size; the loader sets the real one before load. */
#define XB_DEFAULT_FLOW_ENTRIES 65536
/* Slots a key may be from its home slot in the flow table (xb_table.h): lookups look at most this far. */
#define XB_FLOW_WINDOW 16
/* Key of the IPS peer in the devmap (a single entry). */
#define XB_IPS_PEER_KEY 0
/* tc: bytes pulled into the linear area when the headers may lie in paged data. */
#define XB_TC_PULL_LEN 256

#endif /* XB_CONSTS_H */
