#include "engine/flow_tracker.h"

#include <atomic>
#include <cstring>

namespace xb::engine {

namespace {

std::atomic<uint64_t> g_next_flow_id{1};

constexpr uint64_t kNsPerSec = 1000000000ull;

uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

// Orders (address, port) pairs so that both directions give the same key.
bool side_less(const std::array<uint8_t, 16>& a, uint16_t pa, const std::array<uint8_t, 16>& b, uint16_t pb) {
    int c = std::memcmp(a.data(), b.data(), a.size());
    return c < 0 || (c == 0 && pa < pb);
}

}  // namespace

std::string_view flow_state_name(Flow::State s) {
    switch (s) {
        case Flow::State::New: return "new";
        case Flow::State::Established: return "established";
        case Flow::State::Closed: return "closed";
    }
    return "new";
}

struct FlowTracker::Entry {
    Key key;
    Flow flow;
    int cls = 0;
    int slot = 0;
    List::iterator pos;
};

size_t FlowTracker::KeyHash::operator()(const Key& k) const {
    uint64_t h = static_cast<uint64_t>(k.family) << 8 | k.proto;
    h = mix(h, static_cast<uint64_t>(k.vlan[0]) << 16 | k.vlan[1]);
    h = mix(h, static_cast<uint64_t>(k.port_a) << 16 | k.port_b);
    uint64_t w[4];
    std::memcpy(w, k.a.data(), 16);
    std::memcpy(w + 2, k.b.data(), 16);
    for (uint64_t x : w) h = mix(h, x);
    return static_cast<size_t>(h);
}

FlowTracker::FlowTracker(Options options, EndFn on_forced)
    : options_(std::move(options)), on_forced_(std::move(on_forced)) {
    if (options_.max_flows == 0) options_.max_flows = 1;
}

FlowTracker::~FlowTracker() = default;

int FlowTracker::proto_class(uint8_t proto) {
    switch (proto) {
        case 6: return 0;
        case 17: return 1;
        case 1:
        case 58: return 2;
        default: return 3;
    }
}

FlowTracker::Slot FlowTracker::slot_of(const Flow& f) {
    if (f.bypassed) return kBypassed;
    switch (f.state) {
        case Flow::State::New: return kNew;
        case Flow::State::Established: return kEstablished;
        case Flow::State::Closed: return kClosed;
    }
    return kNew;
}

uint64_t FlowTracker::timeout_ns(int cls, int slot) const {
    const Timeouts& t = cls == 0 ? options_.tcp : cls == 1 ? options_.udp : cls == 2 ? options_.icmp : options_.other;
    uint32_t s = slot == kNew ? t.new_flow : slot == kEstablished ? t.established : slot == kClosed ? t.closed : t.bypassed;
    return static_cast<uint64_t>(s) * kNsPerSec;
}

void FlowTracker::place(Entry& e) {
    List& l = lists_[e.cls][e.slot];
    e.pos = l.insert(l.end(), &e);
}

void FlowTracker::move_to_back(Entry& e, Slot slot) {
    // splice relinks the node: no allocation per packet, and e.pos stays valid.
    List& to = lists_[e.cls][slot];
    to.splice(to.end(), lists_[e.cls][e.slot], e.pos);
    e.slot = slot;
}

void FlowTracker::remove(Entry& e) {
    lists_[e.cls][e.slot].erase(e.pos);
    flows_.erase(e.key);  // destroys e
}

void FlowTracker::evict_oldest() {
    Entry* oldest = nullptr;
    for (auto& per_class : lists_)
        for (auto& l : per_class)
            if (!l.empty() && (oldest == nullptr || l.front()->flow.last_ts_ns < oldest->flow.last_ts_ns))
                oldest = l.front();
    if (oldest == nullptr) return;
    ++evicted_full_;
    if (on_forced_) on_forced_(oldest->flow, "forced");
    remove(*oldest);
}

std::pair<Flow*, bool> FlowTracker::update(const Decoded& p, uint64_t ts_ns) {
    Key key;
    key.family = p.family;
    key.proto = p.proto;
    key.vlan[0] = p.vlan_count > 0 ? p.vlan[0] : 0;
    key.vlan[1] = p.vlan_count > 1 ? p.vlan[1] : 0;
    bool forward = !side_less(p.dst, p.dport, p.src, p.sport);
    key.a = forward ? p.src : p.dst;
    key.port_a = forward ? p.sport : p.dport;
    key.b = forward ? p.dst : p.src;
    key.port_b = forward ? p.dport : p.sport;

    auto it = flows_.find(key);
    Entry* e;
    bool to_server;
    bool fresh = it == flows_.end();
    if (fresh) {
        if (flows_.size() >= options_.max_flows) evict_oldest();
        auto owned = std::make_unique<Entry>();
        e = owned.get();
        e->key = key;
        Flow& f = e->flow;
        f.flow_id = g_next_flow_id.fetch_add(1, std::memory_order_relaxed);
        f.family = p.family;
        f.proto = p.proto;
        // A SYN-ACK seen first was sent by the server.
        bool from_server = p.proto == 6 && (p.tcp_flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck);
        f.src = from_server ? p.dst : p.src;
        f.dst = from_server ? p.src : p.dst;
        f.sport = from_server ? p.dport : p.sport;
        f.dport = from_server ? p.sport : p.dport;
        std::memcpy(f.vlan, key.vlan, sizeof f.vlan);
        f.vlan_count = p.vlan_count;
        f.first_ts_ns = ts_ns;
        f.toserver = TcpStream(options_.stream);
        f.toclient = TcpStream(options_.stream);
        e->cls = proto_class(p.proto);
        to_server = !from_server;
        flows_.emplace(key, std::move(owned));
        ++created_;
    } else {
        e = it->second.get();
        Flow& f = e->flow;
        to_server = f.src == p.src && f.sport == p.sport;
        if (f.src == f.dst && f.sport == f.dport) to_server = true;  // a flow to itself
    }

    Flow& f = e->flow;
    if (ts_ns > f.last_ts_ns) f.last_ts_ns = ts_ns;
    (to_server ? f.pkts_toserver : f.pkts_toclient) += 1;
    (to_server ? f.bytes_toserver : f.bytes_toclient) += p.wire_len;
    if (f.state == Flow::State::New && f.pkts_toserver > 0 && f.pkts_toclient > 0) f.state = Flow::State::Established;
    if (p.proto == 6 && f.state != Flow::State::Closed) {
        if (p.tcp_flags & kTcpFin) (to_server ? f.fin_toserver : f.fin_toclient) = true;
        if ((p.tcp_flags & kTcpRst) || (f.fin_toserver && f.fin_toclient)) f.state = Flow::State::Closed;
    }
    Slot slot = slot_of(f);
    if (fresh) {
        e->slot = slot;
        place(*e);
    } else {
        move_to_back(*e, slot);
    }
    return {&f, to_server};
}

FlowTracker::Key FlowTracker::key_of(const Flow& flow) {
    Key key;
    key.family = flow.family;
    key.proto = flow.proto;
    std::memcpy(key.vlan, flow.vlan, sizeof key.vlan);
    bool forward = !side_less(flow.dst, flow.dport, flow.src, flow.sport);
    key.a = forward ? flow.src : flow.dst;
    key.port_a = forward ? flow.sport : flow.dport;
    key.b = forward ? flow.dst : flow.src;
    key.port_b = forward ? flow.dport : flow.sport;
    return key;
}

void FlowTracker::end(Flow& flow, std::string_view reason, const EndFn& on_end) {
    auto it = flows_.find(key_of(flow));
    if (it == flows_.end() || &it->second->flow != &flow) return;
    on_end(flow, reason);
    remove(*it->second);
}

void FlowTracker::set_bypassed(Flow& flow, std::string reason) {
    flow.bypass_reason = std::move(reason);
    if (flow.bypassed) return;
    flow.bypassed = true;
    auto it = flows_.find(key_of(flow));
    if (it == flows_.end() || &it->second->flow != &flow) return;
    move_to_back(*it->second, kBypassed);
}

void FlowTracker::expire(uint64_t now_ns, const EndFn& on_end) {
    for (int c = 0; c < kClasses; ++c) {
        for (int s = 0; s < kSlots; ++s) {
            uint64_t t = timeout_ns(c, s);
            List& l = lists_[c][s];
            while (!l.empty()) {
                Entry* e = l.front();
                uint64_t last = e->flow.last_ts_ns;
                if (now_ns < last || now_ns - last < t) break;
                on_end(e->flow, "timeout");
                remove(*e);
            }
        }
    }
}

void FlowTracker::flush(const EndFn& on_end) {
    for (auto& per_class : lists_) {
        for (auto& l : per_class) {
            while (!l.empty()) {
                Entry* e = l.front();
                on_end(e->flow, "shutdown");
                remove(*e);
            }
        }
    }
}

}  // namespace xb::engine
