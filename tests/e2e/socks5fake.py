#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""socks5fake - a scripted SOCKS5 server for e2e_socks5 (stdlib only).

No authentication, CONNECT only; it never connects anywhere: what it answers
depends on the requested destination port:

  7601  REP 0, BND ATYP domain "relay.example.org":4321, then payload
  7602  REP 0, BND ATYP IPv6 [fd00:18::2]:1080, then payload
  7603  REP 0, BND ATYP IPv4, the reply dribbled one byte per 50 ms, then payload
  7653  REP 3 (network unreachable)     7654  REP 4 (host unreachable)
  7655  REP 5 (connection refused)      7656  REP 6 (TTL expired)
  7657  REP 1 (general failure)         7658  REP 2 (not allowed by ruleset)

UDP ASSOCIATE: a relay socket on the control connection's local address,
announced as 0.0.0.0:port (the client must use the proxy's address). Every
datagram is answered with a FRAG=1 copy and a truncated header (both to be
dropped by the client), then the proper echo (header: the original
destination). A datagram to port 7699 also makes the proxy close the control
connection (the client must end the association).

"then payload": the reply and the banner b"BANNER <port>\\n" go out in ONE
send() (the client must not swallow the banner with the reply), then every
byte received is echoed until EOF. Stops after --timeout seconds; prints one
JSON line with counts.
"""
import argparse
import json
import socket
import struct
import sys
import threading
import time

REP_BY_PORT = {7653: 3, 7654: 4, 7655: 5, 7656: 6, 7657: 1, 7658: 2}


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise OSError("EOF")
        b += d
    return b


def udp_associate(c, stats, lock):
    local = c.getsockname()[0]
    u = socket.socket(socket.AF_INET6 if ":" in local else socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((local, 0))
    u.settimeout(0.2)
    c.sendall(b"\x05\x00\x00\x01" + bytes(4) + struct.pack("!H", u.getsockname()[1]))
    with lock:
        stats["udp_associations"] += 1
    closed = threading.Event()

    def control():
        try:
            while c.recv(100):
                pass
        except OSError:
            pass
        closed.set()

    threading.Thread(target=control, daemon=True).start()
    try:
        while not closed.is_set():
            try:
                d, peer = u.recvfrom(65535)
            except socket.timeout:
                continue
            if len(d) < 10 or d[:3] != b"\0\0\0" or d[3] not in (1, 4):
                with lock:
                    stats["udp_bad"] += 1
                continue
            hl = 10 if d[3] == 1 else 22
            hdr, data = d[:hl], d[hl:]
            port = struct.unpack("!H", hdr[-2:])[0]
            u.sendto(b"\0\0\x01" + hdr[3:] + b"junk: FRAG=1", peer)
            u.sendto(hdr[:hl - 3], peer)  # truncated header, no payload
            u.sendto(hdr + data, peer)
            with lock:
                stats["udp_echoed"] += 1
            if port == 7699:
                c.shutdown(socket.SHUT_RDWR)
                break
    finally:
        u.close()


def handle(c, stats, lock):
    with c:
        c.settimeout(30)
        ver, nm = recv_exact(c, 2)
        methods = recv_exact(c, nm)
        if ver != 5 or 0 not in methods:
            c.sendall(b"\x05\xff")
            return
        c.sendall(b"\x05\x00")
        ver, cmd, _, atyp = recv_exact(c, 4)
        if atyp == 1:
            recv_exact(c, 4)
        elif atyp == 4:
            recv_exact(c, 16)
        elif atyp == 3:
            recv_exact(c, recv_exact(c, 1)[0])
        port = struct.unpack("!H", recv_exact(c, 2))[0]
        with lock:
            stats["requests"] += 1
        if cmd == 3:
            udp_associate(c, stats, lock)
            return
        if cmd != 1:
            c.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return
        if port in REP_BY_PORT:
            c.sendall(bytes([5, REP_BY_PORT[port], 0, 1]) + bytes(6))
            with lock:
                stats["refused"] += 1
            return
        banner = b"BANNER %d\n" % port
        if port == 7601:
            name = b"relay.example.org"
            reply = b"\x05\x00\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", 4321)
        elif port == 7602:
            reply = b"\x05\x00\x00\x04" + socket.inet_pton(socket.AF_INET6, "fd00:18::2") + \
                struct.pack("!H", 1080)
        else:
            reply = b"\x05\x00\x00\x01" + socket.inet_aton("198.18.0.2") + struct.pack("!H", 1080)
        if port == 7603:
            for i in range(len(reply)):
                c.sendall(reply[i:i + 1])
                time.sleep(0.05)
            c.sendall(banner)
        else:
            c.sendall(reply + banner)  # one segment: reply and payload together
        with lock:
            stats["connected"] += 1
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.host, a.port))
    s.listen(128)
    s.settimeout(0.5)
    stats = {"requests": 0, "connected": 0, "refused": 0, "errors": 0, "udp_associations": 0,
             "udp_echoed": 0, "udp_bad": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + a.timeout

    def run(c):
        try:
            handle(c, stats, lock)
        except OSError:
            with lock:
                stats["errors"] += 1

    while time.monotonic() < deadline:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=run, args=(c,), daemon=True).start()
    print(json.dumps(stats, sort_keys=True), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
