#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_ecmp_bird: README's "More than one host" with BIRD 2 doing the routing,
# using the example configs as they are: examples/bird/router.conf on the
# router, examples/bird/gateway.conf on gateway A and the same file with B's
# addresses (82 -> 83) on B. The topology is e2e_ecmp's (ecmplib.sh), with no
# static route for the captured prefix: only BGP puts it on the router.
#  - BGP (with BFD) up on all four sessions; without tunplug the router has
#    no route for 198.19.0.0/16 or fd00:19::/64 (nothing announced)
#  - tunplug on A: the router's route is via A alone; tunplug on B too: one
#    ECMP route over both (merge paths), IPv4 and IPv6; 100 IPv4 + 50 IPv6
#    flows all get their token back and both gateways carry a share
#  - tunplug on B stopped (SIGTERM): within 10 s the router's routes are via
#    A alone, and 50 new flows all go through A
#  - tunplug on B started again (ECMP over both again), then killed
#    (SIGKILL): within 10 s via A alone
#  - tunplug on A stopped: within 10 s no route at all
# Each bound is a poll with a deadline.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root bird birdc sha256sum
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
# shellcheck source=ecmplib.sh
source "$TP_E2E_DIR/ecmplib.sh"
EXAMPLES=$(cd "$TP_E2E_DIR/../../examples/bird" && pwd)

ecmp_topo_up
sed -e 's/198\.18\.82\./198.18.83./g' -e 's/fd00:82::/fd00:83::/g' "$EXAMPLES/gateway.conf" \
  >"$TP_TMP/gateway-b.conf"
# bird_start NAME NS CONF: BIRD in the foreground of a background job, its
# control socket in $TP_TMP/NAME.ctl
bird_start() {
  tp_bg "bird-$1" "$2" bird -f -c "$3" -s "$TP_TMP/$1.ctl" -P "$TP_TMP/$1.pid"
}
birdc_r() { birdc -s "$TP_TMP/router.ctl" "$@"; }
bird_start router "$NS_R" "$EXAMPLES/router.conf"
bird_start gwa "$NS_A" "$EXAMPLES/gateway.conf"
bird_start gwb "$NS_B" "$TP_TMP/gateway-b.conf"

deadline=$(($(now_ms) + 60000))
until [[ $(birdc_r show protocols 2>/dev/null | grep -c '^gw_.*Established') == 4 ]]; do
  (($(now_ms) < deadline)) || fail "BGP not established on all four sessions: $(birdc_r show protocols 2>&1)"
  sleep 0.2
done
ok "BGP established on the router's four sessions (gw_a4, gw_b4, gw_a6, gw_b6)"
# BFD (bfd on in both configs): all four sessions come up
deadline=$(($(now_ms) + 30000))
until [[ $(birdc_r show bfd sessions 2>/dev/null | grep -c ' Up ' || true) == 4 ]]; do
  (($(now_ms) < deadline)) || fail "BFD sessions not all up: $(birdc_r show bfd sessions 2>&1)"
  sleep 0.2
done
ok "BFD up on the router's four sessions"

# nexthops FAM: the router's nexthops for the captured prefix, sorted, one line
nexthops() {
  local net=$NET4
  [[ $1 == 6 ]] && net=$NET6
  ip -n "$NS_R" -"$1" route show "$net" | { grep -oE 'via [0-9a-f.:]+' || true; } |
    awk '{ print $2 }' | sort | tr '\n' ' ' | sed 's/ $//'
}
# wait_nexthops WHAT SECONDS WANT4 WANT6: poll until both families match
wait_nexthops() {
  local what=$1 t=$2 w4=$3 w6=$4 t0 h4 h6
  t0=$(now_ms)
  while :; do
    h4=$(nexthops 4) h6=$(nexthops 6)
    [[ $h4 == "$w4" && $h6 == "$w6" ]] && break
    (($(now_ms) - t0 < t * 1000)) ||
      fail "$what: after ${t}s the router's nexthops are '$h4' / '$h6', want '$w4' / '$w6'"
    sleep 0.1
  done
  ok "$what: the router's routes are via '${w4:-nothing}' / '${w6:-nothing}' after $(($(now_ms) - t0)) ms"
}

wait_nexthops "no tunplug yet" 1 "" ""
gateway_start A
wait_nexthops "tunplug on A" 15 "$GW4_A" "$GW6_A"
gateway_start B
wait_nexthops "tunplug on A and B" 15 "$GW4_A $GW4_B" "$GW6_A $GW6_B"
log "router: $(ip -n "$NS_R" route show "$NET4" | tr -s '\n\t ' ' ')"

flows both4 4 21000 100
a4=$N_A b4=$N_B
flows both6 6 23000 50
a6=$N_A b6=$N_B
((a4 >= 20 && b4 >= 20 && a6 >= 10 && b6 >= 10)) ||
  fail "the flows did not spread: IPv4 A $a4 / B $b4, IPv6 A $a6 / B $b6"
ok "100 IPv4 + 50 IPv6 flows over the BGP-learned ECMP route, every token back: IPv4 A $a4 / B $b4, IPv6 A $a6 / B $b6"

gateway_stop B
wait_nexthops "tunplug on B stopped" 10 "$GW4_A" "$GW6_A"
flows after4 4 22000 50
((N_A == 50)) || fail "after B's withdrawal, IPv4 flows: A $N_A / B $N_B"
ok "50 new flows after B's withdrawal: all through A"

gateway_start B
wait_nexthops "tunplug on B again" 15 "$GW4_A $GW4_B" "$GW6_A $GW6_B"
kill -KILL "$GW_PID_B"
wait "$GW_PID_B" 2>/dev/null || true
GW_PID_B=""
wait_nexthops "tunplug on B killed (SIGKILL)" 10 "$GW4_A" "$GW6_A"
gateway_stop A
wait_nexthops "tunplug on A stopped too" 10 "" ""
