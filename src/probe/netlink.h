// Internal to probe: the netlink queries behind probe_interface(), with libmnl. Everything talks to
// the network namespace of the calling thread (sockets bind to it when opened).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "probe/capabilities.h"

struct mnl_socket;
struct nlmsghdr;

namespace xb::probe::nl {

// A bound netlink socket; closes itself.
class Socket {
public:
    static Result<Socket> open(int bus);  // NETLINK_ROUTE, NETLINK_GENERIC
    Socket(Socket&& o) noexcept;
    Socket& operator=(Socket&&) = delete;
    ~Socket();

    // Sends one request (nlmsg_seq is set here) and feeds each reply message to on_msg until the
    // kernel's DONE or ACK. After on_msg returns false it is not called again (the rest is drained). A kernel error comes back as Error.
    Status request(nlmsghdr* req, const std::function<bool(const nlmsghdr*)>& on_msg);

private:
    explicit Socket(mnl_socket* s);
    mnl_socket* sock_ = nullptr;
    unsigned portid_ = 0;
    unsigned seq_ = 0;
};

// --- netdev generic-netlink family ---------------------------------------------------------------
// The family id of "netdev", ENOENT when the kernel has no such family (Linux < 6.3).
Result<uint16_t> resolve_genl_family(Socket& genl, const char* name);

struct NetdevDev {
    std::optional<uint64_t> xdp_features;
    std::optional<uint32_t> xdp_zc_max_segs;
    std::optional<uint64_t> xdp_rx_metadata_features;
};
Result<NetdevDev> netdev_dev_get(Socket& genl, uint16_t family, int ifindex);

// --- rtnetlink links -----------------------------------------------------------------------------
struct LinkInfo {
    int ifindex = 0;
    std::string name;
    std::string kind;
    uint32_t mtu = 0;
    uint32_t rx_queues = 0, tx_queues = 0;
    OperState oper_state = OperState::Unknown;
    std::optional<int> link;        // IFLA_LINK
    std::optional<int> link_netnsid;  // IFLA_LINK_NETNSID
    uint32_t xdp_generic_id = 0, xdp_native_id = 0, xdp_offload_id = 0;
};
// ifindex 0 with a name: by name; both empty: every link (dump). With nsid: in the namespace that
// nsid names (IFLA_TARGET_NETNSID), as seen from ours.
Result<std::vector<LinkInfo>> get_links(Socket& rtnl, int ifindex, const std::string& name,
                                        std::optional<int> nsid = std::nullopt);

// --- tc --------------------------------------------------------------------------------------------
// ifindexes of every interface of the namespace that has a clsact qdisc (one dump for all: the
// kernel's qdisc dump is not filtered by interface).
Result<std::set<int>> clsact_ifindexes(Socket& rtnl);
Result<std::vector<TcFilter>> clsact_filters(Socket& rtnl, int ifindex, TcDirection dir);

}  // namespace xb::probe::nl
