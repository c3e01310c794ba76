// EVE JSON output with Suricata's field names: one JSON object per line, appended to a file,
// flushed after each record. Thread-safe (one mutex per writer).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace xb::engine {

// The fields every record about a flow or packet carries.
struct EveCommon {
    uint64_t ts_ns = 0;    // the record's time, CLOCK_REALTIME nanoseconds
    uint64_t flow_id = 0;  // 0: not printed
    std::string in_iface;  // empty: not printed
    uint8_t family = 4, proto = 0;
    std::array<uint8_t, 16> src{}, dst{};
    uint16_t sport = 0, dport = 0;
    uint8_t icmp_type = 0, icmp_code = 0;  // printed instead of the ports for ICMP and ICMPv6
    uint16_t vlan[2]{};
    uint8_t vlan_count = 0;  // "vlan" is printed when tagged
    std::string app_proto;   // e.g. "tls"; empty: not printed
};

struct AlertRecord {
    EveCommon common;
    bool blocked = false;  // action "blocked", else "allowed"
    uint32_t gid = 1, signature_id = 0, rev = 0;
    std::string signature, category;
    uint32_t severity = 3;
};

struct FlowRecord {
    EveCommon common;  // common.ts_ns: when the flow ended
    uint64_t pkts_toserver = 0, pkts_toclient = 0, bytes_toserver = 0, bytes_toclient = 0;
    uint64_t start_ns = 0, end_ns = 0;
    std::string state;   // "new", "established", "closed", "bypassed"
    std::string reason;  // "timeout", "forced", "shutdown"
    bool alerted = false;
    std::string bypass;  // "local" or "capture" when bypassed; empty otherwise
    // The kernel's counts of the bypassed packets ("bypassed" object), when bypass == "capture".
    struct Counts {
        uint64_t pkts_toserver = 0, pkts_toclient = 0, bytes_toserver = 0, bytes_toclient = 0;
    };
    std::optional<Counts> bypassed;
};

// Suricata's timestamp: "2026-12-01T23:10:17.123456+0000" (UTC).
std::string eve_timestamp(uint64_t ts_ns);
// The protocol as Suricata prints it: "TCP", "UDP", "ICMP", "IPv6-ICMP", ..., else the number.
std::string eve_proto_name(uint8_t proto);
// An address as text (inet_ntop); family 4 uses the first 4 bytes.
std::string eve_address(uint8_t family, const std::array<uint8_t, 16>& addr);

// The records as single-line JSON (no newline); what EveWriter writes.
std::string eve_alert_json(const AlertRecord& r);
std::string eve_flow_json(const FlowRecord& r);
std::string eve_stats_json(uint64_t ts_ns, std::string_view stats_object);

class EveWriter {
public:
    // Opens path for appending (created 0640 when missing).
    static Result<EveWriter> open(const std::string& path);

    void alert(const AlertRecord& r);
    void flow(const FlowRecord& r);
    // stats_object: the JSON object of the "stats" key; the record's time is now.
    void stats(const std::string& stats_object);
    // Write errors since open (a full disk must not stop the engine: counted, not thrown).
    uint64_t write_errors() const;

private:
    struct State;
    explicit EveWriter(std::shared_ptr<State> s) : s_(std::move(s)) {}
    void write_line(const std::string& line);
    std::shared_ptr<State> s_;
};

}  // namespace xb::engine
