#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tlssplit.py: an HTTPS GET whose TLS ClientHello leaves in small TCP
segments (for e2e_sniff.sh: the sniffer must put it together).

  tlssplit.py --host ADDR --port 443 --name SNI --path /file --chunk 40

The TLS client is Python's ssl module on memory BIOs over a plain socket
with TCP_NODELAY: the first flight (the ClientHello) is sent --chunk bytes
at a time, 20 ms apart; the rest of the connection goes as it comes. No
certificate check (the server's is self-signed). Prints the sha256 of the
response body and exits 0 on a 200 answer.
"""
import argparse
import hashlib
import socket
import ssl
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--name", required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--chunk", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname=a.name)
    sock = socket.create_connection((a.host, a.port), timeout=a.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    first = True

    def flush():
        nonlocal first
        data = out.read()
        if not data:
            return
        if first:
            first = False
            for i in range(0, len(data), a.chunk):
                if i:
                    time.sleep(0.02)
                sock.sendall(data[i:i + a.chunk])
        else:
            sock.sendall(data)

    def fill():
        data = sock.recv(65536)
        if not data:
            inc.write_eof()
        else:
            inc.write(data)
        return bool(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            if not fill():
                print("EOF during the handshake", file=sys.stderr)
                return 1
    flush()
    req = f"GET {a.path} HTTP/1.1\r\nHost: {a.name}\r\nConnection: close\r\n\r\n"
    tls.write(req.encode())
    flush()
    resp = b""
    while True:
        try:
            chunk = tls.read(65536)
            if not chunk:
                break
            resp += chunk
        except ssl.SSLWantReadError:
            flush()
            if not fill():
                break
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
    head, _, body = resp.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        print(f"answer: {status!r}", file=sys.stderr)
        return 1
    print(hashlib.sha256(body).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
