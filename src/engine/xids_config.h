// xids's own configuration, in Suricata's keys and conventions: `plugins`, `default-rule-path` and
// `rule-files`, `vars` (address and port groups), `default-log-dir`, `outputs: - eve-log`, `stream`
// (depth, bypass), `app-layer.protocols.tls.encryption-handling`, `flow-timeouts`, `stats`, and the
// engine's `xids` section. The same file carries the plugin's section (`xbypass:` or Suricata's
// `af-packet:`), which the plugin reads itself; every other top-level key of a whole suricata.yaml is
// reported as not used. Problems are the config layer's diagnostics (XB11xx) or XB72xx.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/diagnostic.h"

namespace xb::engine {

enum class TlsHandling { TrackOnly, Bypass };

struct ProtoTimeouts {
    uint32_t new_s = 30, established_s = 300, closed_s = 10, bypassed_s = 100;
};

struct XidsConfig {
    std::string file;
    std::string plugin_path;                // the plugin library to dlopen (first of `plugins`)
    std::vector<std::string> rule_files;    // resolved against default-rule-path
    std::map<std::string, std::string> address_groups, port_groups;
    std::string log_dir = ".";              // default-log-dir: relative EVE file names resolve here
    bool eve_enabled = false;
    std::string eve_file;                   // resolved path
    bool eve_alert = true, eve_flow = true, eve_stats = true;
    uint64_t stream_depth = 1u << 20;       // bytes per direction inspected; 0: unlimited
    bool stream_bypass = false;             // bypass a flow once both directions reached the depth
    TlsHandling tls = TlsHandling::TrackOnly;
    ProtoTimeouts tcp{30, 300, 10, 100}, udp{30, 300, 0, 100}, icmp{30, 300, 0, 100}, other{30, 300, 0, 100};
    uint32_t stats_interval = 8;            // seconds; 0: no stats records
    uint32_t udp_bypass_after = 0;          // xids.udp-bypass-after: packets of a UDP flow without a match
                                            // before it is bypassed; 0: never
    uint32_t max_flows = 65536;             // xids.max-flows per capture thread
};

struct XidsConfigLoad {
    XidsConfig config;
    Diagnostics diagnostics;
    bool io_error = false;
    bool ok() const { return !io_error && !diagnostics.has_errors(); }
};

XidsConfigLoad load_xids_config(const std::string& path);
XidsConfigLoad load_xids_config_string(const std::string& text, const std::string& name);

// Sizes as Suricata writes them: "1mb", "512kb", "64 KiB", "1048576"; false when malformed.
bool parse_size(std::string_view text, uint64_t* out);

}  // namespace xb::engine
