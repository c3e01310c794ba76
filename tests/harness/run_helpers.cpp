#include "harness/run_helpers.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "harness/trivial_prog.h"
#include "session/session.h"
#include "probe/probe.h"

namespace xb::test {

config::Config load_config(const std::string& yaml) {
    auto loaded = config::load_config_string(yaml, "test.yaml");
    EXPECT_TRUE(loaded.accepted()) << loaded.diagnostics.to_text();
    return loaded.config;
}

std::string one_interface(const std::string& name, const std::string& extra) {
    return "xbypass:\n  stats-interval: 0\n  interfaces:\n    - interface: " + name + "\n" + extra;
}

datapath::XdpState xdp_state(const std::string& dev) {
    auto st = datapath::query_xdp(static_cast<int>(if_nametoindex(dev.c_str())));
    return st ? *st : datapath::XdpState{};
}

uint32_t xdp_prog_id(const std::string& dev) {
    auto st = xdp_state(dev);
    return st.native_prog_id ? st.native_prog_id : st.generic_prog_id;
}

bool xdp_features_known(const std::string& dev) {
    auto caps = probe::probe_interface(dev);
    EXPECT_TRUE(caps) << caps.error().message;
    return caps && caps->xdp_features.has_value();
}

std::string xbypass_binary() { return std::string(XB_BUILDDIR) + "/xbypass"; }

namespace {
std::string write_config(const std::string& yaml) {
    char path[] = "/tmp/xbt-conf-XXXXXX";
    int fd = mkstemp(path);
    (void)!write(fd, yaml.data(), yaml.size());
    close(fd);
    return path;
}
}  // namespace

TempFile::TempFile(const std::string& yaml) : path(write_config(yaml)) {}
TempFile::~TempFile() { unlink(path.c_str()); }

CommandResult run_xbypass(const std::string& ns, const std::string& conf, const std::string& extra) {
    return run_command(xbypass_binary() + " run --netns " + ns + " -c " + conf + " --duration 1 " + extra);
}

pid_t spawn_run(const std::string& ns, const std::string& conf) {
    pid_t child = fork();
    if (child == 0) {
        execl(xbypass_binary().c_str(), "xbypass", "run", "--netns", ns.c_str(), "-c", conf.c_str(), "--duration", "60",
              static_cast<char*>(nullptr));
        _exit(127);
    }
    return child;
}

UdpPair::UdpPair() {
    sender = sb.add_netns("tx");
    capture = sb.add_netns("rx");
    sb.add_veth(sender, "a0", capture, "b0");
    sb.add_address(sender, "a0", "10.77.0.1/24");
    sb.add_address(capture, "b0", "10.77.0.2/24");
    sb.link_up(sender, "a0");
    sb.link_up(capture, "b0");
    // Static neighbours: every UDP packet below goes on the wire at once, no ARP round trip.
    sb.add_neighbor(sender, "a0", "10.77.0.2", sb.mac_address(capture, "b0"));
    sb.add_neighbor(capture, "b0", "10.77.0.1", sb.mac_address(sender, "a0"));
    // Frames as a wire delivers them: with checksums filled in. A local sender's veth leaves them
    // partial (offload), which a native-XDP cpumap redirect cannot carry (see plan warning XB4032).
    sb.exec_in(sender, "ethtool -K a0 tx off >/dev/null");
}

namespace {
UniqueFd udp_socket(uint16_t port, const char* addr) {
    UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Room for every datagram a test sends before it reads: Linux 6.1's veth builds each frame that
    // native XDP passes into its own page, and at ~4 KiB of truesize per datagram the default
    // receive buffer (rmem_default, 208 KiB) drops the 49th (UDP RcvbufErrors, measured in the VM).
    int rcvbuf = 4 << 20;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, addr, &sa.sin_addr);
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
    return fd;
}

int drain(int fd) {
    int n = 0;
    char buf[2048];
    for (int idle = 0; idle < 20;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r >= 0) {
            ++n;
            idle = 0;
            continue;
        }
        ++idle;
        usleep(10000);
    }
    return n;
}
}  // namespace

TrafficResult send_traffic(UdpPair& net, const std::string& extra, bool count_cpus, int packets,
                           const std::function<void(session::Session&)>& inspect) {
    TrafficResult out;
    // Optionally a tc ingress counter: tc runs in netif_receive_skb, on the CPU that hands the packet
    // to the stack, i.e. after any cpumap redirect.
    unsigned ncpus = static_cast<unsigned>(libbpf_num_possible_cpus());
    UniqueFd cpu_counts(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "xbt_cpus", 4, 8, 1, nullptr));
    UniqueFd counter_prog = load_cpu_counting_tc("xbt_cpu_count", cpu_counts.get());
    if (count_cpus) {
        net.sb.run_in(net.capture, [&] {
            ASSERT_EQ(attach_tc_filter(if_nametoindex("b0"), counter_prog.get(), 1, 1), 0);
        });
    }
    UniqueFd rx_bypassed, rx_other, tx;
    net.sb.run_in(net.capture, [&] {
        rx_bypassed = udp_socket(kBypassedPort, "10.77.0.2");
        rx_other = udp_socket(kOtherPort, "10.77.0.2");
    });
    net.sb.run_in(net.sender, [&] { tx = udp_socket(kSourcePort, "10.77.0.1"); });
    net.sb.run_in(net.capture, [&] {
        session::Assessment a = session::assess(load_config(one_interface("b0", extra)));
        ASSERT_TRUE(a.accepted()) << a.diagnostics.to_text();
        Diagnostics d;
        auto s = session::Session::start(a, d);
        ASSERT_TRUE(s) << d.to_text();
        // The engine decided: bypass the flow 10.77.0.1:4000 -> 10.77.0.2:5001.
        auto key = datapath::make_flow_key("udp", "10.77.0.1", kSourcePort, "10.77.0.2", kBypassedPort);
        ASSERT_TRUE(key);
        ASSERT_TRUE(s->bypass_flow("b0", *key));
        if (inspect) inspect(*s);
        if (count_cpus) {  // count only frames that went through our program
            std::vector<uint64_t> zeros(ncpus, 0);
            uint32_t slot = 0;
            ASSERT_EQ(bpf_map_update_elem(cpu_counts.get(), &slot, zeros.data(), BPF_ANY), 0);
        }
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        inet_pton(AF_INET, "10.77.0.2", &dst.sin_addr);
        for (int i = 0; i < packets; ++i) {
            for (uint16_t port : {kBypassedPort, kOtherPort}) {
                dst.sin_port = htons(port);
                ASSERT_EQ(sendto(tx.get(), "payload", 7, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst), 7)
                    << strerror(errno);
            }
        }
        out.bypassed_received = drain(rx_bypassed.get());
        out.other_received = drain(rx_other.get());
        std::vector<uint64_t> per_cpu(ncpus);
        uint32_t zero = 0;
        if (count_cpus && bpf_map_lookup_elem(cpu_counts.get(), &zero, per_cpu.data()) == 0)
            out.stack_packets_per_cpu = per_cpu;
        auto c = s->interfaces()[0].program->read_counters();
        ASSERT_TRUE(c);
        out.counters = *c;
        out.stats_line = s->stats_text();
    });
    return out;
}

}  // namespace xb::test
