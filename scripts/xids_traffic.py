#!/usr/bin/env python3
"""Test traffic for xids, between two network namespaces the caller made (run each side inside its
namespace, e.g. with nsenter --net=/run/netns/NAME). Only sockets: real TCP connections and UDP.

  xids_traffic.py server ADDR              TCP 8080 (sink), TCP 8443 (TLS-looking), UDP 5353 (sink)
  xids_traffic.py client SERVER [SECONDS]  the three exchanges below, for about SECONDS (default 6)
                                           (XIDS_TRAFFIC_PACE: seconds between bulk chunks, 0 = flat out)

Client side:
  - TCP 8080: a transfer whose first segments carry the marker XIDS-MARKER split over two writes
    (the rules match across segments), then a steady stream of bulk data;
  - TCP 8443: TLS-looking records (a handshake record each way, then application data both ways);
  - UDP 5353: one datagram with the bytes de ad be ef, then plain datagrams for the whole time.
Prints what each side sent or received, one line per exchange.
"""
import os
import select
import socket
import struct
import sys
import threading
import time


def tls_record(content_type, length):
    return struct.pack("!BHH", content_type, 0x0303, length) + os.urandom(length)


def server(addr):
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((addr, 8080))
    tcp.listen(8)
    tls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tls.bind((addr, 8443))
    tls.listen(8)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((addr, 5353))
    print("server: listening", flush=True)

    def sink(conn):
        total = 0
        while True:
            data = conn.recv(65536)
            if not data:
                break
            total += len(data)
        print(f"server: tcp 8080 received {total} bytes", flush=True)
        conn.close()

    def tls_peer(conn):
        # Answer the client's handshake record with one of ours, then send application data
        # while reading the client's.
        got = conn.recv(65536)
        conn.sendall(tls_record(22, 90))
        sent = 0
        conn.setblocking(False)
        deadline = time.time() + 30
        while time.time() < deadline:
            r, w, _ = select.select([conn], [conn], [], 0.05)
            if r:
                try:
                    data = conn.recv(65536)
                except BlockingIOError:
                    data = b"x"
                if not data:
                    break
                got += data
            if w and sent < 400:
                try:
                    conn.send(tls_record(23, 1000))
                    sent += 1
                except BlockingIOError:
                    pass
            time.sleep(0.005)
        print(f"server: tcp 8443 received {len(got)} bytes, sent {sent} records", flush=True)
        conn.close()

    def accept(sock, fn):
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=fn, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, args=(tcp, sink), daemon=True).start()
    threading.Thread(target=accept, args=(tls, tls_peer), daemon=True).start()
    n = 0
    while True:
        udp.recvfrom(65536)
        n += 1
        if n % 100 == 0:
            print(f"server: udp 5353 received {n} datagrams", flush=True)


def client(addr, seconds):
    end = time.time() + seconds

    def transfer():
        s = socket.create_connection((addr, 8080), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"HELLO XIDS-MAR")
        time.sleep(0.2)
        s.sendall(b"KER then the bulk of the transfer\n")
        sent = 0
        chunk = b"B" * 1400
        pace = float(os.environ.get("XIDS_TRAFFIC_PACE", "0.001"))  # seconds between chunks; 0: flat out
        while time.time() < end:
            s.sendall(chunk)
            sent += len(chunk)
            if pace:
                time.sleep(pace)
        s.close()
        print(f"client: tcp 8080 sent {sent} bytes after the marker", flush=True)

    def tls_like():
        s = socket.create_connection((addr, 8443), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(tls_record(22, 200))
        s.recv(5 + 90)
        records = 0
        while time.time() < end:
            s.sendall(tls_record(23, 1000))
            records += 1
            try:
                s.setblocking(False)
                while s.recv(65536):
                    pass
            except (BlockingIOError, OSError):
                pass
            s.setblocking(True)
            time.sleep(0.005)
        s.close()
        print(f"client: tcp 8443 sent {records} application-data records", flush=True)

    def datagrams():
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", 40053))
        u.sendto(b"probe \xde\xad\xbe\xef probe", (addr, 5353))
        n = 1
        while time.time() < end:
            u.sendto(b"plain datagram %d" % n, (addr, 5353))
            n += 1
            time.sleep(0.01)
        print(f"client: udp 5353 sent {n} datagrams", flush=True)

    threads = [threading.Thread(target=f) for f in (transfer, tls_like, datagrams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "server":
        server(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "client":
        client(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 6.0)
    else:
        sys.exit(__doc__)
