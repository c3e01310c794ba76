// Trivial BPF programs for kernel tests that need "some program" (a foreign tool's XDP program, a
// tc filter of another tool): loaded from two instructions, named so probes can report them.
#pragma once

#include <cstdint>
#include <string>

#include "common/owners.h"

namespace xb::test {

// An XDP program that returns `action` (XDP_PASS by default). Throws on failure.
UniqueFd load_trivial_xdp(const std::string& name, int action = 2 /* XDP_PASS */);
// A sched_cls program that returns `action` (TC_ACT_OK by default). Throws on failure.
UniqueFd load_trivial_tc(const std::string& name, int action = 0 /* TC_ACT_OK */);

// A sched_cls program that counts every packet in slot 0 of a per-CPU array (map_fd: key u32, value
// u64, one entry) and returns TC_ACT_OK: which CPU processed a packet in the stack.
UniqueFd load_cpu_counting_tc(const std::string& name, int map_fd);

// Attaches prog_fd as a tc filter at handle/priority on the ingress (or egress) hook of ifindex,
// creating the clsact qdisc when missing, the way another tool would. Returns 0 or -errno.
int attach_tc_filter(int ifindex, int prog_fd, uint32_t handle, uint32_t priority, bool egress = false);
// The program id of the tc filter at handle/priority, 0 when there is none.
uint32_t tc_filter_prog_id(int ifindex, uint32_t handle, uint32_t priority, bool egress = false);

}  // namespace xb::test
