#!/usr/bin/env python3
"""Writes Ethernet frames on an interface with a packet socket (AF_PACKET, SOCK_RAW): UDP or TCP over
IPv4 or IPv6, optionally with an 802.1Q tag, so that tagged frames can be sent where the kernel has no
8021q module. Used by tests/suricata/suricata_test.sh.

usage: send_frames.py IFACE PROTO SRC SPORT DST DPORT COUNT [--vlan ID] [--interval S] [--flags F]
                      [--payload TEXT] [--size N]
PROTO is udp, tcp or tcp-session; SRC/DST are IPv4 or IPv6 addresses; --flags is the TCP flags byte
(default 0x18, PSH|ACK). tcp-session writes a whole conversation that a stream engine can follow: the
three-way handshake, then COUNT data segments from SRC, each acknowledged by DST, with consistent
sequence numbers (both directions are written on IFACE: Suricata's view of a tap). --size pads each
payload to N bytes."""
import argparse
import ipaddress
import socket
import struct
import time


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def payload_of(args, seq: int) -> bytes:
    p = (args.payload + " %06d" % seq).encode()
    return p.ljust(args.size, b".") if args.size else p


def frame(args, seq: int, tcp=None, reverse=False) -> bytes:
    """tcp: (seq, ack, flags, payload) of a tcp-session segment; reverse: from DST to SRC."""
    src = ipaddress.ip_address(args.dst if reverse else args.src)
    dst = ipaddress.ip_address(args.src if reverse else args.dst)
    sport, dport = (args.dport, args.sport) if reverse else (args.sport, args.dport)
    proto = 17 if args.proto == "udp" else 6
    if proto == 17:
        payload = payload_of(args, seq)
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    elif tcp is not None:
        tseq, tack, flags, payload = tcp
        l4 = struct.pack("!HHIIBBHHH", sport, dport, tseq, tack, 5 << 4, flags, 65535, 0, 0) + payload
    else:
        payload = payload_of(args, seq)
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1000 + seq * 100, 1, 5 << 4, args.flags,
                         65535, 0, 0) + payload
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, proto, len(l4))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", len(l4), proto)
    c = csum(pseudo + l4) or 0xFFFF
    off = 6 if proto == 17 else 16
    l4 = l4[:off] + struct.pack("!H", c) + l4[off + 2:]
    if src.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), seq & 0xFFFF, 0x4000, 64, proto, 0,
                         src.packed, dst.packed)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        ethertype = 0x0800
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, 64, src.packed, dst.packed)
        ethertype = 0x86DD
    eth = bytes.fromhex(args.dst_mac.replace(":", "")) + bytes.fromhex(args.src_mac.replace(":", ""))
    if args.vlan is not None:
        eth += struct.pack("!HH", 0x8100, args.vlan & 0x0FFF)
    eth += struct.pack("!H", ethertype)
    return eth + ip + l4


def session(args):
    """The segments of a TCP conversation, in order: (reverse, (seq, ack, flags, payload))."""
    SYN, ACK, PSH = 0x02, 0x10, 0x08
    c, s = 100000, 500000  # initial sequence numbers of SRC and DST
    yield False, (c, 0, SYN, b"")
    yield True, (s, c + 1, SYN | ACK, b"")
    c += 1
    s += 1
    yield False, (c, s, ACK, b"")
    for i in range(args.count):
        data = payload_of(args, i)
        yield False, (c, s, PSH | ACK, data)
        c += len(data)
        yield True, (s, c, ACK, b"")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("iface")
    p.add_argument("proto", choices=["udp", "tcp", "tcp-session"])
    p.add_argument("src")
    p.add_argument("sport", type=int)
    p.add_argument("dst")
    p.add_argument("dport", type=int)
    p.add_argument("count", type=int)
    p.add_argument("--vlan", type=int)
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--flags", type=lambda v: int(v, 0), default=0x18)
    p.add_argument("--payload", default="xbypass-suricata-test")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--src-mac", default="02:00:00:00:00:01")
    p.add_argument("--dst-mac", default="ff:ff:ff:ff:ff:ff")
    args = p.parse_args()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.iface, 0))
    if args.proto == "tcp-session":
        for n, (reverse, seg) in enumerate(session(args)):
            s.send(frame(args, n, tcp=seg, reverse=reverse))
            if args.interval:
                time.sleep(args.interval)
        return
    for i in range(args.count):
        s.send(frame(args, i))
        if args.interval:
            time.sleep(args.interval)


if __name__ == "__main__":
    main()
