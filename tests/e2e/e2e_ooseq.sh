#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_ooseq: the 1-byte out-of-order attack on one flow.
#  - ooseq.py opens a connection through tunplug with hand-made packets and
#    sends every other byte of 256 KiB of the window as its own segment
#    (131072 segments, at RATE per second), then the first 1000 bytes in
#    order. The rate: a sender on this host can write 1-byte packets into
#    the tun faster than any per-packet work on the other side reads them
#    (~0.5 M/s seen), and the tun then drops the excess, ping's packets
#    among them, whatever reordering costs; 50000/s is still 38 times the
#    packets of a 1 Gbit/s stream of full segments, and lets every segment
#    reach the gateway, so the figures below are for all of them
#  - the gateway ACKs those 1000 bytes (in-order data still flows), holds at
#    most 256 out-of-order segments and counts the rest as dropped
#  - tunplug's CPU time for it stays under 0.5 s and its RSS grows by less
#    than 1 MiB (CPU time, not wall time: other load does not change it much;
#    a sanitizer build is allowed 5 times the CPU, still far below what the
#    quadratic queue cost: 6.6 s without sanitizers; its RSS is not checked,
#    ASan keeps freed memory in quarantine)
#  - ping to a captured address (answered by the gateway) every 10 ms during
#    the attack loses less than 1 %
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root ping
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's reordering bounds, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

PORT=7430
ATTACK_SRC=198.18.5.5 # owned by nobody: the client namespace ignores the answers
tp_bg echo "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --port "$PORT" --timeout 100
tp_wait_listen "$NS_S" "$PORT" 5 1
tp_gw_start
RATE=${TP_OOSEQ_RATE:-50000}
CPU_MAX=0.5
RSS_MAX=1024
if grep -qa __asan_init "$TUNPLUG"; then
  CPU_MAX=2.5
  RSS_MAX=
  log "sanitizer build: CPU bound $CPU_MAX s, RSS not checked"
fi
procstat() { "$PYTHON" "$TP_TOOL" procstat --pid "$TP_GW_PID"; }
# packets the tun dropped on their way to the gateway (its queue was full)
tun_txdrop() {
  nsc ip -s -j link show "$TP_TUN" |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["dropped"])'
}
field() { sed -nE "s/.*\"$1\": ([0-9.]+).*/\\1/p" <<<"$2"; }

nsc ping -c 3 -i 0.2 -W 1 "$TP_DST4" >/dev/null || fail "ping through the gateway does not work"
before=$(procstat)
tundrop0=$(tun_txdrop)
tp_bg ping "$NS_C" ping -i 0.01 -W 1 "$TP_DST4"
PING_PID=$TP_LAST_PID
sleep 0.3
out=$(nsc timeout 60 "$PYTHON" "$TP_E2E_DIR/ooseq.py" --dev "$TP_TUN" --src "$ATTACK_SRC" \
  --dst "$TP_DST4" --dport "$PORT" --rate "$RATE") || fail "ooseq.py: $out"
after=$(procstat)
sleep 0.2
kill -INT "$PING_PID" 2>/dev/null || true
wait "$PING_PID" 2>/dev/null || true
tundrop=$(($(tun_txdrop) - tundrop0))
log "attack: $out"
[[ $out == *'"acked_block": true'* ]] || fail "the gateway did not ACK the in-order bytes after the attack: $out"
segs=$(field segments "$out")
((segs >= 131000)) || fail "only $segs segments sent (window not scaled?): $out"
ok "$segs 1-byte out-of-order segments in $(field send_s "$out") s; then 1000 bytes in order, ACKed"

cpu=$(awk -v a="$(field cpu_s "$before")" -v b="$(field cpu_s "$after")" 'BEGIN { printf "%.3f", b - a }')
rss=$(($(field rss_kib "$after") - $(field rss_kib "$before")))
log "tunplug before: $before; after: $after"
awk -v c="$cpu" -v m="$CPU_MAX" 'BEGIN { exit !(c < m) }' ||
  fail "tunplug used $cpu s of CPU for the attack (want < $CPU_MAX s)"
[[ -z $RSS_MAX ]] || ((rss < RSS_MAX)) || fail "tunplug's RSS grew by $rss KiB during the attack (want < 1 MiB)"
ok "tunplug: $cpu s CPU, RSS +$rss KiB for the attack"

stats=$(grep -E 'packets transmitted' "$TP_TMP/ping.log") || fail "no ping statistics: $(tail -n 3 "$TP_TMP/ping.log")"
sent=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$stats")
recv=$(sed -nE 's/.* ([0-9]+) received.*/\1/p' <<<"$stats")
((sent >= 50)) || fail "ping sent only $sent packets: $stats"
((recv * 100 >= sent * 99)) || fail "ping lost $((sent - recv)) of $sent during the attack (want < 1 %): $stats"
ok "ping every 10 ms during the attack: $recv of $sent answered"

tp_gw_check_alive
tp_gw_stop_ok
line=$(grep -E 'out-of-order data' <<<"$TP_GW_SUMMARY") || fail "no out-of-order line in the summary"
peak=$(sed -nE 's/.*peak ([0-9]+) .*/\1/p' <<<"$line")
dropped=$(sed -nE 's/.*dropped past the bounds ([0-9]+) .*/\1/p' <<<"$line")
((peak <= 256)) || fail "the flow held $peak out-of-order segments (bound 256): $line"
# all but the 256 held (later covered by the in-order bytes) and those the
# tun dropped before they reached the gateway
((dropped + 256 + tundrop >= segs)) ||
  fail "only $dropped out-of-order segments counted as dropped ($tundrop lost in the tun): $line"
ok "summary: at most $peak out-of-order segments held, $dropped dropped and counted ($tundrop lost in the tun queue)"
echo "e2e_ooseq: PASS"
