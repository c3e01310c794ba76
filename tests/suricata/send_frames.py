#!/usr/bin/env python3
"""Writes Ethernet frames on an interface with a packet socket (AF_PACKET, SOCK_RAW): UDP or TCP over
IPv4 or IPv6, optionally with an 802.1Q tag, so that tagged frames can be sent where the kernel has no
8021q module. Used by tests/suricata/suricata_test.sh.

usage: send_frames.py IFACE PROTO SRC SPORT DST DPORT COUNT [--vlan ID] [--interval S] [--flags F]
                      [--payload TEXT]
PROTO is udp or tcp; SRC/DST are IPv4 or IPv6 addresses; --flags is the TCP flags byte (default 0x18,
PSH|ACK)."""
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


def frame(args, seq: int) -> bytes:
    src = ipaddress.ip_address(args.src)
    dst = ipaddress.ip_address(args.dst)
    payload = (args.payload + " %06d" % seq).encode()
    proto = 17 if args.proto == "udp" else 6
    if proto == 17:
        l4 = struct.pack("!HHHH", args.sport, args.dport, 8 + len(payload), 0) + payload
    else:
        l4 = struct.pack("!HHIIBBHHH", args.sport, args.dport, 1000 + seq * 100, 1, 5 << 4, args.flags,
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("iface")
    p.add_argument("proto", choices=["udp", "tcp"])
    p.add_argument("src")
    p.add_argument("sport", type=int)
    p.add_argument("dst")
    p.add_argument("dport", type=int)
    p.add_argument("count", type=int)
    p.add_argument("--vlan", type=int)
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--flags", type=lambda v: int(v, 0), default=0x18)
    p.add_argument("--payload", default="xbypass-suricata-test")
    p.add_argument("--src-mac", default="02:00:00:00:00:01")
    p.add_argument("--dst-mac", default="ff:ff:ff:ff:ff:ff")
    args = p.parse_args()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.iface, 0))
    for i in range(args.count):
        s.send(frame(args, i))
        if args.interval:
            time.sleep(args.interval)


if __name__ == "__main__":
    main()
