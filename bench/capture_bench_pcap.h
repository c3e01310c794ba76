// libpcap for bench/capture_bench.cpp, in a translation unit of its own: <pcap/pcap.h> defines a
// struct bpf_insn of its own (classic BPF) that clashes with <linux/bpf.h>'s.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace xb::bench {

// Busy on the packet's bytes for ns nanoseconds: the receiver, not the kernel, is then the limit.
inline void busy_on_packet(const uint8_t* data, uint32_t len, uint64_t ns) {
    if (ns == 0 || len == 0) return;
    const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
    volatile uint8_t sink = 0;
    for (uint32_t i = 0; std::chrono::steady_clock::now() < until; ++i) sink = static_cast<uint8_t>(sink + data[i % len]);
}

struct PcapHandle;

// pcap_open_live(ifname, snaplen 65535, promisc off, timeout_ms): immediate mode off, default buffer.
PcapHandle* pcap_open(const std::string& ifname, int timeout_ms, std::string& err);
// pcap_next_ex until stop (or an error), storing the running packet count into count.
// work_ns: CPU spent on each packet (busy_on_packet), as an engine's inspection would.
void pcap_drain(PcapHandle* h, const std::atomic<bool>& stop, std::atomic<uint64_t>& count, uint64_t work_ns);
// pcap_stats ps_drop: packets the ring had no room for.
uint64_t pcap_drops(PcapHandle* h);
void pcap_close(PcapHandle* h);

}  // namespace xb::bench
