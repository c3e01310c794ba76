#include "engine/tls.h"

#include <algorithm>

namespace xb::engine {

namespace {
constexpr uint8_t kChangeCipherSpec = 20, kAlert = 21, kHandshake = 22, kApplicationData = 23;
constexpr uint32_t kMaxRecordLength = (1u << 14) + 2048;
}  // namespace

bool TlsRecordTracker::header_complete() {
    uint8_t type = header_[0];
    uint16_t version = static_cast<uint16_t>(header_[1] << 8 | header_[2]);
    uint32_t length = static_cast<uint32_t>(header_[3] << 8 | header_[4]);
    if (type < kChangeCipherSpec || type > kApplicationData) return false;
    if (version < 0x0301 || version > 0x0304) return false;
    if (length > kMaxRecordLength) return false;
    // The first record of a direction opens the handshake (or is an alert refusing it).
    if (records_ == 0 && type != kHandshake && type != kAlert) return false;
    if (type == kHandshake) handshake_ = true;
    if (type == kApplicationData && handshake_) app_data_ = true;
    ++records_;
    body_left_ = length;
    header_len_ = 0;
    return true;
}

bool TlsRecordTracker::feed(std::span<const uint8_t> bytes) {
    while (!failed_ && !bytes.empty()) {
        if (body_left_ > 0) {
            size_t n = std::min<size_t>(body_left_, bytes.size());
            body_left_ -= static_cast<uint32_t>(n);
            bytes = bytes.subspan(n);
            continue;
        }
        header_[header_len_++] = bytes[0];
        bytes = bytes.subspan(1);
        // Refuse as early as possible: the type alone already tells most non-TLS data apart.
        if (header_len_ == 1 && (header_[0] < kChangeCipherSpec || header_[0] > kApplicationData)) failed_ = true;
        else if (header_len_ == 2 && header_[1] != 3) failed_ = true;
        else if (header_len_ == 5 && !header_complete()) failed_ = true;
    }
    return !failed_;
}

void TlsState::feed(bool to_server, std::span<const uint8_t> bytes) {
    if (verdict() == Verdict::NotTls || encrypted()) return;  // decided for good
    (to_server ? toserver_ : toclient_).feed(bytes);
}

TlsState::Verdict TlsState::verdict() const {
    if (toserver_.failed() || toclient_.failed()) return Verdict::NotTls;
    if (toserver_.handshake_seen() && toclient_.handshake_seen()) return Verdict::Tls;
    return Verdict::Unknown;
}

bool TlsState::encrypted() const {
    return !toserver_.failed() && !toclient_.failed() && toserver_.app_data_after_handshake() &&
           toclient_.app_data_after_handshake();
}

}  // namespace xb::engine
