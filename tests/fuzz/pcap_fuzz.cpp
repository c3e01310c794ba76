// libFuzzer target: the pcap reader on arbitrary bytes. Any crash, leak or UBSan report fails; so does
// a refusal without exactly one XB311x diagnostic, a packet larger than the input or the record limit,
// or an accepted capture that does not survive write_pcap and a second parse unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "datapath/pcap.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    xb::Diagnostics diags;
    auto parsed = xb::datapath::parse_pcap(std::span<const uint8_t>(data, size), "fuzz.pcap", diags);
    for (const auto& d : diags) {
        if (d.code.rfind("XB311", 0) != 0 || d.message.empty() || d.hint.empty()) std::abort();
        std::string text = d.to_text();
        if (text.empty() || text.back() != '\n') std::abort();
        (void)d.to_json();
    }
    if (!parsed) {
        if (diags.size() != 1 || !diags.has_errors()) std::abort();
        return 0;
    }
    if (!diags.empty()) std::abort();
    size_t total = 0;
    for (const auto& p : parsed->packets) {
        if (p.data.size() > xb::datapath::kMaxPcapRecord) std::abort();
        total += p.data.size() + 16;
    }
    if (total + 24 > size) std::abort();
    // Round trip: the same packets (data and timestamps) in this machine's byte order.
    auto written = xb::datapath::write_pcap(parsed->packets, parsed->linktype);
    xb::Diagnostics again;
    auto reparsed = xb::datapath::parse_pcap(written, "again.pcap", again);
    if (!reparsed || reparsed->packets.size() != parsed->packets.size()) std::abort();
    for (size_t i = 0; i < parsed->packets.size(); ++i) {
        const auto& a = parsed->packets[i];
        const auto& b = reparsed->packets[i];
        if (a.data != b.data || a.ts_sec != b.ts_sec || a.ts_frac != b.ts_frac) std::abort();
    }
    return 0;
}
