#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_tcpopts: SYNs with a malformed TCP option layout, to an open port, over
# IPv4 and IPv6, handed to tunplug through the tun (inject.py, AF_PACKET on
# tp0, so the bytes arrive exactly as crafted). Among them the reported one:
# options 01 01 01 02, three NOPs and an MSS kind byte with no length byte
# left, which made an ASan build abort in lwIP's tcp_parseopt once the held
# SYN was accepted and re-injected. Each one must be dropped before it is
# held (no answer, no flow, no upstream connect), counted under
# "tcp_options" in the summary's drops line, and the gateway must stay up.
# Afterwards a SYN with well-formed options is answered (SYN-ACK) and normal
# connections over IPv4 and IPv6 carry data intact. Run with an ASan build
# of tunplug (build-asan), any over-read kills the gateway and fails the test.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root sha256sum socat
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's packet validation, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

INJECT=$TP_E2E_DIR/inject.py
PORT=7410
# malformed layouts (hex TCP options, what is wrong with them)
BAD=(
  "01010102:MSS kind as the last byte, no length byte (the reported crash)"
  "010101fe:an unknown kind as the last byte"
  "01011e08:kind 30 whose length 8 runs past the header"
  "01012201:kind 34 with length 1 (< 2)"
  "03040700:window scale with length 4 (must be 3)"
)

# inject SRC DST [OPTIONS] -> prints rst|synack|none
inject() {
  local extra=()
  [[ -n ${3:-} ]] && extra=(--options "$3")
  nsc timeout 10 "$PYTHON" "$INJECT" --dev "$TP_TUN" --src "$1" --dst "$2" --dport "$PORT" \
    --wait "${TP_INJECT_WAIT:-1}" "${extra[@]}"
}

# usr1: SIGUSR1, wait for the new summary to be complete; prints it
usr1() {
  local off i s
  off=$(stat -c %s "$TP_GW_LOG")
  tp_gw_signal USR1
  for ((i = 0; i < 60; i++)); do
    s=$(tail -c +"$((off + 1))" "$TP_GW_LOG")
    if grep -q 'flows: seen' <<<"$s"; then
      printf '%s\n' "$s"
      return 0
    fi
    sleep 0.05
  done
  fail "no complete summary within 3 s of SIGUSR1"
}

# field SUMMARY REGEX: the number captured by the first match
field() { grep -oE "$2" <<<"$1" | head -n 1 | grep -oE '[0-9]+$'; }

tp_bg hashserver "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --host "$TP_DST6" \
  --port "$PORT" --timeout 100
tp_wait_listen "$NS_S" "$PORT" 5 2
tp_gw_start

n=0
for fam in 4 6; do
  if [[ $fam == 4 ]]; then src=$TP_C4 dst=$TP_DST4; else src=$TP_C6 dst=$TP_DST6; fi
  for b in "${BAD[@]}"; do
    opts=${b%%:*} what=${b#*:}
    got=$(inject "$src" "$dst" "$opts") || got="inject.py failed"
    tp_gw_check_alive
    [[ $got == none ]] || fail "IPv$fam SYN with options $opts ($what): want no answer, got '$got'"
    ok "IPv$fam SYN to $dst:$PORT with options $opts ($what): dropped, no answer, gateway alive"
    n=$((n + 1))
  done
done

s=$(usr1)
drops=$(grep 'drops:' <<<"$s")
got=$(field "$s" 'tcp_options [0-9]+')
[[ $got == "$n" ]] || fail "summary must count $n tcp_options drops, got '$got': $drops"
ok "summary counts the $n malformed SYNs: $(grep -oE 'tcp_options [0-9]+' <<<"$drops")"
held=$(field "$s" 'syn: held [0-9]+')
seen=$(field "$s" 'flows: seen [0-9]+')
[[ $held == 0 && $seen == 0 ]] || fail "a malformed SYN became a flow: held $held, seen $seen"
ok "none of them was held or became a flow (held 0, flows seen 0)"

# the injection path itself reaches the open port: well-formed options -> SYN-ACK
got=$(inject "$TP_C6" "$TP_DST6")
[[ $got == synack ]] || fail "control: SYN with MSS/NOP/EOL to [$TP_DST6]:$PORT: want SYN-ACK, got '$got'"
ok "control: injected SYN with well-formed options to [$TP_DST6]:$PORT is relayed (SYN-ACK)"

# and ordinary connections still work, both families
tp_mkfile "$TP_TMP/blob" 1
tp_xfer up 4 "$TP_DST4" $((PORT + 1)) "$TP_TMP/blob" "IPv4 upload after the malformed SYNs"
tp_xfer down 6 "[$TP_DST6]" $((PORT + 2)) "$TP_TMP/blob" "IPv6 download after the malformed SYNs"
tp_gw_check_alive
tp_gw_stop_ok
got=$(field "$TP_GW_SUMMARY" 'tcp_options [0-9]+')
[[ $got == "$n" ]] || fail "final summary: tcp_options $got, want $n"
ok "final summary: tcp_options $n, exit status 0"
echo "e2e_tcpopts: PASS"
