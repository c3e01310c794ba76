// The Suricata mode's datapath (doc/suricata.md): loads one variant of ebpf/xb_suricata.bpf.c,
// whose flow table is the pair of maps an unmodified Suricata 7 writes its bypassed flows into
// (flow_table_v4, flow_table_v6: layout in ebpf/xb_suricata.h), pins them where Suricata looks for
// them, and reads what Suricata cannot tell: the counters, the entries, and which processes hold
// the maps (the Suricata that bypasses into them).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/diagnostic.h"
#include "common/owners.h"
#include "common/result.h"
#include "datapath/flow_table.h"
#include "datapath/kernel_clock.h"
#include "datapath/manifest.h"
#include "datapath/pin.h"
#include "datapath/program.h"
#include "xb_suricata.h"

struct xb_suricata;

namespace xb::datapath {

struct SuricataProgramOptions {
    Hook datapath = Hook::Xdp;
    bool vlan_tracking = true;
    std::vector<unsigned> cpu_redirect;
    uint32_t cpumap_queue_size = 2048;
    int ips_peer_ifindex = 0;
    uint32_t lease_seconds = 0;  // 0: no lease
    // Maps already pinned where Suricata looks (by map name), adopted instead of created.
    std::map<std::string, int> reuse_maps;
};

// The two maps Suricata writes: type, key and value size (max_entries 0: any size is adopted).
std::vector<MapSpec> suricata_map_specs();
// The pin paths Suricata 7 opens for an interface: <root>/suricata-<iface>-flow_table_v4, _v6.
std::string suricata_pin_path(const std::string& root, const std::string& interface, std::string_view map);
// The map pinned at path if it has Suricata's layout; nullopt when nothing is pinned there; an
// error naming the difference otherwise.
Result<std::optional<UniqueFd>> open_suricata_pin(const std::string& path, const MapSpec& spec);

// What the two tables hold now.
struct SuricataTables {
    size_t v4_entries = 0;
    size_t v6_entries = 0;
    uint64_t packets = 0;  // summed over entries and CPUs: what the kernel bypassed into them
    uint64_t bytes = 0;
};

// Every entry of the two tables as a flow key (the protocol is TCP or UDP: Suricata's key says only
// whether it is TCP), with its per-CPU counts summed (last_seen_ns is 0: Suricata's maps have no
// time). At most `limit` entries.
Result<std::vector<FlowEntry>> suricata_entries(int v4_fd, int v6_fd, unsigned possible_cpus, size_t limit);

class SuricataProgram {
public:
    static Result<SuricataProgram> load(const SuricataProgramOptions& options, Diagnostics& diags);
    SuricataProgram(SuricataProgram&&) noexcept;
    SuricataProgram& operator=(SuricataProgram&&) noexcept;
    ~SuricataProgram();

    const Manifest& manifest() const { return *manifest_; }
    std::string_view program_name() const { return manifest_->program; }
    int prog_fd() const;
    int map_fd(std::string_view name) const;  // flow_table_v4, flow_table_v6, xb_counters, ...
    uint32_t map_id(std::string_view name) const;  // 0 when unknown

    Result<Counters> read_counters() const;
    Result<SuricataTables> tables() const;
    // The entries (suricata_entries) of this program's tables.
    Result<std::vector<FlowEntry>> entries(size_t limit) const;
    // Deletes every entry of both tables; returns how many were deleted.
    Result<size_t> clear_tables();
    // Hits are bypassed until `seconds` from now; lapse() stops bypassing at once.
    Status renew_lease(uint32_t seconds);
    Status lapse();
    Result<uint64_t> lease_until() const;
    unsigned possible_cpus() const { return possible_cpus_; }
    Result<TestRunResult> test_run(std::span<const uint8_t> frame, uint32_t repeat = 1) const;

private:
    SuricataProgram() = default;
    Status set_lease_until(uint64_t jiffies);
    const Manifest* manifest_ = nullptr;
    struct xb_suricata* skel_ = nullptr;
    unsigned possible_cpus_ = 1;
    std::shared_ptr<KernelClock> clock_;
};

// Processes other than this one with an open fd on any of the maps (by map id), read from
// /proc/PID/fdinfo. `first` is looked at before the others (e.g. the pid in Suricata's pid file);
// with stop_at_first the scan ends at the first holder found.
std::vector<pid_t> map_holders(const std::vector<uint32_t>& map_ids, pid_t first = 0, bool stop_at_first = true);
// Whether process pid holds an fd on one of the maps.
bool holds_map(pid_t pid, const std::vector<uint32_t>& map_ids);
// /proc/PID/comm without the newline ("" when gone).
std::string process_name(pid_t pid);

}  // namespace xb::datapath
