#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_maxflows: tunplug with --max-flows 4.
#  - 4 long-lived TCP connections to an echo server in the server namespace
#    (each verified with a 1-byte echo) are held open; the gateway reports 4
#    stack flows, the server sees 4 established connections
#  - a 5th connect(), over IPv4 and over IPv6, fails in under 1 s with
#    EHOSTUNREACH / EACCES (the gateway answers the SYN with ICMP
#    administratively prohibited: a policy, not a closed port) and never
#    reaches the server
#  - after one of the 4 is closed (and the gateway's flow count drops to 3),
#    a new connection succeeds and is held; a 5th is refused again
#  - the 4 held connections are still alive and echo afterwards
#  - the summary after SIGTERM counts the refusals: "max-flows 3", and the
#    answers: "prohibited 3"
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's --max-flows, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

MAX=4
PORT=7410
tp_bg echo "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --host "$TP_DST6" --port "$PORT" --timeout 100
tp_wait_listen "$NS_S" "$PORT" 5 2
tp_gw_start --max-flows "$MAX"

# gw_flows_now: SIGUSR1, print "now N" of the stack's TCP flows from the new summary
gw_flows_now() {
  local off i line
  off=$(stat -c %s "$TP_GW_LOG")
  tp_gw_signal USR1
  for ((i = 0; i < 40; i++)); do
    line=$(tail -c +"$((off + 1))" "$TP_GW_LOG" | grep -oE 'stack tcp flows: .*now [0-9]+' | tail -n 1) || true
    if [[ -n $line ]]; then
      echo "${line##* }"
      return 0
    fi
    sleep 0.05
  done
  fail "no 'stack tcp flows' line within 2 s of SIGUSR1"
}

# wait_flows N: until the gateway holds N stack flows (at most 5 s)
wait_flows() {
  local want=$1 n i
  for ((i = 0; i < 25; i++)); do
    n=$(gw_flows_now)
    [[ $n -eq $want ]] && return 0
    sleep 0.2
  done
  fail "the gateway holds $n TCP flows, want $want (waited 5 s)"
}

# server_conns: established TCP connections on the echo server's port
server_conns() { nss ss -Htn state established "sport = :$PORT" | wc -l; }

# hold NAME: one connection (1-byte echo verified), held until $TP_TMP/NAME.stop exists
HOLD_PID=()
hold() {
  local name=$1 i
  tp_bg "$name" "$NS_C" timeout 50 "$PYTHON" "$TP_TOOL" idle --host "$TP_DST4" --port "$PORT" -n 1 \
    --open-timeout 10 --hold 45 --stop-file "$TP_TMP/$name.stop" --recheck
  HOLD_PID+=("$TP_LAST_PID")
  for ((i = 0; i < 200; i++)); do
    grep -q '"event": "open"' "$TP_TMP/$name.log" 2>/dev/null && break
    sleep 0.05
  done
  grep -q '"opened": 1' "$TP_TMP/$name.log" || fail "$name: could not open a held connection: $(cat "$TP_TMP/$name.log")"
}

# release NAME PID: stop a holder; its re-check (1-byte echo) must pass
release() {
  local name=$1 pid=$2 rc=0
  touch "$TP_TMP/$name.stop"
  wait "$pid" || rc=$?
  if [[ $rc -ne 0 ]] || ! grep -q '"alive": 1' "$TP_TMP/$name.log"; then
    fail "$name: the held connection did not survive (status $rc): $(cat "$TP_TMP/$name.log")"
  fi
}

# refused HOST ERRNO: a connect beyond the limit fails with ERRNO within 1 s
refused() {
  local out
  out=$(nsc timeout 20 "$PYTHON" "$TP_TOOL" connect --host "$1" --port "$PORT" --expect "$2" \
    --max 1 --timeout 10) || fail "connection beyond --max-flows $MAX to $1: want $2 within 1 s, got: $out"
  printf '%s\n' "$out"
}

for i in 1 2 3 4; do hold "held$i"; done
wait_flows 4
n=$(server_conns)
[[ $n -eq 4 ]] || fail "the server sees $n established connections, want 4"
ok "4 long-lived connections through the gateway (echo verified): gateway holds 4 flows, server sees 4"

out=$(refused "$TP_DST4" EHOSTUNREACH)
ok "5th connection (IPv4) refused, ICMP prohibited: $out"
out=$(refused "$TP_DST6" EACCES)
ok "5th connection (IPv6) refused, ICMPv6 prohibited: $out"
n=$(server_conns)
[[ $n -eq 4 ]] || fail "after the refusals the server sees $n established connections, want 4"
n=$(gw_flows_now)
[[ $n -eq 4 ]] || fail "after the refusals the gateway holds $n flows, want 4"
ok "the refused SYNs never reached the server (still 4 connections there, 4 flows in the gateway)"

release held1 "${HOLD_PID[0]}"
wait_flows 3
ok "closed one of the 4 (its echo re-check passed); the gateway's flow count dropped to 3"
hold held5
wait_flows 4
ok "a new connection succeeds after one was closed (echo verified), the gateway holds 4 flows again"
out=$(refused "$TP_DST4" EHOSTUNREACH)
ok "the limit still holds: another 5th connection (IPv4) refused: $out"

for i in 2 3 4 5; do release "held$i" "${HOLD_PID[$((i - 1))]}"; done
ok "the 4 held connections were alive and echoed a byte after the refusals"

tp_gw_check_alive
tp_gw_stop_ok
lim=$(grep -oE 'max-flows [0-9]+' <<<"$TP_GW_SUMMARY") || fail "no 'max-flows N' in the summary"
pro=$(grep -oE 'answered:.* prohibited [0-9]+' <<<"$TP_GW_SUMMARY") || fail "no 'prohibited N' answers in the summary"
[[ ${lim##* } -eq 3 && ${pro##* } -eq 3 ]] || fail "summary counts '$lim', '${pro##*: }', want 3 of each"
ok "summary counts the max-flows refusals and their answers: $lim, ${pro##*answered: }"
echo "e2e_maxflows: PASS"
