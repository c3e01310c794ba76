// libFuzzer target: one control request line (control/protocol.h). Parsing must never crash, leak
// or run away; every outcome is a request or an error with a code; and the reply built for it is
// valid JSON that the reader reads back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "control/json_value.h"
#include "control/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view line(reinterpret_cast<const char*>(data), size);
    (void)xb::control::JsonValue::parse(line);
    auto r = xb::control::parse_request(line);
    std::string reply;
    if (auto* e = std::get_if<xb::control::ProtocolError>(&r)) {
        if (e->code.size() != 6 || e->code.rfind("XB80", 0) != 0 || e->message.empty()) std::abort();
        reply = xb::control::error_reply(e->code, e->message, e->id_json);
    } else {
        const auto& q = std::get<xb::control::Request>(r);
        if (q.filter.limit < 1 || q.filter.limit > xb::control::kMaxFlowLimit) std::abort();
        reply = xb::control::ok_reply("{\"cmd\":\"" + std::string(xb::control::command_name(q.cmd)) + "\"}", q.id_json);
    }
    auto back = xb::control::JsonValue::parse(reply);
    if (!back || !back->get("ok")) std::abort();
    return 0;
}
