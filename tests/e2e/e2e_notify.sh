#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_notify: tunplug under a systemd-like notification socket (what
# Type=notify gives a service): notifyrecv.py binds a unix datagram socket,
# NOTIFY_SOCKET names it, and every sd_notify message is logged with its
# sender's pid (SO_PASSCRED).
#  - single process (-c FILE): READY=1 comes from tunplug's pid, and at that
#    moment (checked by notifyrecv.py before it reads on) the tun is UP and
#    its route 198.19.0.0/16 exists; READY carries STATUS= with flow counts;
#    a later periodic STATUS= (every 5 s) counts the flows a client made
#  - SIGHUP: RELOADING=1 (with MONOTONIC_USEC=), then READY=1; a refused
#    reload (broken file) also ends with READY=1
#  - SIGTERM: STOPPING=1, the last message
#  - --queues 2: every message from the master's pid, READY=1 once both
#    workers are (STATUS says 2/2 workers), the route there; SIGHUP:
#    RELOADING=1, then READY=1 after "reloaded ... in all 2 workers"; a
#    broken file: refused by the master, no worker sees it, READY=1 again;
#    SIGTERM: STOPPING=1, both workers exit 0
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root socat
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's notifications, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
"$TUNPLUG" --version | grep -q 'systemd notify)' ||
  { echo "SKIP: $TP_TEST: tunplug built without libsystemd ($("$TUNPLUG" --version))"; exit 77; }
tp_topo_up

RECV=$TP_E2E_DIR/notifyrecv.py
CONF=$TP_TMP/tunplug.yaml
printf 'handler: direct\nrules:\n  - {proto: tcp, port: 5002, handler: reject}\n' >"$CONF"
# the moment READY=1 arrives: the tun is UP and its IPv4 route is there
ON_READY="ip -n $NS_C -o link show $TP_TUN | grep -qE '<([A-Z_]+,)*UP[,>]' &&
  ip -n $NS_C -o route show $TP_NET4 dev $TP_TUN | grep -q . && echo 'tun up, route present'"

# wait_for FILE PATTERN SECONDS [AFTER_LINE]: a line matching PATTERN after
# line AFTER_LINE (0); prints its line number
wait_for() {
  local f=$1 pat=$2 t=$3 after=${4:-0} deadline n
  deadline=$(($(now_ms) + t * 1000))
  while :; do
    n=$(awk -v a="$after" -v p="$pat" 'NR > a && $0 ~ p {print NR; exit}' "$f" 2>/dev/null)
    [[ -n $n ]] && { echo "$n"; return 0; }
    (($(now_ms) < deadline)) || return 1
    sleep 0.05
  done
}
# start_recv NAME: the notification socket; sets SOCK, OUT
start_recv() {
  SOCK=$TP_TMP/$1.sock
  OUT=$TP_TMP/$1.txt
  : >"$OUT"
  tp_bg "recv-$1" "$NS_C" "$PYTHON" "$RECV" "$SOCK" "$OUT" --on-ready "$ON_READY" --timeout 150
  wait_for "$OUT" listening 10 >/dev/null || fail "notifyrecv.py did not start"
}
start_gw() {
  export NOTIFY_SOCKET=$SOCK
  tp_gw_start "$@"
  unset NOTIFY_SOCKET
}
# every message of OUT came from pid $1
all_from() {
  local bad
  bad=$(grep ' pid=' "$OUT" | grep -v " pid=$1 " || true)
  [[ -z $bad ]] || fail "messages from another pid than $1: $bad"
}

# ---- one process ----
start_recv single
start_gw -c "$CONF"
r=$(wait_for "$OUT" 'READY=1' 10) || fail "no READY=1 within 10 s: $(cat "$OUT")"
line=$(sed -n "${r}p" "$OUT")
grep -q " pid=$TP_GW_PID READY=1|STATUS=0 flows open" <<<"$line" ||
  fail "READY=1 not from tunplug (pid $TP_GW_PID) with a STATUS: $line"
ok "READY=1 from tunplug's pid with its status: $line"
c=$(wait_for "$OUT" 'on-ready' 5 "$r") || fail "no on-ready check result"
grep -q 'on-ready rc=0 out=tun up, route present' <<<"$(sed -n "${c}p" "$OUT")" ||
  fail "when READY=1 came, the tun was not up or its route missing: $(sed -n "${c}p" "$OUT")"
ok "when READY=1 arrived the tun was UP and its route present"
head -n "$((r - 1))" "$OUT" | grep -v listening &&
  fail "messages before READY=1: $(head -n "$r" "$OUT")"

# a flow, then the periodic STATUS counts it
tp_bg sink "$NS_S" timeout 60 socat -u "TCP4-LISTEN:5003,bind=$TP_DST4,reuseaddr,fork" OPEN:/dev/null
tp_wait_listen "$NS_S" 5003
head -c 100000 /dev/urandom >"$TP_TMP/blob"
nsc timeout 10 socat -u "FILE:$TP_TMP/blob" "TCP4:$TP_DST4:5003" || fail "flow to :5003 failed"
s=$(wait_for "$OUT" 'pid=[0-9]+ STATUS=.* 1 seen, 1 accepted, 0 refused; 100.0 kB up' 8 "$r") ||
  fail "no periodic STATUS= counting the flow within 8 s: $(tail -n 3 "$OUT")"
ok "periodic STATUS=: $(sed -n "${s}p" "$OUT")"

# reload: RELOADING=1 ... READY=1
tp_gw_signal HUP
a=$(wait_for "$OUT" 'RELOADING=1[|]STATUS=reloading[|]MONOTONIC_USEC=[0-9]+$' 10 "$s") ||
  fail "no RELOADING=1 (with MONOTONIC_USEC) after SIGHUP: $(tail -n 3 "$OUT")"
b=$(wait_for "$OUT" 'READY=1' 10 "$a") || fail "no READY=1 after RELOADING=1"
grep -q 'SIGHUP: reloaded' "$TP_GW_LOG" || fail "the reload was not applied"
ok "SIGHUP: RELOADING=1 then READY=1 (lines $a, $b of the notifications), reload applied"
printf 'rules: [\n' >"$CONF"
tp_gw_signal HUP
a=$(wait_for "$OUT" 'RELOADING=1' 10 "$b") || fail "no RELOADING=1 after the second SIGHUP"
b=$(wait_for "$OUT" 'READY=1' 10 "$a") || fail "no READY=1 after a refused reload"
grep -q 'reload refused' "$TP_GW_LOG" || fail "the broken file was not refused"
ok "refused reload: RELOADING=1 then READY=1 again"

pid=$TP_GW_PID
tp_gw_stop_ok
e=$(wait_for "$OUT" 'STOPPING=1' 5 "$b") || fail "no STOPPING=1 after SIGTERM"
[[ $e -eq $(wc -l <"$OUT") ]] || fail "messages after STOPPING=1: $(tail -n +"$e" "$OUT")"
all_from "$pid"
ok "SIGTERM: STOPPING=1 is the last message; all from tunplug's pid"

# ---- --queues 2: the master speaks for its workers ----
printf 'handler: direct\nrules:\n  - {proto: tcp, port: 5002, handler: reject}\n' >"$CONF"
start_recv queues
start_gw -c "$CONF" --queues 2
pid=$TP_GW_PID
r=$(wait_for "$OUT" 'READY=1' 15) || fail "--queues 2: no READY=1 within 15 s: $(cat "$OUT")"
line=$(sed -n "${r}p" "$OUT")
grep -q " pid=$pid READY=1[|]STATUS=0 flows open.*; 2/2 workers" <<<"$line" ||
  fail "--queues 2: READY=1 not from the master (pid $pid) with 2/2 workers: $line"
c=$(wait_for "$OUT" 'on-ready' 5 "$r") || fail "no on-ready check result"
grep -q 'on-ready rc=0 out=tun up, route present' <<<"$(sed -n "${c}p" "$OUT")" ||
  fail "--queues 2: at READY=1 the tun was not up or its route missing"
[[ $(grep -c 'worker [12]: .*ready tun=' "$TP_GW_LOG") -eq 2 ]] ||
  fail "--queues 2: not both workers logged ready"
ok "--queues 2: READY=1 from the master once both workers are ready: $line"
tp_gw_signal HUP
a=$(wait_for "$OUT" 'RELOADING=1' 10 "$r") || fail "--queues 2: no RELOADING=1 after SIGHUP"
b=$(wait_for "$OUT" 'READY=1' 15 "$a") || fail "--queues 2: no READY=1 after the reload"
grep -q 'SIGHUP: reloaded .* in all 2 workers' "$TP_GW_LOG" ||
  fail "--queues 2: want 'reloaded ... in all 2 workers' in the log"
[[ $(grep -c 'worker [12]: .*SIGHUP: reloaded' "$TP_GW_LOG") -eq 2 ]] ||
  fail "--queues 2: not both workers reloaded"
ok "--queues 2: SIGHUP went to both workers; RELOADING=1 then READY=1"
printf 'rules: [\n' >"$CONF"
tp_gw_signal HUP
a=$(wait_for "$OUT" 'RELOADING=1' 10 "$b") || fail "--queues 2: no RELOADING=1 after the second SIGHUP"
b=$(wait_for "$OUT" 'READY=1' 10 "$a") || fail "--queues 2: no READY=1 after a refused reload"
grep -q 'tunplug: SIGHUP: reload refused.*bad YAML' "$TP_GW_LOG" ||
  fail "--queues 2: the master did not refuse the broken file"
[[ $(grep -c 'worker [12]: .*SIGHUP: reload' "$TP_GW_LOG") -eq 2 ]] ||
  fail "--queues 2: a worker saw the refused reload"
ok "--queues 2: a broken file is refused by the master, no worker reloads; READY=1 again"
tp_gw_stop_ok
grep -qE 'worker [12] \(pid [0-9]+\) (exited with status [1-9]|killed)' <<<"$TP_GW_SUMMARY" &&
  fail "--queues 2: a worker did not exit 0: $TP_GW_SUMMARY"
e=$(wait_for "$OUT" 'STOPPING=1' 5 "$b") || fail "--queues 2: no STOPPING=1"
all_from "$pid"
ok "--queues 2: STOPPING=1; every message from the master's pid"
grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$TP_TMP/tunplug.log" &&
  fail "sanitizer report in tunplug's log"
ok "no sanitizer report"

