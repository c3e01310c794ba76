/* A minimal IDS engine in C, built the way a third party builds one: only <xbypass/plugin.h> from
 * the installed tree and `pkg-config xbypass` (tests/plugin/c_engine.sh compiles it out of the build
 * tree). It opens the plugin on one interface, receives on every capture thread, counts two UDP
 * flows by destination port, bypasses the first once it has seen a few of its packets, and checks
 * that its packets stop arriving (the kernel drops them) while the other flow keeps arriving and
 * every flow stays on one capture thread.
 *
 *   c_engine CONFIG NETNS IFACE BYPASS_PORT OTHER_PORT   live run, exit 0 when all holds
 *   c_engine --refused CONFIG NETNS                       expects a refusal with diagnostics
 *   c_engine --misuse                                     NULLs and wrong order: codes, no crash
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xbypass/plugin.h>

#define MAX_THREADS 16
#define BATCH 64

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_log(int level, const char *module, const char *message, void *user) {
    (void)user;
    fprintf(stderr, "  [plugin %d %s] %s\n", level, module, message);
}

/* UDP destination port of an untagged or single-tagged IPv4 frame, or -1. */
static int udp_dport(const struct xb_packet *p) {
    const uint8_t *d = p->data;
    uint32_t off = 12;
    if (p->caplen < 14) return -1;
    uint16_t type = (uint16_t)(d[off] << 8 | d[off + 1]);
    if (type == 0x8100) {
        off += 4;
        if (p->caplen < off + 2) return -1;
        type = (uint16_t)(d[off] << 8 | d[off + 1]);
    }
    off += 2;
    if (type != 0x0800 || p->caplen < off + 20) return -1;
    uint32_t ihl = (uint32_t)(d[off] & 0x0f) * 4;
    if (d[off + 9] != 17 || p->caplen < off + ihl + 4) return -1;
    off += ihl;
    return d[off + 2] << 8 | d[off + 3];
}

static int misuse(void) {
    int failures = 0;
#define EXPECT(cond)                                                                    \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "c_engine: misuse check failed: %s\n", #cond);              \
            failures++;                                                                 \
        }                                                                               \
    } while (0)
    struct xb_packet pkts[4];
    struct xb_flow flow;
    struct xb_stats stats;
    struct xb_interface_info info;
    xb_plugin *p = (xb_plugin *)1;
    xb_capture *c = (xb_capture *)1;
    memset(&flow, 0, sizeof flow);
    flow.sz = sizeof flow;
    flow.family = 4;
    stats.sz = sizeof stats;
    info.sz = sizeof info;
    EXPECT(xb_abi_version() == XB_ABI_VERSION);
    EXPECT(xb_open(NULL, NULL, &p, NULL) == XB_ERR_INVAL && p == NULL);
    EXPECT(xb_open("/nonexistent.yaml", NULL, NULL, NULL) == XB_ERR_INVAL);
    EXPECT(strlen(xb_last_error()) > 0);
    EXPECT(xb_capture_recv(NULL, pkts, 4, 0) == XB_ERR_INVAL);
    EXPECT(xb_capture_release(NULL) == XB_ERR_INVAL);
    EXPECT(xb_capture_open(NULL, "x", 0, &c) == XB_ERR_INVAL && c == NULL);
    EXPECT(xb_bypass(NULL, "x", &flow) == XB_ERR_INVAL);
    EXPECT(xb_unbypass(NULL, "x", &flow) == XB_ERR_INVAL);
    EXPECT(xb_stats_get(NULL, "x", &stats) == XB_ERR_INVAL);
    EXPECT(xb_interface_get(NULL, 0, &info) == XB_ERR_INVAL);
    EXPECT(xb_interface_count(NULL) == XB_ERR_INVAL);
    EXPECT(xb_capture_verdict(NULL, pkts, XB_VERDICT_DROP) == XB_ERR_INVAL);
    EXPECT(xb_diagnostics_count(NULL) == 0);
    EXPECT(strcmp(xb_diagnostics_text(NULL), "") == 0);
    xb_capture_close(NULL);
    xb_close(NULL);
    xb_diagnostics_free(NULL);
    {
        /* An options struct of a future ABI with unknown fields set is refused, not misread. */
        struct {
            struct xb_open_opts known;
            uint64_t future;
        } bigger;
        memset(&bigger, 0, sizeof bigger);
        bigger.known.sz = sizeof bigger;
        bigger.future = 1;
        EXPECT(xb_open("/nonexistent.yaml", &bigger.known, &p, NULL) == XB_ERR_INVAL);
    }
    EXPECT(xb_open("/nonexistent/xbypass.yaml", NULL, &p, NULL) == XB_ERR_SYSTEM && p == NULL);
    printf("c_engine: misuse: %s\n", failures ? "FAILED" : "every call returned its error code");
    return failures ? 1 : 0;
}

static int refused(const char *config, const char *netns) {
    struct xb_open_opts opts;
    xb_plugin *p = NULL;
    xb_diagnostics *d = NULL;
    memset(&opts, 0, sizeof opts);
    opts.sz = sizeof opts;
    opts.netns = netns;
    opts.log = on_log;
    int rc = xb_open(config, &opts, &p, &d);
    char why[512];
    snprintf(why, sizeof why, "%s", xb_last_error());
    size_t n = xb_diagnostics_count(d), errors = 0;
    for (size_t i = 0; i < n; i++) {
        struct xb_diagnostic x;
        x.sz = sizeof x;
        if (xb_diagnostics_get(d, i, &x) != 0) return 1;
        printf("c_engine: diagnostic %s severity %d at %s:%u:%u key '%s': %s (hint: %s)\n", x.code, x.severity,
               x.file, x.line, x.column, x.key, x.message, x.hint);
        if (x.severity == XB_SEVERITY_ERROR && x.code[0] == 'X') errors++;
    }
    xb_diagnostics_free(d);
    printf("c_engine: xb_open returned %d (%s): %s\n", rc, xb_strerror(rc), why);
    if (rc != XB_ERR_REJECTED || p != NULL || errors == 0) {
        fprintf(stderr, "c_engine: expected a refusal with at least one error diagnostic\n");
        xb_close(p);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--misuse") == 0) return misuse();
    if (argc == 4 && strcmp(argv[1], "--refused") == 0) return refused(argv[2], argv[3]);
    if (argc != 6) {
        fprintf(stderr, "usage: c_engine CONFIG NETNS IFACE BYPASS_PORT OTHER_PORT\n");
        return 2;
    }
    const char *iface = argv[3];
    int bypass_port = atoi(argv[4]), other_port = atoi(argv[5]);

    struct xb_open_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.sz = sizeof opts;
    opts.netns = argv[2];
    opts.interface = iface;
    opts.log = on_log;
    xb_plugin *plugin = NULL;
    xb_diagnostics *diags = NULL;
    int rc = xb_open(argv[1], &opts, &plugin, &diags);
    fputs(xb_diagnostics_text(diags), stdout);
    xb_diagnostics_free(diags);
    if (rc != 0) {
        fprintf(stderr, "c_engine: xb_open: %s: %s\n", xb_strerror(rc), xb_last_error());
        return 1;
    }
    struct xb_interface_info info;
    info.sz = sizeof info;
    if (xb_interface_count(plugin) != 1 || xb_interface_get(plugin, 0, &info) != 0) {
        fprintf(stderr, "c_engine: expected one interface: %s\n", xb_last_error());
        xb_close(plugin);
        return 1;
    }
    printf("c_engine: %s: datapath %s, program %s, capture %s, %u threads%s\n", info.name, info.datapath,
           info.program, info.capture, info.threads, info.zerocopy ? ", zero-copy" : "");
    uint32_t threads = info.threads < MAX_THREADS ? info.threads : MAX_THREADS;
    xb_capture *caps[MAX_THREADS] = {0};
    for (uint32_t t = 0; t < threads; t++) {
        if ((rc = xb_capture_open(plugin, iface, t, &caps[t])) != 0) {
            fprintf(stderr, "c_engine: xb_capture_open %u: %s\n", t, xb_last_error());
            xb_close(plugin);
            return 1;
        }
    }
    {
        xb_capture *again = NULL;
        if (xb_capture_open(plugin, iface, 0, &again) != XB_ERR_STATE || again) {
            fprintf(stderr, "c_engine: a second handle for thread 0 was not refused\n");
            xb_close(plugin);
            return 1;
        }
    }

    /* A fanout group spreads flows over the threads that have joined: packets queued before the last
     * thread joined may sit on another thread, so flows are followed from the kernel time on. */
    struct timespec joined;
    clock_gettime(CLOCK_REALTIME, &joined);
    uint64_t all_joined_ns = (uint64_t)joined.tv_sec * 1000000000ull + (uint64_t)joined.tv_nsec;
    /* flow_thread[k]: the capture thread that saw flow k (0: bypass_port, 1: other_port) first. */
    int flow_thread[2] = {-1, -1};
    long before[2] = {0, 0}, after[2] = {0, 0};
    int bypassed = 0, settled = 0, split = 0;
    double deadline = now_s() + 40, settle_deadline = 0;
    struct xb_packet pkts[BATCH];
    while (now_s() < deadline) {
        for (uint32_t t = 0; t < threads; t++) {
            int n = xb_capture_recv(caps[t], pkts, BATCH, 20);
            if (n < 0) {
                fprintf(stderr, "c_engine: recv: %s\n", xb_last_error());
                deadline = 0;
                break;
            }
            for (int i = 0; i < n; i++) {
                int port = udp_dport(&pkts[i]);
                int k = port == bypass_port ? 0 : port == other_port ? 1 : -1;
                if (k < 0) continue;
                if (pkts[i].ts_ns > all_joined_ns) {
                    if (flow_thread[k] < 0) flow_thread[k] = (int)t;
                    if (flow_thread[k] != (int)t) split = 1;
                }
                if (settled) after[k]++;
                else before[k]++;
                if (k == 0 && !bypassed && before[0] >= 10) {
                    struct xb_flow flow;
                    flow.sz = sizeof flow;
                    if (xb_capture_flow(caps[t], &pkts[i], &flow) != 0 || xb_bypass(plugin, iface, &flow) != 0) {
                        fprintf(stderr, "c_engine: bypass: %s\n", xb_last_error());
                        deadline = 0;
                        break;
                    }
                    bypassed = 1;
                    settle_deadline = now_s() + 10;
                    printf("c_engine: bypassed the flow to port %d after %ld packets\n", bypass_port, before[0]);
                }
            }
            xb_capture_release(caps[t]);
        }
        if (bypassed && !settled) {
            /* Once the kernel has dropped some of the flow, what was already queued has been read:
             * from here on, not one packet of it may arrive. */
            struct xb_stats st;
            st.sz = sizeof st;
            if (xb_stats_get(plugin, iface, &st) == 0 && st.drop >= 20) {
                settled = 1;
                printf("c_engine: the kernel dropped %llu packets of the bypassed flow; counting from here\n",
                       (unsigned long long)st.drop);
            } else if (now_s() > settle_deadline) {
                fprintf(stderr, "c_engine: the kernel did not drop the bypassed flow\n");
                break;
            }
        }
        if (settled && after[1] >= 200) break;
    }
    struct xb_stats st;
    st.sz = sizeof st;
    xb_stats_get(plugin, iface, &st);
    unsigned long long received = 0, dropped = 0;
    for (uint32_t t = 0; t < threads; t++) {
        struct xb_capture_stats cs;
        cs.sz = sizeof cs;
        if (xb_capture_stats_get(caps[t], &cs) == 0) {
            received += cs.received;
            dropped += cs.dropped;
        }
        xb_capture_close(caps[t]);
    }
    printf("c_engine: before bypass: %ld bypassed-flow and %ld other-flow packets; after: %ld and %ld\n", before[0],
           before[1], after[0], after[1]);
    printf("c_engine: kernel: hit=%llu drop=%llu miss=%llu flow-entries=%llu accepted=%llu; capture received=%llu "
           "ring-drops=%llu\n",
           (unsigned long long)st.hit, (unsigned long long)st.drop, (unsigned long long)st.miss,
           (unsigned long long)st.flow_entries, (unsigned long long)st.bypass_accepted, received, dropped);
    xb_close(plugin);
    int ok = bypassed && settled && after[0] == 0 && after[1] >= 200 && !split && st.flow_entries == 2;
    if (split) fprintf(stderr, "c_engine: a flow reached two capture threads\n");
    printf("c_engine: %s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
