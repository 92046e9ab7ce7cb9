#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tpflows - more clients and servers for tunplug's end-to-end tests (stdlib
only; shares tptool.py's helpers).  Same rules as tptool: every server stops
by itself, every client is bounded in time, clients print JSON on stdout and
exit 0 only if everything they checked was right.

  echocheck   send a file over one connection while reading the echo back
              (for --handler echo), half-close, read to EOF, write what came
              back to --out; checks length and sha256
  idleserver  echo server on several ports; one JSON line per connection when
              it ends: local port, bytes, sha256 of what it got, how it ended
              (eof / reset / ...), how long it lived
  idleclient  one silent connection and one that sends a chunk every
              --interval s (echo verified) at the same time; the silent one
              must be closed or reset within [--min-close, --max-close] s,
              the active one must live through --observe s and stay intact
"""
import argparse
import errno
import hashlib
import os
import selectors
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tptool import err, family_of, listen, out, serve_loop  # noqa: E402


def end_name(e):
    if e is None:
        return "eof"
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, OSError) and e.errno in (errno.ECONNRESET, errno.EPIPE):
        return "reset"
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e))
    return "%s: %s" % (type(e).__name__, e)


# ----------------------------------------------------------------- echocheck

def cmd_echocheck(a):
    with open(a.infile, "rb") as f:
        payload = f.read()
    r = {"client": "echocheck", "dst": "%s:%d" % (a.host, a.port), "sent": 0, "got": 0}
    got = bytearray()
    send_err = []
    s = socket.socket(family_of(a.host), socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    t0 = time.monotonic()

    def sender():
        try:
            s.sendall(payload)        # the reader below drains the echo meanwhile
            r["sent"] = len(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            send_err.append(end_name(e))

    try:
        s.connect((a.host, a.port))
        r["connect_s"] = round(time.monotonic() - t0, 3)
        t = threading.Thread(target=sender, daemon=True)
        t.start()
        while True:
            d = s.recv(1 << 16)
            if not d:
                r["end"] = "eof"
                break
            got += d
            if len(got) > len(payload):
                r["end"] = "more than sent"
                break
        t.join(5)
        if send_err:
            r["send_error"] = send_err[0]
    except (OSError, ValueError) as e:
        r["end"] = end_name(e)
    finally:
        s.close()
    r["elapsed_s"] = round(time.monotonic() - t0, 3)
    r["got"] = len(got)
    r["sha_sent"] = hashlib.sha256(payload).hexdigest()
    r["sha_got"] = hashlib.sha256(got).hexdigest()
    with open(a.outfile, "wb") as f:
        f.write(got)
    r["ok"] = (r["end"] == "eof" and not send_err and r["sent"] == len(payload)
               and bytes(got) == payload)
    out(r)
    sys.exit(0 if r["ok"] else 1)


# ---------------------------------------------------------------- idleserver

def cmd_idleserver(a):
    socks = [listen(h, p) for h in a.host for p in a.port]
    deadline = time.monotonic() + a.timeout
    lock = threading.Lock()

    def handle(c, peer):
        t0 = time.monotonic()
        r = {"server": "idle", "port": c.getsockname()[1], "bytes": 0}
        h = hashlib.sha256()
        e = None
        try:
            c.settimeout(max(1.0, deadline - time.monotonic()))
            while True:
                d = c.recv(1 << 16)
                if not d:
                    break
                r["bytes"] += len(d)
                h.update(d)
                c.sendall(d)
        except OSError as ex:
            e = ex
        finally:
            c.close()
        r["end"] = end_name(e)
        r["alive_s"] = round(time.monotonic() - t0, 3)
        r["sha"] = h.hexdigest()
        with lock:
            out(r)

    serve_loop(socks, handle, a.max_conns, deadline)


# ---------------------------------------------------------------- idleclient

def cmd_idleclient(a):
    fam = family_of(a.host)
    r = {"client": "idle", "host": a.host, "idle_port": a.idle_port,
         "active_port": a.active_port}
    si = socket.socket(fam, socket.SOCK_STREAM)
    sa = socket.socket(fam, socket.SOCK_STREAM)
    for s, port in ((si, a.idle_port), (sa, a.active_port)):
        s.settimeout(10)
        s.connect((a.host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    sel.register(si, selectors.EVENT_READ, "idle")
    sel.register(sa, selectors.EVENT_READ, "active")
    sent = bytearray()
    got = bytearray()
    next_send = t0
    stop = t0 + a.observe
    idle_end = None
    active_end = None
    max_gap = 0.0      # longest time the active connection went without an echo
    last_echo = t0
    while time.monotonic() < stop and active_end is None:
        now = time.monotonic()
        if now >= next_send:
            chunk = os.urandom(a.chunk)
            try:
                sa.send(chunk)   # small: fits the send buffer; a short write fails the check
                sent += chunk
            except OSError as e:
                active_end = (end_name(e), now - t0)
                break
            next_send += a.interval
        for key, _ in sel.select(timeout=max(0.01, min(next_send, stop) - time.monotonic())):
            s, now = key.fileobj, time.monotonic()
            try:
                d = s.recv(1 << 16)
                e = None
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as ex:
                d, e = b"", ex
            if key.data == "active":
                if d:
                    got += d
                    max_gap = max(max_gap, now - last_echo)
                    last_echo = now
                else:
                    active_end = (end_name(e), now - t0)
            elif d:
                idle_end = ("unexpected data", now - t0)
                sel.unregister(si)
            else:
                idle_end = (end_name(e), now - t0)
                sel.unregister(si)
    # the active one: half-close, collect the rest of the echo, then the EOF
    if active_end is None:
        sa.setblocking(True)
        sa.settimeout(5)
        try:
            sa.shutdown(socket.SHUT_WR)
            while True:
                d = sa.recv(1 << 16)
                if not d:
                    break
                got += d
            r["active_final"] = "eof"
        except OSError as e:
            r["active_final"] = end_name(e)
    else:
        r["active_died"] = active_end[0]
        r["active_died_after_s"] = round(active_end[1], 3)
    # a send on the silent one must fail too once it was reset
    if idle_end is not None:
        try:
            si.send(b"x")
            r["idle_send_after"] = "accepted"
        except OSError as e:
            r["idle_send_after"] = end_name(e)
    si.close()
    sa.close()
    r["observed_s"] = a.observe
    r["idle_end"] = idle_end[0] if idle_end else "still open"
    r["idle_end_after_s"] = round(idle_end[1], 3) if idle_end else None
    r["active_sent"] = len(sent)
    r["active_echoed"] = len(got)
    r["active_sha"] = hashlib.sha256(sent).hexdigest()
    r["active_max_echo_gap_s"] = round(max_gap, 3)
    r["active_intact"] = bytes(got) == bytes(sent)
    idle_ok = (idle_end is not None and idle_end[0] in ("eof", "reset")
               and a.min_close <= idle_end[1] <= a.max_close)
    active_ok = (active_end is None and r.get("active_final") == "eof" and r["active_intact"]
                 and len(sent) >= a.chunk * int(a.observe / a.interval))
    r["idle_ok"] = idle_ok
    r["active_ok"] = active_ok
    r["ok"] = idle_ok and active_ok
    out(r)
    sys.exit(0 if r["ok"] else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("echocheck")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--in", dest="infile", required=True, help="what to send")
    p.add_argument("--out", dest="outfile", required=True, help="where to write what came back")
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(fn=cmd_echocheck)

    p = sub.add_parser("idleserver")
    p.add_argument("--host", action="append", required=True, help="repeatable")
    p.add_argument("--port", type=int, action="append", required=True, help="repeatable")
    p.add_argument("--max-conns", type=int, default=0)
    p.add_argument("--timeout", type=float, default=60, help="stop after this many seconds")
    p.set_defaults(fn=cmd_idleserver)

    p = sub.add_parser("idleclient")
    p.add_argument("--host", required=True)
    p.add_argument("--idle-port", type=int, required=True)
    p.add_argument("--active-port", type=int, required=True)
    p.add_argument("--observe", type=float, required=True, help="seconds to watch both")
    p.add_argument("--interval", type=float, default=0.5, help="active: seconds between chunks")
    p.add_argument("--chunk", type=int, default=4096, help="active: bytes per chunk")
    p.add_argument("--min-close", type=float, required=True,
                   help="the silent connection must not end before this (s after connect)")
    p.add_argument("--max-close", type=float, required=True,
                   help="... and must have ended by this")
    p.set_defaults(fn=cmd_idleclient)

    a = ap.parse_args()
    try:
        a.fn(a)
    except OSError as e:
        err("%s: %s" % (a.cmd, e))
        out({"cmd": a.cmd, "ok": False, "error": end_name(e)})
        sys.exit(1)


if __name__ == "__main__":
    main()
