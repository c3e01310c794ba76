#include "datapath/program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <type_traits>
#include <utility>

#include "common/log.h"
#include "datapath/kernel_clock.h"
#include "datapath/object_setup.h"
#include "xb_table.h"
#include "xb_bypass.skel.h"

namespace xb::datapath {

namespace {

constexpr uint32_t kMaxFlowTableSize = 1u << 26;  // 64M entries: far beyond any sane memory budget
constexpr uint32_t kMaxCpumapQueue = 16384;       // the kernel's cpumap qsize limit

constexpr const char* kFlowSlots = "xb_flow_slots";
constexpr const char* kFlowStats = "xb_flow_stats";
constexpr const char* kCounters = "xb_counters";

using detail::possible_cpu_count;

}  // namespace

bool validate_options(const ProgramOptions& o, Diagnostics& diags) {
    size_t before = diags.count(Severity::Error);
    if (o.datapath == Hook::Tc && !o.cpu_redirect.empty())
        diags.error("XB3001", "cpu redirect is an XDP action, and the tc datapath cannot redirect to a CPU",
                    "remove cpu-redirect or use an XDP datapath");
    if (o.cpu_redirect.size() > XB_MAX_REDIRECT_CPUS)
        diags.error("XB3002",
                    "cpu redirect lists " + std::to_string(o.cpu_redirect.size()) + " CPUs, more than the " +
                        std::to_string(XB_MAX_REDIRECT_CPUS) + " the program holds",
                    "list at most " + std::to_string(XB_MAX_REDIRECT_CPUS) + " CPUs");
    std::set<unsigned> seen;
    unsigned possible = possible_cpu_count();
    for (unsigned cpu : o.cpu_redirect) {
        if (!seen.insert(cpu).second)
            diags.error("XB3002", "CPU " + std::to_string(cpu) + " appears twice in the cpu redirect list",
                        "list each CPU once");
        if (cpu >= possible)
            diags.error("XB3003",
                        "CPU " + std::to_string(cpu) + " does not exist (this machine has " + std::to_string(possible) +
                            " possible CPUs)",
                        "use CPUs listed in /sys/devices/system/cpu/online");
    }
    if (o.flow_table_size == 0 || o.flow_table_size > kMaxFlowTableSize)
        diags.error("XB3004",
                    "flow table size " + std::to_string(o.flow_table_size) + " is outside 1-" +
                        std::to_string(kMaxFlowTableSize),
                    "set flow-table size to a value in that range");
    if (o.ips_peer_ifindex < 0)
        diags.error("XB3005", "IPS peer ifindex " + std::to_string(o.ips_peer_ifindex) + " is negative",
                    "give the interface index of the IPS peer, or 0 for none");
    if (!o.cpu_redirect.empty() && (o.cpumap_queue_size == 0 || o.cpumap_queue_size > kMaxCpumapQueue))
        diags.error("XB3006",
                    "cpumap queue size " + std::to_string(o.cpumap_queue_size) + " is outside 1-" +
                        std::to_string(kMaxCpumapQueue),
                    "use a queue size the kernel accepts, e.g. 2048");
    if (o.xsk_queues > 0 && o.datapath == Hook::Tc)
        diags.error("XB3007",
                    "AF_XDP capture needs the bypass program at the XDP hook, and the tc datapath cannot redirect "
                    "into an AF_XDP socket",
                    "use an XDP datapath (xdp-native or xdp-generic), or capture with AF_PACKET");
    if (o.xsk_queues > 0 && !o.cpu_redirect.empty())
        diags.error("XB3008",
                    "AF_XDP capture and cpu redirect both want the frames that are not bypassed, and a frame can be "
                    "redirected to one place only",
                    "remove cpu-redirect (the AF_XDP sockets spread the load by receive queue), or capture with "
                    "AF_PACKET");
    return diags.count(Severity::Error) == before;
}

uint64_t Counters::total_packets() const {
    return value[XB_CNT_PASS] + value[XB_CNT_DROP] + value[XB_CNT_IPS_FORWARD] + value[XB_CNT_CPU_REDIRECT] +
           value[XB_CNT_XSK_REDIRECT];
}

std::string_view counter_name(enum xb_counter c) {
    switch (c) {
    case XB_CNT_PASS: return "pass";
    case XB_CNT_DROP: return "drop";
    case XB_CNT_IPS_FORWARD: return "ips-forward";
    case XB_CNT_CPU_REDIRECT: return "cpu-redirect";
    case XB_CNT_REDIRECT_FAIL: return "redirect-failure";
    case XB_CNT_PARSE_ERROR: return "parse-error";
    case XB_CNT_FRAGMENT: return "fragment";
    case XB_CNT_HIT: return "hit";
    case XB_CNT_MISS: return "miss";
    case XB_CNT_NOT_IP: return "not-ip";
    case XB_CNT_ORPHANED: return "orphaned";
    case XB_CNT_XSK_REDIRECT: return "xsk-redirect";
    case XB_CNT_MAX: break;
    }
    return "unknown";
}

// ---- BypassProgram -----------------------------------------------------------------------------

BypassProgram::BypassProgram(BypassProgram&& o) noexcept
    : options_(std::move(o.options_)), manifest_(o.manifest_), skel_(std::exchange(o.skel_, nullptr)),
      possible_cpus_(o.possible_cpus_), table_(std::move(o.table_)) {}

BypassProgram& BypassProgram::operator=(BypassProgram&& o) noexcept {
    if (this != &o) {
        if (skel_) xb_bypass__destroy(skel_);
        options_ = std::move(o.options_);
        manifest_ = o.manifest_;
        skel_ = std::exchange(o.skel_, nullptr);
        possible_cpus_ = o.possible_cpus_;
        table_ = std::move(o.table_);
    }
    return *this;
}

BypassProgram::~BypassProgram() {
    if (skel_) xb_bypass__destroy(skel_);
}

namespace {

// A new table's slot hash key: random, so that which flows share a probe window is not known outside.
Result<xb_hash_key> random_hash_key() {
    xb_hash_key hk{};
    size_t got = 0;
    while (got < sizeof hk.k) {
        ssize_t n = ::getrandom(reinterpret_cast<char*>(hk.k) + got, sizeof hk.k - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error::from_errno(errno, "cannot draw the flow table's hash key");
        got += static_cast<size_t>(n);
    }
    hk.v4_tail = xb_hash_v4_tail(&hk);
    return hk;
}

// The hash key kept in the metadata slot of an earlier run's (pinned) slots.
Result<xb_hash_key> pinned_hash_key(int fd, uint32_t slot_count) {
    const uint32_t entries = xb_slot_array_entries(slot_count);
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t bytes = (static_cast<size_t>(entries) * sizeof(xb_flow_slot) + page - 1) / page * page;
    void* m = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return Error::from_errno(errno, "cannot map the pinned flow table");
    xb_table_meta meta{};
    std::memcpy(&meta, static_cast<const xb_flow_slot*>(m) + entries - 1, sizeof meta);
    ::munmap(m, bytes);
    if (meta.magic != XB_TABLE_MAGIC || meta.slot_count != slot_count)
        return Error{EINVAL, "the pinned flow table has no metadata of this layout (its hash key is unknown)"};
    return meta.hash_key;
}

}  // namespace

std::vector<MapSpec> pinnable_maps(const ProgramOptions& options) {
    const uint32_t slots = xb_slot_array_entries(xb_slot_count(options.flow_table_size));
    return {
        MapSpec{kFlowSlots, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(struct xb_flow_slot), slots, BPF_F_MMAPABLE},
        MapSpec{kFlowStats, flow_stats_map_type(options.flow_table_percpu), sizeof(uint32_t),
                sizeof(struct xb_flow_stats_elem), options.flow_table_size, 0},
        MapSpec{kCounters, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t), sizeof(struct xb_counters), 1, 0},
    };
}

Result<BypassProgram> BypassProgram::load(const ProgramOptions& options, Diagnostics& diags,
                                          const ObjectLoader& loader) {
    if (!validate_options(options, diags)) return Error{EINVAL, "invalid bypass program options"};
    auto fail = [&](const char* code, int err, std::string what, std::string hint) -> Error {
        return detail::load_error(diags, code, err, std::move(what), std::move(hint));
    };

    BypassProgram p;
    p.options_ = options;
    p.possible_cpus_ = possible_cpu_count();
    const bool cpu = !options.cpu_redirect.empty();
    const bool ips = options.ips_peer_ifindex > 0;
    const bool xsk = options.xsk_queues > 0;
    p.manifest_ = select_manifest(options.datapath, cpu, ips, xsk);
    if (!p.manifest_) return Error{EINVAL, "no built-in program for these options"};  // excluded by validate

    p.skel_ = xb_bypass__open();
    if (!p.skel_)
        return fail("XB3010", errno, "cannot open the built-in BPF object",
                    "check that libbpf matches the one xbypass was built with");
    bpf_object* obj = p.skel_->obj;

    detail::keep_only_program(obj, p.manifest_->program);
    const uint32_t slots = xb_slot_count(options.flow_table_size);
    bpf_map* flow_stats = p.skel_->maps.xb_flow_stats;
    int err = bpf_map__set_max_entries(p.skel_->maps.xb_flow_slots, xb_slot_array_entries(slots));
    if (!err) err = bpf_map__set_type(flow_stats, flow_stats_map_type(options.flow_table_percpu));
    if (!err) err = bpf_map__set_max_entries(flow_stats, options.flow_table_size);
    if (!err) err = detail::prepare_action_maps(p.skel_->maps.xb_cpu_map, p.skel_->maps.xb_ips_devmap, options, p.possible_cpus_);
    // One slot per receive queue; the receivers (capture/af_xdp.h) put their sockets in.
    if (!err && xsk) err = bpf_map__set_max_entries(p.skel_->maps.xb_xsk_map, options.xsk_queues);
    if (!err && !xsk) err = bpf_map__set_autocreate(p.skel_->maps.xb_xsk_map, false);
    if (err) return fail("XB3010", -err, "cannot prepare the maps of the built-in BPF object", "");
    // Adopted maps keep their contents: the flows bypassed by the earlier run stay bypassed.
    for (const auto& [name, fd] : options.reuse_maps) {
        bpf_map* m = bpf_object__find_map_by_name(obj, name.c_str());
        err = m ? bpf_map__reuse_fd(m, fd) : -ENOENT;
        if (err) return fail("XB3010", -err, "cannot adopt the pinned map " + name + " of an earlier run", "");
    }

    p.skel_->rodata->cfg_vlan_tracking = options.vlan_tracking ? 1 : 0;
    p.skel_->rodata->cfg_flow_percpu = options.flow_table_percpu ? 1 : 0;
    p.skel_->rodata->cfg_cpu_count = static_cast<uint32_t>(options.cpu_redirect.size());
    for (size_t i = 0; i < options.cpu_redirect.size(); ++i)
        p.skel_->rodata->cfg_cpu_ids[i] = options.cpu_redirect[i];
    p.skel_->data_ips_peer->xb_tc_ips_peer = static_cast<uint32_t>(std::max(options.ips_peer_ifindex, 0));
    p.skel_->rodata->cfg_slot_count = slots;
    // The slot hash key: the adopted table's own (its keys live where that key put them), or new.
    auto reused_slots = options.reuse_maps.find(kFlowSlots);
    auto hash_key = reused_slots != options.reuse_maps.end() ? pinned_hash_key(reused_slots->second, slots)
                                                             : random_hash_key();
    if (!hash_key) return fail("XB3010", hash_key.error().code, hash_key.error().message, "");
    std::memcpy(const_cast<xb_hash_key*>(&p.skel_->rodata->cfg_hash_key), &*hash_key, sizeof(xb_hash_key));

    // The flow table's clock comes first: the lease is part of the object the kernel loads, so the
    // program is never attached without one (libxdp attaches while it loads).
    auto clock = KernelClock::load();
    if (!clock) return fail("XB3011", clock.error().code, clock.error().message, "check that the kernel runs XDP programs");
    auto state = std::make_shared<FlowTableState>();
    state->slot_count = slots;
    state->flow_capacity = options.flow_table_size;
    state->hash_key = *hash_key;
    state->percpu = options.flow_table_percpu;
    state->lru = options.flow_table_lru;
    state->cpus = options.flow_table_percpu ? p.possible_cpus_ : 1;
    state->clock = [c = std::move(clock).value()] { return c->sample(); };
    if (options.lease_seconds) {
        auto until = FlowTable(state).jiffies_from_now(options.lease_seconds);
        if (!until) return fail("XB3011", until.error().code, until.error().message, "check that the kernel runs XDP programs");
        p.skel_->bss->xb_lease_until = *until;
    }

    const std::string program(p.manifest_->program);
    if (loader) {
        // The skeleton's mmaped views of the global data stay unmapped: nothing here reads them
        // after load (the load-time constants are frozen by then).
        if (auto st = loader(obj, program); !st)
            return fail("XB3011", st.error().code, st.error().message,
                        "the verifier log above says why; check that the kernel supports the program's map types "
                        "and helpers (xbypass probe)");
    } else if ((err = xb_bypass__load(p.skel_))) {
        return fail("XB3011", -err, "the kernel refused to load BPF program " + program,
                    "the verifier log above says why; check that the kernel supports the program's map types "
                    "and helpers (xbypass probe)");
    }

    if (auto st = detail::fill_action_maps(p.skel_->maps.xb_cpu_map, p.skel_->maps.xb_ips_devmap, options, diags); !st)
        return st.error();
    state->slots_fd = bpf_map__fd(p.skel_->maps.xb_flow_slots);
    state->stats_fd = bpf_map__fd(flow_stats);
    p.table_ = std::move(state);
    if (auto st = p.flow_table().attach(options.reuse_maps.count(kFlowSlots) > 0); !st)
        return fail("XB3010", st.error().code, st.error().message, "");
    log_event(LogLevel::Info, "datapath", "XB5044", "loaded BPF program " + std::string(p.manifest_->program) + " (flow table for " +
                             std::to_string(options.flow_table_size) + " flows in " + std::to_string(slots) + " slots, " +
                             (options.flow_table_percpu ? "per-CPU" : "shared") + " counters" +
                             (options.flow_table_lru ? ", lru" : "") + ", vlan tracking " +
                             (options.vlan_tracking ? "on" : "off") +
                             (xsk ? ", AF_XDP sockets for " + std::to_string(options.xsk_queues) + " queues" : "") +
                             ")");
    return p;
}

int BypassProgram::prog_fd() const { return detail::program_fd(skel_->obj, manifest_->program); }

int BypassProgram::map_fd(std::string_view name) const { return detail::map_fd(skel_->obj, name); }

FlowTable BypassProgram::flow_table() const { return FlowTable(table_); }

Result<Counters> BypassProgram::read_counters() const { return detail::sum_counters(map_fd(kCounters), possible_cpus_); }

Status BypassProgram::reset_counters() {
    std::vector<struct xb_counters> zero(possible_cpus_);
    uint32_t key = 0;
    if (bpf_map_update_elem(map_fd(kCounters), &key, zero.data(), 0) != 0)
        return Error::from_errno(errno, "cannot reset the bypass counters");
    return {};
}

Status BypassProgram::set_ips_peer(int ifindex) {
    if (options_.ips_peer_ifindex <= 0) return Error{EINVAL, "the program has no IPS peer"};
    if (options_.datapath == Hook::Tc) {
        using Data = std::remove_pointer_t<decltype(skel_->data_ips_peer)>;
        static_assert(sizeof(Data) == sizeof(uint32_t), "xb_bypass .data.ips_peer holds more than the peer");
        Data d{};
        d.xb_tc_ips_peer = static_cast<uint32_t>(std::max(ifindex, 0));
        uint32_t zero = 0;
        if (bpf_map_update_elem(bpf_map__fd(skel_->maps.data_ips_peer), &zero, &d, 0) != 0)
            return Error::from_errno(errno, "cannot set the tc program's IPS peer");
        return {};
    }
    int fd = bpf_map__fd(skel_->maps.xb_ips_devmap);
    uint32_t key = XB_IPS_PEER_KEY;
    if (ifindex <= 0) {
        if (bpf_map_delete_elem(fd, &key) != 0 && errno != ENOENT)
            return Error::from_errno(errno, "cannot empty the IPS devmap");
        return {};
    }
    bpf_devmap_val val{};
    val.ifindex = static_cast<uint32_t>(ifindex);
    if (bpf_map_update_elem(fd, &key, &val, 0) != 0)
        return Error::from_errno(errno, "cannot put interface " + std::to_string(ifindex) + " in the IPS devmap");
    return {};
}

Result<int> BypassProgram::ips_peer() const {
    if (options_.ips_peer_ifindex <= 0) return 0;
    if (options_.datapath == Hook::Tc) {
        using Data = std::remove_pointer_t<decltype(skel_->data_ips_peer)>;
        Data d{};
        uint32_t zero = 0;
        if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.data_ips_peer), &zero, &d) != 0)
            return Error::from_errno(errno, "cannot read the tc program's IPS peer");
        return static_cast<int>(d.xb_tc_ips_peer);
    }
    uint32_t key = XB_IPS_PEER_KEY;
    bpf_devmap_val val{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xb_ips_devmap), &key, &val) != 0)
        return errno == ENOENT ? Result<int>(0) : Result<int>(Error::from_errno(errno, "cannot read the IPS devmap"));
    return static_cast<int>(val.ifindex);
}

Status BypassProgram::set_lease_until(uint64_t jiffies) {
    // The object's .bss holds xb_lease_until alone; the whole value is written at once (libxdp may
    // have loaded the object, so the skeleton's mmap of .bss is not there to use).
    using Bss = std::remove_pointer_t<decltype(skel_->bss)>;
    static_assert(sizeof(Bss) == sizeof(uint64_t), "xb_bypass .bss holds more than the lease");
    Bss bss{};
    bss.xb_lease_until = jiffies;
    uint32_t zero = 0;
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.bss), &zero, &bss, 0) != 0)
        return Error::from_errno(errno, "cannot renew the lease of the flow table");
    return {};
}

Result<uint64_t> BypassProgram::lease_until() const {
    using Bss = std::remove_pointer_t<decltype(skel_->bss)>;
    Bss bss{};
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.bss), &zero, &bss) != 0)
        return Error::from_errno(errno, "cannot read the lease of the flow table");
    return static_cast<uint64_t>(bss.xb_lease_until);
}

Status BypassProgram::renew_lease(uint32_t seconds) {
    auto until = flow_table().jiffies_from_now(seconds);
    if (!until) return until.error();
    return set_lease_until(*until);
}

Result<TestRunResult> BypassProgram::test_run(std::span<const uint8_t> frame, uint32_t repeat) const {
    return test_run_prog(prog_fd(), manifest_->hook, frame, repeat);
}

Result<TestRunResult> test_run_prog(int prog_fd, Hook hook, std::span<const uint8_t> frame, uint32_t repeat) {
    (void)hook;  // XDP and tc take the same options; the kernel builds xdp_buff or skb by program type
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<uint32_t>(frame.size()),
                .repeat = static_cast<int>(repeat));
    if (bpf_prog_test_run_opts(prog_fd, &opts) != 0)
        return Error::from_errno(errno, "BPF_PROG_TEST_RUN failed for a " + std::to_string(frame.size()) +
                                            "-byte frame");
    return TestRunResult{opts.retval, opts.duration};
}

}  // namespace xb::datapath
