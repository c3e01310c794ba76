#!/usr/bin/env python3
"""Frames for bench/xids_cpu.sh: the same capture is replayed with the bypass on and off.

  xids_cpu_frames.py FILE.pcap MIX PACKETS

IPv4 10.88.0.1 -> 10.88.0.2, checksums left zero (xids does not check them), microsecond timestamps
one apart (tcpreplay paces by --pps, not by these):
  - TCP 5555: handshake, "HELLO XIDS-MARKER" (conf/rules/xids.rules' sid 1000001 bypasses the flow),
    then a bulk transfer of 1400-byte segments, an ACK back for every second one;
  - UDP 5353 from 64 source ports: 100-byte datagrams no rule matches and nothing bypasses
    (xids.udp-bypass-after: 0).
MIX says how the packets are shared between the two: "bulk" 95% TCP, "mixed" 50%.
"""
import os
import struct
import sys

# The frame builders of xids's end-to-end test (Ethernet, IPv4 without options, TCP, UDP).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "engine"))
from xids_frames import eth, ipv4, tcp, udp  # noqa: E402

SYN, ACK, PSH = 0x02, 0x10, 0x08


def frames(mix, count):
    tcp_share = {"bulk": 0.95, "mixed": 0.50}[mix]
    c_seq, s_seq = 1000, 5000
    out = [
        eth(ipv4(6, tcp(40000, 5555, c_seq, 0, SYN))),
        eth(ipv4(6, tcp(5555, 40000, s_seq, c_seq + 1, SYN | ACK), reverse=True), reverse=True),
        eth(ipv4(6, tcp(40000, 5555, c_seq + 1, s_seq + 1, ACK))),
    ]
    c_seq += 1
    s_seq += 1
    hello = b"HELLO XIDS-MARKER then the bulk of the transfer\n"
    out.append(eth(ipv4(6, tcp(40000, 5555, c_seq, s_seq, PSH | ACK, hello))))
    c_seq += len(hello)
    chunk = b"B" * 1400
    datagram = b"plain datagram ".ljust(100, b".")
    tcp_sent = udp_sent = segments = 0
    while len(out) < count:
        # Keep the TCP share of the packets written so far at tcp_share.
        if tcp_sent <= tcp_share * (tcp_sent + udp_sent):
            if segments % 3 == 2:
                out.append(eth(ipv4(6, tcp(5555, 40000, s_seq, c_seq, ACK), reverse=True), reverse=True))
            else:
                out.append(eth(ipv4(6, tcp(40000, 5555, c_seq & 0xFFFFFFFF, s_seq, ACK, chunk))))
                c_seq += len(chunk)
            segments += 1
            tcp_sent += 1
        else:
            out.append(eth(ipv4(17, udp(41000 + udp_sent % 64, 5353, datagram))))
            udp_sent += 1
    return out


def write_pcap(path, items):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(items):
            f.write(struct.pack("<IIII", 1 + i // 1000000, i % 1000000, len(frame), len(frame)))
            f.write(frame)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[2] not in ("bulk", "mixed"):
        sys.exit(__doc__)
    write_pcap(sys.argv[1], frames(sys.argv[2], int(sys.argv[3])))
