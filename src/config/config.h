// The validated configuration model consumed by the planner, and how to load it.
// Keys follow ../doc/configuration.md; each value remembers where it came from (file:line:col and the
// key path as written, e.g. "af-packet[1].xdp-cpu-redirect") so later stages can point at it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/diagnostic.h"
#include "common/log.h"

namespace xb::config {

// Linux IFNAMSIZ - 1.
constexpr size_t kMaxInterfaceNameLength = 15;
// Highest CPU number accepted in a CPU list (x86-64 MAXSMP: NR_CPUS = 8192).
constexpr unsigned kMaxCpuId = 8191;

enum class Datapath { Auto, XdpNative, XdpGeneric, Tc, Offload };
enum class OnUnsupported { Reject, Fallback };
// What a run does when, after attach, the kernel reports exceptions or redirect errors on an interface.
enum class OnRuntimeError { Degrade, Stop, Warn };
enum class Coexist { Refuse, Multiprog, Replace };
// Which section of the file the interfaces came from (AfPacket also when an af-xdp list adds to it;
// AfXdp when only Suricata's af-xdp list is present).
enum class ConfigSource { None, Xbypass, AfPacket, AfXdp };

std::string_view datapath_name(Datapath d);          // "auto", "xdp-native", "xdp-generic", "tc", "offload"
std::string_view on_unsupported_name(OnUnsupported o);  // "reject", "fallback"
std::string_view on_runtime_error_name(OnRuntimeError o);  // "degrade", "stop", "warn"
std::string_view coexist_name(Coexist c);            // "refuse", "multiprog", "replace"
std::string_view config_source_name(ConfigSource s);  // "none", "xbypass", "af-packet", "af-xdp"

// Where a value was written.
struct KeyOrigin {
    SourceLocation location;
    std::string key_path;  // as written in the file, e.g. "xbypass.interfaces[0].datapath"
};

struct CpuList {
    bool all = false;             // "all": every online CPU, resolved by the planner
    std::vector<unsigned> cpus;   // sorted, unique; empty and !all means "no redirect"
    bool enabled() const { return all || !cpus.empty(); }
    bool operator==(const CpuList&) const = default;
};

struct FlowTableConfig {
    uint32_t size = 65536;    // entries
    uint32_t timeout = 60;    // seconds without packets before a bypassed flow is removed
    bool percpu = true;       // per-CPU flow counts (Suricata's use-percpu-hash)
    bool lru = true;          // a full probe window gives up its least recently seen entry instead of refusing
};

constexpr uint32_t kThreadsAuto = 0;

// How the engine receives the packets the bypass lets through (`capture`, and Suricata's af-packet /
// af-xdp ring keys). Planned like the datapath: see plan::CapturePlan.
enum class CaptureMethod { Auto, AfPacket, AfXdp };
std::string_view capture_method_name(CaptureMethod m);  // "auto", "af-packet", "af-xdp"

// Limits of the capture ring keys (doc/configuration.md says why).
constexpr uint32_t kMinRingSize = 64;
constexpr uint32_t kMaxRingSize = 65536;
constexpr uint32_t kBlockSizeUnit = 4096;            // the page size TPACKET_V3 blocks are made of
constexpr uint32_t kMaxBlockSize = 4u * 1024 * 1024;  // largest block the page allocator gives in one piece
constexpr uint16_t kDefaultClusterId = 99;            // Suricata's; later interfaces without one get 98, 97...

// The fanout modes xbypass's AF_PACKET capture supports, as Suricata spells them.
const std::vector<std::string_view>& capture_cluster_types();

struct CaptureConfig {
    CaptureMethod method = CaptureMethod::Auto;
    uint32_t ring_size = 2048;     // frames per ring (AF_PACKET: per thread; AF_XDP: rx and fill rings)
    uint32_t block_size = 262144;  // AF_PACKET TPACKET_V3 block size in bytes (Suricata's block-size key; libpcap's default size)
    // The longest packets wait for the engine, in ms (Suricata's block-timeout): a partly filled
    // AF_PACKET block is handed over after it; an AF_XDP receiver sleeps at most this long for a batch.
    uint32_t block_timeout_ms = 10;
    uint16_t cluster_id = 99;      // AF_PACKET fanout group id (Suricata's cluster-id)
    std::string cluster_type = "cluster_flow";  // cluster_flow | cluster_cpu | cluster_qm | cluster_rollover ...
};

struct InterfaceConfig {
    std::string name;
    bool bypass = true;
    Datapath datapath = Datapath::Auto;
    OnUnsupported on_unsupported = OnUnsupported::Reject;
    OnRuntimeError on_runtime_error = OnRuntimeError::Degrade;
    CpuList cpu_redirect;
    FlowTableConfig flow_table;
    bool vlan_tracking = true;
    std::string ips_peer;        // empty: IDS mode
    std::string custom_program;  // empty: the built-in program; else a path (relative paths resolved
                                 // against the configuration file's directory)
    Coexist coexist = Coexist::Refuse;
    bool pinned_maps = false;
    std::string pinned_maps_name;  // empty: derived from the interface name
    // The Suricata mode (doc/suricata.md): the bypass programs read the maps an unmodified Suricata 7
    // writes (flow_table_v4/_v6, pinned at <root>/suricata-<iface>-...). Set by an af-packet entry with
    // bypass: yes and pinned-maps: yes, or by `suricata-maps: yes` in the xbypass section.
    bool suricata_maps = false;
    uint32_t threads = kThreadsAuto;
    CaptureConfig capture;

    KeyOrigin origin;                          // the list entry itself
    std::map<std::string, KeyOrigin> origins;  // by canonical key ("cpu-redirect", "flow-table.size")

    // Where `key` (canonical xbypass name) was set, or nullptr when it kept its default.
    const KeyOrigin* origin_of(std::string_view key) const;
    // origin_of(key)'s location, else the entry's location.
    const SourceLocation& location_of(std::string_view key) const;
};

struct GlobalConfig {
    LogLevel log_level = LogLevel::Notice;
    std::string log_file;                       // empty: stderr only
    uint32_t stats_interval = 8;                // seconds; 0 disables periodic stats
    std::string pin_path = "/sys/fs/bpf/xbypass";
    std::string eve_log;                        // empty: no EVE JSON output
    // Suricata's pid file (suricata.yaml's top-level pid-file; the xbypass key suricata-pid-file):
    // tells the Suricata mode which process to look at first for the one holding the maps.
    std::string suricata_pid_file = "/var/run/suricata.pid";
    std::map<std::string, KeyOrigin> origins;   // by key ("log-level", ...)
};

struct Config {
    std::string file;  // as given to the loader
    ConfigSource source = ConfigSource::None;
    GlobalConfig global;
    std::vector<InterfaceConfig> interfaces;

    // The entry for interface `name`, or nullptr.
    const InterfaceConfig* find(std::string_view name) const;
};

struct LoadOptions {
    // Open custom-program files with libbpf to check they hold an XDP or tc program. The fuzzer
    // turns this off so that fuzz inputs never touch the file system.
    bool inspect_custom_programs = true;
};

struct LoadedConfig {
    Config config;            // meaningful only when accepted()
    Diagnostics diagnostics;  // everything found, in discovery order
    bool io_error = false;    // the file could not be read (exit status 2 in `xbypass check`)
    bool accepted() const { return !io_error && !diagnostics.has_errors(); }
};

LoadedConfig load_config_file(const std::string& path, const LoadOptions& options = {});
// `name` is used as the file name in diagnostics; relative custom-program paths resolve against
// the current directory.
LoadedConfig load_config_string(std::string_view text, const std::string& name, const LoadOptions& options = {});

}  // namespace xb::config
