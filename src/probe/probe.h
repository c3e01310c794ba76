// Probing the interfaces of the current network namespace and the running kernel (I/O). Results are
// the pure types of probe/capabilities.h. To probe another namespace, enter it first (ScopedNetns):
// everything here talks to the namespace of the calling thread.
#pragma once

#include <string>
#include <vector>

#include "common/netdev_uapi.h"
#include "common/result.h"
#include "probe/capabilities.h"

namespace xb::probe {

struct ProbeOptions {
    // The generic-netlink family asked for the XDP features. Only tests change it, to exercise the
    // path of a kernel without the family (Linux < 6.3) on a kernel that has it.
    std::string netdev_family = netdev::kFamilyName;
};

// One interface by name. A missing interface is an Error with code ENODEV (the caller turns it into
// diagnostic XB2001); every partial failure after that is a note inside the result.
Result<InterfaceCaps> probe_interface(const std::string& name, const ProbeOptions& opts = {});
// Every interface of the current namespace, in ifindex order.
Result<std::vector<InterfaceCaps>> probe_all_interfaces(const ProbeOptions& opts = {});

// The kernel: prog/map/helper support, XDP links, bpffs/tracefs, BTF, freplace, CPUs, lockdown.
// Never fails as a whole; what could not be probed is Unknown with a note.
KernelCaps probe_kernel();

// The startup log: one Info line per interface / for the kernel (render.h's *_summary), then each
// note as a diagnostic at its severity.
void log_interface(const InterfaceCaps& c);
void log_kernel(const KernelCaps& k);

// The diagnostic for an interface that does not exist (XB2001).
Diagnostic missing_interface_diagnostic(const std::string& name);

}  // namespace xb::probe
