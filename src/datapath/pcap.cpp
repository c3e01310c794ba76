#include "datapath/pcap.h"

#include <cerrno>
#include <cstring>
#include <algorithm>

#include "common/input_file.h"

namespace xb::datapath {

namespace {

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr uint32_t kPcapngBlock = 0x0a0d0d0a;  // section header block type, the same in both orders
constexpr size_t kFileHeader = 24;
constexpr size_t kRecordHeader = 16;
constexpr size_t kReadAhead = 1u << 20;  // bytes read from a file at once

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

Error PcapReader::fail(Diagnostics& diags, const char* code, std::string message, std::string hint) {
    failed_ = true;
    diags.error(code, message, std::move(hint), SourceLocation{name_, 0, 0});
    return Error{EINVAL, name_ + ": " + message};
}

Result<size_t> PcapReader::fill(uint8_t* dst, size_t n) {
    if (n == 0) return size_t{0};
    if (!fd_) {
        size_t take = std::min(n, bytes_.size() - mem_pos_);
        std::memcpy(dst, bytes_.data() + mem_pos_, take);
        mem_pos_ += take;
        return take;
    }
    size_t done = 0;
    while (done < n) {
        if (buf_pos_ == buf_.size()) {
            buf_.resize(kReadAhead);
            auto got = read_input_some(fd_.get(), buf_.data(), buf_.size());
            if (!got) {
                buf_.clear();
                buf_pos_ = 0;
                return got.error();
            }
            buf_.resize(*got);
            buf_pos_ = 0;
            if (*got == 0) break;
        }
        size_t take = std::min(n - done, buf_.size() - buf_pos_);
        std::memcpy(dst + done, buf_.data() + buf_pos_, take);
        buf_pos_ += take;
        done += take;
    }
    return done;
}

Result<bool> PcapReader::read_header(Diagnostics& diags) {
    uint8_t h[kFileHeader];
    auto got = fill(h, sizeof h);
    if (!got)
        return fail(diags, "XB3110", "cannot read the capture '" + name_ + "': " + got.error().message,
                    "check the file and its permissions");
    if (*got >= 4 && read32(h, false) == kPcapngBlock)
        return fail(diags, "XB3111", "the capture is in pcapng format, which simulate does not read",
                    "convert it to classic pcap: editcap -F pcap IN.pcapng OUT.pcap");
    if (*got < kFileHeader)
        return fail(diags, "XB3112", "the file is too short for a pcap header (" + std::to_string(*got) + " bytes)",
                    "give a classic pcap capture (tcpdump -w)");
    uint32_t magic = read32(h, false);
    if (magic == kMagicMicro || magic == kMagicNano) {
        byte_swapped_ = false;
    } else if (bswap(magic) == kMagicMicro || bswap(magic) == kMagicNano) {
        byte_swapped_ = true;
        magic = bswap(magic);
    } else {
        return fail(diags, "XB3112", "the file does not start with a pcap magic number (byte offset 0)",
                    "give a classic pcap capture (tcpdump -w)");
    }
    nanosecond_ = magic == kMagicNano;
    snaplen_ = read32(h + 16, byte_swapped_);
    linktype_ = read32(h + 20, byte_swapped_) & 0x0fffffff;  // upper bits: FCS information
    if (linktype_ != kLinktypeEthernet)
        return fail(diags, "XB3113",
                    "the capture's link type (byte offset 20) is " + std::to_string(linktype_) + ", not Ethernet (1)",
                    "capture on an Ethernet interface (the bypass programs parse Ethernet frames)");
    offset_ = kFileHeader;
    return true;
}

Result<PcapReader> PcapReader::open(const std::string& path, Diagnostics& diags) {
    PcapReader r;
    r.name_ = path;
    uint64_t size = 0;
    InputFile in = open_input_file(path, &r.fd_, &size);
    if (!in.ok()) {
        diags.error("XB3110", input_file_refusal(in, path, "capture"),
                    in.problem == InputFileProblem::NotRegular ? "give a regular pcap file (tcpdump -w FILE)"
                                                               : "check the path and its permissions",
                    SourceLocation{path, 0, 0});
        return Error{in.error ? in.error : EINVAL, input_file_refusal(in, path, "capture")};
    }
    if (auto h = r.read_header(diags); !h) return h.error();
    return r;
}

Result<PcapReader> PcapReader::from_bytes(std::span<const uint8_t> bytes, const std::string& name, Diagnostics& diags) {
    PcapReader r;
    r.name_ = name;
    r.bytes_ = bytes;
    if (auto h = r.read_header(diags); !h) return h.error();
    return r;
}

Result<bool> PcapReader::next(PcapPacket& p, Diagnostics& diags) {
    if (failed_) return Error{EINVAL, name_ + ": the capture could not be read further"};
    const std::string at = " (record at byte offset " + std::to_string(offset_) + ")";
    auto read_error = [&](const Error& e) {
        return fail(diags, "XB3110",
                    "cannot read packet " + std::to_string(index_) + " of the capture '" + name_ + "'" + at + ": " +
                        e.message,
                    e.code == EINTR ? "nothing to do: simulate stopped as asked" : "check the file and the disk");
    };
    uint8_t h[kRecordHeader];
    auto got = fill(h, sizeof h);
    if (!got) return read_error(got.error());
    if (*got == 0) return false;
    if (*got < kRecordHeader)
        return fail(diags, "XB3114", "packet " + std::to_string(index_) + " has a truncated record header" + at,
                    "the capture was cut short; rewrite it or drop the last packet (editcap)");
    p.ts_sec = read32(h, byte_swapped_);
    p.ts_frac = read32(h + 4, byte_swapped_);
    uint32_t caplen = read32(h + 8, byte_swapped_);
    p.orig_len = read32(h + 12, byte_swapped_);
    if (caplen > kMaxPcapRecord)
        return fail(diags, "XB3114",
                    "packet " + std::to_string(index_) + " claims " + std::to_string(caplen) +
                        " captured bytes, more than any capture holds" + at,
                    "the file is corrupt; recapture or repair it");
    p.data.resize(caplen);
    auto body = fill(p.data.data(), caplen);
    if (!body) return read_error(body.error());
    if (*body < caplen)
        return fail(diags, "XB3114",
                    "packet " + std::to_string(index_) + " is truncated" + at + ": it claims " + std::to_string(caplen) +
                        " bytes, the file has " + std::to_string(*body) + " left",
                    "the capture was cut short; rewrite it or drop the last packet (editcap)");
    offset_ += kRecordHeader + caplen;
    ++index_;
    return true;
}

Result<PcapFile> parse_pcap(std::span<const uint8_t> b, const std::string& name, Diagnostics& diags) {
    auto reader = PcapReader::from_bytes(b, name, diags);
    if (!reader) return reader.error();
    PcapFile f;
    f.linktype = reader->linktype();
    f.snaplen = reader->snaplen();
    f.nanosecond = reader->nanosecond();
    f.byte_swapped = reader->byte_swapped();
    for (;;) {
        PcapPacket p;
        auto more = reader->next(p, diags);
        if (!more) return more.error();
        if (!*more) break;
        f.packets.push_back(std::move(p));
    }
    return f;
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
