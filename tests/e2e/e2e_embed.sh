#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_embed: the embedding API. examples/embed's demo program runs the
# gateway through libtunplug on a thread of its own (no signal handlers of
# the library), with a protect() callback; 3 TCP fetches and 2 UDP flows go
# through it (sha256 / echo checked); the program's protect callback ran once
# per outbound socket (5) and the gateway's counters agree; tunplug_stop from
# the main thread ends the run cleanly (tunplug_run returned 0, the tun and
# its routes are gone).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root curl
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
DEMO=${2:?usage: e2e_embed.sh TUNPLUG DEMO}
[[ -x $DEMO ]] || fail "no demo program at $DEMO"
tp_topo_up
UDPTOOL=$TP_E2E_DIR/udptool.py

mkdir -p "$TP_TMP/www"
tp_mkfile "$TP_TMP/www/blob.bin" 2
want=$(sha_of "$TP_TMP/www/blob.bin")
PORT=7700
tp_bg http4 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST4" --directory "$TP_TMP/www" "$PORT"
tp_bg udpecho "$NS_S" "$PYTHON" "$UDPTOOL" server --host "$TP_DST4" --port 7701 --timeout 60
tp_wait_listen "$NS_S" "$PORT"

ip netns exec "$NS_C" "$DEMO" 20 "${TP_GW_BASE_ARGS[@]}" --log-level info \
  >"$TP_TMP/demo.out" 2>"$TP_TMP/demo.err" </dev/null &
demo=$!
TP_PIDS+=("$demo")
for ((i = 0; i < 100; i++)); do
  grep -q "ready tun=" "$TP_TMP/demo.err" && break
  sleep 0.05
done
grep -q "ready tun=" "$TP_TMP/demo.err" || fail "embedded gateway not ready: $(cat "$TP_TMP/demo.err")"
ok "embedded gateway up: $(grep 'ready tun=' "$TP_TMP/demo.err")"

for i in 1 2 3; do
  nsc timeout 30 curl -gsS --fail --max-time 20 -o "$TP_TMP/got$i.bin" \
    "http://$TP_DST4:$PORT/blob.bin" || fail "fetch $i through the embedded gateway failed"
  [[ $(sha_of "$TP_TMP/got$i.bin") == "$want" ]] || fail "fetch $i: sha256 mismatch"
done
ok "3 fetches of 2 MiB through the embedded gateway, sha256 match"
out=$(nsc timeout 30 "$PYTHON" "$UDPTOOL" client --host "$TP_DST4" --port 7701 --flows 2 \
  --size 200 --timeout 20) || fail "UDP through the embedded gateway: $out"
ok "2 UDP flows answered: $out"

sleep 1.2 # one counters line from the running gateway
grep -q "embed_demo: t=" "$TP_TMP/demo.out" || fail "no counters while running: $(cat "$TP_TMP/demo.out")"
ok "counters read from another thread while running: $(grep 'embed_demo: t=' "$TP_TMP/demo.out" | tail -1)"
kill -TERM "$demo" # the demo's own handler asks tunplug_stop
rc=0
wait "$demo" || rc=$?
((rc == 0)) || fail "demo exited $rc: $(tail -5 "$TP_TMP/demo.err")"
last=$(tail -1 "$TP_TMP/demo.out")
grep -q "tunplug_run returned 0" <<<"$last" || fail "tunplug_run: $last"
grep -q "protect callback 5 times, gateway counted 5" <<<"$last" ||
  fail "want 5 protected sockets (3 TCP + 2 UDP): $last"
ok "stopped from the main thread; $last"
if nsc ip link show "$TP_TUN" >/dev/null 2>&1; then fail "$TP_TUN still exists"; fi
if nsc ip route | grep -q 198.19.0.0/16; then fail "route left behind"; fi
ok "tun and routes removed after tunplug_stop"
