#include "engine/decode.h"

#include <cstring>

namespace xb::engine {

namespace {

constexpr uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100, kEtherQinq = 0x88a8, kEtherQinqOld = 0x9100;
constexpr uint8_t kProtoHopOpts = 0, kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoRouting = 43,
                  kProtoFragment = 44, kProtoIcmpv6 = 58, kProtoDstOpts = 60;
constexpr int kMaxIpv6ExtHeaders = 8;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// The transport header at l4 (the IP packet's payload, already trimmed to the IP length).
bool decode_l4(Decoded& d, std::span<const uint8_t> l4) {
    switch (d.proto) {
        case kProtoTcp: {
            if (l4.size() < 20) return false;
            size_t off = static_cast<size_t>(l4[12] >> 4) * 4;
            if (off < 20 || off > l4.size()) return false;
            d.sport = be16(&l4[0]);
            d.dport = be16(&l4[2]);
            d.seq = be32(&l4[4]);
            d.ack = be32(&l4[8]);
            d.tcp_flags = l4[13];
            d.payload = l4.subspan(off);
            return true;
        }
        case kProtoUdp: {
            if (l4.size() < 8) return false;
            size_t len = be16(&l4[4]);
            if (len < 8 || len > l4.size()) return false;
            d.sport = be16(&l4[0]);
            d.dport = be16(&l4[2]);
            d.payload = l4.subspan(8, len - 8);
            return true;
        }
        case kProtoIcmp:
        case kProtoIcmpv6:
            if (l4.size() < 8) return false;
            d.icmp_type = l4[0];
            d.icmp_code = l4[1];
            d.payload = l4.subspan(8);
            return true;
        default:
            d.payload = l4;  // another protocol: no ports, its header is part of the payload
            return true;
    }
}

bool decode_ipv4(Decoded& d, std::span<const uint8_t> p) {
    if (p.size() < 20 || (p[0] >> 4) != 4) return false;
    size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
    size_t total = be16(&p[2]);
    if (ihl < 20 || total < ihl || total > p.size()) return false;
    d.family = 4;
    d.proto = p[9];
    std::memcpy(d.src.data(), &p[12], 4);
    std::memcpy(d.dst.data(), &p[16], 4);
    uint16_t frag = be16(&p[6]);
    if ((frag & 0x2000) != 0 || (frag & 0x1fff) != 0) {  // more fragments, or an offset
        d.fragment = true;
        return true;
    }
    return decode_l4(d, p.subspan(ihl, total - ihl));
}

bool decode_ipv6(Decoded& d, std::span<const uint8_t> p) {
    if (p.size() < 40 || (p[0] >> 4) != 6) return false;
    size_t plen = be16(&p[4]);
    if (plen == 0 || 40 + plen > p.size()) return false;  // jumbograms are not supported
    d.family = 6;
    std::memcpy(d.src.data(), &p[8], 16);
    std::memcpy(d.dst.data(), &p[24], 16);
    uint8_t next = p[6];
    std::span<const uint8_t> rest = p.subspan(40, plen);
    for (int i = 0;; ++i) {
        if (next != kProtoHopOpts && next != kProtoRouting && next != kProtoDstOpts && next != kProtoFragment) break;
        if (i == kMaxIpv6ExtHeaders) return false;
        if (next == kProtoHopOpts && i != 0) return false;  // hop-by-hop must come first
        if (rest.size() < 8) return false;
        if (next == kProtoFragment) {
            uint16_t off_flags = be16(&rest[2]);
            next = rest[0];
            if ((off_flags & 0xfff8) != 0 || (off_flags & 1) != 0) {
                d.proto = next;
                d.fragment = true;
                return true;
            }
            rest = rest.subspan(8);  // an atomic fragment: the whole packet
            continue;
        }
        size_t len = (static_cast<size_t>(rest[1]) + 1) * 8;
        if (len > rest.size()) return false;
        next = rest[0];
        rest = rest.subspan(len);
    }
    d.proto = next;
    return decode_l4(d, rest);
}

}  // namespace

std::optional<Decoded> decode_frame(std::span<const uint8_t> frame, const uint16_t* removed_vlans,
                                    uint8_t removed_vlan_count) {
    Decoded d;
    if (removed_vlan_count > 2 || (removed_vlan_count > 0 && removed_vlans == nullptr)) return std::nullopt;
    for (uint8_t i = 0; i < removed_vlan_count; ++i) d.vlan[d.vlan_count++] = removed_vlans[i] & 0x0fff;
    if (frame.size() < 14) return std::nullopt;
    uint16_t type = be16(&frame[12]);
    size_t off = 14;
    while (type == kEtherVlan || type == kEtherQinq || type == kEtherQinqOld) {
        if (d.vlan_count == 2 || frame.size() < off + 4) return std::nullopt;
        d.vlan[d.vlan_count++] = be16(&frame[off]) & 0x0fff;
        type = be16(&frame[off + 2]);
        off += 4;
    }
    bool ok = false;
    if (type == kEtherIpv4) ok = decode_ipv4(d, frame.subspan(off));
    else if (type == kEtherIpv6) ok = decode_ipv6(d, frame.subspan(off));
    if (!ok) return std::nullopt;
    d.wire_len = static_cast<uint32_t>(frame.size()) + 4u * removed_vlan_count;
    return d;
}

}  // namespace xb::engine
