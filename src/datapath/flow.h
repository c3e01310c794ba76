// The flow key in user space: building keys from text, reversing them, printing them, and the
// flows file of `xbypass simulate` (one flow per line). The key struct itself is ebpf/xb_flow.h,
// shared byte-for-byte with the BPF programs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/diagnostic.h"
#include "common/result.h"
#include "xb_flow.h"

namespace xb::datapath {

using FlowKey = struct xb_flow_key;
using FlowValue = struct xb_flow_value;

static_assert(sizeof(FlowKey) == 44 && alignof(FlowKey) == 4, "xb_flow_key differs from the BPF side");
static_assert(offsetof(FlowKey, dst_addr) == 16 && offsetof(FlowKey, proto) == 41);
static_assert(sizeof(FlowValue) == 16 && offsetof(FlowValue, bytes) == 8 && sizeof(struct xb_flow_stats_elem) == 32);
static_assert(sizeof(struct xb_flow_slot) == 64 && offsetof(struct xb_flow_slot, stats_index) == 44 &&
              offsetof(struct xb_flow_slot, seq) == 48 && offsetof(struct xb_flow_slot, last_seen_jiffies) == 56 &&
              offsetof(struct xb_flow_slot, inserted_jiffies) == 60);
static_assert(sizeof(struct xb_table_meta) == 64 && offsetof(struct xb_table_meta, hash_key) == 8);
static_assert(sizeof(struct xb_hash_key) == 48 && offsetof(struct xb_hash_key, v4_tail) == 40);
static_assert(sizeof(struct xb_counters) == 8 * XB_CNT_MAX);

// A key from text: proto ("tcp", "udp" or 0-255), addresses (both IPv4 or both IPv6), ports in host
// order (must be 0 for protocols without ports), VLAN ids (0-4095).
Result<FlowKey> make_flow_key(std::string_view proto, std::string_view src_ip, uint16_t src_port,
                              std::string_view dst_ip, uint16_t dst_port, uint16_t vlan_outer = 0,
                              uint16_t vlan_inner = 0);

// The other direction: addresses and ports swapped, VLAN ids kept.
FlowKey reverse_flow_key(const FlowKey& key);

bool flow_key_equal(const FlowKey& a, const FlowKey& b);

// "tcp", "udp", "icmp", "ipv6-icmp" or the number.
std::string proto_name(uint8_t proto);
std::string address_string(const FlowKey& key, bool source);

// "tcp 10.0.0.1:1234 -> 10.0.0.2:80 vlan 100/200" (vlan part only when non-zero).
std::string flow_key_to_string(const FlowKey& key);
// {"proto":"tcp","src_ip":"10.0.0.1","src_port":1234,"dst_ip":...,"dst_port":80,"vlan":[100,200]}
std::string flow_key_to_json(const FlowKey& key);

// Symmetric flow hash and the CPU it selects, exactly as the BPF program computes them
// (ebpf/xb_hash.h is compiled on both sides).
uint32_t flow_hash(const FlowKey& key);
unsigned redirect_cpu_for(const FlowKey& key, const std::vector<unsigned>& cpus);  // cpus non-empty

// One flow of a flows file.
struct FlowSpec {
    FlowKey key{};
    unsigned line = 0;
};

// The largest flows file read (XB3103 beyond): about 700,000 IPv4 flows.
inline constexpr size_t kMaxFlowsFileBytes = 16u << 20;

// Flows file: `PROTO SRC_IP SRC_PORT DST_IP DST_PORT [VLAN0 [VLAN1]]` per line, `#` comments and blank
// lines ignored. Every bad line is an XB3101 diagnostic with file:line:col; parsing goes on so that
// all of them are reported at once. A line that repeats an earlier flow (in either direction) is
// counted once and reported in one XB3102 warning with the line numbers. Returns the unique flows.
std::vector<FlowSpec> parse_flows(std::string_view text, const std::string& file_name, Diagnostics& diags);
// Reads (common/input_file.h) and parses a file; an unreadable or non-regular file is XB3100, one
// larger than kMaxFlowsFileBytes XB3103.
std::vector<FlowSpec> load_flows_file(const std::string& path, Diagnostics& diags);

}  // namespace xb::datapath
