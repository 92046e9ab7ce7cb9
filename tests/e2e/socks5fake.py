#!/usr/bin/env python3
"""socks5fake - a scripted SOCKS5 server for e2e_socks5 (stdlib only).

No authentication, CONNECT only; it never connects anywhere: what it answers
depends on the requested destination port:

  7601  REP 0, BND ATYP domain "relay.example.org":4321, then payload
  7602  REP 0, BND ATYP IPv6 [fd00:18::2]:1080, then payload
  7603  REP 0, BND ATYP IPv4, the reply dribbled one byte per 50 ms, then payload
  7653  REP 3 (network unreachable)     7654  REP 4 (host unreachable)
  7655  REP 5 (connection refused)      7656  REP 6 (TTL expired)
  7657  REP 1 (general failure)         7658  REP 2 (not allowed by ruleset)

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
    stats = {"requests": 0, "connected": 0, "refused": 0, "errors": 0}
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
