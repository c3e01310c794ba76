/* The exception monitor (ebpf/xb_monitor.bpf.c) and its loader (src/monitor/monitor.cpp) share
 * these: the events counted, the slot count and the counter layout. */
#ifndef XB_MONITOR_H
#define XB_MONITOR_H

/* Interfaces (slots) one run watches; the loader maps each run ifindex to a slot. */
#define XB_MON_MAX_SLOTS 64

/* Interfaces with an ifindex below this are found by an array load (inlined by the verifier); the
 * others through a hash lookup. Values of the array: slot + 1, 0 = not watched. */
#define XB_MON_DIRECT_IFINDEX 1024

enum xb_mon_event {
    XB_MON_ABORTED = 0,        /* xdp:xdp_exception with XDP_ABORTED */
    XB_MON_INVALID_ACTION = 1, /* xdp:xdp_exception with an action the kernel does not know */
    XB_MON_TX_ERROR = 2,       /* xdp:xdp_exception with XDP_TX/XDP_REDIRECT (the action failed) */
    XB_MON_REDIRECT_ERROR = 3, /* xdp:xdp_redirect_err into a devmap, an xskmap or bpf_redirect */
    XB_MON_REDIRECT_CPU_ERROR = 4, /* xdp:xdp_redirect_err into a cpumap */
    XB_MON_CPUMAP_DROP = 5,    /* xdp:xdp_cpumap_enqueue drops (the CPU's queue was full) */
    XB_MON_DEVMAP_DROP = 6,    /* xdp:xdp_devmap_xmit drops (frames the peer did not take) */
    XB_MON_DEVMAP_ERROR = 7,   /* xdp:xdp_devmap_xmit calls with err set */
    XB_MON_EV_MAX = 8,
};

#endif /* XB_MONITOR_H */
