#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_autoroute: --auto-route ("capture everything") in the client namespace.
#
# This test's client namespace has no policy rule of its own and reaches the
# servers only through a main-table default route over the veth, like a real
# host with a default gateway. With tunplug --auto-route (no --route):
#  - curl (unmarked) to the server addresses goes into tp0: its source is the
#    tun's address and tunplug counts exactly one flow per request, while the
#    gateway's own (marked) sockets leave through the main table (the server
#    sees the veth address): no loop, no runaway flow count
#  - the rules are the ones documented (v4 and v6), tagged proto 116
#  - --exclude of a server address: curl goes direct (veth source), tunplug
#    sees no flow; another address is still captured
#  - SIGTERM: no rule and no route of ours left (ip rule / ip -6 rule /
#    ip route show table all)
#  - --exclude-uid / --include-uid: curl as nobody vs as root
#  - SIGKILL: the rules stay; a restart removes them (log line with the
#    count), works, and its SIGTERM leaves nothing
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root curl
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's routing itself, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

PORT=8080
DST4B=198.19.1.2 # a second server address, never excluded
TUN4=198.19.255.1
TUN6=fd00:19:ffff::1
TABLE=29808 # 0x7470, the default --route-table
PROTO=116   # 0x74, tunplug's rule/route protocol

# The client namespace as a plain host: drop lib.sh's fwmark rule and table
# (tunplug must bring its own bypass), a default route over the veth.
ip -n "$NS_C" rule del pref 100
ip -n "$NS_C" -6 rule del pref 100
ip -n "$NS_C" route flush table 100
ip -n "$NS_C" -6 route flush table 100
ip -n "$NS_C" route add default via "$TP_S4" dev tpc0
ip -n "$NS_C" -6 route add default via "$TP_S6" dev tpc0
ip -n "$NS_S" addr add "$DST4B/32" dev lo

mkdir -p "$TP_TMP/www"
tp_mkfile "$TP_TMP/www/blob.bin" 4
want=$(sha_of "$TP_TMP/www/blob.bin")
for a in "$TP_DST4" "$DST4B" "$TP_DST6"; do
  tp_bg "http-$a" "$NS_S" "$PYTHON" -m http.server --bind "$a" --directory "$TP_TMP/www" "$PORT"
done
tp_wait_listen "$NS_S" "$PORT" 5 3

# no tunplug: the kernel goes straight over the veth (checks the setup)
src=$(nsc timeout 20 curl -gsS --fail --max-time 10 -o /dev/null -w '%{local_ip}' "http://$TP_DST4:$PORT/blob.bin")
[[ $src == "$TP_C4" ]] || fail "without tunplug curl's source is '$src', want $TP_C4"
ok "without tunplug: direct over the veth (source $src)"

# tunplug with addresses only: no --route, no --fwmark (--auto-route implies one)
TP_GW_BASE_ARGS=(--tun-name "$TP_TUN" --address "$TUN4/32" --address "$TUN6/128")

# ours_count: rules and routes tagged with our protocol, "v4rules v6rules routes"
ours_count() {
  local r4 r6 rt
  r4=$(ip -n "$NS_C" rule show | grep -c "proto $PROTO") || true
  r6=$(ip -n "$NS_C" -6 rule show | grep -c "proto $PROTO") || true
  rt=$( (ip -n "$NS_C" -4 route show table all; ip -n "$NS_C" -6 route show table all) | grep -c "proto $PROTO") || true
  echo "$r4 $r6 $rt"
}

# nothing_left WHEN: no rule or route of ours, table $TABLE empty
nothing_left() {
  local when=$1 c
  c=$(ours_count)
  [[ $c == "0 0 0" ]] || fail "$when: rules v4/v6 and routes of ours left: $c; $(ip -n "$NS_C" rule show | tr '\n' '|')"
  [[ -z $(ip -n "$NS_C" route show table "$TABLE" 2>/dev/null) && -z $(ip -n "$NS_C" -6 route show table "$TABLE" 2>/dev/null) ]] ||
    fail "$when: table $TABLE not empty"
  grep -q "dev $TP_TUN" <<<"$( (ip -n "$NS_C" -4 route show table all; ip -n "$NS_C" -6 route show table all))" &&
    fail "$when: a route via $TP_TUN is left"
  ok "$when: no rule (v4, v6) or route of ours left, table $TABLE empty"
}

# gw_flows: SIGUSR1, print "seen N" from the new summary
gw_flows() {
  local off i line
  off=$(stat -c %s "$TP_GW_LOG")
  tp_gw_signal USR1
  for ((i = 0; i < 60; i++)); do
    line=$(tail -c +"$((off + 1))" "$TP_GW_LOG" | grep -oE 'flows: seen [0-9]+' | tail -n 1) || true
    if [[ -n $line ]]; then
      echo "${line##* }"
      return 0
    fi
    sleep 0.05
  done
  fail "no 'flows: seen' line within 3 s of SIGUSR1"
}

# fetch URL WANT_SRC: the blob, sha256 checked, curl's source address WANT_SRC
fetch() {
  local url=$1 want_src=$2 info
  rm -f "$TP_TMP/got.bin"
  info=$(nsc timeout 40 curl -gsS --fail --max-time 30 -o "$TP_TMP/got.bin" -w '%{local_ip} %{http_code}' "$url/blob.bin") ||
    fail "curl $url/blob.bin failed"
  [[ $(sha_of "$TP_TMP/got.bin") == "$want" ]] || fail "GET $url/blob.bin: sha256 differs"
  [[ ${info%% *} == "$want_src" ]] || fail "GET $url: curl's source is ${info%% *}, want $want_src"
  ok "GET $url/blob.bin (4 MiB): sha256 matches, source ${info%% *}"
}

# server_saw ADDR LOGNAME: the last request in the server's log came from ADDR
server_saw() {
  local from
  from=$(grep 'GET /blob.bin' "$TP_TMP/http-$2.log" | tail -n 1 | cut -d' ' -f1)
  [[ $from == "$1" ]] || fail "server $2 saw the request from '$from', want $1"
}

# --- 1. capture everything ---
nothing_left "before the start"
tp_gw_start --auto-route
grep -q 'auto-route: default routes (IPv4, IPv6) in table 29808, 4 rules' "$TP_GW_LOG" ||
  fail "no auto-route start-up line: $(grep auto-route "$TP_GW_LOG" | tr '\n' '|')"
grep -q 'stale' "$TP_GW_LOG" && fail "stale rules reported on a clean start"
for fam in 4 6; do
  rules=$(ip -n "$NS_C" -$fam rule show)
  grep -qE "^29802:\s+from all lookup main suppress_prefixlength 0 proto $PROTO" <<<"$rules" ||
    fail "IPv$fam: no suppress_prefixlength rule at 29802: $rules"
  grep -qE "^29803:\s+not from all fwmark 0x7470 lookup $TABLE proto $PROTO" <<<"$rules" ||
    fail "IPv$fam: no 'not fwmark' rule at 29803: $rules"
  grep -q "default dev $TP_TUN proto $PROTO" <<<"$(ip -n "$NS_C" -$fam route show table "$TABLE")" ||
    fail "no IPv$fam default route in table $TABLE"
done
ok "rules (v4, v6): 29802 lookup main suppress_prefixlength 0, 29803 not fwmark 0x7470 lookup $TABLE; default routes dev $TP_TUN in table $TABLE"

fetch "http://$TP_DST4:$PORT" "$TUN4"
server_saw "$TP_C4" "$TP_DST4"
fetch "http://[$TP_DST6]:$PORT" "$TUN6"
server_saw "$TP_C6" "$TP_DST6"
fetch "http://$DST4B:$PORT" "$TUN4"
ok "the server saw the gateway's own connections from the veth addresses ($TP_C4, $TP_C6): they left via the main table"
n=$(gw_flows)
[[ $n == 3 ]] || fail "tunplug saw $n flows for 3 requests (want 3: a loop would add more)"
sleep 1
n=$(gw_flows)
[[ $n == 3 ]] || fail "the flow count moved on to $n without requests (runaway)"
ok "tunplug saw exactly 3 flows for 3 requests, still 3 a second later (no loop)"
tp_gw_check_alive
tp_gw_stop_ok
nothing_left "after SIGTERM"

# --- 2. --exclude ---
tp_gw_start --auto-route --exclude "$TP_DST4/32" --exclude "$TP_DST6"
grep -qE "^29800:\s+from all to $TP_DST4 lookup main proto $PROTO" <<<"$(ip -n "$NS_C" rule show)" ||
  fail "no exclude rule (IPv4): $(ip -n "$NS_C" rule show | tr '\n' '|')"
grep -qE "^29800:\s+from all to $TP_DST6 lookup main proto $PROTO" <<<"$(ip -n "$NS_C" -6 rule show)" ||
  fail "no exclude rule (IPv6): $(ip -n "$NS_C" -6 rule show | tr '\n' '|')"
ok "exclude rules at 29800: to $TP_DST4 lookup main, to $TP_DST6 lookup main"
fetch "http://$TP_DST4:$PORT" "$TP_C4"
fetch "http://[$TP_DST6]:$PORT" "$TP_C6"
n=$(gw_flows)
[[ $n == 0 ]] || fail "excluded destinations: tunplug saw $n flows (want 0)"
ok "--exclude: curl went direct (veth source), tunplug saw no flow"
fetch "http://$DST4B:$PORT" "$TUN4"
n=$(gw_flows)
[[ $n == 1 ]] || fail "a non-excluded destination: tunplug saw $n flows (want 1)"
ok "--exclude: another address is still captured (1 flow)"
tp_gw_stop_ok
nothing_left "after SIGTERM (with --exclude)"

# --- 3. uid ranges (FRA_UID_RANGE): curl as root and as nobody (65534) ---
# src_as UID URL: curl's source address for a request made as UID
src_as() {
  nsc setpriv --reuid="$1" --regid="$1" --clear-groups timeout 20 curl -gsS --fail --max-time 10 \
    -o /dev/null -w '%{local_ip}' "$2/blob.bin" || fail "curl as uid $1: $2 failed"
}
tp_gw_start --auto-route --exclude-uid 65534
grep -qE "^29801:\s+from all uidrange 65534-65534 lookup main proto $PROTO" <<<"$(ip -n "$NS_C" rule show)" ||
  fail "no uidrange rule: $(ip -n "$NS_C" rule show | tr '\n' '|')"
[[ $(src_as 65534 "http://$TP_DST4:$PORT") == "$TP_C4" ]] || fail "--exclude-uid 65534: nobody's curl was captured"
[[ $(src_as 0 "http://$TP_DST4:$PORT") == "$TUN4" ]] || fail "--exclude-uid 65534: root's curl was not captured"
n=$(gw_flows)
[[ $n == 1 ]] || fail "--exclude-uid 65534: tunplug saw $n flows (want 1, root's)"
ok "--exclude-uid 65534: nobody's curl goes direct, root's is captured (1 flow)"
tp_gw_stop_ok
nothing_left "after SIGTERM (with --exclude-uid)"
tp_gw_start --auto-route --include-uid 65534
[[ $(src_as 65534 "http://[$TP_DST6]:$PORT") == "$TUN6" ]] || fail "--include-uid 65534: nobody's curl was not captured"
[[ $(src_as 0 "http://[$TP_DST6]:$PORT") == "$TP_C6" ]] || fail "--include-uid 65534: root's curl was captured"
n=$(gw_flows)
[[ $n == 1 ]] || fail "--include-uid 65534: tunplug saw $n flows (want 1, nobody's)"
ok "--include-uid 65534 (IPv6): only nobody's curl is captured (rules for uids 0-65533 and 65535-4294967294 keep the rest on main)"
tp_gw_stop_ok
nothing_left "after SIGTERM (with --include-uid)"

# --- 4. SIGKILL leaves the rules; a restart removes them ---
tp_gw_start --auto-route
tp_gw_stop KILL 3
[[ $TP_GW_RC -eq 137 ]] || fail "tunplug exit status $TP_GW_RC after SIGKILL (want 137)"
c=$(ours_count)
[[ ${c% *} == "2 2" ]] || fail "after SIGKILL: want 2 v4 and 2 v6 rules of ours left, got $c"
# the tun goes away with the process, and its routes with it
for ((i = 0; i < 100; i++)); do
  ip -n "$NS_C" link show "$TP_TUN" >/dev/null 2>&1 || break
  sleep 0.05
done
ip -n "$NS_C" link show "$TP_TUN" >/dev/null 2>&1 && fail "$TP_TUN still there 5 s after SIGKILL"
c=$(ours_count)
ok "after SIGKILL: the 4 rules are left (v4/v6/routes: $c; the routes went with $TP_TUN)"
# the stale rules alone do not break the host: table $TABLE is empty, so
# lookups fall through to main
fetch "http://$TP_DST4:$PORT" "$TP_C4"
ok "with only the stale rules, traffic goes direct"

tp_gw_start --auto-route
grep -q 'auto-route: removed 4 stale rules and 0 stale routes left by an earlier run' "$TP_GW_LOG" ||
  fail "no log line about 4 removed stale rules: $(grep auto-route "$TP_GW_LOG" | tr '\n' '|')"
ok "restart: 'removed 4 stale rules and 0 stale routes left by an earlier run'"
c=$(ours_count)
[[ $c == "2 2 2" ]] || fail "after the restart: rules v4/v6 and routes of ours: $c (want 2 2 2)"
fetch "http://$TP_DST4:$PORT" "$TUN4"
n=$(gw_flows)
[[ $n == 1 ]] || fail "after the restart: tunplug saw $n flows (want 1)"
ok "after the restart: exactly our 2+2 rules and 2 routes, capture works (1 flow)"
tp_gw_stop_ok
nothing_left "after the final SIGTERM"
echo "e2e_autoroute: PASS"
