#include "probe/render.h"

#include <cstdio>

#include "common/json.h"
#include "common/netdev_uapi.h"
#include "common/strings.h"

namespace xb::probe {

namespace {

template <class Table>
std::vector<std::string> names_of(uint64_t bits, const Table& table) {
    std::vector<std::string> out;
    uint64_t known = 0;
    for (const auto& f : table) {
        known |= f.bit;
        if (bits & f.bit) out.emplace_back(f.name);
    }
    for (uint64_t b = 1; b != 0; b <<= 1)
        if ((bits & b) && !(known & b)) out.push_back(hex(b));
    return out;
}

// A diagnostic as an indented block under its interface or the kernel section.
std::string indented(const Diagnostic& d) {
    std::string text = d.to_text(), out = "  ";
    for (size_t i = 0; i < text.size(); ++i) {
        out += text[i];
        if (text[i] == '\n' && i + 1 < text.size()) out += "  ";
    }
    return out;
}

void names_array(JsonWriter& w, const std::vector<std::string>& names) {
    w.begin_array();
    for (const auto& n : names) w.value(n);
    w.end_array();
}

template <class T>
void optional_number(JsonWriter& w, std::string_view key, const std::optional<T>& v) {
    w.key(key);
    if (v) w.value(static_cast<uint64_t>(*v));
    else w.null();
}

void notes_json(JsonWriter& w, const std::vector<Diagnostic>& notes) {
    w.key("notes").begin_array();
    for (const auto& d : notes) w.raw(d.to_json());
    w.end_array();
}

void write_interface(JsonWriter& w, const InterfaceCaps& c) {
    w.begin_object();
    w.field("name", c.name).field("ifindex", c.ifindex).field("exists", c.exists).field("kind", c.kind);
    w.key("driver");
    if (c.driver) w.value(*c.driver);
    else w.null();
    optional_number(w, "xdp_features", c.xdp_features);
    w.key("xdp_features_names");
    if (c.xdp_features) names_array(w, xdp_feature_names(*c.xdp_features));
    else w.null();
    optional_number(w, "xdp_zc_max_segs", c.xdp_zc_max_segs);
    optional_number(w, "xdp_rx_metadata_features", c.xdp_rx_metadata_features);
    w.key("xdp_rx_metadata_features_names");
    if (c.xdp_rx_metadata_features) names_array(w, xdp_rx_metadata_names(*c.xdp_rx_metadata_features));
    else w.null();
    w.field("rx_queues", c.rx_queues).field("tx_queues", c.tx_queues).field("mtu", c.mtu);
    w.field("oper_state", oper_state_name(c.oper_state));
    w.key("gro");
    if (c.gro) w.value(*c.gro);
    else w.null();
    w.key("veth_peer");
    if (c.veth_peer) {
        w.begin_object().field("ifindex", c.veth_peer->ifindex);
        optional_number(w, "netnsid", c.veth_peer->netnsid);
        w.key("name");
        if (c.veth_peer->name.empty()) w.null();
        else w.value(c.veth_peer->name);
        w.end_object();
    } else {
        w.null();
    }
    w.key("xdp").begin_array();
    for (const auto& a : c.xdp) {
        w.begin_object()
            .field("mode", xdp_attach_mode_name(a.mode))
            .field("prog_id", a.prog_id)
            .field("prog_name", a.prog_name)
            .field("attached_via", attached_via_name(a.via));
        if (a.link_id) w.field("link_id", a.link_id);
        w.field("libxdp_dispatcher", a.libxdp_dispatcher).end_object();
    }
    w.end_array();
    w.field("clsact", support_name(c.clsact));
    w.key("tc_filters").begin_array();
    for (const auto& f : c.tc_filters) {
        w.begin_object()
            .field("direction", tc_direction_name(f.direction))
            .field("priority", static_cast<unsigned>(f.priority))
            .field("protocol", static_cast<unsigned>(f.protocol))
            .field("handle", f.handle)
            .field("kind", f.kind);
        if (f.kind == "bpf") {
            w.field("prog_id", f.prog_id).field("prog_name", f.prog_name).field("tc_name", f.tc_name);
            w.field("direct_action", f.direct_action);
        }
        w.end_object();
    }
    w.end_array();
    w.field("tcx", support_name(c.tcx));
    w.key("tcx_programs").begin_array();
    for (const auto& t : c.tcx_programs) {
        w.begin_object()
            .field("direction", tc_direction_name(t.direction))
            .field("prog_id", t.prog_id)
            .field("prog_name", t.prog_name);
        if (t.link_id) w.field("link_id", t.link_id);
        w.end_object();
    }
    w.end_array();
    notes_json(w, c.notes);
    w.end_object();
}

void write_probed_map(JsonWriter& w, std::string_view key, const std::vector<Probed>& v) {
    w.key(key).begin_object();
    for (const auto& p : v) w.field(p.name, support_name(p.supported));
    w.end_object();
}

void write_kernel(JsonWriter& w, const KernelCaps& k) {
    w.begin_object();
    w.field("release", k.release);
    write_probed_map(w, "prog_types", k.prog_types);
    write_probed_map(w, "map_types", k.map_types);
    w.key("helpers").begin_object();
    std::string current;
    for (const auto& h : k.helpers) {
        if (h.prog_type != current) {
            if (!current.empty()) w.end_object();
            current = h.prog_type;
            w.key(current).begin_object();
        }
        w.field(h.helper, support_name(h.supported));
    }
    if (!current.empty()) w.end_object();
    w.end_object();
    w.field("xdp_link", support_name(k.xdp_link.supported));
    w.key("bpffs");
    if (k.bpffs) w.value(*k.bpffs);
    else w.null();
    w.key("tracefs");
    if (k.tracefs) w.value(*k.tracefs);
    else w.null();
    w.field("vmlinux_btf", support_name(k.vmlinux_btf));
    w.key("freplace").begin_object().field("loadable", support_name(k.freplace.supported));
    if (k.freplace.error) w.field("errno", k.freplace.error);
    if (!k.freplace_error.empty()) w.field("error", k.freplace_error);
    w.end_object();
    w.key("online_cpus").begin_array();
    for (unsigned c : k.online_cpus) w.value(c);
    w.end_array();
    w.key("lockdown");
    if (k.lockdown) w.value(*k.lockdown);
    else w.null();
    notes_json(w, k.notes);
    w.end_object();
}

// Left-aligned column of width n; a longer value still gets one space so columns never fuse.
std::string pad(std::string s, size_t n) {
    s.append(s.size() < n ? n - s.size() : 1, ' ');
    return s;
}

}  // namespace

std::vector<std::string> xdp_feature_names(uint64_t bits) { return names_of(bits, netdev::kXdpActNames); }
std::vector<std::string> xdp_rx_metadata_names(uint64_t bits) { return names_of(bits, netdev::kXdpRxMetadataNames); }

std::string interface_to_json(const InterfaceCaps& c) {
    JsonWriter w;
    write_interface(w, c);
    return w.str();
}

std::string kernel_to_json(const KernelCaps& k) {
    JsonWriter w;
    write_kernel(w, k);
    return w.str();
}

std::string report_to_json(const KernelCaps* k, const std::vector<InterfaceCaps>& ifaces) {
    JsonWriter w;
    w.begin_object();
    if (k) {
        w.key("kernel");
        write_kernel(w, *k);
    }
    w.key("interfaces").begin_array();
    for (const auto& c : ifaces) write_interface(w, c);
    w.end_array();
    w.end_object();
    return w.str();
}

std::string interface_summary(const InterfaceCaps& c) {
    std::string out = c.name + ": driver " + c.driver.value_or("-");
    if (!c.xdp_features) out += ", xdp-features unknown";
    else out += ", xdp-features " + hex(*c.xdp_features) + " (" + (*c.xdp_features ? join(xdp_feature_names(*c.xdp_features), ",") : "none") + ")";
    out += ", mtu " + std::to_string(c.mtu) + ", queues " + std::to_string(c.rx_queues) + "/" +
           std::to_string(c.tx_queues) + ", " + std::string(oper_state_name(c.oper_state)) + ", gro " +
           (!c.gro ? "unknown" : *c.gro ? "on" : "off");
    if (c.veth_peer) out += ", veth peer " + (c.veth_peer->name.empty() ? "#" + std::to_string(c.veth_peer->ifindex) : c.veth_peer->name);
    for (const auto& a : c.xdp)
        out += ", xdp " + std::string(xdp_attach_mode_name(a.mode)) + " prog " + std::to_string(a.prog_id) + " " +
               (a.prog_name.empty() ? "?" : a.prog_name) + " via " + std::string(attached_via_name(a.via));
    size_t bpf_filters = 0;
    for (const auto& f : c.tc_filters) bpf_filters += f.kind == "bpf";
    out += ", clsact " + std::string(support_name(c.clsact));
    if (!c.tc_filters.empty())
        out += " (" + std::to_string(c.tc_filters.size()) + " filters, " + std::to_string(bpf_filters) + " bpf)";
    if (!c.tcx_programs.empty()) out += ", tcx " + std::to_string(c.tcx_programs.size()) + " programs";
    return out;
}

std::string kernel_summary(const KernelCaps& k) {
    std::string out = "kernel " + k.release + ":";
    auto item = [&out](std::string_view name, std::string_view answer) {
        out += (out.back() == ':' ? " " : ", ") + std::string(name) + " " + std::string(answer);
    };
    for (const auto& p : k.prog_types) item(p.name, support_name(p.supported));
    item("xdp-link", support_name(k.xdp_link.supported));
    for (const auto& p : k.map_types) item(p.name, support_name(p.supported));
    item("freplace", std::string(support_name(k.freplace.supported)) +
                         (k.freplace.error ? " (errno " + std::to_string(k.freplace.error) + ")" : ""));
    item("bpffs", k.bpffs.value_or("none"));
    item("tracefs", k.tracefs.value_or("none"));
    item("btf", support_name(k.vmlinux_btf));
    item("cpus", std::to_string(k.online_cpus.size()));
    return out;
}

std::string interfaces_to_text(const std::vector<InterfaceCaps>& ifaces) {
    // One summary row per interface, then what is attached (like `xdp-loader status`).
    std::string out = pad("INTERFACE", 16) + pad("DRIVER", 10) + pad("STATE", 8) + pad("MTU", 7) +
                      pad("RXQ/TXQ", 9) + pad("GRO", 8) + "XDP FEATURES\n";
    for (const auto& c : ifaces) {
        std::string features = !c.xdp_features ? "unknown"
                               : *c.xdp_features == 0
                                   ? "none (generic only)"
                                   : hex(*c.xdp_features) + " " + join(xdp_feature_names(*c.xdp_features), ",");
        out += pad(c.name, 16) + pad(c.driver.value_or("-"), 10) + pad(std::string(oper_state_name(c.oper_state)), 8) +
               pad(std::to_string(c.mtu), 7) + pad(std::to_string(c.rx_queues) + "/" + std::to_string(c.tx_queues), 9) +
               pad(!c.gro ? "unknown" : *c.gro ? "on" : "off", 8) + features + "\n";
    }
    for (const auto& c : ifaces) {
        std::string details;
        if (c.veth_peer) {
            details += "  veth peer: " + (c.veth_peer->name.empty() ? "?" : c.veth_peer->name) + " (ifindex " +
                       std::to_string(c.veth_peer->ifindex) +
                       (c.veth_peer->netnsid ? ", netnsid " + std::to_string(*c.veth_peer->netnsid) : "") + ")\n";
        }
        if (c.xdp_zc_max_segs && *c.xdp_zc_max_segs > 1)
            details += "  xdp-zc-max-segs: " + std::to_string(*c.xdp_zc_max_segs) + "\n";
        if (c.xdp_rx_metadata_features && *c.xdp_rx_metadata_features)
            details += "  xdp-rx-metadata: " + join(xdp_rx_metadata_names(*c.xdp_rx_metadata_features), ",") + "\n";
        for (const auto& a : c.xdp) {
            details += "  xdp " + pad(std::string(xdp_attach_mode_name(a.mode)), 8) + "prog " +
                       pad(std::to_string(a.prog_id), 6) + pad(a.prog_name.empty() ? "?" : a.prog_name, 17) + "via " +
                       std::string(attached_via_name(a.via)) +
                       (a.link_id ? " (link " + std::to_string(a.link_id) + ")" : "") +
                       (a.libxdp_dispatcher ? " [libxdp dispatcher]" : "") + "\n";
        }
        if (c.clsact == Support::Yes) details += "  tc clsact present\n";
        for (const auto& f : c.tc_filters) {
            details += "  tc " + pad(std::string(tc_direction_name(f.direction)), 8) + "pref " +
                       pad(std::to_string(f.priority), 6) + "handle " + pad(hex(f.handle), 8) + f.kind;
            if (f.kind == "bpf")
                details += " prog " + std::to_string(f.prog_id) + " " + (f.prog_name.empty() ? "?" : f.prog_name) +
                           (f.tc_name.empty() ? "" : " (" + f.tc_name + ")") + (f.direct_action ? " direct-action" : "");
            details += "\n";
        }
        for (const auto& t : c.tcx_programs)
            details += "  tcx " + pad(std::string(tc_direction_name(t.direction)), 8) + "prog " +
                       std::to_string(t.prog_id) + " " + (t.prog_name.empty() ? "?" : t.prog_name) +
                       (t.link_id ? " via bpf-link (link " + std::to_string(t.link_id) + ")" : "") + "\n";
        for (const auto& d : c.notes) details += indented(d);
        if (!details.empty()) out += c.name + ":\n" + details;
    }
    return out;
}

std::string kernel_to_text(const KernelCaps& k) {
    std::string out = "Kernel " + k.release + "\n";
    auto line = [&out](const std::string& what, std::string_view answer) {
        out += "  " + pad(what, 42) + std::string(answer) + "\n";
    };
    for (const auto& p : k.prog_types) line("program type " + p.name, support_name(p.supported));
    for (const auto& p : k.map_types) line("map type " + p.name, support_name(p.supported));
    for (const auto& h : k.helpers) line("helper " + h.helper + " (" + h.prog_type + ")", support_name(h.supported));
    line("xdp through bpf_link", support_name(k.xdp_link.supported));
    line("bpffs", k.bpffs ? "mounted at " + *k.bpffs : "not mounted");
    line("tracefs", k.tracefs ? "mounted at " + *k.tracefs : "not mounted");
    line("vmlinux btf", support_name(k.vmlinux_btf));
    line("freplace (libxdp dispatcher)",
         std::string(support_name(k.freplace.supported)) +
             (k.freplace_error.empty() ? "" : " (" + k.freplace_error + ")"));
    std::string cpus;
    for (unsigned c : k.online_cpus) cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
    line("online cpus", cpus.empty() ? "unknown" : cpus);
    line("lockdown", k.lockdown.value_or("unknown"));
    for (const auto& d : k.notes) out += indented(d);
    return out;
}

}  // namespace xb::probe
