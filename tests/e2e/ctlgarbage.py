#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ctlgarbage.py - misbehaving clients for tunplug's control socket and
metrics page (tests/e2e/e2e_ctl.sh). Python 3 standard library only.

  ctlgarbage.py (--unix PATH | --tcp HOST:PORT) [--silent N] [--random N]
                [--bigline MIB] [--limit 16] [--deadline SEC]

silent:  N connections that send nothing. Beyond --limit the server must
         close them at once (within 1 s), and every one within --deadline.
random:  N connections sending 4 KiB from os.urandom each; each must be
         closed within --deadline, with no "ok" answer.
bigline: one connection sending a line of MIB MiB without a newline ("GET
         /aaa..." over TCP); the server must close it within --deadline (an
         answer, if any, is an error: "error ..." or an HTTP 4xx).
--until FILE: repeat the parts (random, bigline, silent) until FILE exists.
Prints one JSON line per part; exit status 1 when a part failed."""
import argparse
import json
import os
import socket
import sys
import time


def connect(a):
    if a.unix:
        # a full backlog answers EAGAIN at once: try again for a while
        t0 = time.monotonic()
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(a.unix)
                break
            except BlockingIOError:
                s.close()
                if time.monotonic() - t0 > 5:
                    raise
                time.sleep(0.01)
        s.settimeout(5)
    else:
        host, port = a.tcp.rsplit(":", 1)
        s = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
    return s


def wait_closed(s, deadline):
    """Read until EOF/reset or the deadline. Returns (closed, seconds, data)."""
    t0 = time.monotonic()
    data = b""
    while True:
        left = deadline - (time.monotonic() - t0)
        if left <= 0:
            return False, time.monotonic() - t0, data
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            return False, time.monotonic() - t0, data
        except OSError:
            return True, time.monotonic() - t0, data
        if not b:
            return True, time.monotonic() - t0, data
        data += b


def is_error_answer(data):
    return data == b"" or data.startswith(b"error ") or data.startswith(b"HTTP/1.1 4")


def part_silent(a):
    socks = [connect(a) for _ in range(a.silent)]
    t0 = time.monotonic()
    # those beyond the limit: closed at once
    quick = 0
    for s in socks:
        s.setblocking(False)
    end = t0 + 1.0
    pending = list(socks)
    while pending and time.monotonic() < end:
        nxt = []
        for s in pending:
            try:
                b = s.recv(4096)
                if not b:
                    quick += 1
                    continue
            except BlockingIOError:
                pass
            except OSError:
                quick += 1
                continue
            nxt.append(s)
        pending = nxt
        if len(pending) <= a.limit:
            break
        time.sleep(0.02)
    still = pending
    late_ok = 0
    for s in still:
        s.setblocking(True)
        closed, _, _ = wait_closed(s, a.deadline)
        late_ok += closed
    for s in socks:
        s.close()
    ok = len(still) <= a.limit and late_ok == len(still)
    print(json.dumps({"part": "silent", "n": a.silent, "closed_at_once": a.silent - len(still),
                      "held": len(still), "held_closed_by_deadline": late_ok,
                      "seconds": round(time.monotonic() - t0, 2), "ok": ok}), flush=True)
    return ok


def part_random(a):
    bad = 0
    worst = 0.0
    for _ in range(a.random):
        s = connect(a)
        try:
            s.sendall(os.urandom(4096))
        except OSError:
            pass
        closed, t, data = wait_closed(s, a.deadline)
        s.close()
        worst = max(worst, t)
        if not closed or not is_error_answer(data):
            bad += 1
    ok = bad == 0
    print(json.dumps({"part": "random", "n": a.random, "bad": bad, "worst_s": round(worst, 2),
                      "ok": ok}), flush=True)
    return ok


def part_bigline(a):
    s = connect(a)
    sent = 0
    chunk = b"a" * 65536
    total = a.bigline * 1024 * 1024
    t0 = time.monotonic()
    s.settimeout(a.deadline)
    try:
        if a.tcp:
            s.sendall(b"GET /")
        while sent < total:
            sent += s.send(chunk[: min(len(chunk), total - sent)])
    except OSError:
        pass
    closed, t, data = wait_closed(s, a.deadline)
    s.close()
    ok = closed and is_error_answer(data)
    print(json.dumps({"part": "bigline", "mib": a.bigline, "sent": sent,
                      "answer": data[:60].decode("latin-1"), "closed": closed,
                      "seconds": round(time.monotonic() - t0, 2), "ok": ok}), flush=True)
    return ok


def main():
    p = argparse.ArgumentParser()
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--unix")
    g.add_argument("--tcp")
    p.add_argument("--silent", type=int, default=0)
    p.add_argument("--random", type=int, default=0)
    p.add_argument("--bigline", type=int, default=0)
    p.add_argument("--limit", type=int, default=16)
    p.add_argument("--deadline", type=float, default=10.0)
    p.add_argument("--until")
    a = p.parse_args()
    ok = True
    rounds = 0
    while True:
        if a.random:
            ok &= part_random(a)
        if a.bigline:
            ok &= part_bigline(a)
        if a.silent:
            ok &= part_silent(a)
        rounds += 1
        if not a.until or os.path.exists(a.until) or not ok:
            break
    print(json.dumps({"rounds": rounds, "ok": ok}), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
