#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_http: curl over IPv4 and IPv6 through tunplug (direct handler) fetches a
# file from python3 -m http.server in the server namespace; sha256 compared.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root curl
tp_require_tunplug "${1:-}"
tp_topo_up

PORT=8080
mkdir -p "$TP_TMP/www"
tp_mkfile "$TP_TMP/www/blob.bin" 8
echo "hello from tps" >"$TP_TMP/www/index.txt"
want=$(sha_of "$TP_TMP/www/blob.bin")

# one server per family (bound to the server addresses only)
tp_bg http4 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST4" --directory "$TP_TMP/www" "$PORT"
tp_bg http6 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST6" --directory "$TP_TMP/www" "$PORT"
tp_wait_listen "$NS_S" "$PORT" 5 2 # v4 and v6
tp_gw_start

for url in "http://$TP_DST4:$PORT" "http://[$TP_DST6]:$PORT"; do
  small=$(nsc timeout 30 curl -gsS --fail --max-time 20 "$url/index.txt")
  [[ $small == "hello from tps" ]] || fail "GET $url/index.txt returned '$small'"
  ok "GET $url/index.txt -> '$small'"
  rm -f "$TP_TMP/got.bin"
  info=$(nsc timeout 60 curl -gsS --fail --max-time 50 -o "$TP_TMP/got.bin" \
    -w '%{http_code} %{size_download} %{speed_download} %{remote_ip}' "$url/blob.bin") ||
    fail "curl $url/blob.bin failed"
  got=$(sha_of "$TP_TMP/got.bin")
  [[ $got == "$want" ]] || fail "GET $url/blob.bin: sha256 $got != $want ($info)"
  ok "GET $url/blob.bin (8 MiB): sha256 matches; code/bytes/B/s/ip: $info"
done
tp_gw_check_alive
tp_gw_stop_ok
echo "e2e_http: PASS"
