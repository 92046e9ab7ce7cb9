#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_privdrop: --user nobody. After start-up tunplug runs as nobody (uid,
# gid and groups from /proc), with exactly CAP_NET_ADMIN left (it needs it
# for SO_MARK, as --fwmark is given), nothing inheritable; traffic flows
# (sha256-checked curl); SIGTERM exits 0 and the tun device is gone.
# Without --fwmark nothing at all is kept.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root curl
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
getent passwd nobody >/dev/null || { echo "SKIP: $TP_TEST: no user 'nobody'"; exit 77; }
tp_topo_up
NOBODY_UID=$(id -u nobody)

mkdir -p "$TP_TMP/www"
tp_mkfile "$TP_TMP/www/blob.bin" 4
chmod -R a+rX "$TP_TMP"
want=$(sha_of "$TP_TMP/www/blob.bin")
PORT=7600
tp_bg http4 "$NS_S" "$PYTHON" -m http.server --bind "$TP_DST4" --directory "$TP_TMP/www" "$PORT"
tp_wait_listen "$NS_S" "$PORT"

tp_gw_start --user nobody
grep -q "running as nobody (uid $NOBODY_UID), keeping CAP_NET_ADMIN" "$TP_GW_LOG" ||
  fail "no 'running as nobody' line: $(cat "$TP_GW_LOG")"
st=/proc/$TP_GW_PID/status
read -r _ ruid euid suid fsuid < <(grep '^Uid:' "$st")
[[ "$ruid $euid $suid $fsuid" == "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" ]] ||
  fail "uids: $ruid $euid $suid $fsuid, want $NOBODY_UID"
ok "uids real/effective/saved/fs are all nobody ($NOBODY_UID)"
capeff=$(awk '/^CapEff:/ {print $2}' "$st")
capprm=$(awk '/^CapPrm:/ {print $2}' "$st")
capinh=$(awk '/^CapInh:/ {print $2}' "$st")
[[ $capeff == 0000000000001000 && $capprm == 0000000000001000 ]] ||
  fail "capabilities eff=$capeff prm=$capprm, want only CAP_NET_ADMIN (0x1000)"
[[ $capinh == 0000000000000000 ]] || fail "inheritable capabilities left: $capinh"
ok "capabilities: only CAP_NET_ADMIN effective and permitted, none inheritable"

nsc timeout 30 curl -gsS --fail --max-time 20 -o "$TP_TMP/got.bin" "http://$TP_DST4:$PORT/blob.bin" ||
  fail "curl through the unprivileged gateway failed"
[[ $(sha_of "$TP_TMP/got.bin") == "$want" ]] || fail "sha256 mismatch"
ok "4 MiB fetched through the gateway running as nobody, sha256 matches"
tp_gw_check_alive
tp_gw_stop_ok
if nsc ip link show "$TP_TUN" >/dev/null 2>&1; then fail "$TP_TUN still exists after exit"; fi
ok "$TP_TUN is gone after exit"

# no --fwmark: nothing kept (the test's policy routing needs the mark for
# real traffic, so only the start-up is checked here)
ip netns exec "$NS_C" "$TUNPLUG" --tun-name tp1 --address 198.20.0.1/32 --user nobody --log-level info \
  --control "$TP_TMP/nomark.sock" \
  >"$TP_TMP/nomark.log" 2>&1 </dev/null &
pid=$!
TP_PIDS+=("$pid")
for ((i = 0; i < 100; i++)); do
  grep -q "ready" "$TP_TMP/nomark.log" && break
  sleep 0.05
done
grep -q "ready" "$TP_TMP/nomark.log" || fail "tunplug --user without --fwmark: $(cat "$TP_TMP/nomark.log")"
capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
((rc == 0)) || fail "tunplug --user without --fwmark exited $rc: $(cat "$TP_TMP/nomark.log")"
[[ $capeff == 0000000000000000 ]] || fail "without --fwmark, CapEff should be 0, is $capeff"
ok "without --fwmark no capability is kept, and it still exits 0"
