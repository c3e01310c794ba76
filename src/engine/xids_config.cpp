#include "engine/xids_config.h"

#include <cctype>

#include "common/input_file.h"
#include "config/reader.h"
#include "config/yaml.h"

namespace xb::engine {

using config::child;
using config::indexed;
using config::Reader;
using config::YamlNode;

bool parse_size(std::string_view text, uint64_t* out) {
    size_t i = 0;
    uint64_t v = 0;
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return false;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + static_cast<uint64_t>(text[i++] - '0');
    }
    while (i < text.size() && text[i] == ' ') ++i;
    std::string unit = config::lower(text.substr(i));
    uint64_t mult = 1;
    if (unit.empty() || unit == "b") mult = 1;
    else if (unit == "kb" || unit == "kib" || unit == "k") mult = 1024;
    else if (unit == "mb" || unit == "mib" || unit == "m") mult = 1024 * 1024;
    else if (unit == "gb" || unit == "gib" || unit == "g") mult = 1024ull * 1024 * 1024;
    else return false;
    if (v > UINT64_MAX / mult) return false;
    *out = v * mult;
    return true;
}

namespace {

// What xids reads at the top level (plus the plugin's own sections, which the plugin reads).
const std::vector<std::string_view> kTopLevel = {"plugins", "default-rule-path", "rule-files", "vars",
                                                 "default-log-dir", "outputs", "stream", "app-layer",
                                                 "flow-timeouts", "stats", "xids"};
const std::vector<std::string_view> kPluginSections = {"xbypass", "af-packet", "af-xdp"};

bool is_in(const std::vector<std::string_view>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::string resolve(const std::string& dir, const std::string& path) {
    if (path.empty() || path[0] == '/' || dir.empty()) return path;
    return dir + (dir.back() == '/' ? "" : "/") + path;
}

std::string dir_of(const std::string& file) {
    auto slash = file.rfind('/');
    return slash == std::string::npos ? std::string(".") : file.substr(0, slash);
}

class XidsReader {
public:
    XidsReader(Diagnostics& d, XidsConfig& c) : r_(d), d_(d), c_(c) {}

    void read(const YamlNode& root) {
        if (!root.is_mapping()) {
            d_.error("XB1100", "the top level of " + c_.file + " must be a mapping of sections",
                     "start the file with keys such as 'rule-files:' and 'xbypass:'", root.loc);
            return;
        }
        r_.check_duplicate_keys(root, "");
        std::string rule_path;
        std::vector<std::pair<std::string, SourceLocation>> rule_files;
        std::vector<std::string> unused;
        for (const auto& [k, v] : root.entries) {
            const std::string& key = k->value;
            if (is_in(kPluginSections, key)) continue;
            if (!is_in(kTopLevel, key)) {
                std::string near = config::suggest(key, kTopLevel);
                if (!near.empty() && near != key)
                    d_.warning("XB7205", "top-level key '" + key + "' is not used by xids; did you mean '" + near + "'?",
                               "rename it to '" + near + "' or remove it", k->loc, key);
                else
                    unused.push_back(key);
                continue;
            }
            if (key == "plugins") read_plugins(*v);
            else if (key == "default-rule-path") {
                if (auto s = r_.optional_string(*v, key)) rule_path = *s;
            } else if (key == "rule-files") {
                if (!r_.expect_sequence(*v, key)) continue;
                for (size_t i = 0; i < v->items.size(); ++i)
                    if (auto s = r_.scalar(*v->items[i], indexed(key, i))) rule_files.emplace_back(*s, v->items[i]->loc);
            } else if (key == "vars") read_vars(*v);
            else if (key == "default-log-dir") {
                if (auto s = r_.optional_string(*v, key); s && !s->empty()) c_.log_dir = *s;
            } else if (key == "outputs") read_outputs(*v);
            else if (key == "stream") read_stream(*v);
            else if (key == "app-layer") read_app_layer(*v);
            else if (key == "flow-timeouts") read_timeouts(*v);
            else if (key == "stats") read_stats(*v);
            else if (key == "xids") read_xids(*v);
        }
        if (!unused.empty()) {
            std::string list;
            for (const auto& u : unused) list += (list.empty() ? "" : ", ") + u;
            d_.info("XB7204", "top-level keys not used by xids: " + list, "", root.loc);
        }
        // Rule files resolve against default-rule-path, itself relative to this file (as log dirs are).
        std::string base = rule_path.empty() ? dir_of(c_.file) : resolve(dir_of(c_.file), rule_path);
        for (const auto& [f, loc] : rule_files) c_.rule_files.push_back(resolve(base, f));
        if (rule_files.empty())
            d_.warning("XB7202", "no rule file is configured: xids inspects nothing and alerts on nothing",
                       "list rule files under 'rule-files:' (relative to 'default-rule-path')", root.loc, "rule-files");
        if (c_.eve_enabled) c_.eve_file = resolve(resolve(dir_of(c_.file), c_.log_dir), c_.eve_file);
    }

private:
    void read_plugins(const YamlNode& v) {
        if (!r_.expect_sequence(v, "plugins")) return;
        if (v.items.empty()) return;
        if (auto s = r_.scalar(*v.items[0], "plugins[0]")) c_.plugin_path = *s;
        if (v.items.size() > 1)
            d_.warning("XB7203", "xids loads one plugin; the others listed under 'plugins' are ignored",
                       "list the xbypass plugin only", v.items[1]->loc, "plugins[1]");
    }

    void read_vars(const YamlNode& v) {
        if (!r_.expect_mapping(v, "vars")) return;
        r_.check_duplicate_keys(v, "vars");
        for (const auto& [k, val] : v.entries) {
            std::string path = child("vars", k->value);
            std::map<std::string, std::string>* into = k->value == "address-groups" ? &c_.address_groups
                                                       : k->value == "port-groups"  ? &c_.port_groups
                                                                                    : nullptr;
            if (!into) {
                r_.unknown_key(*k, "vars", {"address-groups", "port-groups"});
                continue;
            }
            if (!r_.expect_mapping(*val, path)) continue;
            r_.check_duplicate_keys(*val, path);
            for (const auto& [name, def] : val->entries)
                if (auto s = r_.scalar(*def, child(path, name->value))) (*into)[name->value] = *s;
        }
    }

    void read_outputs(const YamlNode& v) {
        if (!r_.expect_sequence(v, "outputs")) return;
        for (size_t i = 0; i < v.items.size(); ++i) {
            const YamlNode& item = *v.items[i];
            std::string path = indexed("outputs", i);
            if (!r_.expect_mapping(item, path)) continue;
            for (const auto& [k, val] : item.entries) {
                if (k->value != "eve-log") continue;  // other outputs of a suricata.yaml: not xids's
                read_eve(*val, child(path, "eve-log"));
            }
        }
    }

    void read_eve(const YamlNode& v, const std::string& path) {
        if (!r_.expect_mapping(v, path)) return;
        c_.eve_enabled = true;
        c_.eve_file = "eve.json";
        bool types_seen = false;
        for (const auto& [k, val] : v.entries) {
            std::string p = child(path, k->value);
            if (k->value == "enabled") {
                if (auto b = r_.boolean(*val, p)) c_.eve_enabled = *b;
            } else if (k->value == "filename") {
                if (auto s = r_.scalar(*val, p)) c_.eve_file = *s;
            } else if (k->value == "types") {
                if (!r_.expect_sequence(*val, p)) continue;
                types_seen = true;
                c_.eve_alert = c_.eve_flow = c_.eve_stats = false;
                for (size_t i = 0; i < val->items.size(); ++i) {
                    const YamlNode& t = *val->items[i];
                    // A type is a name, or a mapping of the name to its options (Suricata's form).
                    const YamlNode* name = &t;
                    if (t.is_mapping() && !t.entries.empty()) name = t.entries.front().first.get();
                    auto s = r_.scalar(*name, indexed(p, i));
                    if (!s) continue;
                    if (*s == "alert") c_.eve_alert = true;
                    else if (*s == "flow") c_.eve_flow = true;
                    else if (*s == "stats") c_.eve_stats = true;
                    else
                        d_.info("XB7206", "EVE type '" + *s + "' is not written by xids (it writes alert, flow and stats)",
                                "", name->loc, indexed(p, i));
                }
            }
            // filetype, threaded, community-id and the rest of Suricata's eve-log keys: not used.
        }
        if (!types_seen) c_.eve_alert = c_.eve_flow = c_.eve_stats = true;
    }

    void read_stream(const YamlNode& v) {
        if (!r_.expect_mapping(v, "stream")) return;
        for (const auto& [k, val] : v.entries) {
            if (k->value == "bypass") {
                if (auto b = r_.boolean(*val, "stream.bypass")) c_.stream_bypass = *b;
            } else if (k->value == "depth") {
                read_depth(*val, "stream.depth");
            } else if (k->value == "reassembly" && val->is_mapping()) {
                if (const YamlNode* d = val->find("depth")) read_depth(*d, "stream.reassembly.depth");
            }
        }
    }

    void read_depth(const YamlNode& v, const std::string& path) {
        auto s = r_.scalar(v, path);
        if (!s) return;
        uint64_t n = 0;
        if (!parse_size(*s, &n)) {
            d_.error("XB7207", "'" + path + "' is '" + *s + "', not a size", "write a size such as 1mb, 512kb or 0 (unlimited)",
                     v.loc, path);
            return;
        }
        c_.stream_depth = n;
    }

    void read_app_layer(const YamlNode& v) {
        const YamlNode* protocols = v.is_mapping() ? v.find("protocols") : nullptr;
        const YamlNode* tls = protocols && protocols->is_mapping() ? protocols->find("tls") : nullptr;
        const YamlNode* eh = tls && tls->is_mapping() ? tls->find("encryption-handling") : nullptr;
        if (!eh) return;
        auto c = r_.choice<TlsHandling>(*eh, "app-layer.protocols.tls.encryption-handling",
                                        {{"bypass", TlsHandling::Bypass},
                                         {"track-only", TlsHandling::TrackOnly},
                                         {"default", TlsHandling::TrackOnly},
                                         {"full", TlsHandling::TrackOnly}});
        if (c) c_.tls = *c;
    }

    void read_timeouts(const YamlNode& v) {
        if (!r_.expect_mapping(v, "flow-timeouts")) return;
        for (const auto& [k, val] : v.entries) {
            std::string path = child("flow-timeouts", k->value);
            ProtoTimeouts* t = k->value == "tcp"       ? &c_.tcp
                               : k->value == "udp"     ? &c_.udp
                               : k->value == "icmp"    ? &c_.icmp
                               : k->value == "default" ? &c_.other
                                                       : nullptr;
            if (!t) {
                r_.unknown_key(*k, "flow-timeouts", {"default", "tcp", "udp", "icmp"});
                continue;
            }
            if (!r_.expect_mapping(*val, path)) continue;
            for (const auto& [tk, tv] : val->entries) {
                std::string p = child(path, tk->value);
                uint32_t* slot = tk->value == "new"           ? &t->new_s
                                 : tk->value == "established" ? &t->established_s
                                 : tk->value == "closed"      ? &t->closed_s
                                 : tk->value == "bypassed"    ? &t->bypassed_s
                                                              : nullptr;
                if (!slot) {
                    if (tk->value.rfind("emergency-", 0) == 0) continue;  // Suricata's, not used by xids
                    r_.unknown_key(*tk, path, {"new", "established", "closed", "bypassed"});
                    continue;
                }
                if (auto n = r_.number(*tv, p, 0, 86400, "seconds")) *slot = static_cast<uint32_t>(*n);
            }
        }
    }

    void read_stats(const YamlNode& v) {
        if (!r_.expect_mapping(v, "stats")) return;
        bool enabled = true;
        for (const auto& [k, val] : v.entries) {
            std::string p = child("stats", k->value);
            if (k->value == "enabled") {
                if (auto b = r_.boolean(*val, p)) enabled = *b;
            } else if (k->value == "interval") {
                if (auto n = r_.number(*val, p, 1, 86400, "seconds")) c_.stats_interval = static_cast<uint32_t>(*n);
            }
        }
        if (!enabled) c_.stats_interval = 0;
    }

    void read_xids(const YamlNode& v) {
        if (!r_.expect_mapping(v, "xids")) return;
        r_.check_duplicate_keys(v, "xids");
        for (const auto& [k, val] : v.entries) {
            std::string p = child("xids", k->value);
            if (k->value == "udp-bypass-after") {
                if (auto n = r_.number(*val, p, 0, 1000000, "packets")) c_.udp_bypass_after = static_cast<uint32_t>(*n);
            } else if (k->value == "max-flows") {
                if (auto n = r_.number(*val, p, 16, 16777216, "flows")) c_.max_flows = static_cast<uint32_t>(*n);
            } else {
                r_.unknown_key(*k, "xids", {"udp-bypass-after", "max-flows"});
            }
        }
    }

    Reader r_;
    Diagnostics& d_;
    XidsConfig& c_;
};

}  // namespace

XidsConfigLoad load_xids_config_string(const std::string& text, const std::string& name) {
    XidsConfigLoad out;
    out.config.file = name;
    auto root = config::parse_yaml(text, name, out.diagnostics);
    if (!root) return out;
    XidsReader(out.diagnostics, out.config).read(*root);
    if (out.config.plugin_path.empty()) out.config.plugin_path = "libxbypass.so.1";  // found by the loader's path
    return out;
}

XidsConfigLoad load_xids_config(const std::string& path) {
    auto text = read_input_file(path, config::YamlLimits{}.max_bytes, "configuration file");
    if (!text) {
        XidsConfigLoad out;
        out.config.file = path;
        out.io_error = true;
        out.diagnostics.error("XB1001", text.error().message, "check the path and that the file is readable");
        return out;
    }
    return load_xids_config_string(*text, path);
}

}  // namespace xb::engine
