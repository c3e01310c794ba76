// The flow table (ebpf/xb_table.h, src/datapath/flow_table.cpp) against the real kernel: keys on
// probe paths past removed slots, removed slots cleared at the end of a path, a full probe window
// refused (both directions or neither) or, with lru, the entries seen longest ago giving way, and
// last-seen times converted from jiffies. Tiny tables make every flow share one probe window.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "datapath/flow.h"
#include "datapath/program.h"
#include "harness/sandbox.h"
#include "kernel/bpf_packet_builder.h"
#include "xb_table.h"

namespace xb::datapath {
namespace {

using test::PacketBuilder;

constexpr const char* kSrc = "10.9.0.1";
constexpr const char* kDst = "10.9.0.2";

BypassProgram load_tiny(bool lru) {
    ProgramOptions o;
    o.flow_table_size = 8;  // 16 slots: one probe window is the whole table
    o.flow_table_lru = lru;
    Diagnostics d;
    auto p = BypassProgram::load(o, d);
    if (!p.ok()) throw std::runtime_error(p.error().message + "\n" + d.to_text());
    return std::move(p).value();
}

FlowKey tcp_key(uint16_t sport) {
    auto k = make_flow_key("tcp", kSrc, sport, kDst, 80);
    if (!k.ok()) throw std::runtime_error(k.error().message);
    return *k;
}

std::vector<uint8_t> tcp_frame(uint16_t sport) {
    return PacketBuilder().ipv4(kSrc, kDst).tcp(sport, 80).payload(20).build();
}

uint32_t verdict(const BypassProgram& p, uint16_t sport) {
    auto r = p.test_run(tcp_frame(sport));
    return r.ok() ? r->retval : 0xffffffffu;
}

// Source ports whose (forward) keys share one home slot in a 16-slot table.
std::vector<uint16_t> ports_with_one_home(size_t n) {
    std::map<uint32_t, std::vector<uint16_t>> by_home;
    for (uint16_t port = 1000; port < 5000; ++port) {
        FlowKey k = tcp_key(port);
        auto& v = by_home[xb_slot_hash(&k) & 15];
        v.push_back(port);
        if (v.size() == n) return v;
    }
    return {};
}

uint64_t monotonic_coarse_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

class FlowTableTest : public ::testing::Test {
protected:
    void SetUp() override { XB_REQUIRE_KERNEL(); }
};

TEST_F(FlowTableTest, KeysPastARemovedSlotAreFoundAndAPathEndIsClearedAgain) {
    auto prog = load_tiny(false);
    auto table = prog.flow_table();
    auto ports = ports_with_one_home(3);
    ASSERT_EQ(ports.size(), 3u);
    // One direction each, so that the three keys sit in three consecutive slots from one home.
    for (uint16_t p : ports) ASSERT_TRUE(table.insert_one(tcp_key(p)).ok());
    for (uint16_t p : ports) EXPECT_EQ(verdict(prog, p), XDP_DROP) << p;

    ASSERT_TRUE(table.remove(tcp_key(ports[1])).ok());
    EXPECT_EQ(verdict(prog, ports[1]), XDP_PASS);
    EXPECT_EQ(verdict(prog, ports[2]), XDP_DROP) << "a lookup must go on past a removed slot";
    auto o = table.occupancy();
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->flows, 2u);
    EXPECT_EQ(o->removed, 1u) << "the middle slot is on the third key's path: it stays marked removed";

    ASSERT_TRUE(table.remove(tcp_key(ports[2])).ok());
    o = table.occupancy();
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->flows, 1u);
    EXPECT_EQ(o->removed, 0u) << "both removed slots end the path now: they are never-used again";
    EXPECT_EQ(o->never_used, 15u);
    EXPECT_EQ(verdict(prog, ports[0]), XDP_DROP);
    EXPECT_EQ(verdict(prog, ports[2]), XDP_PASS);

    // A removed slot is reused, and the reused slot's counters start from zero.
    ASSERT_TRUE(table.insert_one(tcp_key(ports[2])).ok());
    EXPECT_EQ(verdict(prog, ports[2]), XDP_DROP);
    auto stats = table.lookup(tcp_key(ports[2]));
    ASSERT_TRUE(stats.has_value());
    EXPECT_EQ(stats->packets, 1u);
}

TEST_F(FlowTableTest, AFullWindowRefusesTheFlowInBothDirectionsOrNeither) {
    auto prog = load_tiny(false);
    auto table = prog.flow_table();
    for (uint16_t p = 2000; p < 2008; ++p) ASSERT_TRUE(table.insert(tcp_key(p)).ok()) << p;
    auto o = table.occupancy();
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->flows, 16u);
    auto st = table.insert(tcp_key(2100));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, E2BIG);
    EXPECT_NE(st.error().message.find("no free slot within reach"), std::string::npos) << st.error().message;
    EXPECT_FALSE(table.lookup(tcp_key(2100)).has_value());
    EXPECT_FALSE(table.lookup(reverse_flow_key(tcp_key(2100))).has_value());
    for (uint16_t p = 2000; p < 2008; ++p) EXPECT_EQ(verdict(prog, p), XDP_DROP) << "existing flows stay " << p;
    // Inserting a flow that is there already is not an error and keeps its counts.
    ASSERT_TRUE(table.insert(tcp_key(2003)).ok());
    EXPECT_EQ(table.lookup(tcp_key(2003))->packets, 1u);
}

TEST_F(FlowTableTest, WithLruTheFlowSeenLongestAgoGivesWay) {
    auto prog = load_tiny(true);
    auto table = prog.flow_table();
    for (uint16_t p = 3000; p < 3008; ++p) ASSERT_TRUE(table.insert(tcp_key(p)).ok()) << p;
    ::usleep(50000);  // a few jiffies at any HZ
    // Every flow but 3003 sees packets in both directions now.
    for (uint16_t p = 3000; p < 3008; ++p) {
        if (p == 3003) continue;
        EXPECT_EQ(verdict(prog, p), XDP_DROP);
        auto back = PacketBuilder().ipv4(kDst, kSrc).tcp(80, p).payload(20).build();
        EXPECT_EQ(prog.test_run(back)->retval, XDP_DROP);
    }
    ASSERT_TRUE(table.insert(tcp_key(3100)).ok());
    EXPECT_FALSE(table.lookup(tcp_key(3003)).has_value()) << "the idle flow must give way";
    EXPECT_FALSE(table.lookup(reverse_flow_key(tcp_key(3003))).has_value());
    for (uint16_t p = 3000; p < 3008; ++p) {
        if (p == 3003) continue;
        EXPECT_TRUE(table.lookup(tcp_key(p)).has_value()) << p;
    }
    EXPECT_EQ(verdict(prog, 3100), XDP_DROP);
    EXPECT_EQ(verdict(prog, 3003), XDP_PASS);
}

TEST_F(FlowTableTest, LastSeenIsTheMonotonicTimeOfTheLastHit) {
    auto prog = load_tiny(false);
    auto table = prog.flow_table();
    ASSERT_TRUE(table.insert(tcp_key(4000)).ok());
    ::usleep(100000);
    uint64_t before = monotonic_coarse_ns();
    EXPECT_EQ(verdict(prog, 4000), XDP_DROP);
    uint64_t after = monotonic_coarse_ns();
    auto stats = table.lookup(tcp_key(4000));
    ASSERT_TRUE(stats.has_value());
    // Jiffies tick at most every 10 ms (HZ >= 100); allow two ticks either side.
    EXPECT_GE(stats->last_seen_ns + 20000000ull, before);
    EXPECT_LE(stats->last_seen_ns, after + 20000000ull);
    auto never_hit = table.lookup(reverse_flow_key(tcp_key(4000)));
    ASSERT_TRUE(never_hit.has_value());
    EXPECT_LT(never_hit->last_seen_ns + 50000000ull, before) << "the insert time, 100 ms earlier";
}

}  // namespace
}  // namespace xb::datapath
