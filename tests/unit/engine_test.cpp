// Unit tests of the engine's pure pieces: decoding, flow tracking, TCP reassembly, TLS detection
// and EVE records.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/decode.h"
#include "engine/eve.h"
#include "engine/flow_tracker.h"
#include "engine/tcp_stream.h"
#include "engine/tls.h"

namespace xb::engine {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- frame building ------------------------------------------------------------------------

void put16(Bytes& b, uint16_t v) { b.push_back(static_cast<uint8_t>(v >> 8)); b.push_back(static_cast<uint8_t>(v)); }
void put32(Bytes& b, uint32_t v) { put16(b, static_cast<uint16_t>(v >> 16)); put16(b, static_cast<uint16_t>(v)); }
void append(Bytes& b, const Bytes& x) { b.insert(b.end(), x.begin(), x.end()); }
Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::array<uint8_t, 16> v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }
std::array<uint8_t, 16> v6(uint8_t last) {
    std::array<uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8};
    a[15] = last;
    return a;
}

Bytes tcp(uint16_t sp, uint16_t dp, uint32_t seq, uint32_t ack, uint8_t flags, const Bytes& payload, int opt_words = 0) {
    Bytes b;
    put16(b, sp); put16(b, dp); put32(b, seq); put32(b, ack);
    b.push_back(static_cast<uint8_t>((5 + opt_words) << 4));
    b.push_back(flags);
    put16(b, 65535); put16(b, 0); put16(b, 0);
    for (int i = 0; i < opt_words * 4; ++i) b.push_back(1);  // NOPs
    append(b, payload);
    return b;
}
Bytes udp(uint16_t sp, uint16_t dp, const Bytes& payload) {
    Bytes b;
    put16(b, sp); put16(b, dp); put16(b, static_cast<uint16_t>(8 + payload.size())); put16(b, 0);
    append(b, payload);
    return b;
}
Bytes icmp(uint8_t type, uint8_t code, const Bytes& payload) {
    Bytes b{type, code, 0, 0, 0, 1, 0, 1};
    append(b, payload);
    return b;
}
Bytes ipv4(uint8_t proto, std::array<uint8_t, 16> s, std::array<uint8_t, 16> d, const Bytes& l4, uint16_t frag = 0,
           int opt_words = 0) {
    Bytes b;
    b.push_back(static_cast<uint8_t>(0x40 | (5 + opt_words)));
    b.push_back(0);
    put16(b, static_cast<uint16_t>(20 + opt_words * 4 + l4.size()));
    put16(b, 1); put16(b, frag);
    b.push_back(64); b.push_back(proto); put16(b, 0);
    b.insert(b.end(), s.begin(), s.begin() + 4);
    b.insert(b.end(), d.begin(), d.begin() + 4);
    for (int i = 0; i < opt_words * 4; ++i) b.push_back(1);
    append(b, l4);
    return b;
}
// ext: (next-header value of this header, its bytes) in order.
Bytes ipv6(uint8_t proto, std::array<uint8_t, 16> s, std::array<uint8_t, 16> d, const Bytes& l4,
           std::vector<std::pair<uint8_t, Bytes>> ext = {}) {
    Bytes chain;
    for (size_t i = 0; i < ext.size(); ++i) {
        Bytes h = ext[i].second;
        h[0] = i + 1 < ext.size() ? ext[i + 1].first : proto;
        append(chain, h);
    }
    append(chain, l4);
    Bytes b{0x60, 0, 0, 0};
    put16(b, static_cast<uint16_t>(chain.size()));
    b.push_back(ext.empty() ? proto : ext[0].first);
    b.push_back(64);
    b.insert(b.end(), s.begin(), s.end());
    b.insert(b.end(), d.begin(), d.end());
    append(b, chain);
    return b;
}
Bytes ext_opts(int len8) { Bytes h(static_cast<size_t>(len8) * 8, 0); h[1] = static_cast<uint8_t>(len8 - 1); return h; }
Bytes ext_frag(uint16_t offset, bool more) {
    Bytes h{0, 0};
    put16(h, static_cast<uint16_t>(offset << 3 | (more ? 1 : 0)));
    put32(h, 7);
    return h;
}
Bytes ether(uint16_t type, const Bytes& l3, std::vector<std::pair<uint16_t, uint16_t>> tags = {}) {
    Bytes b{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    for (auto [tpid, vid] : tags) { put16(b, tpid); put16(b, vid); }
    put16(b, type);
    append(b, l3);
    return b;
}
Bytes eth4(const Bytes& ip, std::vector<std::pair<uint16_t, uint16_t>> tags = {}) { return ether(0x0800, ip, tags); }
Bytes eth6(const Bytes& ip, std::vector<std::pair<uint16_t, uint16_t>> tags = {}) { return ether(0x86dd, ip, tags); }

// ---- decode --------------------------------------------------------------------------------

struct DecodeCase {
    const char* name;
    Bytes frame;
    std::vector<uint16_t> removed;
    uint8_t family, proto;
    uint16_t sport, dport;
    std::vector<uint16_t> vlans;
    Bytes payload;
    bool fragment = false;
};

std::vector<DecodeCase> decode_cases() {
    auto a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
    Bytes p = text("hello");
    return {
        {"tcp4", eth4(ipv4(6, a, b, tcp(1234, 80, 100, 200, kTcpAck | kTcpPsh, p))), {}, 4, 6, 1234, 80, {}, p},
        {"tcp4 options", eth4(ipv4(6, a, b, tcp(1, 2, 0, 0, kTcpAck, p, 3), 0, 2)), {}, 4, 6, 1, 2, {}, p},
        {"udp4", eth4(ipv4(17, a, b, udp(53, 5353, p))), {}, 4, 17, 53, 5353, {}, p},
        {"icmp4", eth4(ipv4(1, a, b, icmp(8, 0, p))), {}, 4, 1, 0, 0, {}, p},
        {"gre4 raw", eth4(ipv4(47, a, b, p)), {}, 4, 47, 0, 0, {}, p},
        {"vlan", eth4(ipv4(17, a, b, udp(1, 2, p)), {{0x8100, 100}}), {}, 4, 17, 1, 2, {100}, p},
        {"qinq", eth4(ipv4(17, a, b, udp(1, 2, p)), {{0x88a8, 10}, {0x8100, 0x2014}}), {}, 4, 17, 1, 2, {10, 20}, p},
        {"removed+inframe", eth4(ipv4(17, a, b, udp(1, 2, p)), {{0x8100, 7}}), {5}, 4, 17, 1, 2, {5, 7}, p},
        {"removed two", eth4(ipv4(17, a, b, udp(1, 2, p))), {5, 6}, 4, 17, 1, 2, {5, 6}, p},
        {"frag4 first", eth4(ipv4(6, a, b, tcp(1, 2, 0, 0, 0, p), 0x2000)), {}, 4, 6, 0, 0, {}, {}, true},
        {"frag4 later", eth4(ipv4(17, a, b, p, 0x0010)), {}, 4, 17, 0, 0, {}, {}, true},
        {"tcp6", eth6(ipv6(6, v6(1), v6(2), tcp(443, 50000, 1, 2, kTcpSyn, p))), {}, 6, 6, 443, 50000, {}, p},
        {"udp6", eth6(ipv6(17, v6(1), v6(2), udp(9, 10, p))), {}, 6, 17, 9, 10, {}, p},
        {"icmp6", eth6(ipv6(58, v6(1), v6(2), icmp(128, 0, p))), {}, 6, 58, 0, 0, {}, p},
        {"ext6 hbh+rt+dst", eth6(ipv6(17, v6(1), v6(2), udp(9, 10, p), {{0, ext_opts(1)}, {43, ext_opts(2)}, {60, ext_opts(1)}})),
         {}, 6, 17, 9, 10, {}, p},
        {"atomic frag6", eth6(ipv6(17, v6(1), v6(2), udp(9, 10, p), {{44, ext_frag(0, false)}})), {}, 6, 17, 9, 10, {}, p},
        {"frag6 first", eth6(ipv6(17, v6(1), v6(2), udp(9, 10, p), {{44, ext_frag(0, true)}})), {}, 6, 17, 0, 0, {}, {}, true},
        {"frag6 later", eth6(ipv6(17, v6(1), v6(2), p, {{60, ext_opts(1)}, {44, ext_frag(3, false)}})), {}, 6, 17, 0, 0, {}, {}, true},
        {"vlan6", eth6(ipv6(6, v6(1), v6(2), tcp(1, 2, 3, 4, kTcpAck, p)), {{0x8100, 42}}), {}, 6, 6, 1, 2, {42}, p},
    };
}

TEST(Decode, EveryLayer) {
    for (const auto& c : decode_cases()) {
        SCOPED_TRACE(c.name);
        auto d = decode_frame(c.frame, c.removed.data(), static_cast<uint8_t>(c.removed.size()));
        ASSERT_TRUE(d.has_value());
        EXPECT_EQ(d->family, c.family);
        EXPECT_EQ(d->proto, c.proto);
        EXPECT_EQ(d->sport, c.sport);
        EXPECT_EQ(d->dport, c.dport);
        ASSERT_EQ(d->vlan_count, c.vlans.size());
        for (size_t i = 0; i < c.vlans.size(); ++i) EXPECT_EQ(d->vlan[i], c.vlans[i]);
        EXPECT_EQ(Bytes(d->payload.begin(), d->payload.end()), c.payload);
        EXPECT_EQ(d->fragment, c.fragment);
        EXPECT_EQ(d->wire_len, c.frame.size() + 4 * c.removed.size());
        if (c.family == 4) EXPECT_EQ(d->src, v4(10, 0, 0, 1));
        else EXPECT_EQ(d->dst, v6(2));
    }
}

TEST(Decode, TcpAndIcmpFields) {
    auto d = decode_frame(eth4(ipv4(6, v4(1, 2, 3, 4), v4(5, 6, 7, 8), tcp(1, 2, 0xdeadbeef, 0x01020304, kTcpSyn | kTcpAck, {}))), nullptr, 0);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->seq, 0xdeadbeefu);
    EXPECT_EQ(d->ack, 0x01020304u);
    EXPECT_EQ(d->tcp_flags, kTcpSyn | kTcpAck);
    EXPECT_TRUE(d->payload.empty());
    auto i = decode_frame(eth6(ipv6(58, v6(1), v6(2), icmp(129, 3, {}))), nullptr, 0);
    ASSERT_TRUE(i);
    EXPECT_EQ(i->icmp_type, 129);
    EXPECT_EQ(i->icmp_code, 3);
}

TEST(Decode, EthernetPaddingIsNotPayload) {
    Bytes f = eth4(ipv4(17, v4(1, 1, 1, 1), v4(2, 2, 2, 2), udp(1, 2, text("x"))));
    f.resize(60, 0);
    auto d = decode_frame(f, nullptr, 0);
    ASSERT_TRUE(d);
    EXPECT_EQ(Bytes(d->payload.begin(), d->payload.end()), text("x"));
    EXPECT_EQ(d->wire_len, 60u);
}

TEST(Decode, TruncationAtEveryOffset) {
    for (const auto& c : decode_cases()) {
        SCOPED_TRACE(c.name);
        for (size_t n = 0; n < c.frame.size(); ++n) {
            std::vector<uint8_t> prefix(c.frame.begin(), c.frame.begin() + static_cast<std::ptrdiff_t>(n));
            EXPECT_FALSE(decode_frame(prefix, c.removed.data(), static_cast<uint8_t>(c.removed.size())).has_value())
                << "length " << n;
        }
    }
}

TEST(Decode, Rejected) {
    auto a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
    Bytes ok_ip = ipv4(17, a, b, udp(1, 2, {}));
    Bytes bad_ihl = ok_ip; bad_ihl[0] = 0x44;
    Bytes bad_ver = ok_ip; bad_ver[0] = 0x65;
    Bytes tcp_off = ipv4(6, a, b, tcp(1, 2, 0, 0, 0, {})); tcp_off[20 + 12] = 0x40;
    Bytes udp_len = ok_ip; udp_len[20 + 5] = 9;
    Bytes udp_short = ok_ip; udp_short[20 + 5] = 7;
    Bytes jumbo = ipv6(17, v6(1), v6(2), udp(1, 2, {})); jumbo[4] = 0; jumbo[5] = 0;
    Bytes late_hbh = ipv6(17, v6(1), v6(2), udp(1, 2, {}), {{60, ext_opts(1)}, {0, ext_opts(1)}});
    std::vector<std::pair<uint8_t, Bytes>> many;
    for (int i = 0; i < 9; ++i) many.push_back({60, ext_opts(1)});
    Bytes ext_loop = ipv6(17, v6(1), v6(2), udp(1, 2, {}), many);
    uint16_t three[2] = {1, 2};
    struct Case { const char* name; Bytes frame; const uint16_t* removed; uint8_t n; };
    std::vector<Case> cases = {
        {"arp", ether(0x0806, Bytes(28, 0)), nullptr, 0},
        {"ihl 4", eth4(bad_ihl), nullptr, 0},
        {"version 6 in ipv4", eth4(bad_ver), nullptr, 0},
        {"tcp offset 4", eth4(tcp_off), nullptr, 0},
        {"udp length past ip", eth4(udp_len), nullptr, 0},
        {"udp length 7", eth4(udp_short), nullptr, 0},
        {"ipv6 jumbo", eth6(jumbo), nullptr, 0},
        {"hop-by-hop not first", eth6(late_hbh), nullptr, 0},
        {"too many ext headers", eth6(ext_loop), nullptr, 0},
        {"three tags", eth4(ok_ip, {{0x8100, 3}}), three, 2},
        {"three in-frame tags", eth4(ok_ip, {{0x88a8, 1}, {0x8100, 2}, {0x8100, 3}}), nullptr, 0},
        {"removed without ids", eth4(ok_ip), nullptr, 1},
    };
    for (const auto& c : cases) EXPECT_FALSE(decode_frame(c.frame, c.removed, c.n).has_value()) << c.name;
}

// ---- flow tracker -------------------------------------------------------------------------

constexpr uint64_t kSec = 1000000000ull;

Decoded pkt(uint8_t proto, std::array<uint8_t, 16> s, uint16_t sp, std::array<uint8_t, 16> d, uint16_t dp,
            uint8_t flags = kTcpAck, uint32_t len = 100, uint16_t vlan = 0) {
    Decoded p;
    p.family = 4;
    p.proto = proto;
    p.src = s;
    p.dst = d;
    p.sport = sp;
    p.dport = dp;
    p.tcp_flags = proto == 6 ? flags : 0;
    p.wire_len = len;
    if (vlan) { p.vlan[0] = vlan; p.vlan_count = 1; }
    return p;
}

const auto kA = v4(192, 168, 1, 10), kB = v4(192, 168, 1, 1);

TEST(FlowTracker, BothDirectionsOneFlow) {
    FlowTracker t({});
    auto [f1, ts1] = t.update(pkt(6, kA, 40000, kB, 80, kTcpSyn, 60), 1 * kSec);
    auto [f2, ts2] = t.update(pkt(6, kB, 80, kA, 40000, kTcpSyn | kTcpAck, 70), 2 * kSec);
    auto [f3, ts3] = t.update(pkt(6, kA, 40000, kB, 80, kTcpAck, 50), 3 * kSec);
    EXPECT_EQ(f1, f2);
    EXPECT_EQ(f1, f3);
    EXPECT_TRUE(ts1);
    EXPECT_FALSE(ts2);
    EXPECT_TRUE(ts3);
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(f1->src, kA);
    EXPECT_EQ(f1->sport, 40000);
    EXPECT_EQ(f1->dport, 80);
    EXPECT_EQ(f1->pkts_toserver, 2u);
    EXPECT_EQ(f1->pkts_toclient, 1u);
    EXPECT_EQ(f1->bytes_toserver, 110u);
    EXPECT_EQ(f1->bytes_toclient, 70u);
    EXPECT_EQ(f1->first_ts_ns, 1 * kSec);
    EXPECT_EQ(f1->last_ts_ns, 3 * kSec);
    EXPECT_EQ(f1->state, Flow::State::Established);
    EXPECT_NE(f1->flow_id, 0u);
}

TEST(FlowTracker, SynAckFirstMeansSenderIsServer) {
    FlowTracker t({});
    auto [f, to_server] = t.update(pkt(6, kB, 443, kA, 51000, kTcpSyn | kTcpAck), kSec);
    EXPECT_FALSE(to_server);
    EXPECT_EQ(f->src, kA);
    EXPECT_EQ(f->sport, 51000);
    EXPECT_EQ(f->dst, kB);
    EXPECT_EQ(f->dport, 443);
    EXPECT_EQ(f->pkts_toclient, 1u);
    auto [g, ts] = t.update(pkt(6, kA, 51000, kB, 443, kTcpAck), kSec);
    EXPECT_EQ(f, g);
    EXPECT_TRUE(ts);
}

TEST(FlowTracker, KeyFieldsSeparateFlows) {
    FlowTracker t({});
    std::set<Flow*> flows;
    std::set<uint64_t> ids;
    for (const Decoded& p : {pkt(17, kA, 1, kB, 2), pkt(17, kA, 1, kB, 3), pkt(6, kA, 1, kB, 2),
                             pkt(17, kA, 1, kB, 2, 0, 100, 10), pkt(17, kA, 1, v4(1, 1, 1, 1), 2)}) {
        auto [f, ts] = t.update(p, kSec);
        flows.insert(f);
        ids.insert(f->flow_id);
    }
    EXPECT_EQ(flows.size(), 5u);
    EXPECT_EQ(ids.size(), 5u);
    EXPECT_EQ(t.size(), 5u);
}

TEST(FlowTracker, TcpCloses) {
    FlowTracker t({});
    auto [f, ts] = t.update(pkt(6, kA, 1, kB, 2, kTcpAck), kSec);
    t.update(pkt(6, kB, 2, kA, 1, kTcpAck | kTcpFin), kSec);
    EXPECT_EQ(f->state, Flow::State::Established);
    t.update(pkt(6, kA, 1, kB, 2, kTcpAck | kTcpFin), kSec);
    EXPECT_EQ(f->state, Flow::State::Closed);
    auto [g, ts2] = t.update(pkt(6, kA, 5, kB, 6, kTcpRst), kSec);
    EXPECT_EQ(g->state, Flow::State::Closed);
}

TEST(FlowTracker, ExpiryPerProtocolAndState) {
    FlowTracker::Options o;
    o.tcp = {10, 20, 5, 40};
    o.udp = {11, 21, 0, 41};
    o.icmp = {12, 22, 0, 42};
    o.other = {13, 23, 0, 43};
    struct Case { const char* name; uint8_t proto; bool reply; bool close; bool bypass; uint32_t timeout; };
    std::vector<Case> cases = {
        {"tcp new", 6, false, false, false, 10},         {"tcp established", 6, true, false, false, 20},
        {"tcp closed", 6, true, true, false, 5},         {"tcp bypassed", 6, true, false, true, 40},
        {"udp new", 17, false, false, false, 11},        {"udp established", 17, true, false, false, 21},
        {"udp bypassed", 17, false, false, true, 41},    {"icmp new", 1, false, false, false, 12},
        {"icmp established", 1, true, false, false, 22}, {"icmp bypassed", 1, true, false, true, 42},
        {"sctp new", 132, false, false, false, 13},      {"gre established", 47, true, false, false, 23},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        FlowTracker t(o);
        auto [f, ts] = t.update(pkt(c.proto, kA, 1, kB, 2), 100 * kSec);
        if (c.reply) t.update(pkt(c.proto, kB, 2, kA, 1, c.close ? kTcpRst : kTcpAck), 100 * kSec);
        if (c.bypass) t.set_bypassed(*f, "tls");
        std::vector<std::string> ended;
        auto on_end = [&](Flow& fl, std::string_view reason) {
            ended.push_back(std::string(reason));
            EXPECT_EQ(fl.bypassed, c.bypass);
        };
        t.expire((100 + c.timeout) * kSec - 1, on_end);
        EXPECT_TRUE(ended.empty());
        EXPECT_EQ(t.size(), 1u);
        t.expire((100 + c.timeout) * kSec, on_end);
        ASSERT_EQ(ended.size(), 1u);
        EXPECT_EQ(ended[0], "timeout");
        EXPECT_EQ(t.size(), 0u);
    }
}

TEST(FlowTracker, ActivityPostponesExpiry) {
    FlowTracker::Options o;
    o.udp = {10, 10, 0, 10};
    FlowTracker t(o);
    t.update(pkt(17, kA, 1, kB, 2), 0);
    t.update(pkt(17, kA, 3, kB, 4), 0);
    t.update(pkt(17, kA, 1, kB, 2), 5 * kSec);
    int ended = 0;
    t.expire(10 * kSec, [&](Flow& f, std::string_view) { ++ended; EXPECT_EQ(f.sport, 3); });
    EXPECT_EQ(ended, 1);
    EXPECT_EQ(t.size(), 1u);
}

TEST(FlowTracker, FlushAtShutdown) {
    FlowTracker t({});
    for (uint16_t p = 1; p <= 3; ++p) t.update(pkt(17, kA, p, kB, 53), kSec);
    std::vector<std::string> reasons;
    t.flush([&](Flow& f, std::string_view r) { reasons.emplace_back(r); f.user = nullptr; });
    EXPECT_EQ(reasons, (std::vector<std::string>{"shutdown", "shutdown", "shutdown"}));
    EXPECT_EQ(t.size(), 0u);
}

TEST(FlowTracker, FullEvictsTheOldest) {
    FlowTracker::Options o;
    o.max_flows = 2;
    std::vector<uint16_t> forced;
    FlowTracker t(o, [&](Flow& f, std::string_view r) { EXPECT_EQ(r, "forced"); forced.push_back(f.sport); });
    t.update(pkt(17, kA, 1, kB, 53), 1 * kSec);
    t.update(pkt(6, kA, 2, kB, 53), 2 * kSec);
    t.update(pkt(17, kA, 1, kB, 53), 3 * kSec);  // port 1 is now the most recent
    auto [f, ts] = t.update(pkt(17, kA, 3, kB, 53), 4 * kSec);
    EXPECT_EQ(forced, std::vector<uint16_t>{2});
    EXPECT_EQ(t.evicted_full(), 1u);
    EXPECT_EQ(t.size(), 2u);
    EXPECT_EQ(f->sport, 3);
}

// ---- TCP reassembly -----------------------------------------------------------------------

struct Collector {
    std::string out;
    int calls = 0;
    void operator()(std::span<const uint8_t> b) {
        out.append(b.begin(), b.end());
        ++calls;
    }
};

void seg(TcpStream& s, Collector& c, uint32_t seq, std::string_view data, bool syn = false, bool fin = false) {
    Bytes b = text(data);
    s.add(seq, b, syn, fin, c);
}

TEST(TcpStream, InOrderFromSyn) {
    TcpStream s;
    Collector c;
    seg(s, c, 999, "", true);
    seg(s, c, 1000, "GET ");
    seg(s, c, 1004, "/ HTTP/1.1\r\n");
    seg(s, c, 1016, "", false, true);
    EXPECT_EQ(c.out, "GET / HTTP/1.1\r\n");
    EXPECT_EQ(s.delivered(), 16u);
    EXPECT_EQ(s.gaps(), 0u);
    EXPECT_TRUE(s.fin_seen());
}

TEST(TcpStream, PickedUpMidway) {
    TcpStream s;
    Collector c;
    seg(s, c, 5000, "abc");
    seg(s, c, 5003, "def");
    EXPECT_EQ(c.out, "abcdef");
}

TEST(TcpStream, OutOfOrderWithinBounds) {
    TcpStream s;
    Collector c;
    seg(s, c, 0, "", true);
    seg(s, c, 7, "ghi");
    seg(s, c, 4, "def");
    EXPECT_EQ(c.out, "");
    EXPECT_EQ(s.held_segments(), 2u);
    seg(s, c, 1, "abc");
    EXPECT_EQ(c.out, "abcdefghi");
    EXPECT_EQ(s.held_segments(), 0u);
    EXPECT_EQ(s.held_bytes(), 0u);
}

struct OverlapCase {
    const char* name;
    std::vector<std::pair<uint32_t, std::string>> segments;  // seq from 1 (SYN at 0)
    std::string expected;
    uint64_t retransmitted;
};

TEST(TcpStream, RetransmissionAndOverlapKeepTheFirstCopy) {
    std::vector<OverlapCase> cases = {
        {"exact retransmission", {{1, "abcd"}, {1, "abcd"}, {5, "ef"}}, "abcdef", 4},
        {"retransmission changed", {{1, "abcd"}, {1, "XXXX"}}, "abcd", 4},
        {"overlap tail new", {{1, "abcd"}, {3, "XXef"}}, "abcdef", 2},
        {"held first wins", {{3, "CD"}, {1, "abXY"}}, "abCD", 2},
        {"held first wins, longer", {{3, "CD"}, {1, "abXYef"}}, "abCDef", 2},
        {"two held, filler", {{3, "c"}, {5, "e"}, {1, "aXcXeX"}}, "aXcXeX", 2},
        {"duplicate held", {{3, "cd"}, {3, "XY"}, {1, "ab"}}, "abcd", 2},
        {"held overlaps held", {{3, "cd"}, {4, "XYZ"}, {1, "ab"}}, "abcdYZ", 1},
        {"old entirely", {{1, "abcdef"}, {2, "bc"}}, "abcdef", 2},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        TcpStream s;
        Collector col;
        seg(s, col, 0, "", true);
        for (const auto& [seq, data] : c.segments) seg(s, col, seq, data);
        EXPECT_EQ(col.out, c.expected);
        EXPECT_EQ(s.retransmitted_bytes(), c.retransmitted);
        EXPECT_EQ(s.delivered(), c.expected.size());
    }
}

TEST(TcpStream, GapWhenSegmentBoundExceeded) {
    TcpStream::Options o;
    o.max_ooo_segments = 2;
    TcpStream s(o);
    Collector c;
    seg(s, c, 0, "", true);
    seg(s, c, 11, "KLMNO");
    seg(s, c, 21, "UVWXY");
    EXPECT_EQ(s.gaps(), 0u);
    seg(s, c, 31, "efghi");  // a third held segment: gap, resume at 11
    EXPECT_EQ(s.gaps(), 1u);
    EXPECT_EQ(s.gap_bytes(), 10u);
    EXPECT_EQ(c.out, "KLMNO");
    EXPECT_EQ(s.held_segments(), 2u);
    seg(s, c, 1, "abcdefghij");  // the lost bytes, too late
    EXPECT_EQ(c.out, "KLMNO");
    seg(s, c, 16, "PQRST");
    EXPECT_EQ(c.out, "KLMNOPQRSTUVWXY");
    seg(s, c, 26, "Zabcd");
    EXPECT_EQ(c.out, "KLMNOPQRSTUVWXYZabcdefghi");
}

TEST(TcpStream, GapWhenByteBoundExceeded) {
    TcpStream::Options o;
    o.max_ooo_bytes = 8;
    TcpStream s(o);
    Collector c;
    seg(s, c, 100, "ab");          // picked up midway: next byte 102
    seg(s, c, 110, "ijkl");
    EXPECT_EQ(s.gaps(), 0u);
    seg(s, c, 120, "stuvwx");  // 10 bytes held > 8: gap up to 110; the 6 still held are within bounds
    EXPECT_EQ(s.gaps(), 1u);
    EXPECT_EQ(s.gap_bytes(), 8u);
    EXPECT_EQ(c.out, "abijkl");
    EXPECT_EQ(s.held_bytes(), 6u);
    seg(s, c, 114, "mnopqr");
    EXPECT_EQ(c.out, "abijklmnopqrstuvwx");
}

TEST(TcpStream, SegmentLargerThanBoundIsDeliveredAfterGap) {
    TcpStream::Options o;
    o.max_ooo_bytes = 4;
    TcpStream s(o);
    Collector c;
    seg(s, c, 0, "", true);
    seg(s, c, 3, "cdefgh");
    EXPECT_EQ(s.gaps(), 1u);
    EXPECT_EQ(c.out, "cdefgh");
}

TEST(TcpStream, SequenceWraparound) {
    TcpStream s;
    Collector c;
    const uint32_t isn = 0xfffffff9u;  // data starts at 0xfffffffa
    seg(s, c, isn, "", true);
    seg(s, c, 0xfffffffau, "abc");
    seg(s, c, 0x00000001u, "hij");       // out of order across the wrap
    seg(s, c, 0xfffffffdu, "defg");      // fills 0xfffffffd..0x00000000
    seg(s, c, 0xfffffffau, "XYZ");       // retransmission from before the wrap
    seg(s, c, 0x00000004u, "k");
    EXPECT_EQ(c.out, "abcdefghijk");
    EXPECT_EQ(s.retransmitted_bytes(), 3u);
    EXPECT_EQ(s.gaps(), 0u);
}

TEST(TcpStream, Depth) {
    struct Case { uint64_t depth; std::vector<std::string> segs; std::string expected; bool reached; };
    std::vector<Case> cases = {
        {10, {"abcdef", "ghijkl"}, "abcdefghij", true},
        {6, {"abcdef", "gh"}, "abcdef", true},
        {20, {"abcdef", "ghijkl"}, "abcdefghijkl", false},
        {0, {std::string(3000, 'x')}, std::string(3000, 'x'), false},
    };
    for (const auto& c : cases) {
        TcpStream::Options o;
        o.depth = c.depth;
        TcpStream s(o);
        Collector col;
        seg(s, col, 0, "", true);
        uint32_t seq = 1;
        for (const auto& d : c.segs) { seg(s, col, seq, d); seq += static_cast<uint32_t>(d.size()); }
        seg(s, col, seq, "more");
        std::string want = c.expected + (c.reached ? "" : "more");
        EXPECT_EQ(col.out, want) << c.depth;
        EXPECT_EQ(s.depth_reached(), c.reached) << c.depth;
    }
}

TEST(TcpStream, DepthDropsHeldSegments) {
    TcpStream::Options o;
    o.depth = 4;
    TcpStream s(o);
    Collector c;
    seg(s, c, 0, "", true);
    seg(s, c, 3, "cd");
    seg(s, c, 9, "zz");  // beyond depth: never held
    EXPECT_EQ(s.held_segments(), 1u);
    seg(s, c, 1, "ab");
    EXPECT_EQ(c.out, "abcd");
    EXPECT_TRUE(s.depth_reached());
    EXPECT_EQ(s.held_segments(), 0u);
}

// Random segmentation, local reordering and duplicate retransmissions of a known stream, starting
// near the wrap: within the bounds everything arrives once and in order; with tight bounds what
// arrives is the stream minus the bytes skipped by gaps, in order.
TEST(TcpStream, RandomizedReorderingAndRetransmission) {
    for (unsigned seed = 1; seed <= 60; ++seed) {
        SCOPED_TRACE(seed);
        std::mt19937 rng(seed);
        std::string original(4000 + rng() % 4000, '\0');
        for (auto& ch : original) ch = static_cast<char>('a' + rng() % 26);
        const uint32_t isn = 0xffffffffu - static_cast<uint32_t>(rng() % 6000);
        std::vector<std::pair<uint32_t, std::string>> segs;
        for (size_t off = 0; off < original.size();) {
            size_t len = std::min<size_t>(1 + rng() % 120, original.size() - off);
            segs.push_back({static_cast<uint32_t>(isn + 1 + off), original.substr(off, len)});
            if (rng() % 5 == 0) {  // an overlapping retransmission of the same bytes
                size_t back = std::min<size_t>(off, rng() % 60);
                segs.push_back({static_cast<uint32_t>(isn + 1 + off - back), original.substr(off - back, len + back)});
            }
            off += len;
        }
        for (size_t i = 0; i + 1 < segs.size(); ++i)  // local reordering
            if (rng() % 3 == 0) std::swap(segs[i], segs[std::min(segs.size() - 1, i + 1 + rng() % 8)]);
        const bool tight = seed % 2 == 0;
        TcpStream::Options o;
        o.depth = 0;
        if (tight) {
            o.max_ooo_segments = 3;
            o.max_ooo_bytes = 150;
        }
        TcpStream s(o);
        Collector c;
        seg(s, c, isn, "", true);
        for (const auto& [seq, data] : segs) seg(s, c, seq, data);
        if (!tight) {
            EXPECT_EQ(c.out, original);
            EXPECT_EQ(s.gaps(), 0u);
        } else {
            EXPECT_EQ(s.delivered() + s.gap_bytes(), original.size());
            size_t j = 0;  // c.out is a subsequence of the original
            for (char ch : c.out) {
                while (j < original.size() && original[j] != ch) ++j;
                ASSERT_LT(j, original.size());
                ++j;
            }
        }
        EXPECT_EQ(s.delivered(), c.out.size());
        EXPECT_EQ(s.held_segments(), 0u);
    }
}

// ---- TLS ----------------------------------------------------------------------------------

Bytes record(uint8_t type, size_t len, uint16_t version = 0x0303) {
    Bytes b{type};
    put16(b, version);
    put16(b, static_cast<uint16_t>(len));
    b.resize(5 + len, 0xab);
    return b;
}
Bytes cat(std::initializer_list<Bytes> parts) { Bytes b; for (const auto& p : parts) append(b, p); return b; }

TEST(Tls, HandshakeThenApplicationDataBothWays) {
    TlsState t;
    t.feed(true, record(22, 300, 0x0301));                                // ClientHello
    EXPECT_EQ(t.verdict(), TlsState::Verdict::Unknown);
    t.feed(false, cat({record(22, 90), record(20, 1), record(23, 2000)})); // ServerHello, CCS, encrypted
    EXPECT_EQ(t.verdict(), TlsState::Verdict::Tls);
    EXPECT_FALSE(t.encrypted());
    t.feed(true, cat({record(20, 1), record(23, 53)}));
    EXPECT_TRUE(t.encrypted());
    EXPECT_EQ(t.toserver().records(), 3u);
    EXPECT_EQ(t.toclient().records(), 3u);
}

TEST(Tls, RecordsSplitAcrossSegments) {
    Bytes client = cat({record(22, 517), record(20, 1), record(23, 100)});
    Bytes server = cat({record(22, 122), record(22, 16384 + 256), record(23, 4000)});
    for (size_t chunk : {1u, 2u, 3u, 5u, 7u, 100u, 1500u}) {
        SCOPED_TRACE(chunk);
        TlsState t;
        for (size_t i = 0; i < client.size(); i += chunk)
            t.feed(true, std::span<const uint8_t>(client).subspan(i, std::min(chunk, client.size() - i)));
        for (size_t i = 0; i < server.size(); i += chunk)
            t.feed(false, std::span<const uint8_t>(server).subspan(i, std::min(chunk, server.size() - i)));
        EXPECT_TRUE(t.encrypted());
        EXPECT_EQ(t.toserver().records(), 3u);
        EXPECT_EQ(t.toclient().records(), 3u);
    }
}

TEST(Tls, NotTls) {
    struct Case { const char* name; Bytes toserver; Bytes toclient; };
    std::vector<Case> cases = {
        {"http", text("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), text("HTTP/1.1 200 OK\r\n")},
        {"ssh", text("SSH-2.0-OpenSSH_9.2\r\n"), {}},
        {"bad version", record(22, 10, 0x0205), {}},
        {"sslv3", record(22, 10, 0x0300), {}},
        {"too long", record(22, 10, 0x0303), record(22, 18433)},
        {"app data first", record(23, 10), {}},
        {"garbage after a record", cat({record(22, 10), text("hello")}), {}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        TlsState t;
        t.feed(true, c.toserver);
        if (!c.toclient.empty()) t.feed(false, c.toclient);
        EXPECT_EQ(t.verdict(), TlsState::Verdict::NotTls);
        // For good: valid TLS afterwards changes nothing.
        t.feed(true, cat({record(22, 5), record(23, 5)}));
        t.feed(false, cat({record(22, 5), record(23, 5)}));
        EXPECT_EQ(t.verdict(), TlsState::Verdict::NotTls);
        EXPECT_FALSE(t.encrypted());
    }
}

TEST(Tls, AlertWithoutApplicationDataIsNotEncrypted) {
    TlsState t;
    t.feed(true, record(22, 200));
    t.feed(false, record(21, 2));
    EXPECT_EQ(t.verdict(), TlsState::Verdict::Unknown);
    EXPECT_FALSE(t.encrypted());
}

// ---- EVE ----------------------------------------------------------------------------------

// A tiny JSON validator: true when s is exactly one JSON value.
class JsonCheck {
public:
    explicit JsonCheck(std::string_view s) : s_(s) {}
    bool valid() { ws(); if (!value()) return false; ws(); return i_ == s_.size(); }

private:
    void ws() { while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_; }
    bool lit(std::string_view l) { if (s_.substr(i_, l.size()) != l) return false; i_ += l.size(); return true; }
    bool string() {
        if (i_ >= s_.size() || s_[i_] != '"') return false;
        for (++i_; i_ < s_.size(); ++i_) {
            unsigned char c = static_cast<unsigned char>(s_[i_]);
            if (c == '"') { ++i_; return true; }
            if (c < 0x20) return false;
            if (c == '\\') {
                if (++i_ >= s_.size()) return false;
                char e = s_[i_];
                if (e == 'u') {
                    for (int k = 0; k < 4; ++k) if (++i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) return false;
                } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
                    return false;
                }
            }
        }
        return false;
    }
    bool number() {
        size_t start = i_;
        if (i_ < s_.size() && s_[i_] == '-') ++i_;
        while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' || s_[i_] == 'e' ||
                                  s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-')) ++i_;
        return i_ > start;
    }
    bool value() {
        ws();
        if (i_ >= s_.size()) return false;
        char c = s_[i_];
        if (c == '{') {
            ++i_; ws();
            if (i_ < s_.size() && s_[i_] == '}') { ++i_; return true; }
            for (;;) {
                ws();
                if (!string()) return false;
                ws();
                if (!lit(":") || !value()) return false;
                ws();
                if (lit("}")) return true;
                if (!lit(",")) return false;
            }
        }
        if (c == '[') {
            ++i_; ws();
            if (lit("]")) return true;
            for (;;) {
                if (!value()) return false;
                ws();
                if (lit("]")) return true;
                if (!lit(",")) return false;
            }
        }
        if (c == '"') return string();
        if (c == 't') return lit("true");
        if (c == 'f') return lit("false");
        if (c == 'n') return lit("null");
        return number();
    }
    std::string_view s_;
    size_t i_ = 0;
};

// 2026-12-01T23:10:17.123456 UTC
constexpr uint64_t kTs = 1796166617ull * kSec + 123456789ull;

EveCommon tcp_common() {
    EveCommon c;
    c.ts_ns = kTs;
    c.flow_id = 1234567890123ull;
    c.in_iface = "eth0";
    c.family = 4;
    c.proto = 6;
    c.src = v4(10, 0, 0, 1);
    c.dst = v4(10, 0, 0, 2);
    c.sport = 51234;
    c.dport = 443;
    return c;
}

TEST(Eve, Timestamp) {
    EXPECT_EQ(eve_timestamp(kTs), "2026-12-01T23:10:17.123456+0000");
    EXPECT_EQ(eve_timestamp(0), "1970-01-01T00:00:00.000000+0000");
}

TEST(Eve, ProtoNames) {
    std::vector<std::pair<uint8_t, std::string>> cases = {{6, "TCP"}, {17, "UDP"}, {1, "ICMP"}, {58, "IPv6-ICMP"}, {132, "SCTP"}, {47, "GRE"}, {253, "253"}};
    for (const auto& [p, name] : cases) EXPECT_EQ(eve_proto_name(p), name);
}

TEST(Eve, GoldenRecords) {
    AlertRecord a;
    a.common = tcp_common();
    a.common.vlan[0] = 100;
    a.common.vlan[1] = 200;
    a.common.vlan_count = 2;
    a.common.app_proto = "tls";
    a.signature_id = 2013028;
    a.rev = 7;
    a.signature = "ET POLICY \"curl\" User-Agent";
    a.category = "Attempted Information Leak";
    a.severity = 2;

    AlertRecord blocked;
    blocked.common = tcp_common();
    blocked.common.family = 6;
    blocked.common.proto = 17;
    blocked.common.src = v6(1);
    blocked.common.dst = v6(2);
    blocked.common.sport = 53;
    blocked.common.dport = 5353;
    blocked.common.in_iface.clear();
    blocked.blocked = true;
    blocked.signature_id = 1;
    blocked.rev = 1;
    blocked.signature = "udp";

    FlowRecord f;
    f.common = tcp_common();
    f.common.app_proto = "tls";
    f.pkts_toserver = 12;
    f.pkts_toclient = 10;
    f.bytes_toserver = 1500;
    f.bytes_toclient = 20000;
    f.start_ns = kTs - 62 * kSec;
    f.end_ns = kTs;
    f.state = "bypassed";
    f.reason = "timeout";
    f.bypass = "capture";
    f.bypassed = FlowRecord::Counts{100, 200, 5000, 300000};

    FlowRecord icmp;
    icmp.common = tcp_common();
    icmp.common.family = 6;
    icmp.common.proto = 58;
    icmp.common.src = v6(1);
    icmp.common.dst = v6(2);
    icmp.common.icmp_type = 128;
    icmp.pkts_toserver = 1;
    icmp.bytes_toserver = 118;
    icmp.start_ns = kTs;
    icmp.end_ns = kTs;
    icmp.state = "new";
    icmp.reason = "shutdown";
    icmp.alerted = true;

    struct Case { const char* name; std::string got, want; };
    std::vector<Case> cases = {
        {"alert", eve_alert_json(a),
         R"({"timestamp":"2026-12-01T23:10:17.123456+0000","flow_id":1234567890123,"in_iface":"eth0","event_type":"alert",)"
         R"("vlan":[100,200],"src_ip":"10.0.0.1","src_port":51234,"dest_ip":"10.0.0.2","dest_port":443,"proto":"TCP",)"
         R"("alert":{"action":"allowed","gid":1,"signature_id":2013028,"rev":7,"signature":"ET POLICY \"curl\" User-Agent",)"
         R"("category":"Attempted Information Leak","severity":2},"app_proto":"tls"})"},
        {"alert blocked v6", eve_alert_json(blocked),
         R"({"timestamp":"2026-12-01T23:10:17.123456+0000","flow_id":1234567890123,"event_type":"alert",)"
         R"("src_ip":"2001:db8::1","src_port":53,"dest_ip":"2001:db8::2","dest_port":5353,"proto":"UDP",)"
         R"("alert":{"action":"blocked","gid":1,"signature_id":1,"rev":1,"signature":"udp","category":"","severity":3}})"},
        {"flow bypassed", eve_flow_json(f),
         R"({"timestamp":"2026-12-01T23:10:17.123456+0000","flow_id":1234567890123,"in_iface":"eth0","event_type":"flow",)"
         R"("src_ip":"10.0.0.1","src_port":51234,"dest_ip":"10.0.0.2","dest_port":443,"proto":"TCP","app_proto":"tls",)"
         R"("flow":{"pkts_toserver":12,"pkts_toclient":10,"bytes_toserver":1500,"bytes_toclient":20000,)"
         R"("bypassed":{"pkts_toserver":100,"pkts_toclient":200,"bytes_toserver":5000,"bytes_toclient":300000},)"
         R"("start":"2026-12-01T23:09:15.123456+0000","end":"2026-12-01T23:10:17.123456+0000","age":62,)"
         R"("bypass":"capture","state":"bypassed","reason":"timeout","alerted":false}})"},
        {"flow icmpv6", eve_flow_json(icmp),
         R"({"timestamp":"2026-12-01T23:10:17.123456+0000","flow_id":1234567890123,"in_iface":"eth0","event_type":"flow",)"
         R"("src_ip":"2001:db8::1","dest_ip":"2001:db8::2","proto":"IPv6-ICMP","icmp_type":128,"icmp_code":0,)"
         R"("flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":118,"bytes_toclient":0,)"
         R"("start":"2026-12-01T23:10:17.123456+0000","end":"2026-12-01T23:10:17.123456+0000","age":0,)"
         R"("state":"new","reason":"shutdown","alerted":true}})"},
        {"stats", eve_stats_json(kTs, R"({"uptime":5,"capture":{"kernel_packets":10}})"),
         R"({"timestamp":"2026-12-01T23:10:17.123456+0000","event_type":"stats","stats":{"uptime":5,"capture":{"kernel_packets":10}}})"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(c.got, c.want);
        EXPECT_TRUE(JsonCheck(c.got).valid());
    }
}

TEST(Eve, CheckerRejectsBrokenJson) {
    for (const char* bad : {"{", "{\"a\":}", "{\"a\":1,}", "[1 2]", "\"x", "{\"a\":1}x", "{a:1}"})
        EXPECT_FALSE(JsonCheck(bad).valid()) << bad;
}

TEST(Eve, WriterAppendsOneObjectPerLine) {
    char path[] = "/tmp/xb-eve-test.XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    {
        auto w = EveWriter::open(path);
        ASSERT_TRUE(w.ok()) << w.error().message;
        AlertRecord a;
        a.common = tcp_common();
        a.signature = "line\nbreak";
        w->alert(a);
        w->stats("{\"uptime\":1}");
    }
    {
        auto w = EveWriter::open(path);  // appends
        ASSERT_TRUE(w.ok());
        FlowRecord f;
        f.common = tcp_common();
        f.state = "closed";
        f.reason = "timeout";
        w->flow(f);
        EXPECT_EQ(w->write_errors(), 0u);
    }
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    std::remove(path);
    ASSERT_EQ(lines.size(), 3u);
    for (const auto& l : lines) EXPECT_TRUE(JsonCheck(l).valid()) << l;
    EXPECT_NE(lines[0].find("\"event_type\":\"alert\""), std::string::npos);
    EXPECT_NE(lines[0].find("line\\nbreak"), std::string::npos);
    EXPECT_NE(lines[1].find("\"event_type\":\"stats\""), std::string::npos);
    EXPECT_NE(lines[2].find("\"event_type\":\"flow\""), std::string::npos);
}

TEST(Eve, OpenFailsWithAnError) {
    auto w = EveWriter::open("/nonexistent-dir/eve.json");
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.error().message.find("/nonexistent-dir/eve.json"), std::string::npos);
}

}  // namespace
}  // namespace xb::engine
