#include "probe/netlink.h"

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

#include "common/netdev_uapi.h"

namespace xb::probe::nl {

namespace {

// Large enough for a full RTM_NEWLINK of a many-queue device (the kernel sizes dump skbs to a page
// or more; a short buffer would truncate messages).
constexpr size_t kRecvBuffer = 64 * 1024;

// Iterates the attributes that follow a header of `offset` bytes (C++ cannot use libmnl's macros:
// they assign void*).
template <class Fn>
void for_each_attr(const nlmsghdr* nlh, size_t offset, Fn&& fn) {
    auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, offset));
    const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
    while (mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr)))) {
        fn(attr);
        attr = mnl_attr_next(attr);
    }
}

template <class Fn>
void for_each_nested(const nlattr* nest, Fn&& fn) {
    auto* attr = static_cast<const nlattr*>(mnl_attr_get_payload(nest));
    const char* end = reinterpret_cast<const char*>(nest) + mnl_attr_get_len(nest);
    while (mnl_attr_ok(attr, static_cast<int>(end - reinterpret_cast<const char*>(attr)))) {
        fn(attr);
        attr = mnl_attr_next(attr);
    }
}

bool is_u8(const nlattr* a) { return mnl_attr_validate(a, MNL_TYPE_U8) >= 0; }
bool is_u16(const nlattr* a) { return mnl_attr_validate(a, MNL_TYPE_U16) >= 0; }
bool is_u32(const nlattr* a) { return mnl_attr_validate(a, MNL_TYPE_U32) >= 0; }
bool is_u64(const nlattr* a) { return mnl_attr_validate(a, MNL_TYPE_U64) >= 0; }
bool is_str(const nlattr* a) { return mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0; }

struct Trampoline {
    const std::function<bool(const nlmsghdr*)>* fn;
    bool stopped = false;
};

// Always MNL_CB_OK: a caller that has what it wants stops being called, but the rest of the reply is
// still read so that the socket is clean for the next request. DONE and ACK end the loop (STOP).
int run_cb(const nlmsghdr* nlh, void* data) {
    auto* t = static_cast<Trampoline*>(data);
    if (!t->stopped && !(*t->fn)(nlh)) t->stopped = true;
    return MNL_CB_OK;
}

}  // namespace

Socket::Socket(mnl_socket* s) : sock_(s), portid_(mnl_socket_get_portid(s)) {}
Socket::Socket(Socket&& o) noexcept : sock_(o.sock_), portid_(o.portid_), seq_(o.seq_) { o.sock_ = nullptr; }
Socket::~Socket() {
    if (sock_) mnl_socket_close(sock_);
}

Result<Socket> Socket::open(int bus) {
    mnl_socket* s = mnl_socket_open2(bus, SOCK_CLOEXEC);
    if (!s) return Error::from_errno(errno, "cannot open netlink socket");
    if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
        int err = errno;
        mnl_socket_close(s);
        return Error::from_errno(err, "cannot bind netlink socket");
    }
    return Socket(s);
}

Status Socket::request(nlmsghdr* req, const std::function<bool(const nlmsghdr*)>& on_msg) {
    req->nlmsg_seq = ++seq_;
    if (!(req->nlmsg_flags & NLM_F_DUMP)) req->nlmsg_flags |= NLM_F_ACK;  // so the reply ends in an ACK
    if (mnl_socket_sendto(sock_, req, req->nlmsg_len) < 0) return Error::from_errno(errno, "netlink send");
    std::vector<char> buf(kRecvBuffer);
    Trampoline t{&on_msg};
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(sock_, buf.data(), buf.size());
        if (n < 0) return Error::from_errno(errno, "netlink receive");
        int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq_, portid_, run_cb, &t);
        if (r < 0) return Error::from_errno(errno, "netlink request");
        if (r == MNL_CB_STOP) return {};
    }
}

// --- genetlink -------------------------------------------------------------------------------------

Result<uint16_t> resolve_genl_family(Socket& genl, const char* name) {
    std::array<char, 512> buf{};
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = GENL_ID_CTRL;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
    g->cmd = CTRL_CMD_GETFAMILY;
    g->version = 1;
    mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, name);
    std::optional<uint16_t> id;
    auto st = genl.request(nlh, [&](const nlmsghdr* m) {
        for_each_attr(m, sizeof(genlmsghdr), [&](const nlattr* a) {
            if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID && is_u16(a)) id = mnl_attr_get_u16(a);
        });
        return true;
    });
    if (!st) {
        Error e = st.error();
        if (e.code == ENOENT) e.message = std::string("the kernel has no generic-netlink family '") + name + "'";
        else e.message = std::string("cannot resolve generic-netlink family '") + name + "': " + e.message;
        return e;
    }
    if (!id) return Error{EPROTO, std::string("CTRL_CMD_GETFAMILY returned no id for '") + name + "'"};
    return *id;
}

Result<NetdevDev> netdev_dev_get(Socket& genl, uint16_t family, int ifindex) {
    std::array<char, 512> buf{};
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = family;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
    g->cmd = netdev::CMD_DEV_GET;
    g->version = netdev::kFamilyVersion;
    mnl_attr_put_u32(nlh, netdev::A_DEV_IFINDEX, static_cast<uint32_t>(ifindex));
    NetdevDev out;
    bool got = false;
    auto st = genl.request(nlh, [&](const nlmsghdr* m) {
        if (m->nlmsg_type != family) return true;
        got = true;
        for_each_attr(m, sizeof(genlmsghdr), [&](const nlattr* a) {
            switch (mnl_attr_get_type(a)) {
                case netdev::A_DEV_XDP_FEATURES:
                    if (is_u64(a)) out.xdp_features = mnl_attr_get_u64(a);
                    break;
                case netdev::A_DEV_XDP_ZC_MAX_SEGS:
                    if (is_u32(a)) out.xdp_zc_max_segs = mnl_attr_get_u32(a);
                    break;
                case netdev::A_DEV_XDP_RX_METADATA_FEATURES:
                    if (is_u64(a)) out.xdp_rx_metadata_features = mnl_attr_get_u64(a);
                    break;
                default: break;
            }
        });
        return true;
    });
    if (!st) return Error{st.error().code, "netdev DEV_GET for ifindex " + std::to_string(ifindex) + ": " +
                                               st.error().message};
    if (!got) return Error{EPROTO, "netdev DEV_GET for ifindex " + std::to_string(ifindex) + " sent no reply"};
    return out;
}

// --- rtnetlink links ---------------------------------------------------------------------------------

namespace {
LinkInfo parse_link(const nlmsghdr* m) {
    LinkInfo li;
    auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(m));
    li.ifindex = ifi->ifi_index;
    for_each_attr(m, sizeof(ifinfomsg), [&](const nlattr* a) {
        switch (mnl_attr_get_type(a)) {
            case IFLA_IFNAME:
                if (is_str(a)) li.name = mnl_attr_get_str(a);
                break;
            case IFLA_MTU:
                if (is_u32(a)) li.mtu = mnl_attr_get_u32(a);
                break;
            case IFLA_NUM_RX_QUEUES:
                if (is_u32(a)) li.rx_queues = mnl_attr_get_u32(a);
                break;
            case IFLA_NUM_TX_QUEUES:
                if (is_u32(a)) li.tx_queues = mnl_attr_get_u32(a);
                break;
            case IFLA_OPERSTATE:
                if (is_u8(a) && mnl_attr_get_u8(a) <= static_cast<uint8_t>(OperState::Up))
                    li.oper_state = static_cast<OperState>(mnl_attr_get_u8(a));
                break;
            case IFLA_LINK:
                if (is_u32(a)) li.link = static_cast<int>(mnl_attr_get_u32(a));
                break;
            case IFLA_LINK_NETNSID:
                if (is_u32(a)) li.link_netnsid = static_cast<int>(mnl_attr_get_u32(a));
                break;
            case IFLA_LINKINFO:
                for_each_nested(a, [&](const nlattr* n) {
                    if (mnl_attr_get_type(n) == IFLA_INFO_KIND && is_str(n)) li.kind = mnl_attr_get_str(n);
                });
                break;
            case IFLA_XDP:
                for_each_nested(a, [&](const nlattr* n) {
                    if (!is_u32(n)) return;
                    switch (mnl_attr_get_type(n)) {
                        case IFLA_XDP_SKB_PROG_ID: li.xdp_generic_id = mnl_attr_get_u32(n); break;
                        case IFLA_XDP_DRV_PROG_ID: li.xdp_native_id = mnl_attr_get_u32(n); break;
                        case IFLA_XDP_HW_PROG_ID: li.xdp_offload_id = mnl_attr_get_u32(n); break;
                        default: break;
                    }
                });
                break;
            default: break;
        }
    });
    return li;
}
}  // namespace

Result<std::vector<LinkInfo>> get_links(Socket& rtnl, int ifindex, const std::string& name, std::optional<int> nsid) {
    std::array<char, 512> buf{};
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_GETLINK;
    bool dump = ifindex == 0 && name.empty();
    nlh->nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    if (!name.empty()) {
        if (name.size() >= IFNAMSIZ) return Error{ENODEV, "no interface named '" + name + "' (name too long)"};
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    }
    mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);  // statistics are most of the message
    if (nsid) mnl_attr_put_u32(nlh, IFLA_TARGET_NETNSID, static_cast<uint32_t>(*nsid));
    std::vector<LinkInfo> out;
    auto st = rtnl.request(nlh, [&](const nlmsghdr* m) {
        if (m->nlmsg_type == RTM_NEWLINK) out.push_back(parse_link(m));
        return true;
    });
    if (!st) {
        Error e = st.error();
        if (e.code == ENODEV) e.message = "no interface " + (name.empty() ? "#" + std::to_string(ifindex) : "'" + name + "'");
        return e;
    }
    return out;
}

// --- tc ------------------------------------------------------------------------------------------------

namespace {
nlmsghdr* put_tc_dump(char* buf, uint16_t type, int ifindex, uint32_t parent) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    auto* t = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(tcmsg)));
    t->tcm_family = AF_UNSPEC;
    t->tcm_ifindex = ifindex;
    t->tcm_parent = parent;
    return nlh;
}
}  // namespace

Result<std::set<int>> clsact_ifindexes(Socket& rtnl) {
    std::array<char, 512> buf{};
    nlmsghdr* nlh = put_tc_dump(buf.data(), RTM_GETQDISC, 0, 0);
    std::set<int> found;
    auto st = rtnl.request(nlh, [&](const nlmsghdr* m) {
        if (m->nlmsg_type != RTM_NEWQDISC) return true;
        auto* t = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(m));
        // The legacy ingress qdisc sits at the same parent; only the kind tells them apart.
        if (t->tcm_parent != TC_H_CLSACT) return true;
        for_each_attr(m, sizeof(tcmsg), [&](const nlattr* a) {
            if (mnl_attr_get_type(a) == TCA_KIND && is_str(a) && std::strcmp(mnl_attr_get_str(a), "clsact") == 0)
                found.insert(t->tcm_ifindex);
        });
        return true;
    });
    if (!st) return st.error();
    return found;
}

Result<std::vector<TcFilter>> clsact_filters(Socket& rtnl, int ifindex, TcDirection dir) {
    std::array<char, 512> buf{};
    uint32_t parent = TC_H_MAKE(TC_H_CLSACT, dir == TcDirection::Ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
    nlmsghdr* nlh = put_tc_dump(buf.data(), RTM_GETTFILTER, ifindex, parent);
    std::vector<TcFilter> out;
    auto st = rtnl.request(nlh, [&](const nlmsghdr* m) {
        if (m->nlmsg_type != RTM_NEWTFILTER) return true;
        auto* t = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(m));
        if (t->tcm_ifindex != ifindex || t->tcm_parent != parent) return true;
        // The dump lists each classifier instance (handle 0, no options) before its filters; only
        // the filters themselves are reported.
        if (t->tcm_handle == 0) return true;
        TcFilter f;
        f.direction = dir;
        f.handle = t->tcm_handle;
        f.priority = static_cast<uint16_t>(TC_H_MAJ(t->tcm_info) >> 16);
        f.protocol = ntohs(static_cast<uint16_t>(TC_H_MIN(t->tcm_info)));
        for_each_attr(m, sizeof(tcmsg), [&](const nlattr* a) {
            if (mnl_attr_get_type(a) == TCA_KIND && is_str(a)) f.kind = mnl_attr_get_str(a);
        });
        if (f.kind == "bpf") {
            for_each_attr(m, sizeof(tcmsg), [&](const nlattr* a) {
                if (mnl_attr_get_type(a) != TCA_OPTIONS) return;
                for_each_nested(a, [&](const nlattr* o) {
                    switch (mnl_attr_get_type(o)) {
                        case TCA_BPF_ID:
                            if (is_u32(o)) f.prog_id = mnl_attr_get_u32(o);
                            break;
                        case TCA_BPF_NAME:
                            if (is_str(o)) f.tc_name = mnl_attr_get_str(o);
                            break;
                        case TCA_BPF_FLAGS:
                            if (is_u32(o)) f.direct_action = (mnl_attr_get_u32(o) & TCA_BPF_FLAG_ACT_DIRECT) != 0;
                            break;
                        default: break;
                    }
                });
            });
        }
        out.push_back(std::move(f));
        return true;
    });
    if (!st) return st.error();
    return out;
}

}  // namespace xb::probe::nl
