#include "session/session.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <bpf/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <fstream>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <set>
#include <type_traits>
#include <variant>

#include "common/input_file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mounts.h"
#include "common/netdev_uapi.h"
#include "probe/probe.h"
#include "session/expiry_queue.h"

namespace xb::session {

static_assert(plan::kTcHandle == datapath::kTcHandle && plan::kTcPriority == datapath::kTcPriority,
              "the planner checks the place the attach uses");

namespace {

plan::ProgramRequirements from_manifest(const datapath::Manifest& m) {
    plan::ProgramRequirements r;
    r.program = std::string(m.program);
    r.hook = m.hook == datapath::Hook::Xdp ? plan::Hook::Xdp : plan::Hook::Tc;
    r.cpu_redirect = m.cpu_redirect;
    r.ips_forward = m.ips_forward;
    r.xsk_capture = m.xsk_capture;
    r.suricata_maps = m.suricata_maps;
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

// A runtime diagnostic: logged at once (the run is past its startup report) and kept in diags.
void report(Diagnostics& diags, Severity severity, std::string code, std::string message, std::string hint) {
    Diagnostic d{std::move(code), severity, {}, "", std::move(message), std::move(hint)};
    // A recovery is worth the operator's eye at the default level, as the loss was.
    if (severity == Severity::Info) log_notice("monitor", "info[" + d.code + "]: " + d.message);
    else Logger::instance().log(d, "monitor");
    diags.add(std::move(d));
}

bool has(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

// At detach, another tool's program in our place stays attached (datapath/attach.h): XB5022.
void log_left_theirs(const std::string& what) {
    Logger::instance().log(Diagnostic{"XB5022", Severity::Warning, {}, "",
                                      "not detached, not ours: " + what,
                                      "nothing of xbypass is left there; find which tool replaced its program "
                                      "(bpftool net show) if that was not intended"},
                           "datapath");
}

namespace {


}  // namespace

std::vector<plan::ProgramRequirements> builtin_requirements() {
    std::vector<plan::ProgramRequirements> out;
    for (const auto& m : datapath::builtin_manifests()) out.push_back(from_manifest(m));
    for (const auto& m : datapath::suricata_manifests()) out.push_back(from_manifest(m));
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

datapath::ProgramOptions program_options(const plan::InterfacePlan& p) {
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
    return o;
}

namespace {

Result<FileLock> lock_interface(const std::string& interface);

std::string pins_version_hint(const plan::InterfacePlan& p) {
    return "remove the old pins (rm -r " + p.pin_dir + ") or use another pin-path";
}

std::string pins_layout_hint(const plan::InterfacePlan& p) {
    return "configure the flow table as the earlier run did (size, per-cpu, lru), or remove the old pins (rm -r " +
           p.pin_dir + "): the bypassed flows are then forgotten";
}

// What Session::start would refuse about the pins an earlier run left, found without loading or
// attaching anything, so that `check` says it too (XB5006, XB5008).
void check_existing_pins(const plan::InterfacePlan& p, const config::InterfaceConfig* ic, Diagnostics& diags) {
    if (!p.pinned_maps || p.custom) return;
    SourceLocation where = ic ? ic->location_of("pinned-maps") : SourceLocation{};
    std::string key = ic && ic->origin_of("pinned-maps") ? ic->origin_of("pinned-maps")->key_path : "";
    datapath::PinSet pins(p.pin_dir, kPinLayoutVersion);
    pins.commit();  // it creates nothing here; never remove what an earlier run pinned
    if (auto st = pins.check_layout_version(); !st) {
        diags.error("XB5006", p.interface + ": " + st.error().message, pins_version_hint(p), where, key);
        return;
    }
    for (const auto& spec : datapath::pinnable_maps(program_options(p))) {
        auto existing = pins.open_existing(spec);
        if (!existing) {
            diags.error("XB5008", p.interface + ": " + existing.error().message, pins_layout_hint(p), where, key);
            return;
        }
    }
}

}  // namespace

Assessment assess(const config::Config& config, const AssessOptions& options) {
    Assessment a;
    a.input.config = config;
    a.input.engine_capture = options.engine_capture;
    // bpffs and tracefs: run mounts what is missing, check predicts it the same way (one step).
    struct Needed {
        const char* fstype;
        const char* path;
        const char* name;
        const char* code;       // the note that run mounts it
        const char* probe_code; // the probe's "not mounted" warning
        std::optional<std::string> probe::KernelCaps::*where;
    };
    const Needed needed[] = {
        {"bpf", "/sys/fs/bpf", "bpffs", "XB2027", "XB2021", &probe::KernelCaps::bpffs},
        {"tracefs", "/sys/kernel/tracing", "tracefs", "XB2028", "XB2022", &probe::KernelCaps::tracefs},
    };
    struct Outcome {
        const Needed* n;
        bool will_mount = false;
        std::string why_not;
    };
    std::vector<Outcome> outcomes;
    for (const auto& n : needed) {
        if (find_mount(n.fstype)) continue;
        Outcome o{&n, false, {}};
        if (options.mount_filesystems) {
            auto m = ensure_mounted(n.fstype, n.path);
            o.will_mount = m.ok();
            if (!m) o.why_not = m.error().message;
        } else {
            MountOutlook p = predict_mount(n.fstype, n.path);
            o.will_mount = p.would_mount;
            o.why_not = p.why_not;
        }
        outcomes.push_back(std::move(o));
    }
    a.input.kernel = probe::probe_kernel();
    for (const auto& o : outcomes) {
        const Needed& n = *o.n;
        auto& notes = a.input.kernel.notes;
        if (o.will_mount) {
            // check: plan as run will see it; run: it is mounted now. The same note either way.
            a.input.kernel.*n.where = std::string(n.path);
            notes.erase(std::remove_if(notes.begin(), notes.end(), [&](const Diagnostic& d) { return d.code == n.probe_code; }),
                        notes.end());
            a.diagnostics.info(n.code,
                               std::string(n.name) + " was not mounted: " +
                                   (options.mount_filesystems ? "mounted it at " : "xbypass run mounts it at ") + n.path +
                                   (options.mount_filesystems ? "" : " (check mounts nothing)"),
                               "nothing to do; mount it at boot (an fstab line) to have it before xbypass starts");
        } else {
            for (auto& d : notes)
                if (d.code == n.probe_code)
                    d.message += std::string("; ") + (options.mount_filesystems ? "mounting it failed: " : "xbypass run cannot mount it: ") +
                                 o.why_not;
        }
    }
    // Kernel facts matter mostly through the plan (e.g. no freplace rejects coexist: multiprog as
    // XB4011); `xbypass probe` shows them all.
    for (const auto& n : a.input.kernel.notes) {
        // As for the interfaces' notes below: warnings and errors are findings `check` and `run`
        // both report (XB2020 was logged at info, out of sight), notes go to the log.
        if (n.severity != Severity::Info) a.diagnostics.add(n);
        else log_info("probe", n.to_text().substr(0, n.to_text().find('\n')));
    }
    // A live run on an interface is the refusal to give first: probed, its own program would look
    // like another tool's (XB4010). Testing the lock takes it for a moment and releases it again.
    bool busy = false;
    for (const auto& ic : config.interfaces) {
        if (options.own_interfaces.count(ic.name)) continue;  // a reload: the lock is this run's
        auto lock = lock_interface(ic.name);
        if (!lock && lock.error().code == EWOULDBLOCK) {
            a.diagnostics.error("XB5011", ic.name + ": another xbypass already runs on this interface (" +
                                              lock.error().message + ")",
                                "stop that run first: two runs on one interface would fight over its datapath",
                                ic.origin.location, ic.origin.key_path);
            busy = true;
        }
    }
    if (busy) return a;
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
        if (!options.own_programs.empty()) {  // a reload: what this run attached is not in the way
            std::erase_if(caps->xdp, [&](const auto& x) { return options.own_programs.count(x.prog_id) > 0; });
            std::erase_if(caps->tc_filters, [&](const auto& f) { return f.prog_id && options.own_programs.count(f.prog_id) > 0; });
        }
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
    for (const auto& p : a.plan.interfaces) check_existing_pins(p, config.find(p.interface), a.diagnostics);
    return a;
}

// --- running ------------------------------------------------------------------------------------

namespace {

Result<BpfObjectPtr> load_custom(const plan::InterfacePlan& p, int* prog_fd, const datapath::ObjectLoader& loader) {
    // Read like every given file (a regular file within the size limit), then opened by libbpf.
    if (auto in = read_input_file(p.program, kMaxBpfObjectBytes, "custom program"); !in) return in.error();
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

std::unique_ptr<Session> Session::start(const Assessment& a, Diagnostics& diags, const SessionOptions& options) {
    if (!a.accepted()) return nullptr;
    std::unique_ptr<Session> s(new Session());
    s->expiry_ = std::make_unique<ExpiryQueue>();
    auto fail = [&](std::string code, const plan::InterfacePlan& p, std::string message, std::string hint) {
        diags.error(std::move(code), p.interface + ": " + message, std::move(hint));
        log_event(LogLevel::Notice, "datapath", "XB5041", p.interface + ": rolling back every interface");
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
                    Logger::instance().log(
                        Diagnostic{"XB5015", Severity::Warning, {}, "",
                                   p.interface + ": removed the program an earlier xbypass run left in the libxdp "
                                                 "dispatcher when it did not stop (program id " + std::to_string(id) + ")",
                                   "nothing to do; stop xbypass with SIGINT or SIGTERM so that it detaches itself"},
                        "datapath");
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
        if (p.suricata_maps) {
            datapath::SuricataProgramOptions o;
            o.datapath = p.datapath == plan::Datapath::Tc ? datapath::Hook::Tc : datapath::Hook::Xdp;
            o.vlan_tracking = p.vlan_tracking;
            o.cpu_redirect = p.cpus;
            o.ips_peer_ifindex = p.ips_peer_ifindex;
            o.lease_seconds = kLeaseSeconds;
            std::vector<UniqueFd> reused;
            for (const auto& spec : datapath::suricata_map_specs()) {
                std::string path = datapath::suricata_pin_path(p.pin_dir, p.interface, spec.name);
                ri.peer.pins.push_back(path);
                auto existing = datapath::open_suricata_pin(path, spec);
                if (!existing)
                    return fail("XB5008", p, existing.error().message,
                                "remove it (rm " + path + ") before starting: Suricata finds it and uses it");
                if (!existing->has_value()) continue;
                o.reuse_maps[spec.name] = (*existing)->get();
                reused.push_back(std::move(**existing));
            }
            if (o.reuse_maps.size() == 1)
                return fail("XB5008", p, "only one of " + ri.peer.pins[0] + " and " + ri.peer.pins[1] + " exists",
                            "remove it before starting: Suricata uses the pins only when both exist");
            ri.peer.adopted = o.reuse_maps.size() == 2;
            // An IPS pair (each interface the other's peer) shares one pair of maps, pinned under both
            // interfaces' names: Suricata writes both directions of a flow into the maps of the
            // interface it bypassed it on, and the other direction arrives on the peer.
            std::string shared_with;
            if (!ri.peer.adopted && p.ips_peer_ifindex > 0)
                for (const auto& other : s->interfaces_)
                    if (other.suricata && other.plan.ifindex == p.ips_peer_ifindex &&
                        other.plan.ips_peer_ifindex == p.ifindex) {
                        for (const auto& spec : datapath::suricata_map_specs())
                            o.reuse_maps[spec.name] = other.suricata->map_fd(spec.name);
                        shared_with = other.plan.interface;
                        break;
                    }
            auto prog = datapath::SuricataProgram::load(o, diags);
            if (!prog) return fail("XB5004", p, "cannot load " + p.program + ": " + prog.error().message,
                                   "run with log-level: debug to see the verifier's log");
            ri.suricata = std::make_unique<datapath::SuricataProgram>(std::move(prog).value());
            ri.peer.shared_with = shared_with;
            prog_fd = ri.suricata->prog_fd();
            for (const auto& spec : datapath::suricata_map_specs()) ri.peer.map_ids.push_back(ri.suricata->map_id(spec.name));
        } else if (p.custom) {
            auto obj = load_custom(p, &prog_fd, loader);
            if (!obj) return fail("XB5004", p, obj.error().message, "check the program with the kernel verifier log (log-level: debug)");
            ri.custom_object = std::move(obj).value();
        } else {
            datapath::ProgramOptions o = program_options(p);
            std::vector<UniqueFd> reused;  // open until the loader has adopted them
            if (p.pinned_maps) {
                ri.pins = std::make_unique<datapath::PinSet>(p.pin_dir, kPinLayoutVersion);
                if (auto st = ri.pins->check_layout_version(); !st)
                    return fail("XB5006", p, st.error().message, pins_version_hint(p));
                for (const auto& spec : datapath::pinnable_maps(o)) {
                    auto existing = ri.pins->open_existing(spec);
                    if (!existing) return fail("XB5008", p, existing.error().message, pins_layout_hint(p));
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
                auto occ = ri.program->flow_table().occupancy();
                ri.reused_pins = true;
                ri.reused_flows = occ ? occ->flows : 0;
                log_event(LogLevel::Notice, "datapath", "XB5042", p.interface + ": reusing the maps pinned at " + p.pin_dir + " by an earlier run: " +
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
                Logger::instance().log(
                    Diagnostic{"XB5014", Severity::Warning, {}, "",
                               p.interface + ": replaced the tc filter left by an earlier xbypass run that did not stop "
                                             "(program id " + std::to_string(att->replaced_prog_id()) + ")",
                               "nothing to do; stop xbypass with SIGINT or SIGTERM so that it detaches itself"},
                    "datapath");
            }
            s->attachments_.add(std::move(att).value());
        } else if (joined) {
            log_event(LogLevel::Notice, "datapath", "XB5043", p.interface + ": " + describe_dispatcher(p.ifindex, joined->prog_id()));
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
                Logger::instance().log(
                    Diagnostic{"XB5016", Severity::Warning, {}, "",
                               p.interface + ": replaced XDP program '" + p.replace->prog_name + "' (id " +
                                   std::to_string(p.replace->prog_id) + ") as coexist: replace asks",
                               "nothing to do: the configuration's coexist: replace asked for it"},
                    "datapath");
            s->attachments_.add(std::move(att).value());
        }
        if (ri.suricata && !ri.peer.adopted) {
            // Pinned once attached: Suricata adopts maps that a program already reads.
            size_t i = 0;
            for (const auto& spec : datapath::suricata_map_specs()) {
                const std::string& path = ri.peer.pins[i++];
                if (bpf_obj_pin(ri.suricata->map_fd(spec.name), path.c_str()) != 0) {
                    int err = errno;
                    for (const auto& c : ri.peer.created) unlink(c.c_str());
                    return fail("XB5007", p, "cannot pin " + path + ": " + std::strerror(err),
                                "check that " + p.pin_dir + " is on bpffs and writable");
                }
                ri.peer.created.push_back(path);
            }
        }
        if (ri.suricata)
            log_event(LogLevel::Notice, "suricata", "XB6033", p.interface + ": " + (ri.peer.adopted ? "adopted" : "pinned") + " Suricata's bypass maps " +
                                       ri.peer.pins[0] + " and " + ri.peer.pins[1] +
                                       (ri.peer.shared_with.empty() ? "" : " (the maps of its IPS peer " + ri.peer.shared_with + ")") +
                                       "; start Suricata with pinned-maps: yes on this interface");
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
    s->suricata_pid_file_ = a.input.config.global.suricata_pid_file;
    s->started_ = true;
    s->check_suricata();  // pair with a Suricata already running, or empty what a dead one left
    s->start_monitor(options, diags);
    for (auto& ri : s->interfaces_)  // runtime health compares with what is there now
        if (ri.program) ri.health = s->sample(ri);
    return s;
}

void Session::start_monitor(const SessionOptions& options, Diagnostics& diags) {
    std::vector<monitor::WatchedInterface> watched;
    for (const auto& ri : interfaces_) {
        if (ri.plan.datapath == plan::Datapath::None) continue;
        monitor::WatchedInterface w;
        w.ifindex = ri.plan.ifindex;
        if (ri.program) w.cpumap_id = monitor::map_id_of(ri.program->map_fd("xb_cpu_map"));
        watched.push_back(w);
    }
    if (watched.empty() || !options.exception_monitor) return;
    auto m = monitor::ExceptionMonitor::start(watched, options.monitor);
    if (!m) {
        // Only visibility is lost: the datapath runs as planned, so this never refuses to start.
        // Part of the startup: the caller logs it with the other attach diagnostics.
        diags.warning("XB6003",
                      "the exception monitor cannot attach to the xdp tracepoints: " + m.error().message +
                          "; running without exception counts",
                      "check that the kernel has BTF (/sys/kernel/btf/vmlinux) and the xdp tracepoints, and that "
                      "lockdown or the LSM allows tracing programs (xbypass probe)");
        return;
    }
    monitor_ = std::move(m).value();
    log_event(LogLevel::Info, "monitor", "XB6004", "exception monitor attached to xdp_exception, xdp_redirect_err, xdp_cpumap_enqueue and "
                        "xdp_devmap_xmit for " + std::to_string(watched.size()) + " interfaces");
}

std::optional<monitor::ExceptionCounts> Session::exceptions(const std::string& interface) const {
    if (!monitor_) return std::nullopt;
    for (const auto& ri : interfaces_) {
        if (ri.plan.interface != interface) continue;
        auto c = monitor_->read(ri.plan.ifindex);
        if (c) return *c;
    }
    return std::nullopt;
}

monitor::HealthSample Session::sample(const RunningInterface& ri) const {
    monitor::HealthSample h;
    if (monitor_)
        if (auto c = monitor_->read(ri.plan.ifindex)) h.exceptions = *c;
    if (!ri.program) return h;
    if (auto c = ri.program->read_counters()) h.redirect_fail = (*c)[XB_CNT_REDIRECT_FAIL];
    const auto& cpus = ri.program->options().cpu_redirect;
    h.cpu_redirect = !cpus.empty();
    int fd = ri.program->map_fd("xb_cpu_map");
    for (unsigned cpu : cpus) {
        bpf_cpumap_val v{};
        if (fd < 0 || bpf_map_lookup_elem(fd, &cpu, &v) != 0) h.cpumap_incomplete = true;
    }
    return h;
}

Session::~Session() {
    // Detach before the programs and maps go; what stays attached is said, with a code.
    std::vector<std::string> theirs;
    for (const auto& e : attachments_.rollback(&theirs))
        Logger::instance().log(Diagnostic{"XB5021", Severity::Warning, {}, "",
                                          "cannot detach: " + e.message,
                                          "remove it by hand (ip link set dev IFACE xdp off, or tc filter del dev "
                                          "IFACE ingress pref 22594 handle 0x5842 bpf)"},
                               "datapath");
    for (auto& t : theirs) log_left_theirs(t);
    // A failed start leaves no pin behind. After a run the pins stay, so that a running Suricata and
    // the next xbypass run share the same maps (with no program attached nothing reads them).
    if (!started_)
        for (const auto& ri : interfaces_)
            for (const auto& c : ri.peer.created) unlink(c.c_str());
}

bool Session::has_suricata() const {
    return std::any_of(interfaces_.begin(), interfaces_.end(), [](const auto& ri) { return ri.suricata != nullptr; });
}

namespace {

pid_t read_pid_file(const std::string& path) {
    std::ifstream f(path);
    long pid = 0;
    if (!(f >> pid) || pid <= 0) return 0;
    return static_cast<pid_t>(pid);
}

}  // namespace

void Session::check_suricata() {
    for (auto& ri : interfaces_) {
        if (!ri.suricata) continue;
        SuricataPeer& peer = ri.peer;
        const std::string& name = ri.plan.interface;
        // Cheap while paired: only the known process's fds are looked at.
        if (peer.pid && datapath::holds_map(peer.pid, peer.map_ids)) continue;
        pid_t before = peer.pid;
        const std::string_view state_before = peer.since ? peer.state() : "";
        auto holders = datapath::map_holders(peer.map_ids, read_pid_file(suricata_pid_file_));
        peer.pid = holders.empty() ? 0 : holders.front();
        if (peer.pid) peer.ever_seen = true;
        if (state_before != peer.state() || peer.pid != before) peer.since = time(nullptr);
        if (peer.pid) {
            peer.name = datapath::process_name(peer.pid);
            if (auto st = ri.suricata->renew_lease(kLeaseSeconds); !st)
                log_event(LogLevel::Warning, "suricata", "XB6034", name + ": cannot renew the lease: " + st.error().message);
            log_event(LogLevel::Notice, "suricata", "XB6030", name + ": paired with " + peer.name + " (pid " + std::to_string(peer.pid) +
                                       ") holding " + peer.pins[0] + " and _v6: bypassing the flows it writes there");
            continue;
        }
        // Nobody holds the maps: stop bypassing at once, then forget what the dead Suricata bypassed.
        if (auto st = ri.suricata->lapse(); !st)
            log_event(LogLevel::Error, "suricata", "XB6035", name + ": cannot stop bypassing: " + st.error().message);
        auto cleared = ri.suricata->clear_tables();
        if (before || (cleared && *cleared))
            log_event(LogLevel::Warning, "suricata", "XB6031", name + ": " +
                                        (before ? "Suricata (pid " + std::to_string(before) + ") is gone"
                                                : std::string("no Suricata holds the bypass maps")) +
                                        ": failing open, bypassing stopped and " +
                                        (cleared ? std::to_string(*cleared) : std::string("?")) +
                                        " entries removed; every flow reaches the stack again");
        if (!peer.ever_seen && !peer.waiting_logged) {
            peer.waiting_logged = true;
            log_event(LogLevel::Notice, "suricata", "XB6032", name + ": waiting for Suricata (pid file " + suricata_pid_file_ +
                                       "): nothing is bypassed until a Suricata holds the maps");
        }
    }
}

RunningInterface* Session::find(const std::string& name) {
    for (auto& ri : interfaces_)
        if (ri.plan.interface == name) return &ri;
    return nullptr;
}

Status Session::bypass_flow(const std::string& interface, const datapath::FlowKey& key) {
    std::shared_lock live(live_mu_);
    RunningInterface* ri = find(interface);
    if (!ri) return Error{ENOENT, "interface " + interface + " is not run by this session"};
    if (!ri->program) return Error{EOPNOTSUPP, interface + " runs no built-in bypass program"};
    auto table = ri->program->flow_table();
    Status st = table.insert(key);
    for (const auto& gone : table.take_evicted())
        log_debug("bypass", interface + ": flow " + datapath::flow_key_to_string(gone) +
                                " evicted (lru) for " + datapath::flow_key_to_string(key));
    if (auto o = table.occupancy(); o && o->capacity) {
        size_t percent = o->flow_units * 100 / o->capacity;
        if (percent > kFlowTableWarnPercent && !ri->fill_warned) {
            ri->fill_warned = true;
            Diagnostic d;
            d.code = "XB6040";
            d.severity = Severity::Warning;
            d.message = interface + ": the flow table holds " + std::to_string(o->flow_units) + " of its " +
                             std::to_string(o->capacity) + " flows (" + std::to_string(percent) + "%); " +
                             (ri->plan.flow_table.lru ? "new flows soon evict bypassed ones"
                                                      : "new flows will soon be refused and stay with the IDS");
            d.hint = "raise flow-table size (each flow takes about 330 bytes with 2 CPUs), or lower "
                     "flow-table timeout so that idle flows leave sooner";
            log_warning("bypass", d.to_text());
        } else if (percent < 70) {
            ri->fill_warned = false;
        }
    }
    return st;
}

namespace {

// The flow table of an interface this session runs a built-in program on.
Result<datapath::FlowTable> table_of(const std::vector<RunningInterface>& interfaces, const std::string& interface) {
    for (const auto& ri : interfaces) {
        if (ri.plan.interface != interface) continue;
        if (!ri.program) return Error{EOPNOTSUPP, interface + " runs no built-in bypass program"};
        return ri.program->flow_table();
    }
    return Error{ENOENT, "interface " + interface + " is not run by this session"};
}

}  // namespace

Result<Session::FlowCounts> Session::flow_counts(const std::string& interface, const datapath::FlowKey& key) const {
    std::shared_lock live(live_mu_);
    auto table = table_of(interfaces_, interface);
    if (!table) return table.error();
    FlowCounts c{table->lookup(key), table->lookup(datapath::reverse_flow_key(key))};
    if (!c.forward && !c.reverse) return Error{ENOENT, datapath::flow_key_to_string(key) + " is not bypassed"};
    return c;
}

Status Session::unbypass_flow(const std::string& interface, const datapath::FlowKey& key) {
    if (auto c = flow_counts(interface, key); !c) return c.error();
    std::shared_lock live(live_mu_);
    auto table = table_of(interfaces_, interface);
    if (!table) return table.error();
    return table->remove(key);
}

Result<std::vector<ExpiredFlow>> Session::expire_idle(uint64_t now_ns) {
    std::shared_lock live(live_mu_);
    std::vector<ExpiredFlow> out;
    for (auto& ri : interfaces_) {
        if (!ri.program) continue;
        uint64_t timeout_ns = static_cast<uint64_t>(ri.plan.flow_table.timeout) * 1000000000ull;
        // A flow is idle only when both directions are: a SPAN port may see one side alone.
        auto expired = ri.program->flow_table().expire(now_ns, timeout_ns);
        if (!expired) return Error{expired.error().code, ri.plan.interface + ": " + expired.error().message};
        for (auto& e : *expired) {
            ExpiredFlow x;
            static_cast<datapath::ExpiredFlow&>(x) = e;
            x.interface = ri.plan.interface;
            out.push_back(std::move(x));
        }
    }
    return out;
}

Status Session::renew_leases() {
    std::shared_lock live(live_mu_);
    for (auto& ri : interfaces_) {
        // The Suricata mode's lease is renewed only while its Suricata lives (check_suricata).
        if (ri.suricata && ri.peer.pid) {
            if (auto st = ri.suricata->renew_lease(kLeaseSeconds); !st)
                return Error{st.error().code, ri.plan.interface + ": " + st.error().message};
        }
        if (!ri.program) continue;
        if (auto st = ri.program->renew_lease(kLeaseSeconds); !st)
            return Error{st.error().code, ri.plan.interface + ": " + st.error().message};
    }
    return {};
}

Status Session::verify() const {
    std::shared_lock live(live_mu_);
    if (auto st = attachments_.verify_all(); !st) return st;
    // An IPS peer that went away: the built-in programs stop forwarding to it (check_links, XB6010)
    // and hits go to the stack; a custom program cannot be told, so its run stops.
    for (const auto& ri : interfaces_) {
        if (ri.plan.ips_peer_ifindex <= 0 || ri.program) continue;
        char name[IF_NAMESIZE] = {};
        if (!if_indextoname(static_cast<unsigned>(ri.plan.ips_peer_ifindex), name))
            return Error{ENODEV, ri.plan.interface + ": the IPS peer " + ri.plan.ips_peer + " (ifindex " +
                                     std::to_string(ri.plan.ips_peer_ifindex) +
                                     ") is gone; bypassed frames cannot be forwarded"};
    }
    return {};
}

Status Session::peer_changed(RunningInterface& ri, const monitor::LinkEvent& e, Diagnostics& diags) {
    const std::string& peer = ri.plan.ips_peer;
    if (!e.can_receive) {
        if (ri.peer_down) return {};
        // Stop first, then say so: no frame is redirected into a device that drops it.
        if (auto st = ri.program->set_ips_peer(0); !st)
            return Error{st.error().code, ri.plan.interface + ": " + st.error().message};
        ri.peer_down = true;
        report(diags, Severity::Warning, "XB6010",
               ri.plan.interface + ": the IPS peer " + peer + " " +
                   (e.gone ? "disappeared or moved to another network namespace" : "went down") +
                   "; bypassed frames now go to the stack and the engine instead of being forwarded",
               "bring " + peer + " back up (ip link set " + peer + " up) in this namespace; forwarding resumes by itself");
        return {};
    }
    if (!ri.peer_down) return {};
    if (auto st = ri.program->set_ips_peer(e.ifindex); !st)
        return Error{st.error().code, ri.plan.interface + ": " + st.error().message};
    ri.peer_down = false;
    ri.plan.ips_peer_ifindex = e.ifindex;
    report(diags, Severity::Info, "XB6011",
           ri.plan.interface + ": the IPS peer " + peer + " (ifindex " + std::to_string(e.ifindex) +
               ") can receive again; forwarding bypassed frames resumed",
           "");
    return {};
}

Status Session::on_link_events(const std::vector<monitor::LinkEvent>& events, Diagnostics& diags) {
    Status result;
    for (const auto& e : events) {
        for (auto& ri : interfaces_) {
            if (ri.plan.datapath == plan::Datapath::None) continue;
            // The peer by ifindex, or by name when it comes back (a device moved back may get another ifindex).
            bool is_peer = ri.program && ri.plan.ips_peer_ifindex > 0 &&
                           (e.ifindex == ri.plan.ips_peer_ifindex || (ri.peer_down && !e.gone && e.name == ri.plan.ips_peer));
            if (is_peer) {
                if (auto st = peer_changed(ri, e, diags); !st && result) result = st;
                continue;
            }
            if (e.ifindex != ri.plan.ifindex) continue;
            if (e.gone) {
                report(diags, Severity::Error, "XB6012",
                       ri.plan.interface + ": the capture interface disappeared or moved to another network namespace",
                       "the datapath went with it; start the run again once the interface is back");
                if (result) result = Error{ENODEV, ri.plan.interface + " is gone (the interface was deleted or moved to another namespace)"};
            } else if (!e.can_receive && !ri.capture_down) {
                ri.capture_down = true;
                report(diags, Severity::Warning, "XB6013",
                       ri.plan.interface + ": the capture interface went down; nothing is captured or bypassed until it is up",
                       "bring it up (ip link set " + ri.plan.interface + " up)");
            } else if (e.can_receive && ri.capture_down) {
                ri.capture_down = false;
                report(diags, Severity::Info, "XB6014", ri.plan.interface + ": the capture interface is up again", "");
            }
        }
    }
    return result;
}

Status Session::check_links(Diagnostics& diags) {
    std::vector<monitor::LinkEvent> now;
    for (const auto& ri : interfaces_) {
        if (ri.plan.datapath == plan::Datapath::None) continue;
        now.push_back(monitor::link_state(ri.plan.ifindex));
        if (ri.program && ri.plan.ips_peer_ifindex > 0) {
            monitor::LinkEvent e = monitor::link_state(ri.plan.ips_peer_ifindex);
            if (ri.peer_down && e.gone) {  // back under another ifindex?
                unsigned idx = if_nametoindex(ri.plan.ips_peer.c_str());
                if (idx) e = monitor::link_state(static_cast<int>(idx));
            }
            now.push_back(e);
        }
    }
    return on_link_events(now, diags);
}

namespace {

// Options for a program of another shape (no cpu redirect, or tc) that runs on `p`'s flow table
// and counters: its options with those maps reused.
datapath::ProgramOptions sharing_maps_of(const datapath::BypassProgram& p, datapath::ProgramOptions o) {
    o.reuse_maps.clear();
    for (const auto& spec : datapath::pinnable_maps(o)) {
        int fd = p.map_fd(spec.name);
        if (fd >= 0) o.reuse_maps[spec.name] = fd;
    }
    return o;
}

// What the running program was told after its load, told to `next` too: the lease, a peer that
// went down.
void carry_run_state(const datapath::BypassProgram& from, datapath::BypassProgram& next, bool peer_down) {
    if (auto until = from.lease_until(); until && *until) (void)next.set_lease_until(*until);
    if (peer_down) (void)next.set_ips_peer(0);
}

// The same program's tc variant at tc ingress of the interface, on the same maps, while native XDP
// gives way to generic: frames meet tc ingress when no XDP program runs, so the bypassed flows stay
// bypassed in the window between the detach and the attach. Empty, with `why`, when it cannot be.
struct WindowCover {
    std::optional<datapath::BypassProgram> program;
    std::optional<datapath::TcAttachment> filter;
};
WindowCover cover_window(const datapath::BypassProgram& running, int ifindex, int peer_ifindex, bool peer_down,
                         std::string& why) {
    WindowCover c;
    datapath::ProgramOptions o = running.options();
    o.datapath = datapath::Hook::Tc;
    if (o.ips_peer_ifindex > 0) o.ips_peer_ifindex = peer_ifindex;  // it may have come back renumbered
    o.cpu_redirect.clear();  // tc has no cpumap or AF_XDP socket to hand misses to: they go to the stack
    o.xsk_queues = 0;
    o = sharing_maps_of(running, std::move(o));
    Diagnostics load_diags;
    auto p = datapath::BypassProgram::load(o, load_diags);
    if (!p) {
        why = "its tc program could not be loaded: " + p.error().message;
        return c;
    }
    carry_run_state(running, *p, peer_down);
    auto filter = datapath::TcAttachment::attach(ifindex, p->prog_fd(), datapath::TcDirection::Ingress);
    if (!filter) {
        why = "its tc filter could not be attached: " + filter.error().message;
        return c;
    }
    c.program = std::move(p).value();
    c.filter = std::move(filter).value();
    return c;
}

}  // namespace

Status Session::degrade(RunningInterface& ri, const monitor::Finding& f, Diagnostics& diags) {
    auto cannot = [&](const std::string& why) {
        report(diags, Severity::Warning, "XB6023",
               ri.plan.interface + ": " + f.cause + "; on-runtime-error: degrade has no program to swap to: " + why,
               "check the driver and the cpu-redirect list; set on-runtime-error: stop to stop the run instead");
        return Status{};
    };
    auto* att = attachments_.find(ri.plan.ifindex);
    if (!att || std::holds_alternative<datapath::DispatcherAttachment>(*att))
        return cannot("the program runs in the libxdp dispatcher, which cannot swap it atomically");
    if (f.fault != monitor::Fault::CpuRedirectFailing) {
        // Frames failing in the native driver (aborts, devmap/xskmap transmit errors): the same
        // program in generic mode, where redirects take the skb path. The kernel refuses native and
        // generic XDP on one device at once ("Native and generic XDP can't be active at the same
        // time"), so there is no atomic swap: change_mode prepares everything first (the same program
        // fd, hence the same maps, flow table and counters) and then detaches and attaches back to
        // back. Frames in that window meet no program and go to the stack (fail-open, see
        // doc/datapath.md for what was measured).
        auto* xdp = std::get_if<datapath::XdpAttachment>(att);
        if (!xdp || xdp->mode() != datapath::XdpMode::Native)
            return cannot(std::string(monitor::fault_name(f.fault)) + " in " +
                          (xdp ? "generic XDP" : "tc") + ": there is no slower program to swap to");
        std::string uncovered;
        WindowCover cover = cover_window(*ri.program, ri.plan.ifindex, ri.plan.ips_peer_ifindex, ri.peer_down, uncovered);
        datapath::XdpAttachment::ModeChangeTiming t;
        Status changed = xdp->change_mode(ri.program->prog_fd(), datapath::XdpMode::Generic, &t);
        // Generic XDP runs before tc ingress: from here the cover sees only what XDP passed.
        std::string cover_left;
        if (cover.filter) (void)cover.filter->detach(&cover_left);
        if (!cover_left.empty())
            report(diags, Severity::Warning, "XB5022", ri.plan.interface + ": " + cover_left,
                   "another tool replaced the tc filter that covered the degrade; remove it by hand if it is not wanted");
        if (!changed) return cannot("generic XDP cannot be attached: " + changed.error().message);
        ri.plan.datapath = plan::Datapath::XdpGeneric;
        ri.degraded_from = "xdp-native";
        ri.degrade_window_ns = t.window_ns();
        ri.degrade_window_covered = cover.filter.has_value();
        char us[96];
        std::snprintf(us, sizeof us, "%.1f µs (detach %.1f, attach %.1f)", static_cast<double>(t.window_ns()) / 1000.0,
                      static_cast<double>(t.detach_ns) / 1000.0, static_cast<double>(t.attach_ns) / 1000.0);
        const std::string window =
            cover.filter ? "; the kernel cannot run both modes at once: for the " + std::string(us) +
                               " of one detach and one attach the same program ran at tc ingress, so the bypassed "
                               "flows stayed bypassed while other frames reached the stack, not the capture"
                         : "; the kernel cannot run both modes at once, so for the " + std::string(us) +
                               " of one detach and one attach frames reached the stack unbypassed (no tc cover: " +
                               uncovered + ")";
        report(diags, Severity::Warning, "XB6024",
               ri.plan.interface + ": " + f.cause + "; degraded " + ri.plan.program +
                   " from native to generic XDP (same program, flow table and counters)" + window,
               "find why the driver fails (xdp-features of the peer, its GRO or XDP program for veth); restart the "
               "run to use native XDP again");
        return {};
    }
    // The same program without cpu redirect, on the same flow table and counters.
    datapath::ProgramOptions o = ri.program->options();
    o.cpu_redirect.clear();
    if (o.ips_peer_ifindex > 0) o.ips_peer_ifindex = ri.plan.ips_peer_ifindex;  // it may have come back renumbered
    o = sharing_maps_of(*ri.program, std::move(o));
    Diagnostics load_diags;
    auto next = datapath::BypassProgram::load(o, load_diags);
    if (!next) return cannot("loading the program without cpu redirect failed: " + next.error().message);
    carry_run_state(*ri.program, *next, ri.peer_down);
    Status swapped = std::visit(
        [&](auto& a) -> Status {
            if constexpr (std::is_same_v<std::decay_t<decltype(a)>, datapath::DispatcherAttachment>) return Error{EOPNOTSUPP, ""};
            else return a.replace_program(next->prog_fd());
        },
        *att);
    if (!swapped) return cannot(swapped.error().message);
    std::string from(ri.program->program_name());
    retire(std::move(ri.program));
    ri.program = std::make_unique<datapath::BypassProgram>(std::move(next).value());
    ri.degraded_from = from;
    ri.plan.program = std::string(ri.program->program_name());
    ri.plan.cpus.clear();
    if (monitor_) (void)monitor_->set_cpumap(ri.plan.ifindex, 0);
    report(diags, Severity::Warning, "XB6020",
           ri.plan.interface + ": " + f.cause + "; degraded from " + from + " to " + ri.plan.program +
               " (swapped atomically, flow table and counters kept): misses now go to the stack on the receiving CPU",
           "find why the cpumap redirect fails (a CPU taken offline, its cpumap entry removed, xdp_redirect_err in "
           "the exception counts); restart the run to use cpu redirect again");
    return {};
}

Status Session::check_health(Diagnostics& diags) {
    // Exclusive: a degrade replaces programs the engine's threads may be using (bypass, counts).
    std::unique_lock live(live_mu_);
    // Without the monitor only what the program's counters and maps show is seen (an emptied cpumap).
    for (auto& ri : interfaces_) {
        if (!ri.program || ri.bypass_stopped) continue;
        monitor::HealthSample now = sample(ri);
        monitor::Finding f = monitor::assess_health(ri.health, now);
        ri.health = now;
        if (f.fault == monitor::Fault::None) continue;
        switch (ri.plan.on_runtime_error) {
            case config::OnRuntimeError::Warn:
                report(diags, Severity::Warning, "XB6022", ri.plan.interface + ": " + f.cause + " (on-runtime-error: warn)",
                       "see the exception counts in the stats; on-runtime-error: degrade or stop acts on them");
                break;
            case config::OnRuntimeError::Stop: {
                // Bypass off everywhere: what runs no longer works as planned.
                std::vector<std::string> theirs;
                for (const auto& e : attachments_.rollback(&theirs))
                    report(diags, Severity::Warning, "XB5021", "cannot detach: " + e.message,
                           "remove it by hand (ip link set dev IFACE xdp off, or tc filter del dev IFACE ingress "
                           "pref 22594 handle 0x5842 bpf)");
                for (auto& t : theirs) log_left_theirs(t);
                for (auto& other : interfaces_) other.bypass_stopped = true;
                report(diags, Severity::Error, "XB6021",
                       ri.plan.interface + ": " + f.cause + "; on-runtime-error: stop detached every bypass program",
                       "find the cause in the exception counts; with the plugin, capture keeps running without bypass "
                       "until the engine restarts");
                return Error{EIO, ri.plan.interface + ": " + f.cause};
            }
            case config::OnRuntimeError::Degrade:
                if (auto st = degrade(ri, f, diags); !st) return st;
                ri.health = sample(ri);
                break;
        }
    }
    return {};
}

std::string Session::stats_text() const {
    std::shared_lock live(live_mu_);
    std::string out;
    for (const auto& ri : interfaces_) {
        if (ri.suricata) {
            auto c = ri.suricata->read_counters();
            out += ri.plan.interface + ":";
            if (c)
                for (int i = 0; i < XB_CNT_MAX; ++i)
                    out += " " + std::string(datapath::counter_name(static_cast<xb_counter>(i))) + "=" + std::to_string(c->value[i]);
            auto t = ri.suricata->tables();
            out += " suricata-pid=" + std::to_string(ri.peer.pid);
            if (t)
                out += " suricata-entries-v4=" + std::to_string(t->v4_entries) + " suricata-entries-v6=" +
                       std::to_string(t->v6_entries) + " suricata-packets=" + std::to_string(t->packets) +
                       " suricata-bytes=" + std::to_string(t->bytes);
            out += "\n";
            continue;
        }
        if (!ri.program) continue;
        auto c = ri.program->read_counters();
        out += ri.plan.interface + ":";
        if (!c) {
            out += " counters unavailable (" + c.error().message + ")\n";
            continue;
        }
        for (int i = 0; i < XB_CNT_MAX; ++i)
            out += " " + std::string(datapath::counter_name(static_cast<xb_counter>(i))) + "=" + std::to_string(c->value[i]);
        // Entries in the flow table (each direction of a flow is one), flows, and what the table did.
        auto table = ri.program->flow_table();
        if (auto o = table.occupancy())
            out += " flow-entries=" + std::to_string(o->flows) + " flows=" + std::to_string(o->flow_units) +
                   " flow-capacity=" + std::to_string(o->capacity);
        auto n = table.counts();
        out += " flows-accepted=" + std::to_string(n.accepted) + " flows-refused=" + std::to_string(n.refused) +
               " flows-evicted=" + std::to_string(n.evicted) + " flows-expired=" + std::to_string(n.expired);
        if (expiry_->enabled()) {
            // Expiry events for the engine: queued, and dropped because the engine did not take them.
            auto q = expiry_->counts(ri.plan.interface);
            out += " expiry-events=" + std::to_string(q.queued) + " expiry-events-dropped=" + std::to_string(q.dropped);
        }
        if (auto e = exceptions(ri.plan.interface)) {
            out += " exceptions:";
            for (size_t i = 0; i < monitor::kEventCount; ++i)
                out += " " + std::string(monitor::event_name(static_cast<monitor::Event>(i))) + "=" + std::to_string(e->value[i]);
        }
        out += "\n";
    }
    return out;
}

std::string Session::stats_json() const {
    std::shared_lock live(live_mu_);
    JsonWriter w;
    char stamp[40];
    time_t now = time(nullptr);
    tm t{};
    localtime_r(&now, &t);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S%z", &t);
    w.begin_object().field("timestamp", stamp).field("event_type", "stats").key("xbypass").begin_object();
    for (const auto& ri : interfaces_) {
        if (ri.suricata) {
            auto c = ri.suricata->read_counters();
            auto t = ri.suricata->tables();
            if (!c) continue;
            w.key(ri.plan.interface).begin_object().field("datapath", plan::datapath_name(ri.plan.datapath));
            for (int i = 0; i < XB_CNT_MAX; ++i) w.field(datapath::counter_name(static_cast<xb_counter>(i)), c->value[i]);
            w.key("suricata").begin_object().field("pid", static_cast<uint64_t>(ri.peer.pid));
            if (t)
                w.field("entries-v4", static_cast<uint64_t>(t->v4_entries))
                    .field("entries-v6", static_cast<uint64_t>(t->v6_entries))
                    .field("packets", t->packets)
                    .field("bytes", t->bytes);
            w.end_object().end_object();
            continue;
        }
        if (!ri.program) continue;
        auto c = ri.program->read_counters();
        if (!c) continue;
        w.key(ri.plan.interface).begin_object().field("datapath", plan::datapath_name(ri.plan.datapath));
        for (int i = 0; i < XB_CNT_MAX; ++i) w.field(datapath::counter_name(static_cast<xb_counter>(i)), c->value[i]);
        auto table = ri.program->flow_table();
        if (auto o = table.occupancy()) {
            w.field("flow-entries", static_cast<uint64_t>(o->flows));
            w.field("flows", static_cast<uint64_t>(o->flow_units));
            w.field("flow-capacity", static_cast<uint64_t>(o->capacity));
        }
        auto n = table.counts();
        w.field("flows-accepted", n.accepted).field("flows-refused", n.refused).field("flows-evicted", n.evicted)
            .field("flows-expired", n.expired);
        if (expiry_->enabled()) {
            auto q = expiry_->counts(ri.plan.interface);
            w.field("expiry-events", q.queued).field("expiry-events-dropped", q.dropped);
        }
        if (auto e = exceptions(ri.plan.interface)) {
            w.key("exceptions").begin_object();
            for (size_t i = 0; i < monitor::kEventCount; ++i)
                w.field(monitor::event_name(static_cast<monitor::Event>(i)), e->value[i]);
            w.end_object();
        }
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

namespace {
constexpr uint64_t kRetiredSeconds = 3;
uint64_t monotonic_s() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<uint64_t>(t.tv_sec);
}
}  // namespace

void Session::retire(std::unique_ptr<datapath::BypassProgram> program) {
    if (!program || program->map_fd("xb_cpu_map") < 0) return;  // nothing of it queued in the kernel
    retired_.push_back(Retired{monotonic_s() + kRetiredSeconds, std::move(program)});
}

void Session::release_retired() {
    std::unique_lock live(live_mu_);
    const uint64_t now = monotonic_s();
    std::erase_if(retired_, [now](const Retired& r) { return r.until_s <= now; });
}

}  // namespace xb::session
