#include "datapath/object_setup.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <utility>
#include <vector>

namespace xb::datapath::detail {

unsigned possible_cpu_count() {
    int n = libbpf_num_possible_cpus();
    return n > 0 ? static_cast<unsigned>(n) : 1u;
}

Error load_error(Diagnostics& diags, const char* code, int err, std::string what, std::string hint) {
    Error e = Error::from_errno(err, std::move(what));
    diags.error(code, e.message, std::move(hint));
    return e;
}

void keep_only_program(bpf_object* obj, std::string_view program) {
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, obj) { (void)bpf_program__set_autoload(prog, program == bpf_program__name(prog)); }
}

int prepare_action_maps(bpf_map* cpu_map, bpf_map* ips_devmap, const ProgramOptions& o, unsigned possible_cpus) {
    const bool cpu = !o.cpu_redirect.empty();
    const bool xdp_ips = o.ips_peer_ifindex > 0 && o.datapath == Hook::Xdp;
    int err = cpu ? bpf_map__set_max_entries(cpu_map, possible_cpus) : bpf_map__set_autocreate(cpu_map, false);
    if (!err && !xdp_ips) err = bpf_map__set_autocreate(ips_devmap, false);
    return err;
}

Status fill_action_maps(bpf_map* cpu_map, bpf_map* ips_devmap, const ProgramOptions& o, Diagnostics& diags) {
    if (!o.cpu_redirect.empty()) {
        int fd = bpf_map__fd(cpu_map);
        for (unsigned c : o.cpu_redirect) {
            bpf_cpumap_val val{};
            val.qsize = o.cpumap_queue_size;
            if (bpf_map_update_elem(fd, &c, &val, 0) != 0)
                return load_error(diags, "XB3012", errno, "cannot add CPU " + std::to_string(c) + " to the redirect cpumap",
                                  "use online CPUs only (/sys/devices/system/cpu/online)");
        }
    }
    if (o.ips_peer_ifindex > 0 && o.datapath == Hook::Xdp) {
        int fd = bpf_map__fd(ips_devmap);
        uint32_t key = XB_IPS_PEER_KEY;
        bpf_devmap_val val{};
        val.ifindex = static_cast<uint32_t>(o.ips_peer_ifindex);
        if (bpf_map_update_elem(fd, &key, &val, 0) != 0)
            return load_error(diags, "XB3013", errno,
                              "cannot add interface " + std::to_string(o.ips_peer_ifindex) + " to the IPS devmap",
                              "the IPS peer must exist in the network namespace xbypass runs in");
    }
    return {};
}

Result<Counters> sum_counters(int fd, unsigned possible_cpus) {
    std::vector<struct xb_counters> per_cpu(possible_cpus);
    uint32_t key = 0;
    if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) return Error::from_errno(errno, "cannot read the bypass counters");
    Counters c;
    for (const auto& block : per_cpu)
        for (size_t i = 0; i < XB_CNT_MAX; ++i) c.value[i] += block.value[i];
    return c;
}

int program_fd(bpf_object* obj, std::string_view program) {
    bpf_program* prog = bpf_object__find_program_by_name(obj, std::string(program).c_str());
    return prog ? bpf_program__fd(prog) : -1;
}

int map_fd(bpf_object* obj, std::string_view name) {
    bpf_map* m = bpf_object__find_map_by_name(obj, std::string(name).c_str());
    if (!m) return -1;
    int fd = bpf_map__fd(m);
    return fd >= 0 ? fd : -1;
}

}  // namespace xb::datapath::detail
