// `xbypass simulate` end to end: a capture written with the packet builder, a flows file, the real
// binary and the real kernel (BPF_PROG_TEST_RUN); plus the simulate() API for the cpu choice.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "datapath/pcap.h"
#include "datapath/simulate.h"
#include "harness/sandbox.h"
#include "kernel/bpf_packet_builder.h"

namespace xb::datapath {
namespace {

using test::PacketBuilder;

class SimulateTest : public ::testing::Test {
protected:
    void SetUp() override {
        XB_REQUIRE_KERNEL();
        sandbox_ = std::make_unique<test::Sandbox>();
        dir_ = "/tmp/xbt-sim-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    }
    std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
        std::string path = dir_ + "/" + name;
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                    static_cast<std::streamsize>(bytes.size()));
        return path;
    }
    std::string write(const std::string& name, const std::string& text) {
        return write(name, std::vector<uint8_t>(text.begin(), text.end()));
    }
    static std::vector<std::string> lines(const std::string& s) {
        std::vector<std::string> out;
        std::istringstream in(s);
        for (std::string l; std::getline(in, l);) out.push_back(l);
        return out;
    }
    std::unique_ptr<test::Sandbox> sandbox_;
    std::string dir_;
};

std::vector<PcapPacket> sample_capture() {
    std::vector<std::vector<uint8_t>> frames = {
        PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 80).build(),             // 0 hit
        PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").tcp(80, 1234).payload(50).build(), // 1 hit, reverse
        PacketBuilder().ipv4("10.0.0.1", "10.0.0.3").tcp(1234, 80).build(),             // 2 miss
        PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").ipv4_frag(true, 0).tcp(1234, 80).build(),  // 3 fragment
        PacketBuilder().vlan(0x8100, 300).ipv6("2001:db8::1", "2001:db8::2").udp(53, 5353).build(),  // 4 hit
        PacketBuilder().ethertype(0x0806).build(),                                       // 5 not ip
        std::vector<uint8_t>(10, 0xff),                                                  // 6 runt
    };
    std::vector<PcapPacket> out;
    for (auto& f : frames) out.push_back(PcapPacket{1, 0, 0, f});
    return out;
}

const char* kFlows = "# simulate test\n"
                     "tcp 10.0.0.1 1234 10.0.0.2 80\n"
                     "udp 2001:db8::1 53 2001:db8::2 5353 300\n";

TEST_F(SimulateTest, JsonLinePerPacketInCaptureOrder) {
    std::string pcap = write("c.pcap", write_pcap(sample_capture(), kLinktypeEthernet, /*byte_swapped=*/true));
    std::string flows = write("flows.txt", std::string(kFlows));
    auto r = test::run_command(std::string(XB_BUILDDIR) + "/xbypass simulate --pcap " + pcap + " --flows " + flows +
                               " --json");
    ASSERT_EQ(r.status, 0) << r.output;
    auto out = lines(r.output);
    ASSERT_GE(out.size(), 7u) << r.output;
    EXPECT_EQ(out[0], R"({"index":0,"verdict":"bypass","reason":"hit","action":"XDP_DROP","key":{"proto":"tcp","src_ip":"10.0.0.1","src_port":1234,"dst_ip":"10.0.0.2","dst_port":80,"vlan":[0,0]}})");
    EXPECT_EQ(out[1], R"({"index":1,"verdict":"bypass","reason":"hit","action":"XDP_DROP","key":{"proto":"tcp","src_ip":"10.0.0.2","src_port":80,"dst_ip":"10.0.0.1","dst_port":1234,"vlan":[0,0]}})");
    EXPECT_EQ(out[2], R"({"index":2,"verdict":"pass","reason":"miss","action":"XDP_PASS","key":{"proto":"tcp","src_ip":"10.0.0.1","src_port":1234,"dst_ip":"10.0.0.3","dst_port":80,"vlan":[0,0]}})");
    EXPECT_EQ(out[3], R"({"index":3,"verdict":"pass","reason":"fragment","action":"XDP_PASS","key":null})");
    EXPECT_EQ(out[4], R"({"index":4,"verdict":"bypass","reason":"hit","action":"XDP_DROP","key":{"proto":"udp","src_ip":"2001:db8::1","src_port":53,"dst_ip":"2001:db8::2","dst_port":5353,"vlan":[300,0]}})");
    EXPECT_EQ(out[5], R"({"index":5,"verdict":"pass","reason":"not-ip","action":"XDP_PASS","key":null})");
    EXPECT_NE(out[6].find(R"("index":6,"verdict":"pass")"), std::string::npos) << out[6];

    // tc, VLAN tracking off: the tagged flow no longer matches its VLAN-keyed entry.
    r = test::run_command(std::string(XB_BUILDDIR) + "/xbypass simulate --pcap " + pcap + " --flows " + flows +
                          " --datapath tc --vlan-tracking no --json");
    ASSERT_EQ(r.status, 0) << r.output;
    out = lines(r.output);
    ASSERT_GE(out.size(), 5u);
    EXPECT_NE(out[0].find(R"("verdict":"bypass","reason":"hit","action":"TC_ACT_SHOT")"), std::string::npos) << out[0];
    EXPECT_NE(out[4].find(R"("verdict":"pass","reason":"miss")"), std::string::npos) << out[4];
}

TEST_F(SimulateTest, CpuRedirectReportsTheHashedCpu) {
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs two online CPUs";
    PcapFile capture;
    for (auto& p : sample_capture()) capture.packets.push_back(p);
    Diagnostics d;
    auto flows = parse_flows(kFlows, "flows", d);
    SimulateOptions o;
    o.cpu_redirect = {0, 1};
    auto v = simulate(o, flows, capture, d);
    ASSERT_TRUE(v.ok()) << v.error().message << d.to_text();
    ASSERT_EQ(v->size(), 7u);
    EXPECT_EQ((*v)[0].verdict, "bypass");
    EXPECT_EQ((*v)[2].verdict, "cpu-redirect");
    ASSERT_TRUE((*v)[2].cpu.has_value());
    EXPECT_EQ(*(*v)[2].cpu, redirect_cpu_for(*(*v)[2].key, o.cpu_redirect));
    EXPECT_EQ((*v)[3].verdict, "pass");  // fragments are never redirected
    EXPECT_TRUE(d.contains("XB3122"));   // the runt frame
    EXPECT_FALSE(d.contains("XB3123"));  // host parser and program agree
}

TEST_F(SimulateTest, RefusesPcapngAndBadArguments) {
    std::string ng = write("c.pcapng", std::vector<uint8_t>{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b,
                                                             0x1a, 1, 0, 0, 0});
    std::string bin = std::string(XB_BUILDDIR) + "/xbypass simulate ";
    auto r = test::run_command(bin + "--pcap " + ng);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("error[XB3111]"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("editcap -F pcap"), std::string::npos) << r.output;
    std::string pcap = write("c.pcap", write_pcap(sample_capture()));
    std::string bad_flows = write("bad.txt", std::string("tcp 10.0.0.1 1 10.0.0.2\n"));
    r = test::run_command(bin + "--pcap " + pcap + " --flows " + bad_flows);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find(bad_flows + ":1:1: error[XB3101]"), std::string::npos) << r.output;
    for (const char* args : {"", "--pcap", "--datapath foo --pcap x", "--cpu-redirect 3-1 --pcap x", "--bogus"}) {
        r = test::run_command(bin + args);
        EXPECT_EQ(r.status, 2) << args;
        EXPECT_NE(r.output.find("XB3120"), std::string::npos) << args << ": " << r.output;
    }
    r = test::run_command(bin + "--pcap " + pcap + " --datapath tc --cpu-redirect 0");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("XB3001"), std::string::npos) << r.output;
}

// The issue's crashes and unbounded reads: each input that is not a regular file is a coded refusal
// with exit 2, at once (a FIFO without a writer is not waited on).
TEST_F(SimulateTest, InputsThatAreNotRegularFilesAreRefusedWithExitTwo) {
    std::string bin = std::string(XB_BUILDDIR) + "/xbypass simulate ";
    std::string pcap = write("c.pcap", write_pcap(sample_capture()));
    std::string fifo = dir_ + "/fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    struct {
        std::string args, expected;
    } cases[] = {
        {"--pcap " + dir_, "error[XB3110]: cannot read the capture '" + dir_ + "': it is a directory"},
        {"--pcap /proc/self/mem", "error[XB3110]: cannot read the capture '/proc/self/mem': it is a kernel pseudo-file"},
        {"--pcap /dev/zero", "it is a character device"},
        {"--pcap " + fifo, "it is a FIFO"},
        {"--pcap " + pcap + " --flows /dev/zero", "error[XB3100]: cannot read the flows file '/dev/zero'"},
        {"--pcap " + pcap + " --flows " + dir_, "error[XB3100]: cannot read the flows file '" + dir_ + "': it is a directory"},
        {"--pcap " + pcap + " --flows /proc/self/mem", "pseudo-file"},
        {"--pcap " + pcap + " --flows " + fifo, "it is a FIFO"},
        {"--pcap ''", "error[XB3120]: --pcap needs a file name (not an empty one)"},
        {"--pcap " + pcap + " --flows ''", "error[XB3120]: --flows needs a file name (not an empty one)"},
    };
    for (const auto& c : cases) {
        auto r = test::run_command("timeout 20 " + bin + c.args);
        EXPECT_EQ(r.status, 2) << c.args << "\n" << r.output;
        EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.args << "\n" << r.output;
        EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
    }
}

TEST_F(SimulateTest, RepeatedFlowsAreCountedOnce) {
    std::string pcap = write("c.pcap", write_pcap(sample_capture()));
    std::string text;
    for (int i = 0; i < 10000; ++i) text += "tcp 10.0.0.1 1234 10.0.0.2 80\n";
    std::string flows = write("dups.txt", text);
    auto r = test::run_command(std::string(XB_BUILDDIR) + "/xbypass simulate --pcap " + pcap + " --flows " + flows);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(flows + ":2:1: warning[XB3102]: 9999 lines repeat an earlier flow"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("(1 flows loaded, xdp datapath)"), std::string::npos) << r.output;
}

// Frames BPF_PROG_TEST_RUN refuses: the hint tells a runt from an oversized frame.
TEST_F(SimulateTest, RefusedFramesGetTheHintForTheirKind) {
    std::vector<PcapPacket> capture = {PcapPacket{1, 0, 0, std::vector<uint8_t>(10, 0xff)},
                                       PcapPacket{1, 0, 0, PacketBuilder().ipv4("10.0.0.1", "10.0.0.2")
                                                               .udp(1, 2).payload(9000).build()}};
    std::string pcap = write("refused.pcap", write_pcap(capture));
    // tc's test run takes about a page: the 9000-byte frame is refused there.
    auto r = test::run_command(std::string(XB_BUILDDIR) + "/xbypass simulate --datapath tc --pcap " + pcap);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("warning[XB3122]: packet 0 (10 bytes)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("hint: such a frame is too short"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("warning[XB3122]: packet 1 ("), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("hint: BPF_PROG_TEST_RUN refuses a frame this large"), std::string::npos) << r.output;
}

// A capture larger than the old 64 MiB limit (XB3115 once): simulate streams it, its memory stays
// below the file's size, the oversized frames' warnings are listed 20 times and then counted, and the
// verdicts of the packets after them are right. 280 records of 250,000 bytes are about 70 MB.
TEST_F(SimulateTest, CaptureLargerThanTheOldLimitRunsInBoundedMemory) {
    const std::string path = dir_ + "/big.pcap";
    constexpr int kBig = 280;
    {
        std::ofstream out(path, std::ios::binary);
        auto header = write_pcap({});
        out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
        // A UDP frame's headers, then zeros: BPF_PROG_TEST_RUN refuses the size before it looks inside.
        std::vector<uint8_t> big(250000, 0);
        auto headers = PacketBuilder().ipv4("10.9.0.1", "10.9.0.2").udp(1, 2).build();
        std::copy(headers.begin(), headers.end(), big.begin());
        for (int i = 0; i < kBig; ++i) {
            auto rec = write_pcap({PcapPacket{static_cast<uint32_t>(i), 0, 0, big}});
            out.write(reinterpret_cast<const char*>(rec.data()) + 24, static_cast<std::streamsize>(rec.size() - 24));
        }
        auto tail = write_pcap(sample_capture());
        out.write(reinterpret_cast<const char*>(tail.data()) + 24, static_cast<std::streamsize>(tail.size() - 24));
    }
    ASSERT_GT(std::filesystem::file_size(path), 64ull << 20);
    std::string flows = write("flows.txt", std::string(kFlows));
    // Under AddressSanitizer freed memory waits in a 256 MiB quarantine, which a reader that frees
    // each record's buffer fills whatever its own bound; a 4 MiB quarantine keeps use-after-free
    // detection for what was freed last. (The variable means nothing to a plain build.)
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string env = "ASAN_OPTIONS='" + std::string(asan ? asan : "") + (asan && *asan ? ":" : "") +
                            "quarantine_size_mb=4' ";
    // The peak is simulate's own VmHWM, sampled by a shell while it runs (the last sample before it
    // exits; the peak is reached while streaming): this process's RUSAGE_CHILDREN would also count
    // the shell popen forks from it, a copy of this test process (large with ASan). No python3: the
    // test also runs in the VM's initramfs.
    const std::string script = write("peak.sh", std::string(
        "\"$@\" >\"$0.out\" 2>&1 & p=$!\n"
        "while kill -0 $p 2>/dev/null; do h=$(grep VmHWM /proc/$p/status 2>/dev/null) && echo \"$h\" >\"$0.hwm\"; "
        "sleep 0.02; done\n"
        "wait $p; rc=$?; cat \"$0.out\"; echo \"peak-rss $(cat \"$0.hwm\")\"; exit $rc\n"));
    auto r = test::run_command(env + "timeout 60 sh " + script + " " + std::string(XB_BUILDDIR) +
                               "/xbypass simulate --pcap " + path + " --flows " + flows + " --json");
    ASSERT_EQ(r.status, 0) << r.output.substr(0, 4000);
    const size_t peak_at = r.output.rfind("peak-rss VmHWM:");
    ASSERT_NE(peak_at, std::string::npos) << r.output.substr(r.output.size() > 500 ? r.output.size() - 500 : 0);
    const long peak_kib = std::atol(r.output.c_str() + peak_at + 15);
    auto out = lines(r.output);
    size_t verdicts = 0, listed = 0, summary = 0;
    std::string first_hit;
    for (const auto& l : out) {
        if (l.rfind("{\"index\":", 0) == 0) ++verdicts;
        if (l.find("\"code\":\"XB3122\"") != std::string::npos) {
            // The big frames and the sample's runt (its packet 6).
            if (l.find("261 more packets (281 in all)") != std::string::npos) ++summary;
            else ++listed;
        }
        if (first_hit.empty() && l.find("\"reason\":\"hit\"") != std::string::npos) first_hit = l;
    }
    EXPECT_EQ(verdicts, kBig + sample_capture().size());
    EXPECT_EQ(listed, kMaxListedWarnings);
    EXPECT_EQ(summary, 1u) << r.output.substr(r.output.size() > 3000 ? r.output.size() - 3000 : 0);
    EXPECT_NE(first_hit.find("\"index\":" + std::to_string(kBig) + ","), std::string::npos) << first_hit;
    // Reading the file whole would take more than its size (over 64 MiB); streaming takes ~7 MiB
    // (~41 MiB with ASan and its 4 MiB quarantine).
    EXPECT_GT(peak_kib, 3 * 1024) << "the sample is not simulate's (a shell's or timeout's is under 2 MiB)";
    EXPECT_LT(peak_kib, 56 * 1024) << "peak RSS " << peak_kib << " KiB";
}

// A record cut short after good ones: their verdicts first, then XB3114 with the byte offset, exit 2.
TEST_F(SimulateTest, TruncatedRecordAfterGoodPacketsEndsWithItsDiagnostic) {
    auto bytes = write_pcap(sample_capture());
    const size_t whole = bytes.size();
    bytes.erase(bytes.end() - 5, bytes.end());
    std::string pcap = write("cut.pcap", bytes);
    std::string flows = write("flows.txt", std::string(kFlows));
    auto r = test::run_command(std::string(XB_BUILDDIR) + "/xbypass simulate --pcap " + pcap + " --flows " + flows);
    EXPECT_EQ(r.status, 2) << r.output;
    const size_t last = sample_capture().size() - 1;
    EXPECT_NE(r.output.find("error[XB3114]: packet " + std::to_string(last) + " is truncated (record at byte offset " +
                            std::to_string(whole - 16 - sample_capture().back().data.size()) + ")"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("bypass"), std::string::npos) << "verdicts before the bad record: " << r.output;
    EXPECT_EQ(r.output.find("packets:"), std::string::npos) << "no summary after a bad record: " << r.output;
}

TEST(CpuList, Parses) {
    auto l = parse_cpu_list("0-2,5,7-8");
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(*l, (std::vector<unsigned>{0, 1, 2, 5, 7, 8}));
    for (const char* bad : {"", "a", "1-", "-1", "3-1", "1,,2", "1-2-3"}) EXPECT_FALSE(parse_cpu_list(bad).ok()) << bad;
}

}  // namespace
}  // namespace xb::datapath
