#include "engine/tcp_stream.h"

#include <algorithm>

namespace xb::engine {

bool TcpStream::over_bounds() const {
    return held_bytes_ > options_.max_ooo_bytes || held_.size() > options_.max_ooo_segments;
}

// bytes start exactly at next_off_.
void TcpStream::deliver_at_next(std::span<const uint8_t> bytes, Deliver deliver) {
    if (depth_reached_) return;
    size_t n = bytes.size();
    if (options_.depth != 0) {
        uint64_t room = options_.depth > next_off_ ? options_.depth - next_off_ : 0;
        if (n >= room) {
            n = static_cast<size_t>(room);
            depth_reached_ = true;
        }
    }
    if (n > 0) {
        next_off_ += n;
        next_seq_ += static_cast<uint32_t>(n);
        delivered_ += n;
        deliver(bytes.first(n));
    }
    if (depth_reached_) {
        held_.clear();
        held_bytes_ = 0;
    }
}

// Delivers the held segments that are now in order.
void TcpStream::drain(Deliver deliver) {
    while (!held_.empty() && !depth_reached_) {
        auto it = held_.begin();
        if (it->first > next_off_) return;
        std::vector<uint8_t> bytes = std::move(it->second);
        uint64_t off = it->first;
        held_bytes_ -= bytes.size();
        held_.erase(it);
        uint64_t end = off + bytes.size();
        if (end <= next_off_) continue;  // cannot happen (held bytes never overlap delivered ones), kept safe
        deliver_at_next(std::span<const uint8_t>(bytes).subspan(static_cast<size_t>(next_off_ - off)), deliver);
    }
}

// Holds the parts of [offset, offset + size) that no held segment covers yet (the first copy wins).
void TcpStream::hold(uint64_t offset, std::span<const uint8_t> bytes) {
    uint64_t pos = offset;
    const uint64_t end = offset + bytes.size();
    auto it = held_.upper_bound(pos);
    if (it != held_.begin()) {
        auto prev = std::prev(it);
        uint64_t prev_end = prev->first + prev->second.size();
        if (prev_end > pos) {
            retransmitted_ += std::min(prev_end, end) - pos;
            pos = std::min(prev_end, end);
        }
    }
    while (pos < end) {
        uint64_t piece_end = end;
        if (it != held_.end() && it->first < end) piece_end = it->first;
        if (piece_end > pos) {
            auto first = bytes.begin() + static_cast<std::ptrdiff_t>(pos - offset);
            auto last = bytes.begin() + static_cast<std::ptrdiff_t>(piece_end - offset);
            held_.emplace_hint(it, pos, std::vector<uint8_t>(first, last));
            held_bytes_ += static_cast<size_t>(piece_end - pos);
            pos = piece_end;
        }
        if (it != held_.end() && it->first < end) {
            uint64_t covered_end = std::min<uint64_t>(it->first + it->second.size(), end);
            retransmitted_ += covered_end - pos;
            pos = covered_end;
            ++it;
        }
    }
}

void TcpStream::add(uint32_t seq, std::span<const uint8_t> payload, bool syn, bool fin, Deliver deliver) {
    if (syn) {
        seq += 1;  // the SYN takes one sequence number; data (TCP Fast Open) follows it
        if (!started_) {
            started_ = true;
            next_seq_ = seq;
        }
    } else if (!started_) {
        started_ = true;
        next_seq_ = seq;
    }
    if (fin) fin_seen_ = true;
    if (depth_reached_ || payload.empty()) return;

    // Offset of the segment relative to the next expected byte, in serial arithmetic.
    int64_t rel = static_cast<int32_t>(seq - next_seq_);
    if (rel < 0) {
        uint64_t behind = static_cast<uint64_t>(-rel);
        if (behind >= payload.size()) {
            retransmitted_ += payload.size();
            return;
        }
        retransmitted_ += behind;
        payload = payload.subspan(static_cast<size_t>(behind));
        rel = 0;
    }
    if (rel == 0 && held_.empty()) {  // the common case: in order, nothing held
        deliver_at_next(payload, deliver);
        return;
    }
    uint64_t offset = next_off_ + static_cast<uint64_t>(rel);
    if (options_.depth != 0 && offset >= options_.depth) return;  // never delivered anyway
    hold(offset, payload);  // at next_off_ too: held copies that came first win
    drain(deliver);
    while (over_bounds() && !held_.empty() && !depth_reached_) {
        uint64_t lowest = held_.begin()->first;
        ++gaps_;
        gap_bytes_ += lowest - next_off_;
        next_seq_ += static_cast<uint32_t>(lowest - next_off_);
        next_off_ = lowest;
        if (options_.depth != 0 && next_off_ >= options_.depth) {
            depth_reached_ = true;
            held_.clear();
            held_bytes_ = 0;
            break;
        }
        drain(deliver);
    }
}

}  // namespace xb::engine
