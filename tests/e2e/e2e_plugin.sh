#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e_plugin: the handler SDK works as a plugin author would use it.
#  - `cmake --install` of this build into a scratch prefix gives
#    include/tunplug/handler.h and lib/pkgconfig/tunplug-handler.pc
#  - examples/handler-plugin builds against it with pkg-config only
#  - tunplug --plugin upper.so --rule dst=198.19.42.0/24,handler=upper:
#    TCP and UDP to that subnet come back upper-cased, other traffic still
#    goes direct to the real server
#  - the same plugin built for another ABI major (3.0), and a plugin built for
#    handler ABI 1.2 (tests/gateway/plugin_abi1.c, compiled here against the
#    SDK), are refused at start with a message naming both versions (exit 1);
#    a .so without the entry symbol is refused with a clear message; a missing
#    file names the file
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tp_require_root make cc pkg-config
tp_kernel_mode && { echo "SKIP: $TP_TEST: needs tunplug (TP_MODE=kernel)"; exit 77; }
tp_require_tunplug "${1:-}"
BUILD=${2:?usage: e2e_plugin.sh TUNPLUG BUILD_DIR}
SRC=$(cd "$TP_E2E_DIR/../.." && pwd)
tp_topo_up

PREFIX=$TP_TMP/sdk
cmake --install "$BUILD" --prefix "$PREFIX" >"$TP_TMP/install.log" 2>&1 ||
  fail "cmake --install failed: $(tail -3 "$TP_TMP/install.log")"
[[ -f $PREFIX/include/tunplug/handler.h ]] || fail "no include/tunplug/handler.h installed"
PCDIR=$(dirname "$(find "$PREFIX" -name tunplug-handler.pc | head -1)")
[[ -f $PCDIR/tunplug-handler.pc ]] || fail "no tunplug-handler.pc installed"
ok "SDK installed: $(cd "$PREFIX" && find . -type f | sort | tr '\n' ' ')"

mkdir -p "$TP_TMP/good" "$TP_TMP/bad"
PKG_CONFIG_PATH="$PCDIR" make -s -C "$SRC/examples/handler-plugin" OUT="$TP_TMP/good" \
  >"$TP_TMP/make.log" 2>&1 || fail "plugin build failed: $(tail -5 "$TP_TMP/make.log")"
PKG_CONFIG_PATH="$PCDIR" make -s -C "$SRC/examples/handler-plugin" OUT="$TP_TMP/bad" \
  EXTRA_CFLAGS=-DUPPER_WRONG_ABI >>"$TP_TMP/make.log" 2>&1 || fail "bad-ABI plugin build failed"
ok "examples/handler-plugin built with pkg-config tunplug-handler"

# refusals: nothing is set up, tunplug exits 1 with the reason
refuse() { # WHAT PATTERN ARGS...
  local what=$1 pat=$2 out rc=0
  shift 2
  out=$(nsc timeout 10 "$TUNPLUG" "${TP_GW_BASE_ARGS[@]}" "$@" 2>&1) || rc=$?
  ((rc == 1)) || fail "$what: exit $rc, want 1: $out"
  grep -q -- "$pat" <<<"$out" || fail "$what: message lacks \"$pat\": $out"
  ok "$what: refused: $(grep -- "$pat" <<<"$out" | head -1)"
}
# the version this tunplug speaks, read from the header it was built with
ABI=$(awk '/define TP_HANDLER_ABI_MAJOR/ { M = $3 } /define TP_HANDLER_ABI_MINOR/ { m = $3 }
  END { print M "." m }' "$SRC/handlers/include/tunplug/handler.h")
refuse "plugin for ABI 3" "built for handler ABI 3.0, this tunplug speaks $ABI" \
  --plugin "$TP_TMP/bad/upper.so" --handler upper
# shellcheck disable=SC2046 # pkg-config prints several words
cc -std=c11 -Wall -Werror $(PKG_CONFIG_PATH="$PCDIR" pkg-config --cflags tunplug-handler) -shared \
  -fPIC -o "$TP_TMP/abi1.so" "$SRC/tests/gateway/plugin_abi1.c" >>"$TP_TMP/make.log" 2>&1 ||
  fail "ABI 1.2 plugin build failed: $(tail -5 "$TP_TMP/make.log")"
refuse "plugin for ABI 1.2" "built for handler ABI 1.2, this tunplug speaks $ABI" \
  --plugin "$TP_TMP/abi1.so" --handler abi1
cc -shared -fPIC -o "$TP_TMP/nosym.so" -x c - <<<'int not_a_plugin(void) { return 1; }'
refuse "plugin without entry symbol" "no tunplug_handler_entry symbol" \
  --plugin "$TP_TMP/nosym.so" --handler upper
refuse "missing plugin file" "cannot load" --plugin "$TP_TMP/none.so"
refuse "unknown handler name with plugins" 'no such handler' --plugin "$TP_TMP/good/upper.so" \
  --handler lower

PORT=7500
tp_bg hashserver "$NS_S" "$PYTHON" "$TP_TOOL" hashserver --host "$TP_DST4" --port "$PORT" \
  --timeout 100
tp_wait_listen "$NS_S" "$PORT"
# per-instance options come from the config file's handlers section
printf 'handlers:\n  upper: {tag: hello}\n' >"$TP_TMP/plugin.yaml"
tp_gw_start -c "$TP_TMP/plugin.yaml" --plugin "$TP_TMP/good/upper.so" \
  --rule "dst=198.19.42.0/24,handler=upper"
grep -q 'plugin .*upper.so: handler "upper"' "$TP_GW_LOG" || fail "load not logged"
grep -q 'upper: ready (spec "upper", tag hello)' "$TP_GW_LOG" ||
  fail "the plugin did not get its option through host->opt_get: $(cat "$TP_GW_LOG")"
ok "the plugin read its option (tag hello) with host->opt_get"

got=$(nsc timeout 10 "$PYTHON" - <<'PY'
import socket
s = socket.create_connection(("198.19.42.7", 4000), timeout=5)
s.sendall(b"hello, plugin")
s.shutdown(socket.SHUT_WR)
buf = b""
while True:
    d = s.recv(100)
    if not d:
        break
    buf += d
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(5)
u.sendto(b"datagram", ("198.19.42.8", 5000))
print(buf.decode(), u.recv(100).decode())
PY
) || fail "plugin flow failed: $got"
[[ $got == "HELLO, PLUGIN DATAGRAM" ]] || fail "plugin answered \"$got\""
ok "TCP and UDP to 198.19.42.0/24 answered by the plugin: $got"

out=$(nsc timeout 30 "$PYTHON" "$TP_TOOL" concurrent --host "$TP_DST4" --port "$PORT" -n 3 \
  --size 65536 --timeout 20) || fail "direct traffic next to the plugin failed: $out"
ok "other destinations still go direct (3 verified transfers)"
tp_gw_check_alive
tp_gw_stop_ok
grep -q "handler counters: upper.tcp_bytes 13 upper.udp_datagrams 1" <<<"$TP_GW_SUMMARY" ||
  fail "plugin counters missing from the summary: $TP_GW_SUMMARY"
ok "the plugin's counters (host->counter_add) are in the summary"
