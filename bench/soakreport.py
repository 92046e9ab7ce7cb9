#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""soakreport.py - the chart and the verdict of bench/soak.sh (standard
library only).

  chart DIR    DIR/soak.svg from DIR/samples.csv (and DIR/phases.json if
               there): four panels over time - tunplug's RSS, its open fds
               (and fds minus open flows), the stack's TCP and UDP flows,
               its CPU (% of one core between samples) beside the whole
               machine's (all processes); the phases shaded
  verdict DIR  the checks (see soak.sh's header) -> DIR/summary.json and
               DIR/summary.md; prints the table; exit 1 if any check failed

Thresholds from the environment: SOAK_RSS_PCT (20), SOAK_FD_SLACK (16),
SOAK_CHURN_FAIL_PPM (1000).
"""
import csv
import json
import math
import os
import statistics
import sys

PHASE_FILL = {"start": "#eeeeee", "idle": "#e4ecf7", "warmup": "#fff2cc", "steady": "#ffffff",
              "drain": "#dcefdc", "quiet": "#e4ecf7", "close": "#f3e0e0", "end": "#eeeeee"}
PHASE_NAME = {"idle": "idle set", "warmup": "warm-up", "steady": "steady load", "drain": "drain",
              "quiet": "idle set", "close": "close"}


def load_samples(d):
    rows = []
    with open(os.path.join(d, "samples.csv")) as f:
        for r in csv.DictReader(f):
            try:
                rows.append({"t": float(r["t_s"]), "phase": r["phase"], "rss": int(r["rss_kib"]),
                             "fds": int(r["fds"]), "tcp": int(r["tcp_flows"]),
                             "udp": int(r["udp_flows"]), "cpu": float(r["cpu_s"]),
                             "load1": float(r["load1"]), "host": float(r["host_busy_s"])})
            except (KeyError, ValueError):
                continue  # a row cut short by a failure
    return rows


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def load_lines(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append(None)
    except OSError:
        pass
    return out


def cpu_pct(rows, key="cpu"):
    """% of one core between consecutive samples (None for the first)."""
    out = [None]
    for a, b in zip(rows, rows[1:]):
        dt = b["t"] - a["t"]
        out.append(100.0 * (b[key] - a[key]) / dt if dt > 0 else None)
    return out


def nproc(d):
    m = load_json(os.path.join(d, "machine.json"), {})
    return m.get("nproc") or os.cpu_count() or 1


def steady_windows(rows):
    """the samples just after warm-up and those at the end of the steady
    phase: its first and last third (at least 3 samples each)"""
    steady = [r for r in rows if r["phase"] == "steady"]
    k = max(3, len(steady) // 3)
    return steady[:k], steady[-k:]


# ----------------------------------------------------------------- chart

def nice_ticks(lo, hi, n=4):
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(v, 10))
    return ticks


def fmt(v):
    return ("%d" % v) if float(v).is_integer() else ("%g" % v)


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cmd_chart(d):
    rows = load_samples(d)
    if not rows:
        sys.stderr.write("soakreport: no samples in %s\n" % d)
        return 1
    m = load_json(os.path.join(d, "machine.json"), {})
    ncpu = nproc(d)
    cpu = cpu_pct(rows)
    t = [r["t"] for r in rows]
    # the warm-up end drawn as a limit reference for RSS / fds
    first, _ = steady_windows(rows)
    rss_limit = None
    if first:
        base = statistics.median([r["rss"] for r in first]) / 1024.0
        rss_limit = base * (1 + float(os.environ.get("SOAK_RSS_PCT", "20")) / 100)
    idle = [r["fds"] for r in rows if r["phase"] == "idle"]
    fd_limit = statistics.median(idle) + int(os.environ.get("SOAK_FD_SLACK", "16")) if idle else None
    panels = [
        ("tunplug RSS (MiB)", [("VmRSS", "#1f77b4", [r["rss"] / 1024.0 for r in rows], "")],
         [("+%s%% of the warm-up level" % os.environ.get("SOAK_RSS_PCT", "20"), rss_limit)]),
        ("open fds", [("fds", "#1f77b4", [r["fds"] for r in rows], "")],
         [("idle set before the load + %s" % os.environ.get("SOAK_FD_SLACK", "16"), fd_limit)]),
        ("flows (stack, now)", [("tcp", "#2ca02c", [r["tcp"] for r in rows], ""),
                                ("udp", "#d62728", [r["udp"] for r in rows], "")], []),
        ("CPU (% of one core)", [("tunplug", "#9467bd", cpu, ""),
                                 ("whole machine (all processes)", "#888888",
                                  cpu_pct(rows, "host"), "4,3")],
         [("all %d CPUs" % ncpu, 100.0 * ncpu)]),
    ]
    W, left, right, top, ph_h, gap = 960, 70, 20, 50, 150, 42
    pw = W - left - right
    H = top + len(panels) * (ph_h + gap) + 30
    t0, t1 = 0.0, max(t[-1], 1.0)
    xt = nice_ticks(t0, t1, 10)
    t1 = xt[-1]

    def X(v):
        return left + pw * (v - t0) / (t1 - t0)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="11">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>']
    title = "tunplug soak: %s min mixed load (churn, bulk, UDP, DNS, %s idle flows)" % (
        fmt(m.get("settings", {}).get("minutes", "?")), m.get("settings", {}).get("idle_n", "?"))
    sub = "%s, %s, %s CPUs, load avg at start %s" % (m.get("date", "")[:16], m.get("git_commit", ""),
                                                     m.get("nproc", "?"), m.get("loadavg_start", "?"))
    out.append('<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>' % (left, esc(title)))
    out.append('<text x="%d" y="36" fill="#555">%s</text>' % (left, esc(sub)))
    # phase spans from the rows' phase labels
    spans = []
    for i, r in enumerate(rows):
        t_a = 0.0 if i == 0 else (rows[i - 1]["t"] + r["t"]) / 2
        t_b = t1 if i == len(rows) - 1 else (r["t"] + rows[i + 1]["t"]) / 2
        if spans and spans[-1][0] == r["phase"]:
            spans[-1][2] = t_b
        else:
            spans.append([r["phase"], t_a, t_b])
    for k, (name, series, refs) in enumerate(panels):
        y0 = top + k * (ph_h + gap) + 14
        vals = [v for _, _, s, _ in series for v in s if v is not None]
        vals += [v for _, v in refs if v is not None]
        lo = 0.0
        hi = max(vals) if vals else 1.0
        yt = nice_ticks(lo, hi * 1.3 if hi > 0 else 1.0, 4)  # room for the legend
        hi = yt[-1]

        def Y(v, y0=y0, hi=hi):
            return y0 + ph_h - ph_h * (v - lo) / (hi - lo)

        for p, a, b in spans:
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
                X(a), y0, max(0.0, X(b) - X(a)), ph_h, PHASE_FILL.get(p, "#ffffff")))
            if k == 0 and p in PHASE_NAME and X(b) - X(a) > 40:
                out.append('<text x="%.1f" y="%d" fill="#666" text-anchor="middle">%s</text>' % (
                    (X(a) + X(b)) / 2, y0 - 3, PHASE_NAME[p]))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (
            left, y0, pw, ph_h))
        for v in yt:
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (
                left, left + pw, Y(v), Y(v)))
            out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (left - 5, Y(v) + 4, fmt(v)))
        for v in xt:
            out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999"/>' % (
                X(v), X(v), y0 + ph_h, y0 + ph_h + 4))
            out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (
                X(v), y0 + ph_h + 15, fmt(v)))
        out.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (left + 4, y0 + 13, esc(name)))
        lx = left + pw - 4
        for label, color, s, dash in reversed(series):
            pts = " ".join("%.1f,%.1f" % (X(tv), Y(v)) for tv, v in zip(t, s) if v is not None)
            out.append('<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>' % (
                color, ' stroke-dasharray="%s"' % dash if dash else "", pts))
        for label, color, s, dash in series:
            out.append('<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>' % (
                lx, y0 + 13 + 13 * series.index((label, color, s, dash)), color, esc(label)))
        for j, (label, v) in enumerate(refs):
            if v is None:
                continue
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="6,4"/>'
                       % (left, left + pw, Y(v), Y(v)))
            out.append('<text x="%.1f" y="%.1f" fill="#d62728">%s</text>' % (left + pw * 0.3, Y(v) - 3, esc(label)))
    out.append('<text x="%d" y="%d" text-anchor="middle">seconds since tunplug started</text>' % (
        left + pw / 2, H - 8))
    out.append("</svg>")
    with open(os.path.join(d, "soak.svg"), "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


# --------------------------------------------------------------- verdict

def med(rows, key):
    return statistics.median([r[key] for r in rows]) if rows else None


def slope_per_min(rows, key):
    """least-squares slope of key over t, per minute"""
    if len(rows) < 2:
        return None
    xs = [r["t"] for r in rows]
    ys = [r[key] for r in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return 60.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else None


def loads_summary(d, idle_n, idle_rc):
    """per load: rounds, totals, bad rounds, pass/fail"""
    res = {}
    ppm_max = float(os.environ.get("SOAK_CHURN_FAIL_PPM", "1000"))
    L = load_lines(os.path.join(d, "loads", "churn.jsonl"))
    good = [x for x in L if x and x.get("rc") == 0 and x.get("r")]
    ok = sum(x["r"].get("ok", 0) for x in good)
    failed = sum(x["r"].get("failed", 0) for x in good)
    bad = len(L) - len(good)
    ppm = 1e6 * failed / (ok + failed) if ok + failed else None
    res["churn"] = {"rounds": len(L), "bad_rounds": bad, "connections": ok, "failed": failed,
                    "failed_ppm": None if ppm is None else round(ppm, 1),
                    "conn_per_s_median": statistics.median([x["r"]["conn_per_s"] for x in good]) if good else None,
                    "ok": bool(L) and bad == 0 and ppm is not None and ppm <= ppm_max}
    L = load_lines(os.path.join(d, "loads", "bulk.jsonl"))
    good = [x for x in L if x and x.get("rc") == 0 and x.get("r") and x["r"].get("ok") == x["r"].get("n")]
    nbytes = sum(2 * x["r"]["n"] * x["r"]["size"] for x in good)
    res["bulk"] = {"rounds": len(L), "bad_rounds": len(L) - len(good), "bytes_both_ways": nbytes,
                   "first_bad": next((x for x in L if x not in good), None),
                   "ok": bool(L) and len(good) == len(L)}
    L = load_lines(os.path.join(d, "loads", "udp.jsonl"))
    good = [x for x in L if x and x.get("rc") == 0 and x.get("r") and x["r"].get("ok") == x["r"].get("flows")]
    res["udp"] = {"rounds": len(L), "bad_rounds": len(L) - len(good),
                  "flows": sum(x["r"]["ok"] for x in good),
                  "retries": sum(x["r"].get("retries", 0) for x in good),
                  "first_bad": next((x for x in L if x not in good), None),
                  "ok": bool(L) and len(good) == len(L)}
    L = load_lines(os.path.join(d, "loads", "dns.jsonl"))

    def dns_good(x):
        if not x or not x.get("r"):
            return False
        r = x["r"]
        b = r.get("burst") or {}
        return (x.get("rc") == 0 and r.get("dig_bad") == 0 and b.get("answered") == 50
                and b.get("wrong_addr") == 0 and b.get("rcodes") == {"NOERROR": 50})
    good = [x for x in L if dns_good(x)]
    res["dns"] = {"rounds": len(L), "bad_rounds": len(L) - len(good),
                  "queries": sum(x["r"]["dig_ok"] + x["r"]["burst"]["answered"] for x in good),
                  "first_bad": next((x for x in L if x not in good), None),
                  "ok": bool(L) and len(good) == len(L)}
    L = [x for x in load_lines(os.path.join(d, "loads", "idle.jsonl")) if x]
    op = next((x for x in L if x.get("event") == "open"), {})
    dn = next((x for x in L if x.get("event") == "done"), {})
    res["idle"] = {"n": idle_n, "opened": op.get("opened"), "open_s": op.get("open_s"),
                   "alive_at_end": dn.get("alive"), "rc": idle_rc,
                   "ok": idle_rc == 0 and op.get("opened") == idle_n and dn.get("alive") == idle_n}
    return res


def cmd_verdict(d):
    rows = load_samples(d)
    ph = load_json(os.path.join(d, "phases.json"), {})
    m = load_json(os.path.join(d, "machine.json"), {})
    st = m.get("settings", {})
    idle_n = st.get("idle_n", 0)
    rss_pct = float(os.environ.get("SOAK_RSS_PCT", "20"))
    fd_slack = int(os.environ.get("SOAK_FD_SLACK", "16"))
    by = {}
    for r in rows:
        by.setdefault(r["phase"], []).append(r)
    for r in rows:
        r["fd_extra"] = r["fds"] - r["tcp"] - r["udp"]
    steady = by.get("steady", [])
    first, last = steady_windows(rows)
    checks = []

    def check(name, ok, value, limit):
        checks.append({"check": name, "ok": bool(ok), "value": value, "limit": limit})

    if len(steady) < 6:
        check("steady phase has >= 6 samples", False, len(steady), ">= 6")
    else:
        # medians of the first and last third of the steady phase
        r0, r1 = med(first, "rss"), med(last, "rss")
        g = 100.0 * (r1 - r0) / r0
        check("RSS growth over the steady phase", g <= rss_pct,
              "%.1f -> %.1f MiB (%+.1f %%)" % (r0 / 1024, r1 / 1024, g), "<= +%g %%" % rss_pct)
    check("flows back to the idle set after the load", ph.get("drained") is not None,
          "after %.1f s" % (ph["drained"] - ph["loads_done"]) if ph.get("drained") is not None else
          "not within %s s" % st.get("drain_s"), "tcp %d, udp 0 within %s s" % (idle_n, st.get("drain_s")))
    q, i0 = by.get("quiet", []), by.get("idle", [])
    if q and i0:
        f0, f1 = med(i0, "fds"), med(q, "fds")
        check("fds with the idle set: after the load vs before", f1 - f0 <= fd_slack,
              "%g -> %g (%+g)" % (f0, f1, f1 - f0), "<= +%d" % fd_slack)
    check("flows 0 after the idle set closed", ph.get("closed") is not None,
          "after %.1f s" % (ph["closed"] - ph["idle_closed"]) if ph.get("closed") is not None else "no", "within 30 s")
    s0, e = by.get("start", []), by.get("end", [])
    if s0 and e:
        f0, f1 = med(s0, "fds"), med(e, "fds")
        check("fds with no flows: end vs start", f1 - f0 <= fd_slack, "%g -> %g (%+g)" % (f0, f1, f1 - f0),
              "<= +%d" % fd_slack)
    loads = loads_summary(d, idle_n, ph.get("idle_rc", -1))
    for k, v in loads.items():
        if k == "churn":
            val = "%d rounds, %d connections, %d without echo within 2 s (%s ppm), %d bad rounds" % (
                v["rounds"], v["connections"], v["failed"], v["failed_ppm"], v["bad_rounds"])
            lim = "<= %s ppm" % os.environ.get("SOAK_CHURN_FAIL_PPM", "1000")
        elif k == "bulk":
            val = "%d rounds, %.2f GB checked, %d bad" % (v["rounds"], v["bytes_both_ways"] / 1e9, v["bad_rounds"])
            lim = "sha256 + echo right in every round"
        elif k == "udp":
            val = "%d rounds, %d flows echoed (%d re-sends), %d bad" % (
                v["rounds"], v["flows"], v["retries"], v["bad_rounds"])
            lim = "every flow's bytes back"
        elif k == "dns":
            val = "%d rounds, %d queries answered, %d bad" % (v["rounds"], v["queries"], v["bad_rounds"])
            lim = "every answer right"
        else:
            val = "%s opened in %s s, %s alive at the end" % (v["opened"], v["open_s"], v["alive_at_end"])
            lim = "all %d echo at the end" % idle_n
        check("load %s" % k, v["ok"], val, lim)
    check("tunplug exit status after SIGTERM", ph.get("gw_rc") == 0,
          "%s (%s ms)" % (ph.get("gw_rc"), ph.get("gw_stop_ms")), "0")

    cpu = cpu_pct(rows)
    for r, c in zip(rows, cpu):
        r["cpu_pct"] = c
    steady_cpu = [r["cpu_pct"] for r in steady if r["cpu_pct"] is not None]
    third = max(1, len(steady) // 3)
    info = {
        "rss_mib": {p: round(med(by[p], "rss") / 1024, 2) for p in
                    ("start", "idle", "quiet", "end") if by.get(p)},
        "rss_max_mib": round(max(r["rss"] for r in rows) / 1024, 2) if rows else None,
        "rss_slope_steady_kib_per_min": round(slope_per_min(steady, "rss"), 1) if len(steady) > 1 else None,
        "fds": {p: med(by[p], "fds") for p in ("start", "idle", "quiet", "end") if by.get(p)},
        "fds_max": max(r["fds"] for r in rows) if rows else None,
        # not a check: DNS flows share the handler's sockets, so this swings with the load's mix
        "fds_minus_flows_steady_first_last_third": [med(first, "fd_extra"), med(last, "fd_extra")]
        if first else None,
        "flows_max": {"tcp": max(r["tcp"] for r in rows), "udp": max(r["udp"] for r in rows)} if rows else None,
        "cpu_pct_steady_mean": round(statistics.fmean(steady_cpu), 1) if steady_cpu else None,
        "cpu_pct_steady_first_third": round(statistics.fmean(
            [r["cpu_pct"] for r in steady[:third] if r["cpu_pct"] is not None] or [0]), 1),
        "cpu_pct_steady_last_third": round(statistics.fmean(
            [r["cpu_pct"] for r in steady[-third:] if r["cpu_pct"] is not None] or [0]), 1),
        "cpu_s_total": rows[-1]["cpu"] if rows else None,
        "machine_cpu_pct_steady_mean": round(statistics.fmean(
            [c for r, c in zip(rows, cpu_pct(rows, "host")) if r["phase"] == "steady" and c is not None] or [0]), 1),
        "load1_mean": round(statistics.fmean(r["load1"] for r in rows), 2) if rows else None,
        "load1_max": max(r["load1"] for r in rows) if rows else None,
        "samples": len(rows),
    }
    failed = [c["check"] for c in checks if not c["ok"]]
    summary = {"pass": not failed, "failed": failed, "checks": checks, "loads": loads, "info": info,
               "phases": ph, "machine": m}
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    md = ["# tunplug soak, %s" % m.get("date", "")[:10], "",
          "%s min of mixed load, %s idle flows held; %s (`%s`); %s CPUs, load average %s at the "
          "start, mean %s, max %s during the run. Chart: [soak.svg](soak.svg)." % (
              fmt(st.get("minutes", 0)), idle_n, m.get("tunplug_version", ""), m.get("git_commit", ""),
              m.get("nproc"), m.get("loadavg_start"), info["load1_mean"], info["load1_max"]), "",
          "**%s**%s" % ("PASS" if not failed else "FAIL", "" if not failed else ": " + "; ".join(failed)), "",
          "| check | result | value | limit |", "|---|---|---|---|"]
    for c in checks:
        md.append("| %s | %s | %s | %s |" % (c["check"], "ok" if c["ok"] else "**FAIL**", c["value"], c["limit"]))
    md += ["", "| over the run | value |", "|---|---|",
           "| RSS start / idle set / max / after drain / end (MiB) | %s / %s / %s / %s / %s |" % (
               info["rss_mib"].get("start"), info["rss_mib"].get("idle"), info["rss_max_mib"],
               info["rss_mib"].get("quiet"), info["rss_mib"].get("end")),
           "| RSS slope over the steady phase | %s KiB/min |" % info["rss_slope_steady_kib_per_min"],
           "| fds start / idle set / max / after drain / end | %s / %s / %s / %s / %s |" % (
               info["fds"].get("start"), info["fds"].get("idle"), info["fds_max"], info["fds"].get("quiet"),
               info["fds"].get("end")),
           "| flows max (tcp / udp) | %s / %s |" % (info["flows_max"]["tcp"], info["flows_max"]["udp"]),
           "| tunplug CPU, steady mean (first / last third) | %s %% (%s / %s) of one core |" % (
               info["cpu_pct_steady_mean"], info["cpu_pct_steady_first_third"],
               info["cpu_pct_steady_last_third"]),
           "| tunplug CPU total | %s s |" % info["cpu_s_total"],
           "| whole machine's CPU during the steady phase (all processes: the load generators, others' work) "
           "| %s %% of one core, of %s %% |" % (info["machine_cpu_pct_steady_mean"], 100 * (m.get("nproc") or 1)),
           "| churn rate (median of rounds) | %s conn/s |" % loads["churn"]["conn_per_s_median"]]
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    if failed:
        sys.stderr.write("soak FAIL: %s\n" % "; ".join(failed))
        return 1
    return 0


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("chart", "verdict"):
        sys.stderr.write("usage: soakreport.py chart|verdict DIR\n")
        return 2
    return cmd_chart(sys.argv[2]) if sys.argv[1] == "chart" else cmd_verdict(sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
