#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_names: fake-IP DNS (--fake-ip) and domain rules, dnsmasq as the
# upstream resolver.
#  - dig A and AAAA through the gateway get addresses of the pools
#    (198.19.200.0/24, fd00:19::fa00:0/120) with the --fake-ip-ttl, the
#    same name the same address; a TXT query is forwarded to dnsmasq and
#    gets its record; dnsmasq never saw the A/AAAA queries
#  - domain rules on the names the flows carry: a.example.com -> echo (the
#    bytes come back), b.example.org -> redirect to a python http.server
#    (curl by name, --resolve with the pool address dig gave: the file's
#    sha256 matches), any other name -> the default handler reject
#    (EHOSTUNREACH), both over IPv4 and IPv6 pool addresses
#  - a pool address never handed out: TCP refused with RST (ECONNREFUSED),
#    UDP with ICMP administratively prohibited; logged once per address; summary
#    counts answers, flows named and unmapped refusals
#  - a tiny pool (/30: 2 addresses) with --fake-ip-max: the third name
#    evicts the least recently used one; a flow to the reused address
#    carries the new name (its domain rule answers), summary evictions
#  - --queues 2: 24 names asked, then 24 flows on other connections: every
#    flow is named, whichever worker got the query; after SIGKILL of a
#    worker, the restarted one still names the old mappings
#  - upstreams by name (--handler direct, a domain rule to socks5://): a
#    flow to b.example.org's pool address (IPv4 and IPv6) is connected by
#    direct to the address dnsmasq gives the gateway for the name (the
#    client namespace's resolv.conf), curl's sha256 matches; a name that
#    does not resolve is refused (EHOSTUNREACH); s5.example.org goes to
#    danted, whose log shows the CONNECT by name (ATYP 3) and a UDP
#    datagram for the name, and danted, not the gateway, looked it up in
#    dnsmasq (remote DNS); curl's sha256 matches, the UDP echo comes back
# shellcheck disable=SC2015  # "A && B || fail" is meant: fail unless both hold
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DANTED=${DANTED:-/usr/sbin/danted}
tp_require_root dig dnsmasq curl socat pgrep
[[ -x $DANTED ]] || fail "missing $DANTED (Debian: apt-get install -y dante-server)"
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
tp_topo_up
UDPTOOL=$TP_E2E_DIR/udptool.py
POOL4=198.19.200.0/24
POOL6=fd00:19::fa00:0/120
HPORT=8080

# dnsmasq in the server namespace: the real names, for the gateway's dns
# handler ($TP_DST4) and for the programs that look names up themselves:
# tunplug's direct handler in the client namespace (resolv.conf naming
# $TP_S4, reached over the veth, not through the tun) and danted in the
# server namespace (remote DNS: $TP_DST4)
tp_netns_file "$NS_C" resolv.conf "nameserver $TP_S4
options timeout:2 attempts:2
"
tp_netns_file "$NS_S" resolv.conf "nameserver $TP_DST4
options timeout:2 attempts:2
"
tp_bg dnsmasq "$NS_S" dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
  --user=root --pid-file= --port 53 --listen-address="$TP_DST4" --listen-address="$TP_S4" \
  --bind-interfaces --log-queries --log-facility=- --address=/a.example.com/198.19.1.1 \
  --address=/b.example.org/198.19.1.1 --address=/s5.example.org/198.19.1.1 \
  --local=/nx.example.net/ --txt-record=t.example.net,"real txt"
DNSMASQ_LOG=$TP_TMP/dnsmasq.log
for ((i = 0; i < 100; i++)); do
  [[ $(nss ss -Hlun "sport = :53" | wc -l) -ge 1 ]] && break
  sleep 0.05
done
# the http server behind b.example.org's rule
mkdir -p "$TP_TMP/www"
tp_mkfile "$TP_TMP/www/file.bin" 2
tp_bg http "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST4" --directory "$TP_TMP/www" "$HPORT"
tp_wait_listen "$NS_S" "$HPORT"

dig_c() { nsc timeout 20 dig +time=5 +tries=1 "$@" 2>&1; }
# addr_of NAME TYPE: the address dig gets through the gateway
addr_of() { dig_c +short @198.19.99.99 "$1" "$2" | tail -n 1; }
in_pool4() { [[ $1 =~ ^198\.19\.200\.([0-9]+)$ ]] && ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= 254)); }
in_pool6() { [[ $1 =~ ^fd00:19::fa00:[0-9a-f]{1,2}$ ]]; }

TP_LOG_LEVEL=debug tp_gw_start --handler reject --dns-upstream "$TP_DST4:53" \
  --fake-ip "$POOL4" --fake-ip "$POOL6" --fake-ip-ttl 7 \
  --rule domain=a.example.com,handler=echo \
  --rule "domain=b.example.org,proto=tcp,handler=redirect://$TP_DST4:$HPORT"

# ---- DNS: pool addresses for A and AAAA, the rest forwarded ----
out=$(dig_c @198.19.99.99 a.example.com A) || fail "dig A: $out"
a4=$(sed -nE 's/^a\.example\.com\.[[:space:]]+7[[:space:]]+IN[[:space:]]+A[[:space:]]+([0-9.]+)$/\1/p' <<<"$out")
in_pool4 "$a4" || fail "a.example.com A: want a pool address with TTL 7: $out"
ok "dig a.example.com A -> $a4 (pool $POOL4, TTL 7)"
b4=$(addr_of b.example.org A)
in_pool4 "$b4" && [[ $b4 != "$a4" ]] || fail "b.example.org A: $b4 (a is $a4)"
[[ $(addr_of A.Example.COM A) == "$a4" ]] || fail "the same name (any case) must keep $a4"
ok "dig b.example.org A -> $b4; A.Example.COM -> $a4 again"
out=$(dig_c @198.19.99.99 a.example.com AAAA) || fail "dig AAAA: $out"
a6=$(sed -nE 's/^a\.example\.com\.[[:space:]]+7[[:space:]]+IN[[:space:]]+AAAA[[:space:]]+([0-9a-f:]+)$/\1/p' <<<"$out")
in_pool6 "$a6" || fail "a.example.com AAAA: want a pool address: $out"
ok "dig a.example.com AAAA -> $a6 (pool $POOL6)"
out=$(dig_c +short @198.19.99.99 t.example.net TXT) || fail "dig TXT: $out"
[[ $out == '"real txt"' ]] || fail "TXT forwarded to dnsmasq: want \"real txt\", got: $out"
ok "dig t.example.net TXT -> $out (forwarded to dnsmasq)"
grep -q "query\[TXT\] t.example.net" "$DNSMASQ_LOG" || fail "dnsmasq did not see the TXT query"
! grep -qE "query\[(A|AAAA)\]" "$DNSMASQ_LOG" ||
  fail "dnsmasq saw an A/AAAA query: $(grep -E 'query\[(A|AAAA)\]' "$DNSMASQ_LOG" | head -n 3)"
ok "dnsmasq saw the TXT query and no A/AAAA query"

# ---- flows carry the name; domain rules pick the handler ----
out=$(printf 'hello a.example.com\n' | nsc timeout 10 socat -t 2 - "TCP4:$a4:4242") ||
  fail "echo via a.example.com ($a4): $out"
[[ $out == "hello a.example.com" ]] || fail "a.example.com -> echo: got '$out'"
ok "TCP to a.example.com ($a4:4242) -> echo rule: bytes came back"
out=$(printf 'hello six\n' | nsc timeout 10 socat -t 2 - "TCP6:[$a6]:4242") ||
  fail "echo via a.example.com ($a6): $out"
[[ $out == "hello six" ]] || fail "a.example.com over IPv6 -> echo: got '$out'"
ok "TCP to a.example.com ([$a6]:4242) -> echo rule"
out=$(nsc timeout 20 "$PYTHON" "$UDPTOOL" client --host "$a4" --port 5000 --flows 3 --size 100 \
  --timeout 10) || fail "UDP echo via a.example.com: $out"
ok "UDP to a.example.com ($a4:5000) -> echo rule: $out"
want=$(sha_of "$TP_TMP/www/file.bin")
got=$(nsc timeout 30 curl -sS --fail --resolve "b.example.org:80:$b4" http://b.example.org/file.bin |
  sha256sum | cut -d' ' -f1) || fail "curl b.example.org"
[[ $got == "$want" ]] || fail "curl http://b.example.org/file.bin: sha256 $got, want $want"
ok "curl http://b.example.org/file.bin ($b4) -> redirect rule -> http.server: sha256 matches"
c4=$(addr_of c.example.net A)
in_pool4 "$c4" || fail "c.example.net A: $c4"
out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host "$c4" --port 80 --expect EHOSTUNREACH \
  --max 2 --timeout 5) || fail "c.example.net -> reject: $out"
ok "TCP to c.example.net ($c4): no domain rule -> default reject: $out"
out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host "$TP_DST4" --port 4242 \
  --expect EHOSTUNREACH --max 2 --timeout 5) || fail "unnamed flow: $out"
ok "TCP to $TP_DST4 (no name): the domain rules never match -> reject"
grep -q "dns: a.example.com A -> $a4 (fake-ip)" "$TP_GW_LOG" || fail "no fake-ip debug line"

# ---- unmapped pool addresses are refused ----
for i in 1 2 3; do
  out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host 198.19.200.250 --port 80 \
    --expect refused --max 2 --timeout 5) || fail "unmapped 198.19.200.250: $out"
done
ok "TCP to 198.19.200.250 (never handed out), 3 times: RST: $out"
out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host fd00:19::fa00:f0 --port 80 \
  --expect refused --max 2 --timeout 5) || fail "unmapped fd00:19::fa00:f0: $out"
ok "TCP to [fd00:19::fa00:f0] (never handed out): RST"
out=$(nsc timeout 10 "$PYTHON" "$UDPTOOL" refused --host 198.19.200.251 --port 5000 --max 2 \
  --expect EHOSTUNREACH) || fail "UDP to an unmapped address: $out"
ok "UDP to 198.19.200.251 (never handed out): ICMP administratively prohibited: $out"
n=$(grep -c "fake-ip: 198.19.200.250:80 is a pool address with no name" "$TP_GW_LOG") || true
((n == 1)) || fail "the unmapped address must be logged once, got $n lines"
ok "logged once: $(grep -o 'fake-ip: 198.19.200.250:80 is .*' "$TP_GW_LOG" | head -n 1)"
tp_gw_check_alive
tp_gw_stop_ok
line=$(grep -o "fake-ip: answers.*" <<<"$TP_GW_SUMMARY") || fail "no fake-ip summary line"
[[ $line =~ answers\ ([0-9]+),\ evictions\ 0,\ flows\ named\ ([0-9]+),\ unmapped\ refused\ 5 ]] &&
  ((BASH_REMATCH[1] >= 5 && BASH_REMATCH[2] >= 6)) || fail "summary: $line"
grep -q "fake-unmapped 5" <<<"$TP_GW_SUMMARY" || fail "refused by reason lacks fake-unmapped 5"
ok "summary: $line"

# ---- a tiny pool: LRU eviction ----
tp_gw_start --handler reject --dns-upstream "$TP_DST4:53" --fake-ip 198.19.201.0/30 \
  --rule domain=n3.test,handler=echo
x1=$(addr_of n1.test A)
x2=$(addr_of n2.test A)
[[ $x1 == 198.19.201.1 && $x2 == 198.19.201.2 ]] || fail "n1 $x1, n2 $x2: want .1 and .2"
[[ $(addr_of n1.test A) == "$x1" ]] || fail "n1 again"
x3=$(addr_of n3.test A) # n2 is now the least recently used
[[ $x3 == "$x2" ]] || fail "n3.test: want n2's address $x2 (LRU), got $x3"
ok "pool /30: n1 -> $x1, n2 -> $x2, n1 used again, n3 evicts n2 and gets $x3"
out=$(printf 'evicted\n' | nsc timeout 10 socat -t 2 - "TCP4:$x3:7") || fail "echo via n3: $out"
[[ $out == evicted ]] || fail "a flow to $x3 must carry n3.test (echo rule): '$out'"
ok "TCP to $x3 now carries n3.test: its domain rule (echo) answered"
out=$(nsc timeout 10 "$PYTHON" "$TP_TOOL" connect --host "$x1" --port 80 --expect EHOSTUNREACH \
  --max 2 --timeout 5) || fail "n1 -> reject: $out"
ok "TCP to $x1 still carries n1.test (no rule -> reject)"
tp_gw_stop_ok
grep -qE "fake-ip: answers [0-9]+, evictions 1," <<<"$TP_GW_SUMMARY" ||
  fail "summary evictions: $(grep 'fake-ip' <<<"$TP_GW_SUMMARY")"
ok "summary: $(grep -o 'fake-ip: answers.*' <<<"$TP_GW_SUMMARY")"

# ---- --queues 2: one map for every worker, kept across a restart ----
TP_LOG_LEVEL=debug tp_gw_start --queues 2 --handler reject --dns-upstream "$TP_DST4:53" --fake-ip "$POOL4" \
  --rule domain=q.test,handler=echo
declare -a qa
for ((i = 0; i < 24; i++)); do
  qa[i]=$(addr_of "h$i.q.test" A)
  in_pool4 "${qa[i]}" || fail "h$i.q.test: ${qa[i]}"
done
for ((i = 0; i < 24; i++)); do
  out=$(printf 'q%d\n' "$i" | nsc timeout 10 socat -t 2 - "TCP4:${qa[i]}:$((2000 + i))") ||
    fail "flow to h$i.q.test (${qa[i]}): $out"
  [[ $out == "q$i" ]] || fail "flow to h$i.q.test (${qa[i]}) not named: '$out'"
done
# which worker answered each query and which one took its flow
cross=0
for ((i = 0; i < 24; i++)); do
  wq=$(grep -oE "worker [12]: dns: h$i\.q\.test A -> " "$TP_GW_LOG" | head -n 1 | cut -d' ' -f2)
  wf=$(grep -oE "worker [12]: flow open: [^ ]+ -> ${qa[i]//./\\.}:$((2000 + i))\$" "$TP_GW_LOG" |
    head -n 1 | cut -d' ' -f2)
  [[ -n $wq && -n $wf ]] || fail "h$i.q.test: no log of its query ($wq) or flow ($wf)"
  [[ $wq != "$wf" ]] && cross=$((cross + 1))
done
((cross > 0)) || fail "every flow landed on the worker that answered its query: nothing shown"
ok "--queues 2: 24 names asked, 24 flows all named and echoed; $cross of them on the other worker than their DNS answer"

SUM=$TP_TMP/usr1
off=$(stat -c %s "$TP_GW_LOG")
tp_gw_signal USR1
for ((i = 0; i < 100; i++)); do
  grep -q "total (SIGUSR1)" <(tail -c +"$((off + 1))" "$TP_GW_LOG") && break
  sleep 0.05
done
tail -c +"$((off + 1))" "$TP_GW_LOG" >"$SUM"
n=$(grep -cE "worker [12]:   fake-ip: answers [0-9]+, evictions 0, flows named [1-9]" "$SUM") || true
((n == 2)) || fail "both workers must have named flows: $(grep 'fake-ip' "$SUM")"
ok "both workers named flows: $(grep -o 'worker .:   fake-ip.*' "$SUM" | tr '\n' ';')"
w=$(pgrep -P "$TP_GW_PID" | head -n 1)
nready=$(grep -cE "worker [12]: ready tun=" "$TP_GW_LOG") || true
kill -KILL "$w"
# the replacement logs its own ready line
for ((i = 0; i < 200; i++)); do
  (($(grep -cE "worker [12]: ready tun=" "$TP_GW_LOG") > nready)) && break
  sleep 0.05
done
(($(grep -cE "worker [12]: ready tun=" "$TP_GW_LOG") > nready)) ||
  fail "no ready line from the restarted worker: $(tail -n 5 "$TP_GW_LOG" | tr '\n' '|')"
grep -q "restarted as pid" "$TP_GW_LOG" || fail "the master did not restart worker $w"
for ((i = 0; i < 24; i++)); do
  out=$(printf 'r%d\n' "$i" | nsc timeout 10 socat -t 2 - "TCP4:${qa[i]}:$((3000 + i))") ||
    fail "after the restart, flow to h$i.q.test: $out"
  [[ $out == "r$i" ]] || fail "after the restart, h$i.q.test not named: '$out'"
done
ok "worker $w killed and restarted: the 24 old mappings still name their flows"
tp_gw_stop_ok

# ---- upstreams by name: direct resolves the name, socks5 sends it ----
# danted (debug: 1 logs each request with its ATYP and address) resolves
# the names itself, through the server namespace's resolv.conf
DANTE_LOG=$TP_TMP/dante.out
cat >"$TP_TMP/dante.conf" <<EOF
logoutput: $DANTE_LOG
debug: 1
internal: $TP_S4 port = 1080
external: tps0
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
timeout.negotiate: 10
timeout.io: 120
client pass {
  from: 0/0 to: 0/0
  log: error
}
socks pass {
  from: 0/0 to: 0/0
  command: connect udpassociate udpreply
  log: error connect
}
EOF
nss "$DANTED" -V -f "$TP_TMP/dante.conf" >"$TP_TMP/dante-check.log" 2>&1 ||
  fail "danted rejects the config: $(tail -n 5 "$TP_TMP/dante-check.log" | tr '\n' '|')"
tp_bg dante "$NS_S" "$DANTED" -f "$TP_TMP/dante.conf" -N 1
tp_bg udpecho "$NS_S" "$PYTHON" "$UDPTOOL" server --host "$TP_DST4" --port 5001 --timeout 120
tp_wait_listen "$NS_S" 1080 10

TP_LOG_LEVEL=debug tp_gw_start --handler direct --dns-upstream "$TP_DST4:53" \
  --fake-ip "$POOL4" --fake-ip "$POOL6" --rule "domain=s5.example.org,handler=socks5://$TP_S4:1080"
# direct: a pool address, and the name behind it looked up by the gateway
b4=$(addr_of b.example.org A)
b6=$(addr_of b.example.org AAAA)
in_pool4 "$b4" && in_pool6 "$b6" || fail "b.example.org: A $b4, AAAA $b6"
got=$(nsc timeout 30 curl -sS --fail --resolve "b.example.org:$HPORT:$b4" \
  "http://b.example.org:$HPORT/file.bin" | sha256sum | cut -d' ' -f1) || fail "direct: curl b.example.org"
[[ $got == "$want" ]] || fail "direct, curl http://b.example.org:$HPORT/file.bin ($b4): sha256 $got, want $want"
grep -q "direct: b.example.org is $TP_DST4:$HPORT" "$TP_GW_LOG" ||
  fail "direct did not resolve b.example.org to $TP_DST4: $(grep 'direct:' "$TP_GW_LOG" | tail -n 3)"
tp_wait_log "$DNSMASQ_LOG" "query\[A\] b\.example\.org from $TP_C4" ||
  fail "dnsmasq never got the gateway's lookup of b.example.org"
ok "direct: curl http://b.example.org:$HPORT/file.bin via $b4: looked up ($TP_DST4, from dnsmasq), sha256 matches"
got=$(nsc timeout 30 curl -sS --fail -g --resolve "b.example.org:$HPORT:[$b6]" \
  "http://b.example.org:$HPORT/file.bin" | sha256sum | cut -d' ' -f1) || fail "direct: curl via [$b6]"
[[ $got == "$want" ]] || fail "direct, curl via [$b6]: sha256 $got, want $want"
ok "direct: the same via [$b6] (the name has no AAAA: its IPv4 address): sha256 matches"
nx=$(addr_of nx.example.net A)
in_pool4 "$nx" || fail "nx.example.net A: $nx"
out=$(nsc timeout 20 "$PYTHON" "$TP_TOOL" connect --host "$nx" --port 80 --expect EHOSTUNREACH \
  --max 10 --timeout 15) || fail "direct, a name that does not resolve: $out"
ok "direct: nx.example.net ($nx) does not resolve (dnsmasq: NXDOMAIN): EHOSTUNREACH ($out)"

# socks5 by name: danted is asked for s5.example.org and looks it up itself
s5=$(addr_of s5.example.org A)
in_pool4 "$s5" || fail "s5.example.org A: $s5"
got=$(nsc timeout 30 curl -sS --fail --resolve "s5.example.org:$HPORT:$s5" \
  "http://s5.example.org:$HPORT/file.bin" | sha256sum | cut -d' ' -f1) || fail "socks5: curl s5.example.org"
[[ $got == "$want" ]] || fail "socks5, curl http://s5.example.org:$HPORT/file.bin ($s5): sha256 $got, want $want"
tp_dante_saw_name "$DANTE_LOG" s5.example.org "$HPORT" ||
  fail "danted was not asked for s5.example.org:$HPORT by name: $(grep -m 3 'dorequest' "$DANTE_LOG")"
ok "socks5: curl http://s5.example.org:$HPORT/file.bin via $s5: danted got CONNECT s5.example.org.$HPORT (ATYP 3), sha256 matches"
tp_wait_log "$DNSMASQ_LOG" "query\[A\] s5\.example\.org from $TP_DST4" ||
  fail "danted did not look s5.example.org up: $(grep s5.example "$DNSMASQ_LOG")"
! grep -qE "query\[A+\] s5\.example\.org from $TP_C4" "$DNSMASQ_LOG" ||
  fail "the gateway looked s5.example.org up itself (the proxy must)"
ok "socks5: s5.example.org was looked up by danted (remote DNS), never by the gateway"
out=$(nsc timeout 20 "$PYTHON" "$UDPTOOL" client --host "$s5" --port 5001 --flows 2 --size 200 \
  --timeout 10) || fail "socks5 UDP to s5.example.org: $out"
tp_dante_saw_udp_name "$DANTE_LOG" s5.example.org 5001 ||
  fail "danted saw no UDP datagram for s5.example.org.5001: $(grep -m 3 'io_udp_client2target' "$DANTE_LOG")"
ok "socks5 UDP to s5.example.org ($s5:5001): datagrams for s5.example.org.5001, echoed: $out"
tp_gw_check_alive
tp_gw_stop_ok
for c in "direct.names_resolved [2-9]" "direct.names_unresolved 1"; do
  grep -qE "$c" <<<"$TP_GW_SUMMARY" || fail "summary lacks '$c'"
done
ok "summary counts the lookups: $(grep -oE 'direct\.names_[a-z]+ [0-9]+' <<<"$TP_GW_SUMMARY" | tr '\n' ' ')"
echo "e2e_names: PASS"
