#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_halfclose: TCP half-close through tunplug, IPv4 and IPv6.
#  client-first: the client sends 1 MiB and shutdown(SHUT_WR)s; the server reads
#    to EOF, waits 1 s (the flow stays half-open), then sends its 1 MiB reply;
#    the client must receive all of it after its own FIN.
#  server-first: the server sends 1 MiB and shutdown(SHUT_WR)s first; the client
#    reads to EOF, waits 1 s, then sends 1 MiB and half-closes; the server must
#    receive all of it after its own FIN.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root
tp_require_tunplug "${1:-}"
tp_topo_up

SIZE=$((1024 * 1024))
tp_bg hc-client-first "$NS_S" "$PYTHON" "$TP_TOOL" hcserver --host "$TP_DST4" --host "$TP_DST6" \
  --port 7201 --mode client-first --size "$SIZE" --delay 1 --max-conns 2 --timeout 60
tp_bg hc-server-first "$NS_S" "$PYTHON" "$TP_TOOL" hcserver --host "$TP_DST4" --host "$TP_DST6" \
  --port 7202 --mode server-first --size "$SIZE" --delay 1 --max-conns 2 --timeout 60
tp_wait_listen "$NS_S" 7201
tp_wait_listen "$NS_S" 7202
tp_gw_start

for host in "$TP_DST4" "$TP_DST6"; do
  out=$(nsc timeout 40 "$PYTHON" "$TP_TOOL" hcclient --host "$host" --port 7201 --mode client-first \
    --size "$SIZE" --delay 1 --timeout 30) || fail "client-first to $host: $out"
  ok "client-first to $host: client FIN, then got the server's full 1 MiB reply: $out"
  out=$(nsc timeout 40 "$PYTHON" "$TP_TOOL" hcclient --host "$host" --port 7202 --mode server-first \
    --size "$SIZE" --delay 1 --timeout 30) || fail "server-first to $host: $out"
  ok "server-first to $host: got the server's 1 MiB + FIN, then sent 1 MiB: $out"
done

# the servers' view: each must have received the full payload intact
sleep 0.5
for mode in client-first server-first; do
  n=$(grep -c '"ok": true' "$TP_TMP/hc-$mode.log" || true)
  [[ $n -eq 2 ]] || fail "$mode server: $n of 2 connections ok: $(cat "$TP_TMP/hc-$mode.log")"
  ok "$mode server: both connections (v4, v6) received the client's 1 MiB intact"
done

tp_gw_check_alive
tp_gw_stop_ok
echo "e2e_halfclose: PASS"
