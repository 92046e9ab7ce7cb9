#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""truthtool - does a client see through tunplug what it sees without it?
(stdlib only; every command is bounded in time and prints JSON lines)

  compare --case NAME,GWHOST,TWINHOST,PORT,WANT [--case ...] --timeout T
      For each case, one connect() to GWHOST:PORT (routed through tunplug)
      and one to TWINHOST:PORT (the kernel's own path to a twin address
      served by the same server), at the same time. Each gives a result
      (connected, an errno name, or timeout after T s) and a time class:
      "at once" (< 0.5 s), "after a SYN retransmission" (< 2.5 s), "later".
      The twin's result must be WANT (one name, or several joined by '|':
      the test network itself must behave as the test says), and the
      gateway's result and time class must equal the twin's. Exit 0 only
      if every case matched.
  nmapcmp --gw FILE --twin FILE --pair GWHOST=TWINHOST [--pair ...]
          [--want TWINHOST=REASON[|REASON...] ...]
      Two nmap XML reports (-oX) of the same scan, one of the gateway's
      addresses and one of their twins: every port of every pair must have
      the same state and reason (filtered/host-unreach, closed/conn-refused,
      ...), and every port of a --want twin one of those reasons. Exit 0
      only if all are equal and every pair was scanned.
"""
import argparse
import errno
import json
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET


def out(obj):
    print(json.dumps(obj, sort_keys=True), flush=True)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def one_connect(host, port, timeout, res):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((host, port))
        r = "connected"
    except socket.timeout:
        r = "timeout"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    finally:
        s.close()
    res["result"] = r
    res["elapsed_s"] = round(time.monotonic() - t0, 3)


def time_class(res):
    if res["result"] == "timeout":
        return "timeout"
    t = res["elapsed_s"]
    if t < 0.5:
        return "at once"
    if t < 2.5:
        return "after a SYN retransmission"
    return "later"


def cmd_compare(a):
    good = True
    for spec in a.case:
        name, gw, twin, port, want = spec.split(",")
        rg, rt = {}, {}
        ts = [threading.Thread(target=one_connect, args=(gw, int(port), a.timeout, rg)),
              threading.Thread(target=one_connect, args=(twin, int(port), a.timeout, rt))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(a.timeout + 5)
        rg["class"], rt["class"] = time_class(rg), time_class(rt)
        twin_ok = rt["result"] in want.split("|")
        same = rg["result"] == rt["result"] and rg["class"] == rt["class"]
        out({"case": name, "gateway": dict(rg, dst="%s:%s" % (gw, port)),
             "kernel": dict(rt, dst="%s:%s" % (twin, port)), "want": want,
             "twin_as_wanted": twin_ok, "same": same})
        good = good and twin_ok and same
    sys.exit(0 if good else 1)


def nmap_ports(path):
    """{address: {port: (state, reason)}} from an nmap XML report."""
    hosts = {}
    for h in ET.parse(path).getroot().iter("host"):
        addr = h.find("address").get("addr")
        ports = {}
        for p in h.iter("port"):
            st = p.find("state")
            ports[int(p.get("portid"))] = (st.get("state"), st.get("reason"))
        # ports nmap folds into <extraports> (more than 25 alike) keep their
        # state and reasons there
        for ep in h.iter("extraports"):
            for er in ep.iter("extrareasons"):
                for rng in er.get("ports", "").split(","):
                    if not rng:
                        continue
                    lo, _, hi = rng.partition("-")
                    for port in range(int(lo), int(hi or lo) + 1):
                        ports[port] = (ep.get("state"), er.get("reason"))
        hosts[addr] = ports
    return hosts


def cmd_nmapcmp(a):
    gw, twin = nmap_ports(a.gw), nmap_ports(a.twin)
    a.wants = {}
    for w in a.want or []:
        host, _, reasons = w.partition("=")
        a.wants[host] = reasons.split("|")
    good = True
    for pair in a.pair:
        g, t = pair.split("=")
        pg, pt = gw.get(g), twin.get(t)
        if pg is None or pt is None or not pg:
            out({"pair": pair, "error": "not scanned", "gateway": pg, "kernel": pt})
            good = False
            continue
        diff = {p: {"gateway": pg.get(p), "kernel": pt.get(p)}
                for p in sorted(set(pg) | set(pt)) if pg.get(p) != pt.get(p)}
        summary = {}
        for st in pg.values():
            k = "%s (%s)" % st
            summary[k] = summary.get(k, 0) + 1
        want = a.wants.get(t)
        unwanted = sorted(p for p, st in pt.items() if want and st[1] not in want)
        out({"pair": pair, "ports": len(pg), "gateway_states": summary, "differ": diff,
             "kernel_not_as_wanted": unwanted})
        good = good and not diff and not unwanted
    sys.exit(0 if good else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("compare")
    p.add_argument("--case", action="append", required=True,
                   help="NAME,GWHOST,TWINHOST,PORT,WANT (repeatable)")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("nmapcmp")
    p.add_argument("--gw", required=True)
    p.add_argument("--twin", required=True)
    p.add_argument("--pair", action="append", required=True, help="GWHOST=TWINHOST")
    p.add_argument("--want", action="append", help="TWINHOST=REASON[|REASON...]")
    p.set_defaults(fn=cmd_nmapcmp)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
