#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""UDP helpers for the end-to-end tests (stdlib only). Every command is
bounded in time and count and prints one JSON line.

  server --host H [--host H2] --port P --timeout T
      echo every datagram back to its sender until T seconds passed
  client --host H --port P --flows N --size S [--window W] [--tries K] --timeout T
      N flows (each its own socket, so its own source port), one datagram
      of S deterministic-random bytes each, W sockets in flight at once;
      a flow is ok when the same bytes come back. Lost datagrams are
      re-sent up to K times (UDP may drop under load; the count of retries
      is reported). Exit 0 only if every flow got its bytes back.
  refused --host H --port P --max SEC [--expect ERRNO]
      send one datagram on a connected socket; expect ECONNREFUSED (the
      gateway's ICMP port unreachable), or the errno given (EHOSTUNREACH
      for ICMP administratively prohibited over IPv4, EACCES over IPv6 ...),
      within SEC seconds
  gsosend --host H --port P --sends K --segs N --size S [--tail T] [--burst B]
      K sends on one connected socket with UDP_SEGMENT (GSO) size S, each
      carrying N datagrams of S bytes and, on every 10th send, one more of T
      bytes (a shorter last segment); a pause of 1 ms after every B sends.
      Datagram k (counted over all sends) starts with k (32 bit) and goes
      on with bytes derived from k (see dgram()).
  sink --host H --port P --count C --timeout T
      receive until C datagrams came or T seconds passed; check that
      datagram i carries sequence number i and dgram()'s bytes. Exit 0 only
      if all C came, in order, intact.
"""
import argparse
import errno
import hashlib
import json
import selectors
import socket
import struct
import sys
import time

UDP_SEGMENT = 103  # linux/udp.h
PATTERN = bytes(range(256)) * 300


def out(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def payload(i, size):
    seed = hashlib.sha256(b"udp-%d" % i).digest()
    buf = bytearray()
    while len(buf) < size:
        seed = hashlib.sha256(seed).digest()
        buf += seed
    return bytes(buf[:size])


def cmd_server(a):
    sel = selectors.DefaultSelector()
    socks = []
    for h in a.host:
        s = socket.socket(family_of(h), socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((h, a.port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    n = 0
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            while True:
                try:
                    data, peer = s.recvfrom(65535)
                except BlockingIOError:
                    break
                try:
                    s.sendto(data, peer)
                    n += 1
                except OSError:
                    pass
    out({"server": "udp-echo", "echoed": n})
    return 0


def cmd_client(a):
    fam = family_of(a.host)
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + a.timeout
    next_flow = 0
    ok = bad = lost = retries = 0
    live = {}  # sock -> [index, data, sent_at, tries]
    rto = 0.5

    def open_flow(i):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect((a.host, a.port))
        data = payload(i, a.size)
        s.send(data)
        live[s] = [i, data, time.monotonic(), 1]
        sel.register(s, selectors.EVENT_READ)

    def close_flow(s):
        sel.unregister(s)
        del live[s]
        s.close()

    while (next_flow < a.flows or live) and time.monotonic() < deadline:
        while next_flow < a.flows and len(live) < a.window:
            open_flow(next_flow)
            next_flow += 1
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                got = s.recv(65535)
            except OSError as e:
                if e.errno == errno.ECONNREFUSED:
                    bad += 1
                    close_flow(s)
                continue
            if got == live[s][1]:
                ok += 1
            else:
                bad += 1
            close_flow(s)
        now = time.monotonic()
        for s, st in list(live.items()):
            if now - st[2] >= rto:
                if st[3] > a.tries:
                    lost += 1
                    close_flow(s)
                else:
                    st[2] = now
                    st[3] += 1
                    retries += 1
                    try:
                        s.send(st[1])
                    except OSError:
                        pass
    for s in list(live):
        lost += 1
        close_flow(s)
    res = {"client": "udp", "dst": "%s:%d" % (a.host, a.port), "flows": a.flows,
           "size": a.size, "ok": ok, "bad": bad, "lost": lost, "retries": retries,
           "started": next_flow}
    out(res)
    return 0 if ok == a.flows else 1


def cmd_refused(a):
    s = socket.socket(family_of(a.host), socket.SOCK_DGRAM)
    s.connect((a.host, a.port))
    s.settimeout(a.max)
    t0 = time.monotonic()
    result = "timeout"
    try:
        s.send(b"anyone there?")
        s.recv(100)
        result = "answered"
    except ConnectionRefusedError:
        result = "ECONNREFUSED"
    except socket.timeout:
        result = "timeout"
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e.errno))
    el = time.monotonic() - t0
    out({"client": "udp-refused", "dst": "%s:%d" % (a.host, a.port), "result": result,
         "elapsed_s": round(el, 3)})
    return 0 if result == a.expect and el <= a.max else 1


def dgram(k, size):
    """Datagram k of a gsosend stream: k, then bytes that depend on k."""
    off = k % 251
    return struct.pack("!I", k) + PATTERN[off:off + size - 4]


def cmd_gsosend(a):
    s = socket.socket(family_of(a.host), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.connect((a.host, a.port))
    k = sent = 0
    t0 = time.monotonic()
    for i in range(a.sends):
        sizes = [a.size] * a.segs + ([a.tail] if a.tail and i % 10 == 9 else [])
        buf = b"".join(dgram(k + j, n) for j, n in enumerate(sizes))
        try:
            s.sendmsg([buf], [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("=H", a.size))])
        except OSError as e:
            out({"client": "udp-gsosend", "error": "send %d: %s" % (i, e), "datagrams": k})
            return 2
        k += len(sizes)
        sent += 1
        if a.burst and sent % a.burst == 0:
            time.sleep(0.001)
    out({"client": "udp-gsosend", "sends": sent, "datagrams": k,
         "elapsed_s": round(time.monotonic() - t0, 3)})
    return 0


def cmd_sink(a):
    s = socket.socket(family_of(a.host), socket.SOCK_DGRAM)
    for opt in (33, socket.SO_RCVBUF):  # SO_RCVBUFFORCE as root, else capped
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 16 << 20)
            break
        except OSError:
            pass
    s.bind((a.host, a.port))
    s.settimeout(0.5)
    n = bad = disorder = 0
    first_bad = None
    deadline = time.monotonic() + a.timeout
    while n < a.count and time.monotonic() < deadline:
        try:
            data = s.recv(65535)
        except socket.timeout:
            continue
        k = struct.unpack("!I", data[:4])[0] if len(data) >= 4 else -1
        if k != n:
            disorder += 1
        if data != dgram(k, len(data)):
            bad += 1
            if first_bad is None:
                first_bad = n
        n += 1
    out({"server": "udp-sink", "received": n, "want": a.count, "out_of_order": disorder,
         "bad": bad, "first_bad": first_bad})
    return 0 if n == a.count and not disorder and not bad else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("server")
    p.add_argument("--host", action="append", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("client")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--flows", type=int, default=1)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--tries", type=int, default=4)
    p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("refused")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--max", type=float, default=2)
    p.add_argument("--expect", default="ECONNREFUSED")
    p = sub.add_parser("gsosend")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sends", type=int, default=100)
    p.add_argument("--segs", type=int, default=40)
    p.add_argument("--size", type=int, default=1200)
    p.add_argument("--tail", type=int, default=0)
    p.add_argument("--burst", type=int, default=4)
    p = sub.add_parser("sink")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    return {"server": cmd_server, "client": cmd_client, "refused": cmd_refused,
            "gsosend": cmd_gsosend, "sink": cmd_sink}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
