#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_httpproxy: the http handler (HTTP CONNECT) against Debian's tinyproxy,
# which runs in the server namespace on $TP_S4 (8888 open, with an ErrorFile
# for 500 that carries tinyproxy's {error}, the errno text of its failed
# connect; 8889 with BasicAuth user/pass; ConnectPort limits CONNECT to the
# test ports).
#  - --handler http://$TP_S4:8888: 20 MiB client->server and server->client
#    over IPv4 destinations, 5 MiB each way to an IPv6 destination
#    (CONNECT [fd00:19::1]:port), sha256 checked at the receiving end; the
#    server->client transfers start with the server's bytes, which tinyproxy
#    may send right behind its "200" (the handler must not swallow them)
#  - 50 concurrent flows through the proxy (256 KiB each way), each echo
#    verified; no half-close (tinyproxy ends a tunnel at the client's FIN)
#  - tinyproxy's failed connects become the client's errno, within 2 s: a
#    closed port (500 "Connection refused") -> ECONNREFUSED; an unreachable
#    route ("No route to host") -> EHOSTUNREACH, v4 and v6; no route
#    ("Network is unreachable") -> ENETUNREACH; a prohibit route
#    ("Permission denied") and a port ConnectPort forbids (403, the proxy's
#    policy) -> ICMP prohibited, so EHOSTUNREACH; a next hop that never
#    answers -> no answer at all (the client times out on its own)
#  - UDP is declined by the http handler: ICMP port unreachable
#  - http://user:pass@$TP_S4:8889: 20 MiB upload and 50 concurrent flows
#  - a wrong password and no credentials: connect fails within 2 s, the
#    log says "authentication failed" / "authentication required"
#  - a proxy nobody listens on: connect refused within 2 s, logged
#  - fakeproxy.py: "200" and the first tunnel bytes in one send reach the
#    client intact; the requests are byte-exact (v4, [v6], credentials only
#    when configured); a silent proxy (no answer: the held SYN is dropped
#    after --connect-timeout), a > 8 KiB head and a non-HTTP answer (RST)
#    refuse the flow and are logged
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root tinyproxy socat sha256sum
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's http handler, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

MIB=${TP_HTTPPROXY_MIB:-20}
V6_MIB=${TP_HTTPPROXY6_MIB:-5}
XFER_TIMEOUT=${TP_XFER_TIMEOUT:-120}
UDPTOOL=$TP_E2E_DIR/udptool.py
ECHOFLOWS=$TP_E2E_DIR/echoflows.py
HPORT=7300     # echo server for the concurrent flows
CLOSED=7399    # allowed by ConnectPort, nobody listens
FORBIDDEN=7398 # not in ConnectPort: 403
tp_mkfile "$TP_TMP/big.bin" "$MIB"
head -c "$((V6_MIB * 1024 * 1024))" "$TP_TMP/big.bin" >"$TP_TMP/v6.bin"

# destinations tinyproxy cannot reach, each in its own way: an unreachable and
# a prohibit route, no route at all (198.19.5.0/24), and a next hop that never
# answers (198.19.6.0/24 via a neighbour entry nobody owns)
ip -n "$NS_S" route add unreachable 198.19.8.0/24
ip -n "$NS_S" -6 route add unreachable fd00:19::8:0/112
ip -n "$NS_S" route add prohibit 198.19.7.0/24
ip -n "$NS_S" neigh replace 198.18.0.77 lladdr 02:00:00:00:00:77 dev tps0 nud permanent
ip -n "$NS_S" route add 198.19.6.0/24 via 198.18.0.77 dev tps0
# tinyproxy's built-in error page does not say why a connect failed; an
# ErrorFile with its {error} variable does (the way to run it behind tunplug)
cat >"$TP_TMP/err500.html" <<'EOF'
<html><head><title>{errno} {cause}</title></head>
<body><h1>{cause}</h1><p>{detail}</p><p>{error}</p></body></html>
EOF

# tinyproxy_conf PORT [extra line]: a config for a proxy on $TP_S4:PORT
tinyproxy_conf() {
  local port=$1 auth=${2:-} p
  {
    echo "Port $port"
    echo "Listen $TP_S4"
    echo "Timeout 120"
    echo "MaxClients 300"
    echo "LogLevel Info"
    echo "DisableViaHeader Yes"
    echo "Allow $TP_C4"
    for p in 5001 5002 5003 5004 5005 5006 "$HPORT" "$CLOSED"; do echo "ConnectPort $p"; done
    [[ -z $auth ]] || echo "$auth"
  } >"$TP_TMP/tinyproxy-$port.conf"
}
tinyproxy_conf 8888 "ErrorFile 500 \"$TP_TMP/err500.html\""
tinyproxy_conf 8889 "BasicAuth user pass"
tp_bg tinyproxy-8888 "$NS_S" tinyproxy -d -c "$TP_TMP/tinyproxy-8888.conf"
tp_bg tinyproxy-8889 "$NS_S" tinyproxy -d -c "$TP_TMP/tinyproxy-8889.conf"
tp_bg echoflows "$NS_S" "$PYTHON" "$ECHOFLOWS" server --host "$TP_DST4" --host "$TP_DST6" \
  --port "$HPORT" --timeout 300
tp_wait_listen "$NS_S" 8888
tp_wait_listen "$NS_S" 8889
tp_wait_listen "$NS_S" "$HPORT" 5 2

# upload / download FAM ADDR PORT FILE WHAT (lib.sh: tp_xfer)
upload() { tp_xfer up "$@"; }

download() { tp_xfer down "$@"; }

# probe WHAT HOST PORT MAX [ERRNO]: the client's connect must fail with ERRNO
# (ECONNREFUSED: a RST) within MAX s; ERRNO "timeout": no answer in MAX s
probe() {
  local what=$1 host=$2 port=$3 max=$4 want=${5:-ECONNREFUSED} out
  if [[ $want == timeout ]]; then
    out=$(nsc timeout 20 "$PYTHON" "$TP_TOOL" connect --host "$host" --port "$port" \
      --expect timeout --max 10 --timeout "$max") || fail "$what: want no answer in ${max}s, got: $out"
  else
    out=$(nsc timeout 20 "$PYTHON" "$TP_TOOL" connect --host "$host" --port "$port" \
      --expect "$want" --max "$max" --timeout 10) || fail "$what: want $want within ${max}s, got: $out"
  fi
  ok "$what: $out"
}

concurrent() { # WHAT HOST
  local out
  out=$(nsc timeout 90 "$PYTHON" "$ECHOFLOWS" client --host "$2" --port "$HPORT" -n 50 \
    --size 262144 --timeout 60) || fail "$1: $out"
  ok "$1: $out"
}

# ---- open proxy ----
TP_LOG_LEVEL=debug tp_gw_start --connect-timeout 5 --handler "http://$TP_S4:8888"
upload 4 "$TP_DST4" 5001 "$TP_TMP/big.bin" "via proxy: upload $MIB MiB to $TP_DST4"
download 4 "$TP_DST4" 5002 "$TP_TMP/big.bin" "via proxy: download $MIB MiB from $TP_DST4"
upload 6 "[$TP_DST6]" 5003 "$TP_TMP/v6.bin" "via proxy: upload $V6_MIB MiB to [$TP_DST6] (CONNECT [v6]:port)"
download 6 "[$TP_DST6]" 5004 "$TP_TMP/v6.bin" "via proxy: download $V6_MIB MiB from [$TP_DST6]"
concurrent "via proxy: 50 concurrent flows to $TP_DST4:$HPORT, each verified" "$TP_DST4"
concurrent "via proxy: 50 concurrent flows to [$TP_DST6]:$HPORT, each verified" "$TP_DST6"
probe "via proxy: closed port $TP_DST4:$CLOSED (500: Connection refused)" "$TP_DST4" "$CLOSED" 2
probe "via proxy: port $FORBIDDEN not in ConnectPort (403: prohibited)" "$TP_DST4" "$FORBIDDEN" 2 \
  EHOSTUNREACH
probe "via proxy: unreachable route (500: No route to host)" 198.19.8.8 "$CLOSED" 2 EHOSTUNREACH
probe "via proxy: unreachable route, IPv6 (500: No route to host)" fd00:19::8:8 "$CLOSED" 2 \
  EHOSTUNREACH
probe "via proxy: no route (500: Network is unreachable)" 198.19.5.5 "$CLOSED" 2 ENETUNREACH
probe "via proxy: prohibit route (500: Permission denied: prohibited)" 198.19.7.7 "$CLOSED" 2 \
  EHOSTUNREACH
probe "via proxy: a next hop that never answers (tinyproxy still connecting)" 198.19.6.6 \
  "$CLOSED" 3 timeout
for want in "CONNECT $TP_DST4:$CLOSED refused: 500 Unable to connect (Connection refused)" \
  "CONNECT $TP_DST4:$FORBIDDEN refused: 403 Access violation (Permission denied)" \
  "CONNECT 198.19.8.8:$CLOSED refused: 500 Unable to connect (No route to host)" \
  "CONNECT 198.19.5.5:$CLOSED refused: 500 Unable to connect (Network is unreachable)" \
  "CONNECT 198.19.7.7:$CLOSED refused: 500 Unable to connect (Permission denied)"; do
  grep -qF "http proxy $TP_S4:8888: $want" "$TP_GW_LOG" || fail "tunplug did not log '$want'"
done
ok "the proxy's answers and what they meant are logged"
out=$(nsc timeout 10 "$PYTHON" "$UDPTOOL" refused --host "$TP_DST4" --port 5005 --max 2) ||
  fail "UDP through the http handler: want ICMP port unreachable, got: $out"
ok "UDP is declined by the http handler: $out"
tp_gw_check_alive
tp_gw_stop_ok

# ---- proxy with BasicAuth ----
tp_gw_start --connect-timeout 5 --handler "http://user:pass@$TP_S4:8889"
upload 4 "$TP_DST4" 5005 "$TP_TMP/big.bin" "via authenticated proxy: upload $MIB MiB"
concurrent "via authenticated proxy: 50 concurrent flows, each verified" "$TP_DST4"
tp_gw_check_alive
tp_gw_stop_ok

tp_gw_start --connect-timeout 5 --handler "http://user:wrong@$TP_S4:8889"
probe "wrong password" "$TP_DST4" "$HPORT" 2
grep -q "http proxy $TP_S4:8889: authentication failed" "$TP_GW_LOG" ||
  fail "wrong password: no 'authentication failed' in the log"
ok "wrong password: the log says why: $(grep -m1 'authentication failed' "$TP_GW_LOG")"
tp_gw_stop_ok

tp_gw_start --connect-timeout 5 --handler "http://$TP_S4:8889"
probe "no credentials for an authenticating proxy" "$TP_DST4" "$HPORT" 2
grep -q "http proxy $TP_S4:8889: authentication required" "$TP_GW_LOG" ||
  fail "no credentials: no 'authentication required' in the log"
ok "no credentials: the log says why: $(grep -m1 'authentication required' "$TP_GW_LOG")"
tp_gw_stop_ok

# ---- nobody listens on the proxy port ----
tp_gw_start --connect-timeout 5 --handler "http://$TP_S4:8999"
probe "proxy not listening" "$TP_DST4" "$HPORT" 2
grep -q "http proxy $TP_S4:8999: cannot connect" "$TP_GW_LOG" ||
  fail "proxy not listening: no 'cannot connect' in the log"
ok "proxy not listening: logged: $(grep -m1 'cannot connect' "$TP_GW_LOG")"
tp_gw_stop_ok

# ---- exacting and misbehaving proxies (fakeproxy.py) ----
FAKE=$TP_E2E_DIR/fakeproxy.py
for m in greet:9001 silent:9002 huge:9003 garbage:9004; do
  tp_bg "fake-${m%%:*}" "$NS_S" "$PYTHON" "$FAKE" server --host "$TP_S4" --port "${m##*:}" \
    --mode "${m%%:*}" --log "$TP_TMP/fake-${m%%:*}.req" --timeout 100
done
for p in 9001 9002 9003 9004; do tp_wait_listen "$NS_S" "$p"; done
tp_gw_start --connect-timeout 2 --handler "http://user:pass@$TP_S4:9001" \
  --rule "dst=fd00:19::50:1/128,handler=http://$TP_S4:9001" \
  --rule "dst=198.19.50.2/32,handler=http://$TP_S4:9002" \
  --rule "dst=198.19.50.3/32,handler=http://$TP_S4:9003" \
  --rule "dst=198.19.50.4/32,handler=http://$TP_S4:9004"
out=$(nsc timeout 20 "$PYTHON" "$FAKE" client --host "$TP_DST4" --port 7300) ||
  fail "200 and tunnel bytes in one segment: $out"
ok "200 and the first tunnel bytes in one send: the bytes reach the client, echo intact: $out"
req=$(tr -d '\r' <"$TP_TMP/fake-greet.req")
want=$'CONNECT 198.19.1.1:7300 HTTP/1.1\nHost: 198.19.1.1:7300\nProxy-Authorization: Basic dXNlcjpwYXNz'
[[ $req == "$want" ]] || fail "request: got '$req', want '$want'"
: >"$TP_TMP/fake-greet.req"
out=$(nsc timeout 20 "$PYTHON" "$FAKE" client --host fd00:19::50:1 --port 443) ||
  fail "IPv6 destination via the fake proxy: $out"
req=$(tr -d '\r' <"$TP_TMP/fake-greet.req")
want=$'CONNECT [fd00:19::50:1]:443 HTTP/1.1\nHost: [fd00:19::50:1]:443'
[[ $req == "$want" ]] || fail "IPv6 request: got '$req', want '$want' (and no credentials)"
ok "requests are exact: CONNECT/Host for v4 and [v6], Proxy-Authorization only when configured"
probe "proxy that never answers (--connect-timeout 2)" 198.19.50.2 80 4 timeout
grep -q "http proxy $TP_S4:9002: no connection and answer within 2000 ms" "$TP_GW_LOG" ||
  fail "silent proxy: not logged"
probe "proxy answering a head larger than 8 KiB" 198.19.50.3 80 2
grep -q "http proxy $TP_S4:9003: answer head larger than 8192 bytes" "$TP_GW_LOG" ||
  fail "huge head: not logged"
probe "proxy answering something that is not HTTP" 198.19.50.4 80 2
grep -q "http proxy $TP_S4:9004: malformed answer to CONNECT" "$TP_GW_LOG" ||
  fail "garbage answer: not logged"
ok "silent, oversized and malformed answers are logged"
tp_gw_check_alive
tp_gw_stop_ok
echo "e2e_httpproxy: PASS"
