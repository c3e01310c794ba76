#include "capture/transmit.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>
#include <string>

namespace xb::capture {

namespace {

constexpr size_t kMacPairLen = 2 * ETH_ALEN;

std::string describe_interface(int ifindex) {
    char name[IF_NAMESIZE] = {};
    std::string where = "ifindex " + std::to_string(ifindex);
    if (ifindex > 0 && if_indextoname(static_cast<unsigned>(ifindex), name) != nullptr)
        return std::string(name) + " (" + where + ")";
    return where;
}

}  // namespace

Result<Transmitter> Transmitter::open(int ifindex) {
    const std::string where = describe_interface(ifindex);
    if (ifindex <= 0) return Error{EINVAL, "the IPS transmitter needs an interface: ifindex " + std::to_string(ifindex) + " is not one"};
    // Protocol 0: the socket is for sending only and never has received frames queued.
    UniqueFd fd(socket(AF_PACKET, SOCK_RAW, 0));
    if (!fd) return Error::from_errno(errno, "packet socket for the IPS transmitter on " + where);
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = 0;
    addr.sll_ifindex = ifindex;
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return Error::from_errno(errno, "bind of the IPS transmitter to " + where);
    return Transmitter(std::move(fd), ifindex);
}

Status Transmitter::send(const Packet& p) {
    if (p.data == nullptr || p.caplen < ETH_HLEN) {
        ++failed_;
        return Error{EINVAL, "IPS frame of " + std::to_string(p.caplen) + " bytes is shorter than an Ethernet header"};
    }
    if (p.vlan_count > 2) {
        ++failed_;
        return Error{EINVAL, "IPS frame lists " + std::to_string(p.vlan_count) + " removed VLAN tags, at most 2 exist"};
    }
    // The tags go between the MAC addresses and the EtherType; gathered, so the frame is not copied.
    uint8_t tags[2 * 4];
    for (uint8_t i = 0; i < p.vlan_count; ++i) {
        const uint16_t tpid = htons(ETH_P_8021Q), tci = htons(p.vlan_tci[i]);
        std::memcpy(tags + 4 * i, &tpid, 2);
        std::memcpy(tags + 4 * i + 2, &tci, 2);
    }
    iovec iov[3] = {
        {const_cast<uint8_t*>(p.data), kMacPairLen},
        {tags, static_cast<size_t>(4 * p.vlan_count)},
        {const_cast<uint8_t*>(p.data + kMacPairLen), p.caplen - kMacPairLen},
    };
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex_;
    // The outermost EtherType as it will be on the wire, so the kernel sets skb->protocol right.
    uint16_t proto;
    if (p.vlan_count > 0) {
        proto = htons(ETH_P_8021Q);
    } else {
        std::memcpy(&proto, p.data + kMacPairLen, 2);
    }
    to.sll_protocol = proto;
    to.sll_halen = ETH_ALEN;
    std::memcpy(to.sll_addr, p.data, ETH_ALEN);
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = iov;
    msg.msg_iovlen = 3;
    if (sendmsg(fd_.get(), &msg, 0) < 0) {
        ++failed_;
        return Error::from_errno(errno, "IPS send of a " + std::to_string(p.caplen + 4u * p.vlan_count) +
                                            "-byte frame on " + describe_interface(ifindex_));
    }
    ++sent_;
    return {};
}

}  // namespace xb::capture
