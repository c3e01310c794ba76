// TCP reassembly for one direction of a flow: delivers each byte of the stream once and in order.
//  - The initial sequence number comes from the SYN (seq + 1) or, for a stream picked up midway,
//    from the first segment seen (an empty ACK included: its seq is the next byte's).
//  - Sequence numbers are compared with serial arithmetic (RFC 1982), so the stream survives
//    wraparound; internally every byte has a 64-bit offset from the start.
//  - Bytes already delivered or already held are not delivered twice: the first copy wins.
//  - Segments ahead of the next expected byte are held until the hole fills, within max_ooo_bytes
//    and max_ooo_segments. When a bound is exceeded a gap is declared: counted, the missing bytes
//    skipped up to the lowest held segment, and delivery resumes from there.
//  - Nothing at or beyond `depth` bytes from the start is delivered (bytes lost in gaps count).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "common/function_ref.h"

namespace xb::engine {

class TcpStream {
public:
    struct Options {
        size_t max_ooo_bytes = 1 << 20;
        size_t max_ooo_segments = 256;
        uint64_t depth = 1 << 20;  // stream.depth; 0 = unlimited
    };
    // Called during add() only.
    using Deliver = FunctionRef<void(std::span<const uint8_t>)>;

    TcpStream() = default;
    explicit TcpStream(const Options& options) : options_(options) {}

    // Adds a segment; calls deliver with the newly in-order bytes, possibly several times (held
    // segments that became in order).
    void add(uint32_t seq, std::span<const uint8_t> payload, bool syn, bool fin, Deliver deliver);

    uint64_t delivered() const { return delivered_; }           // bytes passed to deliver
    uint64_t gaps() const { return gaps_; }                     // gaps declared
    uint64_t gap_bytes() const { return gap_bytes_; }           // bytes skipped by them
    bool depth_reached() const { return depth_reached_; }
    uint64_t retransmitted_bytes() const { return retransmitted_; }  // bytes dropped as already seen
    bool fin_seen() const { return fin_seen_; }
    size_t held_bytes() const { return held_bytes_; }
    size_t held_segments() const { return held_.size(); }

private:
    void deliver_at_next(std::span<const uint8_t> bytes, Deliver deliver);
    void drain(Deliver deliver);
    void hold(uint64_t offset, std::span<const uint8_t> bytes);
    bool over_bounds() const;

    Options options_;
    bool started_ = false;
    bool depth_reached_ = false;
    bool fin_seen_ = false;
    uint32_t next_seq_ = 0;   // sequence number of the next byte expected
    uint64_t next_off_ = 0;   // its offset from the start of the stream
    uint64_t delivered_ = 0, gaps_ = 0, gap_bytes_ = 0, retransmitted_ = 0;
    std::map<uint64_t, std::vector<uint8_t>> held_;  // offset -> bytes, never overlapping
    size_t held_bytes_ = 0;
};

}  // namespace xb::engine
