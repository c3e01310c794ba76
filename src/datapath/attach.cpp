#include "datapath/attach.h"

#include <net/if.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "common/strings.h"

namespace xb::datapath {

namespace {

uint32_t mode_flag(XdpMode m) {
    switch (m) {
        case XdpMode::Native: return XDP_FLAGS_DRV_MODE;
        case XdpMode::Generic: return XDP_FLAGS_SKB_MODE;
        case XdpMode::Offload: return XDP_FLAGS_HW_MODE;
    }
    return 0;
}

// The kernel's errno turned into the operator's words.
std::string xdp_attach_cause(int err, XdpMode mode) {
    switch (err) {
        case EEXIST:
        case EBUSY: return "another XDP program is attached to the interface (in this or another mode)";
        case EOPNOTSUPP: return std::string("the driver does not support XDP in ") + std::string(xdp_mode_name(mode)) + " mode";
        case ERANGE: return "the MTU is too large for single-buffer XDP on this driver";
        case EPERM: return "permission denied (CAP_NET_ADMIN and CAP_BPF are needed)";
        default: return "the kernel refused the attach";
    }
}

Error errno_error(int err, const std::string& what) { return Error::from_errno(err, what); }

}  // namespace

std::string_view xdp_mode_name(XdpMode m) {
    switch (m) {
        case XdpMode::Native: return "native";
        case XdpMode::Generic: return "generic";
        case XdpMode::Offload: return "offload";
    }
    return "native";
}

std::string_view attach_method_name(AttachMethod m) { return m == AttachMethod::BpfLink ? "bpf-link" : "netlink"; }

uint32_t XdpState::prog_id(XdpMode m) const {
    switch (m) {
        case XdpMode::Native: return native_prog_id;
        case XdpMode::Generic: return generic_prog_id;
        case XdpMode::Offload: return offload_prog_id;
    }
    return 0;
}

Result<XdpState> query_xdp(int ifindex) {
    bpf_xdp_query_opts opts{};
    opts.sz = sizeof opts;
    if (int err = bpf_xdp_query(ifindex, 0, &opts); err < 0)
        return errno_error(err, "cannot query XDP state of ifindex " + std::to_string(ifindex));
    XdpState st;
    st.native_prog_id = opts.drv_prog_id;
    st.generic_prog_id = opts.skb_prog_id;
    st.offload_prog_id = opts.hw_prog_id;
    return st;
}

Result<uint32_t> prog_id_of(int prog_fd) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (int err = bpf_obj_get_info_by_fd(prog_fd, &info, &len); err < 0)
        return errno_error(err, "cannot read program info");
    return info.id;
}

Result<std::string> prog_name_of_fd(int prog_fd) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (int err = bpf_obj_get_info_by_fd(prog_fd, &info, &len); err < 0)
        return errno_error(err, "cannot read program info");
    return std::string(info.name);
}

std::string prog_name_of_id(uint32_t prog_id) {
    UniqueFd fd(bpf_prog_get_fd_by_id(prog_id));
    if (!fd) return {};
    auto name = prog_name_of_fd(fd.get());
    return name ? *name : std::string();
}

// --- XDP ---------------------------------------------------------------------------------------

XdpAttachment::XdpAttachment(XdpAttachment&& o) noexcept
    : ifindex_(o.ifindex_),
      mode_(o.mode_),
      method_(o.method_),
      prog_id_(o.prog_id_),
      link_fd_(std::move(o.link_fd_)),
      prog_fd_(std::move(o.prog_fd_)),
      attached_(std::exchange(o.attached_, false)) {}

XdpAttachment& XdpAttachment::operator=(XdpAttachment&& o) noexcept {
    if (this != &o) {
        (void)detach();
        ifindex_ = o.ifindex_;
        mode_ = o.mode_;
        method_ = o.method_;
        prog_id_ = o.prog_id_;
        link_fd_ = std::move(o.link_fd_);
        prog_fd_ = std::move(o.prog_fd_);
        attached_ = std::exchange(o.attached_, false);
    }
    return *this;
}

Result<XdpAttachment> XdpAttachment::attach(int ifindex, int prog_fd, XdpMode mode, const ReplaceTarget* replace,
                                            bool allow_netlink) {
    auto id = prog_id_of(prog_fd);
    if (!id) return id.error();

    // Remove the program we were told to replace, keeping an fd to it so it can be put back.
    UniqueFd replaced_fd;
    if (replace) {
        int old = bpf_prog_get_fd_by_id(replace->prog_id);
        if (old < 0) return errno_error(old, "program " + std::to_string(replace->prog_id) + " to replace is gone");
        replaced_fd.reset(old);
        if (replace->link_id) {
            UniqueFd link(bpf_link_get_fd_by_id(replace->link_id));
            if (!link) return errno_error(errno, "cannot open BPF link " + std::to_string(replace->link_id));
            if (int err = bpf_link_detach(link.get()); err < 0)
                return errno_error(err, "cannot detach BPF link " + std::to_string(replace->link_id));
        } else {
            bpf_xdp_attach_opts o{};
            o.sz = sizeof o;
            o.old_prog_fd = replaced_fd.get();
            if (int err = bpf_xdp_detach(ifindex, XDP_FLAGS_REPLACE | mode_flag(replace->mode), &o); err < 0)
                return errno_error(err, "cannot remove program " + std::to_string(replace->prog_id) +
                                            " (it changed since it was probed?)");
        }
    }
    auto restore = [&] {
        if (replaced_fd)
            (void)bpf_xdp_attach(ifindex, replaced_fd.get(), XDP_FLAGS_UPDATE_IF_NOEXIST | mode_flag(replace->mode),
                                 nullptr);
    };

    XdpAttachment a;
    a.ifindex_ = ifindex;
    a.mode_ = mode;
    a.prog_id_ = *id;

    bpf_link_create_opts lo{};
    lo.sz = sizeof lo;
    lo.flags = mode_flag(mode);
    int link = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lo);
    if (link >= 0) {
        a.link_fd_.reset(link);
        a.method_ = AttachMethod::BpfLink;
        a.attached_ = true;
        return a;
    }
    int err = errno;
    // Kernels before 5.9 have no XDP links (EINVAL): use netlink, never overwriting anyone.
    if (err == EINVAL && allow_netlink) {
        int r = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_UPDATE_IF_NOEXIST | mode_flag(mode), nullptr);
        if (r == 0) {
            a.prog_fd_.reset(fcntl(prog_fd, F_DUPFD_CLOEXEC, 0));
            a.method_ = AttachMethod::Netlink;
            a.attached_ = true;
            return a;
        }
        err = -r;
    }
    restore();
    return Error{err, xdp_attach_cause(err, mode) + " (" + std::string(xdp_mode_name(mode)) + " XDP on ifindex " +
                          std::to_string(ifindex) + ": " + std::strerror(err) + ")"};
}

Status XdpAttachment::verify() const {
    if (!attached_) return Error{ENOENT, "not attached"};
    auto st = query_xdp(ifindex_);
    if (!st) return st.error();
    uint32_t there = st->prog_id(mode_);
    if (there == 0) {
        char name[IF_NAMESIZE] = {};
        if (!if_indextoname(static_cast<unsigned>(ifindex_), name))
            return Error{ENODEV, "ifindex " + std::to_string(ifindex_) +
                                     " is gone (the interface was deleted or moved to another namespace)"};
        return Error{ESTALE, std::string(name) + " (ifindex " + std::to_string(ifindex_) + ") has no XDP program in " +
                                 std::string(xdp_mode_name(mode_)) + " mode any more; ours was program " +
                                 std::to_string(prog_id_)};
    }
    if (there != prog_id_)
        return Error{ESTALE, "ifindex " + std::to_string(ifindex_) + " runs program " + std::to_string(there) + " in " +
                                 std::string(xdp_mode_name(mode_)) + " mode, not ours (" + std::to_string(prog_id_) + ")"};
    return {};
}

namespace {

// The sentence XB5022 carries: another tool's XDP program where ours was, left attached.
std::string theirs_left(int ifindex, XdpMode mode, uint32_t theirs, uint32_t ours, const char* how) {
    std::string name = prog_name_of_id(theirs);
    return "ifindex " + std::to_string(ifindex) + " runs XDP program " + std::to_string(theirs) +
           (name.empty() ? std::string() : " (" + name + ")") + " in " + std::string(xdp_mode_name(mode)) +
           " mode, not ours (" + std::to_string(ours) + "): " + how + "; it was left attached";
}

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

Status XdpAttachment::detach(std::string* left_theirs) {
    if (!attached_) return {};
    attached_ = false;
    if (method_ == AttachMethod::BpfLink) {
        // Someone may have force-detached our link (BPF_LINK_DETACH, as coexist: replace does) and
        // attached theirs: closing our defunct link then leaves theirs, which is said.
        bpf_link_info info{};
        uint32_t len = sizeof info;
        if (left_theirs && bpf_obj_get_info_by_fd(link_fd_.get(), &info, &len) == 0 && info.xdp.ifindex == 0)
            if (auto st = query_xdp(ifindex_); st && st->prog_id(mode_) && st->prog_id(mode_) != prog_id_)
                *left_theirs = theirs_left(ifindex_, mode_, st->prog_id(mode_), prog_id_,
                                           "our BPF link was detached by someone else");
        // Closing the last reference to the link detaches the program (unless the link is pinned).
        link_fd_.reset();
        return {};
    }
    bpf_xdp_attach_opts o{};
    o.sz = sizeof o;
    o.old_prog_fd = prog_fd_.get();
    int err = bpf_xdp_detach(ifindex_, XDP_FLAGS_REPLACE | mode_flag(mode_), &o);
    prog_fd_.reset();
    // ENOENT/ENODEV: the interface is gone. EEXIST: the program there is not ours (XDP_FLAGS_REPLACE
    // compares it with our fd): someone replaced or removed ours, and what is there stays.
    if (err == -EEXIST) {
        if (auto st = query_xdp(ifindex_); st && left_theirs && st->prog_id(mode_) && st->prog_id(mode_) != prog_id_)
            *left_theirs = theirs_left(ifindex_, mode_, st->prog_id(mode_), prog_id_, "another tool replaced ours");
        return {};
    }
    if (err < 0 && err != -ENODEV && err != -ENOENT)
        return errno_error(err, "cannot detach our XDP program from ifindex " + std::to_string(ifindex_));
    return {};
}

Status XdpAttachment::change_mode(int prog_fd, XdpMode to, ModeChangeTiming* timing) {
    if (!attached_) return Error{ENOENT, "not attached"};
    if (to == mode_) return {};
    auto id = prog_id_of(prog_fd);
    if (!id) return id.error();
    if (*id != prog_id_) return Error{EINVAL, "change_mode moves our own program only"};
    // Everything the attach needs is made before the detach: the options, the netlink fallback's dup.
    bpf_link_create_opts lo{};
    lo.sz = sizeof lo;
    lo.flags = mode_flag(to);
    UniqueFd dup(fcntl(prog_fd, F_DUPFD_CLOEXEC, 0));
    if (!dup) return errno_error(-errno, "cannot duplicate the program fd");
    const XdpMode from = mode_;

    const uint64_t t0 = monotonic_ns();
    int err = 0;
    if (method_ == AttachMethod::BpfLink) {
        // BPF_LINK_DETACH detaches now, even if another reference to the link exists (a pin).
        err = bpf_link_detach(link_fd_.get());
    } else {
        bpf_xdp_attach_opts o{};
        o.sz = sizeof o;
        o.old_prog_fd = prog_fd_.get();
        err = bpf_xdp_detach(ifindex_, XDP_FLAGS_REPLACE | mode_flag(from), &o);
    }
    const uint64_t t_detached = monotonic_ns();
    if (err < 0) return errno_error(err, "cannot detach our XDP program from ifindex " + std::to_string(ifindex_));
    int link = -1, r = -1;
    if (method_ == AttachMethod::BpfLink) link = bpf_link_create(prog_fd, ifindex_, BPF_XDP, &lo);
    else r = bpf_xdp_attach(ifindex_, prog_fd, XDP_FLAGS_UPDATE_IF_NOEXIST | mode_flag(to), nullptr);
    const uint64_t t1 = monotonic_ns();
    if (timing) *timing = {t_detached - t0, t1 - t_detached};
    const bool ok = method_ == AttachMethod::BpfLink ? link >= 0 : r == 0;
    const int attach_err = method_ == AttachMethod::BpfLink ? errno : -r;
    if (ok) {
        mode_ = to;
        if (method_ == AttachMethod::BpfLink) link_fd_.reset(link);
        else prog_fd_ = std::move(dup);
        return {};
    }
    // Back to the old mode, so that the program still runs as before.
    Status back;
    if (method_ == AttachMethod::BpfLink) {
        lo.flags = mode_flag(from);
        int l = bpf_link_create(prog_fd, ifindex_, BPF_XDP, &lo);
        if (l >= 0) link_fd_.reset(l);
        else back = errno_error(-errno, "");
    } else if (int e = bpf_xdp_attach(ifindex_, prog_fd, XDP_FLAGS_UPDATE_IF_NOEXIST | mode_flag(from), nullptr); e < 0) {
        back = errno_error(e, "");
    }
    if (!back) {
        attached_ = false;
        link_fd_.reset();
        prog_fd_.reset();
    }
    return Error{attach_err, xdp_attach_cause(attach_err, to) + " (" + std::string(xdp_mode_name(to)) + " XDP on ifindex " +
                                 std::to_string(ifindex_) + ": " + std::strerror(attach_err) + "); " +
                                 (back ? std::string(xdp_mode_name(from)) + " XDP attached again"
                                       : std::string(xdp_mode_name(from)) + " XDP could not be attached again either")};
}

Status XdpAttachment::replace_program(int new_prog_fd) {
    if (!attached_) return Error{ENOENT, "not attached"};
    auto id = prog_id_of(new_prog_fd);
    if (!id) return id.error();
    if (method_ == AttachMethod::BpfLink) {
        UniqueFd old(bpf_prog_get_fd_by_id(prog_id_));
        if (!old) return errno_error(-errno, "our XDP program " + std::to_string(prog_id_) + " is gone");
        bpf_link_update_opts o{};
        o.sz = sizeof o;
        o.flags = BPF_F_REPLACE;
        o.old_prog_fd = old.get();
        if (int err = bpf_link_update(link_fd_.get(), new_prog_fd, &o); err < 0)
            return errno_error(err, "cannot update our XDP link on ifindex " + std::to_string(ifindex_));
    } else {
        bpf_xdp_attach_opts o{};
        o.sz = sizeof o;
        o.old_prog_fd = prog_fd_.get();
        if (int err = bpf_xdp_attach(ifindex_, new_prog_fd, XDP_FLAGS_REPLACE | mode_flag(mode_), &o); err < 0)
            return errno_error(err, "cannot replace our XDP program on ifindex " + std::to_string(ifindex_));
        prog_fd_.reset(fcntl(new_prog_fd, F_DUPFD_CLOEXEC, 0));
    }
    prog_id_ = *id;
    return {};
}

Status XdpAttachment::pin_link(const std::string& path) {
    if (method_ != AttachMethod::BpfLink || !link_fd_) return Error{EINVAL, "only a BPF link can be pinned"};
    if (int err = bpf_obj_pin(link_fd_.get(), path.c_str()); err < 0)
        return errno_error(err, "cannot pin XDP link at " + path);
    return {};
}

// --- tc ----------------------------------------------------------------------------------------

namespace {

bpf_tc_hook make_hook(int ifindex, TcDirection dir) {
    bpf_tc_hook h{};
    h.sz = sizeof h;
    h.ifindex = ifindex;
    h.attach_point = dir == TcDirection::Ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
    return h;
}

int count_filters_cb(const nlmsghdr* nlh, void* data) {
    if (nlh->nlmsg_type == RTM_NEWTFILTER) {
        const auto* tcm = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh));
        // Each filter instance has a handle; the per-priority head entries do not.
        if (tcm->tcm_handle != 0) ++*static_cast<size_t*>(data);
    }
    return MNL_CB_OK;
}

Result<size_t> count_filters_on(mnl_socket* nl, int ifindex, uint32_t parent, uint32_t seq) {
    char buf[MNL_SOCKET_BUFFER_SIZE];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETTFILTER;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = seq;
    auto* tcm = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(tcmsg)));
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = ifindex;
    tcm->tcm_parent = parent;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) return errno_error(errno, "RTM_GETTFILTER");
    size_t count = 0;
    unsigned portid = mnl_socket_get_portid(nl);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
        if (n < 0) return errno_error(errno, "RTM_GETTFILTER recv");
        int r = mnl_cb_run(buf, static_cast<size_t>(n), seq, portid, count_filters_cb, &count);
        if (r == MNL_CB_STOP) break;
        if (r < 0) {
            if (errno == EINVAL || errno == ENOENT) break;  // no clsact: no filters
            return errno_error(errno, "RTM_GETTFILTER");
        }
    }
    return count;
}

}  // namespace

Result<size_t> count_clsact_filters(int ifindex) {
    mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl) return errno_error(errno, "netlink socket");
    size_t total = 0;
    Status st;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        st = errno_error(errno, "netlink bind");
    } else {
        uint32_t seq = static_cast<uint32_t>(time(nullptr));
        for (uint32_t minor : {TC_H_MIN_INGRESS, TC_H_MIN_EGRESS}) {
            auto n = count_filters_on(nl, ifindex, TC_H_MAKE(TC_H_CLSACT, minor), seq++);
            if (!n) {
                st = n.error();
                break;
            }
            total += *n;
        }
    }
    mnl_socket_close(nl);
    if (!st) return st.error();
    return total;
}

TcAttachment::TcAttachment(TcAttachment&& o) noexcept
    : ifindex_(o.ifindex_),
      dir_(o.dir_),
      handle_(o.handle_),
      priority_(o.priority_),
      prog_id_(o.prog_id_),
      replaced_prog_id_(o.replaced_prog_id_),
      created_clsact_(o.created_clsact_),
      attached_(std::exchange(o.attached_, false)) {}

TcAttachment& TcAttachment::operator=(TcAttachment&& o) noexcept {
    if (this != &o) {
        (void)detach();
        ifindex_ = o.ifindex_;
        dir_ = o.dir_;
        handle_ = o.handle_;
        priority_ = o.priority_;
        prog_id_ = o.prog_id_;
        replaced_prog_id_ = o.replaced_prog_id_;
        created_clsact_ = o.created_clsact_;
        attached_ = std::exchange(o.attached_, false);
    }
    return *this;
}

Result<TcAttachment> TcAttachment::attach(int ifindex, int prog_fd, TcDirection dir, uint32_t handle,
                                          uint32_t priority, TcLeftover leftover) {
    auto id = prog_id_of(prog_fd);
    if (!id) return id.error();
    TcAttachment a;
    a.ifindex_ = ifindex;
    a.dir_ = dir;
    a.handle_ = handle;
    a.priority_ = priority;
    a.prog_id_ = *id;

    bpf_tc_hook hook = make_hook(ifindex, dir);
    int err = bpf_tc_hook_create(&hook);
    if (err == 0) a.created_clsact_ = true;
    else if (err != -EEXIST) return errno_error(err, "cannot create the clsact qdisc on ifindex " + std::to_string(ifindex));

    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = handle;
    opts.priority = priority;
    opts.prog_fd = prog_fd;
    // No BPF_TC_F_REPLACE: a filter at our handle/priority that is not ours makes this fail (EEXIST).
    err = bpf_tc_attach(&hook, &opts);
    if (err == -EEXIST && leftover == TcLeftover::ReplaceSameName) {
        bpf_tc_opts there{};
        there.sz = sizeof there;
        there.handle = handle;
        there.priority = priority;
        auto ours = prog_name_of_fd(prog_fd);
        if (bpf_tc_query(&hook, &there) == 0 && ours && prog_name_of_id(there.prog_id) == *ours) {
            // Alone on the qdisc, the leftover came with the clsact its run created: ours to remove now.
            auto filters = count_clsact_filters(ifindex);
            const bool inherit_clsact = filters && *filters == 1;
            opts.prog_id = 0;
            opts.flags = BPF_TC_F_REPLACE;
            err = bpf_tc_attach(&hook, &opts);
            if (err == 0) {
                a.replaced_prog_id_ = there.prog_id;
                a.created_clsact_ = inherit_clsact;
            }
        }
    }
    if (err < 0) {
        if (a.created_clsact_) {
            bpf_tc_hook all = make_hook(ifindex, dir);
            all.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
            (void)bpf_tc_hook_destroy(&all);
        }
        return errno_error(err, std::string(err == -EEXIST ? "another tc filter holds our " : "cannot attach the tc filter at ") +
                                    "handle " + hex(handle) + " and priority " + std::to_string(priority) +
                                    " on ifindex " + std::to_string(ifindex));
    }
    a.attached_ = true;
    return a;
}

Status TcAttachment::verify() const {
    if (!attached_) return Error{ENOENT, "not attached"};
    bpf_tc_hook hook = make_hook(ifindex_, dir_);
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = handle_;
    opts.priority = priority_;
    if (int err = bpf_tc_query(&hook, &opts); err < 0) {
        char name[IF_NAMESIZE] = {};
        if (!if_indextoname(static_cast<unsigned>(ifindex_), name))
            return Error{ENODEV, "ifindex " + std::to_string(ifindex_) +
                                     " is gone (the interface was deleted or moved to another namespace)"};
        return errno_error(err, "our tc filter on " + std::string(name) + " is not there");
    }
    if (opts.prog_id != prog_id_)
        return Error{ESTALE, "the tc filter at our handle runs program " + std::to_string(opts.prog_id) + ", not ours (" +
                                 std::to_string(prog_id_) + ")"};
    return {};
}

Status TcAttachment::replace_program(int new_prog_fd) {
    if (auto st = verify(); !st) return st;
    auto id = prog_id_of(new_prog_fd);
    if (!id) return id.error();
    bpf_tc_hook hook = make_hook(ifindex_, dir_);
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = handle_;
    opts.priority = priority_;
    opts.prog_fd = new_prog_fd;
    opts.flags = BPF_TC_F_REPLACE;
    if (int err = bpf_tc_attach(&hook, &opts); err < 0)
        return errno_error(err, "cannot replace our tc filter on ifindex " + std::to_string(ifindex_));
    prog_id_ = *id;
    return {};
}

Status TcAttachment::detach(std::string* left_theirs) {
    if (!attached_) return {};
    // verify() first: if the filter at our handle/priority now runs another program, it is not ours.
    Status ours = verify();
    attached_ = false;
    Status result;
    if (ours) {
        bpf_tc_hook hook = make_hook(ifindex_, dir_);
        bpf_tc_opts opts{};
        opts.sz = sizeof opts;
        opts.handle = handle_;
        opts.priority = priority_;
        if (int err = bpf_tc_detach(&hook, &opts); err < 0 && err != -ENOENT && err != -ENODEV)
            result = errno_error(err, "cannot remove our tc filter from ifindex " + std::to_string(ifindex_));
    } else if (left_theirs && ours.error().code != ENOENT && ours.error().code != ENODEV) {
        // ESTALE: a bpf filter running another program; EINVAL: a filter of another kind there.
        std::string what = ours.error().code == ESTALE ? ours.error().message : "a tc filter of another kind holds it (" +
                                                                                    ours.error().message + ")";
        if (ours.error().code == ESTALE) {
            bpf_tc_hook hook = make_hook(ifindex_, dir_);
            bpf_tc_opts there{};
            there.sz = sizeof there;
            there.handle = handle_;
            there.priority = priority_;
            if (bpf_tc_query(&hook, &there) == 0)
                if (std::string name = prog_name_of_id(there.prog_id); !name.empty()) what += " (" + name + ")";
        }
        *left_theirs = "ifindex " + std::to_string(ifindex_) + ", tc " +
                       (dir_ == TcDirection::Ingress ? "ingress" : "egress") + " handle " + hex(handle_) + " priority " +
                       std::to_string(priority_) + ": " + what + "; it was left attached";
    }
    // The clsact qdisc goes only if we created it and nobody else has a filter on it.
    if (created_clsact_) {
        auto others = count_clsact_filters(ifindex_);
        if (others && *others == 0) {
            bpf_tc_hook all = make_hook(ifindex_, dir_);
            all.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
            (void)bpf_tc_hook_destroy(&all);
        }
    }
    return result;
}

}  // namespace xb::datapath
