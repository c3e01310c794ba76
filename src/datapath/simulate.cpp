#include "datapath/simulate.h"

#include <algorithm>
#include <charconv>

#include "common/json.h"
#include "datapath/parse_mirror.h"

namespace xb::datapath {

namespace {
constexpr size_t kMaxPlainEthernetFrame = 1518;  // larger refused frames are the too-large kind

// XB3122 and XB3123 count their unlisted packets in one line each, worded alike so that a reader (or a
// grep) that knows one knows the other; `what` is the part of the sentence that differs.
void warn_unlisted(Diagnostics& diags, const char* code, size_t seen, const std::string& what, std::string hint) {
    if (seen <= kMaxListedWarnings) return;
    diags.warning(code,
                  std::to_string(seen - kMaxListedWarnings) + " more packets (" + std::to_string(seen) + " in all) " +
                      what + "; only the first " + std::to_string(kMaxListedWarnings) + " are listed",
                  std::move(hint));
}
}  // namespace

std::string PacketVerdict::to_json() const {
    JsonWriter w;
    w.begin_object();
    w.field("index", static_cast<uint64_t>(index));
    w.field("verdict", verdict);
    if (cpu) w.field("cpu", *cpu);
    w.field("reason", reason);
    w.field("action", action);
    w.key("key");
    if (key) w.raw(flow_key_to_json(*key));
    else w.null();
    w.end_object();
    return w.str();
}

std::string PacketVerdict::to_text() const {
    std::string v = verdict;
    if (cpu) v += " (cpu " + std::to_string(*cpu) + ")";
    std::string line = std::to_string(index);
    line.resize(std::max<size_t>(line.size() + 1, 6), ' ');
    std::string col = v;
    col.resize(std::max<size_t>(col.size() + 1, 22), ' ');
    std::string why = reason;
    why.resize(std::max<size_t>(why.size() + 1, 18), ' ');
    return line + col + why + (key ? flow_key_to_string(*key) : std::string("-"));
}

Result<std::vector<unsigned>> parse_cpu_list(const std::string& text) {
    std::vector<unsigned> out;
    auto bad = [&] { return Error{EINVAL, "'" + text + "' is not a CPU list like 0-3,6"}; };
    size_t pos = 0;
    if (text.empty()) return bad();
    while (pos <= text.size()) {
        size_t end = text.find(',', pos);
        if (end == std::string::npos) end = text.size();
        std::string part = text.substr(pos, end - pos);
        size_t dash = part.find('-');
        unsigned lo = 0, hi = 0;
        auto num = [](const std::string& s, unsigned* v) {
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
            return !s.empty() && ec == std::errc() && p == s.data() + s.size();
        };
        if (dash == std::string::npos) {
            if (!num(part, &lo)) return bad();
            hi = lo;
        } else if (!num(part.substr(0, dash), &lo) || !num(part.substr(dash + 1), &hi) || hi < lo || hi - lo > 4096) {
            return bad();
        }
        for (unsigned c = lo; c <= hi; ++c) out.push_back(c);
        pos = end + 1;
        if (end == text.size()) break;
    }
    return out;
}

Result<size_t> simulate(const SimulateOptions& options, const std::vector<FlowSpec>& flows,
                        const PacketSource& source, const VerdictSink& sink, Diagnostics& diags) {
    ProgramOptions po;
    po.datapath = options.datapath;
    po.cpu_redirect = options.cpu_redirect;
    po.vlan_tracking = options.vlan_tracking;
    po.flow_table_size = static_cast<uint32_t>(std::max<size_t>(1024, flows.size() * 2 + 16));
    auto prog = BypassProgram::load(po, diags);
    if (!prog) return prog.error();
    FlowTable table = prog->flow_table();
    for (const auto& f : flows) {
        if (auto s = table.insert(f.key); !s) {
            diags.error("XB3121", "cannot insert flow " + flow_key_to_string(f.key) + ": " + s.error().message,
                        "the flow table is full or the kernel is out of memory for BPF maps");
            return s.error();
        }
    }

    // Per-packet warnings: the first few listed, the rest counted (a capture may hold millions).
    size_t unrunnable = 0, disagreed = 0;
    auto warn = [&](size_t& seen, const char* code, std::string message, std::string hint) {
        if (++seen <= kMaxListedWarnings) diags.warning(code, std::move(message), std::move(hint));
    };
    PcapPacket packet;
    size_t i = 0;
    for (;; ++i) {
        auto more = source(packet);
        if (!more) return more.error();
        if (!*more) break;
        const auto& frame = packet.data;
        PacketVerdict v;
        v.index = i;
        ParsedFrame parsed = parse_frame(frame, options.vlan_tracking);
        if (parsed.status == ParseStatus::Ok) v.key = parsed.key;

        if (auto s = prog->reset_counters(); !s) return s.error();
        auto run = prog->test_run(frame);
        if (!run) {
            // The kernel refuses frames shorter than an Ethernet header (or, for tc, than the IP header
            // its ethertype announces); the stack would never hand those to the program either.
            v.verdict = "pass";
            v.reason = "parse-error";
            v.key.reset();
            v.action = "none";
            warn(unrunnable, "XB3122",
                 "packet " + std::to_string(i) + " (" + std::to_string(frame.size()) +
                     " bytes) could not be run through the program: " + run.error().message,
                 frame.size() <= kMaxPlainEthernetFrame
                     ? "such a frame is too short for the kernel's receive path; it never reaches the bypass"
                     : "BPF_PROG_TEST_RUN refuses a frame this large (tc takes about a page, XDP what fits "
                       "in its fragments); on a live interface it would need an MTU this large");
            sink(v);
            continue;
        }
        v.retval = run->retval;
        v.action = std::string(action_name(options.datapath, static_cast<int>(run->retval)));
        auto c = prog->read_counters();
        if (!c) return c.error();
        if ((*c)[XB_CNT_DROP] || (*c)[XB_CNT_IPS_FORWARD]) {
            v.verdict = "bypass";
        } else if ((*c)[XB_CNT_CPU_REDIRECT]) {
            v.verdict = "cpu-redirect";
            if (v.key) v.cpu = redirect_cpu_for(*v.key, options.cpu_redirect);
        } else {
            v.verdict = "pass";
        }
        if ((*c)[XB_CNT_HIT]) v.reason = "hit";
        else if ((*c)[XB_CNT_REDIRECT_FAIL]) v.reason = "redirect-failure";
        else if ((*c)[XB_CNT_MISS]) v.reason = "miss";
        else if ((*c)[XB_CNT_FRAGMENT]) v.reason = "fragment";
        else if ((*c)[XB_CNT_NOT_IP]) v.reason = "not-ip";
        else v.reason = "parse-error";
        // The host parser and the program must agree on whether the frame had a key.
        bool kernel_keyed = (*c)[XB_CNT_HIT] || (*c)[XB_CNT_MISS];
        if (kernel_keyed != (parsed.status == ParseStatus::Ok))
            warn(disagreed, "XB3123",
                 "packet " + std::to_string(i) + ": the host parser says " +
                     std::string(parse_status_name(parsed.status)) + " but the program counted " + v.reason,
                 "report this as a bug with the packet attached");
        sink(v);
    }
    warn_unlisted(diags, "XB3122", unrunnable, "could not be run through the program",
                  "their verdict lines say \"parse-error\"; see the listed ones for why");
    warn_unlisted(diags, "XB3123", disagreed, "where the host parser and the program disagree",
                  "report this as a bug with the listed packets attached");
    return i;
}

Result<std::vector<PacketVerdict>> simulate(const SimulateOptions& options, const std::vector<FlowSpec>& flows,
                                            const PcapFile& capture, Diagnostics& diags) {
    size_t next = 0;
    PacketSource source = [&](PcapPacket& out) -> Result<bool> {
        if (next == capture.packets.size()) return false;
        out = capture.packets[next++];
        return true;
    };
    std::vector<PacketVerdict> out;
    auto n = simulate(options, flows, source, [&](const PacketVerdict& v) { out.push_back(v); }, diags);
    if (!n) return n.error();
    return out;
}

}  // namespace xb::datapath
