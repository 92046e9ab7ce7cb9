#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""udpbench.py - UDP request/response load and counter snapshots for
bench/bench.sh (standard library only). Every command is bounded in time
and prints one JSON line.

  echo --host H [--host H2] --port P --timeout T
      UDP echo server: every datagram goes back to its sender, until T s
      passed (one thread, blocking recvfrom/sendto: the cheapest Python loop)
  rr --host H --port P --duration D [--sockets N] [--rto S] [--count N]
      request/response: N sockets (each its own source port, so its own flow
      through the gateway), each with exactly one 1-byte datagram in flight;
      the byte is a sequence number (mod 256), so a late echo of an earlier,
      timed-out request is recognised and ignored. A request with no answer
      within --rto is counted lost and the socket sends the next one.
      Prints transactions/s, p50/p99 of one round trip, lost. --count N:
      exactly N requests in all, then stop (--duration still bounds it):
      a fixed amount of work, for counting instructions or syscalls
  snap [--dev DEV]
      this network namespace's UDP counters (/proc/net/snmp: Udp and
      /proc/net/snmp6: Udp6) and, with --dev, DEV's link counters (rx/tx
      packets and drops from /sys/class/net/DEV/statistics) and the qdisc's
      drops (tc -s qdisc); the bench takes one before and one after a run
"""
import argparse
import json
import os
import select
import socket
import subprocess
import sys
import time


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def cmd_echo(a):
    socks = []
    for h in a.host:
        s = socket.socket(family_of(h), socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((h, a.port))
        socks.append(s)
    deadline = time.monotonic() + a.timeout
    n = 0
    if len(socks) == 1:
        s = socks[0]
        s.settimeout(0.5)
        recvfrom, sendto = s.recvfrom, s.sendto
        while time.monotonic() < deadline:
            try:
                # a burst without a clock read per datagram
                for _ in range(1024):
                    d, peer = recvfrom(65535)
                    sendto(d, peer)
                    n += 1
            except socket.timeout:
                pass
            except OSError:
                pass
    else:
        for s in socks:
            s.setblocking(False)
        while time.monotonic() < deadline:
            r, _, _ = select.select(socks, [], [], 0.5)
            for s in r:
                while True:
                    try:
                        d, peer = s.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    try:
                        s.sendto(d, peer)
                        n += 1
                    except OSError:
                        pass
    out({"server": "udp-echo", "echoed": n})
    return 0


def cmd_rr(a):
    fam = family_of(a.host)
    ep = select.epoll()
    socks = {}  # fd -> [sock, seq, t_sent_ns, in_flight]
    rto_ns = int(a.rto * 1e9)
    for _ in range(a.sockets):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect((a.host, a.port))
        socks[s.fileno()] = [s, 0, 0, False]
        ep.register(s.fileno(), select.EPOLLIN)
    ok = lost = stale = errors = sent = 0
    times = []
    clock = time.monotonic_ns
    t0 = clock()
    stop = t0 + int(a.duration * 1e9)
    busy = 0  # sockets with a request in flight

    def send_next(st, t):
        # the next request on this socket; with --count, none beyond it
        nonlocal sent, errors, busy
        if a.count and sent >= a.count:
            if st[3]:
                st[3] = False
                busy -= 1
            return
        if not st[3]:
            st[3] = True
            busy += 1
        st[2] = t
        sent += 1
        try:
            st[0].send(bytes((st[1],)))
        except OSError:
            errors += 1

    for st in socks.values():
        send_next(st, clock())
    last_sweep = t0
    while busy:
        now = clock()
        if now >= stop:
            break
        for fd, _ in ep.poll(0.05):
            st = socks[fd]
            s = st[0]
            while True:
                try:
                    d = s.recv(16)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # e.g. ECONNREFUSED from an ICMP error
                    errors += 1
                    break
                if not st[3] or d != bytes((st[1],)):
                    stale += 1  # the echo of a request already counted lost
                    continue
                t = clock()
                times.append(t - st[2])
                ok += 1
                st[1] = (st[1] + 1) & 0xFF
                send_next(st, t)
                break
        now = clock()
        if now - last_sweep > 20_000_000:  # lost requests, every 20 ms
            last_sweep = now
            for st in socks.values():
                if st[3] and now - st[2] > rto_ns:
                    lost += 1
                    st[1] = (st[1] + 1) & 0xFF
                    send_next(st, now)
    el = (clock() - t0) / 1e9
    for st in socks.values():
        st[0].close()
    ep.close()
    times.sort()

    def p(q):
        return round(times[min(len(times) - 1, int(len(times) * q))] / 1000.0, 1) if times else None

    out({"client": "udp-rr", "sockets": a.sockets, "ok": ok, "lost": lost, "stale": stale,
         "errors": errors, "sent": sent, "elapsed_s": round(el, 3), "tps": round(ok / el, 1) if el else 0,
         "p50_us": p(0.5), "p99_us": p(0.99)})
    return 0 if ok else 1


def snmp(path, prefix):
    """{"Udp": {...}} from /proc/net/snmp's header/value line pairs, or the
    "Udp6InDatagrams 1" lines of /proc/net/snmp6."""
    res = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return res
    if path.endswith("snmp6"):
        for line in lines:
            k, _, v = line.partition(" ")
            if k.startswith(prefix):
                res[k] = int(v.strip())
        return res
    for i in range(0, len(lines) - 1, 2):
        hk, hv = lines[i].split(), lines[i + 1].split()
        if hk and hk[0] == prefix + ":":
            for k, v in zip(hk[1:], hv[1:]):
                res[prefix + k] = int(v)
    return res


def cmd_snap(a):
    r = {}
    r.update(snmp("/proc/net/snmp", "Udp"))
    r.update(snmp("/proc/net/snmp6", "Udp6"))
    if a.dev:
        base = "/sys/class/net/%s/statistics/" % a.dev
        for k in ("rx_packets", "tx_packets", "rx_dropped", "tx_dropped"):
            try:
                with open(base + k) as f:
                    r["%s_%s" % (a.dev, k)] = int(f.read())
            except (OSError, ValueError):
                pass
        try:
            q = subprocess.run(["tc", "-s", "qdisc", "show", "dev", a.dev], capture_output=True,
                               text=True, timeout=5).stdout
            drops = 0
            for line in q.splitlines():
                f = line.replace(",", " ").replace(")", " ").split()
                if "dropped" in f:
                    drops += int(f[f.index("dropped") + 1])
            r["%s_qdisc_drops" % a.dev] = drops
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            pass
    out(r)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("echo")
    p.add_argument("--host", action="append", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=600)
    p.set_defaults(fn=cmd_echo)
    p = sub.add_parser("rr")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--sockets", type=int, default=1)
    p.add_argument("--rto", type=float, default=0.2, help="seconds until a request counts lost")
    p.add_argument("--count", type=int, default=0,
                   help="stop after this many requests (answered or lost); --duration still bounds it")
    p.set_defaults(fn=cmd_rr)
    p = sub.add_parser("snap")
    p.add_argument("--dev", default="")
    p.set_defaults(fn=cmd_snap)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
