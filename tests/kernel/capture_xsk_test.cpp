// AF_XDP capture in the same XDP pass as the bypass check, on the real kernel: the xsk variants of
// the bypass program (xdp_ids_xsk, xdp_ips_xsk) redirect what they do not bypass into the socket of
// the frame's receive queue. Verdicts through BPF_PROG_TEST_RUN (empty and filled slots, frames that
// never reach the lookup), then live UDP traffic between namespaces over veth in native and generic
// mode, a veth with two receive queues, the IPS variant, and the slot's life with the receiver.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "capture/af_xdp.h"
#include "datapath/attach.h"
#include "datapath/flow.h"
#include "datapath/program.h"
#include "harness/sandbox.h"
#include "kernel/bpf_packet_builder.h"

namespace xb::capture {
namespace {

using datapath::BypassProgram;
using datapath::ProgramOptions;
using datapath::XdpAttachment;
using datapath::XdpMode;
using test::PacketBuilder;

BypassProgram must_load(const ProgramOptions& o) {
    Diagnostics d;
    auto p = BypassProgram::load(o, d);
    if (!p.ok()) throw std::runtime_error(p.error().message + "\n" + d.to_text());
    return std::move(p).value();
}

std::unique_ptr<Receiver> must_open(const AfXdpOptions& o) {
    auto r = open_af_xdp(o);
    if (!r.ok()) throw std::runtime_error(r.error().message);
    return std::move(r).value();
}

uint64_t counter(const BypassProgram& p, enum xb_counter c) {
    auto cs = p.read_counters();
    EXPECT_TRUE(cs.ok());
    return cs.ok() ? (*cs)[c] : ~0ull;
}

uint32_t verdict(const BypassProgram& p, const std::vector<uint8_t>& frame) {
    auto r = p.test_run(frame);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->retval : ~0u;
}

// Sends count UDP datagrams src_ip:sport -> dst_ip:dport from the calling thread's namespace.
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
        ASSERT_EQ(::sendto(fd, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&d), sizeof d),
                  static_cast<ssize_t>(sizeof payload))
            << strerror(errno);
    ::close(fd);
}

// UDP destination port of an untagged Ethernet/IPv4/UDP frame, else 0 (noise).
uint16_t udp_dport(const Packet& p) {
    if (p.caplen < 14 + 20 + 8) return 0;
    if (p.data[12] != 0x08 || p.data[13] != 0x00 || p.data[23] != IPPROTO_UDP) return 0;
    size_t ihl = (p.data[14] & 0x0f) * 4u;
    if (p.caplen < 14 + ihl + 8) return 0;
    return static_cast<uint16_t>(p.data[14 + ihl + 2] << 8 | p.data[14 + ihl + 3]);
}
uint16_t udp_sport(const Packet& p) {
    if (udp_dport(p) == 0) return 0;
    size_t ihl = (p.data[14] & 0x0f) * 4u;
    return static_cast<uint16_t>(p.data[14 + ihl] << 8 | p.data[14 + ihl + 1]);
}

struct Tally {
    std::map<uint16_t, uint64_t> by_dport;            // UDP datagrams by destination port
    std::map<uint16_t, std::set<uint32_t>> queues;    // source port -> queues it arrived on
    uint64_t total = 0;                               // every frame, noise included
    bool fields_ok = true;                            // ifindex, queue, lengths, timestamp as promised
};

// Receives until done(tally) or the deadline, then keeps draining for `settle` so that a frame that
// should not come has the chance to show up.
void drain(Receiver& r, Tally& t, uint32_t ifindex, uint32_t queue, const std::function<bool(const Tally&)>& done,
           std::chrono::milliseconds settle = std::chrono::milliseconds(300)) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
    std::optional<std::chrono::steady_clock::time_point> settle_until;
    Packet batch[16];
    for (;;) {
        auto now = std::chrono::steady_clock::now();
        if (!settle_until && (done(t) || now >= deadline)) settle_until = now + settle;
        if (settle_until && now >= *settle_until) break;
        auto n = r.receive(batch, 50);
        ASSERT_TRUE(n.ok()) << n.error().message;
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wall = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
        for (size_t i = 0; i < *n; ++i) {
            const Packet& p = batch[i];
            t.total++;
            t.fields_ok &= p.ifindex == ifindex && p.queue == queue && p.caplen == p.wirelen && p.caplen >= 14 &&
                           p.data != nullptr && p.timestamp_ns <= wall && p.timestamp_ns + 10'000'000'000ull > wall;
            if (uint16_t d = udp_dport(p)) {
                t.by_dport[d]++;
                t.queues[udp_sport(p)].insert(p.queue);
            }
        }
        r.release();
    }
}

uint64_t wait_counter(const BypassProgram& prog, enum xb_counter c, uint64_t want) {
    uint64_t v = 0;
    for (int i = 0; i < 250; ++i) {
        v = counter(prog, c);
        if (v >= want) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return v;
}

// Two namespaces: the sender `a` (a0, 10.9.0.1) and the capture side `b` (b0, 10.9.0.2), IPv6 off
// so that router solicitations and MLD reports do not run into the counts, neighbours static.
struct Pair {
    std::string a, b;
    int b0 = 0;
};
Pair make_pair(test::Sandbox& sb, const std::string& tag, unsigned rx_queues = 1) {
    Pair p;
    p.a = sb.add_netns(tag + "a");
    p.b = sb.add_netns(tag + "b");
    for (const auto& ns : {p.a, p.b})
        sb.exec_in(ns, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
    if (rx_queues == 1) {
        sb.add_veth(p.a, "a0", p.b, "b0");
    } else {
        std::string q = std::to_string(rx_queues);
        sb.exec_in(p.a, "ip link add a0 numrxqueues " + q + " numtxqueues " + q + " type veth peer name b0 netns " +
                            p.b + " numrxqueues " + q + " numtxqueues " + q);
    }
    sb.exec_in(p.b, "ip link set b0 address 02:00:00:00:00:02");
    sb.link_up(p.a, "a0");
    sb.link_up(p.b, "b0");
    sb.add_address(p.a, "a0", "10.9.0.1/24");
    sb.add_address(p.b, "b0", "10.9.0.2/24");
    sb.add_neighbor(p.a, "a0", "10.9.0.2", "02:00:00:00:00:02");
    sb.add_neighbor(p.b, "b0", "10.9.0.1", sb.mac_address(p.a, "a0"));
    p.b0 = sb.ifindex(p.b, "b0");
    return p;
}

// The capture side most tests share: in b's namespace, the bypass program with one XSKMAP slot
// attached native to b0, and a receiver on queue 0 with the given UMEM frames and ring entries.
struct XskRig {
    std::optional<BypassProgram> prog;
    std::optional<XdpAttachment> att;
    std::unique_ptr<Receiver> rx;
};
// zerocopy_refused: ask for zero-copy, falling back to copy mode (open_af_xdp's out parameter).
XskRig open_rig(test::Sandbox& sb, const Pair& p, uint32_t frame_count, uint32_t ring_size,
                std::string* zerocopy_refused = nullptr) {
    XskRig r;
    sb.run_in(p.b, [&] {
        ProgramOptions o;
        o.xsk_queues = 1;
        r.prog.emplace(must_load(o));
        auto a = XdpAttachment::attach(p.b0, r.prog->prog_fd(), XdpMode::Native);
        ASSERT_TRUE(a.ok()) << a.error().message;
        r.att.emplace(std::move(a).value());
        AfXdpOptions ao;
        ao.ifname = "b0";
        ao.xsk_map_fd = r.prog->map_fd("xb_xsk_map");
        ao.frame_count = frame_count;
        ao.ring_size = ring_size;
        if (!zerocopy_refused) {
            r.rx = must_open(ao);
            return;
        }
        ao.bind = XskBind::ZeroCopy;
        auto rx = open_af_xdp(ao, zerocopy_refused);
        ASSERT_TRUE(rx.ok()) << rx.error().message;
        r.rx = std::move(rx).value();
    });
    return r;
}
// Closes the receiver before detaching, in b's namespace.
void close_rig(test::Sandbox& sb, const Pair& p, XskRig& r) {
    sb.run_in(p.b, [&] {
        r.rx.reset();
        r.att.reset();
    });
}

class XskTest : public ::testing::Test {
protected:
    void SetUp() override {
        XB_REQUIRE_KERNEL();
        sandbox_ = std::make_unique<test::Sandbox>();
    }
    std::unique_ptr<test::Sandbox> sandbox_;
};

// ---- verdicts through BPF_PROG_TEST_RUN (no attachment: the redirect helper only looks the slot up) --

TEST_F(XskTest, VerdictsWithEmptyAndFilledSlot) {
    std::string ns = sandbox_->add_netns("verdict");
    sandbox_->add_veth(ns, "x0", ns, "x1");
    sandbox_->link_up(ns, "x0");
    sandbox_->link_up(ns, "x1");
    auto key = datapath::make_flow_key("udp", "10.0.0.1", 1, "10.0.0.2", 2);
    ASSERT_TRUE(key.ok());
    const auto hit = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build();
    const auto miss = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(1, 3).build();
    const auto frag = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").ipv4_frag(true, 0).udp(1, 3).build();
    const auto arp = PacketBuilder().ethertype(ETH_P_ARP).payload(28).build();
    const auto truncated = std::vector<uint8_t>(miss.begin(), miss.begin() + 20);

    sandbox_->run_in(ns, [&] {
        ProgramOptions o;
        o.xsk_queues = 1;
        auto prog = must_load(o);
        EXPECT_EQ(prog.program_name(), "xdp_ids_xsk");
        ASSERT_GE(prog.map_fd("xb_xsk_map"), 0);
        ASSERT_TRUE(prog.flow_table().insert(*key).ok());

        // Empty slot: every frame that is not bypassed goes to the stack, and the failure is counted.
        EXPECT_EQ(verdict(prog, hit), XDP_DROP);
        for (const auto* f : {&miss, &frag, &arp, &truncated}) EXPECT_EQ(verdict(prog, *f), XDP_PASS);
        auto c = prog.read_counters();
        ASSERT_TRUE(c.ok());
        EXPECT_EQ((*c)[XB_CNT_DROP], 1u);
        EXPECT_EQ((*c)[XB_CNT_REDIRECT_FAIL], 4u);
        EXPECT_EQ((*c)[XB_CNT_PASS], 4u);
        EXPECT_EQ((*c)[XB_CNT_XSK_REDIRECT], 0u);
        EXPECT_EQ(c->total_packets(), 5u);

        // A socket in slot 0 (the test run's queue): misses and the frames that never reach the
        // lookup all go to it; the reasons are counted as without AF_XDP.
        ASSERT_TRUE(prog.reset_counters().ok());
        {
            AfXdpOptions ao;
            ao.ifname = "x1";
            ao.xsk_map_fd = prog.map_fd("xb_xsk_map");
            ao.frame_count = 64;
            ao.ring_size = 32;
            auto rx = must_open(ao);
            EXPECT_EQ(rx->method(), Method::AfXdp);
            EXPECT_GE(rx->fd(), 0);
            EXPECT_EQ(verdict(prog, hit), XDP_DROP);
            for (const auto* f : {&miss, &frag, &arp, &truncated}) EXPECT_EQ(verdict(prog, *f), XDP_REDIRECT);
            c = prog.read_counters();
            ASSERT_TRUE(c.ok());
            EXPECT_EQ((*c)[XB_CNT_XSK_REDIRECT], 4u);
            EXPECT_EQ((*c)[XB_CNT_PASS], 0u);
            EXPECT_EQ((*c)[XB_CNT_REDIRECT_FAIL], 0u);
            EXPECT_EQ((*c)[XB_CNT_MISS], 1u);
            EXPECT_EQ((*c)[XB_CNT_FRAGMENT], 1u);
            EXPECT_EQ((*c)[XB_CNT_NOT_IP], 1u);
            EXPECT_EQ((*c)[XB_CNT_PARSE_ERROR], 1u);
            EXPECT_EQ(c->total_packets(), 5u);

            // A second receiver for the same slot is refused, and leaves the first one in place.
            ao.ifname = "x0";
            auto second = open_af_xdp(ao);
            ASSERT_FALSE(second.ok());
            EXPECT_EQ(second.error().code, EEXIST) << second.error().message;
            EXPECT_NE(second.error().message.find("x0 queue 0"), std::string::npos) << second.error().message;
            EXPECT_EQ(verdict(prog, miss), XDP_REDIRECT);
        }
        // Closing the receiver empties its slot.
        EXPECT_EQ(verdict(prog, miss), XDP_PASS);
    });
}

TEST_F(XskTest, IpsVariantVerdicts) {
    std::string ns = sandbox_->add_netns("ipsv");
    sandbox_->add_veth(ns, "x0", ns, "x1");
    sandbox_->add_veth(ns, "p0", ns, "p1");
    for (const char* d : {"x0", "x1", "p0", "p1"}) sandbox_->link_up(ns, d);
    auto key = datapath::make_flow_key("tcp", "10.0.0.1", 1, "10.0.0.2", 2);
    ASSERT_TRUE(key.ok());
    const auto hit = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build();
    const auto miss = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 3).build();
    sandbox_->run_in(ns, [&] {
        ProgramOptions o;
        o.xsk_queues = 1;
        o.ips_peer_ifindex = sandbox_->ifindex(ns, "p0");
        auto prog = must_load(o);
        EXPECT_EQ(prog.program_name(), "xdp_ips_xsk");
        ASSERT_TRUE(prog.flow_table().insert(*key).ok());
        AfXdpOptions ao;
        ao.ifname = "x1";
        ao.xsk_map_fd = prog.map_fd("xb_xsk_map");
        auto rx = must_open(ao);
        EXPECT_EQ(verdict(prog, hit), XDP_REDIRECT);   // to the peer
        EXPECT_EQ(verdict(prog, miss), XDP_REDIRECT);  // to the socket
        auto c = prog.read_counters();
        ASSERT_TRUE(c.ok());
        EXPECT_EQ((*c)[XB_CNT_IPS_FORWARD], 1u);
        EXPECT_EQ((*c)[XB_CNT_XSK_REDIRECT], 1u);
        // No peer: the hit is not lost to the stack the engine does not read, it goes to the socket.
        uint32_t slot = XB_IPS_PEER_KEY;
        ASSERT_EQ(bpf_map_delete_elem(prog.map_fd("xb_ips_devmap"), &slot), 0);
        EXPECT_EQ(verdict(prog, hit), XDP_REDIRECT);
        c = prog.read_counters();
        ASSERT_TRUE(c.ok());
        EXPECT_EQ((*c)[XB_CNT_REDIRECT_FAIL], 1u);
        EXPECT_EQ((*c)[XB_CNT_XSK_REDIRECT], 2u);
        EXPECT_EQ((*c)[XB_CNT_PASS], 0u);
        EXPECT_EQ(c->total_packets(), 3u);
    });
}

TEST_F(XskTest, BadOptionsAreRefusedWithTheInterfaceAndQueue) {
    std::string ns = sandbox_->add_netns("badopt");
    sandbox_->add_veth(ns, "x0", ns, "x1");
    sandbox_->run_in(ns, [&] {
        ProgramOptions o;
        o.xsk_queues = 2;
        auto prog = must_load(o);
        AfXdpOptions ao;
        ao.ifname = "x0";
        ao.xsk_map_fd = prog.map_fd("xb_xsk_map");
        ao.ring_size = 1000;
        auto r = open_af_xdp(ao);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, EINVAL);
        EXPECT_NE(r.error().message.find("interface x0 queue 0"), std::string::npos) << r.error().message;
        ao.ring_size = 64;
        ao.xsk_map_fd = -1;
        EXPECT_FALSE(open_af_xdp(ao).ok());
        ao.xsk_map_fd = prog.map_fd("xb_xsk_map");
        ao.ifname = "nosuchdev";
        r = open_af_xdp(ao);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message.find("nosuchdev"), std::string::npos) << r.error().message;
        // veth has no zero-copy support; generic XDP never has it.
        ao.ifname = "x0";
        ao.bind = XskBind::ZeroCopy;
        r = open_af_xdp(ao);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message.find("zero-copy"), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find("interface x0 queue 0"), std::string::npos) << r.error().message;
        ao.generic = true;
        r = open_af_xdp(ao);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, EOPNOTSUPP);
        ao.generic = false;
        ao.bind = XskBind::Copy;
        // veth has one receive queue here: binding queue 1 fails in the kernel.
        ao.queue = 1;
        r = open_af_xdp(ao);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message.find("interface x0 queue 1"), std::string::npos) << r.error().message;
    });
}

// ---- live traffic -------------------------------------------------------------------------------

class XskLiveTest : public XskTest, public ::testing::WithParamInterface<XdpMode> {};

// One flow bypassed, one captured: the bypassed flow's frames never reach the socket (they are
// dropped), the other flow's all do, and xsk-redirect counts exactly the frames the socket got.
TEST_P(XskLiveTest, BypassedFlowNeverReachesTheSocket) {
    const XdpMode mode = GetParam();
    Pair p = make_pair(*sandbox_, mode == XdpMode::Native ? "nat" : "gen");
    auto bypassed = datapath::make_flow_key("udp", "10.9.0.1", 7001, "10.9.0.2", 9001);
    ASSERT_TRUE(bypassed.ok());
    std::optional<BypassProgram> prog;
    std::optional<XdpAttachment> att;
    std::unique_ptr<Receiver> rx;
    sandbox_->run_in(p.b, [&] {
        ProgramOptions o;
        o.xsk_queues = 1;
        prog.emplace(must_load(o));
        auto a = XdpAttachment::attach(p.b0, prog->prog_fd(), mode);
        ASSERT_TRUE(a.ok()) << a.error().message;
        att.emplace(std::move(a).value());
        AfXdpOptions ao;
        ao.ifname = "b0";
        ao.xsk_map_fd = prog->map_fd("xb_xsk_map");
        ao.generic = mode == XdpMode::Generic;
        rx = must_open(ao);
        ASSERT_TRUE(prog->flow_table().insert(*bypassed).ok());
    });
    ASSERT_TRUE(rx && att);
    sandbox_->run_in(p.a, [&] {
        send_udp("10.9.0.1", 7001, "10.9.0.2", 9001, 40);
        send_udp("10.9.0.1", 7002, "10.9.0.2", 9002, 60);
    });
    Tally t;
    drain(*rx, t, static_cast<uint32_t>(p.b0), 0, [](const Tally& t) { return t.by_dport.count(9002) && t.by_dport.at(9002) >= 60; });
    EXPECT_EQ(t.by_dport[9002], 60u);
    EXPECT_EQ(t.by_dport[9001], 0u) << "a bypassed frame reached the socket";
    EXPECT_TRUE(t.fields_ok);
    EXPECT_EQ(wait_counter(*prog, XB_CNT_DROP, 40), 40u);
    EXPECT_EQ(counter(*prog, XB_CNT_HIT), 40u);
    EXPECT_EQ(counter(*prog, XB_CNT_XSK_REDIRECT), t.total);
    EXPECT_EQ(counter(*prog, XB_CNT_REDIRECT_FAIL), 0u);
    auto st = rx->stats();
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_EQ(st->received, t.total);
    EXPECT_EQ(st->dropped, 0u);
    EXPECT_GT(st->batches, 0u);
    sandbox_->run_in(p.b, [&] {
        rx.reset();
        att.reset();
    });
}

INSTANTIATE_TEST_SUITE_P(Modes, XskLiveTest, ::testing::Values(XdpMode::Native, XdpMode::Generic),
                         [](const auto& info) { return std::string(datapath::xdp_mode_name(info.param)); });

// Without a socket in the slot the frames go to the stack (a UDP socket there receives them) and
// the failed redirect is counted; once a receiver closes, its slot is empty again.
TEST_F(XskTest, EmptySlotSendsFramesToTheStack) {
    Pair p = make_pair(*sandbox_, "empty");
    std::optional<BypassProgram> prog;
    std::optional<XdpAttachment> att;
    int udp = -1;
    sandbox_->run_in(p.b, [&] {
        ProgramOptions o;
        o.xsk_queues = 1;
        prog.emplace(must_load(o));
        auto a = XdpAttachment::attach(p.b0, prog->prog_fd(), XdpMode::Native);
        ASSERT_TRUE(a.ok()) << a.error().message;
        att.emplace(std::move(a).value());
        udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        ASSERT_GE(udp, 0);
        sockaddr_in s{};
        s.sin_family = AF_INET;
        s.sin_port = htons(9002);
        inet_pton(AF_INET, "10.9.0.2", &s.sin_addr);
        ASSERT_EQ(::bind(udp, reinterpret_cast<sockaddr*>(&s), sizeof s), 0) << strerror(errno);
    });
    ASSERT_TRUE(att && udp >= 0);
    auto stack_datagrams = [&](int want, int seconds = 5) {
        int got = 0;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        char buf[64];
        while (got < want && std::chrono::steady_clock::now() < deadline) {
            if (::recv(udp, buf, sizeof buf, 0) > 0) ++got;
            else std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return got;
    };
    sandbox_->run_in(p.a, [&] { send_udp("10.9.0.1", 7002, "10.9.0.2", 9002, 20); });
    EXPECT_EQ(stack_datagrams(20), 20);
    EXPECT_GE(counter(*prog, XB_CNT_REDIRECT_FAIL), 20u);
    EXPECT_EQ(counter(*prog, XB_CNT_XSK_REDIRECT), 0u);

    // With a receiver the stack gets nothing; after it closes, the stack again.
    std::unique_ptr<Receiver> rx;
    sandbox_->run_in(p.b, [&] {
        AfXdpOptions ao;
        ao.ifname = "b0";
        ao.xsk_map_fd = prog->map_fd("xb_xsk_map");
        rx = must_open(ao);
    });
    sandbox_->run_in(p.a, [&] { send_udp("10.9.0.1", 7002, "10.9.0.2", 9002, 10); });
    Tally t;
    drain(*rx, t, static_cast<uint32_t>(p.b0), 0, [](const Tally& t) { return t.by_dport.count(9002) && t.by_dport.at(9002) >= 10; });
    EXPECT_EQ(t.by_dport[9002], 10u);
    EXPECT_EQ(stack_datagrams(1, 1), 0) << "a captured frame also reached the stack";
    uint64_t fails = counter(*prog, XB_CNT_REDIRECT_FAIL);
    rx.reset();
    sandbox_->run_in(p.a, [&] { send_udp("10.9.0.1", 7002, "10.9.0.2", 9002, 10); });
    EXPECT_EQ(stack_datagrams(10), 10);
    EXPECT_GE(counter(*prog, XB_CNT_REDIRECT_FAIL), fails + 10);
    ::close(udp);
    sandbox_->run_in(p.b, [&] { att.reset(); });
}

// Far more frames than the UMEM holds: they only all arrive if release() gives the frames back.
// receive() without release() in between continues after the last packet it returned.
TEST_F(XskTest, FramesAreRecycledAndReceiveContinuesWithoutRelease) {
    Pair p = make_pair(*sandbox_, "recyc");
    XskRig r = open_rig(*sandbox_, p, 32, 16);
    ASSERT_TRUE(r.rx && r.att);
    auto& rx = r.rx;
    uint64_t got = 0;
    for (int round = 0; round < 10; ++round) {
        sandbox_->run_in(p.a, [&] { send_udp("10.9.0.1", 7003, "10.9.0.2", 9003, 12); });
        // Two batches of 5 without release: 10 distinct frames, none handed out twice.
        std::set<const uint8_t*> seen;
        Packet batch[5];
        size_t held = 0;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (held < 10 && std::chrono::steady_clock::now() < deadline) {
            std::span<Packet> out(batch, std::min<size_t>(5, 10 - held));
            auto n = rx->receive(out, 100);
            ASSERT_TRUE(n.ok()) << n.error().message;
            for (size_t i = 0; i < *n; ++i) {
                EXPECT_TRUE(seen.insert(batch[i].data).second) << "a frame was handed out twice";
                got += udp_dport(batch[i]) == 9003;
            }
            held += *n;
        }
        ASSERT_EQ(held, 10u) << "round " << round;
        rx->release();
        Tally t;
        drain(*rx, t, static_cast<uint32_t>(p.b0), 0, [](const Tally& t) { return t.by_dport.count(9003) && t.by_dport.at(9003) >= 2; },
              std::chrono::milliseconds(20));
        got += t.by_dport[9003];
    }
    EXPECT_EQ(got, 120u);
    auto st = rx->stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->dropped, 0u);
    EXPECT_GE(st->received, 120u);
    close_rig(*sandbox_, p, r);
}

// A receiver that does not keep up: what the kernel could not place is counted as dropped, once
// (in copy mode a frame without a fill-ring entry counts in both rx_dropped and
// rx_fill_ring_empty_descs: the sum would count it twice).
TEST_F(XskTest, FramesTheSocketCannotTakeAreCountedAsDropped) {
    Pair p = make_pair(*sandbox_, "drop");
    XskRig r = open_rig(*sandbox_, p, 16, 16);
    ASSERT_TRUE(r.rx && r.att);
    auto& prog = r.prog;
    auto& rx = r.rx;
    sandbox_->run_in(p.a, [&] { send_udp("10.9.0.1", 7004, "10.9.0.2", 9004, 50); });
    ASSERT_EQ(wait_counter(*prog, XB_CNT_XSK_REDIRECT, 50), counter(*prog, XB_CNT_XSK_REDIRECT));
    Tally t;
    drain(*rx, t, static_cast<uint32_t>(p.b0), 0, [](const Tally& t) { return t.total >= 16; });
    EXPECT_EQ(t.by_dport[9004], 16u) << "the 16 frames of the UMEM";
    auto st = rx->stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->received, t.total);
    EXPECT_EQ(st->dropped, counter(*prog, XB_CNT_XSK_REDIRECT) - t.total);
    close_rig(*sandbox_, p, r);
}

// A driver that refuses zero-copy (veth has none) gets a receiver in copy mode when the caller
// allows the fallback, with the kernel's reason; it receives every frame. Without the fallback the
// same bind is an error (BadOptionsAreRefusedWithTheInterfaceAndQueue).
TEST_F(XskTest, RefusedZeroCopyFallsBackToCopyModeAndSaysWhy) {
    Pair p = make_pair(*sandbox_, "zcfb");
    std::string refused = "not written";
    XskRig r = open_rig(*sandbox_, p, 64, 32, &refused);
    ASSERT_TRUE(r.rx && r.att);
    EXPECT_NE(refused.find("zero-copy"), std::string::npos) << refused;
    EXPECT_NE(refused.find("interface b0 queue 0"), std::string::npos) << refused;
    sandbox_->run_in(p.a, [&] { send_udp("10.9.0.1", 7006, "10.9.0.2", 9006, 20); });
    Tally t;
    drain(*r.rx, t, static_cast<uint32_t>(p.b0), 0, [](const Tally& t) { return t.by_dport.count(9006) && t.by_dport.at(9006) >= 20; });
    EXPECT_EQ(t.by_dport[9006], 20u);
    close_rig(*sandbox_, p, r);
}

// Moderation (AfXdpOptions::batch_wait_us): bursts of datagrams sent one system call each reach
// the socket one NAPI poll each. A receiver woken by every poll would take them in batches of one
// or a few; a moderated one sleeps through a burst and takes it whole. The drain loop asks for 256
// at a time. Robust to a slow machine: a sender stalled past the moderation's horizon costs two
// small batches per stall, which leaves the average far above the bound.
TEST_F(XskTest, ModerationTakesASteadyStreamInFewBatches) {
    Pair p = make_pair(*sandbox_, "moder");
    XskRig r = open_rig(*sandbox_, p, 8192, 4096);
    ASSERT_TRUE(r.rx && r.att);
    auto& rx = r.rx;
    constexpr int kBursts = 80, kPerBurst = 50;
    std::atomic<uint64_t> got{0};
    std::atomic<bool> stop{false};
    std::thread receiver([&] {
        std::vector<Packet> batch(256);
        while (!stop.load()) {
            auto n = rx->receive(batch, 50);
            if (!n.ok()) break;
            for (size_t i = 0; i < *n; ++i) got += udp_dport(batch[i]) == 9005;
            rx->release();
        }
    });
    sandbox_->run_in(p.a, [&] {
        for (int b = 0; b < kBursts; ++b) {
            send_udp("10.9.0.1", 7005, "10.9.0.2", 9005, kPerBurst);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    for (int i = 0; i < 500 && got.load() < kBursts * kPerBurst; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    stop = true;
    receiver.join();
    EXPECT_EQ(got.load(), static_cast<uint64_t>(kBursts * kPerBurst));
    auto st = rx->stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->dropped, 0u);
    ASSERT_GT(st->batches, 0u);
    EXPECT_GE(st->received / st->batches, 8u) << st->received << " packets in " << st->batches << " batches";
    close_rig(*sandbox_, p, r);
}

// veth puts a frame on the receive queue numbered like the sender's transmit queue, which the
// sender picks by the socket's random flow hash: each flow keeps to one queue, which one is chance.
// Deterministic: every frame reaches exactly one of the two receivers, each receiver sees only its
// queue, and a flow never splits across queues.
TEST_F(XskTest, TwoQueuesTwoReceivers) {
    Pair p = make_pair(*sandbox_, "mq", 2);
    std::optional<BypassProgram> prog;
    std::optional<XdpAttachment> att;
    std::unique_ptr<Receiver> rx0, rx1;
    sandbox_->run_in(p.b, [&] {
        ProgramOptions o;
        o.xsk_queues = 2;
        prog.emplace(must_load(o));
        auto a = XdpAttachment::attach(p.b0, prog->prog_fd(), XdpMode::Native);
        ASSERT_TRUE(a.ok()) << a.error().message;
        att.emplace(std::move(a).value());
        AfXdpOptions ao;
        ao.ifname = "b0";
        ao.xsk_map_fd = prog->map_fd("xb_xsk_map");
        rx0 = must_open(ao);
        ao.queue = 1;
        rx1 = must_open(ao);
    });
    ASSERT_TRUE(rx0 && rx1);
    constexpr int kFlows = 24, kPerFlow = 5;
    sandbox_->run_in(p.a, [&] {
        for (int f = 0; f < kFlows; ++f) send_udp("10.9.0.1", static_cast<uint16_t>(7100 + f), "10.9.0.2", 9100, kPerFlow);
    });
    Tally t0, t1;
    auto both = [&](const Tally&) {
        uint64_t n = (t0.by_dport.count(9100) ? t0.by_dport.at(9100) : 0) + (t1.by_dport.count(9100) ? t1.by_dport.at(9100) : 0);
        return n >= static_cast<uint64_t>(kFlows * kPerFlow);
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
    while (!both(t0) && std::chrono::steady_clock::now() < deadline) {
        drain(*rx0, t0, static_cast<uint32_t>(p.b0), 0, [](const Tally&) { return true; }, std::chrono::milliseconds(20));
        drain(*rx1, t1, static_cast<uint32_t>(p.b0), 1, [](const Tally&) { return true; }, std::chrono::milliseconds(20));
    }
    EXPECT_EQ(t0.by_dport[9100] + t1.by_dport[9100], static_cast<uint64_t>(kFlows * kPerFlow));
    EXPECT_TRUE(t0.fields_ok);
    EXPECT_TRUE(t1.fields_ok);
    for (int f = 0; f < kFlows; ++f) {
        uint16_t sport = static_cast<uint16_t>(7100 + f);
        EXPECT_EQ(t0.queues.count(sport) + t1.queues.count(sport), 1u) << "flow " << sport << " split across queues";
    }
    // With 24 flows on random hashes both queues are used (all on one: probability 2^-23).
    EXPECT_GT(t0.by_dport[9100], 0u);
    EXPECT_GT(t1.by_dport[9100], 0u);
    EXPECT_EQ(counter(*prog, XB_CNT_XSK_REDIRECT), t0.total + t1.total);
    EXPECT_EQ(counter(*prog, XB_CNT_REDIRECT_FAIL), 0u);
    sandbox_->run_in(p.b, [&] {
        rx0.reset();
        rx1.reset();
        att.reset();
    });
}

// IPS: the bypassed flow is forwarded to the peer device (p0 -> p1, counted by a packet socket on
// p1) while the other flow reaches the socket.
TEST_F(XskTest, IpsForwardsBypassedFlowWhileMissesReachTheSocket) {
    Pair p = make_pair(*sandbox_, "ips");
    std::string c = sandbox_->add_netns("ipsc");
    sandbox_->exec_in(c, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
    sandbox_->add_veth(p.b, "p0", c, "p1");
    sandbox_->link_up(p.b, "p0");
    sandbox_->link_up(c, "p1");
    // A veth accepts redirected (ndo_xdp_xmit) frames only while its peer has XDP or GRO.
    sandbox_->exec_in(c, "ethtool -K p1 gro on");
    auto bypassed = datapath::make_flow_key("udp", "10.9.0.1", 7001, "10.9.0.2", 9001);
    ASSERT_TRUE(bypassed.ok());
    std::optional<BypassProgram> prog;
    std::optional<XdpAttachment> att;
    std::unique_ptr<Receiver> rx;
    int peer_sock = -1;
    sandbox_->run_in(p.b, [&] {
        ProgramOptions o;
        o.xsk_queues = 1;
        o.ips_peer_ifindex = sandbox_->ifindex(p.b, "p0");
        prog.emplace(must_load(o));
        auto a = XdpAttachment::attach(p.b0, prog->prog_fd(), XdpMode::Native);
        ASSERT_TRUE(a.ok()) << a.error().message;
        att.emplace(std::move(a).value());
        AfXdpOptions ao;
        ao.ifname = "b0";
        ao.xsk_map_fd = prog->map_fd("xb_xsk_map");
        rx = must_open(ao);
        ASSERT_TRUE(prog->flow_table().insert(*bypassed).ok());
    });
    int p1 = sandbox_->ifindex(c, "p1");
    sandbox_->run_in(c, [&] {
        peer_sock = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
        ASSERT_GE(peer_sock, 0) << strerror(errno);
        sockaddr_ll ll{};
        ll.sll_family = AF_PACKET;
        ll.sll_protocol = htons(ETH_P_ALL);
        ll.sll_ifindex = p1;
        ASSERT_EQ(::bind(peer_sock, reinterpret_cast<sockaddr*>(&ll), sizeof ll), 0) << strerror(errno);
    });
    ASSERT_TRUE(rx && att && peer_sock >= 0);
    sandbox_->run_in(p.a, [&] {
        send_udp("10.9.0.1", 7001, "10.9.0.2", 9001, 30);
        send_udp("10.9.0.1", 7002, "10.9.0.2", 9002, 30);
    });
    Tally t;
    drain(*rx, t, static_cast<uint32_t>(p.b0), 0, [](const Tally& t) { return t.by_dport.count(9002) && t.by_dport.at(9002) >= 30; });
    EXPECT_EQ(t.by_dport[9002], 30u);
    EXPECT_EQ(t.by_dport[9001], 0u);
    EXPECT_EQ(wait_counter(*prog, XB_CNT_IPS_FORWARD, 30), 30u);
    int forwarded = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    uint8_t buf[2048];
    while (forwarded < 30 && std::chrono::steady_clock::now() < deadline) {
        ssize_t n = ::recv(peer_sock, buf, sizeof buf, 0);
        if (n <= 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        Packet pk;
        pk.data = buf;
        pk.caplen = pk.wirelen = static_cast<uint32_t>(n);
        forwarded += udp_dport(pk) == 9001;
    }
    EXPECT_EQ(forwarded, 30);
    ::close(peer_sock);
    sandbox_->run_in(p.b, [&] {
        rx.reset();
        att.reset();
    });
}

}  // namespace
}  // namespace xb::capture
