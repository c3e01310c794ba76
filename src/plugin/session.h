// The startup sequence every front end shares (`xbypass check`, `xbypass run`, the plugin ABI):
// probe what the configuration names, derive the programs' requirements, plan, then — for run —
// load, pin, attach and verify every interface, all or nothing. A Session owns what it attached and
// detaches exactly that when destroyed.
#pragma once

#include <memory>
#include <optional>
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
#include "plan/plan.h"

namespace xb::session {

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
};
Assessment assess(const config::Config& config, const AssessOptions& options = {});

// Layout version of the pinned maps: bump when xb_flow.h, the counters or xb_slot_hash change (a
// table filled with another hash would be searched in the wrong slots). 2: the array flow table;
// 3: the orphaned counter; 4: the xsk-redirect counter (struct xb_counters grew by one value).
inline constexpr uint32_t kPinLayoutVersion = 4;

// The flow table's lease (xb_lease_until in xb_bypass.bpf.c): a run renews it every
// kLeaseRenewSeconds; kLeaseSeconds after the last renewal — a run killed without detaching —
// the kernel stops bypassing and every flow reaches the IDS again.
inline constexpr uint32_t kLeaseSeconds = 30;
inline constexpr uint32_t kLeaseRenewSeconds = 10;

// One interface as it runs.
struct RunningInterface {
    plan::InterfacePlan plan;
    std::unique_ptr<datapath::BypassProgram> program;  // built-in program (null for custom)
    BpfObjectPtr custom_object;                        // custom program
    std::unique_ptr<datapath::PinSet> pins;
    bool reused_pins = false;  // the flow table pinned by an earlier run was adopted
    size_t reused_flows = 0;   // flow entries it held at start
    std::optional<FileLock> lock;   // this run's claim on the interface (see interface_lock_path)
    uint32_t replaced_leftover = 0;  // id of a tc filter program left by a killed run, replaced
    // The plan tried native XDP with unknown features (plan.native_untested) and the driver refused
    // it: generic XDP runs instead (plan.datapath then says xdp-generic). The kernel's answer.
    std::string native_refused;
};

// Where the run on an interface keeps its lock: one per network namespace and interface name.
std::string interface_lock_path(unsigned long netns_inode, const std::string& interface);
inline constexpr const char* kRunDir = "/run/xbypass";

class Session {
public:
    // Attaches what the assessment planned. On any failure everything already done is undone and
    // the diagnostics say what failed (XB5xxx).
    static std::unique_ptr<Session> start(const Assessment& assessment, Diagnostics& diags);
    ~Session();

    const std::vector<RunningInterface>& interfaces() const { return interfaces_; }
    RunningInterface* find(const std::string& name);

    // Adds a flow (both directions) to an interface's flow table.
    Status bypass_flow(const std::string& interface, const datapath::FlowKey& key);
    // Removes a flow (both directions); ENOENT when neither direction is in the table.
    Status unbypass_flow(const std::string& interface, const datapath::FlowKey& key);
    // Removes flows idle for longer than their interface's flow-table timeout; returns how many.
    Result<size_t> expire_idle(uint64_t now_ns);
    // Extends every interface's lease by kLeaseSeconds from now.
    Status renew_leases();
    // Re-checks that every program is still attached where it was and that IPS peers still exist.
    Status verify() const;

    // The counters of every interface, as log lines and as one EVE-style JSON record.
    std::string stats_text() const;
    std::string stats_json() const;

private:
    Session() = default;
    std::vector<RunningInterface> interfaces_;
    datapath::AttachmentSet attachments_;  // declared last: destroyed (detached) first
};

// The startup block an operator reads: per interface the probed features, the chosen datapath and
// program, why each faster one was not chosen, and the counters that will be reported.
std::string startup_block(const Assessment& a);

}  // namespace xb::session
