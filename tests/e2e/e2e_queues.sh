#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_queues: --queues 2, a master and two worker processes on a multi-queue
# tun (gateway/src/master.c).
#  1. the device has 2 queues; the master's two children are the workers its
#     'ready' line names
#  2. 16 long-lived echo connections, then SIGUSR1: both workers print a
#     'worker K:' summary and the master a 'tunplug: total (SIGUSR1)' line;
#     each worker's open TCP flows add up to 16
#  3. 64 concurrent TCP flows (IPv4) and 32 (IPv6) x 64 KiB, each sha256 +
#     echo verified; the per-worker counters show new flows on both workers
#  4. SIGKILL worker 1: the master logs it with the signal and a new pid,
#     which is its child; worker 2's long-lived flows still echo (exactly as
#     many as it had), worker 1's do not; 64 new flows all verified, some of
#     them served by the replacement
#  5. SIGTERM to the master: exit 0, both workers' summaries and a total,
#     no worker left, no tun device, route or address left
#  6. --user nobody: the master stays root, the workers run as nobody;
#     killing worker 1 over and over: 5 restarts, then the master gives up
#     on queue 1 and worker 2 serves every new flow; SIGTERM: exit 0, clean
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root pgrep
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's worker processes, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

ECHO_PORT=7500
HASH_PORT=7501
tp_bg echo "$NS_S" "$PYTHON" "$TP_TOOL" echoserver --host "$TP_DST4" --port "$ECHO_PORT" --timeout 170
tp_bg hashserver "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --host "$TP_DST6" \
  --port "$HASH_PORT" --max-conns 1000 --timeout 170
tp_wait_listen "$NS_S" "$ECHO_PORT"
tp_wait_listen "$NS_S" "$HASH_PORT"

# children PID: the child processes of PID, sorted, one line
children() { pgrep -P "$1" | sort -n | tr '\n' ' ' | sed 's/ $//'; }
sorted() { printf '%s\n' "$@" | sort -n | tr '\n' ' ' | sed 's/ $//'; }

# usr1: SIGUSR1 to the master, wait for its next total line; USR1_OUT = what was printed
USR1_OUT=""
usr1() {
  local off n0 i
  off=$(stat -c %s "$TP_GW_LOG")
  n0=$(grep -c 'tunplug: total (SIGUSR1)' "$TP_GW_LOG" || true)
  tp_gw_signal USR1
  for ((i = 0; i < 100; i++)); do
    (($(grep -c 'tunplug: total (SIGUSR1)' "$TP_GW_LOG" || true) > n0)) && break
    sleep 0.05
  done
  USR1_OUT=$(tail -c +"$((off + 1))" "$TP_GW_LOG")
  grep -q 'tunplug: total (SIGUSR1): 2 queues' <<<"$USR1_OUT" || fail "SIGUSR1: no total line within 5 s: $USR1_OUT"
}
# field K SED-REGEX TEXT: the number the regex captures in worker K's line of TEXT
field() {
  local v
  v=$(grep "tunplug: worker $1:   " <<<"$3" | sed -nE "s/.*$2.*/\\1/p" | head -n 1)
  [[ -n $v ]] || fail "no worker $1 line matching /$2/ in: $3"
  echo "$v"
}
tcp_now() { field "$1" 'stack tcp flows: .* now ([0-9]+);' "$USR1_OUT"; }
seen() { field "$1" 'flows: seen ([0-9]+),' "$USR1_OUT"; }

# concurrent HOST N: N verified flows through the gateway
concurrent() {
  local out
  out=$(nsc timeout 90 "$PYTHON" "$TP_TOOL" concurrent --host "$1" --port "$HASH_PORT" -n "$2" \
    --size 65536 --timeout 60) || fail "$1: not every one of $2 concurrent flows verified: $out"
  ok "$1: $2 concurrent flows x 64 KiB, each sha256 + echo verified"
}

# nothing_left WHEN: no tunplug process, tun device, route or address in $NS_C
nothing_left() {
  local when=$1 left="" pid
  for pid in $(ip netns pids "$NS_C" 2>/dev/null); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == tunplug ]] && left+=" tunplug process $pid;"
  done
  ip -n "$NS_C" link show "$TP_TUN" >/dev/null 2>&1 && left+=" device $TP_TUN;"
  if grep -qF "dev $TP_TUN" <<<"$(ip -n "$NS_C" route show table all)"; then left+=" v4 route via $TP_TUN;"; fi
  if grep -qF "dev $TP_TUN" <<<"$(ip -n "$NS_C" -6 route show table all)"; then left+=" v6 route via $TP_TUN;"; fi
  if grep -qE '198\.19\.255\.1/|fd00:19:ffff::1/' <<<"$(ip -n "$NS_C" addr show)"; then left+=" tun address;"; fi
  [[ -z $left ]] || fail "$when: left behind:$left"
  ok "$when: no tunplug process, no $TP_TUN, no route or address of tunplug's in $NS_C"
}

# ---- 1. start ----
tp_gw_start --queues 2
MASTER=$TP_GW_PID
ready=$(grep 'tunplug: ready .*queues=2' "$TP_GW_LOG") || fail "no 'ready ... queues=2' line: $(cat "$TP_GW_LOG")"
read -r W1 W2 < <(sed -nE 's/.*worker pids ([0-9]+) ([0-9]+).*/\1 \2/p' <<<"$ready")
[[ -n ${W1:-} && -n ${W2:-} ]] || fail "no worker pids in: $ready"
[[ $(children "$MASTER") == "$(sorted "$W1" "$W2")" ]] ||
  fail "the master's children are '$(children "$MASTER")', its ready line names $W1 $W2"
nsc test -e "/sys/class/net/$TP_TUN/queues/rx-1" || fail "$TP_TUN has no second queue: $(nsc ls "/sys/class/net/$TP_TUN/queues")"
for k in 1 2; do
  grep -q "tunplug: worker $k: ready tun=$TP_TUN" "$TP_GW_LOG" || fail "no 'worker $k: ready' line"
done
ok "master $MASTER, workers $W1 $W2 (its only children), $TP_TUN has queues $(nsc ls "/sys/class/net/$TP_TUN/queues" | tr '\n' ' ')"

# ---- 2. long-lived flows, SIGUSR1 ----
STOP=$TP_TMP/idle.stop
tp_bg idle "$NS_C" timeout 150 "$PYTHON" "$TP_TOOL" idle --host "$TP_DST4" --port "$ECHO_PORT" -n 16 \
  --hold 140 --stop-file "$STOP" --recheck
IDLE_PID=$TP_LAST_PID
for ((i = 0; i < 200; i++)); do
  grep -q '"event": "open"' "$TP_TMP/idle.log" && break
  sleep 0.05
done
grep -q '"opened": 16' "$TP_TMP/idle.log" || fail "could not open 16 long-lived flows: $(cat "$TP_TMP/idle.log")"
usr1
N1=$(tcp_now 1)
N2=$(tcp_now 2)
((N1 + N2 == 16)) || fail "open TCP flows per worker $N1 + $N2, want 16 in all"
grep -q 'tunplug: worker 1: summary' <<<"$USR1_OUT" && grep -q 'tunplug: worker 2: summary' <<<"$USR1_OUT" ||
  fail "SIGUSR1: not both workers printed a summary"
ok "16 long-lived flows; SIGUSR1: both workers' summaries and a total; worker 1 holds $N1, worker 2 $N2"
tp_gw_check_alive
SEEN1=$(seen 1)
SEEN2=$(seen 2)

# ---- 3. concurrent flows spread over both workers ----
concurrent "$TP_DST4" 64
concurrent "$TP_DST6" 32
usr1
D1=$(($(seen 1) - SEEN1))
D2=$(($(seen 2) - SEEN2))
((D1 + D2 == 96)) || fail "flows seen by the workers: $D1 + $D2, want 96"
((D1 > 0 && D2 > 0)) || fail "the 96 flows all went to one worker ($D1 / $D2)"
ok "the 96 flows were served by both workers: $D1 by worker 1, $D2 by worker 2"
grep -E '^tunplug: total \(SIGUSR1\)' <<<"$USR1_OUT" | sed 's/^/    /' >&2

# ---- 4. kill worker 1 ----
kill -KILL "$W1"
for ((i = 0; i < 100; i++)); do
  grep -q "worker 1 (pid $W1) killed by signal 9" "$TP_GW_LOG" && break
  sleep 0.05
done
line=$(grep "worker 1 (pid $W1) killed by signal 9" "$TP_GW_LOG") || fail "no log line about worker 1's death"
NEW1=$(sed -nE 's/.*restarted as pid ([0-9]+).*/\1/p' <<<"$line")
[[ -n $NEW1 && $NEW1 != "$W1" ]] || fail "no new pid in: $line"
ok "logged: ${line#*tunplug: }"
for ((i = 0; i < 100; i++)); do
  (($(grep -c 'tunplug: worker 1: ready' "$TP_GW_LOG") >= 2)) && break
  sleep 0.05
done
(($(grep -c 'tunplug: worker 1: ready' "$TP_GW_LOG") >= 2)) || fail "the replacement worker 1 never got ready"
[[ $(children "$MASTER") == "$(sorted "$NEW1" "$W2")" ]] ||
  fail "the master's children are '$(children "$MASTER")', want $NEW1 (new worker 1) and $W2"
ok "replacement worker 1 (pid $NEW1) ready; the master's children are $NEW1 $W2"

touch "$STOP"
for ((i = 0; i < 200; i++)); do tp_alive "$IDLE_PID" || break; sleep 0.05; done
done_line=$(grep '"event": "done"' "$TP_TMP/idle.log") || fail "the long-lived flows' client did not finish: $(cat "$TP_TMP/idle.log")"
ALIVE=$(sed -nE 's/.*"alive": ([0-9]+).*/\1/p' <<<"$done_line")
[[ $ALIVE == "$N2" ]] || fail "after killing worker 1, $ALIVE of 16 long-lived flows still echo; want worker 2's $N2"
ok "after the kill, worker 2's $N2 long-lived flows still echo; worker 1's $N1 do not"

SEEN_NEW1=0
usr1
SEEN_NEW1=$(seen 1)
SEEN2=$(seen 2)
concurrent "$TP_DST4" 64
usr1
D1=$(($(seen 1) - SEEN_NEW1))
D2=$(($(seen 2) - SEEN2))
((D1 > 0)) || fail "the replacement worker 1 served none of the 64 new flows ($D1 / $D2)"
ok "after the restart: 64 new flows verified, $D1 served by the replacement, $D2 by worker 2"

# ---- 5. SIGTERM ----
tp_gw_stop_ok
for k in 1 2; do
  grep -q "tunplug: worker $k: summary" <<<"$TP_GW_SUMMARY" || fail "no exit summary of worker $k"
done
total=$(grep '^tunplug: total: 2 queues, 1 restart:' <<<"$TP_GW_SUMMARY") || fail "no total line (2 queues, 1 restart)"
ok "exit summaries of both workers and: $total"
for p in "$NEW1" "$W2"; do
  grep -q "worker [12] (pid $p) exited with status 0" <<<"$TP_GW_SUMMARY" || fail "worker pid $p: no clean exit (status 0) logged"
done
for p in "$NEW1" "$W2"; do tp_alive "$p" && fail "worker pid $p still runs after the master exited"; done
nothing_left "after SIGTERM"

# ---- 6. --user nobody, restart limit ----
if getent passwd nobody >/dev/null; then
  NOBODY_UID=$(id -u nobody)
  tp_gw_start --queues 2 --user nobody
  MASTER=$TP_GW_PID
  read -r W1 W2 < <(grep 'tunplug: ready .*queues=2' "$TP_GW_LOG" | sed -nE 's/.*worker pids ([0-9]+) ([0-9]+).*/\1 \2/p')
  uid_of() { awk '/^Uid:/ {print $2 " " $3 " " $4 " " $5}' "/proc/$1/status"; }
  [[ $(uid_of "$MASTER") == "0 0 0 0" ]] || fail "the master runs as uids $(uid_of "$MASTER"), want root"
  for p in "$W1" "$W2"; do
    [[ $(uid_of "$p") == "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" ]] || fail "worker $p runs as uids $(uid_of "$p")"
  done
  ok "--user nobody: master $MASTER stays root, workers $W1 $W2 run as nobody ($NOBODY_UID)"
  concurrent "$TP_DST4" 32

  cur=$W1
  for r in 1 2 3 4 5 6; do
    kill -KILL "$cur"
    for ((i = 0; i < 100; i++)); do
      grep -q "worker 1 (pid $cur) killed by signal 9" "$TP_GW_LOG" && break
      sleep 0.05
    done
    line=$(grep "worker 1 (pid $cur) killed by signal 9" "$TP_GW_LOG") || fail "kill $r: no log line about pid $cur"
    if ((r <= 5)); then
      cur=$(sed -nE 's/.*restarted as pid ([0-9]+).*/\1/p' <<<"$line")
      [[ -n $cur ]] || fail "kill $r: not restarted: $line"
      # let it start, so each kill is a death of a running worker
      for ((i = 0; i < 100; i++)); do
        (($(grep -c 'tunplug: worker 1: ready' "$TP_GW_LOG") >= r + 1)) && break
        sleep 0.05
      done
    else
      grep -q 'giving up on queue 1' <<<"$line" || fail "kill 6 within 10 s: not given up: $line"
    fi
  done
  ok "restart limit: 5 restarts, then: ${line#*tunplug: }"
  [[ $(children "$MASTER") == "$W2" ]] || fail "the master's children are '$(children "$MASTER")', want only worker 2 ($W2)"
  nsc test -e "/sys/class/net/$TP_TUN/queues/rx-1" && fail "queue 1 still attached after giving up on it"
  concurrent "$TP_DST4" 32
  tp_gw_check_alive
  tp_gw_stop_ok
  grep -q '^tunplug: total: 2 queues, 5 restarts:' <<<"$TP_GW_SUMMARY" || fail "no total line with 5 restarts"
  grep -q "worker 2 (pid $W2) exited with status 0" <<<"$TP_GW_SUMMARY" || fail "worker 2: no clean exit logged"
  tp_alive "$W2" && fail "worker 2 ($W2) still runs after the master exited"
  nothing_left "after SIGTERM (--user nobody)"
else
  log "no user 'nobody': --user part skipped"
fi
echo "e2e_queues: PASS"
