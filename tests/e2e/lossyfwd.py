#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lossyfwd.py: a test-only Ethernet forwarder with loss and reordering.

Moves frames between two interfaces (AF_PACKET, both ways) and, for IPv4
and IPv6 frames, drops about --drop per mille and delays about --reorder per
mille until the next frame of the same direction has gone (or 5 ms passed):
what `tc qdisc ... netem loss 1% reorder 1%` would do, on kernels without
sch_netem. The choices come from a seeded generator and are bounded: never
more than the given share of the frames seen so far (plus one). Frames keep
their virtio_net_hdr (PACKET_VNET_HDR), so a partial checksum stays one the
receiver completes. On SIGTERM/SIGINT it writes its counters to --stats as
"frames N dropped N reordered N" and exits 0.

usage: lossyfwd.py --a IF --b IF [--drop PERMILLE] [--reorder PERMILLE]
                   [--seed N] --stats FILE
"""
import argparse
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_OUTGOING = 4
VNET_LEN = 10
HOLD_S = 0.005


def open_if(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((name, 0))
    s.setblocking(False)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--drop", type=int, default=10)
    ap.add_argument("--reorder", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats", required=True)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    socks = [open_if(args.a), open_if(args.b)]
    held = [None, None]  # per direction: (frame, since)
    st = {"frames": 0, "dropped": 0, "reordered": 0}
    stop = []

    def on_signal(_sig, _frm):
        stop.append(1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def send(d, frame):
        try:
            socks[1 - d].send(frame)
        except OSError:
            pass  # a full queue drops, as a wire would

    print("lossyfwd: ready", flush=True)
    while not stop:
        timeout = 0.2
        if any(held):
            timeout = HOLD_S
        try:
            ready, _, _ = select.select(socks, [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for d in (0, 1):
            if held[d] and now - held[d][1] >= HOLD_S:
                send(d, held[d][0])
                held[d] = None
        for s in ready:
            d = socks.index(s)
            for _ in range(64):
                try:
                    frame, addr = s.recvfrom(65536 + VNET_LEN)
                except (BlockingIOError, InterruptedError):
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue  # what we (or the kernel) sent on this side
                eth = frame[VNET_LEN + 12:VNET_LEN + 14]
                if eth not in (b"\x08\x00", b"\x86\xdd"):
                    send(d, frame)
                    continue
                st["frames"] += 1
                n = st["frames"]
                r = rng.randrange(1000)
                if r < args.drop and st["dropped"] * 1000 < n * args.drop + 1000:
                    st["dropped"] += 1
                    continue
                if (held[d] is None and args.drop <= r < args.drop + args.reorder and
                        st["reordered"] * 1000 < n * args.reorder + 1000):
                    st["reordered"] += 1
                    held[d] = (frame, time.monotonic())
                    continue
                send(d, frame)
                if held[d]:
                    send(d, held[d][0])  # the delayed one, after this
                    held[d] = None
    with open(args.stats, "w", encoding="ascii") as f:
        f.write("frames %d dropped %d reordered %d\n" %
                (st["frames"], st["dropped"], st["reordered"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
