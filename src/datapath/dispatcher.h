// coexist: multiprog — xbypass as one program among others in libxdp's dispatcher.
// libxdp owns the dispatcher protocol (a dispatcher program whose slots are freplace extensions,
// pinned under <bpffs>/xdp/, swapped atomically with XDP_FLAGS_REPLACE); this file wraps it the way
// attach.h wraps links and netlink: join, verify and leave, by program id.
// Unlike a BPF link, a dispatcher component outlives its process (libxdp pins it), so a run killed
// with SIGKILL leaves its program in the dispatcher: remove_components_named() is how the next run
// on the interface clears it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "datapath/attach.h"

struct bpf_object;
struct xdp_program;

namespace xb::datapath {

// libxdp runs components by ascending priority (its default is 50). The bypass runs after the
// programs of other tools, so that the IDS sees what they let through, as it would without them.
inline constexpr unsigned kDispatcherRunPriority = 200;

struct DispatcherComponent {
    uint32_t prog_id = 0;
    std::string name;  // the kernel's program name: the function name, cut to 15 characters
    unsigned run_priority = 0;
};

// What libxdp sees on an interface.
struct DispatcherState {
    uint32_t dispatcher_id = 0;     // the dispatcher program; 0 when there is none
    uint32_t legacy_prog_id = 0;    // a program attached without the dispatcher; 0 when none
    XdpMode mode = XdpMode::Native; // of the dispatcher or the legacy program
    std::vector<DispatcherComponent> components;  // in run order
    bool has(uint32_t prog_id) const;
};
Result<DispatcherState> query_dispatcher(int ifindex);

class DispatcherAttachment {
public:
    // Makes `program` of `obj` (opened, not yet loaded) a component of the dispatcher on ifindex.
    // libxdp loads the whole object — the program as an freplace extension of a new dispatcher —
    // then swaps that dispatcher in for the old one (or attaches it when there is none). Programs
    // already in the dispatcher keep running throughout.
    static Result<DispatcherAttachment> join(int ifindex, bpf_object* obj, const std::string& program, XdpMode mode,
                                             unsigned run_priority = kDispatcherRunPriority);
    DispatcherAttachment(DispatcherAttachment&& o) noexcept;
    DispatcherAttachment& operator=(DispatcherAttachment&& o) noexcept;
    ~DispatcherAttachment();

    // The dispatcher on our interface runs in our mode and holds our program.
    Status verify() const;
    // Idempotent; removes our program only (libxdp removes the dispatcher with its last component).
    Status detach();

    int ifindex() const { return ifindex_; }
    XdpMode mode() const { return mode_; }
    uint32_t prog_id() const { return prog_id_; }
    bool attached() const { return attached_; }
    // libxdp attaches the program directly instead when the dispatcher cannot load and the
    // interface was empty (query_dispatcher() then reports it as legacy_prog_id); verify() and
    // detach() handle both.

private:
    DispatcherAttachment() = default;
    int ifindex_ = 0;
    XdpMode mode_ = XdpMode::Native;
    uint32_t prog_id_ = 0;
    bool attached_ = false;
};

// Removes from the dispatcher on ifindex every component whose program has one of these names, and
// returns their ids. Only the holder of the interface lock may call it: then no live run owns such
// a component, so each one is the leftover of a run that was killed.
Result<std::vector<uint32_t>> remove_components_named(int ifindex, const std::vector<std::string>& programs);

}  // namespace xb::datapath
