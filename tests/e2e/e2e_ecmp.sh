#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_ecmp: scale-out across hosts. Two tunplug gateways behind a router
# that spreads the captured prefix over both with an ECMP route and the L4
# hash; no cluster layer, only routing.
#
#  netns C (client)      netns R (router)                netns A/B (gateways)        netns S
#  c0 198.18.81.2 ==== r0 198.18.81.1                    A: tunplug, tp0             lo 198.19.1.1
#  fd00:81::2             fd00:81::1                      --route 198.19.0.0/16       fd00:19::1
#  default via R          ra0 198.18.82.1 ===== ar0 198.18.82.2 (A)   as0 198.18.1.1 === sa0 198.18.1.2
#                         rb0 198.18.83.1 ===== br0 198.18.83.2 (B)   bs0 198.18.2.1 === sb0 198.18.2.2
#                         198.19.0.0/16, fd00:19::/64: nexthop A + nexthop B
#                         fib_multipath_hash_policy=1 (IPv4 and IPv6)
#
# The server namespace has no route to the client: every answer comes over a
# connection a gateway re-made, from that gateway's own address (198.18.1.1
# or fd00:18:1::1 for A, 198.18.2.1 or fd00:18:2::1 for B), which the server
# reports back to the client.
#  0. control: with fib_multipath_hash_policy=0 (L3 hash) 40 flows from the
#     client all take one gateway
#  1. with the L4 hash: 200 IPv4 + 100 IPv6 short flows from varying source
#     ports, 8 at a time: every one gets its own token back; both gateways
#     get a share (at least a quarter each)
#  2. meanwhile long flows (16 MiB paced over ~6 s, started until each
#     gateway carries one) arrive sha256-exact through the gateway they
#     started on
#  3. each gateway's SIGUSR1 summary counts exactly the flows the server saw
#     from it: no flow touched both (one that moved would be reset by the
#     other gateway, which has no state for it)
#  4. with long flows under way on both, B stops (SIGTERM, exit 0) and the
#     test does what a routing daemon would: `ip route replace` with A alone.
#     B's long flows end with an error within 30 s (no hang); A's complete
#     sha256-exact; 100 IPv4 + 50 IPv6 new flows all complete, all through A
#  5. B is started again and put back into the ECMP route; with long flows
#     on both, B is killed (SIGKILL: it resets nothing) and its routes are
#     withdrawn: B's long flows fail within 30 s (A, which has no state for
#     them, resets them), A's complete sha256-exact
# Shares: each gateway's `tunplug ctl flows` while long flows run; exact
# counts come from the SIGUSR1 summary ("stack tcp flows: opened N"). Note:
# on veths the router hashes with the sending socket's own L4 hash (the skb
# keeps it across namespaces), so which port goes where is not predictable
# with `ip route get ... sport`; a flow keeps that hash unless its sender
# picks a new one after a retransmission timeout (none happen here).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root sha256sum
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
# shellcheck source=ecmplib.sh
source "$TP_E2E_DIR/ecmplib.sh"

ecmp_topo_up
ip -n "$NS_R" route add "$NET4" nexthop via "$GW4_A" dev ra0 nexthop via "$GW4_B" dev rb0
ip -n "$NS_R" -6 route add "$NET6" nexthop via "$GW6_A" dev ra0 nexthop via "$GW6_B" dev rb0
log "static ECMP route on the router: $(ip -n "$NS_R" route show "$NET4" | tr -s "\n\t " " ")"

gateway_start A
gateway_start B

# --- 0: control: the L3 hash (policy 0) puts one client's flows to one
# destination on one gateway; the L4 hash is what spreads them ---
in_ns "$NS_R" sysctl -q -w net.ipv4.fib_multipath_hash_policy=0 >/dev/null
flows l3 4 20000 40
((N_A == 40 || N_B == 40)) || fail "with the L3 hash, 40 flows were split A $N_A / B $N_B"
ok "fib_multipath_hash_policy=0 (L3): all 40 flows through one gateway (A $N_A / B $N_B)"
in_ns "$NS_R" sysctl -q -w net.ipv4.fib_multipath_hash_policy=1 >/dev/null
L3_A=$N_A L3_B=$N_B

# --- 1-3: both gateways up, L4 hash ---
longs_on_both 6
ok "long flows under way: $LONGS"
# each gateway's `tunplug ctl flows` shows its share: at least its long flows
ca=$(ctl_long_flows A) cb=$(ctl_long_flows B)
((ca >= LONG_A && cb >= LONG_B)) ||
  fail "tunplug ctl flows: A lists $ca flows to the server (want >= $LONG_A), B $cb (want >= $LONG_B)"
ok "tunplug ctl flows: A lists $ca flows to the server ($LONG_A long on A), B $cb ($LONG_B long on B)"
flows short4 4 21000 200
a4=$N_A b4=$N_B
flows short6 6 23000 100
a6=$N_A b6=$N_B
((a4 >= 50 && b4 >= 50 && a6 >= 20 && b6 >= 20)) ||
  fail "the flows did not spread: IPv4 A $a4 / B $b4, IPv6 A $a6 / B $b6"
ok "200 IPv4 + 100 IPv6 short flows, every token back; IPv4 A $a4 / B $b4, IPv6 A $a6 / B $b6"
for lf in $LONGS; do
  long_result "${lf%%:*}"
  r=$R
  [[ $(jget "$r" ok) == True ]] || fail "long flow ${lf%%:*} (gateway ${lf#*:}): $r"
  [[ $(gw_of "$(jget "$r" peer)") == "${lf#*:}" ]] || fail "long flow ${lf%%:*} moved gateway: $r"
  ok "long flow ${lf%%:*} on gateway ${lf#*:}: 16 MiB sha256-exact in $(jget "$r" elapsed_s) s"
done
# each gateway opened exactly the flows the server saw from it: no flow
# touched both (a flow that moved would be reset by the other one)
na=$(opened_count A)
nb=$(opened_count B)
((na == L3_A + a4 + a6 + LONG_A)) ||
  fail "gateway A's summary: $na TCP flows opened, the server saw $((L3_A + a4 + a6)) short + $LONG_A long"
((nb == L3_B + b4 + b6 + LONG_B)) ||
  fail "gateway B's summary: $nb TCP flows opened, the server saw $((L3_B + b4 + b6)) short + $LONG_B long"
ok "SIGUSR1 summaries: gateway A opened $na TCP flows, B $nb: exactly what the server saw from each"

# --- 4: B goes away, its route is withdrawn ---
longs_on_both 10
ok "long flows under way: $LONGS"
gateway_stop B
ip -n "$NS_R" route replace "$NET4" via "$GW4_A" dev ra0
ip -n "$NS_R" -6 route replace "$NET6" via "$GW6_A" dev ra0
ok "routes withdrawn: $(ip -n "$NS_R" route show "$NET4") / $(ip -n "$NS_R" -6 route show "$NET6")"

flows after4 4 22000 100
((N_A == 100)) || fail "after the withdrawal, IPv4 flows: A $N_A / B $N_B"
flows after6 6 24000 50
((N_A == 50)) || fail "after the withdrawal, IPv6 flows: A $N_A / B $N_B"
ok "after the withdrawal: 100 IPv4 + 50 IPv6 new flows, every token back, all through A"

for lf in $LONGS; do
  long_result "${lf%%:*}"
  r=$R
  if [[ ${lf#*:} == A ]]; then
    [[ $(jget "$r" ok) == True && $(gw_of "$(jget "$r" peer)") == A ]] ||
      fail "long flow ${lf%%:*} on A across B's stop: $r"
    ok "long flow ${lf%%:*} on A across B's stop: sha256-exact in $(jget "$r" elapsed_s) s"
  else
    [[ $(jget "$r" ok) == False ]] || fail "long flow ${lf%%:*} on the stopped gateway B completed: $r"
    el=$(jget "$r" elapsed_s)
    "$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 30 else 1)' "$el" ||
      fail "long flow ${lf%%:*} on B took ${el}s to fail"
    ok "long flow ${lf%%:*} on the stopped B ended with an error after ${el} s, no hang: $(jget "$r" error)"
  fi
done
na2=$(opened_count A)
((na2 == na + LONG_A + 150)) || fail "gateway A's summary: $na2 TCP flows opened, want $na + $LONG_A long + 150 short"
ok "gateway A's summary: $na2 TCP flows opened ($na before, +$LONG_A long, +150 new)"

# --- 5: B back, then B dies (SIGKILL: no clean-up, no resets from it) ---
gateway_start B
ip -n "$NS_R" route replace "$NET4" nexthop via "$GW4_A" dev ra0 nexthop via "$GW4_B" dev rb0
ip -n "$NS_R" -6 route replace "$NET6" nexthop via "$GW6_A" dev ra0 nexthop via "$GW6_B" dev rb0
longs_on_both 10
ok "B back in the ECMP route; long flows under way: $LONGS"
kill -KILL "$GW_PID_B"
wait "$GW_PID_B" 2>/dev/null || true
GW_PID_B=""
ip -n "$NS_R" route replace "$NET4" via "$GW4_A" dev ra0
ip -n "$NS_R" -6 route replace "$NET6" via "$GW6_A" dev ra0
ok "gateway B killed (SIGKILL), its routes withdrawn"
for lf in $LONGS; do
  long_result "${lf%%:*}"
  r=$R
  if [[ ${lf#*:} == A ]]; then
    [[ $(jget "$r" ok) == True ]] || fail "long flow ${lf%%:*} on A across B's death: $r"
    ok "long flow ${lf%%:*} on A across B's death: sha256-exact in $(jget "$r" elapsed_s) s"
  else
    [[ $(jget "$r" ok) == False ]] || fail "long flow ${lf%%:*} on the killed gateway B completed: $r"
    el=$(jget "$r" elapsed_s)
    "$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 30 else 1)' "$el" ||
      fail "long flow ${lf%%:*} on the killed B took ${el}s to fail"
    ok "long flow ${lf%%:*} on the killed B: reset once its packets reached A, after ${el} s: $(jget "$r" error)"
  fi
done
gateway_stop A
