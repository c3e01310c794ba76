#include "monitor/link_watch.h"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace xb::monitor {

namespace {

int attr_cb(const nlattr* attr, void* data) {
    auto** tb = static_cast<const nlattr**>(data);
    int type = mnl_attr_get_type(attr);
    if (mnl_attr_type_valid(attr, IFLA_MAX) < 0) return MNL_CB_OK;
    tb[type] = attr;
    return MNL_CB_OK;
}

int msg_cb(const nlmsghdr* nlh, void* data) {
    auto* out = static_cast<std::vector<LinkEvent>*>(data);
    if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) return MNL_CB_OK;
    const auto* ifm = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    const nlattr* tb[IFLA_MAX + 1] = {};
    mnl_attr_parse(nlh, sizeof(*ifm), attr_cb, tb);
    LinkEvent e;
    e.ifindex = ifm->ifi_index;
    if (tb[IFLA_IFNAME]) e.name = mnl_attr_get_str(tb[IFLA_IFNAME]);
    e.gone = nlh->nlmsg_type == RTM_DELLINK;
    e.can_receive = !e.gone && (ifm->ifi_flags & IFF_UP) && (ifm->ifi_flags & IFF_RUNNING);
    out->push_back(std::move(e));
    return MNL_CB_OK;
}

}  // namespace

Result<LinkWatcher> LinkWatcher::open() {
    mnl_socket* s = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!s) return Error::from_errno(errno, "cannot open an rtnetlink socket");
    if (mnl_socket_bind(s, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
        int err = errno;
        mnl_socket_close(s);
        return Error::from_errno(err, "cannot subscribe to link events (RTMGRP_LINK)");
    }
    return LinkWatcher(s);
}

LinkWatcher::LinkWatcher(LinkWatcher&& o) noexcept : sock_(std::exchange(o.sock_, nullptr)) {}
LinkWatcher& LinkWatcher::operator=(LinkWatcher&& o) noexcept {
    if (this != &o) {
        if (sock_) mnl_socket_close(sock_);
        sock_ = std::exchange(o.sock_, nullptr);
    }
    return *this;
}
LinkWatcher::~LinkWatcher() {
    if (sock_) mnl_socket_close(sock_);
}

int LinkWatcher::fd() const { return sock_ ? mnl_socket_get_fd(sock_) : -1; }

Result<std::vector<LinkEvent>> LinkWatcher::read() {
    std::vector<LinkEvent> out;
    if (!sock_) return out;
    alignas(nlmsghdr) char buf[16384];
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(sock_, buf, sizeof buf);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return Error::from_errno(errno, "link events were lost");
        }
        if (mnl_cb_run(buf, static_cast<size_t>(n), 0, 0, msg_cb, &out) < 0 && errno != 0 && errno != ENOENT)
            return Error::from_errno(errno, "cannot read link events");
    }
    return out;
}

LinkEvent link_state(int ifindex) {
    LinkEvent e;
    e.ifindex = ifindex;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    ifr.ifr_ifindex = ifindex;
    if (fd < 0 || ioctl(fd, SIOCGIFNAME, &ifr) != 0) {
        e.gone = true;
    } else {
        e.name = ifr.ifr_name;
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
            e.can_receive = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
    }
    if (fd >= 0) close(fd);
    return e;
}

}  // namespace xb::monitor
