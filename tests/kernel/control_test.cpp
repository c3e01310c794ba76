// The control socket against a running `xbypass run` in a namespace of the test's own: every
// command, malformed, oversized and unknown requests, 20 clients at once; the flows, stats and
// status commands; status with our program, another tool's, and nothing; detach of the tc filter a
// killed run left and its refusal on another tool's program and on a live run's.
#include <net/if.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "common/file_lock.h"
#include "datapath/attach.h"
#include "datapath/program.h"
#include "control/json_value.h"
#include "control/server.h"
#include "harness/run_helpers.h"
#include "harness/sandbox.h"
#include "harness/trivial_prog.h"

namespace xb::control {
namespace {

using test::Sandbox;
using test::TempFile;

std::string conf(const std::string& dev, const std::string& extra) {
    return "xbypass:\n  stats-interval: 0\n  interfaces:\n    - interface: " + dev + "\n" + extra;
}

struct LiveRun {
    Sandbox sb;
    std::string ns;
    std::unique_ptr<TempFile> file;
    pid_t pid = 0;
    std::string socket;

    explicit LiveRun(const std::string& extra, const std::string& dev = "ifb0") {
        ns = sb.add_netns("ctl");
        sb.add_ifb(ns, dev);
        sb.link_up(ns, dev);
        file = std::make_unique<TempFile>(conf(dev, extra));
        pid = test::spawn_run(ns, file->path);
        unsigned long inode = 0;
        sb.run_in(ns, [&] { auto i = current_netns_inode(); inode = i ? *i : 0; });
        socket = socket_path(inode, pid);
        for (int i = 0; i < 500 && !request(socket, R"({"cmd":"status"})", 1000); ++i) usleep(10000);
    }
    ~LiveRun() { stop(); }
    int stop() {
        if (!pid) return -1;
        kill(pid, SIGTERM);
        int status = 0;
        waitpid(pid, &status, 0);
        pid = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
};

JsonValue ask(const std::string& socket, const std::string& line) {
    auto reply = request(socket, line, 10000);
    EXPECT_TRUE(reply) << line << ": " << (reply ? "" : reply.error().message);
    if (!reply) return {};
    auto v = JsonValue::parse(*reply);
    EXPECT_TRUE(v) << *reply;
    return v ? *v : JsonValue{};
}

bool ok(const JsonValue& v) { return v.get("ok") && v.get("ok")->boolean(); }
std::string code(const JsonValue& v) {
    const auto* e = v.get("error");
    return e && e->get("code") ? e->get("code")->string() : "";
}

// A raw connection for what request() never sends.
struct Conn {
    UniqueFd fd;
    explicit Conn(const std::string& path) {
        fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
        timeval tv{10, 0};
        setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    void send(const std::string& s) {
        size_t off = 0;
        while (off < s.size()) {
            ssize_t n = write(fd.get(), s.data() + off, s.size() - off);
            if (n <= 0) return;
            off += static_cast<size_t>(n);
        }
    }
    std::string buf;
    std::string line() {
        char b[4096];
        for (;;) {
            size_t nl = buf.find('\n');
            if (nl != std::string::npos) {
                std::string l = buf.substr(0, nl);
                buf.erase(0, nl + 1);
                return l;
            }
            ssize_t n = read(fd.get(), b, sizeof b);
            if (n <= 0) return "";
            buf.append(b, static_cast<size_t>(n));
        }
    }
};

TEST(ControlSocket, ServesEveryCommand) {
    XB_REQUIRE_KERNEL();
    LiveRun run("      datapath: xdp-generic\n");
    struct stat st{};
    ASSERT_EQ(stat(run.socket.c_str(), &st), 0) << run.socket;
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));

    auto status = ask(run.socket, R"({"cmd":"status","id":1})");
    ASSERT_TRUE(ok(status));
    EXPECT_EQ(status.get("id")->number(), 1);
    const auto& res = *status.get("result");
    EXPECT_EQ(res.get("pid")->number(), run.pid);
    EXPECT_EQ(res.get("config")->string(), run.file->path);
    ASSERT_EQ(res.get("interfaces")->array().size(), 1u);
    EXPECT_EQ(res.get("interfaces")->array()[0].get("name")->string(), "ifb0");
    EXPECT_EQ(res.get("interfaces")->array()[0].get("datapath")->string(), "xdp-generic");

    const std::string flow = R"("interface":"ifb0","proto":"udp","src":"10.1.0.1","sport":4000,"dst":"10.1.0.2","dport":5001)";
    EXPECT_TRUE(ok(ask(run.socket, "{\"cmd\":\"bypass\"," + flow + "}")));
    EXPECT_TRUE(ok(ask(run.socket, R"({"cmd":"bypass","interface":"ifb0","proto":"tcp","src":"fd00::1","sport":1,"dst":"fd00::2","dport":443})")));
    auto flows = ask(run.socket, R"({"cmd":"flows"})");
    ASSERT_TRUE(ok(flows));
    EXPECT_EQ(flows.get("result")->get("flows")->array().size(), 4u);  // two flows, both directions
    auto by_port = ask(run.socket, R"({"cmd":"flows","interface":"ifb0","port":5001,"proto":"udp"})");
    EXPECT_EQ(by_port.get("result")->get("flows")->array().size(), 2u);
    auto by_addr = ask(run.socket, R"({"cmd":"flows","address":"fd00::2"})");
    EXPECT_EQ(by_addr.get("result")->get("flows")->array().size(), 2u);
    auto limited = ask(run.socket, R"({"cmd":"flows","limit":1})");
    EXPECT_EQ(limited.get("result")->get("flows")->array().size(), 1u);
    EXPECT_TRUE(limited.get("result")->get("truncated")->boolean());
    EXPECT_EQ(code(ask(run.socket, R"({"cmd":"flows","interface":"nosuch"})")), "XB8004");

    auto stats = ask(run.socket, R"({"cmd":"stats"})");
    ASSERT_TRUE(ok(stats));
    const auto* ifb = stats.get("result")->get("interfaces")->get("ifb0");
    ASSERT_TRUE(ifb);
    EXPECT_EQ(ifb->get("flow-entries")->number(), 4);
    EXPECT_TRUE(ifb->get("pass"));

    EXPECT_TRUE(ok(ask(run.socket, "{\"cmd\":\"unbypass\"," + flow + "}")));
    EXPECT_EQ(code(ask(run.socket, "{\"cmd\":\"unbypass\"," + flow + "}")), "XB8005");
    EXPECT_EQ(code(ask(run.socket, R"({"cmd":"bypass","interface":"eth9","proto":"udp","src":"10.1.0.1","sport":1,"dst":"10.1.0.2","dport":2})")),
              "XB8005");

    // Reload: the same file (nothing to do), a program swap, an invalid file (refused, still running).
    auto same = ask(run.socket, R"({"cmd":"reload"})");
    ASSERT_TRUE(ok(same));
    EXPECT_EQ(same.get("result")->get("outcome")->string(), "unchanged");
    TempFile cpu(conf("ifb0", "      datapath: xdp-generic\n      cpu-redirect: \"0\"\n"));
    auto swapped = ask(run.socket, R"({"cmd":"reload","config":")" + cpu.path + "\"}");
    ASSERT_TRUE(ok(swapped));
    EXPECT_EQ(swapped.get("result")->get("outcome")->string(), "applied");
    auto after = ask(run.socket, R"({"cmd":"status"})");
    EXPECT_EQ(after.get("result")->get("interfaces")->array()[0].get("program")->string(), "xdp_ids_cpu");
    EXPECT_EQ(after.get("result")->get("interfaces")->array()[0].get("flow-entries")->number(), 2) << "the table is kept";
    TempFile bad(conf("ifb0", "      datapath: xdp-generic\n      flow-table: {size: -3}\n"));
    auto refused = ask(run.socket, R"({"cmd":"reload","config":")" + bad.path + "\"}");
    EXPECT_FALSE(ok(refused));
    EXPECT_EQ(code(refused), "XB8101");
    ASSERT_TRUE(refused.get("result"));
    EXPECT_EQ(refused.get("result")->get("outcome")->string(), "refused");
    TempFile hook(conf("ifb0", "      datapath: tc\n"));
    EXPECT_EQ(code(ask(run.socket, R"({"cmd":"reload","config":")" + hook.path + "\"}")), "XB8102");
    // SIGHUP reloads too (the running file: nothing to do) and the run goes on.
    kill(run.pid, SIGHUP);
    usleep(200000);
    EXPECT_TRUE(ok(ask(run.socket, R"({"cmd":"status"})")));

    // shutdown: the run detaches and exits 0; its socket goes.
    auto bye = ask(run.socket, R"({"cmd":"shutdown"})");
    EXPECT_TRUE(ok(bye));
    int status_code = 0;
    ASSERT_EQ(waitpid(run.pid, &status_code, 0), run.pid);
    run.pid = 0;
    EXPECT_TRUE(WIFEXITED(status_code) && WEXITSTATUS(status_code) == 0);
    EXPECT_NE(access(run.socket.c_str(), F_OK), 0) << "the socket file must be removed";
    run.sb.run_in(run.ns, [&] { EXPECT_FALSE(test::xdp_state("ifb0").any()); });
}

TEST(ControlSocket, BadRequestsGetErrorsAndNeverStopTheRun) {
    XB_REQUIRE_KERNEL();
    LiveRun run("      datapath: xdp-generic\n");
    Conn c(run.socket);
    struct Bad {
        std::string line;
        const char* code;
    };
    const Bad bad[] = {{"this is not json", "XB8001"},     {"{\"cmd\":", "XB8001"},
                       {"[\"status\"]", "XB8001"},         {"{\"id\":3}", "XB8001"},
                       {"{\"cmd\":\"launch\"}", "XB8003"}, {"{\"cmd\":\"status\",\"x\":1}", "XB8004"},
                       {std::string("{\"cmd\":\"st\x01\"}"), "XB8001"},
                       {"{\"cmd\":\"flows\",\"limit\":-1}", "XB8004"}};
    for (const auto& b : bad) {
        c.send(b.line + "\n");
        auto v = JsonValue::parse(c.line());
        ASSERT_TRUE(v) << b.line;
        EXPECT_FALSE(ok(*v));
        EXPECT_EQ(code(*v), b.code) << b.line;
    }
    // Several requests in one write, answered in order, on the same connection.
    c.send("{\"cmd\":\"status\",\"id\":1}\n{\"cmd\":\"nope\",\"id\":2}\n{\"cmd\":\"stats\",\"id\":3}\n");
    for (int id = 1; id <= 3; ++id) {
        auto v = JsonValue::parse(c.line());
        ASSERT_TRUE(v);
        EXPECT_EQ(v->get("id")->number(), id);
        EXPECT_EQ(ok(*v), id != 2);
    }
    // Oversized: an error, then the connection is closed; the run serves the next client.
    Conn big(run.socket);
    big.send(std::string(kMaxRequestBytes + 4096, 'x'));
    auto v = JsonValue::parse(big.line());
    ASSERT_TRUE(v);
    EXPECT_EQ(code(*v), "XB8002");
    EXPECT_EQ(big.line(), "") << "the connection must be closed";
    // A client that goes away mid-request, and clients that go before reading their replies
    // (the run must not die of SIGPIPE).
    { Conn gone(run.socket); gone.send("{\"cmd\":\"sta"); }
    for (int i = 0; i < 10; ++i) {
        Conn rude(run.socket);
        rude.send(std::string(R"({"cmd":"flows"})") + "\n" + R"({"cmd":"stats"})" + "\n");
    }
    usleep(100000);
    EXPECT_TRUE(ok(ask(run.socket, R"({"cmd":"status"})")));
    EXPECT_EQ(kill(run.pid, 0), 0) << "the run must still be alive";
    EXPECT_EQ(run.stop(), 0);
}

TEST(ControlSocket, ServesTwentyClientsAtOnce) {
    XB_REQUIRE_KERNEL();
    LiveRun run("      datapath: xdp-generic\n");
    std::vector<std::unique_ptr<Conn>> conns;
    for (int i = 0; i < 20; ++i) conns.push_back(std::make_unique<Conn>(run.socket));
    for (int i = 0; i < 20; ++i) conns[i]->send("{\"cmd\":\"status\",\"id\":" + std::to_string(i) + "}\n");
    for (int i = 0; i < 20; ++i) {
        auto v = JsonValue::parse(conns[i]->line());
        ASSERT_TRUE(v) << i;
        EXPECT_TRUE(ok(*v));
        EXPECT_EQ(v->get("id")->number(), i);
    }
    // And once more, interleaved in the other order, while they all stay connected.
    for (int i = 19; i >= 0; --i) conns[i]->send("{\"cmd\":\"flows\",\"id\":" + std::to_string(i) + "}\n");
    for (int i = 0; i < 20; ++i) {
        auto v = JsonValue::parse(conns[i]->line());
        ASSERT_TRUE(v) << i;
        EXPECT_TRUE(ok(*v));
    }
    EXPECT_EQ(run.stop(), 0);
}

TEST(ControlSocket, RefusesOtherUsers) {
    XB_REQUIRE_KERNEL();
    LiveRun run("      datapath: xdp-generic\n");
    // The socket is 0600: another user cannot even connect. With the mode opened up, SO_PEERCRED
    // still refuses the peer.
    auto as_nobody = [&](bool expect_connect) {
        int pipefd[2];
        ASSERT_EQ(pipe(pipefd), 0);
        pid_t child = fork();
        if (child == 0) {
            close(pipefd[0]);
            if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(3);
            auto r = request(run.socket, R"({"cmd":"status"})", 5000);
            std::string out = r ? *r : "connect failed: " + r.error().message;
            (void)!write(pipefd[1], out.data(), out.size());
            _exit(0);
        }
        close(pipefd[1]);
        std::string got;
        char b[4096];
        ssize_t n;
        while ((n = read(pipefd[0], b, sizeof b)) > 0) got.append(b, static_cast<size_t>(n));
        close(pipefd[0]);
        int status = 0;
        waitpid(child, &status, 0);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << " " << got;
        if (expect_connect) EXPECT_NE(got.find("XB8007"), std::string::npos) << got;
        else EXPECT_NE(got.find("connect failed"), std::string::npos) << got;
    };
    as_nobody(false);
    ASSERT_EQ(chmod(run.socket.c_str(), 0666), 0);
    as_nobody(true);
    EXPECT_TRUE(ok(ask(run.socket, R"({"cmd":"status"})")));
    EXPECT_EQ(run.stop(), 0);
}

TEST(ControlSocket, SighupReloadsTheChangedFile) {
    XB_REQUIRE_KERNEL();
    LiveRun run("      datapath: xdp-generic\n");
    EXPECT_TRUE(ok(ask(run.socket, R"({"cmd":"bypass","interface":"ifb0","proto":"udp","src":"10.1.0.1","sport":4000,"dst":"10.1.0.2","dport":5001})")));
    {
        std::ofstream out(run.file->path, std::ios::trunc);
        out << conf("ifb0", "      datapath: xdp-generic\n      cpu-redirect: \"0\"\n");
    }
    kill(run.pid, SIGHUP);
    std::string program;
    double entries = 0;
    for (int i = 0; i < 300 && program != "xdp_ids_cpu"; ++i) {
        usleep(10000);
        auto s = ask(run.socket, R"({"cmd":"status"})");
        if (!ok(s)) continue;
        const auto& itf = s.get("result")->get("interfaces")->array()[0];
        program = itf.get("program")->string();
        entries = itf.get("flow-entries")->number();
    }
    EXPECT_EQ(program, "xdp_ids_cpu");
    EXPECT_EQ(entries, 2) << "the swap keeps the flow table";
    // A broken file on SIGHUP: refused, the run goes on as it was.
    {
        std::ofstream out(run.file->path, std::ios::trunc);
        out << "xbypass: [";
    }
    kill(run.pid, SIGHUP);
    usleep(300000);
    auto s = ask(run.socket, R"({"cmd":"status"})");
    ASSERT_TRUE(ok(s));
    EXPECT_EQ(s.get("result")->get("interfaces")->array()[0].get("program")->string(), "xdp_ids_cpu");
    EXPECT_EQ(run.stop(), 0);
}

TEST(Commands, FlowsStatsAndStatusOfARun) {
    XB_REQUIRE_KERNEL();
    LiveRun run("      datapath: xdp-generic\n");
    const std::string x = test::xbypass_binary();
    EXPECT_TRUE(ok(ask(run.socket, R"({"cmd":"bypass","interface":"ifb0","proto":"udp","src":"10.1.0.1","sport":4000,"dst":"10.1.0.2","dport":5001})")));
    auto flows = test::run_command(x + " flows --netns " + run.ns);
    EXPECT_EQ(flows.status, 0) << flows.output;
    EXPECT_NE(flows.output.find("ifb0: udp 10.1.0.1:4000 -> 10.1.0.2:5001"), std::string::npos) << flows.output;
    EXPECT_NE(flows.output.find("2 flow entries"), std::string::npos) << flows.output;
    auto fj = test::run_command(x + " flows --netns " + run.ns + " --interface ifb0 --port 5001 --json");
    ASSERT_EQ(fj.status, 0) << fj.output;
    auto fv = JsonValue::parse(fj.output.substr(0, fj.output.find('\n')));
    ASSERT_TRUE(fv) << fj.output;
    EXPECT_EQ(fv->get("count")->number(), 2);
    auto stats = test::run_command(x + " stats --netns " + run.ns);
    EXPECT_EQ(stats.status, 0) << stats.output;
    EXPECT_NE(stats.output.find("ifb0:"), std::string::npos) << stats.output;
    EXPECT_NE(stats.output.find("flow-entries=2"), std::string::npos) << stats.output;
    auto watch = test::run_command("timeout -s INT 2.5 " + x + " stats --watch 1 --netns " + run.ns);
    EXPECT_GE(std::count(watch.output.begin(), watch.output.end(), '\n'), 2) << watch.output;
    EXPECT_NE(watch.output.find("(+0)"), std::string::npos) << watch.output;
    auto sj = test::run_command(x + " stats --netns " + run.ns + " --json");
    ASSERT_EQ(sj.status, 0) << sj.output;
    EXPECT_TRUE(JsonValue::parse(sj.output.substr(0, sj.output.find('\n'))));
    auto status = test::run_command(x + " status --netns " + run.ns);
    EXPECT_EQ(status.status, 0) << status.output;
    EXPECT_NE(status.output.find("ifb0: xdp generic, program xdp_ids"), std::string::npos) << status.output;
    EXPECT_NE(status.output.find("owner: xbypass"), std::string::npos) << status.output;
    EXPECT_NE(status.output.find("lease: held"), std::string::npos) << status.output;
    EXPECT_NE(status.output.find("run: pid " + std::to_string(run.pid) + ", config " + run.file->path), std::string::npos)
        << status.output;
    auto js = test::run_command(x + " status ifb0 --json --netns " + run.ns);
    ASSERT_EQ(js.status, 0) << js.output;
    auto jv = JsonValue::parse(js.output.substr(0, js.output.find('\n')));
    ASSERT_TRUE(jv) << js.output;
    const auto& a = jv->get("attachments")->array();
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].get("owner")->string(), "xbypass");
    EXPECT_EQ(a[0].get("run")->get("pid")->number(), run.pid);
    EXPECT_TRUE(a[0].get("lease")->get("held")->boolean());
    // A live run's program is not detached.
    auto refuse = test::run_command(x + " detach ifb0 --netns " + run.ns);
    EXPECT_EQ(refuse.status, 1) << refuse.output;
    EXPECT_NE(refuse.output.find("XB8204"), std::string::npos) << refuse.output;
    EXPECT_EQ(run.stop(), 0);
    // No run any more: the client commands say so.
    auto none = test::run_command(x + " stats --netns " + run.ns);
    EXPECT_EQ(none.status, 1) << none.output;
    EXPECT_NE(none.output.find("XB8201"), std::string::npos) << none.output;
}

TEST(Commands, StatusOfAForeignProgramAndOfNothing) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("st");
    sb.add_ifb(ns, "ifb0");
    sb.link_up(ns, "ifb0");
    const std::string x = test::xbypass_binary();
    auto nothing = test::run_command(x + " status --netns " + ns);
    EXPECT_EQ(nothing.status, 0) << nothing.output;
    EXPECT_NE(nothing.output.find("no XDP program or tc filter"), std::string::npos) << nothing.output;
    auto missing = test::run_command(x + " status nosuch0 --netns " + ns);
    EXPECT_EQ(missing.status, 1) << missing.output;
    UniqueFd foreign = test::load_trivial_xdp("other_tool");
    UniqueFd foreign_tc = test::load_trivial_tc("other_tc");
    sb.run_in(ns, [&] {
        int ifindex = static_cast<int>(if_nametoindex("ifb0"));
        ASSERT_EQ(bpf_xdp_attach(ifindex, foreign.get(), XDP_FLAGS_SKB_MODE, nullptr), 0);
        ASSERT_EQ(test::attach_tc_filter(ifindex, foreign_tc.get(), 7, 7), 0);
    });
    auto st = test::run_command(x + " status --netns " + ns + " --json");
    ASSERT_EQ(st.status, 0) << st.output;
    auto v = JsonValue::parse(st.output.substr(0, st.output.find('\n')));
    ASSERT_TRUE(v) << st.output;
    const auto& a = v->get("attachments")->array();
    ASSERT_EQ(a.size(), 2u) << st.output;
    for (const auto& x1 : a) EXPECT_EQ(x1.get("owner")->string(), "other");
    EXPECT_EQ(a[0].get("prog_name")->string(), "other_tool");
    auto text = test::run_command(x + " status --netns " + ns);
    EXPECT_NE(text.output.find("another tool"), std::string::npos) << text.output;
    // detach refuses another tool's programs and leaves them.
    auto d = test::run_command(x + " detach ifb0 --netns " + ns);
    EXPECT_EQ(d.status, 1) << d.output;
    EXPECT_NE(d.output.find("XB8203"), std::string::npos) << d.output;
    sb.run_in(ns, [&] {
        int ifindex = static_cast<int>(if_nametoindex("ifb0"));
        EXPECT_NE(test::xdp_prog_id("ifb0"), 0u);
        EXPECT_NE(test::tc_filter_prog_id(ifindex, 7, 7), 0u);
    });
}

TEST(Commands, DetachRemovesWhatAKilledRunLeft) {
    XB_REQUIRE_KERNEL();
    LiveRun run("      datapath: tc\n");
    const std::string x = test::xbypass_binary();
    int ifindex = 0;
    run.sb.run_in(run.ns, [&] { ifindex = static_cast<int>(if_nametoindex("ifb0")); });
    uint32_t ours = 0;
    run.sb.run_in(run.ns, [&] { ours = test::tc_filter_prog_id(ifindex, datapath::kTcHandle, datapath::kTcPriority); });
    ASSERT_NE(ours, 0u);
    kill(run.pid, SIGKILL);
    waitpid(run.pid, nullptr, 0);
    run.pid = 0;
    // The filter stays: tc has no link that dies with its process.
    run.sb.run_in(run.ns, [&] {
        EXPECT_EQ(test::tc_filter_prog_id(ifindex, datapath::kTcHandle, datapath::kTcPriority), ours);
    });
    auto st = test::run_command(x + " status --netns " + run.ns);
    EXPECT_NE(st.output.find("run: none alive"), std::string::npos) << st.output;
    auto d = test::run_command(x + " detach ifb0 --netns " + run.ns);
    EXPECT_EQ(d.status, 0) << d.output;
    EXPECT_NE(d.output.find("removed the tc ingress program tc_ids (id " + std::to_string(ours)), std::string::npos)
        << d.output;
    run.sb.run_in(run.ns, [&] {
        EXPECT_EQ(test::tc_filter_prog_id(ifindex, datapath::kTcHandle, datapath::kTcPriority), 0u);
        auto filters = datapath::count_clsact_filters(ifindex);
        EXPECT_TRUE(!filters || *filters == 0u);
    });
    EXPECT_NE(d.output.find("removed the control socket " + run.socket), std::string::npos) << d.output;
    EXPECT_NE(access(run.socket.c_str(), F_OK), 0);
    auto again = test::run_command(x + " detach ifb0 --netns " + run.ns);
    EXPECT_EQ(again.status, 0) << again.output;
    EXPECT_NE(again.output.find("nothing to remove"), std::string::npos) << again.output;
}

TEST(Commands, DetachRemovesANetlinkXdpLeftoverAndStatusShowsItsLapsedLease) {
    XB_REQUIRE_KERNEL();
    Sandbox sb;
    std::string ns = sb.add_netns("nl");
    sb.add_ifb(ns, "ifb0");
    sb.link_up(ns, "ifb0");
    const std::string x = test::xbypass_binary();
    uint32_t id = 0;
    sb.run_in(ns, [&] {
        // What a run on a kernel without XDP links leaves when killed: our program, attached by
        // netlink, outliving its process; its lease long lapsed.
        Diagnostics d;
        datapath::ProgramOptions o;
        o.lease_seconds = 30;
        auto prog = datapath::BypassProgram::load(o, d);
        ASSERT_TRUE(prog) << d.to_text();
        ASSERT_TRUE(prog->set_lease_until(1));
        int ifindex = static_cast<int>(if_nametoindex("ifb0"));
        ASSERT_EQ(bpf_xdp_attach(ifindex, prog->prog_fd(), XDP_FLAGS_SKB_MODE, nullptr), 0);
        id = test::xdp_prog_id("ifb0");
    });
    ASSERT_NE(id, 0u);
    auto st = test::run_command(x + " status ifb0 --netns " + ns);
    EXPECT_EQ(st.status, 0) << st.output;
    EXPECT_NE(st.output.find("program xdp_ids (id " + std::to_string(id) + "), netlink"), std::string::npos) << st.output;
    EXPECT_NE(st.output.find("lease: lapsed"), std::string::npos) << st.output;
    EXPECT_NE(st.output.find("run: none alive"), std::string::npos) << st.output;
    auto d = test::run_command(x + " detach ifb0 --netns " + ns);
    EXPECT_EQ(d.status, 0) << d.output;
    EXPECT_NE(d.output.find("removed the xdp generic program xdp_ids (id " + std::to_string(id)), std::string::npos)
        << d.output;
    sb.run_in(ns, [&] { EXPECT_FALSE(test::xdp_state("ifb0").any()); });
}

}  // namespace
}  // namespace xb::control
