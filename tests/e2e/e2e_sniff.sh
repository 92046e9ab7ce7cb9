#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_sniff: --sniff with real servers in the server namespace: nginx (TLS on
# 443, a certificate made by `openssl req` now), python's http.server on 80,
# a server-first banner service on 8025, and tinyproxy as the upstream (the
# http handler: every TCP flow is a CONNECT).
#  - curl -k https://sniff.example.test/file connected to the real address
#    (--connect-to, so the TLS SNI carries the name while the client
#    connects to 198.19.1.1 / [fd00:19::1]): the body's sha256 matches,
#    tunplug's debug log shows the sniffed name; when the http handler asks
#    for name:port (handler ABI names), tinyproxy's log shows
#    "CONNECT sniff.example.test:443" (tinyproxy resolves it through the
#    server namespace's /etc/netns hosts file); and with the ClientHello
#    sent in 40-byte TCP segments (tlssplit.py)
#  - curl http://web.example.test/file: the Host header's name, sha256
#  - a server-first protocol (the server speaks first): the sniff deadline
#    passes, the flow is dispatched by address and works both ways
#  - a rule with sniff=1 whose handler refuses: the client, past its
#    handshake, gets a RST (curl: connection reset)
#  - UDP to 443 (direct handler): the RFC 9001 A.2 Initial (SNI
#    example.com), a ClientHello split over two Initials in two datagrams
#    (held, then both delivered), the tail alone (held until the deadline,
#    then delivered), a datagram that is no QUIC: every datagram reaches the
#    server byte for byte, in order; the names are in the debug log
#  - the summary counts each outcome
#  - domain rules on sniffed names (--sniff, a.example.com -> direct,
#    b.example.org -> reject, the rest -> tinyproxy): the SNI and the Host
#    header pick the handler (a: sha256 matches, the server saw the
#    gateway's own address, tinyproxy never saw the name; b: RST after the
#    handshake; c.example.net: CONNECT by name to tinyproxy)
#  - without --sniff a domain rule sniffs nothing (port 80 goes to
#    tinyproxy by address); a rule with domain= and sniff=1 (port=443)
#    sniffs every flow its other keys match: a.example.com on 443 is then
#    sniffed and takes its own rule (direct)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root nginx tinyproxy curl openssl socat sha256sum
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's sniffing, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up
# tinyproxy resolves the sniffed names through the server namespace's own
# hosts file (tp_netns_file: /etc/netns/NS/hosts); removed at exit
tp_netns_file "$NS_S" hosts "$TP_DST4 sniff.example.test split.sniff.example.test web.example.test
$TP_DST4 a.example.com b.example.org c.example.net
$TP_DST6 sniff.example.test
"

QUICSEND=$TP_E2E_DIR/quicsend.py
NAME=sniff.example.test
WEB=web.example.test
mkdir -p "$TP_TMP/www"
tp_mkfile "$TP_TMP/www/file" 2

# ---- servers ----
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$NAME" \
  -addext "subjectAltName=DNS:$NAME" -keyout "$TP_TMP/key.pem" -out "$TP_TMP/cert.pem" \
  2>"$TP_TMP/openssl.log" || fail "openssl req: $(tail -n 3 "$TP_TMP/openssl.log")"
mkdir -p "$TP_TMP/nginx"
cat >"$TP_TMP/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $TP_TMP/nginx.pid;
error_log $TP_TMP/nginx-error.log info;
events { worker_connections 64; }
http {
  access_log $TP_TMP/nginx-access.log;
  client_body_temp_path $TP_TMP/nginx/body;
  proxy_temp_path $TP_TMP/nginx/proxy;
  server {
    listen $TP_DST4:443 ssl;
    listen [$TP_DST6]:443 ssl;
    server_name $NAME;
    ssl_certificate $TP_TMP/cert.pem;
    ssl_certificate_key $TP_TMP/key.pem;
    root $TP_TMP/www;
  }
}
EOF
tp_bg nginx "$NS_S" nginx -p "$TP_TMP/nginx" -c "$TP_TMP/nginx.conf"
tp_bg httpserver "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST4" --directory "$TP_TMP/www" 80
# server-first: a banner before anything else, then an echo
tp_bg banner "$NS_S" socat "TCP4-LISTEN:8025,bind=$TP_DST4,reuseaddr,fork" \
  "SYSTEM:echo 220 banner-first; exec cat"
{
  echo "Port 8888"
  echo "Listen $TP_S4"
  echo "Timeout 60"
  echo "LogLevel Info"
  echo "DisableViaHeader Yes"
  echo "Allow $TP_C4"
  for p in 443 80 8025; do echo "ConnectPort $p"; done
} >"$TP_TMP/tinyproxy.conf"
tp_bg tinyproxy "$NS_S" tinyproxy -d -c "$TP_TMP/tinyproxy.conf"
tp_wait_listen "$NS_S" 443 5 2
tp_wait_listen "$NS_S" 80
tp_wait_listen "$NS_S" 8025
tp_wait_listen "$NS_S" 8888

# tinyproxy_connect WHAT NAME PORT: tinyproxy was asked for CONNECT NAME:PORT
# (the http handler sends the flow's name when it has one)
tinyproxy_connect() {
  tp_tinyproxy_saw_connect "$TP_TMP/tinyproxy.log" "$2" "$3" ||
    fail "$1: no 'CONNECT $2:$3' in tinyproxy's log: $(grep CONNECT "$TP_TMP/tinyproxy.log" | tail -n 3)"
  ok "$1: tinyproxy saw CONNECT $2:$3"
}
# sniff_logged WHAT PATTERN: tunplug's debug log has a sniff line matching
sniff_logged() {
  grep -qE "sniff: .*$2" "$TP_GW_LOG" || fail "$1: no 'sniff: ...$2' in tunplug's log"
  ok "$1: $(grep -m1 -E "sniff: .*$2" "$TP_GW_LOG" | sed 's/^.*sniff: /sniff: /')"
}

want=$(sha_of "$TP_TMP/www/file")
TP_LOG_LEVEL=debug tp_gw_start --sniff --sniff-ports 80,443,8025 --handler "http://$TP_S4:8888" \
  --rule "proto=udp,handler=direct" --rule "port=8443,sniff=1,handler=reject"

# ---- TLS SNI ----
for dst in "$TP_DST4" "[$TP_DST6]"; do
  nsc timeout 30 curl -sS -k --max-time 20 --connect-to "$NAME:443:$dst:443" \
    -o "$TP_TMP/tls.out" "https://$NAME/file" || fail "curl https://$NAME via $dst failed"
  [[ $(sha_of "$TP_TMP/tls.out") == "$want" ]] || fail "https via $dst: sha256 differs"
  ok "https://$NAME/file connected to $dst: sha256 matches"
done
sniff_logged "TLS SNI, IPv4" "-> $TP_DST4:443: found name=$NAME"
# the ClientHello in 40-byte TCP segments (tlssplit.py): put back together
got=$(nsc timeout 30 "$PYTHON" "$TP_E2E_DIR/tlssplit.py" --host "$TP_DST4" --name "split.$NAME" \
  --path /file --chunk 40) || fail "TLS with the ClientHello in 40-byte segments: $got"
[[ $got == "$want" ]] || fail "TLS, hello in 40-byte segments: sha256 differs"
ok "https with the ClientHello in 40-byte TCP segments: sha256 matches"
sniff_logged "TLS SNI over many segments" "-> $TP_DST4:443: found name=split.$NAME"
sniff_logged "TLS SNI, IPv6" "-> \[$TP_DST6\]:443: found name=$NAME"
tinyproxy_connect "TLS SNI" "$NAME" 443

# ---- HTTP Host ----
nsc timeout 30 curl -sS --max-time 20 --connect-to "$WEB:80:$TP_DST4:80" -o "$TP_TMP/http.out" \
  "http://$WEB/file" || fail "curl http://$WEB failed"
[[ $(sha_of "$TP_TMP/http.out") == "$want" ]] || fail "http: sha256 differs"
ok "http://$WEB/file connected to $TP_DST4: sha256 matches"
sniff_logged "HTTP Host" "-> $TP_DST4:80: found name=$WEB"
tinyproxy_connect "HTTP Host" "$WEB" 80

# ---- server-first: the deadline passes, the flow goes on by address ----
out=$(nsc timeout 20 "$PYTHON" - "$TP_DST4" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], 8025), timeout=10)
f = s.makefile("rwb")
banner = f.readline()
assert banner == b"220 banner-first\n", banner
f.write(b"ping after the banner\n")
f.flush()
echo = f.readline()
assert echo == b"ping after the banner\n", echo
print("banner and echo ok")
EOF
) || fail "server-first protocol through a sniffed port: $out"
ok "server-first protocol on a sniffed port: $out"
sniff_logged "server-first" "-> $TP_DST4:8025: timeout"

# ---- a refusal after the handshake is a RST ----
rc=0
out=$(nsc timeout 20 curl -sS -k --max-time 10 "https://$TP_DST4:8443/" 2>&1) || rc=$?
[[ $rc -ne 0 ]] || fail "sniff=1 rule with handler reject: curl succeeded"
grep -qi "reset" <<<"$out" || fail "sniff=1 + reject: want a connection reset, got: $out"
ok "sniff=1 rule, handler reject: the client gets a RST after its handshake ($out)"
grep -q "flow refused after sniffing (reset)" "$TP_GW_LOG" || fail "the reset is not logged"

# ---- QUIC Initials on UDP 443 ----
tp_bg quicrecv "$NS_S" "$PYTHON" "$QUICSEND" recv --host "$TP_DST4" --port 443 --count 5 \
  --out "$TP_TMP/quic.got" --timeout 20
qpid=$TP_LAST_PID
sleep_until_bound() { # the receiver's socket
  local i
  for ((i = 0; i < 100; i++)); do
    ip netns exec "$NS_S" ss -Hlun "sport = :443" | grep -q . && return 0
    sleep 0.05
  done
  fail "the QUIC receiver did not bind"
}
sleep_until_bound
: >"$TP_TMP/quic.want"
for w in rfc split tail junk; do
  nsc "$PYTHON" "$QUICSEND" send --host "$TP_DST4" --port 443 --which "$w" --gap-ms 50
  "$PYTHON" "$QUICSEND" show --which "$w" >>"$TP_TMP/quic.want"
  # one flow at a time, so the receiver's order is the sending order
  n=$(wc -l <"$TP_TMP/quic.want")
  for ((i = 0; i < 200; i++)); do
    [[ -f $TP_TMP/quic.got && $(wc -l <"$TP_TMP/quic.got") -ge $n ]] && break
    sleep 0.02
  done
done
wait "$qpid" || fail "QUIC receiver: $(cat "$TP_TMP/quicrecv.log")"
cmp -s "$TP_TMP/quic.want" "$TP_TMP/quic.got" || fail "QUIC datagrams changed or reordered"
ok "UDP 443: 5 datagrams (RFC 9001 Initial, a split hello, a tail alone, junk) delivered unchanged, in order"
sniff_logged "QUIC, RFC 9001 A.2" "quic found name=example.com \(0 held\)"
sniff_logged "QUIC, hello over two datagrams" "quic found name=example.com \(1 held\)"
sniff_logged "QUIC, a hello that never completes" "quic timeout \(1 held\)"
sniff_logged "UDP 443, not QUIC" "quic not-proto \(0 held\)"

tp_gw_check_alive
tp_gw_stop_ok
line=$(grep "sniffed names:" <<<"$TP_GW_SUMMARY") || fail "no 'sniffed names' line in the summary"
for want_count in "tls 3," "http 1," "quic 2;" "timeout 2," "reset after the handshake 1"; do
  grep -qF "$want_count" <<<"$line" || fail "summary: want '$want_count' in: $line"
done
ok "summary: ${line#*  }"
# ---- sniffed names and domain rules ----
# fetch PROTO NAME TAG: curl PROTO://NAME/file?TAG connected to $TP_DST4
# (nginx for https, http.server for http); the body's sha256 must match
fetch() {
  local port=443
  [[ $1 == http ]] && port=80
  nsc timeout 30 curl -sS -k --max-time 20 --connect-to "$2:$port:$TP_DST4:$port" \
    -o "$TP_TMP/fetch.out" "$1://$2/file?$3" || fail "curl $1://$2/file?$3 failed"
  [[ $(sha_of "$TP_TMP/fetch.out") == "$want" ]] || fail "$1://$2/file?$3: sha256 differs"
}
# served PROTO TAG ADDR: the server's log has the request for /file?TAG from
# ADDR ($TP_C4: the gateway's direct handler; tinyproxy connects from its
# own namespace)
served() {
  local log=$TP_TMP/nginx-access.log
  [[ $1 == http ]] && log=$TP_TMP/httpserver.log
  tp_wait_log "$log" "^$(tp_ere_quote "$3") .*\"GET /file\?$2 HTTP" ||
    fail "$1 /file?$2: not served to $3: $(grep -F "?$2 " "$log")"
}
# refused PROTO NAME: a sniff-then-reject: the client gets a RST after its handshake
refused() {
  local port=443 rc=0 out
  [[ $1 == http ]] && port=80
  out=$(nsc timeout 20 curl -sS -k --max-time 10 --connect-to "$2:$port:$TP_DST4:$port" \
    "$1://$2/file" 2>&1) || rc=$?
  [[ $rc -ne 0 ]] || fail "$1://$2 must be reset: curl succeeded"
  grep -qi reset <<<"$out" || fail "$1://$2 must be reset (rc $rc): $out"
}
no_connect() { # tinyproxy never got a CONNECT for NAME
  ! grep -qF "CONNECT $1:" "$TP_TMP/tinyproxy.log" || fail "tinyproxy got a CONNECT for $1"
}
# --sniff: the SNI and the Host name pick the rule
TP_LOG_LEVEL=debug tp_gw_start --sniff --handler "http://$TP_S4:8888" \
  --rule "domain=a.example.com,handler=direct" --rule "domain=b.example.org,handler=reject"
fetch https a.example.com a-tls
served https a-tls "$TP_C4"
fetch http a.example.com a-http
served http a-http "$TP_C4"
no_connect a.example.com
ok "--sniff: https and http to a.example.com (SNI, Host) -> domain rule -> direct: sha256 matches, served to $TP_C4, never via tinyproxy"
refused https b.example.org
refused http b.example.org
no_connect b.example.org
ok "--sniff: https and http to b.example.org -> domain rule -> reject: RST after the handshake"
fetch https c.example.net c-tls
tinyproxy_connect "--sniff, a name without a rule -> the default http handler" c.example.net 443
tp_gw_check_alive
tp_gw_stop_ok
line=$(grep "sniffed names:" <<<"$TP_GW_SUMMARY") || fail "no 'sniffed names' line in the summary"
for want_count in "tls 3, http 2," "reset after the handshake 2"; do
  grep -qF "$want_count" <<<"$line" || fail "summary: want '$want_count' in: $line"
done
ok "summary: ${line#*  }"

# no --sniff: a domain rule alone sniffs nothing; a sniff=1 rule with a
# domain sniffs every flow its other keys match (the name is not known yet)
TP_LOG_LEVEL=debug tp_gw_start --handler "http://$TP_S4:8888" \
  --rule "domain=a.example.com,handler=direct" --rule "domain=b.example.org,port=443,sniff=1,handler=reject"
fetch http a.example.com a-http-nosniff
tinyproxy_connect "no --sniff, http to a.example.com: not sniffed, by address" "$TP_DST4" 80
! grep -q "sniff: .*-> $TP_DST4:80" "$TP_GW_LOG" || fail "a flow to port 80 was sniffed"
tp_wait_log "$TP_TMP/httpserver.log" 'GET /file\?a-http-nosniff ' || fail "http.server: no a-http-nosniff"
! grep -qE "^$(tp_ere_quote "$TP_C4") .*GET /file\?a-http-nosniff " "$TP_TMP/httpserver.log" ||
  fail "the request through tinyproxy came from $TP_C4: 'served' cannot tell direct from tinyproxy"
ok "no --sniff: http to a.example.com (port 80) not sniffed: its domain rule cannot match, the default handler took it"
fetch https a.example.com a-tls-rule
served https a-tls-rule "$TP_C4"
sniff_logged "a sniff=1 rule with domain=b.example.org, a flow to a.example.com" \
  "-> $TP_DST4:443: found name=a.example.com"
ok "https to a.example.com sniffed by the b.example.org sniff=1 rule (port 443), then its own rule: direct"
refused https b.example.org
ok "https to b.example.org: sniffed, its rule (reject): RST after the handshake"
no_connect a.example.com
tp_gw_check_alive
tp_gw_stop_ok
line=$(grep "sniffed names:" <<<"$TP_GW_SUMMARY") || fail "no 'sniffed names' line in the summary"
for want_count in "tls 2, http 0," "reset after the handshake 1"; do
  grep -qF "$want_count" <<<"$line" || fail "summary: want '$want_count' in: $line"
done
ok "summary: ${line#*  }"
echo "e2e_sniff: PASS"
