#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_forbidden: destinations a client behind the tun must not reach.
# SYNs to 127.0.0.1, 127.1.2.3, the tun's own address 198.19.255.1 and ::1
# never arrive through routing, so they are handed to tunplug through the tun
# itself (AF_PACKET transmit on tp0, see inject.py); tunplug must answer each
# with ICMP (ICMPv6) destination unreachable, administratively prohibited,
# from that address and quoting the SYN, count it under "loopback" (and the
# answer under "prohibited"), and never open a connection. With
# --allow-loopback the SYN to a listener on 127.0.0.1 in the gateway's
# namespace is instead relayed (SYN-ACK comes back).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root
tp_require_tunplug "${1:-}"
tp_topo_up

INJECT=$TP_E2E_DIR/inject.py
PORT=7400
# a listener on the gateway host's loopback: the thing that must stay out of reach
tp_bg loopsrv "$NS_C" "$PYTHON" "$TP_TOOL" hashserver --host 127.0.0.1 --port "$PORT" --timeout 100
tp_wait_listen "$NS_C" "$PORT"

inject() { # SRC DST -> prints rst|synack|none
  nsc timeout 10 "$PYTHON" "$INJECT" --dev "$TP_TUN" --src "$1" --dst "$2" --dport "$PORT" --wait 2
}

tp_gw_start
n=0
for d in 127.0.0.1 127.1.2.3 198.19.255.1; do
  got=$(inject "$TP_C4" "$d")
  [[ $got == prohibited ]] || fail "SYN to $d:$PORT: want ICMP prohibited from the gateway, got '$got'"
  ok "SYN to $d:$PORT -> ICMP administratively prohibited from $d (no connection to the gateway host)"
  n=$((n + 1))
done
got=$(inject "$TP_C6" ::1)
[[ $got == prohibited ]] || fail "SYN to [::1]:$PORT: want ICMPv6 prohibited, got '$got'"
ok "SYN to [::1]:$PORT -> ICMPv6 administratively prohibited"
n=$((n + 1))
# the injection path itself works: a normal destination is relayed (SYN-ACK)
tp_bg hashserver "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --port "$PORT" --timeout 100
tp_wait_listen "$NS_S" "$PORT"
got=$(inject "$TP_C4" "$TP_DST4")
[[ $got == synack ]] || fail "control: SYN to $TP_DST4:$PORT: want SYN-ACK, got '$got'"
ok "control: injected SYN to $TP_DST4:$PORT is relayed (SYN-ACK)"
tp_gw_stop_ok
grep -qE "loopback $n(;|$)" <<<"$(grep 'syn:' <<<"$TP_GW_SUMMARY")" ||
  fail "summary must count $n loopback refusals: $(grep 'syn:' <<<"$TP_GW_SUMMARY")"
grep -q " prohibited $n " <<<"$(grep 'refused syn answered' <<<"$TP_GW_SUMMARY") " ||
  fail "summary must count $n prohibited answers: $(grep 'refused syn answered' <<<"$TP_GW_SUMMARY")"
ok "summary counts $n loopback refusals, answered prohibited: $(grep -E 'syn:|refused syn answered' <<<"$TP_GW_SUMMARY" | sed 's/^ *//' | tr '\n' ' ')"

tp_gw_start --allow-loopback
got=$(inject "$TP_C4" 127.0.0.1)
[[ $got == synack ]] || fail "--allow-loopback: SYN to 127.0.0.1:$PORT: want SYN-ACK, got '$got'"
ok "--allow-loopback: SYN to 127.0.0.1:$PORT reaches the listener (SYN-ACK)"
tp_gw_stop_ok
echo "e2e_forbidden: PASS"
