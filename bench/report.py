#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""report.py - records and the report for bench/bench.sh (standard library only).

  report.py machine --tunplug PATH              machine/version facts as JSON
  report.py iperf --target T --test NAME --rep N --file IPERF.json [--cpu0 J --cpu1 J]
            [--io0 "READS WRITES" --io1 "READS WRITES"]  (tunplug's tun counters)
            [--proxy-cpu0 J --proxy-cpu1 J]  (the SOCKS5 server's {"cpu_s"}, socks5 targets)
  report.py json --target T --test NAME --rep N --json J [...] [--cpu0 J --cpu1 J]
  report.py udpiperf --target T --test NAME --rep N --file IPERF.json [--cpu0 J --cpu1 J]
            [--gw0 J --gw1 J] [--snap-c0 J --snap-c1 J --snap-s0 J --snap-s1 J]
            iperf3 -u record; gw = tunplug's counters (gwcounters), snap = the
            namespaces' UDP/tun counters (udpbench.py snap), all as deltas
  report.py gwcounters < SUMMARY                tunplug's summary text -> counters JSON
  report.py report DIR                          raw.jsonl -> summary.json + table.md
Each record command prints one JSON line (appended to raw.jsonl by bench.sh).
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def cmd_machine(a):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = sh("git", "-C", repo, "rev-parse", "--short=12", "HEAD")
    dirty = sh("git", "-C", repo, "status", "--porcelain", "--untracked-files=no")
    ver = sh(a.tunplug, "--version") if a.tunplug else ""
    load = ""
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        pass
    out({"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
         "nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
         "loadavg_start": load, "tunplug": a.tunplug, "tunplug_version": ver.splitlines()[0] if ver else "",
         "git_commit": commit + ("-dirty" if dirty else ""),
         "iperf3": sh("iperf3", "--version").splitlines()[0] if sh("iperf3", "--version") else "",
         # the cap on a socket buffer iperf3 -w asks for (the bench's BENCH_UDP_EXTRA runs)
         "net_core_rmem_max": read_int("/proc/sys/net/core/rmem_max"),
         "net_core_wmem_max": read_int("/proc/sys/net/core/wmem_max"),
         "settings": json.loads(a.settings) if a.settings else {}})


def base(a):
    return {"target": a.target, "test": a.test, "rep": a.rep}


def cmd_iperf(a):
    r = base(a)
    try:
        with open(a.file) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        r["error"] = "no iperf3 JSON: %s" % e
        out(r)
        return
    if j.get("error"):
        r["error"] = j["error"]
    end = j.get("end", {})
    recv = end.get("sum_received", {})
    sent = end.get("sum_sent", {})
    if recv:
        r["gbit_s"] = recv.get("bits_per_second", 0) / 1e9
        r["bytes"] = recv.get("bytes", 0)
        r["seconds"] = recv.get("seconds")
    if sent:
        r["retransmits"] = sent.get("retransmits")
    if a.cpu0 and a.cpu1:
        c0, c1 = json.loads(a.cpu0), json.loads(a.cpu1)
        if c0 and c1:
            r["gw_cpu_s"] = c1["cpu_s"] - c0["cpu_s"]
            if r.get("bytes"):
                r["gw_cpu_s_per_gb"] = r["gw_cpu_s"] / (r["bytes"] / 1e9)
            r["gw_rss_kib"] = c1.get("rss_kib")
            r["gw_hwm_kib"] = c1.get("hwm_kib")
    if a.io0 and a.io1:
        i0, i1 = [int(x) for x in a.io0.split()], [int(x) for x in a.io1.split()]
        r["tun_reads"], r["tun_writes"] = i1[0] - i0[0], i1[1] - i0[1]
        if r.get("bytes"):
            r["tun_syscalls_per_gb"] = (r["tun_reads"] + r["tun_writes"]) / (r["bytes"] / 1e9)
    if a.proxy_cpu0 and a.proxy_cpu1:
        p0, p1 = json.loads(a.proxy_cpu0), json.loads(a.proxy_cpu1)
        if p0 and p1:
            r["proxy_cpu_s"] = p1["cpu_s"] - p0["cpu_s"]
            if r.get("bytes"):
                r["proxy_cpu_s_per_gb"] = r["proxy_cpu_s"] / (r["bytes"] / 1e9)
    out(r)


def cpu_delta(r, cpu0, cpu1):
    if cpu0 and cpu1:
        c0, c1 = json.loads(cpu0), json.loads(cpu1)
        if c0 and c1:
            r["gw_cpu_s"] = c1["cpu_s"] - c0["cpu_s"]


def cmd_json(a):
    r = base(a)
    for s in a.json:
        try:
            r.update(json.loads(s) if s else {})
        except ValueError:
            r.setdefault("error", "bad json: %r" % s[:200])
    cpu_delta(r, a.cpu0, a.cpu1)
    out(r)


# tunplug's summary lines (gateway/src/stats/stats.c) -> counter names
GW_PATTERNS = [
    (r"packets in (\d+) \((\d+) bytes\), out (\d+) \((\d+) bytes\), output errors (\d+), "
     r"tun full drops (\d+)",
     ("pkts_in", "bytes_in", "pkts_out", "bytes_out", "output_errors", "tun_full_drops")),
    (r"stack udp flows: opened (\d+),.*datagrams in (\d+) \((\d+) bytes\), out (\d+) "
     r"\((\d+) bytes\), send errors (\d+); fragments in (\d+), reassembled (\d+)",
     ("udp_flows_opened", "udp_dgrams_in", "udp_bytes_in", "udp_dgrams_out", "udp_bytes_out",
      "udp_send_errors", "udp_frag_in", "udp_reassembled")),
    (r"tun: reads (\d+), writes (\d+), read errors (\d+), write errors (\d+)",
     ("tun_reads", "tun_writes", "tun_read_errors", "tun_write_errors")),
    (r"super-packets in (\d+) \((\d+) segments.*out (\d+) \((\d+) segments.*"
     r"gro EINVAL fallbacks (\d+)",
     ("gso_in", "gso_in_segs", "gro_out", "gro_out_segs", "gro_einval")),
    (r"drops: .*no_memory (\d+)", ("drop_no_memory",)),
    (r"lwip mem errors (\d+)", ("lwip_mem_err",)),
    (r"bytes up (\d+), down (\d+)", ("bytes_up", "bytes_down")),
    (r"tun read loop: (\d+) readable events, .*, (\d+) ended at the bound",
     ("read_events", "read_bound_hits")),
]


def parse_handler_counters(text):
    """The UDP counters of the handlers' summary line ("direct.udp_sent 5"), summed over
    instances under their name without the instance prefix ("udp_sent")."""
    m = None
    for m in re.finditer(r"handler counters:(.*)", text):
        pass  # the last summary in the text
    r = {}
    if m:
        for name, v in re.findall(r"\s(\S+) (\d+)", m.group(1)):
            short = name.split(".", 1)[-1]
            if short.startswith("udp_"):
                r[short] = r.get(short, 0) + int(v)
    return r


def parse_gw(text):
    r = {}
    for pat, names in GW_PATTERNS:
        m = None
        for m in re.finditer(pat, text):
            pass  # the last summary in the text
        if m:
            r.update(zip(names, (int(x) for x in m.groups())))
    r.update(parse_handler_counters(text))
    return r


def cmd_gwcounters(a):
    out(parse_gw(sys.stdin.read()))


def delta(j0, j1, prefix):
    """{prefix+k: j1[k] - j0[k]} for the numeric keys of two JSON snapshots."""
    try:
        d0, d1 = json.loads(j0) if j0 else {}, json.loads(j1) if j1 else {}
    except ValueError:
        return {}
    return {prefix + k: v - d0[k] for k, v in d1.items()
            if isinstance(v, int) and isinstance(d0.get(k), int)}


def cmd_udpiperf(a):
    r = base(a)
    try:
        with open(a.file) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        r["error"] = "no iperf3 JSON: %s" % e
        out(r)
        return
    if j.get("error"):
        r["error"] = j["error"]
    end = j.get("end", {})
    recv = end.get("sum_received") or end.get("sum") or {}
    sent = end.get("sum_sent") or {}
    if recv:
        r["mbit_s"] = recv.get("bits_per_second", 0) / 1e6  # at the receiver
        r["bytes"] = recv.get("bytes", 0)
        r["dgrams"] = recv.get("packets")              # the sender's count
        r["lost"] = recv.get("lost_packets")
        r["lost_pct"] = recv.get("lost_percent")
        if isinstance(r["dgrams"], int) and isinstance(r["lost"], int):
            r["received"] = r["dgrams"] - r["lost"]
    if sent:
        r["sent_mbit_s"] = sent.get("bits_per_second", 0) / 1e6
    start = j.get("start", {}).get("test_start", {})
    r["blksize"] = start.get("blksize")
    # the client's socket buffers as the kernel set them (-w asks, rmem_max caps)
    for k in ("sock_bufsize", "sndbuf_actual", "rcvbuf_actual"):
        if isinstance(j.get("start", {}).get(k), int):
            r[k] = j["start"][k]
    cpu_delta(r, a.cpu0, a.cpu1)
    r.update(delta(a.gw0, a.gw1, "gw_"))
    # the namespaces' counters: only what moved (and the receive-buffer drops)
    for k, v in list(delta(a.snap_c0, a.snap_c1, "c_").items()) + \
            list(delta(a.snap_s0, a.snap_s1, "s_").items()):
        if v or k.endswith("RcvbufErrors"):
            r[k] = v
    out(r)


# ------------------------------------------------------------------ report

ROWS = [
    # (label, unit/direction, test, field, ratio?)
    ("TCP 1 stream upload (iperf3 -t T)", "Gbit/s, higher better", "tcp1_up", "gbit_s", True),
    ("TCP 1 stream download (iperf3 -R)", "Gbit/s, higher better", "tcp1_down", "gbit_s", True),
    ("  retransmits upload", "count", "tcp1_up", "retransmits", False),
    ("  retransmits download", "count", "tcp1_down", "retransmits", False),
    ("gateway CPU, upload", "s/GB, lower better", "tcp1_up", "gw_cpu_s_per_gb", False),
    ("gateway CPU, download", "s/GB, lower better", "tcp1_down", "gw_cpu_s_per_gb", False),
    ("TCP connections, sequential", "conn/s, higher better", "connrate_seq", "conn_per_s", True),
    ("  p50 connect+1B echo+close", "us, lower better", "connrate_seq", "p50_us", True),
    ("  failed", "count, lower better", "connrate_seq", "failed", False),
    ("TCP connections, 8 in flight", "conn/s, higher better", "connrate_par", "conn_per_s", True),
    ("  p99", "us, lower better", "connrate_par", "p99_us", True),
    ("  failed", "count, lower better", "connrate_par", "failed", False),
    ("TCP connections, 32 in flight", "conn/s, higher better", "connrate_par32", "conn_per_s", True),
    ("  p99", "us, lower better", "connrate_par32", "p99_us", True),
    ("  failed", "count, lower better", "connrate_par32", "failed", False),
    ("1k idle: connections opened (1 B echo each)", "count", "idle", "opened", False),
    ("1k idle: opening time", "s, lower better", "idle", "open_s", True),
    ("1k idle: alive afterwards", "count", "idle", "alive", False),
    ("1k idle: gateway VmRSS before", "MiB", "idle", "rss_base_mib", False),
    ("1k idle: gateway VmRSS with 1k open", "MiB, lower better", "idle", "rss_open_mib", False),
    ("1k idle: gateway RSS per connection", "KiB, lower better", "idle", "kib_per_conn", False),
    ("gateway peak RSS (VmHWM) at the end", "MiB", "final", "hwm_mib", False),
    ("UDP request/response, 1 socket (1 B)", "transactions/s, higher better", "udp_rr1", "tps", True),
    ("  p50 round trip", "us, lower better", "udp_rr1", "p50_us", True),
    ("  lost (no echo within 200 ms)", "count", "udp_rr1", "lost", False),
    ("  gateway CPU per transaction", "us, lower better", "udp_rr1", "gw_cpu_us_per_tx", False),
    ("UDP request/response, {rr_n} sockets (1 B)", "transactions/s, higher better", "udp_rr_par",
     "tps", True),
    ("  p99 round trip", "us, lower better", "udp_rr_par", "p99_us", True),
    ("  lost (no echo within 200 ms)", "count", "udp_rr_par", "lost", False),
    ("  gateway CPU per transaction", "us, lower better", "udp_rr_par", "gw_cpu_us_per_tx", False),
]
# iperf3 -u -b 0 rows, one block per datagram size (settings udp_lens)
UDP_TPUT_ROWS = [
    ("UDP iperf3 -u -b 0 -l {len} upload, received", "Mbit/s, higher better", "udp{len}_up",
     "mbit_s", True),
    ("  sent", "Mbit/s", "udp{len}_up", "sent_mbit_s", True),
    ("  loss", "%", "udp{len}_up", "lost_pct", False),
    ("UDP iperf3 -u -b 0 -l {len} download (-R), received", "Mbit/s, higher better",
     "udp{len}_down", "mbit_s", True),
    ("  sent", "Mbit/s", "udp{len}_down", "sent_mbit_s", True),
    ("  loss", "%", "udp{len}_down", "lost_pct", False),
]
# upload -l 1400 with iperf3 -b RATE -w WINDOW, one block per pair of the settings'
# udp_extra ("0:4M 4000M:4M"; runs before it have none)
UDP_EXTRA_ROWS = [
    ("UDP iperf3 -u -b {rate} -w {win} -l 1400 upload ({how}), received", "Mbit/s, higher better",
     "mbit_s", True),
    ("  sent", "Mbit/s", "sent_mbit_s", True),
    ("  loss", "%", "lost_pct", False),
]
# udpLEN_DIR (-b 0, default buffers) or udpLEN_DIR_bRATE_wWINDOW (bench.sh's udp_iperf)
UDP_TEST_RE = re.compile(r"udp(\d+)_(up|down)(?:_b([^_]+)_w([^_]+))?$")


def udp_extra_pairs(st):
    """The settings' udp_extra as [(rate, window)] (none in runs before it)."""
    return [tuple(x.split(":", 1)) for x in str(st.get("udp_extra", "")).split() if ":" in x]


def udp_extra_test(rate, win):
    return "udp1400_up_b%s_w%s" % (rate, win)


def buf_words(win):
    """iperf3's -w 4M as "4 MiB" (its K/M/G are powers of 1024)."""
    unit = {"k": "KiB", "m": "MiB", "g": "GiB"}.get(win[-1:].lower())
    return "%s %s" % (win[:-1], unit) if unit else "%s B" % win
SOCKS5_ROWS = [
    ("TCP 1 stream upload", "Gbit/s, higher better", "tcp1_up", "gbit_s"),
    ("TCP 1 stream download", "Gbit/s, higher better", "tcp1_down", "gbit_s"),
    ("  gateway CPU, upload", "s/GB", "tcp1_up", "gw_cpu_s_per_gb"),
    ("  gateway CPU, download", "s/GB", "tcp1_down", "gw_cpu_s_per_gb"),
    ("  SOCKS5 server CPU, upload", "s/GB", "tcp1_up", "proxy_cpu_s_per_gb"),
    ("  SOCKS5 server CPU, download", "s/GB", "tcp1_down", "proxy_cpu_s_per_gb"),
    ("TCP connections, sequential", "conn/s, higher better", "connrate_seq", "conn_per_s"),
    ("  p50 connect+1B echo+close", "us, lower better", "connrate_seq", "p50_us"),
    ("TCP connections, 8 in flight", "conn/s, higher better", "connrate_par", "conn_per_s"),
    ("TCP connections, 32 in flight", "conn/s, higher better", "connrate_par32", "conn_per_s"),
    ("  p99", "us, lower better", "connrate_par32", "p99_us"),
    ("  failed (all three)", "count, lower better", "connrate_*", "failed"),
]


def derive(r):
    """Fields computed from a record's raw numbers (the table's inputs)."""
    t = r.get("test", "")
    if t.startswith("udp_rr") and r.get("gw_cpu_s") is not None and r.get("ok"):
        r["gw_cpu_us_per_tx"] = r["gw_cpu_s"] / r["ok"] * 1e6
    if t.startswith("flows_connrate") and r.get("gw_cpu_s") is not None and r.get("ok"):
        r["gw_us_per_conn"] = r["gw_cpu_s"] / r["ok"] * 1e6
    mt = UDP_TEST_RE.match(t)
    if mt and isinstance(r.get("dgrams"), int):
        up = mt.group(2) == "up"
        # the receiving application's socket: the server's on upload, the client's on download
        rcv = r.get("s_UdpRcvbufErrors" if up else "c_UdpRcvbufErrors")
        if r["target"] == "kernel":
            r["loss_rcvbuf"] = rcv
        elif "gw_udp_dgrams_in" in r:
            if up:
                # kernel -> tp0 -> tunplug: tp0's queue full (tunplug not reading in time)
                r["loss_tunq"] = r.get("c_tp0_tx_dropped", 0) + r.get("c_tp0_qdisc_drops", 0)
                r["loss_gw_send"] = (r.get("gw_udp_send_errors") or 0) + \
                    (r.get("gw_udp_send_lost") or 0)
                r["gw_fwd"] = r["gw_udp_dgrams_in"]
                r["loss_rcvbuf"] = rcv
                if r.get("gw_udp_sent"):
                    r["up_syscalls_per_dgram"] = r.get("gw_udp_send_calls", 0) / r["gw_udp_sent"]
            else:
                # server -> tunplug's upstream socket -> tunplug -> tp0 -> client socket;
                # c_UdpRcvbufErrors holds both sockets' drops, the split comes from
                # tunplug's own count of datagrams written to tp0
                r["gw_fwd"] = r["gw_udp_dgrams_out"]
                r["loss_before_gw"] = r["dgrams"] - r["gw_udp_dgrams_out"]
                r["loss_after_gw"] = r["gw_udp_dgrams_out"] - r.get("received", 0)
                r["loss_rcvbuf"] = rcv
                r["loss_tun_full"] = r.get("gw_tun_full_drops")
                r["gro_out"] = r.get("gw_gro_out")
                r["gro_out_segs"] = r.get("gw_gro_out_segs")
                # tunplug's own upstream socket's drops (SO_RXQ_OVFL), within loss_before_gw
                r["loss_gw_rcvbuf"] = r.get("gw_udp_rcvbuf_drops")
                if r.get("gw_udp_received"):
                    r["up_syscalls_per_dgram"] = r.get("gw_udp_recv_calls", 0) / \
                        r["gw_udp_received"]
            if r.get("gw_read_events"):
                r["read_bound_pct"] = 100.0 * r.get("gw_read_bound_hits", 0) / \
                    r["gw_read_events"]
                r["reads_per_event"] = r.get("gw_tun_reads", 0) / r["gw_read_events"]


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return "%.0f" % v
        if abs(v) >= 10:
            return "%.1f" % v
        return "%.3g" % v
    return str(v)


def med(vals):
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def udp_loss_table(lines, summary, recs, udp_lens, udp_extra):
    """Per iperf3 -u run: how much was sent, received, and where the rest was
    lost (medians over repetitions of the counters' deltas)."""
    tests = ["udp%s_%s" % (ln, d) for ln in udp_lens for d in ("up", "down")]
    tests += [udp_extra_test(rate, win) for rate, win in udp_extra]
    got = [(t, test) for test in tests for t in ("kernel", "tunplug")
           if any(r["target"] == t and r["test"] == test and not r.get("error") for r in recs)]
    if not got:
        return
    lines.append("")
    lines.append("UDP throughput, where the datagrams were lost (iperf3 -u -b 0: the sender "
                 "sends as fast as it can, so every path is overloaded; counts are medians over "
                 "repetitions of counter deltas around the run). *tp0 queue*: packets the "
                 "client kernel dropped because tp0's queue was full (tunplug did not read them "
                 "in time; IP fragments for -l 8000); *before tunplug* / *after tunplug*: sent − "
                 "tunplug's datagrams written to tp0 / those − received; *socket buffer*: "
                 "UdpRcvbufErrors in the receiving namespace (download with tunplug: tunplug's "
                 "upstream socket and the client's socket together; *tunplug's socket*: the "
                 "part its upstream socket reported, SO_RXQ_OVFL). *Upstream syscalls per "
                 "datagram*: tunplug's send (upload) or receive (download) calls on its upstream "
                 "socket per datagram; *read loop*: tun reads per readable event and the share of "
                 "events that ended at the loop's bound rather than at an empty queue.")
    if any(UDP_TEST_RE.match(test).group(3) is not None for _, test in got):
        lines[-1] += (" Rows with *-b RATE -w WINDOW*: upload only, the sender paced at RATE "
                      "(0 = unpaced, as above) and both iperf3 sockets' buffers set to WINDOW "
                      "(capped by net.core.rmem_max/wmem_max); a tun does not backpressure a "
                      "UDP sender, so unpaced the client kernel drops at tp0's queue what "
                      "tunplug does not read in time.")
    lines.append("")
    lines.append("| path | test | sent Mbit/s | received Mbit/s | loss % | datagrams sent | lost | "
                 "where lost | tunplug CPU s | UDP super-packets to tp0 (datagrams) | "
                 "upstream syscalls per datagram | read loop: reads per event, % at the bound |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t, test in got:
        rs = [r for r in recs if r["target"] == t and r["test"] == test and not r.get("error")]

        def m(field):
            return med([r.get(field) for r in rs])
        ln, d, rate, win = UDP_TEST_RE.match(test).groups()
        where = []
        for field, what in (("loss_tunq", "tp0 queue %s pkts"),
                            ("loss_gw_send", "tunplug send errors %s"),
                            ("loss_before_gw", "before tunplug %s"),
                            ("loss_after_gw", "after tunplug %s"),
                            ("loss_tun_full", "tunplug tun-full drops %s"),
                            ("loss_rcvbuf", "socket buffer %s"),
                            ("loss_gw_rcvbuf", "(tunplug's socket %s)")):
            v = m(field)
            if v is not None and (v or field in ("loss_rcvbuf",)):
                where.append(what % fmt(v))
        gro = "-"
        if m("gro_out") is not None:
            gro = "%s (%s)" % (fmt(m("gro_out")), fmt(m("gro_out_segs")))
        loop = "-"
        if m("reads_per_event") is not None:
            loop = "%s, %s %%" % (fmt(m("reads_per_event")), fmt(m("read_bound_pct")))
        lines.append("| %s | -l %s %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            t, ln, "upload" if d == "up" else "download (-R)",
            " -b %s -w %s" % (rate, win) if rate is not None else "", fmt(m("sent_mbit_s")),
            fmt(m("mbit_s")), fmt(m("lost_pct")), fmt(m("dgrams")), fmt(m("lost")),
            "; ".join(where) or "-", fmt(m("gw_cpu_s")) if t != "kernel" else "-", gro,
            fmt(m("up_syscalls_per_dgram")), loop))
        summary["rows"].append({"metric": "udp_loss", "target": t, "test": test,
                                "median": {k: m(k) for k in (
                                    "sent_mbit_s", "mbit_s", "lost_pct", "dgrams", "lost",
                                    "loss_tunq", "loss_gw_send", "loss_before_gw",
                                    "loss_after_gw", "loss_rcvbuf", "gw_cpu_s", "gro_out",
                                    "gro_out_segs", "loss_gw_rcvbuf", "up_syscalls_per_dgram",
                                    "reads_per_event", "read_bound_pct")}})


# the SOCKS5 servers of bench.sh's socks5 part: (target, name in the table, port)
SOCKS5_SERVERS = (("tunplug_socks5", "microsocks", 1081),
                  ("tunplug_socks5_danted", "danted", 1080))


def socks5_table(lines, summary, cell):
    """The SOCKS5 path through each SOCKS5 server the run measured (a run before
    danted was added has microsocks only), next to kernel-direct and the direct
    handler."""
    servers = [(t, name, port) for t, name, port in SOCKS5_SERVERS
               if cell(t, "tcp1_up", "gbit_s")[0] is not None
               or cell(t, "connrate_seq", "conn_per_s")[0] is not None]
    if not servers:
        return
    cols = ("kernel", "tunplug") + tuple(t for t, _, _ in servers)
    lines.append("")
    lines.append("SOCKS5 path: tunplug `--handler socks5://198.18.0.2:PORT` -> a SOCKS5 server "
                 "in the server namespace -> server: %s; next to kernel-direct and tunplug's "
                 "direct handler of the same run. *SOCKS5 server CPU*: the server's own%s:" % (
                     ", ".join("%s (:%d)" % (name, port) for _, name, port in servers),
                     " (danted's summed over its processes, with the children it reaped)"
                     if any(name == "danted" for _, name, _ in servers) else ""))
    lines.append("")
    lines.append("| metric | unit | kernel | tunplug direct | " +
                 " | ".join("socks5 %s" % name for _, name, _ in servers) + " | " +
                 " | ".join("%s / kernel | %s / direct" % (name, name) for _, name, _ in servers)
                 + " |")
    lines.append("|" + "---|" * (4 + 3 * len(servers)))
    for label, unit, test, field in SOCKS5_ROWS:
        meds = {}
        for t in cols:
            if test.endswith("*"):
                vs = [cell(t, test[:-1] + k, field)[0] for k in ("seq", "par", "par32")]
                vs = [v for v in vs if v is not None]
                meds[t] = sum(vs) if vs else None
            else:
                meds[t] = cell(t, test, field)[0]
        if all(meds[t] is None for t in cols):
            continue
        ratio = "failed" not in label and "CPU" not in label
        ratios = {}
        for t, _, _ in servers:
            for b in ("kernel", "tunplug"):
                v, w = meds[t], meds[b]
                if ratio and v is not None and w:
                    ratios["%s/%s" % (t, b)] = v / w

        def rt(t, b):
            v = ratios.get("%s/%s" % (t, b))
            return ("%.3gx" % v) if v is not None else ""
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            label, unit, fmt(meds["kernel"]), fmt(meds["tunplug"]),
            " | ".join(fmt(meds[t]) for t, _, _ in servers),
            " | ".join("%s | %s" % (rt(t, "kernel"), rt(t, "tunplug")) for t, _, _ in servers)))
        summary["rows"].append({"metric": "socks5:" + label.strip(), "unit": unit, "test": test,
                                "field": field, "median": meds, "ratios": ratios})


def queues_table(lines, summary, cell):
    """Multi-queue: 8 streams and parallel connection rate, 1 vs 2 queues."""
    cols = ("kernel", "tunplug_q1", "tunplug_q2")
    if cell("tunplug_q1", "tcp8_up", "gbit_s")[0] is None:
        return
    lines.append("")
    lines.append("Multi-queue (`--queues N`: N worker processes on an IFF_MULTI_QUEUE tun; "
                 "gateway CPU summed over the master and its workers), same run:")
    lines.append("")
    lines.append("| metric | unit | kernel | tunplug 1 queue | tunplug 2 queues | 2q / 1q | "
                 "2q / kernel |")
    lines.append("|---|---|---|---|---|---|---|")
    rows = [("TCP 8 streams upload", "Gbit/s, higher better", "tcp8_up", "gbit_s", True),
            ("TCP 8 streams download", "Gbit/s, higher better", "tcp8_down", "gbit_s", True),
            ("  gateway CPU, upload", "s/GB", "tcp8_up", "gw_cpu_s_per_gb", False),
            ("  gateway CPU, download", "s/GB", "tcp8_down", "gw_cpu_s_per_gb", False),
            ("TCP connections, 8 in flight", "conn/s, higher better", "connrate_par",
             "conn_per_s", True),
            ("TCP connections, 32 in flight", "conn/s, higher better", "connrate_par32",
             "conn_per_s", True),
            ("  failed", "count, lower better", "connrate_par32", "failed", False)]
    for label, unit, test, field, ratio in rows:
        meds = {t: cell(t, test, field)[0] for t in cols}
        if all(meds[t] is None for t in cols):
            continue

        def rt(a_, b_):
            return ("%.3gx" % (a_ / b_)) if ratio and a_ is not None and b_ else ""
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, unit, fmt(meds["kernel"]), fmt(meds["tunplug_q1"]), fmt(meds["tunplug_q2"]),
            rt(meds["tunplug_q2"], meds["tunplug_q1"]), rt(meds["tunplug_q2"], meds["kernel"])))
        summary["rows"].append({"metric": "queues:" + label.strip(), "unit": unit, "test": test,
                                "field": field, "median": meds})


def flows_table(lines, summary, cell, settings):
    """Many idle flows through --handler echo (bench.sh --only flows)."""
    t = "tunplug_flows"
    if cell(t, "flows_open", "opened")[0] is None and cell(t, "flows_connrate_none",
                                                           "conn_per_s")[0] is None:
        return
    n = settings.get("flows_n", "N")
    none = cell(t, "flows_connrate_none", "conn_per_s")[0]
    opn = cell(t, "flows_connrate_open", "conn_per_s")[0]
    lines.append("")
    lines.append("Many flows: %s idle flows through `tunplug --handler echo` (each opened with a "
                 "1-byte echo), same run%s:" % (n, "; tun txqueuelen set to %s by hand" %
                                               settings["flows_txqlen"]
                                               if settings.get("flows_txqlen") else ""))
    lines.append("")
    lines.append("| metric | unit | value | goal |")
    lines.append("|---|---|---|---|")
    rows = [("TCP connections, sequential, none open", "conn/s", "flows_connrate_none",
             "conn_per_s", ""),
            ("TCP connections, sequential, %s open" % n, "conn/s", "flows_connrate_open",
             "conn_per_s", ""),
            ("  ratio with / without", "", None, None, ">= 0.8"),
            ("  p50 with %s open" % n, "us", "flows_connrate_open", "p50_us", ""),
            ("  tunplug CPU per connection, none open", "us", "flows_connrate_none",
             "gw_us_per_conn", ""),
            ("  tunplug CPU per connection, %s open" % n, "us", "flows_connrate_open",
             "gw_us_per_conn", ""),
            ("  failed (both)", "count", "flows_connrate_*", "failed", "0"),
            ("time to open %s" % n, "s", "flows_open", "open_s", "< 30"),
            ("  opened / failed", "count", "flows_open", "opened", ""),
            ("gateway CPU with %s idle" % n, "% of a core", "flows_idle", "cpu_pct", "< 2"),
            ("gateway VmRSS before / with them", "MiB", "flows_idle", "rss_open_mib", ""),
            ("drain after the client closed them", "s", "flows_drain", "drain_s", "< 10"),
            ("  flows left (when it timed out)", "count", "flows_drain", "flows_left", ""),
            ("  tun TX drops meanwhile (client FINs)", "packets", "flows_drain", "tun_tx_dropped",
             ""),
            ("gateway VmRSS 6 s after the drain", "MiB", "flows_drain", "rss_drained_mib",
             "<= 1.2x before"),
            ("SIGTERM with %s open" % n, "s", "flows_sigterm", "stop_s", "< 3")]
    for label, unit, test, field, goal in rows:
        if test is None:
            v = (opn / none) if opn is not None and none else None
            val = ("%.3gx" % v) if v is not None else "-"
        elif test == "flows_connrate_*":
            a_ = cell(t, "flows_connrate_none", field)[0]
            b_ = cell(t, "flows_connrate_open", field)[0]
            v = (a_ or 0) + (b_ or 0)
            val = fmt(v)
        elif field == "opened":
            v = cell(t, test, "opened")[0]
            val = "%s / %s" % (fmt(v), fmt(cell(t, test, "failed")[0]))
        elif field == "rss_open_mib":
            v = cell(t, test, field)[0]
            val = "%s / %s" % (fmt(cell(t, test, "rss_base_mib")[0]), fmt(v))
        else:
            v = cell(t, test, field)[0]
            val = fmt(v)
        lines.append("| %s | %s | %s | %s |" % (label, unit, val, goal))
        summary["rows"].append({"metric": "flows:" + label.strip(), "unit": unit, "test": test,
                                "field": field, "value": v, "goal": goal})


def cmd_report(a):
    d = a.dir
    recs = []
    with open(os.path.join(d, "raw.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    for r in recs:
        derive(r)
    machine = {}
    mp = os.path.join(d, "machine.json")
    if os.path.exists(mp):
        with open(mp) as f:
            machine = json.load(f)
    targets = [t for t in ("kernel", "tunplug") if any(r["target"] == t for r in recs)]
    summary = {"machine": machine, "rows": [], "errors": []}
    for r in recs:
        if r.get("error"):
            summary["errors"].append({k: r.get(k) for k in ("target", "test", "rep", "error")})

    def cell(t, test, field):
        vals = [r[field] for r in recs if r["target"] == t and r["test"] == test
                and isinstance(r.get(field), (int, float)) and not r.get("error")]
        if not vals:
            return None, []
        return statistics.median(vals), vals

    st = machine.get("settings", {})
    rows = [(lb.format(rr_n=st.get("udp_rr_sockets", 16)), u, t, f, rt) for lb, u, t, f, rt in ROWS]
    udp_lens = str(st.get("udp_lens", "1400 8000")).split()
    for ln in udp_lens:
        rows += [(lb.format(len=ln), u, t.format(len=ln), f, rt) for lb, u, t, f, rt in UDP_TPUT_ROWS]
    udp_extra = udp_extra_pairs(st)
    for rate, win in udp_extra:
        how = "%s, %s socket buffers" % ("unpaced" if rate == "0" else "paced", buf_words(win))
        rows += [(lb.format(rate=rate, win=win, how=how), u, udp_extra_test(rate, win), f, rt)
                 for lb, u, f, rt in UDP_EXTRA_ROWS]

    lines = []
    m = machine
    lines.append("# tunplug bench, %s" % m.get("date", "?"))
    lines.append("")
    lines.append("Machine: %s vCPU, Linux %s, %s; load average at start %s%s." % (
        m.get("nproc"), m.get("kernel"), m.get("cpu"), m.get("loadavg_start"),
        "; net.core.rmem_max / wmem_max %s / %s" % (m["net_core_rmem_max"], m.get(
            "net_core_wmem_max")) if m.get("net_core_rmem_max") is not None else ""))
    lines.append("tunplug: `%s` (%s), git %s; %s." % (m.get("tunplug"), m.get("tunplug_version"),
                                                   m.get("git_commit"), m.get("iperf3")))
    st = m.get("settings", {})
    if st:
        lines.append("Settings: " + ", ".join("%s=%s" % kv for kv in sorted(st.items())) + ".")
    lines.append("")
    if targets:
        lines.append("kernel = kernel-direct (no tun: 198.19.0.0/16 routed over the veth); "
                     "tunplug = through tp0 and tunplug's direct handler. Cells: median "
                     "[min-max] over repetitions; ratio = tunplug / kernel of this run.")
        lines.append("")
        hdr = "| metric | unit | " + " | ".join(targets) + " | ratio |"
        lines.append(hdr)
        lines.append("|" + "---|" * (3 + len(targets)))
    for label, unit, test, field, ratio in (rows if targets else []):
        cells, meds = [], {}
        for t in targets:
            med, vals = cell(t, test, field)
            meds[t] = med
            if med is None:
                cells.append("-")
            elif len(vals) > 1:
                cells.append("%s [%s-%s]" % (fmt(med), fmt(min(vals)), fmt(max(vals))))
            else:
                cells.append(fmt(med))
        rt = None
        if ratio and meds.get("kernel") and meds.get("tunplug") is not None:
            rt = meds["tunplug"] / meds["kernel"]
        if all(c == "-" for c in cells):
            continue
        lines.append("| %s | %s | %s | %s |" % (label, unit, " | ".join(cells),
                                                 ("%.3gx" % rt) if rt is not None else ""))
        summary["rows"].append({"metric": label, "unit": unit, "test": test, "field": field,
                                "median": meds, "ratio": rt})
    # offload comparison: one row per variant, single stream only
    variants = ["kernel", "tunplug"] + sorted(
        {r["target"] for r in recs if r["target"].startswith("tunplug_nooff")},
        key=lambda t: (len(t), t))
    if len(variants) > 2:
        names = {"kernel": "kernel-direct", "tunplug": "tunplug (offload on, default)",
                 "tunplug_nooff": "tunplug --no-offload"}
        lines.append("")
        lines.append("Offload comparison (single stream; syscalls = tun reads + writes counted "
                     "by tunplug during the iperf3 run, per GB received; ratios vs "
                     "`--no-offload` of this run):")
        lines.append("")
        lines.append("| variant | upload Gbit/s | download Gbit/s | vs no-offload up / down | "
                     "CPU s/GB up / down | tun syscalls/GB up / down | fewer syscalls than "
                     "no-offload up / down |")
        lines.append("|---|---|---|---|---|---|---|")
        off = {d: cell("tunplug_nooff", "tcp1_" + d, "gbit_s")[0] for d in ("up", "down")}
        offsc = {d: cell("tunplug_nooff", "tcp1_" + d, "tun_syscalls_per_gb")[0]
                 for d in ("up", "down")}
        for t in variants:
            g = {d: cell(t, "tcp1_" + d, "gbit_s")[0] for d in ("up", "down")}
            c = {d: cell(t, "tcp1_" + d, "gw_cpu_s_per_gb")[0] for d in ("up", "down")}
            sc = {d: cell(t, "tcp1_" + d, "tun_syscalls_per_gb")[0] for d in ("up", "down")}
            if g["up"] is None and g["down"] is None:
                continue

            def rt(a_, b_):
                return ("%.2fx" % (a_ / b_)) if a_ is not None and b_ else "-"
            name = names.get(t, t.replace("tunplug_nooff_mtu", "tunplug --no-offload --mtu "))
            lines.append("| %s | %s | %s | %s / %s | %s / %s | %s / %s | %s / %s |" % (
                name, fmt(g["up"]), fmt(g["down"]), rt(g["up"], off["up"]),
                rt(g["down"], off["down"]), fmt(c["up"]), fmt(c["down"]),
                fmt(sc["up"]), fmt(sc["down"]),
                rt(offsc["up"], sc["up"]) if t != "kernel" else "-",
                rt(offsc["down"], sc["down"]) if t != "kernel" else "-"))
            summary["rows"].append({"metric": "offload_cmp", "target": t, "gbit_s": g,
                                    "cpu_s_per_gb": c, "tun_syscalls_per_gb": sc})
    udp_loss_table(lines, summary, recs, udp_lens, udp_extra)
    socks5_table(lines, summary, cell)
    queues_table(lines, summary, cell)
    flows_table(lines, summary, cell, st)
    if summary["errors"]:
        lines.append("")
        lines.append("Errors:")
        for e in summary["errors"]:
            lines.append("- %s %s rep %s: %s" % (e["target"], e["test"], e["rep"], e["error"]))
    lines.append("")
    lines.append("Raw records: `raw.jsonl` (one per measurement), iperf3 JSON in `raw/`, "
                 "medians and ratios in `summary.json`.")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(d, "table.md"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    sys.stdout.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("machine")
    p.add_argument("--tunplug", default="")
    p.add_argument("--settings", default="")
    p.set_defaults(fn=cmd_machine)
    for name, fn in (("iperf", cmd_iperf), ("json", cmd_json), ("udpiperf", cmd_udpiperf)):
        p = sub.add_parser(name)
        p.add_argument("--target", required=True)
        p.add_argument("--test", required=True)
        p.add_argument("--rep", type=int, default=1)
        p.add_argument("--cpu0", default="")
        p.add_argument("--cpu1", default="")
        p.set_defaults(fn=fn)
        if name == "iperf":
            p.add_argument("--file", required=True)
            p.add_argument("--io0", default="")
            p.add_argument("--io1", default="")
            p.add_argument("--proxy-cpu0", default="")
            p.add_argument("--proxy-cpu1", default="")
        elif name == "udpiperf":
            p.add_argument("--file", required=True)
            for k in ("gw0", "gw1", "snap-c0", "snap-c1", "snap-s0", "snap-s1"):
                p.add_argument("--" + k, default="")
        else:
            p.add_argument("--json", action="append", default=[])
    p = sub.add_parser("gwcounters")
    p.set_defaults(fn=cmd_gwcounters)
    p = sub.add_parser("report")
    p.add_argument("dir")
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
