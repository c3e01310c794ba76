// The flow table from user space: the only writer of its slots (ebpf/xb_table.h says why it is not
// a BPF hash map, and the rules kept here). The slots are memory-mapped (BPF_F_MMAPABLE), so
// inserting, finding, removing and sweeping flows make no system call; only reading a flow's
// counters does (per-CPU arrays cannot be mapped), and zeroing the counters of flows that left,
// in batches (one element per flow holds both directions). A flow is one unit: both directions are inserted, evicted and expired together, and
// it holds one of `size` flow ids (its two counter entries). With lru, a flow that finds no room
// makes the flow in reach seen longest ago give way (both directions, counted).
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
    uint64_t last_seen_ns = 0;  // CLOCK_MONOTONIC_COARSE of the last hit, or of the insert
};

struct FlowEntry {
    FlowKey key{};
    FlowStats stats;
};

// A flow that left the table because both directions were idle: its final kernel counts.
struct ExpiredFlow {
    FlowKey key{};             // the direction inserted first (the engine's key)
    FlowStats forward, reverse;
    uint64_t first_seen_ns = 0;  // when the flow entered the table (CLOCK_MONOTONIC_COARSE)
    uint64_t last_seen_ns = 0;   // the later of the two directions' last hits (or the insert)
};

// What the table did since it was loaded (this run; an adopted table starts from zero).
struct FlowTableCounts {
    uint64_t accepted = 0;  // flows inserted
    uint64_t refused = 0;   // flows refused: table full or no room in reach (without lru)
    uint64_t evicted = 0;   // flows that gave way to a new one (lru)
    uint64_t expired = 0;   // flows removed by expire()
    uint64_t removed = 0;   // flows removed by remove()
};

// The kernel's jiffies now, its HZ (measured when the kernel config is not readable), and
// CLOCK_MONOTONIC_COARSE at the same moment.
struct KernelClockSample {
    uint64_t jiffies = 0;
    uint64_t hz = 0;
    uint64_t monotonic_ns = 0;
};

// What every FlowTable view of one loaded program shares.
struct FlowTableState {
    FlowTableState() = default;
    FlowTableState(const FlowTableState&) = delete;
    FlowTableState& operator=(const FlowTableState&) = delete;
    ~FlowTableState();

    int slots_fd = -1;
    int stats_fd = -1;
    uint32_t slot_count = 0;     // home slots (xb_slot_count)
    uint32_t flow_capacity = 0;  // flows (the configured size): flow ids, one counter element each
    bool percpu = true;
    bool lru = false;
    unsigned cpus = 1;  // value copies per stats entry (possible CPUs when percpu, else 1)
    std::function<Result<KernelClockSample>()> clock;
    struct xb_hash_key hash_key {};

    // The mapping of xb_flow_slots (xb_slot_array_entries(slot_count) slots).
    struct xb_flow_slot* slots = nullptr;
    size_t map_bytes = 0;

    std::mutex write_mutex;            // one writer at a time; guards everything below
    std::atomic<int> waiting_requests{0};  // inserts and removes waiting for write_mutex (a sweep lets them in)
    uint64_t next_generation = 1;      // slot writes use seq 2g+1 (not valid) then 2g+2 (valid)
    std::atomic<uint64_t> ns_per_jiffy{0};  // 0 until known
    KernelClockSample cached_clock;    // the last kernel clock sample (refreshed every second)

    // Flow ids. No mirror of the slots: a flow's other direction is found by hashing its reversed
    // key, home slots are hashed again when needed (a few ns, where a mirror would cost bytes per
    // flow and a cache miss per move at a million flows).
    std::vector<uint8_t> in_use;        // per flow id
    std::vector<uint32_t> free_clean;   // flow ids whose counters are zero
    std::vector<uint32_t> free_dirty;   // flow ids whose counters still hold a gone flow's counts
    size_t used_flows = 0;
    size_t used_entries = 0;
    FlowTableCounts counts;
    std::vector<FlowKey> evicted_log;   // keys of evicted flows not yet taken (take_evicted)
    // The last sweep's holds (written by the sweeping thread, read by anyone).
    std::atomic<uint64_t> sweep_holds{0}, sweep_longest_hold_cpu_ns{0}, sweep_longest_hold_wall_ns{0};
};

class FlowTable {
public:
    explicit FlowTable(std::shared_ptr<FlowTableState> state) : st_(std::move(state)) {}

    // After load: maps the slots; a new table gets its metadata slot written, an adopted one
    // (pinned by an earlier run) is read back into the mirror. The state's maps and sizes are set.
    Status attach(bool adopted);

    // Inserts the flow in both directions (counts zero, last seen now); a flow already present
    // keeps its counts. E2BIG when the table holds `size` flows or no slot is free within reach of
    // a direction (without lru; counted as refused). Both directions or neither.
    Status insert(const FlowKey& key);
    // One direction only, as a flow of its own (tests).
    Status insert_one(const FlowKey& key);
    std::optional<FlowStats> lookup(const FlowKey& key) const;
    // Deletes the flow key belongs to (both directions); an absent flow is not an error.
    Status remove(const FlowKey& key);
    // Every flow entry (each direction is one), the counters read in batches.
    Result<std::vector<FlowEntry>> entries() const;
    // Removes the flows whose directions were all idle for longer than timeout_ns at now_ns
    // (CLOCK_MONOTONIC), and returns them with their final counts. Scans without the writer lock and
    // takes it only to remove what expires, in chunks without system calls (the counters are read
    // after each chunk), so a concurrent insert waits for one chunk at most.
    Result<std::vector<ExpiredFlow>> expire(uint64_t now_ns, uint64_t timeout_ns);
    // The writer-lock holds of the last expire() to remove flows or zero counters (none when it found
    // nothing to do): how many, and the longest in the sweeping thread's CPU time (its own work under
    // the lock) and in wall time (that and any time it was preempted while holding it).
    struct SweepHolds {
        uint64_t holds = 0, longest_cpu_ns = 0, longest_wall_ns = 0;
    };
    SweepHolds last_sweep_holds() const;

    struct Occupancy {
        size_t flows = 0;       // valid entries (directions)
        size_t removed = 0;     // always 0: removing shifts keys back (robin hood), no markers stay
        size_t never_used = 0;  // empty slots
        size_t slots = 0;
        size_t flow_units = 0;  // flows (both directions are one)
        size_t capacity = 0;    // flows the table holds (the configured size)
    };
    Result<Occupancy> occupancy() const;  // a Result for the callers' sake: it cannot fail now
    FlowTableCounts counts() const;
    // Keys of the flows evicted (lru) since the last call.
    std::vector<FlowKey> take_evicted();
    // Bytes the table takes: the kernel's maps (their memlock) and this mirror.
    struct Memory {
        uint64_t kernel_bytes = 0;
        uint64_t user_bytes = 0;
    };
    Memory memory() const;
    // Home slot of a key in this table (its keyed hash).
    uint32_t home_slot(const FlowKey& key) const;
    const struct xb_hash_key& hash_key() const { return st_->hash_key; }

    // The kernel's jiffy `seconds` from now (the clock the BPF programs read).
    Result<uint64_t> jiffies_from_now(uint64_t seconds) const;
    // Replaces the kernel clock the table samples (tests: one that runs behind the kernel's
    // jiffies, as the extrapolation does in a VM whose jiffies jump to catch up lost ticks).
    void replace_clock(std::function<Result<KernelClockSample>()> clock);

private:
    // All of these expect write_mutex held.
    std::optional<uint32_t> find_slot(const FlowKey& key, uint32_t home) const;
    bool place(const FlowKey& key, uint32_t stats_index, uint32_t home, uint32_t now32);
    void erase_at(uint32_t idx);
    // Erases both directions; the flow id goes to free_dirty unless free_id is false (the caller
    // still reads its counters and frees it later).
    FlowKey erase_flow(uint32_t slot, bool free_id = true);
    std::optional<uint32_t> other_slot(uint32_t slot) const;
    void move_slot(uint32_t from, uint32_t to);
    void write_slot(uint32_t idx, const struct xb_flow_slot& content);
    std::optional<uint32_t> victim_near(uint32_t home, uint32_t exclude_flow, uint32_t span) const;
    Result<uint32_t> take_flow_id();
    Status zero_dirty(size_t max);
    Status zero_ids(std::vector<uint32_t> ids) const;  // zeroes their counters (no lock needed: ids held)
    Status insert_locked(const FlowKey& key, bool both);
    Result<std::vector<struct xb_flow_stats_elem>> read_stats(uint32_t flow) const;
    Result<KernelClockSample> clock_sample() const;
    Result<uint64_t> jiffies_now() const;
    FlowStats to_stats(const struct xb_flow_stats_elem* per_cpu, uint32_t dir, uint32_t last_seen32, uint64_t now_jiffies,
                       uint64_t now_mono) const;
    uint64_t jiffies_to_mono(uint32_t jiffies32, uint64_t now_jiffies, uint64_t now_mono) const;
    std::shared_ptr<FlowTableState> st_;
};

}  // namespace xb::datapath
