// Only the parser and the Linux UAPI headers it needs are in this translation unit: glibc's
// netinet/in.h would clash with linux/in.h.
#include "datapath/parse_mirror.h"

#include <cstring>
#include <vector>

#include "xb_parse.h"

namespace xb::datapath {

static_assert(static_cast<int>(ParseStatus::Ok) == XB_PARSE_OK && static_cast<int>(ParseStatus::NotIp) == XB_PARSE_NOT_IP &&
              static_cast<int>(ParseStatus::Fragment) == XB_PARSE_FRAGMENT &&
              static_cast<int>(ParseStatus::Malformed) == XB_PARSE_MALFORMED);

std::string_view parse_status_name(ParseStatus s) {
    switch (s) {
    case ParseStatus::Ok: return "ok";
    case ParseStatus::NotIp: return "not-ip";
    case ParseStatus::Fragment: return "fragment";
    case ParseStatus::Malformed: return "parse-error";
    }
    return "?";
}

ParsedFrame parse_frame(std::span<const uint8_t> frame, bool vlan_tracking, int hw_vlan_id) {
    ParsedFrame out;
    if (frame.empty()) return out;
    // Like the kernel (NET_IP_ALIGN), start the frame 2 bytes into an aligned buffer so that the IP
    // header is 4-byte aligned and the header structs can be read in place.
    std::vector<uint64_t> storage((frame.size() + 2 + 7) / 8);
    auto* data = reinterpret_cast<uint8_t*>(storage.data()) + 2;
    std::memcpy(data, frame.data(), frame.size());
    out.status = static_cast<ParseStatus>(
        xb_parse_frame(data, data + frame.size(), vlan_tracking ? 1 : 0, hw_vlan_id, &out.key));
    return out;
}

}  // namespace xb::datapath
