#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# soak.sh TUNPLUG [--minutes N] [--interval S] [--idle N] [--out DIR]
#
# A bounded mixed load through tunplug for N minutes (default 10), sampling
# the gateway over time; fails (exit 1, saying which check) on growth or on
# any wrong answer. Same topology as the e2e tests (tests/e2e/lib.sh);
# tunplug runs with --handler direct --dns-upstream 198.19.1.1:53 (dnsmasq
# in the server namespace) --udp-timeout 15 plus SOAK_TUNPLUG_ARGS.
#
#   1. idle set: --idle N (SOAK_IDLE_N, 500) TCP connections opened through
#      tunplug (tptool.py idle, 1 byte echoed each) and held to the end
#   2. load, N minutes, all at once (bench/soakload.sh, one loop each, every
#      round bounded in time, every loop in count):
#        churn  connect / 1 B echo / close, 4 in flight (tptool.py connrate)
#        bulk   2 x 8 MiB each way at once, sha256 and echo checked
#        udp    32 new UDP flows per round, 1200 B echoed and compared
#        dns    dig through the dns handler to dnsmasq (A over IPv4, AAAA
#               over IPv6), and a burst of 50 queries on one flow
#      the first fifth (at least 10 s) is warm-up, the rest the steady phase
#   3. drain: after the load, tunplug's flows must return to the idle set
#      (tcp now = N, udp now = 0) within SOAK_DRAIN_S (45) s
#   4. the idle set is re-checked (every connection still echoes) and closed;
#      flows must reach 0; tunplug must exit 0 on SIGTERM
# Every S seconds (--interval, 5; every second while draining) one row of
# DIR/samples.csv: tunplug's VmRSS, open fds (/proc/PID/fd), the stack's
# tcp/udp flows "now" (from the SIGUSR1 summary), CPU seconds (utime+stime,
# /proc/PID/stat), the 1-minute load average and the whole machine's busy
# CPU seconds (/proc/stat). bench/soakreport.py then
# checks (thresholds: SOAK_RSS_PCT 20, SOAK_FD_SLACK 16):
#   - RSS at the end of the steady phase (median of its last third of
#     samples) vs just after warm-up (median of its first third): at most
#     +20 %
#   - fds at rest: with the idle set alone after the drain vs before the
#     load, at most +16; at the end (no flows) vs at the start, at most +16
#     (under load the fd count follows the UDP flows, each holding its
#     socket until --udp-timeout, so it is charted, not compared)
#   - flows back to the idle set after the load, then to 0
#   - every load round's check (churn: at most SOAK_CHURN_FAIL_PPM 1000 ppm
#     of connections without their echo within 2 s; bulk, udp, dns: every
#     round right; idle: all N still echo)
# and draws DIR/soak.svg (the four series over time).
# Output (default DIR: bench/results/<date>-soak): samples.csv, soak.svg,
# summary.json, summary.md, phases.json, machine.json, loads/*.jsonl (one
# line per load round), tunplug-summary.txt. Needs root, iproute2, python3,
# dig, dnsmasq. Namespaces and processes are removed on exit, even on failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # read by lib.sh
TP_TEST=soak
# shellcheck source=../tests/e2e/lib.sh
source "$HERE/../tests/e2e/lib.sh"

usage() { sed -n '3,45p' "$0"; }
MINUTES=${SOAK_MINUTES:-10}
INTERVAL=${SOAK_INTERVAL:-5}
IDLE_N=${SOAK_IDLE_N:-500}
DRAIN_S=${SOAK_DRAIN_S:-45}
UDP_TIMEOUT=15
OUT=""
BIN=""
while (($#)); do
  case $1 in
    --minutes) MINUTES=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --idle) IDLE_N=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "soak.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) BIN=$1; shift ;;
  esac
done
[[ $MINUTES =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "soak.sh: --minutes wants a number" >&2; exit 2; }
[[ $INTERVAL =~ ^[1-9][0-9]*$ && $IDLE_N =~ ^[0-9]+$ ]] || { echo "soak.sh: bad --interval or --idle" >&2; exit 2; }
DUR=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')
((DUR >= 60 && DUR <= 24 * 3600)) || { echo "soak.sh: --minutes between 1 and 1440" >&2; exit 2; }
WARM=$((DUR / 5))
((WARM >= 10)) || WARM=10
OUT=${OUT:-$HERE/results/$(date +%F)-soak}

tp_require_root dig dnsmasq
tp_kernel_mode && { echo "soak.sh: needs tunplug (TP_MODE=kernel makes no sense here)" >&2; exit 2; }
tp_require_tunplug "$BIN"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) >= 2 * IDLE_N + 1000)) || fail "open-file limit $(ulimit -n) too low for $IDLE_N idle connections"

mkdir -p "$OUT/loads"
rm -f "$OUT"/loads/*.jsonl "$OUT/samples.csv" "$OUT/soak.svg" "$OUT/summary.json" "$OUT/summary.md" "$OUT/phases.json"
"$PYTHON" "$HERE/report.py" machine --tunplug "$TUNPLUG" \
  --settings "{\"minutes\": $MINUTES, \"duration_s\": $DUR, \"warmup_s\": $WARM, \"interval_s\": $INTERVAL, \"idle_n\": $IDLE_N, \"drain_s\": $DRAIN_S, \"udp_timeout_s\": $UDP_TIMEOUT, \"tunplug_args\": \"${SOAK_TUNPLUG_ARGS:-}\"}" \
  >"$OUT/machine.json"
tp_topo_up
# the chart also after a failure (from the samples so far), then the e2e cleanup
soak_exit() {
  local rc=$?
  set +e
  [[ -s ${CSV:-} ]] && "$PYTHON" "$HERE/soakreport.py" chart "$OUT" >/dev/null 2>&1
  (exit "$rc")
  tp_cleanup
}
trap soak_exit EXIT

# servers (server namespace), all bounded by the run's length
SRV_T=$((DUR + DRAIN_S + 600))
tp_bg echo "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --port 7000 --timeout "$SRV_T"
tp_bg hash "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --port 7001 --timeout "$SRV_T"
tp_bg udpecho "$NS_S" "$PYTHON" "$TP_E2E_DIR/udptool.py" server --host "$TP_DST4" --port 7200 --timeout "$SRV_T"
tp_bg dnsmasq "$NS_S" dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
  --user=root --pid-file= --port 53 --listen-address="$TP_DST4" --listen-address="$TP_DST6" \
  --bind-interfaces --log-facility=- --local=/test/ \
  --host-record=host.test,198.51.100.1,2001:db8::1 --address=/loop.test/198.51.100.9
tp_wait_listen "$NS_S" 7000
tp_wait_listen "$NS_S" 7001
tp_wait_listen "$NS_S" 53 5 2
for ((i = 0; i < 100; i++)); do
  (($(nss ss -Hlun "sport = :7200" | wc -l) >= 1 && $(nss ss -Hlun "sport = :53" | wc -l) >= 2)) && break
  sleep 0.05
done

read -r -a _extra <<<"${SOAK_TUNPLUG_ARGS:-}"
tp_gw_start --handler direct --dns-upstream "$TP_DST4:53" --udp-timeout "$UDP_TIMEOUT" "${_extra[@]}"
PID=$TP_GW_PID
U0=$(cut -d' ' -f1 /proc/uptime) # time 0 of the samples: tunplug ready
CLK_TCK=$(getconf CLK_TCK)
CSV=$OUT/samples.csv
echo "t_s,phase,rss_kib,fds,tcp_flows,udp_flows,cpu_s,load1,host_busy_s" >"$CSV"

# sample PHASE: one row; leaves TCP_NOW / UDP_NOW / FDS set
TCP_NOW=0
UDP_NOW=0
FDS=0
sample() {
  local t rss cpu n0 i load busy
  tp_gw_check_alive
  n0=$(grep -c 'stack udp flows:' "$TP_GW_LOG" || true)
  tp_gw_signal USR1
  # the clock, tunplug's CPU (utime + stime: fields 14 and 15 of
  # /proc/PID/stat, 12 and 13 after "pid (comm) "), the whole machine's busy
  # CPU seconds (all CPUs: user nice system irq softirq steal), VmRSS and the
  # load average in one read, so the CPU rates have the right time base
  read -r t cpu busy rss load < <(awk -v hz="$CLK_TCK" -v u0="$U0" '
    FILENAME == "/proc/uptime" { t = $1 - u0 }
    FILENAME == "/proc/stat" && $1 == "cpu" { busy = ($2 + $3 + $4 + $7 + $8 + $9) / hz }
    FILENAME ~ /^\/proc\/[0-9]+\/stat$/ { s = $0; sub(/.*\) /, "", s); split(s, f, " "); cpu = (f[12] + f[13]) / hz }
    FILENAME ~ /status$/ && $1 == "VmRSS:" { rss = $2 }
    FILENAME == "/proc/loadavg" { load = $1 }
    END { printf "%.2f %.2f %.2f %d %s\n", t, cpu, busy, rss, load }' \
    /proc/uptime /proc/stat "/proc/$PID/stat" "/proc/$PID/status" /proc/loadavg)
  FDS=$(find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
  for ((i = 0; i < 250; i++)); do
    (($(grep -c 'stack udp flows:' "$TP_GW_LOG" || true) > n0)) && break
    sleep 0.02
  done
  ((i < 250)) || fail "no SIGUSR1 summary from tunplug within 5 s"
  TCP_NOW=$(grep 'stack tcp flows:' "$TP_GW_LOG" | tail -n 1 | sed -nE 's/.* now ([0-9]+);.*/\1/p')
  UDP_NOW=$(grep 'stack udp flows:' "$TP_GW_LOG" | tail -n 1 | sed -nE 's/.* now ([0-9]+);.*/\1/p')
  [[ -n $TCP_NOW && -n $UDP_NOW ]] || fail "could not read the flow counts from tunplug's summary"
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$t" "$1" "$rss" "$FDS" "$TCP_NOW" "$UDP_NOW" "$cpu" "$load" \
    "$busy" >>"$CSV"
}
el() { awk -v u0="$U0" '{ printf "%.2f", $1 - u0 }' /proc/uptime; } # seconds since time 0
declare -A PH

sample start
sleep 1
sample start

# 1. the idle set
log "opening the idle set: $IDLE_N connections"
rm -f "$TP_TMP/idle.stop"
tp_bg idle "$NS_C" timeout $((DUR + DRAIN_S + 300)) "$PYTHON" "$TP_TOOL" idle --host "$TP_DST4" --port 7000 \
  -n "$IDLE_N" --open-timeout 60 --hold $((DUR + DRAIN_S + 200)) --stop-file "$TP_TMP/idle.stop" --recheck
IDLE_PID=$TP_LAST_PID
for ((i = 0; i < 1400; i++)); do
  grep -q '"event": "open"' "$TP_TMP/idle.log" 2>/dev/null && break
  tp_alive "$IDLE_PID" || break
  sleep 0.05
done
grep -q '"event": "open"' "$TP_TMP/idle.log" || fail "the idle client never opened its connections"
if ! grep -q '"failed": 0,' "$TP_TMP/idle.log" || ! grep -q "\"opened\": $IDLE_N}" "$TP_TMP/idle.log"; then
  fail "idle set: $(head -n 1 "$TP_TMP/idle.log")"
fi
ok "idle set open: $(head -n 1 "$TP_TMP/idle.log")"
sleep 1
sample idle
sleep 1
sample idle
sleep 1
sample idle

# 2. the load
PH[load_start]=$(el)
END=$(($(date +%s) + DUR))
LOAD_PIDS=()
for k in churn bulk udp dns; do
  tp_bg "load-$k" "$NS_C" env SOAK_DST4="$TP_DST4" "$HERE/soakload.sh" "$k" "$END" "$OUT/loads/$k.jsonl"
  LOAD_PIDS+=("$TP_LAST_PID")
done
log "load started for $DUR s (warm-up $WARM s), sampling every $INTERVAL s"
WARM_END=$(($(now_ms) + WARM * 1000))
PH[warmup_end]=""
next=$(now_ms)
while (($(date +%s) < END)); do
  if (($(now_ms) < WARM_END)); then sample warmup; else
    [[ -n ${PH[warmup_end]} ]] || PH[warmup_end]=$(el)
    sample steady
  fi
  for k in "${LOAD_PIDS[@]}"; do tp_alive "$k" || fail "a load loop stopped early (see $OUT/loads/)"; done
  next=$((next + INTERVAL * 1000))
  while (($(now_ms) < next && $(date +%s) < END)); do sleep 0.2; done
done
PH[load_end]=$(el)
sample steady

# 3. the loops finish their last round (each bounded; 120 s at most here)
for ((i = 0; i < 600; i++)); do
  busy=0
  for k in "${LOAD_PIDS[@]}"; do tp_alive "$k" && busy=1; done
  ((busy)) || break
  ((i % 5 == 0)) && sample drain
  sleep 0.2
done
((busy == 0)) || fail "load loops still running 120 s after the end"
PH[loads_done]=$(el)
log "load done; waiting up to $DRAIN_S s for the flows to return to the idle set"
PH[drained]=""
t_d=$(now_ms)
while (($(now_ms) - t_d < DRAIN_S * 1000)); do
  sample drain
  if ((TCP_NOW == IDLE_N && UDP_NOW == 0)); then PH[drained]=$(el); break; fi
  sleep 1
done
if [[ -n ${PH[drained]} ]]; then ok "flows back to the idle set ($IDLE_N tcp, 0 udp) at ${PH[drained]} s"; else
  log "flows did NOT return to the idle set within $DRAIN_S s: tcp now $TCP_NOW, udp now $UDP_NOW"
fi
for k in 1 2 3; do
  sleep 1
  sample quiet
done

# 4. the idle set re-checked and closed
touch "$TP_TMP/idle.stop"
IDLE_RC=0
wait "$IDLE_PID" || IDLE_RC=$?
cp "$TP_TMP/idle.log" "$OUT/loads/idle.jsonl"
PH[idle_closed]=$(el)
PH[closed]=""
t_d=$(now_ms)
while (($(now_ms) - t_d < 30000)); do
  sample close
  if ((TCP_NOW == 0 && UDP_NOW == 0)); then PH[closed]=$(el); break; fi
  sleep 1
done
for k in 1 2 3; do
  sleep 1
  sample end
done
tp_gw_stop TERM 5
printf '%s\n' "$TP_GW_SUMMARY" >"$OUT/tunplug-summary.txt"
{
  printf '{"load_start": %s, "warmup_end": %s, "load_end": %s, "loads_done": %s, ' "${PH[load_start]}" \
    "${PH[warmup_end]:-null}" "${PH[load_end]}" "${PH[loads_done]}"
  printf '"drained": %s, "idle_closed": %s, "closed": %s, "idle_rc": %d, "gw_rc": %d, "gw_stop_ms": %d}\n' \
    "${PH[drained]:-null}" "${PH[idle_closed]}" "${PH[closed]:-null}" "$IDLE_RC" "$TP_GW_RC" "$TP_GW_STOP_MS"
} >"$OUT/phases.json"
"$PYTHON" "$HERE/soakreport.py" chart "$OUT"
rc=0
"$PYTHON" "$HERE/soakreport.py" verdict "$OUT" || rc=$?
log "results in $OUT (chart: $OUT/soak.svg)"
((rc == 0)) || fail "soak: see $OUT/summary.md"
ok "soak passed"
