// Classic pcap files (the libpcap format, both byte orders, micro- and nanosecond timestamps),
// without libpcap. pcapng is recognised and refused with a diagnostic; only LINKTYPE_ETHERNET is
// accepted since the bypass programs parse Ethernet frames.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/diagnostic.h"
#include "common/result.h"

namespace xb::datapath {

inline constexpr uint32_t kLinktypeEthernet = 1;
// The largest capture simulate reads (XB3115 beyond): the file and its packets are held in memory.
inline constexpr size_t kMaxPcapBytes = 64u << 20;
inline constexpr size_t kMaxPcapPackets = 1000000;

struct PcapPacket {
    uint32_t ts_sec = 0;
    uint32_t ts_frac = 0;    // microseconds, or nanoseconds when PcapFile::nanosecond
    uint32_t orig_len = 0;   // length on the wire (data may be shorter: snaplen)
    std::vector<uint8_t> data;
};

struct PcapFile {
    uint32_t linktype = 0;
    uint32_t snaplen = 0;
    bool nanosecond = false;
    bool byte_swapped = false;  // written on a machine of the other byte order
    std::vector<PcapPacket> packets;
};

// Parses a whole capture; problems are XB311x diagnostics (located as name:0, with the byte offset in
// the message) and an Error. read_pcap_file reads through read_input_file (common/input_file.h).
Result<PcapFile> parse_pcap(std::span<const uint8_t> bytes, const std::string& name, Diagnostics& diags);
Result<PcapFile> read_pcap_file(const std::string& path, Diagnostics& diags);

// A capture in this machine's byte order (or swapped), microsecond timestamps; for tests and tools.
std::vector<uint8_t> write_pcap(const std::vector<PcapPacket>& packets, uint32_t linktype = kLinktypeEthernet,
                                bool byte_swapped = false);

}  // namespace xb::datapath
