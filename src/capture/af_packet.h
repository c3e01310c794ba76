// AF_PACKET capture: a TPACKET_V3 ring per socket, optionally in a fanout group so that several
// engine threads share one interface (Suricata's af-packet runmode). The ring is read in place:
// Packet views point into the mmap'ed blocks until release() hands the blocks back to the kernel.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "capture/capture.h"
#include "common/result.h"

namespace xb::capture {

enum class FanoutType { Hash, Cpu, QueueMapping, LoadBalance, Rollover };

// Suricata's cluster-type names: cluster_flow -> Hash, cluster_cpu -> Cpu, cluster_qm -> QueueMapping,
// cluster_rollover -> Rollover, cluster_round_robin -> LoadBalance; nullopt for anything else.
std::optional<FanoutType> fanout_from_cluster_type(std::string_view name);

struct AfPacketOptions {
    int ifindex = 0;
    uint32_t block_size = 262144;    // bytes per TPACKET_V3 block: a multiple of the page size, power of two
    uint32_t frame_count = 2048;     // ring capacity in frames of frame_size; the block count is derived
    uint32_t frame_size = 2048;      // tp_frame_size (TPACKET_ALIGNMENT multiple)
    uint32_t block_timeout_ms = 10;  // a partly filled block is handed over after this long
    uint16_t fanout_group = 0;       // 0: no fanout group
    FanoutType fanout_type = FanoutType::Hash;
};

// A receiver on options.ifindex in the calling thread's network namespace. Frames the host itself
// sends on the interface (PACKET_OUTGOING) are skipped: an IDS sees what arrives, once.
Result<std::unique_ptr<Receiver>> open_af_packet(const AfPacketOptions& options);

}  // namespace xb::capture
