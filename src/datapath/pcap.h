// Classic pcap files (the libpcap format, both byte orders, micro- and nanosecond timestamps),
// without libpcap. pcapng is recognised and refused with a diagnostic; only LINKTYPE_ETHERNET is
// accepted since the bypass programs parse Ethernet frames. A capture is read record by record
// (PcapReader): memory stays at one record (at most kMaxPcapRecord bytes) whatever the file's size.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/diagnostic.h"
#include "common/owners.h"
#include "common/result.h"

namespace xb::datapath {

inline constexpr uint32_t kLinktypeEthernet = 1;
// The largest record accepted (XB3114 beyond): more than any snaplen a capture tool writes.
inline constexpr uint32_t kMaxPcapRecord = 256 * 1024;

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

// A capture read one record at a time, from a file (opened through open_input_file, read through
// read_input_some: a pending SIGINT/SIGTERM interrupts it) or from bytes in memory. Problems are
// XB311x diagnostics (located as name:0, with the byte offset in the message) and an Error; after an
// Error the reader gives no more packets.
class PcapReader {
public:
    static Result<PcapReader> open(const std::string& path, Diagnostics& diags);
    static Result<PcapReader> from_bytes(std::span<const uint8_t> bytes, const std::string& name, Diagnostics& diags);

    PcapReader(PcapReader&&) = default;
    PcapReader& operator=(PcapReader&&) = default;

    // The next packet into `out` (its buffer is reused): true, false at the end of the capture, or an
    // Error (XB3114 for a truncated or corrupt record, XB3110 for a read error or a stop signal).
    Result<bool> next(PcapPacket& out, Diagnostics& diags);

    uint32_t linktype() const { return linktype_; }
    uint32_t snaplen() const { return snaplen_; }
    bool nanosecond() const { return nanosecond_; }
    bool byte_swapped() const { return byte_swapped_; }
    size_t packets_read() const { return index_; }
    uint64_t offset() const { return offset_; }  // byte offset of the next record

private:
    PcapReader() = default;
    Result<bool> read_header(Diagnostics& diags);
    // Up to n bytes from the source into dst: how many (fewer only at the end), or a read Error.
    Result<size_t> fill(uint8_t* dst, size_t n);
    Error fail(Diagnostics& diags, const char* code, std::string message, std::string hint);

    std::string name_;
    UniqueFd fd_;                       // a file, or
    std::span<const uint8_t> bytes_;    // bytes in memory
    size_t mem_pos_ = 0;
    std::vector<uint8_t> buf_;          // read-ahead from fd_
    size_t buf_pos_ = 0;
    uint64_t offset_ = 0;
    size_t index_ = 0;
    bool failed_ = false;
    uint32_t linktype_ = 0;
    uint32_t snaplen_ = 0;
    bool nanosecond_ = false;
    bool byte_swapped_ = false;
};

// A whole capture in memory (tests, the fuzzer): PcapReader::from_bytes read to its end.
Result<PcapFile> parse_pcap(std::span<const uint8_t> bytes, const std::string& name, Diagnostics& diags);

// A capture in this machine's byte order (or swapped), microsecond timestamps; for tests and tools.
std::vector<uint8_t> write_pcap(const std::vector<PcapPacket>& packets, uint32_t linktype = kLinktypeEthernet,
                                bool byte_swapped = false);

}  // namespace xb::datapath
