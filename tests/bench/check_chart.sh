#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_chart: bench/chart.py draws a committed run: a PNG with one bar per
# row that has a ratio (counted here from summary.json), and refuses a
# folder without summary.json.
#   check_chart.sh REPO_DIR
set -euo pipefail
src=${1:?usage: check_chart.sh REPO_DIR}
py=${CHART_PYTHON:-/usr/bin/python3}
fail() { echo "FAIL: check_chart: $*" >&2; exit 1; }
"$py" -c 'import matplotlib' 2>/dev/null || { echo "SKIP: check_chart: $py has no matplotlib (apt-get install python3-matplotlib)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run=$src/bench/results/2026-12-03-final

out=$("$py" "$src/bench/chart.py" "$run" --out "$tmp/c.png") || fail "chart.py failed: $out"
want=$("$py" -c 'import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
print(sum(1 for r in rows if isinstance(r.get("ratio"), (int, float)) and r["ratio"] > 0))' "$run/summary.json")
((want > 0)) || fail "the committed run has no ratio rows"
[[ $out == *"($want rows)"* ]] || fail "chart.py drew \"$out\", want $want rows"
[[ $(head -c 8 "$tmp/c.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "not a PNG"
size=$(stat -c %s "$tmp/c.png")
((size > 20000)) || fail "PNG only $size bytes"
echo "ok: $want bars, $size byte PNG"

rc=0
"$py" "$src/bench/chart.py" "$tmp" >"$tmp/err" 2>&1 || rc=$?
((rc == 1)) || fail "a folder without summary.json: exit $rc, want 1"
grep -q "summary.json" "$tmp/err" || fail "no reason given: $(cat "$tmp/err")"
[[ ! -e $tmp/chart.png ]] || fail "a PNG was written anyway"
echo "ok: a folder without summary.json is refused: $(cat "$tmp/err")"
