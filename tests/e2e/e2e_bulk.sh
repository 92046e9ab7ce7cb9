#!/usr/bin/env bash
# e2e_bulk: 200 MB client->server and 200 MB server->client over IPv4, 50 MB
# over IPv6, all through tunplug with socat at both ends; sha256 computed at
# the receiving end and compared with the sender's file.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root socat sha256sum
tp_require_tunplug "${1:-}"
tp_topo_up

BIG_MIB=${TP_BULK_MIB:-200}
V6_MIB=${TP_BULK6_MIB:-50}
XFER_TIMEOUT=${TP_XFER_TIMEOUT:-120}
tp_mkfile "$TP_TMP/big.bin" "$BIG_MIB"
head -c "$((V6_MIB * 1024 * 1024))" "$TP_TMP/big.bin" >"$TP_TMP/v6.bin"
want_big=$(sha_of "$TP_TMP/big.bin")
want_v6=$(sha_of "$TP_TMP/v6.bin")
tp_gw_start

# upload FAMILY ADDR PORT FILE MIB: client sends FILE, server hashes what it got
upload() {
  local fam=$1 addr=$2 port=$3 file=$4 mib=$5 want t0 ms got
  want=$(sha_of "$file")
  tp_bg "up-$port" "$NS_S" timeout "$XFER_TIMEOUT" bash -c \
    "socat -u TCP${fam}-LISTEN:$port,bind=$addr,reuseaddr STDOUT | sha256sum >'$TP_TMP/up-$port.sum'"
  local spid=$TP_LAST_PID
  tp_wait_listen "$NS_S" "$port"
  t0=$(now_ms)
  nsc timeout "$XFER_TIMEOUT" socat -u "FILE:$file" "TCP${fam}:$addr:$port" ||
    fail "upload of $mib MiB over IPv$fam: client socat failed"
  wait "$spid" || fail "upload of $mib MiB over IPv$fam: server side failed or timed out"
  ms=$(($(now_ms) - t0))
  got=$(cut -d' ' -f1 "$TP_TMP/up-$port.sum")
  [[ $got == "$want" ]] || fail "upload $mib MiB IPv$fam: server got sha256 $got, sent $want"
  ok "upload $mib MiB over IPv$fam client->server: sha256 matches ($ms ms, $((mib * 8389 / (ms + 1))) Mbit/s)"
}

# download FAMILY ADDR PORT FILE MIB: server sends FILE, client hashes what it got
download() {
  local fam=$1 addr=$2 port=$3 file=$4 mib=$5 want t0 ms got
  want=$(sha_of "$file")
  tp_bg "down-$port" "$NS_S" timeout "$XFER_TIMEOUT" socat -u "FILE:$file" "TCP${fam}-LISTEN:$port,bind=$addr,reuseaddr"
  local spid=$TP_LAST_PID
  tp_wait_listen "$NS_S" "$port"
  t0=$(now_ms)
  got=$(nsc timeout "$XFER_TIMEOUT" bash -c "socat -u TCP${fam}:$addr:$port STDOUT | sha256sum" | cut -d' ' -f1) ||
    fail "download of $mib MiB over IPv$fam: client side failed"
  ms=$(($(now_ms) - t0))
  wait "$spid" || fail "download of $mib MiB over IPv$fam: server socat failed or timed out"
  [[ $got == "$want" ]] || fail "download $mib MiB IPv$fam: client got sha256 $got, server sent $want"
  ok "download $mib MiB over IPv$fam server->client: sha256 matches ($ms ms, $((mib * 8389 / (ms + 1))) Mbit/s)"
}

log "sha256 $BIG_MIB MiB: $want_big; $V6_MIB MiB: $want_v6"
upload 4 "$TP_DST4" 5001 "$TP_TMP/big.bin" "$BIG_MIB"
download 4 "$TP_DST4" 5002 "$TP_TMP/big.bin" "$BIG_MIB"
upload 6 "[$TP_DST6]" 5003 "$TP_TMP/v6.bin" "$V6_MIB"
download 6 "[$TP_DST6]" 5004 "$TP_TMP/v6.bin" "$V6_MIB"
tp_gw_check_alive
tp_gw_stop_ok
echo "e2e_bulk: PASS"
