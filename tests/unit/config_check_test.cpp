// custom-program inspection with real BPF objects (built by clang during `make check`), and the
// `xbypass check` command end to end: output order, verdict line, JSON, exit codes 0/1/2.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config/check.h"
#include "config/config.h"
#include "config/program_file.h"
#include "harness/sandbox.h"

namespace xb::config {
namespace {

namespace fs = std::filesystem;

const std::string kBpfDir = std::string(XB_BUILDDIR) + "/tests/data/config/bpf/";
const std::string kXbypass = std::string(XB_BUILDDIR) + "/xbypass";

// A private temporary directory, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "xb-config-test-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
    }
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) fs::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    std::string write(const std::string& name, const std::string& text) const {
        std::string p = path_ + "/" + name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }

private:
    std::string path_;
};

TEST(ProgramFile, Classification) {
    TempDir tmp;
    ASSERT_FALSE(tmp.path().empty());
    std::string text = tmp.write("notes.txt", "not an object file at all\n");
    std::string host_elf = "/bin/true";
    struct Case {
        std::string path;
        ProgramFileStatus status;
    } cases[] = {
        {kBpfDir + "xdp_pass.bpf.o", ProgramFileStatus::Ok},
        {kBpfDir + "tc_pass.bpf.o", ProgramFileStatus::Ok},
        {kBpfDir + "socket_only.bpf.o", ProgramFileStatus::NoAttachable},
        {tmp.path() + "/missing.o", ProgramFileStatus::Missing},
        {tmp.path() + "/missing-dir/x.o", ProgramFileStatus::Missing},
        {tmp.path(), ProgramFileStatus::Unreadable},
        {text, ProgramFileStatus::NotBpfObject},
        {host_elf, ProgramFileStatus::NotBpfObject},
    };
    for (const auto& c : cases) {
        ProgramFileReport r = inspect_program_file(c.path);
        EXPECT_EQ(static_cast<int>(r.status), static_cast<int>(c.status)) << c.path << ": " << r.detail;
        if (c.status != ProgramFileStatus::Ok) {
            EXPECT_FALSE(r.detail.empty()) << c.path;
        }
    }
    ProgramFileReport xdp = inspect_program_file(kBpfDir + "xdp_pass.bpf.o");
    ASSERT_EQ(xdp.attachable.size(), 1u);
    EXPECT_EQ(xdp.attachable[0], "xdp_pass_all (xdp)");
    ProgramFileReport sock = inspect_program_file(kBpfDir + "socket_only.bpf.o");
    EXPECT_EQ(sock.programs, std::vector<std::string>{"socket_keep_all (socket)"});
}

TEST(ProgramFile, TruncatedBpfObjectIsNotAValidObject) {
    TempDir tmp;
    std::ifstream in(kBpfDir + "xdp_pass.bpf.o", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    ASSERT_GT(bytes.size(), 200u);
    std::string cut = tmp.write("cut.o", bytes.substr(0, 100));
    ProgramFileReport r = inspect_program_file(cut);
    EXPECT_EQ(static_cast<int>(r.status), static_cast<int>(ProgramFileStatus::NotBpfObject)) << r.detail;
}

TEST(ProgramFile, ConfigReportsEachCaseWithItsCodeAndLine) {
    TempDir tmp;
    std::string text = tmp.write("notes.txt", "hello\n");
    fs::copy_file(kBpfDir + "xdp_pass.bpf.o", tmp.path() + "/rel.o");
    struct Case {
        std::string program;
        const char* code;  // nullptr: accepted
    } cases[] = {
        {kBpfDir + "xdp_pass.bpf.o", nullptr},
        {kBpfDir + "tc_pass.bpf.o", nullptr},
        {"rel.o", nullptr},  // relative to the configuration file
        {tmp.path() + "/none.o", "XB1119"},
        {tmp.path(), "XB1120"},
        {text, "XB1121"},
        {kBpfDir + "socket_only.bpf.o", "XB1122"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.program);
        std::string file = tmp.write("c.yaml",
                                     "xbypass:\n  interfaces:\n    - interface: eth0\n      custom-program: \"" +
                                         c.program + "\"\n");
        LoadedConfig l = load_config_file(file);
        if (!c.code) {
            EXPECT_TRUE(l.accepted()) << l.diagnostics.to_text();
            EXPECT_EQ(l.config.interfaces.at(0).custom_program[0], '/');
            continue;
        }
        ASSERT_EQ(l.diagnostics.size(), 1u) << l.diagnostics.to_text();
        const Diagnostic& d = *l.diagnostics.begin();
        EXPECT_EQ(d.code, c.code);
        EXPECT_EQ(d.location.line, 4u);
        EXPECT_EQ(d.key_path, "xbypass.interfaces[0].custom-program");
    }
    // Suricata's xdp-filter-file goes through the same check.
    std::string af = tmp.write("af.yaml", "af-packet:\n  - interface: eth0\n    xdp-filter-file: " + kBpfDir +
                                              "socket_only.bpf.o\n");
    LoadedConfig l = load_config_file(af);
    ASSERT_TRUE(l.diagnostics.contains("XB1122")) << l.diagnostics.to_text();
    EXPECT_EQ(l.diagnostics.begin()->key_path, "af-packet[0].xdp-filter-file");
}

xb::test::CommandResult run_check(const std::string& args) {
    auto r = xb::test::run_command(kXbypass + " check --static " + args + " 2>/dev/null");

    return r;
}

TEST(CheckCommand, AcceptedWithWarningsExitsZero) {
    TempDir tmp;
    std::string f = tmp.write("ok.yaml",
                              "af-packet:\n  - interface: eth1\nxbypass:\n  interfaces:\n    - interface: eth0\n");
    xb::test::CommandResult r = run_check("-c " + f);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(f + ":1:1: warning[XB1102]"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(f + ": accepted (0 errors, 1 warning, 0 notes)\n"), std::string::npos) << r.output;
}

TEST(CheckCommand, RejectedPrintsDiagnosticsSortedByLocation) {
    TempDir tmp;
    std::string f = tmp.write("bad.yaml",
                              "xbypass:\n"
                              "  interfaces:\n"
                              "    - interface: eth0\n"
                              "      datapath: tc\n"
                              "      cpu-redirect: 0-1\n"
                              "      threads: many\n"
                              "  log-level: loud\n");
    xb::test::CommandResult r = run_check("--config " + f);
    EXPECT_EQ(r.status, 1) << r.output;
    size_t p5 = r.output.find(":5:7: error[XB1118]");
    size_t p6 = r.output.find(":6:16: error[XB1108]");
    size_t p7 = r.output.find(":7:14: error[XB1110]");
    ASSERT_NE(p5, std::string::npos) << r.output;
    ASSERT_NE(p6, std::string::npos) << r.output;
    ASSERT_NE(p7, std::string::npos) << r.output;
    EXPECT_LT(p5, p6);
    EXPECT_LT(p6, p7);
    EXPECT_NE(r.output.find(f + ": rejected (3 errors, 0 warnings, 0 notes)\n"), std::string::npos) << r.output;
}

TEST(CheckCommand, JsonOutput) {
    TempDir tmp;
    std::string f = tmp.write("bad.yaml", "xbypass:\n  interfaces:\n    - interface: eth0\n      bypas: yes\n");
    xb::test::CommandResult r = run_check("-c " + f + " --json");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.output.rfind("{\"file\":\"" + f + "\",\"verdict\":\"rejected\",\"errors\":1,\"warnings\":0,\"notes\":0,"
                             "\"diagnostics\":[{\"code\":\"XB1103\",\"severity\":\"error\",\"file\":\"" + f +
                                 "\",\"line\":4,\"column\":7,",
                             0),
              0u)
        << r.output;
    EXPECT_EQ(r.output.back(), '\n');
}

TEST(CheckCommand, UsageAndIoErrorsExitTwo) {
    TempDir tmp;
    EXPECT_EQ(run_check("").status, 2);
    EXPECT_EQ(run_check("-c").status, 2);
    EXPECT_EQ(run_check("--bogus").status, 2);
    xb::test::CommandResult missing = run_check("-c " + tmp.path() + "/nope.yaml");
    EXPECT_EQ(missing.status, 2);
    EXPECT_NE(missing.output.find("error[XB1001]"), std::string::npos) << missing.output;
    EXPECT_NE(missing.output.find(": error (1 error,"), std::string::npos) << missing.output;
    EXPECT_EQ(run_check("-c " + tmp.path()).status, 2);  // a directory
    EXPECT_EQ(xb::test::run_command(kXbypass + " check --help").status, 0);
}

TEST(CheckCommand, ShippedConfigurationsAreAccepted) {
    for (const char* f : {"conf/xbypass.yaml", "conf/suricata-af-packet.yaml"}) {
        xb::test::CommandResult r = run_check("-c " + std::string(XB_SRCDIR) + "/" + f);
        EXPECT_EQ(r.status, 0) << f << "\n" << r.output;
    }
}

// `check` refuses what `run` would refuse when it opens its output files (run_static_checks is the
// first step of both), with the key's location.
TEST(CheckCommand, OutputFilesRunCannotOpenAreFoundByCheck) {
    TempDir tmp;
    ::mkdir((tmp.path() + "/dir").c_str(), 0700);
    struct {
        std::string key, value;
        const char* code;  // empty: accepted
        Severity severity;
        const char* message_part;
    } cases[] = {
        {"log-file", tmp.path() + "/x.log", "", Severity::Error, ""},
        {"log-file", tmp.path() + "/missing/x.log", "XB0005", Severity::Error, "/missing does not exist"},
        {"log-file", tmp.path() + "/dir", "XB0005", Severity::Error, "it is a directory"},
        {"log-file", tmp.path() + "/x.log/y", "XB0005", Severity::Error, ""},
        {"eve-log", tmp.path() + "/missing/eve.json", "XB0006", Severity::Warning, "the stats would go to the log only"},
        {"eve-log", tmp.path() + "/dir", "XB0006", Severity::Warning, "it is a directory"},
        {"eve-log", tmp.path() + "/eve.json", "", Severity::Warning, ""},
    };
    tmp.write("x.log", "");
    for (const auto& c : cases) {
        std::string path = tmp.write("c.yaml", "xbypass:\n  " + c.key + ": " + c.value +
                                                   "\n  interfaces:\n    - interface: eth0\n");
        CheckReport r = run_static_checks(path);
        if (!*c.code) {
            EXPECT_TRUE(r.diagnostics.empty()) << c.value << "\n" << r.diagnostics.to_text();
            continue;
        }
        ASSERT_EQ(r.diagnostics.size(), 1u) << c.value << "\n" << r.diagnostics.to_text();
        const Diagnostic& d = r.diagnostics.items()[0];
        EXPECT_EQ(d.code, c.code);
        EXPECT_EQ(d.severity, c.severity);
        EXPECT_EQ(d.location.line, 2u) << d.to_text();
        EXPECT_EQ(d.key_path, "xbypass." + c.key);
        EXPECT_NE(d.message.find(c.message_part), std::string::npos) << d.message;
        EXPECT_FALSE(d.hint.empty());
        EXPECT_EQ(r.exit_code(), c.severity == Severity::Error ? 1 : 0);
    }
    // The command itself: exit 1 with the located error.
    std::string path = tmp.write("c.yaml", "xbypass:\n  log-file: " + tmp.path() + "/missing/x.log\n  interfaces:\n    - interface: eth0\n");
    xb::test::CommandResult cr = run_check("--static -c " + path);
    EXPECT_EQ(cr.status, 1) << cr.output;
    EXPECT_NE(cr.output.find(path + ":2:3: error[XB0005]"), std::string::npos) << cr.output;
}

TEST(CheckCommand, AConfigurationThatIsAFifoIsRefusedWithoutWaiting) {
    TempDir tmp;
    std::string fifo = tmp.path() + "/fifo.yaml";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    xb::test::CommandResult r = run_check("-c " + fifo);  // a blocking open would hang here
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("error[XB1001]: cannot read configuration file '" + fifo + "': it is a FIFO"),
              std::string::npos) << r.output;
}

}  // namespace
}  // namespace xb::config
