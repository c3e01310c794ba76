// xids rule matching: throughput of Matcher::scan (one Hyperscan streaming database, packets of
// 1460 bytes fed to one stream per 64 KiB flow) against a plain per-rule memmem scan of the same
// flows, with >= 1,000 generated content rules. Pseudo-random text with some contents planted.
//   bench/rules_bench [RULES=1000] [MEGABYTES=64] [BASELINE_MEGABYTES=8]
// The memmem baseline costs RULES passes over its data, so it runs on the first BASELINE_MEGABYTES
// of the same payloads (a rate is a rate); both must find the same (flow, rule) pairs there.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/rules/matcher.h"
#include "engine/rules/rule_parser.h"

using namespace xb::engine;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    size_t n_rules = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
    size_t megabytes = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 64;
    size_t baseline_mb = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 8;
    constexpr size_t kFlow = 64 * 1024, kPacket = 1460;

    std::mt19937_64 rng(42);
    auto word = [&](size_t len) {
        std::string w;
        for (size_t i = 0; i < len; ++i) w += static_cast<char>('a' + rng() % 26);
        return w;
    };
    std::vector<std::string> contents;
    std::string text;
    for (size_t i = 0; i < n_rules; ++i) {
        contents.push_back(word(8 + rng() % 5));
        text += "alert tcp any any -> any any (msg:\"bench " + std::to_string(i) + "\"; content:\"" + contents.back() +
                "\"; sid:" + std::to_string(i + 1) + ";)\n";
    }
    auto load = parse_rules(text, "bench.rules", RuleVars{});
    if (!load.ok() || load.rules.size() != n_rules) {
        std::fprintf(stderr, "%s", load.diagnostics.to_text().c_str());
        return 1;
    }
    auto t0 = Clock::now();
    auto matcher = Matcher::compile(load.rules);
    double compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!matcher.ok()) {
        std::fprintf(stderr, "%s\n", matcher.error().message.c_str());
        return 1;
    }

    // Payload: words of lowercase letters and spaces; each flow gets 0-3 planted contents.
    size_t n_flows = megabytes * 1024 * 1024 / kFlow;
    std::vector<uint8_t> data(n_flows * kFlow);
    for (size_t i = 0; i < data.size(); ++i) data[i] = rng() % 7 == 0 ? ' ' : static_cast<uint8_t>('a' + rng() % 26);
    size_t planted = 0;
    for (size_t f = 0; f < n_flows; ++f) {
        for (unsigned k = rng() % 4; k > 0; --k) {
            const std::string& c = contents[rng() % contents.size()];
            size_t at = f * kFlow + rng() % (kFlow - c.size());
            std::memcpy(&data[at], c.data(), c.size());
            ++planted;
        }
    }

    auto scratch = matcher->make_scratch();
    std::set<std::pair<size_t, size_t>> hs_hits;
    auto scan_flows = [&](size_t flows, std::set<std::pair<size_t, size_t>>* hits) {
        size_t count = 0;
        for (size_t f = 0; f < flows; ++f) {
            auto s = matcher->open_stream();
            auto cb = [&](size_t rule) {
                ++count;
                if (hits) hits->insert({f, rule});
            };
            for (size_t off = 0; off < kFlow; off += kPacket) {
                size_t len = std::min(kPacket, kFlow - off);
                matcher->scan(*s, {&data[f * kFlow + off], len}, *scratch, cb);
            }
            matcher->close_stream(*s, *scratch, cb);
        }
        return count;
    };
    t0 = Clock::now();
    size_t hs_matches = scan_flows(n_flows, nullptr);
    double hs_s = std::chrono::duration<double>(Clock::now() - t0).count();

    size_t base_flows = std::min(n_flows, baseline_mb * 1024 * 1024 / kFlow);
    scan_flows(base_flows, &hs_hits);
    std::set<std::pair<size_t, size_t>> mm_hits;
    t0 = Clock::now();
    for (size_t f = 0; f < base_flows; ++f)
        for (size_t r = 0; r < contents.size(); ++r)
            if (memmem(&data[f * kFlow], kFlow, contents[r].data(), contents[r].size())) mm_hits.insert({f, r});
    double mm_s = std::chrono::duration<double>(Clock::now() - t0).count();

    double hs_mbs = n_flows * kFlow / 1048576.0 / hs_s, mm_mbs = base_flows * kFlow / 1048576.0 / mm_s;
    std::printf("rules %zu, patterns %zu, compile %.1f ms\n", n_rules, matcher->pattern_count(), compile_ms);
    std::printf("payload %zu MiB in %zu flows of 64 KiB, packets of %zu bytes, %zu contents planted\n",
                n_flows * kFlow / 1048576, n_flows, kPacket, planted);
    std::printf("Matcher::scan  %9.1f MB/s  (%zu MiB, %.3f s, %zu rule matches)\n", hs_mbs,
                n_flows * kFlow / 1048576, hs_s, hs_matches);
    std::printf("memmem x rules %9.1f MB/s  (%zu MiB, %.3f s, %zu rule matches)\n", mm_mbs,
                base_flows * kFlow / 1048576, mm_s, mm_hits.size());
    std::printf("ratio          %9.1fx\n", hs_mbs / mm_mbs);
    if (hs_hits != mm_hits) {
        std::fprintf(stderr, "mismatch: Matcher found %zu (flow, rule) pairs, memmem %zu\n", hs_hits.size(), mm_hits.size());
        return 1;
    }
    return 0;
}
