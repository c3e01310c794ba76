// coexist: multiprog against a real kernel that loads freplace programs, so libxdp's dispatcher
// works. This machine's kernel refuses them (lockdown), so `make check` runs this binary inside a
// virtual machine with Debian's own kernel (tests/vm/dispatcher.sh); on a kernel without freplace
// every test here fails rather than skips. Another tool is played by the test: it puts the empty
// XDP program into the dispatcher through libxdp, as xdp-loader would.
#include <bpf/libbpf.h>
#include <net/if.h>
#include <signal.h>
#include <sys/wait.h>
#include <xdp/libxdp.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include "datapath/dispatcher.h"
#include "datapath/program.h"
#include "harness/run_helpers.h"
#include "harness/sandbox.h"
#include "harness/trivial_prog.h"
#include "session/session.h"
#include "probe/probe.h"
#include "xb_empty.skel.h"

namespace xb::test {
namespace {

using datapath::DispatcherState;
using datapath::XdpMode;

int ifindex_of(const std::string& dev) { return static_cast<int>(if_nametoindex(dev.c_str())); }

DispatcherState dispatcher(const std::string& dev) {
    auto st = datapath::query_dispatcher(ifindex_of(dev));
    EXPECT_TRUE(st) << st.error().message;
    return st ? *st : DispatcherState{};
}

std::vector<std::string> component_names(const DispatcherState& st) {
    std::vector<std::string> names;
    for (const auto& c : st.components) names.push_back(c.name);
    return names;
}

// Another tool's program in the dispatcher, loaded through libxdp with libxdp's default priority.
// Leaves the dispatcher on destruction (libxdp pins components: nothing else would remove it).
class OtherTool {
public:
    OtherTool(const std::string& dev, XdpMode mode) : ifindex_(ifindex_of(dev)) {
        skel_ = xb_empty__open();
        if (!skel_) throw std::runtime_error("cannot open the empty program");
        bpf_program__set_autoload(skel_->progs.tc_empty, false);
        DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = skel_->obj, .prog_name = "xdp_empty");
        prog_ = xdp_program__create(&opts);
        if (libxdp_get_error(prog_)) throw std::runtime_error("libxdp cannot take xdp_empty");
        int err = xdp_program__attach(prog_, ifindex_, mode == XdpMode::Native ? XDP_MODE_NATIVE : XDP_MODE_SKB, 0);
        if (err) throw std::runtime_error("the other tool cannot attach: " + std::string(strerror(-err)));
        id_ = xdp_program__id(prog_);
    }
    ~OtherTool() {
        if (xdp_program__is_attached(prog_, ifindex_) != XDP_MODE_UNSPEC) xdp_program__detach(prog_, ifindex_, XDP_MODE_UNSPEC, 0);
        xdp_program__close(prog_);
        xb_empty__destroy(skel_);
    }
    uint32_t id() const { return id_; }

private:
    int ifindex_;
    xb_empty* skel_ = nullptr;
    xdp_program* prog_ = nullptr;
    uint32_t id_ = 0;
};

// No dispatcher pins of this interface are left under bpffs.
bool no_pins_for(int ifindex) {
    std::string prefix = "dispatch-" + std::to_string(ifindex) + "-";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/sys/fs/bpf/xdp", ec))
        if (e.path().filename().string().rfind(prefix, 0) == 0) return false;
    return true;
}

const char* kMultiprog = "      coexist: multiprog\n";
// The other tool runs in generic mode: before Linux 6.3 (the VM runs Debian 12's 6.1) the driver's
// XDP features are unknown, so auto never picks native there, and multiprog joins in the
// dispatcher's mode.
constexpr XdpMode kToolMode = XdpMode::Generic;

// Starts a run of one_interface("v0", coexist: multiprog) in the calling thread's namespace.
std::unique_ptr<session::Session> start_multiprog_on_v0() {
    auto a = session::assess(load_config(one_interface("v0", kMultiprog)));
    EXPECT_TRUE(a.accepted()) << a.diagnostics.to_text();
    Diagnostics d;
    auto s = session::Session::start(a, d);
    EXPECT_TRUE(s) << d.to_text();
    return s;
}

TEST(DispatcherKernel, FreplaceLoadsHere) {
    auto k = probe::probe_kernel();
    ASSERT_EQ(k.freplace.supported, probe::Support::Yes)
        << "this test binary needs a kernel that loads freplace programs (run it through tests/vm/dispatcher.sh): "
        << k.freplace_error;
}

TEST(Dispatcher, AloneItCreatesTheDispatcherAndRemovesItWhenItStops) {
    Sandbox sb;
    std::string ns = sb.add_veth_netns("alone");
    sb.run_in(ns, [&] {
        auto a = session::assess(load_config(one_interface("v0", kMultiprog)));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        ASSERT_TRUE(a.plan.interfaces[0].multiprog);
        Diagnostics d;
        auto s = session::Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        auto st = dispatcher("v0");
        EXPECT_NE(st.dispatcher_id, 0u) << "libxdp attached without its dispatcher";
        EXPECT_EQ(st.mode, a.plan.interfaces[0].datapath == plan::Datapath::XdpNative ? XdpMode::Native : XdpMode::Generic);
        ASSERT_EQ(component_names(st), std::vector<std::string>{"xdp_ids"});
        EXPECT_EQ(st.components[0].run_priority, datapath::kDispatcherRunPriority);
        // The program fd the flow table and counters go through is still ours after libxdp's load.
        auto id = datapath::prog_id_of(s->interfaces()[0].program->prog_fd());
        ASSERT_TRUE(id);
        EXPECT_EQ(*id, st.components[0].prog_id);
        EXPECT_TRUE(s->verify());
        s.reset();
        EXPECT_FALSE(xdp_state("v0").any()) << "the dispatcher stayed after its last program left";
        EXPECT_TRUE(no_pins_for(ifindex_of("v0")));
    });
}

size_t open_fds() {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n += e.is_symlink() ? 1 : 0;
    return n;
}

// A run verifies every stats interval, for weeks: that must not cost file descriptors. (libxdp's
// own views of a dispatcher leak one program fd each in libxdp 1.3.1; attach and detach, once per
// run, still go through them.)
// A custom program (Suricata's xdp-filter-file) goes into the dispatcher the same way.
TEST(Dispatcher, ACustomProgramJoinsAndLeaves) {
    Sandbox sb;
    std::string ns = sb.add_veth_netns("custom");
    std::string object = std::string(XB_BUILDDIR) + "/tests/data/config/bpf/xdp_pass.bpf.o";
    sb.run_in(ns, [&] {
        OtherTool tool("v0", kToolMode);
        auto a = session::assess(load_config(one_interface("v0", std::string(kMultiprog) + "      custom-program: " + object + "\n")));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        ASSERT_TRUE(a.plan.interfaces[0].multiprog);
        Diagnostics d;
        auto s = session::Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        EXPECT_EQ(component_names(dispatcher("v0")), (std::vector<std::string>{"xdp_empty", "xdp_pass_all"}));
        EXPECT_TRUE(s->verify());
        s.reset();
        EXPECT_EQ(component_names(dispatcher("v0")), std::vector<std::string>{"xdp_empty"});
    });
}

TEST(Dispatcher, VerifyingLeaksNoFileDescriptors) {
    Sandbox sb;
    std::string ns = sb.add_veth_netns("fds");
    sb.run_in(ns, [&] {
        OtherTool tool("v0", kToolMode);
        auto s = start_multiprog_on_v0();
        ASSERT_TRUE(s);
        ASSERT_TRUE(s->verify());
        size_t before = open_fds();
        for (int i = 0; i < 200; ++i) ASSERT_TRUE(s->verify());
        EXPECT_EQ(open_fds(), before);
    });
}

TEST(Dispatcher, JoinsAnotherToolsDispatcherDropsTheBypassedFlowAndLeavesTheOtherRunning) {
    UdpPair net;
    std::unique_ptr<OtherTool> tool;
    net.sb.run_in(net.capture, [&] { tool = std::make_unique<OtherTool>("b0", kToolMode); });
    DispatcherState during;
    TrafficResult r = send_traffic(net, kMultiprog, false, 50, [&](session::Session& s) {
        during = dispatcher("b0");
        EXPECT_TRUE(s.verify());
    });
    // In run order: the other tool's program (priority 50), then the bypass (200).
    EXPECT_EQ(component_names(during), (std::vector<std::string>{"xdp_empty", "xdp_ids"}));
    EXPECT_EQ(r.bypassed_received, 0) << "the bypassed flow reached user space";
    EXPECT_EQ(r.other_received, 50) << "the other flow lost packets";
    EXPECT_GE(r.counters[XB_CNT_DROP], 50u);
    EXPECT_GE(r.counters[XB_CNT_MISS], 50u);
    net.sb.run_in(net.capture, [&] {
        auto after = dispatcher("b0");
        ASSERT_EQ(after.components.size(), 1u) << "xbypass must leave, and only itself";
        EXPECT_EQ(after.components[0].prog_id, tool->id());
        EXPECT_EQ(after.mode, kToolMode);
        tool.reset();
        EXPECT_FALSE(xdp_state("b0").any());
    });
}

TEST(Dispatcher, AutoJoinsAGenericDispatcherInGenericMode) {
    Sandbox sb;
    std::string ns = sb.add_veth_netns("generic");
    sb.run_in(ns, [&] {
        OtherTool tool("v0", XdpMode::Generic);
        auto a = session::assess(load_config(one_interface("v0", kMultiprog)));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        EXPECT_EQ(a.plan.interfaces[0].datapath, plan::Datapath::XdpGeneric) << session::startup_block(a);
        Diagnostics d;
        auto s = session::Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        auto st = dispatcher("v0");
        EXPECT_EQ(st.mode, XdpMode::Generic);
        EXPECT_EQ(component_names(st), (std::vector<std::string>{"xdp_empty", "xdp_ids"}));
        s.reset();
        EXPECT_EQ(component_names(dispatcher("v0")), std::vector<std::string>{"xdp_empty"});
    });
}

TEST(Dispatcher, NativeIsRefusedOnAGenericDispatcherWithNothingChanged) {
    Sandbox sb;
    std::string ns = sb.add_veth_netns("mismatch");
    sb.run_in(ns, [&] {
        OtherTool tool("v0", XdpMode::Generic);
        uint32_t before = dispatcher("v0").dispatcher_id;
        auto a = session::assess(load_config(one_interface("v0", std::string(kMultiprog) + "      datapath: xdp-native\n")));
        EXPECT_FALSE(a.accepted());
        EXPECT_TRUE(a.diagnostics.contains("XB4002")) << a.diagnostics.to_text();
        EXPECT_NE(a.diagnostics.to_text().find("multiprog can join it only in that mode"), std::string::npos)
            << a.diagnostics.to_text();
        EXPECT_EQ(dispatcher("v0").dispatcher_id, before);
    });
}

TEST(Dispatcher, RemovalOfOurProgramByAnotherToolFailsVerification) {
    Sandbox sb;
    std::string ns = sb.add_veth_netns("removed");
    sb.run_in(ns, [&] {
        OtherTool tool("v0", kToolMode);
        auto s = start_multiprog_on_v0();
        ASSERT_TRUE(s);
        ASSERT_TRUE(s->verify());
        // What `xdp-loader unload v0 --id N` does.
        auto removed = datapath::remove_components_named(ifindex_of("v0"), {"xdp_ids"});
        ASSERT_TRUE(removed);
        ASSERT_EQ(removed->size(), 1u);
        auto v = s->verify();
        ASSERT_FALSE(v);
        EXPECT_NE(v.error().message.find("without our program"), std::string::npos) << v.error().message;
        s.reset();  // leaving again changes nothing
        EXPECT_EQ(component_names(dispatcher("v0")), std::vector<std::string>{"xdp_empty"});
    });
}

// Native mode, below the planner: on 6.1 it never picks native (XDP features unknown), but veth's
// driver runs native XDP, so the datapath layer is tested in that mode directly.
TEST(DispatcherAttachment, NativeModeJoinVerifyAndLeave) {
    Sandbox sb;
    std::string ns = sb.add_veth_netns("native");
    sb.run_in(ns, [&] {
        OtherTool tool("v0", XdpMode::Native);
        std::optional<datapath::DispatcherAttachment> joined;
        Diagnostics d;
        auto prog = datapath::BypassProgram::load(
            datapath::ProgramOptions{}, d, [&](bpf_object* obj, const std::string& program) -> Status {
                auto a = datapath::DispatcherAttachment::join(ifindex_of("v0"), obj, program, XdpMode::Native);
                if (!a) return a.error();
                joined.emplace(std::move(a).value());
                return {};
            });
        ASSERT_TRUE(prog) << d.to_text();
        ASSERT_TRUE(joined);
        auto st = dispatcher("v0");
        EXPECT_NE(st.dispatcher_id, 0u) << "libxdp attached without its dispatcher";
        EXPECT_EQ(st.mode, XdpMode::Native);
        EXPECT_NE(xdp_state("v0").native_prog_id, 0u);
        EXPECT_EQ(component_names(st), (std::vector<std::string>{"xdp_empty", "xdp_ids"}));
        EXPECT_TRUE(joined->verify());
        ASSERT_TRUE(joined->detach());
        EXPECT_FALSE(joined->verify()) << "verify must notice that we left";
        st = dispatcher("v0");
        EXPECT_EQ(st.mode, XdpMode::Native);
        ASSERT_EQ(st.components.size(), 1u);
        EXPECT_EQ(st.components[0].prog_id, tool.id());
    });
}

// All interfaces or none: the first joined the dispatcher, the second cannot attach (another tool
// holds our tc handle and priority), so the first leaves the dispatcher again.
TEST(Dispatcher, AFailureOnTheNextInterfaceTakesUsOutOfTheDispatcher) {
    Sandbox sb;
    std::string ns = sb.add_veth_netns("roll");
    sb.add_veth(ns, "w0", sb.add_netns("rollw"), "w1");
    sb.link_up(ns, "w0");
    auto squatter = load_trivial_tc("squatter");
    std::string yaml = one_interface("v0", kMultiprog) + "    - interface: w0\n      datapath: tc\n";
    sb.run_in(ns, [&] {
        OtherTool tool("v0", kToolMode);
        auto a = session::assess(load_config(yaml));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        // The other tool takes our tc place after the plan (the plan itself refuses it: XB4019), so
        // the second interface fails at attach, after the first joined the dispatcher.
        ASSERT_EQ(attach_tc_filter(ifindex_of("w0"), squatter.get(), datapath::kTcHandle, datapath::kTcPriority), 0);
        ASSERT_TRUE(a.plan.interfaces[0].multiprog);
        Diagnostics d;
        EXPECT_FALSE(session::Session::start(a, d));
        EXPECT_TRUE(d.contains("XB5005")) << d.to_text();
        EXPECT_EQ(component_names(dispatcher("v0")), std::vector<std::string>{"xdp_empty"});
    });
}

// libxdp pins dispatcher components, so unlike a BPF link ours outlives a SIGKILL. The next run on
// the interface holds the lock nobody else has, knows the component is a leftover and removes it.
TEST(Dispatcher, AProgramLeftByAKilledRunIsRemovedByTheNextRun) {
    Sandbox sb;
    std::string ns = sb.add_veth_netns("killed");
    std::unique_ptr<OtherTool> tool;
    sb.run_in(ns, [&] { tool = std::make_unique<OtherTool>("v0", kToolMode); });
    TempFile conf(one_interface("v0", kMultiprog));
    pid_t child = spawn_run(ns, conf.path);
    ASSERT_GT(child, 0);
    EXPECT_TRUE(poll_in(sb, ns, [] { return dispatcher("v0").components.size() == 2; }, 3000))
        << "xbypass run did not join the dispatcher";
    uint32_t left = 0;
    sb.run_in(ns, [&] { left = dispatcher("v0").components.back().prog_id; });
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    sb.run_in(ns, [&] {
        EXPECT_TRUE(dispatcher("v0").has(left)) << "libxdp keeps components after their process dies";
        auto s = start_multiprog_on_v0();
        ASSERT_TRUE(s);
        auto st = dispatcher("v0");
        EXPECT_FALSE(st.has(left)) << "the leftover is still in the dispatcher";
        EXPECT_EQ(component_names(st), (std::vector<std::string>{"xdp_empty", "xdp_ids"}));
        EXPECT_TRUE(st.has(tool->id()));
        s.reset();
        EXPECT_EQ(component_names(dispatcher("v0")), std::vector<std::string>{"xdp_empty"});
        tool.reset();
    });
}

}  // namespace
}  // namespace xb::test
