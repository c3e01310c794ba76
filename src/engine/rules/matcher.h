// The rules' contents and pcres in one Hyperscan streaming database (prefilter), then verified
// per stream against the rules' modifiers: depth/offset are compiled into the patterns
// (hs_expr_ext min/max offset), distance/within are checked against the recorded end positions of
// the previous content. Streams follow one flow direction; offsets count from its first byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"
#include "engine/rules/rule.h"

struct hs_database;
struct hs_scratch;
struct hs_stream;

namespace xb::engine {

class Matcher {
public:
    // All contents and pcres of all rules into one streaming database. Identical patterns are
    // compiled once. An error names the rule (sid) whose pattern Hyperscan refused.
    static Result<Matcher> compile(const std::vector<Rule>& rules);

    // Per thread; reusable by every stream of this matcher.
    class Scratch {
    public:
        ~Scratch();
        Scratch(const Scratch&) = delete;
        Scratch& operator=(const Scratch&) = delete;

    private:
        friend class Matcher;
        Scratch() = default;
        hs_scratch* scratch_ = nullptr;
    };
    // nullptr only when Hyperscan cannot allocate it.
    std::unique_ptr<Scratch> make_scratch() const;

    // One flow direction: Hyperscan's stream state and the verification state of the rules.
    class Stream {
    public:
        ~Stream();
        Stream(const Stream&) = delete;
        Stream& operator=(const Stream&) = delete;

    private:
        friend class Matcher;
        struct State;
        Stream();
        hs_stream* stream_ = nullptr;
        bool closed_ = false;
        std::unique_ptr<State> state_;
    };
    // nullptr only when Hyperscan cannot allocate it.
    std::unique_ptr<Stream> open_stream() const;

    // Feeds the next in-order bytes of one direction; calls on_match(rule_index) at most once per
    // rule per stream, once every content and pcre of that rule has matched with its modifiers
    // verified. Matches spanning two calls are found. on_match must not scan the same stream.
    void scan(Stream& s, std::span<const uint8_t> data, Scratch& scratch,
              const std::function<void(size_t rule_index)>& on_match) const;
    // Ends the stream: reports what matches only at its end (pcre `$`), then frees its state.
    // Further scans of the stream do nothing.
    void close_stream(Stream& s, Scratch& scratch, const std::function<void(size_t)>& on_match) const;
    // One packet scanned on its own (UDP, ICMP: Suricata matches their contents per packet): as
    // open_stream + scan + close_stream, but on a stream the caller keeps for it, which is reset
    // afterwards rather than freed, so that a packet costs no allocation. `s` must come from
    // open_stream() and is used only this way.
    void scan_packet(Stream& s, std::span<const uint8_t> data, Scratch& scratch,
                     const std::function<void(size_t)>& on_match) const;

    // Rules with neither content nor pcre: the engine evaluates them per flow.
    const std::vector<size_t>& rules_without_content() const { return without_content_; }
    size_t pattern_count() const { return pattern_count_; }
    size_t rule_count() const { return plans_.size(); }

    // Bound of the verification state: end positions kept per content and stream (the first one
    // and the latest kRecentPositions).
    static constexpr size_t kRecentPositions = 8;

private:
    struct ContentPlan {
        uint32_t length = 0;
        bool relative = false;
        uint32_t distance = 0;
        std::optional<uint32_t> within;
        uint64_t min_end = 0, max_end = UINT64_MAX;  // absolute contents: where a match may end
        bool keep_positions = false;                 // the next content is relative to this one
    };
    struct RulePlan {
        std::vector<ContentPlan> contents;
        uint32_t items = 0;  // contents + pcres
        bool simple = false; // one item whose every match is valid: fires on the first
    };
    struct Use {
        uint32_t rule;
        uint32_t item;  // < contents.size(): that content; else pcre (item - contents.size())
    };
    struct DbDeleter {
        void operator()(hs_database* db) const;
    };
    struct Context;
    static int on_hs_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void* ctx);
    void handle(uint32_t pattern, uint64_t end, Stream::State& st, const std::function<void(size_t)>& cb) const;

    std::unique_ptr<hs_database, DbDeleter> db_;
    std::vector<RulePlan> plans_;
    std::vector<uint32_t> use_begin_;  // pattern p's uses: uses_[use_begin_[p] .. use_begin_[p + 1])
    std::vector<Use> uses_;
    std::vector<size_t> without_content_;
    size_t pattern_count_ = 0;
};

}  // namespace xb::engine
