// probe_interface / probe_all_interfaces: rtnetlink for the link, netdev genetlink for XDP features,
// bpf() for program names and BPF links, ethtool ioctls for driver and GRO.
#include <bpf/bpf.h>
#include <linux/ethtool.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "common/netdev_uapi.h"
#include "common/owners.h"
#include "probe/netlink.h"
#include "common/log.h"
#include "probe/probe.h"
#include "probe/render.h"

namespace xb::probe {

namespace {

Diagnostic note(std::string code, Severity sev, std::string message, std::string hint) {
    Diagnostic d;
    d.code = std::move(code);
    d.severity = sev;
    d.message = std::move(message);
    d.hint = std::move(hint);
    return d;
}

struct ProgInfo {
    std::string name;
    int error = 0;
};

ProgInfo prog_info(uint32_t id) {
    UniqueFd fd(bpf_prog_get_fd_by_id(id));
    if (!fd) return {{}, errno};
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return {{}, errno};
    return {info.name, 0};
}

// Newer than Debian 12's linux/bpf.h (Linux 6.6 UAPI; checked against this kernel's BTF).
constexpr uint32_t kLinkTypeTcx = 11;        // BPF_LINK_TYPE_TCX
constexpr int kAttachTcxIngress = 46;        // BPF_TCX_INGRESS
constexpr int kAttachTcxEgress = 47;         // BPF_TCX_EGRESS

// XDP and tcx BPF links of the whole system, keyed by (ifindex, prog id). The kernel reports a link's ifindex
// without its namespace; requiring the program id to match as well makes a false match need the same
// program on the same ifindex in two namespaces, one of them through a link.
struct XdpLinks {
    std::map<std::pair<int, uint32_t>, uint32_t> link_of;
    int error = 0;  // errno when the table could not be read
};

XdpLinks read_xdp_links() {
    XdpLinks out;
    uint32_t id = 0;
    for (;;) {
        if (bpf_link_get_next_id(id, &id) != 0) {
            if (errno != ENOENT) out.error = errno;
            break;
        }
        UniqueFd fd(bpf_link_get_fd_by_id(id));
        if (!fd) {
            if (errno == ENOENT) continue;  // went away meanwhile
            out.error = errno;
            break;
        }
        bpf_link_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
            out.error = errno;
            break;
        }
        // The tcx link info starts with its ifindex, at the same place as the XDP one's.
        if (info.type == BPF_LINK_TYPE_XDP || info.type == kLinkTypeTcx)
            out.link_of[{static_cast<int>(info.xdp.ifindex), info.prog_id}] = id;
    }
    return out;
}

struct Context {
    nl::Socket rtnl;
    std::optional<nl::Socket> genl;
    std::optional<uint16_t> netdev_family;
    Error netdev_error;  // why netdev_family is unset
    std::optional<XdpLinks> xdp_links;  // read on first need
    std::optional<Result<std::set<int>>> clsact;  // ifindexes with clsact, read on first need
    UniqueFd ethtool_fd;
};

Result<Context> open_context(const ProbeOptions& opts) {
    auto rtnl = nl::Socket::open(NETLINK_ROUTE);
    if (!rtnl) return rtnl.error();
    Context ctx{std::move(rtnl).value(), std::nullopt, std::nullopt, {}, std::nullopt, std::nullopt, UniqueFd()};
    auto genl = nl::Socket::open(NETLINK_GENERIC);
    if (genl) {
        ctx.genl.emplace(std::move(genl).value());
        auto fam = nl::resolve_genl_family(*ctx.genl, opts.netdev_family.c_str());
        if (fam) ctx.netdev_family = *fam;
        else ctx.netdev_error = fam.error();
    } else {
        ctx.netdev_error = genl.error();
    }
    ctx.ethtool_fd.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    return ctx;
}

// One ethtool ioctl; returns errno (0 on success).
int ethtool_ioctl(int fd, const std::string& dev, void* data) {
    if (fd < 0) return EBADF;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
    ifr.ifr_data = static_cast<char*>(data);
    return ::ioctl(fd, SIOCETHTOOL, &ifr) == 0 ? 0 : errno;
}

bool not_supported(int err) { return err == EOPNOTSUPP || err == ENOTSUP || err == EINVAL; }

void probe_ethtool(Context& ctx, InterfaceCaps& c) {
    ethtool_drvinfo drv{};
    drv.cmd = ETHTOOL_GDRVINFO;
    if (int err = ethtool_ioctl(ctx.ethtool_fd.get(), c.name, &drv); err == 0) {
        if (drv.driver[0]) c.driver = std::string(drv.driver, strnlen(drv.driver, sizeof drv.driver));
    } else if (!not_supported(err)) {
        c.notes.push_back(note("XB2006", Severity::Warning,
                               "cannot read the driver of " + c.name + " (ETHTOOL_GDRVINFO): " + std::strerror(err),
                               "run as root with CAP_NET_ADMIN in the interface's network namespace"));
    }
    // The receive queues in use (ethtool -l's current rx + combined): rtnetlink's count is the
    // queues allocated, which on veth is one per CPU while only one receives (an AF_XDP socket on
    // a queue past the ones in use cannot bind). Drivers without channels keep rtnetlink's count.
    ethtool_channels ch{};
    ch.cmd = ETHTOOL_GCHANNELS;
    if (ethtool_ioctl(ctx.ethtool_fd.get(), c.name, &ch) == 0 && ch.rx_count + ch.combined_count > 0)
        c.rx_queues = ch.rx_count + ch.combined_count;
    ethtool_value gro{};
    gro.cmd = ETHTOOL_GGRO;
    if (int err = ethtool_ioctl(ctx.ethtool_fd.get(), c.name, &gro); err == 0) {
        c.gro = gro.data != 0;
    } else if (!not_supported(err)) {
        c.notes.push_back(note("XB2006", Severity::Warning,
                               "cannot read the GRO state of " + c.name + " (ETHTOOL_GGRO): " + std::strerror(err),
                               "run as root with CAP_NET_ADMIN in the interface's network namespace"));
    }
}

void probe_netdev(Context& ctx, InterfaceCaps& c) {
    if (!ctx.netdev_family) {
        c.notes.push_back(note("XB2002", Severity::Warning,
                               "XDP features of " + c.name + " are unknown: " + ctx.netdev_error.message,
                               "use Linux 6.3 or later (netdev generic-netlink family) to know the XDP features; "
                               "until then only generic XDP and tc are safe choices"));
        return;
    }
    auto dev = nl::netdev_dev_get(*ctx.genl, *ctx.netdev_family, c.ifindex);
    if (!dev) {
        c.notes.push_back(note("XB2003", Severity::Warning,
                               "XDP features of " + c.name + " are unknown: " + dev.error().message,
                               "check that the interface still exists and that the process has CAP_NET_ADMIN"));
        return;
    }
    c.xdp_features = dev->xdp_features;
    c.xdp_zc_max_segs = dev->xdp_zc_max_segs;
    c.xdp_rx_metadata_features = dev->xdp_rx_metadata_features;
    if (!c.xdp_features)
        c.notes.push_back(note("XB2003", Severity::Warning,
                               "the netdev family answered for " + c.name + " without xdp-features",
                               "report this kernel version; treat the interface as generic-XDP only"));
}

void probe_xdp(Context& ctx, const nl::LinkInfo& li, InterfaceCaps& c) {
    const std::pair<XdpAttachMode, uint32_t> modes[] = {{XdpAttachMode::Generic, li.xdp_generic_id},
                                                        {XdpAttachMode::Native, li.xdp_native_id},
                                                        {XdpAttachMode::Offload, li.xdp_offload_id}};
    for (const auto& [mode, id] : modes) {
        if (id == 0) continue;
        AttachedXdp a;
        a.mode = mode;
        a.prog_id = id;
        ProgInfo pi = prog_info(id);
        if (pi.error) {
            c.notes.push_back(note("XB2004", Severity::Warning,
                                   "cannot read program " + std::to_string(id) + " attached to " + c.name + ": " +
                                       std::strerror(pi.error),
                                   "run as root (CAP_SYS_ADMIN or CAP_BPF) to see program names"));
        }
        a.prog_name = pi.name;
        a.libxdp_dispatcher = pi.name == "xdp_dispatcher";
        if (!ctx.xdp_links) ctx.xdp_links = read_xdp_links();
        auto it = ctx.xdp_links->link_of.find({c.ifindex, id});
        if (it != ctx.xdp_links->link_of.end()) {
            a.via = AttachedVia::BpfLink;
            a.link_id = it->second;
        } else if (ctx.xdp_links->error == 0) {
            a.via = AttachedVia::Netlink;
        } else {
            c.notes.push_back(note("XB2004", Severity::Warning,
                                   "cannot tell whether the XDP program on " + c.name +
                                       " is held by a BPF link: " + std::strerror(ctx.xdp_links->error),
                                   "run as root (CAP_SYS_ADMIN) so that the BPF link table can be read"));
        }
        c.xdp.push_back(std::move(a));
    }
}

void probe_tc(Context& ctx, InterfaceCaps& c) {
    if (!ctx.clsact) ctx.clsact.emplace(nl::clsact_ifindexes(ctx.rtnl));
    const auto& with_clsact = *ctx.clsact;
    if (!with_clsact) {
        c.notes.push_back(note("XB2005", Severity::Warning,
                               "cannot list the qdiscs of " + c.name + ": " + with_clsact.error().message,
                               "run as root with CAP_NET_ADMIN in the interface's network namespace"));
        return;
    }
    bool present = with_clsact->count(c.ifindex) != 0;
    c.clsact = support_from(present);
    if (!present) return;
    for (TcDirection dir : {TcDirection::Ingress, TcDirection::Egress}) {
        auto filters = nl::clsact_filters(ctx.rtnl, c.ifindex, dir);
        if (!filters) {
            c.notes.push_back(note("XB2005", Severity::Warning,
                                   "cannot list the tc " + std::string(tc_direction_name(dir)) + " filters of " +
                                       c.name + ": " + filters.error().message,
                                   "run as root with CAP_NET_ADMIN in the interface's network namespace"));
            continue;
        }
        for (auto& f : *filters) {
            if (f.prog_id) {
                ProgInfo pi = prog_info(f.prog_id);
                f.prog_name = pi.name;
                if (pi.error)
                    c.notes.push_back(note("XB2004", Severity::Warning,
                                           "cannot read tc program " + std::to_string(f.prog_id) + " on " + c.name +
                                               ": " + std::strerror(pi.error),
                                           "run as root (CAP_SYS_ADMIN or CAP_BPF) to see program names"));
            }
            c.tc_filters.push_back(std::move(f));
        }
    }
}

// tcx programs by BPF_PROG_QUERY on the interface (netns-exact, unlike the link table).
void probe_tcx(Context& ctx, InterfaceCaps& c) {
    c.tcx = Support::Yes;
    for (TcDirection dir : {TcDirection::Ingress, TcDirection::Egress}) {
        uint32_t ids[64] = {};
        struct bpf_prog_query_opts q {};
        q.sz = sizeof q;
        q.prog_ids = ids;
        q.prog_cnt = 64;
        int type = dir == TcDirection::Ingress ? kAttachTcxIngress : kAttachTcxEgress;
        if (bpf_prog_query_opts(c.ifindex, static_cast<bpf_attach_type>(type), &q) != 0) {
            int err = errno;
            if (err == EINVAL) {  // the kernel does not know the attach type: no tcx before 6.6
                c.tcx = Support::No;
                c.tcx_programs.clear();
                return;
            }
            c.tcx = Support::Unknown;
            c.notes.push_back(note("XB2005", Severity::Warning,
                                   "cannot query the tcx " + std::string(tc_direction_name(dir)) + " programs of " +
                                       c.name + ": " + std::strerror(err),
                                   "run as root (CAP_NET_ADMIN and CAP_BPF) in the interface's network namespace"));
            continue;
        }
        for (uint32_t i = 0; i < q.prog_cnt && i < 64; ++i) {
            TcxProgram t;
            t.direction = dir;
            t.prog_id = ids[i];
            ProgInfo pi = prog_info(ids[i]);
            t.prog_name = pi.name;
            if (!ctx.xdp_links) ctx.xdp_links = read_xdp_links();
            auto it = ctx.xdp_links->link_of.find({c.ifindex, ids[i]});
            if (it != ctx.xdp_links->link_of.end()) t.link_id = it->second;
            c.tcx_programs.push_back(std::move(t));
        }
    }
}

void probe_veth_peer(Context& ctx, const nl::LinkInfo& li, InterfaceCaps& c) {
    if (li.kind != "veth" || !li.link || *li.link == 0) return;
    VethPeer peer;
    peer.ifindex = *li.link;
    peer.netnsid = li.link_netnsid;
    auto links = nl::get_links(ctx.rtnl, peer.ifindex, "", peer.netnsid);
    if (links && !links->empty()) {
        peer.name = links->front().name;
    } else {
        c.notes.push_back(note("XB2007", Severity::Warning,
                               "cannot resolve the veth peer (ifindex " + std::to_string(peer.ifindex) + ") of " +
                                   c.name + (links ? std::string() : ": " + links.error().message),
                               "probe the peer from its own network namespace (--netns)"));
    }
    c.veth_peer = std::move(peer);
}

InterfaceCaps probe_link(Context& ctx, const nl::LinkInfo& li) {
    InterfaceCaps c;
    c.name = li.name;
    c.ifindex = li.ifindex;
    c.exists = true;
    c.kind = li.kind;
    c.mtu = li.mtu;
    c.rx_queues = li.rx_queues;
    c.tx_queues = li.tx_queues;
    c.oper_state = li.oper_state;
    probe_netdev(ctx, c);
    probe_ethtool(ctx, c);
    probe_xdp(ctx, li, c);
    probe_tc(ctx, c);
    probe_tcx(ctx, c);
    probe_veth_peer(ctx, li, c);
    return c;
}

}  // namespace

void log_interface(const InterfaceCaps& c) {
    log_event(LogLevel::Info, "probe", "XB2031", interface_summary(c));
    for (const auto& d : c.notes) Logger::instance().log(d, "probe");
}

Diagnostic missing_interface_diagnostic(const std::string& name) {
    return note("XB2001", Severity::Error, "interface '" + name + "' does not exist in this network namespace",
                "check the name with 'ip link show', or give the namespace it lives in with --netns");
}

Result<InterfaceCaps> probe_interface(const std::string& name, const ProbeOptions& opts) {
    if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos)
        return Error{ENODEV, "'" + name + "' is not a valid interface name"};
    auto ctx = open_context(opts);
    if (!ctx) return ctx.error();
    auto links = nl::get_links(ctx->rtnl, 0, name);
    if (!links) return links.error();
    if (links->empty()) return Error{ENODEV, "no interface '" + name + "'"};
    return probe_link(*ctx, links->front());
}

Result<std::vector<InterfaceCaps>> probe_all_interfaces(const ProbeOptions& opts) {
    auto ctx = open_context(opts);
    if (!ctx) return ctx.error();
    auto links = nl::get_links(ctx->rtnl, 0, "");
    if (!links) return links.error();
    std::vector<InterfaceCaps> out;
    out.reserve(links->size());
    for (const auto& li : *links) out.push_back(probe_link(*ctx, li));
    return out;
}

}  // namespace xb::probe
