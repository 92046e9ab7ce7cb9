#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# udprr_cost.sh TUNPLUG [--count N] [--sockets "1 16"] [--out DIR]
#               [--tools callgrind,pstat,strace,perf] [--perf-count N]
#
# What one UDP request/response transaction costs tunplug, counted rather
# than timed (the machine is shared, so CPU seconds are noisy): the bench's
# udp_rr workload (udpbench.py rr: 1-byte ping-pong against udpbench.py echo
# through `--handler direct`, one datagram in flight per socket) for a fixed
# number of transactions (--count, 20000), with 1 and 16 sockets, measured
# three ways, each on its own tunplug, attached only for the client's run
# (start-up and shut-down are not counted):
#   callgrind  tunplug under valgrind --tool=callgrind; the counts are zeroed
#              (callgrind_control -z) before the client starts and dumped
#              after it ends: instructions per transaction, and the
#              inclusive/exclusive profile (callgrind_annotate)
#   pstat      perf stat attached for the client's run: tunplug's CPU time
#              (task-clock), context switches and syscalls (tracepoints, all
#              and by name) per transaction; barely slows tunplug, so the
#              batching it sees is the real one
#   strace     strace -c -f attached for the client's run: syscalls per
#              transaction, by name (strace slows every syscall, so more
#              work piles up per wakeup: fewer epoll_wait and EAGAIN reads
#              than without it)
#   perf       perf record -e cpu-clock -g attached for a longer client run
#              (--perf-count, 200000): where the time goes (perf report, top
#              symbols, user and kernel); sampled, so only the shares count
# Output in DIR (default: a temp dir, printed): cost.jsonl (one line per
# tool and socket count), callgrind-S.txt (+ callgrind.out-S), pstat-S.txt,
# strace-S.txt, perf-S.txt.
# Needs root, valgrind, strace, perf (for the perf tool), python3.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # read by lib.sh
TP_TEST=udprr_cost
# shellcheck source=../tests/e2e/lib.sh
source "$HERE/../tests/e2e/lib.sh"

COUNT=20000
SOCKETS="1 16"
TOOLS=callgrind,pstat,strace,perf
PERF_COUNT=200000
OUTDIR=""
BIN=${1:-}
[[ -n $BIN ]] && shift
while (($#)); do
  case $1 in
    --count) COUNT=$2; shift 2 ;;
    --sockets) SOCKETS=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --perf-count) PERF_COUNT=$2; shift 2 ;;
    --out) OUTDIR=$2; shift 2 ;;
    *) fail "unknown argument '$1'" ;;
  esac
done
want_tool() { [[ ,$TOOLS, == *,$1,* ]]; }
need=()
want_tool callgrind && need+=(valgrind callgrind_control callgrind_annotate)
want_tool strace && need+=(strace)
{ want_tool perf || want_tool pstat; } && need+=(perf)
tp_require_root "${need[@]}"
tp_require_tunplug "$BIN"
TUNPLUG=$(readlink -f "$TUNPLUG")
REAL_TUNPLUG=$TUNPLUG
tp_topo_up
[[ -n $OUTDIR ]] || OUTDIR=$(mktemp -d "${TMPDIR:-/tmp}/udprr-cost.XXXXXX")
mkdir -p "$OUTDIR"
OUTDIR=$(readlink -f "$OUTDIR")
: >"$OUTDIR/cost.jsonl"
UDPB=$HERE/udpbench.py
PORT=7100

tp_bg udpecho "$NS_S" "$PYTHON" "$UDPB" echo --host "$TP_DST4" --port "$PORT" --timeout 3600
for ((i = 0; i < 100; i++)); do
  [[ $(nss ss -Hlun "sport = :$PORT" | wc -l) -ge 1 ]] && break
  sleep 0.05
done

# rr SOCKETS RTO [COUNT]: the fixed workload; prints the client's JSON line
rr() {
  nsc timeout 600 "$PYTHON" "$UDPB" rr --host "$TP_DST4" --port "$PORT" --sockets "$1" \
    --count "${3:-$COUNT}" --duration 550 --rto "$2"
}

# stop_bg PID: SIGINT (strace and perf write their summary on it), bounded wait
stop_bg() {
  local pid=$1 i
  kill -INT "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do
    tp_alive "$pid" || break
    sleep 0.05
  done
  wait "$pid" 2>/dev/null || true
}

record() { # TOOL SOCKETS CLIENT_JSON EXTRA_JSON
  "$PYTHON" - "$@" <<'PY' | tee -a "$OUTDIR/cost.jsonl"
import json, sys
tool, n, client, extra = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
r = {"tool": tool, "sockets": n, "ok": client.get("ok"), "lost": client.get("lost"),
     "sent": client.get("sent")}
r.update(extra)
ok = client.get("ok") or 0
for k, v in list(extra.items()):
    if k.endswith("_total") and ok:
        r[k[:-6] + "_per_txn"] = round(v / ok, 2)
print(json.dumps(r, sort_keys=True))
PY
}

cost_callgrind() { # SOCKETS
  local n=$1 j f=$TP_TMP/callgrind.out wrap=$TP_TMP/tunplug-callgrind ir
  rm -f "$f"*
  cat >"$wrap" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$f --dump-instr=no --vgdb=yes "$REAL_TUNPLUG" "\$@"
EOF
  chmod +x "$wrap"
  TUNPLUG=$wrap TP_READY_TIMEOUT=120 tp_gw_start --handler direct
  TUNPLUG=$REAL_TUNPLUG
  callgrind_control -z "$TP_GW_PID" >/dev/null
  j=$(rr "$n" 5) || j='{"error": "client failed"}'
  callgrind_control -d "$TP_GW_PID" >/dev/null
  tp_gw_stop TERM 60
  # the dump taken after the client ("-d"): the first numbered part
  ir=$(sed -nE 's/^(summary|totals): ([0-9]+).*/\2/p' "$f.1" | head -n 1)
  # (head after a whole file: with pipefail, head closing a pipe early fails)
  callgrind_annotate --auto=no --inclusive=yes "$f.1" >"$TP_TMP/incl.txt" 2>/dev/null || true
  callgrind_annotate --auto=no "$f.1" >"$TP_TMP/excl.txt" 2>/dev/null || true
  { head -n 70 "$TP_TMP/incl.txt"; printf '\n---- exclusive ----\n'; head -n 60 "$TP_TMP/excl.txt"; } \
    >"$OUTDIR/callgrind-$n.txt"
  cp "$f.1" "$OUTDIR/callgrind.out-$n"
  record callgrind "$n" "$j" "{\"instructions_total\": ${ir:-0}}"
}

# the syscalls tunplug makes on its data path (libuv's epoll_wait included)
PSTAT_SYS="epoll_wait epoll_pwait epoll_ctl read readv write writev sendmsg sendmmsg sendto recvmsg recvmmsg recvfrom clock_gettime ioctl"

cost_pstat() { # SOCKETS
  local n=$1 j ppid f ev=task-clock,context-switches,raw_syscalls:sys_enter s extra
  f=$OUTDIR/pstat-$n.txt
  for s in $PSTAT_SYS; do
    [[ -e /sys/kernel/tracing/events/syscalls/sys_enter_$s || -e /sys/kernel/debug/tracing/events/syscalls/sys_enter_$s ]] &&
      ev+=",syscalls:sys_enter_$s"
  done
  tp_gw_start --handler direct
  perf stat -x, -e "$ev" -p "$TP_GW_PID" -o "$f" 2>"$TP_TMP/pstat.err" &
  ppid=$!
  sleep 1 # attached (perf has no readiness signal; a missed start only undercounts)
  j=$(rr "$n" 1) || j='{"error": "client failed"}'
  stop_bg "$ppid"
  tp_gw_stop_ok
  # CSV: value,unit,event,...; task-clock is in ms
  extra=$("$PYTHON" - "$f" <<'PY'
import json, sys
r = {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) < 3 or line.startswith("#"):
        continue
    try:
        v = float(f[0])
    except ValueError:
        continue
    ev = f[2]
    if ev.startswith("task-clock"):
        r["cpu_us_total"] = round(v * 1000, 1)
    elif ev == "context-switches":
        r["ctxsw_total"] = int(v)
    elif ev == "raw_syscalls:sys_enter":
        r["syscalls_total"] = int(v)
    elif ev.startswith("syscalls:sys_enter_") and v:
        r["sys_" + ev[len("syscalls:sys_enter_"):] + "_total"] = int(v)
print(json.dumps(r))
PY
)
  record pstat "$n" "$j" "$extra"
}

cost_strace() { # SOCKETS
  local n=$1 j spid f calls
  f=$OUTDIR/strace-$n.txt
  tp_gw_start --handler direct
  strace -c -f -p "$TP_GW_PID" -o "$f" 2>"$TP_TMP/strace.err" &
  spid=$!
  sleep 1 # attached (strace has no readiness signal; a missed start only undercounts)
  j=$(rr "$n" 1) || j='{"error": "client failed"}'
  stop_bg "$spid"
  tp_gw_stop_ok
  calls=$(awk '$NF == "total" { print $(NF-2) }' "$f")
  record strace "$n" "$j" "{\"syscalls_total\": ${calls:-0}}"
}

cost_perf() { # SOCKETS
  local n=$1 j ppid f=$TP_TMP/perf.data
  tp_gw_start --handler direct
  perf record -q -e cpu-clock -F 4000 -g -p "$TP_GW_PID" -o "$f" 2>"$TP_TMP/perf.err" &
  ppid=$!
  sleep 1
  j=$(rr "$n" 1 "$PERF_COUNT") || j='{"error": "client failed"}'
  stop_bg "$ppid"
  tp_gw_stop_ok
  perf report -i "$f" --stdio --no-children --percent-limit 0.5 -g none >"$TP_TMP/perf.txt" 2>/dev/null || true
  grep -v '^$' "$TP_TMP/perf.txt" | head -n 70 >"$OUTDIR/perf-$n.txt" || true
  # user space (tunplug, libuv, libc) against the kernel
  perf report -i "$f" --stdio --no-children --sort dso -g none >"$TP_TMP/perf-dso.txt" 2>/dev/null || true
  { printf '\n---- by object ----\n'; grep -E '^ +[0-9.]+%' "$TP_TMP/perf-dso.txt"; } >>"$OUTDIR/perf-$n.txt" || true
  record perf "$n" "$j" "{}"
}

for n in $SOCKETS; do
  want_tool callgrind && cost_callgrind "$n"
  want_tool pstat && cost_pstat "$n"
  want_tool strace && cost_strace "$n"
  want_tool perf && cost_perf "$n"
done
log "results in $OUTDIR"
