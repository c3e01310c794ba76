// AF_XDP capture: one socket per receive queue, fed by the bypass program itself. The xsk variants
// of ebpf/xb_bypass.bpf.c (xdp_ids_xsk, xdp_ips_xsk) redirect every frame they do not bypass into
// xb_xsk_map[rx queue], so the bypass check and the capture are one XDP pass; libxdp's default
// program is never loaded (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD): the loader owns the XSKMAP and the
// receiver only puts its socket into the slot of its queue.
//
// Packets point into the UMEM (one frame each) and stay valid until release(), which gives their
// frames back to the kernel through the fill ring.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "capture/capture.h"
#include "common/result.h"

namespace xb::capture {

enum class XskBind { Copy, ZeroCopy };

struct AfXdpOptions {
    std::string ifname;            // the capture interface (libxdp binds by name)...
    int ifindex = 0;               // ...or its index (0: looked up from ifname); in the caller's namespace
    uint32_t queue = 0;            // receive queue the socket binds to
    int xsk_map_fd = -1;           // the bypass program's xb_xsk_map: the socket goes into slot `queue`
    uint32_t frame_count = 4096;   // UMEM frames
    uint32_t frame_size = 4096;    // XSK_UMEM__DEFAULT_FRAME_SIZE; a power of two (2048 up to the page size)
    uint32_t ring_size = 2048;     // rx, fill (and completion) ring entries: a power of two
    XskBind bind = XskBind::Copy;
    bool generic = false;          // the XDP program runs in generic (skb) mode: copy mode only
    // After a small batch that came less than 2 ms after the previous one, receive() first waits
    // this long, so that one wakeup collects several packets: AF_XDP wakes the receiver for every
    // NAPI poll, where TPACKET_V3 wakes it per filled block. 0: never wait (IPS, where a verdict
    // waits for it). 1 ms holds what a 2048-entry ring takes at 2 Mpps.
    uint32_t batch_wait_us = 1000;
};

// Opens and binds the socket, fills the fill ring and puts the socket into xb_xsk_map[queue]. The
// slot must be empty (a second receiver for the same queue is refused). Closing the receiver deletes
// the slot, then closes the socket (the kernel also drops a closed socket from every map slot that
// still holds it).
Result<std::unique_ptr<Receiver>> open_af_xdp(const AfXdpOptions& options);

}  // namespace xb::capture
