// A small frame builder for the datapath tests: Ethernet, VLAN tags, IPv4 (with options), IPv6
// (with extension headers), TCP/UDP or any protocol. Lengths and checksums are filled where the
// parser could look at them; payload is zeros.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace xb::test {

class PacketBuilder {
public:
    using Bytes = std::vector<uint8_t>;

    PacketBuilder& vlan(uint16_t tpid, uint16_t vid, uint8_t pcp = 0) {
        tags_.push_back({tpid, static_cast<uint16_t>((pcp << 13) | (vid & 0x0fff))});
        return *this;
    }
    PacketBuilder& ethertype(uint16_t type) {
        ethertype_ = type;
        return *this;
    }
    PacketBuilder& ipv4(const std::string& src, const std::string& dst) {
        family_ = 4;
        inet_pton(AF_INET, src.c_str(), src_);
        inet_pton(AF_INET, dst.c_str(), dst_);
        return *this;
    }
    PacketBuilder& ipv6(const std::string& src, const std::string& dst) {
        family_ = 6;
        inet_pton(AF_INET6, src.c_str(), src_);
        inet_pton(AF_INET6, dst.c_str(), dst_);
        return *this;
    }
    // IPv4 options (padded to 4 bytes) and a forced IHL (for malformed headers).
    PacketBuilder& ipv4_options(size_t bytes) {
        ip_options_ = (bytes + 3) / 4 * 4;
        return *this;
    }
    PacketBuilder& ihl(uint8_t v) {
        forced_ihl_ = v;
        return *this;
    }
    PacketBuilder& ipv4_frag(bool more_fragments, uint16_t offset_8byte_units) {
        frag_ = static_cast<uint16_t>((more_fragments ? 0x2000 : 0) | (offset_8byte_units & 0x1fff));
        return *this;
    }
    // An IPv6 extension header (0 hop-by-hop, 43 routing, 60 destination options, 51 AH, 44 fragment,
    // 135 mobility) of the given length in bytes (multiple of 8; AH multiple of 4).
    PacketBuilder& ipv6_ext(uint8_t type, size_t bytes = 8) {
        exts_.push_back({type, bytes});
        return *this;
    }
    PacketBuilder& tcp(uint16_t sport, uint16_t dport) {
        proto_ = IPPROTO_TCP;
        sport_ = sport;
        dport_ = dport;
        return *this;
    }
    PacketBuilder& udp(uint16_t sport, uint16_t dport) {
        proto_ = IPPROTO_UDP;
        sport_ = sport;
        dport_ = dport;
        return *this;
    }
    PacketBuilder& proto(uint8_t p) {
        proto_ = p;
        return *this;
    }
    PacketBuilder& payload(size_t bytes) {
        payload_ = bytes;
        return *this;
    }

    Bytes build() const {
        Bytes l4 = transport();
        Bytes f;
        put(f, {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01});  // dst, src MAC (locally administered)
        for (const auto& t : tags_) {
            put16(f, t.tpid);
            put16(f, t.tci);
        }
        if (family_ == 4) {
            put16(f, 0x0800);
            size_t hlen = 20 + ip_options_;
            uint8_t ihl = forced_ihl_ >= 0 ? static_cast<uint8_t>(forced_ihl_) : static_cast<uint8_t>(hlen / 4);
            size_t start = f.size();
            f.push_back(static_cast<uint8_t>(0x40 | (ihl & 0x0f)));
            f.push_back(0);
            put16(f, static_cast<uint16_t>(hlen + l4.size()));
            put16(f, 0x1234);
            put16(f, frag_);
            f.push_back(64);
            f.push_back(proto_);
            put16(f, 0);
            put(f, Bytes(src_, src_ + 4));
            put(f, Bytes(dst_, dst_ + 4));
            for (size_t i = 0; i < ip_options_; ++i) f.push_back(i == 0 ? 0x01 : 0x01);  // NOPs
            uint32_t sum = 0;
            for (size_t i = start; i < start + hlen; i += 2) sum += (f[i] << 8) | f[i + 1];
            while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
            uint16_t csum = static_cast<uint16_t>(~sum);
            f[start + 10] = static_cast<uint8_t>(csum >> 8);
            f[start + 11] = static_cast<uint8_t>(csum);
        } else if (family_ == 6) {
            put16(f, 0x86dd);
            size_t ext_len = 0;
            for (const auto& e : exts_) ext_len += e.bytes;
            put(f, {0x60, 0, 0, 0});
            put16(f, static_cast<uint16_t>(ext_len + l4.size()));
            f.push_back(exts_.empty() ? proto_ : exts_.front().type);
            f.push_back(64);
            put(f, Bytes(src_, src_ + 16));
            put(f, Bytes(dst_, dst_ + 16));
            for (size_t i = 0; i < exts_.size(); ++i) {
                const auto& e = exts_[i];
                Bytes h(e.bytes, 0);
                h[0] = i + 1 < exts_.size() ? exts_[i + 1].type : proto_;
                if (e.type == IPPROTO_AH) h[1] = static_cast<uint8_t>(e.bytes / 4 - 2);
                else if (e.type != IPPROTO_FRAGMENT) h[1] = static_cast<uint8_t>(e.bytes / 8 - 1);
                put(f, h);
            }
        } else {
            put16(f, ethertype_);
            put(f, Bytes(46, 0));
            return f;
        }
        put(f, l4);
        return f;
    }

private:
    struct Tag {
        uint16_t tpid, tci;
    };
    struct Ext {
        uint8_t type;
        size_t bytes;
    };
    static void put(Bytes& b, const Bytes& x) { b.insert(b.end(), x.begin(), x.end()); }
    static void put16(Bytes& b, uint16_t v) {
        b.push_back(static_cast<uint8_t>(v >> 8));
        b.push_back(static_cast<uint8_t>(v));
    }
    Bytes transport() const {
        Bytes t;
        if (proto_ == IPPROTO_TCP) {
            put16(t, sport_);
            put16(t, dport_);
            put(t, {0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0});  // seq, ack, doff 5, ACK
        } else if (proto_ == IPPROTO_UDP) {
            put16(t, sport_);
            put16(t, dport_);
            put16(t, static_cast<uint16_t>(8 + payload_));
            put16(t, 0);
        }
        t.resize(t.size() + payload_, 0);
        return t;
    }

    std::vector<Tag> tags_;
    uint16_t ethertype_ = 0x0806;  // ARP when no IP header is added
    int family_ = 0;
    uint8_t src_[16] = {}, dst_[16] = {};
    size_t ip_options_ = 0;
    int forced_ihl_ = -1;
    uint16_t frag_ = 0;
    std::vector<Ext> exts_;
    uint8_t proto_ = IPPROTO_TCP;
    uint16_t sport_ = 0, dport_ = 0;
    size_t payload_ = 0;
};

}  // namespace xb::test
