// probe_kernel: every answer comes from asking the kernel to do the thing (libbpf's probe API loads a
// minimal program or creates a map), except where only a file can tell (mounts, BTF, CPUs, lockdown).
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "common/mounts.h"
#include "common/owners.h"
#include "probe/probe.h"
#include "probe/render.h"

namespace xb::probe {

namespace {

Diagnostic note(std::string code, Severity sev, std::string message, std::string hint) {
    Diagnostic d;
    d.code = std::move(code);
    d.severity = sev;
    d.message = std::move(message);
    d.hint = std::move(hint);
    return d;
}

std::optional<std::string> read_file(const char* path) {
    std::ifstream f(path);
    if (!f) return std::nullopt;
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// libbpf's probe functions: 1 supported, 0 not, <0 -errno (could not tell).
Probed from_libbpf(std::string name, int r) {
    Probed p{std::move(name)};
    if (r == 1) p.supported = Support::Yes;
    else if (r == 0) p.supported = Support::No;
    else p.error = -r;
    return p;
}

// r0 = XDP_PASS; exit
const bpf_insn kPassInsns[] = {
    {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 2},
    {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
};
constexpr size_t kPassInsnCount = sizeof kPassInsns / sizeof kPassInsns[0];

// Loads an XDP program and then a BPF_PROG_TYPE_EXT (freplace) program that replaces its main
// function, which is exactly what the libxdp dispatcher needs. Both carry a hand-built BTF
// (`int xb_probe_fn(void)`, global) since freplace matches functions by BTF.
void probe_freplace(KernelCaps& k) {
    std::unique_ptr<btf, void (*)(btf*)> b(btf__new_empty(), btf__free);
    if (!b) {
        k.freplace.error = errno;
        k.freplace_error = std::string("cannot build BTF: ") + std::strerror(errno);
        return;
    }
    int int_id = btf__add_int(b.get(), "int", 4, BTF_INT_SIGNED);
    int proto_id = int_id > 0 ? btf__add_func_proto(b.get(), int_id) : int_id;
    int func_id = proto_id > 0 ? btf__add_func(b.get(), "xb_probe_fn", BTF_FUNC_GLOBAL, proto_id) : proto_id;
    if (func_id <= 0 || btf__load_into_kernel(b.get()) != 0) {
        k.freplace.error = errno;
        k.freplace_error = std::string("the kernel refused a minimal BTF: ") + std::strerror(errno);
        return;
    }
    bpf_func_info fi{0, static_cast<uint32_t>(func_id)};
    bpf_prog_load_opts opts{};
    opts.sz = sizeof opts;
    opts.prog_btf_fd = btf__fd(b.get());
    opts.func_info = &fi;
    opts.func_info_cnt = 1;
    opts.func_info_rec_size = sizeof fi;
    UniqueFd target(bpf_prog_load(BPF_PROG_TYPE_XDP, "xb_probe_tgt", "GPL", kPassInsns, kPassInsnCount, &opts));
    if (!target) {
        k.freplace.error = errno;
        k.freplace_error = std::string("the XDP target program did not load: ") + std::strerror(errno);
        return;
    }
    opts.attach_prog_fd = target.get();
    opts.attach_btf_id = static_cast<uint32_t>(func_id);
    UniqueFd ext(bpf_prog_load(BPF_PROG_TYPE_EXT, "xb_probe_ext", "GPL", kPassInsns, kPassInsnCount, &opts));
    if (ext) {
        k.freplace.supported = Support::Yes;
        return;
    }
    int err = errno;
    k.freplace.error = err;
    // The kernel answered: it refuses this program type here (lockdown, missing config, or policy).
    // Anything it would only refuse for a reason unrelated to EXT itself (out of memory) stays unknown.
    k.freplace.supported = (err == ENOMEM || err == EAGAIN || err == EINTR) ? Support::Unknown : Support::No;
    k.freplace_error = std::string("BPF_PROG_LOAD of a BPF_PROG_TYPE_EXT program failed: ") + std::strerror(err) +
                       " (errno " + std::to_string(err) + ")";
}

// XDP through a BPF link: attach a pass program to lo of a throwaway network namespace (unshared by a
// short-lived thread, so no interface of the caller is touched) with BPF_LINK_CREATE.
void probe_xdp_link(KernelCaps& k) {
    std::thread t([&k] {
        if (::unshare(CLONE_NEWNET) != 0) {
            k.xdp_link.error = errno;
            return;
        }
        UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_XDP, "xb_probe_link", "GPL", kPassInsns, kPassInsnCount, nullptr));
        if (!prog) {
            k.xdp_link.error = errno;
            return;
        }
        bpf_link_create_opts opts{};
        opts.sz = sizeof opts;
        opts.flags = XDP_FLAGS_SKB_MODE;
        UniqueFd link(bpf_link_create(prog.get(), 1 /* lo */, BPF_XDP, &opts));
        if (link) {
            k.xdp_link.supported = Support::Yes;
            return;
        }
        k.xdp_link.error = errno;
        // Kernels without XDP links reject the attach type itself.
        if (errno == EINVAL || errno == EOPNOTSUPP) k.xdp_link.supported = Support::No;
    });  // the namespace dies with the thread, taking the link with it
    t.join();
}

struct NamedType {
    const char* name;
    int type;
};

}  // namespace

KernelCaps probe_kernel() {
    KernelCaps k;
    utsname u{};
    if (::uname(&u) == 0) k.release = u.release;

    const NamedType progs[] = {{"xdp", BPF_PROG_TYPE_XDP},
                               {"sched_cls", BPF_PROG_TYPE_SCHED_CLS},
                               {"tracepoint", BPF_PROG_TYPE_TRACEPOINT}};
    for (const auto& p : progs)
        k.prog_types.push_back(
            from_libbpf(p.name, libbpf_probe_bpf_prog_type(static_cast<bpf_prog_type>(p.type), nullptr)));

    const NamedType maps[] = {{"hash", BPF_MAP_TYPE_HASH},
                              {"percpu_hash", BPF_MAP_TYPE_PERCPU_HASH},
                              {"lru_hash", BPF_MAP_TYPE_LRU_HASH},
                              {"lru_percpu_hash", BPF_MAP_TYPE_LRU_PERCPU_HASH},
                              {"cpumap", BPF_MAP_TYPE_CPUMAP},
                              {"devmap", BPF_MAP_TYPE_DEVMAP},
                              {"devmap_hash", BPF_MAP_TYPE_DEVMAP_HASH},
                              {"xskmap", BPF_MAP_TYPE_XSKMAP},
                              {"percpu_array", BPF_MAP_TYPE_PERCPU_ARRAY}};
    for (const auto& m : maps)
        k.map_types.push_back(
            from_libbpf(m.name, libbpf_probe_bpf_map_type(static_cast<bpf_map_type>(m.type), nullptr)));

    // The helpers the bypass datapath calls (XDP and tc variants).
    const NamedType xdp_helpers[] = {{"bpf_map_lookup_elem", BPF_FUNC_map_lookup_elem},
                                     {"bpf_map_update_elem", BPF_FUNC_map_update_elem},
                                     {"bpf_map_delete_elem", BPF_FUNC_map_delete_elem},
                                     {"bpf_redirect", BPF_FUNC_redirect},
                                     {"bpf_redirect_map", BPF_FUNC_redirect_map},
                                     {"bpf_ktime_get_ns", BPF_FUNC_ktime_get_ns},
                                     {"bpf_ktime_get_coarse_ns", BPF_FUNC_ktime_get_coarse_ns},
                                     {"bpf_jiffies64", BPF_FUNC_jiffies64},
                                     {"bpf_get_smp_processor_id", BPF_FUNC_get_smp_processor_id},
                                     {"bpf_xdp_adjust_meta", BPF_FUNC_xdp_adjust_meta},
                                     {"bpf_xdp_load_bytes", BPF_FUNC_xdp_load_bytes}};
    const NamedType tc_helpers[] = {{"bpf_map_lookup_elem", BPF_FUNC_map_lookup_elem},
                                    {"bpf_map_update_elem", BPF_FUNC_map_update_elem},
                                    {"bpf_map_delete_elem", BPF_FUNC_map_delete_elem},
                                    {"bpf_ktime_get_ns", BPF_FUNC_ktime_get_ns},
                                    {"bpf_ktime_get_coarse_ns", BPF_FUNC_ktime_get_coarse_ns},
                                    {"bpf_jiffies64", BPF_FUNC_jiffies64},
                                    {"bpf_skb_load_bytes", BPF_FUNC_skb_load_bytes},
                                    {"bpf_redirect", BPF_FUNC_redirect}};
    auto add_helpers = [&k](const char* type_name, bpf_prog_type type, const auto& list) {
        for (const auto& h : list) {
            int r = libbpf_probe_bpf_helper(type, static_cast<bpf_func_id>(h.type), nullptr);
            k.helpers.push_back({type_name, h.name, from_libbpf(h.name, r).supported});
        }
    };
    add_helpers("xdp", BPF_PROG_TYPE_XDP, xdp_helpers);
    add_helpers("sched_cls", BPF_PROG_TYPE_SCHED_CLS, tc_helpers);

    for (const auto* list : {&k.prog_types, &k.map_types})
        for (const auto& p : *list)
            if (p.supported == Support::Unknown)
                k.notes.push_back(note("XB2024", Severity::Warning,
                                       "cannot tell whether the kernel supports " + p.name + ": " +
                                           std::strerror(p.error),
                                       "run as root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) so that the probe "
                                       "can load test programs and create test maps"));

    probe_xdp_link(k);
    if (k.xdp_link.supported == Support::Unknown)
        k.notes.push_back(note("XB2025", Severity::Warning,
                               std::string("cannot tell whether XDP attaches through BPF links: ") +
                                   std::strerror(k.xdp_link.error),
                               "run as root (CAP_SYS_ADMIN is needed to create the probe's network namespace)"));

    k.bpffs = find_mount("bpf");
    if (!k.bpffs)
        k.notes.push_back(note("XB2021", Severity::Warning, "bpffs is not mounted, so nothing can be pinned",
                               "mount it: mount -t bpf bpf /sys/fs/bpf"));
    k.tracefs = find_mount("tracefs");
    if (!k.tracefs)
        k.notes.push_back(note("XB2022", Severity::Warning,
                               "tracefs is not mounted, so XDP tracepoints (xdp:xdp_exception) cannot be attached",
                               "mount it: mount -t tracefs tracefs /sys/kernel/tracing"));
    k.vmlinux_btf = support_from(::access("/sys/kernel/btf/vmlinux", R_OK) == 0);
    if (k.vmlinux_btf == Support::No)
        k.notes.push_back(note("XB2023", Severity::Warning, "the kernel exposes no BTF (/sys/kernel/btf/vmlinux)",
                               "use a kernel built with CONFIG_DEBUG_INFO_BTF=y"));

    probe_freplace(k);
    if (k.freplace.supported != Support::Yes)
        k.notes.push_back(note("XB2020", Severity::Warning,
                               "freplace programs do not load here, so the libxdp dispatcher cannot be used: " +
                                   k.freplace_error,
                               "use one XDP program per interface (coexist: refuse or replace) instead of the "
                               "dispatcher, or boot without the lockdown or LSM policy that forbids BPF_PROG_TYPE_EXT"));

    if (auto online = read_file("/sys/devices/system/cpu/online")) {
        if (auto cpus = parse_cpu_list(*online)) k.online_cpus = *cpus;
    }
    if (k.online_cpus.empty())
        k.notes.push_back(note("XB2026", Severity::Warning, "cannot read the online CPUs",
                               "mount sysfs at /sys so that /sys/devices/system/cpu/online is readable"));

    if (auto ld = read_file("/sys/kernel/security/lockdown")) k.lockdown = parse_lockdown(*ld);
    return k;
}

void log_kernel(const KernelCaps& k) {
    log_event(LogLevel::Info, "probe", "XB2030", kernel_summary(k));
    for (const auto& d : k.notes) Logger::instance().log(d, "probe");
}

}  // namespace xb::probe
