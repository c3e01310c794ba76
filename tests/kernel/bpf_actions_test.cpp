// The actions of each program variant on the real kernel: cpu redirect with the symmetric hash
// (checked against the user-space mirror), IPS forwarding through the devmap (XDP) and bpf_redirect
// (tc), shared/LRU flow tables, batch iteration, and live traffic between namespaces through XDP and
// tc (with a VLAN tag the kernel moved out of the frame).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include "datapath/flow.h"
#include "datapath/program.h"
#include "harness/sandbox.h"
#include "kernel/bpf_packet_builder.h"

namespace xb::datapath {
namespace {

using test::PacketBuilder;

BypassProgram must_load(const ProgramOptions& o) {
    Diagnostics d;
    auto p = BypassProgram::load(o, d);
    if (!p.ok()) throw std::runtime_error(p.error().message + "\n" + d.to_text());
    return std::move(p).value();
}

class ActionsTest : public ::testing::Test {
protected:
    void SetUp() override {
        XB_REQUIRE_KERNEL();
        sandbox_ = std::make_unique<test::Sandbox>();
    }
    std::unique_ptr<test::Sandbox> sandbox_;
};

TEST_F(ActionsTest, CpuRedirectFollowsTheSymmetricHash) {
    unsigned cpus = static_cast<unsigned>(libbpf_num_possible_cpus());
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || cpus < 2) GTEST_SKIP() << "needs two online CPUs";
    ProgramOptions o;
    o.cpu_redirect = {0, 1};
    auto prog = must_load(o);
    EXPECT_EQ(prog.program_name(), "xdp_ids_cpu");
    // With CPU 1 taken out of the cpumap, a redirect succeeds exactly when the hash picks CPU 0: the
    // verdict shows which CPU the program chose.
    uint32_t cpu1 = 1;
    ASSERT_EQ(bpf_map_delete_elem(prog.map_fd("xb_cpu_map"), &cpu1), 0);

    std::mt19937 rng(7);
    int to_cpu0 = 0, runs = 0;
    for (int i = 0; i < 200; ++i) {
        bool v6 = i % 2;
        char src[64], dst[64];
        if (v6) {
            snprintf(src, sizeof src, "2001:db8::%x", static_cast<unsigned>(rng() & 0xffff));
            snprintf(dst, sizeof dst, "2001:db8:1::%x", static_cast<unsigned>(rng() & 0xffff));
        } else {
            snprintf(src, sizeof src, "10.%u.%u.1", static_cast<unsigned>(rng() & 0xff), static_cast<unsigned>(rng() & 0xff));
            snprintf(dst, sizeof dst, "192.168.%u.2", static_cast<unsigned>(rng() & 0xff));
        }
        uint16_t sport = static_cast<uint16_t>(1024 + rng() % 60000), dport = static_cast<uint16_t>(1 + rng() % 1000);
        auto key = make_flow_key("tcp", src, sport, dst, dport);
        ASSERT_TRUE(key.ok());
        unsigned want_cpu = redirect_cpu_for(*key, o.cpu_redirect);
        ASSERT_EQ(want_cpu, redirect_cpu_for(reverse_flow_key(*key), o.cpu_redirect));
        for (bool reverse : {false, true}) {
            PacketBuilder b;
            if (v6) b.ipv6(reverse ? dst : src, reverse ? src : dst);
            else b.ipv4(reverse ? dst : src, reverse ? src : dst);
            b.tcp(reverse ? dport : sport, reverse ? sport : dport);
            auto r = prog.test_run(b.build());
            ASSERT_TRUE(r.ok()) << r.error().message;
            EXPECT_EQ(r->retval, want_cpu == 0 ? XDP_REDIRECT : XDP_PASS) << src << " " << dst;
            to_cpu0 += want_cpu == 0;
            ++runs;
        }
    }
    auto c = prog.read_counters();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ((*c)[XB_CNT_CPU_REDIRECT], static_cast<uint64_t>(to_cpu0));
    EXPECT_EQ((*c)[XB_CNT_REDIRECT_FAIL], static_cast<uint64_t>(runs - to_cpu0));
    EXPECT_EQ((*c)[XB_CNT_MISS], static_cast<uint64_t>(runs));
    EXPECT_GT(to_cpu0, runs / 4);  // both CPUs were chosen
    EXPECT_LT(to_cpu0, runs * 3 / 4);

    // A hit is still dropped by the cpu variant.
    auto key = make_flow_key("udp", "10.0.0.1", 1, "10.0.0.2", 2);
    ASSERT_TRUE(prog.flow_table().insert(*key).ok());
    auto r = prog.test_run(PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->retval, XDP_DROP);
}

TEST_F(ActionsTest, IpsForwardsHitsToThePeer) {
    std::string ns = sandbox_->add_netns("ips");
    sandbox_->add_veth(ns, "cap0", ns, "cap1");
    sandbox_->add_veth(ns, "peer0", ns, "peer1");
    int peer = sandbox_->ifindex(ns, "peer0");
    auto frame = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build();
    auto miss = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 3).build();
    auto key = make_flow_key("tcp", "10.0.0.1", 1, "10.0.0.2", 2);
    ASSERT_TRUE(key.ok());

    sandbox_->run_in(ns, [&] {
        for (Hook hook : {Hook::Xdp, Hook::Tc}) {
            SCOPED_TRACE(std::string(hook_name(hook)));
            ProgramOptions o;
            o.datapath = hook;
            o.ips_peer_ifindex = peer;
            auto prog = must_load(o);
            EXPECT_EQ(prog.program_name(), hook == Hook::Xdp ? "xdp_ips" : "tc_ips");
            ASSERT_TRUE(prog.flow_table().insert(*key).ok());
            auto hit = prog.test_run(frame);
            ASSERT_TRUE(hit.ok());
            EXPECT_EQ(hit->retval, hook == Hook::Xdp ? XDP_REDIRECT : TC_ACT_REDIRECT);
            auto m = prog.test_run(miss);
            ASSERT_TRUE(m.ok());
            EXPECT_EQ(m->retval, hook == Hook::Xdp ? XDP_PASS : TC_ACT_OK);
            auto c = prog.read_counters();
            ASSERT_TRUE(c.ok());
            EXPECT_EQ((*c)[XB_CNT_IPS_FORWARD], 1u);
            EXPECT_EQ((*c)[XB_CNT_HIT], 1u);
            EXPECT_EQ((*c)[XB_CNT_MISS], 1u);
            EXPECT_EQ((*c)[XB_CNT_PASS], 1u);
            EXPECT_EQ((*c)[XB_CNT_DROP], 0u);
        }
        // An empty peer slot: the frame goes to the stack and the failure is counted.
        ProgramOptions o;
        o.ips_peer_ifindex = peer;
        auto prog = must_load(o);
        ASSERT_TRUE(prog.flow_table().insert(*key).ok());
        uint32_t slot = XB_IPS_PEER_KEY;
        ASSERT_EQ(bpf_map_delete_elem(prog.map_fd("xb_ips_devmap"), &slot), 0);
        auto r = prog.test_run(frame);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->retval, XDP_PASS);
        auto c = prog.read_counters();
        EXPECT_EQ((*c)[XB_CNT_REDIRECT_FAIL], 1u);
        EXPECT_EQ((*c)[XB_CNT_PASS], 1u);
    });
}

TEST_F(ActionsTest, MissingIpsPeerIsRefusedAtLoad) {
    std::string ns = sandbox_->add_netns("nopeer");
    sandbox_->run_in(ns, [&] {
        ProgramOptions o;
        o.ips_peer_ifindex = 4000;  // no such device in this fresh namespace
        Diagnostics d;
        auto p = BypassProgram::load(o, d);
        EXPECT_FALSE(p.ok());
        EXPECT_TRUE(d.contains("XB3013")) << d.to_text();
    });
}

TEST_F(ActionsTest, SharedAndLruTablesAndBatchIteration) {
    for (int variant = 0; variant < 4; ++variant) {
        ProgramOptions o;
        o.flow_table_percpu = variant & 1;
        o.flow_table_lru = variant & 2;
        o.flow_table_size = 4096;
        SCOPED_TRACE("percpu=" + std::to_string(o.flow_table_percpu) + " lru=" + std::to_string(o.flow_table_lru));
        auto prog = must_load(o);
        auto table = prog.flow_table();
        std::vector<FlowKey> keys;
        for (unsigned i = 0; i < 1000; ++i) {
            std::string src = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
            auto k = make_flow_key(i % 2 ? "udp" : "tcp", src, static_cast<uint16_t>(1000 + i), "10.2.0.1", 80);
            ASSERT_TRUE(k.ok());
            ASSERT_TRUE(table.insert(*k).ok());
            keys.push_back(*k);
        }
        auto frame = PacketBuilder().ipv4("10.1.0.1", "10.2.0.1").tcp(1000, 80).payload(10).build();
        for (int i = 0; i < 5; ++i) {
            auto r = prog.test_run(frame);
            ASSERT_TRUE(r.ok());
            EXPECT_EQ(r->retval, XDP_DROP);
        }
        auto stats = table.lookup(keys[0]);
        ASSERT_TRUE(stats.has_value());
        EXPECT_EQ(stats->packets, 5u);
        EXPECT_EQ(stats->bytes, 5u * frame.size());
        auto all = table.entries();
        ASSERT_TRUE(all.ok()) << all.error().message;
        EXPECT_EQ(all->size(), 2000u);
        uint64_t packets = 0;
        for (const auto& e : *all) packets += e.stats.packets;
        EXPECT_EQ(packets, 5u);
        for (size_t i = 0; i < 500; ++i) ASSERT_TRUE(table.remove(keys[i]).ok());
        EXPECT_FALSE(table.lookup(keys[0]).has_value());
        EXPECT_FALSE(table.lookup(reverse_flow_key(keys[0])).has_value());
        EXPECT_TRUE(table.remove(keys[0]).ok());  // absent: not an error
        all = table.entries();
        ASSERT_TRUE(all.ok());
        EXPECT_EQ(all->size(), 1000u);
        auto r = prog.test_run(frame);
        EXPECT_EQ(r->retval, XDP_PASS);
    }
}

// Sends UDP datagrams from src_ip:sport to dst_ip:dport inside the calling thread's namespace.
void send_udp(const char* src_ip, uint16_t sport, const char* dst_ip, uint16_t dport, int count) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(sport);
    inet_pton(AF_INET, src_ip, &a.sin_addr);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
    sockaddr_in d{};
    d.sin_family = AF_INET;
    d.sin_port = htons(dport);
    inet_pton(AF_INET, dst_ip, &d.sin_addr);
    char payload[32] = "xbypass";
    for (int i = 0; i < count; ++i)
        ::sendto(fd, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&d), sizeof d);
    ::close(fd);
}

// Writes a frame count times on an interface of the calling thread's namespace (AF_PACKET).
void send_raw(int ifindex, const std::vector<uint8_t>& frame, int count) {
    int fd = ::socket(AF_PACKET, SOCK_RAW, 0);
    ASSERT_GE(fd, 0) << strerror(errno);
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_ifindex = ifindex;
    ll.sll_halen = ETH_ALEN;
    std::memcpy(ll.sll_addr, frame.data(), ETH_ALEN);
    for (int i = 0; i < count; ++i)
        ASSERT_EQ(::sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&ll), sizeof ll),
                  static_cast<ssize_t>(frame.size()))
            << strerror(errno);
    ::close(fd);
}

// Counts until the expected number shows up (packets cross the veth asynchronously).
uint64_t wait_counter(const BypassProgram& prog, enum xb_counter c, uint64_t want) {
    uint64_t v = 0;
    for (int i = 0; i < 100; ++i) {
        auto cs = prog.read_counters();
        v = cs.ok() ? (*cs)[c] : 0;
        if (v >= want) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return v;
}

// A run that dies without detaching stops renewing its lease: once it lapses, hits go to the stack
// as misses (counted as orphaned) instead of being dropped where the IDS cannot see them.
TEST_F(ActionsTest, HitsAreBypassedOnlyWhileTheLeaseHolds) {
    for (Hook hook : {Hook::Xdp, Hook::Tc}) {
        SCOPED_TRACE(std::string(hook_name(hook)));
        ProgramOptions o;
        o.datapath = hook;
        auto prog = must_load(o);
        const uint32_t drop = hook == Hook::Xdp ? XDP_DROP : TC_ACT_SHOT;
        const uint32_t pass = hook == Hook::Xdp ? XDP_PASS : TC_ACT_OK;
        auto key = make_flow_key("tcp", "10.1.0.1", 1000, "10.2.0.1", 80);
        ASSERT_TRUE(key.ok());
        ASSERT_TRUE(prog.flow_table().insert(*key).ok());
        auto frame = PacketBuilder().ipv4("10.1.0.1", "10.2.0.1").tcp(1000, 80).payload(10).build();
        auto verdict = [&] {
            auto r = prog.test_run(frame);
            EXPECT_TRUE(r.ok());
            return r.ok() ? r->retval : ~0u;
        };
        EXPECT_EQ(verdict(), drop) << "no lease (0): always bypassed";
        ASSERT_TRUE(prog.renew_lease(30).ok());
        EXPECT_EQ(verdict(), drop) << "within the lease";
        ASSERT_TRUE(prog.set_lease_until(1).ok());  // jiffy 1: long past
        EXPECT_EQ(verdict(), pass) << "a lapsed lease bypasses nothing";
        EXPECT_EQ(verdict(), pass);
        auto c = prog.read_counters();
        ASSERT_TRUE(c.ok());
        EXPECT_EQ((*c)[XB_CNT_HIT], 2u);
        EXPECT_EQ((*c)[XB_CNT_DROP], 2u);
        EXPECT_EQ((*c)[XB_CNT_ORPHANED], 2u);
        EXPECT_EQ((*c)[XB_CNT_MISS], 2u) << "orphaned hits are handled as misses";
        EXPECT_EQ((*c)[XB_CNT_PASS], 2u);
        ASSERT_TRUE(prog.renew_lease(30).ok());
        EXPECT_EQ(verdict(), drop) << "a renewed lease bypasses again";
        auto stats = prog.flow_table().lookup(*key);
        ASSERT_TRUE(stats.has_value());
        EXPECT_EQ(stats->packets, 3u) << "orphaned hits do not count as the flow's bypassed packets";
    }
}

// The lease is loaded with the program: one that nobody renews (its run was killed right after
// loading) stops bypassing on its own. Timed by the kernel's own clock, not by sleeps: loading may
// take longer than a short lease in a slow VM, so the deadline is read back and waited for.
TEST_F(ActionsTest, TheLeaseLoadedWithTheProgramLapsesUnlessRenewed) {
    auto key = make_flow_key("tcp", "10.1.0.1", 1000, "10.2.0.1", 80);
    ASSERT_TRUE(key.ok());
    auto frame = PacketBuilder().ipv4("10.1.0.1", "10.2.0.1").tcp(1000, 80).payload(10).build();
    {
        ProgramOptions o;
        o.lease_seconds = 600;  // outlasts any load, however slow the machine
        auto prog = must_load(o);
        ASSERT_TRUE(prog.flow_table().insert(*key).ok());
        auto r = prog.test_run(frame);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->retval, XDP_DROP) << "bypassed from the start, with no renewal";
    }
    ProgramOptions o;
    o.lease_seconds = 1;
    auto before = must_load(ProgramOptions{}).flow_table().jiffies_from_now(0);  // the same kernel clock
    ASSERT_TRUE(before.ok()) << before.error().message;
    auto prog = must_load(o);
    auto until = prog.lease_until();
    ASSERT_TRUE(until.ok()) << until.error().message;
    auto a_second_after_load = prog.flow_table().jiffies_from_now(1);
    ASSERT_TRUE(a_second_after_load.ok());
    EXPECT_GT(*until, *before) << "the load wrote a deadline ahead of the clock";
    EXPECT_LE(*until, *a_second_after_load) << "one second from the load, not more";
    ASSERT_TRUE(prog.flow_table().insert(*key).ok());
    // Wait on the kernel's clock (up to 60 s of wall time) until the deadline has passed.
    for (int i = 0; i < 6000; ++i) {
        auto now = prog.flow_table().jiffies_from_now(0);
        ASSERT_TRUE(now.ok());
        if (*now > *until) break;
        ::usleep(10000);
    }
    auto r = prog.test_run(frame);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->retval, XDP_PASS) << "not renewed: the lease lapsed";
    auto c = prog.read_counters();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ((*c)[XB_CNT_ORPHANED], 1u);
}

TEST_F(ActionsTest, LiveTrafficThroughXdpAndTcWithVlan) {
    std::string a = sandbox_->add_netns("la"), b = sandbox_->add_netns("lb");
    // Exact miss counts: no IPv6 link-local frames (router solicitations, MLD) after link-up.
    sandbox_->disable_ipv6(a);
    sandbox_->disable_ipv6(b);
    sandbox_->add_veth(a, "a0", b, "b0");
    sandbox_->link_up(a, "a0");
    sandbox_->link_up(b, "b0");
    sandbox_->add_address(a, "a0", "10.9.0.1/24");
    sandbox_->add_address(b, "b0", "10.9.0.2/24");
    // This kernel may lack 802.1Q devices (CONFIG_VLAN_8021Q): tagged frames are written raw to a0.
    sandbox_->exec_in(b, "ip link set b0 address 02:00:00:00:00:02");
    std::string mac_b = "02:00:00:00:00:02";
    sandbox_->exec_in(a, "ip neigh add 10.9.0.2 lladdr " + mac_b + " dev a0");  // no ARP in the counts
    int a0 = sandbox_->ifindex(a, "a0");
    int b0 = sandbox_->ifindex(b, "b0");
    auto flow = make_flow_key("udp", "10.9.0.1", 7001, "10.9.0.2", 9001);
    auto vflow = make_flow_key("udp", "10.9.1.1", 7002, "10.9.1.2", 9002, 100);
    ASSERT_TRUE(flow.ok() && vflow.ok());

    for (Hook hook : {Hook::Xdp, Hook::Tc}) {
        SCOPED_TRACE(std::string(hook_name(hook)));
        std::optional<BypassProgram> prog;
        sandbox_->run_in(b, [&] {
            ProgramOptions o;
            o.datapath = hook;
            prog.emplace(must_load(o));
            if (hook == Hook::Xdp) {
                ASSERT_EQ(bpf_xdp_attach(b0, prog->prog_fd(), XDP_FLAGS_DRV_MODE, nullptr), 0);
            } else {
                LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = b0, .attach_point = BPF_TC_INGRESS);
                int rc = bpf_tc_hook_create(&h);
                ASSERT_TRUE(rc == 0 || rc == -EEXIST) << rc;
                LIBBPF_OPTS(bpf_tc_opts, t, .prog_fd = prog->prog_fd(), .handle = 0x5843, .priority = 0x5843);
                ASSERT_EQ(bpf_tc_attach(&h, &t), 0);
            }
        });
        sandbox_->run_in(a, [&] { send_udp("10.9.0.1", 7001, "10.9.0.2", 9001, 10); });
        EXPECT_EQ(wait_counter(*prog, XB_CNT_MISS, 10), 10u);
        ASSERT_TRUE(prog->flow_table().insert(*flow).ok());
        ASSERT_TRUE(prog->flow_table().insert(*vflow).ok());
        sandbox_->run_in(a, [&] { send_udp("10.9.0.1", 7001, "10.9.0.2", 9001, 20); });
        EXPECT_EQ(wait_counter(*prog, XB_CNT_DROP, 20), 20u);
        // Tagged frames: XDP sees the tag in the frame; at tc ingress the kernel has moved it to
        // skb->vlan_tci (skb_vlan_untag), so this checks the program's hw-tag path.
        auto tagged = PacketBuilder().vlan(0x8100, 100).ipv4("10.9.1.1", "10.9.1.2").udp(7002, 9002).payload(18).build();
        sandbox_->run_in(a, [&] { send_raw(a0, tagged, 7); });
        EXPECT_EQ(wait_counter(*prog, XB_CNT_DROP, 27), 27u);
        auto stats = prog->flow_table().lookup(*vflow);
        ASSERT_TRUE(stats.has_value());
        EXPECT_EQ(stats->packets, 7u);
        sandbox_->run_in(b, [&] {
            if (hook == Hook::Xdp) {
                EXPECT_EQ(bpf_xdp_detach(b0, XDP_FLAGS_DRV_MODE, nullptr), 0);
            } else {
                LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = b0, .attach_point = BPF_TC_INGRESS);
                LIBBPF_OPTS(bpf_tc_opts, t, .handle = 0x5843, .priority = 0x5843);
                EXPECT_EQ(bpf_tc_detach(&h, &t), 0);
            }
        });
    }
}

}  // namespace
}  // namespace xb::datapath
