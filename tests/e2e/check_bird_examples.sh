#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_bird_examples: examples/bird/*.conf parse with BIRD 2 (bird -p).
#   check_bird_examples.sh EXAMPLES_BIRD_DIR
set -euo pipefail
dir=${1:?usage: check_bird_examples.sh EXAMPLES_BIRD_DIR}
command -v bird >/dev/null || { echo "SKIP: check_bird_examples: bird (bird2) not installed"; exit 77; }
n=0
for f in "$dir"/*.conf; do
  out=$(bird -p -c "$f" 2>&1) || { echo "FAIL: $f: $out" >&2; exit 1; }
  echo "ok: $f parses ($(bird --version 2>&1))"
  n=$((n + 1))
done
((n >= 2)) || { echo "FAIL: want gateway.conf and router.conf in $dir" >&2; exit 1; }
