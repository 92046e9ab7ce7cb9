#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_signals: process behaviour of tunplug.
#  - SIGUSR1 prints counters and tunplug keeps running
#  - SIGTERM with open flows (20 idle + 1 busy download): exit 0 within 3 s,
#    a summary on stderr, and nothing of ours left: tp0 gone, no route or
#    address of tunplug's in the namespace
#  - the same with SIGINT (also shows a restart after a clean exit works)
#  - SIGINT then SIGTERM 20 ms later (a terminal's Ctrl-C reaches the whole
#    process group, and a wrapper script then sends SIGTERM): still exit 0
#    and nothing left, the second signal only logged
#  - SIGQUIT forces the stop: exit 1 at once, and the routes and addresses
#    are still removed (a third SIGINT/SIGTERM takes the same path; it
#    cannot be timed reliably here: a stop with 20 flows takes milliseconds)
#  - bad command lines exit 2 and name the offending option; --help and
#    --version exit 0
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root socat
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug itself, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

ECHO_PORT=7400
BUSY_PORT=7401
tp_bg echo "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --host "$TP_DST6" --port "$ECHO_PORT" --timeout 100
tp_wait_listen "$NS_S" "$ECHO_PORT"

# nothing_left WHEN: no tun device, route or address of tunplug's in $NS_C
nothing_left() {
  local when=$1 left=""
  ip -n "$NS_C" link show "$TP_TUN" >/dev/null 2>&1 && left+=" device $TP_TUN;"
  [[ -z $(ip -n "$NS_C" route show "$TP_NET4" dev "$TP_TUN" 2>/dev/null) ]] || left+=" route $TP_NET4;"
  if grep -qF "dev $TP_TUN" <<<"$(ip -n "$NS_C" route show table main)"; then left+=" v4 route via $TP_TUN;"; fi
  if grep -qF "dev $TP_TUN" <<<"$(ip -n "$NS_C" -6 route show table main)"; then left+=" v6 route via $TP_TUN;"; fi
  if grep -qE '198\.19\.255\.1/|fd00:19:ffff::1/' <<<"$(ip -n "$NS_C" addr show)"; then left+=" tun address;"; fi
  # our own policy routing must be untouched
  [[ -n $(ip -n "$NS_C" rule show pref 100) ]] || left+=" (our fwmark rule vanished!);"
  [[ -z $left ]] || fail "$when: left behind:$left"
  ok "$when: $TP_TUN gone, no tunplug route or address left in $NS_C"
}

# with_flows SIG: start tunplug, open flows, stop it with SIG
with_flows() {
  local sig=$1 idle_pid busy_pid i
  tp_gw_start
  ip -n "$NS_C" link show "$TP_TUN" >/dev/null || fail "no $TP_TUN after 'ready'"
  grep -qF "dev $TP_TUN" <<<"$(ip -n "$NS_C" route show table main)" || fail "no route into $TP_TUN after 'ready'"
  tp_bg "idle-$sig" "$NS_C" timeout 60 "$PYTHON" "$TP_TOOL" idle --host "$TP_DST4" --port "$ECHO_PORT" -n 20 --hold 40 --recheck
  idle_pid=$TP_LAST_PID
  for ((i = 0; i < 200; i++)); do
    grep -q '"event": "open"' "$TP_TMP/idle-$sig.log" && break
    sleep 0.05
  done
  grep -q '"opened": 20' "$TP_TMP/idle-$sig.log" || fail "could not open 20 flows: $(cat "$TP_TMP/idle-$sig.log")"
  tp_bg "busy-srv-$sig" "$NS_S" timeout 30 socat -u OPEN:/dev/zero "TCP6-LISTEN:$BUSY_PORT,bind=[$TP_DST6],reuseaddr"
  tp_wait_listen "$NS_S" "$BUSY_PORT"
  tp_bg "busy-cli-$sig" "$NS_C" timeout 30 socat -u "TCP6:[$TP_DST6]:$BUSY_PORT" OPEN:/dev/null
  busy_pid=$TP_LAST_PID
  sleep 1
  tp_alive "$busy_pid" || fail "the busy download is not running: $(cat "$TP_TMP/busy-cli-$sig.log")"
  ok "20 idle IPv4 flows + 1 busy IPv6 download open through tunplug"

  if [[ $sig == TERM ]]; then
    local off
    off=$(stat -c %s "$TP_GW_LOG")
    tp_gw_signal USR1
    sleep 0.5
    tp_gw_check_alive
    (($(stat -c %s "$TP_GW_LOG") > off)) || fail "SIGUSR1 printed nothing on stderr"
    ok "SIGUSR1: tunplug printed counters and keeps running:"
    tail -c +"$((off + 1))" "$TP_GW_LOG" | sed 's/^/    /'
  fi

  tp_gw_stop "$sig" 3
  [[ $TP_GW_RC -eq 0 ]] || fail "exit status $TP_GW_RC after SIG$sig with open flows (want 0)"
  ok "SIG$sig with 21 open flows: exit 0 after ${TP_GW_STOP_MS} ms"
  [[ -n $TP_GW_SUMMARY ]] || fail "no summary on stderr after SIG$sig"
  ok "summary after SIG$sig: $(wc -l <<<"$TP_GW_SUMMARY") lines on stderr (shown above)"
  nothing_left "after SIG$sig"
  # the clients' flows must not stay open against a dead gateway
  for ((i = 0; i < 100; i++)); do tp_alive "$busy_pid" || break; sleep 0.05; done
  if tp_alive "$busy_pid"; then
    log "note: the busy download's client still runs 5 s after the gateway exited"
  fi
  kill -TERM "$idle_pid" 2>/dev/null || true
}

with_flows TERM
with_flows INT

# open_flows TAG: 20 idle flows through a running tunplug
open_flows() {
  local tag=$1 i
  tp_bg "idle-$tag" "$NS_C" timeout 60 "$PYTHON" "$TP_TOOL" idle --host "$TP_DST4" --port "$ECHO_PORT" -n 20 --hold 40 --recheck
  for ((i = 0; i < 200; i++)); do
    grep -q '"opened": 20' "$TP_TMP/idle-$tag.log" && break
    sleep 0.05
  done
  grep -q '"opened": 20' "$TP_TMP/idle-$tag.log" || fail "could not open 20 flows: $(cat "$TP_TMP/idle-$tag.log")"
  TP_IDLE_PID=$TP_LAST_PID
}

# wait_exit T: wait up to T s for tunplug to exit; sets TP_GW_RC
wait_exit() {
  local t=$1 t0 pid=$TP_GW_PID
  t0=$(now_ms)
  while tp_alive "$pid"; do
    (($(now_ms) - t0 < t * 1000)) || { kill -KILL "$pid"; fail "tunplug still running ${t}s after the signals"; }
    sleep 0.02
  done
  TP_GW_RC=0
  wait "$pid" || TP_GW_RC=$?
  TP_GW_PID=""
}

# A second stop signal during the stop changes nothing.
tp_gw_start
open_flows double
off=$(stat -c %s "$TP_GW_LOG")
kill -INT "$TP_GW_PID"
sleep 0.02
kill -TERM "$TP_GW_PID" 2>/dev/null || true
wait_exit 5
[[ $TP_GW_RC -eq 0 ]] || fail "SIGINT + SIGTERM: exit status $TP_GW_RC (want 0): $(tail -c +"$((off + 1))" "$TP_GW_LOG")"
if ! tail -c +"$((off + 1))" "$TP_GW_LOG" | grep -q "already stopping"; then
  log "note: tunplug had finished stopping before the SIGTERM arrived"
fi
ok "SIGINT, then SIGTERM 20 ms later: exit 0"
nothing_left "after SIGINT + SIGTERM"
kill -TERM "$TP_IDLE_PID" 2>/dev/null || true

# force SIG...: the signals in a row; exit 1, configuration still undone
force() {
  tp_gw_start
  open_flows "force-$1"
  off=$(stat -c %s "$TP_GW_LOG")
  for sig in "$@"; do kill -s "$sig" "$TP_GW_PID" 2>/dev/null || true; done
  wait_exit 5
  [[ $TP_GW_RC -eq 1 ]] || fail "SIG$*: exit status $TP_GW_RC (want 1, a forced stop)"
  tail -c +"$((off + 1))" "$TP_GW_LOG" | grep -q "forced stop" || fail "SIG$*: no 'forced stop' in the log"
  ok "SIG$*: forced stop, exit 1"
  nothing_left "after SIG$*"
  kill -TERM "$TP_IDLE_PID" 2>/dev/null || true
}
force QUIT

# command line errors: exit 2, message names the option; nothing created
cli() { # WANT_RC PATTERN ARGS...
  local want=$1 pat=$2 rc=0 out
  shift 2
  out=$(nsc timeout 5 "$TUNPLUG" "$@" 2>&1) || rc=$?
  [[ $rc -eq $want ]] || fail "tunplug $*: exit $rc, want $want; output: $(head -c 300 <<<"$out")"
  grep -qiE -- "$pat" <<<"$out" || fail "tunplug $*: output does not mention /$pat/: $(head -c 300 <<<"$out")"
  ok "tunplug $*: exit $rc, output mentions /$pat/ ($(head -n 1 <<<"$out" | head -c 100))"
}
cli 2 'no-such-option' --no-such-option
cli 2 'mtu' --tun-name "$TP_TUN" --mtu notanumber
cli 2 'handler' --tun-name "$TP_TUN" --handler no-such-handler
cli 2 'address' --tun-name "$TP_TUN" --address 300.1.2.3/33
cli 2 'route' --tun-name "$TP_TUN" --route
cli 2 'log-level' --log-level loud
cli 0 '--tun-name' --help
cli 0 '[0-9]+\.[0-9]+' --version
ip -n "$NS_C" link show "$TP_TUN" >/dev/null 2>&1 && fail "a failed command line left $TP_TUN behind"
ok "no $TP_TUN after the command-line errors"
echo "e2e_signals: PASS"
