#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_synflood: a SYN flood from one address does not lock others out.
#  - hping3 -S --flood (fixed source address, a second address of the client
#    namespace; source ports counting up) at an echo server through tunplug,
#    bounded by `timeout` to FLOOD_S seconds
#  - meanwhile a client on the usual address starts a connection every
#    0.25 s (connect + 1-byte echo, each allowed ATTEMPT_S seconds, so a
#    lost SYN can be retransmitted): at least 95 % succeed
#  - the gateway counted the flood's SYNs dropped per source, and held at
#    most --max-pending-per-source of them at once (so at most that many
#    upstream connects were in flight for the flood)
#  - afterwards the half-open flows drain to 0 and the stack's flows to 0
#    within 30 s, and new connections work, also from the flood's address
#  - then again with --max-pending 256 = --max-pending-per-source and the
#    flood aimed at a destination that never answers (its upstream connects
#    hang until --connect-timeout), so the flood alone keeps every half-open
#    slot taken: each other client's SYN evicts the flood's oldest (its
#    upstream connect abandoned), >= 95 % succeed, the evictions are
#    counted, and everything drains afterwards
# Each connection may take ATTEMPT_S: under the flood the tun's queue
# (500 packets) overflows now and then, and a SYN lost there is only
# retransmitted by the client after 1 s, 3 s, 7 s.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root hping3
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's SYN bounds, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

PORT=7420
FLOOD_ADDR=198.18.0.77
FLOOD_S=${TP_FLOOD_S:-10}
ATTEMPT_S=10
BLACKHOLE=198.19.2.2 # routed into the tun; nothing in the server namespace answers
PER_SOURCE=256
tp_bg echo "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --port "$PORT" --timeout 120
tp_wait_listen "$NS_S" "$PORT" 5 1
ip -n "$NS_C" addr add "$FLOOD_ADDR/32" dev tpc0
tp_gw_start --max-pending-per-source "$PER_SOURCE"

# conn_loop SECONDS: a connection (1-byte echo) every 0.25 s for SECONDS,
# each in its own thread with ATTEMPT_S to succeed; prints
# "attempts N ok M worst_ms W" and exits 0
conn_loop() {
  nsc "$PYTHON" - "$TP_DST4" "$PORT" "$1" "$ATTEMPT_S" <<'EOF'
import socket, sys, threading, time
host, port, secs, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
res, errs = [], []
def one():
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=limit) as s:
            s.settimeout(max(0.1, limit - (time.monotonic() - t0)))
            s.sendall(b"x")
            ok = s.recv(1) == b"x"
    except OSError as e:
        ok = False
        errs.append("%s after %d ms" % (e, (time.monotonic() - t0) * 1000))
    res.append((ok, time.monotonic() - t0))
threads = []
end = time.monotonic() + secs
while time.monotonic() < end:
    t = threading.Thread(target=one)
    t.start()
    threads.append(t)
    time.sleep(0.25)
for t in threads:
    t.join()
good = [d for ok, d in res if ok]
print("attempts %d ok %d worst_ms %d%s" % (len(res), len(good), max(good, default=0) * 1000,
                                          "; failed: " + ", ".join(errs) if errs else ""))
EOF
}

# summary_now: SIGUSR1, then the new summary's text
summary_now() {
  local off i
  off=$(stat -c %s "$TP_GW_LOG")
  tp_gw_signal USR1
  for ((i = 0; i < 40; i++)); do
    if tail -c +"$((off + 1))" "$TP_GW_LOG" | grep -q 'stack tcp flows:'; then
      sleep 0.05
      tail -c +"$((off + 1))" "$TP_GW_LOG"
      return 0
    fi
    sleep 0.05
  done
  fail "no summary within 2 s of SIGUSR1"
}
# num TEXT REGEX: the number captured by REGEX's first group in TEXT
num() { sed -nE "s/.*$2.*/\\1/p" <<<"$1" | tail -n 1; }

out=$(conn_loop 1)
[[ $out =~ ok\ ([0-9]+) ]] && ((BASH_REMATCH[1] >= 3)) || fail "before the flood, connections fail: $out"
ok "before the flood: $out"

tp_bg flood "$NS_C" timeout "$FLOOD_S" hping3 -S --flood -p "$PORT" -a "$FLOOD_ADDR" "$TP_DST4"
FLOOD_PID=$TP_LAST_PID
sleep 1
s=$(summary_now)
held=$(num "$s" 'syn: held ([0-9]+)')
((held > 0)) || fail "the flood does not reach the gateway (syn held $held)"
out=$(conn_loop "$((FLOOD_S - 3))")
ok "during the flood: $out"
s=$(summary_now)
wait "$FLOOD_PID" 2>/dev/null || true
read -r attempts good < <(sed -nE 's/attempts ([0-9]+) ok ([0-9]+).*/\1 \2/p' <<<"$out")
((attempts >= 10)) || fail "only $attempts attempts during the flood"
((good * 100 >= attempts * 95)) || fail "during the flood only $good of $attempts connections succeeded (want >= 95 %)"
ok "$good of $attempts connections from $TP_C4 succeeded during the flood from $FLOOD_ADDR"

dropped=$(num "$s" 'dropped \(source full ([0-9]+)')
pending=$(num "$s" 'half-open now ([0-9]+)')
((dropped >= 10000)) || fail "the gateway dropped only $dropped SYNs per source: not a flood? ($s)"
((pending <= PER_SOURCE + 8)) || fail "$pending half-open flows during the flood (per source: $PER_SOURCE)"
ok "the gateway dropped $dropped of the flood's SYNs (source full), $pending half-open at the sample"
grep -q 'flood\|hping' "$TP_TMP/flood.log" 2>/dev/null && sed 's/^/    hping3: /' "$TP_TMP/flood.log" >&2

# recovery: half-open and stack flows drain, connections work
deadline=$(($(now_ms) + 30000))
while :; do
  s=$(summary_now)
  pending=$(num "$s" 'half-open now ([0-9]+)')
  flows=$(num "$s" 'stack tcp flows: .* now ([0-9]+);')
  [[ $pending -eq 0 && $flows -eq 0 ]] && break
  (($(now_ms) < deadline)) || fail "30 s after the flood: $pending half-open, $flows flows left"
  sleep 0.5
done
ok "after the flood the half-open flows and the stack's flows drained to 0"
out=$(conn_loop 2)
[[ $out =~ attempts\ ([0-9]+)\ ok\ ([0-9]+) ]] && ((BASH_REMATCH[1] == BASH_REMATCH[2])) ||
  fail "after the flood not every connection succeeded: $out"
ok "after the flood: $out"
out=$(nsc "$PYTHON" - "$FLOOD_ADDR" "$TP_DST4" "$PORT" <<'EOF'
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.settimeout(5)
s.connect((sys.argv[2], int(sys.argv[3])))
s.sendall(b"y")
print("echo ok" if s.recv(1) == b"y" else "bad echo")
EOF
) || fail "the flood's own address cannot connect after the flood: $out"
[[ $out == "echo ok" ]] || fail "from $FLOOD_ADDR after the flood: $out"
ok "the flood's address itself connects again (not blacklisted)"

tp_gw_check_alive
tp_gw_stop_ok
grep -qE 'half-open now 0 from 0 sources' <<<"$TP_GW_SUMMARY" || fail "summary: half-open flows left"

# the flood alone fills the half-open table: others get in by eviction
EVICT_S=$((FLOOD_S / 2 + 2))
# --connect-timeout 10: the flood's held SYNs (to an address that never
# answers) must time out within the test's 30 s drain window
tp_gw_start --max-pending "$PER_SOURCE" --max-pending-per-source "$PER_SOURCE" --connect-timeout 10
tp_bg flood2 "$NS_C" timeout "$EVICT_S" hping3 -S --flood -p "$PORT" -a "$FLOOD_ADDR" "$BLACKHOLE"
FLOOD_PID=$TP_LAST_PID
deadline=$(($(now_ms) + 5000))
until [[ $(num "$(summary_now)" 'half-open now ([0-9]+)') -ge $PER_SOURCE ]]; do
  (($(now_ms) < deadline)) || fail "the flood did not fill the $PER_SOURCE half-open slots within 5 s"
  sleep 0.1
done
out=$(conn_loop "$((EVICT_S - 3))")
s=$(summary_now)
wait "$FLOOD_PID" 2>/dev/null || true
read -r attempts good < <(sed -nE 's/attempts ([0-9]+) ok ([0-9]+).*/\1 \2/p' <<<"$out")
((attempts >= 5 && good * 100 >= attempts * 95)) ||
  fail "with the half-open table full of the flood, only $good of $attempts connections succeeded: $out"
evicted=$(num "$s" 'pending full [0-9]+\), evicted ([0-9]+)')
((evicted >= good)) || fail "only $evicted evictions for $good connections: $s"
ok "half-open table full of the flood: $good of $attempts connections succeeded, $evicted flood flows evicted"
deadline=$(($(now_ms) + 30000))
while :; do
  s=$(summary_now)
  pending=$(num "$s" 'half-open now ([0-9]+)')
  flows=$(num "$s" 'stack tcp flows: .* now ([0-9]+);')
  [[ $pending -eq 0 && $flows -eq 0 ]] && break
  (($(now_ms) < deadline)) || fail "30 s after the second flood: $pending half-open, $flows flows left"
  sleep 0.5
done
out=$(conn_loop 1)
[[ $out =~ attempts\ ([0-9]+)\ ok\ ([0-9]+) ]] && ((BASH_REMATCH[1] == BASH_REMATCH[2])) ||
  fail "after the second flood not every connection succeeded: $out"
ok "drained again, then: $out"
tp_gw_check_alive
tp_gw_stop_ok
echo "e2e_synflood: PASS"
