#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ecmptool - servers and clients for e2e_ecmp (stdlib only).

Every server stops by itself (--timeout) and every client is bounded in
time. Clients print one JSON object on stdout and exit 0 only if every flow
was right.

  server  --host H [--host H2] --port P --timeout S
          per connection, by its first line:
            "T <token>\\n"  reply "<token> <peer address>\\n", close (a short
                           flow; the peer address tells which gateway
                           re-made the connection)
            "L <bytes>\\n"  reply "<peer>\\n" at once, read <bytes> more, reply
                           "<sha256> <bytes> <peer>\\n" (a long flow), close
  flows   --dst A --port P --sports FILE [--concurrency N] [--timeout S]
          one short flow per source port listed in FILE (one per line):
          bind that port, connect, send a unique token, expect it back with
          the peer address the server saw; JSON: ok, failed, by_peer,
          flows [[sport, peer], ...]
  long    --dst A --port P --bytes B --seconds S [--timeout S]
          one long flow: first a JSON line {"start": PEER} as soon as the
          server said which gateway it came through, then B pseudo-random
          bytes paced over about S seconds, then the server's sha256 must be
          ours; last JSON line: ok, sha256, peer, error (when it failed),
          elapsed_s
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def read_line(sock, limit=256):
    buf = b""
    while not buf.endswith(b"\n"):
        c = sock.recv(1)
        if not c:
            break
        buf += c
        if len(buf) > limit:
            raise ValueError("line too long")
    return buf.decode("ascii", "replace").strip()


# ---- server ----

def serve_conn(conn, peer):
    try:
        conn.settimeout(60)
        first = read_line(conn)
        if first.startswith("T "):
            conn.sendall(("%s %s\n" % (first[2:], peer)).encode())
        elif first.startswith("L "):
            want = int(first[2:])
            conn.sendall(("%s\n" % peer).encode())
            h = hashlib.sha256()
            got = 0
            while got < want:
                b = conn.recv(min(65536, want - got))
                if not b:
                    break
                h.update(b)
                got += len(b)
            if got == want:
                conn.sendall(("%s %d %s\n" % (h.hexdigest(), got, peer)).encode())
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


def accept_loop(ls):
    while True:
        try:
            conn, addr = ls.accept()
        except OSError:
            return
        threading.Thread(target=serve_conn, args=(conn, addr[0]), daemon=True).start()


def cmd_server(a):
    socks = []
    for host in a.host:
        s = socket.socket(family(host), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, a.port))
        s.listen(1024)
        socks.append(s)
        threading.Thread(target=accept_loop, args=(s,), daemon=True).start()
    time.sleep(a.timeout)
    return 0


# ---- clients ----

def connect_from(dst, port, sport, timeout):
    s = socket.socket(family(dst), socket.SOCK_STREAM)
    s.settimeout(timeout)
    if sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if ":" in dst else "0.0.0.0", sport))
    s.connect((dst, port))
    return s


def one_flow(a, sport):
    token = "%d-%s" % (sport, os.urandom(6).hex())
    try:
        s = connect_from(a.dst, a.port, sport, a.flow_timeout)
        try:
            s.sendall(("T %s\n" % token).encode())
            reply = read_line(s)
        finally:
            s.close()
    except (OSError, ValueError) as e:
        return None, "sport %d: %s" % (sport, e)
    parts = reply.split()
    if len(parts) != 2 or parts[0] != token:
        return None, "sport %d: wrong reply %r for token %s" % (sport, reply, token)
    return parts[1], None


def cmd_flows(a):
    with open(a.sports) as f:
        sports = [int(x) for x in f.read().split()]
    results = [None] * len(sports)
    errors = []
    lock = threading.Lock()
    nxt = [0]
    deadline = time.monotonic() + a.timeout

    def worker():
        while time.monotonic() < deadline:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(sports):
                return
            peer, err = one_flow(a, sports[i])
            with lock:
                if err:
                    errors.append(err)
                else:
                    results[i] = peer

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(0.1, deadline - time.monotonic() + 1))
    by_peer = {}
    for p in results:
        if p:
            by_peer[p] = by_peer.get(p, 0) + 1
    done = sum(1 for p in results if p)
    if done + len(errors) < len(sports):
        errors.append("%d flows not run within %d s" % (len(sports) - done - len(errors), a.timeout))
    out({"ok": done, "wanted": len(sports), "failed": errors[:20], "nfailed": len(errors),
         "by_peer": by_peer, "flows": [[sp, p] for sp, p in zip(sports, results)]})
    return 0 if done == len(sports) else 1


def cmd_long(a):
    t0 = time.monotonic()
    h = hashlib.sha256()
    res = {"bytes": a.bytes}
    chunk = 65536
    n_chunks = max(1, a.bytes // chunk)
    pause = a.seconds / n_chunks
    seed = hashlib.sha256(os.urandom(16)).digest()
    try:
        s = connect_from(a.dst, a.port, 0, a.timeout)
        s.sendall(("L %d\n" % a.bytes).encode())
        out({"start": read_line(s)})
        sent = 0
        i = 0
        while sent < a.bytes:
            if time.monotonic() - t0 > a.timeout:
                raise TimeoutError("not sent within %d s" % a.timeout)
            # cheap pseudo-random bytes: a hash chain stretched to 64 KiB
            blk = hashlib.sha256(seed + i.to_bytes(8, "big")).digest() * (chunk // 32)
            blk = blk[:min(chunk, a.bytes - sent)]
            s.sendall(blk)
            h.update(blk)
            sent += len(blk)
            i += 1
            time.sleep(pause)
        s.settimeout(max(1.0, a.timeout - (time.monotonic() - t0)))
        reply = read_line(s)
        s.close()
        parts = reply.split()
        res["sha256"] = h.hexdigest()
        if len(parts) != 3:
            raise ValueError("server reply %r" % reply)
        res["peer"] = parts[2]
        res["ok"] = parts[0] == h.hexdigest() and int(parts[1]) == a.bytes
        if not res["ok"]:
            res["error"] = "server got sha256 %s of %s bytes, we sent %s of %d" % (
                parts[0], parts[1], h.hexdigest(), a.bytes)
    except (OSError, ValueError) as e:
        res["ok"] = False
        res["error"] = "%s: %s" % (type(e).__name__, e)
    res["elapsed_s"] = round(time.monotonic() - t0, 2)
    out(res)
    return 0 if res["ok"] else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("server")
    p.add_argument("--host", action="append", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("flows")
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sports", required=True)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--flow-timeout", type=float, default=10)
    p.add_argument("--timeout", type=int, default=60)
    p = sub.add_parser("long")
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--timeout", type=int, default=60)
    a = ap.parse_args()
    return {"server": cmd_server, "flows": cmd_flows, "long": cmd_long}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
