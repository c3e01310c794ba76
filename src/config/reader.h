// The value readers every configuration section shares (the xbypass and af-packet sections, and the
// engine's own sections in xids.yaml): typed scalars, lists, choices, CPU lists, interface names,
// duplicate and unknown keys — each problem reported as the same XB11xx diagnostic wherever it is.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/diagnostic.h"
#include "common/strings.h"
#include "config/config.h"
#include "config/schema.h"
#include "config/yaml.h"

namespace xb::config {

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

inline std::string join(const std::vector<std::string_view>& items) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += i + 1 == items.size() ? " or " : ", ";
        out += items[i];
    }
    return out;
}

inline std::string child(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

inline std::string indexed(const std::string& parent, size_t i) { return parent + "[" + std::to_string(i) + "]"; }

// Location of byte `offset` inside a single-line scalar, else the scalar's start.
inline SourceLocation location_in_scalar(const YamlNode& n, size_t offset) {
    SourceLocation loc = n.loc;
    if (n.value.find('\n') != std::string::npos) return loc;
    loc.column += static_cast<unsigned>(offset) + (n.plain ? 0 : 1);
    return loc;
}

// The reading context: diagnostics sink plus the value readers every section shares.
class Reader {
public:
    Reader(Diagnostics& d) : d_(d) {}
    Diagnostics& diags() { return d_; }

    bool expect_mapping(const YamlNode& n, const std::string& path) {
        if (n.is_mapping()) return true;
        d_.error("XB1104", "'" + path + "' must be a mapping of keys, found " + std::string(yaml_kind_name(n.kind)),
                 "write the keys of '" + path + "' on the lines below it, indented", n.loc, path);
        return false;
    }

    bool expect_sequence(const YamlNode& n, const std::string& path) {
        if (n.is_sequence()) return true;
        d_.error("XB1105", "'" + path + "' must be a list, found " + std::string(yaml_kind_name(n.kind)),
                 "write each element on its own line starting with '- '", n.loc, path);
        return false;
    }

    // A single value that must be present.
    std::optional<std::string> scalar(const YamlNode& n, const std::string& path) {
        if (!n.is_scalar()) {
            d_.error("XB1106", "'" + path + "' must be a single value, found " + std::string(yaml_kind_name(n.kind)),
                     "write the value on the same line as the key", n.loc, path);
            return std::nullopt;
        }
        if (n.is_null()) {
            d_.error("XB1124", "'" + path + "' has no value", "give it a value or remove the key to use the default",
                     n.loc, path);
            return std::nullopt;
        }
        return n.value;
    }

    // A string where an empty value means "not set".
    std::optional<std::string> optional_string(const YamlNode& n, const std::string& path) {
        if (n.is_scalar() && n.is_null()) return std::string();
        return scalar(n, path);
    }

    std::optional<bool> boolean(const YamlNode& n, const std::string& path) {
        auto v = scalar(n, path);
        if (!v) return std::nullopt;
        std::string s = lower(*v);
        if (s == "yes" || s == "true" || s == "on") return true;
        if (s == "no" || s == "false" || s == "off") return false;
        d_.error("XB1107", "'" + path + "' must be a boolean, found '" + *v + "'",
                 "use yes, no, true, false, on or off", n.loc, path);
        return std::nullopt;
    }

    std::optional<uint64_t> number(const YamlNode& n, const std::string& path, uint64_t min, uint64_t max,
                                   std::string_view unit = {}) {
        auto v = scalar(n, path);
        if (!v) return std::nullopt;
        std::string_view s = *v;
        bool negative = !s.empty() && s[0] == '-';
        std::string_view digits = negative ? s.substr(1) : s;
        bool all_digits = !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
            return c >= '0' && c <= '9';
        });
        std::string range = std::to_string(min) + ".." + std::to_string(max) +
                            (unit.empty() ? std::string() : " " + std::string(unit));
        if (!all_digits) {
            d_.error("XB1108", "'" + path + "' must be a whole number, found '" + *v + "'",
                     "write a decimal number in " + range, n.loc, path);
            return std::nullopt;
        }
        uint64_t value = 0;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        (void)ptr;
        if (negative || ec != std::errc() || value < min || value > max) {
            d_.error("XB1109", "'" + path + "' is " + *v + ", outside the allowed range " + range,
                     "use a value in " + range, n.loc, path);
            return std::nullopt;
        }
        return value;
    }

    template <class E>
    std::optional<E> choice(const YamlNode& n, const std::string& path,
                            const std::vector<std::pair<std::string_view, E>>& table) {
        auto v = scalar(n, path);
        if (!v) return std::nullopt;
        std::string s = lower(*v);
        std::vector<std::string_view> names;
        for (const auto& [name, value] : table) {
            if (s == name) return value;
            names.push_back(name);
        }
        std::string near = suggest(s, names);
        d_.error("XB1110",
                 "'" + path + "' is '" + *v + "', which is not one of " + join(names) +
                     (near.empty() ? std::string() : "; did you mean '" + near + "'?"),
                 "use one of " + join(names), n.loc, path);
        return std::nullopt;
    }

    std::optional<CpuList> cpu_list(const YamlNode& n, const std::string& path) {
        CpuList out;
        std::vector<unsigned> duplicates;
        auto parse_one = [&](const YamlNode& item, const std::string& item_path, bool in_list) -> bool {
            auto v = scalar(item, item_path);
            if (!v) return false;
            if (in_list && (lower(*v) == "none")) {
                d_.error("XB1111", "'none' cannot be an element of the CPU list '" + path + "'",
                         "write 'cpu-redirect: none' or '[]' to disable redirection", item.loc, item_path);
                return false;
            }
            CpuList part;
            CpuListError err;
            if (!parse_cpu_list_text(*v, &part, &duplicates, &err)) {
                d_.error(err.code, "'" + path + "': " + err.message,
                         "write CPU numbers and ranges such as \"0-3\", \"1,3-5\", [0, 2] or \"all\"",
                         location_in_scalar(item, err.offset), item_path);
                return false;
            }
            if (part.all) out.all = true;
            for (unsigned c : part.cpus) {
                if (std::binary_search(out.cpus.begin(), out.cpus.end(), c)) {
                    duplicates.push_back(c);
                    continue;
                }
                out.cpus.insert(std::lower_bound(out.cpus.begin(), out.cpus.end(), c), c);
            }
            return true;
        };
        if (n.is_sequence()) {
            for (size_t i = 0; i < n.items.size(); ++i) {
                if (!parse_one(*n.items[i], indexed(path, i), true)) return std::nullopt;
            }
        } else if (!parse_one(n, path, false)) {
            return std::nullopt;
        }
        if (out.all && !out.cpus.empty()) {
            d_.error("XB1111", "'" + path + "' combines 'all' with CPU numbers",
                     "write either \"all\" or a list of CPUs", n.loc, path);
            return std::nullopt;
        }
        if (!duplicates.empty()) {
            std::sort(duplicates.begin(), duplicates.end());
            duplicates.erase(std::unique(duplicates.begin(), duplicates.end()), duplicates.end());
            std::string list;
            for (unsigned c : duplicates) list += (list.empty() ? "" : ", ") + std::to_string(c);
            d_.warning("XB1123", "'" + path + "' names CPU " + list + " more than once",
                       "list each CPU once; overlapping ranges are merged", n.loc, path);
        }
        return out;
    }

    std::optional<std::string> interface_name(const YamlNode& n, const std::string& path) {
        auto v = scalar(n, path);
        if (!v) return std::nullopt;
        const std::string& s = *v;
        std::string why;
        auto control = std::find_if(s.begin(), s.end(), [](char c) {
            return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f;
        });
        if (s.size() > kMaxInterfaceNameLength) {
            why = "is " + std::to_string(s.size()) + " bytes long";
            if (size_t chars = utf8_length(s); chars != s.size()) why += " (" + std::to_string(chars) + " characters)";
            why += "; the kernel allows at most " + std::to_string(kMaxInterfaceNameLength) + " bytes";
        } else if (s == "." || s == "..") {
            why = "is reserved";
        } else if (control != s.end()) {
            why = "contains the control character " + printable(std::string_view(&*control, 1));
        } else if (std::any_of(s.begin(), s.end(), [](char c) {
                       return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c));
                   })) {
            why = "contains '/', ':' or white space";
        }
        if (!why.empty()) {
            d_.error("XB1115", "interface name '" + printable(s) + "' in '" + path + "' " + why,
                     "use the name 'ip link' shows (at most 15 bytes, no '/', ':', spaces or control characters)", n.loc, path);
            return std::nullopt;
        }
        return s;
    }

    // Reports keys that appear twice in one mapping (libyaml keeps both).
    void check_duplicate_keys(const YamlNode& map, const std::string& path) {
        std::map<std::string, const YamlNode*> seen;
        for (const auto& kv : map.entries) {
            const YamlNodePtr& k = kv.first;
            auto [it, fresh] = seen.emplace(k->value, k.get());
            if (fresh) continue;
            d_.error("XB1010",
                     "key '" + k->value + "' appears twice in '" + (path.empty() ? "the top level" : path) +
                         "' (first at line " + std::to_string(it->second->loc.line) + ")",
                     "keep one of the two; YAML does not allow duplicate keys", k->loc, child(path, k->value));
        }
    }

    void unknown_key(const YamlNode& key, const std::string& path, const std::vector<std::string_view>& known) {
        std::string near = suggest(key.value, known);
        d_.error("XB1103",
                 "unknown key '" + key.value + "' in '" + path + "'" +
                     (near.empty() ? std::string() : "; did you mean '" + near + "'?"),
                 near.empty() ? "remove it; the keys here are " + join(known)
                              : "rename it to '" + near + "' or remove it",
                 key.loc, child(path, key.value));
    }

private:
    Diagnostics& d_;
};

}  // namespace xb::config
