#include "engine/eve.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "common/json.h"

namespace xb::engine {

std::string eve_timestamp(uint64_t ts_ns) {
    time_t sec = static_cast<time_t>(ts_ns / 1000000000ull);
    unsigned usec = static_cast<unsigned>((ts_ns % 1000000000ull) / 1000);
    struct tm tm {};
    gmtime_r(&sec, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06u+0000", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
    return buf;
}

std::string eve_proto_name(uint8_t proto) {
    switch (proto) {
        case 1: return "ICMP";
        case 2: return "IGMP";
        case 6: return "TCP";
        case 17: return "UDP";
        case 47: return "GRE";
        case 50: return "ESP";
        case 51: return "AH";
        case 58: return "IPv6-ICMP";
        case 132: return "SCTP";
        default: return std::to_string(proto);
    }
}

std::string eve_address(uint8_t family, const std::array<uint8_t, 16>& addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof buf) == nullptr) return {};
    return buf;
}

namespace {

// Suricata's order: timestamp, flow_id, in_iface, event_type, vlan, src_ip, src_port, dest_ip,
// dest_port, proto (icmp_type and icmp_code after proto for ICMP), app_proto is written by callers.
void write_common(JsonWriter& w, const EveCommon& c, std::string_view event_type) {
    w.field("timestamp", eve_timestamp(c.ts_ns));
    if (c.flow_id != 0) w.field("flow_id", c.flow_id);
    if (!c.in_iface.empty()) w.field("in_iface", c.in_iface);
    w.field("event_type", event_type);
    if (c.vlan_count > 0) {
        w.key("vlan").begin_array();
        for (uint8_t i = 0; i < c.vlan_count && i < 2; ++i) w.value(static_cast<unsigned>(c.vlan[i]));
        w.end_array();
    }
    bool icmp = c.proto == 1 || c.proto == 58;
    bool ports = c.proto == 6 || c.proto == 17 || c.proto == 132;
    w.field("src_ip", eve_address(c.family, c.src));
    if (ports) w.field("src_port", static_cast<unsigned>(c.sport));
    w.field("dest_ip", eve_address(c.family, c.dst));
    if (ports) w.field("dest_port", static_cast<unsigned>(c.dport));
    w.field("proto", eve_proto_name(c.proto));
    if (icmp) {
        w.field("icmp_type", static_cast<unsigned>(c.icmp_type));
        w.field("icmp_code", static_cast<unsigned>(c.icmp_code));
    }
}

}  // namespace

std::string eve_alert_json(const AlertRecord& r) {
    JsonWriter w;
    w.begin_object();
    write_common(w, r.common, "alert");
    w.key("alert").begin_object();
    w.field("action", r.blocked ? "blocked" : "allowed");
    w.field("gid", r.gid);
    w.field("signature_id", r.signature_id);
    w.field("rev", r.rev);
    w.field("signature", r.signature);
    w.field("category", r.category);
    w.field("severity", r.severity);
    w.end_object();
    if (!r.common.app_proto.empty()) w.field("app_proto", r.common.app_proto);
    w.end_object();
    return w.str();
}

std::string eve_flow_json(const FlowRecord& r) {
    JsonWriter w;
    w.begin_object();
    write_common(w, r.common, "flow");
    if (!r.common.app_proto.empty()) w.field("app_proto", r.common.app_proto);
    w.key("flow").begin_object();
    w.field("pkts_toserver", r.pkts_toserver);
    w.field("pkts_toclient", r.pkts_toclient);
    w.field("bytes_toserver", r.bytes_toserver);
    w.field("bytes_toclient", r.bytes_toclient);
    if (r.bypassed) {
        w.key("bypassed").begin_object();
        w.field("pkts_toserver", r.bypassed->pkts_toserver);
        w.field("pkts_toclient", r.bypassed->pkts_toclient);
        w.field("bytes_toserver", r.bypassed->bytes_toserver);
        w.field("bytes_toclient", r.bypassed->bytes_toclient);
        w.end_object();
    }
    w.field("start", eve_timestamp(r.start_ns));
    w.field("end", eve_timestamp(r.end_ns));
    uint64_t start_s = r.start_ns / 1000000000ull, end_s = r.end_ns / 1000000000ull;
    w.field("age", end_s > start_s ? end_s - start_s : uint64_t{0});
    if (!r.bypass.empty()) w.field("bypass", r.bypass);
    w.field("state", r.state);
    w.field("reason", r.reason);
    w.field("alerted", r.alerted);
    w.end_object();
    w.end_object();
    return w.str();
}

std::string eve_stats_json(uint64_t ts_ns, std::string_view stats_object) {
    JsonWriter w;
    w.begin_object();
    w.field("timestamp", eve_timestamp(ts_ns));
    w.field("event_type", "stats");
    w.key("stats").raw(stats_object.empty() ? std::string_view("{}") : stats_object);
    w.end_object();
    return w.str();
}

struct EveWriter::State {
    std::mutex mu;
    int fd = -1;
    uint64_t write_errors = 0;
    ~State() {
        if (fd >= 0) ::close(fd);
    }
};

Result<EveWriter> EveWriter::open(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return Error::from_errno(errno, "cannot open the EVE log " + path);
    auto s = std::make_shared<State>();
    s->fd = fd;
    return EveWriter(std::move(s));
}

// One write(2) per record on an O_APPEND descriptor: lines of several writers never interleave,
// and nothing is left in a user-space buffer (the "flush").
void EveWriter::write_line(const std::string& line) {
    std::string out = line;
    out.push_back('\n');
    std::lock_guard<std::mutex> lock(s_->mu);
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::write(s_->fd, out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ++s_->write_errors;
            return;
        }
        done += static_cast<size_t>(n);
    }
}

void EveWriter::alert(const AlertRecord& r) { write_line(eve_alert_json(r)); }
void EveWriter::flow(const FlowRecord& r) { write_line(eve_flow_json(r)); }

void EveWriter::stats(const std::string& stats_object) {
    struct timespec ts {};
    clock_gettime(CLOCK_REALTIME, &ts);
    write_line(eve_stats_json(static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec),
                              stats_object));
}

uint64_t EveWriter::write_errors() const {
    std::lock_guard<std::mutex> lock(s_->mu);
    return s_->write_errors;
}

}  // namespace xb::engine
