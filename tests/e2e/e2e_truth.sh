#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_truth: a client connecting through tunplug sees what it sees without
# it. Every case is run on both paths at once: to an address routed into
# the tun (tunplug, direct handler) and to its twin, an address the client's
# kernel routes straight over the veth to the same server namespace, which
# serves or rejects both alike:
#   open port          198.19.1.1 / 198.18.101.1, fd00:19::1 / fd00:20::1
#   closed port        the same hosts, port 9
#   unreachable route  198.19.8.8 / 198.18.108.8, fd00:19::8:8 / fd00:20::8:8
#                      (`ip route add unreachable` in the server namespace)
#   prohibit route     198.19.7.7 / 198.18.107.7, fd00:19::7:7 / fd00:20::7:7
#   silent (blackhole) 198.19.9.9 / 198.18.109.9, fd00:19::9:9 / fd00:20::9:9
#  - one connect() each (truthtool.py compare): the result (connected, the
#    errno, or a timeout after the client's own 3 s) and its time class (at
#    once, after a SYN retransmission, ...) must be the same on both paths,
#    and the twin must give what the case says (so that a broken test
#    network cannot pass)
#  - the silent address with --connect-timeout 2 and a client that waits
#    4.5 s: the held SYN is dropped without an answer, the client's
#    retransmission at 3 s starts a second upstream connect (logged twice),
#    and the client times out without a RST
#  - nmap -sT -Pn, v4 and v6: a port range of the open/closed host and of
#    the silent host, two ports of the unreachable and the prohibited host
#    (the server's kernel sends at most 5 route errors at once to one
#    source, then 1 a second: see below); every port must have the same
#    state and reason on both paths (truthtool.py nmapcmp), and the twins of
#    the rejecting hosts must say so (host-unreach, net-unreach,
#    admin-prohibited), not time out
#  - the summary counts each answer: rst, net-unreach, host-unreach,
#    prohibited, silent
# tunplug runs with --connect-timeout 2, longer than the slowest error here
# (the server's ICMPv6 errors reach a connect only after its first SYN
# retransmission, about 1 s, on both paths).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root nmap
if tp_kernel_mode; then echo "SKIP: $TP_TEST: compares tunplug with the kernel path itself"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

TRUTH=$TP_E2E_DIR/truthtool.py
PORT=7500
CT=2
TWIN4=198.18.96.0/19
TWIN6=fd00:20::/64
# the server namespace routes and rejects; its own ICMP rate limit per
# client is off, so that how many errors it sends depends on nothing but
# the probes (tunplug's own limit, 1000/s, bursts of 50, still applies)
nss sysctl -q -w net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 \
  net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 >/dev/null
ip -n "$NS_S" addr add 198.18.101.1/32 dev lo
ip -n "$NS_S" addr add fd00:20::1/128 dev lo
for r in unreachable:8 prohibit:7 blackhole:9; do
  ip -n "$NS_S" route add "${r%%:*}" "198.19.${r##*:}.0/24"
  ip -n "$NS_S" route add "${r%%:*}" "198.18.10${r##*:}.0/24"
  ip -n "$NS_S" -6 route add "${r%%:*}" "fd00:19::${r##*:}:0/112"
  ip -n "$NS_S" -6 route add "${r%%:*}" "fd00:20::${r##*:}:0/112"
done
# the twins: the client's kernel routes them over the veth, tunplug never
# sees them. They go out from an address of their own (198.18.0.3,
# fd00:18::3): the server's kernel limits its route errors (ICMP for an
# unreachable or prohibit route) per source address, 5 at once then 1 a
# second (ip_error: net.ipv4.route.error_burst/error_cost, not per
# namespace), and tunplug's upstream sockets use 198.18.0.1.
TWIN_SRC4=198.18.0.3
TWIN_SRC6=fd00:18::3
ip -n "$NS_C" addr add "$TWIN_SRC4/24" dev tpc0
ip -n "$NS_C" addr add "$TWIN_SRC6/64" dev tpc0 nodad
mac_c=$(ip -n "$NS_C" -br link show tpc0 | awk '{print $3}')
ip -n "$NS_S" neigh replace "$TWIN_SRC4" lladdr "$mac_c" dev tps0 nud permanent
ip -n "$NS_S" neigh replace "$TWIN_SRC6" lladdr "$mac_c" dev tps0 nud permanent
ip -n "$NS_C" route add "$TWIN4" via "$TP_S4" dev tpc0 src "$TWIN_SRC4"
ip -n "$NS_C" -6 route add "$TWIN6" via "$TP_S6" dev tpc0 src "$TWIN_SRC6"
tp_bg echoserver "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --host 198.18.101.1 \
  --host "$TP_DST6" --host fd00:20::1 --port "$PORT" --timeout 200
tp_wait_listen "$NS_S" "$PORT" 5 4
TP_LOG_LEVEL=debug tp_gw_start --connect-timeout "$CT"

# ---- one connect() per case and path
cases=()
for fam in 4 6; do
  if [[ $fam == 4 ]]; then
    g=198.19 t=198.18.10 o=1.1 u=8.8 p=7.7 s=9.9 unr=EHOSTUNREACH pro=EHOSTUNREACH
  else
    g=fd00:19: t=fd00:20: o=1 u=8:8 p=7:7 s=9:9 unr="ENETUNREACH|EHOSTUNREACH" pro=EACCES
  fi
  if [[ $fam == 4 ]]; then
    cases+=("open v4,$g.$o,${t}1.1,$PORT,connected" "closed v4,$g.$o,${t}1.1,9,ECONNREFUSED"
      "unreachable v4,$g.$u,${t}8.8,80,$unr" "prohibited v4,$g.$p,${t}7.7,80,$pro"
      "silent v4,$g.$s,${t}9.9,80,timeout")
  else
    cases+=("open v6,$g:$o,${t}:1,$PORT,connected" "closed v6,$g:$o,${t}:1,9,ECONNREFUSED"
      "unreachable v6,$g:$u,${t}:8:8,80,$unr" "prohibited v6,$g:$p,${t}:7:7,80,$pro"
      "silent v6,$g:$s,${t}:9:9,80,timeout")
  fi
done
args=()
for c in "${cases[@]}"; do args+=(--case "$c"); done
rc=0
out=$(nsc timeout 60 "$PYTHON" "$TRUTH" compare --timeout 3 "${args[@]}") || rc=$?
while IFS= read -r line; do
  name=$(sed -E 's/.*"case": "([^"]*)".*/\1/' <<<"$line")
  if grep -q '"same": true' <<<"$line" && grep -q '"twin_as_wanted": true' <<<"$line"; then
    ok "$name: the same on both paths: $line"
  else
    log "$name: DIFFERS: $line"
  fi
done <<<"$out"
((rc == 0)) || fail "a case differs between the gateway and the kernel path (see above)"

# ---- silence, then a new attempt for the client's next retransmission
out=$(nsc timeout 20 "$PYTHON" "$TP_TOOL" connect --host 198.19.9.9 --port 81 --expect timeout \
  --max 10 --timeout 4.5) || fail "silent host, client waiting 4.5 s: want a timeout: $out"
for ((i = 0; i < 40; i++)); do
  n=$(grep -c 'flow refused: .* -> 198\.19\.9\.9:81: Connection timed out' "$TP_GW_LOG" || true)
  ((n >= 2)) && break
  sleep 0.1
done
((n >= 2)) || fail "silent host: want 2 upstream attempts (SYN at 0 s, retransmission at 3 s) timed out, the log has $n"
ports=$(grep 'flow refused: .* -> 198\.19\.9\.9:81:' "$TP_GW_LOG" | sed -E 's/.*:([0-9]+) -> 198.*/\1/' | sort -u | wc -l)
((ports == 1)) || fail "silent host: the attempts came from $ports client ports, want 1 (one connect())"
ok "silent host: no answer (client: $out); the client's retransmission started attempt 2 of $n, both dropped silently after ${CT} s"

# ---- nmap -sT over both paths
# nmap_scan FAM PORTS OUT HOSTS...: a bounded connect scan, XML to OUT
nmap_scan() {
  local fam=$1 ports=$2 xml=$3
  shift 3
  local six=()
  [[ $fam == 6 ]] && six=(-6)
  nsc timeout 120 nmap "${six[@]}" -sT -Pn -n --reason -p "$ports" --max-retries 1 \
    --initial-rtt-timeout 2500ms --max-rtt-timeout 2500ms --host-timeout 60s -oX "$xml" "$@" \
    >"$xml.txt" 2>&1 || fail "nmap failed: $(tail -n 5 "$xml.txt" | tr '\n' '|')"
}
# scan FAM NAME PORTS WANT GWHOST=TWINHOST...: the same scan of the gateway's
# hosts and of their twins, compared port by port
scan() {
  local fam=$1 name=$2 ports=$3 want=$4 p gw=() tw=() pairs=() wants=() out t0
  shift 4
  for p in "$@"; do
    gw+=("${p%%=*}")
    tw+=("${p##*=}")
    pairs+=(--pair "$p")
    [[ -z $want ]] || wants+=(--want "${p##*=}=$want")
  done
  t0=$(now_ms)
  nmap_scan "$fam" "$ports" "$TP_TMP/nmap-$name-gw.xml" "${gw[@]}"
  nmap_scan "$fam" "$ports" "$TP_TMP/nmap-$name-twin.xml" "${tw[@]}"
  out=$("$PYTHON" "$TRUTH" nmapcmp --gw "$TP_TMP/nmap-$name-gw.xml" \
    --twin "$TP_TMP/nmap-$name-twin.xml" "${pairs[@]}" "${wants[@]}") ||
    fail "nmap $name: the scans differ, or the twin did not answer as wanted: $out"
  while IFS= read -r line; do ok "nmap $name: the same states and reasons: $line"; done <<<"$out"
  log "nmap $name: both scans in $(($(now_ms) - t0)) ms"
}
RANGE=7490-7510,9
# route errors: the budget of 5 must be full again (the cases above used it)
sleep 5
scan 4 "v4 rejecting hosts" "$PORT,9" "host-unreach" 198.19.8.8=198.18.108.8 198.19.7.7=198.18.107.7
scan 4 "v4 range" "$RANGE" "" 198.19.1.1=198.18.101.1 198.19.9.9=198.18.109.9
scan 6 "v6 rejecting hosts" "$PORT,9" "net-unreach|host-unreach|admin-prohibited" \
  fd00:19::8:8=fd00:20::8:8 fd00:19::7:7=fd00:20::7:7
scan 6 "v6 range" "$RANGE" "" fd00:19::1=fd00:20::1 fd00:19::9:9=fd00:20::9:9

tp_gw_check_alive
tp_gw_stop_ok
line=$(grep "refused syn answered" <<<"$TP_GW_SUMMARY") || fail "no 'refused syn answered' line"
for k in rst net-unreach host-unreach prohibited silent; do
  n=$(grep -oE " $k [0-9]+" <<<"$line" | grep -oE '[0-9]+$')
  ((n >= 1)) || fail "summary: no '$k' answer counted: $line"
done
ok "summary counts every kind of answer: $(sed 's/^ *//' <<<"$line")"
echo "e2e_truth: PASS"
