// Attaching programs to interfaces so that we only ever detach what we attached.
//  - XDP: through a BPF link when the kernel has XDP links (a crash or SIGKILL closes the link and
//    detaches us, never someone else); otherwise netlink with XDP_FLAGS_UPDATE_IF_NOEXIST, and detach
//    with XDP_FLAGS_REPLACE against our own program fd.
//  - tc: a cls_bpf filter on clsact with our own handle and priority; the clsact qdisc is removed
//    only if we created it and no other filter uses it.
// Every attachment verifies itself against what the kernel reports, by program id.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/owners.h"
#include "common/result.h"

namespace xb::datapath {

enum class XdpMode { Native, Generic, Offload };
std::string_view xdp_mode_name(XdpMode m);  // "native", "generic", "offload"

enum class AttachMethod { BpfLink, Netlink };
std::string_view attach_method_name(AttachMethod m);  // "bpf-link", "netlink"

// What is attached to an interface now, per mode (0 = nothing).
struct XdpState {
    uint32_t native_prog_id = 0;
    uint32_t generic_prog_id = 0;
    uint32_t offload_prog_id = 0;
    uint32_t prog_id(XdpMode m) const;
    bool any() const { return native_prog_id || generic_prog_id || offload_prog_id; }
};
Result<XdpState> query_xdp(int ifindex);

// Program id of a program fd.
Result<uint32_t> prog_id_of(int prog_fd);
// The kernel's name of a program (at most 15 characters); empty when the id is gone.
Result<std::string> prog_name_of_fd(int prog_fd);
std::string prog_name_of_id(uint32_t prog_id);

// The program another tool has on the interface, to be replaced (coexist: replace).
struct ReplaceTarget {
    uint32_t prog_id = 0;
    XdpMode mode = XdpMode::Native;
    uint32_t link_id = 0;  // non-zero when it is held by a BPF link (force-detached with BPF_LINK_DETACH)
};

class XdpAttachment {
public:
    // Attaches prog_fd in the given mode. With `replace`, first removes that program (and only if it
    // is still the one attached), then attaches ours; if ours then fails, the replaced program is put
    // back through netlink so that what was running is never lost.
    static Result<XdpAttachment> attach(int ifindex, int prog_fd, XdpMode mode,
                                        const ReplaceTarget* replace = nullptr, bool allow_netlink = true);
    XdpAttachment(XdpAttachment&& o) noexcept;
    XdpAttachment& operator=(XdpAttachment&& o) noexcept;
    ~XdpAttachment() { (void)detach(); }

    // The kernel reports our program id in our mode on our interface.
    Status verify() const;
    // Idempotent; removes our program only. When another tool's program has taken our place (our
    // BPF link was detached and theirs attached, or netlink's XDP_FLAGS_REPLACE finds another
    // program), theirs stays attached, this is not a failure, and `left_theirs` (if given) gets one
    // sentence saying what was left (XB5022).
    Status detach(std::string* left_theirs = nullptr);
    // Moves our program to another mode (native -> generic degrade). The kernel refuses native and
    // generic XDP on one device at once, so this detaches and attaches again, with everything
    // prepared before the detach: the window without a program is one detach and one attach system
    // call, whose durations (CLOCK_MONOTONIC) are returned in `timing` if given. If the new mode is
    // refused, the program is attached again in the old mode.
    struct ModeChangeTiming {
        uint64_t detach_ns = 0, attach_ns = 0;
        uint64_t window_ns() const { return detach_ns + attach_ns; }
    };
    Status change_mode(int prog_fd, XdpMode to, ModeChangeTiming* timing = nullptr);
    int ifindex() const { return ifindex_; }
    XdpMode mode() const { return mode_; }
    AttachMethod method() const { return method_; }
    uint32_t prog_id() const { return prog_id_; }
    bool attached() const { return attached_; }
    // Swaps the attached program for new_prog_fd in one step, in the same mode (BPF link update with
    // BPF_F_REPLACE, or netlink with XDP_FLAGS_REPLACE against our program): no frame sees no program.
    Status replace_program(int new_prog_fd);
    // Keep the attachment alive past this process (for pinned programs): the link is pinned at path.
    Status pin_link(const std::string& path);

private:
    XdpAttachment() = default;
    int ifindex_ = 0;
    XdpMode mode_ = XdpMode::Native;
    AttachMethod method_ = AttachMethod::BpfLink;
    uint32_t prog_id_ = 0;
    UniqueFd link_fd_;  // BpfLink method
    UniqueFd prog_fd_;  // dup of our program (Netlink method: needed to detach only ours)
    bool attached_ = false;
};

enum class TcDirection { Ingress, Egress };

// Our tc filter identity: priority and handle chosen to be ours (documented in doc/datapath.md).
inline constexpr uint32_t kTcHandle = 0x5842;    // "XB"
inline constexpr uint32_t kTcPriority = 0x5842;

// Whether attach may take over a filter already at our handle and priority. tc filters have no
// link that dies with the process (no tcx in libbpf 1.1), so a killed run leaves its filter behind.
// Only the caller can know that no live run owns it (session.h holds a per-interface lock); then
// a filter whose program has the same name as ours is that leftover and is replaced.
enum class TcLeftover { Refuse, ReplaceSameName };

class TcAttachment {
public:
    static Result<TcAttachment> attach(int ifindex, int prog_fd, TcDirection dir, uint32_t handle = kTcHandle,
                                       uint32_t priority = kTcPriority, TcLeftover leftover = TcLeftover::Refuse);
    TcAttachment(TcAttachment&& o) noexcept;
    TcAttachment& operator=(TcAttachment&& o) noexcept;
    ~TcAttachment() { (void)detach(); }

    Status verify() const;
    // Removes our filter only: when the filter at our handle and priority runs another program (or
    // is of another kind), it is another tool's and stays; `left_theirs` (if given) then gets one
    // sentence saying so (XB5022). tc cannot delete a filter only if it still runs a given program:
    // between the check and the delete (microseconds) a replacement would still be removed.
    Status detach(std::string* left_theirs = nullptr);
    // Replaces our filter's program at the same handle and priority (one netlink request).
    Status replace_program(int new_prog_fd);
    bool created_clsact() const { return created_clsact_; }
    uint32_t prog_id() const { return prog_id_; }
    int ifindex() const { return ifindex_; }
    bool attached() const { return attached_; }
    // Id of the leftover program this attach replaced (TcLeftover::ReplaceSameName), else 0.
    uint32_t replaced_prog_id() const { return replaced_prog_id_; }

private:
    TcAttachment() = default;
    int ifindex_ = 0;
    TcDirection dir_ = TcDirection::Ingress;
    uint32_t handle_ = 0, priority_ = 0, prog_id_ = 0, replaced_prog_id_ = 0;
    bool created_clsact_ = false;
    bool attached_ = false;
};

// Number of tc filters (any kind) on the clsact ingress and egress hooks of an interface.
Result<size_t> count_clsact_filters(int ifindex);

}  // namespace xb::datapath
