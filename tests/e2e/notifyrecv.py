#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""notifyrecv.py SOCKET OUT [--on-ready CMD] [--timeout SEC]: a stand-in for
systemd's notification socket. Binds a unix datagram socket at SOCKET (the
path the test puts in NOTIFY_SOCKET), receives sd_notify messages with the
sender's credentials (SO_PASSCRED) and appends one line per message to OUT:

    <ms since start> pid=<sender pid> READY=1|STATUS=...

With --on-ready, CMD (a shell command) runs the moment the first READY=1
arrives, before the next message is read, and its outcome is appended:

    <ms> on-ready rc=<status> out=<first line of its output>

so a test can check what was true when READY=1 came (the tun up, its
route present). "listening" is written to OUT first. Ends on SIGTERM or
after --timeout seconds (default 300)."""
import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("out")
    ap.add_argument("--on-ready")
    ap.add_argument("--timeout", type=float, default=300.0)
    a = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    if os.path.exists(a.socket):
        os.unlink(a.socket)
    s.bind(a.socket)
    out = open(a.out, "a", buffering=1)

    def put(line):
        out.write("%d %s\n" % (int((time.monotonic() - t0) * 1000), line))

    put("listening")
    ready_seen = False
    deadline = t0 + a.timeout
    ucred = struct.calcsize("3i")
    while time.monotonic() < deadline:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(ucred))
        except socket.timeout:
            break
        pid = -1
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", cdata[:ucred])[0]
        msg = data.decode("utf-8", "replace").strip("\n").replace("\n", "|")
        put("pid=%d %s" % (pid, msg))
        if a.on_ready and not ready_seen and "READY=1" in msg.split("|"):
            ready_seen = True
            r = subprocess.run(a.on_ready, shell=True, capture_output=True, text=True)
            first = (r.stdout.strip().splitlines() or [""])[0]
            put("on-ready rc=%d out=%s" % (r.returncode, first))
    return 0


if __name__ == "__main__":
    sys.exit(main())
