#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_rules: --rule sends flows to different handler instances; first match
# wins, the rest goes to the default (--handler direct):
#   --rule dst=198.19.42.0/24,handler=echo
#   --rule proto=udp,port=7000-7999,handler=reject
#   --rule dst=198.19.43.0/24,handler=redirect://$TP_DST4:6001
#   --rule dst=198.19.44.0/24,handler=reject
#   --rule proto=udp,port=6500,handler=reject://drop
#  - echo subnet: 5 TCP flows to 198.19.42.7 get their bytes echoed (no
#    server owns that address), UDP too, even to a port in 7000-7999 (the
#    echo rule comes first)
#  - direct: TCP to $TP_DST4/$TP_DST6:7300 and UDP to port 6000 reach the
#    real servers
#  - redirect subnet: TCP to 198.19.43.5:80 and 198.19.43.200:12345, and
#    UDP to 198.19.43.9:5353, all reach the fixed server $TP_DST4:6001
#    (nothing in the server namespace owns 198.19.43.0/24)
#  - UDP to $TP_DST4:7100 and [$TP_DST6]:7100 (an echo server listens
#    there): ICMP administratively prohibited from the reject rule (the
#    client's socket: EHOSTUNREACH, over IPv6 EACCES); UDP to the redirect
#    subnet on port 7100 too (the reject rule comes before the redirect one)
#  - reject: TCP to 198.19.44.1 refused at once, also with ICMP prohibited
#    (EHOSTUNREACH), counted as "prohibited" 
#  - reject://drop: UDP to port 6500 (an echo server listens) gets no answer
#    and no ICMP
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root
if tp_kernel_mode; then echo "SKIP: $TP_TEST: tests tunplug's rules, no kernel mode"; exit 77; fi
tp_require_tunplug "${1:-}"
tp_topo_up

UDPTOOL=$TP_E2E_DIR/udptool.py
ECHOFLOWS=$TP_E2E_DIR/echoflows.py
RPORT=6001

tp_bg hash-direct "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --host "$TP_DST6" \
  --port 7300 --timeout 100
tp_bg hash-redirect "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --port "$RPORT" \
  --timeout 100
for p in 6000 7100 6500; do
  tp_bg "udp-$p" "$NS_S" "$PYTHON" "$UDPTOOL" server --host "$TP_DST4" --host "$TP_DST6" \
    --port "$p" --timeout 100
done
tp_bg udp-redirect "$NS_S" "$PYTHON" "$UDPTOOL" server --host "$TP_DST4" --port "$RPORT" \
  --timeout 100
tp_wait_listen "$NS_S" 7300 5 2
tp_wait_listen "$NS_S" "$RPORT"
for ((i = 0; i < 100; i++)); do
  [[ $(nss ss -Hlun | wc -l) -ge 7 ]] && break
  sleep 0.05
done

tp_gw_start --connect-timeout 3 --handler direct \
  --rule dst=198.19.42.0/24,handler=echo \
  --rule proto=udp,port=7000-7999,handler=reject \
  --rule "dst=198.19.43.0/24,handler=redirect://$TP_DST4:$RPORT" \
  --rule dst=198.19.44.0/24,handler=reject \
  --rule proto=udp,port=6500,handler=reject://drop

run() { # WHAT CMD...: the command must succeed; its JSON goes into the ok line
  local what=$1 out
  shift
  out=$(nsc timeout 60 "$@") || fail "$what: $out"
  ok "$what: $out"
}

# echo subnet
run "echo subnet: 5 TCP flows to 198.19.42.7:4242 echoed" \
  "$PYTHON" "$ECHOFLOWS" client --host 198.19.42.7 --port 4242 -n 5 --size 65536 --timeout 30
run "echo subnet: UDP to 198.19.42.7:5000 echoed" \
  "$PYTHON" "$UDPTOOL" client --host 198.19.42.7 --port 5000 --flows 20 --size 200 --timeout 20
run "echo subnet: UDP to 198.19.42.7:7100 echoed (the echo rule comes before the reject rule)" \
  "$PYTHON" "$UDPTOOL" client --host 198.19.42.7 --port 7100 --flows 5 --size 100 --timeout 20

# default: direct
run "direct: 5 TCP flows to $TP_DST4:7300 reach the real server" \
  "$PYTHON" "$TP_TOOL" concurrent --host "$TP_DST4" --port 7300 -n 5 --size 65536 --timeout 30
run "direct: 5 TCP flows to [$TP_DST6]:7300 reach the real server" \
  "$PYTHON" "$TP_TOOL" concurrent --host "$TP_DST6" --port 7300 -n 5 --size 65536 --timeout 30
run "direct: UDP to $TP_DST4:6000" \
  "$PYTHON" "$UDPTOOL" client --host "$TP_DST4" --port 6000 --flows 20 --size 200 --timeout 20
run "direct: UDP to [$TP_DST6]:6000" \
  "$PYTHON" "$UDPTOOL" client --host "$TP_DST6" --port 6000 --flows 20 --size 200 --timeout 20

# redirect subnet: whatever address and port, the fixed server answers
run "redirect: 5 TCP flows to 198.19.43.5:80 reach $TP_DST4:$RPORT" \
  "$PYTHON" "$TP_TOOL" concurrent --host 198.19.43.5 --port 80 -n 5 --size 65536 --timeout 30
run "redirect: 5 TCP flows to 198.19.43.200:12345 reach $TP_DST4:$RPORT" \
  "$PYTHON" "$TP_TOOL" concurrent --host 198.19.43.200 --port 12345 -n 5 --size 65536 \
  --timeout 30
run "redirect: UDP to 198.19.43.9:5353 reaches $TP_DST4:$RPORT" \
  "$PYTHON" "$UDPTOOL" client --host 198.19.43.9 --port 5353 --flows 20 --size 200 --timeout 20

# reject rule for UDP 7000-7999
for host in "$TP_DST4:EHOSTUNREACH" "$TP_DST6:EACCES" 198.19.43.9:EHOSTUNREACH; do
  run "reject: UDP to ${host%:*}:7100 gets ICMP administratively prohibited" \
    "$PYTHON" "$UDPTOOL" refused --host "${host%:*}" --port 7100 --max 2 --expect "${host##*:}"
done
run "reject: TCP to 198.19.44.1:80 refused with ICMP administratively prohibited" \
  "$PYTHON" "$TP_TOOL" connect --host 198.19.44.1 --port 80 --expect EHOSTUNREACH --max 1 \
  --timeout 5

# reject://drop: no answer, no ICMP
out=$(nsc timeout 10 "$PYTHON" "$UDPTOOL" refused --host "$TP_DST4" --port 6500 --max 1.5) || true
grep -q '"result": "timeout"' <<<"$out" ||
  fail "reject://drop: UDP to $TP_DST4:6500: want no answer and no ICMP, got: $out"
ok "reject://drop: UDP to $TP_DST4:6500 silently dropped: $out"

tp_gw_check_alive
tp_gw_stop_ok
nref=$(grep 'refused by reason:' <<<"$TP_GW_SUMMARY" | grep -oE ' prohibited [0-9]+' | grep -oE '[0-9]+$')
((nref >= 1)) || fail "summary: no refusal counted: $TP_GW_SUMMARY"
ok "summary counts the reject rule's refusals (prohibited $nref)"
echo "e2e_rules: PASS"
