// The engine's per-thread flow table. A flow is keyed by (family, protocol, addresses, ports, VLAN
// ids) and both directions map to the same Flow. The side that sent the first packet is the client
// (to_server = from it), except that a TCP SYN-ACK seen first comes from the server.
//
// States and timeouts follow Suricata's flow.timeouts: a flow is New until a packet has been seen
// in each direction, then Established; a TCP flow is Closed after an RST or a FIN from each side.
// A bypassed flow (set_bypassed) times out after the `bypassed` timeout, whatever its state.
//
// When max_flows flows are tracked, a new flow evicts the least recently seen one, which ends with
// reason "forced" (through the on_forced callback given to the constructor) and counts in
// evicted_full(): an IDS keeps inspecting new traffic rather than going blind to it.
//
// Expiry costs O(expired flows): flows are kept in per-(protocol, state) lists ordered by their
// last packet, where every flow shares one timeout. Not thread-safe: one tracker per thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "engine/decode.h"
#include "engine/tcp_stream.h"
#include "engine/tls.h"

namespace xb::engine {

struct Flow {
    enum class State : uint8_t { New, Established, Closed };

    uint64_t flow_id = 0;  // non-zero, unique per process
    // The tuple from the client's side.
    uint8_t family = 0, proto = 0;
    std::array<uint8_t, 16> src{}, dst{};
    uint16_t sport = 0, dport = 0;
    uint16_t vlan[2]{};
    uint8_t vlan_count = 0;

    uint64_t first_ts_ns = 0, last_ts_ns = 0;
    uint64_t pkts_toserver = 0, pkts_toclient = 0, bytes_toserver = 0, bytes_toclient = 0;  // wire_len
    State state = State::New;
    bool fin_toserver = false, fin_toclient = false;
    TcpStream toserver, toclient;
    TlsState tls;
    bool bypassed = false;
    std::string bypass_reason;
    void* user = nullptr;  // the engine's per-flow state (matcher streams); released in on_end
};

std::string_view flow_state_name(Flow::State s);  // "new", "established", "closed"

class FlowTracker {
public:
    // Seconds, as in suricata.yaml's flow.timeouts.
    struct Timeouts {
        uint32_t new_flow = 30, established = 300, closed = 0, bypassed = 100;
    };
    struct Options {
        Timeouts tcp{60, 600, 60, 100};
        Timeouts udp{30, 300, 0, 100};
        Timeouts icmp{30, 300, 0, 100};   // ICMP and ICMPv6
        Timeouts other{30, 300, 0, 100};  // every other protocol (Suricata's "default")
        size_t max_flows = 65536;          // at least 1
        TcpStream::Options stream;         // for both directions of each TCP flow
    };
    using EndFn = std::function<void(Flow&, std::string_view reason)>;

    explicit FlowTracker(Options options, EndFn on_forced = {});
    ~FlowTracker();
    FlowTracker(const FlowTracker&) = delete;
    FlowTracker& operator=(const FlowTracker&) = delete;

    // The packet's flow (created when new) and its direction; counts the packet. The pointer stays
    // valid until the flow ends (expire, flush, or a forced eviction in a later update).
    std::pair<Flow*, bool> update(const Decoded& packet, uint64_t ts_ns);
    // Marks a flow bypassed (the kernel stops sending its packets): the bypassed timeout applies.
    void set_bypassed(Flow& flow, std::string reason);
    // Ends the flows whose timeout has passed at now_ns: on_end(flow, "timeout"), then removed.
    void expire(uint64_t now_ns, const EndFn& on_end);
    // Ends every flow (at shutdown): on_end(flow, "shutdown").
    void flush(const EndFn& on_end);
    // Ends one flow now (the kernel expired it): on_end(flow, reason), then removed.
    void end(Flow& flow, std::string_view reason, const EndFn& on_end);

    size_t size() const { return flows_.size(); }
    uint64_t evicted_full() const { return evicted_full_; }
    uint64_t created() const { return created_; }

    struct Key {
        uint8_t family = 0, proto = 0;
        uint16_t vlan[2]{};
        std::array<uint8_t, 16> a{}, b{};  // the lower (address, port) first
        uint16_t port_a = 0, port_b = 0;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        size_t operator()(const Key& k) const;
    };

private:
    struct Entry;
    enum Slot : uint8_t { kNew, kEstablished, kClosed, kBypassed, kSlots };
    static constexpr int kClasses = 4;  // tcp, udp, icmp, other
    using List = std::list<Entry*>;

    static int proto_class(uint8_t proto);
    static Slot slot_of(const Flow& f);
    static Key key_of(const Flow& f);
    uint64_t timeout_ns(int cls, int slot) const;
    void place(Entry& e);                    // inserts a new e at the back of its list
    void move_to_back(Entry& e, Slot slot);  // moves e to the back of list `slot` of its class
    void remove(Entry& e);
    void evict_oldest();

    Options options_;
    EndFn on_forced_;
    std::unordered_map<Key, std::unique_ptr<Entry>, KeyHash> flows_;
    List lists_[kClasses][kSlots];
    uint64_t evicted_full_ = 0, created_ = 0;
};

}  // namespace xb::engine
