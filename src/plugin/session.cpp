#include "plugin/session.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "common/json.h"
#include "common/log.h"
#include "common/netdev_uapi.h"
#include "probe/probe.h"

namespace xb::session {

namespace {

plan::ProgramRequirements from_manifest(const datapath::Manifest& m) {
    plan::ProgramRequirements r;
    r.program = std::string(m.program);
    r.hook = m.hook == datapath::Hook::Xdp ? plan::Hook::Xdp : plan::Hook::Tc;
    r.cpu_redirect = m.cpu_redirect;
    r.ips_forward = m.ips_forward;
    r.xsk_capture = m.xsk_capture;
    // The flow counters are compiled as a per-CPU array and may become a plain array at load time;
    // every kernel with BPF has arrays, so only the per-CPU array is worth checking.
    for (auto t : m.map_types) {
        if (t == BPF_MAP_TYPE_ARRAY) continue;
        r.map_types.emplace_back(datapath::map_type_name(t));
    }
    for (auto h : m.helpers) r.helpers.push_back(datapath::helper_name(h));
    for (const auto& d : m.devices)
        r.devices.push_back({d.device == datapath::Device::IpsPeer, d.xdp_act_bits, std::string(d.reason)});
    if (m.cpu_redirect) r.max_redirect_cpus = XB_MAX_REDIRECT_CPUS;
    return r;
}

bool has(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }


}  // namespace

std::vector<plan::ProgramRequirements> builtin_requirements() {
    std::vector<plan::ProgramRequirements> out;
    for (const auto& m : datapath::builtin_manifests()) out.push_back(from_manifest(m));
    return out;
}

std::vector<plan::ProgramRequirements> custom_requirements(const std::string& path,
                                                            const std::vector<datapath::ProgramInsns>& programs) {
    std::vector<plan::ProgramRequirements> out;
    for (const auto& p : programs) {
        plan::ProgramRequirements r;
        if (p.type == BPF_PROG_TYPE_XDP) r.hook = plan::Hook::Xdp;
        else if (p.type == BPF_PROG_TYPE_SCHED_CLS || p.type == BPF_PROG_TYPE_SCHED_ACT) r.hook = plan::Hook::Tc;
        else continue;
        // One program per hook: the first, as the loader attaches the first one it finds.
        if (std::any_of(out.begin(), out.end(), [&](const auto& o) { return o.hook == r.hook; })) continue;
        r.program = path;
        r.custom = true;
        r.undetermined = p.undetermined;
        r.frags_aware = p.section.find(".frags") != std::string::npos;
        std::set<std::string> maps;
        bool cpumap = false, devmap = false, xskmap = false;
        for (const auto& m : p.maps) {
            if (m.global_data) continue;
            maps.insert(std::string(datapath::map_type_name(m.type)));
            cpumap |= m.type == BPF_MAP_TYPE_CPUMAP;
            devmap |= m.type == BPF_MAP_TYPE_DEVMAP || m.type == BPF_MAP_TYPE_DEVMAP_HASH;
            xskmap |= m.type == BPF_MAP_TYPE_XSKMAP;
        }
        r.map_types.assign(maps.begin(), maps.end());
        for (int h : p.helpers) r.helpers.push_back(datapath::helper_name(h));
        if (r.hook == plan::Hook::Xdp) {
            bool redirects = has(p.helpers, BPF_FUNC_redirect_map) || has(p.helpers, BPF_FUNC_redirect);
            uint64_t bits = netdev::XDP_ACT_BASIC;
            std::string why = "the program runs in the driver";
            if (redirects) {
                bits |= netdev::XDP_ACT_REDIRECT;
                why = std::string("the program calls ") +
                      (has(p.helpers, BPF_FUNC_redirect_map) ? "bpf_redirect_map" : "bpf_redirect") +
                      (cpumap ? " into a cpumap" : devmap ? " into a devmap" : xskmap ? " into an xskmap" : "");
            }
            r.devices.push_back({false, bits, why});
            if (redirects && (devmap || has(p.helpers, BPF_FUNC_redirect)))
                r.undetermined.push_back(
                    "the devices it redirects to are chosen at run time, so their ndo-xmit support cannot be checked");
            bool returns_redirect = std::find(p.return_codes.begin(), p.return_codes.end(), XDP_REDIRECT) !=
                                    p.return_codes.end();
            if (returns_redirect && !redirects)
                r.undetermined.push_back("it returns XDP_REDIRECT without a redirect helper call that could be found");
        }
        out.push_back(std::move(r));
    }
    return out;
}

Assessment assess(const config::Config& config, const AssessOptions& options) {
    Assessment a;
    a.input.config = config;
    a.input.engine_capture = options.engine_capture;
    a.input.kernel = probe::probe_kernel();
    // Kernel facts matter only through the plan (e.g. no freplace rejects coexist: multiprog as
    // XB4011); on their own they are logged, and `xbypass probe` shows them all.
    for (const auto& n : a.input.kernel.notes) {
        if (n.severity == Severity::Error) a.diagnostics.add(n);
        else log_info("probe", n.to_text().substr(0, n.to_text().find('\n')));
    }
    std::set<std::string> names;
    for (const auto& ic : config.interfaces) {
        names.insert(ic.name);
        if (!ic.ips_peer.empty()) names.insert(ic.ips_peer);
    }
    for (const auto& name : names) {
        auto caps = probe::probe_interface(name);
        if (!caps) {
            if (caps.error().code != ENODEV)  // a missing interface is the planner's XB4001/XB4007
                a.diagnostics.error("XB5001", "cannot probe interface " + name + ": " + caps.error().message,
                                    "run as root in the network namespace that holds the interface");
            continue;
        }
        for (const auto& n : caps->notes)
            if (n.severity != Severity::Info) a.diagnostics.add(n);
        a.input.interfaces.emplace(name, std::move(caps).value());
    }
    a.input.builtin = builtin_requirements();
    for (const auto& ic : config.interfaces) {
        if (ic.custom_program.empty() || a.input.custom.count(ic.custom_program)) continue;
        auto progs = datapath::read_object_file(ic.custom_program);
        if (!progs) {
            a.diagnostics.error("XB5002", "cannot read custom program " + ic.custom_program + ": " + progs.error().message,
                                "check the file is a BPF ELF object built with clang -target bpf",
                                ic.location_of("custom-program"),
                                ic.origin_of("custom-program") ? ic.origin_of("custom-program")->key_path : "");
            continue;
        }
        a.input.custom[ic.custom_program] = custom_requirements(ic.custom_program, *progs);
    }
    a.plan = plan::make_plan(a.input);
    a.diagnostics.append(a.plan.diagnostics);
    return a;
}

// --- running ------------------------------------------------------------------------------------

namespace {

Result<BpfObjectPtr> load_custom(const plan::InterfacePlan& p, int* prog_fd, const datapath::ObjectLoader& loader) {
    BpfObjectPtr obj(bpf_object__open_file(p.program.c_str(), nullptr));
    if (!obj) return Error::from_errno(errno, "cannot open " + p.program);
    bpf_prog_type want = p.datapath == plan::Datapath::Tc ? BPF_PROG_TYPE_SCHED_CLS : BPF_PROG_TYPE_XDP;
    bpf_program* chosen = nullptr;
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj.get()) {
        bool take = !chosen && bpf_program__type(prog) == want;
        if (take) chosen = prog;
        bpf_program__set_autoload(prog, take);
    }
    if (!chosen) return Error{ENOENT, "no program of the planned type in " + p.program};
    if (loader) {
        if (auto st = loader(obj.get(), bpf_program__name(chosen)); !st) return st.error();
    } else if (int err = bpf_object__load(obj.get()); err < 0) {
        return Error::from_errno(err, "the kernel refused " + p.program);
    }
    *prog_fd = bpf_program__fd(chosen);
    return obj;
}

datapath::XdpMode to_mode(probe::XdpAttachMode m) {
    switch (m) {
        case probe::XdpAttachMode::Native: return datapath::XdpMode::Native;
        case probe::XdpAttachMode::Generic: return datapath::XdpMode::Generic;
        case probe::XdpAttachMode::Offload: return datapath::XdpMode::Offload;
    }
    return datapath::XdpMode::Native;
}

// Holding the interface lock, a component of the dispatcher that runs one of our built-in XDP
// programs was left by a killed run: libxdp pins components, so they outlive their process.
Result<std::vector<uint32_t>> remove_leftover_components(int ifindex) {
    std::vector<std::string> ours;
    for (const auto& m : datapath::builtin_manifests())
        if (m.hook == datapath::Hook::Xdp) ours.emplace_back(m.program);
    return datapath::remove_components_named(ifindex, ours);
}

std::string describe_dispatcher(int ifindex, uint32_t ours) {
    auto st = datapath::query_dispatcher(ifindex);
    if (!st) return "joined the libxdp dispatcher (its state cannot be read: " + st.error().message + ")";
    if (!st->dispatcher_id)
        return "libxdp attached program " + std::to_string(ours) + " directly, without its dispatcher";
    std::string others;
    for (const auto& c : st->components) {
        if (c.prog_id == ours) continue;
        others += (others.empty() ? "" : ", ") + c.name + " (id " + std::to_string(c.prog_id) + ", priority " +
                  std::to_string(c.run_priority) + ")";
    }
    return "joined the libxdp dispatcher (id " + std::to_string(st->dispatcher_id) + ", " +
           std::string(datapath::xdp_mode_name(st->mode)) + " mode) as program " + std::to_string(ours) +
           " with run priority " + std::to_string(datapath::kDispatcherRunPriority) +
           (others.empty() ? "; no other program runs in it" : "; with it, in run order by priority: " + others);
}

Result<FileLock> lock_interface(const std::string& interface) {
    auto ns = current_netns_inode();
    if (!ns) return ns.error();
    return FileLock::try_acquire(interface_lock_path(*ns, interface));
}

}  // namespace

std::string interface_lock_path(unsigned long netns_inode, const std::string& interface) {
    return std::string(kRunDir) + "/" + std::to_string(netns_inode) + "-" + interface + ".lock";
}

std::unique_ptr<Session> Session::start(const Assessment& a, Diagnostics& diags) {
    if (!a.accepted()) return nullptr;
    std::unique_ptr<Session> s(new Session());
    auto fail = [&](std::string code, const plan::InterfacePlan& p, std::string message, std::string hint) {
        diags.error(std::move(code), p.interface + ": " + message, std::move(hint));
        log_error("datapath", p.interface + ": " + message + "; rolling back every interface");
        return nullptr;  // ~Session detaches and unpins what was done so far
    };
    for (const auto& p : a.plan.interfaces) {
        RunningInterface ri;
        ri.plan = p;
        if (p.datapath == plan::Datapath::None) {
            s->interfaces_.push_back(std::move(ri));
            continue;
        }
        // One run per interface: a second one must not take over a live run's datapath. The lock
        // also tells a filter left by a killed run (no lock holder) from a running one's.
        auto lock = lock_interface(p.interface);
        if (!lock && lock.error().code == EWOULDBLOCK)
            return fail("XB5011", p, "another xbypass already runs on this interface (" + lock.error().message + ")",
                        "stop that run first: two runs on one interface would fight over its datapath");
        if (lock) {
            ri.lock.emplace(std::move(lock).value());
        } else {
            diags.warning("XB5012", p.interface + ": cannot take the interface lock: " + lock.error().message,
                          std::string("make ") + kRunDir + " writable; without the lock a tc filter left by a killed run "
                          "is not replaced, and a second run on this interface is not detected");
        }
        // coexist: multiprog — libxdp loads and attaches in one step (see dispatcher.h).
        std::optional<datapath::DispatcherAttachment> joined;
        datapath::ObjectLoader loader;
        if (p.multiprog) {
            if (ri.lock && !p.custom) {
                auto removed = remove_leftover_components(p.ifindex);
                if (!removed) return fail("XB5013", p, "cannot clear the dispatcher of an earlier run: " + removed.error().message,
                                          "remove it with `xdp-loader unload " + p.interface + " --id ID`");
                for (uint32_t id : *removed)
                    log_warning("datapath", p.interface + ": removed the program an earlier xbypass run left in the libxdp "
                                            "dispatcher when it did not stop (program id " + std::to_string(id) + ")");
            }
            auto mode = p.datapath == plan::Datapath::XdpNative ? datapath::XdpMode::Native : datapath::XdpMode::Generic;
            loader = [&joined, ifindex = p.ifindex, mode](bpf_object* obj, const std::string& program) -> Status {
                auto a = datapath::DispatcherAttachment::join(ifindex, obj, program, mode);
                if (!a) return a.error();
                joined.emplace(std::move(a).value());
                return {};
            };
        }
        int prog_fd = -1;
        if (p.custom) {
            auto obj = load_custom(p, &prog_fd, loader);
            if (!obj) return fail("XB5004", p, obj.error().message, "check the program with the kernel verifier log (log-level: debug)");
            ri.custom_object = std::move(obj).value();
        } else {
            datapath::ProgramOptions o;
            o.datapath = p.datapath == plan::Datapath::Tc ? datapath::Hook::Tc : datapath::Hook::Xdp;
            o.vlan_tracking = p.vlan_tracking;
            o.cpu_redirect = p.cpus;
            o.ips_peer_ifindex = p.ips_peer_ifindex;
            o.flow_table_size = p.flow_table.size;
            o.flow_table_percpu = p.flow_table.percpu;
            o.flow_table_lru = p.flow_table.lru;
            o.lease_seconds = kLeaseSeconds;
            // AF_XDP capture: the planner chose the variant that redirects misses to the sockets.
            if (const auto* m = datapath::find_manifest(p.program); m && m->xsk_capture)
                o.xsk_queues = std::max<uint32_t>(p.capture.threads, 1);
            std::vector<UniqueFd> reused;  // open until the loader has adopted them
            if (p.pinned_maps) {
                ri.pins = std::make_unique<datapath::PinSet>(p.pin_dir, kPinLayoutVersion);
                if (auto st = ri.pins->check_layout_version(); !st)
                    return fail("XB5006", p, st.error().message, "remove the old pins (rm -r " + p.pin_dir + ") or use another pin-path");
                for (const auto& spec : datapath::pinnable_maps(o)) {
                    auto existing = ri.pins->open_existing(spec);
                    if (!existing)
                        return fail("XB5008", p, existing.error().message,
                                    "configure the flow table as the earlier run did (size, per-cpu, lru), or remove the "
                                    "old pins (rm -r " + p.pin_dir + "): the bypassed flows are then forgotten");
                    if (!existing->has_value()) continue;
                    o.reuse_maps[spec.name] = (*existing)->get();
                    reused.push_back(std::move(**existing));
                }
            }
            auto prog = datapath::BypassProgram::load(o, diags, loader);
            if (!prog) return fail("XB5004", p, "cannot load " + p.program + ": " + prog.error().message,
                                   "run with log-level: debug to see the verifier's log");
            ri.program = std::make_unique<datapath::BypassProgram>(std::move(prog).value());
            prog_fd = ri.program->prog_fd();
            if (o.reuse_maps.count("xb_flow_slots")) {
                auto flows = ri.program->flow_table().entries();
                ri.reused_pins = true;
                ri.reused_flows = flows ? flows->size() : 0;
                log_notice("datapath", p.interface + ": reusing the maps pinned at " + p.pin_dir + " by an earlier run: " +
                                           std::to_string(ri.reused_flows) + " flow entries stay bypassed" +
                                           (o.reuse_maps.count("xb_counters") ? ", counters continue from that run" : ""));
            }
        }
        if (p.datapath == plan::Datapath::Tc) {
            // Holding the lock, a filter of the same program at our handle is a killed run's leftover.
            auto leftover = ri.lock ? datapath::TcLeftover::ReplaceSameName : datapath::TcLeftover::Refuse;
            auto att = datapath::TcAttachment::attach(p.ifindex, prog_fd, datapath::TcDirection::Ingress,
                                                      datapath::kTcHandle, datapath::kTcPriority, leftover);
            if (!att) return fail("XB5005", p, "cannot attach the tc filter: " + att.error().message,
                                  "check `tc filter show dev " + p.interface + " ingress`");
            if (att->replaced_prog_id()) {
                ri.replaced_leftover = att->replaced_prog_id();
                log_warning("datapath", p.interface + ": replaced the tc filter left by an earlier xbypass run that did not "
                                        "stop (program id " + std::to_string(att->replaced_prog_id()) + ")");
            }
            s->attachments_.add(std::move(att).value());
        } else if (joined) {
            log_notice("datapath", p.interface + ": " + describe_dispatcher(p.ifindex, joined->prog_id()));
            s->attachments_.add(std::move(*joined));
            joined.reset();
        } else {
            datapath::XdpMode mode = p.datapath == plan::Datapath::XdpNative ? datapath::XdpMode::Native
                                                                             : datapath::XdpMode::Generic;
            datapath::ReplaceTarget target;
            if (p.replace) target = {p.replace->prog_id, to_mode(p.replace->mode), p.replace->link_id};
            auto att = datapath::XdpAttachment::attach(p.ifindex, prog_fd, mode, p.replace ? &target : nullptr);
            // Features unknown (before 6.3): a driver without native XDP refuses the attach
            // (EOPNOTSUPP; EINVAL from drivers that refuse this program or configuration).
            bool refused = !att && p.native_untested && mode == datapath::XdpMode::Native &&
                           (att.error().code == EOPNOTSUPP || att.error().code == EINVAL);
            if (refused && !p.generic_if_refused)
                return fail("XB5031", p,
                            "the driver refused native XDP, which was tried because its XDP features are unknown "
                            "on this kernel: " + att.error().message,
                            "use datapath: auto (generic XDP after a refused native attach), xdp-generic, or "
                            "on-unsupported: fallback");
            if (refused) {
                std::string why = att.error().message;
                att = datapath::XdpAttachment::attach(p.ifindex, prog_fd, datapath::XdpMode::Generic,
                                                      p.replace ? &target : nullptr);
                if (att) {
                    ri.native_refused = why;
                    ri.plan.datapath = plan::Datapath::XdpGeneric;
                    std::string msg = p.interface + ": the driver refused native XDP (" + why +
                                      "); its XDP features are unknown on this kernel, so it was tried: generic XDP "
                                      "runs instead";
                    diags.warning("XB5030", msg,
                                  "none needed; set datapath: xdp-generic on this interface to skip the attempt");
                }
            }
            if (!att) return fail("XB5005", p, "cannot attach XDP: " + att.error().message,
                                  "check `ip link show dev " + p.interface + "` for another program");
            if (p.replace)
                log_warning("datapath", p.interface + ": replaced XDP program '" + p.replace->prog_name + "' (id " +
                                            std::to_string(p.replace->prog_id) + ")");
            s->attachments_.add(std::move(att).value());
        }
        if (ri.pins && ri.program) {
            for (const auto& spec : datapath::pinnable_maps(ri.program->options())) {
                int fd = ri.program->map_fd(spec.name);
                if (fd < 0) continue;
                if (auto st = ri.pins->pin(spec.name, fd); !st)
                    return fail("XB5007", p, st.error().message, "check that " + p.pin_dir + " is on bpffs and writable");
            }
        }
        s->interfaces_.push_back(std::move(ri));
    }
    if (auto st = s->attachments_.verify_all(); !st) {
        diags.error("XB5003", "after attaching, the kernel does not report our program where it was attached: " +
                                  st.error().message,
                    "another tool changed the interface during startup; start again");
        return nullptr;
    }
    for (auto& ri : s->interfaces_)
        if (ri.pins) ri.pins->commit();
    return s;
}

Session::~Session() {
    attachments_.rollback();  // detach before the programs and maps go
}

RunningInterface* Session::find(const std::string& name) {
    for (auto& ri : interfaces_)
        if (ri.plan.interface == name) return &ri;
    return nullptr;
}

Status Session::bypass_flow(const std::string& interface, const datapath::FlowKey& key) {
    RunningInterface* ri = find(interface);
    if (!ri) return Error{ENOENT, "interface " + interface + " is not run by this session"};
    if (!ri->program) return Error{EOPNOTSUPP, interface + " runs no built-in bypass program"};
    return ri->program->flow_table().insert(key);
}

Status Session::unbypass_flow(const std::string& interface, const datapath::FlowKey& key) {
    RunningInterface* ri = find(interface);
    if (!ri) return Error{ENOENT, "interface " + interface + " is not run by this session"};
    if (!ri->program) return Error{EOPNOTSUPP, interface + " runs no built-in bypass program"};
    auto table = ri->program->flow_table();
    if (!table.lookup(key) && !table.lookup(datapath::reverse_flow_key(key)))
        return Error{ENOENT, datapath::flow_key_to_string(key) + " is not bypassed"};
    return table.remove(key);
}

Result<size_t> Session::expire_idle(uint64_t now_ns) {
    size_t removed = 0;
    for (auto& ri : interfaces_) {
        if (!ri.program) continue;
        auto table = ri.program->flow_table();
        auto entries = table.entries();
        if (!entries) return entries.error();
        uint64_t timeout_ns = static_cast<uint64_t>(ri.plan.flow_table.timeout) * 1000000000ull;
        for (const auto& e : *entries) {
            if (e.stats.last_seen_ns + timeout_ns >= now_ns) continue;
            // Both directions are removed together; the reverse entry may already be gone.
            if (table.remove(e.key)) ++removed;
        }
    }
    return removed;
}

Status Session::renew_leases() {
    for (auto& ri : interfaces_) {
        if (!ri.program) continue;
        if (auto st = ri.program->renew_lease(kLeaseSeconds); !st)
            return Error{st.error().code, ri.plan.interface + ": " + st.error().message};
    }
    return {};
}

Status Session::verify() const {
    if (auto st = attachments_.verify_all(); !st) return st;
    // An IPS peer that went away: XDP's devmap drops the entry and hits go to the stack
    // (redirect-failure), but tc's bpf_redirect to a gone ifindex drops the frame without a trace.
    for (const auto& ri : interfaces_) {
        if (ri.plan.ips_peer_ifindex <= 0) continue;
        char name[IF_NAMESIZE] = {};
        if (!if_indextoname(static_cast<unsigned>(ri.plan.ips_peer_ifindex), name))
            return Error{ENODEV, ri.plan.interface + ": the IPS peer " + ri.plan.ips_peer + " (ifindex " +
                                     std::to_string(ri.plan.ips_peer_ifindex) +
                                     ") is gone; bypassed frames cannot be forwarded"};
    }
    return {};
}

std::string Session::stats_text() const {
    std::string out;
    for (const auto& ri : interfaces_) {
        if (!ri.program) continue;
        auto c = ri.program->read_counters();
        out += ri.plan.interface + ":";
        if (!c) {
            out += " counters unavailable (" + c.error().message + ")\n";
            continue;
        }
        for (int i = 0; i < XB_CNT_MAX; ++i)
            out += " " + std::string(datapath::counter_name(static_cast<xb_counter>(i))) + "=" + std::to_string(c->value[i]);
        // Entries in the flow table (each direction of a flow is one).
        if (auto o = ri.program->flow_table().occupancy()) out += " flow-entries=" + std::to_string(o->flows);
        out += "\n";
    }
    return out;
}

std::string Session::stats_json() const {
    JsonWriter w;
    char stamp[40];
    time_t now = time(nullptr);
    tm t{};
    localtime_r(&now, &t);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S%z", &t);
    w.begin_object().field("timestamp", stamp).field("event_type", "stats").key("xbypass").begin_object();
    for (const auto& ri : interfaces_) {
        if (!ri.program) continue;
        auto c = ri.program->read_counters();
        if (!c) continue;
        w.key(ri.plan.interface).begin_object().field("datapath", plan::datapath_name(ri.plan.datapath));
        for (int i = 0; i < XB_CNT_MAX; ++i) w.field(datapath::counter_name(static_cast<xb_counter>(i)), c->value[i]);
        if (auto o = ri.program->flow_table().occupancy()) w.field("flow-entries", static_cast<uint64_t>(o->flows));
        w.end_object();
    }
    w.end_object().end_object();
    return w.str();
}

std::string startup_block(const Assessment& a) {
    std::string out = plan::plan_to_text(a.plan, a.input);
    std::string names;
    for (int i = 0; i < XB_CNT_MAX; ++i) names += (i ? ", " : "") + std::string(datapath::counter_name(static_cast<xb_counter>(i)));
    if (!a.plan.interfaces.empty()) out += "counters reported per interface: " + names + "\n";
    return out;
}

}  // namespace xb::session
