// libpcap for bench/capture_bench.cpp (see capture_bench_pcap.h).
#include "capture_bench_pcap.h"

#include <pcap/pcap.h>

namespace xb::bench {

struct PcapHandle {
    pcap_t* p = nullptr;
};

PcapHandle* pcap_open(const std::string& ifname, int timeout_ms, std::string& err) {
    char ebuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_live(ifname.c_str(), 65535, 0, timeout_ms, ebuf);
    if (!p) {
        err = "pcap_open_live " + ifname + ": " + ebuf;
        return nullptr;
    }
    return new PcapHandle{p};
}

void pcap_drain(PcapHandle* h, const std::atomic<bool>& stop, std::atomic<uint64_t>& count, uint64_t work_ns) {
    uint64_t n = 0;
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    while (!stop.load(std::memory_order_relaxed)) {
        int rc = pcap_next_ex(h->p, &hdr, &data);
        if (rc == 1) {
            busy_on_packet(data, hdr->caplen, work_ns);
            count.store(++n, std::memory_order_relaxed);
        }
        else if (rc < 0) break;
    }
}

uint64_t pcap_drops(PcapHandle* h) {
    pcap_stat st{};
    return pcap_stats(h->p, &st) == 0 ? st.ps_drop : 0;
}

void pcap_close(PcapHandle* h) {
    if (!h) return;
    ::pcap_close(h->p);
    delete h;
}

}  // namespace xb::bench
