#include "monitor/monitor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>

#include "xb_monitor.skel.h"

namespace xb::monitor {

std::string_view event_name(Event e) {
    switch (e) {
        case Event::Aborted: return "aborted";
        case Event::InvalidAction: return "invalid-action";
        case Event::TxError: return "tx-error";
        case Event::RedirectError: return "redirect-error";
        case Event::RedirectCpuError: return "redirect-cpu-error";
        case Event::CpumapDrop: return "cpumap-drop";
        case Event::DevmapDrop: return "devmap-drop";
        case Event::DevmapError: return "devmap-error";
    }
    return "unknown";
}

uint64_t ExceptionCounts::total() const {
    uint64_t t = 0;
    for (auto v : value) t += v;
    return t;
}

uint64_t ExceptionCounts::redirect_failures() const {
    return (*this)[Event::RedirectError] + (*this)[Event::RedirectCpuError] + (*this)[Event::CpumapDrop] +
           (*this)[Event::DevmapDrop];
}

ExceptionCounts operator-(const ExceptionCounts& a, const ExceptionCounts& b) {
    ExceptionCounts d;
    for (size_t i = 0; i < kEventCount; ++i) d.value[i] = a.value[i] > b.value[i] ? a.value[i] - b.value[i] : 0;
    return d;
}

uint32_t map_id_of(int map_fd) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (map_fd < 0 || bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0) return 0;
    return info.id;
}

Result<std::unique_ptr<ExceptionMonitor>> ExceptionMonitor::start(const std::vector<WatchedInterface>& interfaces,
                                                                  const MonitorOptions& options) {
    if (interfaces.size() > XB_MON_MAX_SLOTS)
        return Error{E2BIG, "the exception monitor watches at most " + std::to_string(XB_MON_MAX_SLOTS) + " interfaces"};
    std::unique_ptr<ExceptionMonitor> m(new ExceptionMonitor());
    int cpus = libbpf_num_possible_cpus();
    if (cpus < 1) return Error::from_errno(cpus, "cannot count the possible CPUs");
    m->possible_cpus_ = static_cast<unsigned>(cpus);
    LIBBPF_OPTS(bpf_object_open_opts, oo);
    if (!options.btf_path.empty()) oo.btf_custom_path = options.btf_path.c_str();
    m->skel_ = xb_monitor__open_opts(&oo);
    if (!m->skel_) return Error::from_errno(errno, "cannot open the exception monitor");
    if (int err = xb_monitor__load(m->skel_); err < 0)
        return Error::from_errno(err, "the kernel refused the exception monitor's tracepoint programs" +
                                          std::string(options.btf_path.empty() ? "" : " (BTF " + options.btf_path + ")"));
    for (size_t i = 0; i < interfaces.size(); ++i) {
        uint32_t slot = static_cast<uint32_t>(i);
        uint32_t ifindex = static_cast<uint32_t>(interfaces[i].ifindex);
        // Counters of a slot start at zero: the array is fresh.
        int err = 0;
        if (ifindex < XB_MON_DIRECT_IFINDEX) {
            uint32_t v = slot + 1;
            err = bpf_map_update_elem(bpf_map__fd(m->skel_->maps.xb_mon_direct), &ifindex, &v, BPF_ANY);
        } else {
            err = bpf_map_update_elem(bpf_map__fd(m->skel_->maps.xb_mon_ifindex), &ifindex, &slot, BPF_ANY);
        }
        if (err != 0) return Error::from_errno(errno, "cannot fill the exception monitor's interface filter");
        if (interfaces[i].cpumap_id &&
            bpf_map_update_elem(bpf_map__fd(m->skel_->maps.xb_mon_mapid), &interfaces[i].cpumap_id, &slot, BPF_ANY) != 0)
            return Error::from_errno(errno, "cannot fill the exception monitor's cpumap filter");
    }
    m->watched_ = interfaces;
    if (int err = xb_monitor__attach(m->skel_); err < 0)
        return Error::from_errno(err, "cannot attach the exception monitor to the xdp tracepoints");
    return m;
}

ExceptionMonitor::~ExceptionMonitor() { xb_monitor__destroy(skel_); }

Result<ExceptionCounts> ExceptionMonitor::read(int ifindex) const {
    for (size_t slot = 0; slot < watched_.size(); ++slot) {
        if (watched_[slot].ifindex != ifindex) continue;
        ExceptionCounts out;
        std::vector<uint64_t> per_cpu(possible_cpus_);
        for (size_t e = 0; e < kEventCount; ++e) {
            uint32_t idx = static_cast<uint32_t>(slot * kEventCount + e);
            if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.xb_mon_counts), &idx, per_cpu.data()) != 0)
                return Error::from_errno(errno, "cannot read the exception counters");
            for (auto v : per_cpu) out.value[e] += v;
        }
        return out;
    }
    return Error{ENOENT, "ifindex " + std::to_string(ifindex) + " is not watched"};
}

Status ExceptionMonitor::set_cpumap(int ifindex, uint32_t cpumap_id) {
    for (size_t slot = 0; slot < watched_.size(); ++slot) {
        if (watched_[slot].ifindex != ifindex) continue;
        int fd = bpf_map__fd(skel_->maps.xb_mon_mapid);
        if (watched_[slot].cpumap_id) (void)bpf_map_delete_elem(fd, &watched_[slot].cpumap_id);
        watched_[slot].cpumap_id = cpumap_id;
        uint32_t s = static_cast<uint32_t>(slot);
        if (cpumap_id && bpf_map_update_elem(fd, &cpumap_id, &s, BPF_ANY) != 0)
            return Error::from_errno(errno, "cannot update the exception monitor's cpumap filter");
        return {};
    }
    return Error{ENOENT, "ifindex " + std::to_string(ifindex) + " is not watched"};
}

std::vector<uint32_t> ExceptionMonitor::prog_ids() const {
    std::vector<uint32_t> ids;
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) ids.push_back(info.id);
    }
    return ids;
}

}  // namespace xb::monitor
