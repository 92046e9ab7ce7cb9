#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tptool - servers and clients for tunplug's end-to-end tests (stdlib only).

Every server stops by itself (connection count and/or wall-clock limit) and
every client is bounded in time.  Clients print one JSON object on stdout and
exit 0 only if everything they checked was right.

  hashserver   per connection: read to EOF, reply "OK <sha256> <len>\\n" and
               echo the received bytes back, close (threaded)
  concurrent   N connections open at once (barrier), each sends a distinct
               payload, half-closes, and checks digest + echo
  hcserver     half-close server: --mode client-first | server-first
  hcclient     the matching client
  connect      one connect(), expect refused / any error / an errno / a
               timeout; measures the time
  echoserver   selector-based TCP echo for many idle connections
  idle         open N connections to an echo server (1 byte verified each),
               hold them --hold seconds (or until --stop-file exists), re-check
  connrate     short connections (connect, 1 byte each way, close) for D s
  procstat     CPU seconds and memory of a PID from /proc
"""
import argparse
import errno
import hashlib
import json
import os
import random
import selectors
import socket
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def err(msg):
    sys.stderr.write("tptool: %s\n" % msg)
    sys.stderr.flush()


def det_bytes(n, seed):
    """Deterministic pseudo-random payload: both ends can rebuild it."""
    return random.Random(seed).randbytes(n)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listen(host, port, backlog=1024):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family_of(host) == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def recv_all(sock, limit=1 << 31):
    """Read to EOF; returns bytes."""
    chunks = []
    n = 0
    while True:
        d = sock.recv(1 << 16)
        if not d:
            return b"".join(chunks)
        chunks.append(d)
        n += len(d)
        if n > limit:
            raise ValueError("more than %d bytes" % limit)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        d = sock.recv(min(1 << 16, n - len(buf)))
        if not d:
            raise ConnectionError("EOF after %d of %d bytes" % (len(buf), n))
        buf += d
    return bytes(buf)


def recv_line(sock, limit=256):
    buf = bytearray()
    while not buf.endswith(b"\n"):
        d = sock.recv(1)
        if not d:
            raise ConnectionError("EOF in header line %r" % bytes(buf))
        buf += d
        if len(buf) > limit:
            raise ValueError("header line too long")
    return bytes(buf[:-1]).decode()


def serve_loop(socks, handler, max_conns, deadline):
    """Accept on every listening socket until max_conns or deadline; one thread each."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    threads = []
    accepted = 0
    while (max_conns <= 0 or accepted < max_conns) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            try:
                c, peer = key.fileobj.accept()
            except OSError:
                continue
            accepted += 1
            t = threading.Thread(target=handler, args=(c, peer), daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    return accepted


# ---------------------------------------------------------------- hashserver

def cmd_hashserver(a):
    socks = [listen(h, a.port) for h in a.host]
    deadline = time.monotonic() + a.timeout
    stats = {"ok": 0, "bad": 0}
    lock = threading.Lock()

    def handle(c, peer):
        try:
            c.settimeout(max(1.0, deadline - time.monotonic()))
            data = recv_all(c)
            hdr = "OK %s %d\n" % (hashlib.sha256(data).hexdigest(), len(data))
            c.sendall(hdr.encode() + data)
            c.shutdown(socket.SHUT_WR)
            c.settimeout(5)
            c.recv(1)
            with lock:
                stats["ok"] += 1
        except OSError as e:
            with lock:
                stats["bad"] += 1
            err("hashserver %s: %s" % (peer, e))
        finally:
            c.close()

    n = serve_loop(socks, handle, a.max_conns, deadline)
    out({"server": "hash", "accepted": n, **stats})


# ---------------------------------------------------------------- concurrent

def cmd_concurrent(a):
    n = a.n
    barrier = threading.Barrier(n + 1)
    results = [None] * n
    deadline = time.monotonic() + a.timeout

    def one(i):
        payload = det_bytes(a.size, 1000 + i)
        s = None
        try:
            s = socket.socket(family_of(a.host), socket.SOCK_STREAM)
            s.settimeout(a.timeout)
            s.connect((a.host, a.port))
        except OSError as e:
            results[i] = "connect: %s" % e
            if s:
                s.close()
            try:
                barrier.wait(max(0.1, deadline - time.monotonic()))
            except threading.BrokenBarrierError:
                pass
            return
        try:
            # every connection is established before any sends: N concurrent flows
            barrier.wait(max(0.1, deadline - time.monotonic()))
        except threading.BrokenBarrierError:
            pass
        try:
            s.settimeout(max(1.0, deadline - time.monotonic()))
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            hdr = recv_line(s)
            echo = recv_all(s, limit=a.size + 1)
            want = "OK %s %d" % (hashlib.sha256(payload).hexdigest(), a.size)
            if hdr != want:
                results[i] = "header %r != %r" % (hdr, want)
            elif echo != payload:
                results[i] = "echo differs (%d bytes back)" % len(echo)
            else:
                results[i] = "ok"
        except (OSError, ValueError) as e:
            results[i] = "io: %s" % e
        finally:
            s.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    try:
        barrier.wait(a.timeout)
        t_open = time.monotonic() - t0
    except threading.BrokenBarrierError:
        t_open = None
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    good = sum(1 for r in results if r == "ok")
    errors = {}
    for r in results:
        if r != "ok":
            errors[str(r)] = errors.get(str(r), 0) + 1
    out({"client": "concurrent", "n": n, "size": a.size, "ok": good,
         "all_open_s": None if t_open is None else round(t_open, 3),
         "total_s": round(time.monotonic() - t0, 3), "errors": errors})
    sys.exit(0 if good == n else 1)


# ------------------------------------------------------------- half-close

SEED_C2S, SEED_S2C = 1, 2


def cmd_hcserver(a):
    socks = [listen(h, a.port) for h in a.host]
    deadline = time.monotonic() + a.timeout
    lock = threading.Lock()

    def handle(c, peer):
        r = {"server": "halfclose", "mode": a.mode, "peer": str(peer[0])}
        try:
            c.settimeout(max(1.0, deadline - time.monotonic()))
            want = det_bytes(a.size, SEED_C2S)
            if a.mode == "client-first":
                data = recv_all(c)            # until the client's FIN
                r["got"] = len(data)
                r["got_ok"] = data == want
                time.sleep(a.delay)           # the flow stays half-open meanwhile
                status = "OK" if data == want else "BAD"
                c.sendall(("%s %d\n" % (status, len(data))).encode())
                c.sendall(det_bytes(a.size, SEED_S2C))
                c.shutdown(socket.SHUT_WR)
                r["sent"] = a.size
                c.settimeout(5)
                r["final_eof"] = c.recv(1) == b""
            else:
                c.sendall(det_bytes(a.size, SEED_S2C))
                c.shutdown(socket.SHUT_WR)    # server's FIN first
                r["sent"] = a.size
                data = recv_all(c)            # client keeps sending after our FIN
                r["got"] = len(data)
                r["got_ok"] = data == want
            r["ok"] = bool(r.get("got_ok"))
        except (OSError, ValueError) as e:
            r["ok"] = False
            r["error"] = str(e)
        finally:
            c.close()
        with lock:
            out(r)

    serve_loop(socks, handle, a.max_conns, deadline)


def cmd_hcclient(a):
    r = {"client": "halfclose", "mode": a.mode, "host": a.host, "size": a.size}
    s = socket.socket(family_of(a.host), socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    t0 = time.monotonic()
    try:
        s.connect((a.host, a.port))
        payload = det_bytes(a.size, SEED_C2S)
        expect = det_bytes(a.size, SEED_S2C)
        if a.mode == "client-first":
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)        # our FIN first; we keep reading
            hdr = recv_line(s)
            r["server_said"] = hdr
            data = recv_all(s, limit=a.size + 1)
            r["got"] = len(data)
            r["ok"] = hdr == "OK %d" % a.size and data == expect
        else:
            data = recv_all(s, limit=a.size + 1)   # up to the server's FIN
            r["got"] = len(data)
            r["got_ok"] = data == expect
            time.sleep(a.delay)               # the flow stays half-open meanwhile
            s.sendall(payload)                # still allowed after the peer's FIN
            s.shutdown(socket.SHUT_WR)
            r["sent"] = a.size
            r["final_eof"] = s.recv(1) == b""  # server closes after reading our EOF
            r["ok"] = bool(r["got_ok"] and r["final_eof"])
    except (OSError, ValueError) as e:
        r["ok"] = False
        r["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        s.close()
    r["elapsed_s"] = round(time.monotonic() - t0, 3)
    out(r)
    sys.exit(0 if r["ok"] else 1)


# ---------------------------------------------------------------- connect

def cmd_connect(a):
    """One connect(); --expect refused: ECONNREFUSED; --expect error: any error
    (refused, unreachable, or a reset/EOF right after a completed handshake);
    --expect ENAME: that errno (EHOSTUNREACH, ENETUNREACH, EACCES, ...); in
    each case within --max seconds. --expect timeout: no answer at all
    within --timeout seconds."""
    s = socket.socket(family_of(a.host), socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    t0 = time.monotonic()
    r = {"client": "connect", "dst": "%s:%d" % (a.host, a.port), "expect": a.expect}
    try:
        s.connect((a.host, a.port))
        r["result"] = "connected"
        # A gateway that completes the handshake first and resets later lands
        # here: see whether the connection dies within the allowed time.
        s.settimeout(max(0.1, a.max - (time.monotonic() - t0)))
        try:
            d = s.recv(1)
            r["after_connect"] = "eof" if d == b"" else "data"
        except socket.timeout:
            r["after_connect"] = "still open"
        except OSError as e:
            r["after_connect"] = errno.errorcode.get(e.errno, str(e))
    except socket.timeout:
        r["result"] = "timeout"
    except OSError as e:
        r["result"] = errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()
    r["elapsed_s"] = round(time.monotonic() - t0, 3)
    if a.expect == "refused":
        good = r["result"] == "ECONNREFUSED"
    elif a.expect == "timeout":
        good = r["result"] == "timeout"
        a.max = max(a.max, a.timeout + 1)
    elif a.expect != "error":
        good = r["result"] == a.expect
    elif r["result"] == "connected":
        good = r.get("after_connect") not in ("data", "still open")
    else:
        good = r["result"] != "timeout"
    good = good and r["elapsed_s"] <= a.max
    r["ok"] = good
    out(r)
    sys.exit(0 if good else 1)


# --------------------------------------------------------------- echoserver

def cmd_echoserver(a):
    socks = [listen(h, a.port, backlog=4096) for h in a.host]
    for s in socks:
        s.setblocking(False)
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ, None)
    deadline = time.monotonic() + a.timeout
    conns = 0
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            if key.data is None:
                try:
                    while True:
                        c, _ = key.fileobj.accept()
                        c.setblocking(False)
                        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        sel.register(c, selectors.EVENT_READ, "c")
                        conns += 1
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    err("accept: %s" % e)   # e.g. EMFILE; keep serving the rest
                    time.sleep(0.05)
                continue
            c = key.fileobj
            try:
                d = c.recv(1 << 16)
                if d:
                    c.sendall(d)    # small echoes: never blocks for long here
                    continue
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                pass
            sel.unregister(c)
            c.close()
    err("echoserver: %d connections, stopping (time limit)" % conns)


# --------------------------------------------------------------------- idle

def open_verified(host, port, n, timeout, batch=256, ports=1):
    """Open n connections, each checked with a 1-byte echo; nonblocking batches.
    Destination ports port..port+ports-1 in turn (more than one client port
    range's worth of connections to one address)."""
    fam = family_of(host)
    socks, failed = [], 0
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    pending = {}
    started = 0
    while (started < n or pending) and time.monotonic() < deadline:
        while started < n and len(pending) < batch:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((host, port + started % ports))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                started += 1
                continue
            pending[s] = "connecting"
            sel.register(s, selectors.EVENT_WRITE)
            started += 1
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            if pending[s] == "connecting":
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    sel.unregister(s)
                    del pending[s]
                    s.close()
                    failed += 1
                    continue
                s.send(b"i")
                pending[s] = "echo"
                sel.modify(s, selectors.EVENT_READ)
            else:
                try:
                    d = s.recv(1)
                except OSError:
                    d = b""
                sel.unregister(s)
                del pending[s]
                if d == b"i":
                    socks.append(s)
                else:
                    s.close()
                    failed += 1
    for s in list(pending):
        sel.unregister(s)
        s.close()
        failed += 1
    failed += n - started
    return socks, failed


def check_alive(socks, timeout):
    sel = selectors.DefaultSelector()
    for s in socks:
        try:
            s.send(b"a")
            sel.register(s, selectors.EVENT_READ)
        except OSError:
            pass
    alive = 0
    left = len(sel.get_map())
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            try:
                d = key.fileobj.recv(1)
            except OSError:
                d = b""
            if d == b"a":
                alive += 1
            sel.unregister(key.fileobj)
            left -= 1
    return alive


def cmd_idle(a):
    t0 = time.monotonic()
    socks, failed = open_verified(a.host, a.port, a.n, a.open_timeout, a.batch, a.ports)
    t_open = time.monotonic() - t0
    out({"event": "open", "opened": len(socks), "failed": failed,
         "open_s": round(t_open, 3)})
    # hold them: --hold seconds, or until --stop-file exists
    deadline = time.monotonic() + a.hold
    while time.monotonic() < deadline:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        time.sleep(0.1)
    alive = check_alive(socks, 5) if a.recheck else None
    t0 = time.monotonic()
    for s in socks:
        s.close()
    out({"event": "done", "opened": len(socks), "failed": failed, "alive": alive,
         "close_s": round(time.monotonic() - t0, 3)})
    sys.exit(0 if failed == 0 and (alive is None or alive == len(socks)) else 1)


# ------------------------------------------------------------------ connrate

def cmd_connrate(a):
    """Short connections: connect, send 1 byte, read the echo, close; --concurrency
    of them in flight. One thread with a selector: Python threads would measure
    the GIL hand-off (5 ms switch interval) rather than the network path."""
    fam = family_of(a.host)
    sel = selectors.DefaultSelector()
    pending = {}        # socket -> [state, t_start_ns]
    ok = fail = 0
    times = []
    t0 = time.monotonic()
    stop = t0 + a.duration

    def finish(s, good):
        nonlocal ok, fail
        st = pending.pop(s)
        sel.unregister(s)
        s.close()
        if good:
            ok += 1
            times.append(time.monotonic_ns() - st[1])
        else:
            fail += 1

    while True:
        now = time.monotonic()
        while now < stop and len(pending) < a.concurrency:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            t = time.monotonic_ns()
            rc = s.connect_ex((a.host, a.port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                fail += 1
                continue
            pending[s] = ["connecting", t]
            sel.register(s, selectors.EVENT_WRITE)
        if not pending or now > stop + 5:
            break
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            st = pending[s]
            if st[0] == "connecting":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    finish(s, False)
                    continue
                try:
                    s.send(b"x")
                except OSError:
                    finish(s, False)
                    continue
                st[0] = "echo"
                sel.modify(s, selectors.EVENT_READ)
            else:
                try:
                    d = s.recv(1)
                except OSError:
                    d = b""
                finish(s, d == b"x")
        # connections stuck for more than 2 s count as failed
        limit = time.monotonic_ns() - 2_000_000_000
        for s in [s for s, st in pending.items() if st[1] < limit]:
            finish(s, False)
    for s in list(pending):
        finish(s, False)
    el = min(time.monotonic(), stop + 5) - t0
    times.sort()

    def p(q):
        return round(times[min(len(times) - 1, int(len(times) * q))] / 1000.0, 1) if times else None

    out({"client": "connrate", "concurrency": a.concurrency, "ok": ok, "failed": fail,
         "elapsed_s": round(el, 3), "conn_per_s": round(ok / el, 1),
         "p50_us": p(0.5), "p99_us": p(0.99)})


# ------------------------------------------------------------------ procstat

def procstat(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    mem = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                mem[k] = int(v.split()[0])
    return {"pid": pid, "cpu_s": cpu, "rss_kib": mem.get("VmRSS"), "hwm_kib": mem.get("VmHWM")}


def cmd_procstat(a):
    out(procstat(a.pid))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def server(name, fn, timeout=120):
        p = sub.add_parser(name)
        p.add_argument("--host", action="append", required=True, help="repeatable")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--timeout", type=float, default=timeout, help="stop after this many seconds")
        p.set_defaults(fn=fn)
        return p

    p = server("hashserver", cmd_hashserver)
    p.add_argument("--max-conns", type=int, default=0)
    p = server("hcserver", cmd_hcserver)
    p.add_argument("--mode", choices=("client-first", "server-first"), required=True)
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("--delay", type=float, default=1.0)
    p.add_argument("--max-conns", type=int, default=0)
    server("echoserver", cmd_echoserver, timeout=600)

    p = sub.add_parser("concurrent")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--size", type=int, default=64 << 10)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(fn=cmd_concurrent)

    p = sub.add_parser("hcclient")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=("client-first", "server-first"), required=True)
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("--delay", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(fn=cmd_hcclient)

    p = sub.add_parser("connect")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--expect", required=True,
                   help="refused, error, timeout, or an errno name (EHOSTUNREACH ...)")
    p.add_argument("--max", type=float, required=True, help="seconds allowed until the error")
    p.add_argument("--timeout", type=float, default=15)
    p.set_defaults(fn=cmd_connect)

    p = sub.add_parser("idle")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--open-timeout", type=float, default=15)
    p.add_argument("--hold", type=float, default=60, help="seconds to keep them open")
    p.add_argument("--stop-file", default="", help="stop holding once this file exists")
    p.add_argument("--recheck", action="store_true")
    p.add_argument("--ports", type=int, default=1,
                   help="spread over destination ports PORT..PORT+N-1")
    p.add_argument("--batch", type=int, default=256, help="connections being opened at once")
    p.set_defaults(fn=cmd_idle)

    p = sub.add_parser("connrate")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--concurrency", type=int, default=1)
    p.set_defaults(fn=cmd_connrate)

    p = sub.add_parser("procstat")
    p.add_argument("--pid", type=int, required=True)
    p.set_defaults(fn=cmd_procstat)

    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
