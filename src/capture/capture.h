// Capture: packets from the kernel to an engine thread without copying. One Receiver per interface
// and thread. Both methods (af_packet.h: TPACKET_V3 rings in a fanout group; af_xdp.h: an AF_XDP
// socket per receive queue, fed by the bypass program itself) hand out batches of Packet views that
// stay valid until the receiver's release(). A Receiver is used by one thread at a time.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/result.h"

namespace xb::capture {

enum class Method { AfPacket, AfXdp };
std::string_view method_name(Method m);  // "af-packet", "af-xdp"

// One received frame, pointing into the receiver's ring.
struct Packet {
    const uint8_t* data = nullptr;
    uint32_t caplen = 0;        // bytes at data
    uint32_t wirelen = 0;       // length of the frame on the wire (>= caplen)
    uint64_t timestamp_ns = 0;  // CLOCK_REALTIME: the kernel's receive time (AF_PACKET), or the time the
                                // batch was taken from the ring (AF_XDP, whose descriptors carry none)
    uint32_t ifindex = 0;
    uint32_t queue = 0;         // receive queue (AF_XDP: the socket's queue; AF_PACKET: as reported, else 0)
    // VLAN tags the NIC or the kernel removed from the frame before it reached the ring, outer first
    // (AF_PACKET's tp_vlan_tci); tags still in the frame are not listed here.
    uint16_t vlan_tci[2] = {0, 0};
    uint8_t vlan_count = 0;
};

struct ReceiverStats {
    uint64_t received = 0;  // packets handed to the caller
    uint64_t dropped = 0;   // packets the kernel dropped because the ring was full (or had no frame)
    uint64_t batches = 0;   // receive() calls that returned packets
};

class Receiver {
public:
    virtual ~Receiver() = default;
    virtual Method method() const = 0;
    // A descriptor that becomes readable when packets are waiting (for engines with their own loop).
    virtual int fd() const = 0;
    // Waits up to timeout_ms (0: do not wait, -1: forever) for packets and fills `out` with at most
    // out.size() of them; 0 when none came. EINTR is returned as an error so that a signal stops the
    // wait. The packets stay valid until release(); receive() without release() in between continues
    // after the last packet returned.
    virtual Result<size_t> receive(std::span<Packet> out, int timeout_ms) = 0;
    // Gives every packet returned so far back to the kernel.
    virtual void release() = 0;
    // Counters since the receiver was opened.
    virtual Result<ReceiverStats> stats() = 0;
};

}  // namespace xb::capture
