#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hand a crafted TCP SYN to tunplug through the tun itself and report the
answer. Packets to 127.0.0.1 or to the tun's own address never reach a tun
through routing, so the SYN is transmitted on the device with an AF_PACKET
socket (the tun queues it for tunplug's read side); a second AF_PACKET socket
sees what tunplug writes back. Standard library only.

  inject.py --dev tp0 --src 198.18.0.1 --dst 127.0.0.1 --dport 22
prints one line: "rst" (RST|ACK from dst:dport acking our SYN),
"synack", "prohibited" (ICMP / ICMPv6 destination unreachable,
administratively prohibited, from dst and quoting our SYN), "icmp TYPE/CODE"
(another such error quoting our SYN), or "none" (nothing within --wait
seconds).
--options HEX replaces the SYN's TCP options (MSS 1460, NOP NOP NOP, EOL) with
those bytes as they are, malformed or not (a multiple of 4 bytes, at most 40):
  inject.py --dev tp0 --src 198.18.0.1 --dst 198.19.1.1 --dport 80 --options 01010102
"""
import argparse
import ipaddress
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def syn(src, dst, sport, dport, seq, opts=None):
    if opts is None:
        opts = struct.pack("!BBH", 2, 4, 1460) + b"\x01\x01\x01\x00"  # MSS, NOPs, EOL
    doff = 5 + len(opts) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, doff << 4, 0x02, 65535, 0, 0) + opts
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(tcp))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    if src.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                         src.packed, dst.packed)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, src.packed, dst.packed)
    return ip + tcp


def parse_tcp(pkt):
    """(src, dst, sport, dport, seq, ack, flags) or None."""
    if not pkt:
        return None
    v = pkt[0] >> 4
    if v == 4 and len(pkt) >= 40 and pkt[9] == 6:
        ihl = (pkt[0] & 15) * 4
        src, dst, t = ipaddress.ip_address(pkt[12:16]), ipaddress.ip_address(pkt[16:20]), pkt[ihl:]
    elif v == 6 and len(pkt) >= 60 and pkt[6] == 6:
        src, dst, t = ipaddress.ip_address(pkt[8:24]), ipaddress.ip_address(pkt[24:40]), pkt[40:]
    else:
        return None
    if len(t) < 20:
        return None
    sport, dport, seq, ack, _, flags = struct.unpack("!HHIIBB", t[:14])
    return src, dst, sport, dport, seq, ack, flags


def parse_icmp_unreach(pkt):
    """(src, type, code, quoted packet) of an ICMP/ICMPv6 destination
    unreachable, or None."""
    if not pkt:
        return None
    v = pkt[0] >> 4
    if v == 4 and len(pkt) >= 28 and pkt[9] == 1:
        ihl = (pkt[0] & 15) * 4
        src, icmp = ipaddress.ip_address(pkt[12:16]), pkt[ihl:]
        if icmp[0] != 3:
            return None
    elif v == 6 and len(pkt) >= 48 and pkt[6] == 58:
        src, icmp = ipaddress.ip_address(pkt[8:24]), pkt[40:]
        if icmp[0] != 1:
            return None
    else:
        return None
    return src, icmp[0], icmp[1], icmp[8:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--dport", type=int, required=True)
    ap.add_argument("--wait", type=float, default=1.0)
    ap.add_argument("--options", help="TCP options as hex, sent as they are")
    a = ap.parse_args()
    opts = None
    if a.options is not None:
        opts = bytes.fromhex(a.options)
        if len(opts) % 4 or len(opts) > 40:
            ap.error("--options: a multiple of 4 bytes, at most 40")
    src, dst = ipaddress.ip_address(a.src), ipaddress.ip_address(a.dst)
    sport, seq = random.randint(20000, 60000), random.getrandbits(32)
    proto = ETH_P_IP if src.version == 4 else ETH_P_IPV6
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    rx.bind((a.dev, ETH_P_ALL))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(proto))
    tx.sendto(syn(src, dst, sport, a.dport, seq, opts), (a.dev, proto))
    deadline = time.monotonic() + a.wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([rx], [], [], left)[0]:
            print("none")
            return 0
        pkt, addr = rx.recvfrom(70000)
        if addr[2] == PACKET_OUTGOING:
            continue
        u = parse_icmp_unreach(pkt)
        if u:
            q = parse_tcp(u[3] + b"\0" * 40)  # the quote may be cut after the ports
            if u[0] == dst and q and q[0] == src and q[1] == dst and q[2] == sport and \
                    q[3] == a.dport and q[4] == seq:
                prohibited = (u[1], u[2]) in ((3, 13), (1, 1))
                print("prohibited" if prohibited else "icmp %d/%d" % (u[1], u[2]))
                return 0
            continue
        t = parse_tcp(pkt)
        if not t or t[0] != dst or t[1] != src or t[2] != a.dport or t[3] != sport:
            continue
        flags, ack = t[6], t[5]
        if flags & 0x04 and ack == (seq + 1) & 0xFFFFFFFF:
            print("rst")
            return 0
        if flags & 0x12 == 0x12 and ack == (seq + 1) & 0xFFFFFFFF:
            print("synack")
            return 0


if __name__ == "__main__":
    sys.exit(main())
