#include "engine/rules/rule_parser.h"

#include "common/input_file.h"

#include <hs/hs.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

namespace xb::engine {
namespace {

// Where a byte of a logical rule (continuations joined) was in the file.
struct Segment {
    size_t offset;  // in the joined text
    unsigned line;
    unsigned column;  // 1-based column of that byte
};

struct RuleError {
    std::string code, message, hint;
    size_t offset = 0;  // in the joined text
};

struct SidSeen {
    std::unordered_map<uint32_t, SourceLocation> first;
};

struct ParseState {
    const std::string& file;
    const RuleVars& vars;
    RuleSetLoad& out;
    SidSeen& sids;
    std::set<std::string> ignored_reported;  // option names already reported as ignored in this file
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool parse_u32(std::string_view s, uint32_t& out) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    if (s.empty()) return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size();
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// A quoted value's inside; nullopt if the value is not one quoted string.
std::optional<std::string_view> unquote(std::string_view v) {
    if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::nullopt;
    return v.substr(1, v.size() - 2);
}

// msg and other strings: `\"`, `\;`, `\\` unescaped.
std::optional<std::string> unescape_string(std::string_view in) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\\') {
            if (i + 1 >= in.size()) return std::nullopt;
            out += in[++i];
        } else if (in[i] == '"') {
            return std::nullopt;
        } else {
            out += in[i];
        }
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// content:"GET |20|/"; returns the cause when it is malformed.
std::optional<std::string> parse_content_bytes(std::string_view in, std::vector<uint8_t>& bytes) {
    bool hex = false;
    int high = -1;
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (hex) {
            if (c == '|') {
                if (high >= 0) return "a hex byte between '|' has one digit only";
                hex = false;
            } else if (c == ' ' || c == '\t') {
                if (high >= 0) return "a hex byte between '|' has one digit only";
            } else if (int v = hex_value(c); v >= 0) {
                if (high < 0) {
                    high = v;
                } else {
                    bytes.push_back(static_cast<uint8_t>(high * 16 + v));
                    high = -1;
                }
            } else {
                return std::string("'") + c + "' is not a hex digit (between '|' only hex bytes are allowed)";
            }
            continue;
        }
        if (c == '|') {
            hex = true;
        } else if (c == '\\') {
            if (i + 1 >= in.size() || (in[i + 1] != '"' && in[i + 1] != ';' && in[i + 1] != '\\'))
                return "a backslash escapes only '\"', ';' and '\\'";
            bytes.push_back(static_cast<uint8_t>(in[++i]));
        } else if (c == '"') {
            return "an unescaped '\"' inside the content";
        } else {
            bytes.push_back(static_cast<uint8_t>(c));
        }
    }
    if (hex) return "a '|' hex section is not closed";
    if (bytes.empty()) return "the content is empty";
    return std::nullopt;
}

class RuleParser {
public:
    RuleParser(std::string_view text, const RuleVars& vars) : t_(text), vars_(vars) {}

    std::optional<RuleError> parse(Rule& r, std::vector<std::pair<std::string, size_t>>& ignored) {
        if (auto e = header(r)) return e;
        if (auto e = options(r, ignored)) return e;
        return std::nullopt;
    }

private:
    RuleError err(std::string code, size_t at, std::string message, std::string hint) {
        return RuleError{std::move(code), std::move(message), std::move(hint), at};
    }

    void skip_space() {
        while (pos_ < t_.size() && is_space(t_[pos_])) ++pos_;
    }
    // A header field: up to white space outside brackets.
    std::string_view field(size_t& start) {
        skip_space();
        start = pos_;
        int depth = 0;
        while (pos_ < t_.size() && t_[pos_] != '(' && (depth > 0 || !is_space(t_[pos_]))) {
            if (t_[pos_] == '[') ++depth;
            if (t_[pos_] == ']') --depth;
            ++pos_;
        }
        return t_.substr(start, pos_ - start);
    }

    std::optional<RuleError> header(Rule& r) {
        static const char* kHeaderHint = "write: action proto src_addr src_port -> dst_addr dst_port (options;)";
        size_t at = 0;
        std::string_view action = field(at);
        if (action == "alert") r.action = RuleAction::Alert;
        else if (action == "pass") r.action = RuleAction::Pass;
        else if (action == "drop") r.action = RuleAction::Drop;
        else if (action == "reject") r.action = RuleAction::Reject;
        else return err("XB7102", at, "the action '" + std::string(action) + "' is not one of alert, pass, drop, reject",
                        "start the rule with alert, pass, drop or reject");
        std::string_view proto = field(at);
        if (proto == "tcp") r.proto = RuleProto::Tcp;
        else if (proto == "udp") r.proto = RuleProto::Udp;
        else if (proto == "icmp") r.proto = RuleProto::Icmp;
        else if (proto == "ip") r.proto = RuleProto::Ip;
        else if (proto.empty()) return err("XB7101", at, "the rule header ends after the action", kHeaderHint);
        else return err("XB7103", at, "the protocol '" + std::string(proto) + "' is not one of tcp, udp, icmp, ip",
                        "xids rules match tcp, udp, icmp or ip (application-layer protocols are not part of xids)");
        const char* names[] = {"source address", "source port", "direction", "destination address", "destination port"};
        for (int i = 0; i < 5; ++i) {
            size_t col = 0;
            std::string_view f = field(col);
            if (f.empty()) return err("XB7101", col, std::string("the rule header has no ") + names[i], kHeaderHint);
            std::optional<RuleError> e;
            switch (i) {
                case 0: e = address(f, col, r.src); break;
                case 1: e = port(f, col, r.sport); break;
                case 2:
                    if (f == "->") r.bidirectional = false;
                    else if (f == "<>") r.bidirectional = true;
                    else e = err("XB7107", col, "the direction '" + std::string(f) + "' is not -> or <>",
                                 "write -> (one way) or <> (either way) between the source and the destination");
                    break;
                case 3: e = address(f, col, r.dst); break;
                case 4: e = port(f, col, r.dport); break;
            }
            if (e) return e;
        }
        return std::nullopt;
    }

    std::optional<RuleError> address(std::string_view text, size_t at, AddressSet& out) {
        auto p = parse_address_set(text, vars_.address_groups);
        if (!p.ok()) return err(p.error.code, at + p.error.offset, p.error.message, p.error.hint);
        out = std::move(*p.value);
        return std::nullopt;
    }
    std::optional<RuleError> port(std::string_view text, size_t at, PortSet& out) {
        auto p = parse_port_set(text, vars_.port_groups);
        if (!p.ok()) return err(p.error.code, at + p.error.offset, p.error.message, p.error.hint);
        out = std::move(*p.value);
        return std::nullopt;
    }

    std::optional<RuleError> options(Rule& r, std::vector<std::pair<std::string, size_t>>& ignored) {
        skip_space();
        if (pos_ >= t_.size() || t_[pos_] != '(')
            return err("XB7118", pos_, "the options of the rule do not start with '('",
                       "put the options in parentheses after the destination port: (msg:\"...\"; sid:1;)");
        size_t open = pos_;
        size_t close = t_.size();
        while (close > open && is_space(t_[close - 1])) --close;
        if (close <= open + 1 || t_[close - 1] != ')')
            return err("XB7118", close == open + 1 ? open : close - 1, "the rule does not end with ')'",
                       "close the options with ')' (a rule continues on the next line only after a trailing backslash)");
        --close;  // at ')'
        pos_ = open + 1;
        bool have_sid = false, have_msg = false;
        std::set<std::string> seen;
        for (;;) {
            skip_space();
            if (pos_ >= close) break;
            size_t name_at = pos_;
            while (pos_ < close && !is_space(t_[pos_]) && t_[pos_] != ':' && t_[pos_] != ';') ++pos_;
            std::string name(t_.substr(name_at, pos_ - name_at));
            skip_space();
            std::optional<std::string_view> value;
            if (pos_ < close && t_[pos_] == ':') {
                size_t vstart = ++pos_;
                bool quoted = false;
                while (pos_ < close) {
                    char c = t_[pos_];
                    if (c == '\\' && pos_ + 1 < close) { pos_ += 2; continue; }
                    if (c == '"') quoted = !quoted;
                    if (c == ';' && !quoted) break;
                    ++pos_;
                }
                value = trim(t_.substr(vstart, pos_ - vstart));
            }
            if (pos_ >= close || t_[pos_] != ';')
                return err("XB7118", name_at, "the option '" + name + "' is not terminated by ';'",
                           "end every option with ';' (write \\; for a ';' inside a value)");
            ++pos_;  // ';'
            if (name.empty()) return err("XB7118", name_at, "an option has no name", "remove the stray ':' or ';'");
            if (auto e = option(r, name, value, name_at, seen, ignored)) return e;
            if (name == "sid") have_sid = true;
            if (name == "msg") have_msg = true;
        }
        if (!have_msg || !have_sid)
            return err("XB7110", 0, std::string("the rule has no ") + (!have_msg ? "msg" : "sid"),
                       "every rule needs msg:\"...\"; and a unique sid:N;");
        return std::nullopt;
    }

    std::optional<RuleError> option(Rule& r, const std::string& name, std::optional<std::string_view> value,
                                    size_t at, std::set<std::string>& seen,
                                    std::vector<std::pair<std::string, size_t>>& ignored) {
        auto need_value = [&]() -> std::optional<RuleError> {
            if (!value || value->empty())
                return err("XB7109", at, "the option '" + name + "' needs a value", "write " + name + ":VALUE;");
            return std::nullopt;
        };
        auto no_value = [&]() -> std::optional<RuleError> {
            if (value) return err("XB7109", at, "the option '" + name + "' takes no value", "write " + name + ";");
            return std::nullopt;
        };
        auto once = [&]() -> std::optional<RuleError> {
            if (!seen.insert(name).second)
                return err("XB7109", at, "the option '" + name + "' appears twice", "keep one " + name + " option");
            return std::nullopt;
        };
        auto number = [&](uint32_t& out, uint32_t min) -> std::optional<RuleError> {
            if (auto e = need_value()) return e;
            if (!parse_u32(*value, out) || out < min)
                return err("XB7109", at, "the value of '" + name + "' (" + std::string(*value) + ") is not an integer" +
                                             (min > 0 ? " from " + std::to_string(min) : " >= 0") + " up to 4294967295",
                           "write " + name + ":N; with a decimal number");
            return std::nullopt;
        };

        if (name == "msg") {
            if (auto e = once()) return e;
            if (auto e = need_value()) return e;
            auto inner = unquote(*value);
            auto text = unescape_string(inner ? *inner : *value);
            if (!text) return err("XB7109", at, "the msg has an unescaped '\"' or a trailing backslash",
                                  "write msg:\"text\"; with \\\" for a quote inside");
            r.msg = std::move(*text);
            return std::nullopt;
        }
        if (name == "sid") {
            if (auto e = once()) return e;
            return number(r.sid, 1);
        }
        if (name == "rev") {
            if (auto e = once()) return e;
            return number(r.rev, 0);
        }
        if (name == "priority") {
            if (auto e = once()) return e;
            if (auto e = number(r.priority, 1)) return e;
            if (r.priority > 255) return err("XB7109", at, "the priority " + std::to_string(r.priority) + " is above 255",
                                            "write priority:N; with N from 1 (highest) to 255");
            return std::nullopt;
        }
        if (name == "classtype") {
            if (auto e = once()) return e;
            if (auto e = need_value()) return e;
            r.classtype = std::string(*value);
            return std::nullopt;
        }
        if (name == "content") {
            if (auto e = need_value()) return e;
            if ((*value)[0] == '!')
                return err("XB7112", at, "negated content (content:!\"...\") is not supported by xids",
                           "remove the rule or rewrite it without a negated content");
            auto inner = unquote(*value);
            if (!inner) return err("XB7112", at, "the content is not one quoted string", "write content:\"bytes|0d 0a|\";");
            Content c;
            if (auto cause = parse_content_bytes(*inner, c.bytes))
                return err("XB7112", at, "the content is malformed: " + *cause,
                           "write text and |hex bytes| in quotes; escape '\"', ';' and '\\' with a backslash");
            r.contents.push_back(std::move(c));
            return std::nullopt;
        }
        if (name == "nocase" || name == "depth" || name == "offset" || name == "distance" || name == "within") {
            if (r.contents.empty())
                return err("XB7113", at, "'" + name + "' has no content before it to modify",
                           "put " + name + " after the content it applies to");
            Content& c = r.contents.back();
            if (name == "nocase") {
                if (auto e = no_value()) return e;
                if (c.nocase) return err("XB7113", at, "the content already has nocase", "keep one nocase");
                c.nocase = true;
                return std::nullopt;
            }
            uint32_t v = 0;
            if (auto e = number(v, 0)) return e;
            std::optional<uint32_t>& slot = name == "depth" ? c.depth : name == "offset" ? c.offset
                                          : name == "distance" ? c.distance : c.within;
            if (slot) return err("XB7113", at, "the content already has " + name, "keep one " + name + " per content");
            bool relative = name == "distance" || name == "within";
            if (relative && (c.depth || c.offset))
                return err("XB7113", at, "'" + name + "' (relative) and depth/offset (absolute) on one content",
                           "use either distance/within or depth/offset on a content");
            if (!relative && c.relative())
                return err("XB7113", at, "'" + name + "' (absolute) and distance/within (relative) on one content",
                           "use either distance/within or depth/offset on a content");
            if (relative && r.contents.size() == 1)
                return err("XB7113", at, "'" + name + "' on the first content has no earlier match to be relative to",
                           "use offset/depth for the first content");
            if ((name == "depth" || name == "within") && v < c.bytes.size())
                return err("XB7113", at, "'" + name + "' " + std::to_string(v) + " is shorter than the content (" +
                                             std::to_string(c.bytes.size()) + " bytes), so it can never match",
                           "make " + name + " at least the length of the content");
            slot = v;
            if (c.distance && c.within && *c.within < *c.distance + c.bytes.size())
                return err("XB7113", at, "within " + std::to_string(*c.within) + " is less than distance " +
                                             std::to_string(*c.distance) + " plus the content's " +
                                             std::to_string(c.bytes.size()) + " bytes, so it can never match",
                           "make within at least distance plus the length of the content");
            return std::nullopt;
        }
        if (name == "pcre") {
            if (auto e = need_value()) return e;
            if ((*value)[0] == '!')
                return err("XB7114", at, "negated pcre (pcre:!\"...\") is not supported by xids",
                           "remove the rule or rewrite it without a negated pcre");
            auto inner = unquote(*value);
            if (!inner) return err("XB7114", at, "the pcre is not one quoted string", "write pcre:\"/expression/flags\";");
            auto tr = translate_pcre(*inner);
            if (!tr.ok()) return err(tr.error.code, at, tr.error.message, tr.error.hint);
            hs_database_t* db = nullptr;
            hs_compile_error_t* ce = nullptr;
            if (hs_compile(tr.value->expression.c_str(), tr.value->hs_flags, HS_MODE_STREAM, nullptr, &db, &ce) !=
                HS_SUCCESS) {
                std::string why = ce && ce->message ? ce->message : "unknown error";
                hs_free_compile_error(ce);
                return err("XB7114", at, "Hyperscan cannot compile the pcre: " + why,
                           "rewrite the expression without backreferences, lookbehind and other constructs Hyperscan lacks");
            }
            hs_free_database(db);
            r.pcres.emplace_back(*inner);
            return std::nullopt;
        }
        if (name == "flow") {
            if (auto e = once()) return e;
            if (auto e = need_value()) return e;
            std::string_view rest = *value;
            while (true) {
                auto comma = rest.find(',');
                std::string_view word = trim(rest.substr(0, comma));
                if (word == "to_server" || word == "from_client") r.flow_to_server = true;
                else if (word == "to_client" || word == "from_server") r.flow_to_client = true;
                else if (word == "established") r.flow_established = true;
                else return err("XB7115", at, "the flow keyword '" + std::string(word) + "' is not supported",
                                "use to_server, to_client, from_client, from_server and established, comma-separated");
                if (comma == std::string_view::npos) break;
                rest = rest.substr(comma + 1);
            }
            if (r.flow_to_server && r.flow_to_client)
                return err("XB7115", at, "the flow is both to the server and to the client",
                           "keep one direction (to_server/from_client or to_client/from_server)");
            return std::nullopt;
        }
        if (name == "bypass") {
            if (auto e = no_value()) return e;
            r.bypass = true;
            return std::nullopt;
        }
        if (name == "reference" || name == "metadata" || name == "gid") {
            ignored.emplace_back(name, at);
            return std::nullopt;
        }
        return err("XB7108", at, "the option '" + name + "' is not supported by xids",
                   "xids knows msg, sid, rev, classtype, priority, content, nocase, depth, offset, distance, within, "
                   "pcre, flow, bypass (reference, metadata, gid are ignored); remove the option or the rule");
    }

    std::string_view t_;
    const RuleVars& vars_;
    size_t pos_ = 0;
};

SourceLocation locate(const std::string& file, const std::vector<Segment>& segs, size_t offset) {
    SourceLocation loc{file, segs.front().line, segs.front().column};
    for (const auto& s : segs) {
        if (s.offset > offset) break;
        loc.line = s.line;
        loc.column = static_cast<unsigned>(s.column + (offset - s.offset));
    }
    return loc;
}

void parse_one(ParseState& st, const std::string& joined, const std::vector<Segment>& segs) {
    Rule r;
    std::vector<std::pair<std::string, size_t>> ignored;
    RuleParser p(joined, st.vars);
    size_t lead = 0;
    while (lead < joined.size() && is_space(joined[lead])) ++lead;
    if (auto e = p.parse(r, ignored)) {
        size_t at = e->code == "XB7110" ? lead : e->offset;
        st.out.diagnostics.error(e->code, e->message, e->hint, locate(st.file, segs, at));
        return;
    }
    r.location = locate(st.file, segs, lead);
    r.text = std::string(trim(joined));
    for (const auto& [name, at] : ignored) {
        if (!st.ignored_reported.insert(name).second) continue;
        st.out.diagnostics.info("XB7116", "the option '" + name + "' is accepted and ignored (not reported again for this file)",
                                "", locate(st.file, segs, at));
    }
    auto [it, fresh] = st.sids.first.try_emplace(r.sid, r.location);
    if (!fresh) {
        const auto& f = it->second;
        st.out.diagnostics.error("XB7111",
                                 "the sid " + std::to_string(r.sid) + " is already used by the rule at " + f.file + ":" +
                                     std::to_string(f.line),
                                 "give every rule its own sid", r.location);
        return;
    }
    st.out.rules.push_back(std::move(r));
}

void parse_text(ParseState& st, std::string_view text) {
    std::string joined;
    std::vector<Segment> segs;
    bool continuing = false;
    unsigned line_no = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        bool last_line = nl >= text.size();
        pos = nl + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!continuing) {
            std::string_view t = trim(line);
            if (t.empty() || t[0] == '#') {
                if (last_line) break;
                continue;
            }
            joined.clear();
            segs.clear();
        }
        std::string_view body = line;
        while (!body.empty() && (body.back() == ' ' || body.back() == '\t')) body.remove_suffix(1);
        bool more = !body.empty() && body.back() == '\\';
        if (more) body.remove_suffix(1);
        segs.push_back({joined.size(), line_no, 1});
        joined.append(body);
        if (more && !last_line) {
            joined += ' ';
            continuing = true;
        } else {
            continuing = false;
            parse_one(st, joined, segs);
        }
        if (last_line) break;
    }
}

}  // namespace

RuleSetLoad parse_rules(std::string_view text, const std::string& file_name, const RuleVars& vars) {
    RuleSetLoad out;
    SidSeen sids;
    ParseState st{file_name, vars, out, sids, {}};
    parse_text(st, text);
    return out;
}

constexpr size_t kMaxRuleFileBytes = 128u << 20;

RuleSetLoad load_rule_files(const std::vector<std::string>& paths, const RuleVars& vars) {
    RuleSetLoad out;
    SidSeen sids;
    for (const auto& path : paths) {
        // Large published rule sets are tens of MiB; the bound keeps a wrong path (a device) harmless.
        auto text = read_input_file(path, kMaxRuleFileBytes, "rule file");
        if (!text) {
            out.diagnostics.error("XB7117", text.error().message,
                                  "check the path under rule-files (and that xids may read it)", SourceLocation{path, 0, 0});
            continue;
        }
        ParseState st{path, vars, out, sids, {}};
        parse_text(st, *text);
    }
    return out;
}

}  // namespace xb::engine
