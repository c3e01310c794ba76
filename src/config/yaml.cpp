#include "config/yaml.h"

#include <yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>

namespace xb::config {

namespace {

size_t saturating_add(size_t a, size_t b) {
    size_t s = a + b;
    return s < a ? static_cast<size_t>(-1) : s;
}

// 1-based line and column (in characters) of byte `offset`.
SourceLocation location_of(std::string_view text, size_t offset, const std::string& file) {
    SourceLocation loc{file, 1, 1};
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '\n') {
            ++loc.line;
            loc.column = 1;
        } else if ((c & 0xC0) != 0x80) {  // count characters, not UTF-8 continuation bytes
            ++loc.column;
        }
    }
    return loc;
}

// Offset of the first byte that is not valid UTF-8 or is a control character YAML forbids.
std::optional<size_t> first_invalid_byte(std::string_view text) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    size_t n = text.size(), i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return i;
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (i + len > n) return i;
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        // Overlong forms, surrogates, beyond Unicode, and C1 controls other than NEL.
        static constexpr uint32_t kMinForLen[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMinForLen[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF ||
            (cp >= 0x80 && cp <= 0x9F && cp != 0x85))
            return i;
        i += len;
    }
    return std::nullopt;
}

// Offset of a tab inside the indentation of a line that has content.
std::optional<size_t> first_tab_in_indentation(std::string_view text) {
    size_t i = 0, n = text.size();
    while (i < n) {
        std::optional<size_t> tab;
        while (i < n && (text[i] == ' ' || text[i] == '\t')) {
            if (text[i] == '\t' && !tab) tab = i;
            ++i;
        }
        bool has_content = i < n && text[i] != '\n' && text[i] != '\r' && text[i] != '#';
        if (tab && has_content) return tab;
        while (i < n && text[i] != '\n') ++i;
        ++i;
    }
    return std::nullopt;
}

SourceLocation mark_location(const yaml_mark_t& m, const std::string& file) {
    return SourceLocation{file, static_cast<unsigned>(m.line) + 1, static_cast<unsigned>(m.column) + 1};
}

// One libyaml event, deleted on scope exit.
struct Event {
    yaml_event_t ev{};
    bool live = false;
    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    ~Event() {
        if (live) yaml_event_delete(&ev);
    }
};

class Builder {
public:
    Builder(std::string_view text, const std::string& file, Diagnostics& diags, const YamlLimits& limits)
        : file_(file), diags_(diags), limits_(limits) {
        yaml_parser_initialize(&parser_);
        yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    }
    ~Builder() { yaml_parser_delete(&parser_); }
    Builder(const Builder&) = delete;
    Builder& operator=(const Builder&) = delete;

    YamlNodePtr parse_stream() {
        Event e;
        if (!next(e) || e.ev.type != YAML_STREAM_START_EVENT) return fail_syntax();
        Event doc;
        if (!next(doc)) return nullptr;
        if (doc.ev.type == YAML_STREAM_END_EVENT) return empty_document(doc.ev.start_mark);
        if (doc.ev.type != YAML_DOCUMENT_START_EVENT) return fail_syntax();
        Event first;
        if (!next(first)) return nullptr;
        YamlNodePtr root = parse_node(first, 0);
        if (!root) return nullptr;
        Event end;
        if (!next(end)) return nullptr;
        if (end.ev.type != YAML_DOCUMENT_END_EVENT) return fail_syntax();
        Event after;
        if (!next(after)) return nullptr;
        if (after.ev.type == YAML_DOCUMENT_START_EVENT) {
            diags_.error("XB1012", "the file holds more than one YAML document",
                         "keep a single document: remove the second '---' and what follows it, or merge the two",
                         mark_location(after.ev.start_mark, file_));
            return nullptr;
        }
        return root;
    }

private:
    YamlNodePtr empty_document(const yaml_mark_t& m) {
        auto n = std::make_shared<YamlNode>();
        n->loc = mark_location(m, file_);
        return n;
    }

    bool next(Event& e) {
        if (!yaml_parser_parse(&parser_, &e.ev)) {
            report_parser_error();
            return false;
        }
        e.live = true;
        return true;
    }

    void report_parser_error() {
        std::string msg = "invalid YAML: ";
        if (parser_.context) {
            msg += parser_.context;
            msg += ", ";
        }
        msg += parser_.problem ? parser_.problem : "unknown libyaml error";
        diags_.error("XB1005", msg,
                     "fix the YAML syntax at this position (indentation, a missing ':' or an unclosed quote or bracket)",
                     mark_location(parser_.problem_mark, file_));
    }

    YamlNodePtr fail_syntax() {
        diags_.error("XB1005", "invalid YAML: unexpected structure", "fix the YAML syntax at this position",
                     mark_location(parser_.mark, file_));
        return nullptr;
    }

    bool count(size_t nodes, const SourceLocation& loc) {
        total_ = saturating_add(total_, nodes);
        if (total_ <= limits_.max_nodes) return true;
        diags_.error("XB1007",
                     "the document expands to more than " + std::to_string(limits_.max_nodes) +
                         " nodes once aliases are resolved",
                     "use fewer or smaller aliases; a configuration never needs this many values", loc);
        return false;
    }

    void remember_anchor(const yaml_char_t* anchor, const YamlNodePtr& node) {
        if (anchor) anchors_[reinterpret_cast<const char*>(anchor)] = node;  // a later anchor redefines
    }

    YamlNodePtr parse_node(Event& e, unsigned depth) {
        const SourceLocation loc = mark_location(e.ev.start_mark, file_);
        switch (e.ev.type) {
            case YAML_ALIAS_EVENT: {
                std::string name = reinterpret_cast<const char*>(e.ev.data.alias.anchor);
                auto it = anchors_.find(name);
                if (it == anchors_.end()) {
                    diags_.error("XB1008", "alias '*" + name + "' refers to an anchor that is not defined before it",
                                 "define '&" + name + "' on a node earlier in the file, or fix the alias name", loc);
                    return nullptr;
                }
                if (!count(it->second->weight, loc)) return nullptr;
                return it->second;
            }
            case YAML_SCALAR_EVENT: {
                if (!count(1, loc)) return nullptr;
                auto n = std::make_shared<YamlNode>();
                n->kind = YamlKind::Scalar;
                n->value.assign(reinterpret_cast<const char*>(e.ev.data.scalar.value), e.ev.data.scalar.length);
                n->plain = e.ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                n->loc = loc;
                YamlNodePtr p = n;
                remember_anchor(e.ev.data.scalar.anchor, p);
                return p;
            }
            case YAML_SEQUENCE_START_EVENT:
            case YAML_MAPPING_START_EVENT: {
                if (depth + 1 > limits_.max_depth) {
                    diags_.error("XB1006",
                                 "nesting is deeper than " + std::to_string(limits_.max_depth) + " levels",
                                 "flatten the structure; xbypass configuration needs at most 4 levels", loc);
                    return nullptr;
                }
                if (!count(1, loc)) return nullptr;
                bool mapping = e.ev.type == YAML_MAPPING_START_EVENT;
                const yaml_char_t* anchor =
                    mapping ? e.ev.data.mapping_start.anchor : e.ev.data.sequence_start.anchor;
                YamlNodePtr p = mapping ? parse_mapping(loc, depth + 1) : parse_sequence(loc, depth + 1);
                if (p) remember_anchor(anchor, p);
                return p;
            }
            default:
                return fail_syntax();
        }
    }

    YamlNodePtr parse_sequence(const SourceLocation& loc, unsigned depth) {
        auto n = std::make_shared<YamlNode>();
        n->kind = YamlKind::Sequence;
        n->loc = loc;
        for (;;) {
            Event e;
            if (!next(e)) return nullptr;
            if (e.ev.type == YAML_SEQUENCE_END_EVENT) break;
            YamlNodePtr item = parse_node(e, depth);
            if (!item) return nullptr;
            n->weight = saturating_add(n->weight, item->weight);
            n->items.push_back(std::move(item));
        }
        return n;
    }

    // Appends the entries of `source` (a mapping, or a list of mappings) to `merged`.
    bool collect_merge(const YamlNodePtr& source, std::vector<YamlNodePtr>& merged) {
        if (source->is_mapping()) {
            merged.push_back(source);
            return true;
        }
        if (source->is_sequence() &&
            std::all_of(source->items.begin(), source->items.end(), [](const YamlNodePtr& i) { return i->is_mapping(); })) {
            merged.insert(merged.end(), source->items.begin(), source->items.end());
            return true;
        }
        diags_.error("XB1009", "a '<<' merge key needs a mapping or a list of mappings, found " +
                                   std::string(yaml_kind_name(source->kind)),
                     "write '<<: *anchor' where the anchor names a mapping", source->loc);
        return false;
    }

    YamlNodePtr parse_mapping(const SourceLocation& loc, unsigned depth) {
        auto n = std::make_shared<YamlNode>();
        n->kind = YamlKind::Mapping;
        n->loc = loc;
        std::vector<YamlNodePtr> merged;
        for (;;) {
            Event ke;
            if (!next(ke)) return nullptr;
            if (ke.ev.type == YAML_MAPPING_END_EVENT) break;
            YamlNodePtr key = parse_node(ke, depth);
            if (!key) return nullptr;
            Event ve;
            if (!next(ve)) return nullptr;
            YamlNodePtr value = parse_node(ve, depth);
            if (!value) return nullptr;
            if (!key->is_scalar()) {
                diags_.error("XB1011", "a mapping key is " + std::string(yaml_kind_name(key->kind)) +
                                           "; only plain names can be keys",
                             "write the key as a plain name followed by ':'", key->loc);
                return nullptr;
            }
            n->weight = saturating_add(n->weight, saturating_add(key->weight, value->weight));
            if (key->plain && key->value == "<<") {
                if (!collect_merge(value, merged)) return nullptr;
                continue;
            }
            n->entries.emplace_back(std::move(key), std::move(value));
        }
        // YAML merge: explicit keys win, then earlier merge sources win over later ones.
        for (const auto& src : merged) {
            for (const auto& entry : src->entries) {
                bool present = std::any_of(n->entries.begin(), n->entries.end(), [&](const auto& e) {
                    return e.first->value == entry.first->value;
                });
                if (!present) n->entries.push_back(entry);
            }
        }
        return n;
    }

    const std::string& file_;
    Diagnostics& diags_;
    YamlLimits limits_;
    yaml_parser_t parser_{};
    std::map<std::string, YamlNodePtr> anchors_;
    size_t total_ = 0;
};

}  // namespace

bool YamlNode::is_null() const {
    if (kind != YamlKind::Scalar || !plain) return false;
    return value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL";
}

const YamlNode* YamlNode::find(std::string_view key) const {
    for (const auto& [k, v] : entries) {
        if (k->value == key) return v.get();
    }
    return nullptr;
}

std::string_view yaml_kind_name(YamlKind k) {
    switch (k) {
        case YamlKind::Scalar: return "a scalar";
        case YamlKind::Sequence: return "a list";
        case YamlKind::Mapping: return "a mapping";
    }
    return "a scalar";
}

YamlNodePtr parse_yaml(std::string_view text, const std::string& file, Diagnostics& diags,
                       const YamlLimits& limits) {
    if (text.size() > limits.max_bytes) {
        diags.error("XB1002",
                    "the file is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                        std::to_string(limits.max_bytes),
                    "check that this is the configuration file; a suricata.yaml is well under 1 MiB",
                    SourceLocation{file, 0, 0});
        return nullptr;
    }
    if (auto bad = first_invalid_byte(text)) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(text[*bad]));
        diags.error("XB1003",
                    std::string("the file contains binary data or invalid UTF-8 (byte ") + hex + ")",
                    "give the path of the YAML text file; re-save it as UTF-8 without control characters",
                    location_of(text, *bad, file));
        return nullptr;
    }
    if (auto tab = first_tab_in_indentation(text)) {
        diags.error("XB1004", "a tab character is used for indentation",
                    "indent with spaces only; YAML does not allow tabs in indentation",
                    location_of(text, *tab, file));
        return nullptr;
    }
    Builder builder(text, file, diags, limits);
    return builder.parse_stream();
}

}  // namespace xb::config
