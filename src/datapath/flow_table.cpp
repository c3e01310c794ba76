#include "datapath/flow_table.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xb_table.h"

namespace xb::datapath {

namespace {

bool valid(const xb_flow_slot& s) { return s.seq != 0 && (s.seq & 1) == 0; }

// Reads `count` consecutive array values starting at index 0: in batches of 4096 where the kernel
// has array batch lookups (5.6+), else one lookup per index. The batch position is the last index
// read (the kernel continues with the one after it).
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
            return Error::from_errno(errno, "cannot read flow table slot " + std::to_string(i));
    return {};
}

}  // namespace

Result<KernelClockSample> FlowTable::clock_sample() const {
    auto now = st_->clock();
    if (!now) return now;
    if (st_->ns_per_jiffy.load() == 0) {
        uint64_t hz = now->hz;
        if (hz == 0) {
            // No kernel config to read CONFIG_HZ from: count jiffies over 120 ms and take the nearest
            // HZ the kernel can be built with.
            ::usleep(120000);
            auto later = st_->clock();
            if (!later) return later;
            double measured = static_cast<double>(later->jiffies - now->jiffies) * 1e9 /
                              static_cast<double>(std::max<uint64_t>(later->monotonic_ns - now->monotonic_ns, 1));
            hz = 100;
            for (uint64_t choice : {100ull, 250ull, 300ull, 1000ull})
                if (std::abs(measured - static_cast<double>(choice)) < std::abs(measured - static_cast<double>(hz)))
                    hz = choice;
            now = later;
        }
        st_->ns_per_jiffy.store(1000000000ull / hz);
    }
    return now;
}

Result<uint64_t> FlowTable::jiffies_from_now(uint64_t seconds) const {
    auto now = clock_sample();
    if (!now) return now.error();
    return now->jiffies + seconds * 1000000000ull / st_->ns_per_jiffy.load();
}

FlowStats FlowTable::to_stats(const xb_flow_value* per_cpu, const KernelClockSample& now) const {
    FlowStats s;
    uint64_t last = 0;
    for (unsigned c = 0; c < st_->cpus; ++c) {
        s.packets += per_cpu[c].packets;
        s.bytes += per_cpu[c].bytes;
        last = std::max<uint64_t>(last, per_cpu[c].last_seen_jiffies);
    }
    uint64_t age = last < now.jiffies ? (now.jiffies - last) * st_->ns_per_jiffy.load() : 0;
    s.last_seen_ns = now.monotonic_ns > age ? now.monotonic_ns - age : 0;
    return s;
}

Result<std::optional<uint32_t>> FlowTable::find(const FlowKey& key) const {
    uint32_t home = xb_slot_hash(&key);
    for (uint32_t i = 0; i < XB_FLOW_WINDOW; ++i) {
        uint32_t idx = (home + i) & mask();
        xb_flow_slot s{};
        if (bpf_map_lookup_elem(st_->slots_fd, &idx, &s) != 0)
            return Error::from_errno(errno, "cannot read flow table slot " + std::to_string(idx));
        if (s.seq == 0) break;
        if (valid(s) && xb_flow_key_equal(&s.key, &key)) return std::optional<uint32_t>(idx);
    }
    return std::optional<uint32_t>{};
}

Status FlowTable::write_slot(uint32_t idx, const FlowKey& key, uint64_t seq) const {
    xb_flow_slot s{};
    s.key = key;
    s.seq = seq;
    if (bpf_map_update_elem(st_->slots_fd, &idx, &s, BPF_ANY) != 0)
        return Error::from_errno(errno, "cannot write flow table slot " + std::to_string(idx));
    return {};
}

Status FlowTable::reset_stats(uint32_t idx, uint64_t now_jiffies) const {
    std::vector<xb_flow_value> values(st_->cpus);
    for (auto& v : values) v.last_seen_jiffies = now_jiffies;
    if (bpf_map_update_elem(st_->stats_fd, &idx, values.data(), BPF_ANY) != 0)
        return Error::from_errno(errno, "cannot reset the counters of flow table slot " + std::to_string(idx));
    return {};
}

Result<std::vector<xb_flow_value>> FlowTable::read_stats(uint32_t idx) const {
    std::vector<xb_flow_value> values(st_->cpus);
    if (bpf_map_lookup_elem(st_->stats_fd, &idx, values.data()) != 0)
        return Error::from_errno(errno, "cannot read the counters of flow table slot " + std::to_string(idx));
    return values;
}

Result<bool> FlowTable::insert_locked(const FlowKey& key, const KernelClockSample& now) {
    uint32_t home = xb_slot_hash(&key);
    std::optional<uint32_t> free_slot;
    std::vector<uint32_t> window;  // valid slots in reach, for lru
    for (uint32_t i = 0; i < XB_FLOW_WINDOW; ++i) {
        uint32_t idx = (home + i) & mask();
        xb_flow_slot s{};
        if (bpf_map_lookup_elem(st_->slots_fd, &idx, &s) != 0)
            return Error::from_errno(errno, "cannot read flow table slot " + std::to_string(idx));
        if (valid(s)) {
            if (xb_flow_key_equal(&s.key, &key)) return false;  // already there: keep its counts
            window.push_back(idx);
            continue;
        }
        if (!free_slot) free_slot = idx;
        if (s.seq == 0) break;  // nothing of ours beyond a never-used slot
    }
    if (!free_slot) {
        if (!st_->lru)
            return Error{E2BIG, "the flow table has no free slot within reach of flow " + flow_key_to_string(key) +
                                    " (" + std::to_string(XB_FLOW_WINDOW) + " slots from its home slot are taken)"};
        // lru: the entry seen longest ago in reach gives way.
        uint32_t victim = window.front();
        uint64_t oldest = UINT64_MAX;
        for (uint32_t idx : window) {
            auto v = read_stats(idx);
            if (!v) return v.error();
            uint64_t last = 0;
            for (const auto& c : *v) last = std::max<uint64_t>(last, c.last_seen_jiffies);
            if (last < oldest) oldest = last, victim = idx;
        }
        if (auto st = remove_at(victim, /*clear_path=*/false); !st) return st.error();
        free_slot = victim;
    }
    if (auto st = reset_stats(*free_slot, now.jiffies); !st) return st.error();
    uint64_t gen = st_->next_generation++;
    if (auto st = write_slot(*free_slot, key, 2 * gen + 1); !st) return st.error();
    if (auto st = write_slot(*free_slot, key, 2 * gen + 2); !st) return st.error();
    return true;
}

Status FlowTable::insert_one(const FlowKey& key) {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    auto now = clock_sample();
    if (!now) return now.error();
    auto r = insert_locked(key, *now);
    if (!r) return r.error();
    return {};
}

Status FlowTable::insert(const FlowKey& key) {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    auto now = clock_sample();
    if (!now) return now.error();
    auto forward = insert_locked(key, *now);
    if (!forward) return forward.error();
    FlowKey rev = reverse_flow_key(key);
    if (flow_key_equal(rev, key)) return {};
    auto reverse = insert_locked(rev, *now);
    if (!reverse) {
        if (*forward) {  // both directions or neither
            auto idx = find(key);
            if (idx && *idx) (void)remove_at(**idx, true);
        }
        return reverse.error();
    }
    return {};
}

Status FlowTable::remove_at(uint32_t idx, bool clear_path) {
    xb_flow_slot s{};
    if (bpf_map_lookup_elem(st_->slots_fd, &idx, &s) != 0)
        return Error::from_errno(errno, "cannot read flow table slot " + std::to_string(idx));
    // Not valid any more, key unchanged (a reader comparing it now sees the seq change), then cleared.
    uint64_t gen = st_->next_generation++;
    if (auto st = write_slot(idx, s.key, 2 * gen + 1); !st) return st;
    if (auto st = write_slot(idx, FlowKey{}, 2 * gen + 1); !st) return st;
    if (!clear_path) return {};
    // Emptied slots right before a never-used one are on nobody's probe path: mark them never used
    // again, so that lookups stop early. Seqs still only grow for valid keys (the generation does).
    uint32_t next_idx = (idx + 1) & mask();
    xb_flow_slot next{};
    if (bpf_map_lookup_elem(st_->slots_fd, &next_idx, &next) != 0 || next.seq != 0) return {};
    uint32_t j = idx;
    for (uint32_t steps = 0; steps < st_->slot_count; ++steps) {
        xb_flow_slot cur{};
        if (bpf_map_lookup_elem(st_->slots_fd, &j, &cur) != 0 || cur.seq == 0 || valid(cur)) break;
        if (auto st = write_slot(j, FlowKey{}, 0); !st) return st;
        j = (j - 1) & mask();
    }
    return {};
}

Status FlowTable::remove_locked(const FlowKey& key) {
    auto idx = find(key);
    if (!idx) return idx.error();
    if (!*idx) return {};
    return remove_at(**idx, true);
}

Status FlowTable::remove(const FlowKey& key) {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    if (auto st = remove_locked(key); !st) return st;
    return remove_locked(reverse_flow_key(key));
}

std::optional<FlowStats> FlowTable::lookup(const FlowKey& key) const {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    auto idx = find(key);
    if (!idx || !*idx) return std::nullopt;
    auto values = read_stats(**idx);
    auto now = clock_sample();
    if (!values || !now) return std::nullopt;
    return to_stats(values->data(), *now);
}

Result<std::vector<xb_flow_slot>> FlowTable::read_all_slots() const {
    std::vector<uint8_t> raw;
    if (auto st = read_array(st_->slots_fd, st_->slot_count, sizeof(xb_flow_slot), raw); !st) return st.error();
    std::vector<xb_flow_slot> slots(st_->slot_count);
    std::memcpy(slots.data(), raw.data(), raw.size());
    return slots;
}

Result<std::vector<FlowEntry>> FlowTable::entries() const {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    auto slots = read_all_slots();
    if (!slots) return slots.error();
    std::vector<uint8_t> raw;
    const size_t per_slot = sizeof(xb_flow_value) * st_->cpus;
    if (auto st = read_array(st_->stats_fd, st_->slot_count, per_slot, raw); !st) return st.error();
    auto now = clock_sample();
    if (!now) return now.error();
    std::vector<FlowEntry> out;
    for (uint32_t i = 0; i < st_->slot_count; ++i) {
        if (!valid((*slots)[i])) continue;
        out.push_back(FlowEntry{(*slots)[i].key,
                                to_stats(reinterpret_cast<const xb_flow_value*>(raw.data() + i * per_slot), *now)});
    }
    return out;
}

Result<FlowTable::Occupancy> FlowTable::occupancy() const {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    auto slots = read_all_slots();
    if (!slots) return slots.error();
    Occupancy o;
    o.slots = slots->size();
    for (const auto& s : *slots) {
        if (s.seq == 0) ++o.never_used;
        else if (valid(s)) ++o.flows;
        else ++o.removed;
    }
    return o;
}

Status FlowTable::adopt_existing() {
    std::lock_guard<std::mutex> lock(st_->write_mutex);
    auto slots = read_all_slots();
    if (!slots) return slots.error();
    uint64_t max_seq = 0;
    for (const auto& s : *slots) max_seq = std::max<uint64_t>(max_seq, s.seq);
    st_->next_generation = std::max<uint64_t>(st_->next_generation, max_seq / 2 + 1);
    return {};
}

}  // namespace xb::datapath
