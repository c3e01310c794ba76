// libbpf and libxdp print through callbacks; route them into our logger (modules "libbpf", "libxdp").
// Its warnings accompany failures we already report as diagnostics (a refused attach, a probe that
// says no), so they are logged at Info; its info and debug output at Debug.
#pragma once

namespace xb {

void route_libbpf_logs();

}  // namespace xb
