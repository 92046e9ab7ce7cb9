#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""echoflows - concurrent echo flows that never half-close (stdlib only), for
paths that do not carry a half-close (tinyproxy ends a CONNECT tunnel as soon
as the client side sends FIN). Prints one JSON line; exit 0 only if all good.

  server --host H [--host H2] --port P --timeout T
      threaded echo: every byte back until the peer closes
  client --host H --port P -n N --size S --timeout T
      N connections opened at once (barrier), each sends S distinct
      deterministic bytes while reading them back; ok when the S bytes back
      are the same (sha256 compared), then close
"""
import argparse
import hashlib
import json
import random
import socket
import sys
import threading
import time


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def cmd_server(a):
    deadline = time.monotonic() + a.timeout
    socks = []
    for h in a.host:
        s = socket.socket(family_of(h), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((h, a.port))
        s.listen(1024)
        s.settimeout(0.5)
        socks.append(s)
    n = [0]

    def handle(c):
        try:
            c.settimeout(max(1.0, deadline - time.monotonic()))
            while True:
                d = c.recv(1 << 16)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def accept_loop(s):
        while time.monotonic() < deadline:
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            n[0] += 1
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    ts = [threading.Thread(target=accept_loop, args=(s,), daemon=True) for s in socks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps({"server": "echoflows", "accepted": n[0]}), flush=True)


def cmd_client(a):
    barrier = threading.Barrier(a.n)
    results = [None] * a.n
    deadline = time.monotonic() + a.timeout

    def one(i):
        payload = random.Random(7000 + i).randbytes(a.size)
        try:
            s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        except OSError as e:
            results[i] = "connect: %s" % e
            try:
                barrier.abort()
            except threading.BrokenBarrierError:
                pass
            return
        try:
            barrier.wait(max(0.1, deadline - time.monotonic()))
            s.settimeout(max(1.0, deadline - time.monotonic()))
            sender = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
            sender.start()
            got = bytearray()
            while len(got) < a.size:
                d = s.recv(1 << 16)
                if not d:
                    break
                got += d
            sender.join(max(0.1, deadline - time.monotonic()))
            if hashlib.sha256(got).digest() == hashlib.sha256(payload).digest():
                results[i] = "ok"
            else:
                results[i] = "echo differs (%d of %d bytes back)" % (len(got), a.size)
        except (OSError, threading.BrokenBarrierError) as e:
            results[i] = "io: %s" % (e or type(e).__name__)
        finally:
            s.close()

    t0 = time.monotonic()
    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(a.n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(0.1, deadline - time.monotonic()))
    errors = {}
    for r in results:
        if r != "ok":
            errors[str(r)] = errors.get(str(r), 0) + 1
    good = results.count("ok")
    print(json.dumps({"client": "echoflows", "dst": "%s:%d" % (a.host, a.port), "n": a.n,
                      "size": a.size, "ok": good, "total_s": round(time.monotonic() - t0, 3),
                      "errors": errors}, sort_keys=True), flush=True)
    return 0 if good == a.n else 1


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
    p.add_argument("-n", type=int, default=50)
    p.add_argument("--size", type=int, default=65536)
    p.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    return cmd_server(a) if a.cmd == "server" else cmd_client(a)


if __name__ == "__main__":
    sys.exit(main() or 0)
