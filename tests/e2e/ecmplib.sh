# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2034 # its variables are read by the tests that source it
# ecmplib.sh - the five-namespace topology of the scale-out tests (e2e_ecmp,
# e2e_ecmp_bird): client C, router R, tunplug gateways A and B, server S.
# Source it after lib.sh; ecmp_topo_up builds it (no route for the captured
# prefix on R: the test adds it, or a routing daemon does) and starts the
# server; the helpers start/stop the gateways, run flows and read counters.
# See e2e_ecmp.sh for the picture.

TOOL=$TP_E2E_DIR/ecmptool.py
NS_C=${TP_NS_C:-tpc-$$}
NS_S=${TP_NS_S:-tps-$$}
NS_R=tpr-$$
NS_A=tpga-$$
NS_B=tpgb-$$
ALL_NS=("$NS_C" "$NS_R" "$NS_A" "$NS_B" "$NS_S")
TP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tunplug-$TP_TEST.XXXXXX")
GW_PID_A=""
GW_PID_B=""
PORT=7000
NET4=198.19.0.0/16
NET6=fd00:19::/64
GW4_A=198.18.82.2 GW4_B=198.18.83.2 GW6_A=fd00:82::2 GW6_B=fd00:83::2
OUT4_A=198.18.1.1 OUT4_B=198.18.2.1 OUT6_A=fd00:18:1::1 OUT6_B=fd00:18:2::1

# lib.sh's cleanup knows NS_C and NS_S; the other three are this test's own
ecmp_cleanup() {
  local rc=$? ns pid
  set +e
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    for f in "$TP_TMP"/gw-*.log; do
      [[ -s $f ]] && { log "--- last lines of $(basename "$f") ---"; tail -n 15 "$f" >&2; }
    done
  fi
  for ns in "$NS_R" "$NS_A" "$NS_B"; do
    grep -qw "^$ns" <<<"$(ip netns list)" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  (exit "$rc")
  tp_cleanup
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# link NS1 IF1 ADDR4_1 ADDR6_1 NS2 IF2 ADDR4_2 ADDR6_2 (/24, /64; static neighbours)
link() {
  local n1=$1 i1=$2 a1=$3 b1=$4 n2=$5 i2=$6 a2=$7 b2=$8 m1 m2
  ip -n "$n1" link add "$i1" type veth peer name "$i2" netns "$n2"
  ip -n "$n1" addr add "$a1/24" dev "$i1"
  ip -n "$n1" addr add "$b1/64" dev "$i1" nodad
  ip -n "$n2" addr add "$a2/24" dev "$i2"
  ip -n "$n2" addr add "$b2/64" dev "$i2" nodad
  ip -n "$n1" link set "$i1" up
  ip -n "$n2" link set "$i2" up
  m1=$(ip -n "$n1" -br link show "$i1" | awk '{print $3}')
  m2=$(ip -n "$n2" -br link show "$i2" | awk '{print $3}')
  ip -n "$n1" neigh replace "$a2" lladdr "$m2" dev "$i1" nud permanent
  ip -n "$n1" neigh replace "$b2" lladdr "$m2" dev "$i1" nud permanent
  ip -n "$n2" neigh replace "$a1" lladdr "$m1" dev "$i2" nud permanent
  ip -n "$n2" neigh replace "$b1" lladdr "$m1" dev "$i2" nud permanent
}

# ecmp_topo_up: namespaces, links, addresses, forwarding, the gateways' own
# routing, the server (ecmptool.py server on port $PORT, both families)
ecmp_topo_up() {
  local ns g r4 r6 s4 s6 a
  tp_sweep_stale_ns
  trap ecmp_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  for ns in "${ALL_NS[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    in_ns "$ns" sysctl -q -w net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
      net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 >/dev/null
  done
  link "$NS_C" c0 198.18.81.2 fd00:81::2 "$NS_R" r0 198.18.81.1 fd00:81::1
  link "$NS_R" ra0 198.18.82.1 fd00:82::1 "$NS_A" ar0 "$GW4_A" "$GW6_A"
  link "$NS_R" rb0 198.18.83.1 fd00:83::1 "$NS_B" br0 "$GW4_B" "$GW6_B"
  link "$NS_A" as0 "$OUT4_A" "$OUT6_A" "$NS_S" sa0 198.18.1.2 fd00:18:1::2
  link "$NS_B" bs0 "$OUT4_B" "$OUT6_B" "$NS_S" sb0 198.18.2.2 fd00:18:2::2
  ip -n "$NS_S" addr add "$TP_DST4/32" dev lo
  ip -n "$NS_S" addr add "$TP_DST6/128" dev lo
  ip -n "$NS_C" route add default via 198.18.81.1
  ip -n "$NS_C" -6 route add default via fd00:81::1
  in_ns "$NS_R" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1 >/dev/null
  for g in A B; do
    ns=NS_$g r4=198.18.8$([[ $g == A ]] && echo 2 || echo 3).1
    r6=fd00:8$([[ $g == A ]] && echo 2 || echo 3)::1
    s4=198.18.$([[ $g == A ]] && echo 1 || echo 2).2 s6=fd00:18:$([[ $g == A ]] && echo 1 || echo 2)::2
    # forwarded packets for the prefix go into tp0 (tunplug's --route); the
    # answers go back to the client via the router; tunplug's own (marked)
    # sockets reach the server over the gateway's own link
    in_ns "${!ns}" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
    ip -n "${!ns}" route add 198.18.81.0/24 via "$r4"
    ip -n "${!ns}" -6 route add fd00:81::/64 via "$r6"
    ip -n "${!ns}" rule add fwmark "$TP_MARK" lookup "$TP_TABLE" pref 100
    ip -n "${!ns}" -6 rule add fwmark "$TP_MARK" lookup "$TP_TABLE" pref 100
    ip -n "${!ns}" route add "$NET4" via "$s4" table "$TP_TABLE"
    ip -n "${!ns}" -6 route add "$NET6" via "$s6" table "$TP_TABLE"
  done
  for a in 198.18.81.2 fd00:81::2; do
    ip -n "$NS_S" route get "$a" >/dev/null 2>&1 && fail "the server namespace has a route to the client $a"
  done
  log "topology up: client $NS_C, router $NS_R, gateways $NS_A and $NS_B, server $NS_S; tmp $TP_TMP"

  tp_bg server "$NS_S" "$PYTHON" "$TOOL" server --host "$TP_DST4" --host "$TP_DST6" --port "$PORT" \
    --timeout 240
  tp_wait_listen "$NS_S" "$PORT" 5 2
}

# gateway_start A|B: tunplug in that namespace, wait for "tunplug: ready"
gateway_start() {
  local g=$1 ns pid logf deadline
  ns=NS_$g
  logf=$TP_TMP/gw-$g.log
  ip netns exec "${!ns}" "$TUNPLUG" "${TP_GW_BASE_ARGS[@]}" --control "$TP_TMP/ctl-$g.sock" \
    >"$logf" 2>&1 </dev/null &
  pid=$!
  printf -v "GW_PID_$g" '%s' "$pid"
  deadline=$(($(now_ms) + 10000))
  until grep -q 'tunplug: ready' "$logf"; do
    tp_alive "$pid" || fail "gateway $g exited before ready: $(tail -n 5 "$logf" | tr '\n' '|')"
    (($(now_ms) < deadline)) || fail "gateway $g: no 'tunplug: ready' within 10 s"
    sleep 0.05
  done
  ok "gateway $g ready (pid $pid)"
}
jget() { "$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$1" "$2"; }
gw_of() { # PEER ADDRESS -> A|B|?
  case $1 in "$OUT4_A" | "$OUT6_A") echo A ;; "$OUT4_B" | "$OUT6_B") echo B ;; *) echo "?" ;; esac
}
# flows NAME FAMILY FIRST_PORT COUNT: short flows from source ports
# FIRST_PORT.., 8 at a time; every token must come back. Sets N_A and N_B:
# the flows the server saw from each gateway.
flows() {
  local name=$1 dst=$TP_DST4 counts
  [[ $2 == 6 ]] && dst=$TP_DST6
  seq "$3" $(($3 + $4 - 1)) >"$TP_TMP/$name.ports"
  in_ns "$NS_C" timeout 90 "$PYTHON" "$TOOL" flows --dst "$dst" --port "$PORT" \
    --sports "$TP_TMP/$name.ports" --concurrency 8 --timeout 80 >"$TP_TMP/$name.json" \
    2>"$TP_TMP/$name.err" ||
    fail "$name: not every flow completed: $(head -c 1500 "$TP_TMP/$name.json") $(tail -3 "$TP_TMP/$name.err")"
  counts=$("$PYTHON" -c 'import json, sys
r = json.load(open(sys.argv[1]))
a = set(sys.argv[2:4]); b = set(sys.argv[4:6])
na = sum(1 for _, p in r["flows"] if p in a); nb = sum(1 for _, p in r["flows"] if p in b)
print(na, nb, len(r["flows"]) - na - nb)' "$TP_TMP/$name.json" "$OUT4_A" "$OUT6_A" "$OUT4_B" "$OUT6_B")
  read -r N_A N_B other <<<"$counts"
  ((other == 0)) || fail "$name: $other flows came from neither gateway: $(head -c 800 "$TP_TMP/$name.json")"
}
# long flows: started one at a time until each gateway carries at least one
# (which gateway a flow takes is the router's hash, not ours to pick); each
# reports the gateway the server saw at its start. Sets LONGS ("name:G ...").
LONG_N=0
longs_on_both() { # SECONDS
  local have_a=0 have_b=0 name deadline line g i
  LONGS=""
  for ((i = 0; i < 16 && (have_a == 0 || have_b == 0); i++)); do
    LONG_N=$((LONG_N + 1))
    name=long$LONG_N
    tp_bg "$name" "$NS_C" timeout 60 "$PYTHON" "$TOOL" long --dst "$TP_DST4" --port "$PORT" \
      --bytes $((16 * 1024 * 1024)) --seconds "$1" --timeout 50
    printf -v "LONG_PID_$name" '%s' "$TP_LAST_PID"
    deadline=$(($(now_ms) + 10000))
    until line=$(grep -m1 '"start"' "$TP_TMP/$name.log" 2>/dev/null); do
      (($(now_ms) < deadline)) || fail "$name: no answer from the server within 10 s: $(cat "$TP_TMP/$name.log")"
      sleep 0.05
    done
    g=$(gw_of "$(jget "$line" start)")
    [[ $g == A ]] && have_a=$((have_a + 1))
    [[ $g == B ]] && have_b=$((have_b + 1))
    LONGS+="$name:$g "
  done
  ((have_a > 0 && have_b > 0)) || fail "16 long flows, not one on each gateway: $LONGS"
  LONG_A=$have_a LONG_B=$have_b
}
# ctl_long_flows A|B: how many TCP flows to the test server `tunplug ctl
# flows --json` of that gateway lists now (its own control socket)
ctl_long_flows() {
  local ns=NS_$1
  ip netns exec "${!ns}" timeout 10 "$TUNPLUG" ctl --control "$TP_TMP/ctl-$1.sock" flows --json |
    "$PYTHON" -c 'import json, sys
d = json.load(sys.stdin)
print(sum(1 for f in d["flows"] if f["proto"] == "tcp" and f["destination"].endswith(":" + sys.argv[1])))' "$PORT"
}
long_result() { # NAME: wait for it (bounded: timeout 60), its last JSON line in $R
  local pid=LONG_PID_$1 rc=0
  wait "${!pid}" || rc=$?
  R=$(grep '"ok"' "$TP_TMP/$1.log" | tail -1) || R="{\"ok\": false, \"error\": \"exit $rc, no result\"}"
}
# opened_count A|B: SIGUSR1, then the "stack tcp flows: opened N" of that summary
opened_count() {
  local g=$1 pid logf off deadline line
  pid=GW_PID_$g
  logf=$TP_TMP/gw-$g.log
  off=$(stat -c %s "$logf")
  kill -USR1 "${!pid}"
  deadline=$(($(now_ms) + 5000))
  while :; do
    line=$(tail -c +"$((off + 1))" "$logf" | grep -m1 'stack tcp flows: opened' || true)
    [[ -n $line ]] && break
    (($(now_ms) < deadline)) || fail "gateway $g printed no summary within 5 s of SIGUSR1"
    sleep 0.05
  done
  sed -E 's/.*opened ([0-9]+),.*/\1/' <<<"$line"
}
gateway_stop() { # A|B: SIGTERM, exit 0 within 10 s
  local g=$1 pid rc=0 t0
  pid=GW_PID_$g
  t0=$(now_ms)
  kill -TERM "${!pid}"
  timeout 10 tail --pid="${!pid}" -f /dev/null || fail "gateway $g did not exit within 10 s of SIGTERM"
  wait "${!pid}" || rc=$?
  printf -v "GW_PID_$g" '%s' ""
  ((rc == 0)) || fail "gateway $g exited with status $rc after SIGTERM"
  ok "gateway $g stopped (SIGTERM, exit 0) in $(($(now_ms) - t0)) ms"
}

