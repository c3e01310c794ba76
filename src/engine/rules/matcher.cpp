#include "engine/rules/matcher.h"

#include <hs/hs.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <tuple>
#include <unordered_map>

namespace xb::engine {

namespace {

// The end positions of one content's valid matches: the first (best for distance) and the
// latest few (best for within).
struct Positions {
    uint64_t first = UINT64_MAX;
    std::array<uint64_t, Matcher::kRecentPositions> recent{};
    uint32_t count = 0;  // matches recorded in recent (saturates at the array's size)
    uint32_t head = 0;
    void add(uint64_t end) {
        if (first == UINT64_MAX) first = end;
        recent[head] = end;
        head = (head + 1) % recent.size();
        if (count < recent.size()) ++count;
    }
    template <class F>
    bool any(F&& pred) const {
        if (first != UINT64_MAX && pred(first)) return true;
        for (uint32_t i = 0; i < count; ++i)
            if (pred(recent[i])) return true;
        return false;
    }
};

struct Progress {
    bool fired = false;
    uint32_t remaining = 0;
    std::vector<bool> satisfied;
    std::vector<Positions> positions;  // per content (used where keep_positions)
};

// A content as a Hyperscan expression: alphanumerics as they are, every other byte as \xHH.
std::string literal_expression(const std::vector<uint8_t>& bytes) {
    static const char* kHex = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 4);
    for (uint8_t b : bytes) {
        if ((b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')) {
            out += static_cast<char>(b);
        } else {
            out += "\\x";
            out += kHex[b >> 4];
            out += kHex[b & 15];
        }
    }
    return out;
}

}  // namespace

struct Matcher::State {
    std::unordered_map<uint32_t, Progress> rules;
};

struct Matcher::Context {
    const Matcher* matcher;
    Class cls;  // of the database scanned
    State* state;
    OnMatch on_match;
};

void Matcher::DbDeleter::operator()(hs_database* db) const { hs_free_database(db); }

Matcher::Scratch::Scratch() : packet_state_(std::make_unique<State>()) {}

Matcher::Scratch::~Scratch() {
    if (scratch_) hs_free_scratch(scratch_);
}

Matcher::Stream::Stream() : state_(std::make_unique<State>()) {}

Matcher::Class Matcher::class_of(uint8_t ip_proto) {
    switch (ip_proto) {
        case IPPROTO_TCP: return kTcp;
        case IPPROTO_UDP: return kUdp;
        case IPPROTO_ICMP:
        case IPPROTO_ICMPV6: return kIcmp;
        default: return kOther;
    }
}

Matcher::Stream::~Stream() {
    if (stream_ && !closed_) hs_close_stream(stream_, nullptr, nullptr, nullptr);
}

Result<Matcher> Matcher::compile(const std::vector<Rule>& rules) {
    Matcher m;
    struct Pattern {
        std::string expression;
        unsigned flags = 0;
        hs_expr_ext_t ext{};
        bool single = true;  // every use needs only the first match
        std::vector<Use> uses;
    };
    std::vector<Pattern> patterns;
    std::map<std::tuple<std::string, unsigned, unsigned long long, unsigned long long>, uint32_t> index;
    auto intern = [&](std::string expr, unsigned flags, uint64_t min_end, uint64_t max_end) -> Pattern& {
        hs_expr_ext_t ext{};
        if (min_end > 0) {
            ext.flags |= HS_EXT_FLAG_MIN_OFFSET;
            ext.min_offset = min_end;
        }
        if (max_end != UINT64_MAX) {
            ext.flags |= HS_EXT_FLAG_MAX_OFFSET;
            ext.max_offset = max_end;
        }
        auto key = std::make_tuple(expr, flags, ext.min_offset, ext.max_offset);
        auto [it, fresh] = index.try_emplace(key, static_cast<uint32_t>(patterns.size()));
        if (fresh) patterns.push_back(Pattern{std::move(expr), flags, ext, true, {}});
        return patterns[it->second];
    };

    m.plans_.resize(rules.size());
    for (size_t ri = 0; ri < rules.size(); ++ri) {
        const Rule& r = rules[ri];
        RulePlan& plan = m.plans_[ri];
        switch (r.proto) {
            case RuleProto::Tcp: plan.classes = 1u << kTcp; break;
            case RuleProto::Udp: plan.classes = 1u << kUdp; break;
            case RuleProto::Icmp: plan.classes = 1u << kIcmp; break;
            case RuleProto::Ip: plan.classes = (1u << kClasses) - 1; break;
        }
        plan.items = static_cast<uint32_t>(r.contents.size() + r.pcres.size());
        if (plan.items == 0) {
            m.without_content_.push_back(ri);
            continue;
        }
        for (size_t k = 0; k < r.contents.size(); ++k) {
            const Content& c = r.contents[k];
            ContentPlan cp;
            cp.length = static_cast<uint32_t>(c.bytes.size());
            cp.relative = c.relative() && k > 0;
            cp.distance = c.distance.value_or(0);
            cp.within = c.within;
            cp.keep_positions = k + 1 < r.contents.size() && r.contents[k + 1].relative();
            if (!cp.relative) {
                uint64_t offset = c.offset.value_or(0);
                cp.min_end = offset > 0 ? offset + cp.length : 0;
                if (c.depth) cp.max_end = offset + *c.depth;
            }
            Pattern& p = intern(literal_expression(c.bytes), c.nocase ? HS_FLAG_CASELESS : 0u, cp.min_end, cp.max_end);
            p.uses.push_back({static_cast<uint32_t>(ri), static_cast<uint32_t>(k)});
            if (cp.relative || cp.keep_positions) p.single = false;
            plan.contents.push_back(cp);
        }
        for (size_t j = 0; j < r.pcres.size(); ++j) {
            auto tr = translate_pcre(r.pcres[j]);
            if (!tr.ok())
                return Error{EINVAL, "rule sid " + std::to_string(r.sid) + ": " + tr.error.message};
            Pattern& p = intern(tr.value->expression, tr.value->hs_flags, 0, UINT64_MAX);
            p.uses.push_back({static_cast<uint32_t>(ri), static_cast<uint32_t>(r.contents.size() + j)});
        }
        plan.simple = plan.items == 1;
    }

    m.pattern_count_ = patterns.size();
    m.use_begin_.push_back(0);
    for (auto& p : patterns) {
        for (const Use& u : p.uses) m.uses_.push_back(u);
        m.use_begin_.push_back(static_cast<uint32_t>(m.uses_.size()));
    }
    if (patterns.empty()) return m;

    // The classes each pattern's rules admit: a pattern goes into the databases of those only.
    std::vector<uint8_t> admits(patterns.size());
    for (size_t i = 0; i < patterns.size(); ++i)
        for (const Use& u : patterns[i].uses) admits[i] |= m.plans_[u.rule].classes;
    // One database of the patterns admitted by class `c`, in `mode`; nullptr when there are none.
    auto build = [&](int c, unsigned mode) -> Result<Database> {
        std::vector<const char*> exprs;
        std::vector<unsigned> flags, ids;
        std::vector<const hs_expr_ext_t*> exts;
        for (size_t i = 0; i < patterns.size(); ++i) {
            if (!(admits[i] & (1u << c))) continue;
            exprs.push_back(patterns[i].expression.c_str());
            flags.push_back(patterns[i].flags | (patterns[i].single ? HS_FLAG_SINGLEMATCH : 0u));
            ids.push_back(static_cast<unsigned>(i));  // the global pattern index: handle() takes it
            exts.push_back(&patterns[i].ext);
        }
        if (exprs.empty()) return Database{};
        hs_database_t* db = nullptr;
        hs_compile_error_t* err = nullptr;
        if (hs_compile_ext_multi(exprs.data(), flags.data(), ids.data(), exts.data(), static_cast<unsigned>(exprs.size()),
                                 mode, nullptr, &db, &err) != HS_SUCCESS) {
            std::string why = err && err->message ? err->message : "unknown error";
            std::string where;
            if (err && err->expression >= 0 && static_cast<size_t>(err->expression) < ids.size()) {
                const Use& u = patterns[ids[err->expression]].uses.front();
                where = "rule sid " + std::to_string(rules[u.rule].sid) + ": ";
            }
            hs_free_compile_error(err);
            return Error{EINVAL, where + "Hyperscan cannot compile the rules' patterns: " + why};
        }
        return Database(db);
    };
    auto stream_db = build(kTcp, HS_MODE_STREAM);
    if (!stream_db.ok()) return stream_db.error();
    m.stream_db_ = std::move(*stream_db);
    for (int c = 0; c < kClasses; ++c) {
        auto db = build(c, HS_MODE_BLOCK);
        if (!db.ok()) return db.error();
        m.packet_db_[c] = std::move(*db);
        m.packet_patterns_[c] = static_cast<size_t>(
            std::count_if(admits.begin(), admits.end(), [c](uint8_t a) { return (a & (1u << c)) != 0; }));
    }
    return m;
}

std::unique_ptr<Matcher::Scratch> Matcher::make_scratch() const {
    std::unique_ptr<Scratch> s(new Scratch());
    // One scratch serves every database: each call grows it to fit that one too.
    if (stream_db_ && hs_alloc_scratch(stream_db_.get(), &s->scratch_) != HS_SUCCESS) return nullptr;
    for (const Database& db : packet_db_)
        if (db && hs_alloc_scratch(db.get(), &s->scratch_) != HS_SUCCESS) return nullptr;
    return s;
}

std::unique_ptr<Matcher::Stream> Matcher::open_stream() const {
    std::unique_ptr<Stream> s(new Stream());
    if (stream_db_ && hs_open_stream(stream_db_.get(), 0, &s->stream_) != HS_SUCCESS) return nullptr;
    return s;
}

size_t Matcher::packet_pattern_count(uint8_t ip_proto) const { return packet_patterns_[class_of(ip_proto)]; }

int Matcher::on_hs_match(unsigned id, unsigned long long, unsigned long long to, unsigned, void* ctx) {
    auto* c = static_cast<Context*>(ctx);
    c->matcher->handle(id, to, c->cls, *c->state, c->on_match);
    return 0;
}

void Matcher::handle(uint32_t pattern, uint64_t end, Class cls, State& st, OnMatch cb) const {
    for (uint32_t u = use_begin_[pattern]; u < use_begin_[pattern + 1]; ++u) {
        const Use& use = uses_[u];
        const RulePlan& plan = plans_[use.rule];
        if (!(plan.classes & (1u << cls))) continue;
        auto [it, fresh] = st.rules.try_emplace(use.rule);
        Progress& p = it->second;
        if (p.fired) continue;
        if (plan.simple) {
            p.fired = true;
            cb(use.rule);
            continue;
        }
        if (fresh) {
            p.remaining = plan.items;
            p.satisfied.assign(plan.items, false);
            p.positions.resize(plan.contents.size());
        }
        bool valid = true;
        if (use.item < plan.contents.size()) {
            const ContentPlan& c = plan.contents[use.item];
            if (c.relative) {
                const Positions& prev = p.positions[use.item - 1];
                uint64_t start = end - c.length;
                valid = prev.any([&](uint64_t prev_end) {
                    return start >= prev_end + c.distance && (!c.within || end <= prev_end + *c.within);
                });
            } else {
                valid = end >= c.min_end && end <= c.max_end;
            }
            if (valid && c.keep_positions) p.positions[use.item].add(end);
        }
        if (!valid || p.satisfied[use.item]) continue;
        p.satisfied[use.item] = true;
        if (--p.remaining == 0) {
            p.fired = true;
            p.satisfied.clear();
            p.positions.clear();
            cb(use.rule);
        }
    }
}

void Matcher::scan(Stream& s, std::span<const uint8_t> data, Scratch& scratch, OnMatch on_match) const {
    if (!s.stream_ || s.closed_ || data.empty()) return;
    Context ctx{this, kTcp, s.state_.get(), on_match};
    hs_scan_stream(s.stream_, reinterpret_cast<const char*>(data.data()), static_cast<unsigned>(data.size()), 0,
                   scratch.scratch_, &Matcher::on_hs_match, &ctx);
}

void Matcher::scan_packet(uint8_t ip_proto, std::span<const uint8_t> data, Scratch& scratch, OnMatch on_match) const {
    Class cls = class_of(ip_proto);
    const Database& db = packet_db_[cls];
    if (!db) return;  // no rule of this protocol has a content or pcre
    // An empty packet is scanned too, as close_stream would report at its end (pcre `^$`).
    Context ctx{this, cls, scratch.packet_state_.get(), on_match};
    static const char kNothing = 0;
    hs_scan(db.get(), data.empty() ? &kNothing : reinterpret_cast<const char*>(data.data()),
            static_cast<unsigned>(data.size()), 0, scratch.scratch_, &Matcher::on_hs_match, &ctx);
    scratch.packet_state_->rules.clear();
}

void Matcher::close_stream(Stream& s, Scratch& scratch, OnMatch on_match) const {
    if (!s.stream_ || s.closed_) return;
    Context ctx{this, kTcp, s.state_.get(), on_match};
    hs_close_stream(s.stream_, scratch.scratch_, &Matcher::on_hs_match, &ctx);
    s.closed_ = true;
    s.stream_ = nullptr;
    s.state_->rules.clear();
}

}  // namespace xb::engine
