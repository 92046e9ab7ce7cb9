#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# soakload.sh KIND END OUT - one load loop of bench/soak.sh, run inside the
# client namespace (soak.sh starts it with `ip netns exec`, so the e2e
# cleanup stops it with the namespace). Rounds until the wall clock (date +%s)
# reaches END, at most SOAK_MAX_ROUNDS (10000) rounds, each bounded by
# `timeout`; one JSON line per round appended to OUT:
#   {"t": UNIX_S, "kind": KIND, "rc": EXIT_STATUS, "r": TOOL_JSON_OR_NULL}
# The checks of each round's result are made afterwards by soakreport.py.
#
#   churn  tptool.py connrate (connect, 1 byte echoed, close) for
#          SOAK_CHURN_ROUND s with SOAK_CHURN_CONC in flight; then the
#          namespace's TIME-WAIT sockets are flushed (see bench/README.md,
#          "TIME-WAIT trap")
#   bulk   tptool.py concurrent: SOAK_BULK_N connections at once, each sends
#          SOAK_BULK_MIB MiB and half-closes; the server (hashserver) answers
#          with the data's sha256 and echoes it back; both are checked
#   udp    udptool.py client: SOAK_UDP_FLOWS new flows (sockets) of one
#          1200-byte datagram each, the echo compared byte for byte (lost
#          datagrams are re-sent up to 4 times)
#   dns    SOAK_DNS_DIGS dig runs, each its own flow to another address on
#          port 53 (the dns handler answers them), every answer checked;
#          one IPv6 AAAA query; then dnstool.py burst: 50 queries on one flow
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E=$HERE/../tests/e2e
PYTHON=${PYTHON:-python3}
KIND=$1
END=$2
OUT=$3
DST4=${SOAK_DST4:-198.19.1.1}
MAX_ROUNDS=${SOAK_MAX_ROUNDS:-10000}

emit() { # RC JSON
  local j=$2
  # a tool that died prints nothing (or not JSON): record null
  "$PYTHON" -c 'import json, sys; json.loads(sys.argv[1])' "$j" 2>/dev/null || j=null
  printf '{"t": %s, "kind": "%s", "rc": %d, "r": %s}\n' "$(date +%s.%N | cut -c1-14)" "$KIND" "$1" "$j" >>"$OUT"
}

left() { echo $((END - $(date +%s))); }

round_churn() {
  local d rc=0 j
  d=$(left)
  ((d > ${SOAK_CHURN_ROUND:-5})) && d=${SOAK_CHURN_ROUND:-5}
  ((d >= 1)) || return 0
  j=$(timeout $((d + 20)) "$PYTHON" "$E2E/tptool.py" connrate --host "$DST4" --port 7000 \
    --duration "$d" --concurrency "${SOAK_CHURN_CONC:-4}") || rc=$?
  emit "$rc" "$j"
  ss -K -Htn state time-wait >/dev/null 2>&1 || true
}

round_bulk() {
  local rc=0 j
  j=$(timeout 90 "$PYTHON" "$E2E/tptool.py" concurrent --host "$DST4" --port 7001 \
    -n "${SOAK_BULK_N:-2}" --size $((${SOAK_BULK_MIB:-8} << 20)) --timeout 60) || rc=$?
  emit "$rc" "$j"
  sleep "${SOAK_BULK_PAUSE:-0.5}"
}

round_udp() {
  local rc=0 j
  j=$(timeout 60 "$PYTHON" "$E2E/udptool.py" client --host "$DST4" --port 7200 \
    --flows "${SOAK_UDP_FLOWS:-32}" --size 1200 --window 16 --tries 4 --timeout 30) || rc=$?
  emit "$rc" "$j"
  sleep "${SOAK_UDP_PAUSE:-0.5}"
}

# one JSON object for the digs of a round: answered right / wrong, and the
# first wrong answer
DIG_SEQ=0
round_dns() {
  local i n=${SOAK_DNS_DIGS:-10} ok=0 bad=0 first="" out rc=0 j
  for ((i = 0; i < n; i++)); do
    DIG_SEQ=$((DIG_SEQ + 1))
    out=$(timeout 15 dig +short +time=3 +tries=2 @198.19.$((DIG_SEQ % 200 + 10)).53 \
      "s$DIG_SEQ.loop.test" A 2>&1) || true
    if [[ $out == 198.51.100.9 ]]; then ok=$((ok + 1)); else
      bad=$((bad + 1))
      [[ -n $first ]] || first=$out
    fi
  done
  out=$(timeout 15 dig +short +time=3 +tries=2 -6 @fd00:19::99 host.test AAAA 2>&1) || true
  if [[ $out == 2001:db8::1 ]]; then ok=$((ok + 1)); else
    bad=$((bad + 1))
    [[ -n $first ]] || first=$out
  fi
  j=$(timeout 40 "$PYTHON" "$E2E/dnstool.py" burst --server 198.19.99.99 --count 50 --window 8 \
    --name "b$DIG_SEQ-{i}.loop.test" --expect 198.51.100.9 --timeout 30) || rc=$?
  emit "$rc" "$("$PYTHON" -c 'import json, sys
try:
    burst = json.loads(sys.argv[4])
except ValueError:
    burst = None
print(json.dumps({"dig_ok": int(sys.argv[1]), "dig_bad": int(sys.argv[2]),
                  "dig_first_bad": sys.argv[3][:200], "burst": burst}))' "$ok" "$bad" "$first" "$j")"
  sleep "${SOAK_DNS_PAUSE:-0.5}"
}

case $KIND in
  churn | bulk | udp | dns) ;;
  *) echo "soakload.sh: unknown load '$KIND'" >&2; exit 2 ;;
esac
for ((r = 0; r < MAX_ROUNDS && $(date +%s) < END; r++)); do
  "round_$KIND"
done
