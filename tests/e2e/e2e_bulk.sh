#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
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

# upload / download FAMILY ADDR PORT FILE MIB (lib.sh: tp_xfer)
upload() { tp_xfer up "$1" "$2" "$3" "$4" "upload $5 MiB over IPv$1 client->server"; }

download() { tp_xfer down "$1" "$2" "$3" "$4" "download $5 MiB over IPv$1 server->client"; }

log "sha256 $BIG_MIB MiB: $want_big; $V6_MIB MiB: $want_v6"
upload 4 "$TP_DST4" 5001 "$TP_TMP/big.bin" "$BIG_MIB"
download 4 "$TP_DST4" 5002 "$TP_TMP/big.bin" "$BIG_MIB"
upload 6 "[$TP_DST6]" 5003 "$TP_TMP/v6.bin" "$V6_MIB"
download 6 "[$TP_DST6]" 5004 "$TP_TMP/v6.bin" "$V6_MIB"
tp_gw_check_alive
tp_gw_stop_ok
echo "e2e_bulk: PASS"
