// One capture thread's inspection, the same live and offline (xids -r): decode, follow the flow,
// reassemble TCP per direction, match the rules (Hyperscan streams per direction), write alerts,
// and decide what to bypass: a `pass` rule or a rule with `bypass`, stream depth reached both ways
// (stream.bypass), TLS once encrypted (encryption-handling: bypass), UDP after N packets without a
// match. How a bypass is carried out (the plugin, or nothing when reading a capture) is the caller's.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/eve.h"
#include "engine/flow_tracker.h"
#include "engine/rules/matcher.h"
#include "engine/rules/rule.h"
#include "engine/xids_config.h"

namespace xb::engine {

// A frame as received, and what the kernel removed from it.
struct Frame {
    std::span<const uint8_t> data;
    uint32_t wire_len = 0;
    uint64_t ts_ns = 0;  // CLOCK_REALTIME
    const uint16_t* removed_vlans = nullptr;
    uint8_t removed_vlan_count = 0;
    const void* source = nullptr;  // the caller's packet (xb_packet live), handed back to bypass
};

enum class BypassOutcome { Accepted, Refused, Unavailable };

// The kernel's counts of a bypassed flow, by direction of the flow.
struct KernelCounts {
    uint64_t pkts_toserver = 0, bytes_toserver = 0, pkts_toclient = 0, bytes_toclient = 0;
    uint64_t last_change_ns = 0;  // CLOCK_REALTIME when they were last seen to change
};

struct InspectorHooks {
    // Hands the flow of `frame` to the kernel (both directions). `to_server`: the frame's direction.
    std::function<BypassOutcome(const Frame& frame, Flow& flow, bool to_server)> bypass;
    // The kernel's counts of a bypassed flow now, or nullopt when it has none (offline, expired).
    std::function<std::optional<KernelCounts>(Flow& flow)> kernel_counts;
    // A bypassed flow leaves the engine: end its kernel bypass (in_kernel false: the kernel already
    // removed it, only forget it).
    std::function<void(Flow& flow, bool in_kernel)> unbypass;
};

struct InspectorCounters {
    uint64_t packets = 0, bytes = 0, not_decoded = 0, untracked = 0;
    uint64_t flows = 0, alerts = 0;
    uint64_t bypass_requested = 0, bypass_accepted = 0, bypass_refused = 0;
    uint64_t after_bypass = 0;  // packets of a bypassed flow already queued before the bypass
    uint64_t tcp_gaps = 0;
    uint64_t bypass_by_rule = 0, bypass_by_depth = 0, bypass_by_tls = 0, bypass_by_udp = 0;
};

class Inspector {
public:
    Inspector(const XidsConfig& config, const std::vector<Rule>& rules, const Matcher& matcher, EveWriter* eve,
              std::string interface, InspectorHooks hooks);
    ~Inspector();
    Inspector(const Inspector&) = delete;
    Inspector& operator=(const Inspector&) = delete;

    // Inspects one frame; returns false when an IPS should not forward it (a drop rule matched).
    bool process(const Frame& frame);
    // Ends flows whose timeout passed (bypassed ones once the kernel's counts stopped changing).
    void expire(uint64_t now_ns);
    // Ends every flow (shutdown), writing their flow records.
    void finish();
    // The kernel expired bypassed flow `flow_id` (both directions idle): ends it now with the
    // kernel's final counts and last packet time (CLOCK_REALTIME). False when it is not a bypassed
    // flow of this inspector (ended already, or another thread's).
    bool end_expired(uint64_t flow_id, const KernelCounts& final, uint64_t last_seen_ns);

    const InspectorCounters& counters() const { return counters_; }
    size_t active_flows() const;

private:
    struct FlowState;
    FlowState& state_of(Flow& flow);
    void on_rule(Flow& flow, FlowState& st, bool to_server, const Frame& frame, const Decoded& d, size_t rule_index);
    void request_bypass(Flow& flow, FlowState& st, const Frame& frame, bool to_server, const char* reason,
                        uint64_t InspectorCounters::*why);
    void scan_payload(Flow& flow, FlowState& st, bool to_server, const Frame& frame, const Decoded& d,
                      std::span<const uint8_t> bytes, bool per_packet);
    void end_flow(Flow& flow, std::string_view reason, const KernelCounts* final = nullptr);
    void write_alert(const Flow& flow, bool to_server, const Decoded& d, const Rule& rule);

    const XidsConfig& config_;
    const std::vector<Rule>& rules_;
    const Matcher& matcher_;
    EveWriter* eve_;
    std::string interface_;
    InspectorHooks hooks_;
    std::unique_ptr<Matcher::Scratch> scratch_;
    FlowTracker tracker_;
    InspectorCounters counters_;
    std::unordered_map<uint64_t, Flow*> bypassed_;  // by flow id: flows whose kernel counts are polled
};

}  // namespace xb::engine
