// xbypass detach IFACE: removes what a run of ours that did not stop left on IFACE (a tc filter has
// no link that dies with its process; a netlink-attached or pinned-link XDP program neither).
// Verified ours by program id and name and with no live run holding the interface; another tool's
// program is never touched.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/inspect.h"
#include "cli/netns_option.h"
#include "common/file_lock.h"
#include "common/owners.h"
#include "control/server.h"
#include "datapath/attach.h"
#include "session/session.h"

namespace xb::cli {
namespace {

constexpr std::string_view kUsage =
    "Usage: xbypass detach IFACE [--netns NAME]\n\n"
    "Removes from IFACE what an xbypass run that did not stop (kill -9, a crash) left behind: its tc\n"
    "filter, or an XDP program attached through netlink or a pinned link. Only programs of ours\n"
    "(xbypass's built-in programs, by id and name) are removed, and only when no live run holds the\n"
    "interface; another tool's program is refused and left as it is. Says what it removed.\n\n"
    "Exit status: 0 removed (or nothing was there), 1 refused (another tool's program, XB8203; a live\n"
    "run, XB8204) or IFACE missing, 2 usage or I/O error.\n";

Status remove_tc(const Attached& a) {
    // Again by id: the filter at that handle must still run the program we inspected.
    bpf_tc_hook hook{};
    hook.sz = sizeof hook;
    hook.ifindex = a.ifindex;
    hook.attach_point = a.mode == "egress" ? BPF_TC_EGRESS : BPF_TC_INGRESS;
    bpf_tc_opts opts{};
    opts.sz = sizeof opts;
    opts.handle = a.tc_handle;
    opts.priority = a.tc_priority;
    if (int err = bpf_tc_query(&hook, &opts); err < 0) return Error::from_errno(-err, "the filter is gone");
    if (opts.prog_id != a.prog_id) return Error{ESTALE, "the filter now runs program " + std::to_string(opts.prog_id)};
    auto before = datapath::count_clsact_filters(a.ifindex);
    bpf_tc_opts del{};
    del.sz = sizeof del;
    del.handle = a.tc_handle;
    del.priority = a.tc_priority;
    if (int err = bpf_tc_detach(&hook, &del); err < 0) return Error::from_errno(-err, "cannot remove the tc filter");
    // Alone on clsact, the leftover came with the clsact its run created: that goes too.
    if (before && *before == 1) {
        bpf_tc_hook all = hook;
        all.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
        (void)bpf_tc_hook_destroy(&all);
    }
    return {};
}

Status remove_xdp(const Attached& a) {
    UniqueFd prog(bpf_prog_get_fd_by_id(a.prog_id));
    if (!prog) return Error::from_errno(errno, "program " + std::to_string(a.prog_id) + " is gone");
    uint32_t flags = a.mode == "generic" ? XDP_FLAGS_SKB_MODE : a.mode == "native" ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_HW_MODE;
    if (a.via == "bpf-link") {
        // A pinned link of a run that is gone: find the link holding this program and detach it.
        uint32_t id = 0;
        while (bpf_link_get_next_id(id, &id) == 0) {
            UniqueFd link(bpf_link_get_fd_by_id(id));
            if (!link) continue;
            bpf_link_info li{};
            uint32_t len = sizeof li;
            if (bpf_obj_get_info_by_fd(link.get(), &li, &len) != 0 || li.prog_id != a.prog_id) continue;
            if (int err = bpf_link_detach(link.get()); err < 0) return Error::from_errno(-err, "cannot detach the XDP link");
            return {};
        }
        return Error{ENOENT, "no BPF link holds program " + std::to_string(a.prog_id)};
    }
    bpf_xdp_attach_opts o{};
    o.sz = sizeof o;
    o.old_prog_fd = prog.get();
    if (int err = bpf_xdp_detach(a.ifindex, XDP_FLAGS_REPLACE | flags, &o); err < 0)
        return Error::from_errno(-err, "cannot detach the XDP program");
    return {};
}

int run_detach(int argc, char** argv) {
    std::string iface, netns;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--netns" && i + 1 < argc) netns = argv[++i];
        else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "xbypass detach: unknown option '%s'\n\n%.*s", argv[i], static_cast<int>(kUsage.size()),
                         kUsage.data());
            return kExitUsage;
        } else if (iface.empty()) iface = std::string(a);
        else return std::fprintf(stderr, "xbypass detach: one interface at a time\n"), kExitUsage;
    }
    if (iface.empty()) {
        std::fprintf(stderr, "xbypass detach: name the interface\n\n%.*s", static_cast<int>(kUsage.size()), kUsage.data());
        return kExitUsage;
    }
    std::optional<ScopedNetns> in_ns;
    if (!enter_netns_option(netns, in_ns, "XB0002", false)) return kExitUsage;
    auto found = inspect(iface);
    if (!found) {
        std::fprintf(stderr, "xbypass detach: %s\n", found.error().message.c_str());
        return found.error().code == ENODEV ? kExitRejected : kExitUsage;
    }
    int rc = kExitOk;
    size_t removed = 0;
    for (const auto& a : *found) {
        std::string what = a.hook + " " + a.mode + " program " + a.prog_name + " (id " + std::to_string(a.prog_id) + ", " +
                           a.via + ")";
        if (!a.ours) {
            std::fprintf(stderr, "%s: error[XB8203]: refused: the %s is another tool's, not xbypass's; left as it is\n",
                         iface.c_str(), what.c_str());
            rc = kExitRejected;
            continue;
        }
        if (a.run) {
            std::fprintf(stderr,
                         "%s: error[XB8204]: refused: the %s belongs to the live xbypass run pid %d; stop that run "
                         "instead (it detaches what it attached)\n",
                         iface.c_str(), what.c_str(), static_cast<int>(a.run->pid));
            rc = kExitRejected;
            continue;
        }
        if (a.hook == "tc" && !a.at_our_handle) {
            std::fprintf(stderr, "%s: error[XB8203]: refused: the %s is not at xbypass's own tc handle; left as it is\n",
                         iface.c_str(), what.c_str());
            rc = kExitRejected;
            continue;
        }
        Status st = a.hook == "tc" ? remove_tc(a) : remove_xdp(a);
        if (!st) {
            std::fprintf(stderr, "%s: error[XB8205]: cannot remove the %s: %s\n", iface.c_str(), what.c_str(),
                         st.error().message.c_str());
            rc = kExitUsage;
            continue;
        }
        ++removed;
        std::printf("%s: removed the %s left by an xbypass run that did not stop\n", iface.c_str(), what.c_str());
    }
    // The lock file a killed run leaves (nobody holds it): removed once what it guarded is gone.
    if (rc == kExitOk && !lock_holder(iface))
        if (auto ns = current_netns_inode()) {
            (void)unlink(session::interface_lock_path(*ns, iface).c_str());
            for (const auto& path : control::remove_stale_sockets(*ns))
                std::printf("removed the control socket %s of a run that is gone\n", path.c_str());
        }
    if (!removed && rc == kExitOk) std::printf("%s: nothing of xbypass's is attached; nothing to remove\n", iface.c_str());
    return rc;
}

const CommandRegistration kRegistration{
    Command{"detach", "remove what a dead xbypass run left on an interface (never another tool's)", kUsage, run_detach}};

}  // namespace
}  // namespace xb::cli
