// libFuzzer target: the rule parser on arbitrary bytes, then (for small rule sets) the matcher
// compiled from what parsed and fed the input itself in two halves. Any crash, leak or UBSan report
// fails; so does a left-out rule without an error, a diagnostic without a code or location, or a
// compile failure of rules the parser accepted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/rules/matcher.h"
#include "engine/rules/rule_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    xb::engine::RuleVars vars;
    vars.address_groups["HOME_NET"] = "[10.0.0.0/8,192.168.0.0/16,2001:db8::/32]";
    vars.address_groups["EXTERNAL_NET"] = "!$HOME_NET";
    vars.port_groups["HTTP_PORTS"] = "[80,8080]";
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto load = xb::engine::parse_rules(text, "fuzz.rules", vars);
    for (const auto& d : load.diagnostics) {
        if (d.code.size() != 6 || d.code.compare(0, 4, "XB71") != 0 || d.message.empty()) std::abort();
        if (d.location.file != "fuzz.rules" || !d.location.known() || d.location.column == 0) std::abort();
        (void)d.to_text();
    }
    for (const auto& r : load.rules) {
        if (r.sid == 0 || r.text.empty()) std::abort();
        xb::engine::FlowTuple t;
        t.proto = 6;
        t.src[0] = 10;
        t.sport = 1234;
        t.dport = 80;
        (void)r.header_matches(t);
    }
    if (load.rules.empty() || load.rules.size() > 8) return 0;
    auto m = xb::engine::Matcher::compile(load.rules);
    if (!m.ok()) std::abort();
    auto scratch = m->make_scratch();
    auto stream = m->open_stream();
    if (!scratch || !stream) std::abort();
    std::vector<int> hits(load.rules.size());
    auto cb = [&](size_t i) {
        if (i >= hits.size() || hits[i]++ != 0) std::abort();  // once per rule per stream
    };
    m->scan(*stream, {data, size / 2}, *scratch, cb);
    m->scan(*stream, {data + size / 2, size - size / 2}, *scratch, cb);
    m->close_stream(*stream, *scratch, cb);
    // The same bytes as packets of each protocol class, on their own: once per rule per packet.
    for (uint8_t proto : {6, 17, 1, 47}) {
        std::fill(hits.begin(), hits.end(), 0);
        m->scan_packet(proto, {data, size}, *scratch, cb);
    }
    return 0;
}
