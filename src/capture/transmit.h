// IPS forwarding (Suricata's copy-mode: ips): frames the engine let through are sent out of the peer
// interface as they arrived, VLAN tags the kernel removed on receive put back into the frame.
#pragma once

#include <cstdint>

#include "capture/capture.h"
#include "common/owners.h"
#include "common/result.h"

namespace xb::capture {

class Transmitter {
public:
    // A packet socket bound to ifindex in the calling thread's network namespace; it receives nothing.
    static Result<Transmitter> open(int ifindex);
    Transmitter(Transmitter&&) noexcept = default;
    Transmitter& operator=(Transmitter&&) noexcept = default;

    // Sends p.caplen bytes of p.data, with p.vlan_tci[0..vlan_count) re-inserted as 802.1Q tags
    // (TPID 0x8100, outer first) after the two MAC addresses.
    Status send(const Packet& p);

    int ifindex() const { return ifindex_; }
    uint64_t sent() const { return sent_; }
    uint64_t failed() const { return failed_; }

private:
    Transmitter(UniqueFd fd, int ifindex) : fd_(std::move(fd)), ifindex_(ifindex) {}
    UniqueFd fd_;
    int ifindex_ = 0;
    uint64_t sent_ = 0;
    uint64_t failed_ = 0;
};

}  // namespace xb::capture
