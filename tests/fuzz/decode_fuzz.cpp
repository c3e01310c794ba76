// libFuzzer target: the engine's frame decoder on arbitrary bytes. The first byte chooses how many
// VLAN tags the kernel "removed" (0-3; 3 must be refused). Any crash or sanitizer report fails, and
// so does a decoded packet whose payload lies outside the frame or that breaks the invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "engine/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    uint8_t removed_count = data[0] & 3;
    const uint16_t removed[3] = {100, 200, 300};
    std::span<const uint8_t> frame(data + 1, size - 1);
    auto d = xb::engine::decode_frame(frame, removed, removed_count);
    if (!d) return 0;
    if (removed_count > 2) std::abort();
    if (d->family != 4 && d->family != 6) std::abort();
    if (d->vlan_count > 2 || d->vlan_count < removed_count) std::abort();
    if (!d->payload.empty() &&
        (d->payload.data() < frame.data() || d->payload.data() + d->payload.size() > frame.data() + frame.size()))
        std::abort();
    if (d->fragment && (!d->payload.empty() || d->sport != 0 || d->dport != 0)) std::abort();
    volatile uint8_t sink = 0;
    for (uint8_t b : d->payload) sink = sink ^ b;
    (void)sink;
    return 0;
}
