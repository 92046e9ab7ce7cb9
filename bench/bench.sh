#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR
# bench.sh TUNPLUG [--out DIR] [--reps N] [--targets kernel,tunplug] [--no-offload-cmp]
#          [--only PART,...]   PART: tcp connrate idle offload udp_rr udp_tput
#                              socks5 queues flows (udp = udp_rr,udp_tput);
#                              default: all but flows
#
# One run, same topology as the e2e tests (tests/e2e/lib.sh): measures
# kernel-direct (no tun, 198.19.0.0/16 routed over the veth) and tunplug
# (direct handler) back to back:
#   tcp1_up / tcp1_down   iperf3 -t BENCH_T single stream, upload and -R;
#                         tunplug's CPU s/GB from /proc/PID/stat
#   connrate_seq/_par/_par32  short connections (connect, 1 B echo, close)
#                         for BENCH_CONNRATE_S s, 1, 8 and 32 in flight
#   idle                  BENCH_IDLE_N connections opened (1 B echo each) and
#                         held; tunplug's VmRSS before and with them open
#   offload comparison    tcp1_up/down again with tunplug --no-offload and
#                         --no-offload --mtu M for M in BENCH_OFFLOAD_MTUS
#                         (9000 65535); tun reads+writes per GB from tunplug's
#                         counters (SIGUSR1) for every tunplug variant
#   udp_rr                1-byte UDP request/response against an echo server,
#                         1 socket and BENCH_UDP_RR_SOCKETS (16) sockets, for
#                         BENCH_UDP_RR_S (5) s: transactions/s, p50/p99
#   udp_tput              iperf3 -u -b 0 -l 1400 / -l 8000, up and -R, for
#                         BENCH_UDP_T (5) s: received Mbit/s, loss %, where the
#                         datagrams were lost (tun queue, tunplug's counters,
#                         UDP socket receive-buffer drops in both namespaces);
#                         then upload only, -l 1400, once per RATE:WINDOW in
#                         BENCH_UDP_EXTRA ("0:4M 4000M:4M"; empty = none):
#                         iperf3 -u -b RATE -w WINDOW (tests
#                         udp1400_up_bRATE_wWINDOW), the same counters. A tun
#                         does not backpressure a UDP sender (-b 0 overflows
#                         tp0's queue) and iperf3's default ~208 KiB receive
#                         buffer overflows when it shares a CPU with tunplug:
#                         these runs show a paced sender and larger buffers
#   queues                8 streams (iperf3 -P 8) up and down, and connection
#                         rate with 8 and 32 in flight, through tunplug with
#                         --queues 1 and --queues 2 (targets tunplug_q1/_q2;
#                         CPU summed over the master and its workers), next to
#                         kernel-direct with 8 streams
#   socks5                tunplug --handler socks5://... -> a SOCKS5 server in
#                         the server namespace -> server, with two servers:
#                         microsocks (:1081, target "tunplug_socks5") and
#                         dante-server's danted (:1080, no auth, a config in
#                         the run's temp dir, errors only logged to a file;
#                         target "tunplug_socks5_danted"): tcp1_up/down with
#                         the server's CPU s/GB (danted: summed over its
#                         processes) and connrate seq/par/par32 each; kernel
#                         and tunplug (direct) run tcp and connrate for
#                         comparison
#   flows                 (only with --only flows) BENCH_FLOWS_N (100000) idle
#                         flows through tunplug --handler echo (target
#                         "tunplug_flows"): sequential connection rate with none
#                         open and with N open, time to open N (1 B echo each),
#                         tunplug's CPU while they sit idle (BENCH_FLOWS_IDLE_S,
#                         10 s), drain time after the client closes them all (until
#                         tunplug counts 0 flows; with the tun's TX drops meanwhile:
#                         client FINs the tun queue dropped are only retransmitted
#                         after the client's RTO), SIGTERM time with N open.
#                         BENCH_FLOWS_TXQLEN=L sets the tun's txqueuelen to L by
#                         hand after the start (default: as tunplug leaves it)
# Output: DIR/raw.jsonl, DIR/raw/*.json (iperf3), DIR/machine.json,
# DIR/summary.json, DIR/table.md (default DIR: bench/results/<date>).
# Needs root, iproute2, iperf3, python3 (microsocks and dante-server for
# socks5; DANTED=path, default /usr/sbin/danted). Namespaces
# and processes are removed on exit, even on failure. Every step is bounded
# in time.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # read by lib.sh
TP_TEST=bench
# shellcheck source=../tests/e2e/lib.sh
source "$HERE/../tests/e2e/lib.sh"

usage() { sed -n '4,/^set -euo/{/^#/p}' "$0"; } # the header comment above
T=${BENCH_T:-10}
CONNRATE_S=${BENCH_CONNRATE_S:-5}
IDLE_N=${BENCH_IDLE_N:-1000}
REPS=${BENCH_REPS:-1}
TARGETS=${BENCH_TARGETS:-kernel,tunplug}
OFFLOAD_CMP=${BENCH_OFFLOAD_CMP:-1}
OFFLOAD_MTUS=${BENCH_OFFLOAD_MTUS:-9000 65535}
UDP_T=${BENCH_UDP_T:-5}
UDP_RR_S=${BENCH_UDP_RR_S:-5}
UDP_RR_SOCKETS=${BENCH_UDP_RR_SOCKETS:-16}
UDP_LENS=${BENCH_UDP_LENS:-1400 8000}
UDP_EXTRA=${BENCH_UDP_EXTRA-0:4M 4000M:4M} # set but empty: no extra runs
ONLY=${BENCH_ONLY:-tcp,connrate,idle,offload,udp_rr,udp_tput,socks5,queues}
FLOWS_N=${BENCH_FLOWS_N:-100000}
FLOWS_IDLE_S=${BENCH_FLOWS_IDLE_S:-10}
FLOWS_TXQLEN=${BENCH_FLOWS_TXQLEN:-}
DANTED=${DANTED:-/usr/sbin/danted}
STREAMS=1 # iperf3 -P; the queues part uses 8
OUT=""
BIN=""
while (($#)); do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --no-offload-cmp) OFFLOAD_CMP=0; shift ;;
    --only) ONLY=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) BIN=$1; shift ;;
  esac
done
OUT=${OUT:-$HERE/results/$(date +%F)}
IFS=, read -r -a TARGET_LIST <<<"$TARGETS"
# the parts to run; socks5 brings tcp and connrate of kernel and tunplug along
# (its comparison columns)
PARTS=,
want() { [[ $PARTS == *,$1,* ]]; }
IFS=, read -r -a _only <<<"$ONLY"
for p in "${_only[@]}"; do
  case $p in
    udp) _add=(udp_rr udp_tput) ;;
    socks5) _add=(socks5 tcp connrate) ;;
    queues) _add=(queues connrate) ;;
    tcp | connrate | idle | offload | udp_rr | udp_tput | flows) _add=("$p") ;;
    *) echo "bench.sh: unknown part '$p' in --only" >&2; usage >&2; exit 2 ;;
  esac
  for q in "${_add[@]}"; do want "$q" || PARTS+=$q,; done
done
want offload || OFFLOAD_CMP=0
# BENCH_UDP_EXTRA: RATE:WINDOW pairs, iperf3's -b and -w (a number with an
# optional K/M/G); checked before anything runs. The window in bytes (iperf3:
# K = 1024) against net.core.[rw]mem_max, the kernel's cap (iperf3 only warns)
for _x in $UDP_EXTRA; do
  [[ $_x =~ ^[0-9]+(\.[0-9]+)?[KMGkmg]?:[0-9]+[KMGkmg]?$ ]] ||
    { echo "bench.sh: BENCH_UDP_EXTRA: '$_x' is not RATE:WINDOW (e.g. 4000M:4M)" >&2; exit 2; }
  want udp_tput || continue
  _w=${_x#*:} _m=1
  case ${_w: -1} in [Kk]) _m=1024 ;; [Mm]) _m=$((1024 * 1024)) ;; [Gg]) _m=$((1024 * 1024 * 1024)) ;; esac
  ((_m == 1)) || _w=${_w%?}
  for _s in rmem_max wmem_max; do
    _lim=$(cat /proc/sys/net/core/$_s 2>/dev/null || echo 0)
    ((10#$_w * _m <= _lim)) || log "warning: BENCH_UDP_EXTRA $_x: -w ${_x#*:} > net.core.$_s ($_lim): the kernel caps the socket buffer"
  done
done

tp_require_root iperf3
if want socks5; then
  command -v microsocks >/dev/null || fail "missing microsocks (Debian: apt-get install -y microsocks)"
  [[ -x $DANTED ]] || fail "missing $DANTED (Debian: apt-get install -y dante-server)"
fi
if [[ ,$TARGETS, == *,tunplug,* ]]; then tp_require_tunplug "$BIN"; else TUNPLUG=${BIN:-}; fi
# many idle connections need many descriptors in the client (root may raise
# the hard limit)
if want flows; then ulimit -Hn $((FLOWS_N + 10000)) 2>/dev/null || true; fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) >= 4 * IDLE_N + 100)) || log "warning: open-file limit $(ulimit -n) is low for $IDLE_N idle connections"
if want flows && (($(ulimit -n) < FLOWS_N + 1000)); then
  log "warning: open-file limit $(ulimit -n) is low for $FLOWS_N idle flows"
fi

mkdir -p "$OUT/raw"
RAW=$OUT/raw.jsonl
: >"$RAW"
"$PYTHON" "$HERE/report.py" machine --tunplug "${TUNPLUG:-}" \
  --settings "{\"iperf_t\": $T, \"connrate_s\": $CONNRATE_S, \"idle_n\": $IDLE_N, \"flows_n\": $FLOWS_N, \"flows_idle_s\": $FLOWS_IDLE_S, \"flows_txqlen\": \"$FLOWS_TXQLEN\", \"reps\": $REPS, \"offload_cmp\": $OFFLOAD_CMP, \"offload_mtus\": \"$OFFLOAD_MTUS\", \"tunplug_args\": \"${BENCH_TUNPLUG_ARGS:-}\", \"parts\": \"${PARTS:1:${#PARTS}-2}\", \"udp_t\": $UDP_T, \"udp_rr_s\": $UDP_RR_S, \"udp_rr_sockets\": $UDP_RR_SOCKETS, \"udp_lens\": \"$UDP_LENS\", \"udp_extra\": \"$UDP_EXTRA\"}" >"$OUT/machine.json"
tp_topo_up

ECHO_PORT=7000
IPERF_PORT=5201
tp_bg echo "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --port "$ECHO_PORT" --timeout 3600
tp_wait_listen "$NS_S" "$ECHO_PORT"
UDPB=$HERE/udpbench.py
UDP_ECHO_PORT=7100
SOCKS_PORT=1081 # microsocks
DANTE_PORT=1080
PROXY_PID=""
DANTE_PID=""
if want udp_rr; then
  tp_bg udpecho "$NS_S" "$PYTHON" "$UDPB" echo --host "$TP_DST4" --port "$UDP_ECHO_PORT" --timeout 3600
  for ((i = 0; i < 100; i++)); do
    [[ $(nss ss -Hlun "sport = :$UDP_ECHO_PORT" | wc -l) -ge 1 ]] && break
    sleep 0.05
  done
fi
if want socks5 && [[ ,$TARGETS, == *,tunplug,* ]]; then
  # microsocks (CONNECT only) on the server side of the veth, like e2e_socks5
  tp_bg microsocks "$NS_S" microsocks -i "$TP_S4" -p "$SOCKS_PORT"
  PROXY_PID=$TP_LAST_PID # ip netns exec execs microsocks: same PID
  tp_wait_listen "$NS_S" "$SOCKS_PORT"
  # danted (dante-server), the other SOCKS5 server, on its own port: CONNECT
  # without authentication, going out over tps0 like e2e_socks5's; only
  # errors logged, to a file (no debug: it costs CPU)
  cat >"$TP_TMP/danted.conf" <<EOF
logoutput: $TP_TMP/danted.out
internal: $TP_S4 port = $DANTE_PORT
external: tps0
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
timeout.negotiate: 10
timeout.io: 120
client pass {
  from: 0/0 to: 0/0
  log: error
}
socks pass {
  from: 0/0 to: 0/0
  command: connect
  log: error
}
EOF
  nss "$DANTED" -V -f "$TP_TMP/danted.conf" >"$TP_TMP/danted-check.log" 2>&1 ||
    fail "danted rejects the config: $(tail -n 5 "$TP_TMP/danted-check.log" | tr '\n' '|')"
  tp_bg danted "$NS_S" "$DANTED" -f "$TP_TMP/danted.conf" -N 1
  DANTE_PID=$TP_LAST_PID # the mother process; it forks its children itself
  tp_wait_listen "$NS_S" "$DANTE_PORT" 10
fi

gw_stat() { # procstat JSON of the running tunplug (summed with its --queues workers), {} for kernel
  local pid all=()
  if [[ $1 == kernel ]]; then echo "{}"; return; fi
  for pid in "$TP_GW_PID" $(pgrep -P "$TP_GW_PID" 2>/dev/null); do
    all+=("$("$PYTHON" "$TP_TOOL" procstat --pid "$pid" 2>/dev/null || echo '{}')")
  done
  "$PYTHON" -c 'import json, sys
s = [json.loads(a) for a in sys.argv[1:] if a.strip() not in ("", "{}")]
if len(s) <= 1:
    print(json.dumps(s[0] if s else {}))
else:
    print(json.dumps({k: sum(x.get(k, 0) for x in s) for k in s[0]}))' "${all[@]}"
}

# proxy_stat TARGET: {"cpu_s", "procs"} of the SOCKS5 server behind a socks5
# target ("" for the others): utime + stime of the process and every
# descendant alive, plus the children's it has reaped (cutime + cstime), so
# danted's negotiate/request/io children count too, even those that exited
proxy_stat() {
  local pid=""
  case $1 in
    tunplug_socks5) pid=$PROXY_PID ;;
    tunplug_socks5_danted) pid=$DANTE_PID ;;
  esac
  [[ -n $pid ]] || return 0
  "$PYTHON" - "$pid" <<'PY'
import json, os, sys
root, hz = int(sys.argv[1]), os.sysconf("SC_CLK_TCK")
kids, ticks = {}, {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open("/proc/%s/stat" % d) as f:
            st = f.read().rsplit(")", 1)[1].split()
    except OSError:
        continue  # gone meanwhile
    kids.setdefault(int(st[1]), []).append(int(d))
    ticks[int(d)] = sum(int(x) for x in st[11:15])  # utime stime cutime cstime
todo, seen = [root], []
while todo:
    p = todo.pop()
    if p in ticks and p not in seen:
        seen.append(p)
        todo += kids.get(p, [])
print(json.dumps({"cpu_s": sum(ticks[p] for p in seen) / hz, "procs": len(seen)}) if seen else "{}")
PY
}

# gw_counters TARGET: all counters of the running tunplug's SIGUSR1 summary as
# JSON ({} for kernel-direct)
gw_counters() {
  local n0 i
  [[ $1 != kernel ]] || { echo "{}"; return 0; }
  n0=$(grep -c 'tunplug:   bytes up' "$TP_GW_LOG" || true)
  tp_gw_signal USR1
  for ((i = 0; i < 100; i++)); do
    (($(grep -c 'tunplug:   bytes up' "$TP_GW_LOG" || true) > n0)) && break
    sleep 0.02
  done
  awk '/tunplug: summary:/ { b = "" } { b = b $0 "\n" } END { printf "%s", b }' "$TP_GW_LOG" |
    "$PYTHON" "$HERE/report.py" gwcounters
}

# gw_io TARGET: "READS WRITES" of the running tunplug (its SIGUSR1 summary),
# "" for kernel-direct
gw_io() {
  local n0 i line
  [[ $1 != kernel ]] || return 0
  n0=$(grep -c 'tunplug:   tun: reads' "$TP_GW_LOG" || true)
  tp_gw_signal USR1
  for ((i = 0; i < 100; i++)); do
    (($(grep -c 'tunplug:   tun: reads' "$TP_GW_LOG" || true) > n0)) && break
    sleep 0.02
  done
  line=$(grep 'tunplug:   tun: reads' "$TP_GW_LOG" | tail -n 1)
  sed -nE 's/.*tun: reads ([0-9]+), writes ([0-9]+),.*/\1 \2/p' <<<"$line"
}

iperf() { # TARGET up|down REP
  local target=$1 dir=$2 rep=$3 flag=() f c0 c1 spid io0 io1 p0 p1 test=tcp${STREAMS}_$2
  [[ $dir == down ]] && flag=(-R)
  ((STREAMS > 1)) && flag+=(-P "$STREAMS")
  f=$OUT/raw/$target-${test}-$rep.json
  tp_bg "iperf3-s" "$NS_S" timeout $((T + 30)) iperf3 -s -1 -B "$TP_DST4" -p "$IPERF_PORT"
  spid=$TP_LAST_PID
  tp_wait_listen "$NS_S" "$IPERF_PORT"
  c0=$(gw_stat "$target")
  io0=$(gw_io "$target")
  p0=$(proxy_stat "$target")
  nsc timeout $((T + 20)) iperf3 -c "$TP_DST4" -p "$IPERF_PORT" -t "$T" "${flag[@]}" -J \
    --connect-timeout 3000 >"$f" 2>"$f.err" || log "iperf3 $target $dir failed (see $f)"
  p1=$(proxy_stat "$target")
  c1=$(gw_stat "$target")
  io1=$(gw_io "$target")
  [[ -s $f.err ]] || rm -f "$f.err"
  wait "$spid" 2>/dev/null || true
  "$PYTHON" "$HERE/report.py" iperf --target "$target" --test "$test" --rep "$rep" --file "$f" \
    --cpu0 "$c0" --cpu1 "$c1" --io0 "$io0" --io1 "$io1" --proxy-cpu0 "$p0" --proxy-cpu1 "$p1" | tee -a "$RAW"
}

# udp_rr TARGET SOCKETS REP: 1-byte UDP ping-pong, SOCKETS each with one in flight
udp_rr() {
  local target=$1 n=$2 rep=$3 j c0 c1 test=udp_rr1
  ((n > 1)) && test=udp_rr_par
  c0=$(gw_stat "$target")
  j=$(nsc timeout $((UDP_RR_S + 20)) "$PYTHON" "$UDPB" rr --host "$TP_DST4" --port "$UDP_ECHO_PORT" \
    --duration "$UDP_RR_S" --sockets "$n") || j='{"error": "udp rr client failed"}'
  c1=$(gw_stat "$target")
  "$PYTHON" "$HERE/report.py" json --target "$target" --test "$test" --rep "$rep" --json "$j" \
    --cpu0 "$c0" --cpu1 "$c1" | tee -a "$RAW"
  sleep 0.5
}

# udp_iperf TARGET LEN up|down REP [RATE WINDOW]: iperf3 -u -b RATE (0) -l LEN
# [-w WINDOW]; counters around it in both namespaces (UDP receive-buffer drops,
# tp0's queue) and tunplug's own. Test udpLEN_DIR; with RATE and WINDOW given
# udpLEN_DIR_bRATE_wWINDOW
udp_iperf() {
  local target=$1 len=$2 dir=$3 rep=$4 rate=${5:-0} win=${6:-} flag=() dev=() test f spid c0 c1 g0 g1 sc0 sc1 ss0 ss1
  test=udp${len}_$dir
  [[ $dir == down ]] && flag=(-R)
  if (($# >= 6)); then
    flag+=(-w "$win")
    test+=_b${rate}_w${win}
  fi
  [[ $target != kernel ]] && dev=(--dev "$TP_TUN")
  f=$OUT/raw/$target-$test-$rep.json
  tp_bg "iperf3-s" "$NS_S" timeout $((UDP_T + 30)) iperf3 -s -1 -B "$TP_DST4" -p "$IPERF_PORT"
  spid=$TP_LAST_PID
  tp_wait_listen "$NS_S" "$IPERF_PORT"
  c0=$(gw_stat "$target")
  g0=$(gw_counters "$target")
  sc0=$(nsc "$PYTHON" "$UDPB" snap "${dev[@]}")
  ss0=$(nss "$PYTHON" "$UDPB" snap)
  nsc timeout $((UDP_T + 20)) iperf3 -c "$TP_DST4" -p "$IPERF_PORT" -u -b "$rate" -l "$len" -t "$UDP_T" \
    "${flag[@]}" -J --connect-timeout 3000 >"$f" 2>"$f.err" || log "iperf3 -u $target $test failed (see $f)"
  sleep 0.2 # the last datagrams in flight
  sc1=$(nsc "$PYTHON" "$UDPB" snap "${dev[@]}")
  ss1=$(nss "$PYTHON" "$UDPB" snap)
  c1=$(gw_stat "$target")
  g1=$(gw_counters "$target")
  # iperf3 warns that 8000 > the TCP MSS: expected, fragmented on purpose
  grep -qv 'warning: UDP block size' "$f.err" 2>/dev/null || rm -f "$f.err"
  wait "$spid" 2>/dev/null || true
  "$PYTHON" "$HERE/report.py" udpiperf --target "$target" --test "$test" --rep "$rep" \
    --file "$f" --cpu0 "$c0" --cpu1 "$c1" --gw0 "$g0" --gw1 "$g1" --snap-c0 "$sc0" --snap-c1 "$sc1" \
    --snap-s0 "$ss0" --snap-s1 "$ss1" | tee -a "$RAW"
}

# Every phase starts without TIME-WAIT sockets from the phases before (tens of
# thousands after a connection-rate phase): through tunplug the clients' ports
# can't be reused early (lwIP sends no TCP timestamps, which tcp_tw_reuse
# needs), so leftovers of one phase would throttle the next one's connect().
flush_tw() {
  nsc ss -K -Htn state time-wait >/dev/null 2>&1 || true
  nss ss -K -Htn state time-wait >/dev/null 2>&1 || true
}

connrate() { # TARGET seq|par|par32 REP
  local target=$1 kind=$2 rep=$3 c=1 j
  flush_tw
  [[ $kind == par ]] && c=8
  [[ $kind == par32 ]] && c=32
  j=$(nsc timeout $((CONNRATE_S + 20)) "$PYTHON" "$TP_TOOL" connrate --host "$TP_DST4" --port "$ECHO_PORT" \
    --duration "$CONNRATE_S" --concurrency "$c") || j='{"error": "connrate client failed"}'
  "$PYTHON" "$HERE/report.py" json --target "$target" --test "connrate_$kind" --rep "$rep" --json "$j" | tee -a "$RAW"
  sleep 1 # let TIME_WAIT / closing flows settle a little between phases
}

idle() { # TARGET REP
  local target=$1 rep=$2 s0 s1 log=$TP_TMP/idle.log pid i open done_line
  rm -f "$TP_TMP/idle.stop"
  flush_tw
  s0=$(gw_stat "$target")
  tp_bg idle "$NS_C" timeout 90 "$PYTHON" "$TP_TOOL" idle --host "$TP_DST4" --port "$ECHO_PORT" -n "$IDLE_N" \
    --open-timeout 30 --hold 30 --stop-file "$TP_TMP/idle.stop" --recheck
  pid=$TP_LAST_PID
  for ((i = 0; i < 700; i++)); do
    grep -q '"event": "open"' "$log" && break
    tp_alive "$pid" || break
    sleep 0.05
  done
  sleep 1 # all open and idle: measure
  s1=$(gw_stat "$target")
  touch "$TP_TMP/idle.stop"
  wait "$pid" || true
  open=$(grep '"event": "open"' "$log" || echo '{"error": "idle client never opened its connections"}')
  done_line=$(grep '"event": "done"' "$log" || echo '{}')
  "$PYTHON" "$HERE/report.py" json --target "$target" --test idle --rep "$rep" --json "$open" --json "$done_line" \
    --json "$("$PYTHON" - "$s0" "$s1" "$IDLE_N" <<'PY'
import json, sys
s0, s1, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
r = {}
if s0 and s1:
    r = {"rss_base_mib": s0["rss_kib"] / 1024, "rss_open_mib": s1["rss_kib"] / 1024,
         "kib_per_conn": (s1["rss_kib"] - s0["rss_kib"]) / n}
print(json.dumps(r))
PY
)" | tee -a "$RAW"
}

final_rec() { # REP: tunplug's peak RSS and total CPU before it stops
  local s
  s=$(gw_stat tunplug)
  "$PYTHON" "$HERE/report.py" json --target tunplug --test final --rep "$1" --json "$s" \
    --json "$("$PYTHON" -c 'import json, sys
s = json.loads(sys.argv[1])
print(json.dumps({"hwm_mib": s["hwm_kib"] / 1024, "cpu_total_s": s["cpu_s"]}))' "$s")" | tee -a "$RAW"
}

run_target() { # TARGET REP
  local target=$1 rep=$2
  log "=== $target, repetition $rep"
  case $target in
    kernel) tp_route_kernel ;;
    tunplug) read -r -a _gw_extra <<<"${BENCH_TUNPLUG_ARGS:-}"; tp_gw_start "${_gw_extra[@]}" ;;
    *) fail "unknown target $target" ;;
  esac
  if want tcp; then
    iperf "$target" up "$rep"
    iperf "$target" down "$rep"
  fi
  if want connrate; then
    connrate "$target" seq "$rep"
    connrate "$target" par "$rep"
    connrate "$target" par32 "$rep"
  fi
  if want idle; then idle "$target" "$rep"; fi
  if want udp_rr; then
    udp_rr "$target" 1 "$rep"
    udp_rr "$target" "$UDP_RR_SOCKETS" "$rep"
  fi
  if want udp_tput; then
    for len in $UDP_LENS; do
      udp_iperf "$target" "$len" up "$rep"
      udp_iperf "$target" "$len" down "$rep"
    done
    for x in $UDP_EXTRA; do udp_iperf "$target" 1400 up "$rep" "${x%%:*}" "${x#*:}"; done
  fi
  case $target in
    kernel) tp_route_kernel_del ;;
    tunplug)
      final_rec "$rep"
      tp_gw_stop_ok
      printf '%s\n' "$TP_GW_SUMMARY" >"$OUT/raw/tunplug-summary-$rep.txt"
      ;;
  esac
}

# Offload comparison: single stream up/down only, tunplug variants started
# with their own options (the default run above is "tunplug", offloads on).
offload_variant() { # TARGET REP ARGS...
  local target=$1 rep=$2
  shift 2
  log "=== $target ($*), repetition $rep"
  tp_gw_start "$@"
  iperf "$target" up "$rep"
  iperf "$target" down "$rep"
  tp_gw_stop_ok
  printf '%s\n' "$TP_GW_SUMMARY" >"$OUT/raw/$target-summary-$rep.txt"
}

# The SOCKS5 path: tunplug --handler socks5://SERVER; the SOCKS5 server
# (microsocks or danted) connects to the server inside the server namespace
socks5_target() { # REP TARGET PORT SERVER-NAME
  local rep=$1 target=$2 port=$3
  log "=== $target (--handler socks5://$TP_S4:$port, $4), repetition $rep"
  read -r -a _gw_extra <<<"${BENCH_TUNPLUG_ARGS:-}"
  tp_gw_start "${_gw_extra[@]}" --handler "socks5://$TP_S4:$port"
  iperf "$target" up "$rep"
  iperf "$target" down "$rep"
  connrate "$target" seq "$rep"
  connrate "$target" par "$rep"
  connrate "$target" par32 "$rep"
  tp_gw_stop_ok
  printf '%s\n' "$TP_GW_SUMMARY" >"$OUT/raw/$target-summary-$rep.txt"
}

# Multi-queue: 8 streams and parallel connection rate with 1 and 2 queues
# (worker processes), kernel-direct with 8 streams alongside.
queues_part() { # REP
  local rep=$1 q
  log "=== kernel, 8 streams, repetition $rep"
  tp_route_kernel
  STREAMS=8
  iperf kernel up "$rep"
  iperf kernel down "$rep"
  tp_route_kernel_del
  for q in 1 2; do
    log "=== tunplug --queues $q, repetition $rep"
    read -r -a _gw_extra <<<"${BENCH_TUNPLUG_ARGS:-}"
    tp_gw_start "${_gw_extra[@]}" --queues "$q"
    iperf "tunplug_q$q" up "$rep"
    iperf "tunplug_q$q" down "$rep"
    connrate "tunplug_q$q" par "$rep"
    connrate "tunplug_q$q" par32 "$rep"
    tp_gw_stop_ok
    printf '%s\n' "$TP_GW_SUMMARY" >"$OUT/raw/tunplug_q$q-summary-$rep.txt"
  done
  STREAMS=1
}

# ---- flows: many idle flows through --handler echo (no upstream sockets) ----

# tunplug's count of open TCP flows ("stack tcp flows: ... now N" of a
# SIGUSR1 summary)
gw_tcp_now() {
  local n0 i
  n0=$(grep -c 'stack tcp flows:' "$TP_GW_LOG" || true)
  tp_gw_signal USR1
  for ((i = 0; i < 500; i++)); do
    (($(grep -c 'stack tcp flows:' "$TP_GW_LOG" || true) > n0)) && break
    sleep 0.02
  done
  grep 'stack tcp flows:' "$TP_GW_LOG" | tail -n 1 | sed -nE 's/.*, now ([0-9]+);.*/\1/p'
}

# flows_open N: idle clients open N flows (1 B echo each) and hold them until
# $TP_TMP/flows.stop exists; one client per 18000 flows (a process may not
# get more descriptors here), each to its own destination port 9000+i, all at
# once. Sets FLOWS_JSON to {"opened", "failed", "open_s"} once all have
# reported (wall time from the start until the last one had them open;
# <= 310 s).
FLOWS_PIDS=()
FLOWS_JSON=""
flows_open() {
  local n=$1 procs per k i t0 all
  procs=$(((n + 17999) / 18000))
  per=$(((n + procs - 1) / procs))
  rm -f "$TP_TMP/flows.stop"
  FLOWS_PIDS=()
  t0=$(now_ms)
  for ((i = 0; i < procs; i++)); do
    k=$per
    ((i == procs - 1)) && k=$((n - per * (procs - 1)))
    : >"$TP_TMP/flows_idle$i.log"
    tp_bg "flows_idle$i" "$NS_C" timeout 1000 "$PYTHON" "$TP_TOOL" idle --host "$TP_DST4" \
      --port $((9000 + i)) -n "$k" --open-timeout 300 --hold 600 --stop-file "$TP_TMP/flows.stop"
    FLOWS_PIDS+=("$TP_LAST_PID")
  done
  for ((k = 0; k < 6200; k++)); do
    all=1
    for ((i = 0; i < procs; i++)); do
      grep -q '"event": "open"' "$TP_TMP/flows_idle$i.log" || { all=0; tp_alive "${FLOWS_PIDS[$i]}" || all=2; }
    done
    ((all == 0)) || break
    sleep 0.05
  done
  FLOWS_JSON=$("$PYTHON" - "$TP_TMP" "$procs" "$(($(now_ms) - t0))" <<'PY'
import json, sys
d, procs, ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = {"opened": 0, "failed": 0, "open_s": ms / 1000.0, "clients": procs}
for i in range(procs):
    ev = None
    with open("%s/flows_idle%d.log" % (d, i)) as f:
        for line in f:
            if '"event": "open"' in line:
                ev = json.loads(line)
    if ev is None:
        r["error"] = "idle client %d never reported its flows open" % i
    else:
        r["opened"] += ev["opened"]
        r["failed"] += ev["failed"]
print(json.dumps(r))
PY
)
}

flows_close() { # the idle clients close their flows and exit
  local pid
  touch "$TP_TMP/flows.stop"
  for pid in "${FLOWS_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# flows_connrate TEST REP: sequential connection rate (connect, 1 B echo,
# close), with tunplug's CPU per connection (less noisy on a shared machine)
flows_connrate() {
  local j c0 c1
  flush_tw
  c0=$(gw_stat tunplug)
  j=$(nsc timeout $((CONNRATE_S + 20)) "$PYTHON" "$TP_TOOL" connrate --host "$TP_DST4" --port "$ECHO_PORT" \
    --duration "$CONNRATE_S" --concurrency 1) || j='{"error": "connrate client failed"}'
  c1=$(gw_stat tunplug)
  "$PYTHON" "$HERE/report.py" json --target tunplug_flows --test "$1" --rep "$2" --json "$j" \
    --cpu0 "$c0" --cpu1 "$c1" | tee -a "$RAW"
}

tun_tx_dropped() { # TX drops of the tun in the client namespace
  nsc cat "/sys/class/net/$TP_TUN/statistics/tx_dropped" 2>/dev/null || echo 0
}

flows_part() { # REP
  local rep=$1 n=$FLOWS_N t=tunplug_flows s0 s1 t0 d0 left drain_ms
  log "=== $t: $n idle flows through --handler echo, repetition $rep"
  read -r -a _gw_extra <<<"${BENCH_TUNPLUG_ARGS:-}"
  tp_gw_start "${_gw_extra[@]}" --handler echo --max-flows $((n + 1000)) --idle-timeout 0
  if [[ -n $FLOWS_TXQLEN ]]; then ip -n "$NS_C" link set "$TP_TUN" txqueuelen "$FLOWS_TXQLEN"; fi
  flows_connrate flows_connrate_none "$rep"
  s0=$(gw_stat "$t")
  flows_open "$n"
  "$PYTHON" "$HERE/report.py" json --target "$t" --test flows_open --rep "$rep" --json "$FLOWS_JSON" \
    --json "{\"flows_now\": $(gw_tcp_now)}" | tee -a "$RAW"
  # tunplug's CPU and memory while they sit idle
  sleep 2
  s1=$(gw_stat "$t")
  sleep "$FLOWS_IDLE_S"
  "$PYTHON" "$HERE/report.py" json --target "$t" --test flows_idle --rep "$rep" \
    --json "$("$PYTHON" - "$s0" "$s1" "$(gw_stat "$t")" "$FLOWS_IDLE_S" <<'PY'
import json, sys
s0, s1, s2, sec = (json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]),
                   float(sys.argv[4]))
print(json.dumps({"cpu_pct": round(100 * (s2["cpu_s"] - s1["cpu_s"]) / sec, 2),
                  "rss_base_mib": round(s0["rss_kib"] / 1024, 1),
                  "rss_open_mib": round(s2["rss_kib"] / 1024, 1)}))
PY
)" --json "{\"flows_now\": $(gw_tcp_now)}" | tee -a "$RAW"
  flows_connrate flows_connrate_open "$rep"
  # drain: the client closes them all; until tunplug counts no flow (<= 120 s)
  d0=$(tun_tx_dropped)
  t0=$(now_ms)
  touch "$TP_TMP/flows.stop"
  left=$(gw_tcp_now)
  while ((${left:-1} > 0 && $(now_ms) - t0 < 120000)); do
    sleep 0.2
    left=$(gw_tcp_now)
  done
  drain_ms=$(($(now_ms) - t0))
  flows_close
  # memory given back: tunplug trims at most once per 5 s after a drain
  sleep 6
  rss_drained=$("$PYTHON" "$TP_TOOL" procstat --pid "$TP_GW_PID" |
    "$PYTHON" -c 'import json, sys; print(round(json.load(sys.stdin)["rss_kib"] / 1024, 1))')
  "$PYTHON" "$HERE/report.py" json --target "$t" --test flows_drain --rep "$rep" \
    --json "{\"drain_s\": $(awk "BEGIN { print $drain_ms / 1000 }"), \"flows_left\": ${left:-null}, \"tun_tx_dropped\": $(($(tun_tx_dropped) - d0)), \"rss_drained_mib\": ${rss_drained:-null}}" \
    | tee -a "$RAW"
  # SIGTERM with N open
  flush_tw
  flows_open "$n"
  log "reopened for SIGTERM: $FLOWS_JSON"
  left=$(gw_tcp_now)
  tp_gw_stop TERM 60
  "$PYTHON" "$HERE/report.py" json --target "$t" --test flows_sigterm --rep "$rep" \
    --json "{\"stop_s\": $(awk "BEGIN { print $TP_GW_STOP_MS / 1000 }"), \"flows_open\": ${left:-null}, \"exit_status\": $TP_GW_RC}" \
    | tee -a "$RAW"
  printf '%s\n' "$TP_GW_SUMMARY" >"$OUT/raw/$t-summary-$rep.txt"
  flows_close
}

for ((rep = 1; rep <= REPS; rep++)); do
  # rotate the order each repetition so drift hits both alike
  n=${#TARGET_LIST[@]}
  # (nothing to run per target when only the parts of their own are wanted)
  want tcp || want connrate || want idle || want udp_rr || want udp_tput || n=0
  for ((k = 0; k < n; k++)); do
    run_target "${TARGET_LIST[$(((k + rep - 1) % n))]}" "$rep"
  done
  if want socks5 && [[ ,$TARGETS, == *,tunplug,* ]]; then
    socks5_target "$rep" tunplug_socks5 "$SOCKS_PORT" microsocks
    socks5_target "$rep" tunplug_socks5_danted "$DANTE_PORT" danted
  fi
  if want queues && [[ ,$TARGETS, == *,tunplug,* ]]; then queues_part "$rep"; fi
  if want flows && [[ ,$TARGETS, == *,tunplug,* ]]; then flows_part "$rep"; fi
  if [[ $OFFLOAD_CMP == 1 && ,$TARGETS, == *,tunplug,* ]]; then
    read -r -a _gw_extra <<<"${BENCH_TUNPLUG_ARGS:-}"
    offload_variant tunplug_nooff "$rep" "${_gw_extra[@]}" --no-offload
    for m in $OFFLOAD_MTUS; do
      offload_variant "tunplug_nooff_mtu$m" "$rep" "${_gw_extra[@]}" --no-offload --mtu "$m"
    done
  fi
done
"$PYTHON" "$HERE/report.py" report "$OUT"
# the picture: Debian's python3-matplotlib, so Debian's python3
"${CHART_PYTHON:-/usr/bin/python3}" "$HERE/chart.py" "$OUT" ||
  log "no chart (bench/chart.py failed; python3-matplotlib installed?)"
log "results in $OUT"
