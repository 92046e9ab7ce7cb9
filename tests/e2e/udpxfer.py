#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""udpxfer.py - a file over UDP with sequence numbers and retransmission, for
the end-to-end tests (stdlib only). Bounded in time; prints one JSON line.

  server --host H --port P (--send FILE | --recv OUT) [--timeout T]
      one transfer with the first client that says hello, then exit
  client --host H --port P (--send FILE | --recv OUT) [--timeout T]
      --send: the client sends FILE to the server (which needs --recv)
      --recv: the client fetches the server's --send FILE into OUT
The client always speaks first (through a gateway only the client side can
open a flow); the data then goes whichever way was asked.

Datagrams: an 8-byte header (type, 3 pad bytes, a 32-bit value), then:
  HELLO     value 0; mode 'P' (client sends) or 'G' (client receives),
            chunk size (16 bit), file size (64 bit; 0 for 'G')
  HELLO_ACK file size (64 bit)
  DATA      value = sequence number; --chunk bytes of the file (1192 by
            default: 1200-byte datagrams), the last one shorter
  ACK       value = cumulative (every seq below it received); highest seq
            received + 1 (32 bit), count (16 bit), then up to 120 missing
            seqs below that highest one (NAKs, 32 bit each)
  FIN       value = number of chunks: the sender has had all of them acked
  FIN_ACK   value = number of chunks; sha256 of what the receiver has
The receiver acks every 32 new datagrams, at once (at most every 5 ms) when
a gap appears, every 50 ms while it is incomplete (so a lost ACK or a lost
tail is noticed), when it has everything, and on a resend after that. The
sender keeps --window datagrams in flight; it resends a NAKed datagram at
once (again only if it is still NAKed 20 ms after that resend) and any
unacked one after 150 ms. --lose K makes it skip the first transmission of
every K-th datagram, so the resend path runs even where nothing is lost.
The receiver answers FINs for 1 s after it is complete, then exits.
"""
import argparse
import hashlib
import json
import os
import select
import socket
import struct
import sys
import time

HELLO, HELLO_ACK, DATA, ACK, FIN, FIN_ACK = 1, 2, 3, 4, 5, 6
HDR = struct.Struct("!BxxxI")
MAX_NAKS = 120
NAK_HOLDOFF = 0.02
RTO = 0.15
ACK_EVERY = 32
ACK_IDLE = 0.05
LINGER = 1.0


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def big_buffers(s):
    for opt, name in ((socket.SO_RCVBUF, "SO_RCVBUFFORCE"), (socket.SO_SNDBUF, "SO_SNDBUFFORCE")):
        try:  # root: past rmem_max/wmem_max
            s.setsockopt(socket.SOL_SOCKET, getattr(socket, name, 33 if "RCV" in name else 32), 4 << 20)
        except OSError:
            try:
                s.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
            except OSError:
                pass


class Peer:
    """A socket and the one address it talks to (connected on the client)."""

    def __init__(self, sock, addr=None):
        self.s = sock
        self.addr = addr
        self.stats = {"sent": 0, "received": 0, "send_errors": 0, "foreign": 0}

    def send(self, data):
        try:
            if self.addr is None:
                self.s.send(data)
            else:
                self.s.sendto(data, self.addr)
            self.stats["sent"] += 1
            return True
        except (BlockingIOError, InterruptedError):
            self.stats["send_errors"] += 1
            return False
        except OSError:  # ECONNREFUSED from an earlier ICMP error, ENOBUFS
            self.stats["send_errors"] += 1
            return False

    def recv(self, timeout):
        """One datagram from the peer, or None."""
        if timeout > 0:
            r, _, _ = select.select([self.s], [], [], timeout)
            if not r:
                return None
        while True:
            try:
                data, addr = self.s.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:  # ICMP error queued on a connected socket
                return None
            if self.addr is not None and addr[:2] != self.addr[:2]:
                self.stats["foreign"] += 1
                continue
            self.stats["received"] += 1
            return data


def chunks_of(size, chunk):
    return (size + chunk - 1) // chunk


def run_sender(p, data, chunk, window, deadline, hello_ack=None, lose=0):
    """Send data to the peer until every chunk is acked and FIN answered."""
    n = chunks_of(len(data), chunk)
    acked = bytearray(n)
    sent_at = [0.0] * n
    resent = bytearray(n)  # 1 once a datagram has been sent again
    cum = nxt = 0
    resends = naks = 0
    fin_sent = 0.0
    fin_ok = False
    last_sweep = time.monotonic()
    started = hello_ack is None  # a 'G' server waits for the client's first ACK
    rsha = None
    t_start = time.monotonic()

    simulated = 0

    def send_data(seq, first=False):
        nonlocal simulated
        if first and lose and seq % lose == lose - 1:
            simulated += 1  # --lose: as if the network had dropped it
            return True
        off = seq * chunk
        return p.send(HDR.pack(DATA, seq) + data[off:off + chunk])

    while time.monotonic() < deadline:
        now = time.monotonic()
        if started and cum < n:
            burst = 0
            while nxt < n and nxt - cum < window and burst < 64:
                if not send_data(nxt, first=True):
                    break
                sent_at[nxt] = now
                nxt += 1
                burst += 1
        if started and cum >= n and now - fin_sent > 0.1:
            p.send(HDR.pack(FIN, n))
            fin_sent = now
        # everything the peer has said meanwhile
        wait = 0.0 if (started and nxt < n and nxt - cum < window) else 0.01
        while True:
            m = p.recv(wait)
            wait = 0.0
            if m is None:
                break
            if len(m) < HDR.size:
                continue
            typ, val = HDR.unpack_from(m)
            if typ == HELLO and hello_ack is not None:
                p.send(hello_ack)  # our HELLO_ACK was lost
            elif typ == ACK and len(m) >= HDR.size + 6:
                started = True
                high, cnt = struct.unpack_from("!IH", m, HDR.size)
                missing = set(struct.unpack_from("!%dI" % cnt, m, HDR.size + 6)) if cnt else set()
                val, high = min(val, n), min(high, n)
                for s in range(cum, val):
                    acked[s] = 1
                top = high if cnt < MAX_NAKS else (max(missing) if missing else high)
                for s in range(max(cum, val), top):
                    if s not in missing:
                        acked[s] = 1
                while cum < n and acked[cum]:
                    cum += 1
                t = time.monotonic()
                for s in sorted(missing):
                    # a gap below a later arrival: lost (this path does not
                    # reorder); a resend gets NAK_HOLDOFF to arrive first
                    if s < nxt and not acked[s] and (not resent[s] or t - sent_at[s] > NAK_HOLDOFF):
                        naks += 1
                        if send_data(s):
                            sent_at[s] = t
                            resent[s] = 1
                            resends += 1
            elif typ == FIN_ACK and val == n:
                fin_ok = True
                rsha = m[HDR.size:HDR.size + 32].hex()
        if fin_ok:
            break
        now = time.monotonic()
        if started and now - last_sweep > 0.05:  # anything unacked for too long
            last_sweep = now
            for s in range(cum, nxt):
                if not acked[s] and now - sent_at[s] > RTO:
                    if send_data(s):
                        sent_at[s] = now
                        resent[s] = 1
                        resends += 1
    return {"chunks": n, "acked": cum, "complete": fin_ok, "resends": resends, "naks": naks,
            "peer_sha256": rsha, "transfer_s": round(time.monotonic() - t_start, 3),
            "simulated_losses": simulated}


def run_receiver(p, size, chunk, deadline, on_hello=None):
    """Receive size bytes in chunks from the peer; returns (bytes, stats)."""
    n = chunks_of(size, chunk)
    buf = bytearray(size)
    have = bytearray(n)
    cum = high = got = 0
    dups = acks = 0
    new_since_ack = 0
    last_ack = 0.0
    gap_pending = False
    done_at = None
    digest = None
    last_heard = t_start = time.monotonic()

    def send_ack():
        nonlocal last_ack, new_since_ack, gap_pending, acks
        miss = []
        s = cum
        while s < high and len(miss) < MAX_NAKS:
            s = have.find(0, s, high)
            if s < 0:
                break
            miss.append(s)
            s += 1
        p.send(HDR.pack(ACK, cum) + struct.pack("!IH%dI" % len(miss), high, len(miss), *miss))
        last_ack = time.monotonic()
        new_since_ack = 0
        gap_pending = False
        acks += 1

    if n == 0:
        done_at = time.monotonic()
        digest = hashlib.sha256(b"").digest()
    else:
        send_ack()  # also the 'go' for a server that sends
    while time.monotonic() < deadline:
        m = p.recv(0.01)
        now = time.monotonic()
        if m is not None and len(m) >= HDR.size:
            last_heard = now
            typ, val = HDR.unpack_from(m)
            if typ == DATA and val < n:
                if have[val]:
                    dups += 1
                else:
                    off = val * chunk
                    body = m[HDR.size:]
                    want = min(chunk, size - off)
                    if len(body) == want:
                        buf[off:off + want] = body
                        have[val] = 1
                        got += 1
                        new_since_ack += 1
                        if val > high:
                            gap_pending = True  # something between high and val is missing
                        high = max(high, val + 1)
                        while cum < n and have[cum]:
                            cum += 1
                if cum >= n and done_at is None:
                    done_at = now
                    digest = hashlib.sha256(buf).digest()
                    send_ack()  # all of it: the sender may send FIN
                elif done_at is not None and now - last_ack > 0.005:
                    send_ack()  # a resend after the end: our final ACK was lost
            elif typ == FIN:
                if cum >= n:
                    p.send(HDR.pack(FIN_ACK, n) + digest)
                else:
                    send_ack()
            elif typ == HELLO and on_hello is not None:
                on_hello()
        if done_at is not None:
            if now - last_heard > LINGER:
                break
            continue
        if new_since_ack >= ACK_EVERY or (gap_pending and now - last_ack > 0.005) or \
                now - last_ack > ACK_IDLE:
            send_ack()
    ok = done_at is not None
    return bytes(buf) if ok else None, {
        "chunks": n, "received_chunks": got, "complete": ok, "duplicates": dups, "acks": acks,
        "transfer_s": round(done_at - t_start, 3) if ok else None}


def open_sock(host, port=0, bind=False):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    big_buffers(s)
    if bind:
        if family_of(host) == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
    else:
        s.connect((host, port))
    s.setblocking(False)
    return s


def cmd_server(a):
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    s = open_sock(a.host, a.port, bind=True)
    data = open(a.send, "rb").read() if a.send else None
    p = Peer(s)  # its address is learnt from the hello
    hello = None
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        try:
            m, addr = s.recvfrom(65535)
        except OSError:
            continue
        if len(m) >= HDR.size + 11 and m[0] == HELLO:
            hello, p.addr = m, addr
            break
    if hello is None:
        out({"server": "udpxfer", "error": "no hello within %ss" % a.timeout})
        return 1
    mode, chunk, size = struct.unpack_from("!cHQ", hello, HDR.size)
    res = {"server": "udpxfer", "peer": "%s:%d" % tuple(p.addr[:2]), "mode": mode.decode()}
    if mode == b"P":
        if not a.recv:
            out(dict(res, error="client sends, but no --recv"))
            return 1
        ack = HDR.pack(HELLO_ACK, 0) + struct.pack("!Q", size)
        p.send(ack)
        got, st = run_receiver(p, size, chunk, deadline, on_hello=lambda: p.send(ack))
        res.update(st)
        if got is not None:
            with open(a.recv, "wb") as f:
                f.write(got)
            res["sha256"] = hashlib.sha256(got).hexdigest()
        rc = 0 if got is not None else 1
    else:
        if data is None:
            out(dict(res, error="client receives, but no --send"))
            return 1
        ack = HDR.pack(HELLO_ACK, 0) + struct.pack("!Q", len(data))
        p.send(ack)
        st = run_sender(p, data, chunk, a.window, deadline, hello_ack=ack, lose=a.lose)
        res.update(st)
        res["sha256"] = hashlib.sha256(data).hexdigest()
        rc = 0 if st["complete"] else 1
    res.update(p.stats)
    res["elapsed_s"] = round(time.monotonic() - t0, 3)
    out(res)
    return rc


def cmd_client(a):
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    s = open_sock(a.host, a.port)
    p = Peer(s)
    data = open(a.send, "rb").read() if a.send else None
    mode = b"P" if data is not None else b"G"
    hello = HDR.pack(HELLO, 0) + struct.pack("!cHQ", mode, a.chunk, len(data) if data else 0)
    size = None
    hellos = 0
    while time.monotonic() < deadline and size is None:
        p.send(hello)
        hellos += 1
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            m = p.recv(max(0.0, end - time.monotonic()))
            if m is not None and len(m) >= HDR.size + 8 and m[0] == HELLO_ACK:
                size = struct.unpack_from("!Q", m, HDR.size)[0]
                break
    res = {"client": "udpxfer", "dst": "%s:%d" % (a.host, a.port), "mode": mode.decode(),
           "hellos": hellos}
    if size is None:
        out(dict(res, error="no answer to hello within %ss" % a.timeout))
        return 1
    if data is not None:
        st = run_sender(p, data, a.chunk, a.window, deadline, lose=a.lose)
        res["sha256"] = hashlib.sha256(data).hexdigest()
        nbytes, rc = len(data), 0 if st["complete"] else 1
    else:
        got, st = run_receiver(p, size, a.chunk, deadline)
        nbytes, rc = size, 0 if got is not None else 1
        if got is not None:
            with open(a.recv, "wb") as f:
                f.write(got)
            res["sha256"] = hashlib.sha256(got).hexdigest()
    el = st.get("transfer_s")
    res.update(st)
    res.update(p.stats)
    res.update({"bytes": nbytes, "elapsed_s": round(time.monotonic() - t0, 3),
                "mbit_s": round(nbytes * 8 / 1e6 / el, 1) if el else None})
    out(res)
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, fn in (("server", cmd_server), ("client", cmd_client)):
        p = sub.add_parser(name)
        p.add_argument("--host", required=True)
        p.add_argument("--port", type=int, required=True)
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--send", help="file to send")
        g.add_argument("--recv", help="where to write what was received")
        p.add_argument("--timeout", type=float, default=60)
        p.add_argument("--window", type=int, default=256, help="datagrams in flight")
        p.add_argument("--lose", type=int, default=0, metavar="K",
                       help="sending: skip the first transmission of every K-th datagram "
                            "(simulated loss: the resend path runs even on a clean path)")
        if name == "client":
            p.add_argument("--chunk", type=int, default=1192, help="file bytes per datagram")
        p.set_defaults(fn=fn)
    a = ap.parse_args()
    if a.cmd == "client" and not 1 <= a.chunk <= 65000:
        ap.error("--chunk out of range")
    if a.cmd == "server" and a.send and not os.path.isfile(a.send):
        ap.error("no such file: %s" % a.send)
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
