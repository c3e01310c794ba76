#include "harness/trivial_prog.h"

#include <bpf/bpf.h>
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

UniqueFd load_trivial_xdp(const std::string& name, int action) { return load(BPF_PROG_TYPE_XDP, name, action); }
UniqueFd load_trivial_tc(const std::string& name, int action) { return load(BPF_PROG_TYPE_SCHED_CLS, name, action); }

}  // namespace xb::test
