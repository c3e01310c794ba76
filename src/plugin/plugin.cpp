// include/xbypass/plugin.h: the C functions. Each one checks its arguments, runs the C++ core, and
// turns its result into an XB_ERR_* code with a message for xb_last_error(); nothing throws or
// aborts across the boundary (every entry point catches).
#include "xbypass/plugin.h"

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <new>
#include <span>
#include <sys/eventfd.h>
#include <unistd.h>

#include "capture/af_packet.h"
#include "capture/af_xdp.h"
#include "common/log.h"
#include "common/mounts.h"
#include "config.h"
#include "datapath/parse_mirror.h"
#include "plugin/handles.h"
#include "control/server.h"
#include "session/control.h"
#include "session/reload.h"
#include "session/expiry_queue.h"
#include "session/upkeep.h"

namespace {

using namespace xb;

thread_local std::string t_last_error;

int fail(int code, std::string message) {
    t_last_error = std::move(message);
    return code;
}

int from_errno(int err, const std::string& message) {
    int code = XB_ERR_SYSTEM;
    if (err == E2BIG || err == ENOSPC) code = XB_ERR_FULL;
    else if (err == ENOENT || err == ENODEV) code = XB_ERR_NOENT;
    else if (err == EOPNOTSUPP) code = XB_ERR_NOTSUP;
    else if (err == EINTR) code = XB_ERR_INTR;
    else if (err == ENOMEM) code = XB_ERR_NOMEM;
    else if (err == EINVAL) code = XB_ERR_INVAL;
    return fail(code, message);
}

// Runs fn, which returns an XB code; exceptions (allocation failures) never leave the library.
template <class Fn>
int guarded(Fn&& fn) noexcept {
    try {
        t_last_error.clear();
        return fn();
    } catch (const std::bad_alloc&) {
        return fail(XB_ERR_NOMEM, "out of memory");
    } catch (const std::exception& e) {
        return fail(XB_ERR_SYSTEM, std::string("internal error: ") + e.what());
    } catch (...) {
        return fail(XB_ERR_SYSTEM, "internal error");
    }
}

// Options from the caller: sz bytes of them, the rest zero (libbpf's OPTS). A larger struct from a
// newer caller is accepted only when the fields this library does not know are zero.
template <class T>
bool read_opts(const T* in, T* out, const char* what) {
    *out = T{};
    if (!in) return true;
    if (in->sz < sizeof(size_t)) return fail(XB_ERR_INVAL, std::string(what) + ".sz is not set"), false;
    if (in->sz > sizeof(T)) {
        const auto* extra = reinterpret_cast<const unsigned char*>(in) + sizeof(T);
        if (std::any_of(extra, extra + (in->sz - sizeof(T)), [](unsigned char b) { return b != 0; }))
            return fail(XB_ERR_INVAL, std::string(what) + " has fields this library (ABI " +
                                          std::to_string(XB_ABI_VERSION) + ") does not know"),
                   false;
    }
    std::memcpy(out, in, std::min(in->sz, sizeof(T)));
    out->sz = sizeof(T);
    return true;
}

// Copies a result struct into the caller's, up to the size the caller was compiled with.
template <class T>
int write_result(const T& full, T* out, const char* what) {
    if (!out) return fail(XB_ERR_INVAL, std::string(what) + " is NULL");
    if (out->sz < sizeof(size_t)) return fail(XB_ERR_INVAL, std::string(what) + "->sz is not set");
    size_t n = std::min(out->sz, sizeof(T));
    size_t caller_sz = out->sz;
    std::memcpy(out, &full, n);
    out->sz = caller_sz;
    return XB_OK;
}

LogLevel to_log_level(int level) {
    switch (level) {
        case XB_LOG_ERROR: return LogLevel::Error;
        case XB_LOG_WARNING: return LogLevel::Warning;
        case XB_LOG_NOTICE: return LogLevel::Notice;
        case XB_LOG_INFO: return LogLevel::Info;
        case XB_LOG_CONFIG: return LogLevel::Config;
        default: return LogLevel::Debug;
    }
}

int from_log_level(LogLevel l) { return static_cast<int>(l) + 1; }

xb_diagnostics* make_diagnostics(const Diagnostics& d) {
    auto* out = new xb_diagnostics;
    Diagnostics sorted = d;
    sorted.sort_by_location();
    out->items = sorted.items();
    for (const auto& x : out->items) out->text += x.to_text();
    return out;
}

datapath::FlowKey to_key(const xb_flow& f) {
    datapath::FlowKey k{};
    k.family = f.family == 6 ? XB_FAMILY_IPV6 : XB_FAMILY_IPV4;
    k.proto = f.proto;
    k.src_port = htons(f.src_port);
    k.dst_port = htons(f.dst_port);
    k.vlan_outer = f.vlan_id[0];
    k.vlan_inner = f.vlan_id[1];
    std::memcpy(k.src_addr, f.src_addr, f.family == 6 ? 16 : 4);
    std::memcpy(k.dst_addr, f.dst_addr, f.family == 6 ? 16 : 4);
    return k;
}

xb_flow to_flow(const datapath::FlowKey& k) {
    xb_flow f{};
    f.sz = sizeof f;
    f.family = k.family == XB_FAMILY_IPV6 ? 6 : 4;
    f.proto = k.proto;
    f.src_port = ntohs(k.src_port);
    f.dst_port = ntohs(k.dst_port);
    f.vlan_id[0] = k.vlan_outer;
    f.vlan_id[1] = k.vlan_inner;
    std::memcpy(f.src_addr, k.src_addr, f.family == 6 ? 16 : 4);
    std::memcpy(f.dst_addr, k.dst_addr, f.family == 6 ? 16 : 4);
    return f;
}

int check_flow(const xb_flow* flow) {
    if (!flow) return fail(XB_ERR_INVAL, "flow is NULL");
    if (flow->sz < offsetof(xb_flow, dst_addr) + sizeof flow->dst_addr)
        return fail(XB_ERR_INVAL, "flow->sz is smaller than struct xb_flow of ABI 1");
    if (flow->family != 4 && flow->family != 6) return fail(XB_ERR_INVAL, "flow->family must be 4 or 6");
    if (flow->vlan_id[0] > 4095 || flow->vlan_id[1] > 4095) return fail(XB_ERR_INVAL, "a VLAN id is above 4095");
    return XB_OK;
}

void upkeep_loop(xb_plugin* p) {
    pthread_setname_np(pthread_self(), "xb-upkeep");
    std::optional<ScopedNetns> in_netns;
    if (p->netns) {
        auto entered = ScopedNetns::enter(*p->netns);
        if (!entered) {
            Logger::instance().log(
                Diagnostic{"XB7002", Severity::Error, {}, "",
                           "the housekeeping thread cannot enter the network namespace: " + entered.error().message +
                               "; leases are not renewed, so bypassed flows return to the engine in " +
                               std::to_string(session::kLeaseSeconds) + " s",
                           "keep the namespace alive while the engine runs, or open the plugin without netns"},
                "plugin");
            return;
        }
        in_netns.emplace(std::move(entered).value());
    }
    session::Upkeep upkeep(*p->started.session, p->started.config.global);
    std::string last_failure;
    std::unique_lock lock(p->upkeep_mu);
    while (!p->stopping) {
        uint64_t wait = upkeep.seconds_to_next(session::Upkeep::monotonic_seconds());
        Status st;
        if (upkeep.link_fd() >= 0) {
            // Link events are handled when they come; stopping is looked at every 200 ms.
            lock.unlock();
            pollfd pfd{upkeep.link_fd(), POLLIN, 0};
            int ready = poll(&pfd, 1, static_cast<int>(std::min<uint64_t>(wait * 1000, 200)));
            lock.lock();
            if (p->stopping) break;
            lock.unlock();
            if (ready > 0) st = upkeep.on_link_events();
        } else {
            p->upkeep_cv.wait_for(lock, std::chrono::seconds(wait), [p] { return p->stopping; });
            if (p->stopping) break;
            lock.unlock();
        }
        if (st) st = upkeep.tick(session::Upkeep::monotonic_seconds());
        if (!st && st.error().message != last_failure) {
            // The engine keeps capturing; what the bypass does is said once per new cause.
            Logger::instance().log(Diagnostic{"XB7001", Severity::Error, {}, "",
                                              "the datapath is no longer as planned: " + st.error().message,
                                              "check what changed the interface (ip link, tc filter show); restart the "
                                              "engine to attach again"},
                                   "plugin");
        }
        last_failure = st ? "" : st.error().message;
        lock.lock();
    }
}

// The reload both xb_reload and the control socket run: in the plugin's namespace, one at a time.
session::ReloadOutcome reload_plugin(xb_plugin* p, const std::string& file) {
    std::lock_guard serial(p->reload_mu);
    std::optional<ScopedNetns> in_netns;
    if (p->netns)
        if (auto e = ScopedNetns::enter(*p->netns)) in_netns.emplace(std::move(e).value());
    session::ReloadRequest rr;
    rr.config_file = file.empty() ? p->config_path : file;
    rr.interface = p->interface;
    rr.engine_capture = p->capture;
    rr.allow_interface_changes = false;  // the engine's capture handles name the interfaces of xb_open
    auto outcome = session::reload(*p->started.session, p->started.config, rr);
    if (outcome.ok()) {
        p->started.config = outcome.config;
        p->config_path = rr.config_file;
    }
    return outcome;
}

void control_loop(xb_plugin* p) {
    pthread_setname_np(pthread_self(), "xb-control");
    std::optional<ScopedNetns> in_netns;
    if (p->netns) {
        auto entered = ScopedNetns::enter(*p->netns);
        if (!entered) return;
        in_netns.emplace(std::move(entered).value());
    }
    auto ns = current_netns_inode();
    if (!ns) return;
    session::ControlContext ctx;
    ctx.session = p->started.session.get();
    ctx.config_file = [p] {
        std::lock_guard serial(p->reload_mu);
        return p->config_path;
    };
    ctx.mode = "plugin";
    ctx.reload = [p](const std::string& file) { return reload_plugin(p, file); };
    auto server = control::Server::listen(control::socket_path(*ns, getpid()),
                                          [&ctx](const control::Request& r) { return session::handle_control(ctx, r); });
    if (!server) {
        Logger::instance().log(Diagnostic{"XB8010", Severity::Warning, {}, "",
                                          "cannot open the control socket: " + server.error().message,
                                          "make /run/xbypass writable; the engine runs on without status, flows, stats "
                                          "and reload over the socket (xb_reload still works)"},
                               "control");
        return;
    }
    log_event(LogLevel::Notice, "control", "XB8011", "control socket " + server->path());
    for (;;) {
        std::vector<pollfd> extra{{p->control_stop.get(), POLLIN, 0}};
        server->serve_once(1000, &extra);
        if (extra[0].revents & POLLIN) break;
    }
}

void stop_control(xb_plugin* p) {
    if (!p->control.joinable()) return;
    uint64_t one = 1;
    (void)!write(p->control_stop.get(), &one, sizeof one);
    p->control.join();
}

void stop_upkeep(xb_plugin* p) {
    {
        std::lock_guard lock(p->upkeep_mu);
        p->stopping = true;
    }
    p->upkeep_cv.notify_all();
    if (p->upkeep.joinable()) p->upkeep.join();
}

// The kernel's drop count of a handle, added to its interface's total; the kernel counter is read
// by the handle's own thread (recv, close), at most about once a second while receiving.
void publish_drops(xb_capture* c) {
    auto st = c->receiver->stats();
    if (!st || st->dropped <= c->published_dropped) return;
    c->iface->capture_dropped += st->dropped - c->published_dropped;
    c->published_dropped = st->dropped;
}

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void close_capture(xb_capture* c) {
    publish_drops(c);
    {
        std::lock_guard lock(c->plugin->mu);
        c->iface->thread_open[c->thread] = false;
        c->plugin->captures.erase(c);
    }
    delete c;
}

Result<std::unique_ptr<capture::Receiver>> open_receiver(const xb_plugin& p, plugin::Interface& i, uint32_t thread) {
    const auto& cp = i.plan.capture;
    if (cp.method == plan::Capture::AfXdp) {
        std::shared_lock live(p.started.session->live_mutex());
        const session::RunningInterface* ri = p.started.session->find(i.name);
        int map_fd = ri && ri->program ? ri->program->map_fd("xb_xsk_map") : -1;
        if (map_fd < 0) return Error{ENOENT, i.name + ": the bypass program has no XSKMAP for AF_XDP capture"};
        capture::AfXdpOptions o;
        o.ifname = i.name;
        o.ifindex = i.plan.ifindex;
        o.queue = thread;
        o.xsk_map_fd = map_fd;
        o.ring_size = cp.ring_size;
        o.frame_count = std::max<uint32_t>(cp.ring_size * 2, 64);
        o.bind = cp.zerocopy ? capture::XskBind::ZeroCopy : capture::XskBind::Copy;
        o.generic = i.plan.datapath == plan::Datapath::XdpGeneric;
        o.batch_wait_us = cp.block_timeout_ms * 1000;
        if (!i.plan.ips_peer.empty()) o.batch_wait_us = 0;  // a verdict waits for its packet
        // A driver can report xsk-zerocopy and still refuse this bind: copy mode works wherever the
        // program runs natively, so capture goes on in it rather than not at all, and says so.
        std::string refused;
        auto rx = capture::open_af_xdp(o, &refused);
        if (rx && !refused.empty()) {
            log_event(LogLevel::Warning, "capture", "XB7012",
                      i.name + ": capture thread " + std::to_string(thread) + ": " + refused +
                          "; capturing in AF_XDP copy mode instead");
            i.zerocopy_refused = true;
        }
        return rx;
    }
    capture::AfPacketOptions o;
    o.ifindex = i.plan.ifindex;
    o.block_size = cp.block_size;
    o.block_timeout_ms = cp.block_timeout_ms;
    o.frame_count = cp.ring_size;
    o.fanout_group = cp.cluster_id;
    auto type = capture::fanout_from_cluster_type(cp.cluster_type);
    if (!type) return Error{EINVAL, i.name + ": cluster-type " + cp.cluster_type + " is not a fanout mode"};
    o.fanout_type = *type;
    return capture::open_af_packet(o);
}

}  // namespace

xb::plugin::Interface* xb_plugin::find(const char* name) const {
    if (!name) return nullptr;
    for (const auto& i : interfaces)
        if (i->name == name) return i.get();
    return nullptr;
}

// The interface a flow request (bypass, unbypass, counts) names, its arguments checked; null with
// *rc set to the error otherwise.
xb::plugin::Interface* flow_target(xb_plugin* p, const char* interface, const xb_flow* flow, int* rc) {
    if (!p) return *rc = fail(XB_ERR_INVAL, "plugin is NULL"), nullptr;
    if ((*rc = check_flow(flow))) return nullptr;
    xb::plugin::Interface* i = p->find(interface);
    if (!i)
        return *rc = fail(XB_ERR_NOENT, std::string("no interface ") + (interface ? interface : "(NULL)") + " in this plugin"),
               nullptr;
    if (!i->can_bypass) return *rc = fail(XB_ERR_NOTSUP, i->name + " runs no built-in bypass program"), nullptr;
    return i;
}

extern "C" {

uint32_t xb_abi_version(void) { return XB_ABI_VERSION; }
const char* xb_version(void) { return PACKAGE_VERSION; }

const char* xb_strerror(int err) {
    switch (err) {
        case XB_OK: return "success";
        case XB_ERR_INVAL: return "invalid argument";
        case XB_ERR_STATE: return "not possible in this state";
        case XB_ERR_REJECTED: return "configuration rejected";
        case XB_ERR_SYSTEM: return "system error";
        case XB_ERR_FULL: return "flow table full";
        case XB_ERR_NOENT: return "no such interface or flow";
        case XB_ERR_NOTSUP: return "not supported on this interface";
        case XB_ERR_INTR: return "interrupted";
        case XB_ERR_NOMEM: return "out of memory";
        default: return "unknown error";
    }
}

const char* xb_last_error(void) { return t_last_error.c_str(); }

size_t xb_diagnostics_count(const xb_diagnostics* d) { return d ? d->items.size() : 0; }

int xb_diagnostics_get(const xb_diagnostics* d, size_t index, struct xb_diagnostic* out) {
    return guarded([&]() -> int {
        if (!d) return fail(XB_ERR_INVAL, "diagnostics is NULL");
        if (index >= d->items.size()) return fail(XB_ERR_INVAL, "diagnostic index out of range");
        const Diagnostic& x = d->items[index];
        xb_diagnostic full{};
        full.sz = sizeof full;
        full.code = x.code.c_str();
        full.severity = x.severity == Severity::Error     ? XB_SEVERITY_ERROR
                        : x.severity == Severity::Warning ? XB_SEVERITY_WARNING
                                                          : XB_SEVERITY_INFO;
        full.file = x.location.file.c_str();
        full.line = x.location.line;
        full.column = x.location.column;
        full.key = x.key_path.c_str();
        full.message = x.message.c_str();
        full.hint = x.hint.c_str();
        return write_result(full, out, "out");
    });
}

const char* xb_diagnostics_text(const xb_diagnostics* d) { return d ? d->text.c_str() : ""; }
void xb_diagnostics_free(xb_diagnostics* d) { delete d; }

int xb_open(const char* config_path, const struct xb_open_opts* opts_in, xb_plugin** plugin, xb_diagnostics** diags) {
    if (plugin) *plugin = nullptr;
    if (diags) *diags = nullptr;
    return guarded([&]() -> int {
        if (!plugin) return fail(XB_ERR_INVAL, "plugin (the out pointer) is NULL");
        if (!config_path || !*config_path) return fail(XB_ERR_INVAL, "no configuration file given");
        xb_open_opts opts;
        if (!read_opts(opts_in, &opts, "opts")) return XB_ERR_INVAL;
        if (opts.flags & ~XB_OPEN_NO_CAPTURE) return fail(XB_ERR_INVAL, "opts.flags has unknown bits");
        if (opts.log_level < 0 || opts.log_level > XB_LOG_DEBUG) return fail(XB_ERR_INVAL, "opts.log_level out of range");

        auto& logger = Logger::instance();
        if (opts.log) {
            logger.set_sink([fn = opts.log, user = opts.log_user](LogLevel l, std::string_view module, std::string_view msg) {
                std::string m(module), t(msg);
                fn(from_log_level(l), m.c_str(), t.c_str(), user);
            });
        } else {
            logger.set_sink({});  // NULL: stderr, not an earlier xb_open's callback (its user data may be gone)
        }
        auto p = std::make_unique<xb_plugin>();
        p->capture = !(opts.flags & XB_OPEN_NO_CAPTURE);
        Diagnostics early;
        std::optional<ScopedNetns> in_netns;
        if (opts.netns && *opts.netns) {
            auto handle = NetnsHandle::open_named(opts.netns);
            auto entered = handle ? ScopedNetns::enter(*handle) : Result<ScopedNetns>(handle.error());
            if (!entered) {
                early.error("XB0002", std::string("cannot enter network namespace ") + opts.netns + ": " +
                                          entered.error().message,
                            "create it with `ip netns add NAME`, or pass NULL to run in the caller's namespace");
                if (diags) *diags = make_diagnostics(early);
                return fail(XB_ERR_SYSTEM, early.items().front().message);
            }
            in_netns.emplace(std::move(entered).value());
            p->netns.emplace(std::move(handle).value());
        }
        session::StartRequest req;
        req.config_file = config_path;
        if (opts.interface) req.interface = opts.interface;
        req.engine_capture = p->capture;
        if (opts.log_level) req.log_level = to_log_level(opts.log_level);  // also for the start-up lines
        p->started = session::start(req);
        if (opts.log_level) logger.set_level(to_log_level(opts.log_level));
        if (diags) *diags = make_diagnostics(p->started.diagnostics);
        if (!p->started.session) {
            std::string first;
            for (const auto& d : p->started.diagnostics)
                if (d.severity == Severity::Error) {
                    first = d.code + ": " + d.message;
                    break;
                }
            if (p->started.exit_code == 2) return fail(XB_ERR_SYSTEM, first.empty() ? "cannot read the configuration" : first);
            return fail(XB_ERR_REJECTED, "the configuration was refused, nothing is attached" +
                                             (first.empty() ? std::string() : " (" + first + ")"));
        }
        for (const auto& ri : p->started.session->interfaces()) {
            auto i = std::make_unique<plugin::Interface>();
            i->plan = ri.plan;
            i->name = ri.plan.interface;
            i->datapath = plan::datapath_name(ri.plan.datapath);
            i->program = ri.plan.program;
            i->capture = p->capture ? std::string(plan::capture_name(ri.plan.capture.method)) : "none";
            i->threads = p->capture ? ri.plan.capture.threads : 0;
            i->thread_open.assign(i->threads, false);
            i->can_bypass = ri.program != nullptr;
            i->ips_peer = ri.plan.ips_peer;
            p->interfaces.push_back(std::move(i));
        }
        p->upkeep = std::thread(upkeep_loop, p.get());
        p->config_path = config_path;
        if (opts.interface) p->interface = opts.interface;
        p->control_stop.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (p->control_stop) p->control = std::thread(control_loop, p.get());
        *plugin = p.release();
        return XB_OK;
    });
}

void xb_close(xb_plugin* p) {
    if (!p) return;
    (void)guarded([&]() -> int {
        std::vector<xb_capture*> open;
        {
            std::lock_guard lock(p->mu);
            open.assign(p->captures.begin(), p->captures.end());
        }
        for (auto* c : open) close_capture(c);
        stop_control(p);
        stop_upkeep(p);
        {
            std::optional<ScopedNetns> in_netns;
            if (p->netns)
                if (auto e = ScopedNetns::enter(*p->netns)) in_netns.emplace(std::move(e).value());
            p->started.session.reset();  // detaches exactly what was attached, in its namespace
        }
        log_event(LogLevel::Notice, "plugin", "XB7010", "detached; plugin closed");
        delete p;
        return XB_OK;
    });
}

int xb_interface_count(const xb_plugin* p) {
    if (!p) return fail(XB_ERR_INVAL, "plugin is NULL");
    return static_cast<int>(p->interfaces.size());
}

int xb_interface_get(const xb_plugin* p, uint32_t index, struct xb_interface_info* out) {
    return guarded([&]() -> int {
        if (!p) return fail(XB_ERR_INVAL, "plugin is NULL");
        if (index >= p->interfaces.size()) return fail(XB_ERR_INVAL, "interface index out of range");
        const auto& i = *p->interfaces[index];
        xb_interface_info full{};
        full.sz = sizeof full;
        full.name = i.name.c_str();
        full.ifindex = static_cast<uint32_t>(i.plan.ifindex);
        full.datapath = i.datapath.c_str();
        full.program = i.program.c_str();
        full.capture = i.capture.c_str();
        full.threads = i.threads;
        full.zerocopy = p->capture && i.plan.capture.method == plan::Capture::AfXdp && i.plan.capture.zerocopy &&
                        !i.zerocopy_refused;
        full.can_bypass = i.can_bypass;
        full.ips_peer = i.ips_peer.c_str();
        return write_result(full, out, "out");
    });
}

int xb_capture_open(xb_plugin* p, const char* interface, uint32_t thread, xb_capture** out) {
    if (out) *out = nullptr;
    return guarded([&]() -> int {
        if (!p || !out) return fail(XB_ERR_INVAL, "plugin or capture (the out pointer) is NULL");
        plugin::Interface* i = p->find(interface);
        if (!i) return fail(XB_ERR_NOENT, std::string("no interface ") + (interface ? interface : "(NULL)") + " in this plugin");
        if (!p->capture) return fail(XB_ERR_STATE, "the plugin was opened with XB_OPEN_NO_CAPTURE");
        if (thread >= i->threads)
            return fail(XB_ERR_INVAL, i->name + " has " + std::to_string(i->threads) + " capture threads; thread " +
                                          std::to_string(thread) + " does not exist");
        {
            std::lock_guard lock(p->mu);
            if (i->thread_open[thread])
                return fail(XB_ERR_STATE, i->name + " capture thread " + std::to_string(thread) + " is already open");
            i->thread_open[thread] = true;
        }
        auto c = std::make_unique<xb_capture>();
        c->plugin = p;
        c->iface = i;
        c->thread = thread;
        auto release_slot = [&] {
            std::lock_guard lock(p->mu);
            i->thread_open[thread] = false;
        };
        std::optional<ScopedNetns> in_netns;
        if (p->netns) {
            auto e = ScopedNetns::enter(*p->netns);
            if (!e) return release_slot(), from_errno(e.error().code, e.error().message);
            in_netns.emplace(std::move(e).value());
        }
        auto rx = open_receiver(*p, *i, thread);
        if (!rx) return release_slot(), from_errno(rx.error().code, rx.error().message);
        c->receiver = std::move(rx).value();
        if (i->plan.ips_peer_ifindex > 0) {
            auto tx = capture::Transmitter::open(i->plan.ips_peer_ifindex);
            if (!tx) return release_slot(), from_errno(tx.error().code, i->name + ": IPS peer " + i->ips_peer + ": " + tx.error().message);
            c->transmitter.emplace(std::move(tx).value());
        }
        {
            std::lock_guard lock(p->mu);
            p->captures.insert(c.get());
        }
        log_event(LogLevel::Info, "capture", "XB7011", i->name + ": capture thread " + std::to_string(thread) + " open (" + i->capture + ")");
        *out = c.release();
        return XB_OK;
    });
}

int xb_capture_recv(xb_capture* c, struct xb_packet* pkts, uint32_t max, int timeout_ms) {
    return guarded([&]() -> int {
        if (!c || !pkts) return fail(XB_ERR_INVAL, "capture or pkts is NULL");
        if (max == 0) return 0;
        max = std::min<uint32_t>(max, 1u << 16);
        if (c->batch.size() < max) c->batch.resize(max);
        auto n = c->receiver->receive(std::span(c->batch.data(), max), timeout_ms);
        if (!n) return from_errno(n.error().code, n.error().message);
        for (size_t k = 0; k < *n; ++k) {
            const auto& s = c->batch[k];
            xb_packet& d = pkts[k];
            d = xb_packet{};
            d.data = s.data;
            d.caplen = s.caplen;
            d.wirelen = s.wirelen;
            d.ts_ns = s.timestamp_ns;
            d.ifindex = s.ifindex;
            d.queue = s.queue;
            d.vlan_count = std::min<uint8_t>(s.vlan_count, 2);
            for (uint8_t v = 0; v < d.vlan_count; ++v) d.vlan_id[v] = s.vlan_tci[v] & 0x0fff;
        }
        c->iface->captured += *n;
        if (uint64_t now = monotonic_ns(); now - c->last_publish_ns > 1000000000ull) {
            c->last_publish_ns = now;
            publish_drops(c);
        }
        return static_cast<int>(*n);
    });
}

int xb_capture_release(xb_capture* c) {
    if (!c) return fail(XB_ERR_INVAL, "capture is NULL");
    c->receiver->release();
    return XB_OK;
}

int xb_capture_fd(const xb_capture* c) {
    if (!c) return fail(XB_ERR_INVAL, "capture is NULL");
    return c->receiver->fd();
}

int xb_capture_verdict(xb_capture* c, const struct xb_packet* pkt, int verdict) {
    return guarded([&]() -> int {
        if (!c || !pkt) return fail(XB_ERR_INVAL, "capture or pkt is NULL");
        if (verdict != XB_VERDICT_FORWARD && verdict != XB_VERDICT_DROP) return fail(XB_ERR_INVAL, "unknown verdict");
        if (!c->transmitter) return fail(XB_ERR_NOTSUP, c->iface->name + " is not in IPS mode (no ips-peer)");
        if (verdict == XB_VERDICT_DROP) {
            ++c->verdict_dropped;
            return XB_OK;
        }
        capture::Packet p;
        p.data = pkt->data;
        p.caplen = pkt->caplen;
        p.wirelen = pkt->wirelen;
        p.vlan_count = std::min<uint8_t>(pkt->vlan_count, 2);
        for (uint8_t v = 0; v < p.vlan_count; ++v) p.vlan_tci[v] = pkt->vlan_id[v];
        if (auto st = c->transmitter->send(p); !st) {
            ++c->forward_failed;
            return from_errno(st.error().code, st.error().message);
        }
        ++c->forwarded;
        return XB_OK;
    });
}

int xb_capture_stats_get(xb_capture* c, struct xb_capture_stats* out) {
    return guarded([&]() -> int {
        if (!c) return fail(XB_ERR_INVAL, "capture is NULL");
        auto st = c->receiver->stats();
        if (!st) return from_errno(st.error().code, st.error().message);
        struct xb_capture_stats full{};
        full.sz = sizeof full;
        full.received = st->received;
        full.dropped = st->dropped;
        full.forwarded = c->forwarded;
        full.forward_failed = c->forward_failed;
        full.verdict_dropped = c->verdict_dropped;
        return write_result(full, out, "out");
    });
}

void xb_capture_close(xb_capture* c) {
    if (!c) return;
    (void)guarded([&]() -> int {
        close_capture(c);
        return XB_OK;
    });
}

int xb_capture_flow(const xb_capture* c, const struct xb_packet* pkt, struct xb_flow* out) {
    return guarded([&]() -> int {
        if (!c || !pkt || !pkt->data) return fail(XB_ERR_INVAL, "capture, pkt or pkt->data is NULL");
        // The outer tag the kernel took out of the frame is the one the tc program reads from the
        // skb; the XDP program sees frames before any tag is removed, and AF_XDP frames keep theirs.
        int hw_vlan = pkt->vlan_count ? static_cast<int>(pkt->vlan_id[0] & 0x0fff) : -1;
        auto parsed = datapath::parse_frame(std::span(pkt->data, pkt->caplen), c->iface->plan.vlan_tracking, hw_vlan);
        if (parsed.status != datapath::ParseStatus::Ok)
            return fail(XB_ERR_NOENT, std::string("the frame is not a bypassable flow (") +
                                          std::string(datapath::parse_status_name(parsed.status)) + ")");
        return write_result(to_flow(parsed.key), out, "out");
    });
}

int xb_bypass(xb_plugin* p, const char* interface, const struct xb_flow* flow) {
    return guarded([&]() -> int {
        int rc = 0;
        plugin::Interface* i = flow_target(p, interface, flow, &rc);
        if (!i) return rc;
        datapath::FlowKey key = to_key(*flow);
        auto st = p->started.session->bypass_flow(i->name, key);
        if (!st) {
            if (st.error().code == E2BIG) ++i->bypass_refused;
            return from_errno(st.error().code, i->name + ": cannot bypass " + datapath::flow_key_to_string(key) + ": " +
                                                   st.error().message);
        }
        ++i->bypass_accepted;
        log_debug("bypass", i->name + ": bypassing " + datapath::flow_key_to_string(key));
        return XB_OK;
    });
}

int xb_unbypass(xb_plugin* p, const char* interface, const struct xb_flow* flow) {
    return guarded([&]() -> int {
        int rc = 0;
        plugin::Interface* i = flow_target(p, interface, flow, &rc);
        if (!i) return rc;
        auto st = p->started.session->unbypass_flow(i->name, to_key(*flow));
        if (!st) return from_errno(st.error().code, i->name + ": " + st.error().message);
        return XB_OK;
    });
}

int xb_bypass_counts(xb_plugin* p, const char* interface, const struct xb_flow* flow, struct xb_flow_counts* out) {
    return guarded([&]() -> int {
        int rc = 0;
        plugin::Interface* i = flow_target(p, interface, flow, &rc);
        if (!i) return rc;
        auto c = p->started.session->flow_counts(i->name, to_key(*flow));
        if (!c) return from_errno(c.error().code, i->name + ": " + c.error().message);
        xb_flow_counts full{};
        full.sz = sizeof full;
        if (c->forward) full.pkts_forward = c->forward->packets, full.bytes_forward = c->forward->bytes;
        if (c->reverse) full.pkts_reverse = c->reverse->packets, full.bytes_reverse = c->reverse->bytes;
        full.last_seen_ns = std::max(c->forward ? c->forward->last_seen_ns : 0, c->reverse ? c->reverse->last_seen_ns : 0);
        return write_result(full, out, "out");
    });
}

int xb_expired_flows(xb_plugin* p, struct xb_expired_flow* out, size_t max) {
    return guarded([&]() -> int {
        if (!p) return fail(XB_ERR_INVAL, "plugin is NULL");
        if (max > 0 && !out) return fail(XB_ERR_INVAL, "out is NULL");
        size_t stride = max > 0 ? out[0].sz : sizeof(xb_expired_flow);
        if (max > 0 && stride < offsetof(xb_expired_flow, last_seen_ns) + sizeof out->last_seen_ns)
            return fail(XB_ERR_INVAL, "out[0].sz is smaller than struct xb_expired_flow of ABI 1");
        if (max > static_cast<size_t>(INT32_MAX)) max = INT32_MAX;
        auto& queue = p->started.session->expiry_events();
        if (!queue.enabled()) {
            // As many events as the flow tables hold flows: a whole sweep of full tables fits.
            size_t capacity = 0;
            for (const auto& i : p->interfaces)
                if (i->can_bypass) capacity += i->plan.flow_table.size;
            queue.enable(std::max<size_t>(capacity, 1024));
        }
        if (max == 0) return 0;
        auto events = queue.take(max);
        auto* base = reinterpret_cast<unsigned char*>(out);
        for (size_t k = 0; k < events.size(); ++k) {
            const auto& e = events[k];
            xb_expired_flow full{};
            full.sz = sizeof full;
            const plugin::Interface* i = p->find(e.flow.interface.c_str());
            full.interface = i ? i->name.c_str() : "";
            full.flow = to_flow(e.flow.key);
            full.pkts_forward = e.flow.forward.packets;
            full.bytes_forward = e.flow.forward.bytes;
            full.pkts_reverse = e.flow.reverse.packets;
            full.bytes_reverse = e.flow.reverse.bytes;
            auto real = [&](uint64_t mono) { return static_cast<uint64_t>(static_cast<int64_t>(mono) + e.realtime_offset_ns); };
            full.first_seen_ns = real(e.flow.first_seen_ns);
            full.last_seen_ns = real(e.flow.last_seen_ns);
            auto* slot = reinterpret_cast<xb_expired_flow*>(base + k * stride);
            slot->sz = stride;
            (void)write_result(full, slot, "out");
        }
        return static_cast<int>(events.size());
    });
}

int xb_stats_get(xb_plugin* p, const char* interface, struct xb_stats* out) {
    return guarded([&]() -> int {
        if (!p) return fail(XB_ERR_INVAL, "plugin is NULL");
        plugin::Interface* i = p->find(interface);
        if (!i) return fail(XB_ERR_NOENT, std::string("no interface ") + (interface ? interface : "(NULL)") + " in this plugin");
        xb_stats full{};
        full.sz = sizeof full;
        std::shared_lock live(p->started.session->live_mutex());
        const session::RunningInterface* ri = p->started.session->find(i->name);
        if (ri && ri->program) {
            auto c = ri->program->read_counters();
            if (!c) return from_errno(c.error().code, c.error().message);
            full.pass = (*c)[XB_CNT_PASS];
            full.drop = (*c)[XB_CNT_DROP];
            full.ips_forward = (*c)[XB_CNT_IPS_FORWARD];
            full.cpu_redirect = (*c)[XB_CNT_CPU_REDIRECT];
            full.xsk_redirect = (*c)[XB_CNT_XSK_REDIRECT];
            full.redirect_fail = (*c)[XB_CNT_REDIRECT_FAIL];
            full.parse_error = (*c)[XB_CNT_PARSE_ERROR];
            full.fragment = (*c)[XB_CNT_FRAGMENT];
            full.hit = (*c)[XB_CNT_HIT];
            full.miss = (*c)[XB_CNT_MISS];
            full.not_ip = (*c)[XB_CNT_NOT_IP];
            full.orphaned = (*c)[XB_CNT_ORPHANED];
            if (auto o = ri->program->flow_table().occupancy()) full.flow_entries = o->flows;
        }
        full.flow_capacity = i->plan.flow_table.size;
        full.bypass_accepted = i->bypass_accepted;
        full.bypass_refused = i->bypass_refused;
        full.capture_received = i->captured;
        full.capture_dropped = i->capture_dropped;
        if (ri && ri->program) full.flows_expired = ri->program->flow_table().counts().expired;
        auto q = p->started.session->expiry_events().counts(i->name);
        full.expiry_events = q.queued;
        full.expiry_events_dropped = q.dropped;
        return write_result(full, out, "out");
    });
}

int xb_reload(xb_plugin* p, const char* config_path, xb_diagnostics** diags) {
    if (diags) *diags = nullptr;
    return guarded([&]() -> int {
        if (!p) return fail(XB_ERR_INVAL, "plugin is NULL");
        auto outcome = reload_plugin(p, config_path ? config_path : "");
        if (diags) *diags = make_diagnostics(outcome.diagnostics);
        if (outcome.ok()) return XB_OK;
        std::string first;
        for (const auto& d : outcome.diagnostics)
            if (d.severity == Severity::Error) {
                first = d.code + ": " + d.message;
                break;
            }
        int code = outcome.kind == session::ReloadOutcome::Kind::Failed ? XB_ERR_SYSTEM : XB_ERR_REJECTED;
        return fail(code, "reload " + std::string(session::reload_kind_name(outcome.kind)) +
                              ", the running configuration is unchanged" + (first.empty() ? "" : " (" + first + ")"));
    });
}

}  // extern "C"
