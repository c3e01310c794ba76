#include "config/schema.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "common/strings.h"
#include "config/program_file.h"
#include "config/reader.h"

namespace xb::config {

namespace {

const std::vector<std::pair<std::string_view, Datapath>> kDatapaths = {
    {"auto", Datapath::Auto}, {"xdp-native", Datapath::XdpNative}, {"xdp-generic", Datapath::XdpGeneric},
    {"tc", Datapath::Tc}};
const std::vector<std::pair<std::string_view, OnUnsupported>> kOnUnsupported = {
    {"reject", OnUnsupported::Reject}, {"fallback", OnUnsupported::Fallback}};
const std::vector<std::pair<std::string_view, OnRuntimeError>> kOnRuntimeError = {
    {"degrade", OnRuntimeError::Degrade}, {"stop", OnRuntimeError::Stop}, {"warn", OnRuntimeError::Warn}};
const std::vector<std::pair<std::string_view, Coexist>> kCoexist = {
    {"refuse", Coexist::Refuse}, {"multiprog", Coexist::Multiprog}, {"replace", Coexist::Replace}};
const std::vector<std::pair<std::string_view, LogLevel>> kLogLevels = {
    {"error", LogLevel::Error}, {"warning", LogLevel::Warning}, {"notice", LogLevel::Notice},
    {"info", LogLevel::Info},   {"config", LogLevel::Config},   {"debug", LogLevel::Debug}};
const std::vector<std::pair<std::string_view, Datapath>> kXdpModes = {
    {"driver", Datapath::XdpNative}, {"soft", Datapath::XdpGeneric}, {"hw", Datapath::Offload},
    {"none", Datapath::Auto}};
const std::vector<std::pair<std::string_view, CaptureMethod>> kCaptureMethods = {
    {"auto", CaptureMethod::Auto}, {"af-packet", CaptureMethod::AfPacket}, {"af-xdp", CaptureMethod::AfXdp}};
// Every cluster type Suricata knows (af-packet); xbypass's capture supports capture_cluster_types().
const std::vector<std::string_view> kClusterTypes = {"cluster_flow", "cluster_cpu",       "cluster_qm",
                                                     "cluster_ebpf", "cluster_round_robin", "cluster_rollover",
                                                     "cluster_random"};

const std::vector<std::string_view> kGlobalKeys = {"log-level", "log-file", "stats-interval", "pin-path",
                                                   "eve-log", "suricata-pid-file", "interfaces"};
const std::vector<std::string_view> kInterfaceKeys = {
    "interface",    "bypass",   "datapath",        "on-unsupported", "on-runtime-error", "cpu-redirect", "flow-table", "vlan-tracking",
    "ips-peer",     "custom-program", "coexist",   "pinned-maps",    "pinned-maps-name", "threads",
    "capture",      "ring-size", "block-size",     "block-timeout",  "cluster-id",     "cluster-type", "suricata-maps"};
const std::vector<std::string_view> kFlowTableKeys = {"size", "timeout", "percpu", "lru"};

// af-packet keys xbypass maps, and the other keys Suricata (6.x/7.x) knows in that section.
const std::vector<std::string_view> kAfPacketMapped = {
    "interface", "xdp-mode", "xdp-filter-file", "xdp-cpu-redirect", "bypass", "pinned-maps", "pinned-maps-name",
    "use-percpu-hash", "copy-mode", "copy-iface", "threads", "cluster-type", "cluster-id", "ring-size", "block-size",
    "block-timeout"};
const std::vector<std::string_view> kAfPacketSuricataOnly = {
    "defrag", "use-mmap", "mmap-locked", "tpacket-v3",
    "use-emergency-flush", "buffer-size", "disable-promisc", "checksum-checks", "bpf-filter", "rollover",
    "ebpf-lb-file", "ebpf-filter-file", "mtu", "disable-hwtimestamp", "v-tap"};

// Suricata 7's af-xdp keys: xbypass uses interface and threads (and captures those interfaces with
// AF_XDP); the others are reported as not used.
const std::vector<std::string_view> kAfXdpSuricataOnly = {
    "disable-promisc",  "force-xdp-mode",   "force-bind-mode",   "mem-unaligned",       "enable-busy-poll",
    "busy-poll-time",   "busy-poll-budget", "gro-flush-timeout", "napi-defer-hard-irq"};

constexpr uint64_t kMaxFlowTableSize = 1u << 24;
constexpr uint64_t kMaxTimeout = 86400;
constexpr uint64_t kMaxThreads = 1024;
constexpr uint64_t kMaxStatsInterval = 86400;

void set_origin(std::map<std::string, KeyOrigin>& origins, const std::string& key, const YamlNode& keynode,
                const std::string& path) {
    origins[key] = KeyOrigin{keynode.loc, path};
}

std::optional<uint32_t> read_threads(Reader& r, const YamlNode& v, const std::string& path) {
    if (v.is_scalar() && lower(v.value) == "auto") return kThreadsAuto;
    auto n = r.number(v, path, 1, kMaxThreads, "or auto");
    if (!n) return std::nullopt;
    return static_cast<uint32_t>(*n);
}

bool power_of_two(uint64_t v) { return v && !(v & (v - 1)); }

std::optional<uint32_t> read_ring_size(Reader& r, const YamlNode& v, const std::string& path) {
    auto n = r.number(v, path, 0, std::numeric_limits<uint64_t>::max(), "frames");
    if (!n) return std::nullopt;
    if (*n < kMinRingSize || *n > kMaxRingSize) {
        r.diags().error("XB1131",
                        "'" + path + "' is " + std::to_string(*n) + " frames, outside " + std::to_string(kMinRingSize) +
                            ".." + std::to_string(kMaxRingSize) +
                            ": a smaller ring overflows on the first burst (packets dropped before the engine "
                            "sees them), a larger one pins memory no receive queue drains (65536 frames of 4 KiB "
                            "are 256 MiB per thread)",
                        "use a power of two in " + std::to_string(kMinRingSize) + ".." + std::to_string(kMaxRingSize) +
                            " (default 2048)",
                        v.loc, path);
        return std::nullopt;
    }
    if (!power_of_two(*n)) {
        r.diags().error("XB1130",
                        "'" + path + "' is " + std::to_string(*n) +
                            ", not a power of two: AF_XDP rings must be powers of two (the kernel refuses other "
                            "ring sizes), and the same value sizes the AF_PACKET ring",
                        "use a power of two such as 1024, 2048 or 4096", v.loc, path);
        return std::nullopt;
    }
    return static_cast<uint32_t>(*n);
}

std::optional<uint32_t> read_block_size(Reader& r, const YamlNode& v, const std::string& path) {
    auto n = r.number(v, path, 0, std::numeric_limits<uint64_t>::max(), "bytes");
    if (!n) return std::nullopt;
    if (*n > kMaxBlockSize) {
        r.diags().error("XB1134",
                        "'" + path + "' is " + std::to_string(*n) +
                            " bytes, above 4 MiB (4194304): the kernel takes each TPACKET_V3 block from contiguous "
                            "pages, 4 MiB at most (order 10), and falls back to slower vmalloc memory or refuses the "
                            "ring beyond; a block also reaches the engine only when full, so huge blocks delay packets",
                        "use a power of two from 4096 to 4194304 (default 262144)", v.loc, path);
        return std::nullopt;
    }
    if (*n == 0 || *n % kBlockSizeUnit) {
        r.diags().error("XB1132",
                        "'" + path + "' is " + std::to_string(*n) +
                            " bytes, not a multiple of the 4096-byte page: the kernel refuses TPACKET_V3 blocks "
                            "that are not whole pages",
                        "use a power of two from 4096 to 4194304 (default 262144)", v.loc, path);
        return std::nullopt;
    }
    if (!power_of_two(*n)) {
        r.diags().error("XB1133",
                        "'" + path + "' is " + std::to_string(*n) +
                            " bytes, not a power of two: the kernel allocates each block as a power-of-two number "
                            "of pages, so the rest of every block would be wasted memory",
                        "use a power of two from 4096 to 4194304 (default 262144)", v.loc, path);
        return std::nullopt;
    }
    return static_cast<uint32_t>(*n);
}

// block-timeout: milliseconds, as Suricata's af-packet key (its default 10).
std::optional<uint32_t> read_block_timeout(Reader& r, const YamlNode& v, const std::string& path) {
    auto n = r.number(v, path, 0, std::numeric_limits<uint64_t>::max());
    if (!n) return std::nullopt;
    if (*n < 1 || *n > 1000) {
        r.diags().error("XB1138",
                        "'" + path + "' is " + std::to_string(*n) +
                            " ms, outside 1..1000: it is how long a partly filled AF_PACKET block, or an AF_XDP "
                            "receiver waiting for a batch, holds packets back from the engine; 0 would leave the "
                            "timeout to the kernel's guess and above a second an alert or a bypass waits that long",
                        "use milliseconds in 1..1000 (default 10, Suricata's)", v.loc, path);
        return std::nullopt;
    }
    return static_cast<uint32_t>(*n);
}

std::optional<uint16_t> read_cluster_id(Reader& r, const YamlNode& v, const std::string& path) {
    auto n = r.number(v, path, 0, std::numeric_limits<uint64_t>::max());
    if (!n) return std::nullopt;
    if (*n > 65535) {
        r.diags().error("XB1135",
                        "'" + path + "' is " + std::to_string(*n) +
                            ", outside 0..65535: the AF_PACKET fanout group id is 16 bits (PACKET_FANOUT takes "
                            "id | type << 16), a larger value would name another group",
                        "use a number in 0..65535, one per interface (default 99)", v.loc, path);
        return std::nullopt;
    }
    return static_cast<uint16_t>(*n);
}

// `af_packet`: a value Suricata does not know is XB1202 there (Suricata only warns), XB1110 in the
// xbypass section; a Suricata type xbypass's capture cannot do is XB1136 in both.
std::optional<std::string> read_cluster_type(Reader& r, const YamlNode& v, const std::string& path, bool af_packet) {
    auto s = r.scalar(v, path);
    if (!s) return std::nullopt;
    std::string m = lower(*s);
    const auto& supported = capture_cluster_types();
    if (std::find(supported.begin(), supported.end(), m) != supported.end()) return m;
    if (std::find(kClusterTypes.begin(), kClusterTypes.end(), m) != kClusterTypes.end()) {
        r.diags().error("XB1136",
                        "'" + path + "' is " + m + ", which xbypass's AF_PACKET capture does not do" +
                            (m == "cluster_ebpf" ? " (it needs Suricata's ebpf-lb-file program)" : ""),
                        "use one of " + join(supported), v.loc, path);
        return std::nullopt;
    }
    std::string near = suggest(m, supported);
    std::string did = near.empty() ? std::string() : "; did you mean '" + near + "'?";
    if (af_packet)
        r.diags().error("XB1202", "'" + path + "' is '" + *s + "'; Suricata would only warn about it" + did,
                        "use one of " + join(supported), v.loc, path);
    else
        r.diags().error("XB1110", "'" + path + "' is '" + *s + "', which is not one of " + join(supported) + did,
                        "use one of " + join(supported), v.loc, path);
    return std::nullopt;
}

// The capture ring keys, same names in both sections. Returns false when `key` is not one of them.
bool read_capture_key(Reader& r, std::string_view key, const YamlNode& keynode, const YamlNode& v,
                      const std::string& path, InterfaceConfig& cfg, bool af_packet) {
    auto mark = [&] { set_origin(cfg.origins, std::string(key), keynode, path); };
    CaptureConfig& c = cfg.capture;
    if (key == "ring-size") {
        if (auto n = read_ring_size(r, v, path)) c.ring_size = *n, mark();
    } else if (key == "block-size") {
        if (auto n = read_block_size(r, v, path)) c.block_size = *n, mark();
    } else if (key == "block-timeout") {
        if (auto n = read_block_timeout(r, v, path)) c.block_timeout_ms = *n, mark();
    } else if (key == "cluster-id") {
        if (auto n = read_cluster_id(r, v, path)) c.cluster_id = *n, mark();
    } else if (key == "cluster-type") {
        if (auto t = read_cluster_type(r, v, path, af_packet)) c.cluster_type = *t, mark();
    } else {
        return false;
    }
    return true;
}

// The interface keys common to both sections, by their xbypass names. Returns false when `key` is
// not one of them.
bool read_common_interface_key(Reader& r, std::string_view key, const YamlNode& keynode, const YamlNode& v,
                               const std::string& path, InterfaceConfig& cfg, const std::string& canonical) {
    auto mark = [&] { set_origin(cfg.origins, canonical, keynode, path); };
    if (key == "bypass") {
        if (auto b = r.boolean(v, path)) cfg.bypass = *b, mark();
    } else if (key == "pinned-maps") {
        if (auto b = r.boolean(v, path)) cfg.pinned_maps = *b, mark();
    } else if (key == "pinned-maps-name") {
        if (auto s = r.optional_string(v, path)) cfg.pinned_maps_name = *s, mark();
    } else if (key == "threads") {
        if (auto t = read_threads(r, v, path)) cfg.threads = *t, mark();
    } else {
        return false;
    }
    return true;
}

void read_flow_table(Reader& r, const YamlNode& node, const std::string& path, InterfaceConfig& cfg) {
    if (!r.expect_mapping(node, path)) return;
    r.check_duplicate_keys(node, path);
    for (const auto& kv : node.entries) {
        const YamlNodePtr& k = kv.first;
        const YamlNodePtr& v = kv.second;
        const std::string& key = k->value;
        std::string p = child(path, key);
        std::string canonical = "flow-table." + key;
        auto mark = [&] { set_origin(cfg.origins, canonical, *k, p); };
        if (key == "size") {
            if (auto n = r.number(*v, p, 1, kMaxFlowTableSize, "entries")) cfg.flow_table.size = *n, mark();
        } else if (key == "timeout") {
            if (auto n = r.number(*v, p, 1, kMaxTimeout, "seconds")) cfg.flow_table.timeout = *n, mark();
        } else if (key == "percpu") {
            if (auto b = r.boolean(*v, p)) cfg.flow_table.percpu = *b, mark();
        } else if (key == "lru") {
            if (auto b = r.boolean(*v, p)) cfg.flow_table.lru = *b, mark();
        } else {
            r.unknown_key(*k, path, kFlowTableKeys);
        }
    }
}

// One entry of xbypass.interfaces.
std::optional<InterfaceConfig> read_xbypass_interface(Reader& r, const YamlNode& entry, const std::string& path) {
    if (!r.expect_mapping(entry, path)) return std::nullopt;
    r.check_duplicate_keys(entry, path);
    InterfaceConfig cfg;
    cfg.origin = KeyOrigin{entry.loc, path};
    bool named = false;
    for (const auto& kv : entry.entries) {
        const YamlNodePtr& k = kv.first;
        const YamlNodePtr& v = kv.second;
        const std::string& key = k->value;
        std::string p = child(path, key);
        auto mark = [&] { set_origin(cfg.origins, key, *k, p); };
        if (key == "interface") {
            if (auto n = r.interface_name(*v, p)) cfg.name = *n, mark();
            named = true;  // an invalid name is reported; the entry is then dropped below
        } else if (read_common_interface_key(r, key, *k, *v, p, cfg, key)) {
        } else if (read_capture_key(r, key, *k, *v, p, cfg, false)) {
        } else if (key == "capture") {
            if (auto m = r.choice(*v, p, kCaptureMethods)) cfg.capture.method = *m, mark();
        } else if (key == "datapath") {
            if (auto d = r.choice(*v, p, kDatapaths)) cfg.datapath = *d, mark();
        } else if (key == "on-unsupported") {
            if (auto o = r.choice(*v, p, kOnUnsupported)) cfg.on_unsupported = *o, mark();
        } else if (key == "on-runtime-error") {
            if (auto o = r.choice(*v, p, kOnRuntimeError)) cfg.on_runtime_error = *o, mark();
        } else if (key == "cpu-redirect") {
            if (auto c = r.cpu_list(*v, p)) cfg.cpu_redirect = *c, mark();
        } else if (key == "flow-table") {
            read_flow_table(r, *v, p, cfg);
        } else if (key == "vlan-tracking") {
            if (auto b = r.boolean(*v, p)) cfg.vlan_tracking = *b, mark();
        } else if (key == "ips-peer") {
            if (v->is_scalar() && v->is_null()) {
                mark();
            } else if (auto n = r.interface_name(*v, p)) {
                cfg.ips_peer = *n, mark();
            }
        } else if (key == "custom-program") {
            if (auto s = r.optional_string(*v, p)) cfg.custom_program = *s, mark();
        } else if (key == "coexist") {
            if (auto c = r.choice(*v, p, kCoexist)) cfg.coexist = *c, mark();
        } else if (key == "suricata-maps") {
            if (auto b = r.boolean(*v, p)) cfg.suricata_maps = *b, mark();
        } else {
            r.unknown_key(*k, path, kInterfaceKeys);
        }
    }
    if (!named) {
        r.diags().error("XB1116", "interface entry '" + path + "' has no 'interface' key",
                        "add 'interface: NAME' as the first key of the entry", entry.loc, path);
        return std::nullopt;
    }
    if (cfg.name.empty()) return std::nullopt;
    return cfg;
}

void read_global(Reader& r, const YamlNode& section, GlobalConfig& g) {
    const std::string path = "xbypass";
    for (const auto& kv : section.entries) {
        const YamlNodePtr& k = kv.first;
        const YamlNodePtr& v = kv.second;
        const std::string& key = k->value;
        std::string p = child(path, key);
        auto mark = [&] { set_origin(g.origins, key, *k, p); };
        if (key == "log-level") {
            if (auto l = r.choice(*v, p, kLogLevels)) g.log_level = *l, mark();
        } else if (key == "log-file") {
            if (auto s = r.optional_string(*v, p)) g.log_file = *s, mark();
        } else if (key == "stats-interval") {
            if (auto n = r.number(*v, p, 0, kMaxStatsInterval, "seconds")) g.stats_interval = *n, mark();
        } else if (key == "pin-path") {
            auto s = r.scalar(*v, p);
            if (!s) continue;
            if (s->empty() || (*s)[0] != '/') {
                r.diags().error("XB1125", "'" + p + "' is '" + *s + "', not an absolute path",
                                "use a directory on bpffs such as /sys/fs/bpf/xbypass", v->loc, p);
                continue;
            }
            if (("/" + *s + "/").find("/../") != std::string::npos || ("/" + *s + "/").find("/./") != std::string::npos) {
                r.diags().error("XB1125", "'" + p + "' is '" + printable(*s) + "', which has a '.' or '..' component",
                                "name the directory directly, e.g. /sys/fs/bpf/xbypass: a path that only looks like "
                                "it is on bpffs would be refused when pinning",
                                v->loc, p);
                continue;
            }
            g.pin_path = *s, mark();
        } else if (key == "eve-log") {
            if (auto s = r.optional_string(*v, p)) g.eve_log = *s, mark();
        } else if (key == "suricata-pid-file") {
            if (auto s = r.optional_string(*v, p)) g.suricata_pid_file = *s, mark();
        } else if (key == "interfaces") {
            // read by the caller
        } else {
            r.unknown_key(*k, path, kGlobalKeys);
        }
    }
}

std::vector<InterfaceConfig> read_xbypass_interfaces(Reader& r, const YamlNode& section) {
    std::vector<InterfaceConfig> out;
    const YamlNode* list = section.find("interfaces");
    if (!list) return out;
    const std::string path = "xbypass.interfaces";
    if (list->is_scalar() && list->is_null()) return out;
    if (!r.expect_sequence(*list, path)) return out;
    for (size_t i = 0; i < list->items.size(); ++i) {
        if (auto cfg = read_xbypass_interface(r, *list->items[i], indexed(path, i))) out.push_back(std::move(*cfg));
    }
    return out;
}

// --- Suricata af-packet -----------------------------------------------------------------------

struct AfPacketEntry {
    InterfaceConfig cfg;
    std::optional<std::string> copy_mode;  // "ips" or "tap"
    KeyOrigin copy_mode_origin;
    std::optional<std::string> copy_iface;
    KeyOrigin copy_iface_origin;
    bool is_default = false;
};

AfPacketEntry read_af_packet_entry(Reader& r, const YamlNode& entry, const std::string& path) {
    AfPacketEntry out;
    out.cfg.origin = KeyOrigin{entry.loc, path};
    r.check_duplicate_keys(entry, path);
    for (const auto& kv : entry.entries) {
        const YamlNodePtr& k = kv.first;
        const YamlNodePtr& v = kv.second;
        const std::string& key = k->value;
        std::string p = child(path, key);
        InterfaceConfig& cfg = out.cfg;
        auto mark = [&](const std::string& canonical) { set_origin(cfg.origins, canonical, *k, p); };
        if (key == "interface") {
            if (v->is_scalar() && v->value == "default") {
                out.is_default = true;
            } else if (auto n = r.interface_name(*v, p)) {
                cfg.name = *n, mark("interface");
            }
        } else if (read_common_interface_key(r, key, *k, *v, p, cfg, key)) {
        } else if (key == "xdp-mode") {
            auto s = r.scalar(*v, p);
            if (!s) continue;
            std::string m = lower(*s);
            auto it = std::find_if(kXdpModes.begin(), kXdpModes.end(), [&](const auto& e) { return e.first == m; });
            if (it == kXdpModes.end()) {
                r.diags().error("XB1201",
                                "'" + p + "' is '" + *s + "'; Suricata would only warn and let the kernel pick a mode",
                                "use driver (native XDP), soft (generic XDP) or hw (offload)", v->loc, p);
                continue;
            }
            cfg.datapath = it->second, mark("datapath");
        } else if (key == "xdp-filter-file") {
            if (auto s = r.optional_string(*v, p)) cfg.custom_program = *s, mark("custom-program");
        } else if (key == "xdp-cpu-redirect") {
            if (auto c = r.cpu_list(*v, p)) cfg.cpu_redirect = *c, mark("cpu-redirect");
        } else if (key == "use-percpu-hash") {
            if (auto b = r.boolean(*v, p)) cfg.flow_table.percpu = *b, mark("flow-table.percpu");
        } else if (key == "copy-mode") {
            auto s = r.scalar(*v, p);
            if (!s) continue;
            std::string m = lower(*s);
            if (m != "ips" && m != "tap") {
                r.diags().error("XB1204", "'" + p + "' is '" + *s + "'; Suricata would only warn and not copy packets",
                                "use ips or tap, or remove copy-mode", v->loc, p);
                continue;
            }
            out.copy_mode = m;
            out.copy_mode_origin = KeyOrigin{k->loc, p};
        } else if (key == "copy-iface") {
            if (auto n = r.interface_name(*v, p)) {
                out.copy_iface = *n;
                out.copy_iface_origin = KeyOrigin{k->loc, p};
            }
        } else if (read_capture_key(r, key, *k, *v, p, cfg, true)) {
        } else if (std::find(kAfPacketSuricataOnly.begin(), kAfPacketSuricataOnly.end(), key) !=
                   kAfPacketSuricataOnly.end()) {
            r.diags().info("XB1200", "'" + p + "' is a Suricata af-packet key not used by xbypass",
                           "nothing to do; Suricata still uses it", k->loc, p);
        } else {
            std::string near = suggest(key, kAfPacketMapped);
            if (!near.empty()) {
                r.diags().warning("XB1208",
                                  "'" + p + "' is not an af-packet key; did you mean '" + near + "'?",
                                  "rename it to '" + near + "' if that was meant, else remove it", k->loc, p);
            } else {
                r.diags().info("XB1200", "'" + p + "' is not used by xbypass",
                               "nothing to do unless you expected xbypass to use it", k->loc, p);
            }
        }
    }
    return out;
}

// Values of the `interface: default` entry apply to every entry that does not set them.
void apply_af_packet_default(AfPacketEntry& e, const AfPacketEntry& def) {
    InterfaceConfig& c = e.cfg;
    const InterfaceConfig& d = def.cfg;
    auto inherit = [&](const std::string& key, const std::function<void()>& copy) {
        auto it = d.origins.find(key);
        if (it == d.origins.end() || c.origins.count(key)) return;
        copy();
        c.origins[key] = it->second;
    };
    inherit("bypass", [&] { c.bypass = d.bypass; });
    inherit("datapath", [&] { c.datapath = d.datapath; });
    inherit("custom-program", [&] { c.custom_program = d.custom_program; });
    inherit("cpu-redirect", [&] { c.cpu_redirect = d.cpu_redirect; });
    inherit("flow-table.percpu", [&] { c.flow_table.percpu = d.flow_table.percpu; });
    inherit("pinned-maps", [&] { c.pinned_maps = d.pinned_maps; });
    inherit("pinned-maps-name", [&] { c.pinned_maps_name = d.pinned_maps_name; });
    inherit("threads", [&] { c.threads = d.threads; });
    inherit("ring-size", [&] { c.capture.ring_size = d.capture.ring_size; });
    inherit("block-size", [&] { c.capture.block_size = d.capture.block_size; });
    inherit("block-timeout", [&] { c.capture.block_timeout_ms = d.capture.block_timeout_ms; });
    inherit("cluster-id", [&] { c.capture.cluster_id = d.capture.cluster_id; });
    inherit("cluster-type", [&] { c.capture.cluster_type = d.capture.cluster_type; });
    if (!e.copy_mode && def.copy_mode) e.copy_mode = def.copy_mode, e.copy_mode_origin = def.copy_mode_origin;
    if (!e.copy_iface && def.copy_iface) e.copy_iface = def.copy_iface, e.copy_iface_origin = def.copy_iface_origin;
}

std::vector<InterfaceConfig> read_af_packet(Reader& r, const YamlNode& section) {
    std::vector<InterfaceConfig> out;
    const std::string path = "af-packet";
    if (section.is_scalar() && section.is_null()) return out;
    if (!r.expect_sequence(section, path)) return out;
    std::vector<AfPacketEntry> entries;
    std::optional<AfPacketEntry> def;
    for (size_t i = 0; i < section.items.size(); ++i) {
        const YamlNode& item = *section.items[i];
        std::string p = indexed(path, i);
        if (!r.expect_mapping(item, p)) continue;
        if (!item.find("interface")) {
            r.diags().error("XB1116", "af-packet entry '" + p + "' has no 'interface' key",
                            "add 'interface: NAME' (or 'interface: default') to the entry", item.loc, p);
            continue;
        }
        AfPacketEntry e = read_af_packet_entry(r, item, p);
        if (e.is_default) {
            if (def) {
                r.diags().error("XB1207",
                                "'" + p + "' is a second 'interface: default' entry (the first is at line " +
                                    std::to_string(def->cfg.origin.location.line) + ")",
                                "keep a single default entry", item.loc, p);
                continue;
            }
            def = std::move(e);
        } else if (!e.cfg.name.empty()) {
            entries.push_back(std::move(e));
        }
    }
    for (auto& e : entries) {
        // Suricata's af-packet bypass is off unless asked for.
        if (!e.cfg.origins.count("bypass")) e.cfg.bypass = false;
        // An af-packet entry is captured by AF_PACKET, as Suricata would.
        e.cfg.capture.method = CaptureMethod::AfPacket;
        if (def) apply_af_packet_default(e, *def);
        // Suricata's XDP bypass with pinned maps: xbypass provides the kernel side (doc/suricata.md).
        if (e.cfg.bypass && e.cfg.pinned_maps) {
            e.cfg.suricata_maps = true;
            e.cfg.origins["suricata-maps"] = e.cfg.origins.at("pinned-maps");
        }
        const std::string& p = e.cfg.origin.key_path;
        if (e.copy_mode && !e.copy_iface) {
            r.diags().error("XB1205", "'" + p + "' sets copy-mode " + *e.copy_mode + " without copy-iface",
                            "add 'copy-iface: PEER' naming the interface that receives the copied packets",
                            e.copy_mode_origin.location, e.copy_mode_origin.key_path);
            continue;
        }
        if (e.copy_iface && !e.copy_mode) {
            r.diags().warning("XB1209", "'" + e.copy_iface_origin.key_path + "' is ignored without copy-mode",
                              "add 'copy-mode: ips' (or tap) to forward packets, or remove copy-iface",
                              e.copy_iface_origin.location, e.copy_iface_origin.key_path);
        }
        if (e.copy_mode && e.copy_iface) {
            if (*e.copy_iface == e.cfg.name) {
                r.diags().error("XB1203",
                                "copy-iface of interface '" + e.cfg.name + "' is the interface itself; Suricata "
                                "would only warn",
                                "set copy-iface to the peer interface of the IPS pair",
                                e.copy_iface_origin.location, e.copy_iface_origin.key_path);
                continue;
            }
            e.cfg.ips_peer = *e.copy_iface;
            e.cfg.origins["ips-peer"] = e.copy_iface_origin;
        }
        out.push_back(std::move(e.cfg));
    }
    return out;
}

// --- Suricata af-xdp --------------------------------------------------------------------------

struct AfXdpEntry {
    std::string name;                // empty for the default entry
    KeyOrigin origin;                // the entry
    KeyOrigin name_origin;           // its interface key
    std::optional<uint32_t> threads;
    KeyOrigin threads_origin;
};

// Suricata 7's af-xdp list: the interfaces it names are captured with AF_XDP. They are added to the
// af-packet interfaces (an interface in both keeps its af-packet settings, with capture af-xdp and
// af-xdp's threads when set); one only in af-xdp gets the defaults with bypass on, because with
// AF_XDP the bypass program is what feeds the sockets (flows are bypassed only when the engine asks).
void read_af_xdp(Reader& r, const YamlNode& section, std::vector<InterfaceConfig>& ifaces) {
    const std::string path = "af-xdp";
    if (section.is_scalar() && section.is_null()) return;
    if (!r.expect_sequence(section, path)) return;
    std::vector<AfXdpEntry> entries;
    std::optional<AfXdpEntry> def;
    for (size_t i = 0; i < section.items.size(); ++i) {
        const YamlNode& item = *section.items[i];
        std::string p = indexed(path, i);
        if (!r.expect_mapping(item, p)) continue;
        r.check_duplicate_keys(item, p);
        if (!item.find("interface")) {
            r.diags().error("XB1116", "af-xdp entry '" + p + "' has no 'interface' key",
                            "add 'interface: NAME' (or 'interface: default') to the entry", item.loc, p);
            continue;
        }
        AfXdpEntry e;
        e.origin = KeyOrigin{item.loc, p};
        bool is_default = false, named = false;
        for (const auto& kv : item.entries) {
            const YamlNode& k = *kv.first;
            const YamlNode& v = *kv.second;
            std::string kp = child(p, k.value);
            if (k.value == "interface") {
                if (v.is_scalar() && v.value == "default") is_default = true;
                else if (auto n = r.interface_name(v, kp)) e.name = *n, e.name_origin = KeyOrigin{k.loc, kp}, named = true;
            } else if (k.value == "threads") {
                if (auto t = read_threads(r, v, kp)) e.threads = *t, e.threads_origin = KeyOrigin{k.loc, kp};
            } else if (std::find(kAfXdpSuricataOnly.begin(), kAfXdpSuricataOnly.end(), k.value) !=
                       kAfXdpSuricataOnly.end()) {
                r.diags().info("XB1211", "'" + kp + "' is a Suricata af-xdp key not used by xbypass",
                               "nothing to do; xbypass binds its own AF_XDP sockets", k.loc, kp);
            } else {
                r.diags().info("XB1211", "'" + kp + "' is not used by xbypass",
                               "nothing to do unless you expected xbypass to use it (it uses interface and threads)",
                               k.loc, kp);
            }
        }
        if (is_default) {
            if (def) {
                r.diags().error("XB1207",
                                "'" + p + "' is a second 'interface: default' entry (the first is at line " +
                                    std::to_string(def->origin.location.line) + ")",
                                "keep a single default entry", item.loc, p);
                continue;
            }
            def = std::move(e);
        } else if (named) {
            auto dup = std::find_if(entries.begin(), entries.end(), [&](const AfXdpEntry& o) { return o.name == e.name; });
            if (dup != entries.end()) {
                r.diags().error("XB1114",
                                "interface '" + e.name + "' is configured twice in af-xdp (first at line " +
                                    std::to_string(dup->origin.location.line) + ")",
                                "merge the two entries into one", item.loc, p);
                continue;
            }
            entries.push_back(std::move(e));
        }
    }
    for (auto& e : entries) {
        if (!e.threads && def && def->threads) e.threads = def->threads, e.threads_origin = def->threads_origin;
        auto it = std::find_if(ifaces.begin(), ifaces.end(), [&](const InterfaceConfig& c) { return c.name == e.name; });
        if (it == ifaces.end()) {
            InterfaceConfig cfg;
            cfg.name = e.name;
            cfg.origin = e.origin;
            cfg.origins["interface"] = e.name_origin;
            ifaces.push_back(std::move(cfg));
            it = std::prev(ifaces.end());
        }
        InterfaceConfig& cfg = *it;
        if (!cfg.origins.count("bypass")) cfg.bypass = true;
        cfg.capture.method = CaptureMethod::AfXdp;
        cfg.origins["capture"] = e.origin;
        if (e.threads) cfg.threads = *e.threads, cfg.origins["threads"] = e.threads_origin;
    }
}

// --- checks across keys and entries ---------------------------------------------------------

std::string resolve_path(const std::string& base_dir, const std::string& p) {
    if (p.empty() || p[0] == '/' || base_dir.empty()) return p;
    return base_dir + "/" + p;
}

void check_custom_program(Reader& r, InterfaceConfig& cfg, const std::string& base_dir) {
    const KeyOrigin* o = cfg.origin_of("custom-program");
    SourceLocation loc = o ? o->location : cfg.origin.location;
    std::string key = o ? o->key_path : cfg.origin.key_path;
    cfg.custom_program = resolve_path(base_dir, cfg.custom_program);
    ProgramFileReport rep = inspect_program_file(cfg.custom_program);
    const std::string& f = cfg.custom_program;
    switch (rep.status) {
        case ProgramFileStatus::Ok:
            return;
        case ProgramFileStatus::Missing:
            r.diags().error("XB1119", "custom program '" + f + "' does not exist (" + rep.detail + ")",
                            "give the path of a compiled BPF object (.o); relative paths start at the "
                            "configuration file's directory",
                            loc, key);
            return;
        case ProgramFileStatus::Unreadable:
            r.diags().error("XB1120", "custom program '" + f + "' cannot be read: " + rep.detail,
                            "make it a regular file readable by the user running xbypass", loc, key);
            return;
        case ProgramFileStatus::NotBpfObject:
            r.diags().error("XB1121", "custom program '" + f + "' is not an ELF BPF object: " + rep.detail,
                            "compile the program with 'clang -target bpf -O2 -g -c prog.c -o prog.o'", loc, key);
            return;
        case ProgramFileStatus::NoAttachable: {
            std::string found;
            for (const auto& p : rep.programs) found += (found.empty() ? "" : ", ") + p;
            r.diags().error("XB1122",
                            "custom program '" + f + "' has no XDP or tc program" +
                                (found.empty() ? std::string() : " (found: " + found + ")"),
                            "put the program in a SEC(\"xdp\") or SEC(\"tc\") section", loc, key);
            return;
        }
    }
}

// AF_PACKET fanout groups: a group id is per network namespace and holds the sockets of one interface,
// so two interfaces with one id cannot both capture (the second join fails with EINVAL). Interfaces
// that do not set cluster-id get 99, 98, ... (skipping the ids set explicitly), in list order.
void assign_cluster_ids(Reader& r, std::vector<InterfaceConfig>& ifaces) {
    std::map<uint16_t, const InterfaceConfig*> taken;
    for (const auto& cfg : ifaces) {
        if (!cfg.origins.count("cluster-id") || cfg.capture.method == CaptureMethod::AfXdp) continue;
        auto [it, fresh] = taken.emplace(cfg.capture.cluster_id, &cfg);
        if (fresh) continue;
        const KeyOrigin& o = cfg.origins.at("cluster-id");
        r.diags().error("XB1137",
                        "interfaces '" + it->second->name + "' and '" + cfg.name + "' both use cluster-id " +
                            std::to_string(cfg.capture.cluster_id) + " (first at line " +
                            std::to_string(it->second->origins.at("cluster-id").location.line) +
                            "): a fanout group holds the sockets of one interface, so the second cannot capture",
                        "give each interface its own cluster-id, or remove the key to number them 99, 98, ...",
                        o.location, o.key_path);
    }
    uint32_t next = kDefaultClusterId;
    for (auto& cfg : ifaces) {
        if (cfg.origins.count("cluster-id")) continue;
        while (taken.count(static_cast<uint16_t>(next)) && next > 0) --next;
        cfg.capture.cluster_id = static_cast<uint16_t>(next);
        taken.emplace(cfg.capture.cluster_id, &cfg);
        if (next > 0) --next;
    }
}

void check_interfaces(Reader& r, std::vector<InterfaceConfig>& ifaces, const std::string& base_dir,
                      const LoadOptions& options) {
    assign_cluster_ids(r, ifaces);
    std::map<std::string, const InterfaceConfig*> by_name;
    for (auto& cfg : ifaces) {
        const SourceLocation& name_loc = cfg.location_of("interface");
        auto [it, fresh] = by_name.emplace(cfg.name, &cfg);
        if (!fresh) {
            r.diags().error("XB1114",
                            "interface '" + cfg.name + "' is configured twice (first at line " +
                                std::to_string(it->second->location_of("interface").line) + ")",
                            "merge the two entries into one", name_loc, cfg.origin.key_path);
            continue;
        }
        if (!cfg.ips_peer.empty() && cfg.ips_peer == cfg.name) {
            const KeyOrigin* o = cfg.origin_of("ips-peer");
            r.diags().error("XB1117", "ips-peer of '" + cfg.name + "' is the interface itself",
                            "set ips-peer to the other interface of the IPS pair, or remove it for IDS mode",
                            o ? o->location : name_loc, o ? o->key_path : cfg.origin.key_path);
        }
        if (cfg.cpu_redirect.enabled() && cfg.datapath == Datapath::Tc) {
            const KeyOrigin* o = cfg.origin_of("cpu-redirect");
            r.diags().error("XB1118",
                            "cpu-redirect of '" + cfg.name + "' needs XDP (cpumap), but datapath is tc",
                            "remove cpu-redirect, or choose datapath auto, xdp-native or xdp-generic",
                            o ? o->location : name_loc, o ? o->key_path : cfg.origin.key_path);
        }
        if (!cfg.pinned_maps_name.empty() && !cfg.pinned_maps) {
            const KeyOrigin* o = cfg.origin_of("pinned-maps-name");
            r.diags().warning("XB1126", "pinned-maps-name of '" + cfg.name + "' is ignored because pinned-maps is off",
                              "set 'pinned-maps: yes' or remove pinned-maps-name",
                              o ? o->location : name_loc, o ? o->key_path : cfg.origin.key_path);
        }
        if (cfg.suricata_maps) {
            // Suricata's per-CPU maps are the flow table: a shared (non-per-CPU) table would make
            // Suricata read one value where the kernel keeps one per CPU.
            const KeyOrigin* pc = cfg.origin_of("flow-table.percpu");
            if (pc && !cfg.flow_table.percpu)
                r.diags().error("XB1212",
                                "'" + pc->key_path + "' is no on '" + cfg.name + "', but the bypass maps Suricata "
                                "shares with xbypass are per-CPU hashes: Suricata would read them as one value per "
                                "flow and crash on its first expiry pass (about 105 s after a bypass)",
                                "set use-percpu-hash: yes (the default) or remove the key", pc->location, pc->key_path);
            const KeyOrigin* cp = cfg.origin_of("custom-program");
            if (!cfg.custom_program.empty()) {
                r.diags().info("XB1213",
                               "'" + (cp ? cp->key_path : cfg.origin.key_path) + "' (" + cfg.custom_program +
                                   ") is not used: in the Suricata mode xbypass loads its own programs, which read "
                                   "Suricata's flow_table_v4/_v6",
                               "nothing to do; Suricata finds the pinned maps and does not load it either",
                               cp ? cp->location : name_loc, cp ? cp->key_path : cfg.origin.key_path);
                cfg.custom_program.clear();
            }
        }
        if (!cfg.custom_program.empty() && options.inspect_custom_programs) check_custom_program(r, cfg, base_dir);
        else cfg.custom_program = resolve_path(base_dir, cfg.custom_program);
    }
}

}  // namespace

// --- public helpers ---------------------------------------------------------------------------

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
    if (word.size() > 64) return {};
    std::string best;
    size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
    std::string w = lower(word);
    for (auto c : candidates) {
        size_t d = edit_distance(w, c);
        if (d < best_distance) {
            best_distance = d;
            best = std::string(c);
        }
    }
    return best;
}

bool parse_cpu_list_text(std::string_view text, CpuList* out, std::vector<unsigned>* duplicates,
                         CpuListError* error) {
    auto fail = [&](std::string code, std::string message, size_t offset) {
        error->code = std::move(code);
        error->message = std::move(message);
        error->offset = offset;
        return false;
    };
    auto trim_at = [&](size_t b, size_t e) {
        while (b < e && text[b] == ' ') ++b;
        while (e > b && text[e - 1] == ' ') --e;
        return std::pair(b, e);
    };
    *out = CpuList{};
    auto [b0, e0] = trim_at(0, text.size());
    std::string whole = lower(text.substr(b0, e0 - b0));
    if (whole == "all") {
        out->all = true;
        return true;
    }
    if (whole == "none") return true;
    if (whole.empty()) return fail("XB1111", "the CPU list is empty", b0);
    auto parse_cpu = [&](size_t b, size_t e, unsigned* cpu) -> bool {
        if (b == e) return fail("XB1111", "a CPU number is missing", b);
        for (size_t i = b; i < e; ++i) {
            if (text[i] < '0' || text[i] > '9')
                return fail("XB1111", "'" + std::string(text.substr(b, e - b)) + "' is not a CPU number", b);
        }
        uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(text.data() + b, text.data() + e, v);
        (void)ptr;
        if (ec != std::errc() || v > kMaxCpuId)
            return fail("XB1113",
                        "CPU " + std::string(text.substr(b, e - b)) + " is above the kernel's limit of " +
                            std::to_string(kMaxCpuId),
                        b);
        *cpu = static_cast<unsigned>(v);
        return true;
    };
    std::set<unsigned> cpus;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t comma = text.find(',', pos);
        if (comma == std::string_view::npos) comma = text.size();
        auto [b, e] = trim_at(pos, comma);
        if (b == e) return fail("XB1111", "the CPU list has an empty element", b);
        std::string_view token = text.substr(b, e - b);
        if (lower(token) == "all") return fail("XB1111", "'all' cannot be combined with CPU numbers", b);
        size_t dash = token.find('-');
        unsigned first = 0, last = 0;
        if (dash == std::string_view::npos) {
            if (!parse_cpu(b, e, &first)) return false;
            last = first;
        } else {
            auto [fb, fe] = trim_at(b, b + dash);
            auto [lb, le] = trim_at(b + dash + 1, e);
            if (!parse_cpu(fb, fe, &first) || !parse_cpu(lb, le, &last)) return false;
            if (first > last)
                return fail("XB1112",
                            "the range " + std::string(token) + " is reversed", b);
        }
        for (unsigned c = first; c <= last; ++c) {
            if (!cpus.insert(c).second && duplicates) duplicates->push_back(c);
        }
        pos = comma + 1;
    }
    out->cpus.assign(cpus.begin(), cpus.end());
    return true;
}

std::vector<std::string> xbypass_schema_keys() {
    std::vector<std::string> keys;
    for (auto k : kGlobalKeys) keys.emplace_back(k);
    for (auto k : kInterfaceKeys) keys.push_back("interfaces[]." + std::string(k));
    for (auto k : kFlowTableKeys) keys.push_back("interfaces[].flow-table." + std::string(k));
    return keys;
}

const std::vector<std::string_view>& capture_cluster_types() {
    static const std::vector<std::string_view> types = {"cluster_flow", "cluster_cpu", "cluster_qm",
                                                        "cluster_rollover", "cluster_round_robin"};
    return types;
}

std::vector<std::string> af_packet_mapped_keys() {
    return {kAfPacketMapped.begin(), kAfPacketMapped.end()};
}

Config validate_config(const YamlNode& root, const std::string& file, const std::string& base_dir,
                       Diagnostics& diags, const LoadOptions& options) {
    Config cfg;
    cfg.file = file;
    Reader r(diags);
    if (root.is_scalar() && root.is_null()) {
        diags.error("XB1101", "the file is empty: no interface is configured",
                    "add an 'xbypass:' section with an 'interfaces:' list (see conf/xbypass.yaml)",
                    SourceLocation{file, 0, 0});
        return cfg;
    }
    if (!root.is_mapping()) {
        diags.error("XB1100", "the top level of the file is " + std::string(yaml_kind_name(root.kind)) +
                                  ", not a mapping of sections",
                    "start the file with 'xbypass:' (or a suricata.yaml with 'af-packet:')", root.loc);
        return cfg;
    }
    // Only our two sections matter; a whole suricata.yaml may be given.
    const YamlNode* xbypass = nullptr;
    const YamlNode* afpacket = nullptr;
    const YamlNode* afxdp = nullptr;
    const YamlNode* afpacket_key = nullptr;
    const YamlNode* xbypass_key = nullptr;
    const YamlNode* afxdp_key = nullptr;
    for (const auto& kv : root.entries) {
        const YamlNodePtr& k = kv.first;
        const YamlNodePtr& v = kv.second;
        const YamlNode** slot = k->value == "xbypass"     ? &xbypass
                                : k->value == "af-packet" ? &afpacket
                                : k->value == "af-xdp"    ? &afxdp
                                                          : nullptr;
        if (!slot) continue;
        if (*slot) {
            diags.error("XB1010", "section '" + k->value + "' appears twice at the top level",
                        "keep one '" + k->value + "' section", k->loc, k->value);
            continue;
        }
        *slot = v.get();
        (k->value == "xbypass" ? xbypass_key : k->value == "af-packet" ? afpacket_key : afxdp_key) = k.get();
    }
    if (xbypass) {
        cfg.source = ConfigSource::Xbypass;
        if (afpacket) {
            diags.warning("XB1102", "the 'af-packet' section is ignored because an 'xbypass' section is present",
                          "configure the interfaces in 'xbypass.interfaces' only, or remove the 'xbypass' section "
                          "to use af-packet",
                          afpacket_key->loc, "af-packet");
        }
        if (afxdp) {
            diags.warning("XB1210", "the 'af-xdp' section is ignored because an 'xbypass' section is present",
                          "set 'capture: af-xdp' on the interfaces in 'xbypass.interfaces' instead, or remove the "
                          "'xbypass' section to use af-packet and af-xdp",
                          afxdp_key->loc, "af-xdp");
        }
        if (xbypass->is_scalar() && xbypass->is_null()) {
            diags.error("XB1101", "the 'xbypass' section is empty: no interface is configured",
                        "add an 'interfaces:' list under 'xbypass:'", xbypass_key->loc, "xbypass");
            return cfg;
        }
        if (!r.expect_mapping(*xbypass, "xbypass")) return cfg;
        r.check_duplicate_keys(*xbypass, "xbypass");
        read_global(r, *xbypass, cfg.global);
        cfg.interfaces = read_xbypass_interfaces(r, *xbypass);
        if (cfg.interfaces.empty() && !diags.has_errors()) {
            const YamlNode* list = xbypass->find("interfaces");
            diags.error("XB1101", "no interface is configured in 'xbypass.interfaces'",
                        "add at least one entry '- interface: NAME' under 'interfaces:'",
                        list ? list->loc : xbypass_key->loc, "xbypass.interfaces");
        }
    } else if (afpacket || afxdp) {
        cfg.source = afpacket ? ConfigSource::AfPacket : ConfigSource::AfXdp;
        // A whole suricata.yaml: where Suricata writes its pid (the Suricata mode looks there first).
        for (const auto& kv : root.entries) {
            if (kv.first->value != "pid-file" || !kv.second->is_scalar() || kv.second->is_null()) continue;
            cfg.global.suricata_pid_file = kv.second->value;
            cfg.global.origins["suricata-pid-file"] = KeyOrigin{kv.first->loc, "pid-file"};
        }
        if (afpacket) cfg.interfaces = read_af_packet(r, *afpacket);
        if (afxdp) read_af_xdp(r, *afxdp, cfg.interfaces);
        if (cfg.interfaces.empty() && !diags.has_errors()) {
            std::string section = afpacket ? "af-packet" : "af-xdp";
            diags.error("XB1101", "no interface is configured in '" + section + "' (only a default entry, or none)",
                        "add an entry '- interface: NAME' to the " + section + " list",
                        (afpacket ? afpacket_key : afxdp_key)->loc, section);
        }
    } else {
        diags.error("XB1101", "neither an 'xbypass' nor an 'af-packet' section is present: no interface is configured",
                    "add an 'xbypass:' section with an 'interfaces:' list (see conf/xbypass.yaml)",
                    SourceLocation{file, 0, 0});
        return cfg;
    }
    check_interfaces(r, cfg.interfaces, base_dir, options);
    return cfg;
}

}  // namespace xb::config
