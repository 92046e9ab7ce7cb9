#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_concurrent: 200 TCP connections open at the same time through tunplug
# (IPv4), each sends a distinct 64 KiB payload and half-closes; the server
# answers with the payload's sha256 and echoes it back; every connection is
# verified. Then 50 at once over IPv6.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root
tp_require_tunplug "${1:-}"
tp_topo_up

N=${TP_CONC_N:-200}
N6=${TP_CONC_N6:-50}
PORT=7100
tp_bg hashserver "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --host "$TP_DST6" \
  --port "$PORT" --max-conns "$((N + N6))" --timeout 150
tp_wait_listen "$NS_S" "$PORT"
tp_gw_start

out=$(nsc timeout 90 "$PYTHON" "$TP_TOOL" concurrent --host "$TP_DST4" --port "$PORT" -n "$N" \
  --size 65536 --timeout 60) || fail "IPv4: not every one of $N concurrent connections verified: $out"
ok "IPv4: $N concurrent connections x 64 KiB, each digest + echo verified: $out"

out=$(nsc timeout 90 "$PYTHON" "$TP_TOOL" concurrent --host "$TP_DST6" --port "$PORT" -n "$N6" \
  --size 65536 --timeout 60) || fail "IPv6: not every one of $N6 concurrent connections verified: $out"
ok "IPv6: $N6 concurrent connections x 64 KiB, each digest + echo verified: $out"

tp_gw_check_alive
tp_gw_stop_ok
echo "e2e_concurrent: PASS"
