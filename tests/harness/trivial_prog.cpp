#include "harness/trivial_prog.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace xb::test {

namespace {
UniqueFd load(bpf_prog_type type, const std::string& name, int action) {
    const bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, action},  // r0 = action
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},                        // exit
    };
    int fd = bpf_prog_load(type, name.c_str(), "GPL", insns, 2, nullptr);
    if (fd < 0) throw std::runtime_error("cannot load trivial program " + name + ": " + std::strerror(-fd));
    return UniqueFd(fd);
}
}  // namespace

UniqueFd load_cpu_counting_tc(const std::string& name, int map_fd) {
    const bpf_insn insns[] = {
        {BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0},                 // *(u32 *)(fp - 4) = 0
        {BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0},        // r2 = fp
        {BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4},                // r2 += -4
        {BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd},  // r1 = map
        {0, 0, 0, 0, 0},
        {BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem},           // r0 = lookup
        {BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 3, 0},                   // if !r0 goto out
        {BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_0, 0, 0},          // r1 = *r0
        {BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, 1},                 // r1 += 1
        {BPF_STX | BPF_MEM | BPF_DW, BPF_REG_0, BPF_REG_1, 0, 0},          // *r0 = r1
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},                 // out: r0 = TC_ACT_OK
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, name.c_str(), "GPL", insns, sizeof insns / sizeof insns[0], nullptr);
    if (fd < 0) throw std::runtime_error("cannot load " + name + ": " + std::strerror(-fd));
    return UniqueFd(fd);
}

UniqueFd load_trivial_xdp(const std::string& name, int action) { return load(BPF_PROG_TYPE_XDP, name, action); }
UniqueFd load_trivial_tc(const std::string& name, int action) { return load(BPF_PROG_TYPE_SCHED_CLS, name, action); }

int attach_tc_filter(int ifindex, int prog_fd, uint32_t handle, uint32_t priority, bool egress) {
    bpf_tc_hook hook{};
    hook.sz = sizeof hook;
    hook.ifindex = ifindex;
    hook.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
    if (int err = bpf_tc_hook_create(&hook); err != 0 && err != -EEXIST) return err;
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = handle;
    opts.priority = priority;
    opts.prog_fd = prog_fd;
    return bpf_tc_attach(&hook, &opts);
}

uint32_t tc_filter_prog_id(int ifindex, uint32_t handle, uint32_t priority, bool egress) {
    bpf_tc_hook hook{};
    hook.sz = sizeof hook;
    hook.ifindex = ifindex;
    hook.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = handle;
    opts.priority = priority;
    return bpf_tc_query(&hook, &opts) == 0 ? opts.prog_id : 0;
}

}  // namespace xb::test
