// AF_PACKET capture and the IPS transmitter against the real kernel: a veth pair between two
// namespaces of the test's own, UDP datagrams (or hand-made frames) sent from one side and read
// from TPACKET_V3 rings on the other.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "capture/af_packet.h"
#include "capture/transmit.h"
#include "common/owners.h"
#include "harness/sandbox.h"

namespace xb::capture {
namespace {

using test::Sandbox;
using Clock = std::chrono::steady_clock;

constexpr const char* kSenderIp = "10.99.0.1";
constexpr const char* kCaptureIp = "10.99.0.2";
constexpr size_t kPayloadLen = 32;
// 14 Ethernet + 20 IPv4 + 8 UDP + payload.
constexpr uint32_t kFrameLen = 14 + 20 + 8 + kPayloadLen;

uint64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::vector<uint8_t> mac_bytes(const std::string& text) {
    std::vector<uint8_t> mac(6);
    unsigned b[6];
    if (sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) == 6)
        for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(b[i]);
    return mac;
}

// Namespace `capture` with v0 (where receivers usually are) and namespace `sender` with v1
// (10.99.0.1, a permanent neighbour entry for 10.99.0.2 on v0's MAC, so no ARP is needed). IPv6 is
// off in both: no neighbour discovery or MLD frames, so every frame on the wire is the test's own.
struct VethPair {
    Sandbox sb;
    std::string capture, sender;
    int capture_ifindex = 0, sender_ifindex = 0;
    std::vector<uint8_t> capture_mac, sender_mac;

    explicit VethPair(const std::string& tag) {
        capture = sb.add_netns(tag);
        sender = sb.add_netns(tag + "tx");
        for (const auto& ns : {capture, sender}) sb.disable_ipv6(ns);
        sb.add_veth(capture, "v0", sender, "v1");
        sb.link_up(capture, "v0");
        sb.link_up(sender, "v1");
        sb.add_address(sender, "v1", std::string(kSenderIp) + "/24");
        std::string mac0 = sb.mac_address(capture, "v0");
        sb.add_neighbor(sender, "v1", kCaptureIp, mac0);
        capture_mac = mac_bytes(mac0);
        sender_mac = mac_bytes(sb.mac_address(sender, "v1"));
        capture_ifindex = sb.ifindex(capture, "v0");
        sender_ifindex = sb.ifindex(sender, "v1");
    }

    Result<std::unique_ptr<Receiver>> open(const std::string& ns, AfPacketOptions o) {
        std::optional<Result<std::unique_ptr<Receiver>>> r;
        sb.run_in(ns, [&] { r.emplace(open_af_packet(o)); });
        return std::move(*r);
    }
    std::unique_ptr<Receiver> open_or_fail(const std::string& ns, AfPacketOptions o) {
        auto r = open(ns, o);
        EXPECT_TRUE(r) << r.error().message;
        return r ? std::move(r.value()) : nullptr;
    }
    AfPacketOptions capture_options() const {
        AfPacketOptions o;
        o.ifindex = capture_ifindex;
        return o;
    }

    // Sends `count` datagrams 10.99.0.1:sport -> 10.99.0.2:dport from the sender namespace, each
    // carrying its sequence number first; how many the kernel accepted.
    int send_udp(uint16_t sport, uint16_t dport, int count) {
        UniqueFd fd;
        sb.run_in(sender, [&] { fd.reset(socket(AF_INET, SOCK_DGRAM, 0)); });
        EXPECT_TRUE(fd.valid()) << strerror(errno);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_port = htons(sport);
        inet_pton(AF_INET, kSenderIp, &from.sin_addr);
        EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from), 0) << strerror(errno);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(dport);
        inet_pton(AF_INET, kCaptureIp, &to.sin_addr);
        int sent = 0;
        for (uint32_t seq = 0; seq < static_cast<uint32_t>(count); ++seq) {
            uint8_t payload[kPayloadLen] = {};
            std::memcpy(payload, &seq, sizeof seq);
            if (sendto(fd.get(), payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
                static_cast<ssize_t>(sizeof payload))
                ++sent;
        }
        return sent;
    }
};

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// An IPv4/UDP frame, optionally with one 802.1Q tag in it.
std::vector<uint8_t> udp_frame(const std::vector<uint8_t>& dst, const std::vector<uint8_t>& src, uint16_t sport,
                               uint16_t dport, uint32_t seq, std::optional<uint16_t> tag = std::nullopt) {
    std::vector<uint8_t> f(dst);
    f.insert(f.end(), src.begin(), src.end());
    if (tag) f.insert(f.end(), {0x81, 0x00, static_cast<uint8_t>(*tag >> 8), static_cast<uint8_t>(*tag)});
    f.insert(f.end(), {0x08, 0x00});
    const uint16_t total = 20 + 8 + kPayloadLen;
    uint8_t iph[20] = {0x45, 0, static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total), 0, 1, 0x40, 0, 64, 17};
    inet_pton(AF_INET, kSenderIp, iph + 12);
    inet_pton(AF_INET, kCaptureIp, iph + 16);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += be16(iph + i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    iph[10] = static_cast<uint8_t>(~sum >> 8);
    iph[11] = static_cast<uint8_t>(~sum);
    f.insert(f.end(), iph, iph + 20);
    const uint16_t udp_len = 8 + kPayloadLen;
    f.insert(f.end(), {static_cast<uint8_t>(sport >> 8), static_cast<uint8_t>(sport), static_cast<uint8_t>(dport >> 8),
                       static_cast<uint8_t>(dport), static_cast<uint8_t>(udp_len >> 8), static_cast<uint8_t>(udp_len), 0, 0});
    uint8_t payload[kPayloadLen] = {};
    std::memcpy(payload, &seq, sizeof seq);
    f.insert(f.end(), payload, payload + kPayloadLen);
    return f;
}

// What the test needs of a received frame, copied out of the ring.
struct Seen {
    size_t receiver = 0;
    uint16_t sport = 0, dport = 0;
    uint32_t seq = 0;
    std::optional<uint16_t> tag_in_frame;  // an 802.1Q tag still in the frame
    Packet meta;                           // data is not valid after release
    std::vector<uint8_t> bytes;
};

// The UDP ports and sequence number of an IPv4/UDP frame (with or without a tag in it).
std::optional<Seen> parse_udp(const Packet& p) {
    const uint8_t* d = p.data;
    size_t off = 12;
    Seen s;
    if (p.caplen < off + 2) return std::nullopt;
    if (be16(d + off) == ETH_P_8021Q) {
        if (p.caplen < off + 6) return std::nullopt;
        s.tag_in_frame = be16(d + off + 2);
        off += 4;
    }
    if (be16(d + off) != ETH_P_IP) return std::nullopt;
    off += 2;
    if (p.caplen < off + 20 || d[off + 9] != IPPROTO_UDP) return std::nullopt;
    off += (d[off] & 0x0f) * 4u;
    if (p.caplen < off + 8 + sizeof(uint32_t)) return std::nullopt;
    s.sport = be16(d + off);
    s.dport = be16(d + off + 2);
    std::memcpy(&s.seq, d + off + 8, sizeof s.seq);
    s.meta = p;
    s.bytes.assign(p.data, p.data + p.caplen);
    return s;
}

struct Collected {
    std::vector<Seen> ours;        // datagrams to the wanted ports, in the order they were read
    std::vector<uint64_t> handed;  // packets each receiver handed out, of any kind
};

// Reads the receivers in turns (batches of `batch`, released after each) until done() says so or
// `wait` passed, then 300 ms more so that extra copies would show.
Collected collect(const std::vector<Receiver*>& receivers, const std::set<uint16_t>& dports,
                  const std::function<bool(const Collected&)>& done, size_t batch = 64,
                  std::chrono::milliseconds wait = std::chrono::seconds(10)) {
    Collected c;
    c.handed.assign(receivers.size(), 0);
    std::vector<Packet> out(batch);
    auto deadline = Clock::now() + wait;
    std::optional<Clock::time_point> quiet_until;
    while (Clock::now() < (quiet_until ? *quiet_until : deadline)) {
        for (size_t i = 0; i < receivers.size(); ++i) {
            auto n = receivers[i]->receive(out, 20);
            EXPECT_TRUE(n) << n.error().message;
            if (!n) return c;
            c.handed[i] += *n;
            for (size_t k = 0; k < *n; ++k) {
                auto s = parse_udp(out[k]);
                if (!s || !dports.count(s->dport)) continue;
                s->receiver = i;
                c.ours.push_back(std::move(*s));
            }
            receivers[i]->release();
        }
        if (!quiet_until && done(c)) quiet_until = Clock::now() + std::chrono::milliseconds(300);
    }
    return c;
}

// Until `want` datagrams to one of dports arrived.
Collected collect(const std::vector<Receiver*>& receivers, const std::set<uint16_t>& dports, size_t want) {
    return collect(receivers, dports, [want](const Collected& c) { return c.ours.size() >= want; });
}

// --- one receiver ---------------------------------------------------------------------------------

TEST(AfPacket, ReceivesEveryDatagramOfAFlowOnce) {
    XB_REQUIRE_KERNEL();
    VethPair net("afprx");
    auto rx = net.open_or_fail(net.capture, net.capture_options());
    ASSERT_TRUE(rx);
    EXPECT_EQ(rx->method(), Method::AfPacket);
    EXPECT_GE(rx->fd(), 0);
    const int kCount = 100;
    const uint64_t before = realtime_ns();
    ASSERT_EQ(net.send_udp(40000, 6000, kCount), kCount);
    auto c = collect({rx.get()}, {6000}, kCount);
    const uint64_t after = realtime_ns();
    ASSERT_EQ(c.ours.size(), static_cast<size_t>(kCount));
    std::set<uint32_t> seqs;
    for (const Seen& s : c.ours) {
        seqs.insert(s.seq);
        EXPECT_EQ(s.sport, 40000);
        EXPECT_EQ(s.meta.caplen, kFrameLen);
        EXPECT_EQ(s.meta.wirelen, kFrameLen);
        EXPECT_EQ(s.meta.ifindex, static_cast<uint32_t>(net.capture_ifindex));
        EXPECT_EQ(s.meta.vlan_count, 0);
        EXPECT_GE(s.meta.timestamp_ns + 1000000000ull, before) << "the kernel's receive time is before the send";
        EXPECT_LE(s.meta.timestamp_ns, after + 1000000000ull) << "the kernel's receive time is after the read";
        EXPECT_FALSE(s.tag_in_frame);
    }
    EXPECT_EQ(seqs.size(), static_cast<size_t>(kCount)) << "a datagram came twice or not at all";
    auto st = rx->stats();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->received, static_cast<uint64_t>(kCount)) << "frames other than the test's reached the ring";
    EXPECT_EQ(st->received, c.handed[0]);
    EXPECT_EQ(st->dropped, 0u);
    EXPECT_GE(st->batches, 1u);
    EXPECT_LE(st->batches, static_cast<uint64_t>(kCount));
}

TEST(AfPacket, OneSlotAtATimeContinuesWhereTheLastCallStopped) {
    XB_REQUIRE_KERNEL();
    VethPair net("afpone");
    auto rx = net.open_or_fail(net.capture, net.capture_options());
    ASSERT_TRUE(rx);
    const int kCount = 60;
    ASSERT_EQ(net.send_udp(40001, 6000, kCount), kCount);
    std::vector<uint32_t> seqs;
    Packet one[1];
    auto deadline = Clock::now() + std::chrono::seconds(10);
    // Released only every 7th call: between releases receive() must go on after the last packet
    // it returned, across block boundaries, and a release must keep the partly read block.
    for (int call = 1; seqs.size() < static_cast<size_t>(kCount) && Clock::now() < deadline; ++call) {
        auto n = rx->receive(one, 50);
        ASSERT_TRUE(n) << n.error().message;
        ASSERT_LE(*n, 1u);
        if (*n == 1) {
            auto s = parse_udp(one[0]);
            if (s && s->dport == 6000) seqs.push_back(s->seq);
        }
        if (call % 7 == 0) rx->release();
    }
    rx->release();
    std::vector<uint32_t> expected(kCount);
    for (int i = 0; i < kCount; ++i) expected[i] = static_cast<uint32_t>(i);
    EXPECT_EQ(seqs, expected) << "one flow on a veth keeps its order, so the ring must hand it out in order";
    Packet rest[8];
    auto n = rx->receive(rest, 200);
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ(*n, 0u) << "nothing may be handed out twice";
    auto st = rx->stats();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->received, static_cast<uint64_t>(kCount));
    EXPECT_EQ(st->batches, static_cast<uint64_t>(kCount));
}

TEST(AfPacket, AFullRingDropsAndCountsTheDrops) {
    XB_REQUIRE_KERNEL();
    VethPair net("afpfull");
    AfPacketOptions o = net.capture_options();
    o.block_size = 4096;  // the smallest valid ring: two page-sized blocks
    o.frame_size = 2048;
    o.frame_count = 4;
    auto rx = net.open_or_fail(net.capture, o);
    ASSERT_TRUE(rx);
    const int kCount = 500;
    ASSERT_EQ(net.send_udp(40002, 6000, kCount), kCount);  // nobody reads while they arrive
    // What fits in two 4 KiB blocks: far fewer than 500 frames. Read until every datagram is
    // accounted for (in the ring or dropped), or 10 s.
    auto c = collect({rx.get()}, {6000}, [&](const Collected& got) {
        auto st = rx->stats();
        return st && got.ours.size() + st->dropped >= static_cast<uint64_t>(kCount);
    });
    auto st = rx->stats();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_GT(st->dropped, 0u);
    EXPECT_GT(c.ours.size(), 0u);
    EXPECT_LT(c.ours.size(), static_cast<size_t>(kCount));
    EXPECT_EQ(st->received, c.handed[0]);
    EXPECT_EQ(c.ours.size() + st->dropped, static_cast<uint64_t>(kCount))
        << "every datagram is either in the ring or counted as dropped (received " << c.ours.size() << ", dropped "
        << st->dropped << ")";
    // The drop counter is cumulative although the kernel resets its own on every read.
    auto again = rx->stats();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->dropped, st->dropped);
    // Once read, the ring takes new frames again.
    ASSERT_EQ(net.send_udp(40003, 6001, 5), 5);
    EXPECT_EQ(collect({rx.get()}, {6001}, 5).ours.size(), 5u);
}

TEST(AfPacket, SignalInterruptsTheWaitWithEintr) {
    XB_REQUIRE_KERNEL();
    VethPair net("afpintr");
    auto rx = net.open_or_fail(net.capture, net.capture_options());
    ASSERT_TRUE(rx);
    struct sigaction sa{}, old{};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART (poll is not restarted anyway)
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
    std::atomic<bool> done{false};
    const pthread_t waiter = pthread_self();
    // Signals until the wait ends, so the test does not depend on when the wait begins.
    std::thread signaller([&] {
        while (!done.load()) {
            pthread_kill(waiter, SIGUSR1);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    std::optional<Error> interrupted;
    Packet out[4];
    for (auto deadline = Clock::now() + std::chrono::seconds(10); !interrupted && Clock::now() < deadline;) {
        auto n = rx->receive(out, 5000);
        if (!n) interrupted = n.error();
        else rx->release();
    }
    done = true;
    signaller.join();
    sigaction(SIGUSR1, &old, nullptr);
    ASSERT_TRUE(interrupted) << "a signal did not end the wait";
    EXPECT_EQ(interrupted->code, EINTR) << interrupted->message;
}

// --- fanout ----------------------------------------------------------------------------------------

TEST(AfPacketFanout, EveryPacketOfAFlowReachesTheSameReceiver) {
    XB_REQUIRE_KERNEL();
    VethPair net("afpfan");
    AfPacketOptions o = net.capture_options();
    o.fanout_group = 4242;
    o.fanout_type = FanoutType::Hash;
    auto a = net.open_or_fail(net.capture, o);
    auto b = net.open_or_fail(net.capture, o);
    ASSERT_TRUE(a && b);
    // 32 flows: the chance that a hash puts all of them on one receiver is 2^-31.
    const int kFlows = 32, kPerFlow = 5;
    for (int f = 0; f < kFlows; ++f) ASSERT_EQ(net.send_udp(static_cast<uint16_t>(41000 + f), 6000, kPerFlow), kPerFlow);
    auto c = collect({a.get(), b.get()}, {6000}, kFlows * kPerFlow);
    EXPECT_EQ(c.ours.size(), static_cast<size_t>(kFlows * kPerFlow)) << "packets lost or duplicated in the group";
    std::map<uint16_t, std::set<size_t>> receivers_of_flow;
    std::map<uint16_t, int> packets_of_flow;
    for (const Seen& s : c.ours) {
        receivers_of_flow[s.sport].insert(s.receiver);
        ++packets_of_flow[s.sport];
    }
    EXPECT_EQ(receivers_of_flow.size(), static_cast<size_t>(kFlows));
    for (const auto& [sport, rs] : receivers_of_flow) {
        EXPECT_EQ(rs.size(), 1u) << "flow from port " << sport << " was split between receivers";
        EXPECT_EQ(packets_of_flow[sport], kPerFlow) << "flow from port " << sport;
    }
    EXPECT_GT(c.handed[0], 0u) << "the hash sent every flow to the second receiver";
    EXPECT_GT(c.handed[1], 0u) << "the hash sent every flow to the first receiver";
    auto sa = a->stats(), sb = b->stats();
    ASSERT_TRUE(sa && sb);
    EXPECT_EQ(sa->received + sb->received, static_cast<uint64_t>(kFlows * kPerFlow));
}

TEST(AfPacketFanout, AMemberOfAnotherTypeIsRefused) {
    XB_REQUIRE_KERNEL();
    VethPair net("afpfanty");
    AfPacketOptions o = net.capture_options();
    o.fanout_group = 77;
    o.fanout_type = FanoutType::Hash;
    auto a = net.open_or_fail(net.capture, o);
    ASSERT_TRUE(a);
    o.fanout_type = FanoutType::Cpu;
    auto b = net.open(net.capture, o);
    ASSERT_FALSE(b) << "the kernel joined a cpu socket to a hash group";
    EXPECT_NE(b.error().message.find("PACKET_FANOUT group 77"), std::string::npos) << b.error().message;
    // Every type the mapping knows can form a group of its own.
    uint16_t group = 100;
    for (FanoutType t : {FanoutType::Hash, FanoutType::Cpu, FanoutType::QueueMapping, FanoutType::LoadBalance,
                         FanoutType::Rollover}) {
        o.fanout_group = group++;
        o.fanout_type = t;
        auto r = net.open(net.capture, o);
        EXPECT_TRUE(r) << r.error().message;
    }
}

TEST(AfPacketFanout, SuricataClusterTypes) {
    XB_REQUIRE_KERNEL();
    EXPECT_EQ(fanout_from_cluster_type("cluster_flow"), FanoutType::Hash);
    EXPECT_EQ(fanout_from_cluster_type("cluster_cpu"), FanoutType::Cpu);
    EXPECT_EQ(fanout_from_cluster_type("cluster_qm"), FanoutType::QueueMapping);
    EXPECT_EQ(fanout_from_cluster_type("cluster_rollover"), FanoutType::Rollover);
    EXPECT_EQ(fanout_from_cluster_type("cluster_round_robin"), FanoutType::LoadBalance);
    EXPECT_EQ(fanout_from_cluster_type("cluster_ebpf"), std::nullopt);
    EXPECT_EQ(fanout_from_cluster_type("Cluster_Flow"), std::nullopt);
    EXPECT_EQ(fanout_from_cluster_type(""), std::nullopt);
}

// --- VLAN ------------------------------------------------------------------------------------------

// Sends raw frames out of ifindex from a packet socket made in ns.
void send_raw(Sandbox& sb, const std::string& ns, int ifindex, const std::vector<uint8_t>& frame) {
    UniqueFd fd;
    sb.run_in(ns, [&] { fd.reset(socket(AF_PACKET, SOCK_RAW, 0)); });
    ASSERT_TRUE(fd.valid()) << strerror(errno);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    to.sll_protocol = htons(be16(frame.data() + 12));
    to.sll_halen = ETH_ALEN;
    std::memcpy(to.sll_addr, frame.data(), ETH_ALEN);
    ASSERT_EQ(sendto(fd.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(frame.size()))
        << strerror(errno);
}

// The frame as it was on the wire: a tag the kernel removed put back after the MAC addresses.
std::vector<uint8_t> as_on_wire(const Seen& s) {
    std::vector<uint8_t> f = s.bytes;
    if (s.meta.vlan_count == 1) {
        const uint16_t tci = s.meta.vlan_tci[0];
        f.insert(f.begin() + 12, {0x81, 0x00, static_cast<uint8_t>(tci >> 8), static_cast<uint8_t>(tci)});
    }
    return f;
}

TEST(AfPacketVlan, ATaggedFrameShowsItsTag) {
    XB_REQUIRE_KERNEL();
    VethPair net("afpvlan");
    auto rx = net.open_or_fail(net.capture, net.capture_options());
    ASSERT_TRUE(rx);
    const uint16_t tci = 0x607B;  // priority 3, VLAN 123
    auto frame = udp_frame(net.capture_mac, net.sender_mac, 41500, 6000, 7, tci);
    send_raw(net.sb, net.sender, net.sender_ifindex, frame);
    auto c = collect({rx.get()}, {6000}, 1);
    ASSERT_EQ(c.ours.size(), 1u);
    const Seen& s = c.ours[0];
    if (s.meta.vlan_count == 1) {
        EXPECT_EQ(s.meta.vlan_tci[0], tci);
        EXPECT_FALSE(s.tag_in_frame) << "a removed tag must not also be in the frame";
        EXPECT_EQ(s.meta.caplen, frame.size() - 4);
        std::cout << "[ info     ] veth receive: the kernel moved the 802.1Q tag into tp_vlan_tci\n";
    } else {
        ASSERT_TRUE(s.tag_in_frame) << "the tag is neither reported nor in the frame";
        EXPECT_EQ(*s.tag_in_frame, tci);
        std::cout << "[ info     ] veth receive: the 802.1Q tag stayed in the frame\n";
    }
    EXPECT_EQ(as_on_wire(s), frame);
    EXPECT_EQ(s.seq, 7u);
}

// --- the IPS transmitter ---------------------------------------------------------------------------

TEST(Transmitter, FramesArriveOnThePeerAsTheyWereWithTagsPutBack) {
    XB_REQUIRE_KERNEL();
    VethPair net("afptx");
    AfPacketOptions peer = net.capture_options();
    peer.ifindex = net.sender_ifindex;
    auto on_peer = net.open_or_fail(net.sender, peer);
    auto on_self = net.open_or_fail(net.capture, net.capture_options());
    ASSERT_TRUE(on_peer && on_self);
    std::optional<Result<Transmitter>> opened;
    net.sb.run_in(net.capture, [&] { opened.emplace(Transmitter::open(net.capture_ifindex)); });
    ASSERT_TRUE(*opened) << opened->error().message;
    Transmitter tx = std::move(opened->value());
    EXPECT_EQ(tx.ifindex(), net.capture_ifindex);

    const int kPlain = 10;
    std::vector<std::vector<uint8_t>> plain;
    for (int i = 0; i < kPlain; ++i) plain.push_back(udp_frame(net.sender_mac, net.capture_mac, 42000, 6002, i));
    for (const auto& f : plain) {
        Packet p;
        p.data = f.data();
        p.caplen = p.wirelen = static_cast<uint32_t>(f.size());
        Status s = tx.send(p);
        EXPECT_TRUE(s) << s.error().message;
    }
    // As received with the tag removed by the kernel: the transmitter must put it back.
    auto untagged = udp_frame(net.sender_mac, net.capture_mac, 42001, 6003, 99);
    Packet tagged;
    tagged.data = untagged.data();
    tagged.caplen = tagged.wirelen = static_cast<uint32_t>(untagged.size());
    tagged.vlan_tci[0] = 0x0042;
    tagged.vlan_count = 1;
    Status s = tx.send(tagged);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(tx.sent(), static_cast<uint64_t>(kPlain + 1));
    EXPECT_EQ(tx.failed(), 0u);

    auto c = collect({on_peer.get()}, {6002, 6003}, kPlain + 1);
    ASSERT_EQ(c.ours.size(), static_cast<size_t>(kPlain + 1));
    int plain_seen = 0;
    for (const Seen& seen : c.ours) {
        if (seen.dport == 6002) {
            ASSERT_LT(seen.seq, plain.size());
            EXPECT_EQ(seen.bytes, plain[seen.seq]);
            EXPECT_EQ(seen.meta.vlan_count, 0);
            ++plain_seen;
        } else {
            EXPECT_EQ(as_on_wire(seen), udp_frame(net.sender_mac, net.capture_mac, 42001, 6003, 99, 0x0042))
                << "the peer must see the frame with its tag";
            EXPECT_TRUE(seen.meta.vlan_count == 1 || seen.tag_in_frame);
        }
    }
    EXPECT_EQ(plain_seen, kPlain);
    // A receiver on the transmitting interface skips what the host sends itself.
    // The peer has them all, so they have passed the transmit tap of v0: a second is plenty.
    auto self = collect({on_self.get()}, {6002, 6003}, [](const Collected& got) { return !got.ours.empty(); }, 64,
                        std::chrono::seconds(1));
    EXPECT_TRUE(self.ours.empty()) << self.ours.size() << " transmitted frames came back as received";
}

// --- errors ------------------------------------------------------------------------------------------

TEST(AfPacketErrors, BadOptionsAndMissingInterfacesAreRefused) {
    XB_REQUIRE_KERNEL();
    VethPair net("afperr");
    struct Case {
        const char* what;
        AfPacketOptions o;
        int code;
    };
    auto with = [&](auto change) {
        AfPacketOptions o = net.capture_options();
        change(o);
        return o;
    };
    const std::vector<Case> cases = {
        {"no interface", with([](auto& o) { o.ifindex = 0; }), EINVAL},
        {"negative ifindex", with([](auto& o) { o.ifindex = -3; }), EINVAL},
        {"missing interface", with([](auto& o) { o.ifindex = 999999; }), ENODEV},
        {"block not a power of two", with([](auto& o) { o.block_size = 3 * 4096; }), EINVAL},
        {"block below a page", with([](auto& o) { o.block_size = 2048; o.frame_size = 1024; }), EINVAL},
        {"block zero", with([](auto& o) { o.block_size = 0; }), EINVAL},
        {"frame unaligned", with([](auto& o) { o.frame_size = 2047; }), EINVAL},
        {"frame below the header", with([](auto& o) { o.frame_size = 16; }), EINVAL},
        {"frame above the block", with([](auto& o) { o.block_size = 4096; o.frame_size = 8192; }), EINVAL},
        {"no frames", with([](auto& o) { o.frame_count = 0; }), EINVAL},
    };
    for (const Case& c : cases) {
        auto r = net.open(net.capture, c.o);
        ASSERT_FALSE(r) << c.what << ": accepted";
        EXPECT_EQ(r.error().code, c.code) << c.what << ": " << r.error().message;
        EXPECT_FALSE(r.error().message.empty()) << c.what;
    }
    auto missing = net.open(net.capture, with([](auto& o) { o.ifindex = 999999; }));
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("ifindex 999999"), std::string::npos) << missing.error().message;
    auto bad_block = net.open(net.capture, with([](auto& o) { o.block_size = 3 * 4096; }));
    ASSERT_FALSE(bad_block);
    EXPECT_NE(bad_block.error().message.find("v0"), std::string::npos) << "the message names the interface: "
                                                                         << bad_block.error().message;

    std::optional<Result<Transmitter>> tx;
    net.sb.run_in(net.capture, [&] { tx.emplace(Transmitter::open(999999)); });
    ASSERT_FALSE(*tx);
    EXPECT_EQ(tx->error().code, ENODEV) << tx->error().message;
    net.sb.run_in(net.capture, [&] { tx.emplace(Transmitter::open(0)); });
    ASSERT_FALSE(*tx);
    EXPECT_EQ(tx->error().code, EINVAL) << tx->error().message;
    net.sb.run_in(net.capture, [&] { tx.emplace(Transmitter::open(net.capture_ifindex)); });
    ASSERT_TRUE(*tx) << tx->error().message;
    const uint8_t runt[6] = {};
    Packet p;
    p.data = runt;
    p.caplen = p.wirelen = sizeof runt;
    Status s = tx->value().send(p);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, EINVAL);
    EXPECT_EQ(tx->value().failed(), 1u);
}

}  // namespace
}  // namespace xb::capture
