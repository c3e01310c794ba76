// The flow table from user space: the only writer of its slots (ebpf/xb_table.h says why it is not
// a BPF hash map, and the rules kept here). Inserting, looking up, removing and listing flows;
// with lru, a full probe window gives up the flow seen longest ago instead of refusing the new one.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/result.h"
#include "datapath/flow.h"

namespace xb::datapath {

struct FlowStats {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t last_seen_ns = 0;  // CLOCK_MONOTONIC_COARSE of the last hit (latest over CPUs), or of the insert
};

struct FlowEntry {
    FlowKey key{};
    FlowStats stats;
};

// The kernel's jiffies now, its HZ (0 when the kernel config is not readable), and
// CLOCK_MONOTONIC_COARSE at the same moment.
struct KernelClockSample {
    uint64_t jiffies = 0;
    uint64_t hz = 0;
    uint64_t monotonic_ns = 0;
};

// What every FlowTable view of one loaded program shares.
struct FlowTableState {
    int slots_fd = -1;
    int stats_fd = -1;
    uint32_t slot_count = 0;  // a power of two
    bool percpu = true;
    bool lru = false;
    unsigned cpus = 1;  // value copies per stats entry (possible CPUs when percpu, else 1)
    std::function<Result<KernelClockSample>()> clock;

    std::mutex write_mutex;            // one writer at a time
    uint64_t next_generation = 1;      // slot writes use seq 2g+1 (not valid) then 2g+2 (valid)
    std::atomic<uint64_t> ns_per_jiffy{0};  // 0 until known
};

class FlowTable {
public:
    explicit FlowTable(std::shared_ptr<FlowTableState> state) : st_(std::move(state)) {}

    // Inserts the flow in both directions (counts zero, last seen now); a direction already present
    // keeps its counts. E2BIG when no slot is free within reach of a direction (without lru).
    Status insert(const FlowKey& key);
    Status insert_one(const FlowKey& key);
    std::optional<FlowStats> lookup(const FlowKey& key) const;
    // Deletes both directions; absent directions are not an error.
    Status remove(const FlowKey& key);
    // Every flow entry (each direction is one), read in batches.
    Result<std::vector<FlowEntry>> entries() const;

    struct Occupancy {
        size_t flows = 0;       // valid entries (directions)
        size_t removed = 0;     // slots emptied but still on probe paths
        size_t never_used = 0;
        size_t slots = 0;
    };
    Result<Occupancy> occupancy() const;

    // After adopting a pinned table: continue its sequence numbers (they must only grow).
    Status adopt_existing();
    // The kernel's jiffy `seconds` from now (the clock the BPF programs read).
    Result<uint64_t> jiffies_from_now(uint64_t seconds) const;

private:
    // All of these expect write_mutex held.
    Result<std::optional<uint32_t>> find(const FlowKey& key) const;
    Result<bool> insert_locked(const FlowKey& key, const KernelClockSample& now);  // true: new entry
    Status remove_locked(const FlowKey& key);
    Status remove_at(uint32_t idx, bool clear_path);
    Status write_slot(uint32_t idx, const FlowKey& key, uint64_t seq) const;
    Status reset_stats(uint32_t idx, uint64_t now_jiffies) const;
    Result<std::vector<struct xb_flow_value>> read_stats(uint32_t idx) const;
    Result<std::vector<struct xb_flow_slot>> read_all_slots() const;
    Result<KernelClockSample> clock_sample() const;
    FlowStats to_stats(const struct xb_flow_value* per_cpu, const KernelClockSample& now) const;
    uint32_t mask() const { return st_->slot_count - 1; }
    std::shared_ptr<FlowTableState> st_;
};

}  // namespace xb::datapath
