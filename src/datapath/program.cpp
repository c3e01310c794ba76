#include "datapath/program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "common/log.h"
#include "xb_bypass.skel.h"

namespace xb::datapath {

namespace {

constexpr uint32_t kMaxFlowTableSize = 1u << 26;  // 64M entries: far beyond any sane memory budget
constexpr uint32_t kMaxCpumapQueue = 16384;       // the kernel's cpumap qsize limit

constexpr const char* kFlowTable = "xb_flow_table";
constexpr const char* kCounters = "xb_counters";
constexpr const char* kCpuMap = "xb_cpu_map";
constexpr const char* kIpsDevmap = "xb_ips_devmap";

uint64_t monotonic_coarse_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

unsigned possible_cpu_count() {
    int n = libbpf_num_possible_cpus();
    return n > 0 ? static_cast<unsigned>(n) : 1u;
}

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
    return diags.count(Severity::Error) == before;
}

uint64_t Counters::total_packets() const {
    return value[XB_CNT_PASS] + value[XB_CNT_DROP] + value[XB_CNT_IPS_FORWARD] + value[XB_CNT_CPU_REDIRECT];
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
    case XB_CNT_MAX: break;
    }
    return "unknown";
}

// ---- FlowTable ---------------------------------------------------------------------------------

FlowStats FlowTable::sum(const std::vector<FlowValue>& per_cpu) const {
    FlowStats s;
    for (const auto& v : per_cpu) {
        s.packets += v.packets;
        s.bytes += v.bytes;
        s.last_seen_ns = std::max<uint64_t>(s.last_seen_ns, v.last_seen_ns);
    }
    return s;
}

Status FlowTable::insert_one(const FlowKey& key) {
    std::vector<FlowValue> values(cpus_);
    uint64_t now = monotonic_coarse_ns();
    for (auto& v : values) v.last_seen_ns = now;
    // NOEXIST: inserting a flow again keeps the counts it has gathered.
    if (bpf_map_update_elem(fd_, &key, values.data(), BPF_NOEXIST) != 0 && errno != EEXIST)
        return Error::from_errno(errno, "cannot insert flow " + flow_key_to_string(key));
    return {};
}

Status FlowTable::insert(const FlowKey& key) {
    if (auto s = insert_one(key); !s) return s;
    FlowKey rev = reverse_flow_key(key);
    if (flow_key_equal(rev, key)) return {};
    if (auto s = insert_one(rev); !s) {
        (void)bpf_map_delete_elem(fd_, &key);  // both directions or neither
        return s;
    }
    return {};
}

std::optional<FlowStats> FlowTable::lookup(const FlowKey& key) const {
    std::vector<FlowValue> values(cpus_);
    if (bpf_map_lookup_elem(fd_, &key, values.data()) != 0) return std::nullopt;
    return sum(values);
}

Status FlowTable::remove(const FlowKey& key) {
    FlowKey keys[2] = {key, reverse_flow_key(key)};
    for (const auto& k : keys)
        if (bpf_map_delete_elem(fd_, &k) != 0 && errno != ENOENT)
            return Error::from_errno(errno, "cannot delete flow " + flow_key_to_string(k));
    return {};
}

Result<std::vector<FlowEntry>> FlowTable::entries_by_key() const {
    std::vector<FlowEntry> out;
    FlowKey key{}, next{};
    const FlowKey* prev = nullptr;
    std::vector<FlowValue> values(cpus_);
    while (bpf_map_get_next_key(fd_, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd_, &next, values.data()) == 0) out.push_back(FlowEntry{next, sum(values)});
        key = next;
        prev = &key;
    }
    if (errno != ENOENT) return Error::from_errno(errno, "cannot walk the flow table");
    return out;
}

Result<std::vector<FlowEntry>> FlowTable::entries() const {
    std::vector<FlowEntry> out;
    uint32_t chunk = 256;
    uint64_t batch_token = 0;  // hash maps use a bucket index as the batch position
    bool first = true;
    for (;;) {
        std::vector<FlowKey> keys(chunk);
        std::vector<FlowValue> values(static_cast<size_t>(chunk) * cpus_);
        uint32_t count = chunk;
        uint64_t next_token = 0;
        int rc = bpf_map_lookup_batch(fd_, first ? nullptr : &batch_token, &next_token, keys.data(),
                                      values.data(), &count, nullptr);
        int err = rc ? errno : 0;
        if (rc && err == ENOSPC && chunk < (1u << 20)) {
            chunk *= 4;  // one bucket holds more entries than the chunk
            continue;
        }
        if (rc && err != ENOENT) {
            if (first && (err == EINVAL || err == ENOTSUP || err == EOPNOTSUPP || err == ENOSYS))
                return entries_by_key();
            return Error::from_errno(err, "cannot read the flow table in batches");
        }
        for (uint32_t i = 0; i < count; ++i) {
            std::vector<FlowValue> per_cpu(values.begin() + static_cast<long>(i) * cpus_,
                                           values.begin() + static_cast<long>(i + 1) * cpus_);
            out.push_back(FlowEntry{keys[i], sum(per_cpu)});
        }
        if (rc) break;  // ENOENT: that was the last batch
        batch_token = next_token;
        first = false;
    }
    return out;
}

// ---- BypassProgram -----------------------------------------------------------------------------

BypassProgram::BypassProgram(BypassProgram&& o) noexcept
    : options_(std::move(o.options_)), manifest_(o.manifest_), skel_(std::exchange(o.skel_, nullptr)),
      possible_cpus_(o.possible_cpus_) {}

BypassProgram& BypassProgram::operator=(BypassProgram&& o) noexcept {
    if (this != &o) {
        if (skel_) xb_bypass__destroy(skel_);
        options_ = std::move(o.options_);
        manifest_ = o.manifest_;
        skel_ = std::exchange(o.skel_, nullptr);
        possible_cpus_ = o.possible_cpus_;
    }
    return *this;
}

BypassProgram::~BypassProgram() {
    if (skel_) xb_bypass__destroy(skel_);
}

std::vector<MapSpec> pinnable_maps(const ProgramOptions& options) {
    return {
        MapSpec{"xb_flow_table", flow_table_map_type(options.flow_table_percpu, options.flow_table_lru),
                sizeof(struct xb_flow_key), sizeof(struct xb_flow_value), options.flow_table_size, 0},
        MapSpec{"xb_counters", BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(uint32_t), sizeof(struct xb_counters), 1, 0},
    };
}

Result<BypassProgram> BypassProgram::load(const ProgramOptions& options, Diagnostics& diags) {
    if (!validate_options(options, diags)) return Error{EINVAL, "invalid bypass program options"};
    auto fail = [&](const char* code, int err, std::string what, std::string hint) -> Error {
        Error e = Error::from_errno(err, what);
        diags.error(code, e.message, std::move(hint));
        return e;
    };

    BypassProgram p;
    p.options_ = options;
    p.possible_cpus_ = possible_cpu_count();
    const bool cpu = !options.cpu_redirect.empty();
    const bool ips = options.ips_peer_ifindex > 0;
    p.manifest_ = select_manifest(options.datapath, cpu, ips);
    if (!p.manifest_) return Error{EINVAL, "no built-in program for these options"};  // excluded by validate

    p.skel_ = xb_bypass__open();
    if (!p.skel_)
        return fail("XB3010", errno, "cannot open the built-in BPF object",
                    "check that libbpf matches the one xbypass was built with");
    bpf_object* obj = p.skel_->obj;

    // Only the chosen variant is loaded; the others never reach the verifier.
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, obj) {
        (void)bpf_program__set_autoload(prog, p.manifest_->program == bpf_program__name(prog));
    }
    bpf_map* flows = p.skel_->maps.xb_flow_table;
    int err = bpf_map__set_type(flows, flow_table_map_type(options.flow_table_percpu, options.flow_table_lru));
    if (!err) err = bpf_map__set_max_entries(flows, options.flow_table_size);
    if (!err && cpu) err = bpf_map__set_max_entries(p.skel_->maps.xb_cpu_map, p.possible_cpus_);
    if (!err && !cpu) err = bpf_map__set_autocreate(p.skel_->maps.xb_cpu_map, false);
    if (!err && !(ips && options.datapath == Hook::Xdp))
        err = bpf_map__set_autocreate(p.skel_->maps.xb_ips_devmap, false);
    if (err) return fail("XB3010", -err, "cannot prepare the maps of the built-in BPF object", "");
    // Adopted maps keep their contents: the flows bypassed by the earlier run stay bypassed.
    if (options.reuse_flow_table_fd >= 0) err = bpf_map__reuse_fd(flows, options.reuse_flow_table_fd);
    if (!err && options.reuse_counters_fd >= 0) err = bpf_map__reuse_fd(p.skel_->maps.xb_counters, options.reuse_counters_fd);
    if (err) return fail("XB3010", -err, "cannot adopt the pinned maps of an earlier run", "");

    p.skel_->rodata->cfg_vlan_tracking = options.vlan_tracking ? 1 : 0;
    p.skel_->rodata->cfg_flow_percpu = options.flow_table_percpu ? 1 : 0;
    p.skel_->rodata->cfg_cpu_count = static_cast<uint32_t>(options.cpu_redirect.size());
    for (size_t i = 0; i < options.cpu_redirect.size(); ++i)
        p.skel_->rodata->cfg_cpu_ids[i] = options.cpu_redirect[i];
    p.skel_->rodata->cfg_ips_peer_ifindex = static_cast<uint32_t>(std::max(options.ips_peer_ifindex, 0));

    err = xb_bypass__load(p.skel_);
    if (err)
        return fail("XB3011", -err, "the kernel refused to load BPF program " + std::string(p.manifest_->program),
                    "the verifier log above says why; check that the kernel supports the program's map types "
                    "and helpers (xbypass probe)");

    if (cpu) {
        int fd = bpf_map__fd(p.skel_->maps.xb_cpu_map);
        for (unsigned c : options.cpu_redirect) {
            bpf_cpumap_val val{};
            val.qsize = options.cpumap_queue_size;
            if (bpf_map_update_elem(fd, &c, &val, 0) != 0)
                return fail("XB3012", errno, "cannot add CPU " + std::to_string(c) + " to the redirect cpumap",
                            "use online CPUs only (/sys/devices/system/cpu/online)");
        }
    }
    if (ips && options.datapath == Hook::Xdp) {
        int fd = bpf_map__fd(p.skel_->maps.xb_ips_devmap);
        uint32_t key = XB_IPS_PEER_KEY;
        bpf_devmap_val val{};
        val.ifindex = static_cast<uint32_t>(options.ips_peer_ifindex);
        if (bpf_map_update_elem(fd, &key, &val, 0) != 0)
            return fail("XB3013", errno,
                        "cannot add interface " + std::to_string(options.ips_peer_ifindex) +
                            " to the IPS devmap",
                        "the IPS peer must exist in the network namespace xbypass runs in");
    }
    log_info("datapath", "loaded BPF program " + std::string(p.manifest_->program) + " (flow table " +
                             std::string(libbpf_bpf_map_type_str(bpf_map__type(flows))) + ", " + std::to_string(options.flow_table_size) +
                             " entries, vlan tracking " + (options.vlan_tracking ? "on" : "off") + ")");
    return p;
}

int BypassProgram::prog_fd() const {
    bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, std::string(manifest_->program).c_str());
    return prog ? bpf_program__fd(prog) : -1;
}

int BypassProgram::map_fd(std::string_view name) const {
    bpf_map* m = bpf_object__find_map_by_name(skel_->obj, std::string(name).c_str());
    if (!m) return -1;
    int fd = bpf_map__fd(m);
    return fd >= 0 ? fd : -1;
}

FlowTable BypassProgram::flow_table() const {
    return FlowTable(map_fd(kFlowTable), options_.flow_table_percpu, possible_cpus_);
}

Result<Counters> BypassProgram::read_counters() const {
    std::vector<struct xb_counters> per_cpu(possible_cpus_);
    uint32_t key = 0;
    if (bpf_map_lookup_elem(map_fd(kCounters), &key, per_cpu.data()) != 0)
        return Error::from_errno(errno, "cannot read the bypass counters");
    Counters c;
    for (const auto& block : per_cpu)
        for (size_t i = 0; i < XB_CNT_MAX; ++i) c.value[i] += block.value[i];
    return c;
}

Status BypassProgram::reset_counters() {
    std::vector<struct xb_counters> zero(possible_cpus_);
    uint32_t key = 0;
    if (bpf_map_update_elem(map_fd(kCounters), &key, zero.data(), 0) != 0)
        return Error::from_errno(errno, "cannot reset the bypass counters");
    return {};
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
