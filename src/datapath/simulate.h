// What the bypass would do with a capture: loads the program, fills the flow table, runs every
// frame through BPF_PROG_TEST_RUN and reports per packet the parsed key and the verdict. The key
// comes from the host build of the same parser (parse_mirror.h); the verdict and its reason from the
// kernel (return code and counters).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/diagnostic.h"
#include "common/result.h"
#include "datapath/flow.h"
#include "datapath/pcap.h"
#include "datapath/program.h"

namespace xb::datapath {

struct SimulateOptions {
    Hook datapath = Hook::Xdp;
    std::vector<unsigned> cpu_redirect;
    bool vlan_tracking = true;
};

struct PacketVerdict {
    size_t index = 0;
    std::string verdict;            // "bypass", "pass" or "cpu-redirect"
    std::string reason;             // "hit", "miss", "fragment", "parse-error", "not-ip", "redirect-failure"
    std::optional<unsigned> cpu;    // with "cpu-redirect"
    std::optional<FlowKey> key;     // null when the frame has no flow key
    uint32_t retval = 0;            // XDP_* / TC_ACT_*
    std::string action;             // "XDP_DROP", ...

    std::string to_json() const;  // {"index":0,"verdict":"pass","reason":"miss","key":{...}}
    std::string to_text() const;
};

// The next frame of a capture: true with `out` filled, false at its end, or an Error (already a
// diagnostic). PcapReader::next fits.
using PacketSource = std::function<Result<bool>(PcapPacket& out)>;
using VerdictSink = std::function<void(const PacketVerdict&)>;

// Each packet's verdict goes to `sink` as soon as it is known, so a capture of any size runs in
// bounded memory; the packets run are counted in the result. The per-packet warnings (XB3122,
// XB3123) are listed for the first kMaxListedWarnings packets of each, then counted in one more.
inline constexpr size_t kMaxListedWarnings = 20;
Result<size_t> simulate(const SimulateOptions& options, const std::vector<FlowSpec>& flows,
                        const PacketSource& source, const VerdictSink& sink, Diagnostics& diags);

// A capture in memory, the verdicts collected (tests and tools).
Result<std::vector<PacketVerdict>> simulate(const SimulateOptions& options, const std::vector<FlowSpec>& flows,
                                            const PcapFile& capture, Diagnostics& diags);

// "0-3,6,8-9" -> {0,1,2,3,6,8,9}; XB3120 on a malformed list.
Result<std::vector<unsigned>> parse_cpu_list(const std::string& text);

}  // namespace xb::datapath
