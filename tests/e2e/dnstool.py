#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""DNS helper for e2e_dns (stdlib only). Bounded in time and count; prints
one JSON line.

  burst --server H [--port 53] --count N --name FMT [--type A] [--window W]
        [--expect ADDR] --timeout T
      one UDP socket (so one flow through the gateway); N queries, the
      name FMT with {i} replaced by the query's index, distinct IDs, at
      most W outstanding at once (0: all at once). Each reply is checked:
      its ID, its question (same name, type, class), QR set. Prints the
      count of replies per RCODE, malformed or unexpected replies, the
      A/AAAA addresses differing from --expect, and the slowest reply in
      ms. Exit 0 if every query got exactly one well-formed reply (any
      RCODE); 1 otherwise.
  fake --host H --port P --timeout T
      a misbehaving UDP upstream (no TCP listener, so a TCP fetch is
      refused): every query gets, in this order, an answer with another
      ID, one with another type, and a matching one with TC=1 and the A
      record 192.0.2.1. Serves until T seconds passed.
"""
import argparse
import ipaddress
import json
import selectors
import socket
import struct
import sys
import time

TYPES = {"A": 1, "NS": 2, "TXT": 16, "AAAA": 28}
RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"]


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def read_name(msg, off):
    labels, jumped, end = [], False, None
    for _ in range(128):
        c = msg[off]
        if c & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
                jumped = True
            off = ((c & 0x3F) << 8) | msg[off + 1]
            continue
        if c == 0:
            return ".".join(labels).lower(), (end if jumped else off + 1)
        labels.append(msg[off + 1:off + 1 + c].decode("latin-1"))
        off += 1 + c
    raise ValueError("name loop")


def query(qid, name, qtype):
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack(
        ">HH", qtype, 1)


def parse_reply(msg):
    """-> (id, flags, qname, qtype, qclass, [addresses])"""
    qid, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", msg[:12])
    if qd != 1:
        raise ValueError("qdcount %d" % qd)
    qname, off = read_name(msg, 12)
    qtype, qclass = struct.unpack(">HH", msg[off:off + 4])
    off += 4
    addrs = []
    for _ in range(an):
        _n, off = read_name(msg, off)
        rtype, _rclass, _ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if len(rdata) != rdlen:
            raise ValueError("short rdata")
        if rtype == 1 and rdlen == 4:
            addrs.append(str(ipaddress.IPv4Address(rdata)))
        elif rtype == 28 and rdlen == 16:
            addrs.append(str(ipaddress.IPv6Address(rdata)))
        off += rdlen
    return qid, flags, qname, qtype, qclass, addrs


def burst(a):
    fam = socket.AF_INET6 if ":" in a.server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.connect((a.server, a.port))
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    qtype = TYPES[a.type]
    base = 0x1000
    pending = {}  # id -> (name, t_sent)
    rcodes, bad, wrong_addr, dup = {}, 0, 0, 0
    done = set()
    slowest = 0.0
    nxt = 0
    deadline = time.monotonic() + a.timeout
    window = a.window or a.count
    while (nxt < a.count or pending) and time.monotonic() < deadline:
        while nxt < a.count and len(pending) < window:
            qid = (base + nxt) & 0xFFFF
            name = a.name.replace("{i}", str(nxt))
            try:
                s.send(query(qid, name, qtype))
            except BlockingIOError:
                break
            pending[qid] = (name.lower().rstrip("."), time.monotonic())
            nxt += 1
        for _key, _ev in sel.select(timeout=0.2):
            while True:
                try:
                    msg = s.recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    bad += 1
                    break
                try:
                    qid, flags, qname, qt, qc, addrs = parse_reply(msg)
                except (ValueError, IndexError, struct.error):
                    bad += 1
                    continue
                if qid in done:
                    dup += 1
                    continue
                if qid not in pending:
                    bad += 1
                    continue
                name, t0 = pending[qid]
                if not flags & 0x8000 or qname != name or qt != qtype or qc != 1:
                    bad += 1
                    continue
                del pending[qid]
                done.add(qid)
                slowest = max(slowest, time.monotonic() - t0)
                rc = RCODES[flags & 15] if flags & 15 < len(RCODES) else str(flags & 15)
                rcodes[rc] = rcodes.get(rc, 0) + 1
                if a.expect and rc == "NOERROR" and addrs != [a.expect]:
                    wrong_addr += 1
    res = {"sent": nxt, "answered": len(done), "unanswered": a.count - len(done),
           "rcodes": rcodes, "bad": bad, "dup": dup, "wrong_addr": wrong_addr,
           "slowest_ms": int(slowest * 1000)}
    print(json.dumps(res, sort_keys=True), flush=True)
    return 0 if len(done) == a.count and not bad and not dup and not wrong_addr else 1


def fake(a):
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((a.host, a.port))
    s.settimeout(0.2)
    deadline = time.monotonic() + a.timeout
    n = 0
    while time.monotonic() < deadline:
        try:
            msg, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        if len(msg) < 12:
            continue
        qid = struct.unpack(">H", msg[:2])[0]
        _name, off = read_name(msg, 12)
        qname_wire = msg[12:off]
        qtype, qclass = struct.unpack(">HH", msg[off:off + 4])
        hdr = lambda i, fl, an: struct.pack(">HHHHHH", i, fl, 1, an, 0, 0)
        q = qname_wire + struct.pack(">HH", qtype, qclass)
        other = qname_wire + struct.pack(">HH", (qtype % 255) + 1, qclass)
        rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
        s.sendto(hdr(qid ^ 0x5555, 0x8180, 1) + q + rr, peer)
        s.sendto(hdr(qid, 0x8180, 1) + other + rr, peer)
        s.sendto(hdr(qid, 0x8380, 1) + q + rr, peer)  # TC
        n += 1
    print(json.dumps({"queries": n}), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("burst")
    b.add_argument("--server", required=True)
    b.add_argument("--port", type=int, default=53)
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--name", required=True)
    b.add_argument("--type", default="A", choices=sorted(TYPES))
    b.add_argument("--window", type=int, default=0)
    b.add_argument("--expect", default="")
    b.add_argument("--timeout", type=float, required=True)
    f = sub.add_parser("fake")
    f.add_argument("--host", required=True)
    f.add_argument("--port", type=int, required=True)
    f.add_argument("--timeout", type=float, required=True)
    a = p.parse_args()
    sys.exit(burst(a) if a.cmd == "burst" else fake(a))


if __name__ == "__main__":
    main()
