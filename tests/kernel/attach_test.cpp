// Attach, verify, detach and roll back against the real kernel, in namespaces made by the harness.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/netns.h"
#include "datapath/attach.h"
#include "datapath/attachment_set.h"
#include "harness/sandbox.h"
#include "harness/trivial_prog.h"

namespace xb::datapath {
namespace {

using test::Sandbox;

int ifindex_here(const char* dev) { return static_cast<int>(if_nametoindex(dev)); }

XdpState state_of(const char* dev) {
    auto st = query_xdp(ifindex_here(dev));
    EXPECT_TRUE(st) << (st ? "" : st.error().message);
    return st ? *st : XdpState{};
}

// A namespace with a veth pair (v0 here, v1 in a peer namespace) and an ifb, all up.
struct Net {
    Sandbox sb;
    std::string ns, peer;
    Net() {
        ns = sb.add_netns("att");
        peer = sb.add_netns("peer");
        sb.add_veth(ns, "v0", peer, "v1");
        sb.add_ifb(ns, "ifb0");
        sb.link_up(ns, "v0");
        sb.link_up(peer, "v1");
        sb.link_up(ns, "ifb0");
    }
};

TEST(XdpAttach, NativeLinkOnVethVerifiesAndDetaches) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        auto prog = test::load_trivial_xdp("xb_test_ours");
        {
            auto a = XdpAttachment::attach(ifindex_here("v0"), prog.get(), XdpMode::Native);
            ASSERT_TRUE(a) << a.error().message;
            EXPECT_EQ(a->method(), AttachMethod::BpfLink);
            EXPECT_TRUE(a->verify()) << a->verify().error().message;
            EXPECT_EQ(state_of("v0").native_prog_id, a->prog_id());
            EXPECT_EQ(state_of("v0").generic_prog_id, 0u);
        }
        EXPECT_FALSE(state_of("v0").any()) << "destroying the attachment must detach";
    });
}

TEST(XdpAttach, GenericWorksOnIfbNativeIsRefusedWithCause) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        auto prog = test::load_trivial_xdp("xb_test_ours");
        auto native = XdpAttachment::attach(ifindex_here("ifb0"), prog.get(), XdpMode::Native);
        ASSERT_FALSE(native);
        EXPECT_EQ(native.error().code, EOPNOTSUPP) << native.error().message;
        EXPECT_NE(native.error().message.find("does not support XDP in native mode"), std::string::npos)
            << native.error().message;
        EXPECT_FALSE(state_of("ifb0").any());
        auto generic = XdpAttachment::attach(ifindex_here("ifb0"), prog.get(), XdpMode::Generic);
        ASSERT_TRUE(generic) << generic.error().message;
        EXPECT_TRUE(generic->verify());
        EXPECT_EQ(state_of("ifb0").generic_prog_id, generic->prog_id());
    });
}

TEST(XdpAttach, ForeignNetlinkProgramIsNeverOverwritten) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        auto foreign = test::load_trivial_xdp("other_tool");
        ASSERT_EQ(bpf_xdp_attach(ifindex_here("v0"), foreign.get(), XDP_FLAGS_DRV_MODE, nullptr), 0);
        uint32_t foreign_id = state_of("v0").native_prog_id;
        ASSERT_NE(foreign_id, 0u);
        auto ours = test::load_trivial_xdp("xb_test_ours");
        for (XdpMode m : {XdpMode::Native, XdpMode::Generic}) {
            auto a = XdpAttachment::attach(ifindex_here("v0"), ours.get(), m);
            ASSERT_FALSE(a) << "attached over a foreign program in " << xdp_mode_name(m) << " mode";
            EXPECT_NE(a.error().message.find("another XDP program"), std::string::npos) << a.error().message;
            EXPECT_EQ(state_of("v0").native_prog_id, foreign_id);
        }
        (void)bpf_xdp_detach(ifindex_here("v0"), XDP_FLAGS_DRV_MODE, nullptr);
    });
}

TEST(XdpAttach, ReplaceRemovesTheNamedNetlinkProgramOnly) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        auto foreign = test::load_trivial_xdp("other_tool");
        ASSERT_EQ(bpf_xdp_attach(ifindex_here("v0"), foreign.get(), XDP_FLAGS_DRV_MODE, nullptr), 0);
        ReplaceTarget target{state_of("v0").native_prog_id, XdpMode::Native, 0};
        auto ours = test::load_trivial_xdp("xb_test_ours");
        {
            auto a = XdpAttachment::attach(ifindex_here("v0"), ours.get(), XdpMode::Native, &target);
            ASSERT_TRUE(a) << a.error().message;
            EXPECT_TRUE(a->verify());
            EXPECT_EQ(state_of("v0").native_prog_id, a->prog_id());
        }
        EXPECT_FALSE(state_of("v0").any());
    });
}

TEST(XdpAttach, ReplaceWithStaleTargetChangesNothing) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        auto foreign = test::load_trivial_xdp("other_tool");
        ASSERT_EQ(bpf_xdp_attach(ifindex_here("v0"), foreign.get(), XDP_FLAGS_DRV_MODE, nullptr), 0);
        uint32_t foreign_id = state_of("v0").native_prog_id;
        // The probe saw another program (still loaded, but no longer attached here).
        auto elsewhere = test::load_trivial_xdp("probed_earlier");
        auto elsewhere_id = prog_id_of(elsewhere.get());
        ASSERT_TRUE(elsewhere_id);
        ReplaceTarget stale{*elsewhere_id, XdpMode::Native, 0};
        auto ours = test::load_trivial_xdp("xb_test_ours");
        auto a = XdpAttachment::attach(ifindex_here("v0"), ours.get(), XdpMode::Native, &stale);
        EXPECT_FALSE(a);
        EXPECT_EQ(state_of("v0").native_prog_id, foreign_id) << "the running program must survive";
        (void)bpf_xdp_detach(ifindex_here("v0"), XDP_FLAGS_DRV_MODE, nullptr);
    });
}

TEST(XdpAttach, ReplaceForeignLink) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        auto foreign = test::load_trivial_xdp("other_tool");
        bpf_link_create_opts lo{};
        lo.sz = sizeof lo;
        lo.flags = XDP_FLAGS_DRV_MODE;
        UniqueFd foreign_link(bpf_link_create(foreign.get(), ifindex_here("v0"), BPF_XDP, &lo));
        ASSERT_TRUE(foreign_link);
        bpf_link_info li{};
        uint32_t len = sizeof li;
        ASSERT_EQ(bpf_obj_get_info_by_fd(foreign_link.get(), &li, &len), 0);
        ReplaceTarget target{state_of("v0").native_prog_id, XdpMode::Native, li.id};
        auto ours = test::load_trivial_xdp("xb_test_ours");
        auto a = XdpAttachment::attach(ifindex_here("v0"), ours.get(), XdpMode::Native, &target);
        ASSERT_TRUE(a) << a.error().message;
        EXPECT_TRUE(a->verify());
    });
}

TEST(XdpAttach, ReplacedProgramIsPutBackWhenOursCannotAttach) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        // A generic program on ifb; ours asks for native, which ifb cannot do.
        auto foreign = test::load_trivial_xdp("other_tool");
        ASSERT_EQ(bpf_xdp_attach(ifindex_here("ifb0"), foreign.get(), XDP_FLAGS_SKB_MODE, nullptr), 0);
        uint32_t foreign_id = state_of("ifb0").generic_prog_id;
        ReplaceTarget target{foreign_id, XdpMode::Generic, 0};
        auto ours = test::load_trivial_xdp("xb_test_ours");
        auto a = XdpAttachment::attach(ifindex_here("ifb0"), ours.get(), XdpMode::Native, &target);
        ASSERT_FALSE(a);
        EXPECT_EQ(state_of("ifb0").generic_prog_id, foreign_id) << "what was running must be put back";
        (void)bpf_xdp_detach(ifindex_here("ifb0"), XDP_FLAGS_SKB_MODE, nullptr);
    });
}

TEST(XdpAttach, SigkillOfTheOwnerDetaches) {
    XB_REQUIRE_KERNEL();
    Net net;
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(ready[0]);
        auto guard = ScopedNetns::enter_named(net.ns);
        if (!guard) _exit(3);
        int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xb_killed", "GPL",
                               (const bpf_insn[]){{BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 2},
                                                  {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}},
                               2, nullptr);
        if (fd < 0) _exit(4);
        auto a = XdpAttachment::attach(static_cast<int>(if_nametoindex("v0")), fd, XdpMode::Native);
        if (!a) _exit(5);
        (void)!write(ready[1], "r", 1);
        for (;;) pause();
    }
    close(ready[1]);
    char c = 0;
    ASSERT_EQ(read(ready[0], &c, 1), 1) << "child failed to attach";
    close(ready[0]);
    net.sb.run_in(net.ns, [&] { EXPECT_NE(state_of("v0").native_prog_id, 0u); });
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    // Link release is asynchronous after the last fd closes; poll briefly.
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
        net.sb.run_in(net.ns, [&] { gone = !state_of("v0").any(); });
        if (!gone) usleep(10000);
    }
    EXPECT_TRUE(gone) << "an XDP program stayed attached after SIGKILL";
}

size_t filters_on(const char* dev) {
    auto n = count_clsact_filters(ifindex_here(dev));
    EXPECT_TRUE(n) << (n ? "" : n.error().message);
    return n ? *n : 0;
}

TEST(TcAttach, OthersFiltersAndQdiscSurviveAttachAndDetach) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        // Another tool's clsact and filter.
        auto foreign = test::load_trivial_tc("other_tc");
        ASSERT_EQ(test::attach_tc_filter(ifindex_here("v0"), foreign.get(), 1, 1), 0);
        EXPECT_EQ(filters_on("v0"), 1u);

        auto ours = test::load_trivial_tc("xb_test_tc");
        {
            auto a = TcAttachment::attach(ifindex_here("v0"), ours.get(), TcDirection::Ingress);
            ASSERT_TRUE(a) << a.error().message;
            EXPECT_FALSE(a->created_clsact());
            EXPECT_TRUE(a->verify()) << a->verify().error().message;
            EXPECT_EQ(filters_on("v0"), 2u);
            // Not an XDP attach.
            EXPECT_FALSE(state_of("v0").any());
        }
        EXPECT_EQ(filters_on("v0"), 1u) << "the other tool's filter must survive our detach";
        EXPECT_NE(test::tc_filter_prog_id(ifindex_here("v0"), 1, 1), 0u) << "the other tool's filter or qdisc is gone";
    });
}

bool has_clsact(Sandbox& sb, const std::string& ns, const char* dev) {
    return sb.exec_in(ns, std::string("tc qdisc show dev ") + dev).find("clsact") != std::string::npos;
}

TEST(TcAttach, ClsactWeCreatedIsRemovedOnlyWhenNobodyElseUsesIt) {
    XB_REQUIRE_KERNEL();
    Net net;
    auto ours = test::load_trivial_tc("xb_test_tc");
    net.sb.run_in(net.ns, [&] {
        auto a = TcAttachment::attach(ifindex_here("v0"), ours.get(), TcDirection::Ingress);
        ASSERT_TRUE(a) << a.error().message;
        EXPECT_TRUE(a->created_clsact());
        EXPECT_TRUE(a->detach());
    });
    EXPECT_FALSE(has_clsact(net.sb, net.ns, "v0")) << "we created clsact and nobody else used it";

    // Someone adds a filter on our clsact while we run: the qdisc stays.
    auto foreign = test::load_trivial_tc("other_tc");
    net.sb.run_in(net.ns, [&] {
        auto a = TcAttachment::attach(ifindex_here("v0"), ours.get(), TcDirection::Ingress);
        ASSERT_TRUE(a) << a.error().message;
        ASSERT_EQ(test::attach_tc_filter(ifindex_here("v0"), foreign.get(), 7, 7, /*egress=*/true), 0);
        EXPECT_TRUE(a->detach());
        EXPECT_EQ(filters_on("v0"), 1u);
    });
    EXPECT_TRUE(has_clsact(net.sb, net.ns, "v0"));
}

// A killed run leaves its filter (no tcx link): the next run may take it over, but only a filter of
// a program with the same name as its own; another tool's filter at our handle is never touched.
TEST(TcAttach, LeftoverOfTheSameProgramIsReplacedAnyOtherIsRefused) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        const int ifindex = ifindex_here("v0");
        auto earlier = test::load_trivial_tc("xb_test_tc");
        ASSERT_EQ(test::attach_tc_filter(ifindex, earlier.get(), kTcHandle, kTcPriority), 0);
        auto earlier_id = prog_id_of(earlier.get());
        ASSERT_TRUE(earlier_id);
        auto ours = test::load_trivial_tc("xb_test_tc");
        auto ours_id = prog_id_of(ours.get());
        ASSERT_TRUE(ours_id);

        auto refused = TcAttachment::attach(ifindex, ours.get(), TcDirection::Ingress);
        ASSERT_FALSE(refused) << "without TcLeftover::ReplaceSameName nothing is taken over";
        EXPECT_EQ(test::tc_filter_prog_id(ifindex, kTcHandle, kTcPriority), *earlier_id);

        auto other = test::load_trivial_tc("other_tool");
        auto other_fd_refused = TcAttachment::attach(ifindex, other.get(), TcDirection::Ingress, kTcHandle, kTcPriority,
                                                     TcLeftover::ReplaceSameName);
        ASSERT_FALSE(other_fd_refused) << "a program of another name must not replace the filter";
        EXPECT_EQ(test::tc_filter_prog_id(ifindex, kTcHandle, kTcPriority), *earlier_id);

        {
            auto a = TcAttachment::attach(ifindex, ours.get(), TcDirection::Ingress, kTcHandle, kTcPriority,
                                          TcLeftover::ReplaceSameName);
            ASSERT_TRUE(a) << a.error().message;
            EXPECT_EQ(a->replaced_prog_id(), *earlier_id);
            EXPECT_EQ(test::tc_filter_prog_id(ifindex, kTcHandle, kTcPriority), *ours_id);
            EXPECT_TRUE(a->created_clsact()) << "alone on clsact, the leftover's qdisc is ours to remove";
            EXPECT_TRUE(a->verify());
        }
        EXPECT_EQ(filters_on("v0"), 0u);
    });
    EXPECT_FALSE(has_clsact(net.sb, net.ns, "v0")) << "the leftover's clsact must go with our filter";
}

TEST(AttachmentSet, FailureOnSecondInterfaceRollsBackTheFirst) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        auto prog = test::load_trivial_xdp("xb_test_ours");
        auto tc_prog = test::load_trivial_tc("xb_test_tc");
        {
            AttachmentSet set;
            auto first = XdpAttachment::attach(ifindex_here("v0"), prog.get(), XdpMode::Native);
            ASSERT_TRUE(first) << first.error().message;
            set.add(std::move(*first));
            auto tc = TcAttachment::attach(ifindex_here("v0"), tc_prog.get(), TcDirection::Ingress);
            ASSERT_TRUE(tc) << tc.error().message;
            set.add(std::move(*tc));
            EXPECT_TRUE(set.verify_all());
            EXPECT_NE(state_of("v0").native_prog_id, 0u);
            auto second = XdpAttachment::attach(ifindex_here("ifb0"), prog.get(), XdpMode::Native);
            ASSERT_FALSE(second) << "ifb has no native XDP";
            set.rollback();
        }
        EXPECT_FALSE(state_of("v0").any());
        EXPECT_EQ(filters_on("v0"), 0u);
    });
    EXPECT_FALSE(has_clsact(net.sb, net.ns, "v0"));
}

TEST(AttachmentSet, MovedFromAttachmentDoesNotDetach) {
    XB_REQUIRE_KERNEL();
    Net net;
    net.sb.run_in(net.ns, [&] {
        auto prog = test::load_trivial_xdp("xb_test_ours");
        AttachmentSet set;
        {
            auto a = XdpAttachment::attach(ifindex_here("v0"), prog.get(), XdpMode::Generic);
            ASSERT_TRUE(a);
            set.add(std::move(*a));
        }  // the moved-from Result dies here
        EXPECT_NE(state_of("v0").generic_prog_id, 0u);
        EXPECT_TRUE(set.verify_all());
    });
}

}  // namespace
}  // namespace xb::datapath
