#include "datapath/suricata_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <type_traits>
#include <utility>

#include "common/log.h"
#include "datapath/object_setup.h"
#include "xb_suricata.skel.h"

namespace xb::datapath {

namespace {

constexpr const char* kV4 = XB_SUR_MAP_V4;
constexpr const char* kV6 = XB_SUR_MAP_V6;
constexpr const char* kCounters = "xb_counters";

using detail::possible_cpu_count;

// Deletes every key of a hash map (keys of key_size bytes); returns how many.
Result<size_t> clear_map(int fd, size_t key_size) {
    std::vector<uint8_t> key(key_size), next(key_size);
    size_t n = 0;
    // Always restart from the first key: deleting the current one would end a get_next_key walk.
    while (bpf_map_get_next_key(fd, nullptr, next.data()) == 0) {
        if (bpf_map_delete_elem(fd, next.data()) == 0) ++n;
        else if (errno != ENOENT) return Error::from_errno(errno, "cannot delete a bypassed flow");
    }
    return n;
}

template <typename Key>
Status sum_map(int fd, unsigned cpus, size_t* entries, uint64_t* packets, uint64_t* bytes) {
    Key key{}, next{};
    std::vector<struct xb_sur_pair> values(cpus);
    const Key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(fd, &key, values.data()) != 0) continue;  // deleted meanwhile
        ++*entries;
        for (const auto& v : values) *packets += v.packets, *bytes += v.bytes;
    }
    return {};
}

// The fields both key layouts share: ports, then the protocol and VLAN word as Suricata writes it.
template <typename SurKey>
FlowKey with_ports_and_vlans(FlowKey f, const SurKey& k) {
    f.src_port = k.src_port;
    f.dst_port = k.dst_port;
    f.proto = (k.proto_vlan0 & XB_SUR_PROTO_TCP) ? 6 : 17;
    f.vlan_outer = static_cast<uint16_t>(k.proto_vlan0 >> 1);
    f.vlan_inner = k.vlan1;
    return f;
}

FlowKey flow_key_of(const struct xb_sur_key_v4& k) {
    FlowKey f{};
    f.family = XB_FAMILY_IPV4;
    f.src_addr[0] = k.src;
    f.dst_addr[0] = k.dst;
    return with_ports_and_vlans(f, k);
}

FlowKey flow_key_of(const struct xb_sur_key_v6& k) {
    FlowKey f{};
    f.family = XB_FAMILY_IPV6;
    std::memcpy(f.src_addr, k.src, sizeof f.src_addr);
    std::memcpy(f.dst_addr, k.dst, sizeof f.dst_addr);
    return with_ports_and_vlans(f, k);
}

template <typename Key>
void collect_entries(int fd, unsigned cpus, size_t limit, std::vector<FlowEntry>& out) {
    Key key{}, next{};
    std::vector<struct xb_sur_pair> values(cpus);
    const Key* prev = nullptr;
    while (out.size() < limit && bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(fd, &key, values.data()) != 0) continue;  // deleted meanwhile
        FlowEntry e{};
        e.key = flow_key_of(key);
        for (const auto& v : values) e.stats.packets += v.packets, e.stats.bytes += v.bytes;
        out.push_back(e);
    }
}

}  // namespace

Result<std::vector<FlowEntry>> suricata_entries(int v4_fd, int v6_fd, unsigned possible_cpus, size_t limit) {
    std::vector<FlowEntry> out;
    if (v4_fd >= 0) collect_entries<struct xb_sur_key_v4>(v4_fd, possible_cpus, limit, out);
    if (v6_fd >= 0) collect_entries<struct xb_sur_key_v6>(v6_fd, possible_cpus, limit, out);
    return out;
}

std::vector<MapSpec> suricata_map_specs() {
    return {
        MapSpec{kV4, BPF_MAP_TYPE_PERCPU_HASH, sizeof(struct xb_sur_key_v4), sizeof(struct xb_sur_pair), 0, 0},
        MapSpec{kV6, BPF_MAP_TYPE_PERCPU_HASH, sizeof(struct xb_sur_key_v6), sizeof(struct xb_sur_pair), 0, 0},
    };
}

std::string suricata_pin_path(const std::string& root, const std::string& interface, std::string_view map) {
    return root + "/suricata-" + interface + "-" + std::string(map);
}

Result<std::optional<UniqueFd>> open_suricata_pin(const std::string& path, const MapSpec& spec) {
    if (access(path.c_str(), F_OK) != 0) {
        if (errno == ENOENT) return std::optional<UniqueFd>{};
        return Error::from_errno(errno, "cannot look at " + path);
    }
    UniqueFd fd(bpf_obj_get(path.c_str()));
    if (!fd) return Error::from_errno(errno, "cannot open the pinned map " + path);
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0)
        return Error::from_errno(errno, "cannot read what " + path + " is");
    // Any size and flags are adopted (Suricata only inserts): type, key and value must match.
    MapSpec want = spec;
    want.max_entries = info.max_entries;
    want.flags = info.map_flags;
    PinCheck c = compare_layout(want, info.type, info.key_size, info.value_size, info.max_entries, info.map_flags);
    if (c.mismatch != PinMismatch::None)
        return Error{EINVAL, path + " is not a map of Suricata's bypass layout: " + c.detail};
    return std::optional<UniqueFd>(std::move(fd));
}

SuricataProgram::SuricataProgram(SuricataProgram&& o) noexcept
    : manifest_(o.manifest_), skel_(std::exchange(o.skel_, nullptr)), possible_cpus_(o.possible_cpus_),
      clock_(std::move(o.clock_)) {}

SuricataProgram& SuricataProgram::operator=(SuricataProgram&& o) noexcept {
    if (this != &o) {
        if (skel_) xb_suricata__destroy(skel_);
        manifest_ = o.manifest_;
        skel_ = std::exchange(o.skel_, nullptr);
        possible_cpus_ = o.possible_cpus_;
        clock_ = std::move(o.clock_);
    }
    return *this;
}

SuricataProgram::~SuricataProgram() {
    if (skel_) xb_suricata__destroy(skel_);
}

Result<SuricataProgram> SuricataProgram::load(const SuricataProgramOptions& options, Diagnostics& diags) {
    ProgramOptions common;
    common.datapath = options.datapath;
    common.cpu_redirect = options.cpu_redirect;
    common.cpumap_queue_size = options.cpumap_queue_size;
    common.ips_peer_ifindex = options.ips_peer_ifindex;
    if (!validate_options(common, diags)) return Error{EINVAL, "invalid bypass program options"};
    auto fail = [&](const char* code, int err, std::string what, std::string hint) -> Error {
        return detail::load_error(diags, code, err, std::move(what), std::move(hint));
    };
    SuricataProgram p;
    p.possible_cpus_ = possible_cpu_count();
    const bool cpu = !options.cpu_redirect.empty();
    const bool ips = options.ips_peer_ifindex > 0;
    p.manifest_ = select_suricata_manifest(options.datapath, cpu, ips);
    if (!p.manifest_) return Error{EINVAL, "no Suricata-mode program for these options"};
    p.skel_ = xb_suricata__open();
    if (!p.skel_)
        return fail("XB3010", errno, "cannot open the built-in BPF object (Suricata mode)",
                    "check that libbpf matches the one xbypass was built with");
    bpf_object* obj = p.skel_->obj;
    detail::keep_only_program(obj, p.manifest_->program);
    int err = detail::prepare_action_maps(p.skel_->maps.xb_cpu_map, p.skel_->maps.xb_ips_devmap, common, p.possible_cpus_);
    if (err) return fail("XB3010", -err, "cannot prepare the maps of the Suricata-mode BPF object", "");
    for (const auto& [name, fd] : options.reuse_maps) {
        bpf_map* m = bpf_object__find_map_by_name(obj, name.c_str());
        // An adopted map keeps its size; libbpf checks type, key and value size.
        bpf_map_info info{};
        uint32_t len = sizeof(info);
        err = m ? 0 : -ENOENT;
        if (!err && bpf_obj_get_info_by_fd(fd, &info, &len) == 0) err = bpf_map__set_max_entries(m, info.max_entries);
        if (!err) err = bpf_map__reuse_fd(m, fd);
        if (err) return fail("XB3010", -err, "cannot adopt the pinned map " + name, "");
    }
    p.skel_->rodata->cfg_vlan_tracking = options.vlan_tracking ? 1 : 0;
    p.skel_->rodata->cfg_cpu_count = static_cast<uint32_t>(options.cpu_redirect.size());
    for (size_t i = 0; i < options.cpu_redirect.size(); ++i) p.skel_->rodata->cfg_cpu_ids[i] = options.cpu_redirect[i];
    p.skel_->rodata->cfg_ips_peer_ifindex = static_cast<uint32_t>(std::max(options.ips_peer_ifindex, 0));

    auto clock = KernelClock::load();
    if (!clock) return fail("XB3011", clock.error().code, clock.error().message, "check that the kernel runs XDP programs");
    p.clock_ = std::move(clock).value();
    if (options.lease_seconds) {
        auto now = p.clock_->sample();
        if (!now || !now->hz) return fail("XB3011", now ? EINVAL : now.error().code, "cannot read the kernel's clock", "");
        p.skel_->bss->xb_lease_until = now->jiffies + uint64_t{options.lease_seconds} * now->hz;
    }
    if ((err = xb_suricata__load(p.skel_)))
        return fail("XB3011", -err, "the kernel refused to load BPF program " + std::string(p.manifest_->program),
                    "the verifier log above says why; check that the kernel supports the program's map types "
                    "and helpers (xbypass probe)");
    if (auto st = detail::fill_action_maps(p.skel_->maps.xb_cpu_map, p.skel_->maps.xb_ips_devmap, common, diags); !st)
        return st.error();
    log_event(LogLevel::Info, "datapath", "XB5044", "loaded BPF program " + std::string(p.manifest_->program) +
                             " (Suricata's flow_table_v4/_v6, vlan tracking " + (options.vlan_tracking ? "on" : "off") + ")");
    return p;
}

int SuricataProgram::prog_fd() const { return detail::program_fd(skel_->obj, manifest_->program); }

int SuricataProgram::map_fd(std::string_view name) const { return detail::map_fd(skel_->obj, name); }

uint32_t SuricataProgram::map_id(std::string_view name) const {
    int fd = map_fd(name);
    if (fd < 0) return 0;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

Result<Counters> SuricataProgram::read_counters() const { return detail::sum_counters(map_fd(kCounters), possible_cpus_); }

Result<SuricataTables> SuricataProgram::tables() const {
    SuricataTables t;
    if (auto st = sum_map<struct xb_sur_key_v4>(map_fd(kV4), possible_cpus_, &t.v4_entries, &t.packets, &t.bytes); !st)
        return st.error();
    if (auto st = sum_map<struct xb_sur_key_v6>(map_fd(kV6), possible_cpus_, &t.v6_entries, &t.packets, &t.bytes); !st)
        return st.error();
    return t;
}

Result<std::vector<FlowEntry>> SuricataProgram::entries(size_t limit) const {
    return suricata_entries(map_fd(kV4), map_fd(kV6), possible_cpus_, limit);
}

Result<size_t> SuricataProgram::clear_tables() {
    auto a = clear_map(map_fd(kV4), sizeof(struct xb_sur_key_v4));
    if (!a) return a.error();
    auto b = clear_map(map_fd(kV6), sizeof(struct xb_sur_key_v6));
    if (!b) return b.error();
    return *a + *b;
}

Status SuricataProgram::set_lease_until(uint64_t jiffies) {
    using Bss = std::remove_pointer_t<decltype(skel_->bss)>;
    static_assert(sizeof(Bss) == sizeof(uint64_t), "xb_suricata .bss holds more than the lease");
    Bss bss{};
    bss.xb_lease_until = jiffies;
    uint32_t zero = 0;
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.bss), &zero, &bss, 0) != 0)
        return Error::from_errno(errno, "cannot set the lease of the Suricata tables");
    return {};
}

Status SuricataProgram::renew_lease(uint32_t seconds) {
    auto now = clock_->sample();
    if (!now) return now.error();
    if (!now->hz) return Error{EINVAL, "the kernel's clock rate is unknown"};
    return set_lease_until(now->jiffies + uint64_t{seconds} * now->hz);
}

Status SuricataProgram::lapse() { return set_lease_until(1); }

Result<uint64_t> SuricataProgram::lease_until() const {
    using Bss = std::remove_pointer_t<decltype(skel_->bss)>;
    Bss bss{};
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.bss), &zero, &bss) != 0)
        return Error::from_errno(errno, "cannot read the lease of the Suricata tables");
    return static_cast<uint64_t>(bss.xb_lease_until);
}

Result<TestRunResult> SuricataProgram::test_run(std::span<const uint8_t> frame, uint32_t repeat) const {
    return test_run_prog(prog_fd(), manifest_->hook, frame, repeat);
}

// --- who holds the maps ---------------------------------------------------------------------

namespace {

// Whether pid is exiting: a killed Suricata frees its memory (seconds for a large one) before the
// kernel closes its files, so its map fds outlive it. PF_EXITING (0x4, the flags field of
// /proc/PID/stat) is set as soon as do_exit starts; a zombie or dead state says the same later.
// A /proc file of another process, read with read(2): it may exit while being read, and then the
// read fails with ESRCH (std::ifstream's buffer throws on that; xbypass ended with it when a
// Suricata was killed). Empty when gone or unreadable.
std::string read_proc_file(const std::string& path) {
    std::string out;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    char buf[1024];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > 65536) break;  // /proc/PID/stat and fdinfo are far smaller
    }
    close(fd);
    return out;
}

bool process_exiting(pid_t pid) {
    std::string stat = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) return true;  // gone
    std::istringstream fields(stat.substr(close + 1));
    std::string state, ppid, pgrp, session, tty, tpgid;
    unsigned long flags = 0;
    if (!(fields >> state >> ppid >> pgrp >> session >> tty >> tpgid >> flags)) return false;
    constexpr unsigned long kPfExiting = 0x4;
    return state == "Z" || state == "X" || (flags & kPfExiting) != 0;
}

}  // namespace

bool holds_map(pid_t pid, const std::vector<uint32_t>& map_ids) {
    if (process_exiting(pid)) return false;
    const std::string base = "/proc/" + std::to_string(pid);
    DIR* d = opendir((base + "/fd").c_str());
    if (!d) return false;
    bool found = false;
    char link[64];
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string fd_path = base + "/fd/" + e->d_name;
        ssize_t n = readlink(fd_path.c_str(), link, sizeof link - 1);
        if (n <= 0) continue;
        link[n] = 0;
        if (std::strcmp(link, "anon_inode:bpf-map") != 0) continue;  // cheap: only map fds are read
        std::istringstream info(read_proc_file(base + "/fdinfo/" + e->d_name));
        std::string line;
        while (std::getline(info, line)) {
            if (line.rfind("map_id:", 0) != 0) continue;
            uint32_t id = static_cast<uint32_t>(std::strtoul(line.c_str() + 7, nullptr, 10));
            found = std::find(map_ids.begin(), map_ids.end(), id) != map_ids.end();
            break;
        }
        if (found) break;
    }
    closedir(d);
    return found;
}

std::vector<pid_t> map_holders(const std::vector<uint32_t>& map_ids, pid_t first, bool stop_at_first) {
    std::vector<pid_t> out;
    const pid_t self = getpid();
    if (first > 0 && first != self && holds_map(first, map_ids)) {
        out.push_back(first);
        if (stop_at_first) return out;
    }
    DIR* d = opendir("/proc");
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        char* end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (!end || *end || pid <= 0 || pid == self || pid == first) continue;
        if (!holds_map(static_cast<pid_t>(pid), map_ids)) continue;
        out.push_back(static_cast<pid_t>(pid));
        if (stop_at_first) break;
    }
    closedir(d);
    return out;
}

std::string process_name(pid_t pid) {
    std::string s = read_proc_file("/proc/" + std::to_string(pid) + "/comm");
    if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
    return s;
}

}  // namespace xb::datapath
