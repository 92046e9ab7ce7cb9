#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_refused: failures must reach the client, fast and truthfully.
#  - closed port on 198.19.1.1 and [fd00:19::1]: connect() fails with
#    ECONNREFUSED in under 1 s (tunplug forwards the upstream's RST)
#  - destination that answers with ICMP unreachable (198.19.8.8,
#    fd00:19::8:8; "unreachable" routes in the server namespace): the
#    client gets that ICMP too, so EHOSTUNREACH (IPv4) / ENETUNREACH (IPv6:
#    the server's ICMPv6 "no route") within 2 s, never ECONNREFUSED
#  - destination that never answers (198.19.9.9, fd00:19::9:9; blackhole
#    routes): no answer at all, not even after --connect-timeout (2 s): the
#    client's own timeout (5 s here) ends its connect(), as it would
#    without the gateway
# (e2e_truth compares each of these with the kernel's own path.) Afterwards
# the gateway must still relay normal connections.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root
tp_require_tunplug "${1:-}"
tp_topo_up

CT=2
# the server namespace routes: ICMP unreachable for .8, silent drop for .9
nss sysctl -q -w net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 >/dev/null
ip -n "$NS_S" route add unreachable 198.19.8.0/24
ip -n "$NS_S" route add blackhole 198.19.9.0/24
ip -n "$NS_S" -6 route add unreachable fd00:19::8:0/112
ip -n "$NS_S" -6 route add blackhole fd00:19::9:0/112
PORT=7300
tp_bg hashserver "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --host "$TP_DST6" \
  --port "$PORT" --timeout 100
tp_wait_listen "$NS_S" "$PORT"
tp_gw_start --connect-timeout "$CT"

# probe WHAT HOST PORT EXPECT MAX
probe() {
  local what=$1 host=$2 port=$3 expect=$4 max=$5 out
  out=$(nsc timeout 20 "$PYTHON" "$TP_TOOL" connect --host "$host" --port "$port" \
    --expect "$expect" --max "$max" --timeout 12) || fail "$what: want $expect within ${max}s, got: $out"
  ok "$what: $expect within ${max}s: $out"
}

probe "closed port 198.19.1.1:9" "$TP_DST4" 9 refused 1
probe "closed port [fd00:19::1]:9" "$TP_DST6" 9 refused 1
probe "ICMP-unreachable host 198.19.8.8:80" 198.19.8.8 80 EHOSTUNREACH 2
probe "ICMP-unreachable host [fd00:19::8:8]:80" fd00:19::8:8 80 ENETUNREACH 2
# silent: the client's own 5 s pass without an answer (past --connect-timeout)
silent() {
  local what=$1 host=$2 out
  out=$(nsc timeout 20 "$PYTHON" "$TP_TOOL" connect --host "$host" --port 80 \
    --expect timeout --max 10 --timeout 5) || fail "$what: want no answer within 5 s, got: $out"
  ok "$what: no answer, as without the gateway: $out"
}
silent "silent host 198.19.9.9:80 (--connect-timeout $CT)" 198.19.9.9
silent "silent host [fd00:19::9:9]:80 (--connect-timeout $CT)" fd00:19::9:9

for host in "$TP_DST4" "$TP_DST6"; do
  out=$(nsc timeout 40 "$PYTHON" "$TP_TOOL" concurrent --host "$host" --port "$PORT" -n 5 \
    --size 4096 --timeout 20) || fail "after the failures, connections to $host:$PORT no longer work: $out"
  ok "after the failures, 5 connections to $host:$PORT still relay fine"
done

tp_gw_check_alive
tp_gw_stop_ok
echo "e2e_refused: PASS"
