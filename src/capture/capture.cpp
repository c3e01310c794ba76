#include "capture/capture.h"

namespace xb::capture {

std::string_view method_name(Method m) { return m == Method::AfPacket ? "af-packet" : "af-xdp"; }

}  // namespace xb::capture
