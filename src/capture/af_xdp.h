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
    // Interrupt moderation. AF_XDP wakes a receiver sleeping in poll() at every NAPI poll that
    // redirected something to it (on a VM a cross-CPU wakeup costs the kernel and the receiver
    // several microseconds each), where TPACKET_V3 wakes its reader once per filled block. So while
    // packets keep coming, receive() does not sleep in poll() after a batch that emptied the ring:
    // it sleeps for the time the observed arrival rate takes to bring about a batch (what the caller
    // asks for, at most an eighth of the ring, so that a burst of 8x the rate still fits), at most
    // batch_wait_us, and nobody has to wake it. After a quiet spell (no estimate of the rate yet) it
    // polls, so a lone packet is delivered at once. 0: never wait (IPS, where a verdict waits for its
    // packet). 10 ms is the af-packet block-timeout default.
    uint32_t batch_wait_us = 10000;
};

// Opens and binds the socket, fills the fill ring and puts the socket into xb_xsk_map[queue]. The
// slot must be empty (a second receiver for the same queue is refused). Closing the receiver deletes
// the slot, then closes the socket (the kernel also drops a closed socket from every map slot that
// still holds it).
//
// zerocopy_refused: with XskBind::ZeroCopy, a driver that refuses the zero-copy bind (it can report
// xsk-zerocopy and still refuse a queue setup, a UMEM size, a frame size) gets a receiver in copy
// mode instead, and the reason is written here; left empty when zero-copy worked. nullptr: refused
// zero-copy is an error.
Result<std::unique_ptr<Receiver>> open_af_xdp(const AfXdpOptions& options, std::string* zerocopy_refused = nullptr);

}  // namespace xb::capture
