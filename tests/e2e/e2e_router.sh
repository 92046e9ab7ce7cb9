#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_router: router mode. A third namespace, a LAN host, sits behind the
# client namespace (where tunplug runs) and uses it as its default gateway:
#
#  netns $NS_R (LAN host)          netns $NS_C (router + tunplug)        netns $NS_S
#  tpr0 10.77.0.2/24  ==========  tpl0 10.77.0.1/24     tp0 -> tunplug -> tpc0 ===== tps0 ...
#       fd00:77::2/64                  fd00:77::1/64    (--route 198.19.0.0/16, fd00:19::/64)
#  default via 10.77.0.1 / fd00:77::1   ip_forward=1, ipv6 forwarding=1
#
# The server namespace has no route back to 10.77.0.0/24 or fd00:77::/64, so
# the LAN host can only get answers from connections tunplug re-made.
#  - without tunplug the LAN host cannot reach the servers (control)
#  - curl from the LAN host, IPv4 and IPv6, 4 MiB sha256-checked: curl's
#    source is the LAN address; tunplug's debug log has the flow from that
#    exact address and port; the server saw the gateway's veth address
#  - uploads (socat, 8 MiB each family, sha256 at the server) through the
#    forwarding path (the kernel may hand forwarded super-packets to the tun)
#  - UDP round trips from the LAN host (udptool.py), IPv4 and IPv6
#  - the summary counts exactly the LAN host's flows (4 TCP, 2 UDP) and
#    every flow in the debug log comes from the LAN addresses
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root curl socat sha256sum
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
tp_topo_up

LAN_R4=10.77.0.2
LAN_C4=10.77.0.1
LAN_R6=fd00:77::2
LAN_C6=fd00:77::1
NS_R=${TP_NS_R:-tpr-$$}
HTTP_PORT=8080
UDP_PORT=7401
UDPTOOL=$TP_E2E_DIR/udptool.py

# the third namespace is this test's own: remove it (and whatever runs in it)
# before lib.sh's cleanup takes down the other two
router_cleanup() {
  local rc=$? pid
  set +e
  if [[ -n ${NS_R:-} ]] && grep -qw "^$NS_R" <<<"$(ip netns list)"; then
    for pid in $(ip netns pids "$NS_R" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$NS_R" 2>/dev/null
  fi
  (exit "$rc")
  tp_cleanup
}
trap router_cleanup EXIT
nsr() { ip netns exec "$NS_R" "$@"; }

if grep -qw "^$NS_R" <<<"$(ip netns list)"; then
  for pid in $(ip netns pids "$NS_R" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  ip netns del "$NS_R"
fi
ip netns add "$NS_R"
ip -n "$NS_R" link set lo up
nsr sysctl -q -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 >/dev/null
ip -n "$NS_C" link add tpl0 type veth peer name tpr0 netns "$NS_R"
ip -n "$NS_C" addr add "$LAN_C4/24" dev tpl0
ip -n "$NS_C" addr add "$LAN_C6/64" dev tpl0 nodad
ip -n "$NS_R" addr add "$LAN_R4/24" dev tpr0
ip -n "$NS_R" addr add "$LAN_R6/64" dev tpr0 nodad
ip -n "$NS_C" link set tpl0 up
ip -n "$NS_R" link set tpr0 up
# static neighbours, as lib.sh does for the other veth
mac_l=$(ip -n "$NS_C" -br link show tpl0 | awk '{print $3}')
mac_r=$(ip -n "$NS_R" -br link show tpr0 | awk '{print $3}')
ip -n "$NS_C" neigh replace "$LAN_R4" lladdr "$mac_r" dev tpl0 nud permanent
ip -n "$NS_C" neigh replace "$LAN_R6" lladdr "$mac_r" dev tpl0 nud permanent
ip -n "$NS_R" neigh replace "$LAN_C4" lladdr "$mac_l" dev tpr0 nud permanent
ip -n "$NS_R" neigh replace "$LAN_C6" lladdr "$mac_l" dev tpr0 nud permanent
ip -n "$NS_R" route add default via "$LAN_C4" dev tpr0
ip -n "$NS_R" -6 route add default via "$LAN_C6" dev tpr0
# the client namespace becomes a router
nsc sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
  net.ipv6.conf.default.forwarding=1 >/dev/null
log "LAN host $NS_R ($LAN_R4, $LAN_R6) behind $NS_C (forwarding on)"

# the servers cannot answer the LAN addresses themselves
for a in "$LAN_R4" "$LAN_R6"; do
  if ip -n "$NS_S" route get "$a" >/dev/null 2>&1; then
    fail "the server namespace has a route to $a; the test needs it not to"
  fi
done
ok "the server namespace has no route back to $LAN_R4 or $LAN_R6"

mkdir -p "$TP_TMP/www"
tp_mkfile "$TP_TMP/www/blob.bin" 4
want=$(sha_of "$TP_TMP/www/blob.bin")
tp_mkfile "$TP_TMP/up.bin" 8
want_up=$(sha_of "$TP_TMP/up.bin")
tp_bg http4 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST4" --directory "$TP_TMP/www" "$HTTP_PORT"
tp_bg http6 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST6" --directory "$TP_TMP/www" "$HTTP_PORT"
tp_wait_listen "$NS_S" "$HTTP_PORT" 5 2
tp_bg udpecho "$NS_S" "$PYTHON" "$UDPTOOL" server --host "$TP_DST4" --host "$TP_DST6" \
  --port "$UDP_PORT" --timeout 200
for ((i = 0; i < 100; i++)); do
  [[ $(nss ss -Hlun "sport = :$UDP_PORT" | wc -l) -ge 2 ]] && break
  sleep 0.05
done

# control: no tunplug, no route into anything -> the router answers unreachable
if out=$(nsr timeout 20 curl -gsS --max-time 10 -o /dev/null "http://$TP_DST4:$HTTP_PORT/blob.bin" 2>&1); then
  fail "without tunplug the LAN host reached $TP_DST4: $out"
fi
ok "without tunplug the LAN host cannot reach $TP_DST4 ($out)"

TP_LOG_LEVEL=debug tp_gw_start

# fetch URL: the blob from the LAN host, sha256 checked, source = LAN address,
# tunplug's debug log has the flow with curl's source address and port
fetch() {
  local url=$1 want_src=$2 dst=$3 info lip lport
  rm -f "$TP_TMP/got.bin"
  info=$(nsr timeout 60 curl -gsS --fail --max-time 50 -o "$TP_TMP/got.bin" \
    -w '%{local_ip} %{local_port} %{http_code}' "$url/blob.bin") || fail "curl $url/blob.bin from the LAN host failed"
  [[ $(sha_of "$TP_TMP/got.bin") == "$want" ]] || fail "GET $url/blob.bin from the LAN host: sha256 differs"
  read -r lip lport _ <<<"$info"
  [[ $lip == "$want_src" ]] || fail "GET $url: curl's source is $lip, want $want_src"
  if [[ $want_src == *:* ]]; then lip="[$lip]"; fi
  grep -qF "flow open: $lip:$lport -> $dst:$HTTP_PORT" "$TP_GW_LOG" ||
    fail "no 'flow open: $lip:$lport -> $dst:$HTTP_PORT' in tunplug's log: $(grep 'flow open' "$TP_GW_LOG" | tr '\n' '|')"
  ok "GET $url/blob.bin (4 MiB) from the LAN host: sha256 matches; tunplug logged flow $lip:$lport -> $dst:$HTTP_PORT"
}
fetch "http://$TP_DST4:$HTTP_PORT" "$LAN_R4" "$TP_DST4"
fetch "http://[$TP_DST6]:$HTTP_PORT" "$LAN_R6" "[$TP_DST6]"

# the servers saw tunplug's re-made connections (the router's veth addresses)
from4=$(grep 'GET /blob.bin' "$TP_TMP/http4.log" | tail -n 1 | cut -d' ' -f1)
from6=$(grep 'GET /blob.bin' "$TP_TMP/http6.log" | tail -n 1 | cut -d' ' -f1)
[[ $from4 == "$TP_C4" && $from6 == "$TP_C6" ]] ||
  fail "the servers saw the requests from '$from4' and '$from6', want $TP_C4 and $TP_C6"
ok "the servers saw the requests from the gateway ($from4, $from6), not from the LAN host"

# upload FAM ADDR PORT: the LAN host sends up.bin, the server hashes it
upload() {
  local fam=$1 addr=$2 port=$3 spid got
  tp_bg "up-$port" "$NS_S" timeout 120 bash -c \
    "socat -u TCP${fam}-LISTEN:$port,bind=$addr,reuseaddr STDOUT | sha256sum >'$TP_TMP/up-$port.sum'"
  spid=$TP_LAST_PID
  tp_wait_listen "$NS_S" "$port"
  nsr timeout 120 socat -u "FILE:$TP_TMP/up.bin" "TCP${fam}:$addr:$port" ||
    fail "upload over IPv$fam from the LAN host: client socat failed"
  wait "$spid" || fail "upload over IPv$fam from the LAN host: server side failed or timed out"
  got=$(cut -d' ' -f1 "$TP_TMP/up-$port.sum")
  [[ $got == "$want_up" ]] || fail "upload over IPv$fam: the server got sha256 $got, want $want_up"
  ok "upload 8 MiB over IPv$fam from the LAN host: sha256 at the server matches"
}
upload 4 "$TP_DST4" 5101
upload 6 "[$TP_DST6]" 5102

for host in "$TP_DST4" "$TP_DST6"; do
  out=$(nsr timeout 60 "$PYTHON" "$UDPTOOL" client --host "$host" --port "$UDP_PORT" \
    --flows 1 --size 1200 --tries 20 --timeout 30) || fail "UDP from the LAN host to $host: $out"
  ok "UDP round trip from the LAN host to $host:$UDP_PORT: $out"
done
for src in "$LAN_R4:" "[$LAN_R6]:"; do
  grep -qF "udp flow open: $src" "$TP_GW_LOG" || fail "no 'udp flow open: $src...' in tunplug's log"
done
ok "tunplug logged the UDP flows from $LAN_R4 and $LAN_R6"

tp_gw_check_alive
tp_gw_stop_ok

# every flow tunplug saw is the LAN host's: 4 TCP (2 GET, 2 uploads), 2 UDP
# ("flows: seen" counts both kinds)
tcp=$(grep -oE 'stack tcp flows: opened [0-9]+' <<<"$TP_GW_SUMMARY" | grep -oE '[0-9]+$')
udp=$(grep -oE 'stack udp flows: opened [0-9]+' <<<"$TP_GW_SUMMARY" | grep -oE '[0-9]+$')
seen=$(grep -oE 'flows: seen [0-9]+' <<<"$TP_GW_SUMMARY" | grep -oE '[0-9]+$')
[[ $tcp == 4 && $udp == 2 && $seen == 6 ]] ||
  fail "summary: tcp flows opened '$tcp' (want 4), udp flows opened '$udp' (want 2), flows seen '$seen' (want 6)"
others=$(grep -E '(udp )?flow open: ' "$TP_GW_LOG" | grep -vF -e "open: $LAN_R4:" -e "open: [$LAN_R6]:" || true)
[[ -z $others ]] || fail "flows from other sources: $others"
n_open=$(grep -cE '(udp )?flow open: ' "$TP_GW_LOG" || true)
[[ $n_open == 6 ]] || fail "$n_open 'flow open' lines in the debug log, want 6"
ok "summary: tcp flows opened $tcp, udp flows opened $udp, flows seen $seen; all 6 logged flows come from the LAN host"
echo "e2e_router: PASS"
