/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * xbypass plugin ABI: what an IDS engine links against (pkg-config xbypass) to capture packets
 * through xbypass and to have the kernel bypass the flows it no longer needs to see.
 *
 * The loop: xb_open() checks the configuration, probes the interfaces and the kernel, plans the
 * datapath of every interface and attaches it (all interfaces or none, as `xbypass run` does);
 * the engine opens one capture handle per interface and thread (xb_capture_open), receives
 * packets in batches without copies (xb_capture_recv / xb_capture_release), and calls xb_bypass()
 * for a flow it has decided about: the kernel then drops (IDS) or forwards (IPS) that flow's later
 * packets without sending them to user space. xb_close() detaches exactly what xb_open() attached.
 *
 * Conventions
 *  - Functions return 0 or a positive count on success and a negative XB_ERR_* code on failure;
 *    xb_last_error() then describes the failure in one sentence (per thread, like dlerror()).
 *  - No function aborts or lets a C++ exception out; a NULL handle or argument is XB_ERR_INVAL.
 *  - Options and result structs begin with `size_t sz`, which the caller sets to sizeof the struct
 *    it was compiled with (libbpf's OPTS convention). A library newer than the caller treats the
 *    fields the caller does not know as zero; an older library refuses a larger struct whose extra
 *    bytes are not zero (XB_ERR_INVAL). Result structs are filled up to the caller's sz.
 *  - Strings returned by the library are UTF-8, NUL-terminated, and owned by the library; each
 *    function says how long they live.
 *  - Thread safety is stated per function.
 */
#ifndef XBYPASS_PLUGIN_H
#define XBYPASS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define XB_API __attribute__((visibility("default")))
#else
#define XB_API
#endif

/* The ABI this header describes. Incompatible changes bump it; additions (new functions, new
 * trailing fields) do not. */
#define XB_ABI_VERSION 1

/* ABI version of the loaded library: an engine compiled against XB_ABI_VERSION N works with a
 * library whose xb_abi_version() is N. Thread-safe. */
XB_API uint32_t xb_abi_version(void);
/* Library version, e.g. "0.1.0"; static storage. Thread-safe. */
XB_API const char *xb_version(void);

/* ---- errors ----------------------------------------------------------------------------------- */

enum xb_error {
    XB_OK = 0,
    XB_ERR_INVAL = -1,    /* a NULL or out-of-range argument, or an unknown options size */
    XB_ERR_STATE = -2,    /* not possible in this state (e.g. a capture thread already open) */
    XB_ERR_REJECTED = -3, /* xb_open: the configuration was refused; the diagnostics say why */
    XB_ERR_SYSTEM = -4,   /* a system call or the kernel failed (the message names it, with errno) */
    XB_ERR_FULL = -5,     /* xb_bypass: no room in the flow table; the flow stays with the engine */
    XB_ERR_NOENT = -6,    /* no such interface or flow */
    XB_ERR_NOTSUP = -7,   /* not possible on this interface (no bypass program, not in IPS mode) */
    XB_ERR_INTR = -8,     /* a signal interrupted a wait; nothing was received */
    XB_ERR_NOMEM = -9     /* out of memory */
};

/* Short static text for an XB_ERR_* code ("invalid argument", ...). Thread-safe. */
XB_API const char *xb_strerror(int err);
/* One sentence about the last failure of a call made by this thread; "" when none. Valid until
 * the thread's next call into the library. Thread-safe (per thread). */
XB_API const char *xb_last_error(void);

/* ---- logging ---------------------------------------------------------------------------------- */

/* Suricata's levels. */
enum xb_log_level {
    XB_LOG_ERROR = 1,
    XB_LOG_WARNING = 2,
    XB_LOG_NOTICE = 3,
    XB_LOG_INFO = 4,
    XB_LOG_CONFIG = 5,
    XB_LOG_DEBUG = 6
};

/* Receives every log line of the library: its level, the module ("plan", "datapath", ...) and the
 * message without a trailing newline. Called from the thread that logs (xb_open's caller, or the
 * library's housekeeping thread), never concurrently with itself. */
typedef void (*xb_log_fn)(int level, const char *module, const char *message, void *user);

/* ---- diagnostics ------------------------------------------------------------------------------ */

/* What xb_open found: rejections, warnings and notes, each with a stable code explained in the
 * troubleshooting guide. */
typedef struct xb_diagnostics xb_diagnostics;

enum xb_severity { XB_SEVERITY_ERROR = 1, XB_SEVERITY_WARNING = 2, XB_SEVERITY_INFO = 3 };

struct xb_diagnostic {
    size_t sz;           /* set by the caller */
    const char *code;    /* "XB4002" */
    int severity;        /* enum xb_severity */
    const char *file;    /* configuration file, or "" when not from the configuration */
    uint32_t line;       /* 1-based; 0 when not from the configuration */
    uint32_t column;     /* 1-based; 0 when unknown */
    const char *key;     /* key path as written, e.g. "af-packet[0].xdp-mode"; "" when none */
    const char *message; /* the cause, one sentence */
    const char *hint;    /* the fix, one sentence; "" when none */
};

/* Number of diagnostics; 0 for NULL. Thread-safe (read only). */
XB_API size_t xb_diagnostics_count(const xb_diagnostics *diags);
/* Fills *out with diagnostic `index`; its strings live as long as diags. Thread-safe (read only). */
XB_API int xb_diagnostics_get(const xb_diagnostics *diags, size_t index, struct xb_diagnostic *out);
/* All of them as `xbypass check` prints them; lives as long as diags. Thread-safe (read only). */
XB_API const char *xb_diagnostics_text(const xb_diagnostics *diags);
/* Frees diags (NULL is fine). Not concurrently with other calls on diags. */
XB_API void xb_diagnostics_free(xb_diagnostics *diags);

/* ---- open and close --------------------------------------------------------------------------- */

typedef struct xb_plugin xb_plugin;

struct xb_open_opts {
    size_t sz;              /* sizeof(struct xb_open_opts) */
    const char *netns;      /* network namespace to run in (/run/netns/NAME), NULL: the caller's */
    const char *interface;  /* run on this interface only (its entry, or else the first entry applied
                               to it, as `xbypass run --interface`), NULL: every configured one */
    xb_log_fn log;          /* NULL: the library logs to stderr (and the configured log-file) */
    void *log_user;         /* passed to log */
    int log_level;          /* enum xb_log_level; 0: the configuration's log-level */
    uint32_t flags;         /* XB_OPEN_* */
};

/* Plan and attach the bypass only: no capture (misses go to the kernel's stack, as `xbypass run`). */
#define XB_OPEN_NO_CAPTURE 0x1u

/* Opens the plugin: static checks, probe, plan, load, attach and verify for every interface of the
 * configuration (xbypass's own file or a whole suricata.yaml), all or none. On success *plugin is
 * the handle. On failure nothing is attached, pinned or created, *plugin is NULL and the return
 * value says why (XB_ERR_REJECTED: the configuration cannot work here). When diags is not NULL,
 * *diags receives every diagnostic (also on success: warnings and notes), to be freed with
 * xb_diagnostics_free. The log callback is process-wide: the last xb_open's callback receives the
 * lines of every plugin handle in the process.
 * Not thread-safe against another xb_open or xb_close in the same process. */
XB_API int xb_open(const char *config_path, const struct xb_open_opts *opts, xb_plugin **plugin,
                   xb_diagnostics **diags);

/* Detaches exactly what xb_open attached, closes every capture handle still open and frees the
 * handle (NULL is fine). No other call on this handle or its captures may run concurrently or
 * follow. */
XB_API void xb_close(xb_plugin *plugin);

/* Reloads the configuration without a gap: re-reads config_path (NULL: the file running now, that
 * is xb_open's or the last successful reload's),
 * checks it, probes and plans. An invalid configuration is refused (XB_ERR_REJECTED, diagnostic
 * XB8101) and what runs is untouched. A valid one is applied as a difference: a program change is
 * an atomic swap (BPF link update, tc filter replace) that keeps the flow table, its bypassed flows
 * and the counters. What cannot change while an engine captures (the datapath hook, the flow-table
 * size, per-cpu or lru, pinned maps, the capture, the interfaces themselves) is refused with
 * XB8102 and nothing changes (XB_ERR_REJECTED). XB_ERR_SYSTEM (XB8103) when applying failed; what
 * was done is then undone. Returns XB_OK when applied or when nothing needed to change. When diags
 * is not NULL, *diags receives every diagnostic (free it with xb_diagnostics_free).
 * xb_interface_get keeps reporting the plan of xb_open. The plugin's control socket (`reload`)
 * does the same.
 * Thread-safe: may run concurrently with xb_bypass, xb_unbypass, xb_bypass_counts, xb_stats_get
 * and the capture calls of any thread (they wait for the swap, which takes milliseconds); reloads
 * are serialised. Not concurrently with xb_close. */
XB_API int xb_reload(xb_plugin *plugin, const char *config_path, xb_diagnostics **diags);

/* ---- interfaces and their plan ---------------------------------------------------------------- */

struct xb_interface_info {
    size_t sz;               /* set by the caller */
    const char *name;
    uint32_t ifindex;
    const char *datapath;    /* "xdp-native", "xdp-generic", "tc" or "none" (bypass: no) */
    const char *program;     /* built-in program name or custom object path; "" when none */
    const char *capture;     /* "af-packet", "af-xdp", or "none" (XB_OPEN_NO_CAPTURE) */
    uint32_t threads;        /* capture handles the engine opens: threads 0 .. threads-1 */
    int zerocopy;            /* AF_XDP bound in zero-copy mode */
    int can_bypass;          /* xb_bypass works here (a built-in program runs) */
    const char *ips_peer;    /* IPS peer interface, "" in IDS mode */
};

/* Number of interfaces the plugin runs. Thread-safe. */
XB_API int xb_interface_count(const xb_plugin *plugin);
/* Fills *out for interface `index` (0 .. count-1); strings live as long as the plugin. Thread-safe. */
XB_API int xb_interface_get(const xb_plugin *plugin, uint32_t index, struct xb_interface_info *out);

/* ---- capture ---------------------------------------------------------------------------------- */

typedef struct xb_capture xb_capture;

/* One received frame. Points into the capture ring: valid until xb_capture_release on its handle. */
struct xb_packet {
    const uint8_t *data;   /* the frame from its Ethernet header */
    uint32_t caplen;       /* bytes at data */
    uint32_t wirelen;      /* length on the wire (>= caplen) */
    uint64_t ts_ns;        /* receive time, CLOCK_REALTIME nanoseconds */
    uint32_t ifindex;
    uint32_t queue;        /* receive queue (AF_XDP; 0 where unknown) */
    uint16_t vlan_id[2];   /* VLAN ids the NIC or kernel removed from the frame, outer first */
    uint8_t vlan_count;    /* how many of vlan_id are set (tags still in the frame are not counted) */
    uint8_t reserved[7];   /* zero */
};

/* Opens capture thread `thread` (0 .. threads-1 of xb_interface_info) of an interface. Each pair of
 * interface and thread is opened once at a time (else XB_ERR_STATE). With AF_PACKET the threads of
 * an interface form a fanout group (every packet of a flow reaches one thread); with AF_XDP thread N
 * receives queue N. Thread-safe (each call opens its own handle). */
XB_API int xb_capture_open(xb_plugin *plugin, const char *interface, uint32_t thread, xb_capture **capture);

/* Waits up to timeout_ms (0: no wait, -1: forever) for packets and stores at most max of them in
 * pkts; returns how many (0 on timeout) or an error (XB_ERR_INTR when a signal interrupted the
 * wait). Without xb_capture_release in between, a second call continues after the packets already
 * returned. One thread per capture handle at a time. */
XB_API int xb_capture_recv(xb_capture *capture, struct xb_packet *pkts, uint32_t max, int timeout_ms);
/* Gives every packet received so far on this handle back to the kernel. Same thread as recv. */
XB_API int xb_capture_release(xb_capture *capture);
/* A descriptor that polls readable when packets are waiting, for engines with their own event
 * loop; owned by the handle. Thread-safe. */
XB_API int xb_capture_fd(const xb_capture *capture);

/* IPS mode (an interface with an ips-peer, Suricata's copy-mode: ips): the engine's verdict on a
 * received packet, before it is released. FORWARD sends it out of the peer interface (with the
 * VLAN tags the kernel removed put back); DROP sends it nowhere. Packets of bypassed flows are
 * forwarded by the kernel and never reach the engine. XB_ERR_NOTSUP in IDS mode. Same thread as recv. */
enum xb_verdict { XB_VERDICT_FORWARD = 1, XB_VERDICT_DROP = 2 };
XB_API int xb_capture_verdict(xb_capture *capture, const struct xb_packet *pkt, int verdict);

struct xb_capture_stats {
    size_t sz;              /* set by the caller */
    uint64_t received;      /* packets handed to the engine */
    uint64_t dropped;       /* packets the kernel dropped because this thread's ring was full */
    uint64_t forwarded;     /* IPS verdicts FORWARD sent */
    uint64_t forward_failed;/* IPS verdicts FORWARD the peer did not take */
    uint64_t verdict_dropped; /* IPS verdicts DROP */
};
/* Counters of one capture handle since it was opened. Same thread as recv. */
XB_API int xb_capture_stats_get(xb_capture *capture, struct xb_capture_stats *out);
/* Closes the handle (NULL is fine); its packets must not be used afterwards. Same thread as recv. */
XB_API void xb_capture_close(xb_capture *capture);

/* ---- bypass ----------------------------------------------------------------------------------- */

/* A flow, in one direction; the bypass covers both. */
struct xb_flow {
    size_t sz;             /* set by the caller */
    uint8_t family;        /* 4 or 6 */
    uint8_t proto;         /* IPPROTO_TCP, IPPROTO_UDP, ... */
    uint16_t src_port;     /* host byte order; 0 for protocols without ports */
    uint16_t dst_port;
    uint16_t vlan_id[2];   /* outer and inner VLAN id as the bypass program sees them; 0: none */
    uint8_t src_addr[16];  /* network byte order; IPv4 in the first 4 bytes, the rest zero */
    uint8_t dst_addr[16];
};

/* The flow of a received packet as the interface's bypass program will see it (VLAN tracking,
 * tags removed by the kernel, IPv6 extension headers). XB_ERR_NOENT for a frame that is not a
 * bypassable flow (not IP, a fragment, malformed). Thread-safe. */
XB_API int xb_capture_flow(const xb_capture *capture, const struct xb_packet *pkt, struct xb_flow *out);

/* Bypasses a flow (both directions) on an interface: the kernel stops sending its packets to user
 * space. 0 when the kernel took it (also when it was already bypassed); XB_ERR_FULL when the flow
 * table has no room for it (the flow stays with the engine: nothing is lost); XB_ERR_NOTSUP where
 * no built-in bypass program runs. Packets already queued to user space still arrive. Thread-safe. */
XB_API int xb_bypass(xb_plugin *plugin, const char *interface, const struct xb_flow *flow);
/* Ends a bypass (both directions): the flow's packets reach user space again. XB_ERR_NOENT when it
 * was not bypassed. Thread-safe. */
XB_API int xb_unbypass(xb_plugin *plugin, const char *interface, const struct xb_flow *flow);

/* The kernel's counts of a bypassed flow: what it dropped or forwarded for the engine. */
struct xb_flow_counts {
    size_t sz;              /* set by the caller */
    uint64_t pkts_forward;  /* the direction of the flow given */
    uint64_t bytes_forward;
    uint64_t pkts_reverse;  /* the other direction */
    uint64_t bytes_reverse;
    uint64_t last_seen_ns;  /* CLOCK_MONOTONIC of the last packet in either direction (or of the bypass) */
};
/* Reads the kernel's counts of a bypassed flow (both directions). XB_ERR_NOENT when the flow is not
 * in the flow table (never bypassed, unbypassed, or expired). Thread-safe. */
XB_API int xb_bypass_counts(xb_plugin *plugin, const char *interface, const struct xb_flow *flow,
                            struct xb_flow_counts *out);

/* ---- expiry events ---------------------------------------------------------------------------- */

/* A bypassed flow the library's housekeeping removed from the flow table because both of its
 * directions saw no packet for the interface's flow-table timeout (a flow seen in one direction
 * only stays while that direction has packets), with the kernel's final counts: what an engine
 * writes into the bypassed flow's record. Flows ended by xb_unbypass or evicted (lru) have none. */
struct xb_expired_flow {
    size_t sz;              /* set by the caller (see xb_expired_flows) */
    const char *interface;  /* the interface's name; lives as long as the plugin */
    struct xb_flow flow;    /* the flow as given to xb_bypass (its direction is "forward"); flow.sz
                               is sizeof(struct xb_flow) of ABI 1 (embedded, it does not grow in ABI 1) */
    uint64_t pkts_forward;  /* packets and bytes the kernel dropped or forwarded in flow's direction */
    uint64_t bytes_forward;
    uint64_t pkts_reverse;  /* the other direction */
    uint64_t bytes_reverse;
    uint64_t first_seen_ns; /* CLOCK_REALTIME of the bypass (the flow entered the kernel's table) */
    uint64_t last_seen_ns;  /* CLOCK_REALTIME of the last packet in either direction (or of the
                               bypass); both at the kernel's jiffy resolution */
};

/* Takes up to max expiry events, oldest first, into out[0 .. max-1]; returns how many (0 when
 * none is waiting). The caller sets out[0].sz to sizeof(struct xb_expired_flow): that is the size
 * of every element of out (the array's stride), and every element filled gets that sz.
 * Events are queued from the first call on (xb_expired_flows(plugin, NULL, 0) just starts the
 * queue and returns 0), so an engine that never calls it pays nothing. The queue holds as many
 * events as the plugin's flow tables hold flows; events that find it full are dropped and counted
 * (xb_stats.expiry_events_dropped, and expiry-events-dropped in the stats log). Sweeps run every
 * half flow-table timeout (at least every second, at most every stats-interval or 10 s), so a flow
 * is reported within about 1.5 timeouts of its last packet; draining once a second keeps up.
 * Thread-safe: each event is returned once, to one caller. */
XB_API int xb_expired_flows(xb_plugin *plugin, struct xb_expired_flow *out, size_t max);

/* ---- statistics ------------------------------------------------------------------------------- */

struct xb_stats {
    size_t sz;               /* set by the caller */
    /* The bypass program's counters (summed over CPUs); pass + drop + ips_forward + cpu_redirect +
     * xsk_redirect = the frames it saw. */
    uint64_t pass, drop, ips_forward, cpu_redirect, xsk_redirect;
    uint64_t redirect_fail, parse_error, fragment, hit, miss, not_ip, orphaned;
    uint64_t flow_entries;    /* directions in the flow table (a bypassed flow has two) */
    uint64_t flow_capacity;   /* flows the table is rated for (flow-table size) */
    uint64_t bypass_accepted; /* xb_bypass calls the kernel took */
    uint64_t bypass_refused;  /* xb_bypass calls refused (XB_ERR_FULL) */
    uint64_t capture_received;/* over every capture handle of the interface, open or closed */
    uint64_t capture_dropped;
    uint64_t flows_expired;   /* flows the housekeeping removed as idle (this run) */
    uint64_t expiry_events;   /* of them, queued for xb_expired_flows (0 until its first call) */
    uint64_t expiry_events_dropped; /* expired flows whose event found the queue full: not reported */
};
/* The counters of an interface. Thread-safe. */
XB_API int xb_stats_get(xb_plugin *plugin, const char *interface, struct xb_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* XBYPASS_PLUGIN_H */
