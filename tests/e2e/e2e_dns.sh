#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_dns: the dns handler (--dns-upstream) with dnsmasq as the upstream.
#  - dig @198.19.99.99 (nothing there: the handler takes UDP port 53 for any
#    destination) gets dnsmasq's A record; dig -6 @fd00:19::99 its AAAA;
#    NXDOMAIN passes through
#  - a TXT answer too large for dig's 512-byte buffer: dnsmasq answers UDP
#    with TC=1, the handler fetches it over TCP and dig gets all 10 records
#    over UDP with TC clear; tunplug's debug log says tcp, and dnsmasq
#    logged the query from a forked TCP child (another pid)
#  - 200 dig runs in a bounded loop, 200 queries in a burst on one flow
#    (window 32): all answered with the right address
#  - a misbehaving upstream: answers with another ID or question are
#    ignored; when the TCP fetch after TC=1 is refused on every try, the
#    truncated answer is passed on (not SERVFAIL)
#  - first upstream blackholed, second (IPv6) alive: answered after one
#    try's timeout, the next query at once (the handler prefers the
#    upstream that answered)
#  - only a blackholed upstream: dig gets SERVFAIL after the 3 tries of 2 s
#    (within 8 s, not before 5.5 s); 100 queries at once on one flow: the
#    36 beyond the 64-per-flow limit get SERVFAIL at once, the others after
#    the tries; with --udp-dns-timeout 1 the flow closes while its queries
#    are outstanding: nothing is answered and tunplug carries on and exits
#    cleanly (the ASan build checks for use after free)
#  - tunplug exits 0 and its summary counts the queries
# shellcheck disable=SC2015  # "A && B || fail" is meant: fail unless both hold
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root dig dnsmasq
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
tp_topo_up
DNSTOOL=$TP_E2E_DIR/dnstool.py
BLACKHOLE4=198.19.2.2 # routed to the server namespace, which drops it silently
nss ip route add blackhole "$BLACKHOLE4/32"

# dnsmasq in the server namespace: *.test is local (unknown names NXDOMAIN)
long=$(printf 'x%.0s' $(seq 200))
txt=()
for i in $(seq 0 9); do txt+=(--txt-record="big.test,$i$long"); done
tp_bg dnsmasq "$NS_S" dnsmasq --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
  --user=root --pid-file= --port 53 --listen-address="$TP_DST4" --listen-address="$TP_DST6" \
  --bind-interfaces --log-queries=extra --log-facility=- --local=/test/ \
  --host-record=host.test,198.51.100.1,2001:db8::1 --address=/loop.test/198.51.100.9 "${txt[@]}"
DNSMASQ_PID=$TP_LAST_PID
DNSMASQ_LOG=$TP_TMP/dnsmasq.log
for ((i = 0; i < 100; i++)); do
  [[ $(nss ss -Hlun "sport = :53" | wc -l) -ge 2 ]] && break
  sleep 0.05
done
tp_wait_listen "$NS_S" 53 5 2
# the premise of the TC test: dnsmasq's own UDP answer to a 512-byte client is truncated
out=$(nss dig @"$TP_DST4" +ignore +bufsize=512 +time=2 +tries=1 big.test TXT)
grep -q "flags:[a-z ]* tc" <<<"$out" || fail "dnsmasq does not truncate big.test at 512: $out"
ok "premise: dnsmasq's UDP answer for big.test TXT at bufsize 512 has TC set"

# dig QUESTION... -> its full output; fails on a dig error
dig_c() { nsc timeout 20 dig +time=5 +tries=1 "$@" 2>&1; }
status_of() { sed -nE 's/.*status: ([A-Z]+),.*/\1/p' <<<"$1" | head -n1; }

TP_LOG_LEVEL=debug tp_gw_start --handler direct --dns-upstream "$TP_DST4:53"

out=$(dig_c @198.19.99.99 host.test A) || fail "dig A: $out"
[[ $(status_of "$out") == NOERROR ]] && grep -qE "^host\.test\.[[:space:]].*IN[[:space:]]+A[[:space:]]+198\.51\.100\.1$" <<<"$out" ||
  fail "dig @198.19.99.99 host.test A: $out"
grep -q "SERVER: 198.19.99.99#53" <<<"$out" || fail "answer not from 198.19.99.99: $out"
ok "dig @198.19.99.99 host.test A -> 198.51.100.1 (from the address dig asked)"

out=$(dig_c -6 @fd00:19::99 HOST.test AAAA) || fail "dig -6 AAAA: $out"
[[ $(status_of "$out") == NOERROR ]] && grep -qiE "^host\.test\.[[:space:]].*IN[[:space:]]+AAAA[[:space:]]+2001:db8::1$" <<<"$out" ||
  fail "dig -6 @fd00:19::99 HOST.test AAAA: $out"
ok "dig -6 @fd00:19::99 HOST.test AAAA -> 2001:db8::1 (IPv6 transport, name case kept)"

out=$(dig_c @198.19.3.4 nothere.test A) || fail "dig NXDOMAIN: $out"
[[ $(status_of "$out") == NXDOMAIN ]] || fail "nothere.test: want NXDOMAIN: $out"
ok "dig nothere.test -> NXDOMAIN passed through"

t0=$(now_ms)
out=$(dig_c @198.19.99.99 +ignore +bufsize=512 big.test TXT) || fail "dig TXT: $out"
grep -q "flags:[a-z ]* tc" <<<"$out" && fail "big.test TXT: answer still truncated: $out"
grep -q "ANSWER: 10," <<<"$out" || fail "big.test TXT: want 10 records: $out"
n=$(grep -cE "^big\.test\.[[:space:]].*TXT[[:space:]]+\"[0-9]x{200}\"$" <<<"$out") || true
((n == 10)) || fail "big.test TXT: $n of 10 records intact: $out"
size=$(sed -nE 's/.*MSG SIZE +rcvd: ([0-9]+).*/\1/p' <<<"$out")
ok "dig +bufsize=512 big.test TXT -> 10 records, TC clear, $size bytes over UDP in $(($(now_ms) - t0)) ms"
grep -q "dns: big.test. TXT via $TP_DST4:53 tcp -> NOERROR" "$TP_GW_LOG" ||
  fail "tunplug's log does not show the TCP fetch: $(grep 'dns:' "$TP_GW_LOG" | tail -n 5)"
ok "tunplug's log: $(grep -o "dns: big.test. TXT via.*" "$TP_GW_LOG" | head -n1)"
# dnsmasq answers TCP in a forked child: a query[TXT] line from a pid other than the main one
grep "query\[TXT\] big.test" "$DNSMASQ_LOG" | grep -vq "^dnsmasq\[$DNSMASQ_PID\]" ||
  fail "dnsmasq logged no TCP (child) query: $(grep 'big.test' "$DNSMASQ_LOG")"
ok "dnsmasq answered big.test in a TCP child: $(grep "query\[TXT\] big.test" "$DNSMASQ_LOG" | grep -v "^dnsmasq\[$DNSMASQ_PID\]" | head -n1)"

# 200 dig runs, each its own flow
t0=$(now_ms)
for ((i = 0; i < 200; i++)); do
  out=$(nsc timeout 10 dig +short +time=3 +tries=2 @198.19.$((i % 200 + 10)).53 "q$i.loop.test" A 2>&1) ||
    fail "dig #$i: $out"
  [[ $out == 198.51.100.9 ]] || fail "dig #$i q$i.loop.test: '$out'"
done
ok "200 dig runs (200 destinations) all answered 198.51.100.9 in $(($(now_ms) - t0)) ms"

out=$(nsc timeout 60 "$PYTHON" "$DNSTOOL" burst --server 198.19.99.99 --count 200 --window 32 \
  --name "b{i}.loop.test" --expect 198.51.100.9 --timeout 30) || fail "burst of 200: $out"
grep -q '"NOERROR": 200' <<<"$out" || fail "burst of 200: $out"
ok "burst of 200 queries on one flow (window 32): $out"
out=$(nsc timeout 60 "$PYTHON" "$DNSTOOL" burst --server fd00:19::99 --count 200 --window 32 \
  --name "c{i}.loop.test" --expect 198.51.100.9 --timeout 30) || fail "burst of 200 over IPv6: $out"
grep -q '"NOERROR": 200' <<<"$out" || fail "burst of 200 over IPv6: $out"
ok "burst of 200 queries on one IPv6 flow (window 32): $out"

# a malformed query gets FORMERR, a short one nothing
out=$(nsc timeout 10 "$PYTHON" - <<'EOF'
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("198.19.99.99", 53))
s.send(struct.pack(">HHHHHH", 0x4242, 0x0100, 0, 0, 0, 0) + b"\x03abc")  # QDCOUNT 0
r = s.recv(4096)
assert r == struct.pack(">HHHHHH", 0x4242, 0x8181, 0, 0, 0, 0), r.hex()
s.send(b"\x12\x34\x01")  # not even a header
s.send(struct.pack(">HHHHHH", 0x4343, 0x0100, 1, 0, 0, 0) + b"\x05ab")  # cut name
r = s.recv(4096)
assert r[:4] == b"\x43\x43\x81\x81" and len(r) == 12, r.hex()
print("FORMERR ok")
EOF
) || fail "malformed queries: $out"
ok "malformed queries: FORMERR (ID and RD kept), a 3-byte datagram dropped"

tp_gw_check_alive
tp_gw_stop_ok
grep -qE "dns: queries [0-9]+, answered [0-9]+ \(via tcp [1-9]" <<<"$TP_GW_SUMMARY" ||
  fail "no dns summary with a tcp answer: $TP_GW_SUMMARY"
ok "summary: $(grep -o 'dns: queries.*' <<<"$TP_GW_SUMMARY")"

# a misbehaving upstream (dnstool.py fake): answers with another ID or
# question are ignored; its TC answer cannot be fetched over TCP (refused),
# so after 3 tries the client gets the truncated answer, not SERVFAIL
tp_bg fake "$NS_S" "$PYTHON" "$DNSTOOL" fake --host "$TP_DST4" --port 5353 --timeout 100
FAKE_PID=$TP_LAST_PID
for ((i = 0; i < 100; i++)); do
  [[ $(nss ss -Hlun "sport = :5353" | wc -l) -ge 1 ]] && break
  sleep 0.05
done
tp_gw_start --dns-upstream "$TP_DST4:5353"
out=$(dig_c @198.19.99.99 +ignore fake.test A) || fail "dig to the fake upstream: $out"
[[ $(status_of "$out") == NOERROR ]] && grep -q "flags:[a-z ]* tc" <<<"$out" &&
  grep -qE "IN[[:space:]]+A[[:space:]]+192\.0\.2\.1$" <<<"$out" ||
  fail "fake upstream: want its truncated answer: $out"
ok "fake upstream: wrong-ID and wrong-question answers ignored, TCP refused: the TC answer passed on"
tp_gw_stop_ok
grep -qE "truncated passed on 1, .*mismatched answers 6$" <<<"$TP_GW_SUMMARY" ||
  fail "fake upstream: counters: $(grep -o 'dns: queries.*' <<<"$TP_GW_SUMMARY")"
ok "fake upstream: $(grep -o 'dns: queries.*' <<<"$TP_GW_SUMMARY")"
tp_stop_pid "$FAKE_PID"

# first upstream blackholed, the second (IPv6) alive
tp_gw_start --dns-upstream "$BLACKHOLE4:53" --dns-upstream "[$TP_DST6]:53"
t0=$(now_ms)
out=$(dig_c @198.19.99.99 host.test A) || fail "failover dig: $out"
ms=$(($(now_ms) - t0))
grep -qE "IN[[:space:]]+A[[:space:]]+198\.51\.100\.1$" <<<"$out" || fail "failover: $out"
((ms >= 1800 && ms < 4500)) || fail "failover took $ms ms (want one 2 s try, then the answer)"
ok "first upstream blackholed: answered by [$TP_DST6]:53 after $ms ms"
t0=$(now_ms)
out=$(dig_c @198.19.99.99 host.test AAAA) || fail "failover dig 2: $out"
ms=$(($(now_ms) - t0))
grep -qE "IN[[:space:]]+AAAA[[:space:]]+2001:db8::1$" <<<"$out" || fail "failover 2: $out"
((ms < 1500)) || fail "second query took $ms ms: the answering upstream should be tried first"
ok "next query answered at once ($ms ms): the upstream that answered is tried first"
tp_gw_stop_ok

# only a blackholed upstream: SERVFAIL within the retry budget
tp_gw_start --dns-upstream "$BLACKHOLE4:53"
t0=$(now_ms)
out=$(nsc timeout 30 dig +time=15 +tries=1 @198.19.99.99 host.test A 2>&1) || fail "dig to a dead upstream: $out"
ms=$(($(now_ms) - t0))
[[ $(status_of "$out") == SERVFAIL ]] || fail "dead upstream: want SERVFAIL: $out"
grep -q "QUERY: 1," <<<"$out" && grep -q "^;host.test.[[:space:]]*IN[[:space:]]*A$" <<<"$out" || fail "SERVFAIL without the question: $out"
((ms >= 5500 && ms < 8000)) || fail "SERVFAIL after $ms ms (want 3 tries of 2 s)"
ok "dead upstream: SERVFAIL with the question after $ms ms (3 tries of 2 s)"

out=$(nsc timeout 60 "$PYTHON" "$DNSTOOL" burst --server 198.19.99.99 --count 100 \
  --name "d{i}.loop.test" --timeout 15) || fail "burst of 100 to a dead upstream: $out"
grep -q '"SERVFAIL": 100' <<<"$out" || fail "burst of 100 to a dead upstream: $out"
ok "dead upstream, 100 queries at once on one flow: all SERVFAIL: $out"
tp_gw_check_alive
tp_gw_stop_ok
grep -qE "servfail [0-9]+ \(over the 64-per-flow limit 36\)" <<<"$TP_GW_SUMMARY" ||
  fail "want 36 over the per-flow limit: $(grep -o 'dns: queries.*' <<<"$TP_GW_SUMMARY")"
ok "36 of 100 were over the per-flow limit: $(grep -o 'dns: queries.*' <<<"$TP_GW_SUMMARY")"

# the flow times out (1 s) with 20 queries outstanding: they are cancelled
tp_gw_start --dns-upstream "$BLACKHOLE4:53" --udp-dns-timeout 1
out=$(nsc timeout 30 "$PYTHON" "$DNSTOOL" burst --server 198.19.99.99 --count 20 \
  --name "e{i}.loop.test" --timeout 8) && fail "queries of a timed-out flow answered: $out"
grep -q '"answered": 0' <<<"$out" || fail "queries of a timed-out flow: $out"
ok "flow closed by the 1 s idle timeout with 20 queries outstanding: none answered ($out)"
tp_gw_check_alive
tp_gw_stop_ok
