// What is attached to the interfaces of this network namespace, from the kernel's own state (works
// without a running xbypass, like xdp-loader status): per XDP program and tc filter whose it is
// (ours by the built-in program names, or another tool's), its lease, and the live run that holds
// the interface (its lock file in /run/xbypass and its control socket). Shared by `xbypass status`
// and `xbypass detach`.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace xb::cli {

struct LeaseState {
    bool known = false;       // the .bss map could be read
    uint64_t until = 0;       // jiffies (0: no lease: the program bypasses for as long as it runs)
    int64_t seconds_left = 0; // > 0 held; <= 0 lapsed that long ago
    std::string text() const; // "held, 24 s left" / "lapsed 12 s ago: nothing is bypassed" / "none"
};

// The Suricata mode's pairing on an interface, as the run's control socket reports it.
struct SuricataPairing {
    std::string state;    // paired | waiting | failed-open
    int64_t pid = 0;      // the Suricata holding the maps (0: none)
    std::string process;  // its name
    std::string since;    // when the pairing entered its state (local time, ISO 8601)
    uint64_t entries_v4 = 0, entries_v6 = 0, packets = 0, bytes = 0;
    std::string text() const;  // "paired with Suricata-Main (pid 8116) since ..., 4 + 2 entries, ..."
};

struct RunInfo {
    pid_t pid = 0;
    std::string config;  // from its control socket; empty when it did not answer
    std::string socket;
    std::optional<SuricataPairing> suricata;  // the interface runs the Suricata mode
};

struct Attached {
    std::string interface;
    int ifindex = 0;
    std::string hook;      // "xdp" or "tc"
    std::string mode;      // xdp: native|generic|offload; tc: ingress|egress
    uint32_t prog_id = 0;
    std::string prog_name;
    bool ours = false;     // one of the built-in programs (by name)
    std::string via;       // xdp: bpf-link|netlink; tc: "handle 0x5842 prio 0x5842"
    uint32_t tc_handle = 0, tc_priority = 0;
    bool at_our_handle = false;  // tc: at xbypass's own handle and priority
    LeaseState lease;      // ours only
    bool pinned = false;   // a pinned map directory exists for the interface under the default pin path
    std::optional<RunInfo> run;  // the live run holding the interface
};

// Every XDP program and tc filter of the namespace (only `interface` when not empty). ENODEV when
// the named interface does not exist.
Result<std::vector<Attached>> inspect(const std::string& interface);

// The live run that holds the interface's lock, if any.
std::optional<RunInfo> lock_holder(const std::string& interface);

// One of xbypass's programs: the built-in bypass programs and the Suricata mode's.
bool is_builtin_program(const std::string& prog_name);

}  // namespace xb::cli
