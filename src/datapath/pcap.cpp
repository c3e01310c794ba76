#include "datapath/pcap.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/input_file.h"

namespace xb::datapath {

namespace {

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr uint32_t kPcapngBlock = 0x0a0d0d0a;  // section header block type, the same in both orders
constexpr size_t kFileHeader = 24;
constexpr size_t kRecordHeader = 16;
constexpr uint32_t kMaxRecord = 256 * 1024;  // larger than any snaplen a capture tool writes

uint32_t bswap(uint32_t v) { return __builtin_bswap32(v); }

uint32_t read32(const uint8_t* p, bool swapped) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swapped ? bswap(v) : v;
}

void put32(std::vector<uint8_t>& out, uint32_t v, bool swapped) {
    if (swapped) v = bswap(v);
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + 4);
}

void put16(std::vector<uint8_t>& out, uint16_t v, bool swapped) {
    if (swapped) v = __builtin_bswap16(v);
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + 2);
}

}  // namespace

Result<PcapFile> parse_pcap(std::span<const uint8_t> b, const std::string& name, Diagnostics& diags) {
    auto fail = [&](const char* code, std::string message, std::string hint) -> Error {
        diags.error(code, message, std::move(hint), SourceLocation{name, 0, 0});
        return Error{EINVAL, name + ": " + message};
    };
    if (b.size() >= 4 && read32(b.data(), false) == kPcapngBlock)
        return fail("XB3111", "the capture is in pcapng format, which simulate does not read",
                    "convert it to classic pcap: editcap -F pcap IN.pcapng OUT.pcap");
    if (b.size() < kFileHeader)
        return fail("XB3112", "the file is too short for a pcap header (" + std::to_string(b.size()) + " bytes)",
                    "give a classic pcap capture (tcpdump -w)");
    PcapFile f;
    uint32_t magic = read32(b.data(), false);
    if (magic == kMagicMicro || magic == kMagicNano) {
        f.byte_swapped = false;
    } else if (bswap(magic) == kMagicMicro || bswap(magic) == kMagicNano) {
        f.byte_swapped = true;
        magic = bswap(magic);
    } else {
        return fail("XB3112", "the file does not start with a pcap magic number (byte offset 0)", "give a classic pcap capture (tcpdump -w)");
    }
    f.nanosecond = magic == kMagicNano;
    f.snaplen = read32(b.data() + 16, f.byte_swapped);
    f.linktype = read32(b.data() + 20, f.byte_swapped) & 0x0fffffff;  // upper bits: FCS information
    if (f.linktype != kLinktypeEthernet)
        return fail("XB3113", "the capture's link type (byte offset 20) is " + std::to_string(f.linktype) + ", not Ethernet (1)",
                    "capture on an Ethernet interface (the bypass programs parse Ethernet frames)");

    size_t pos = kFileHeader;
    while (pos < b.size()) {
        size_t index = f.packets.size();
        if (index >= kMaxPcapPackets)
            return fail("XB3115",
                        "the capture holds more than " + std::to_string(kMaxPcapPackets) +
                            " packets (byte offset " + std::to_string(pos) + "), more than simulate runs at once",
                        "cut the capture into smaller files (editcap -c PACKETS IN OUT) and simulate each");
        const std::string at = " (record at byte offset " + std::to_string(pos) + ")";
        if (b.size() - pos < kRecordHeader)
            return fail("XB3114", "packet " + std::to_string(index) + " has a truncated record header" + at,
                        "the capture was cut short; rewrite it or drop the last packet (editcap)");
        PcapPacket p;
        p.ts_sec = read32(b.data() + pos, f.byte_swapped);
        p.ts_frac = read32(b.data() + pos + 4, f.byte_swapped);
        uint32_t caplen = read32(b.data() + pos + 8, f.byte_swapped);
        p.orig_len = read32(b.data() + pos + 12, f.byte_swapped);
        pos += kRecordHeader;
        if (caplen > kMaxRecord)
            return fail("XB3114",
                        "packet " + std::to_string(index) + " claims " + std::to_string(caplen) +
                            " captured bytes, more than any capture holds" + at,
                        "the file is corrupt; recapture or repair it");
        if (b.size() - pos < caplen)
            return fail("XB3114", "packet " + std::to_string(index) + " is truncated" + at + ": it claims " +
                            std::to_string(caplen) + " bytes, the file has " + std::to_string(b.size() - pos) + " left",
                        "the capture was cut short; rewrite it or drop the last packet (editcap)");
        p.data.assign(b.begin() + static_cast<long>(pos), b.begin() + static_cast<long>(pos + caplen));
        pos += caplen;
        f.packets.push_back(std::move(p));
    }
    return f;
}

Result<PcapFile> read_pcap_file(const std::string& path, Diagnostics& diags) {
    InputFile in = read_input_file(path, kMaxPcapBytes);
    if (in.problem == InputFileProblem::TooLarge) {
        diags.error("XB3115", input_file_refusal(in, path, "capture"),
                    "cut the capture into smaller files (editcap -c PACKETS IN OUT) and simulate each",
                    SourceLocation{path, 0, 0});
        return Error{EFBIG, input_file_refusal(in, path, "capture")};
    }
    if (!in.ok()) {
        diags.error("XB3110", input_file_refusal(in, path, "capture"),
                    in.problem == InputFileProblem::NotRegular ? "give a regular pcap file (tcpdump -w FILE)"
                                                               : "check the path and its permissions",
                    SourceLocation{path, 0, 0});
        return Error{in.error ? in.error : EINVAL, input_file_refusal(in, path, "capture")};
    }
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(in.bytes.data()), in.bytes.size());
    return parse_pcap(bytes, path, diags);
}

std::vector<uint8_t> write_pcap(const std::vector<PcapPacket>& packets, uint32_t linktype, bool swapped) {
    std::vector<uint8_t> out;
    put32(out, kMagicMicro, swapped);
    put16(out, 2, swapped);
    put16(out, 4, swapped);
    put32(out, 0, swapped);  // thiszone
    put32(out, 0, swapped);  // sigfigs
    put32(out, 65535, swapped);
    put32(out, linktype, swapped);
    for (const auto& p : packets) {
        put32(out, p.ts_sec, swapped);
        put32(out, p.ts_frac, swapped);
        put32(out, static_cast<uint32_t>(p.data.size()), swapped);
        put32(out, p.orig_len ? p.orig_len : static_cast<uint32_t>(p.data.size()), swapped);
        out.insert(out.end(), p.data.begin(), p.data.end());
    }
    return out;
}

}  // namespace xb::datapath
