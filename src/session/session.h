// The startup sequence every front end shares (`xbypass check`, `xbypass run`, the plugin ABI):
// probe what the configuration names, derive the programs' requirements, plan, then — for run —
// load, pin, attach and verify every interface, all or nothing. A Session owns what it attached and
// detaches exactly that when destroyed.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/diagnostic.h"
#include "common/file_lock.h"
#include "config/config.h"
#include "datapath/attach.h"
#include "datapath/attachment_set.h"
#include "datapath/dispatcher.h"
#include "datapath/insn_reader.h"
#include "datapath/pin.h"
#include "datapath/program.h"
#include "datapath/suricata_maps.h"
#include "monitor/health.h"
#include "monitor/link_watch.h"
#include "monitor/monitor.h"
#include "plan/plan.h"

namespace xb::session {

class ExpiryQueue;  // session/expiry_queue.h

// Requirements of the built-in programs, from their manifests.
std::vector<plan::ProgramRequirements> builtin_requirements();
// Requirements of a user-supplied object, derived from its instructions (one entry per hook found).
std::vector<plan::ProgramRequirements> custom_requirements(const std::string& path,
                                                            const std::vector<datapath::ProgramInsns>& programs);

// Everything but attaching: probe + plan.
struct Assessment {
    plan::PlanInput input;
    plan::Plan plan;
    Diagnostics diagnostics;  // probe notes worth showing, custom-program reading, and the plan's
    bool accepted() const { return !diagnostics.has_errors(); }
};
struct AssessOptions {
    bool engine_capture = false;  // an engine receives packets through the plugin: capture is planned
    // Programs of this run (a reload probes interfaces we already run on): not another tool's.
    std::set<uint32_t> own_programs;
    // Interfaces this run holds the lock of (a reload): their lock is ours, not another run's.
    std::set<std::string> own_interfaces;
    // bpffs (pins) and tracefs (tracepoints) where missing: `run` mounts them (true); `check` mounts
    // nothing and plans as run will, with a note that run mounts them (XB2027, XB2028).
    bool mount_filesystems = false;
};
Assessment assess(const config::Config& config, const AssessOptions& options = {});

// The built-in program's load options for an interface's plan (start and reload load the same).
datapath::ProgramOptions program_options(const plan::InterfacePlan& p);

// Layout version of the pinned maps: bump when xb_flow.h, the counters or xb_slot_hash change (a
// table filled with another hash would be searched in the wrong slots). 2: the array flow table;
// 3: the orphaned counter; 4: the xsk-redirect counter (struct xb_counters grew by one value);
// 5: the robin-hood table (mmapable 64-byte slots, counters per flow id, keyed hash in a metadata slot).
inline constexpr uint32_t kPinLayoutVersion = 5;

// A flow that expired on an interface, with its final kernel counts.
struct ExpiredFlow : datapath::ExpiredFlow {
    std::string interface;
};

// A flow table more than this full (in percent of `size`) gets a warning (XB6040).
inline constexpr unsigned kFlowTableWarnPercent = 80;

// The flow table's lease (xb_lease_until in xb_bypass.bpf.c): a run renews it every
// kLeaseRenewSeconds; kLeaseSeconds after the last renewal — a run killed without detaching —
// the kernel stops bypassing and every flow reaches the IDS again.
inline constexpr uint32_t kLeaseSeconds = 30;
inline constexpr uint32_t kLeaseRenewSeconds = 10;

// The Suricata mode: the Suricata process that holds the interface's maps, as last seen.
struct SuricataPeer {
    std::vector<uint32_t> map_ids;      // flow_table_v4, flow_table_v6
    std::vector<std::string> pins;      // the two pin paths
    std::vector<std::string> created;   // those this run pinned (removed if the start fails)
    bool adopted = false;               // the pins existed (an earlier run's maps): adopted
    std::string shared_with;            // the IPS peer whose maps these are (an IPS pair shares one pair)
    pid_t pid = 0;                      // 0: none alive
    std::string name;                   // its /proc comm
    bool ever_seen = false;
    bool waiting_logged = false;
    time_t since = 0;                   // when the pairing entered its state (wall clock)
    // "paired" (a Suricata holds the maps), "waiting" (none has yet) or "failed-open" (the one that
    // held them is gone: nothing is bypassed until one holds them again).
    const char* state() const { return pid ? "paired" : ever_seen ? "failed-open" : "waiting"; }
};

// One interface as it runs.
struct RunningInterface {
    plan::InterfacePlan plan;
    std::unique_ptr<datapath::BypassProgram> program;  // built-in program (null for custom)
    std::unique_ptr<datapath::SuricataProgram> suricata;  // Suricata mode (program is then null)
    SuricataPeer peer;
    BpfObjectPtr custom_object;                        // custom program
    std::unique_ptr<datapath::PinSet> pins;
    bool reused_pins = false;  // the flow table pinned by an earlier run was adopted
    size_t reused_flows = 0;   // flow entries it held at start
    bool fill_warned = false;  // XB6040 logged; again once the table went below 70% in between
    std::optional<FileLock> lock;   // this run's claim on the interface (see interface_lock_path)
    uint32_t replaced_leftover = 0;  // id of a tc filter program left by a killed run, replaced
    // Runtime health (src/monitor): the last sample, and what the run changed since start.
    monitor::HealthSample health;
    bool peer_down = false;     // the IPS peer cannot receive: hits go to the stack (XB6010)
    bool capture_down = false;  // the capture interface is down (XB6013)
    bool bypass_stopped = false;  // on-runtime-error: stop detached the program (XB6021)
    std::string degraded_from;  // the program (XB6020) or "xdp-native" (XB6024) the run degraded from
    uint64_t degrade_window_ns = 0;  // XB6024: from the start of the native detach to the end of the generic attach
    bool degrade_window_covered = false;  // XB6024: the same program ran at tc ingress through that window
    // The plan tried native XDP with unknown features (plan.native_untested) and the driver refused
    // it: generic XDP runs instead (plan.datapath then says xdp-generic). The kernel's answer.
    std::string native_refused;
};

struct SessionOptions {
    bool exception_monitor = true;     // load the tracepoint programs (XB6003 when they cannot be)
    monitor::MonitorOptions monitor;   // tests point btf_path at a missing file
};

// Where the run on an interface keeps its lock: one per network namespace and interface name.
std::string interface_lock_path(unsigned long netns_inode, const std::string& interface);
inline constexpr const char* kRunDir = "/run/xbypass";

class Session {
public:
    // Attaches what the assessment planned. On any failure everything already done is undone and
    // the diagnostics say what failed (XB5xxx).
    static std::unique_ptr<Session> start(const Assessment& assessment, Diagnostics& diags,
                                          const SessionOptions& options = {});
    ~Session();

    const std::vector<RunningInterface>& interfaces() const { return interfaces_; }
    RunningInterface* find(const std::string& name);

    // Adds a flow (both directions) to an interface's flow table.
    Status bypass_flow(const std::string& interface, const datapath::FlowKey& key);
    // Removes a flow (both directions); ENOENT when neither direction is in the table.
    Status unbypass_flow(const std::string& interface, const datapath::FlowKey& key);
    // The kernel's counts of a bypassed flow, in the direction of key and the reverse one (absent
    // directions are nullopt); ENOENT when neither is in the table.
    struct FlowCounts {
        std::optional<datapath::FlowStats> forward, reverse;
    };
    Result<FlowCounts> flow_counts(const std::string& interface, const datapath::FlowKey& key) const;
    // Removes the flows whose directions were both idle for longer than their interface's
    // flow-table timeout (now_ns: CLOCK_MONOTONIC); returns them with their final kernel counts.
    Result<std::vector<ExpiredFlow>> expire_idle(uint64_t now_ns);
    // Where the upkeep queues the flows it expired for an engine to take (off until enabled, see
    // session/expiry_queue.h); its counts are in the statistics once enabled.
    ExpiryQueue& expiry_events() const { return *expiry_; }
    // Extends every interface's lease by kLeaseSeconds from now.
    Status renew_leases();
    // Re-checks that every program is still attached where it was and that IPS peers still exist.
    Status verify() const;
    // The Suricata mode: whether any interface runs it, and the check (meant for every second) of
    // whether the Suricata holding its maps is alive; when it is gone, bypassing stops at once and
    // the tables are emptied (XB6031); when one holds the maps (again), bypassing resumes (XB6030).
    bool has_suricata() const;
    void check_suricata();

    // Link events of the run's namespace (monitor::LinkWatcher): an IPS peer that cannot receive
    // stops the bypass to it (XB6010) and one that can again resumes it (XB6011); a capture interface
    // that goes down or up is logged (XB6013/XB6014); one that disappears is an error (XB6012).
    // Every diagnostic is logged and added to diags.
    Status on_link_events(const std::vector<monitor::LinkEvent>& events, Diagnostics& diags);
    // The same from the links' state now (after lost events, and at every verification).
    Status check_links(Diagnostics& diags);
    // Exception and redirect-error counts (and, without the exception monitor, the program's
    // redirect-fail with its cpumap) since the last call, per interface, acted on as its
    // on-runtime-error says (XB6020..XB6024). An error: on-runtime-error: stop was applied.
    Status check_health(Diagnostics& diags);

    // The exception monitor's counts of an interface; nullopt when the monitor does not run.
    std::optional<monitor::ExceptionCounts> exceptions(const std::string& interface) const;
    bool exception_monitor_running() const { return monitor_ != nullptr; }

    // The counters of every interface, as log lines and as one EVE-style JSON record.
    std::string stats_text() const;
    std::string stats_json() const;

    // --- live operations (session/reload.cpp) ---
    // Applies a new assessment as a difference (see session/reload.h): program changes are atomic
    // swaps keeping the flow table and counters, added interfaces are attached, removed ones
    // detached. Options that cannot change live are XB8102 errors and then nothing changes; a
    // failure while applying (XB8103) undoes what was done. `changes` says what was done.
    Status apply(const Assessment& next, bool allow_interface_changes, Diagnostics& diags,
                 std::vector<std::string>& changes);
    // Program ids this run has attached (for AssessOptions::own_programs).
    std::set<uint32_t> own_programs() const;
    // Held shared by whoever reads interfaces() from another thread than the one that reloads
    // (the plugin's engine threads); apply() holds it exclusively. The methods above take it.
    std::shared_mutex& live_mutex() const { return live_mu_; }
    // Frees the programs swapped out more than 3 s ago (the upkeep calls it, once a second).
    void release_retired();

private:
    Session() = default;
    std::string suricata_pid_file_;
    bool started_ = false;  // start() completed: Suricata-mode pins stay when the session ends
    void start_monitor(const SessionOptions& options, Diagnostics& diags);
    monitor::HealthSample sample(const RunningInterface& ri) const;
    Status degrade(RunningInterface& ri, const monitor::Finding& f, Diagnostics& diags);
    Status peer_changed(RunningInterface& ri, const monitor::LinkEvent& e, Diagnostics& diags);
    std::unique_ptr<monitor::ExceptionMonitor> monitor_;
    std::unique_ptr<ExpiryQueue> expiry_;  // made by start(); thread-safe of its own
    std::vector<RunningInterface> interfaces_;
    mutable std::shared_mutex live_mu_;
    // A program swapped out (reload, degrade) with a cpumap is kept for a while: frames still queued
    // in its cpumap are passed on by the map's kthreads, where freeing the map at once would drop
    // them (seen: a whole 2,048-frame queue lost at a swap while other work held the CPUs).
    struct Retired {
        uint64_t until_s = 0;  // CLOCK_MONOTONIC seconds
        std::unique_ptr<datapath::BypassProgram> program;
    };
    void retire(std::unique_ptr<datapath::BypassProgram> program);  // under live_mu_ (exclusive)
    std::vector<Retired> retired_;                                    // under live_mu_
    datapath::AttachmentSet attachments_;  // declared last: destroyed (detached) first
};

// The startup block an operator reads: per interface the probed features, the chosen datapath and
// program, why each faster one was not chosen, and the counters that will be reported.
std::string startup_block(const Assessment& a);

// Logs XB5022: at detach another tool's program was found in our place and left attached.
void log_left_theirs(const std::string& what);

}  // namespace xb::session
