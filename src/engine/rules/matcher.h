// The rules' contents and pcres compiled with Hyperscan (prefilter), then verified per stream or
// packet against the rules' modifiers: depth/offset are compiled into the patterns (hs_expr_ext
// min/max offset), distance/within are checked against the recorded end positions of the previous
// content. A TCP stream follows one flow direction, offsets counting from its first byte, in one
// streaming database of the rules that can match TCP. A packet scanned on its own (UDP, ICMP, other
// protocols, TCP fragments) goes through a block-mode database of the rules that can match its
// protocol only, as Suricata groups its signatures by protocol: a packet no rule's protocol
// admits is not scanned at all, and a block scan keeps no stream state to reset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <memory>
#include <span>
#include <vector>

#include "common/function_ref.h"
#include "common/result.h"
#include "engine/rules/rule.h"

struct hs_database;
struct hs_scratch;
struct hs_stream;

namespace xb::engine {

class Matcher {
    struct State;  // the verification state of the rules over one stream or packet

public:
    // Called with a rule's index, during the scan that matched it only.
    using OnMatch = FunctionRef<void(size_t rule_index)>;

    // All contents and pcres of all rules into Hyperscan databases: one streaming database (TCP)
    // and a block-mode one per protocol class (TCP, UDP, ICMP, other). Identical patterns are
    // compiled once per database. An error names the rule (sid) whose pattern Hyperscan refused.
    static Result<Matcher> compile(const std::vector<Rule>& rules);

    // Per thread; reusable by every stream of this matcher.
    class Scratch {
    public:
        ~Scratch();
        Scratch(const Scratch&) = delete;
        Scratch& operator=(const Scratch&) = delete;

    private:
        friend class Matcher;
        Scratch();
        hs_scratch* scratch_ = nullptr;
        std::unique_ptr<State> packet_state_;  // scan_packet's, cleared after each packet
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
    void scan(Stream& s, std::span<const uint8_t> data, Scratch& scratch, OnMatch on_match) const;
    // Ends the stream: reports what matches only at its end (pcre `$`), then frees its state.
    // Further scans of the stream do nothing.
    void close_stream(Stream& s, Scratch& scratch, OnMatch on_match) const;
    // One packet of IP protocol `ip_proto` scanned on its own (UDP, ICMP: Suricata matches their
    // contents per packet), offsets from its first byte, against the rules whose protocol admits
    // it: what open_stream + scan + close_stream would report for those rules, without allocating.
    void scan_packet(uint8_t ip_proto, std::span<const uint8_t> data, Scratch& scratch, OnMatch on_match) const;
    // Patterns in the block database that scan_packet uses for `ip_proto` (0: nothing to scan).
    size_t packet_pattern_count(uint8_t ip_proto) const;

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
        uint8_t classes = 0; // bit per Class its protocol admits: a pattern shared with a rule of
                             // another protocol is in a database this rule must not answer from
    };
    struct Use {
        uint32_t rule;
        uint32_t item;  // < contents.size(): that content; else pcre (item - contents.size())
    };
    struct DbDeleter {
        void operator()(hs_database* db) const;
    };
    using Database = std::unique_ptr<hs_database, DbDeleter>;
    // Protocol classes of the block databases: a rule's protocol admits one or (ip) all of them.
    enum Class : uint8_t { kTcp, kUdp, kIcmp, kOther, kClasses };
    static Class class_of(uint8_t ip_proto);
    struct Context;
    static int on_hs_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void* ctx);
    void handle(uint32_t pattern, uint64_t end, Class cls, State& st, OnMatch cb) const;

    Database stream_db_;             // TCP streams: patterns of the rules that can match TCP
    Database packet_db_[kClasses];   // per-packet scans, by protocol class
    size_t packet_patterns_[kClasses]{};
    std::vector<RulePlan> plans_;
    std::vector<uint32_t> use_begin_;  // pattern p's uses: uses_[use_begin_[p] .. use_begin_[p + 1])
    std::vector<Use> uses_;
    std::vector<size_t> without_content_;
    size_t pattern_count_ = 0;
};

}  // namespace xb::engine
