// Rendering probe results for people (a table like `xdp-loader status` / `bpftool feature`) and for
// programs (JSON, documented in doc/probe.md). Pure functions: no I/O.
#pragma once

#include <string>
#include <vector>

#include "probe/capabilities.h"

namespace xb::probe {

// {"name":..., "ifindex":..., "xdp_features": 35, "xdp_features_names": ["basic", ...], ...}
std::string interface_to_json(const InterfaceCaps& c);
// {"release":..., "prog_types": {...}, ...}
std::string kernel_to_json(const KernelCaps& k);
// {"kernel": {...}, "interfaces": [...]}; kernel omitted when null.
std::string report_to_json(const KernelCaps* k, const std::vector<InterfaceCaps>& ifaces);

// Names of the set XDP feature bits ("basic", "redirect", ...), in bit order; unknown bits as "0x..".
std::vector<std::string> xdp_feature_names(uint64_t bits);
std::vector<std::string> xdp_rx_metadata_names(uint64_t bits);

// One line for the startup log: "veth0: driver veth, xdp-features 0x23 (basic,redirect,rx-sg), ...".
std::string interface_summary(const InterfaceCaps& c);
// "kernel 6.18.0: xdp yes, xdp-link yes, cpumap yes, freplace no (errno 1), bpffs /sys/fs/bpf, ...".
std::string kernel_summary(const KernelCaps& k);

std::string interfaces_to_text(const std::vector<InterfaceCaps>& ifaces);
std::string kernel_to_text(const KernelCaps& k);

}  // namespace xb::probe
