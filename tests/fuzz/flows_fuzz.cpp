// libFuzzer target: the flows file parser on arbitrary bytes. Any crash, leak or UBSan report fails;
// so does a diagnostic other than XB3101 (located) or XB3102 (warning), text with a control byte
// (a NUL would cut it short), two flows that are the same in either direction, or a flow that does
// not come back unchanged when written as a line and parsed again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <arpa/inet.h>

#include "datapath/flow.h"

namespace {

bool has_control_byte(const std::string& s) {
    for (char c : s)
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f) return true;
    return false;
}

std::string as_line(const xb::datapath::FlowKey& k) {
    return std::to_string(k.proto) + " " + xb::datapath::address_string(k, true) + " " +
           std::to_string(ntohs(k.src_port)) + " " + xb::datapath::address_string(k, false) + " " +
           std::to_string(ntohs(k.dst_port)) + " " + std::to_string(k.vlan_outer) + " " +
           std::to_string(k.vlan_inner) + "\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    xb::Diagnostics diags;
    auto flows = xb::datapath::parse_flows(text, "fuzz.flows", diags);
    size_t warnings = 0;
    for (const auto& d : diags) {
        if (d.code == "XB3101") {
            if (d.severity != xb::Severity::Error || d.location.line == 0 || d.location.column == 0) std::abort();
        } else if (d.code == "XB3102") {
            if (d.severity != xb::Severity::Warning || ++warnings > 1) std::abort();
        } else {
            std::abort();
        }
        std::string t = d.to_text();
        if (has_control_byte(t) || t.back() != '\n') std::abort();
        (void)d.to_json();
    }
    for (size_t i = 0; i < flows.size(); ++i) {
        const auto& k = flows[i].key;
        for (size_t j = 0; j < i; ++j)
            if (xb::datapath::flow_key_equal(k, flows[j].key) ||
                xb::datapath::flow_key_equal(xb::datapath::reverse_flow_key(k), flows[j].key))
                std::abort();
        if (i < 64) {  // the round trip, for the first flows of an input
            xb::Diagnostics again;
            auto back = xb::datapath::parse_flows(as_line(k), "again.flows", again);
            if (back.size() != 1 || !again.empty() || !xb::datapath::flow_key_equal(back[0].key, k)) std::abort();
        }
    }
    return 0;
}
