#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""burstflows - many idle flows that all speak at once (stdlib only; shares
tptool.py's helpers). For --handler echo (or any echo server). Every phase is
bounded in time; each prints one JSON line on stdout; exit 0 only if every
check passed.

  burst  --host H --port P -n N [--deadline S] [--stop-file F] [--hold S]
      1. open N connections (nonblocking batches, each checked with a 1-byte
         echo), then let them sit idle for --settle s;        -> "open"
      2. send 1 byte on every one of them in one tight loop ("at the same
         moment"), then wait until each has its byte back, at most
         --deadline s; records how long the last echo took, and which flows
         got nothing or the wrong byte;                       -> "burst"
      3. keep them open until --stop-file exists (or --hold s), then close
         them all (FIN) and exit;                             -> "closed"
  udpblast --host H --port P -n N
      N 1-byte datagrams from one socket, as fast as the loop goes (for
      filling a tun queue that nobody reads); prints how many sendto() took.
"""
import argparse
import os
import resource
import selectors
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tptool import family_of, open_verified, out  # noqa: E402


def raise_nofile(n):
    """One descriptor per flow, and some: raise the soft (and, as root, the
    hard) limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def cmd_burst(a):
    limit = raise_nofile(a.n)
    t0 = time.monotonic()
    socks, failed = open_verified(a.host, a.port, a.n, a.open_timeout)
    r = {"event": "open", "n": a.n, "opened": len(socks), "failed": failed,
         "open_s": round(time.monotonic() - t0, 3), "nofile": limit}
    out(r)
    if failed:
        for s in socks:
            s.close()
        sys.exit(1)
    time.sleep(a.settle)

    # one byte each, all at once; the byte is the flow's index mod 251
    want = {}
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        want[s] = bytes([i % 251])
        sel.register(s, selectors.EVENT_READ)
    send_err = 0
    t_send = time.monotonic()
    for s in socks:
        try:
            if s.send(want[s]) != 1:
                send_err += 1
        except OSError:
            send_err += 1
    t_sent = time.monotonic()
    lat = []
    wrong = 0
    left = len(socks)
    deadline = t_send + a.deadline
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            now = time.monotonic()
            try:
                d = s.recv(16)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if d != want[s]:
                wrong += 1
            else:
                lat.append(now - t_send)
            sel.unregister(s)
            left -= 1
    sel.close()
    lat.sort()
    r = {"event": "burst", "n": len(socks), "answered": len(lat), "missing": left,
         "wrong": wrong, "send_errors": send_err,
         "send_loop_ms": round((t_sent - t_send) * 1000, 1),
         "p50_ms": round(pct(lat, 0.5) * 1000, 1) if lat else None,
         "p99_ms": round(pct(lat, 0.99) * 1000, 1) if lat else None,
         "last_ms": round(lat[-1] * 1000, 1) if lat else None,
         "within_1s": sum(1 for x in lat if x <= 1.0), "deadline_s": a.deadline}
    r["ok"] = len(lat) == len(socks) and not wrong and not send_err
    out(r)

    # hold, then close every flow (FIN)
    stop = time.monotonic() + a.hold
    while time.monotonic() < stop:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        time.sleep(0.05)
    t_close = time.monotonic()
    for s in socks:
        s.close()
    out({"event": "closed", "n": len(socks),
         "close_ms": round((time.monotonic() - t_close) * 1000, 1)})
    sys.exit(0 if r["ok"] else 1)


def cmd_udpblast(a):
    s = socket.socket(family_of(a.host), socket.SOCK_DGRAM)
    s.setblocking(False)
    sent = errors = 0
    for _ in range(a.n):
        try:
            sent += s.sendto(b"u", (a.host, a.port)) == 1
        except OSError:
            errors += 1
    s.close()
    out({"event": "udpblast", "n": a.n, "sent": sent, "errors": errors})
    sys.exit(0 if sent == a.n else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("burst")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("-n", type=int, required=True)
    p.add_argument("--open-timeout", type=float, default=120)
    p.add_argument("--settle", type=float, default=1.0, help="idle seconds before the burst")
    p.add_argument("--deadline", type=float, default=10.0,
                   help="seconds for every echo to be back")
    p.add_argument("--stop-file", help="close the flows once this file exists")
    p.add_argument("--hold", type=float, default=0.0,
                   help="at most this long before closing (s)")
    p.set_defaults(fn=cmd_burst)
    p = sub.add_parser("udpblast")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("-n", type=int, required=True)
    p.set_defaults(fn=cmd_udpblast)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
