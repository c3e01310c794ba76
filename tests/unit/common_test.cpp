// Table-driven tests of the shared building blocks: diagnostics, JSON, logging, Result.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>

#include "common/diagnostic.h"
#include "common/file_lock.h"
#include "common/function_ref.h"
#include "common/input_file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/result.h"
#include "common/strings.h"

namespace xb {
namespace {

TEST(Diagnostic, TextHasLocationCodeKeyAndHint) {
    Diagnostic d{"XB1203", Severity::Error, {"conf/x.yaml", 12, 7}, "xbypass.interfaces[0].cpu-redirect",
                 "CPU 9 is not online", "use CPUs listed in /sys/devices/system/cpu/online"};
    EXPECT_EQ(d.to_text(),
              "conf/x.yaml:12:7: error[XB1203]: CPU 9 is not online (key: xbypass.interfaces[0].cpu-redirect)\n"
              "  hint: use CPUs listed in /sys/devices/system/cpu/online\n");
}

TEST(Diagnostic, TextWithoutLocationOrHint) {
    Diagnostic d{"XB2001", Severity::Warning, {}, "", "netdev family missing", ""};
    EXPECT_EQ(d.to_text(), "warning[XB2001]: netdev family missing\n");
    Diagnostic f{"XB0002", Severity::Info, {"f.yaml", 0, 0}, "", "m", ""};
    EXPECT_EQ(f.to_text(), "f.yaml: info[XB0002]: m\n");
}

TEST(Diagnostic, JsonEscapesAndOmitsEmptyFields) {
    Diagnostic d{"XB1001", Severity::Error, {"a\"b.yaml", 3, 1}, "k", "bad\nvalue", ""};
    EXPECT_EQ(d.to_json(),
              R"({"code":"XB1001","severity":"error","file":"a\"b.yaml","line":3,"column":1,"key":"k","message":"bad\nvalue"})");
}

TEST(Diagnostics, SortsByLocationWithUnlocatedLast) {
    Diagnostics ds;
    ds.warning("XB3", "no location");
    ds.error("XB2", "second", "", {"f", 10, 2});
    ds.error("XB1", "first", "", {"f", 2, 9});
    ds.error("XB4", "same line later column", "", {"f", 10, 5});
    ds.sort_by_location();
    std::vector<std::string> order;
    for (const auto& d : ds) order.push_back(d.code);
    EXPECT_EQ(order, (std::vector<std::string>{"XB1", "XB2", "XB4", "XB3"}));
    EXPECT_TRUE(ds.has_errors());
    EXPECT_EQ(ds.count(Severity::Warning), 1u);
    EXPECT_TRUE(ds.contains("XB4"));
    EXPECT_FALSE(ds.contains("XB9"));
}

TEST(Diagnostics, WarningsAloneAreNotErrors) {
    Diagnostics ds;
    ds.warning("XB1", "w");
    ds.info("XB2", "i");
    EXPECT_FALSE(ds.has_errors());
    EXPECT_EQ(ds.to_json().front(), '[');
}

struct EscapeCase {
    std::string in, out;
};
class JsonEscape : public ::testing::TestWithParam<EscapeCase> {};
TEST_P(JsonEscape, Escapes) {
    std::string out;
    json_escape(out, GetParam().in);
    EXPECT_EQ(out, GetParam().out);
}
INSTANTIATE_TEST_SUITE_P(Table, JsonEscape,
                         ::testing::Values(EscapeCase{"plain", "\"plain\""}, EscapeCase{"q\"", "\"q\\\"\""},
                                           EscapeCase{"back\\", "\"back\\\\\""}, EscapeCase{"\t\r\n", "\"\\t\\r\\n\""},
                                           EscapeCase{std::string("\x01\x7f", 2), "\"\\u0001\\u007f\""},
                                           EscapeCase{"ünï", "\"ünï\""}));

TEST(JsonWriter, NestedContainersGetCommas) {
    JsonWriter w;
    w.begin_object().field("a", 1).key("b").begin_array().value(true).null().value("x").end_array();
    w.key("c").begin_object().field("d", uint64_t{18446744073709551615ull}).end_object().end_object();
    EXPECT_EQ(w.str(), R"({"a":1,"b":[true,null,"x"],"c":{"d":18446744073709551615}})");
}

TEST(Log, ParsesLevelsCaseInsensitively) {
    LogLevel l{};
    EXPECT_TRUE(parse_log_level("Debug", &l));
    EXPECT_EQ(l, LogLevel::Debug);
    EXPECT_TRUE(parse_log_level("notice", &l));
    EXPECT_EQ(l, LogLevel::Notice);
    EXPECT_TRUE(parse_log_level("CONFIG", &l));
    EXPECT_EQ(l, LogLevel::Config);
    EXPECT_FALSE(parse_log_level("verbose", &l));
    EXPECT_FALSE(parse_log_level("", &l));
}

TEST(Log, SuricataTextFormat) {
    auto& lg = Logger::instance();
    lg.set_json(false);
    std::string line = lg.format(LogLevel::Warning, "probe", "veth0: no ndo-xmit");
    // "22/11/2026 -- 04:15:18 - <Warning> - [probe] veth0: no ndo-xmit"
    ASSERT_GE(line.size(), 22u);
    EXPECT_EQ(line.substr(10, 4), " -- ");
    EXPECT_NE(line.find(" - <Warning> - [probe] veth0: no ndo-xmit"), std::string::npos) << line;
}

TEST(Log, JsonLinesFormat) {
    auto& lg = Logger::instance();
    lg.set_json(true);
    std::string line = lg.format(LogLevel::Info, "plan", "say \"hi\"");
    lg.set_json(false);
    EXPECT_EQ(line.front(), '{');
    EXPECT_NE(line.find(R"("log_level":"Info","module":"plan","message":"say \"hi\"")"), std::string::npos) << line;
}

TEST(Log, LevelFilters) {
    auto& lg = Logger::instance();
    lg.set_level(LogLevel::Notice);
    EXPECT_TRUE(lg.enabled(LogLevel::Error));
    EXPECT_TRUE(lg.enabled(LogLevel::Notice));
    EXPECT_FALSE(lg.enabled(LogLevel::Info));
}

TEST(Result, CarriesValueOrError) {
    Result<int> ok = 5;
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, 5);
    Result<int> bad = Error::from_errno(-ENOENT, "open x");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ENOENT);
    EXPECT_EQ(bad.error().message, "open x: No such file or directory");
    Status st;
    EXPECT_TRUE(st);
    Status st2 = Error{EINVAL, "nope"};
    EXPECT_FALSE(st2);
}

TEST(Strings, CpuListRangesJoinAndHex) {
    EXPECT_EQ(cpu_list_text({}), "none");
    EXPECT_EQ(cpu_list_text({3}), "3");
    EXPECT_EQ(cpu_list_text({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
    EXPECT_EQ(join({"a", "b", "c"}, "; "), "a; b; c");
    EXPECT_EQ(join({}, ","), "");
    EXPECT_EQ(hex(0x23), "0x23");
    EXPECT_EQ(hex(0), "0x0");
}

// A private directory, removed with everything in it however the test ends.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/xbt-lock-XXXXXX";
        path = mkdtemp(tmpl) ? tmpl : "";
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(FileLock, HeldUntilReleasedThenTheFileIsGone) {
    TempDir dir;
    ASSERT_FALSE(dir.path.empty());
    const std::string path = dir.path + "/sub/ns-v0.lock";  // the directory is created as needed
    {
        auto first = FileLock::try_acquire(path);
        ASSERT_TRUE(first) << first.error().message;
        auto second = FileLock::try_acquire(path);
        ASSERT_FALSE(second) << "a second holder in the same process must be refused";
        EXPECT_EQ(second.error().code, EWOULDBLOCK);
        EXPECT_NE(second.error().message.find("held by pid " + std::to_string(getpid())), std::string::npos)
            << second.error().message;
    }
    EXPECT_FALSE(std::filesystem::exists(path)) << "releasing the lock removes its file";
    auto again = FileLock::try_acquire(path);
    EXPECT_TRUE(again) << "free again after release";
}

TEST(FileLock, ReleasedByTheKernelWhenTheHolderIsKilled) {
    TempDir dir;
    ASSERT_FALSE(dir.path.empty());
    const std::string path = dir.path + "/v0.lock";
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto held = FileLock::try_acquire(path);
        char c = held ? 'y' : 'n';
        (void)!write(ready[1], &c, 1);
        pause();
        _exit(0);
    }
    char c = 0;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    close(ready[0]);
    close(ready[1]);
    ASSERT_EQ(c, 'y');
    auto while_alive = FileLock::try_acquire(path);
    EXPECT_FALSE(while_alive);
    if (!while_alive) {
        EXPECT_NE(while_alive.error().message.find("held by pid " + std::to_string(child)), std::string::npos)
            << while_alive.error().message;
    }
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    auto after = FileLock::try_acquire(path);  // the killed holder's file is still there, unlocked
    EXPECT_TRUE(after) << (after ? "" : after.error().message);
}

// ---- read_input_file: the one way a file the program is given is read ----------------------------

TEST(InputFile, RegularFilesAreReadAndEverythingElseIsRefusedWithTheReason) {
    namespace fs = std::filesystem;
    std::string tmpl = (fs::temp_directory_path() / "xb-input-XXXXXX").string();
    ASSERT_TRUE(::mkdtemp(tmpl.data()));
    const std::string dir = tmpl;
    std::ofstream(dir + "/text") << "hello\n";
    std::ofstream(dir + "/empty");
    std::ofstream(dir + "/big") << std::string(2000, 'x');
    ASSERT_EQ(::mkfifo((dir + "/fifo").c_str(), 0600), 0);  // no writer: a blocking open would hang
    struct {
        std::string path;
        size_t max;
        InputFileProblem problem;
        const char* why_part;
        const char* bytes;
    } cases[] = {
        {dir + "/text", 100, InputFileProblem::None, "", "hello\n"},
        {dir + "/empty", 100, InputFileProblem::None, "", ""},
        {dir + "/text", 6, InputFileProblem::None, "", "hello\n"},  // exactly the limit
        {dir + "/text", 5, InputFileProblem::TooLarge, "6 bytes, more than the limit of 5 bytes", ""},
        {dir + "/big", 1024, InputFileProblem::TooLarge, "more than the limit of 1 KiB", ""},
        {dir, 100, InputFileProblem::NotRegular, "it is a directory", ""},
        {dir + "/fifo", 100, InputFileProblem::NotRegular, "FIFO", ""},
        {"/dev/zero", 100, InputFileProblem::NotRegular, "character device", ""},
        {"/proc/self/mem", 100, InputFileProblem::NotRegular, "pseudo-file", ""},
        {"/proc/self/status", 1 << 20, InputFileProblem::NotRegular, "reports no size", ""},
        {dir + "/missing", 100, InputFileProblem::CannotOpen, "No such file or directory", ""},
        {"", 100, InputFileProblem::CannotOpen, "the file name is empty", ""},
    };
    for (const auto& c : cases) {
        InputFile f = read_input_file(c.path, c.max);
        EXPECT_EQ(f.problem, c.problem) << c.path << ": " << f.why;
        EXPECT_NE(f.why.find(c.why_part), std::string::npos) << c.path << ": " << f.why;
        EXPECT_EQ(f.bytes, c.bytes) << c.path;
    }
    auto r = read_input_file(dir, 100, "flows file");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "cannot read the flows file '" + dir + "': it is a directory");
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_EQ(read_input_file(dir + "/big", 10, "capture").error().code, EFBIG);
    fs::remove_all(dir);
}

TEST(InputFile, APendingStopSignalInterruptsTheRead) {
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    ASSERT_EQ(sigprocmask(SIG_BLOCK, &set, &old), 0);
    ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);  // blocked: stays pending, as in `xbypass run`
    InputFile f = read_input_file("/proc/self/exe", size_t{1} << 40);  // the test binary: a regular file
    EXPECT_EQ(f.problem, InputFileProblem::Interrupted) << f.why;
    timespec zero{0, 0};
    EXPECT_EQ(sigtimedwait(&set, nullptr, &zero), SIGTERM);  // take it back
    sigprocmask(SIG_SETMASK, &old, nullptr);
}

TEST(Strings, PrintableEscapesControlBytesAndUtf8LengthCountsCharacters) {
    struct {
        std::string in, printable;
        size_t chars;
    } cases[] = {
        {"eth0", "eth0", 4},
        {std::string("a\0b", 3), "a\\x00b", 3},
        {"a\x01" "b", "a\\x01b", 3},
        {"\x1b[31m", "\\x1b[31m", 5},
        {"\xc3\xa9\xc3\xa9", "\xc3\xa9\xc3\xa9", 2},
        {"tab\there", "tab\\x09here", 8},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(printable(c.in), c.printable);
        EXPECT_EQ(utf8_length(c.in), c.chars) << c.printable;
    }
}

}  // namespace
}  // namespace xb

// FunctionRef calls what it refers to, whatever kind of callable, and copies nothing: state the
// callable changes is the caller's own.
namespace {
int call_twice(xb::FunctionRef<int(int)> f, int x) { return f(f(x)); }
int plus_one(int x) { return x + 1; }
}  // namespace

TEST(FunctionRef, CallsTheCallableItRefersTo) {
    int calls = 0;
    auto counting = [&calls](int x) {
        ++calls;
        return x * 2;
    };
    EXPECT_EQ(call_twice(counting, 3), 12);
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(call_twice([](int x) { return x - 1; }, 3), 1);  // a temporary lives through the call
    EXPECT_EQ(call_twice(plus_one, 3), 5);                      // a function
    std::function<int(int)> fn = [](int x) { return x * x; };
    EXPECT_EQ(call_twice(fn, 3), 81);
    const auto constant = [](int) { return 7; };
    EXPECT_EQ(call_twice(constant, 0), 7);
    // A callable with state larger than std::function keeps inline, referred to, not copied.
    struct Big {
        long pad[8] = {};
        int n = 0;
        int operator()(int x) { return x + ++n; }
    } big;
    EXPECT_EQ(call_twice(big, 0), 3);  // 0 + 1, then 1 + 2
    EXPECT_EQ(big.n, 2);
}
