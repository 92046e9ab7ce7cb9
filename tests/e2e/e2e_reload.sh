#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_reload: SIGHUP re-reads the --config file; new flows follow the new
# rules, open flows keep their handler instance until they end.
#  - config A: TCP to $TP_DST4 ports 5001-5002 -> direct (rule), the rest
#    -> direct (default). A transfer to :5001 starts (socat; the client
#    sends a first part, then waits on a FIFO the test opens later)
#  - config B: the same rule now says handler=reject; SIGHUP: "reloaded";
#    a new TCP flow to :5002 (a server listens there) is refused by reject
#    (EHOSTUNREACH, ICMP prohibited) while :5003 (default, direct) still
#    connects; then the FIFO opens, the old transfer completes with the
#    sender's sha256, and the old direct instance is finished once its last
#    flow closed ("last flow closed" in the log)
#  - a broken file (bad YAML): refused with the parser's file:line, the
#    rules of B stay in force (:5002 still refused, :5003 connects)
#  - a non-reloadable key added (tun.mtu): refused naming "tun.mtu" and
#    its line; B's rules stay
#  - a handler whose init fails (socks5 without a port): refused, B stays
#  - a flow open on an instance retired by another reload when SIGTERM
#    comes: exit 0, no flow left over (and under ASan: no leak)
#  - without -c: SIGHUP is logged and ignored, the command line's rules stay
# Run under the ASan build too (ctest in build-asan): instances retired by a
# reload must be freed without use-after-free or leak.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root socat sha256sum
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's reload, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

CONF=$TP_TMP/tunplug.yaml
write_conf() { # HANDLER [EXTRA LINES]
  printf 'handler: direct\nrules:\n  - {proto: tcp, dst: %s/32, port: 5001-5002, handler: %s}\n%s' \
    "$TP_DST4" "$1" "${2:-}" >"$CONF.new"
  mv "$CONF.new" "$CONF"
}
# wait_log PATTERN SECONDS: until the log (after offset $LOG_OFF) has PATTERN
wait_log() {
  local deadline=$(($(now_ms) + $2 * 1000))
  until tail -c +"$((LOG_OFF + 1))" "$TP_GW_LOG" | grep -q -- "$1"; do
    (($(now_ms) < deadline)) || fail "no '$1' in tunplug's log within $2 s"
    sleep 0.05
  done
}
hup() { # SIGHUP, then wait for the outcome line
  LOG_OFF=$(stat -c %s "$TP_GW_LOG")
  tp_gw_signal HUP
  wait_log 'SIGHUP: \(reload\|no --config\)' 10
  tail -c +"$((LOG_OFF + 1))" "$TP_GW_LOG" | grep -m 1 'SIGHUP: \(reload\|no --config\)'
}
connects() { nsc timeout 10 socat -u OPEN:/dev/null "TCP4:$TP_DST4:$1,connect-timeout=5"; }
refused_by_reject() {
  nsc "$PYTHON" "$TP_TOOL" connect --host "$TP_DST4" --port "$1" --expect EHOSTUNREACH --max 2 \
    --timeout 5 >/dev/null
}

# servers: :5001 receives the long transfer (one connection), :5002 and
# :5003 accept any number
tp_bg recv-5001 "$NS_S" timeout 120 bash -c \
  "socat -u TCP4-LISTEN:5001,bind=$TP_DST4,reuseaddr STDOUT | sha256sum >'$TP_TMP/recv.sum'"
for p in 5002 5003; do
  tp_bg "sink-$p" "$NS_S" timeout 120 socat -u "TCP4-LISTEN:$p,bind=$TP_DST4,reuseaddr,fork" \
    OPEN:/dev/null
done
tp_wait_listen "$NS_S" 5001
tp_wait_listen "$NS_S" 5002
tp_wait_listen "$NS_S" 5003

write_conf direct
tp_gw_start -c "$CONF"
check "config A: :5002 connects (rule -> direct)" connects 5002
check "config A: :5003 connects (default direct)" connects 5003

# the long transfer: 24 MiB, then a pause on the FIFO, then 24 MiB more
tp_mkfile "$TP_TMP/part1" 24
tp_mkfile "$TP_TMP/part2" 24
want=$(cat "$TP_TMP/part1" "$TP_TMP/part2" | sha256sum | cut -d' ' -f1)
mkfifo "$TP_TMP/gate"
tp_bg send-5001 "$NS_C" timeout 120 bash -c \
  "{ cat '$TP_TMP/part1'; read -r _ <'$TP_TMP/gate'; cat '$TP_TMP/part2'; } |
   socat -u STDIN TCP4:$TP_DST4:5001"
SEND_PID=$TP_LAST_PID
# established through tunplug (the server sees the connection) before the
# reload; the sender then blocks on the FIFO with part 2 unsent
deadline=$(($(now_ms) + 20000))
until [[ $(nss ss -Htn state established "sport = :5001" | wc -l) -ge 1 ]]; do
  (($(now_ms) < deadline)) || break
  sleep 0.05
done
[[ $(nss ss -Htn state established "sport = :5001" | wc -l) -ge 1 ]] ||
  fail "the transfer to :5001 is not established after 20 s"
ok "transfer to :5001 established through the direct instance of config A"

# config B: the rule's handler is reject now
write_conf reject
out=$(hup)
grep -q 'SIGHUP: reloaded' <<<"$out" || fail "reload of config B: $out"
grep -q '1 older instances still serve open flows' <<<"$out" ||
  fail "reload of config B: want the old instance kept for the open flow: $out"
ok "config B applied: $out"
check "config B: a new flow to :5002 is refused by reject (EHOSTUNREACH)" refused_by_reject 5002
check "config B: :5003 still connects (default direct)" connects 5003
tp_gw_check_alive
grep -q 'last flow closed' "$TP_GW_LOG" &&
  fail "the old instance was finished while its transfer was still open"
ok "the old direct instance still lives (its transfer is open)"

# the old transfer completes through its old instance
LOG_OFF=$(stat -c %s "$TP_GW_LOG")
echo go >"$TP_TMP/gate"
wait "$SEND_PID" || fail "the sender of the long transfer failed"
for ((i = 0; i < 200; i++)); do
  [[ -s $TP_TMP/recv.sum ]] && break
  sleep 0.05
done
got=$(cut -d' ' -f1 "$TP_TMP/recv.sum")
[[ $got == "$want" ]] || fail "long transfer across the reload: got sha256 $got, sent $want"
ok "the transfer begun under config A completed after the reload (48 MiB, sha256 $want)"
wait_log 'handler direct of set 0: last flow closed, finished' 10
ok "the retired direct instance was finished after its last flow: $(grep -m 1 'last flow closed' "$TP_GW_LOG" | sed 's/^.*tunplug: //')"

# a broken file: refused with the parse error; B stays
printf 'handler: direct\nrules:\n  - {proto: tcp, port: [5001\n' >"$CONF"
out=$(hup)
grep -q "reload refused, the running rules and handlers stay: $CONF:[0-9]*: bad YAML" <<<"$out" ||
  fail "broken file: want a refusal with the parser's file:line, got: $out"
ok "broken file refused: $out"
check "after the refused reload: :5002 still refused (B's rule)" refused_by_reject 5002
check "after the refused reload: :5003 still connects" connects 5003

# a key that cannot change at run time
write_conf direct $'tun:\n  mtu: 1400\n'
out=$(hup)
grep -q "reload refused.*$CONF:5: key \"tun.mtu\" cannot change at run time" <<<"$out" ||
  fail "tun.mtu added: want a refusal naming the key and line 5, got: $out"
ok "non-reloadable key refused: $out"
check "after the refused reload: :5002 still refused (B's rule, not A's)" refused_by_reject 5002

# a handler whose init fails with the new file: refused, the staged set
# is dropped (its instances that did start are finished), B stays
printf 'handler: direct\nrules:\n  - {proto: tcp, port: 5002, handler: "socks5://no-port"}\n' >"$CONF"
out=$(hup)
grep -q "reload refused.*$CONF: handler socks5://no-port: init: " <<<"$out" ||
  fail "a handler that cannot init: want a refusal, got: $out"
ok "handler init failure refused: $out"
check "after the refused reload: :5002 still refused (B's rule)" refused_by_reject 5002

# stop while a retired instance still serves a flow: it is finished at exit
write_conf direct
mkfifo "$TP_TMP/gate2"
tp_bg send-5003 "$NS_C" timeout 60 bash -c \
  "{ head -c 1000 /dev/urandom; read -r _ <'$TP_TMP/gate2'; } | socat -u STDIN TCP4:$TP_DST4:5003"
deadline=$(($(now_ms) + 10000))
until [[ $(nss ss -Htn state established "sport = :5003" | wc -l) -ge 1 ]]; do
  (($(now_ms) < deadline)) || fail "the flow to :5003 is not established after 10 s"
  sleep 0.05
done
out=$(hup)
grep -q 'reloaded.*1 older instances still serve open flows' <<<"$out" ||
  fail "config A again: want one older instance kept for the open flow: $out"
ok "reloaded with a flow open on the old instance: $out"

tp_gw_stop_ok
echo go >"$TP_TMP/gate2" || true
grep -q 'flows still allocated' <<<"$TP_GW_SUMMARY" && fail "flows left at exit"
grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$TP_GW_LOG" &&
  fail "sanitizer report in tunplug's log"
ok "clean stop, no flow left, no sanitizer report"

# without -c there is nothing to re-read: SIGHUP is logged and ignored
tp_gw_start --rule "proto=tcp,dst=$TP_DST4/32,port=5002,handler=reject"
out=$(hup)
grep -q 'SIGHUP: no --config file to reload: ignored' <<<"$out" ||
  fail "without -c: want SIGHUP logged and ignored, got: $out"
tp_gw_check_alive
check "without -c, after SIGHUP: the command line's rule still refuses :5002" refused_by_reject 5002
check "without -c, after SIGHUP: :5003 connects" connects 5003
tp_gw_stop_ok
