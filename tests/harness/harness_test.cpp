// Tests of the harness itself: what it creates exists during a test and is gone afterwards, including
// after a test that fails, throws or is killed.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "common/file_lock.h"
#include "harness/sandbox.h"
#include "session/session.h"

namespace xb::test {
namespace {

std::string self_exe() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

bool netns_exists(const std::string& name) { return ::access(("/run/netns/" + name).c_str(), F_OK) == 0; }

TEST(Harness, DevicesExistDuringTestAndAreGoneAfter) {
    XB_REQUIRE_KERNEL();
    std::string ns_a, ns_b, pins;
    {
        Sandbox sb;
        ns_a = sb.add_netns("a");
        ns_b = sb.add_netns("b");
        EXPECT_NE(ns_a, ns_b);
        sb.add_veth(ns_a, "v0", ns_b, "v1");
        sb.add_tap(ns_a, "tap0");
        sb.add_tun(ns_a, "tun0");
        sb.add_vxlan(ns_a, "vx0", 42);
        sb.add_ifb(ns_a, "ifb0");
        for (const char* dev : {"v0", "tap0", "tun0", "vx0", "ifb0"}) EXPECT_TRUE(sb.link_exists(ns_a, dev)) << dev;
        EXPECT_TRUE(sb.link_exists(ns_b, "v1"));
        EXPECT_FALSE(sb.link_exists(ns_b, "v0"));
        EXPECT_GT(sb.ifindex(ns_a, "v0"), 0);
        pins = sb.pin_dir("pins");
        EXPECT_EQ(::access(pins.c_str(), F_OK), 0);
        EXPECT_TRUE(netns_exists(ns_a));
    }
    EXPECT_FALSE(netns_exists(ns_a));
    EXPECT_FALSE(netns_exists(ns_b));
    EXPECT_NE(::access(pins.c_str(), F_OK), 0) << pins;
}

// A run killed in a test namespace leaves its interface lock file; the sandbox removes it.
TEST(Harness, InterfaceLockFilesOfItsNamespacesAreGoneAfter) {
    XB_REQUIRE_KERNEL();
    std::string lock_path;
    {
        Sandbox sb;
        std::string ns = sb.add_netns("lock");
        sb.run_in(ns, [&] {
            auto inode = current_netns_inode();
            ASSERT_TRUE(inode);
            lock_path = session::interface_lock_path(*inode, "v0");
        });
        ASSERT_FALSE(lock_path.empty());
        std::filesystem::create_directories(session::kRunDir);
        std::ofstream(lock_path) << "12345\n";  // what a SIGKILLed run leaves
        EXPECT_EQ(::access(lock_path.c_str(), F_OK), 0);
    }
    EXPECT_NE(::access(lock_path.c_str(), F_OK), 0) << lock_path;
}

TEST(Harness, RunInMovesOnlyTheCallingThreadAndComesBack) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("run");
    sb.add_ifb(ns, "only-here");
    auto before = run_command("readlink /proc/self/ns/net").output;
    bool seen = false;
    sb.run_in(ns, [&] {
        // In the namespace: the device is visible through netlink-free /proc of this thread.
        std::ifstream dev("/proc/thread-self/net/dev");
        std::string all((std::istreambuf_iterator<char>(dev)), {});
        seen = all.find("only-here") != std::string::npos;
    });
    EXPECT_TRUE(seen);
    std::ifstream dev("/proc/thread-self/net/dev");
    std::string all((std::istreambuf_iterator<char>(dev)), {});
    EXPECT_EQ(all.find("only-here"), std::string::npos);
    // An exception inside run_in still returns the thread.
    EXPECT_THROW(sb.run_in(ns, [] { throw std::runtime_error("boom"); }), std::runtime_error);
    std::ifstream dev2("/proc/thread-self/net/dev");
    std::string all2((std::istreambuf_iterator<char>(dev2)), {});
    EXPECT_EQ(all2.find("only-here"), std::string::npos);
}

TEST(Harness, FailedCommandThrowsWithItsOutput) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("fail");
    try {
        sb.exec_in(ns, "ip link show dev does-not-exist");
        FAIL() << "expected an exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("does-not-exist"), std::string::npos);
    }
}

// Child tests: disabled by default, run by the tests below in a separate process. Each records the
// namespace it made in the file named by XB_HARNESS_RECORD, then fails in its own way.
void record(const std::string& ns) {
    const char* path = std::getenv("XB_HARNESS_RECORD");
    ASSERT_NE(path, nullptr);
    std::ofstream(path) << ns;
}

TEST(HarnessChild, DISABLED_FailsAssertion) {
    Sandbox sb;
    std::string ns = sb.add_netns("child");
    sb.add_veth(ns, "v0", ns, "v1");
    record(ns);
    ASSERT_EQ(1, 2) << "deliberate failure";
}

TEST(HarnessChild, DISABLED_Throws) {
    Sandbox sb;
    std::string ns = sb.add_netns("child");
    sb.add_tap(ns, "tap0");
    record(ns);
    throw std::runtime_error("deliberate exception");
}

TEST(HarnessChild, DISABLED_Killed) {
    Sandbox sb;
    std::string ns = sb.add_netns("child");
    record(ns);
    ::raise(SIGKILL);
}

std::string run_child(const std::string& test, int* status) {
    char tmpl[] = "/tmp/xbt-harness-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ::close(fd);
    auto r = run_command("XB_HARNESS_RECORD=" + std::string(tmpl) + " " + self_exe() +
                         " --gtest_also_run_disabled_tests --gtest_filter=HarnessChild.DISABLED_" + test);
    *status = r.status;
    std::ifstream in(tmpl);
    std::string ns;
    std::getline(in, ns);
    ::unlink(tmpl);
    return ns;
}

class HarnessCleanup : public ::testing::TestWithParam<const char*> {};

TEST_P(HarnessCleanup, NothingLeftAfterAFailingChild) {
    XB_REQUIRE_KERNEL();
    int status = 0;
    std::string ns = run_child(GetParam(), &status);
    ASSERT_FALSE(ns.empty()) << "the child did not record its namespace";
    EXPECT_NE(status, 0) << "the child test was expected to fail";
    if (std::string(GetParam()) == "Killed") {
        // A killed process cannot clean up: the next sandbox sweeps what dead test processes left.
        EXPECT_TRUE(netns_exists(ns));
        Sandbox sweeper;
    }
    EXPECT_FALSE(netns_exists(ns)) << ns << " was left behind";
}

INSTANTIATE_TEST_SUITE_P(Children, HarnessCleanup, ::testing::Values("FailsAssertion", "Throws", "Killed"));

}  // namespace
}  // namespace xb::test
