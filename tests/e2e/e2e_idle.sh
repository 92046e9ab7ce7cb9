#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_idle: tunplug with --idle-timeout 2 (swept every 0.5 s).
#  - two connections through the gateway to an echo server, opened together:
#    a silent one (port 7501, sends nothing) and an active one (port 7502,
#    4 KiB every 0.5 s, every byte echoed back)
#  - the silent one: the client sees it reset or closed 1.8..4 s after the
#    connect (never before the timeout), a later send on it fails; the server
#    sees it end (EOF or reset) without having received a byte
#  - the active one lives through the whole 6 s (3 idle timeouts), every
#    echo matches what was sent, and it ends with a clean EOF after the
#    client's half-close; the server got exactly what the client sent
#  - the summary after SIGTERM counts exactly one idle close ("idle 1")
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's --idle-timeout, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

FLOWS=$TP_E2E_DIR/tpflows.py
IDLE=2
OBSERVE=6
MIN_CLOSE=1.8             # the idle timeout, less a little clock slack
MAX_CLOSE=4               # idle + one sweep interval (0.5 s) + generous margin
IDLE_PORT=7501
ACTIVE_PORT=7502
tp_bg idleserver "$NS_S" "$PYTHON" "$FLOWS" idleserver --host "$TP_DST4" --port "$IDLE_PORT" \
  --port "$ACTIVE_PORT" --max-conns 2 --timeout 40
SRV_PID=$TP_LAST_PID
tp_wait_listen "$NS_S" "$IDLE_PORT"
tp_wait_listen "$NS_S" "$ACTIVE_PORT"
tp_gw_start --idle-timeout "$IDLE"

out=$(nsc timeout 30 "$PYTHON" "$FLOWS" idleclient --host "$TP_DST4" --idle-port "$IDLE_PORT" \
  --active-port "$ACTIVE_PORT" --observe "$OBSERVE" --interval 0.5 --chunk 4096 \
  --min-close "$MIN_CLOSE" --max-close "$MAX_CLOSE") || fail "client: $out"
# field VALUE-OF-KEY from the client's JSON
field() { "$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$out" "$1"; }
ok "silent connection: client saw '$(field idle_end)' $(field idle_end_after_s) s after connect (--idle-timeout $IDLE; allowed $MIN_CLOSE..$MAX_CLOSE s); a send afterwards: $(field idle_send_after)"
ok "active connection (4 KiB every 0.5 s): alive for all ${OBSERVE} s, $(field active_echoed) of $(field active_sent) bytes echoed intact (longest gap between echoes $(field active_max_echo_gap_s) s), clean EOF after half-close"
[[ $(field idle_send_after) != accepted ]] || fail "a send on the reset connection was accepted: $out"

# the server's view: one line per connection when it ended
for ((i = 0; i < 100; i++)); do
  [[ $(grep -c '"server": "idle"' "$TP_TMP/idleserver.log" || true) -ge 2 ]] && break
  sleep 0.05
done
srv() { # PORT: the server's JSON line for the connection on PORT
  grep "\"port\": $1," "$TP_TMP/idleserver.log" || fail "the server logged nothing for port $1: $(cat "$TP_TMP/idleserver.log")"
}
sfield() { "$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
s_idle=$(srv "$IDLE_PORT")
end=$(sfield "$s_idle" end)
alive=$(sfield "$s_idle" alive_s)
[[ $end == eof || $end == reset ]] || fail "server: the silent connection ended with '$end', want eof or reset: $s_idle"
[[ $(sfield "$s_idle" bytes) -eq 0 ]] || fail "server: the silent connection carried data: $s_idle"
"$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[2]) <= float(sys.argv[1]) <= float(sys.argv[3]) else 1)' \
  "$alive" "$MIN_CLOSE" "$MAX_CLOSE" || fail "server: the silent connection lived $alive s, want $MIN_CLOSE..$MAX_CLOSE: $s_idle"
ok "server: the silent connection ended ($end) after $alive s, 0 bytes received"
s_act=$(srv "$ACTIVE_PORT")
[[ $(sfield "$s_act" end) == eof ]] || fail "server: the active connection did not end with EOF: $s_act"
[[ $(sfield "$s_act" bytes) -eq $(field active_sent) && $(sfield "$s_act" sha) == "$(field active_sha)" ]] ||
  fail "server: the active connection got other bytes than the client sent ($(field active_sent) bytes, sha256 $(field active_sha)): $s_act"
ok "server: the active connection got all $(field active_sent) bytes (sha256 matches), lived $(sfield "$s_act" alive_s) s, ended with EOF"
wait "$SRV_PID" 2>/dev/null || true

tp_gw_check_alive
tp_gw_stop_ok
flows=$(grep -oE 'closed [0-9]+ \(with error [0-9]+, idle [0-9]+\)' <<<"$TP_GW_SUMMARY") ||
  fail "no 'closed N (with error N, idle N)' in the summary"
n=${flows##*idle }
n=${n%)}
[[ $n -eq 1 ]] || fail "summary counts $n idle closes ('$flows'), want 1"
ok "summary counts the idle close: flows $flows"
echo "e2e_idle: PASS"
