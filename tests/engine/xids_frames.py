#!/usr/bin/env python3
"""Crafted frames for xids's end-to-end test, written as a pcap or sent on an interface.

  xids_frames.py write FILE.pcap      the frames below, as a pcap (microsecond timestamps)
  xids_frames.py send IFACE FILE.pcap the frames of a pcap, sent on IFACE (AF_PACKET), in order

The frames (IPv4, 10.88.0.1 -> 10.88.0.2, checksums left zero: xids does not check them):
  - TCP 5555: handshake, then "LOGIN XIDS-MA" / "RKER now" (the marker split over two segments),
    the second segment first sent out of order, and a retransmission of the first: one alert;
  - TCP 6666: "GET /a" + "/b/evil.exe HTTP/1.0" (two contents, distance/within, split): one alert;
  - UDP 7777: a datagram with de ad be ef: one alert; UDP 7778: plain datagrams: none;
  - TCP 8888 with VLAN 100: "PASS secret" at the start of the stream: one alert (nocase, depth).
"""
import socket
import struct
import sys

SRC, DST = bytes([10, 88, 0, 1]), bytes([10, 88, 0, 2])
MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def eth(payload, vlan=None, reverse=False):
    dst, src = (MAC_A, MAC_B) if reverse else (MAC_B, MAC_A)
    if vlan is not None:
        return dst + src + struct.pack("!HH", 0x8100, vlan) + struct.pack("!H", 0x0800) + payload
    return dst + src + struct.pack("!H", 0x0800) + payload


def ipv4(proto, l4, reverse=False):
    s, d = (DST, SRC) if reverse else (SRC, DST)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, s, d) + l4


def tcp(sport, dport, seq, ack, flags, data=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def tcp_flow(sport, dport, segments, vlan=None):
    """A handshake, the client's segments (offset, bytes) in the order given, and a FIN each way."""
    c, s = 1000, 50000
    out = [eth(ipv4(6, tcp(sport, dport, c, 0, SYN)), vlan),
           eth(ipv4(6, tcp(dport, sport, s, c + 1, SYN | ACK), reverse=True), vlan, reverse=True),
           eth(ipv4(6, tcp(sport, dport, c + 1, s + 1, ACK)), vlan)]
    end = 0
    for off, data in segments:
        out.append(eth(ipv4(6, tcp(sport, dport, c + 1 + off, s + 1, ACK | PSH, data)), vlan))
        end = max(end, off + len(data))
    out.append(eth(ipv4(6, tcp(sport, dport, c + 1 + end, s + 1, ACK | FIN)), vlan))
    out.append(eth(ipv4(6, tcp(dport, sport, s + 1, c + 2 + end, ACK | FIN), reverse=True), vlan, reverse=True))
    return out


def frames():
    out = []
    a, b = b"LOGIN XIDS-MA", b"RKER now\n"
    out += tcp_flow(40001, 5555, [(len(a), b), (0, a), (0, a)])  # out of order, then a retransmission
    g1, g2 = b"GET /a", b"/b/evil.exe HTTP/1.0\r\n\r\n"
    out += tcp_flow(40002, 6666, [(0, g1), (len(g1), g2)])
    out.append(eth(ipv4(17, udp(40003, 7777, b"xx\xde\xad\xbe\xefxx"))))
    for i in range(20):
        out.append(eth(ipv4(17, udp(40004, 7778, b"plain %d" % i))))
    out += tcp_flow(40005, 8888, [(0, b"pass secret\r\n")], vlan=100)
    return out


def write(path):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames()):
            f.write(struct.pack("<IIII", 1700000000, i * 1000, len(fr), len(fr)) + fr)


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    pos, out = 24, []
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[pos:pos + 16])
        out.append(data[pos + 16:pos + 16 + incl])
        pos += 16 + incl
    return out


def send(iface, path):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    import time
    for fr in read(path):
        s.send(fr)
        time.sleep(0.002)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
