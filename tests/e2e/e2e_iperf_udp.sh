#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_iperf_udp: UDP in bulk through the direct handler.
#  - iperf3 -u -b 200M for 3 s, upload and download (-R), IPv4 and IPv6:
#    iperf3 completes, the receiver got > 0 datagrams; the loss iperf3
#    measured is printed and must stay < 50 % (loose on purpose: on a busy
#    2-core machine the receiver itself drops)
#  - udpxfer.py: 200 MB in 1200-byte datagrams with sequence numbers, acks and
#    NAK-based resends (and the first transmission of every 100th datagram
#    skipped on purpose, so the resend path always runs), client -> server
#    and server -> client, IPv4 and IPv6; the sha256 of the file the receiver
#    wrote equals the source's. Once with offloads on (the default) and once
#    with --no-offload; tunplug's summary lines about UDP and super-packets
#    are printed. With offloads on and UDP coalescing granted ("gro on: ...
#    udp"), the downloads must have gone into the tun as UDP super-packets
#    (gro out > 0); with --no-offload there are none.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root iperf3 sha256sum
tp_require_tunplug "${1:-}"
tp_topo_up
XFER=$TP_E2E_DIR/udpxfer.py
XFER_MB=${TP_UDPXFER_MB:-200}
XFER_TIMEOUT=${TP_UDPXFER_TIMEOUT:-60}
IPERF_RATE=${TP_IPERF_UDP_RATE:-200M}
IPERF_T=${TP_IPERF_UDP_T:-3}

# iperf_udp DST up|down: one iperf3 -u run, checked and its loss printed
iperf_udp() {
  local dst=$1 dir=$2 flag=() f spid res
  [[ $dir == down ]] && flag=(-R)
  f=$TP_TMP/iperf-$dst-$dir.json
  tp_bg "iperf3-s-$dir" "$NS_S" timeout $((IPERF_T + 30)) iperf3 -s -1 -B "$dst" -p 5201
  spid=$TP_LAST_PID
  tp_wait_listen "$NS_S" 5201
  nsc timeout $((IPERF_T + 20)) iperf3 -c "$dst" -p 5201 -u -b "$IPERF_RATE" -t "$IPERF_T" \
    "${flag[@]}" -J --connect-timeout 3000 >"$f" 2>"$TP_TMP/iperf-client.err" ||
    fail "iperf3 -u $dst $dir did not complete: $(head -c 300 "$f" | tr '\n' ' ') $(cat "$TP_TMP/iperf-client.err")"
  wait "$spid" 2>/dev/null || true
  res=$("$PYTHON" - "$f" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
e = j.get("end", {})
r = e.get("sum_received") or e.get("sum") or {}
s = e.get("sum_sent") or {}
n, lost = r.get("packets", 0), r.get("lost_packets", 0)
print("%d %d %.2f %.0f %.0f" % (n, n - lost, r.get("lost_percent", 100.0),
                                s.get("bits_per_second", 0) / 1e6, r.get("bits_per_second", 0) / 1e6))
PY
) || fail "iperf3 -u $dst $dir: unreadable JSON"
  read -r sent got pct smbit rmbit <<<"$res"
  ((got > 0)) || fail "iperf3 -u $dst $dir: the receiver got no datagram ($sent sent)"
  ok "iperf3 -u -b $IPERF_RATE $dst $dir: $got of $sent datagrams received, loss $pct % (sent $smbit Mbit/s, received $rmbit Mbit/s)"
  "$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 50 else 1)' "$pct" ||
    fail "iperf3 -u $dst $dir: loss $pct % >= 50 %"
}

# rcvbuf_drops NS: UDP datagrams dropped for a full socket receive buffer in NS
# (UdpRcvbufErrors + Udp6RcvbufErrors)
rcvbuf_drops() {
  # shellcheck disable=SC2016  # awk's own $fields
  ip netns exec "$1" awk '/^Udp: / && $2 ~ /^[0-9]/ { for (i = 2; i <= NF; i++) if (h[i] == "RcvbufErrors") n += $i }
    /^Udp: / && $2 !~ /^[0-9]/ { for (i = 2; i <= NF; i++) h[i] = $i }
    /^Udp6RcvbufErrors/ { n += $2 } END { print n + 0 }' /proc/net/snmp /proc/net/snmp6
}

# xfer MODE DST up|down: udpxfer.py of $TP_TMP/src.bin, sha256 compared
XPORT=7800
xfer() {
  local mode=$1 dst=$2 dir=$3 port=$((XPORT++)) spid out got srv=() cli=() d0 d1 ns=$NS_S where
  rm -f "$TP_TMP/got.bin"
  if [[ $dir == up ]]; then
    srv=(--recv "$TP_TMP/got.bin")
    cli=(--send "$TP_TMP/src.bin" --lose 100)
  else
    srv=(--send "$TP_TMP/src.bin" --lose 100)
    cli=(--recv "$TP_TMP/got.bin")
  fi
  tp_bg "xfer-s-$port" "$NS_S" timeout $((XFER_TIMEOUT + 10)) "$PYTHON" "$XFER" server --host "$dst" \
    --port "$port" --timeout "$XFER_TIMEOUT" "${srv[@]}"
  spid=$TP_LAST_PID
  for ((i = 0; i < 100; i++)); do
    [[ $(nss ss -Hlun "sport = :$port" | wc -l) -ge 1 ]] && break
    sleep 0.05
  done
  # drops at the receiving side's sockets: on a download that namespace also
  # holds tunplug's upstream socket (udpxfer's own sockets have 4 MiB)
  [[ $dir == down ]] && ns=$NS_C
  d0=$(rcvbuf_drops "$ns")
  out=$(nsc timeout $((XFER_TIMEOUT + 10)) "$PYTHON" "$XFER" client --host "$dst" --port "$port" \
    --timeout "$XFER_TIMEOUT" "${cli[@]}") || fail "$mode: udpxfer $dir $dst: client failed: $out"
  wait "$spid" || fail "$mode: udpxfer $dir $dst: server failed: $(cat "$TP_TMP/xfer-s-$port.log")"
  d1=$(rcvbuf_drops "$ns")
  where="server namespace"
  [[ $dir == down ]] && where="client namespace: tunplug's upstream socket and the client's"
  [[ -s $TP_TMP/got.bin ]] || fail "$mode: udpxfer $dir $dst: nothing written"
  got=$(sha_of "$TP_TMP/got.bin")
  [[ $got == "$WANT" ]] || fail "$mode: udpxfer $dir $dst: received sha256 $got, sent $WANT"
  ok "$mode: ${XFER_MB} MB $dir over UDP to $dst: sha256 matches ($(xfer_facts "$out" \
    "$(cat "$TP_TMP/xfer-s-$port.log")"); socket receive-buffer drops in the $where: $((d1 - d0)))"
}

# xfer_facts CLIENT_JSON SERVER_JSON: rate, resends and duplicates in a few words
xfer_facts() {
  "$PYTHON" - "$1" "$2" <<'PY'
import json, sys
c, s = json.loads(sys.argv[1]), json.loads(sys.argv[2].strip().splitlines()[-1])
snd, rcv = (c, s) if c.get("mode") == "P" else (s, c)
print("%s Mbit/s; sender: %d resends (%d first sends skipped on purpose), receiver: %d "
      "duplicates" % (c.get("mbit_s"), snd.get("resends", 0), snd.get("simulated_losses", 0),
                      rcv.get("duplicates", 0)))
PY
}

# gw_udp_summary: the summary lines about UDP, the tun, super-packets and the
# handler's UDP counters (send and receive syscalls, buffer growth)
gw_udp_summary() {
  grep -E 'packets in .* tun full drops|stack udp flows|tun: reads|tun read loop|super-packets|handler counters' <<<"$TP_GW_SUMMARY" |
    sed 's/^ *//'
}
TP_QUIET_STOP=1 # tp_gw_stop: those lines only, not the whole summary

# ---- iperf3 -u, direct handler, offloads as they come
tp_gw_start --handler direct
for dst in "$TP_DST4" "$TP_DST6"; do
  iperf_udp "$dst" up
  iperf_udp "$dst" down
done
tp_gw_check_alive
tp_gw_stop_ok
if ! tp_kernel_mode; then
  log "iperf3: tunplug's summary (UDP, tun, super-packets):"
  gw_udp_summary | sed 's/^/    /'
fi

# ---- sha256-checked transfers, offload on and off
head -c "$((XFER_MB * 1000 * 1000))" /dev/urandom >"$TP_TMP/src.bin"
WANT=$(sha_of "$TP_TMP/src.bin")
for mode in offload no-offload; do
  tp_kernel_mode && [[ $mode == no-offload ]] && break
  args=(--handler direct)
  [[ $mode == no-offload ]] && args+=(--no-offload)
  tp_gw_start "${args[@]}"
  label=$mode
  tp_kernel_mode && label=kernel
  for dst in "$TP_DST4" "$TP_DST6"; do
    xfer "$label" "$dst" up
    xfer "$label" "$dst" down
  done
  tp_gw_check_alive
  tp_gw_stop_ok
  tp_kernel_mode && continue
  log "$mode: tunplug's summary (UDP, tun, super-packets):"
  gw_udp_summary | sed 's/^/    /'
  gro_out=$(sed -nE 's/.*super-packets in [0-9]+ \([^)]*\), out ([0-9]+) \(([0-9]+) segments.*/\1 \2/p' \
    <<<"$TP_GW_SUMMARY" | tail -n 1)
  read -r sp segs <<<"$gro_out"
  [[ -n $sp ]] || fail "$mode: no super-packet counters in tunplug's summary"
  if [[ $mode == offload ]]; then
    if grep -q 'gro on:.*udp' <<<"$TP_GW_SUMMARY"; then
      ((sp > 0 && segs > sp)) || fail "offload: UDP coalescing on, but no UDP super-packets went into the tun (out $sp, $segs datagrams)"
      ok "offload: $sp UDP super-packets (carrying $segs datagrams) written to the tun"
    else
      log "offload: UDP coalescing not granted by this kernel (needs >= 6.2 with USO): gro out $sp, not checked"
    fi
  else
    ((sp == 0)) || fail "no-offload: $sp super-packets written to the tun (want 0)"
    ok "no-offload: no super-packets"
  fi
done
echo "e2e_iperf_udp: PASS"
