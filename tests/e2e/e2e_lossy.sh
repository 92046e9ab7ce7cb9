#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_lossy: loss and reordering between the client and tunplug, without
# netem (this kernel may have no sch_netem): a client namespace reaches the
# tunplug namespace through a middle namespace where lossyfwd.py moves the
# frames between two veths, dropping ~1 % and reordering ~1 % (bounded):
#
#  netns $NS_A (client)        netns $NS_M                netns $NS_C (router + tunplug)
#  tpa0 198.18.7.2/24 ==== tpm0 [lossyfwd.py] tpm1 ==== tpg0 198.18.7.1/24  tp0 -> tunplug -> ...
#       fd00:7::2/64                                         fd00:7::1/64
#  default via 198.18.7.1 / fd00:7::1                        ip_forward=1, ipv6 forwarding=1
#
# gso_max_segs 1 on tpa0 and tpg0: the client's TCP and the kernel forwarding
# tunplug's TSO writes hand single wire segments to the forwarder, so the
# loss hits single segments of tunplug's super-segments (partial ACKs,
# retransmissions of one MSS, split-to-fit after an RTO: lwIP patch 0012).
# 8 MiB each way over IPv4 and IPv6, sha256 compared, with offloads on and
# with --no-offload; the forwarder must have dropped and reordered frames,
# and with offloads tunplug must have written super-segments (TSO).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root socat sha256sum python3
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
tp_topo_up

A4=198.18.7.2
G4=198.18.7.1
A6=fd00:7::2
G6=fd00:7::1
NS_A=${TP_NS_A:-tpa-$$}
NS_M=${TP_NS_M:-tpm-$$}
MIB=${TP_LOSSY_MIB:-8}
XFER_TIMEOUT=${TP_XFER_TIMEOUT:-120}
FWD=$TP_E2E_DIR/lossyfwd.py

# the two extra namespaces are this test's own: remove them (and whatever
# runs in them) before lib.sh's cleanup takes down the other two
lossy_cleanup() {
  local rc=$? pid ns
  set +e
  for ns in "${NS_A:-}" "${NS_M:-}"; do
    if [[ -z $ns ]] || ! grep -qw "^$ns" <<<"$(ip netns list)"; then continue; fi
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  (exit "$rc")
  tp_cleanup
}
trap lossy_cleanup EXIT
# the transfers' client side (tp_xfer runs it through nsc) is the far client
nsc() { ip netns exec "$NS_A" "$@"; }

for ns in "$NS_A" "$NS_M"; do
  if grep -qw "^$ns" <<<"$(ip netns list)"; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  fi
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
ip netns exec "$NS_A" sysctl -q -w net.ipv6.conf.all.disable_ipv6=0 \
  net.ipv6.conf.default.disable_ipv6=0 >/dev/null
# the middle moves frames only: no addresses, no IPv6 of its own
ip netns exec "$NS_M" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
  net.ipv6.conf.default.disable_ipv6=1 >/dev/null
ip -n "$NS_A" link add tpa0 type veth peer name tpm0 netns "$NS_M"
ip -n "$NS_C" link add tpg0 type veth peer name tpm1 netns "$NS_M"
ip -n "$NS_A" addr add "$A4/24" dev tpa0
ip -n "$NS_A" addr add "$A6/64" dev tpa0 nodad
ip -n "$NS_C" addr add "$G4/24" dev tpg0
ip -n "$NS_C" addr add "$G6/64" dev tpg0 nodad
# single wire segments toward the forwarder, both ways
ip -n "$NS_A" link set tpa0 gso_max_segs 1
ip -n "$NS_C" link set tpg0 gso_max_segs 1
for l in "$NS_A tpa0" "$NS_M tpm0" "$NS_M tpm1" "$NS_C tpg0"; do
  read -r ns dev <<<"$l"
  ip -n "$ns" link set "$dev" up
done
mac_a=$(ip -n "$NS_A" -br link show tpa0 | awk '{print $3}')
mac_g=$(ip -n "$NS_C" -br link show tpg0 | awk '{print $3}')
ip -n "$NS_A" neigh replace "$G4" lladdr "$mac_g" dev tpa0 nud permanent
ip -n "$NS_A" neigh replace "$G6" lladdr "$mac_g" dev tpa0 nud permanent
ip -n "$NS_C" neigh replace "$A4" lladdr "$mac_a" dev tpg0 nud permanent
ip -n "$NS_C" neigh replace "$A6" lladdr "$mac_a" dev tpg0 nud permanent
ip -n "$NS_A" route add default via "$G4" dev tpa0
ip -n "$NS_A" -6 route add default via "$G6" dev tpa0
ip netns exec "$NS_C" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
  net.ipv6.conf.default.forwarding=1 >/dev/null

tp_bg lossyfwd "$NS_M" python3 "$FWD" --a tpm0 --b tpm1 --drop 10 --reorder 10 --seed 7 \
  --stats "$TP_TMP/lossyfwd.stats"
FWD_PID=$TP_LAST_PID
for _ in $(seq 100); do
  grep -q 'lossyfwd: ready' "$TP_TMP/lossyfwd.log" 2>/dev/null && break
  tp_alive "$FWD_PID" || fail "lossyfwd.py exited: $(tail -n 3 "$TP_TMP/lossyfwd.log")"
  sleep 0.05
done
grep -q 'lossyfwd: ready' "$TP_TMP/lossyfwd.log" || fail "lossyfwd.py not ready within 5 s"
log "topology: $NS_A ($A4, $A6) <-> $NS_M (lossyfwd.py) <-> $NS_C ($G4, $G6) + tunplug"

tp_mkfile "$TP_TMP/data.bin" "$MIB"

summary_field() {
  sed -nE "s/.*$1.*/\\1/p" <<<"$TP_GW_SUMMARY" | head -n 1
}

# run MODE PORTBASE [TUNPLUG ARGS...]
run() {
  local mode=$1 p=$2
  shift 2
  tp_gw_start "$@"
  tp_xfer up 4 "$TP_DST4" "$p" "$TP_TMP/data.bin" "$mode: upload $MIB MiB over IPv4 through loss"
  tp_xfer down 4 "$TP_DST4" "$((p + 1))" "$TP_TMP/data.bin" \
    "$mode: download $MIB MiB over IPv4 through loss"
  tp_xfer up 6 "[$TP_DST6]" "$((p + 2))" "$TP_TMP/data.bin" \
    "$mode: upload $MIB MiB over IPv6 through loss"
  tp_xfer down 6 "[$TP_DST6]" "$((p + 3))" "$TP_TMP/data.bin" \
    "$mode: download $MIB MiB over IPv6 through loss"
  tp_gw_check_alive
  tp_gw_stop_ok
  TSO_W=$(summary_field ', ([0-9]+) TSO writes')
  [[ -n $TSO_W ]] || fail "$mode: no TSO counters in tunplug's summary"
  log "$mode: TSO writes $TSO_W"
}

run offload 5501
check "offload: tunplug wrote super-segments across the lossy path ($TSO_W)" test "$TSO_W" -gt 0
run no-offload 5601 --no-offload
check "no-offload: no super-segments ($TSO_W)" test "$TSO_W" -eq 0

kill -TERM "$FWD_PID"
wait "$FWD_PID" || fail "lossyfwd.py failed: $(tail -n 3 "$TP_TMP/lossyfwd.log")"
read -r _ FRAMES _ DROPPED _ REORDERED <"$TP_TMP/lossyfwd.stats"
log "lossyfwd: $FRAMES IP frames, $DROPPED dropped, $REORDERED reordered"
check "the forwarder dropped frames ($DROPPED of $FRAMES)" test "$DROPPED" -gt 0
check "the forwarder reordered frames ($REORDERED of $FRAMES)" test "$REORDERED" -gt 0
# lossyfwd.py drops a frame only while dropped < frames / 100 + 1 (counted
# before that drop), so it ends below frames / 100 + 2 (an integer bound of
# frames / 100 + 1 failed at 1061 of 105966)
check "drops bounded to ~1 % ($DROPPED < $FRAMES / 100 + 2)" \
  test "$((DROPPED * 100))" -lt "$((FRAMES + 200))"
echo "e2e_lossy: PASS"
