#!/usr/bin/env python3
"""report.py - records and the report for bench/bench.sh (standard library only).

  report.py machine --tunplug PATH              machine/version facts as JSON
  report.py iperf --target T --test NAME --rep N --file IPERF.json [--cpu0 J --cpu1 J]
            [--io0 "READS WRITES" --io1 "READS WRITES"]  (tunplug's tun counters)
  report.py connrate|idle --target T --test NAME --rep N --json J [...]
  report.py report DIR                          raw.jsonl -> summary.json + table.md
Each record command prints one JSON line (appended to raw.jsonl by bench.sh).
"""
import argparse
import datetime
import json
import os
import platform
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
    out(r)


def cmd_json(a):
    r = base(a)
    for s in a.json:
        try:
            r.update(json.loads(s) if s else {})
        except ValueError:
            r.setdefault("error", "bad json: %r" % s[:200])
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
]


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


def cmd_report(a):
    d = a.dir
    recs = []
    with open(os.path.join(d, "raw.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
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

    lines = []
    m = machine
    lines.append("# tunplug bench, %s" % m.get("date", "?"))
    lines.append("")
    lines.append("Machine: %s vCPU, Linux %s, %s; load average at start %s." % (
        m.get("nproc"), m.get("kernel"), m.get("cpu"), m.get("loadavg_start")))
    lines.append("tunplug: `%s` (%s), git %s; %s." % (m.get("tunplug"), m.get("tunplug_version"),
                                                   m.get("git_commit"), m.get("iperf3")))
    st = m.get("settings", {})
    if st:
        lines.append("Settings: " + ", ".join("%s=%s" % kv for kv in sorted(st.items())) + ".")
    lines.append("")
    lines.append("kernel = kernel-direct (no tun: 198.19.0.0/16 routed over the veth); "
                 "tunplug = through tp0 and tunplug's direct handler. Cells: median "
                 "[min-max] over repetitions; ratio = tunplug / kernel of this run.")
    lines.append("")
    hdr = "| metric | unit | " + " | ".join(targets) + " | ratio |"
    lines.append(hdr)
    lines.append("|" + "---|" * (3 + len(targets)))
    for label, unit, test, field, ratio in ROWS:
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
        {r["target"] for r in recs if r["target"].startswith("tunplug_")},
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
    for name, fn in (("iperf", cmd_iperf), ("json", cmd_json)):
        p = sub.add_parser(name)
        p.add_argument("--target", required=True)
        p.add_argument("--test", required=True)
        p.add_argument("--rep", type=int, default=1)
        p.set_defaults(fn=fn)
        if name == "iperf":
            p.add_argument("--file", required=True)
            p.add_argument("--cpu0", default="")
            p.add_argument("--cpu1", default="")
            p.add_argument("--io0", default="")
            p.add_argument("--io1", default="")
        else:
            p.add_argument("--json", action="append", default=[])
    p = sub.add_parser("report")
    p.add_argument("dir")
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
