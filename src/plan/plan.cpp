#include "plan/plan.h"

#include <algorithm>

#include "common/json.h"
#include "common/netdev_uapi.h"
#include "common/strings.h"

namespace xb::plan {

using probe::Support;

std::string_view capture_name(Capture c) { return c == Capture::AfPacket ? "af-packet" : "af-xdp"; }

std::string_view datapath_name(Datapath d) {
    switch (d) {
        case Datapath::XdpNative: return "xdp-native";
        case Datapath::XdpGeneric: return "xdp-generic";
        case Datapath::Tc: return "tc";
        case Datapath::None: return "none";
    }
    return "none";
}

namespace {

std::string features_text(const probe::InterfaceCaps& c) {
    if (!c.xdp_features) return "unknown";
    std::string names = netdev::xdp_act_names(*c.xdp_features);
    return (names.empty() ? std::string("none") : names) + " (" + hex(*c.xdp_features) + ")";
}

std::string describe(const probe::AttachedXdp& a) {
    std::string name = a.prog_name.empty() ? "?" : a.prog_name;
    return "'" + name + "' (id " + std::to_string(a.prog_id) + ", " + std::string(probe::xdp_attach_mode_name(a.mode)) +
           " mode, via " + std::string(probe::attached_via_name(a.via)) + ")";
}

const probe::InterfaceCaps* caps_of(const PlanInput& in, const std::string& name) {
    auto it = in.interfaces.find(name);
    return it == in.interfaces.end() ? nullptr : &it->second;
}

std::string support_word(Support s) { return std::string(probe::support_name(s)); }

bool helper_was_probed(const probe::KernelCaps& k, std::string_view prog_type, std::string_view helper) {
    return std::any_of(k.helpers.begin(), k.helpers.end(),
                       [&](const probe::ProbedHelper& h) { return h.prog_type == prog_type && h.helper == helper; });
}

// The per-interface facts every candidate is checked against.
struct Subject {
    const config::InterfaceConfig& cfg;
    const probe::InterfaceCaps& dev;
    const probe::InterfaceCaps* peer;  // nullptr when no IPS peer (or it is missing: reported elsewhere)
    const std::vector<unsigned>& cpus;
};

// Why `req` cannot run on `dp` for this interface; empty when it can.
// Whether native XDP may be tried without knowing the device's XDP features: the program needs no
// more than basic XDP (XDP_PASS, XDP_DROP: a driver without native XDP refuses the attach, so
// nothing is lost silently) and single-buffer frames. Redirect and ndo-xmit stay required: a driver
// may accept the attach and then fail every redirect.
bool basic_only(const Subject& s, const ProgramRequirements& req) {
    for (const auto& need : req.devices) {
        if (need.on_ips_peer && !s.peer) continue;
        if (need.xdp_act_bits & ~netdev::XDP_ACT_BASIC) return false;
    }
    return s.dev.mtu <= kSingleBufferXdpMaxMtu;
}

// `untested` (may be null): set when native XDP is possible only as an attempt (features unknown,
// basic_only); then no reason is given for it.
std::vector<std::string> why_not(const PlanInput& in, const Subject& s, Datapath dp, const ProgramRequirements& req,
                                 std::vector<std::string>* warnings, bool* untested = nullptr) {
    std::vector<std::string> reasons;
    const auto& k = in.kernel;
    const char* prog_type = dp == Datapath::Tc ? "sched_cls" : "xdp";
    const probe::Probed* pt = k.prog_type(prog_type);
    Support pts = pt ? pt->supported : Support::Unknown;
    if (pts != Support::Yes)
        reasons.push_back(std::string("the kernel cannot load ") + prog_type + " programs (probe: " + support_word(pts) + ")");
    for (const auto& m : req.map_types) {
        const probe::Probed* mt = k.map_type(m);
        if (!mt) {
            // Not among the map types the probe asks about (e.g. the plain array behind .rodata).
            if (warnings) warnings->push_back("map type " + m + " was not probed; the kernel checks it when loading");
            continue;
        }
        if (mt->supported != Support::Yes)
            reasons.push_back("map type " + m + " is not available (probe: " + support_word(mt->supported) + ")");
    }
    for (const auto& h : req.helpers) {
        Support hs = k.helper(prog_type, h);
        if (hs == Support::Yes) continue;
        if (hs == Support::Unknown && !helper_was_probed(k, prog_type, h)) {
            // Not among the helpers the probe asks about: the verifier will say at load time.
            if (warnings) warnings->push_back("helper " + h + " was not probed; the kernel checks it when loading");
            continue;
        }
        reasons.push_back("helper " + h + " is not available to " + prog_type + " programs (probe: " + support_word(hs) + ")");
    }
    if (req.max_redirect_cpus && s.cpus.size() > req.max_redirect_cpus)
        reasons.push_back("cpu-redirect names " + std::to_string(s.cpus.size()) + " CPUs, the program handles at most " +
                          std::to_string(req.max_redirect_cpus));

    if (dp == Datapath::XdpNative) {
        const auto& dev = s.dev;
        std::string drv = dev.driver ? " (driver " + *dev.driver + ")" : "";
        if (!dev.xdp_features) {
            if (untested && basic_only(s, req)) {
                *untested = true;
            } else {
                std::string what;
                for (const auto& need : req.devices)
                    if (need.xdp_act_bits & ~netdev::XDP_ACT_BASIC)
                        what += (what.empty() ? "" : ", ") + need.reason + " needs " +
                                netdev::xdp_act_names(need.xdp_act_bits & ~netdev::XDP_ACT_BASIC);
                if (what.empty() && dev.mtu > kSingleBufferXdpMaxMtu)
                    what = "MTU " + std::to_string(dev.mtu) + " needs multi-buffer XDP (rx-sg)";
                reasons.push_back("the XDP features of " + dev.name + drv +
                                  " are unknown (netdev family unavailable): native XDP is not assumed" +
                                  (what.empty() ? std::string() : " (" + what + ")"));
            }
        } else if (!(*dev.xdp_features & netdev::XDP_ACT_BASIC)) {
            reasons.push_back(dev.name + drv + " has no native XDP support (xdp-features: " + features_text(dev) + ")");
        } else {
            for (const auto& need : req.devices) {
                const probe::InterfaceCaps* target = need.on_ips_peer ? s.peer : &dev;
                if (!target) continue;
                if (!target->xdp_features) {
                    reasons.push_back("the XDP features of " + target->name + " are unknown, and " + need.reason +
                                      " needs " + netdev::xdp_act_names(need.xdp_act_bits));
                    continue;
                }
                uint64_t missing = need.xdp_act_bits & ~*target->xdp_features;
                if (missing)
                    reasons.push_back(target->name + " lacks " + netdev::xdp_act_names(missing) + ", which " +
                                      need.reason + " needs in native mode (xdp-features: " + features_text(*target) + ")");
            }
            if (dev.mtu > kSingleBufferXdpMaxMtu) {
                if (!req.frags_aware)
                    reasons.push_back("MTU " + std::to_string(dev.mtu) + " exceeds single-buffer XDP (" +
                                      std::to_string(kSingleBufferXdpMaxMtu) +
                                      ") and the program does not handle fragments");
                else if (!(*dev.xdp_features & netdev::XDP_ACT_RX_SG))
                    reasons.push_back("MTU " + std::to_string(dev.mtu) + " needs multi-buffer XDP (rx-sg), which " +
                                      dev.name + " lacks");
            }
        }
    }
    return reasons;
}

const ProgramRequirements* select_program(const PlanInput& in, const config::InterfaceConfig& ic, Hook hook,
                                          bool cpu, bool ips, bool xsk) {
    if (!ic.custom_program.empty()) {
        auto it = in.custom.find(ic.custom_program);
        if (it == in.custom.end()) return nullptr;
        for (const auto& r : it->second)
            if (r.hook == hook) return &r;
        return nullptr;
    }
    for (const auto& r : in.builtin)
        if (r.hook == hook && r.cpu_redirect == cpu && r.ips_forward == ips && r.xsk_capture == xsk &&
            r.suricata_maps == ic.suricata_maps)
            return &r;
    return nullptr;
}

// "map type xskmap is not available (probe: no)" (the words why_not uses), or "" when it is.
std::string xskmap_missing(const probe::KernelCaps& k) {
    const probe::Probed* mt = k.map_type("xskmap");
    Support s = mt ? mt->supported : Support::Unknown;
    return s == Support::Yes ? std::string() : "map type xskmap is not available (probe: " + support_word(s) + ")";
}

std::string queues_text(const probe::InterfaceCaps& dev) {
    return dev.rx_queues ? std::to_string(dev.rx_queues) + " receive queue" + (dev.rx_queues == 1 ? "" : "s")
                         : "1 receive queue (its queue count is unknown, taken as 1)";
}

CapturePlan capture_defaults(const config::InterfaceConfig& ic, const probe::InterfaceCaps& dev) {
    CapturePlan c;
    c.requested = ic.capture.method;
    c.rx_queues = dev.rx_queues;
    c.ring_size = ic.capture.ring_size;
    c.block_size = ic.capture.block_size;
    c.block_timeout_ms = ic.capture.block_timeout_ms;
    c.cluster_id = ic.capture.cluster_id;
    c.cluster_type = ic.capture.cluster_type;
    return c;
}

// AF_PACKET: auto threads = one per receive queue, at most one per online CPU.
CapturePlan af_packet_plan(const PlanInput& in, const config::InterfaceConfig& ic, const probe::InterfaceCaps& dev,
                           std::vector<std::string> why_not_af_xdp) {
    CapturePlan c = capture_defaults(ic, dev);
    c.method = Capture::AfPacket;
    if (ic.threads == config::kThreadsAuto) {
        uint32_t q = std::max<uint32_t>(dev.rx_queues, 1);
        auto cpus = static_cast<uint32_t>(in.kernel.online_cpus.size());
        c.threads = cpus ? std::min(q, cpus) : q;
    } else {
        c.threads = ic.threads;
    }
    c.why_not_af_xdp = std::move(why_not_af_xdp);
    return c;
}

// AF_XDP: one socket per receive queue (the callers checked that explicit threads match the queues).
CapturePlan af_xdp_plan(const config::InterfaceConfig& ic, const probe::InterfaceCaps& dev, Datapath dp,
                        std::vector<std::string>& notes) {
    CapturePlan c = capture_defaults(ic, dev);
    c.method = Capture::AfXdp;
    c.threads = std::max<uint32_t>(dev.rx_queues, 1);
    if (!dev.rx_queues)
        notes.push_back("the receive queue count of " + dev.name + " is unknown: taken as 1 (one AF_XDP socket, queue 0)");
    bool zc_feature = dev.xdp_features && (*dev.xdp_features & netdev::XDP_ACT_XSK_ZEROCOPY);
    c.zerocopy = dp == Datapath::XdpNative && zc_feature;
    if (c.zerocopy)
        notes.push_back("AF_XDP in zero-copy mode: native XDP and " + dev.name + " reports xsk-zerocopy");
    else if (dp != Datapath::XdpNative)
        notes.push_back("AF_XDP in copy mode: generic XDP copies every frame into the socket's memory");
    else
        notes.push_back("AF_XDP in copy mode: " + dev.name + " does not report xsk-zerocopy");
    return c;
}

std::vector<Datapath> candidates(config::Datapath requested, config::OnUnsupported on_unsupported) {
    bool fallback = on_unsupported == config::OnUnsupported::Fallback;
    switch (requested) {
        case config::Datapath::Auto: return {Datapath::XdpNative, Datapath::XdpGeneric, Datapath::Tc};
        case config::Datapath::XdpNative:
            return fallback ? std::vector{Datapath::XdpNative, Datapath::XdpGeneric, Datapath::Tc}
                            : std::vector{Datapath::XdpNative};
        case config::Datapath::XdpGeneric:
            return fallback ? std::vector{Datapath::XdpGeneric, Datapath::Tc} : std::vector{Datapath::XdpGeneric};
        case config::Datapath::Tc: return {Datapath::Tc};
        case config::Datapath::Offload:
            return fallback ? std::vector{Datapath::XdpNative, Datapath::XdpGeneric, Datapath::Tc} : std::vector<Datapath>{};
    }
    return {};
}

void plan_interface(const PlanInput& in, const config::InterfaceConfig& ic, Plan& out) {
    Diagnostics& d = out.diagnostics;
    auto where = [&](std::string_view key) { return ic.location_of(key); };
    auto key_path = [&](std::string_view key) {
        const config::KeyOrigin* o = ic.origin_of(key);
        return o ? o->key_path : ic.origin.key_path;
    };
    const std::string& name = ic.name;

    InterfacePlan p;
    p.interface = name;
    p.requested = ic.datapath;
    p.vlan_tracking = ic.vlan_tracking;
    p.on_runtime_error = ic.on_runtime_error;
    p.flow_table = ic.flow_table;
    p.ips_peer = ic.ips_peer;
    p.custom = !ic.custom_program.empty();

    const probe::InterfaceCaps* dev = caps_of(in, name);
    if (!dev || !dev->exists) {
        d.error("XB4001", "interface " + name + " does not exist in this network namespace",
                "check the name with `ip link`, or run xbypass in the namespace that holds the interface",
                ic.origin.location, ic.origin.key_path);
        return;
    }
    p.ifindex = dev->ifindex;
    bool ok = true;
    if (dev->oper_state == probe::OperState::Down)
        d.warning("XB4030", "interface " + name + " is down: nothing is captured until it is up",
                  "bring it up with `ip link set " + name + " up`", ic.origin.location, ic.origin.key_path);

    // CPUs for cpu redirect.
    if (ic.cpu_redirect.enabled()) {
        const auto& online = in.kernel.online_cpus;
        if (online.empty()) {
            d.error("XB4006", "the online CPUs could not be read, so cpu-redirect cannot be checked",
                    "check that /sys/devices/system/cpu/online is readable", where("cpu-redirect"),
                    key_path("cpu-redirect"));
            ok = false;
        } else if (ic.cpu_redirect.all) {
            p.cpus = online;
        } else {
            for (unsigned c : ic.cpu_redirect.cpus) {
                if (std::find(online.begin(), online.end(), c) == online.end()) {
                    d.error("XB4005", "CPU " + std::to_string(c) + " in cpu-redirect is not online (online: " +
                                          cpu_list_text(online) + ")",
                            "name only online CPUs, or \"all\"", where("cpu-redirect"), key_path("cpu-redirect"));
                    ok = false;
                }
            }
            p.cpus = ic.cpu_redirect.cpus;
        }
    }

    // IPS peer.
    const probe::InterfaceCaps* peer = nullptr;
    if (!ic.ips_peer.empty()) {
        peer = caps_of(in, ic.ips_peer);
        if (!peer || !peer->exists) {
            d.error("XB4007", "IPS peer " + ic.ips_peer + " does not exist in this network namespace",
                    "create the peer interface first, or fix ips-peer", where("ips-peer"), key_path("ips-peer"));
            peer = nullptr;
            ok = false;
        } else {
            p.ips_peer_ifindex = peer->ifindex;
            if (peer->oper_state == probe::OperState::Down) {
                d.error("XB4008", "IPS peer " + ic.ips_peer + " is down: forwarded packets would be dropped",
                        "bring it up with `ip link set " + ic.ips_peer + " up` before starting", where("ips-peer"),
                        key_path("ips-peer"));
                ok = false;
            }
        }
    }

    // Pinned maps need bpffs, and the pin path on it. The Suricata mode pins where Suricata 7 looks:
    // /sys/fs/bpf/suricata-<iface>-flow_table_v4 (a path it does not let one configure).
    const bool suricata_pins = ic.suricata_maps && !in.config.global.origins.count("pin-path");
    if (ic.pinned_maps || ic.suricata_maps) {
        const auto& bpffs = in.kernel.bpffs;
        const std::string pin_path = suricata_pins ? std::string("/sys/fs/bpf") : in.config.global.pin_path;
        const config::KeyOrigin* po = in.config.global.origins.count("pin-path")
                                          ? &in.config.global.origins.at("pin-path")
                                          : nullptr;
        if (!bpffs) {
            d.error("XB4013", "pinned-maps needs bpffs, which is not mounted",
                    "mount it: `mount -t bpf bpf /sys/fs/bpf`", where("pinned-maps"), key_path("pinned-maps"));
            ok = false;
        } else if (pin_path.rfind(*bpffs, 0) != 0) {
            d.error("XB4021", "pin-path " + pin_path + " is not on bpffs (mounted at " + *bpffs + ")",
                    "set pin-path under " + *bpffs, po ? po->location : where("pinned-maps"),
                    po ? po->key_path : key_path("pinned-maps"));
            ok = false;
        }
        p.pinned_maps = !ic.suricata_maps;
        p.pin_dir = pin_path + "/" + (ic.pinned_maps_name.empty() ? name : ic.pinned_maps_name);
        if (ic.suricata_maps) {
            p.suricata_maps = true;
            p.pin_dir = pin_path;
        }
    }

    const bool nothing_to_load = !ic.bypass && !ic.cpu_redirect.enabled() && ic.ips_peer.empty();
    // capture: af-xdp asked for by an engine: what rules it out whatever the datapath.
    const bool want_xsk = in.engine_capture && ic.capture.method == config::CaptureMethod::AfXdp;
    if (want_xsk) {
        bool refused = false;
        auto refuse = [&](const char* code, const std::string& message, const std::string& hint) {
            d.error(code, message, hint, where("capture"), key_path("capture"));
            refused = true;
        };
        if (nothing_to_load)
            refuse("XB4047",
                   "capture af-xdp on " + name + ", but bypass is off and nothing is redirected, so no XDP program "
                   "runs to send packets into AF_XDP sockets",
                   "set bypass: yes, or use capture: af-packet (or auto)");
        if (ic.datapath == config::Datapath::Tc)
            refuse("XB4040",
                   "capture af-xdp on " + name + " needs an XDP datapath, and datapath is tc: AF_XDP sockets receive "
                   "only what an XDP program redirects to them",
                   "use datapath: auto, xdp-native or xdp-generic, or capture: af-packet");
        if (ic.cpu_redirect.enabled())
            refuse("XB4041",
                   "capture af-xdp and cpu-redirect on " + name + ": a miss can go to one place only, a CPU's cpumap "
                   "or an AF_XDP socket",
                   "remove cpu-redirect (AF_XDP spreads the load by receive queue, one socket per queue), or use "
                   "capture: af-packet");
        if (!ic.custom_program.empty())
            refuse("XB4042",
                   "capture af-xdp with custom-program on " + name + ": only the built-in xsk programs redirect "
                   "misses into xbypass's AF_XDP sockets",
                   "remove custom-program, or use capture: af-packet");
        if (ic.coexist == config::Coexist::Multiprog)
            refuse("XB4043",
                   "capture af-xdp with coexist: multiprog on " + name + ": the libxdp dispatcher runs the next "
                   "program only after XDP_PASS, so misses redirected into AF_XDP sockets would never reach the "
                   "programs after ours",
                   "use coexist: refuse or replace, or capture: af-packet");
        if (std::string why = xskmap_missing(in.kernel); !why.empty())
            refuse("XB4044", "capture af-xdp on " + name + " needs AF_XDP sockets, and " + why,
                   "use capture: af-packet (or auto), or a kernel built with CONFIG_XDP_SOCKETS=y");
        uint32_t queues = std::max<uint32_t>(dev->rx_queues, 1);
        if (ic.threads != config::kThreadsAuto && ic.threads > queues)
            refuse("XB4045",
                   "capture af-xdp with threads " + std::to_string(ic.threads) + " on " + name + ", which has " +
                       queues_text(*dev) + ": AF_XDP binds one socket per queue, so " +
                       std::to_string(ic.threads - queues) + " thread(s) would have no queue",
                   "set threads to " + std::to_string(queues) + " (or auto), or raise the queues with `ethtool -L " +
                       name + " combined " + std::to_string(ic.threads) + "`");
        if (ic.threads != config::kThreadsAuto && ic.threads < queues)
            refuse("XB4046",
                   "capture af-xdp with threads " + std::to_string(ic.threads) + " on " + name + ", which has " +
                       queues_text(*dev) + ": the misses of the queues without a socket would go to the stack, and "
                       "the engine would never see them",
                   "set threads to " + std::to_string(queues) + " (or auto), or reduce the queues with `ethtool -L " +
                       name + " combined " + std::to_string(ic.threads) + "`");
        if (refused) return;
    }

    // Nothing to load: no bypass, no redirect, no forwarding.
    if (nothing_to_load) {
        p.datapath = Datapath::None;
        p.notes.push_back("bypass is off and nothing is redirected: no program is attached");
        if (in.engine_capture)
            p.capture = af_packet_plan(
                in, ic, *dev,
                ic.capture.method == config::CaptureMethod::Auto
                    ? std::vector<std::string>{"bypass is off and nothing is redirected: no XDP program runs to "
                                               "send packets into AF_XDP sockets"}
                    : std::vector<std::string>{});
        if (ok) out.interfaces.push_back(std::move(p));
        return;
    }

    // Other tools' XDP programs.
    bool xdp_blocked = false;
    std::string foreign_desc;
    const probe::AttachedXdp* foreign = nullptr;
    for (const auto& a : dev->xdp) {
        if (!foreign || foreign->mode == probe::XdpAttachMode::Offload) foreign = &a;
    }
    if (foreign) foreign_desc = "another XDP program " + describe(*foreign) + " is attached to " + name;
    switch (ic.coexist) {
        case config::Coexist::Refuse:
            xdp_blocked = foreign != nullptr;
            break;
        case config::Coexist::Replace:
            if (foreign) {
                p.replace = Replacement{foreign->prog_id, foreign->prog_name, foreign->mode, foreign->link_id};
            }
            break;
        case config::Coexist::Multiprog:
            if (in.kernel.freplace.supported != Support::Yes) {
                d.error("XB4011",
                        "coexist: multiprog needs the libxdp dispatcher, which this kernel cannot load (freplace: " +
                            support_word(in.kernel.freplace.supported) +
                            (in.kernel.freplace_error.empty() ? "" : ", " + in.kernel.freplace_error) + ")",
                        "use coexist: replace, or remove the other program and use coexist: refuse",
                        where("coexist"), key_path("coexist"));
                ok = false;
            } else if (foreign && !foreign->libxdp_dispatcher) {
                d.error("XB4018", foreign_desc + "; it is not the libxdp dispatcher, so multiprog cannot join it",
                        "load the other program through libxdp, or use coexist: replace", where("coexist"),
                        key_path("coexist"));
                ok = false;
            } else {
                p.multiprog = true;
            }
            break;
    }

    if (ic.datapath == config::Datapath::Offload) {
        bool fallback = ic.on_unsupported == config::OnUnsupported::Fallback;
        Diagnostic diag{"XB4016", fallback ? Severity::Warning : Severity::Error, where("datapath"),
                        key_path("datapath"),
                        "hardware-offloaded XDP cannot run the bypass programs (offload supports no cpumap, "
                        "devmap or per-CPU maps)",
                        fallback ? "falling back to the fastest host datapath" : "use datapath: auto (or xdp-mode: driver)"};
        d.add(diag);
        if (!fallback) return;
    }

    // Try each datapath in speed order.
    bool cpu = ic.cpu_redirect.enabled();
    bool ips = !ic.ips_peer.empty();
    Subject subject{ic, *dev, peer, p.cpus};
    std::vector<std::string> warnings;
    if (in.engine_capture && ic.bypass && ic.datapath == config::Datapath::Tc && !want_xsk) {
        d.error("XB4050",
                "datapath tc on " + name + " with an engine capturing through the plugin: packet sockets receive a "
                "frame before tc ingress runs, so the engine would still receive every flow the tc program bypasses",
                "use datapath: auto or xdp-generic (generic XDP runs on every device), or bypass: no",
                where("datapath"), key_path("datapath"));
        return;
    }
    // The Suricata mode: Suricata captures with AF_PACKET, so the same holds for it (and with
    // copy-mode ips both the tc program and Suricata would forward a bypassed flow to the peer).
    if (ic.suricata_maps && ic.datapath == config::Datapath::Tc) {
        d.error("XB4051",
                "datapath tc on " + name + " in the Suricata mode: Suricata captures with AF_PACKET, whose sockets "
                "receive a frame before tc ingress runs, so Suricata would still receive every flow the tc program "
                "bypasses (and with copy-mode ips forward it to the peer a second time)",
                "use datapath: auto or xdp-generic (generic XDP runs on every device, before packet sockets)",
                where("datapath"), key_path("datapath"));
        return;
    }
    const ProgramRequirements* chosen_req = nullptr;
    // With capture af-xdp only the XDP datapaths can work (datapath tc was refused above), and each is
    // judged with the xsk variant's requirements. Otherwise the datapath is chosen as without capture,
    // and AF_XDP is used on it when it can be (below): the fastest datapath first, then AF_XDP on it.
    bool untested = false;  // native XDP with unknown features (why_not)
    std::vector<Datapath> tried = candidates(ic.datapath, ic.on_unsupported);
    const bool tc_possible = std::find(tried.begin(), tried.end(), Datapath::Tc) != tried.end();
    if (want_xsk) tried.erase(std::remove(tried.begin(), tried.end(), Datapath::Tc), tried.end());
    for (Datapath dp : tried) {
        Considered c{dp, false, {}};
        Hook hook = dp == Datapath::Tc ? Hook::Tc : Hook::Xdp;
        const ProgramRequirements* req = select_program(in, ic, hook, cpu, ips, want_xsk);
        if (!req) {
            if (want_xsk)
                c.why_not.push_back("no built-in program redirects misses into AF_XDP sockets for this combination");
            else if (p.custom)
                c.why_not.push_back("the custom program has no " + std::string(hook == Hook::Tc ? "tc" : "XDP") +
                                    " program");
            else if (hook == Hook::Tc && cpu)
                c.why_not.push_back("cpu-redirect needs XDP (tc programs cannot redirect to a CPU)");
            else
                c.why_not.push_back("no built-in program for this combination");
        } else {
            // Not with multiprog: libxdp loads and attaches in one step, in one mode.
            c.why_not = why_not(in, subject, dp, *req, &warnings, p.multiprog ? nullptr : &untested);
        }
        if (dp != Datapath::Tc && xdp_blocked) c.why_not.push_back(foreign_desc);
        // Packet sockets get their copy of a frame before tc ingress runs: an engine capturing with
        // AF_PACKET would still receive every flow the tc program bypasses.
        if (dp == Datapath::Tc && in.engine_capture && ic.bypass)
            c.why_not.push_back("an engine capturing through the plugin receives packets before tc ingress runs, so "
                                "a flow bypassed at tc would still reach it (generic XDP runs on every device)");
        else if (dp == Datapath::Tc && ic.suricata_maps)
            c.why_not.push_back("Suricata's AF_PACKET sockets receive packets before tc ingress runs, so a flow "
                                "bypassed at tc would still reach Suricata (generic XDP runs on every device)");
        // libxdp swaps dispatchers with XDP_FLAGS_REPLACE, which cannot change the mode.
        if (dp != Datapath::Tc && p.multiprog && foreign &&
            foreign->mode != (dp == Datapath::XdpNative ? probe::XdpAttachMode::Native : probe::XdpAttachMode::Generic))
            c.why_not.push_back("the libxdp dispatcher on " + name + " runs in " +
                                std::string(probe::xdp_attach_mode_name(foreign->mode)) +
                                " mode, and multiprog can join it only in that mode");
        bool usable = c.why_not.empty();
        if (!usable || dp != Datapath::XdpNative) untested = false;
        c.chosen = usable;
        p.considered.push_back(c);
        if (usable) {
            p.datapath = dp;
            chosen_req = req;
            break;
        }
    }
    if (untested) {
        p.native_untested = true;
        // The fallback is generic XDP with the same program, when the configuration allows it and
        // nothing rules generic out.
        bool generic_allowed = std::find(tried.begin(), tried.end(), Datapath::XdpGeneric) != tried.end();
        p.generic_if_refused = generic_allowed && why_not(in, subject, Datapath::XdpGeneric, *chosen_req, nullptr).empty();
        std::string drv = dev->driver ? " (driver " + *dev->driver + ")" : "";
        std::string base = "the XDP features of " + name + drv +
                           " are unknown (netdev family unavailable, Linux before 6.3) and the program needs only "
                           "basic XDP: native XDP is tried, ";
        if (p.generic_if_refused) {
            p.notes.push_back(base + "and generic XDP is attached if the driver refuses it");
        } else {
            p.notes.push_back(base + "and if the driver refuses it the start fails");
        }
        if (ic.datapath == config::Datapath::XdpNative)
            d.warning("XB4048",
                      "datapath xdp-native on " + name + ": its XDP features are unknown on this kernel (before 6.3); "
                      "native XDP is attempted and " +
                          std::string(p.generic_if_refused ? "generic XDP is used if the driver refuses it"
                                                           : "the start fails if the driver refuses it"),
                      "use datapath: auto to let xbypass fall back to generic XDP, or xdp-generic to skip the attempt",
                      where("datapath"), key_path("datapath"));
    }

    for (const auto& w : warnings) p.notes.push_back(w);

    if (xdp_blocked && ic.datapath != config::Datapath::Tc) {
        d.error("XB4010", foreign_desc + ", and coexist is refuse",
                "remove it (`xdp-loader unload` / `ip link set dev " + name +
                    " xdp off`), set coexist: replace, or use datapath: tc to run after it",
                where("coexist"), key_path("coexist"));
        return;
    }
    if (xdp_blocked)
        d.warning("XB4017", foreign_desc + "; it sees every packet before the tc bypass does",
                  "remove it if it should not filter what the IDS sees", ic.origin.location, ic.origin.key_path);

    if (!chosen_req) {
        std::string all;
        for (const auto& c : p.considered) {
            if (!all.empty()) all += "; ";
            all += std::string(datapath_name(c.datapath)) + ": " + join(c.why_not, ", ");
        }
        if (want_xsk && tc_possible) {
            d.error("XB4040",
                    "capture af-xdp needs an XDP datapath, and none can work on " + name + " (" + all +
                        "); only tc could",
                    "use capture: af-packet (or auto) to capture with AF_PACKET, or remove what the device cannot do",
                    where("capture"), key_path("capture"));
            return;
        }
        bool pinned = ic.datapath != config::Datapath::Auto;
        std::string code = p.custom ? "XB4014" : pinned ? "XB4002" : "XB4004";
        std::string what = p.custom ? "custom program " + ic.custom_program + " cannot run on " + name
                           : pinned ? "datapath " + std::string(config::datapath_name(ic.datapath)) +
                                          " cannot work on " + name
                                    : "no datapath can work on " + name;
        std::string hint = pinned && ic.on_unsupported == config::OnUnsupported::Reject
                               ? "use datapath: auto, or on-unsupported: fallback to accept a slower datapath"
                               : "remove what the device cannot do (cpu-redirect, ips-peer) or use another interface";
        d.error(code, what + " (" + all + ")", hint, where(p.custom ? "custom-program" : "datapath"),
                key_path(p.custom ? "custom-program" : "datapath"));
        return;
    }

    p.program = chosen_req->program;
    if (p.datapath == Datapath::Tc) {
        p.replace.reset();  // others' XDP programs are left alone
        p.multiprog = false;
        // xbypass's own place on clsact ingress: a filter there that is not a leftover of ours (same
        // program name, which the run holding the interface lock takes over) makes the attach fail.
        for (const auto& f : dev->tc_filters) {
            if (f.direction != probe::TcDirection::Ingress || f.priority != kTcPriority || f.handle != kTcHandle) continue;
            const std::string ours = p.program.substr(0, kKernelProgNameMax);
            if (f.kind == "bpf" && (p.custom || f.prog_name == ours)) continue;
            std::string what = f.kind == "bpf" ? "bpf program '" + f.prog_name + "' (id " + std::to_string(f.prog_id) + ")"
                                               : std::string(f.kind) + " filter";
            d.error("XB4019",
                    "a tc filter of another tool, " + what + ", holds xbypass's place on " + name +
                        " ingress (priority " + std::to_string(kTcPriority) + ", handle " + hex(kTcHandle) + ")",
                    "remove it (`tc filter del dev " + name + " ingress pref " + std::to_string(kTcPriority) +
                        " handle " + hex(kTcHandle) + " " + f.kind + "`) or use an XDP datapath",
                    where("datapath"), key_path("datapath"));
            return;
        }
    }
    if (in.engine_capture) {
        if (want_xsk) {
            p.capture = af_xdp_plan(ic, *dev, p.datapath, p.notes);
        } else if (ic.capture.method == config::CaptureMethod::AfPacket) {
            p.capture = af_packet_plan(in, ic, *dev, {});
        } else {
            // auto: AF_XDP on the chosen datapath when everything it needs is there.
            std::vector<std::string> why;
            auto add = [&](std::string r) {
                if (std::find(why.begin(), why.end(), r) == why.end()) why.push_back(std::move(r));
            };
            const ProgramRequirements* xsk = nullptr;
            if (p.datapath == Datapath::Tc) {
                add("the bypass runs in tc, and AF_XDP sockets receive only what an XDP program redirects to them");
            } else {
                if (cpu) add("cpu-redirect sends the misses to CPUs, and a miss can go to one place only");
                if (p.custom) add("the custom program does not redirect misses into xbypass's AF_XDP sockets");
                if (p.multiprog)
                    add("coexist: multiprog: the libxdp dispatcher runs the next program only after XDP_PASS");
                if (std::string m = xskmap_missing(in.kernel); !m.empty()) add(m);
                if (!cpu && !p.custom) {
                    xsk = select_program(in, ic, Hook::Xdp, false, ips, true);
                    if (!xsk)
                        add("no built-in program redirects misses into AF_XDP sockets for this combination");
                    else
                        for (auto& r : why_not(in, subject, p.datapath, *xsk, nullptr)) add(std::move(r));
                }
                uint32_t queues = std::max<uint32_t>(dev->rx_queues, 1);
                if (ic.threads != config::kThreadsAuto && ic.threads != queues)
                    add("threads is " + std::to_string(ic.threads) + " and " + name + " has " + queues_text(*dev) +
                        ": AF_XDP needs one socket per queue");
            }
            if (why.empty() && xsk) {
                p.program = xsk->program;
                p.capture = af_xdp_plan(ic, *dev, p.datapath, p.notes);
            } else {
                p.capture = af_packet_plan(in, ic, *dev, std::move(why));
            }
        }
    } else {
        p.capture.requested = ic.capture.method;
    }
    if (p.replace)
        d.warning("XB4012", "coexist: replace: " + foreign_desc + " and will be replaced",
                  "it is put back if xbypass cannot attach; after that, restore it yourself when xbypass stops",
                  where("coexist"), key_path("coexist"));
    if (ic.datapath != config::Datapath::Auto && ic.datapath != config::Datapath::Offload &&
        p.considered.size() > 1) {
        p.downgraded = true;
        const auto& first = p.considered.front();
        d.warning("XB4003",
                  "datapath " + std::string(config::datapath_name(ic.datapath)) + " cannot work on " + name + " (" +
                      join(first.why_not, ", ") + "); falling back to " + std::string(datapath_name(p.datapath)),
                  "fix the cause, or set datapath to " + std::string(datapath_name(p.datapath)) +
                      " to make the choice explicit",
                  where("datapath"), key_path("datapath"));
    }
    // Measured on veth: a local sender leaves checksums partial (offload), and frames redirected to
    // a cpumap from native XDP reach the stack as CHECKSUM_NONE and are dropped by UDP/TCP.
    if (p.datapath == Datapath::XdpNative && cpu && dev->kind == "veth")
        d.warning("XB4032",
                  "cpu-redirect in native XDP on veth " + name +
                      ": packets the peer's stack sends with checksum offload arrive with partial checksums and "
                      "are dropped by the receiving stack (counted in UDP/TCP InCsumErrors)",
                  "turn checksum offload off on the sending side (`ethtool -K PEER tx off`), or use datapath: "
                  "xdp-generic on this interface",
                  where("cpu-redirect"), key_path("cpu-redirect"));
    if (chosen_req->custom && !chosen_req->undetermined.empty())
        d.warning("XB4015",
                  "some requirements of custom program " + ic.custom_program + " could not be determined: " +
                      join(chosen_req->undetermined, "; "),
                  "check that the device supports what the program does", where("custom-program"),
                  key_path("custom-program"));
    if (ok) out.interfaces.push_back(std::move(p));
}

}  // namespace

Plan make_plan(const PlanInput& in) {
    Plan plan;
    for (const auto& ic : in.config.interfaces) plan_interface(in, ic, plan);
    return plan;
}

// --- rendering -----------------------------------------------------------------------------------

std::string plan_to_text(const Plan& plan, const PlanInput& in) {
    std::string out;
    for (const auto& p : plan.interfaces) {
        const probe::InterfaceCaps* dev = caps_of(in, p.interface);
        out += "interface " + p.interface + " (ifindex " + std::to_string(p.ifindex);
        if (dev) {
            if (dev->driver) out += ", driver " + *dev->driver;
            out += ", mtu " + std::to_string(dev->mtu) + ", " + std::string(probe::oper_state_name(dev->oper_state));
        }
        out += ")\n";
        if (dev) {
            out += "  xdp-features: " + features_text(*dev) + "\n";
            std::string attached;
            for (const auto& a : dev->xdp) attached += (attached.empty() ? "" : ", ") + describe(a);
            for (const auto& f : dev->tc_filters) {
                attached += std::string(attached.empty() ? "" : ", ") + "tc " +
                            std::string(probe::tc_direction_name(f.direction)) + " " + f.kind;
                if (f.kind == "bpf") attached += " '" + f.prog_name + "' (id " + std::to_string(f.prog_id) + ")";
                attached += " pref " + std::to_string(f.priority) + " handle " + hex(f.handle);
            }
            out += "  attached now: " + (attached.empty() ? std::string("none") : attached) + "\n";
        }
        out += "  requested: " + std::string(config::datapath_name(p.requested)) + "\n";
        out += "  chosen: " + std::string(datapath_name(p.datapath));
        if (!p.program.empty()) out += ", program " + p.program;
        if (!p.cpus.empty()) out += ", cpu-redirect " + cpu_list_text(p.cpus);
        if (!p.ips_peer.empty()) out += ", ips-peer " + p.ips_peer;
        if (p.downgraded) out += " (downgraded)";
        if (p.native_untested)
            out += p.generic_if_refused ? " (try-then-generic: features unknown)" : " (untested: features unknown)";
        if (p.replace) out += ", replacing program id " + std::to_string(p.replace->prog_id);
        if (p.multiprog) out += ", through the libxdp dispatcher";
        out += "\n";
        for (const auto& c : p.considered) {
            out += "    " + std::string(datapath_name(c.datapath)) + ": ";
            out += c.chosen ? "chosen" : "not possible: " + join(c.why_not, "; ");
            out += "\n";
        }
        if (in.engine_capture) {
            const CapturePlan& c = p.capture;
            out += "  capture: " + std::string(capture_name(c.method)) + " (requested " +
                   std::string(config::capture_method_name(c.requested)) + "), " + std::to_string(c.threads) +
                   " thread" + (c.threads == 1 ? "" : "s");
            std::string q = c.rx_queues ? std::to_string(c.rx_queues) : std::string("unknown");
            if (c.method == Capture::AfXdp) {
                out += " on queue" + std::string(c.threads == 1 ? " 0" : "s 0-" + std::to_string(c.threads - 1)) +
                       " (receive queues: " + q + "), " + (c.zerocopy ? "zero-copy" : "copy mode") + ", rings of " +
                       std::to_string(c.ring_size) + " frames, " +
                       (p.ips_peer.empty() ? "block-timeout " + std::to_string(c.block_timeout_ms) + " ms"
                                           : std::string("no batching (ips)"));
            } else {
                out += " (receive queues: " + q + "), fanout group " + std::to_string(c.cluster_id) + " " +
                       c.cluster_type + ", rings of " + std::to_string(c.ring_size) + " frames in blocks of " +
                       std::to_string(c.block_size) + " bytes, block-timeout " + std::to_string(c.block_timeout_ms) +
                       " ms";
            }
            out += "\n";
            if (!c.why_not_af_xdp.empty()) out += "    af-xdp: not possible: " + join(c.why_not_af_xdp, "; ") + "\n";
        }
        if (p.pinned_maps) out += "  pinned maps: " + p.pin_dir + "\n";
        if (p.suricata_maps)
            out += "  suricata mode: Suricata's bypass maps pinned at " + p.pin_dir + "/suricata-" + p.interface +
                   "-flow_table_v4 and _v6; bypassing while the Suricata holding them is alive\n";
        for (const auto& n : p.notes) out += "  note: " + n + "\n";
    }
    return out;
}

std::string plan_to_json(const Plan& plan, const PlanInput& in) {
    JsonWriter w;
    w.begin_object().field("accepted", plan.accepted()).key("interfaces").begin_array();
    for (const auto& p : plan.interfaces) {
        const probe::InterfaceCaps* dev = caps_of(in, p.interface);
        w.begin_object().field("interface", p.interface).field("ifindex", p.ifindex);
        if (dev && dev->xdp_features) w.field("xdp_features", *dev->xdp_features);
        else w.key("xdp_features").null();
        w.field("requested", config::datapath_name(p.requested)).field("datapath", datapath_name(p.datapath));
        w.field("program", p.program).field("custom", p.custom).field("downgraded", p.downgraded);
        w.key("cpus").begin_array();
        for (unsigned c : p.cpus) w.value(c);
        w.end_array();
        if (!p.ips_peer.empty()) w.field("ips_peer", p.ips_peer);
        if (p.pinned_maps) w.field("pin_dir", p.pin_dir);
        if (p.replace) {
            w.key("replace").begin_object().field("prog_id", p.replace->prog_id).field("prog_name", p.replace->prog_name);
            w.field("mode", probe::xdp_attach_mode_name(p.replace->mode)).end_object();
        }
        w.field("multiprog", p.multiprog);
        w.field("native_untested", p.native_untested).field("generic_if_refused", p.generic_if_refused);
        if (in.engine_capture) {
            const CapturePlan& c = p.capture;
            w.key("capture").begin_object().field("method", capture_name(c.method));
            w.field("requested", config::capture_method_name(c.requested)).field("threads", c.threads);
            w.field("rx_queues", c.rx_queues).field("zerocopy", c.zerocopy).field("ring_size", c.ring_size);
            w.field("block_size", c.block_size).field("block_timeout_ms", c.block_timeout_ms);
            w.field("cluster_id", static_cast<uint32_t>(c.cluster_id));
            w.field("cluster_type", c.cluster_type);
            w.key("why_not_af_xdp").begin_array();
            for (const auto& r : c.why_not_af_xdp) w.value(r);
            w.end_array().end_object();
        }
        w.key("considered").begin_array();
        for (const auto& c : p.considered) {
            w.begin_object().field("datapath", datapath_name(c.datapath)).field("chosen", c.chosen);
            w.key("why_not").begin_array();
            for (const auto& r : c.why_not) w.value(r);
            w.end_array().end_object();
        }
        w.end_array();
        w.key("notes").begin_array();
        for (const auto& n : p.notes) w.value(n);
        w.end_array().end_object();
    }
    w.end_array();
    w.key("diagnostics").raw(plan.diagnostics.to_json());
    w.end_object();
    return w.str();
}

}  // namespace xb::plan
