#include "datapath/dispatcher.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/prog_dispatcher.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <type_traits>
#include <utility>

#include "common/owners.h"
#include "datapath/attachment_set.h"

namespace xb::datapath {

namespace {

enum xdp_attach_mode libxdp_mode(XdpMode m) {
    switch (m) {
        case XdpMode::Native: return XDP_MODE_NATIVE;
        case XdpMode::Generic: return XDP_MODE_SKB;
        case XdpMode::Offload: return XDP_MODE_HW;
    }
    return XDP_MODE_UNSPEC;
}

// libxdp returns error pointers; libxdp_get_error turns them (and NULL with errno) into -errno.
template <typename T>
int pointer_error(T* p) {
    long err = libxdp_get_error(p);
    return err ? static_cast<int>(-err) : 0;
}

// An open view of the interface's dispatcher (or legacy program); closed on scope exit.
class Multiprog {
public:
    explicit Multiprog(int ifindex) : mp_(xdp_multiprog__get_from_ifindex(ifindex)) {
        error_ = pointer_error(mp_);
        if (error_) mp_ = nullptr;
    }
    ~Multiprog() {
        if (mp_) xdp_multiprog__close(mp_);
    }
    Multiprog(const Multiprog&) = delete;
    Multiprog& operator=(const Multiprog&) = delete;

    xdp_multiprog* get() const { return mp_; }
    int error() const { return error_; }  // positive errno; ENOENT: nothing attached

    // The handle of the component (or legacy program) with this id; owned by the multiprog.
    xdp_program* find(uint32_t prog_id) const {
        if (!mp_) return nullptr;
        if (xdp_multiprog__is_legacy(mp_)) {
            xdp_program* main = xdp_multiprog__main_prog(mp_);
            return main && xdp_program__id(main) == prog_id ? main : nullptr;
        }
        for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp_); p; p = xdp_multiprog__next_prog(p, mp_))
            if (xdp_program__id(p) == prog_id) return p;
        return nullptr;
    }

private:
    xdp_multiprog* mp_ = nullptr;
    int error_ = 0;
};

Status detach_by_id(int ifindex, uint32_t prog_id) {
    Multiprog mp(ifindex);
    if (mp.error() == ENOENT) return {};  // nothing attached any more
    if (mp.error()) return Error::from_errno(mp.error(), "cannot read the XDP dispatcher of ifindex " + std::to_string(ifindex));
    xdp_program* ours = mp.find(prog_id);
    if (!ours) return {};  // already gone: someone else removed it, theirs stays
    // The dispatcher's own mode, not UNSPEC: libxdp swaps dispatchers in the mode it is given, and
    // without one the kernel looks at the native slot (veth has one) — a generic dispatcher is
    // then "not the expected program" and the swap fails with EEXIST.
    if (int err = xdp_program__detach(ours, ifindex, xdp_multiprog__attach_mode(mp.get()), 0); err < 0)
        return Error::from_errno(-err, "libxdp cannot remove program " + std::to_string(prog_id) +
                                           " from the dispatcher of ifindex " + std::to_string(ifindex));
    return {};
}

}  // namespace

bool DispatcherState::has(uint32_t prog_id) const {
    if (legacy_prog_id) return legacy_prog_id == prog_id;
    return std::any_of(components.begin(), components.end(), [&](const auto& c) { return c.prog_id == prog_id; });
}

// Read without libxdp: its views (xdp_multiprog__get_from_ifindex, xdp_program__from_id) leak a
// program fd each time in libxdp 1.3.1, and a run verifies every stats interval. The layout read
// here is libxdp's documented protocol: the dispatcher's .rodata holds struct
// xdp_dispatcher_config, and component N is pinned at <bpffs>/xdp/dispatch-<ifindex>-<id>/prog<N>-prog.
Result<DispatcherState> query_dispatcher(int ifindex) {
    DispatcherState st;
    auto xdp = query_xdp(ifindex);
    if (!xdp) return xdp.error();
    uint32_t main_id = xdp->native_prog_id ? xdp->native_prog_id : xdp->generic_prog_id;
    st.mode = xdp->native_prog_id ? XdpMode::Native : XdpMode::Generic;
    if (!main_id) return st;
    UniqueFd main(bpf_prog_get_fd_by_id(main_id));
    if (!main) return Error::from_errno(errno, "cannot open XDP program " + std::to_string(main_id));
    std::vector<uint32_t> map_ids(8);
    bpf_prog_info info{};
    info.nr_map_ids = static_cast<uint32_t>(map_ids.size());
    info.map_ids = reinterpret_cast<uint64_t>(map_ids.data());
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(main.get(), &info, &len) != 0)
        return Error::from_errno(errno, "cannot read XDP program " + std::to_string(main_id));
    if (std::string(info.name) != "xdp_dispatcher") {
        st.legacy_prog_id = main_id;
        return st;
    }
    st.dispatcher_id = main_id;
    xdp_dispatcher_config config{};
    bool found = false;
    for (uint32_t i = 0; i < std::min<uint32_t>(info.nr_map_ids, map_ids.size()) && !found; ++i) {
        UniqueFd map(bpf_map_get_fd_by_id(map_ids[i]));
        bpf_map_info mi{};
        uint32_t mlen = sizeof mi;
        if (!map || bpf_obj_get_info_by_fd(map.get(), &mi, &mlen) != 0) continue;
        if (mi.value_size != sizeof config || !std::string_view(mi.name).ends_with(".rodata")) continue;
        uint32_t key = 0;
        found = bpf_map_lookup_elem(map.get(), &key, &config) == 0 && config.magic == XDP_DISPATCHER_MAGIC;
    }
    if (!found)
        return Error{EPROTO, "the dispatcher " + std::to_string(main_id) + " has no libxdp configuration that can be read"};
    const char* bpffs = secure_getenv("LIBXDP_BPFFS");
    std::string dir = std::string(bpffs ? bpffs : "/sys/fs/bpf") + "/xdp/dispatch-" + std::to_string(ifindex) + "-" +
                      std::to_string(main_id);
    for (unsigned n = 0; n < config.num_progs_enabled && n < MAX_DISPATCHER_ACTIONS; ++n) {
        std::string pin = dir + "/prog" + std::to_string(n) + "-prog";
        UniqueFd fd(bpf_obj_get(pin.c_str()));
        if (!fd) return Error::from_errno(errno, "cannot open the dispatcher component pinned at " + pin);
        bpf_prog_info pi{};
        uint32_t plen = sizeof pi;
        if (bpf_obj_get_info_by_fd(fd.get(), &pi, &plen) != 0) return Error::from_errno(errno, "cannot read " + pin);
        st.components.push_back({pi.id, pi.name, config.run_prios[n]});
    }
    return st;
}

Result<DispatcherAttachment> DispatcherAttachment::join(int ifindex, bpf_object* obj, const std::string& program,
                                                        XdpMode mode, unsigned run_priority) {
    DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = obj, .prog_name = program.c_str());
    xdp_program* handle = xdp_program__create(&opts);
    if (int err = pointer_error(handle))
        return Error::from_errno(err, "libxdp cannot take program " + program + " of the built-in object");
    // The handle refers to the caller's object, which libxdp does not close; it is only needed until
    // the program is in the dispatcher — afterwards we know the program by id.
    struct Closer {
        xdp_program* p;
        ~Closer() { xdp_program__close(p); }
    } closer{handle};
    if (int err = xdp_program__set_run_prio(handle, run_priority); err < 0)
        return Error::from_errno(-err, "libxdp refused run priority " + std::to_string(run_priority));
    if (int err = xdp_program__attach(handle, ifindex, libxdp_mode(mode), 0); err < 0)
        return Error::from_errno(-err, "libxdp cannot add " + program + " to the dispatcher of ifindex " +
                                           std::to_string(ifindex) + " in " + std::string(xdp_mode_name(mode)) + " mode");
    DispatcherAttachment a;
    a.ifindex_ = ifindex;
    a.mode_ = mode;
    a.prog_id_ = xdp_program__id(handle);
    a.attached_ = true;
    if (auto v = a.verify(); !v) return v.error();  // `a` detaches itself on the way out
    return a;
}

DispatcherAttachment::DispatcherAttachment(DispatcherAttachment&& o) noexcept
    : ifindex_(o.ifindex_), mode_(o.mode_), prog_id_(o.prog_id_), attached_(std::exchange(o.attached_, false)) {}

DispatcherAttachment& DispatcherAttachment::operator=(DispatcherAttachment&& o) noexcept {
    if (this != &o) {
        (void)detach();
        ifindex_ = o.ifindex_;
        mode_ = o.mode_;
        prog_id_ = o.prog_id_;
        attached_ = std::exchange(o.attached_, false);
    }
    return *this;
}

DispatcherAttachment::~DispatcherAttachment() { (void)detach(); }

Status DispatcherAttachment::verify() const {
    auto st = query_dispatcher(ifindex_);
    if (!st) return st.error();
    std::string where = "ifindex " + std::to_string(ifindex_);
    if (!st->dispatcher_id && !st->legacy_prog_id)
        return Error{ESTALE, where + " has no XDP program any more (our program " + std::to_string(prog_id_) + " was in its dispatcher)"};
    if (st->mode != mode_)
        return Error{ESTALE, where + " runs XDP in " + std::string(xdp_mode_name(st->mode)) + " mode, not " +
                                 std::string(xdp_mode_name(mode_))};
    if (!st->has(prog_id_))
        return Error{ESTALE, where + (st->dispatcher_id ? " has a dispatcher without our program "
                                                        : " runs another program instead of ours ") +
                                 std::to_string(prog_id_)};
    return {};
}

Status DispatcherAttachment::detach() {
    if (!attached_) return {};
    attached_ = false;
    return detach_by_id(ifindex_, prog_id_);
}

Result<std::vector<uint32_t>> remove_components_named(int ifindex, const std::vector<std::string>& programs) {
    auto st = query_dispatcher(ifindex);
    if (!st) return st.error();
    std::vector<uint32_t> removed;
    for (const auto& c : st->components) {
        if (std::find(programs.begin(), programs.end(), c.name) == programs.end()) continue;
        if (auto s = detach_by_id(ifindex, c.prog_id); !s) return s.error();
        removed.push_back(c.prog_id);
    }
    return removed;
}

// --- set ---------------------------------------------------------------------------------------

Status AttachmentSet::verify_all() const {
    for (const auto& item : items_) {
        Status st = std::visit([](const auto& a) { return a.verify(); }, item);
        if (!st) return st;
    }
    return {};
}

Status AttachmentSet::replace_program(int ifindex, int new_prog_fd) {
    for (auto& item : items_) {
        Status st;
        bool found = false;
        std::visit(
            [&](auto& a) {
                if (a.ifindex() != ifindex) return;
                found = true;
                if constexpr (std::is_same_v<std::decay_t<decltype(a)>, DispatcherAttachment>)
                    st = Error{ENOTSUP, "a program in the libxdp dispatcher cannot be swapped atomically"};
                else
                    st = a.replace_program(new_prog_fd);
            },
            item);
        if (found) return st;
    }
    return Error{ENOENT, "nothing of ours is attached to ifindex " + std::to_string(ifindex)};
}

namespace {

// Detaches one attachment of any kind; the dispatcher removes our component only by its own rules.
template <class A>
Status detach_one(A& a, std::string* left_theirs) {
    if constexpr (std::is_same_v<A, DispatcherAttachment>) {
        (void)left_theirs;
        return a.detach();
    } else {
        return a.detach(left_theirs);
    }
}

}  // namespace

Status AttachmentSet::remove(int ifindex, std::string* left_theirs) {
    for (auto it = items_.begin(); it != items_.end(); ++it) {
        if (std::visit([](const auto& a) { return a.ifindex(); }, *it) != ifindex) continue;
        Status st = std::visit([&](auto& a) { return detach_one(a, left_theirs); }, *it);
        items_.erase(it);
        return st;
    }
    return Error{ENOENT, "nothing of ours is attached to ifindex " + std::to_string(ifindex)};
}

std::vector<Error> AttachmentSet::rollback(std::vector<std::string>* left_theirs) {
    std::vector<Error> failed;
    while (!items_.empty()) {
        std::visit([&](auto& a) {
            std::string left;
            if (auto st = detach_one(a, &left); !st) failed.push_back(st.error());
            if (!left.empty() && left_theirs) left_theirs->push_back(std::move(left));
        }, items_.back());
        items_.pop_back();
    }
    return failed;
}

}  // namespace xb::datapath
