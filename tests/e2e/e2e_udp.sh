#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_udp: UDP flows and ICMP through tunplug, with real sockets.
#  - direct handler: 200 UDP flows (distinct source ports) to an echo server
#    behind the gateway, IPv4 and IPv6, every datagram comes back intact
#  - a 4000-byte datagram (fragmented by the client's kernel at MTU 1500,
#    reassembled by tunplug; the 4000-byte reply fragmented by tunplug)
#    round-trips intact, IPv4 and IPv6
#  - a closed UDP port: the client's connected socket gets ECONNREFUSED
#    (tunplug forwards the upstream's port unreachable as ICMP) within 2 s
#  - ping and ping -6 to captured addresses (existing or not) are answered
#  - echo handler with --max-udp-flows 1000: 10,000 distinct flows all
#    answered, the table stays bounded (evictions counted in the summary)
#  - --icmp drop: ping gets no answer; the drop is counted
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root ping
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
tp_topo_up
UDPTOOL=$TP_E2E_DIR/udptool.py
PORT=7400

tp_bg udpecho "$NS_S" "$PYTHON" "$UDPTOOL" server --host "$TP_DST4" --host "$TP_DST6" \
  --port "$PORT" --timeout 100
for ((i = 0; i < 100; i++)); do
  [[ $(nss ss -Hlun "sport = :$PORT" | wc -l) -ge 2 ]] && break
  sleep 0.05
done
tp_gw_start --handler direct

udp_client() { # WHAT ARGS...
  local what=$1 out
  shift
  out=$(nsc timeout 90 "$PYTHON" "$UDPTOOL" client "$@") || fail "$what: $out"
  ok "$what: $out"
}

udp_client "direct: 200 flows of 100 bytes over IPv4" --host "$TP_DST4" --port "$PORT" \
  --flows 200 --size 100 --timeout 30
udp_client "direct: 200 flows of 100 bytes over IPv6" --host "$TP_DST6" --port "$PORT" \
  --flows 200 --size 100 --timeout 30
udp_client "direct: one 4000-byte datagram (fragmented both ways) over IPv4" --host "$TP_DST4" \
  --port "$PORT" --flows 1 --size 4000 --timeout 20
udp_client "direct: one 4000-byte datagram (fragmented both ways) over IPv6" --host "$TP_DST6" \
  --port "$PORT" --flows 1 --size 4000 --timeout 20

for host in "$TP_DST4" "$TP_DST6"; do
  out=$(nsc timeout 10 "$PYTHON" "$UDPTOOL" refused --host "$host" --port 9 --max 2) ||
    fail "closed UDP port $host:9: want ECONNREFUSED within 2 s, got: $out"
  ok "closed UDP port $host:9: $out"
done

for dst in "$TP_DST4" 198.19.77.77 "$TP_DST6" fd00:19::77:77; do
  out=$(nsc ping -c 3 -i 0.2 -W 2 "$dst" 2>&1) || fail "ping $dst: $out"
  grep -q " 0% packet loss" <<<"$out" || fail "ping $dst lost packets: $out"
  ok "ping $dst answered (3/3)"
done

tp_gw_check_alive
tp_gw_stop_ok
grep -q "fragments in [1-9]" <<<"$TP_GW_SUMMARY" || fail "no fragments counted: $TP_GW_SUMMARY"
grep -q "reassembled [1-9]" <<<"$TP_GW_SUMMARY" || fail "nothing reassembled: $TP_GW_SUMMARY"
ok "summary counts fragments and reassembled datagrams"
grep -q "unreachables sent [1-9]" <<<"$TP_GW_SUMMARY" || fail "no ICMP unreachable sent"
ok "summary counts the ICMP unreachables"

# echo handler, a small table, 10,000 flows
tp_gw_start --handler echo --max-udp-flows 1000
udp_client "echo: 10000 distinct flows with --max-udp-flows 1000" --host 198.19.42.1 \
  --port 5000 --flows 10000 --size 32 --window 200 --timeout 120
tp_gw_check_alive
tp_gw_stop_ok
line=$(grep "stack udp flows" <<<"$TP_GW_SUMMARY")
opened=$(sed -E 's/.*opened ([0-9]+).*/\1/' <<<"$line")
evicted=$(sed -E 's/.*evicted ([0-9]+).*/\1/' <<<"$line")
dgrams=$(sed -E 's/.*datagrams in ([0-9]+).*/\1/' <<<"$line")
# the client's kernel reuses source ports of closed sockets, so a few of the
# 10,000 datagrams land in a flow that is still in the table
((dgrams >= 10000)) || fail "want >= 10000 datagrams in: $line"
((opened >= 9000)) || fail "want >= 9000 flows opened: $line"
((evicted >= opened - 1000)) || fail "want >= opened - 1000 evictions with a 1000-flow table: $line"
ok "echo: table bounded: $line"

tp_gw_start --icmp drop
if out=$(nsc ping -c 2 -i 0.2 -W 1 "$TP_DST4" 2>&1); then
  fail "--icmp drop: ping was answered: $out"
fi
ok "--icmp drop: ping not answered"
tp_gw_stop_ok
grep -q "dropped by --icmp drop [1-9]" <<<"$TP_GW_SUMMARY" || fail "drops not counted: $TP_GW_SUMMARY"
ok "--icmp drop: counted"
