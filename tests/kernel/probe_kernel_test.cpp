// probe against the real kernel, in namespaces made by the harness. Every XDP feature the probe
// reports is checked against a second, independent netdev query written here with raw netlink
// (no libmnl), and every attached program against the id the test itself got from the kernel.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>

#include "common/netdev_uapi.h"
#include "common/owners.h"
#include "harness/sandbox.h"
#include "harness/trivial_prog.h"
#include "probe/probe.h"
#include "probe/render.h"

namespace xb::probe {
namespace {

using test::Sandbox;
using test::run_command;

// --- an independent netdev query: raw AF_NETLINK, hand-built messages ------------------------------

struct RawNl {
    int fd = -1;
    uint32_t seq = 1;
    RawNl() { fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC); }
    ~RawNl() {
        if (fd >= 0) ::close(fd);
    }
    // Sends and returns the first reply message (type != NLMSG_ERROR) or nothing.
    std::optional<std::vector<char>> ask(std::vector<char> msg) {
        auto* h = reinterpret_cast<nlmsghdr*>(msg.data());
        h->nlmsg_len = static_cast<uint32_t>(msg.size());
        h->nlmsg_seq = ++seq;
        if (::send(fd, msg.data(), msg.size(), 0) < 0) return std::nullopt;
        std::vector<char> buf(16384);
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < static_cast<ssize_t>(sizeof(nlmsghdr))) return std::nullopt;
        auto* r = reinterpret_cast<nlmsghdr*>(buf.data());
        if (r->nlmsg_type == NLMSG_ERROR) return std::nullopt;
        buf.resize(r->nlmsg_len);
        return buf;
    }
};

void put_attr(std::vector<char>& m, uint16_t type, const void* data, size_t len) {
    nlattr a{static_cast<uint16_t>(NLA_HDRLEN + len), type};
    size_t at = m.size();
    m.resize(at + NLA_ALIGN(NLA_HDRLEN + len), 0);
    std::memcpy(m.data() + at, &a, sizeof a);
    std::memcpy(m.data() + at + NLA_HDRLEN, data, len);
}

std::vector<char> genl_msg(uint16_t type, uint8_t cmd, uint8_t version) {
    std::vector<char> m(NLMSG_HDRLEN + GENL_HDRLEN, 0);
    auto* h = reinterpret_cast<nlmsghdr*>(m.data());
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST;
    auto* g = reinterpret_cast<genlmsghdr*>(m.data() + NLMSG_HDRLEN);
    g->cmd = cmd;
    g->version = version;
    return m;
}

// Attribute payload of `type` in a genetlink reply.
std::optional<std::vector<char>> find_attr(const std::vector<char>& reply, uint16_t type) {
    size_t off = NLMSG_HDRLEN + GENL_HDRLEN;
    while (off + NLA_HDRLEN <= reply.size()) {
        nlattr a;
        std::memcpy(&a, reply.data() + off, sizeof a);
        if (a.nla_len < NLA_HDRLEN || off + a.nla_len > reply.size()) break;
        if ((a.nla_type & NLA_TYPE_MASK) == type)
            return std::vector<char>(reply.begin() + off + NLA_HDRLEN, reply.begin() + off + a.nla_len);
        off += NLA_ALIGN(a.nla_len);
    }
    return std::nullopt;
}

// The generic-netlink id of the netdev family, asked without any code of src/probe; none before 6.3.
std::optional<uint16_t> netdev_family_id() {
    RawNl nl;
    if (nl.fd < 0) return std::nullopt;
    auto fam = genl_msg(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
    put_attr(fam, CTRL_ATTR_FAMILY_NAME, "netdev", 7);
    auto r = nl.ask(fam);
    if (!r) return std::nullopt;
    auto id = find_attr(*r, CTRL_ATTR_FAMILY_ID);
    if (!id || id->size() < 2) return std::nullopt;
    uint16_t family;
    std::memcpy(&family, id->data(), 2);
    return family;
}

// xdp-features of ifindex in the calling thread's namespace, asked without any code of src/probe.
std::optional<uint64_t> independent_xdp_features(int ifindex) {
    RawNl nl;
    if (nl.fd < 0) return std::nullopt;
    auto fid = netdev_family_id();
    if (!fid) return std::nullopt;
    uint16_t family = *fid;
    auto get = genl_msg(family, 1 /* NETDEV_CMD_DEV_GET */, 1);
    uint32_t idx = static_cast<uint32_t>(ifindex);
    put_attr(get, 1 /* NETDEV_A_DEV_IFINDEX */, &idx, 4);
    auto d = nl.ask(get);
    if (!d) return std::nullopt;
    auto f = find_attr(*d, 3 /* NETDEV_A_DEV_XDP_FEATURES */);
    if (!f || f->size() != 8) return std::nullopt;
    uint64_t v;
    std::memcpy(&v, f->data(), 8);
    return v;
}

// --- the kernel these tests run on ------------------------------------------------------------------
// The expectations follow it: this host (6.18, netdev family, lockdown) and Debian 12's 6.1 in the
// VM (tests/vm/debian12-kernel.sh: no netdev family, so every XDP feature is unknown; no tcx).

bool kernel_at_least(int major, int minor) {
    utsname u{};
    if (uname(&u) != 0) return false;
    int ma = 0, mi = 0;
    if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
    return ma > major || (ma == major && mi >= minor);
}

// The netdev family answers (Linux >= 6.3): XDP features are known.
bool features_known() {
    static const bool known = netdev_family_id().has_value();
    return known;
}

// The kernel's lockdown mode ("none", "integrity", "confidentiality"), read independently; securityfs
// is mounted when it is not (the VM's initramfs does not).
std::optional<std::string> lockdown_mode() {
    const char* path = "/sys/kernel/security/lockdown";
    std::ifstream f(path);
    if (!f) {
        (void)::mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr);
        f.open(path);
    }
    std::string text;
    if (!f || !std::getline(f, text)) return std::nullopt;
    auto open = text.find('['), close = text.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
    return text.substr(open + 1, close - open - 1);
}

// Before 6.3 a probe says "unknown" with XB2002, never "none".
void expect_unknown_features(const InterfaceCaps& c, const std::optional<uint64_t>& independent) {
    EXPECT_FALSE(c.xdp_features.has_value()) << c.name;
    EXPECT_FALSE(independent.has_value()) << c.name;
    EXPECT_EQ(c.has_xdp_feature(netdev::XDP_ACT_BASIC), Support::Unknown) << c.name;
    bool noted = false;
    for (const auto& d : c.notes) noted |= d.code == "XB2002";
    EXPECT_TRUE(noted) << c.name << ": unknown features must be said (XB2002)";
}

TEST(ProbeKernelVersion, TheNetdevFamilyExistsFrom63) {
    XB_REQUIRE_KERNEL();
    EXPECT_EQ(features_known(), kernel_at_least(6, 3));
}

// --- helpers -----------------------------------------------------------------------------------------

// r0 = code; exit
UniqueFd load_prog(bpf_prog_type type, const char* name, int code) {
    const bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, code},
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    return UniqueFd(bpf_prog_load(type, name, "GPL", insns, 2, nullptr));
}

uint32_t prog_id(int fd) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

uint32_t link_id(int fd) {
    bpf_link_info info{};
    uint32_t len = sizeof info;
    return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

struct Probed1 {
    InterfaceCaps caps;
    std::optional<uint64_t> independent;
};

// Probes dev inside ns, and asks the independent query in the same place.
Probed1 probe_in(Sandbox& sb, const std::string& ns, const std::string& dev) {
    Probed1 out;
    sb.run_in(ns, [&] {
        auto r = probe_interface(dev);
        if (!r) throw std::runtime_error("probe_interface(" + dev + "): " + r.error().message);
        out.caps = std::move(r).value();
        out.independent = independent_xdp_features(out.caps.ifindex);
    });
    return out;
}

// ifindex of dev in ns, asked with if_nametoindex inside the namespace.
int ifindex_in(Sandbox& sb, const std::string& ns, const std::string& dev) {
    int idx = 0;
    sb.run_in(ns, [&] { idx = static_cast<int>(::if_nametoindex(dev.c_str())); });
    if (idx == 0) throw std::runtime_error("no " + dev + " in " + ns);
    return idx;
}

std::string cli() { return std::string(XB_BUILDDIR) + "/xbypass"; }

// --- XDP features per device type ----------------------------------------------------------------------

TEST(ProbeFeatures, VethBasicRedirectRxSgThenNdoXmitWithGroAtThePeer) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string a = sb.add_netns("pa"), b = sb.add_netns("pb");
    sb.add_veth(a, "veth0", b, "veth1");
    sb.link_up(a, "veth0");
    sb.link_up(b, "veth1");
    sb.exec_in(b, "ethtool -K veth1 gro off");

    auto before = probe_in(sb, a, "veth0");
    EXPECT_EQ(before.caps.kind, "veth");
    EXPECT_EQ(before.caps.driver, "veth");
    if (!features_known()) {
        expect_unknown_features(before.caps, before.independent);
        return;
    }
    ASSERT_TRUE(before.caps.xdp_features.has_value());
    ASSERT_TRUE(before.independent.has_value());
    EXPECT_EQ(*before.caps.xdp_features, *before.independent);
    EXPECT_EQ(xdp_feature_names(*before.caps.xdp_features), (std::vector<std::string>{"basic", "redirect", "rx-sg"}));
    EXPECT_EQ(before.caps.has_xdp_feature(netdev::XDP_ACT_NDO_XMIT), Support::No);
    EXPECT_EQ(before.caps.kind, "veth");
    EXPECT_EQ(before.caps.driver, "veth");

    sb.exec_in(b, "ethtool -K veth1 gro on");
    auto after = probe_in(sb, a, "veth0");
    auto peer = probe_in(sb, b, "veth1");
    ASSERT_TRUE(after.caps.xdp_features.has_value());
    EXPECT_EQ(after.caps.xdp_features, after.independent);
    EXPECT_EQ(after.caps.has_xdp_feature(netdev::XDP_ACT_NDO_XMIT), Support::Yes);
    EXPECT_EQ(after.caps.has_xdp_feature(netdev::XDP_ACT_BASIC), Support::Yes);
    EXPECT_EQ(after.caps.has_xdp_feature(netdev::XDP_ACT_REDIRECT), Support::Yes);
    EXPECT_EQ(peer.caps.gro, std::optional<bool>(true));
    // GRO as ethtool itself reports it.
    std::string k = sb.exec_in(b, "ethtool -k veth1");
    EXPECT_NE(k.find("generic-receive-offload: on"), std::string::npos) << k;
}

TEST(ProbeFeatures, TapBasicRedirectNdoXmit) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("tap");
    sb.add_tap(ns, "tap0");
    auto p = probe_in(sb, ns, "tap0");
    EXPECT_EQ(p.caps.driver, "tun");
    if (!features_known()) {
        expect_unknown_features(p.caps, p.independent);
        return;
    }
    ASSERT_TRUE(p.caps.xdp_features.has_value());
    EXPECT_EQ(p.caps.xdp_features, p.independent);
    EXPECT_EQ(xdp_feature_names(*p.caps.xdp_features),
              (std::vector<std::string>{"basic", "redirect", "ndo-xmit"}));
    EXPECT_EQ(p.caps.driver, "tun");
}

TEST(ProbeFeatures, TunVxlanIfbLoReportNone) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("none");
    sb.add_tun(ns, "tun0");
    sb.add_vxlan(ns, "vx0", 77);
    sb.add_ifb(ns, "ifb0");
    for (const char* dev : {"tun0", "vx0", "ifb0", "lo"}) {
        auto p = probe_in(sb, ns, dev);
        EXPECT_TRUE(p.caps.exists);
        if (!features_known()) {
            expect_unknown_features(p.caps, p.independent);
            continue;
        }
        // Known and zero: the kernel answered "nothing but generic", which is not "unknown".
        ASSERT_TRUE(p.caps.xdp_features.has_value()) << dev;
        EXPECT_EQ(*p.caps.xdp_features, 0u) << dev;
        EXPECT_EQ(p.caps.xdp_features, p.independent) << dev;
        EXPECT_TRUE(p.caps.exists);
        EXPECT_TRUE(p.caps.notes.empty()) << dev << ": " << p.caps.notes.front().to_text();
    }
}

TEST(ProbeFeatures, KernelWithoutTheNetdevFamilyGivesUnknownNotNone) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("old");
    sb.add_tap(ns, "tap0");
    ProbeOptions pre63;
    pre63.netdev_family = "xbt-nofamily";  // what a kernel before 6.3 answers for "netdev"
    sb.run_in(ns, [&] {
        auto r = probe_interface("tap0", pre63);
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_FALSE(r->xdp_features.has_value());
        EXPECT_EQ(r->has_xdp_feature(netdev::XDP_ACT_BASIC), Support::Unknown);
        ASSERT_EQ(r->notes.size(), 1u);
        EXPECT_EQ(r->notes.front().code, "XB2002");
        EXPECT_EQ(r->notes.front().severity, Severity::Warning);
        EXPECT_NE(r->notes.front().message.find("xbt-nofamily"), std::string::npos) << r->notes.front().message;
        std::string j = interface_to_json(*r);
        EXPECT_NE(j.find(R"("xdp_features":null)"), std::string::npos) << j;
        // Everything else is still probed.
        EXPECT_EQ(r->driver, "tun");
        EXPECT_GT(r->mtu, 0u);
        // And the real family, in the same place, knows the features from 6.3 on; before, it is
        // missing just the same.
        auto real = probe_interface("tap0");
        ASSERT_TRUE(real.ok());
        EXPECT_EQ(real->xdp_features.has_value(), features_known());
        EXPECT_EQ(real->notes.empty(), features_known());
    });
}

// --- link attributes ---------------------------------------------------------------------------------

TEST(ProbeLink, QueuesMtuStateAndVethPeerAcrossNamespaces) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string a = sb.add_netns("la"), b = sb.add_netns("lb");
    sb.exec_in(a, "ip link add q0 numtxqueues 3 numrxqueues 4 type veth peer name q1 numtxqueues 4 "
                  "numrxqueues 3 && ip link set q1 netns /run/netns/" + b + " && ip link set q0 mtu 1400");
    sb.add_veth(a, "s0", a, "s1");
    auto down = probe_in(sb, a, "q0");
    EXPECT_EQ(down.caps.rx_queues, 4u);
    EXPECT_EQ(down.caps.tx_queues, 3u);
    EXPECT_EQ(down.caps.mtu, 1400u);
    EXPECT_EQ(down.caps.oper_state, OperState::Down);
    ASSERT_TRUE(down.caps.veth_peer.has_value());
    EXPECT_EQ(down.caps.veth_peer->ifindex, ifindex_in(sb, b, "q1"));
    EXPECT_TRUE(down.caps.veth_peer->netnsid.has_value());
    EXPECT_EQ(down.caps.veth_peer->name, "q1");

    sb.link_up(a, "q0");
    sb.link_up(b, "q1");
    auto up = probe_in(sb, a, "q0");
    EXPECT_EQ(up.caps.oper_state, OperState::Up);
    // ip's own view of the same device.
    std::string ipout = sb.exec_in(a, "ip -o link show dev q0");
    EXPECT_NE(ipout.find("mtu 1400"), std::string::npos) << ipout;
    EXPECT_NE(ipout.find("state UP"), std::string::npos) << ipout;

    auto same = probe_in(sb, a, "s0");
    ASSERT_TRUE(same.caps.veth_peer.has_value());
    EXPECT_FALSE(same.caps.veth_peer->netnsid.has_value());
    EXPECT_EQ(same.caps.veth_peer->name, "s1");
    EXPECT_EQ(same.caps.veth_peer->ifindex, ifindex_in(sb, a, "s1"));

    auto lo = probe_in(sb, a, "lo");
    EXPECT_FALSE(lo.caps.veth_peer.has_value());
    EXPECT_EQ(lo.caps.ifindex, 1);
}

TEST(ProbeLink, AllInterfacesOfTheNamespaceInIfindexOrder) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("all");
    sb.add_ifb(ns, "ifbx");
    sb.add_tap(ns, "tapx");
    sb.exec_in(ns, "tc qdisc add dev ifbx clsact && tc qdisc add dev tapx ingress");
    std::vector<InterfaceCaps> all;
    sb.run_in(ns, [&] {
        auto r = probe_all_interfaces();
        ASSERT_TRUE(r.ok()) << r.error().message;
        all = std::move(r).value();
    });
    std::vector<std::string> names;
    for (const auto& c : all) names.push_back(c.name);
    ASSERT_EQ(names, (std::vector<std::string>{"lo", "ifbx", "tapx"}));
    // One qdisc dump serves every interface; the legacy ingress qdisc (same parent) is not clsact.
    EXPECT_EQ(all[0].clsact, Support::No);
    EXPECT_EQ(all[1].clsact, Support::Yes);
    EXPECT_EQ(all[2].clsact, Support::No);
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end(),
                               [](const InterfaceCaps& x, const InterfaceCaps& y) { return x.ifindex < y.ifindex; }));
}

TEST(ProbeLink, MissingInterfaceIsEnodevAndTheCliSaysXB2001) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("miss");
    sb.run_in(ns, [&] {
        auto r = probe_interface("nope0");
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, ENODEV);
        EXPECT_FALSE(probe_interface("").ok());
        EXPECT_FALSE(probe_interface("a-name-longer-than-ifnamsiz").ok());
    });
    auto out = run_command(cli() + " probe --netns " + ns + " --no-kernel lo nope0");
    EXPECT_EQ(out.status, 1) << out.output;
    EXPECT_NE(out.output.find("error[XB2001]: interface 'nope0' does not exist"), std::string::npos) << out.output;
    EXPECT_NE(out.output.find("lo "), std::string::npos) << out.output;  // the existing one is still shown
    auto json = run_command(cli() + " probe --netns " + ns + " --no-kernel --json nope0 2>/dev/null");
    EXPECT_EQ(json.status, 1);
    EXPECT_NE(json.output.find(R"("errors":[{"code":"XB2001")"), std::string::npos) << json.output;
    auto badns = run_command(cli() + " probe --netns xbt-no-such-namespace-" + std::to_string(::getpid()));
    EXPECT_EQ(badns.status, 2);
    EXPECT_NE(badns.output.find("XB2011"), std::string::npos) << badns.output;
}

TEST(ProbeLink, CliJsonCarriesBitmaskAndNames) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string a = sb.add_netns("ja"), b = sb.add_netns("jb");
    sb.add_veth(a, "veth0", b, "veth1");
    sb.link_up(a, "veth0");
    sb.link_up(b, "veth1");
    sb.exec_in(b, "ethtool -K veth1 gro off");
    auto out = run_command(cli() + " probe --netns " + a + " --json veth0");
    ASSERT_EQ(out.status, 0) << out.output;
    std::optional<uint64_t> independent;
    sb.run_in(a, [&] { independent = independent_xdp_features(ifindex_in(sb, a, "veth0")); });
    ASSERT_EQ(independent.has_value(), features_known());
    std::string want = independent ? R"("xdp_features":)" + std::to_string(*independent) + R"(,"xdp_features_names":[)"
                                   : std::string(R"("xdp_features":null)");
    EXPECT_NE(out.output.find(want), std::string::npos) << out.output;
    EXPECT_NE(out.output.find(R"("kernel":{"release":)"), std::string::npos);
    EXPECT_NE(out.output.find(R"("name":"veth0")"), std::string::npos);
    EXPECT_NE(out.output.find(R"("veth_peer":{"ifindex":)"), std::string::npos);
    auto text = run_command(cli() + " probe --netns " + a + " veth0");
    EXPECT_EQ(text.status, 0) << text.output;
    EXPECT_NE(text.output.find(features_known() ? "basic,redirect,rx-sg" : "XDP features of veth0 are unknown"),
              std::string::npos) << text.output;
}

// --- what is attached --------------------------------------------------------------------------------

TEST(ProbeAttached, XdpGenericAndNativeByNetlinkAndNativeByLink) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string a = sb.add_netns("xa"), b = sb.add_netns("xb");
    sb.add_veth(a, "gen0", b, "gen1");
    sb.add_veth(a, "nat0", b, "nat1");
    sb.add_veth(a, "lnk0", b, "lnk1");
    UniqueFd gen = load_prog(BPF_PROG_TYPE_XDP, "xbt_generic", 2);
    UniqueFd nat = load_prog(BPF_PROG_TYPE_XDP, "xbt_native", 2);
    UniqueFd lnk = load_prog(BPF_PROG_TYPE_XDP, "xbt_linked", 2);
    ASSERT_TRUE(gen && nat && lnk) << std::strerror(errno);
    UniqueFd link;
    sb.run_in(a, [&] {
        ASSERT_EQ(bpf_xdp_attach(ifindex_in(sb, a, "gen0"), gen.get(), XDP_FLAGS_SKB_MODE, nullptr), 0);
        ASSERT_EQ(bpf_xdp_attach(ifindex_in(sb, a, "nat0"), nat.get(), XDP_FLAGS_DRV_MODE, nullptr), 0);
        bpf_link_create_opts opts{};
        opts.sz = sizeof opts;
        opts.flags = XDP_FLAGS_DRV_MODE;
        link.reset(bpf_link_create(lnk.get(), ifindex_in(sb, a, "lnk0"), BPF_XDP, &opts));
        ASSERT_TRUE(link.valid()) << std::strerror(errno);
    });

    struct Want {
        const char* dev;
        XdpAttachMode mode;
        int fd;
        const char* name;
        AttachedVia via;
    } wants[] = {{"gen0", XdpAttachMode::Generic, gen.get(), "xbt_generic", AttachedVia::Netlink},
                 {"nat0", XdpAttachMode::Native, nat.get(), "xbt_native", AttachedVia::Netlink},
                 {"lnk0", XdpAttachMode::Native, lnk.get(), "xbt_linked", AttachedVia::BpfLink}};
    for (const auto& w : wants) {
        auto p = probe_in(sb, a, w.dev);
        ASSERT_EQ(p.caps.xdp.size(), 1u) << w.dev;
        const AttachedXdp& x = p.caps.xdp.front();
        EXPECT_EQ(x.mode, w.mode) << w.dev;
        EXPECT_EQ(x.prog_id, prog_id(w.fd)) << w.dev;
        EXPECT_EQ(x.prog_name, w.name) << w.dev;
        EXPECT_EQ(x.via, w.via) << w.dev;
        EXPECT_FALSE(x.libxdp_dispatcher);
        if (w.via == AttachedVia::BpfLink) EXPECT_EQ(x.link_id, link_id(link.get()));
        else EXPECT_EQ(x.link_id, 0u);
        // iproute2's independent view of the same attachment.
        std::string ip = sb.exec_in(a, std::string("ip -d link show dev ") + w.dev);
        std::string mode_word = w.mode == XdpAttachMode::Generic ? " xdpgeneric " : " xdp ";
        EXPECT_NE(ip.find(mode_word), std::string::npos) << ip;
        EXPECT_NE(ip.find("prog/xdp id " + std::to_string(x.prog_id) + " name " + w.name), std::string::npos) << ip;
    }
    // Nothing attached: nothing reported.
    auto bare = probe_in(sb, b, "gen1");
    EXPECT_TRUE(bare.caps.xdp.empty());
    EXPECT_EQ(bare.caps.clsact, Support::No);
    EXPECT_TRUE(bare.caps.tc_filters.empty());
    // A native program on the peer also gives veth ndo-xmit (veth_set_xdp_features).
    auto nat1 = probe_in(sb, b, "nat1");
    EXPECT_EQ(nat1.caps.has_xdp_feature(netdev::XDP_ACT_NDO_XMIT), features_known() ? Support::Yes : Support::Unknown);
    EXPECT_EQ(nat1.caps.xdp_features, nat1.independent);
}

TEST(ProbeAttached, TcFiltersOnClsactIngressAndEgress) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("tc");
    sb.add_ifb(ns, "tcdev");
    UniqueFd in = load_prog(BPF_PROG_TYPE_SCHED_CLS, "xbt_tc_in", 0);
    UniqueFd out = load_prog(BPF_PROG_TYPE_SCHED_CLS, "xbt_tc_out", 0);
    ASSERT_TRUE(in && out) << std::strerror(errno);
    sb.run_in(ns, [&] {
        const int ifindex = ifindex_in(sb, ns, "tcdev");
        ASSERT_EQ(test::attach_tc_filter(ifindex, in.get(), 7, 11), 0);  // creates clsact
        ASSERT_EQ(test::attach_tc_filter(ifindex, out.get(), 9, 13, /*egress=*/true), 0);
    });
    // A non-BPF filter on the same hook is listed too, without program fields. (u32, because this
    // kernel has no tc actions for matchall/basic; u32 lists its hash table and its key.) The test
    // VM's initramfs carries cls_bpf alone (scripts/vm-kernel.sh): there only the BPF filters are.
    auto u32 = sb.try_exec_in(ns, "tc filter add dev tcdev ingress pref 20 protocol ip u32 match u32 0 0");
    const bool have_u32 = u32.status == 0;
    if (!have_u32) {
        EXPECT_NE(u32.output.find("classifier not found"), std::string::npos) << u32.output;
        std::printf("note: no cls_u32 in this kernel (%s): only the BPF filters are checked\n", u32.output.c_str());
    }

    auto p = probe_in(sb, ns, "tcdev");
    EXPECT_EQ(p.caps.clsact, Support::Yes);
    const TcFilter* fin = nullptr;
    const TcFilter* fout = nullptr;
    const TcFilter* fmatch = nullptr;
    size_t bpf_filters = 0;
    for (const auto& f : p.caps.tc_filters) {
        if (f.kind == "bpf") ++bpf_filters;
        if (f.kind == "bpf" && f.direction == TcDirection::Ingress) fin = &f;
        if (f.kind == "bpf" && f.direction == TcDirection::Egress) fout = &f;
        if (f.kind == "u32") fmatch = &f;
    }
    EXPECT_EQ(bpf_filters, 2u) << interfaces_to_text({p.caps});
    ASSERT_TRUE(fin && fout) << interfaces_to_text({p.caps});
    ASSERT_EQ(fmatch != nullptr, have_u32) << interfaces_to_text({p.caps});
    EXPECT_EQ(fin->prog_id, prog_id(in.get()));
    EXPECT_EQ(fin->prog_name, "xbt_tc_in");
    EXPECT_EQ(fin->handle, 7u);
    EXPECT_EQ(fin->priority, 11);
    EXPECT_TRUE(fin->direct_action);
    EXPECT_FALSE(fin->tc_name.empty());
    EXPECT_EQ(fout->prog_id, prog_id(out.get()));
    EXPECT_EQ(fout->prog_name, "xbt_tc_out");
    EXPECT_EQ(fout->handle, 9u);
    EXPECT_EQ(fout->priority, 13);
    if (fmatch) {
        EXPECT_EQ(fmatch->direction, TcDirection::Ingress);
        EXPECT_EQ(fmatch->priority, 20);
        EXPECT_EQ(fmatch->protocol, 0x0800);
        EXPECT_EQ(fmatch->prog_id, 0u);
    }
    // tc's own view lists the same program ids.
    std::string tcin = sb.exec_in(ns, "tc filter show dev tcdev ingress");
    EXPECT_NE(tcin.find("id " + std::to_string(fin->prog_id)), std::string::npos) << tcin;
    std::string tcout = sb.exec_in(ns, "tc filter show dev tcdev egress");
    EXPECT_NE(tcout.find("id " + std::to_string(fout->prog_id)), std::string::npos) << tcout;
}

TEST(ProbeAttached, TcxLinkIsReportedAndIsNotAClsactFilter) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("tcx");
    sb.add_ifb(ns, "tcxdev");
    sb.add_ifb(ns, "other");
    UniqueFd prog = load_prog(BPF_PROG_TYPE_SCHED_CLS, "xbt_tcx_eg", 0);
    ASSERT_TRUE(prog) << std::strerror(errno);
    UniqueFd link;
    sb.run_in(ns, [&] {
        bpf_link_create_opts opts{};
        opts.sz = sizeof opts;
        link.reset(bpf_link_create(prog.get(), static_cast<int>(::if_nametoindex("tcxdev")),
                                   static_cast<bpf_attach_type>(47 /* BPF_TCX_EGRESS */), &opts));
    });
    if (!kernel_at_least(6, 6)) {
        // No tcx before 6.6: the attach type is unknown to the kernel, and the probe says "no".
        EXPECT_FALSE(link.valid());
        auto old = probe_in(sb, ns, "tcxdev");
        EXPECT_EQ(old.caps.tcx, Support::No);
        EXPECT_TRUE(old.caps.tcx_programs.empty());
        return;
    }
    ASSERT_TRUE(link.valid()) << std::strerror(errno);
    auto p = probe_in(sb, ns, "tcxdev");
    EXPECT_EQ(p.caps.tcx, Support::Yes);
    ASSERT_EQ(p.caps.tcx_programs.size(), 1u);
    EXPECT_EQ(p.caps.tcx_programs[0].direction, TcDirection::Egress);
    EXPECT_EQ(p.caps.tcx_programs[0].prog_id, prog_id(prog.get()));
    EXPECT_EQ(p.caps.tcx_programs[0].prog_name, "xbt_tcx_eg");
    EXPECT_EQ(p.caps.tcx_programs[0].link_id, link_id(link.get()));
    EXPECT_EQ(p.caps.clsact, Support::No);
    EXPECT_TRUE(p.caps.tc_filters.empty());
    auto q = probe_in(sb, ns, "other");
    EXPECT_EQ(q.caps.tcx, Support::Yes);
    EXPECT_TRUE(q.caps.tcx_programs.empty());
}

// --- the kernel ----------------------------------------------------------------------------------------

TEST(ProbeKernel, CpumapAndXdpAvailableFreplaceAsLockdownAllows) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;  // mounts bpffs and tracefs where missing
    std::optional<std::string> lockdown = lockdown_mode();  // first: it may mount securityfs
    KernelCaps k = probe_kernel();
    ASSERT_NE(k.prog_type("xdp"), nullptr);
    EXPECT_EQ(k.prog_type("xdp")->supported, Support::Yes);
    ASSERT_NE(k.map_type("cpumap"), nullptr);
    EXPECT_EQ(k.map_type("cpumap")->supported, Support::Yes);
    for (const char* m : {"hash", "percpu_hash", "lru_hash", "lru_percpu_hash", "cpumap", "devmap", "devmap_hash",
                          "xskmap", "percpu_array"})
        EXPECT_NE(k.map_type(m), nullptr) << m;
    for (const char* t : {"xdp", "sched_cls", "tracepoint"}) EXPECT_NE(k.prog_type(t), nullptr) << t;
    EXPECT_EQ(k.helper("xdp", "bpf_redirect_map"), Support::Yes);
    // Independently: a cpumap can be created right now.
    UniqueFd cpumap(bpf_map_create(BPF_MAP_TYPE_CPUMAP, "xbt_cpumap", 4, 4, 2, nullptr));
    EXPECT_TRUE(cpumap.valid()) << std::strerror(errno);

    // This host runs under lockdown, which refuses freplace; the VM's Debian kernel boots without it
    // and loads it. Refused, the probe says so with the errno (XB2020).
    bool noted = false;
    for (const auto& d : k.notes) noted |= d.code == "XB2020";
    if (lockdown && *lockdown != "none") {
        EXPECT_EQ(k.freplace.supported, Support::No) << "lockdown " << *lockdown << ": " << k.freplace_error;
    } else if (lockdown) {
        EXPECT_EQ(k.freplace.supported, Support::Yes) << "no lockdown: " << k.freplace_error;
    }
    if (k.freplace.supported == Support::No) {
        EXPECT_NE(k.freplace.error, 0);
        EXPECT_NE(k.freplace_error.find("errno " + std::to_string(k.freplace.error)), std::string::npos);
        EXPECT_TRUE(noted);
    } else {
        EXPECT_EQ(k.freplace.supported, Support::Yes) << k.freplace_error;
        EXPECT_FALSE(noted);
    }
    EXPECT_EQ(k.lockdown, lockdown);

    EXPECT_EQ(k.xdp_link.supported, Support::Yes);
    EXPECT_EQ(k.vmlinux_btf, Support::Yes);
    EXPECT_TRUE(k.bpffs.has_value());
    EXPECT_TRUE(k.tracefs.has_value());
    EXPECT_EQ(k.online_cpus.size(), static_cast<size_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
    EXPECT_FALSE(k.release.empty());
}

// --- cost ----------------------------------------------------------------------------------------------

TEST(ProbeCost, OneInterfaceIsCheapEnoughForEveryStart) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string a = sb.add_netns("ca"), b = sb.add_netns("cb");
    sb.add_veth(a, "veth0", b, "veth1");
    UniqueFd prog = load_prog(BPF_PROG_TYPE_XDP, "xbt_cost", 2);
    std::vector<double> us;
    sb.run_in(a, [&] {
        ASSERT_EQ(bpf_xdp_attach(ifindex_in(sb, a, "veth0"), prog.get(), XDP_FLAGS_SKB_MODE, nullptr), 0);
        for (int i = 0; i < 100; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            auto r = probe_interface("veth0");
            auto t1 = std::chrono::steady_clock::now();
            ASSERT_TRUE(r.ok());
            ASSERT_EQ(r->xdp.size(), 1u);
            us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
    });
    ASSERT_EQ(us.size(), 100u);
    std::sort(us.begin(), us.end());
    double median = us[50], p90 = us[90];
    auto t0 = std::chrono::steady_clock::now();
    KernelCaps k = probe_kernel();
    double kernel_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("probe cost: probe_interface(veth with XDP attached) median %.0f us, p90 %.0f us over 100 runs; "
                "probe_kernel %.1f ms\n",
                median, p90, kernel_ms);
    RecordProperty("probe_interface_median_us", static_cast<int>(median));
    RecordProperty("probe_kernel_ms", static_cast<int>(kernel_ms));
    // "Cheap enough to run at every start": well under a millisecond-scale budget per interface,
    // with a wide margin for sanitizer builds and a busy 2-core machine.
    EXPECT_LT(median, 20000.0);
}

}  // namespace
}  // namespace xb::probe
