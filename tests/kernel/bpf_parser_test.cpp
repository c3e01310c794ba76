// Every parser branch of the bypass programs, through BPF_PROG_TEST_RUN on the real kernel, for XDP
// (xdp_ids) and tc (tc_ids): the verdict and the counters say what the program made of each frame.
// A hit proves the parsed key is exactly the one inserted (VLAN ids, addresses, ports, protocol).
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>

#include <optional>
#include <string>
#include <vector>

#include "datapath/flow.h"
#include "datapath/parse_mirror.h"
#include "datapath/program.h"
#include "harness/sandbox.h"
#include "kernel/bpf_packet_builder.h"

namespace xb::datapath {
namespace {

using test::PacketBuilder;
using Bytes = std::vector<uint8_t>;

constexpr uint16_t kQ = 0x8100;   // 802.1Q
constexpr uint16_t kAd = 0x88a8;  // 802.1ad

enum class Outcome { Hit, Miss, Fragment, ParseError, NotIp };

const char* outcome_name(Outcome o) {
    switch (o) {
    case Outcome::Hit: return "hit";
    case Outcome::Miss: return "miss";
    case Outcome::Fragment: return "fragment";
    case Outcome::ParseError: return "parse-error";
    case Outcome::NotIp: return "not-ip";
    }
    return "?";
}

FlowKey key_of(const char* proto, const char* src, uint16_t sport, const char* dst, uint16_t dport,
               uint16_t vlan0 = 0, uint16_t vlan1 = 0) {
    auto k = make_flow_key(proto, src, sport, dst, dport, vlan0, vlan1);
    EXPECT_TRUE(k.ok()) << k.error().message;
    return k.ok() ? *k : FlowKey{};
}

class ParserTest : public ::testing::TestWithParam<Hook> {
protected:
    void SetUp() override {
        XB_REQUIRE_KERNEL();
        sandbox_ = std::make_unique<test::Sandbox>();
    }

    BypassProgram load(bool vlan_tracking = true) {
        ProgramOptions o;
        o.datapath = GetParam();
        o.vlan_tracking = vlan_tracking;
        o.flow_table_size = 1024;
        Diagnostics d;
        auto p = BypassProgram::load(o, d);
        if (!p.ok()) throw std::runtime_error(p.error().message + "\n" + d.to_text());
        return std::move(p).value();
    }

    // Runs the frame once with counters reset; checks the verdict and that exactly the expected
    // reason and outcome counters moved.
    void expect(BypassProgram& prog, const Bytes& frame, Outcome want, const std::string& what) {
        SCOPED_TRACE(what + " (" + outcome_name(want) + ", " + std::to_string(frame.size()) + " bytes)");
        ASSERT_TRUE(prog.reset_counters().ok());
        auto r = prog.test_run(frame);
        ASSERT_TRUE(r.ok()) << r.error().message;
        bool xdp = GetParam() == Hook::Xdp;
        uint32_t pass = xdp ? XDP_PASS : TC_ACT_OK;
        uint32_t drop = xdp ? XDP_DROP : TC_ACT_SHOT;
        EXPECT_EQ(r->retval, want == Outcome::Hit ? drop : pass);
        auto c = prog.read_counters();
        ASSERT_TRUE(c.ok());
        enum xb_counter reason = want == Outcome::Hit        ? XB_CNT_HIT
                                 : want == Outcome::Miss     ? XB_CNT_MISS
                                 : want == Outcome::Fragment ? XB_CNT_FRAGMENT
                                 : want == Outcome::NotIp    ? XB_CNT_NOT_IP
                                                             : XB_CNT_PARSE_ERROR;
        enum xb_counter outcome = want == Outcome::Hit ? XB_CNT_DROP : XB_CNT_PASS;
        for (int i = 0; i < XB_CNT_MAX; ++i) {
            auto ci = static_cast<enum xb_counter>(i);
            EXPECT_EQ(c->value[i], (ci == reason || ci == outcome) ? 1u : 0u) << counter_name(ci);
        }

        // The host build of the same parser (what `xbypass simulate` prints) agrees with the program.
        ParsedFrame mirror = parse_frame(frame, prog.options().vlan_tracking);
        ParseStatus want_status = want == Outcome::Fragment     ? ParseStatus::Fragment
                                  : want == Outcome::NotIp      ? ParseStatus::NotIp
                                  : want == Outcome::ParseError ? ParseStatus::Malformed
                                                                : ParseStatus::Ok;
        EXPECT_EQ(parse_status_name(mirror.status), parse_status_name(want_status));
        if (want == Outcome::Hit || want == Outcome::Miss) {
            EXPECT_EQ(prog.flow_table().lookup(mirror.key).has_value(), want == Outcome::Hit)
                << flow_key_to_string(mirror.key);
        }
    }

    std::unique_ptr<test::Sandbox> sandbox_;
};

TEST_P(ParserTest, Ipv4TcpUdpAndOtherProtocols) {
    auto prog = load();
    auto table = prog.flow_table();
    FlowKey tcp = key_of("tcp", "10.0.0.1", 1234, "10.0.0.2", 80);
    FlowKey udp = key_of("udp", "10.0.0.1", 5353, "10.0.0.2", 53);
    FlowKey gre = key_of("47", "10.0.0.1", 0, "10.0.0.2", 0);
    for (const auto& k : {tcp, udp, gre}) ASSERT_TRUE(table.insert(k).ok());

    expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 80).build(), Outcome::Hit, "tcp");
    expect(prog, PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").tcp(80, 1234).payload(100).build(), Outcome::Hit,
           "tcp reverse direction");
    expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 81).build(), Outcome::Miss, "other port");
    expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.3").tcp(1234, 80).build(), Outcome::Miss, "other address");
    expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(5353, 53).build(), Outcome::Hit, "udp");
    expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(5353, 53).build(), Outcome::Miss,
           "tcp on the udp flow's ports");
    expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").proto(47).payload(20).build(), Outcome::Hit,
           "gre keyed without ports");
    expect(prog, PacketBuilder().ethertype(0x0806).build(), Outcome::NotIp, "arp");

    auto stats = table.lookup(tcp);
    ASSERT_TRUE(stats.has_value());
    EXPECT_EQ(stats->packets, 1u);
    EXPECT_EQ(stats->bytes, 54u);  // 14 + 20 + 20
    EXPECT_GT(stats->last_seen_ns, 0u);
    auto rev = table.lookup(reverse_flow_key(tcp));
    ASSERT_TRUE(rev.has_value());
    EXPECT_EQ(rev->packets, 1u);
    EXPECT_EQ(rev->bytes, 154u);
}

TEST_P(ParserTest, VlanIdsAbove255AndQinQInAnyOrder) {
    auto prog = load();
    auto table = prog.flow_table();
    ASSERT_TRUE(table.insert(key_of("tcp", "10.0.0.1", 1, "10.0.0.2", 2, 300)).ok());
    ASSERT_TRUE(table.insert(key_of("udp", "10.0.0.1", 1, "10.0.0.2", 2, 1000, 3000)).ok());
    ASSERT_TRUE(table.insert(key_of("udp", "10.0.0.1", 1, "10.0.0.2", 2, 4095, 1)).ok());

    auto tcp = [] { return PacketBuilder(); };
    expect(prog, tcp().vlan(kQ, 300).ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build(), Outcome::Hit, "802.1Q 300");
    expect(prog, tcp().vlan(kQ, 300, 7).ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build(), Outcome::Hit,
           "priority bits are not part of the id");
    expect(prog, tcp().vlan(kAd, 300).ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build(), Outcome::Hit, "802.1ad 300");
    expect(prog, tcp().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build(), Outcome::Miss, "untagged: other flow");
    expect(prog, tcp().vlan(kQ, 301).ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build(), Outcome::Miss, "vlan 301");
    // 300 = 0x012c; read without byte-order conversion it would be 0x2c01 & 0xfff = 3073
    expect(prog, tcp().vlan(kQ, 3073).ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build(), Outcome::Miss,
           "vlan id not byte-swapped");
    expect(prog, tcp().vlan(kAd, 1000).vlan(kQ, 3000).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(), Outcome::Hit,
           "QinQ 802.1ad then 802.1Q");
    expect(prog, tcp().vlan(kQ, 1000).vlan(kAd, 3000).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(), Outcome::Hit,
           "QinQ 802.1Q then 802.1ad");
    expect(prog, tcp().vlan(kQ, 1000).vlan(kQ, 3000).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(), Outcome::Hit,
           "QinQ 802.1Q twice");
    expect(prog, tcp().vlan(kAd, 3000).vlan(kQ, 1000).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(), Outcome::Miss,
           "QinQ tags swapped are another flow");
    expect(prog, tcp().vlan(kAd, 4095).vlan(kQ, 1).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(), Outcome::Hit,
           "vlan 4095/1");
    expect(prog, tcp().vlan(kAd, 1000).vlan(kQ, 3000).vlan(kQ, 5).ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).build(),
           Outcome::ParseError, "three tags");
    expect(prog, tcp().vlan(kQ, 300).ethertype(0x0806).build(), Outcome::NotIp, "tagged arp");
}

TEST_P(ParserTest, VlanTrackingOffKeysWithoutVlanIds) {
    auto prog = load(false);
    ASSERT_TRUE(prog.flow_table().insert(key_of("tcp", "10.0.0.1", 1, "10.0.0.2", 2)).ok());
    expect(prog, PacketBuilder().vlan(kQ, 300).ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build(), Outcome::Hit,
           "tagged frame, tracking off");
    expect(prog, PacketBuilder().vlan(kAd, 7).vlan(kQ, 9).ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build(),
           Outcome::Hit, "QinQ frame, tracking off");
    expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build(), Outcome::Hit, "untagged");
}

TEST_P(ParserTest, Ipv4OptionsAndBadIhl) {
    auto prog = load();
    ASSERT_TRUE(prog.flow_table().insert(key_of("tcp", "10.0.0.1", 1111, "10.0.0.2", 2222)).ok());
    for (size_t options = 4; options <= 40; options += 4)
        expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").ipv4_options(options).tcp(1111, 2222).build(),
               Outcome::Hit, "IPv4 with " + std::to_string(options) + " bytes of options");
    for (uint8_t ihl = 0; ihl < 5; ++ihl)
        expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").ihl(ihl).tcp(1111, 2222).build(),
               Outcome::ParseError, "IHL " + std::to_string(ihl));
    // IHL 15 (60 bytes) on a frame whose IP header and TCP header are 40 bytes: the header runs off the end
    expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").ihl(15).tcp(1111, 2222).build(), Outcome::ParseError,
           "IHL beyond the frame");
    // IHL 6 without options: the ports are read 4 bytes late, so the key is another flow
    expect(prog, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").ihl(6).tcp(1111, 2222).payload(4).build(),
           Outcome::Miss, "IHL honoured");
}

TEST_P(ParserTest, FragmentsAreNeverBypassed) {
    auto prog = load();
    ASSERT_TRUE(prog.flow_table().insert(key_of("udp", "10.0.0.1", 1, "10.0.0.2", 2)).ok());
    ASSERT_TRUE(prog.flow_table().insert(key_of("udp", "2001:db8::1", 1, "2001:db8::2", 2)).ok());
    auto v4 = [] { return PacketBuilder().ipv4("10.0.0.1", "10.0.0.2"); };
    auto v6 = [] { return PacketBuilder().ipv6("2001:db8::1", "2001:db8::2"); };
    expect(prog, v4().udp(1, 2).build(), Outcome::Hit, "unfragmented");
    expect(prog, v4().ipv4_frag(true, 0).udp(1, 2).build(), Outcome::Fragment, "first fragment (MF)");
    expect(prog, v4().ipv4_frag(true, 100).udp(1, 2).build(), Outcome::Fragment, "middle fragment");
    expect(prog, v4().ipv4_frag(false, 100).udp(1, 2).build(), Outcome::Fragment, "last fragment (offset only)");
    expect(prog, v4().vlan(kQ, 0).ipv4_frag(false, 1).udp(1, 2).build(), Outcome::Fragment, "tagged fragment");
    expect(prog, v6().udp(1, 2).build(), Outcome::Hit, "IPv6 unfragmented");
    expect(prog, v6().ipv6_ext(44).udp(1, 2).build(), Outcome::Fragment, "IPv6 fragment header");
    expect(prog, v6().ipv6_ext(0).ipv6_ext(60).ipv6_ext(44).udp(1, 2).build(), Outcome::Fragment,
           "IPv6 fragment header after two extensions");
}

TEST_P(ParserTest, Ipv6ExtensionChainsWithinAndBeyondTheBound) {
    auto prog = load();
    ASSERT_TRUE(prog.flow_table().insert(key_of("tcp", "2001:db8::1", 443, "2001:db8::2", 50000)).ok());
    ASSERT_TRUE(prog.flow_table().insert(key_of("59", "2001:db8::1", 0, "2001:db8::2", 0)).ok());
    ASSERT_TRUE(prog.flow_table().insert(key_of("50", "2001:db8::1", 0, "2001:db8::2", 0)).ok());
    auto v6 = [] { return PacketBuilder().ipv6("2001:db8::1", "2001:db8::2"); };
    expect(prog, v6().tcp(443, 50000).build(), Outcome::Hit, "no extensions");
    expect(prog, v6().ipv6_ext(0).tcp(443, 50000).build(), Outcome::Hit, "hop-by-hop");
    expect(prog, v6().ipv6_ext(0, 64).ipv6_ext(43, 24).ipv6_ext(60, 16).tcp(443, 50000).build(), Outcome::Hit,
           "hop-by-hop, routing, destination options of several lengths");
    expect(prog, v6().ipv6_ext(51, 24).tcp(443, 50000).build(), Outcome::Hit, "AH (length in 4-byte units)");
    expect(prog, v6().ipv6_ext(135, 16).tcp(443, 50000).build(), Outcome::Hit, "mobility header");
    expect(prog, v6().ipv6_ext(0).ipv6_ext(43).ipv6_ext(60).proto(59).build(), Outcome::Hit,
           "no next header after extensions");
    expect(prog, v6().ipv6_ext(60).proto(50).payload(16).build(), Outcome::Hit, "ESP keyed without ports");

    for (size_t n = 1; n <= XB_IPV6_MAX_EXT_HEADERS + 2; ++n) {
        PacketBuilder b = v6();
        for (size_t i = 0; i < n; ++i) b.ipv6_ext(i % 2 ? 60 : 43);
        expect(prog, b.tcp(443, 50000).build(), n <= XB_IPV6_MAX_EXT_HEADERS ? Outcome::Hit : Outcome::ParseError,
               std::to_string(n) + " extension headers");
    }
    // a fragment header just past the bound is still a fragment, not a bypass
    PacketBuilder b = v6();
    for (size_t i = 0; i < XB_IPV6_MAX_EXT_HEADERS; ++i) b.ipv6_ext(60);
    expect(prog, b.ipv6_ext(44).tcp(443, 50000).build(), Outcome::Fragment, "fragment header after the bound");
    // extension header cut short / claiming more than the frame
    Bytes cut = v6().ipv6_ext(0, 64).tcp(443, 50000).build();
    cut.resize(14 + 40 + 1);
    expect(prog, cut, Outcome::ParseError, "extension header cut after one byte");
    Bytes claims = v6().ipv6_ext(0, 8).tcp(443, 50000).build();
    claims[14 + 40 + 1] = 200;  // hdrlen: 1608 bytes
    expect(prog, claims, Outcome::ParseError, "extension header longer than the frame");
}

TEST_P(ParserTest, WrongIpVersionIsMalformed) {
    auto prog = load();
    Bytes v4 = PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1, 2).build();
    v4[14] = static_cast<uint8_t>(0x60 | (v4[14] & 0x0f));
    expect(prog, v4, Outcome::ParseError, "version 6 in an IPv4 ethertype");
    Bytes v6 = PacketBuilder().ipv6("2001:db8::1", "2001:db8::2").tcp(1, 2).build();
    v6[14] = 0x40;
    expect(prog, v6, Outcome::ParseError, "version 4 in an IPv6 ethertype");
}

TEST_P(ParserTest, TruncationAtEveryByteOffset) {
    auto prog = load();
    ASSERT_TRUE(prog.flow_table().insert(key_of("tcp", "2001:db8::1", 443, "2001:db8::2", 50000, 100, 200)).ok());
    ASSERT_TRUE(prog.flow_table().insert(key_of("udp", "10.0.0.1", 53, "10.0.0.2", 5353, 7)).ok());
    struct {
        const char* what;
        Bytes frame;
    } frames[] = {
        {"TCP/IPv6 in QinQ with a hop-by-hop header",
         PacketBuilder().vlan(kAd, 100).vlan(kQ, 200).ipv6("2001:db8::1", "2001:db8::2").ipv6_ext(0, 16)
             .tcp(443, 50000).build()},
        {"TCP/IPv6", PacketBuilder().ipv6("2001:db8::1", "2001:db8::2").tcp(443, 50000).build()},
        {"UDP/IPv4 with options in 802.1Q",
         PacketBuilder().vlan(kQ, 7).ipv4("10.0.0.1", "10.0.0.2").ipv4_options(12).udp(53, 5353).build()},
    };
    for (size_t f = 0; f < 3; ++f) {
        const Bytes& full = frames[f].frame;
        if (f == 1) {
            ASSERT_TRUE(prog.flow_table().insert(key_of("tcp", "2001:db8::1", 443, "2001:db8::2", 50000)).ok());
        }
        expect(prog, full, Outcome::Hit, std::string(frames[f].what) + " complete");
        // Shorter than an Ethernet header: BPF_PROG_TEST_RUN itself may refuse the frame (EINVAL); when
        // it runs it, the program must pass it.
        for (size_t len = 0; len < 14; ++len) {
            auto r = prog.test_run(Bytes(full.begin(), full.begin() + static_cast<long>(len)));
            if (r.ok()) {
                EXPECT_EQ(r->retval, GetParam() == Hook::Xdp ? XDP_PASS : TC_ACT_OK) << "cut at " << len;
            } else {
                EXPECT_EQ(r.error().code, EINVAL) << r.error().message;
            }
        }
        for (size_t len = 14; len < full.size(); ++len) {
            Bytes cut(full.begin(), full.begin() + static_cast<long>(len));
            // The skb flavour of BPF_PROG_TEST_RUN refuses an untagged IP frame shorter than its IP
            // header (EINVAL) before the program runs; the kernel's own receive path drops those too.
            if (GetParam() == Hook::Tc && f == 1 && len < 14 + 40) {
                auto r = prog.test_run(cut);
                if (!r.ok()) {
                    EXPECT_EQ(r.error().code, EINVAL);
                    continue;
                }
            }
            expect(prog, cut, Outcome::ParseError,
                   std::string(frames[f].what) + " cut at " + std::to_string(len));
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Hooks, ParserTest, ::testing::Values(Hook::Xdp, Hook::Tc),
                         [](const auto& info) { return std::string(hook_name(info.param)); });

}  // namespace
}  // namespace xb::datapath
