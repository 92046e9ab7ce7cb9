#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_udp_batch: UDP super-packets from the tun go upstream batched.
#  - a client sends with UDP_SEGMENT (GSO): 400 sends of 40 datagrams of
#    1200 bytes, every 10th with a 41st of 500 bytes (a shorter last
#    segment), to a sink behind the gateway, IPv4 and IPv6. Where the kernel
#    granted the tun USO, each send reaches tunplug as one super-packet
#    (vnet gso_type UDP_L4); tunplug splits it, and the direct handler sends
#    the datagrams of a flow that arrive in one loop iteration together
#    (sendmmsg, UDP_SEGMENT for runs of equal sizes)
#  - the sink gets every datagram, in order, bytes intact
#  - tunplug's counters: the handler needed at most one send syscall per 10
#    datagrams and sent UDP_SEGMENT messages; super-packets came in (when
#    USO is granted: "offload ... uso" in the log); the same with
#    --no-offload (no super-packets: the read loop's batch alone)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
tp_topo_up
UDPTOOL=$TP_E2E_DIR/udptool.py
SENDS=400
SEGS=40
TAILS=$((SENDS / 10))
COUNT=$((SENDS * SEGS + TAILS))
PORT=7900
TP_QUIET_STOP=1 # tp_gw_stop: the lines printed below, not the whole summary

# counter NAME: the handler counter NAME from the last summary (0 if absent)
counter() {
  local v
  v=$(grep 'handler counters' <<<"$TP_GW_SUMMARY" | tail -n 1 | sed -nE "s/.* $1 ([0-9]+).*/\1/p")
  echo "${v:-0}"
}

for mode in offload no-offload; do
  args=(--handler direct)
  [[ $mode == no-offload ]] && args+=(--no-offload)
  tp_gw_start "${args[@]}"
  for dst in "$TP_DST4" "$TP_DST6"; do
    port=$((PORT++))
    tp_bg "sink-$port" "$NS_S" timeout 40 "$PYTHON" "$UDPTOOL" sink --host "$dst" --port "$port" \
      --count "$COUNT" --timeout 30
    spid=$TP_LAST_PID
    for ((i = 0; i < 100; i++)); do
      [[ $(nss ss -Hlun "sport = :$port" | wc -l) -ge 1 ]] && break
      sleep 0.05
    done
    out=$(nsc timeout 30 "$PYTHON" "$UDPTOOL" gsosend --host "$dst" --port "$port" \
      --sends "$SENDS" --segs "$SEGS" --size 1200 --tail 500 --burst 4) ||
      fail "$mode: gsosend to $dst failed: $out"
    wait "$spid" || fail "$mode: $dst: the sink did not get every datagram in order: $(cat "$TP_TMP/sink-$port.log")"
    ok "$mode: $COUNT datagrams sent in $SENDS UDP_SEGMENT sends to $dst: all received, in order, intact ($(cat "$TP_TMP/sink-$port.log"))"
  done
  tp_gw_check_alive
  tp_gw_stop_ok
  grep -E 'tun: reads|tun read loop|super-packets|handler counters' <<<"$TP_GW_SUMMARY" | sed 's/^ */    /' >&2
  sent=$(counter direct.udp_sent)
  calls=$(counter direct.udp_send_calls)
  gso=$(counter direct.udp_gso_sends)
  lost=$(counter direct.udp_send_lost)
  ((sent >= 2 * COUNT)) || fail "$mode: the handler sent $sent datagrams, want >= $((2 * COUNT))"
  ((lost == 0)) || fail "$mode: $lost datagrams lost to upstream send errors"
  ((calls * 10 <= sent)) || fail "$mode: $calls send syscalls for $sent datagrams (want <= 1 per 10)"
  ((gso > 0)) || fail "$mode: no UDP_SEGMENT send upstream"
  ok "$mode: the handler sent $sent datagrams in $calls sendmmsg calls, $gso UDP_SEGMENT messages"
  gso_in=$(sed -nE 's/.*super-packets in ([0-9]+) .*/\1/p' <<<"$TP_GW_SUMMARY" | tail -n 1)
  if [[ $mode == no-offload ]]; then
    ((gso_in == 0)) || fail "no-offload: $gso_in super-packets in"
  elif grep -q 'offload: .*uso' "$TP_GW_LOG"; then
    ((gso_in > 0)) || fail "offload: USO granted, but no super-packet came in"
    ok "offload: $gso_in UDP super-packets read from the tun"
  else
    log "offload: USO not granted by this kernel: super-packets in $gso_in, not checked"
  fi
done
echo "e2e_udp_batch: PASS"
