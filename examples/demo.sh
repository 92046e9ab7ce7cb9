#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh TUNPLUG - tunplug between two network namespaces, live.
#
#   sudo examples/demo.sh build/gateway/tunplug      (what `sudo make run` does)
#
# Creates tpc-demo (clients + tunplug) and tps-demo (servers), starts tunplug
# with the direct handler, fetches a page with curl over IPv4 and IPv6, moves
# 50 MB each way with sha256 checks, shows tunplug's counters (SIGUSR1), then
# keeps everything up for you to try until Ctrl-C; then it stops tunplug with
# SIGTERM and removes both namespaces. Builds nothing. Needs root, iproute2,
# curl, socat, python3. All traffic stays inside the two namespaces.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then sed -n '2,11p' "$0"; exit 0; fi
if [[ $(id -u) -ne 0 ]]; then echo "demo.sh: needs root (network namespaces, /dev/net/tun): sudo make run" >&2; exit 1; fi
# shellcheck disable=SC2034  # read by lib.sh
TP_TEST=demo TP_NS_C=tpc-demo TP_NS_S=tps-demo
# shellcheck source=../tests/e2e/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../tests/e2e/lib.sh"

tp_require_root curl socat sha256sum
tp_require_tunplug "${1:-}"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "topology: $TP_NS_C (you, the clients, tunplug) <-> $TP_NS_S (servers)"
tp_topo_up
mkdir -p "$TP_TMP/www"
cat >"$TP_TMP/www/index.html" <<HTML
<html><body><h1>Hello through tunplug</h1>
<p>Served by python3 -m http.server in netns $TP_NS_S; your request went
client -> tp0 -> tunplug (lwIP, direct handler) -> socket (mark $TP_MARK) -> veth -> here.</p>
</body></html>
HTML
tp_mkfile "$TP_TMP/www/50MB.bin" 50
want=$(sha_of "$TP_TMP/www/50MB.bin")
tp_bg http4 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST4" --directory "$TP_TMP/www" 8080
tp_bg http6 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST6" --directory "$TP_TMP/www" 8080
tp_wait_listen "$NS_S" 8080 5 2 # v4 and v6
ip -n "$NS_C" -br addr show
ip -n "$NS_S" -br addr show

say "start tunplug in $TP_NS_C"
# shellcheck disable=SC2119
tp_gw_start
ip -n "$NS_C" -br addr show "$TP_TUN"
echo "routes into $TP_TUN:"
ip -n "$NS_C" route show dev "$TP_TUN"
ip -n "$NS_C" -6 route show dev "$TP_TUN"

say "HTTP: curl http://$TP_DST4:8080/ and http://[$TP_DST6]:8080/ from $TP_NS_C"
for url in "http://$TP_DST4:8080/" "http://[$TP_DST6]:8080/"; do
  nsc timeout 20 curl -gsS --fail --max-time 15 -o /dev/null \
    -w "  $url -> HTTP %{http_code}, %{size_download} bytes, connect %{time_connect}s, total %{time_total}s\n" "$url"
done

say "bulk: 50 MB download (curl) and 50 MB upload (socat), sha256 checked"
got=$(nsc timeout 60 curl -gsS --fail --max-time 50 "http://$TP_DST4:8080/50MB.bin" \
  -w '%{stderr}  download: %{size_download} bytes at %{speed_download} B/s\n' | sha256sum | cut -d' ' -f1)
[[ $got == "$want" ]] || fail "download sha256 $got != $want"
echo "  download sha256 matches: $got"
tp_bg sink "$NS_S" timeout 60 bash -c "socat -u TCP-LISTEN:9000,bind=$TP_DST4,reuseaddr STDOUT | sha256sum >'$TP_TMP/sink.sum'"
sink_pid=$TP_LAST_PID
tp_wait_listen "$NS_S" 9000
t0=$(now_ms)
nsc timeout 60 socat -u "FILE:$TP_TMP/www/50MB.bin" "TCP:$TP_DST4:9000"
wait "$sink_pid" || fail "upload sink failed"
ms=$(($(now_ms) - t0))
got=$(cut -d' ' -f1 "$TP_TMP/sink.sum")
[[ $got == "$want" ]] || fail "upload sha256 $got != $want"
echo "  upload: 52428800 bytes in $ms ms ($((50 * 8389 / (ms + 1))) Mbit/s), sha256 at the server matches"

say "tunplug's counters (SIGUSR1)"
off=$(stat -c %s "$TP_GW_LOG")
tp_gw_signal USR1
sleep 0.5
tail -c +"$((off + 1))" "$TP_GW_LOG" | sed 's/^/  /'
tp_gw_check_alive

stop=0
trap 'stop=1' INT TERM
say "tunplug keeps running; try it from another terminal:"
cat <<TXT
  sudo ip netns exec $TP_NS_C curl http://$TP_DST4:8080/
  sudo ip netns exec $TP_NS_C curl -g 'http://[$TP_DST6]:8080/'
  sudo ip netns exec $TP_NS_C curl -o /dev/null http://$TP_DST4:8080/50MB.bin
  sudo kill -USR1 $TP_GW_PID          # counters into this terminal
  tunplug log: $TP_GW_LOG
Ctrl-C stops tunplug (SIGTERM) and removes $TP_NS_C and $TP_NS_S.
TXT
off=$(stat -c %s "$TP_GW_LOG")
while ((stop == 0)); do
  # show what tunplug prints meanwhile (e.g. counters after SIGUSR1)
  size=$(stat -c %s "$TP_GW_LOG")
  if ((size > off)); then tail -c +"$((off + 1))" "$TP_GW_LOG" | head -c "$((size - off))" | sed 's/^/  tunplug: /'; off=$size; fi
  tp_alive "$TP_GW_PID" || { ((stop)) || say "tunplug exited by itself"; break; }
  sleep 0.5 || true # Ctrl-C kills the sleep too; that must not end the script (set -e)
done
trap 'exit 130' INT
trap 'exit 143' TERM

say "stopping"
# A Ctrl-C in the terminal reaches tunplug too (it handles SIGINT itself), so
# it may be stopping already: our SIGTERM is then only logged by it (a
# second stop signal never cuts its clean-up short). Either way show
# everything it said since. Ctrl-C is the normal end of the demo: exit 0.
if tp_alive "$TP_GW_PID"; then
  TP_QUIET_STOP=1 tp_gw_stop TERM 3
  rc=$TP_GW_RC
else
  rc=0
  wait "$TP_GW_PID" || rc=$?
  TP_GW_PID=""
fi
tail -c +"$((off + 1))" "$TP_GW_LOG" | sed 's/^/  /'
[[ $rc -eq 0 ]] || fail "tunplug exited with status $rc"
ok "tunplug exited 0; removing $TP_NS_C and $TP_NS_S"
