#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_adopt: --tun-fd, the Android VpnService model. The test (tunfd.py, the
# "app") creates the tun tpa0 in the client namespace itself (TUNSETIFF
# IFF_TUN|IFF_NO_PI), configures it with `ip` (address, link up, routes)
# and starts tunplug with the fd passed (--tun-fd N --fwmark 0x7, lib.sh's
# policy routing sends the marked sockets over the veth). Then:
#  - curl (2 x 4 MiB sha256-checked, IPv4 and IPv6, plus one small GET) and
#    UDP round trips (udptool.py, IPv4 and IPv6) flow through it
#  - the exit summary's "protect calls" is exactly the number of outbound
#    sockets that traffic needed: 3 TCP connections + 2 UDP flows = 5
#  - tunplug did no netlink work: `ip monitor link address route rule` saw
#    nothing from its start to its exit (with IFF_VNET_HDR: only the
#    kernel's FEATURE CHANGE of tpa0 that tunplug's TUNSETOFFLOAD ioctl
#    causes), and links, addresses, routes (all tables) and rules are the
#    same before, during and after the run
#  - after tunplug exits the app still owns a working device: TUNGETIFF on
#    its own fd, the configuration is in place, and a datagram routed into
#    tpa0 is read by the app from its fd; closing that fd removes the device
# Twice: a plain fd, then one with IFF_VNET_HDR set by the app (tunplug
# adopts it with its offloads, its log says so). The device's offload state
# before and after is logged, not checked: tunplug leaves the TSO/checksum
# offloads it asked for switched on when it exits.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root curl
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
tp_topo_up

TUNFD=$TP_E2E_DIR/tunfd.py
UDPTOOL=$TP_E2E_DIR/udptool.py
DEV=tpa0
TUN4=198.19.255.1
TUN6=fd00:19:ffff::1
HTTP_PORT=8080
UDP_PORT=7402
PROBE_PORT=7999
# the outbound sockets the traffic below needs: 3 TCP connections (three
# curl requests, one connection each) + 2 UDP flows (one socket each)
PROTECT_WANT=5

mkdir -p "$TP_TMP/www"
tp_mkfile "$TP_TMP/www/blob.bin" 4
echo "hello from tps" >"$TP_TMP/www/index.txt"
want=$(sha_of "$TP_TMP/www/blob.bin")
tp_bg http4 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST4" --directory "$TP_TMP/www" "$HTTP_PORT"
tp_bg http6 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST6" --directory "$TP_TMP/www" "$HTTP_PORT"
tp_wait_listen "$NS_S" "$HTTP_PORT" 5 2
tp_bg udpecho "$NS_S" "$PYTHON" "$UDPTOOL" server --host "$TP_DST4" --host "$TP_DST6" \
  --port "$UDP_PORT" --timeout 200
for ((i = 0; i < 100; i++)); do
  [[ $(nss ss -Hlun "sport = :$UDP_PORT" | wc -l) -ge 2 ]] && break
  sleep 0.05
done

# net_state: what netlink could have changed in the client namespace
net_state() {
  echo "# links"
  ip -n "$NS_C" -br link
  echo "# $DEV"
  ip -n "$NS_C" -d link show "$DEV"
  echo "# addresses"
  ip -n "$NS_C" -br addr
  echo "# routes"
  ip -n "$NS_C" -4 route show table all
  ip -n "$NS_C" -6 route show table all
  echo "# rules"
  ip -n "$NS_C" -4 rule
  ip -n "$NS_C" -6 rule
}

# settle: the kernel's own late changes are done: IPv6 duplicate address
# detection of the veth's link-local address ends ~1-2 s after link-up and
# then adds the address's local route (a tun is NOARP: no DAD there)
settle() {
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -z $(ip -n "$NS_C" -6 addr show tentative) ]] && return 0
    sleep 0.05
  done
  fail "tentative IPv6 addresses in $NS_C after 10 s: $(ip -n "$NS_C" -6 addr show tentative | tr '\n' '|')"
}

# wait_file PATH SECONDS WHAT
wait_file() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    [[ -e $1 ]] && return 0
    sleep 0.05
  done
  fail "$3: no $(basename "$1") within $2 s"
}

# json FILE KEY: one top-level value of a small JSON file
json() { "$PYTHON" -c 'import json,sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print(v if isinstance(v, (str, int)) else json.dumps(v, sort_keys=True))' "$1" "$2"; }

# fetch URL WANT_SHA WANT_SRC
fetch() {
  local url=$1 want_sha=$2 want_src=$3 info
  rm -f "$TP_TMP/got.bin"
  info=$(nsc timeout 60 curl -gsS --fail --max-time 50 -o "$TP_TMP/got.bin" -w '%{local_ip} %{http_code}' "$url") ||
    fail "curl $url failed"
  [[ $(sha_of "$TP_TMP/got.bin") == "$want_sha" ]] || fail "GET $url: sha256 differs"
  [[ ${info%% *} == "$want_src" ]] || fail "GET $url: curl's source is ${info%% *}, want $want_src (the tun's address)"
  ok "$MODE: GET $url: sha256 matches, source ${info%% *}"
}

run_mode() {
  MODE=$1
  local dir=$TP_TMP/$MODE gwlog=$TP_TMP/tunplug-$MODE.log vnet=() rc i pid lpid mpid out
  mkdir -p "$dir"
  [[ $MODE == vnet ]] && vnet=(--vnet)
  : >"$gwlog"

  # 1. the app creates the device and keeps the fd
  tp_bg "tunfd-$MODE" "$NS_C" "$PYTHON" "$TUNFD" run --name "$DEV" "${vnet[@]}" --dir "$dir" \
    --log "$gwlog" --probe-port "$PROBE_PORT" -- \
    "$TUNPLUG" --tun-fd '{fd}' --fwmark "$TP_MARK" --log-level debug --control "$dir/ctl.sock"
  lpid=$TP_LAST_PID
  wait_file "$dir/created" 20 "tunfd.py"
  log "$MODE: the app created $DEV: $(cat "$dir/created")"
  if [[ $MODE == vnet ]]; then
    ip -n "$NS_C" -d link show "$DEV" | grep -q 'vnet_hdr on' || fail "$DEV has no vnet_hdr: $(ip -n "$NS_C" -d link show "$DEV")"
  fi

  # 2. ... and configures it, as VpnService.Builder would
  ip -n "$NS_C" addr add "$TUN4/32" dev "$DEV"
  ip -n "$NS_C" addr add "$TUN6/128" dev "$DEV" nodad
  ip -n "$NS_C" link set "$DEV" up
  ip -n "$NS_C" route add "$TP_NET4" dev "$DEV"
  ip -n "$NS_C" -6 route add "$TP_NET6" dev "$DEV"

  settle
  # netlink watch: the marker rule (pref 31999) proves the monitor listens;
  # every event after its (last) deletion was caused by somebody else
  tp_bg "monitor-$MODE" "$NS_C" ip monitor link address route rule
  mpid=$TP_LAST_PID
  for ((i = 0; i < 200; i++)); do
    ip -n "$NS_C" rule add pref 31999 lookup 31999 2>/dev/null || true
    grep -q '^31999:' "$TP_TMP/monitor-$MODE.log" && break
    ip -n "$NS_C" rule del pref 31999 2>/dev/null || true
    sleep 0.05
  done
  grep -q '^31999:' "$TP_TMP/monitor-$MODE.log" || fail "$MODE: ip monitor does not report the marker rule"
  ip -n "$NS_C" rule del pref 31999
  for ((i = 0; i < 200; i++)); do
    grep -q '^Deleted 31999:' "$TP_TMP/monitor-$MODE.log" && break
    sleep 0.05
  done
  grep -q '^Deleted 31999:' "$TP_TMP/monitor-$MODE.log" || fail "$MODE: ip monitor does not report the marker's deletion"
  net_state >"$dir/before"

  # 3. hand the fd to tunplug
  touch "$dir/go"
  wait_file "$dir/pid" 10 "tunfd.py (start of tunplug)"
  pid=$(json "$dir/pid" pid)
  TP_GW_PID=$pid # lib.sh's cleanup stops it if we fail
  TP_GW_LOG=$gwlog
  for ((i = 0; i < 200; i++)); do
    grep -q 'tunplug: ready' "$gwlog" && break
    [[ -e $dir/exited ]] && fail "$MODE: tunplug exited before 'ready': $(tail -n 5 "$gwlog" | tr '\n' '|')"
    sleep 0.05
  done
  grep -q "tunplug: ready tun=$DEV mtu=1500 handler=direct (adopted fd)" "$gwlog" ||
    fail "$MODE: no 'ready tun=$DEV ... (adopted fd)': $(tail -n 5 "$gwlog" | tr '\n' '|')"
  if [[ $MODE == vnet ]]; then
    out=$(grep -oE 'offload: .*' "$gwlog" | head -n 1)
    grep -qE '^offload: (csum.*\(adopted fd\)|off \(adopted fd with vnet header)' <<<"$out" ||
      fail "vnet: tunplug's log does not say it adopted the vnet header: '$out'"
  else
    out=$(grep -oE 'offload: .*' "$gwlog" | head -n 1)
    [[ $out == "offload: off (adopted fd without IFF_VNET_HDR)" ]] || fail "plain: offload line '$out'"
  fi
  ok "$MODE: tunplug adopted fd $(json "$dir/created" fd) ($DEV): '$out'"

  # 4. traffic: 3 TCP connections, 2 UDP flows
  fetch "http://$TP_DST4:$HTTP_PORT/blob.bin" "$want" "$TUN4"
  fetch "http://[$TP_DST6]:$HTTP_PORT/blob.bin" "$want" "$TUN6"
  fetch "http://$TP_DST4:$HTTP_PORT/index.txt" "$(sha_of "$TP_TMP/www/index.txt")" "$TUN4"
  for host in "$TP_DST4" "$TP_DST6"; do
    out=$(nsc timeout 60 "$PYTHON" "$UDPTOOL" client --host "$host" --port "$UDP_PORT" \
      --flows 1 --size 1000 --tries 20 --timeout 30) || fail "$MODE: UDP to $host: $out"
    ok "$MODE: UDP round trip to $host:$UDP_PORT: $out"
  done
  net_state >"$dir/during"
  diff -u "$dir/before" "$dir/during" >&2 || fail "$MODE: the namespace changed while tunplug ran"
  ok "$MODE: links, addresses, routes and rules unchanged while tunplug runs"

  # 5. stop tunplug; the app keeps the device
  tp_alive "$pid" || fail "$MODE: tunplug died: $(tail -n 5 "$gwlog" | tr '\n' '|')"
  kill -TERM "$pid"
  wait_file "$dir/exited" 10 "tunplug's exit after SIGTERM"
  TP_GW_PID=""
  rc=$(json "$dir/exited" rc)
  [[ $rc == 0 ]] || fail "$MODE: tunplug exited $rc after SIGTERM: $(tail -n 5 "$gwlog" | tr '\n' '|')"
  ok "$MODE: tunplug exited 0 after SIGTERM"
  grep -E '^tunplug:   (flows|bytes)' "$gwlog" | sed 's/^/    /' >&2
  out=$(grep -oE 'protect calls [0-9]+, errors [0-9]+' "$gwlog" | tail -n 1)
  [[ $out == "protect calls $PROTECT_WANT, errors 0" ]] ||
    fail "$MODE: summary says '$out', want 'protect calls $PROTECT_WANT, errors 0' (3 TCP + 2 UDP)"
  grep -q "flows: seen $PROTECT_WANT," "$gwlog" || fail "$MODE: want 'flows: seen $PROTECT_WANT' in the summary"
  if [[ $MODE == vnet ]]; then
    grep -q 'gro on: tcp' "$gwlog" || fail "vnet: the summary does not show coalesced writes on ('gro on: tcp')"
  else
    grep -q 'gro on: none' "$gwlog" || fail "plain: the summary should show 'gro on: none'"
  fi
  ok "$MODE: summary: $out (3 TCP connections + 2 UDP flows), flows seen $PROTECT_WANT"

  wait_file "$dir/owned" 10 "tunfd.py's ownership check"
  ok "$MODE: after tunplug's exit the app's fd is still attached: $(cat "$dir/owned")"
  for ((i = 0; i < 200; i++)); do
    [[ -e $dir/probe ]] && break
    nsc bash -c "echo probe-$i >/dev/udp/$TP_DST4/$PROBE_PORT" 2>/dev/null || true
    sleep 0.1
  done
  wait_file "$dir/probe" 5 "tunfd.py's read probe"
  [[ $(json "$dir/probe" read) == True ]] || fail "$MODE: the app read no probe datagram from its fd: $(cat "$dir/probe")"
  ok "$MODE: a datagram routed into $DEV was read by the app from its own fd: $(cat "$dir/probe")"
  net_state >"$dir/after"
  diff -u "$dir/before" "$dir/after" >&2 || fail "$MODE: the namespace changed (tunplug did netlink work?)"
  ok "$MODE: links, addresses, routes and rules the same after tunplug's exit as before its start"
  kill -TERM "$mpid" 2>/dev/null || true
  wait "$mpid" 2>/dev/null || true
  # what came after the marker's last deletion (the loop above may have
  # added and deleted it more than once before the monitor listened); one
  # event per line not starting with a blank
  out=$(awk '/^Deleted 31999:/ { buf = ""; next } /^[^ \t]/ { buf = buf $0 "\n" } END { printf "%s", buf }' \
    "$TP_TMP/monitor-$MODE.log")
  if [[ $MODE == vnet ]]; then
    # TUNSETOFFLOAD (an ioctl on the fd, not netlink) makes the kernel
    # announce a feature change of the device; nothing else may show up
    out=$(grep -vE "^[0-9]+: $DEV: .* event FEATURE CHANGE" <<<"$out" || true)
  fi
  [[ -z $out ]] || fail "$MODE: netlink events while tunplug ran: $(tr '\n' '|' <<<"$out")"
  ok "$MODE: ip monitor link address route rule: no event from tunplug's start to its exit$(
    [[ $MODE == vnet ]] && echo " but the kernel's FEATURE CHANGE of $DEV (TUNSETOFFLOAD)")"
  log "$MODE: $DEV offloads (tx csum, tso) when created: $(json "$dir/created" offloads), after tunplug's exit: $(json "$dir/owned" offloads)"

  # 6. the app lets go: closing its fd removes the device
  touch "$dir/release"
  rc=0
  wait "$lpid" || rc=$?
  [[ $rc == 0 ]] || fail "$MODE: tunfd.py exited $rc: $(cat "$TP_TMP/tunfd-$MODE.log")"
  for ((i = 0; i < 100; i++)); do
    ip -n "$NS_C" link show "$DEV" >/dev/null 2>&1 || break
    sleep 0.05
  done
  if ip -n "$NS_C" link show "$DEV" >/dev/null 2>&1; then fail "$MODE: $DEV still exists after the app closed its fd"; fi
  ok "$MODE: $DEV is gone once the app closed its fd ($(tail -n 1 "$TP_TMP/tunfd-$MODE.log"))"
}

run_mode plain
run_mode vnet
echo "e2e_adopt: PASS"
