// Test harness for the real kernel: uniquely named network namespaces and devices in them, removed
// on destruction (also when an assertion fails or the test throws). Commands run inside a namespace
// through nsenter --net, never `ip netns exec`, so bpffs and tracefs stay visible.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace xb::test {

// True when kernel tests can run (root, bpf() usable); otherwise *why says what is missing.
bool kernel_tests_possible(std::string* why);

// Skips the current test with a clear message when the kernel cannot be used.
#define XB_REQUIRE_KERNEL()                                                          \
    do {                                                                             \
        std::string xb_why_;                                                         \
        if (!::xb::test::kernel_tests_possible(&xb_why_))                            \
            GTEST_SKIP() << "kernel test skipped: " << xb_why_;                      \
    } while (0)

struct CommandResult {
    int status = -1;  // exit status, or -1 when it could not run / was killed
    std::string output;  // stdout and stderr together
};

// Runs a shell command (sh -c); never throws.
CommandResult run_command(const std::string& cmd);

// Prefix of every namespace the harness creates: "xbt-<pid>-".
std::string netns_prefix_for(int pid);

// Names of existing namespaces (from /run/netns) that start with prefix.
std::vector<std::string> netns_with_prefix(const std::string& prefix);

class Sandbox {
public:
    Sandbox();  // mounts bpffs/tracefs where missing, sweeps leftovers of dead test processes
    ~Sandbox();
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    // A new namespace "xbt-<pid>-<seq>-<tag>", with lo up. Removed when the sandbox dies.
    std::string add_netns(std::string_view tag);

    // Devices. Device names are local to their namespace, so tests may reuse them freely.
    void add_veth(const std::string& ns_a, const std::string& dev_a, const std::string& ns_b,
                  const std::string& dev_b);
    void add_tap(const std::string& ns, const std::string& dev);
    void add_tun(const std::string& ns, const std::string& dev);
    void add_vxlan(const std::string& ns, const std::string& dev, unsigned vni);
    void add_ifb(const std::string& ns, const std::string& dev);
    void link_up(const std::string& ns, const std::string& dev);
    // The usual capture setup: namespace <tag> with veth v0 (up), its peer v1 in namespace
    // <tag>peer. Returns the first namespace's name.
    std::string add_veth_netns(std::string_view tag);
    void add_address(const std::string& ns, const std::string& dev, const std::string& cidr);
    // No IPv6 in ns (for devices made after this call too): no router solicitations, MLD or DAD
    // frames that would land in a test's exact packet counts.
    void disable_ipv6(const std::string& ns);
    // "aa:bb:cc:dd:ee:ff" of a device.
    std::string mac_address(const std::string& ns, const std::string& dev);
    // A permanent neighbour entry (no ARP/ND needed to reach ip).
    void add_neighbor(const std::string& ns, const std::string& dev, const std::string& ip, const std::string& mac);

    // Runs a command inside ns (nsenter --net); throws std::runtime_error when it fails.
    std::string exec_in(const std::string& ns, const std::string& cmd);
    // Same, returning the result instead of throwing.
    CommandResult try_exec_in(const std::string& ns, const std::string& cmd);
    // Runs fn in the calling thread with the thread moved into ns (setns), then moves it back.
    void run_in(const std::string& ns, const std::function<void()>& fn);

    // A fresh directory under bpffs for pins, removed (recursively) when the sandbox dies.
    std::string pin_dir(std::string_view tag);

    int ifindex(const std::string& ns, const std::string& dev);
    bool link_exists(const std::string& ns, const std::string& dev);
    const std::vector<std::string>& namespaces() const { return namespaces_; }

private:
    std::string must(const std::string& cmd);
    std::vector<std::string> namespaces_;
    std::vector<std::string> pin_dirs_;
};

}  // namespace xb::test
