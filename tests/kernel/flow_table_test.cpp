// The flow table (ebpf/xb_table.h, src/datapath/flow_table.cpp) against the real kernel, verdicts
// through BPF_PROG_TEST_RUN after user space wrote the slots through its mapping: robin-hood moves,
// every flow of the rated size accepted (1k, 64k; 1M in bench/flow_table_bench) and one more refused
// and counted, both directions or neither, lru evicting whole flows (counted), expiry only when both
// directions are idle with the final counts, the keyed hash per table kept through adoption, and
// last-seen times converted from jiffies.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "datapath/flow.h"
#include "datapath/kernel_clock.h"
#include "datapath/program.h"
#include "harness/sandbox.h"
#include "kernel/bpf_packet_builder.h"
#include "xb_table.h"

namespace xb::datapath {
namespace {

using test::PacketBuilder;

constexpr const char* kSrc = "10.9.0.1";
constexpr const char* kDst = "10.9.0.2";

BypassProgram load_table(uint32_t size, bool lru, std::map<std::string, int> reuse = {}) {
    ProgramOptions o;
    o.flow_table_size = size;
    o.flow_table_lru = lru;
    o.reuse_maps = std::move(reuse);
    Diagnostics d;
    auto p = BypassProgram::load(o, d);
    if (!p.ok()) throw std::runtime_error(p.error().message + "\n" + d.to_text());
    return std::move(p).value();
}

BypassProgram load_tiny(bool lru) { return load_table(8, lru); }  // 8 flows in 32 home slots

FlowKey tcp_key(uint16_t sport) {
    auto k = make_flow_key("tcp", kSrc, sport, kDst, 80);
    if (!k.ok()) throw std::runtime_error(k.error().message);
    return *k;
}

// Distinct flows 10.a.b.c:port -> 172.16.0.1:443.
FlowKey nth_key(uint32_t i) {
    FlowKey k{};
    k.family = XB_FAMILY_IPV4;
    k.proto = 6;
    k.src_addr[0] = htonl(0x0a000000u | i);
    k.dst_addr[0] = htonl(0xac100001u);
    k.src_port = htons(static_cast<uint16_t>(1024 + i % 50000));
    k.dst_port = htons(443);
    return k;
}

std::vector<uint8_t> tcp_frame(uint16_t sport) {
    return PacketBuilder().ipv4(kSrc, kDst).tcp(sport, 80).payload(20).build();
}

uint32_t verdict(const BypassProgram& p, uint16_t sport) {
    auto r = p.test_run(tcp_frame(sport));
    return r.ok() ? r->retval : 0xffffffffu;
}

uint32_t reverse_verdict(const BypassProgram& p, uint16_t sport) {
    auto r = p.test_run(PacketBuilder().ipv4(kDst, kSrc).tcp(80, sport).payload(20).build());
    return r.ok() ? r->retval : 0xffffffffu;
}

// Source ports whose (forward) keys share one home slot in this table (its keyed hash).
std::vector<uint16_t> ports_with_one_home(const FlowTable& table, size_t n) {
    std::map<uint32_t, std::vector<uint16_t>> by_home;
    for (uint16_t port = 1000; port < 30000; ++port) {
        auto& v = by_home[table.home_slot(tcp_key(port))];
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

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

class FlowTableTest : public ::testing::Test {
protected:
    void SetUp() override { XB_REQUIRE_KERNEL(); }
};

// Keys of one home sit one after the other; removing one moves the keys after it back (robin hood),
// and the program, reading the slots user space wrote through its mapping, still finds every key.
TEST_F(FlowTableTest, KeysOfOneHomeMoveBackWhenOneIsRemovedAndStayFound) {
    auto prog = load_table(64, false);
    auto table = prog.flow_table();
    auto ports = ports_with_one_home(table, 3);
    ASSERT_EQ(ports.size(), 3u);
    // One direction each, so that the three keys sit in three consecutive slots from one home.
    for (uint16_t p : ports) ASSERT_TRUE(table.insert_one(tcp_key(p)).ok());
    for (uint16_t p : ports) EXPECT_EQ(verdict(prog, p), XDP_DROP) << p;

    ASSERT_TRUE(table.remove(tcp_key(ports[1])).ok());
    EXPECT_EQ(verdict(prog, ports[1]), XDP_PASS);
    EXPECT_EQ(verdict(prog, ports[2]), XDP_DROP) << "the key after the removed one moved back and is found";
    auto o = table.occupancy();
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->flows, 2u);
    EXPECT_EQ(o->removed, 0u) << "no removed markers: the run was shifted back";
    EXPECT_EQ(o->never_used, o->slots - 2);

    // Inserting again: counters of a reused flow id start from zero.
    EXPECT_EQ(verdict(prog, ports[0]), XDP_DROP);
    ASSERT_TRUE(table.remove(tcp_key(ports[0])).ok());
    auto e = table.expire(monotonic_ns(), 3600ull * 1000000000ull);  // zeroes the ids that left
    ASSERT_TRUE(e.ok());
    EXPECT_TRUE(e->empty());
    ASSERT_TRUE(table.insert_one(tcp_key(ports[1])).ok());
    ASSERT_TRUE(table.insert_one(tcp_key(ports[0])).ok());
    EXPECT_EQ(verdict(prog, ports[1]), XDP_DROP);
    auto stats = table.lookup(tcp_key(ports[1]));
    ASSERT_TRUE(stats.has_value());
    EXPECT_EQ(stats->packets, 1u);
    EXPECT_EQ(table.lookup(tcp_key(ports[0]))->packets, 0u);
    for (uint16_t p : ports) EXPECT_EQ(verdict(prog, p), XDP_DROP) << p;
}

// Many flows through robin-hood shifts: every direction of every flow is still hit by the program.
TEST_F(FlowTableTest, ProgramsHitEveryFlowAfterDirectMappedWrites) {
    auto prog = load_table(1000, false);
    auto table = prog.flow_table();
    for (uint16_t p = 2000; p < 3000; ++p) ASSERT_TRUE(table.insert(tcp_key(p)).ok()) << p;
    for (uint16_t p = 2000; p < 3000; p += 3) ASSERT_TRUE(table.remove(tcp_key(p)).ok()) << p;
    for (uint16_t p = 2000; p < 3000; ++p) {
        uint32_t want = (p - 2000) % 3 == 0 ? XDP_PASS : XDP_DROP;
        ASSERT_EQ(verdict(prog, p), want) << p;
        ASSERT_EQ(reverse_verdict(prog, p), want) << p;
    }
}

TEST_F(FlowTableTest, EveryFlowOfTheRatedSizeIsAcceptedAndOneMoreIsRefusedAndCounted) {
    for (uint32_t size : {1000u, 65536u}) {
        auto prog = load_table(size, false);
        auto table = prog.flow_table();
        for (uint32_t i = 0; i < size; ++i) ASSERT_TRUE(table.insert(nth_key(i)).ok()) << size << " flow " << i;
        auto o = table.occupancy();
        ASSERT_TRUE(o.ok());
        EXPECT_EQ(o->flows, 2ull * size) << "both directions of every flow";
        EXPECT_EQ(o->flow_units, size);
        EXPECT_EQ(o->capacity, size);
        auto st = table.insert(nth_key(size + 1));
        ASSERT_FALSE(st.ok());
        EXPECT_EQ(st.error().code, E2BIG);
        EXPECT_NE(st.error().message.find("full"), std::string::npos) << st.error().message;
        auto c = table.counts();
        EXPECT_EQ(c.accepted, size);
        EXPECT_EQ(c.refused, 1u);
        EXPECT_FALSE(table.lookup(nth_key(size + 1)).has_value());
        EXPECT_FALSE(table.lookup(reverse_flow_key(nth_key(size + 1))).has_value());
    }
}

TEST_F(FlowTableTest, AFullTableRefusesTheFlowInBothDirectionsOrNeither) {
    auto prog = load_tiny(false);
    auto table = prog.flow_table();
    for (uint16_t p = 2000; p < 2008; ++p) ASSERT_TRUE(table.insert(tcp_key(p)).ok()) << p;
    auto o = table.occupancy();
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->flows, 16u);
    auto st = table.insert(tcp_key(2100));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, E2BIG);
    EXPECT_FALSE(table.lookup(tcp_key(2100)).has_value());
    EXPECT_FALSE(table.lookup(reverse_flow_key(tcp_key(2100))).has_value());
    for (uint16_t p = 2000; p < 2008; ++p) EXPECT_EQ(verdict(prog, p), XDP_DROP) << "existing flows stay " << p;
    // Inserting a flow that is there already is not an error and keeps its counts.
    ASSERT_TRUE(table.insert(tcp_key(2003)).ok());
    EXPECT_EQ(table.lookup(tcp_key(2003))->packets, 1u);
    EXPECT_EQ(table.counts().refused, 1u);
}

TEST_F(FlowTableTest, WithLruTheFlowSeenLongestAgoGivesWayInBothDirectionsAndIsCounted) {
    auto prog = load_tiny(true);
    auto table = prog.flow_table();
    for (uint16_t p = 3000; p < 3008; ++p) ASSERT_TRUE(table.insert(tcp_key(p)).ok()) << p;
    // Every flow but 3003 sees packets now; 3005 in one direction only (still active). They must be
    // stamped later than the inserts, which is checked on the stamps themselves: the table's clock
    // is the kernel's jiffies extrapolated from a sample, and in a slow VM whose ticks lag it runs
    // ahead of them, so waiting on it let the packets fall in the inserts' jiffy. Up to 10 s.
    auto idle = table.lookup(tcp_key(3003));
    ASSERT_TRUE(idle.has_value());
    auto later = [&](const FlowKey& k) {
        auto s = table.lookup(k);
        return s && s->last_seen_ns > idle->last_seen_ns;
    };
    bool stamped_later = false;
    for (int i = 0; i < 1000 && !stamped_later; ++i) {
        stamped_later = true;
        for (uint16_t p = 3000; p < 3008; ++p) {
            if (p == 3003) continue;
            EXPECT_EQ(verdict(prog, p), XDP_DROP);
            if (p != 3005) {
                EXPECT_EQ(reverse_verdict(prog, p), XDP_DROP);
            }
            stamped_later = stamped_later && later(tcp_key(p)) && (p == 3005 || later(reverse_flow_key(tcp_key(p))));
        }
        if (!stamped_later) ::usleep(10000);
    }
    ASSERT_TRUE(stamped_later) << "the packets were never stamped after the inserts";
    ASSERT_TRUE(table.insert(tcp_key(3100)).ok());
    EXPECT_FALSE(table.lookup(tcp_key(3003)).has_value()) << "the idle flow must give way";
    EXPECT_FALSE(table.lookup(reverse_flow_key(tcp_key(3003))).has_value()) << "with both directions";
    for (uint16_t p = 3000; p < 3008; ++p) {
        if (p == 3003) continue;
        EXPECT_TRUE(table.lookup(tcp_key(p)).has_value()) << p;
        EXPECT_TRUE(table.lookup(reverse_flow_key(tcp_key(p))).has_value()) << p;
    }
    EXPECT_EQ(verdict(prog, 3100), XDP_DROP);
    EXPECT_EQ(reverse_verdict(prog, 3100), XDP_DROP);
    EXPECT_EQ(verdict(prog, 3003), XDP_PASS);
    EXPECT_EQ(table.counts().evicted, 1u);
    auto gone = table.take_evicted();
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_TRUE(flow_key_equal(gone[0], tcp_key(3003)));
    auto o = table.occupancy();
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->flows, 16u) << "no half flows";
}

// The table's clock is the kernel's jiffies extrapolated from a sample; in a VM whose jiffies jump
// to catch up lost ticks it runs behind them, so packets are stamped later than "now". Those flows
// are the youngest (a negative age), not 49 days old: with a clock 1000 jiffies behind, the idle
// flow still gives way and none of the active ones does.
TEST_F(FlowTableTest, WithLruAClockBehindThePacketsStampsStillEvictsTheIdleFlow) {
    auto prog = load_tiny(true);
    auto table = prog.flow_table();
    auto kernel = KernelClock::load();
    ASSERT_TRUE(kernel.ok()) << kernel.error().message;
    table.replace_clock([kernel = *kernel]() {
        auto s = kernel->sample();
        if (s) s->jiffies -= 1000;
        return s;
    });
    for (uint16_t p = 3000; p < 3008; ++p) ASSERT_TRUE(table.insert(tcp_key(p)).ok()) << p;
    for (uint16_t p = 3000; p < 3008; ++p) {
        if (p == 3003) continue;
        ASSERT_EQ(verdict(prog, p), XDP_DROP) << p;
        ASSERT_EQ(reverse_verdict(prog, p), XDP_DROP) << p;
    }
    ASSERT_TRUE(table.insert(tcp_key(3100)).ok());
    EXPECT_FALSE(table.lookup(tcp_key(3003)).has_value()) << "the idle flow must give way";
    for (uint16_t p = 3000; p < 3008; ++p) {
        if (p == 3003) continue;
        EXPECT_TRUE(table.lookup(tcp_key(p)).has_value()) << p << ": a flow whose packets came after now gave way";
    }
    auto gone = table.take_evicted();
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_TRUE(flow_key_equal(gone[0], tcp_key(3003)));
}

// Without a readable kernel config (containers, minimal images) libbpf cannot fill CONFIG_HZ and the
// clock counts it: the same HZ as from the config. The child hides the config files in a mount
// namespace of its own (bind-mounting an empty file over them) and reports by its exit code.
TEST_F(FlowTableTest, WithoutAKernelConfigTheClockMeasuresTheSameHz) {
    auto clock = KernelClock::load();
    ASSERT_TRUE(clock.ok()) << clock.error().message;
    auto s = (*clock)->sample();
    ASSERT_TRUE(s.ok());
    ASSERT_NE(s->hz, 0u);
    const uint64_t want = s->hz;
    utsname u{};
    ::uname(&u);
    const std::string boot_config = std::string("/boot/config-") + u.release;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(10);
        for (const std::string& f : {std::string("/proc/config.gz"), boot_config})
            if (::access(f.c_str(), F_OK) == 0 && ::mount("/dev/null", f.c_str(), nullptr, MS_BIND, nullptr) != 0) ::_exit(11);
        auto hidden = KernelClock::load();
        if (!hidden.ok()) ::_exit(12);
        auto h = (*hidden)->sample();
        if (!h.ok()) ::_exit(13);
        ::_exit(h->hz == want ? 0 : 20);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10-13: setup or load failed; 20: measured HZ differs from " << want;
}

TEST_F(FlowTableTest, AOneWayActiveFlowIsNotExpiredAndAnIdleOneLeavesWithItsFinalCounts) {
    auto prog = load_table(64, false);
    auto table = prog.flow_table();
    ASSERT_TRUE(table.insert(tcp_key(5000)).ok());  // one-way: only the forward direction sees packets
    ASSERT_TRUE(table.insert(tcp_key(5001)).ok());  // idle from the start
    uint64_t inserted = monotonic_coarse_ns();
    const uint64_t timeout = 300ull * 1000000;
    for (int round = 0; round < 4; ++round) {
        ::usleep(120000);
        EXPECT_EQ(verdict(prog, 5000), XDP_DROP);
    }
    auto first = table.expire(monotonic_ns(), timeout);
    ASSERT_TRUE(first.ok()) << first.error().message;
    ASSERT_EQ(first->size(), 1u) << "only the flow idle in both directions";
    EXPECT_TRUE(flow_key_equal((*first)[0].key, tcp_key(5001)));
    EXPECT_EQ((*first)[0].forward.packets + (*first)[0].reverse.packets, 0u);
    EXPECT_TRUE(table.lookup(tcp_key(5000)).has_value()) << "one direction active: the flow stays";
    EXPECT_TRUE(table.lookup(reverse_flow_key(tcp_key(5000))).has_value());

    ::usleep(450000);
    auto second = table.expire(monotonic_ns(), timeout);
    ASSERT_TRUE(second.ok());
    ASSERT_EQ(second->size(), 1u);
    const auto& e = (*second)[0];
    EXPECT_TRUE(flow_key_equal(e.key, tcp_key(5000)));
    EXPECT_EQ(e.forward.packets, 4u);
    EXPECT_EQ(e.forward.bytes, 4u * tcp_frame(5000).size());
    EXPECT_EQ(e.reverse.packets, 0u);
    EXPECT_LE(e.first_seen_ns, inserted + 20000000ull);
    EXPECT_GE(e.first_seen_ns + 20000000ull, inserted);
    EXPECT_GT(e.last_seen_ns, e.first_seen_ns + 300000000ull) << "the last hit, about 480 ms after the insert";
    EXPECT_FALSE(table.lookup(tcp_key(5000)).has_value());
    EXPECT_EQ(verdict(prog, 5000), XDP_PASS);
    EXPECT_EQ(table.counts().expired, 2u);
    auto o = table.occupancy();
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->flows, 0u);
}

// An expiring sweep takes the writer lock in chunks of at most 128 flows (src/datapath/flow_table.cpp),
// so a request waits for one chunk at most: expiring 10,000 flows takes at least 79 holds, and a
// sweep with nothing to expire takes none. The durations of the holds are the bench's to report.
TEST_F(FlowTableTest, AnExpiringSweepHoldsTheLockInBoundedChunks) {
    constexpr uint32_t kFlows = 10000;
    auto prog = load_table(kFlows, false);
    auto table = prog.flow_table();
    for (uint32_t i = 0; i < kFlows; ++i) ASSERT_TRUE(table.insert(nth_key(i)).ok()) << i;
    auto none = table.expire(monotonic_ns(), 3600ull * 1000000000ull);
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_TRUE(none->empty());
    EXPECT_EQ(table.last_sweep_holds().holds, 0u) << "nothing idle: the scan takes no lock";
    auto all = table.expire(monotonic_ns() + 3600ull * 1000000000ull, 1000000000ull);
    ASSERT_TRUE(all.ok()) << all.error().message;
    ASSERT_EQ(all->size(), kFlows);
    const auto h = table.last_sweep_holds();
    EXPECT_GE(h.holds, (kFlows + 127) / 128);
    EXPECT_GT(h.longest_wall_ns, 0u);
}

TEST_F(FlowTableTest, TheSlotHashIsKeyedPerTableAndTheKeySurvivesAdoption) {
    auto a = load_table(1000, false);
    auto b = load_table(1000, false);
    EXPECT_NE(std::memcmp(&a.flow_table().hash_key(), &b.flow_table().hash_key(), sizeof(xb_hash_key)), 0);
    size_t same_home = 0;
    for (uint16_t p = 1000; p < 1100; ++p) same_home += a.flow_table().home_slot(tcp_key(p)) == b.flow_table().home_slot(tcp_key(p));
    EXPECT_LT(same_home, 10u) << "two tables place keys independently";

    auto table = a.flow_table();
    for (uint16_t p = 1000; p < 1100; ++p) ASSERT_TRUE(table.insert(tcp_key(p)).ok());
    EXPECT_EQ(verdict(a, 1000), XDP_DROP);
    // A later run adopts the maps (as pinned maps are): same key, same flows, the program hits them.
    auto c = load_table(1000, false, {{"xb_flow_slots", a.map_fd("xb_flow_slots")}, {"xb_flow_stats", a.map_fd("xb_flow_stats")}});
    auto adopted = c.flow_table();
    EXPECT_EQ(std::memcmp(&adopted.hash_key(), &table.hash_key(), sizeof(xb_hash_key)), 0);
    auto o = adopted.occupancy();
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->flows, 200u);
    EXPECT_EQ(o->flow_units, 100u);
    for (uint16_t p = 1000; p < 1100; ++p) {
        ASSERT_EQ(verdict(c, p), XDP_DROP) << p;
        ASSERT_EQ(reverse_verdict(c, p), XDP_DROP) << p;
    }
    EXPECT_EQ(adopted.lookup(tcp_key(1000))->packets, 2u) << "counts continue";
    // The adopted table takes new flows and removes old ones.
    ASSERT_TRUE(adopted.insert(tcp_key(1200)).ok());
    ASSERT_TRUE(adopted.remove(tcp_key(1001)).ok());
    EXPECT_EQ(verdict(c, 1200), XDP_DROP);
    EXPECT_EQ(verdict(c, 1001), XDP_PASS);
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
