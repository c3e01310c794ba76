// TLS detection at the record layer, fed with the in-order bytes of each direction of a TCP flow.
// A record header is a content type (20 change_cipher_spec, 21 alert, 22 handshake, 23
// application_data), a version 0x0301-0x0304 and a length of at most 2^14 + 2048; records are
// followed across segment boundaries (a header may be split too). The first byte that does not fit
// makes the flow "not TLS" for good. encrypted() once application data has been seen in both
// directions, each after a handshake record of that direction: the point where an IDS that cannot
// decrypt sees nothing more (the engine may bypass the flow then).
#pragma once

#include <cstdint>
#include <span>

namespace xb::engine {

// One direction's record layer.
class TlsRecordTracker {
public:
    // Returns false when the bytes are not TLS records (then and forever after).
    bool feed(std::span<const uint8_t> bytes);
    bool failed() const { return failed_; }
    bool handshake_seen() const { return handshake_; }
    bool app_data_after_handshake() const { return app_data_; }
    uint64_t records() const { return records_; }

private:
    bool header_complete();
    uint8_t header_[5]{};
    uint8_t header_len_ = 0;    // bytes of the current header gathered so far
    uint32_t body_left_ = 0;    // bytes of the current record still to skip
    bool failed_ = false, handshake_ = false, app_data_ = false;
    uint64_t records_ = 0;
};

class TlsState {
public:
    enum class Verdict { Unknown, Tls, NotTls };
    void feed(bool to_server, std::span<const uint8_t> bytes);
    // Tls once both directions opened with a handshake record; NotTls once either direction has
    // sent something else.
    Verdict verdict() const;
    bool encrypted() const;
    const TlsRecordTracker& toserver() const { return toserver_; }
    const TlsRecordTracker& toclient() const { return toclient_; }

private:
    TlsRecordTracker toserver_, toclient_;
};

}  // namespace xb::engine
