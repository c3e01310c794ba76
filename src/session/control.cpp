#include "session/control.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <ctime>

#include "common/json.h"
#include "datapath/attach.h"
#include "datapath/flow.h"

namespace xb::session {

namespace {

using control::error_reply;
using control::ok_reply;

std::string addr_text(uint8_t family, const void* addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == XB_FAMILY_IPV6 ? AF_INET6 : AF_INET, addr, buf, sizeof buf);
    return buf;
}

datapath::FlowKey to_key(const control::FlowSpec& f) {
    datapath::FlowKey k{};
    k.family = f.family == 6 ? XB_FAMILY_IPV6 : XB_FAMILY_IPV4;
    k.proto = f.proto;
    k.src_port = htons(f.sport);
    k.dst_port = htons(f.dport);
    k.vlan_outer = f.vlan[0];
    k.vlan_inner = f.vlan[1];
    std::memcpy(k.src_addr, f.src, f.family == 6 ? 16 : 4);
    std::memcpy(k.dst_addr, f.dst, f.family == 6 ? 16 : 4);
    return k;
}

bool matches(const control::FlowFilter& f, const datapath::FlowKey& k) {
    if (f.proto && k.proto != f.proto) return false;
    if (f.port >= 0 && ntohs(k.src_port) != f.port && ntohs(k.dst_port) != f.port) return false;
    if (f.has_address) {
        if ((*f.family == 6) != (k.family == XB_FAMILY_IPV6)) return false;
        size_t n = *f.family == 6 ? 16 : 4;
        if (std::memcmp(k.src_addr, f.address, n) != 0 && std::memcmp(k.dst_addr, f.address, n) != 0) return false;
    }
    return true;
}

void flow_key_json(JsonWriter& w, const datapath::FlowKey& k) {
    w.field("proto", control::proto_name(k.proto))
        .field("src", addr_text(k.family, k.src_addr))
        .field("sport", static_cast<unsigned>(ntohs(k.src_port)))
        .field("dst", addr_text(k.family, k.dst_addr))
        .field("dport", static_cast<unsigned>(ntohs(k.dst_port)));
    if (k.vlan_outer || k.vlan_inner) {
        w.key("vlan").begin_array().value(static_cast<unsigned>(k.vlan_outer));
        if (k.vlan_inner) w.value(static_cast<unsigned>(k.vlan_inner));
        w.end_array();
    }
}

// The Suricata mode's pairing: its state, the Suricata's pid and since when, the pins, and what the
// tables hold now.
void suricata_json(JsonWriter& w, const RunningInterface& ri) {
    const SuricataPeer& peer = ri.peer;
    w.key("suricata").begin_object().field("state", peer.state()).field("pid", static_cast<int64_t>(peer.pid));
    if (peer.pid) w.field("process", peer.name);
    if (peer.since) {
        char stamp[40];
        tm t{};
        localtime_r(&peer.since, &t);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S%z", &t);
        w.field("since", stamp).field("since_unix", static_cast<int64_t>(peer.since));
    }
    w.key("pins").begin_array();
    for (const auto& p : peer.pins) w.value(p);
    w.end_array();
    if (auto t = ri.suricata->tables())
        w.field("entries-v4", static_cast<uint64_t>(t->v4_entries))
            .field("entries-v6", static_cast<uint64_t>(t->v6_entries))
            .field("packets", t->packets)
            .field("bytes", t->bytes);
    w.end_object();
}

std::string status_json(ControlContext& ctx, const std::string& only) {
    JsonWriter w;
    w.begin_object().field("pid", static_cast<int64_t>(getpid())).field("mode", ctx.mode).field("config", ctx.config_file ? ctx.config_file() : std::string());
    w.key("interfaces").begin_array();
    std::shared_lock live(ctx.session->live_mutex());
    for (const auto& ri : ctx.session->interfaces()) {
        if (!only.empty() && ri.plan.interface != only) continue;
        w.begin_object()
            .field("name", ri.plan.interface)
            .field("ifindex", ri.plan.ifindex)
            .field("datapath", plan::datapath_name(ri.plan.datapath))
            .field("program", ri.plan.program);
        if (ri.program) {
            if (auto id = datapath::prog_id_of(ri.program->prog_fd())) w.field("prog_id", *id);
            if (auto o = ri.program->flow_table().occupancy()) w.field("flow-entries", static_cast<uint64_t>(o->flows));
        }
        if (ri.suricata) {
            if (auto id = datapath::prog_id_of(ri.suricata->prog_fd())) w.field("prog_id", *id);
            suricata_json(w, ri);
        }
        w.field("pinned", ri.plan.pinned_maps);
        if (ri.plan.pinned_maps) w.field("pin_dir", ri.plan.pin_dir);
        if (!ri.plan.cpus.empty()) {
            w.key("cpu-redirect").begin_array();
            for (unsigned c : ri.plan.cpus) w.value(c);
            w.end_array();
        }
        if (!ri.plan.ips_peer.empty()) w.field("ips-peer", ri.plan.ips_peer);
        w.end_object();
    }
    w.end_array().end_object();
    return w.str();
}

std::string stats_json(ControlContext& ctx, const std::string& only) {
    JsonWriter w;
    w.begin_object().key("interfaces").begin_object();
    std::shared_lock live(ctx.session->live_mutex());
    for (const auto& ri : ctx.session->interfaces()) {
        if (!only.empty() && ri.plan.interface != only) continue;
        if (ri.suricata) {
            // The Suricata mode: its program's counters and what Suricata's two tables hold, under the
            // names of the log's stats lines (doc/suricata.md).
            auto c = ri.suricata->read_counters();
            if (!c) continue;
            w.key(ri.plan.interface).begin_object().field("datapath", plan::datapath_name(ri.plan.datapath));
            for (int i = 0; i < XB_CNT_MAX; ++i) w.field(datapath::counter_name(static_cast<xb_counter>(i)), c->value[i]);
            w.field("suricata-pid", static_cast<uint64_t>(ri.peer.pid));
            if (auto t = ri.suricata->tables())
                w.field("suricata-entries-v4", static_cast<uint64_t>(t->v4_entries))
                    .field("suricata-entries-v6", static_cast<uint64_t>(t->v6_entries))
                    .field("suricata-packets", t->packets)
                    .field("suricata-bytes", t->bytes);
            w.end_object();
            continue;
        }
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

std::string flows_reply(ControlContext& ctx, const control::Request& r) {
    JsonWriter w;
    w.begin_object().key("flows").begin_array();
    size_t n = 0;
    bool truncated = false;
    std::shared_lock live(ctx.session->live_mutex());
    if (!r.filter.interface.empty()) {
        bool known = false;
        for (const auto& ri : ctx.session->interfaces()) known |= ri.plan.interface == r.filter.interface;
        if (!known)
            return error_reply(control::kErrArgument, "interface " + r.filter.interface + " is not run by this xbypass",
                               r.id_json);
    }
    for (const auto& ri : ctx.session->interfaces()) {
        if ((!ri.program && !ri.suricata) || (!r.filter.interface.empty() && ri.plan.interface != r.filter.interface))
            continue;
        // The Suricata mode: the entries Suricata wrote, with the counts the kernel adds to them.
        auto entries = ri.program ? ri.program->flow_table().entries() : ri.suricata->entries(SIZE_MAX);
        if (!entries)
            return error_reply(control::kErrFailed, ri.plan.interface + ": cannot read the flow table: " + entries.error().message,
                               r.id_json);
        for (const auto& e : *entries) {
            if (!matches(r.filter, e.key)) continue;
            if (n >= r.filter.limit) {
                truncated = true;
                break;
            }
            ++n;
            w.begin_object().field("interface", ri.plan.interface);
            flow_key_json(w, e.key);
            w.field("packets", e.stats.packets).field("bytes", e.stats.bytes).field("last_seen_ns", e.stats.last_seen_ns);
            w.end_object();
        }
    }
    w.end_array().field("count", static_cast<uint64_t>(n)).field("truncated", truncated).end_object();
    return ok_reply(w.str(), r.id_json);
}

}  // namespace

std::string reload_json(const ReloadOutcome& o) {
    JsonWriter w;
    w.begin_object().field("outcome", reload_kind_name(o.kind)).key("changes").begin_array();
    for (const auto& c : o.changes) w.value(c);
    w.end_array().key("diagnostics").begin_array();
    for (const auto& d : o.diagnostics) {
        if (d.severity == Severity::Info) continue;
        w.begin_object()
            .field("code", d.code)
            .field("severity", d.severity == Severity::Error ? "error" : "warning")
            .field("message", d.message)
            .field("hint", d.hint)
            .end_object();
    }
    w.end_array().end_object();
    return w.str();
}

std::string handle_control(ControlContext& ctx, const control::Request& r) {
    switch (r.cmd) {
        case control::Command::Status: return ok_reply(status_json(ctx, r.interface), r.id_json);
        case control::Command::Stats: return ok_reply(stats_json(ctx, r.interface), r.id_json);
        case control::Command::Flows: return flows_reply(ctx, r);
        case control::Command::Bypass:
        case control::Command::Unbypass: {
            auto key = to_key(r.flow);
            bool add = r.cmd == control::Command::Bypass;
            auto st = add ? ctx.session->bypass_flow(r.flow.interface, key) : ctx.session->unbypass_flow(r.flow.interface, key);
            if (!st) return error_reply(control::kErrFailed, st.error().message, r.id_json);
            JsonWriter w;
            w.begin_object().field(add ? "bypassed" : "unbypassed", datapath::flow_key_to_string(key)).end_object();
            return ok_reply(w.str(), r.id_json);
        }
        case control::Command::Reload: {
            if (!ctx.reload) return error_reply(control::kErrFailed, "this run cannot reload", r.id_json);
            auto outcome = ctx.reload(r.config);
            std::string body = reload_json(outcome);
            if (outcome.ok()) return ok_reply(body, r.id_json);
            // Refused, restart needed or failed: an error reply whose message says so, with the details.
            std::string code = outcome.kind == ReloadOutcome::Kind::Refused         ? "XB8101"
                               : outcome.kind == ReloadOutcome::Kind::RestartNeeded ? "XB8102"
                                                                                     : "XB8103";
            std::string first;
            for (const auto& d : outcome.diagnostics)
                if (d.severity == Severity::Error) {
                    first = d.code + ": " + d.message;
                    break;
                }
            std::string reply = error_reply(code, "reload " + std::string(reload_kind_name(outcome.kind)) + ": " + first,
                                            r.id_json);
            reply.pop_back();  // the error reply's closing brace: add the details
            return reply + ",\"result\":" + body + "}";
        }
        case control::Command::Shutdown:
            if (!ctx.shutdown)
                return error_reply(control::kErrFailed, "the engine that loaded the plugin decides when it stops", r.id_json);
            ctx.shutdown();
            return ok_reply("{\"stopping\":true}", r.id_json);
    }
    return error_reply(control::kErrUnknown, "unknown command", r.id_json);
}

}  // namespace xb::session
