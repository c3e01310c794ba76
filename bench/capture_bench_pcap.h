// libpcap for bench/capture_bench.cpp, in a translation unit of its own: <pcap/pcap.h> defines a
// struct bpf_insn of its own (classic BPF) that clashes with <linux/bpf.h>'s.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace xb::bench {

struct PcapHandle;

// pcap_open_live(ifname, snaplen 65535, promisc off, timeout_ms): immediate mode off, default buffer.
PcapHandle* pcap_open(const std::string& ifname, int timeout_ms, std::string& err);
// pcap_next_ex until stop (or an error), storing the running packet count into count.
void pcap_drain(PcapHandle* h, const std::atomic<bool>& stop, std::atomic<uint64_t>& count);
// pcap_stats ps_drop: packets the ring had no room for.
uint64_t pcap_drops(PcapHandle* h);
void pcap_close(PcapHandle* h);

}  // namespace xb::bench
