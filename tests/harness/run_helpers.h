// Helpers for the end-to-end tests of `xbypass run` and of Session: configuration from YAML, the
// xbypass command in a namespace, polling, and UDP traffic between two namespaces of the test's own
// through a running Session (the bypassed flow and another one, counted on both sides).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "datapath/attach.h"
#include "datapath/program.h"
#include "harness/sandbox.h"

namespace xb::session {
class Session;
}

namespace xb::test {

config::Config load_config(const std::string& yaml);
// A configuration with one interface; `extra` is indented keys of that interface.
std::string one_interface(const std::string& name, const std::string& extra = "");
// What is attached to dev (in the calling thread's namespace).
datapath::XdpState xdp_state(const std::string& dev);
// The program attached to dev in either mode (0 = none).
uint32_t xdp_prog_id(const std::string& dev);
// Whether the kernel reports dev's XDP features (the netdev family, Linux 6.3+). Where it does not,
// the planner assumes no native XDP (auto picks generic, xdp-native is refused): tests that expect
// native XDP ask this first. In the calling thread's namespace.
bool xdp_features_known(const std::string& dev);

std::string xbypass_binary();
// A configuration file, removed on destruction.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& yaml);
    ~TempFile();
};
// `xbypass run` for one second in ns.
CommandResult run_xbypass(const std::string& ns, const std::string& conf, const std::string& extra = "");
// `xbypass run` in the background for a minute (the test stops it); the child's pid.
pid_t spawn_run(const std::string& ns, const std::string& conf);

// Polls pred() inside ns every 10 ms for up to `tries` times; whether it came true.
template <class Pred>
bool poll_in(Sandbox& sb, const std::string& ns, Pred pred, int tries = 500) {
    bool done = false;
    for (int i = 0; i < tries && !done; ++i) {
        sb.run_in(ns, [&] { done = pred(); });
        if (!done) usleep(10000);
    }
    return done;
}

inline constexpr uint16_t kBypassedPort = 5001, kOtherPort = 5002, kSourcePort = 4000;

// Namespaces tx (a0, 10.77.0.1) and rx (b0, 10.77.0.2) joined by a veth pair, with static neighbours.
struct UdpPair {
    Sandbox sb;
    std::string sender, capture;
    UdpPair();
};

struct TrafficResult {
    int bypassed_received = 0, other_received = 0;
    std::vector<uint64_t> stack_packets_per_cpu;  // packets tc ingress saw on each CPU (count_cpus only)
    datapath::Counters counters;
    std::string stats_line;  // Session::stats_text() at the end
};

// Starts a Session on b0 with one_interface("b0", extra), bypasses 10.77.0.1:4000 -> 10.77.0.2:5001,
// sends `packets` datagrams of that flow and of one to port 5002, and stops the session. `inspect`
// sees the session once it runs, before the traffic.
TrafficResult send_traffic(UdpPair& net, const std::string& extra, bool count_cpus = false, int packets = 50,
                           const std::function<void(session::Session&)>& inspect = {});

}  // namespace xb::test
