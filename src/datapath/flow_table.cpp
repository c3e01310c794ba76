#include "datapath/flow_table.h"

#include <bpf/bpf.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "xb_table.h"

namespace xb::datapath {

namespace {

constexpr size_t kZeroBatch = 4096;      // flow ids whose counters are zeroed in one system call
constexpr uint32_t kSweepSlots = 4096;    // slots scanned per hold of the writer lock (256 KiB of slots)
constexpr unsigned kSweepExpiries = 128;  // flows taken out of the slots per hold (their counters are read after it)
constexpr size_t kSweepZeroBatch = 1024;  // flow ids whose counters a sweep zeroes per hold (one system call)
constexpr uint32_t kLruSpan = 1024;       // slots searched for the flow seen longest ago when every id is taken

// The slot's seq, read and written as an atomic: the program reads it while user space writes.
uint64_t load_seq(const xb_flow_slot& s) {
    return std::atomic_ref<const __u64>(s.seq).load(std::memory_order_acquire);
}
uint32_t load_last_seen(const xb_flow_slot& s) {
    return std::atomic_ref<const __u32>(s.last_seen_jiffies).load(std::memory_order_relaxed);
}
bool occupied(const xb_flow_slot& s) { return load_seq(s) != 0; }

// The writer lock as bypass requests take it: a sweep between two chunks lets waiting requests in
// first (std::mutex is not fair: the sweep would otherwise take it straight back).
struct RequestLock {
    explicit RequestLock(FlowTableState& st) : st_(st) {
        st_.waiting_requests.fetch_add(1);
        st_.write_mutex.lock();
        st_.waiting_requests.fetch_sub(1);
    }
    ~RequestLock() { st_.write_mutex.unlock(); }
    RequestLock(const RequestLock&) = delete;
    RequestLock& operator=(const RequestLock&) = delete;
    FlowTableState& st_;
};

// Between two chunks of a sweep: waiting requests first (for at most about a millisecond).
void let_requests_in(const FlowTableState& st) {
    for (int i = 0; i < 1000 && st.waiting_requests.load() > 0; ++i) std::this_thread::yield();
}

uint64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Times one hold of the writer lock by the sweep: declared after the lock_guard, so that it stops
// before the lock is released.
class SweepHoldClock {
public:
    explicit SweepHoldClock(FlowTableState& st)
        : st_(st), cpu0_(clock_ns(CLOCK_THREAD_CPUTIME_ID)), wall0_(clock_ns(CLOCK_MONOTONIC)) {}
    ~SweepHoldClock() {
        const uint64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0_, wall = clock_ns(CLOCK_MONOTONIC) - wall0_;
        st_.sweep_holds.fetch_add(1, std::memory_order_relaxed);
        if (cpu > st_.sweep_longest_hold_cpu_ns.load(std::memory_order_relaxed))
            st_.sweep_longest_hold_cpu_ns.store(cpu, std::memory_order_relaxed);
        if (wall > st_.sweep_longest_hold_wall_ns.load(std::memory_order_relaxed))
            st_.sweep_longest_hold_wall_ns.store(wall, std::memory_order_relaxed);
    }
    SweepHoldClock(const SweepHoldClock&) = delete;
    SweepHoldClock& operator=(const SweepHoldClock&) = delete;

private:
    FlowTableState& st_;
    uint64_t cpu0_, wall0_;
};

uint64_t monotonic_coarse_ns() { return clock_ns(CLOCK_MONOTONIC_COARSE); }

// Reads `count` consecutive array values starting at index 0: in batches of 4096 where the kernel
// has array batch lookups (5.6+), else one lookup per index.
Status read_array(int fd, uint32_t count, size_t value_size, std::vector<uint8_t>& out) {
    out.assign(static_cast<size_t>(count) * value_size, 0);
    uint32_t done = 0;
    uint32_t last = 0;
    bool batch = true;
    while (done < count) {
        uint32_t n = std::min<uint32_t>(4096, count - done);
        std::vector<uint32_t> keys(n);
        uint32_t prev = last;
        int rc = bpf_map_lookup_batch(fd, done == 0 ? nullptr : &prev, &last, keys.data(),
                                      out.data() + static_cast<size_t>(done) * value_size, &n, nullptr);
        if (rc != 0 && errno != ENOENT) {
            if (done == 0 && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENOSYS)) {
                batch = false;
                break;
            }
            return Error::from_errno(errno, "cannot read the flow table in batches");
        }
        done += n;
        if (rc != 0 || n == 0) break;
    }
    if (batch) return {};
    for (uint32_t i = 0; i < count; ++i)
        if (bpf_map_lookup_elem(fd, &i, out.data() + static_cast<size_t>(i) * value_size) != 0)
            return Error::from_errno(errno, "cannot read flow table counters " + std::to_string(i));
    return {};
}

uint64_t map_memlock(int fd) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE* f = std::fopen(path, "r");
    if (!f) return 0;
    char line[256];
    uint64_t v = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "memlock:", 8) == 0) v = std::strtoull(line + 8, nullptr, 10);
    std::fclose(f);
    return v;
}

}  // namespace

FlowTableState::~FlowTableState() {
    if (slots) ::munmap(slots, map_bytes);
}

// ---- clock --------------------------------------------------------------------------------------

Result<KernelClockSample> FlowTable::clock_sample() const {
    auto now = st_->clock();
    if (!now) return now;
    if (now->hz == 0) return Error{EINVAL, "the kernel's clock rate (HZ) is unknown"};
    st_->ns_per_jiffy.store(1000000000ull / now->hz);
    return now;
}

// The kernel's jiffies now without a system call: the last sample (at most a second old) moved on
// by CLOCK_MONOTONIC_COARSE (vDSO). Expects write_mutex held.
Result<uint64_t> FlowTable::jiffies_now() const {
    uint64_t mono = monotonic_coarse_ns();
    KernelClockSample& c = st_->cached_clock;
    if (c.monotonic_ns == 0 || mono > c.monotonic_ns + 1000000000ull || mono < c.monotonic_ns) {
        auto s = clock_sample();
        if (!s) return s.error();
        c = *s;
        mono = c.monotonic_ns;
    }
    return c.jiffies + (mono - c.monotonic_ns) / st_->ns_per_jiffy.load();
}

Result<uint64_t> FlowTable::jiffies_from_now(uint64_t seconds) const {
    auto now = clock_sample();
    if (!now) return now.error();
    return now->jiffies + seconds * 1000000000ull / st_->ns_per_jiffy.load();
}

uint64_t FlowTable::jiffies_to_mono(uint32_t jiffies32, uint64_t now_jiffies, uint64_t now_mono) const {
    // 32-bit jiffies: the age is the wrapped difference (a flow idle for 49 days at HZ 1000 would
    // look young; sweeps run far more often than that). A stamp slightly ahead of the estimate is 0 old.
    int64_t age = static_cast<int32_t>(static_cast<uint32_t>(now_jiffies) - jiffies32);
    if (age < 0) age = 0;
    uint64_t age_ns = static_cast<uint64_t>(age) * st_->ns_per_jiffy.load();
    return now_mono > age_ns ? now_mono - age_ns : 0;
}

FlowStats FlowTable::to_stats(const xb_flow_stats_elem* per_cpu, uint32_t dir, uint32_t last_seen32, uint64_t now_jiffies,
                              uint64_t now_mono) const {
    FlowStats s;
    for (unsigned c = 0; c < st_->cpus; ++c) {
        s.packets += per_cpu[c].dir[dir].packets;
        s.bytes += per_cpu[c].dir[dir].bytes;
    }
    s.last_seen_ns = jiffies_to_mono(last_seen32, now_jiffies, now_mono);
    return s;
}

// ---- slots --------------------------------------------------------------------------------------

uint32_t FlowTable::home_slot(const FlowKey& key) const {
    return xb_home_slot(xb_slot_hash(&key, &st_->hash_key), st_->slot_count);
}

// The seq protocol of xb_table.h: odd seq first (the program skips the slot from then on), then the
// content, then the new even seq. The stores are atomics so that the compiler keeps their order;
// x86 keeps stores in order (TSO), so the fences cost nothing there.
void FlowTable::write_slot(uint32_t idx, const xb_flow_slot& content) {
    xb_flow_slot& s = st_->slots[idx];
    uint64_t gen = st_->next_generation++;
    std::atomic_ref<__u64>(s.seq).store(2 * gen + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    uint32_t words[12];
    static_assert(sizeof words == offsetof(xb_flow_slot, seq), "key and stats index are 12 words");
    std::memcpy(words, &content, sizeof words);
    auto* dst = reinterpret_cast<uint32_t*>(&s);
    for (size_t i = 0; i < 12; ++i) std::atomic_ref<__u32>(dst[i]).store(words[i], std::memory_order_relaxed);
    std::atomic_ref<__u32>(s.last_seen_jiffies).store(content.last_seen_jiffies, std::memory_order_relaxed);
    std::atomic_ref<__u32>(s.inserted_jiffies).store(content.inserted_jiffies, std::memory_order_relaxed);
    std::atomic_ref<__u64>(s.seq).store(2 * gen + 2, std::memory_order_release);
}

void FlowTable::move_slot(uint32_t from, uint32_t to) {
    xb_flow_slot c = st_->slots[from];
    c.last_seen_jiffies = load_last_seen(st_->slots[from]);
    write_slot(to, c);
}

std::optional<uint32_t> FlowTable::find_slot(const FlowKey& key, uint32_t home) const {
    // As the program looks: up to the first empty slot. (Robin-hood order would allow stopping at
    // the first key of a later home, but that costs a hash per slot, more than a key compare.)
    for (uint32_t p = home; p < home + XB_FLOW_WINDOW; ++p) {
        const xb_flow_slot& s = st_->slots[p];
        if (!occupied(s)) break;
        if (xb_flow_key_equal(&s.key, &key)) return p;
    }
    return std::nullopt;
}

// Robin hood: the key goes after the keys of its home and earlier homes, the keys after it move one
// slot on (each still within its window), the last of them into the first empty slot. Moves go from
// the end backwards, so a moving key is written to its new slot before its old slot changes.
bool FlowTable::place(const FlowKey& key, uint32_t stats_index, uint32_t home, uint32_t now32) {
    const uint32_t end = st_->slot_count + XB_FLOW_WINDOW - 1;  // slots a key may occupy: [0, end)
    uint32_t p = home;
    while (p < home + XB_FLOW_WINDOW && occupied(st_->slots[p]) &&
           home_slot(st_->slots[p].key) <= home)
        ++p;
    if (p >= home + XB_FLOW_WINDOW) return false;
    uint32_t e = p;
    while (e < end && occupied(st_->slots[e])) {
        if (e + 1 - home_slot(st_->slots[e].key) >= XB_FLOW_WINDOW) return false;
        ++e;
    }
    if (e >= end) return false;
    for (uint32_t q = e; q > p; --q) move_slot(q - 1, q);
    xb_flow_slot c{};
    c.key = key;
    c.stats_index = stats_index;
    c.last_seen_jiffies = now32;
    c.inserted_jiffies = now32;
    write_slot(p, c);
    ++st_->used_entries;
    return true;
}

// Removes the key at idx; the keys after it that are not in their home slot move one back.
void FlowTable::erase_at(uint32_t idx) {
    const uint32_t end = st_->slot_count + XB_FLOW_WINDOW - 1;
    xb_flow_slot& first = st_->slots[idx];
    std::atomic_ref<__u64>(first.seq).store(2 * st_->next_generation++ + 1, std::memory_order_release);
    uint32_t j = idx + 1;
    while (j < end && occupied(st_->slots[j]) && home_slot(st_->slots[j].key) < j) {
        move_slot(j, j - 1);
        ++j;
    }
    // The last slot of the shifted run still holds a copy (or the removed key): not valid, then empty.
    xb_flow_slot& last = st_->slots[j - 1];
    std::atomic_ref<__u64>(last.seq).store(2 * st_->next_generation++ + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    auto* w = reinterpret_cast<uint32_t*>(&last);
    for (size_t i = 0; i < 12; ++i) std::atomic_ref<__u32>(w[i]).store(0, std::memory_order_relaxed);
    std::atomic_ref<__u64>(last.seq).store(0, std::memory_order_release);
    --st_->used_entries;
}

// The slot of the other direction of the flow in slot p (found by hashing its key), if any.
std::optional<uint32_t> FlowTable::other_slot(uint32_t p) const {
    const xb_flow_slot& s = st_->slots[p];
    FlowKey rev = reverse_flow_key(s.key);
    if (flow_key_equal(rev, s.key)) return std::nullopt;
    auto q = find_slot(rev, home_slot(rev));
    if (q && st_->slots[*q].stats_index == (s.stats_index ^ 1u)) return q;
    return std::nullopt;
}

// Removes the flow in slot p, both directions, and returns its key (the forward direction's). The
// higher slot goes first: erasing a slot moves only keys after it.
FlowKey FlowTable::erase_flow(uint32_t p, bool free_id) {
    const FlowKey key = st_->slots[p].key;
    const uint32_t si = st_->slots[p].stats_index;
    auto q = other_slot(p);
    if (q && *q > p) erase_at(*q);
    erase_at(p);
    if (q && *q < p) erase_at(*q);
    const uint32_t flow = si / 2;
    st_->in_use[flow] = 0;
    --st_->used_flows;
    if (free_id) st_->free_dirty.push_back(flow);
    return (si & 1) && q ? reverse_flow_key(key) : key;
}

// lru: the slot of the flow seen longest ago (the later of its directions) among the keys in the
// `span` slots from home (wrapping around the table).
std::optional<uint32_t> FlowTable::victim_near(uint32_t home, uint32_t exclude_flow, uint32_t span) const {
    auto now = jiffies_now();
    uint32_t now32 = now ? static_cast<uint32_t>(*now) : 0;
    // Signed ages: a stamp can be later than now32 (packets stamp the kernel's jiffies, now32 is
    // extrapolated from a sample, and a VM's jiffies jump when it catches up lost ticks). That is a
    // negative age and the youngest, not a wrapped 49-day one, so the order stays the stamps' order.
    auto age_of = [now32](uint32_t stamp) { return static_cast<int32_t>(now32 - stamp); };
    std::optional<uint32_t> best;
    int32_t best_age = 0;
    const uint32_t end = st_->slot_count + XB_FLOW_WINDOW - 1;
    span = std::min(span, end);
    for (uint32_t i = 0; i < span; ++i) {
        uint32_t p = (home + i) % end;
        const xb_flow_slot& s = st_->slots[p];
        if (!occupied(s) || s.stats_index / 2 == exclude_flow) continue;
        int32_t age = age_of(load_last_seen(s));
        if (auto q = other_slot(p)) age = std::min(age, age_of(load_last_seen(st_->slots[*q])));
        if (!best || age > best_age) best = p, best_age = age;
    }
    return best;
}

// ---- counters -----------------------------------------------------------------------------------

// Both directions' counters of a flow (one system call), per CPU.
Result<std::vector<xb_flow_stats_elem>> FlowTable::read_stats(uint32_t flow) const {
    std::vector<xb_flow_stats_elem> values(st_->cpus);
    if (bpf_map_lookup_elem(st_->stats_fd, &flow, values.data()) != 0)
        return Error::from_errno(errno, "cannot read the counters of flow " + std::to_string(flow));
    return values;
}

// Zeroes the counters of up to max flow ids that left the table, in one system call (batch update).
Status FlowTable::zero_ids(std::vector<uint32_t> keys) const {
    if (keys.empty()) return {};
    std::vector<xb_flow_stats_elem> zero(keys.size() * st_->cpus);
    uint32_t count = static_cast<uint32_t>(keys.size());
    if (bpf_map_update_batch(st_->stats_fd, keys.data(), zero.data(), &count, nullptr) != 0) {
        for (uint32_t k : keys)
            if (bpf_map_update_elem(st_->stats_fd, &k, zero.data(), BPF_ANY) != 0)
                return Error::from_errno(errno, "cannot reset the counters of flow " + std::to_string(k));
    }
    return {};
}

Status FlowTable::zero_dirty(size_t max) {
    size_t n = std::min(max, st_->free_dirty.size());
    if (n == 0) return {};
    if (auto z = zero_ids(std::vector<uint32_t>(st_->free_dirty.end() - static_cast<long>(n), st_->free_dirty.end())); !z)
        return z;
    st_->free_clean.insert(st_->free_clean.end(), st_->free_dirty.end() - static_cast<long>(n), st_->free_dirty.end());
    st_->free_dirty.resize(st_->free_dirty.size() - n);
    return {};
}

Result<uint32_t> FlowTable::take_flow_id() {
    if (st_->free_clean.empty()) {
        if (auto z = zero_dirty(kZeroBatch); !z) return z.error();
    }
    if (st_->free_clean.empty()) return Error{E2BIG, ""};
    uint32_t f = st_->free_clean.back();
    st_->free_clean.pop_back();
    st_->in_use[f] = 1;
    ++st_->used_flows;
    return f;
}

// ---- public -------------------------------------------------------------------------------------

Status FlowTable::attach(bool adopted) {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    const uint32_t entries = xb_slot_array_entries(st_->slot_count);
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    st_->map_bytes = (static_cast<size_t>(entries) * sizeof(xb_flow_slot) + page - 1) / page * page;
    void* m = ::mmap(nullptr, st_->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, st_->slots_fd, 0);
    if (m == MAP_FAILED) return Error::from_errno(errno, "cannot map the flow table's slots");
    st_->slots = static_cast<xb_flow_slot*>(m);
    const uint32_t n = st_->flow_capacity;
    st_->in_use.assign(n, 0);
    auto* meta = reinterpret_cast<xb_table_meta*>(&st_->slots[entries - 1]);
    if (!adopted) {
        xb_table_meta fresh{};
        fresh.magic = XB_TABLE_MAGIC;
        fresh.slot_count = st_->slot_count;
        fresh.hash_key = st_->hash_key;
        fresh.seq = 1;
        std::memcpy(meta, &fresh, sizeof fresh);
        st_->free_clean.resize(n);
        for (uint32_t i = 0; i < n; ++i) st_->free_clean[i] = n - 1 - i;  // id 0 first
        return {};
    }
    if (meta->magic != XB_TABLE_MAGIC || meta->slot_count != st_->slot_count)
        return Error{EINVAL, "the pinned flow table has no metadata of this layout"};
    // Continue the sequence numbers (they must only grow), rebuild the mirror from the slots.
    uint64_t max_seq = 0;
    for (uint32_t p = 0; p + 1 < entries; ++p) {
        const xb_flow_slot& s = st_->slots[p];
        max_seq = std::max<uint64_t>(max_seq, s.seq);
        if (!occupied(s) || s.stats_index >= 2 * n) continue;
        if (!st_->in_use[s.stats_index / 2]) ++st_->used_flows;
        st_->in_use[s.stats_index / 2] = 1;
        ++st_->used_entries;
    }
    st_->next_generation = std::max<uint64_t>(st_->next_generation, max_seq / 2 + 1);
    // Free ids may hold the counts of flows the earlier run removed: zeroed before use.
    for (uint32_t i = n; i-- > 0;)
        if (!st_->in_use[i]) st_->free_dirty.push_back(i);
    return {};
}

Status FlowTable::insert_locked(const FlowKey& key, bool both) {
    auto now = jiffies_now();
    if (!now) return now.error();
    const uint32_t now32 = static_cast<uint32_t>(*now);
    FlowKey rev = reverse_flow_key(key);
    const bool two = both && !flow_key_equal(rev, key);
    const uint32_t hf = home_slot(key);
    const uint32_t hr = two ? home_slot(rev) : 0;
    __builtin_prefetch(&st_->slots[hr], 1);
    __builtin_prefetch(&st_->slots[hf], 1);
    auto at_f = find_slot(key, hf);
    auto at_r = two ? find_slot(rev, hr) : std::nullopt;
    if (at_f && (!two || at_r)) return {};  // already there: keep its counts
    if (at_f || at_r) {
        // One direction is there (inserted alone): the other joins its flow.
        uint32_t si = st_->slots[at_f ? *at_f : *at_r].stats_index ^ 1u;
        const FlowKey& missing = at_f ? rev : key;
        if (!place(missing, si, at_f ? hr : hf, now32)) {
            ++st_->counts.refused;
            return Error{E2BIG, "the flow table has no free slot within reach of flow " + flow_key_to_string(missing)};
        }
        return {};
    }
    auto id = take_flow_id();
    if (!id && id.error().code == E2BIG && st_->lru) {
        if (auto v = victim_near(hf, UINT32_MAX, kLruSpan)) {
            st_->evicted_log.push_back(erase_flow(*v));
            ++st_->counts.evicted;
            id = take_flow_id();
        }
    }
    if (!id) {
        if (id.error().code != E2BIG) return id.error();
        ++st_->counts.refused;
        return Error{E2BIG, "the flow table is full: it holds its " + std::to_string(st_->flow_capacity) +
                                " flows (flow-table size)"};
    }
    const uint32_t f = *id;
    // Each direction in its window; with lru, the flow seen longest ago in reach gives way.
    auto place_dir = [&](const FlowKey& k, uint32_t si, uint32_t home) -> bool {
        for (int attempt = 0; attempt < 4; ++attempt) {
            if (place(k, si, home, now32)) return true;
            if (!st_->lru) return false;
            auto v = victim_near(home, f, XB_FLOW_WINDOW);
            if (!v) return false;
            st_->evicted_log.push_back(erase_flow(*v));
            ++st_->counts.evicted;
        }
        return false;
    };
    bool ok = place_dir(key, 2 * f, hf);
    if (ok && two && !place_dir(rev, 2 * f + 1, hr)) {
        ok = false;
        if (auto at = find_slot(key, hf)) erase_at(*at);  // both directions or neither
    }
    if (!ok) {
        st_->in_use[f] = 0;
        --st_->used_flows;
        st_->free_dirty.push_back(f);  // a packet may have counted on the forward entry meanwhile
        ++st_->counts.refused;
        return Error{E2BIG, "the flow table has no free slot within reach of flow " + flow_key_to_string(key) + " (" +
                                std::to_string(XB_FLOW_WINDOW) + " slots from its home slot are taken)"};
    }
    ++st_->counts.accepted;
    return {};
}

Status FlowTable::insert(const FlowKey& key) {
    RequestLock lock(*st_);
    return insert_locked(key, true);
}

Status FlowTable::insert_one(const FlowKey& key) {
    RequestLock lock(*st_);
    return insert_locked(key, false);
}

Status FlowTable::remove(const FlowKey& key) {
    FlowKey rev = reverse_flow_key(key);
    const uint32_t hf = home_slot(key), hr = home_slot(rev);
    RequestLock lock(*st_);
    // Both windows are fetched at once: at a million flows each is a cache miss of its own.
    __builtin_prefetch(&st_->slots[hr], 1);
    __builtin_prefetch(&st_->slots[hf], 1);
    auto at = find_slot(key, hf);
    if (!at) at = find_slot(rev, hr);
    if (!at) return {};
    erase_flow(*at);
    ++st_->counts.removed;
    // The flow id's counters are zeroed later, in batches (expire(), or the next insert that needs one).
    return {};
}

std::optional<FlowStats> FlowTable::lookup(const FlowKey& key) const {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    auto at = find_slot(key, home_slot(key));
    if (!at) return std::nullopt;
    const xb_flow_slot& s = st_->slots[*at];
    auto values = read_stats(s.stats_index / 2);
    auto now = jiffies_now();
    if (!values || !now) return std::nullopt;
    return to_stats(values->data(), s.stats_index & 1, load_last_seen(s), *now, monotonic_coarse_ns());
}

Result<std::vector<FlowEntry>> FlowTable::entries() const {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    std::vector<uint8_t> raw;
    const size_t per_flow = sizeof(xb_flow_stats_elem) * st_->cpus;
    if (auto st = read_array(st_->stats_fd, st_->flow_capacity, per_flow, raw); !st) return st.error();
    auto now = jiffies_now();
    if (!now) return now.error();
    uint64_t mono = monotonic_coarse_ns();
    std::vector<FlowEntry> out;
    for (uint32_t p = 0; p < st_->slot_count + XB_FLOW_WINDOW - 1; ++p) {
        const xb_flow_slot& s = st_->slots[p];
        if (!occupied(s)) continue;
        uint32_t si = s.stats_index;
        out.push_back(FlowEntry{s.key, to_stats(reinterpret_cast<const xb_flow_stats_elem*>(raw.data() + (si / 2) * per_flow),
                                                si & 1, load_last_seen(s), *now, mono)});
    }
    return out;
}

// A scan of the slots in order (the mapping read front to back, which the CPU prefetches). The
// scan itself runs without the writer lock (seq and last seen are atomics, as the program reads
// them): a table with nothing idle is swept without taking it once. At a slot idle for longer than
// the timeout the sweep takes the lock for at most kSweepSlots slots or kSweepExpiries expiries:
// a direction idle makes the other one be looked up, and the flow goes only when both are idle.
// What leaves is taken out of the slots under the lock, its flow id held out of the free lists;
// its counters are read after the lock is released (a system call per flow) and zeroed (one per
// chunk), then the ids are freed clean. Last, the counters of ids that remove() freed are zeroed,
// kSweepZeroBatch per hold.
FlowTable::SweepHolds FlowTable::last_sweep_holds() const {
    return {st_->sweep_holds.load(), st_->sweep_longest_hold_cpu_ns.load(), st_->sweep_longest_hold_wall_ns.load()};
}

Result<std::vector<ExpiredFlow>> FlowTable::expire(uint64_t now_ns, uint64_t timeout_ns) {
    std::vector<ExpiredFlow> out;
    st_->sweep_holds.store(0);
    st_->sweep_longest_hold_cpu_ns.store(0);
    st_->sweep_longest_hold_wall_ns.store(0);
    const uint32_t end = st_->slot_count + XB_FLOW_WINDOW - 1;
    uint64_t now_j = 0;
    int64_t timeout_j = 0;
    {
        std::lock_guard<std::mutex> lock(st_->write_mutex);
        auto jnow = jiffies_now();
        if (!jnow) return jnow.error();
        // now_ns (the caller's CLOCK_MONOTONIC) in jiffies
        const KernelClockSample& c = st_->cached_clock;
        const uint64_t nspj = st_->ns_per_jiffy.load();
        now_j = now_ns >= c.monotonic_ns ? c.jiffies + (now_ns - c.monotonic_ns) / nspj
                                         : c.jiffies - std::min(c.jiffies, (c.monotonic_ns - now_ns) / nspj);
        timeout_j = static_cast<int64_t>(timeout_ns / nspj);
    }
    const uint32_t now32 = static_cast<uint32_t>(now_j);
    auto idle = [&](const xb_flow_slot& s) { return static_cast<int32_t>(now32 - load_last_seen(s)) > timeout_j; };
    // A flow taken out of the slots whose counters are not read yet.
    struct Direction {
        FlowKey key;
        uint32_t dir, last_seen, inserted;
    };
    struct Leaving {
        uint32_t flow = 0;
        Direction d[2];
        unsigned n = 0;
    };
    std::vector<Leaving> leaving;
    leaving.reserve(kSweepExpiries);
    uint32_t p = 0;
    while (p < end) {
        // Without the lock: on to the next slot that may expire.
        while (p < end && !(occupied(st_->slots[p]) && idle(st_->slots[p]))) ++p;
        if (p >= end) break;
        leaving.clear();
        {
            let_requests_in(*st_);
            std::lock_guard<std::mutex> lock(st_->write_mutex);
            SweepHoldClock timed(*st_);
            const uint32_t stop = std::min(end, p + kSweepSlots);
            while (p < stop && leaving.size() < kSweepExpiries) {
                const xb_flow_slot& s = st_->slots[p];
                if (!occupied(s) || !idle(s)) {
                    ++p;
                    continue;
                }
                auto q = other_slot(p);
                if (q && !idle(st_->slots[*q])) {
                    ++p;
                    continue;
                }
                Leaving l;
                l.flow = s.stats_index / 2;
                for (std::optional<uint32_t> at : {std::optional<uint32_t>(p), q}) {
                    if (!at) continue;
                    const xb_flow_slot& d = st_->slots[*at];
                    l.d[l.n++] = Direction{d.key, d.stats_index & 1, load_last_seen(d), d.inserted_jiffies};
                }
                erase_flow(p, false);  // slot p now holds the key after it, if that one moved back: looked at next
                ++st_->counts.expired;
                leaving.push_back(l);
            }
        }
        // Without the lock: the counters, one system call per flow (their ids are still held).
        Status read_ok;
        for (const Leaving& l : leaving) {
            if (read_ok) {
                auto values = read_stats(l.flow);
                if (!values) {
                    read_ok = values.error();
                    continue;
                }
                ExpiredFlow e;
                for (unsigned i = 0; i < l.n; ++i) {
                    const Direction& d = l.d[i];
                    FlowStats fs = to_stats(values->data(), d.dir, d.last_seen, now_j, now_ns);
                    uint64_t inserted = jiffies_to_mono(d.inserted, now_j, now_ns);
                    if (d.dir == 0) e.key = d.key;
                    else if (l.n == 1) e.key = reverse_flow_key(d.key);
                    e.first_seen_ns = i == 0 ? inserted : std::min(e.first_seen_ns, inserted);
                    e.last_seen_ns = std::max(e.last_seen_ns, fs.last_seen_ns);
                    (d.dir == 0 ? e.forward : e.reverse) = fs;
                }
                out.push_back(e);
            }
        }
        if (!leaving.empty()) {
            // Still without the lock: their counters zeroed (one system call), so the ids go back clean.
            std::vector<uint32_t> ids;
            for (const Leaving& l : leaving) ids.push_back(l.flow);
            const bool zeroed = read_ok && zero_ids(ids);
            std::lock_guard<std::mutex> lock(st_->write_mutex);
            auto& free = zeroed ? st_->free_clean : st_->free_dirty;
            free.insert(free.end(), ids.begin(), ids.end());
        }
        if (!read_ok) return read_ok.error();
    }
    // What is dirty now, not what concurrent removes add meanwhile (the next sweep zeroes those):
    // a stream of removes cannot keep the sweep going.
    size_t dirty = 0;
    {
        std::lock_guard<std::mutex> lock(st_->write_mutex);
        dirty = st_->free_dirty.size();
    }
    while (dirty > 0) {
        let_requests_in(*st_);
        std::lock_guard<std::mutex> lock(st_->write_mutex);
        SweepHoldClock timed(*st_);
        if (st_->free_dirty.empty()) break;
        const size_t n = std::min({dirty, kSweepZeroBatch, st_->free_dirty.size()});
        if (auto z = zero_dirty(n); !z) return z.error();
        dirty -= n;
    }
    return out;
}

Result<FlowTable::Occupancy> FlowTable::occupancy() const {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    Occupancy o;
    o.slots = static_cast<size_t>(st_->slot_count) + XB_FLOW_WINDOW - 1;
    o.flows = st_->used_entries;
    o.never_used = o.slots - o.flows;
    o.flow_units = st_->used_flows;
    o.capacity = st_->flow_capacity;
    return o;
}

FlowTableCounts FlowTable::counts() const {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    return st_->counts;
}

void FlowTable::replace_clock(std::function<Result<KernelClockSample>()> clock) {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    st_->clock = std::move(clock);
    st_->cached_clock = {};
}

std::vector<FlowKey> FlowTable::take_evicted() {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    return std::exchange(st_->evicted_log, {});
}

FlowTable::Memory FlowTable::memory() const {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    Memory m;
    m.kernel_bytes = map_memlock(st_->slots_fd) + map_memlock(st_->stats_fd);
    m.user_bytes = (st_->free_clean.capacity() +
                    st_->free_dirty.capacity()) * sizeof(uint32_t) + st_->in_use.capacity();
    return m;
}

}  // namespace xb::datapath
