#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""fakeproxy - a misbehaving (or exacting) HTTP CONNECT proxy for e2e_httpproxy
(stdlib only). Every server stops by itself after --timeout seconds.

  server --host H --port P --mode MODE [--log FILE] --timeout T
      greet    read the request head, append it to --log, answer
               "200 Connection established" and the first tunnel bytes
               ("HELLO-FROM-TUNNEL\\n") in ONE send, then echo everything
      silent   read the request, never answer (hold the connection)
      huge     answer "HTTP/1.1 200 OK" and > 8 KiB of headers, no end
      garbage  answer a head that is not HTTP ("SSH-2.0-x\\r\\n\\r\\n")
  client --host H --port P --timeout T
      expect "HELLO-FROM-TUNNEL\\n" first, then an echo of 64 KiB; JSON line
"""
import argparse
import json
import os
import socket
import sys
import threading
import time

GREETING = b"HELLO-FROM-TUNNEL\n"


def read_head(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return None
        buf += d
    return buf


def cmd_server(a):
    s = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.host, a.port))
    s.listen(128)
    s.settimeout(0.5)
    deadline = time.monotonic() + a.timeout
    lock = threading.Lock()

    def handle(c):
        try:
            c.settimeout(max(1.0, deadline - time.monotonic()))
            head = read_head(c)
            if head is None:
                return
            if a.log:
                with lock, open(a.log, "ab") as f:
                    f.write(head)
            if a.mode == "greet":
                c.sendall(b"HTTP/1.1 200 Connection established\r\nX-Fake: 1\r\n\r\n" + GREETING)
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
            elif a.mode == "silent":
                while c.recv(65536):
                    pass
            elif a.mode == "huge":
                c.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"a" * 9000 + b"\r\n")
                while c.recv(65536):
                    pass
            elif a.mode == "garbage":
                c.sendall(b"SSH-2.0-x\r\n\r\n")
                while c.recv(65536):
                    pass
        except OSError:
            pass
        finally:
            c.close()

    while time.monotonic() < deadline:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()
    return 0


def cmd_client(a):
    r = {"client": "fakeproxy", "dst": "%s:%d" % (a.host, a.port)}
    payload = os.urandom(65536)
    try:
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        s.settimeout(a.timeout)
        got = b""
        while len(got) < len(GREETING):
            d = s.recv(len(GREETING) - len(got))
            if not d:
                break
            got += d
        r["greeting"] = got.decode("ascii", "replace")
        s.sendall(payload)
        back = b""
        while len(back) < len(payload):
            d = s.recv(65536)
            if not d:
                break
            back += d
        r["echo_ok"] = back == payload
        s.close()
    except OSError as e:
        r["error"] = str(e)
    r["ok"] = r.get("greeting") == GREETING.decode() and r.get("echo_ok") is True
    print(json.dumps(r, sort_keys=True), flush=True)
    return 0 if r["ok"] else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("server")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=("greet", "silent", "huge", "garbage"), required=True)
    p.add_argument("--log", default="")
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("client")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args()
    return cmd_server(a) if a.cmd == "server" else cmd_client(a)


if __name__ == "__main__":
    sys.exit(main())
