// Packet decoding for the engine: Ethernet, up to two VLAN tags (802.1Q/802.1ad/QinQ, counting the
// tags the NIC or kernel already removed), IPv4 (options, fragments), IPv6 (hop-by-hop, routing,
// destination options and fragment headers), TCP, UDP, ICMP and ICMPv6. Pure and bounds-checked:
// any header that does not fit in the frame, or an IP packet longer than the bytes captured, gives
// std::nullopt. The payload is a view into the frame (Ethernet padding excluded).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace xb::engine {

struct Decoded {
    uint8_t family = 0;                  // 4 or 6
    uint8_t proto = 0;                   // IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, ...
    std::array<uint8_t, 16> src{}, dst{}; // network byte order; IPv4 in the first 4 bytes, the rest zero
    uint16_t sport = 0, dport = 0;       // host byte order; 0 for protocols without ports
    uint16_t vlan[2]{};                  // VLAN ids, outer first (removed tags first, then in-frame tags)
    uint8_t vlan_count = 0;
    // TCP
    uint32_t seq = 0, ack = 0;           // host byte order
    uint8_t tcp_flags = 0;               // kTcpFin ... as in the header's flags byte
    // ICMP and ICMPv6
    uint8_t icmp_type = 0, icmp_code = 0;
    std::span<const uint8_t> payload;    // the L4 payload; empty for fragments
    uint32_t wire_len = 0;               // frame.size() plus 4 per removed tag; callers may set the wire length
    bool fragment = false;               // an IP fragment (any but an atomic one): no ports, no payload
};

inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10;

// Decodes one frame from its Ethernet header. removed_vlans: the ids of the tags the NIC or kernel
// took out of the frame (outer first), removed_vlan_count of them. More than two tags in total, a
// non-IP frame, or a truncated or malformed header give std::nullopt.
std::optional<Decoded> decode_frame(std::span<const uint8_t> frame, const uint16_t* removed_vlans,
                                    uint8_t removed_vlan_count);

}  // namespace xb::engine
