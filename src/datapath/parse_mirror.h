// The BPF frame parser (ebpf/xb_parse.h) compiled for the host: the very code the programs run, so
// `xbypass simulate` can print the key a frame produced, and tests can compare both sides.
#pragma once

#include <cstdint>
#include <span>

#include "datapath/flow.h"

namespace xb::datapath {

enum class ParseStatus { Ok = 0, NotIp = 1, Fragment = 2, Malformed = 3 };  // enum xb_parse_status
std::string_view parse_status_name(ParseStatus s);  // "ok", "not-ip", "fragment", "parse-error"

struct ParsedFrame {
    ParseStatus status = ParseStatus::Malformed;
    FlowKey key{};  // meaningful when status is Ok
};

// hw_vlan_id >= 0: an outer tag the hook took out of the frame (tc ingress), as in the program.
ParsedFrame parse_frame(std::span<const uint8_t> frame, bool vlan_tracking, int hw_vlan_id = -1);

}  // namespace xb::datapath
