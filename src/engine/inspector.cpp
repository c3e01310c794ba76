#include "engine/inspector.h"

#include <netinet/in.h>

#include <algorithm>
#include <set>

#include "common/log.h"

namespace xb::engine {

// The engine's state of one flow, hung on Flow::user.
struct Inspector::FlowState {
    std::unique_ptr<Matcher::Stream> toserver, toclient;  // TCP: one matcher stream per direction
    std::set<size_t> fired;                               // rules that alerted (once per flow)
    bool header_rules_done = false;
    bool alerted = false;
    bool drop = false;          // a drop rule matched: an IPS drops the rest of the flow
    bool bypass_refused = false;  // the kernel's table was full: inspect on, do not ask again
    uint32_t udp_packets_without_match = 0;
    KernelCounts kernel;        // last counts read from the kernel (bypassed flows)
};

namespace {

FlowTracker::Options tracker_options(const XidsConfig& c) {
    FlowTracker::Options o;
    auto conv = [](const ProtoTimeouts& t) {
        return FlowTracker::Timeouts{t.new_s, t.established_s, t.closed_s, t.bypassed_s};
    };
    o.tcp = conv(c.tcp);
    o.udp = conv(c.udp);
    o.icmp = conv(c.icmp);
    o.other = conv(c.other);
    o.max_flows = c.max_flows;
    o.stream.depth = c.stream_depth;
    return o;
}

FlowTuple tuple_of(const Decoded& d) {
    FlowTuple t;
    t.family = d.family;
    t.proto = d.proto;
    t.src = d.src;
    t.dst = d.dst;
    t.sport = d.sport;
    t.dport = d.dport;
    return t;
}

EveCommon common_of(const Flow& f, const std::string& iface, uint64_t ts_ns) {
    EveCommon c;
    c.ts_ns = ts_ns;
    c.flow_id = f.flow_id;
    c.in_iface = iface;
    c.family = f.family;
    c.proto = f.proto;
    c.src = f.src;
    c.dst = f.dst;
    c.sport = f.sport;
    c.dport = f.dport;
    c.vlan[0] = f.vlan[0];
    c.vlan[1] = f.vlan[1];
    c.vlan_count = f.vlan_count;
    if (f.tls.verdict() == TlsState::Verdict::Tls) c.app_proto = "tls";
    return c;
}

}  // namespace

Inspector::Inspector(const XidsConfig& config, const std::vector<Rule>& rules, const Matcher& matcher, EveWriter* eve,
                     std::string interface, InspectorHooks hooks)
    : config_(config),
      rules_(rules),
      matcher_(matcher),
      eve_(eve),
      interface_(std::move(interface)),
      hooks_(std::move(hooks)),
      scratch_(matcher.make_scratch()),
      tracker_(tracker_options(config), [this](Flow& f, std::string_view reason) { end_flow(f, reason); }) {}

Inspector::~Inspector() { finish(); }

size_t Inspector::active_flows() const { return tracker_.size(); }

Inspector::FlowState& Inspector::state_of(Flow& flow) {
    if (!flow.user) {
        flow.user = new FlowState;
        ++counters_.flows;
    }
    return *static_cast<FlowState*>(flow.user);
}

bool Inspector::process(const Frame& frame) {
    ++counters_.packets;
    counters_.bytes += frame.wire_len;
    auto decoded = decode_frame(frame.data, frame.removed_vlans, frame.removed_vlan_count);
    if (!decoded) {
        ++counters_.not_decoded;
        return true;
    }
    Decoded& d = *decoded;
    if (frame.wire_len) d.wire_len = frame.wire_len;
    auto [flow, to_server] = tracker_.update(d, frame.ts_ns);
    if (!flow) {
        ++counters_.untracked;
        return true;
    }
    FlowState& st = state_of(*flow);
    if (flow->bypassed) {
        // Queued to user space before the kernel took the flow: expected, counted, not inspected.
        ++counters_.after_bypass;
        return !st.drop;
    }
    auto fire = [&](size_t rule_index) { on_rule(*flow, st, to_server, frame, d, rule_index); };
    if (!st.header_rules_done) {
        st.header_rules_done = true;
        for (size_t i : matcher_.rules_without_content()) fire(i);
    }
    if (flow->bypassed) return !st.drop;

    if (d.proto == IPPROTO_TCP && !d.fragment) {
        TcpStream& stream = to_server ? flow->toserver : flow->toclient;
        uint64_t gaps_before = stream.gaps();
        bool syn = d.tcp_flags & kTcpSyn, fin = d.tcp_flags & kTcpFin;
        stream.add(d.seq, d.payload, syn, fin, [&](std::span<const uint8_t> bytes) {
            if (flow->bypassed) return;
            flow->tls.feed(to_server, bytes);
            scan_payload(*flow, st, to_server, frame, d, bytes, false);
        });
        counters_.tcp_gaps += stream.gaps() - gaps_before;
        if (flow->bypassed) return !st.drop;
        if (config_.stream_bypass && config_.stream_depth && flow->toserver.depth_reached() &&
            flow->toclient.depth_reached())
            request_bypass(*flow, st, frame, to_server, "stream-depth", &InspectorCounters::bypass_by_depth);
        else if (config_.tls == TlsHandling::Bypass && flow->tls.encrypted())
            request_bypass(*flow, st, frame, to_server, "tls-encrypted", &InspectorCounters::bypass_by_tls);
    } else if (!d.payload.empty()) {
        // UDP and ICMP: each datagram is matched on its own (offsets from its first byte).
        bool before = st.alerted;
        scan_payload(*flow, st, to_server, frame, d, d.payload, true);
        if (d.proto == IPPROTO_UDP && !flow->bypassed && config_.udp_bypass_after) {
            st.udp_packets_without_match = st.alerted != before ? 0 : st.udp_packets_without_match + 1;
            if (!st.alerted && st.udp_packets_without_match >= config_.udp_bypass_after)
                request_bypass(*flow, st, frame, to_server, "udp-no-match", &InspectorCounters::bypass_by_udp);
        }
    }
    return !st.drop;
}

void Inspector::scan_payload(Flow& flow, FlowState& st, bool to_server, const Frame& frame, const Decoded& d,
                             std::span<const uint8_t> bytes, bool per_packet) {
    if (!scratch_) return;
    auto on_match = [&](size_t rule_index) { on_rule(flow, st, to_server, frame, d, rule_index); };
    if (per_packet) {
        matcher_.scan_packet(d.proto, bytes, *scratch_, on_match);
        return;
    }
    auto& stream = to_server ? st.toserver : st.toclient;
    if (!stream) stream = matcher_.open_stream();
    if (stream) matcher_.scan(*stream, bytes, *scratch_, on_match);
}

void Inspector::on_rule(Flow& flow, FlowState& st, bool to_server, const Frame& frame, const Decoded& d,
                        size_t rule_index) {
    if (rule_index >= rules_.size() || st.fired.count(rule_index) || flow.bypassed) return;
    const Rule& rule = rules_[rule_index];
    if (!rule.header_matches(tuple_of(d))) return;
    if (rule.flow_to_server && !to_server) return;
    if (rule.flow_to_client && to_server) return;
    if (rule.flow_established && flow.state != Flow::State::Established) return;
    st.fired.insert(rule_index);
    switch (rule.action) {
        case RuleAction::Pass:
            request_bypass(flow, st, frame, to_server, "pass-rule", &InspectorCounters::bypass_by_rule);
            return;
        case RuleAction::Drop:
        case RuleAction::Reject:
            st.drop = true;
            [[fallthrough]];
        case RuleAction::Alert:
            break;
    }
    st.alerted = true;
    ++counters_.alerts;
    write_alert(flow, to_server, d, rule);
    if (rule.bypass) request_bypass(flow, st, frame, to_server, "bypass-rule", &InspectorCounters::bypass_by_rule);
}

void Inspector::write_alert(const Flow& flow, bool to_server, const Decoded& d, const Rule& rule) {
    if (!eve_ || !config_.eve_alert) return;
    AlertRecord r;
    // An alert names the packet's own direction, as Suricata's do.
    r.common = common_of(flow, interface_, flow.last_ts_ns);
    if (!to_server) {
        std::swap(r.common.src, r.common.dst);
        std::swap(r.common.sport, r.common.dport);
    }
    r.common.icmp_type = d.icmp_type;
    r.common.icmp_code = d.icmp_code;
    const auto* st = static_cast<const FlowState*>(flow.user);
    r.blocked = st && st->drop;
    r.signature_id = rule.sid;
    r.rev = rule.rev;
    r.signature = rule.msg;
    r.category = rule.classtype;
    r.severity = rule.priority;
    eve_->alert(r);
}

void Inspector::request_bypass(Flow& flow, FlowState& st, const Frame& frame, bool to_server, const char* reason,
                               uint64_t InspectorCounters::*why) {
    if (flow.bypassed || st.bypass_refused || st.drop) return;
    ++counters_.bypass_requested;
    BypassOutcome out = hooks_.bypass ? hooks_.bypass(frame, flow, to_server) : BypassOutcome::Unavailable;
    if (out == BypassOutcome::Accepted) {
        ++counters_.bypass_accepted;
        ++(counters_.*why);
        tracker_.set_bypassed(flow, reason);
        st.kernel.last_change_ns = frame.ts_ns;
        bypassed_.emplace(flow.flow_id, &flow);
        log_debug("bypass", interface_ + ": flow " + std::to_string(flow.flow_id) + " bypassed (" + reason + ")");
        return;
    }
    // The flow stays inspected: nothing is lost, the engine keeps seeing it.
    if (out == BypassOutcome::Refused) ++counters_.bypass_refused;
    st.bypass_refused = true;
}

void Inspector::expire(uint64_t now_ns) {
    // A bypassed flow is alive while the kernel's counts move: its packets no longer reach us.
    for (auto [id, f] : bypassed_) {
        auto* st = static_cast<FlowState*>(f->user);
        if (!st || !hooks_.kernel_counts) continue;
        auto k = hooks_.kernel_counts(*f);
        if (!k) continue;
        bool moved = k->pkts_toserver != st->kernel.pkts_toserver || k->pkts_toclient != st->kernel.pkts_toclient;
        uint64_t last = st->kernel.last_change_ns;
        st->kernel = *k;
        st->kernel.last_change_ns = moved ? now_ns : last;
        if (moved) f->last_ts_ns = std::max(f->last_ts_ns, now_ns);
    }
    tracker_.expire(now_ns, [this](Flow& f, std::string_view reason) { end_flow(f, reason); });
}

void Inspector::finish() {
    tracker_.flush([this](Flow& f, std::string_view reason) { end_flow(f, reason); });
}

bool Inspector::end_expired(uint64_t flow_id, const KernelCounts& final, uint64_t last_seen_ns) {
    auto it = bypassed_.find(flow_id);
    if (it == bypassed_.end()) return false;
    Flow& flow = *it->second;
    flow.last_ts_ns = std::max(flow.last_ts_ns, last_seen_ns);
    tracker_.end(flow, "timeout", [&](Flow& f, std::string_view reason) { end_flow(f, reason, &final); });
    return true;
}

void Inspector::end_flow(Flow& flow, std::string_view reason, const KernelCounts* final) {
    auto* st = static_cast<FlowState*>(flow.user);
    std::optional<KernelCounts> kernel;
    if (flow.bypassed) {
        // The kernel's final counts when it expired the flow; else read them now, before ending the
        // bypass (or the last ones read, when the kernel no longer has the flow).
        if (final) kernel = *final;
        else if (hooks_.kernel_counts) kernel = hooks_.kernel_counts(flow);
        if (!kernel && st && (st->kernel.pkts_toserver || st->kernel.pkts_toclient)) kernel = st->kernel;
        if (hooks_.unbypass) hooks_.unbypass(flow, final == nullptr);
        bypassed_.erase(flow.flow_id);
    }
    if (eve_ && config_.eve_flow) {
        FlowRecord r;
        r.common = common_of(flow, interface_, flow.last_ts_ns);
        r.pkts_toserver = flow.pkts_toserver;
        r.pkts_toclient = flow.pkts_toclient;
        r.bytes_toserver = flow.bytes_toserver;
        r.bytes_toclient = flow.bytes_toclient;
        r.start_ns = flow.first_ts_ns;
        r.end_ns = flow.last_ts_ns;
        r.state = flow.bypassed ? "bypassed" : std::string(flow_state_name(flow.state));
        r.reason = std::string(reason);
        r.alerted = st && st->alerted;
        if (flow.bypassed) {
            r.bypass = "capture";
            FlowRecord::Counts c;
            if (kernel) {
                c.pkts_toserver = kernel->pkts_toserver, c.bytes_toserver = kernel->bytes_toserver;
                c.pkts_toclient = kernel->pkts_toclient, c.bytes_toclient = kernel->bytes_toclient;
            }
            r.bypassed = c;
        }
        eve_->flow(r);
    }
    if (st) {
        auto ignore = [](size_t) {};
        if (st->toserver && scratch_) matcher_.close_stream(*st->toserver, *scratch_, ignore);
        if (st->toclient && scratch_) matcher_.close_stream(*st->toclient, *scratch_, ignore);
        delete st;
        flow.user = nullptr;
    }
}

}  // namespace xb::engine
