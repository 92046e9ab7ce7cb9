#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""chart.py - draw one bench run: tunplug / kernel per row, as a PNG.

  chart.py DIR [--out FILE]     DIR/summary.json -> DIR/chart.png (or FILE)

DIR is a results folder of bench/bench.sh (report.py report writes its
summary.json). Every row of the run that has a ratio (both targets measured)
becomes one horizontal bar: tunplug's value / kernel-direct's value, with a
line at 1.0x (as fast as the kernel). A bar is green where tunplug is better
than the kernel for that row ("higher better" with a ratio above 1, "lower
better" below 1), orange where it is worse, grey where the row has no
better/worse direction. Sub-rows (indented in table.md) are named with
their parent row. Exit 0 with a message and no PNG when the run has no row
with a ratio (a run without the kernel target); exit 1 on a missing or
unreadable summary.json. Needs Debian's python3-matplotlib (run with
/usr/bin/python3, which is where Debian installs it).
"""
import argparse
import json
import os
import sys

GOOD, BAD, NEUTRAL = "#4c9a2a", "#e07b00", "#8c8c8c"


def load(path):
    with open(path) as f:
        s = json.load(f)
    if not isinstance(s, dict) or not isinstance(s.get("rows"), list):
        raise ValueError("no rows list")
    return s


def bars(summary):
    """(label, ratio, colour) per row with a ratio, in table order."""
    out = []
    parent = ""
    for r in summary["rows"]:
        metric = r.get("metric", "")
        name = metric.strip()
        if metric[:1] == " ":
            # "UDP ... upload, received" has the sub-row "sent"
            name = "%s: %s" % (parent.removesuffix(", received"), name)
        else:
            parent = name
        ratio = r.get("ratio")
        if not isinstance(ratio, (int, float)) or ratio <= 0:
            continue
        unit = r.get("unit", "")
        if "higher better" in unit:
            colour = GOOD if ratio >= 1 else BAD
        elif "lower better" in unit:
            colour = GOOD if ratio <= 1 else BAD
        else:
            colour = NEUTRAL
        out.append(("%s [%s]" % (name, unit.split(",")[0]), ratio, colour))
    return out


def title(run, summary):
    m = summary.get("machine") or {}
    date = (m.get("date") or "")[:10]
    facts = ", ".join(x for x in (
        "%s vCPU" % m["nproc"] if m.get("nproc") else "",
        "Linux %s" % m["kernel"] if m.get("kernel") else "",
        "git %s" % m["git_commit"] if m.get("git_commit") else "") if x)
    return "tunplug / kernel-direct, bench run %s%s\n%s" % (
        run, " (%s)" % date if date and date not in run else "", facts)


def draw(rows, heading, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows)
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.32 * n))
    ys = list(range(n))[::-1]
    ratios = [r[1] for r in rows]
    ax.barh(ys, ratios, color=[r[2] for r in rows], height=0.7)
    ax.axvline(1.0, color="black", linewidth=1)
    top = max(max(ratios) * 1.18, 1.25)
    ax.set_xlim(0, top)
    for y, v in zip(ys, ratios):
        ax.text(v + top * 0.008, y, "%.2fx" % v, va="center", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.set_xlabel("tunplug / kernel (1.0x = the same as the kernel; "
                  "green: tunplug better, orange: worse)", fontsize=9)
    ax.set_title(heading, fontsize=10)
    ax.grid(axis="x", linestyle=":", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description="draw a bench run's ratios to kernel as a PNG")
    ap.add_argument("dir", help="a bench/results/<run> folder with summary.json")
    ap.add_argument("--out", help="PNG to write (default DIR/chart.png)")
    a = ap.parse_args()
    src = os.path.join(a.dir, "summary.json")
    try:
        summary = load(src)
    except (OSError, ValueError) as e:
        sys.stderr.write("chart: %s: %s (run report.py report %s first)\n" % (src, e, a.dir))
        return 1
    rows = bars(summary)
    if not rows:
        print("chart: %s has no row with a ratio to kernel (no kernel target?): no chart" % src)
        return 0
    out = a.out or os.path.join(a.dir, "chart.png")
    run = os.path.basename(os.path.normpath(os.path.abspath(a.dir)))
    draw(rows, title(run, summary), out)
    print("chart: %s (%d rows)" % (out, len(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
