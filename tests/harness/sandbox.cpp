#include "harness/sandbox.h"

#include <fstream>

#include <bpf/libbpf.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "common/mounts.h"
#include "common/netns.h"
#include "session/session.h"

namespace xb::test {

namespace {
std::atomic<unsigned> g_seq{0};

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out.push_back(c);
    }
    return out + "'";
}
}  // namespace

bool kernel_tests_possible(std::string* why) {
    if (geteuid() != 0) {
        *why = "not running as root (kernel tests need CAP_NET_ADMIN and CAP_BPF)";
        return false;
    }
    if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, nullptr) != 1) {
        *why = "the kernel refuses to load an XDP program (no BPF support?)";
        return false;
    }
    if (run_command("command -v ip >/dev/null && command -v nsenter >/dev/null").status != 0) {
        *why = "iproute2 (ip) or util-linux (nsenter) is missing";
        return false;
    }
    return true;
}

CommandResult run_command(const std::string& cmd) {
    CommandResult r;
    std::string full = cmd + " 2>&1";
    FILE* p = ::popen(full.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    int st = ::pclose(p);
    r.status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    return r;
}

std::string netns_prefix_for(int pid) { return "xbt-" + std::to_string(pid) + "-"; }

std::vector<std::string> netns_with_prefix(const std::string& prefix) {
    std::vector<std::string> out;
    DIR* d = ::opendir("/run/netns");
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind(prefix, 0) == 0) out.push_back(name);
    }
    ::closedir(d);
    return out;
}

namespace {
void remove_lock_files(const std::string& netns) {
    struct stat st {};
    if (::stat(("/run/netns/" + netns).c_str(), &st) != 0) return;
    const std::string prefix = std::to_string(static_cast<unsigned long>(st.st_ino)) + "-";
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(session::kRunDir, ec)) {
        if (entry.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(entry.path(), ec);
    }
}
}  // namespace

Sandbox::Sandbox() {
    (void)ensure_bpffs();
    (void)ensure_tracefs();
    // Namespaces of test processes that died without cleaning up (SIGKILL, crash): remove them.
    for (const auto& name : netns_with_prefix("xbt-")) {
        int pid = std::atoi(name.c_str() + 4);
        if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH)
            run_command("ip netns delete " + shell_quote(name));
    }
}

Sandbox::~Sandbox() {
    for (auto it = pin_dirs_.rbegin(); it != pin_dirs_.rend(); ++it) {
        std::error_code ec;
        std::filesystem::remove_all(*it, ec);
    }
    // Deleting a namespace destroys its devices, with them any XDP program and tc filter on them.
    // A run killed in it leaves its interface lock file behind (session.h): remove those first.
    for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
        remove_lock_files(*it);
        run_command("ip netns delete " + shell_quote(*it));
    }
}

std::string Sandbox::must(const std::string& cmd) {
    auto r = run_command(cmd);
    if (r.status != 0)
        throw std::runtime_error("harness command failed (" + std::to_string(r.status) + "): " + cmd + "\n" +
                                 r.output);
    return r.output;
}

std::string Sandbox::add_netns(std::string_view tag) {
    std::string name = netns_prefix_for(::getpid()) + std::to_string(g_seq++) + "-" + std::string(tag);
    must("ip netns add " + shell_quote(name));
    namespaces_.push_back(name);
    link_up(name, "lo");
    return name;
}

void Sandbox::add_veth(const std::string& ns_a, const std::string& dev_a, const std::string& ns_b,
                       const std::string& dev_b) {
    must("ip -n " + shell_quote(ns_a) + " link add " + shell_quote(dev_a) + " type veth peer name " +
         shell_quote(dev_b) + " netns " + shell_quote(ns_b));
}

void Sandbox::add_tap(const std::string& ns, const std::string& dev) {
    must("ip -n " + shell_quote(ns) + " tuntap add dev " + shell_quote(dev) + " mode tap");
}

void Sandbox::add_tun(const std::string& ns, const std::string& dev) {
    must("ip -n " + shell_quote(ns) + " tuntap add dev " + shell_quote(dev) + " mode tun");
}

void Sandbox::add_vxlan(const std::string& ns, const std::string& dev, unsigned vni) {
    must("ip -n " + shell_quote(ns) + " link add " + shell_quote(dev) + " type vxlan id " + std::to_string(vni) +
         " dstport 4789 dev lo");
}

void Sandbox::add_ifb(const std::string& ns, const std::string& dev) {
    must("ip -n " + shell_quote(ns) + " link add " + shell_quote(dev) + " type ifb");
}

void Sandbox::link_up(const std::string& ns, const std::string& dev) {
    must("ip -n " + shell_quote(ns) + " link set " + shell_quote(dev) + " up");
}

std::string Sandbox::add_veth_netns(std::string_view tag) {
    std::string ns = add_netns(tag);
    std::string peer = add_netns(std::string(tag) + "peer");
    add_veth(ns, "v0", peer, "v1");
    link_up(ns, "v0");
    return ns;
}

void Sandbox::add_address(const std::string& ns, const std::string& dev, const std::string& cidr) {
    must("ip -n " + shell_quote(ns) + " addr add " + shell_quote(cidr) + " dev " + shell_quote(dev));
}

std::string Sandbox::mac_address(const std::string& ns, const std::string& dev) {
    std::string out = must("ip -n " + shell_quote(ns) + " -o link show dev " + shell_quote(dev));
    size_t at = out.find("link/ether ");
    if (at == std::string::npos) throw std::runtime_error(dev + " has no Ethernet address: " + out);
    return out.substr(at + 11, 17);
}

void Sandbox::add_neighbor(const std::string& ns, const std::string& dev, const std::string& ip,
                           const std::string& mac) {
    must("ip -n " + shell_quote(ns) + " neigh replace " + shell_quote(ip) + " lladdr " + shell_quote(mac) +
         " dev " + shell_quote(dev) + " nud permanent");
}

CommandResult Sandbox::try_exec_in(const std::string& ns, const std::string& cmd) {
    return run_command("nsenter --net=/run/netns/" + shell_quote(ns) + " sh -c " + shell_quote(cmd));
}

std::string Sandbox::exec_in(const std::string& ns, const std::string& cmd) {
    return must("nsenter --net=/run/netns/" + shell_quote(ns) + " sh -c " + shell_quote(cmd));
}

void Sandbox::disable_ipv6(const std::string& ns) {
    run_in(ns, [] {
        // /proc/sys/net is the calling thread's network namespace; a kernel without IPv6 has none.
        for (const char* which : {"all", "default"})
            std::ofstream(std::string("/proc/sys/net/ipv6/conf/") + which + "/disable_ipv6") << "1\n";
    });
}

void Sandbox::run_in(const std::string& ns, const std::function<void()>& fn) {
    auto guard = ScopedNetns::enter_named(ns);
    if (!guard) throw std::runtime_error("cannot enter namespace " + ns + ": " + guard.error().message);
    fn();  // the guard returns the thread to its namespace, also when fn throws
}

std::string Sandbox::pin_dir(std::string_view tag) {
    auto root = ensure_bpffs();
    if (!root) throw std::runtime_error("no bpffs: " + root.error().message);
    std::string dir = *root + "/" + netns_prefix_for(::getpid()) + std::to_string(g_seq++) + "-" + std::string(tag);
    if (::mkdir(dir.c_str(), 0700) != 0) throw std::runtime_error("cannot create pin dir " + dir);
    pin_dirs_.push_back(dir);
    return dir;
}

int Sandbox::ifindex(const std::string& ns, const std::string& dev) {
    std::string out = exec_in(ns, "ip -o link show dev " + dev);  // "5: veth0@if4: ...";
    return std::atoi(out.c_str());
}

bool Sandbox::link_exists(const std::string& ns, const std::string& dev) {
    return run_command("ip -n " + shell_quote(ns) + " link show dev " + shell_quote(dev)).status == 0;
}

}  // namespace xb::test
