#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tunfd - the "VPN app" side of an adopted tun fd, for e2e_adopt (stdlib
only). Like Android's VpnService.establish() plus the app that hands the fd
to its native gateway, it creates the tun itself, keeps its own descriptor
for the whole run and lends it to tunplug:

  tunfd.py run --name NAME [--vnet] --dir DIR [--log FILE] [--probe-port P]
               -- tunplug ARGS... (every "{fd}" is replaced by the fd number)

  1. open /dev/net/tun, TUNSETIFF NAME with IFF_TUN|IFF_NO_PI (|IFF_VNET_HDR
     with --vnet); write DIR/created: {"fd", "name", "flags", "offloads"}
  2. wait (at most 60 s) for DIR/go: the test configures the device with
     `ip` meanwhile
  3. start tunplug with the fd passed (subprocess pass_fds, same number),
     stdout and stderr to --log; write DIR/pid
  4. wait for it to exit; write DIR/exited: {"rc"}
  5. check the device is still ours: TUNGETIFF on our own fd (name, flags;
     the device's offloads are reported, not checked);
     with --probe-port, read packets from the fd (at most 20 s) until a UDP
     datagram to port P shows up (the test sends them once DIR/owned
     exists); write DIR/owned first, then DIR/probe: what was read
  6. wait (at most 60 s) for DIR/release, close the fd (the device goes)

Prints one JSON line at the end; exit 0 if tunplug exited 0 and the checks
of step 5 passed.
"""
import argparse
import ctypes
import fcntl
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
TUNGETIFF = 0x800454D2
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
VNET_HDR_LEN = 10
SIOCETHTOOL = 0x8946
ETHTOOL_GTXCSUM = 0x16
ETHTOOL_GTSO = 0x1E


def put(d, name, obj):
    tmp = os.path.join(d, "." + name)
    with open(tmp, "w") as f:
        json.dump(obj, f, sort_keys=True)
        f.write("\n")
    os.rename(tmp, os.path.join(d, name))  # appears complete


def wait_for(d, name, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(d, name)):
            return True
        time.sleep(0.05)
    return False


def getiff(fd):
    r = fcntl.ioctl(fd, TUNGETIFF, struct.pack("16sH22x", b"", 0))
    name, flags = struct.unpack("16sH22x", r)
    return name.rstrip(b"\0").decode(), flags


def offloads(name):
    """The device's TX checksum and TSO state (legacy ethtool ioctls): what
    TUNSETOFFLOAD on a vnet fd switches."""
    res = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for key, cmd in (("csum", ETHTOOL_GTXCSUM), ("tso", ETHTOOL_GTSO)):
            ev = ctypes.create_string_buffer(struct.pack("II", cmd, 0), 8)
            ifr = struct.pack("16sP", name.encode(), ctypes.addressof(ev))
            ifr += b"\0" * (40 - len(ifr))
            try:
                fcntl.ioctl(s, SIOCETHTOOL, ifr)
                res[key] = "on" if struct.unpack("II", ev.raw)[1] else "off"
            except OSError as e:
                res[key] = "? (%s)" % e.strerror
    finally:
        s.close()
    return res


def udp_dst_port(pkt):
    """Destination port of a bare IPv4/IPv6 UDP packet, else None."""
    if len(pkt) >= 28 and pkt[0] >> 4 == 4 and pkt[9] == 17:
        ihl = (pkt[0] & 15) * 4
        if len(pkt) >= ihl + 8:
            return struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0]
    if len(pkt) >= 48 and pkt[0] >> 4 == 6 and pkt[6] == 17:
        return struct.unpack("!H", pkt[42:44])[0]
    return None


def probe(fd, port, vnet, secs):
    deadline = time.monotonic() + secs
    seen = 0
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            buf = os.read(fd, 65536 + VNET_HDR_LEN)
        except BlockingIOError:  # tunplug left the file non-blocking
            continue
        seen += 1
        pkt = buf[VNET_HDR_LEN:] if vnet else buf
        if udp_dst_port(pkt) == port:
            return {"read": True, "packets": seen, "len": len(pkt),
                    "version": pkt[0] >> 4}
    return {"read": False, "packets": seen}


def cmd_run(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        print("tunfd: no command", file=sys.stderr)
        return 2
    flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if a.vnet else 0)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", a.name.encode(), flags))
    name, got = getiff(fd)
    put(a.dir, "created", {"fd": fd, "name": name, "flags": got, "offloads": offloads(name)})
    res = {"tunfd": name, "fd": fd, "flags": "0x%x" % got}
    if not wait_for(a.dir, "go", 60):
        res["error"] = "no go file within 60 s"
        print(json.dumps(res, sort_keys=True), flush=True)
        return 1
    cmd = [c.replace("{fd}", str(fd)) for c in cmd]
    logf = open(a.log, "ab") if a.log else None
    p = subprocess.Popen(cmd, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                         stdout=logf, stderr=logf)
    put(a.dir, "pid", {"pid": p.pid})
    rc = p.wait()
    if logf:
        logf.close()
    put(a.dir, "exited", {"rc": rc})
    res["rc"] = rc
    ok = rc == 0
    # the device is still ours: our fd is attached to it, flags as we set them
    name2, flags2 = getiff(fd)
    res["after"] = {"name": name2, "flags": "0x%x" % flags2, "offloads": offloads(name2)}
    ok = ok and name2 == name and flags2 == got
    put(a.dir, "owned", res["after"])
    if a.probe_port:
        res["probe"] = probe(fd, a.probe_port, a.vnet, 20)
        ok = ok and res["probe"]["read"]
        put(a.dir, "probe", res["probe"])
    if not wait_for(a.dir, "release", 60):
        res["release"] = "no release file within 60 s"
        ok = False
    os.close(fd)
    print(json.dumps(res, sort_keys=True), flush=True)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd_name", required=True)
    p = sub.add_parser("run")
    p.add_argument("--name", required=True)
    p.add_argument("--vnet", action="store_true")
    p.add_argument("--dir", required=True)
    p.add_argument("--log")
    p.add_argument("--probe-port", type=int, default=0)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    return cmd_run(a)


if __name__ == "__main__":
    sys.exit(main())
