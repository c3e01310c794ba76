#include "session/reload.h"

#include <bpf/libbpf.h>

#include <algorithm>

#include "common/log.h"
#include "config/check.h"
#include "session/startup.h"

namespace xb::session {

std::string_view reload_kind_name(ReloadOutcome::Kind k) {
    switch (k) {
        case ReloadOutcome::Kind::Applied: return "applied";
        case ReloadOutcome::Kind::Unchanged: return "unchanged";
        case ReloadOutcome::Kind::Refused: return "refused";
        case ReloadOutcome::Kind::RestartNeeded: return "restart-needed";
        case ReloadOutcome::Kind::Failed: return "failed";
    }
    return "?";
}

std::vector<std::string> global_restart_reasons(const config::GlobalConfig& now, const config::GlobalConfig& next) {
    std::vector<std::string> out;
    auto cmp = [&](bool differ, const char* key) {
        if (differ) out.push_back(std::string(key) + " changes");
    };
    cmp(now.log_file != next.log_file, "log-file");
    cmp(now.stats_interval != next.stats_interval, "stats-interval");
    cmp(now.pin_path != next.pin_path, "pin-path");
    cmp(now.eve_log != next.eve_log, "eve-log");
    return out;
}

std::vector<std::string> restart_reasons(const plan::InterfacePlan& a, const plan::InterfacePlan& b) {
    std::vector<std::string> out;
    if (a.ifindex != b.ifindex) out.push_back("the interface was re-created (ifindex " + std::to_string(a.ifindex) + " → " +
                                              std::to_string(b.ifindex) + ")");
    if (a.datapath != b.datapath)
        out.push_back("the datapath changes from " + std::string(plan::datapath_name(a.datapath)) + " to " +
                      std::string(plan::datapath_name(b.datapath)) + " (another hook cannot be swapped atomically)");
    if (a.custom != b.custom || (a.custom && a.program != b.program)) out.push_back("custom-program changes");
    if (a.flow_table.size != b.flow_table.size)
        out.push_back("flow-table size changes from " + std::to_string(a.flow_table.size) + " to " +
                      std::to_string(b.flow_table.size) + " (the table's layout)");
    if (a.flow_table.percpu != b.flow_table.percpu) out.push_back("flow-table percpu changes (the table's layout)");
    if (a.flow_table.lru != b.flow_table.lru) out.push_back("flow-table lru changes (the table's layout)");
    if (a.pinned_maps != b.pinned_maps || a.pin_dir != b.pin_dir) out.push_back("pinned-maps changes");
    if (a.multiprog != b.multiprog) out.push_back("coexist changes between multiprog and not");
    else if (a.multiprog && a.program != b.program)
        out.push_back("the program changes, and a program in the libxdp dispatcher cannot be swapped atomically");
    if (a.capture.method != b.capture.method || a.capture.threads != b.capture.threads)
        out.push_back("the capture (method or threads) changes");
    return out;
}

namespace {

bool same_program(const datapath::ProgramOptions& a, const datapath::ProgramOptions& b, const plan::InterfacePlan& pa,
                  const plan::InterfacePlan& pb) {
    return pa.program == pb.program && a.datapath == b.datapath && a.vlan_tracking == b.vlan_tracking &&
           a.cpu_redirect == b.cpu_redirect && a.ips_peer_ifindex == b.ips_peer_ifindex && a.xsk_queues == b.xsk_queues;
}

}  // namespace

std::set<uint32_t> Session::own_programs() const {
    std::shared_lock live(live_mu_);
    std::set<uint32_t> out;
    for (const auto& ri : interfaces_) {
        int fd = ri.program ? ri.program->prog_fd() : -1;
        if (fd < 0 && ri.custom_object) {
            bpf_program* prog;
            bpf_object__for_each_program(prog, ri.custom_object.get()) {
                if (bpf_program__fd(prog) >= 0) fd = bpf_program__fd(prog);
            }
        }
        if (fd < 0) continue;
        if (auto id = datapath::prog_id_of(fd)) out.insert(*id);
    }
    return out;
}

Status Session::apply(const Assessment& next, bool allow_interface_changes, Diagnostics& diags,
                      std::vector<std::string>& changes) {
    std::unique_lock live(live_mu_);
    struct Swap {
        RunningInterface* ri;
        const plan::InterfacePlan* plan;
        std::unique_ptr<datapath::BypassProgram> program;
        bool swapped = false;
    };
    std::vector<Swap> swaps;
    std::vector<std::pair<RunningInterface*, const plan::InterfacePlan*>> plan_only;
    Assessment added = next;
    added.plan.interfaces.clear();
    added.diagnostics = {};
    std::vector<std::string> removed;
    bool restart = false;
    for (const auto& p : next.plan.interfaces) {
        RunningInterface* ri = find(p.interface);
        if (!ri) {
            if (p.datapath != plan::Datapath::None) added.plan.interfaces.push_back(p);
            continue;
        }
        auto reasons = restart_reasons(ri->plan, p);
        // An engine's capture handles forward to the IPS peer they were opened with.
        if (!allow_interface_changes && ri->plan.ips_peer != p.ips_peer)
            reasons.push_back("ips-peer changes from '" + ri->plan.ips_peer + "' to '" + p.ips_peer +
                              "' while an engine captures");
        for (const auto& r : reasons)
            diags.error("XB8102", p.interface + ": " + r + ", which cannot change while running",
                        "restart xbypass to apply it; the running configuration is kept unchanged");
        if (!reasons.empty()) {
            restart = true;
            continue;
        }
        if (p.datapath == plan::Datapath::None || p.custom) {
            plan_only.emplace_back(ri, &p);
            continue;
        }
        auto now_o = program_options(ri->plan), next_o = program_options(p);
        if (ri->program && !same_program(now_o, next_o, ri->plan, p)) swaps.push_back({ri, &p, nullptr});
        else plan_only.emplace_back(ri, &p);
    }
    for (const auto& ri : interfaces_) {
        bool kept = std::any_of(next.plan.interfaces.begin(), next.plan.interfaces.end(),
                                [&](const auto& p) { return p.interface == ri.plan.interface; });
        if (!kept) removed.push_back(ri.plan.interface);
    }
    if (!allow_interface_changes) {
        for (const auto& p : added.plan.interfaces)
            diags.error("XB8102", p.interface + ": the interface is added, which cannot change while an engine captures",
                        "restart the engine to add it; the running configuration is kept unchanged");
        for (const auto& name : removed)
            diags.error("XB8102", name + ": the interface is removed, which cannot change while an engine captures",
                        "restart the engine to remove it; the running configuration is kept unchanged");
        restart |= !added.plan.interfaces.empty() || !removed.empty();
    }
    if (restart) return Error{EBUSY, "the new configuration needs a restart"};

    auto failed = [&](const std::string& what) {
        diags.error("XB8103", what, "the running datapath was kept as it was; fix the cause and reload again");
        return Error{EIO, what};
    };
    // Load every new program before anything changes; the flow table and counters are the old ones.
    for (auto& sw : swaps) {
        datapath::ProgramOptions o = program_options(*sw.plan);
        const auto& old = *sw.ri->program;
        auto old_specs = datapath::pinnable_maps(old.options());
        for (const auto& spec : datapath::pinnable_maps(o)) {
            auto same = std::find_if(old_specs.begin(), old_specs.end(), [&](const datapath::MapSpec& s) {
                return s.name == spec.name && s.type == spec.type && s.key_size == spec.key_size &&
                       s.value_size == spec.value_size && s.max_entries == spec.max_entries && s.flags == spec.flags;
            });
            if (same != old_specs.end() && old.map_fd(spec.name) >= 0) o.reuse_maps[spec.name] = old.map_fd(spec.name);
        }
        // The AF_XDP sockets of the engine's receivers stay where they are.
        if (o.xsk_queues && o.xsk_queues == old.options().xsk_queues && old.map_fd("xb_xsk_map") >= 0)
            o.reuse_maps["xb_xsk_map"] = old.map_fd("xb_xsk_map");
        if (!o.reuse_maps.count("xb_flow_slots"))
            return failed(sw.plan->interface + ": the flow table of the running program cannot be carried over");
        auto prog = datapath::BypassProgram::load(o, diags);
        if (!prog) return failed(sw.plan->interface + ": cannot load " + sw.plan->program + ": " + prog.error().message);
        sw.program = std::make_unique<datapath::BypassProgram>(std::move(prog).value());
    }
    std::unique_ptr<Session> started;
    if (!added.plan.interfaces.empty()) {
        started = Session::start(added, diags);
        if (!started) return failed("cannot attach the added interfaces; they were rolled back");
    }
    // The swaps: each one atomic; on a failure the ones done are swapped back.
    for (auto& sw : swaps) {
        int ifindex = sw.ri->plan.ifindex;
        if (auto st = attachments_.replace_program(ifindex, sw.program->prog_fd()); !st) {
            for (auto& done : swaps) {
                if (!done.swapped) continue;
                (void)attachments_.replace_program(done.ri->plan.ifindex, done.ri->program->prog_fd());
            }
            return failed(sw.plan->interface + ": cannot swap the program: " + st.error().message);
        }
        sw.swapped = true;
    }
    for (auto& sw : swaps) {
        changes.push_back(sw.plan->interface + ": " + std::string(sw.ri->program->program_name()) + " → " +
                          sw.plan->program + " (swapped atomically; the flow table and counters are kept)");
        retire(std::move(sw.ri->program));       // freed a little later: its cpumap's queues drain first
        sw.ri->program = std::move(sw.program);  // its other maps live on in the new one
        sw.ri->plan = *sw.plan;
        // The new program's cpumap (a new map, or none) is the one whose drops the monitor counts.
        if (monitor_)
            (void)monitor_->set_cpumap(sw.ri->plan.ifindex, monitor::map_id_of(sw.ri->program->map_fd("xb_cpu_map")));
    }
    for (auto& [ri, p] : plan_only) {
        if (ri->plan.flow_table.timeout != p->flow_table.timeout)
            changes.push_back(p->interface + ": flow-table timeout " + std::to_string(ri->plan.flow_table.timeout) + " → " +
                              std::to_string(p->flow_table.timeout) + " s");
        ri->plan = *p;
    }
    for (const auto& name : removed) {
        RunningInterface* ri = find(name);
        if (ri->plan.datapath != plan::Datapath::None) {
            std::string theirs;
            (void)attachments_.remove(ri->plan.ifindex, &theirs);
            if (!theirs.empty()) log_left_theirs(theirs);
        }
        // RunningInterface moves but does not assign (its lock): rebuild the list without it.
        std::vector<RunningInterface> kept;
        for (auto& r : interfaces_)
            if (r.plan.interface != name) kept.push_back(std::move(r));
        interfaces_.swap(kept);
        changes.push_back(name + ": detached (no longer in the configuration)");
    }
    if (started) {
        for (auto& ri : started->interfaces_) {
            changes.push_back(ri.plan.interface + ": attached " + std::string(plan::datapath_name(ri.plan.datapath)) +
                              (ri.plan.program.empty() ? "" : " running " + ri.plan.program));
            interfaces_.push_back(std::move(ri));
        }
        started->interfaces_.clear();
        attachments_.take(std::move(started->attachments_));
    }
    return {};
}

ReloadOutcome reload(Session& session, const config::Config& running, const ReloadRequest& request) {
    ReloadOutcome out;
    out.config = running;
    log_event(LogLevel::Notice, "main", "XB8110", "reloading " + request.config_file);
    config::CheckReport report = config::run_static_checks(request.config_file);
    out.diagnostics = report.diagnostics;
    auto refuse = [&](ReloadOutcome::Kind kind, std::string code, std::string message, std::string hint) {
        out.kind = kind;
        out.diagnostics.error(std::move(code), message, std::move(hint));
        Diagnostics shown = out.diagnostics;
        shown.sort_by_location();
        for (const auto& d : shown) Logger::instance().log(d, "reload");
        return out;
    };
    if (report.io_error || !report.accepted())
        return refuse(ReloadOutcome::Kind::Refused, "XB8101",
                      "the new configuration " + request.config_file + " is refused; the running one keeps running",
                      "fix what the diagnostics say and reload again");
    config::Config next = report.config;
    if (!request.interface.empty() && !select_interface(next, request.interface, out.diagnostics))
        return refuse(ReloadOutcome::Kind::Refused, "XB8101", "the new configuration has no entry to run", "");
    for (const auto& r : global_restart_reasons(running.global, next.global))
        out.diagnostics.error("XB8102", r + ", which cannot change while running",
                              "restart xbypass to apply it; the running configuration is kept unchanged");
    if (out.diagnostics.has_errors()) {
        out.kind = ReloadOutcome::Kind::RestartNeeded;
        for (const auto& d : out.diagnostics) Logger::instance().log(d, "reload");
        return out;
    }
    AssessOptions ao;
    ao.engine_capture = request.engine_capture;
    ao.own_programs = session.own_programs();
    ao.mount_filesystems = true;  // as at the start
    for (const auto& ri : session.interfaces())
        if (ri.lock) ao.own_interfaces.insert(ri.plan.interface);
    Assessment a = assess(next, ao);
    out.diagnostics.append(a.diagnostics);
    if (!a.accepted())
        return refuse(ReloadOutcome::Kind::Refused, "XB8101",
                      "the new configuration is refused by the plan; the running one keeps running",
                      "fix what the diagnostics say and reload again");
    Diagnostics applying;
    auto st = session.apply(a, request.allow_interface_changes, applying, out.changes);
    out.diagnostics.append(applying);
    for (const auto& d : applying) Logger::instance().log(d, "reload");
    if (!st) {
        out.kind = st.error().code == EBUSY ? ReloadOutcome::Kind::RestartNeeded : ReloadOutcome::Kind::Failed;
        log_event(LogLevel::Error, "main", "XB8113", "reload not applied: " + st.error().message + "; the running configuration is unchanged");
        return out;
    }
    if (running.global.log_level != next.global.log_level) {
        Logger::instance().set_level(next.global.log_level);
        out.changes.push_back("log-level " + std::string(log_level_name(running.global.log_level)) + " → " +
                              std::string(log_level_name(next.global.log_level)));
    }
    out.config = next;
    out.kind = out.changes.empty() ? ReloadOutcome::Kind::Unchanged : ReloadOutcome::Kind::Applied;
    for (const auto& c : out.changes) log_event(LogLevel::Notice, "reload", "XB8112", c);
    log_event(LogLevel::Notice, "main", "XB8111", out.changes.empty() ? "reloaded: nothing to change" : "reloaded");
    return out;
}

}  // namespace xb::session
