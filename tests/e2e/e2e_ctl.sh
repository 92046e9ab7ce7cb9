#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_ctl: the control socket (`tunplug ctl`) and the metrics page
# (--metrics), gateway/src/ctl/.
#  1. --control PATH in a missing directory: created 0700, the socket 0600
#  2. a rate-limited curl download: `ctl flows` shows it (tcp, the right
#     destination, handler direct, open) with growing bytes down; --json
#     parses with python3's json.load
#  3. filters: --dst and --handler (an echo flow taken by a --rule)
#  4. `ctl stats` (text and JSON) counts the flows and bytes; GET /metrics
#     passes `promtool check metrics`, a counter rises with traffic, the
#     flows-open gauge shows both handlers; POST, HEAD and other paths are
#     refused (405, 405, 404)
#  5. `ctl close ID`: curl sees a reset (exit 56), the flow is gone, the
#     reset is counted; a second close is refused
#  6. garbage to both (50 silent clients, random bytes, a 1 MiB line) while
#     a 200 MB download keeps its sha256; both still answer afterwards
#  7. the socket path: a second gateway on the same path is refused with a
#     clear message, the path is removed at exit, a stale socket is
#     replaced, a regular file is not; --control none has no socket
#  8. --queues 2: the master's socket lists the flows of both workers
#     (ids K-N, unique), sums the counters, serves /metrics, closes K-N
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root curl socat promtool
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's control socket, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

HTTP_PORT=8080
ECHO_PORT=7001
IDLE_PORT=7500
METRICS=127.0.0.1:9477
CTL=$TP_TMP/run/ctl.sock
GARBAGE=$TP_E2E_DIR/ctlgarbage.py

ctl() { nsc "$TUNPLUG" ctl --control "$CTL" "$@"; }
metrics() { nsc curl -sS --max-time 10 "http://$METRICS/metrics"; }
# metric NAME: its value on the page (first series)
metric() { metrics | awk -v n="$1" '$1 == n {print $2; exit}'; }
# rows CMD...: the flow rows (no header) of `ctl flows ...`
rows() { ctl flows "$@" | tail -n +2; }
# poll SECONDS CMD...: until CMD succeeds
poll() {
  local t=$1 i
  shift
  for ((i = 0; i < t * 20; i++)); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
json_flows() { ctl flows --json "$@" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(len(d["flows"]))'; }

mkdir -p "$TP_TMP/www"
tp_mkfile "$TP_TMP/www/big" 64
tp_bg http "$NS_S" timeout 200 "$PYTHON" -m http.server --bind "$TP_DST4" --directory "$TP_TMP/www" "$HTTP_PORT"
tp_bg echoserver "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --port "$IDLE_PORT" --timeout 200
tp_wait_listen "$NS_S" "$HTTP_PORT"
tp_wait_listen "$NS_S" "$IDLE_PORT"

# ---- 1. start ----
tp_gw_start --control "$CTL" --metrics "$METRICS" --rule "proto=tcp,port=$ECHO_PORT,handler=echo"
[[ $(stat -c %a "$TP_TMP/run") == 700 ]] || fail "control directory mode $(stat -c %a "$TP_TMP/run"), want 700"
[[ -S $CTL && $(stat -c %a "$CTL") == 600 ]] || fail "control socket: $(ls -la "$CTL" 2>&1)"
grep -q "control socket $CTL" "$TP_GW_LOG" || fail "no 'control socket' log line"
ok "control socket $CTL (0600, directory created 0700), metrics on $METRICS"
[[ $(rows | wc -l) == 0 ]] || fail "flows before any traffic: $(rows)"

# ---- 2. a download in flight ----
tp_bg curl "$NS_C" curl -sS --limit-rate 1M --max-time 150 -o /dev/null "http://$TP_DST4:$HTTP_PORT/big"
CURL_PID=$TP_LAST_PID
has_download() { rows | grep -q " $TP_DST4:$HTTP_PORT .* open "; }
poll 10 has_download ||
  fail "the download never showed as an open flow: $(ctl flows)"
row=$(rows | grep " $TP_DST4:$HTTP_PORT ")
read -r ID PROTO CLIENT DEST NAME HANDLER STATE UP DOWN _ <<<"$row"
[[ $PROTO == tcp && $DEST == "$TP_DST4:$HTTP_PORT" && $HANDLER == direct && $STATE == open && $NAME == - ]] ||
  fail "row: $row"
[[ $CLIENT == 198.19.255.1:* || $CLIENT == 198.18.0.1:* ]] || fail "client address: $CLIENT"
ok "ctl flows: $row"
down() { ctl flows --json | "$PYTHON" -c "import json,sys; print([f['bytes_down'] for f in json.load(sys.stdin)['flows'] if f['id'] == '$ID'][0])"; }
D1=$(down)
grown() { (($(down) > D1 + 100000)); }
poll 10 grown ||
  fail "bytes down did not grow from $D1"
D2=$(down)
ok "--json parses; bytes down grow: $D1 -> $D2"

# ---- 3. filters ----
tp_bg echoclient "$NS_C" bash -c "sleep 120 | socat - TCP4:$TP_DST4:$ECHO_PORT"
has_echo() { rows --handler echo | grep -q ":$ECHO_PORT "; }
poll 10 has_echo ||
  fail "the echo flow never showed: $(ctl flows)"
[[ $(rows | wc -l) == 2 ]] || fail "want 2 flows: $(ctl flows)"
[[ $(rows --handler echo | wc -l) == 1 && $(rows --handler direct | wc -l) == 1 ]] || fail "--handler: $(ctl flows)"
rows --handler direct | grep -q ":$HTTP_PORT " || fail "--handler direct: not the download"
[[ $(rows --dst 198.19.1.1/32 | wc -l) == 2 && $(rows --dst 10.0.0.0/8 | wc -l) == 0 &&
  $(rows --dst fd00::/8 | wc -l) == 0 ]] || fail "--dst filters"
[[ $(json_flows --dst 198.19.0.0/16 --handler echo) == 1 && $(json_flows --dst 10.0.0.0/8) == 0 ]] || fail "--json with filters"
ctl flows --dst nonsense >/dev/null 2>&1 && fail "--dst nonsense accepted"
ok "filters: --handler echo/direct, --dst in and out of the prefix, with --json"

# ---- 4. stats and metrics ----
cstat() { ctl stats | awk -v n="$1" '$1 == n {print $2}'; }
[[ $(cstat flows_seen) -ge 2 && $(cstat bytes_down) -gt 0 && $(cstat tcp_flows) -ge 2 ]] ||
  fail "ctl stats: $(ctl stats | grep -E '^(flows_seen|bytes_down|tcp_flows) ')"
ctl stats --json | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin)["stats"]; assert d["flows_seen"] >= 2 and d["bytes_down"] > 0, d' ||
  fail "ctl stats --json"
grep -q '^flows_refused{reason=connrefused} ' <<<"$(ctl stats)" || fail "no labelled counter in ctl stats"
ok "ctl stats: flows_seen $(cstat flows_seen), bytes_down $(cstat bytes_down) (text and JSON)"
metrics >"$TP_TMP/m1.txt"
promtool check metrics <"$TP_TMP/m1.txt" || fail "promtool check metrics: $(promtool check metrics <"$TP_TMP/m1.txt" 2>&1 | head -5)"
grep -q '^tunplug_flows_open{handler="echo",proto="tcp",state="open"} 1$' "$TP_TMP/m1.txt" &&
  grep -q '^tunplug_flows_open{handler="direct",proto="tcp",state="open"} 1$' "$TP_TMP/m1.txt" ||
  fail "flows_open gauges: $(grep flows_open "$TP_TMP/m1.txt")"
grep -qE '^tunplug_tun_tx_dropped_total [0-9]+$' "$TP_TMP/m1.txt" &&
  grep -qE '^tunplug_start_time_seconds [0-9]{10}$' "$TP_TMP/m1.txt" ||
  fail "no tun_tx_dropped or start_time_seconds: $(grep -E 'tx_dropped|start_time' "$TP_TMP/m1.txt")"
M1=$(awk '$1 == "tunplug_bytes_down_total" {print $2}' "$TP_TMP/m1.txt")
risen() { (($(metric tunplug_bytes_down_total) > M1)); }
poll 10 risen ||
  fail "tunplug_bytes_down_total did not rise from $M1"
ok "GET /metrics: promtool check metrics passes; flows_open by handler; bytes_down_total rises from $M1 to $(metric tunplug_bytes_down_total)"
code() { nsc curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
[[ $(code -X POST "http://$METRICS/metrics") == 405 && $(code -I "http://$METRICS/metrics") == 405 &&
  $(code "http://$METRICS/") == 404 && $(code "http://$METRICS/metricsx") == 404 &&
  $(code -X DELETE "http://$METRICS/x") == 404 ]] || fail "refusals: POST $(code -X POST "http://$METRICS/metrics"), / $(code "http://$METRICS/")"
ok "POST and HEAD /metrics: 405, other paths: 404"

# ---- 5. close ----
out=$(ctl close "$ID") || fail "ctl close $ID failed"
[[ $out == "closed $ID" ]] || fail "ctl close answered: $out"
rc=0
for ((i = 0; i < 100; i++)); do tp_alive "$CURL_PID" || break; sleep 0.05; done
wait "$CURL_PID" || rc=$?
[[ $rc == 56 ]] || fail "curl exit status $rc after ctl close, want 56 (connection reset): $(cat "$TP_TMP/curl.log")"
rows | grep -q ":$HTTP_PORT " && fail "the closed flow is still listed"
[[ $(cstat flows_ctl_closed) == 1 ]] || fail "flows_ctl_closed $(cstat flows_ctl_closed)"
ctl close "$ID" 2>"$TP_TMP/close2.err" && fail "a second close of $ID succeeded"
grep -q 'no such flow' "$TP_TMP/close2.err" || fail "second close: $(cat "$TP_TMP/close2.err")"
ok "ctl close $ID: curl saw a reset (exit 56: $(tr -d '\n' <"$TP_TMP/curl.log")), flow gone, counted; closing it again: no such flow"

# ---- 6. garbage during a 200 MB transfer ----
tp_mkfile "$TP_TMP/xfer.bin" 200
# the garbage goes on (random, 1 MiB line, silent; again) until the transfer is done
tp_bg garbage-ctl "$NS_C" timeout 150 "$PYTHON" "$GARBAGE" --unix "$CTL" --silent 50 --random 20 --bigline 1 \
  --deadline 12 --until "$TP_TMP/xfer.done"
G1=$TP_LAST_PID
tp_bg garbage-http "$NS_C" timeout 150 "$PYTHON" "$GARBAGE" --tcp "$METRICS" --silent 50 --random 20 --bigline 1 \
  --deadline 12 --until "$TP_TMP/xfer.done"
G2=$TP_LAST_PID
tp_xfer down 4 "$TP_DST4" 7600 "$TP_TMP/xfer.bin" "200 MB download while garbage hits ctl and /metrics"
tp_xfer up 4 "$TP_DST4" 7601 "$TP_TMP/xfer.bin" "200 MB upload while garbage hits ctl and /metrics"
touch "$TP_TMP/xfer.done"
wait "$G1" || fail "control socket garbage: $(cat "$TP_TMP/garbage-ctl.log")"
wait "$G2" || fail "metrics garbage: $(cat "$TP_TMP/garbage-http.log")"
sed 's/^/    ctl:     /' "$TP_TMP/garbage-ctl.log" >&2
sed 's/^/    metrics: /' "$TP_TMP/garbage-http.log" >&2
tp_gw_check_alive
[[ $(rows --handler echo | wc -l) == 1 ]] || fail "ctl after the garbage: $(ctl flows 2>&1)"
metrics | promtool check metrics || fail "metrics after the garbage"
ok "garbage (50 silent, 20 random, a 1 MiB line) to both: refused and closed in time; both still answer"

# ---- 7. the socket path ----
nsc timeout 10 "$TUNPLUG" --tun-name tp1 --control "$CTL" >"$TP_TMP/second.log" 2>&1 && fail "a second gateway on $CTL started"
grep -q "a running tunplug listens there" "$TP_TMP/second.log" || fail "second gateway: $(cat "$TP_TMP/second.log")"
ok "a second gateway on the same path: $(grep -o 'control socket.*' "$TP_TMP/second.log" | head -1)"
tp_gw_stop_ok
[[ -e $CTL ]] && fail "$CTL left behind at exit"
"$PYTHON" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$CTL"
[[ -S $CTL ]] || fail "could not make a stale socket"
tp_gw_start --control "$CTL"
[[ $(rows | wc -l) == 0 ]] || fail "ctl on the replaced stale socket"
ok "a stale socket file is replaced"
tp_gw_stop_ok
touch "$CTL"
nsc timeout 10 "$TUNPLUG" --tun-name tp1 --control "$CTL" >"$TP_TMP/file.log" 2>&1 && fail "started over a regular file"
grep -q "exists and is not a socket" "$TP_TMP/file.log" || fail "regular file: $(cat "$TP_TMP/file.log")"
[[ -f $CTL ]] || fail "the regular file was removed"
rm -f "$CTL"
tp_gw_start --control none
grep -q "control socket" "$TP_GW_LOG" && fail "--control none: $(grep 'control socket' "$TP_GW_LOG")"
tp_gw_stop_ok
ok "a regular file on the path is refused and kept; --control none: no socket"

# ---- 8. --queues 2 ----
tp_gw_start --queues 2 --control "$CTL" --metrics "$METRICS"
tp_bg idle "$NS_C" timeout 100 "$PYTHON" "$TP_TOOL" idle --host "$TP_DST4" --port "$IDLE_PORT" -n 16 --hold 90
nrows() { (($(rows | wc -l) == $1)); }
poll 15 nrows 16 ||
  fail "want 16 flows from the master: $(ctl flows)"
ids=$(rows | awk '{print $1}')
n1=$(grep -c '^1-' <<<"$ids" || true)
n2=$(grep -c '^2-' <<<"$ids" || true)
((n1 + n2 == 16 && n1 > 0 && n2 > 0)) || fail "flows per worker $n1 + $n2: $ids"
[[ $(sort -u <<<"$ids" | wc -l) == 16 ]] || fail "ids not unique: $ids"
[[ $(json_flows) == 16 ]] || fail "--json with --queues"
[[ $(cstat flows_seen) -ge 16 && $(cstat tcp_flows) == 16 ]] || fail "summed stats: seen $(cstat flows_seen), tcp_flows $(cstat tcp_flows)"
metrics | promtool check metrics || fail "the master's metrics"
[[ $(metrics | grep -cE '^tunplug_(start_time_seconds|tun_tx_dropped_total|tun_txqueuelen) ') == 3 ]] ||
  fail "the master's device counters and start time: $(metrics | grep -E 'start_time|tun_tx')"
grep -q '^tunplug_flows_open{handler="direct",proto="tcp",state="open"} 16$' <<<"$(metrics)" || fail "master flows_open: $(metrics | grep flows_open)"
CID=$(head -n 1 <<<"$ids")
[[ $(ctl close "$CID") == "closed $CID" ]] || fail "close $CID with --queues"
poll 5 nrows 15 || fail "after close $CID: $(ctl flows)"
ctl close 7-1 2>/dev/null && fail "close 7-1 (no worker 7) succeeded"
"$PYTHON" "$GARBAGE" --unix "$CTL" --silent 30 --random 5 --bigline 1 --deadline 12 >&2 || fail "garbage to the master"
[[ $(rows | wc -l) == 15 ]] || fail "the master after the garbage: $(ctl flows)"
ok "--queues 2: $n1 flows of worker 1 and $n2 of worker 2, ids unique, stats summed, metrics pass, close $CID"
tp_gw_stop_ok
echo "e2e_ctl: PASS"
