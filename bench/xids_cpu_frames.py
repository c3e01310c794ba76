#!/usr/bin/env python3
"""Frames for bench/xids_cpu.sh: the same capture is replayed with the bypass on and off.

  xids_cpu_frames.py FILE.pcap MIX PACKETS [REST.pcap]

REST.pcap, when given, gets the same capture without the bypassed transfer's frames: what reaches
the engine with the bypass on, for a run where those frames never existed.

IPv4 10.88.0.1 -> 10.88.0.2, checksums left zero (xids does not check them), microsecond timestamps
one apart (tcpreplay paces by --pps, not by these):
  - TCP 5555: handshake, "HELLO XIDS-MARKER" (conf/rules/xids.rules' sid 1000001 bypasses the flow),
    then a bulk transfer of 1400-byte segments, an ACK back for every second one;
  - UDP 5353 from 64 source ports: 100-byte datagrams no rule matches and nothing bypasses
    (xids.udp-bypass-after: 0);
  - TCP 5556: a second transfer like the first, whose greeting has no marker: nothing bypasses it.
MIX says what shares the packets with the bypassed transfer: "bulk" the datagrams, 5% of the
packets; "mixed" the datagrams, 50%; "twin" the second transfer, 50% (the packets left to the
engine are then the same kind as the bypassed ones).
"""
import os
import struct
import sys

# The frame builders of xids's end-to-end test (Ethernet, IPv4 without options, TCP, UDP).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "engine"))
from xids_frames import eth, ipv4, tcp, udp  # noqa: E402

SYN, ACK, PSH = 0x02, 0x10, 0x08


def transfer(port, greeting):
    """A TCP transfer to `port`: the handshake, `greeting`, then 1400-byte segments, an ACK back for
    every second one. Yields frames for as long as it is asked."""
    c_seq, s_seq, cport = 1000, 5000, 40000 + port % 1000
    yield eth(ipv4(6, tcp(cport, port, c_seq, 0, SYN)))
    yield eth(ipv4(6, tcp(port, cport, s_seq, c_seq + 1, SYN | ACK), reverse=True), reverse=True)
    yield eth(ipv4(6, tcp(cport, port, c_seq + 1, s_seq + 1, ACK)))
    c_seq += 1
    s_seq += 1
    yield eth(ipv4(6, tcp(cport, port, c_seq, s_seq, PSH | ACK, greeting)))
    c_seq += len(greeting)
    chunk = b"B" * 1400
    segments = 0
    while True:
        if segments % 3 == 2:
            yield eth(ipv4(6, tcp(port, cport, s_seq, c_seq, ACK), reverse=True), reverse=True)
        else:
            yield eth(ipv4(6, tcp(cport, port, c_seq & 0xFFFFFFFF, s_seq, ACK, chunk)))
            c_seq += len(chunk)
        segments += 1


def datagrams():
    """UDP to 5353 from 64 source ports: 100-byte datagrams no rule matches."""
    datagram = b"plain datagram ".ljust(100, b".")
    sent = 0
    while True:
        yield eth(ipv4(17, udp(41000 + sent % 64, 5353, datagram)))
        sent += 1


def frames(mix, count):
    share, other = {
        "bulk": (0.95, datagrams()),
        "mixed": (0.50, datagrams()),
        # The same kind of packets on both sides: a second transfer whose greeting has no marker.
        "twin": (0.50, transfer(5556, b"HELLO, the other transfer, nothing to bypass\n")),
    }[mix]
    bypassed = transfer(5555, b"HELLO XIDS-MARKER then the bulk of the transfer\n")
    out, rest = [], []  # every frame; the frames not of the bypassed transfer, in the same order
    sent = 0
    while len(out) < count:
        # Keep the bypassed transfer's share of the packets written so far at `share`.
        if sent <= share * (sent + len(rest)):
            out.append(next(bypassed))
            sent += 1
        else:
            rest.append(next(other))
            out.append(rest[-1])
    return out, rest


def write_pcap(path, items):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(items):
            f.write(struct.pack("<IIII", 1 + i // 1000000, i % 1000000, len(frame), len(frame)))
            f.write(frame)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5) or sys.argv[2] not in ("bulk", "mixed", "twin"):
        sys.exit(__doc__)
    items, rest = frames(sys.argv[2], int(sys.argv[3]))
    write_pcap(sys.argv[1], items)
    if len(sys.argv) == 5:
        write_pcap(sys.argv[4], rest)
        print(len(rest))
