// The exception monitor: while a run is active, tp_btf programs on the kernel's XDP error
// tracepoints (xdp_exception, xdp_redirect_err, xdp_cpumap_enqueue drops, xdp_devmap_xmit drops and
// errors) count, per CPU and per watched interface, what the bypass programs' own counters cannot
// see: frames the kernel dropped after the program returned. Only the run's interfaces are counted
// (a small map the loader fills); other interfaces cost one hash lookup per error event, and normal
// packets nothing (the tracepoints do not fire for them).
// Counts are a plain struct (ExceptionCounts) for the stats and the C ABI.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "xb_monitor.h"

struct xb_monitor;

namespace xb::monitor {

enum class Event : uint32_t {
    Aborted = XB_MON_ABORTED,
    InvalidAction = XB_MON_INVALID_ACTION,
    TxError = XB_MON_TX_ERROR,
    RedirectError = XB_MON_REDIRECT_ERROR,
    RedirectCpuError = XB_MON_REDIRECT_CPU_ERROR,
    CpumapDrop = XB_MON_CPUMAP_DROP,
    DevmapDrop = XB_MON_DEVMAP_DROP,
    DevmapError = XB_MON_DEVMAP_ERROR,
};
inline constexpr size_t kEventCount = XB_MON_EV_MAX;
// "aborted", "invalid-action", "tx-error", "redirect-error", "redirect-cpu-error", "cpumap-drop",
// "devmap-drop", "devmap-error".
std::string_view event_name(Event e);

// The counts of one interface, summed over CPUs, indexed by Event.
struct ExceptionCounts {
    std::array<uint64_t, kEventCount> value{};
    uint64_t operator[](Event e) const { return value[static_cast<uint32_t>(e)]; }
    uint64_t total() const;
    // Frames the kernel failed to redirect (redirect-error, redirect-cpu-error, cpumap-drop, devmap-drop).
    uint64_t redirect_failures() const;
};
ExceptionCounts operator-(const ExceptionCounts& a, const ExceptionCounts& b);  // saturating at 0

struct WatchedInterface {
    int ifindex = 0;
    uint32_t cpumap_id = 0;  // the run's cpumap on that interface (0: none)
};

struct MonitorOptions {
    // Kernel BTF to relocate against; empty: the running kernel's (/sys/kernel/btf/vmlinux). A path
    // that does not exist makes start() fail as a kernel without BTF would (tests use that).
    std::string btf_path;
};

class ExceptionMonitor {
public:
    // Loads and attaches the programs and fills the filter with `interfaces` (at most
    // XB_MON_MAX_SLOTS). Fails when the tracepoints cannot be attached: no BTF, no such tracepoint,
    // lockdown or missing privileges refusing the programs; the error says which.
    static Result<std::unique_ptr<ExceptionMonitor>> start(const std::vector<WatchedInterface>& interfaces,
                                                           const MonitorOptions& options = {});
    ~ExceptionMonitor();
    ExceptionMonitor(const ExceptionMonitor&) = delete;
    ExceptionMonitor& operator=(const ExceptionMonitor&) = delete;

    // The counts of a watched interface (ENOENT when not watched).
    Result<ExceptionCounts> read(int ifindex) const;
    // A watched interface's cpumap changed (a program swap): 0 removes it.
    Status set_cpumap(int ifindex, uint32_t cpumap_id);
    // Ids of the attached programs (for tests and `bpftool`).
    std::vector<uint32_t> prog_ids() const;

private:
    ExceptionMonitor() = default;
    struct xb_monitor* skel_ = nullptr;
    std::vector<WatchedInterface> watched_;
    unsigned possible_cpus_ = 1;
};

// Id of the map behind fd (0 when it cannot be read).
uint32_t map_id_of(int map_fd);

}  // namespace xb::monitor
