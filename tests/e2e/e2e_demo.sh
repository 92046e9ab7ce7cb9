#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_demo: `sudo make run` as a user ends it. examples/demo.sh runs in a
# process group of its own; once it says tunplug keeps running, SIGINT goes
# to the whole group (what Ctrl-C in a terminal does: the demo and tunplug
# both get it, then the demo sends SIGTERM). The demo must exit 0 without
# "FAIL", tunplug must report exit 0, and both namespaces must be gone.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root socat curl
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug itself, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
DEMO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/examples/demo.sh
for ns in tpc-demo tps-demo; do
  if ip netns list | grep -qw "$ns"; then fail "namespace $ns exists already (a demo running?)"; fi
done
TP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tunplug-e2e_demo.XXXXXX")
demo_pid=""
demo_cleanup() {
  local rc=$? i
  set +e
  trap - EXIT INT TERM
  if [[ -n $demo_pid ]] && tp_alive "$demo_pid"; then
    kill -TERM -- "-$demo_pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do tp_alive "$demo_pid" || break; sleep 0.05; done
    kill -KILL -- "-$demo_pid" 2>/dev/null
  fi
  # the demo removes its namespaces itself; only a killed demo leaves them
  for ns in tpc-demo tps-demo; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$TP_TMP"
  exit "$rc"
}
trap demo_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
out=$TP_TMP/demo.out
setsid "$DEMO" "$TUNPLUG" >"$out" 2>&1 &
demo_pid=$!
t0=$(now_ms)
until grep -q "tunplug keeps running" "$out"; do
  tp_alive "$demo_pid" || fail "the demo ended early: $(tail -n 20 "$out")"
  (($(now_ms) - t0 < 120000)) || { kill -KILL -- "-$demo_pid"; fail "the demo did not get ready in 120 s"; }
  sleep 0.2
done
ok "the demo is up ($(($(now_ms) - t0)) ms)"
kill -INT -- "-$demo_pid"
rc=0
t0=$(now_ms)
while tp_alive "$demo_pid"; do
  (($(now_ms) - t0 < 15000)) || { kill -KILL -- "-$demo_pid"; fail "the demo still runs 15 s after Ctrl-C"; }
  sleep 0.1
done
wait "$demo_pid" || rc=$?
sed 's/^/    /' "$out" | tail -n 25
[[ $rc -eq 0 ]] || fail "the demo exited $rc after Ctrl-C (want 0)"
if grep -q "FAIL" "$out"; then fail "the demo printed FAIL after Ctrl-C"; fi
grep -q "tunplug exited 0" "$out" || fail "the demo did not report tunplug's exit 0"
ok "Ctrl-C: the demo exits 0 and tunplug exited 0"
for ns in tpc-demo tps-demo; do
  if ip netns list | grep -qw "$ns"; then fail "namespace $ns left behind"; fi
done
ok "both demo namespaces removed"
demo_pid=""
echo "e2e_demo: PASS"
