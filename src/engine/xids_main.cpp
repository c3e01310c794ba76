// xids: the reference IDS engine that ships with xbypass.
//   xids -c FILE             live: the plugin captures, the rules decide, the kernel bypasses
//   xids -c FILE -r PCAP     the same rules over a capture file (what each flow would do)
//   xids -c FILE --check     configuration and rules checked, the plugin loaded, nothing attached
// Capture and bypass go through the plugin alone (dlopen, include/xbypass/plugin.h).
#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/input_file.h"
#include "common/json.h"
#include "common/log.h"
#include "config.h"
#include "engine/eve.h"
#include "engine/inspector.h"
#include "engine/plugin_api.h"
#include "engine/rules/matcher.h"
#include "engine/rules/rule_parser.h"
#include "engine/xids_config.h"

using namespace xb;
using namespace xb::engine;

namespace {

constexpr const char* kUsage =
    "Usage: xids -c FILE [-r PCAP | --check] [--netns NAME] [--interface NAME] [--duration SECONDS]\n\n"
    "The reference IDS engine of xbypass. FILE is xids.yaml (or a suricata.yaml) with the engine's\n"
    "sections and the plugin's (xbypass: or af-packet:). Live, it loads the plugin named by plugins:,\n"
    "which attaches the bypass datapath and captures; the rules decide which flows the kernel bypasses.\n\n"
    "  -c, --config FILE     the configuration\n"
    "  -r, --read PCAP       inspect a capture file instead (no plugin, nothing attached)\n"
    "      --check           check the configuration and the rules, load the plugin, attach nothing\n"
    "      --netns NAME      run the plugin in network namespace NAME (/run/netns/NAME)\n"
    "  -i, --interface NAME  capture on NAME only\n"
    "      --duration SECS   stop by itself after SECS (live)\n"
    "  -h, --help            this text\n"
    "  -V, --version         the version\n\n"
    "Exit status: 0 ran and stopped cleanly, 1 refused (configuration, rules, plugin), 2 usage or I/O.\n";

uint64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void print(const Diagnostics& d) {
    Diagnostics sorted = d;
    sorted.sort_by_location();
    for (const auto& x : sorted) {
        std::string t = x.to_text();
        std::fwrite(t.data(), 1, t.size(), stderr);
    }
}

// Configuration, rules and the compiled matcher: what every mode needs first.
struct Loaded {
    XidsConfig config;
    std::vector<Rule> rules;
    std::optional<Matcher> matcher;
    Diagnostics diagnostics;
    int exit_code = 0;
};

Loaded load_everything(const std::string& file) {
    Loaded out;
    auto cfg = load_xids_config(file);
    out.diagnostics = cfg.diagnostics;
    out.config = cfg.config;
    if (!cfg.ok()) {
        out.exit_code = cfg.io_error ? 2 : 1;
        return out;
    }
    RuleVars vars{out.config.address_groups, out.config.port_groups};
    auto rules = load_rule_files(out.config.rule_files, vars);
    out.diagnostics.append(rules.diagnostics);
    if (!rules.ok()) {
        out.exit_code = 1;
        return out;
    }
    out.rules = std::move(rules.rules);
    auto m = Matcher::compile(out.rules);
    if (!m) {
        out.diagnostics.error("XB7208", "the rules cannot be compiled: " + m.error().message,
                              "fix or remove the rule named in the message");
        out.exit_code = 1;
        return out;
    }
    out.matcher.emplace(std::move(m).value());
    return out;
}

std::optional<EveWriter> open_eve(const XidsConfig& c, Diagnostics& d) {
    if (!c.eve_enabled) return std::nullopt;
    auto w = EveWriter::open(c.eve_file);
    if (!w) {
        d.error("XB7209", "cannot open the EVE log " + c.eve_file + ": " + w.error().message,
                "create the directory (default-log-dir) or fix outputs.eve-log.filename");
        return std::nullopt;
    }
    return std::move(w).value();
}

std::string counters_json(const InspectorCounters& c) {
    JsonWriter w;
    w.begin_object()
        .field("packets", c.packets)
        .field("bytes", c.bytes)
        .field("not_decoded", c.not_decoded)
        .field("untracked", c.untracked)
        .field("flows", c.flows)
        .field("alerts", c.alerts)
        .field("bypass_requested", c.bypass_requested)
        .field("bypass_accepted", c.bypass_accepted)
        .field("bypass_refused", c.bypass_refused)
        .field("after_bypass", c.after_bypass)
        .field("tcp_gaps", c.tcp_gaps)
        .end_object();
    return w.str();
}

void add(InspectorCounters& into, const InspectorCounters& c) {
    into.packets += c.packets, into.bytes += c.bytes, into.not_decoded += c.not_decoded;
    into.untracked += c.untracked, into.flows += c.flows, into.alerts += c.alerts;
    into.bypass_requested += c.bypass_requested, into.bypass_accepted += c.bypass_accepted;
    into.bypass_refused += c.bypass_refused, into.after_bypass += c.after_bypass, into.tcp_gaps += c.tcp_gaps;
    into.bypass_by_rule += c.bypass_by_rule, into.bypass_by_depth += c.bypass_by_depth;
    into.bypass_by_tls += c.bypass_by_tls, into.bypass_by_udp += c.bypass_by_udp;
}

std::string summary_line(const InspectorCounters& c) {
    return "packets=" + std::to_string(c.packets) + " flows=" + std::to_string(c.flows) +
           " alerts=" + std::to_string(c.alerts) + " bypass-requested=" + std::to_string(c.bypass_requested) +
           " bypass-accepted=" + std::to_string(c.bypass_accepted) + " bypass-refused=" +
           std::to_string(c.bypass_refused) + " (rule " + std::to_string(c.bypass_by_rule) + ", stream-depth " +
           std::to_string(c.bypass_by_depth) + ", tls " + std::to_string(c.bypass_by_tls) + ", udp " +
           std::to_string(c.bypass_by_udp) + ") after-bypass=" + std::to_string(c.after_bypass);
}

// --- offline ------------------------------------------------------------------------------------

int run_offline(Loaded& l, const std::string& pcap_path) {
    Diagnostics d;
    auto eve = open_eve(l.config, d);
    if (d.has_errors()) return print(d), 1;
    char err[PCAP_ERRBUF_SIZE] = {};
    // Opened as every input is (a regular file or a refusal: a FIFO is never waited on, /dev/zero and
    // directories are named), then read by libpcap record by record, so its size does not matter.
    UniqueFd fd;
    uint64_t size = 0;
    InputFile in = open_input_file(pcap_path, &fd, &size);
    if (!in.ok()) {
        std::fprintf(stderr, "error[XB7210]: %s\n  hint: give a regular pcap or pcapng capture file\n",
                     input_file_refusal(in, pcap_path, "capture").c_str());
        return 2;
    }
    FILE* file = ::fdopen(fd.get(), "rb");
    if (!file) {
        std::fprintf(stderr, "error[XB7210]: cannot read %s: %s\n", pcap_path.c_str(), std::strerror(errno));
        return 2;
    }
    (void)fd.release();  // the FILE owns it now, and pcap_close (or fclose below) closes it
    pcap_t* p = pcap_fopen_offline(file, err);
    if (!p) {
        std::fclose(file);
        std::fprintf(stderr, "error[XB7210]: cannot read %s: %s\n  hint: give a pcap or pcapng capture file\n",
                     pcap_path.c_str(), err);
        return 2;
    }
    if (pcap_datalink(p) != DLT_EN10MB) {
        std::fprintf(stderr, "error[XB7210]: %s is not an Ethernet capture (link type %d)\n", pcap_path.c_str(),
                     pcap_datalink(p));
        pcap_close(p);
        return 2;
    }
    // Offline nothing is attached: a bypass is what would happen, and the flow's later packets are
    // counted as the kernel would have dropped them, not inspected.
    InspectorHooks hooks;
    hooks.bypass = [](const Frame&, Flow&, bool) { return BypassOutcome::Accepted; };
    hooks.kernel_counts = [](Flow&) { return std::optional<KernelCounts>(); };
    hooks.unbypass = [](Flow&, bool) {};
    Inspector insp(l.config, l.rules, *l.matcher, eve ? &*eve : nullptr, "pcap", hooks);
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    uint64_t last_ts = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        Frame f;
        f.data = std::span(data, h->caplen);
        f.wire_len = h->len;
        f.ts_ns = static_cast<uint64_t>(h->ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(h->ts.tv_usec) * 1000ull;
        insp.process(f);
        if (f.ts_ns > last_ts + 1000000000ull) {
            insp.expire(f.ts_ns);
            last_ts = f.ts_ns;
        }
    }
    if (rc == -1) std::fprintf(stderr, "warning[XB7210]: %s: %s; the rest of the file is not read\n", pcap_path.c_str(),
                               pcap_geterr(p));
    pcap_close(p);
    insp.finish();
    std::printf("xids: %s: %s\n", pcap_path.c_str(), summary_line(insp.counters()).c_str());
    return 0;
}

// --- live ---------------------------------------------------------------------------------------

std::atomic<bool> g_stop{false};

// A kernel flow (struct xb_flow) as a map key: every field but sz.
std::string kernel_flow_key(const xb_flow& f) {
    std::string k;
    k.reserve(42);
    auto put = [&k](const void* p, size_t n) { k.append(static_cast<const char*>(p), n); };
    put(&f.family, 1), put(&f.proto, 1), put(&f.src_port, 2), put(&f.dst_port, 2), put(f.vlan_id, 4);
    put(f.src_addr, 16), put(f.dst_addr, 16);
    return k;
}

struct Worker {
    PluginApi* api = nullptr;
    xb_plugin* plugin = nullptr;
    std::string interface;
    uint32_t thread = 0;
    bool ips = false;
    xb_capture* capture = nullptr;
    std::unique_ptr<Inspector> inspector;
    std::unordered_map<uint64_t, std::pair<xb_flow, bool>> bypassed;  // flow id -> kernel flow, to_server
    std::unordered_map<std::string, uint64_t> by_kernel_flow;  // kernel_flow_key(kernel flow) -> flow id
    std::mutex counters_mu;
    InspectorCounters published;  // under counters_mu, for the stats thread
    std::mutex expired_mu;
    std::vector<xb_expired_flow> expired;  // under expired_mu: the plugin's expiry events for this interface

    // The flows the kernel expired: those of this thread end now, with the kernel's final counts.
    void end_expired() {
        std::vector<xb_expired_flow> events;
        {
            std::lock_guard lock(expired_mu);
            events.swap(expired);
        }
        for (const auto& e : events) {
            auto it = by_kernel_flow.find(kernel_flow_key(e.flow));
            if (it == by_kernel_flow.end()) continue;  // another thread's, or ended here already
            auto b = bypassed.find(it->second);
            if (b == bypassed.end()) continue;
            bool fwd_is_toserver = b->second.second;
            KernelCounts k;
            k.pkts_toserver = fwd_is_toserver ? e.pkts_forward : e.pkts_reverse;
            k.bytes_toserver = fwd_is_toserver ? e.bytes_forward : e.bytes_reverse;
            k.pkts_toclient = fwd_is_toserver ? e.pkts_reverse : e.pkts_forward;
            k.bytes_toclient = fwd_is_toserver ? e.bytes_reverse : e.bytes_forward;
            k.last_change_ns = e.last_seen_ns;
            inspector->end_expired(it->second, k, e.last_seen_ns);
        }
    }

    void run() {
        std::vector<xb_packet> pkts(256);
        uint64_t next_expire = 0;
        while (!g_stop.load(std::memory_order_relaxed)) {
            int n = api->xb_capture_recv(capture, pkts.data(), static_cast<uint32_t>(pkts.size()), 100);
            if (n < 0 && n != XB_ERR_INTR) {
                log_event(LogLevel::Error, "capture", "XB7228", interface + " thread " + std::to_string(thread) + ": " + api->xb_last_error());
                break;
            }
            for (int i = 0; i < n; ++i) {
                const xb_packet& p = pkts[static_cast<size_t>(i)];
                // The kernel wrote the frames on another CPU: start fetching the next one's headers
                // while this one is inspected (perf, 100-byte UDP: that first touch, in decode_frame,
                // was a fifth of the receive thread's samples).
                if (i + 1 < n) {
                    const uint8_t* next = pkts[static_cast<size_t>(i) + 1].data;
                    __builtin_prefetch(next);
                    __builtin_prefetch(next + 64);
                }
                Frame f;
                f.data = std::span(p.data, p.caplen);
                f.wire_len = p.wirelen;
                f.ts_ns = p.ts_ns;
                f.removed_vlans = p.vlan_id;
                f.removed_vlan_count = p.vlan_count;
                f.source = &p;
                bool forward = inspector->process(f);
                if (ips) api->xb_capture_verdict(capture, &p, forward ? XB_VERDICT_FORWARD : XB_VERDICT_DROP);
            }
            if (n > 0) api->xb_capture_release(capture);
            end_expired();
            uint64_t now = realtime_ns();
            if (now >= next_expire) {
                inspector->expire(now);
                next_expire = now + 1000000000ull;
                std::lock_guard lock(counters_mu);
                published = inspector->counters();
            }
        }
        inspector->finish();
        std::lock_guard lock(counters_mu);
        published = inspector->counters();
    }
};

int run_live(Loaded& l, const std::string& file, const std::string& netns, const std::string& iface, long duration) {
    auto api = PluginApi::load(l.config.plugin_path);
    if (!api) {
        std::fprintf(stderr, "%s: error[XB7201]: %s\n  hint: install xbypass (libxbypass.so.1) or set plugins: to its path\n",
                     file.c_str(), api.error().message.c_str());
        return 1;
    }
    Diagnostics d;
    auto eve = open_eve(l.config, d);
    if (d.has_errors()) return print(d), 1;

    // Signals are taken by the main thread alone (sigtimedwait); workers and the plugin's thread
    // inherit the mask.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);  // reload the plugin's configuration (the rules stay as loaded)
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    xb_open_opts opts{};
    opts.sz = sizeof opts;
    opts.netns = netns.empty() ? nullptr : netns.c_str();
    opts.interface = iface.empty() ? nullptr : iface.c_str();
    opts.log = [](int level, const char* module, const char* message, void*) {
        Logger::instance().log(static_cast<LogLevel>(std::max(level, 1) - 1), std::string("xbypass/") + module, message);
    };
    xb_plugin* plugin = nullptr;
    xb_diagnostics* diags = nullptr;
    int rc = api->xb_open(file.c_str(), &opts, &plugin, &diags);
    api->xb_diagnostics_free(diags);  // the plugin logged them through opts.log
    if (rc != XB_OK) {
        log_event(LogLevel::Error, "main", "XB7227", std::string("the plugin refused to start: ") + api->xb_strerror(rc) + "; nothing is attached");
        return rc == XB_ERR_REJECTED ? 1 : 2;
    }
    log_event(LogLevel::Notice, "main", "XB7220", "xids " + std::string(PACKAGE_VERSION) + " with plugin " + api->path + " (xbypass " +
                           api->xb_version() + "), " + std::to_string(l.rules.size()) + " rules, " +
                           std::to_string(l.matcher->pattern_count()) + " patterns");

    std::vector<std::unique_ptr<Worker>> workers;
    int count = api->xb_interface_count(plugin);
    for (int i = 0; i < count; ++i) {
        xb_interface_info info{};
        info.sz = sizeof info;
        if (api->xb_interface_get(plugin, static_cast<uint32_t>(i), &info) != XB_OK) continue;
        log_event(LogLevel::Notice, "main", "XB7221", std::string(info.name) + ": datapath " + info.datapath + ", capture " + info.capture + ", " +
                               std::to_string(info.threads) + " threads" + (info.ips_peer[0] ? std::string(", IPS to ") + info.ips_peer : ""));
        for (uint32_t t = 0; t < info.threads; ++t) {
            auto w = std::make_unique<Worker>();
            w->api = &*api;
            w->plugin = plugin;
            w->interface = info.name;
            w->thread = t;
            w->ips = info.ips_peer[0] != 0;
            if (api->xb_capture_open(plugin, info.name, t, &w->capture) != XB_OK) {
                log_event(LogLevel::Error, "main", "XB7228", std::string(info.name) + " thread " + std::to_string(t) + ": " + api->xb_last_error());
                for (auto& o : workers) api->xb_capture_close(o->capture);
                api->xb_close(plugin);
                return 1;
            }
            InspectorHooks hooks;
            Worker* self = w.get();
            hooks.bypass = [self](const Frame& f, Flow& flow, bool to_server) {
                // The flow exactly as the interface's bypass program keys it (VLAN tracking, tags
                // the kernel removed), kept for reading its counts and ending the bypass later.
                xb_flow x{};
                x.sz = sizeof x;
                const auto* p = static_cast<const xb_packet*>(f.source);
                if (self->api->xb_capture_flow(self->capture, p, &x) != XB_OK) return BypassOutcome::Unavailable;
                int r = self->api->xb_bypass(self->plugin, self->interface.c_str(), &x);
                if (r == XB_OK) {
                    self->bypassed[flow.flow_id] = {x, to_server};
                    self->by_kernel_flow[kernel_flow_key(x)] = flow.flow_id;
                    return BypassOutcome::Accepted;
                }
                if (r == XB_ERR_FULL) return BypassOutcome::Refused;
                log_event(LogLevel::Warning, "bypass", "XB7229", self->interface + ": " + self->api->xb_last_error());
                return BypassOutcome::Unavailable;
            };
            hooks.kernel_counts = [self](Flow& f) -> std::optional<KernelCounts> {
                auto it = self->bypassed.find(f.flow_id);
                if (it == self->bypassed.end()) return std::nullopt;
                xb_flow_counts c{};
                c.sz = sizeof c;
                if (self->api->xb_bypass_counts(self->plugin, self->interface.c_str(), &it->second.first, &c) != XB_OK)
                    return std::nullopt;
                KernelCounts k;
                bool fwd_is_toserver = it->second.second;
                k.pkts_toserver = fwd_is_toserver ? c.pkts_forward : c.pkts_reverse;
                k.bytes_toserver = fwd_is_toserver ? c.bytes_forward : c.bytes_reverse;
                k.pkts_toclient = fwd_is_toserver ? c.pkts_reverse : c.pkts_forward;
                k.bytes_toclient = fwd_is_toserver ? c.bytes_reverse : c.bytes_forward;
                return k;
            };
            hooks.unbypass = [self](Flow& f, bool in_kernel) {
                auto it = self->bypassed.find(f.flow_id);
                if (it == self->bypassed.end()) return;
                if (in_kernel) (void)self->api->xb_unbypass(self->plugin, self->interface.c_str(), &it->second.first);
                self->by_kernel_flow.erase(kernel_flow_key(it->second.first));
                self->bypassed.erase(it);
            };
            w->inspector = std::make_unique<Inspector>(l.config, l.rules, *l.matcher, eve ? &*eve : nullptr, info.name, hooks);
            workers.push_back(std::move(w));
        }
    }
    // The plugin's expiry events (a bypassed flow idle both ways for the flow-table timeout): each
    // goes to the threads of its interface, and the one that bypassed the flow writes its record
    // with the kernel's final counts. Without xb_expired_flows (an older plugin), a bypassed flow
    // ends when the counts polled every second stop moving for the bypassed timeout.
    const bool expiry_events = api->xb_expired_flows && api->xb_expired_flows(plugin, nullptr, 0) == XB_OK;
    auto drain_expired = [&] {
        if (!expiry_events) return;
        std::vector<xb_expired_flow> ev(256);
        for (;;) {
            ev[0].sz = sizeof ev[0];
            int n = api->xb_expired_flows(plugin, ev.data(), ev.size());
            if (n < 0) {
                log_event(LogLevel::Warning, "bypass", "XB7230",
                          std::string("cannot take the plugin's expiry events: ") + api->xb_last_error());
                return;
            }
            for (auto& w : workers) {
                std::lock_guard lock(w->expired_mu);
                for (int i = 0; i < n; ++i)
                    if (w->interface == ev[static_cast<size_t>(i)].interface) w->expired.push_back(ev[static_cast<size_t>(i)]);
            }
            if (static_cast<size_t>(n) < ev.size()) return;
        }
    };
    std::vector<std::thread> threads;
    for (auto& w : workers)
        threads.emplace_back([w = w.get()] {
            // Named so that `top -H` and the CPU bench can tell the workers from the plugin's threads.
            pthread_setname_np(pthread_self(), ("xids-rx" + std::to_string(w->thread)).substr(0, 15).c_str());
            w->run();
        });

    auto stats = [&](bool final) {
        InspectorCounters total;
        for (auto& w : workers) {
            std::lock_guard lock(w->counters_mu);
            add(total, w->published);
        }
        std::string kernel;
        JsonWriter k;
        k.begin_object();
        for (int i = 0; i < count; ++i) {
            xb_interface_info info{};
            info.sz = sizeof info;
            if (api->xb_interface_get(plugin, static_cast<uint32_t>(i), &info) != XB_OK) continue;
            xb_stats s{};
            s.sz = sizeof s;
            if (api->xb_stats_get(plugin, info.name, &s) != XB_OK) continue;
            kernel += std::string(info.name) + ": hit=" + std::to_string(s.hit) + " drop=" + std::to_string(s.drop) +
                      " ips-forward=" + std::to_string(s.ips_forward) + " miss=" + std::to_string(s.miss) +
                      " xsk-redirect=" + std::to_string(s.xsk_redirect) + " flow-entries=" + std::to_string(s.flow_entries) +
                      " capture-received=" + std::to_string(s.capture_received) +
                      " capture-dropped=" + std::to_string(s.capture_dropped) +
                      " flows-expired=" + std::to_string(s.flows_expired) +
                      " expiry-events-dropped=" + std::to_string(s.expiry_events_dropped) + "; ";
            k.key(info.name).begin_object().field("hit", s.hit).field("drop", s.drop).field("ips_forward", s.ips_forward)
                .field("miss", s.miss).field("pass", s.pass).field("xsk_redirect", s.xsk_redirect)
                .field("flow_entries", s.flow_entries).field("bypass_accepted", s.bypass_accepted)
                .field("bypass_refused", s.bypass_refused).field("capture_received", s.capture_received)
                .field("capture_dropped", s.capture_dropped).field("flows_expired", s.flows_expired)
                .field("expiry_events_dropped", s.expiry_events_dropped).end_object();
        }
        k.end_object();
        log_event(LogLevel::Notice, "stats", "XB7222", std::string(final ? "final: " : "") + summary_line(total));
        if (!kernel.empty()) log_event(LogLevel::Notice, "stats", "XB7222", "kernel: " + kernel);
        if (eve && l.config.eve_stats) eve->stats("{\"xids\":" + counters_json(total) + ",\"xbypass\":" + k.str() + "}");
    };

    const uint64_t start = realtime_ns();
    uint64_t next_stats = start + static_cast<uint64_t>(l.config.stats_interval) * 1000000000ull;
    for (;;) {
        timespec wait{1, 0};
        int sig = sigtimedwait(&stop, nullptr, &wait);
        if (sig == SIGHUP) {
            // The plugin re-reads this file's plugin section and applies it as a difference; an invalid
            // one changes nothing. The rules stay as loaded at start.
            xb_diagnostics* rd = nullptr;
            int rr = api->xb_reload(plugin, file.c_str(), &rd);
            if (rr == XB_OK) log_event(LogLevel::Notice, "main", "XB7223", "signal SIGHUP: the plugin's configuration was reloaded");
            else log_event(LogLevel::Error, "main", "XB7224", std::string("signal SIGHUP: reload refused, the running configuration stays: ") +
                                       api->xb_last_error());
            api->xb_diagnostics_free(rd);
            continue;
        }
        if (sig == SIGINT || sig == SIGTERM) {
            log_event(LogLevel::Notice, "main", "XB7225", std::string("signal ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + " received, stopping");
            break;
        }
        drain_expired();
        uint64_t now = realtime_ns();
        if (duration > 0 && now - start >= static_cast<uint64_t>(duration) * 1000000000ull) break;
        if (l.config.stats_interval && now >= next_stats) {
            stats(false);
            next_stats = now + static_cast<uint64_t>(l.config.stats_interval) * 1000000000ull;
        }
    }
    g_stop = true;
    for (auto& t : threads) t.join();
    stats(true);
    for (auto& w : workers) api->xb_capture_close(w->capture);
    api->xb_close(plugin);
    log_event(LogLevel::Notice, "main", "XB7226", "stopped; the plugin detached what it attached");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string file, pcap, netns, iface;
    bool check = false;
    long duration = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = nullptr;
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "-V" || a == "--version") {
            std::printf("xids %s\n", PACKAGE_VERSION);
            return 0;
        } else if (a == "-c" || a == "--config") {
            if (!(v = value())) return std::fprintf(stderr, "xids: %s needs a file\n\n%s", a.c_str(), kUsage), 2;
            file = v;
        } else if (a == "-r" || a == "--read") {
            if (!(v = value())) return std::fprintf(stderr, "xids: %s needs a capture file\n\n%s", a.c_str(), kUsage), 2;
            pcap = v;
        } else if (a == "--netns") {
            if (!(v = value()) || !*v) return std::fprintf(stderr, "xids: --netns needs a namespace name\n\n%s", kUsage), 2;
            netns = v;
        } else if (a == "-i" || a == "--interface") {
            if (!(v = value()) || !*v) return std::fprintf(stderr, "xids: %s needs an interface\n\n%s", a.c_str(), kUsage), 2;
            iface = v;
        } else if (a == "--duration") {
            char* end = nullptr;
            if (!(v = value()) || (duration = std::strtol(v, &end, 10)) <= 0 || *end)
                return std::fprintf(stderr, "xids: --duration takes a positive number of seconds\n\n%s", kUsage), 2;
        } else if (a == "--check") {
            check = true;
        } else {
            return std::fprintf(stderr, "xids: unknown argument '%s'\n\n%s", a.c_str(), kUsage), 2;
        }
    }
    if (file.empty()) return std::fprintf(stderr, "xids: no configuration file given (-c FILE)\n\n%s", kUsage), 2;
    Loaded l = load_everything(file);
    print(l.diagnostics);
    if (l.exit_code) {
        std::fprintf(stderr, "xids: %s: refused, nothing was attached\n", file.c_str());
        return l.exit_code;
    }
    if (check) {
        auto api = PluginApi::load(l.config.plugin_path);
        if (!api) {
            std::fprintf(stderr, "%s: error[XB7201]: %s\n  hint: install xbypass (libxbypass.so.1) or set plugins: to its path\n",
                         file.c_str(), api.error().message.c_str());
            return 1;
        }
        std::printf("%s: accepted: %zu rules (%zu patterns), plugin %s (xbypass %s, ABI %u)\n", file.c_str(), l.rules.size(),
                    l.matcher->pattern_count(), api->path.c_str(), api->xb_version(), api->xb_abi_version());
        return 0;
    }
    if (!pcap.empty()) return run_offline(l, pcap);
    return run_live(l, file, netns, iface, duration);
}
