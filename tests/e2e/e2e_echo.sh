#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_echo: tunplug with --handler echo, no server at all.
#  - from the client namespace, 1 MiB of random data over TCP to an address
#    in the routed subnet that nobody owns (198.19.77.7:4242, then
#    [fd00:19::77:7]:4242), sent while the echo is read back; after the
#    client's half-close the gateway's FIN ends the echo; sha256 of what came
#    back == sha256 of what was sent, for IPv4 and IPv6
#  - 4 such connections at once (IPv4 + IPv6 mixed, 256 KiB each), each intact
#  - the summary counts the 6 flows as seen, accepted and closed, none
#    refused; no TCP segment reached the server namespace
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root sha256sum
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's echo handler, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

FLOWS=$TP_E2E_DIR/tpflows.py
MIB=${TP_ECHO_MIB:-1}
DST4=198.19.77.7
DST6=fd00:19::77:7
PORT=4242
tp_mkfile "$TP_TMP/payload.bin" "$MIB"
head -c $((256 * 1024)) "$TP_TMP/payload.bin" >"$TP_TMP/small.bin"
want=$(sha_of "$TP_TMP/payload.bin")
log "payload: $MIB MiB, sha256 $want"
tp_gw_start --handler echo

# echo_once NAME HOST FILE: one connection, the echo must match FILE
echo_once() {
  local name=$1 host=$2 file=$3 out got
  out=$(nsc timeout 40 "$PYTHON" "$FLOWS" echocheck --host "$host" --port "$PORT" \
    --in "$file" --out "$TP_TMP/$name.back" --timeout 30) || fail "echo over $name to $host:$PORT: $out"
  got=$(sha_of "$TP_TMP/$name.back")
  [[ $got == "$(sha_of "$file")" ]] || fail "echo over $name: sha256 back $got != sent $(sha_of "$file"): $out"
  printf '%s\n' "$out"
}

out=$(echo_once ipv4 "$DST4" "$TP_TMP/payload.bin")
ok "IPv4 $DST4:$PORT: $MIB MiB echoed back by --handler echo, sha256 matches ($want): $out"
out=$(echo_once ipv6 "$DST6" "$TP_TMP/payload.bin")
ok "IPv6 [$DST6]:$PORT: $MIB MiB echoed back by --handler echo, sha256 matches ($want): $out"

# several at once, mixed families, different destinations
pids=()
for i in 1 2 3 4; do
  if ((i % 2)); then host=198.19.$((i + 10)).$i; else host=fd00:19::$i:$i; fi
  ip netns exec "$NS_C" timeout 40 "$PYTHON" "$FLOWS" echocheck --host "$host" --port $((PORT + i)) \
    --in "$TP_TMP/small.bin" --out "$TP_TMP/par$i.back" --timeout 30 >"$TP_TMP/par$i.log" 2>&1 &
  pids+=($!)
done
bad=""
for i in 1 2 3 4; do
  wait "${pids[$((i - 1))]}" || bad+=" #$i: $(cat "$TP_TMP/par$i.log")"
  [[ $(sha_of "$TP_TMP/par$i.back") == "$(sha_of "$TP_TMP/small.bin")" ]] || bad+=" #$i: sha256 differs"
done
[[ -z $bad ]] || fail "4 concurrent echo connections:$bad"
ok "4 concurrent echo connections (2 IPv4, 2 IPv6, 256 KiB each): every echo intact"

tp_gw_check_alive
tp_gw_stop_ok
# flows: seen N, accepted N, refused N, closed N (...)
flows=$(grep -oE 'flows: seen [0-9]+, accepted [0-9]+, refused [0-9]+, closed [0-9]+' <<<"$TP_GW_SUMMARY") ||
  fail "no 'flows:' line in the summary"
read -r seen acc ref closed < <(sed -E 's/[^0-9]+/ /g' <<<"$flows")
[[ $seen -eq 6 && $acc -eq 6 && $ref -eq 0 && $closed -eq 6 ]] ||
  fail "summary: want 6 flows seen, accepted and closed, 0 refused; got '$flows'"
ok "summary: $flows"
# the echo comes from tunplug itself: no TCP segment may have reached the server namespace
# shellcheck disable=SC2016  # awk's own $ fields
insegs=$(nss awk '$1 == "Tcp:" && $2 ~ /^[0-9]+$/ { print $11 }' /proc/net/snmp)
[[ $insegs -eq 0 ]] || fail "the server namespace received $insegs TCP segments; the echo handler must not connect anywhere"
ok "no TCP segment reached the server namespace (Tcp InSegs 0): the echo came from tunplug"
echo "e2e_echo: PASS"
