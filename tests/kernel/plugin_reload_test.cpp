// xb_reload and the plugin's control socket, through the public header: an applied program swap
// keeps the bypassed flows, refusals change nothing (XB8101, XB8102), reloads run while other
// threads bypass and read counters, and the socket answers with mode "plugin".
#include <gtest/gtest.h>

#include <net/if.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/file_lock.h"
#include "control/json_value.h"
#include "control/server.h"
#include "harness/run_helpers.h"
#include "harness/sandbox.h"
#include "xbypass/plugin.h"

namespace {

using xb::test::Sandbox;
using xb::test::TempFile;

std::string conf(const std::string& extra, const std::string& more = "") {
    return "xbypass:\n  stats-interval: 0\n  interfaces:\n    - interface: ifb0\n      datapath: xdp-generic\n" + extra + more;
}

struct Plugin {
    Sandbox sb;
    std::string ns;
    xb_plugin* p = nullptr;
    explicit Plugin(const std::string& path, uint32_t flags = XB_OPEN_NO_CAPTURE) {
        ns = sb.add_netns("prl");
        sb.add_ifb(ns, "ifb0");
        sb.link_up(ns, "ifb0");
        sb.add_ifb(ns, "ifb1");
        sb.link_up(ns, "ifb1");
        xb_open_opts o{};
        o.sz = sizeof o;
        o.netns = ns.c_str();
        o.log_level = XB_LOG_WARNING;
        o.flags = flags;
        EXPECT_EQ(xb_open(path.c_str(), &o, &p, nullptr), 0) << xb_last_error();
    }
    ~Plugin() { xb_close(p); }
    std::string socket() {
        unsigned long inode = 0;
        sb.run_in(ns, [&] {
            auto i = xb::current_netns_inode();
            inode = i ? *i : 0;
        });
        return xb::control::socket_path(inode, getpid());
    }
};

xb_flow flow(uint16_t sport) {
    xb_flow f{};
    f.sz = sizeof f;
    f.family = 4;
    f.proto = 17;
    f.src_port = sport;
    f.dst_port = 53;
    const uint8_t s[4] = {10, 9, 0, 1}, d[4] = {10, 9, 0, 2};
    std::memcpy(f.src_addr, s, 4);
    std::memcpy(f.dst_addr, d, 4);
    return f;
}

uint64_t entries(xb_plugin* p) {
    xb_stats st{};
    st.sz = sizeof st;
    EXPECT_EQ(xb_stats_get(p, "ifb0", &st), 0) << xb_last_error();
    return st.flow_entries;
}

bool has_code(xb_diagnostics* d, const char* code) {
    for (size_t i = 0; i < xb_diagnostics_count(d); ++i) {
        xb_diagnostic x{};
        x.sz = sizeof x;
        if (xb_diagnostics_get(d, i, &x) == 0 && std::strcmp(x.code, code) == 0) return true;
    }
    return false;
}

TEST(PluginReload, SwapsKeepFlowsAndRefusalsChangeNothing) {
    XB_REQUIRE_KERNEL();
    TempFile a(conf("")), b(conf("      cpu-redirect: \"0\"\n"));
    TempFile bad(conf("      bogus-key: 1\n"));
    TempFile size(conf("      flow-table:\n        size: 1024\n"));
    TempFile added(conf("", "    - interface: ifb1\n      datapath: tc\n"));
    Plugin pl(a.path);
    ASSERT_TRUE(pl.p);
    xb_flow f = flow(1000);
    ASSERT_EQ(xb_bypass(pl.p, "ifb0", &f), 0) << xb_last_error();
    EXPECT_EQ(entries(pl.p), 2u);
    xb_diagnostics* d = nullptr;
    EXPECT_EQ(xb_reload(pl.p, nullptr, &d), 0) << xb_last_error();  // the same file: nothing to do
    xb_diagnostics_free(d);
    EXPECT_EQ(xb_reload(pl.p, b.path.c_str(), nullptr), 0) << xb_last_error();
    EXPECT_EQ(entries(pl.p), 2u) << "the swap keeps the flow table";
    xb_flow_counts c{};
    c.sz = sizeof c;
    EXPECT_EQ(xb_bypass_counts(pl.p, "ifb0", &f, &c), 0) << xb_last_error();
    for (const auto* file : {&bad, &size, &added}) {
        d = nullptr;
        EXPECT_EQ(xb_reload(pl.p, file->path.c_str(), &d), XB_ERR_REJECTED) << file->path;
        EXPECT_TRUE(has_code(d, file == &bad ? "XB8101" : "XB8102")) << xb_diagnostics_text(d);
        xb_diagnostics_free(d);
        EXPECT_EQ(entries(pl.p), 2u);
    }
    pl.sb.run_in(pl.ns, [&] { EXPECT_EQ(xb::test::xdp_prog_id("ifb1"), 0u); });
    EXPECT_EQ(xb_reload(nullptr, nullptr, nullptr), XB_ERR_INVAL);
}

TEST(PluginReload, RunsWhileOtherThreadsBypassAndReadCounters) {
    XB_REQUIRE_KERNEL();
    // With capture planned (AF_XDP here: cpu redirect would change the capture, a restart).
    TempFile a(conf("")), b(conf("      vlan-tracking: no\n"));
    Plugin pl(a.path, 0);
    ASSERT_TRUE(pl.p);
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0}, calls{0};
    std::thread worker([&] {
        for (uint16_t i = 0; !stop; ++i) {
            xb_flow f = flow(static_cast<uint16_t>(2000 + i % 100));
            if (xb_bypass(pl.p, "ifb0", &f) != 0) ++failures;
            if (xb_unbypass(pl.p, "ifb0", &f) != 0) ++failures;
            xb_stats st{};
            st.sz = sizeof st;
            if (xb_stats_get(pl.p, "ifb0", &st) != 0) ++failures;
            ++calls;
        }
    });
    for (int i = 0; i < 10; ++i) EXPECT_EQ(xb_reload(pl.p, (i % 2 ? a : b).path.c_str(), nullptr), 0) << xb_last_error();
    stop = true;
    worker.join();
    EXPECT_GT(calls.load(), 10);
    EXPECT_EQ(failures.load(), 0);
}

TEST(PluginReload, TheControlSocketAnswers) {
    XB_REQUIRE_KERNEL();
    TempFile a(conf("")), b(conf("      cpu-redirect: \"0\"\n"));
    Plugin pl(a.path);
    ASSERT_TRUE(pl.p);
    std::string sock = pl.socket();
    xb::Result<std::string> r = xb::Error{};
    for (int i = 0; i < 200 && !(r = xb::control::request(sock, R"({"cmd":"status"})", 1000)); ++i) usleep(10000);
    ASSERT_TRUE(r) << sock;
    auto v = xb::control::JsonValue::parse(*r);
    ASSERT_TRUE(v) << *r;
    EXPECT_EQ(v->get("result")->get("mode")->string(), "plugin");
    EXPECT_EQ(v->get("result")->get("config")->string(), a.path);
    auto rl = xb::control::request(sock, R"({"cmd":"reload","config":")" + b.path + "\"}");
    ASSERT_TRUE(rl);
    EXPECT_NE(rl->find("\"outcome\":\"applied\""), std::string::npos) << *rl;
    auto down = xb::control::request(sock, R"({"cmd":"shutdown"})");
    ASSERT_TRUE(down);
    EXPECT_NE(down->find("XB8005"), std::string::npos) << *down;  // the engine decides when it stops
    xb_interface_info info{};
    info.sz = sizeof info;
    EXPECT_EQ(xb_interface_get(pl.p, 0, &info), 0);
    xb_close(pl.p);
    pl.p = nullptr;
    EXPECT_NE(access(sock.c_str(), F_OK), 0) << "xb_close removes the socket";
}

}  // namespace
