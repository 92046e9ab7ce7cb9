#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_systemd_unit UNIT TUNPLUG: examples/systemd/tunplug.service is a
# valid unit and keeps its hardening. Needs systemd-analyze (Debian 12:
# package systemd); without it: SKIP (77). No root, no running systemd.
#  - `systemd-analyze verify` on a copy whose ExecStart points at this
#    build's tunplug: exit 0 and not one warning (unknown keys, bad values
#    are only warnings to systemd)
#  - the directives the README promises are there (Type=notify with
#    ExecReload sending SIGHUP, the hardening)
#  - ExecStart's options parse: the same command line with an example
#    configuration file and --check-config prints "config ok"
set -euo pipefail
UNIT=${1:?usage: check_systemd_unit.sh UNIT TUNPLUG}
TUNPLUG=${2:?usage: check_systemd_unit.sh UNIT TUNPLUG}
TEST=examples.systemd
ok() { printf '[%s] ok: %s\n' "$TEST" "$*"; }
fail() {
  printf '[%s] FAIL: %s\n' "$TEST" "$*" >&2
  exit 1
}

command -v systemd-analyze >/dev/null || { echo "SKIP: $TEST: no systemd-analyze (Debian: apt-get install systemd)"; exit 77; }
[[ -r $UNIT ]] || fail "no unit file $UNIT"
EXAMPLES=$(cd "$(dirname "$UNIT")/.." && pwd)
[[ -x $TUNPLUG ]] || fail "tunplug binary not executable: $TUNPLUG"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tunplug-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# verify checks that ExecStart's program exists: use this build's
sed "s|/usr/local/bin/tunplug|$TUNPLUG|g" "$UNIT" >"$tmp/tunplug.service"
rc=0
out=$(systemd-analyze verify "$tmp/tunplug.service" 2>&1) || rc=$?
[[ $rc -eq 0 && -z $out ]] || fail "systemd-analyze verify (status $rc): $out"
ok "systemd-analyze verify: no error, no warning ($(systemd-analyze --version | head -n 1))"

# shellcheck disable=SC2016  # $MAINPID is for systemd, not the shell
for want in 'Type=notify$' 'NotifyAccess=main$' 'ExecReload=/bin/kill -HUP \$MAINPID$' \
  'ExecStart=/usr/local/bin/tunplug .*--user ' \
  'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID$' \
  'DeviceAllow=/dev/net/tun rw$' 'DevicePolicy=closed$' 'ProtectSystem=strict$' \
  'NoNewPrivileges=yes$' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX$' \
  'Restart=on-failure$' 'LimitNOFILE=' 'SystemCallFilter=@system-service$'; do
  grep -qE "^$want" "$UNIT" || fail "the unit lacks a line matching '^$want'"
done
ok "directives present (Type=notify, ExecReload=SIGHUP, capabilities, devices, ProtectSystem, NoNewPrivileges, address families, restart)"

# Type=notify needs a tunplug that can notify
"$TUNPLUG" --version | grep -q 'systemd notify)' ||
  fail "the unit says Type=notify but $TUNPLUG was built without libsystemd: $("$TUNPLUG" --version)"
ok "this tunplug can notify: $("$TUNPLUG" --version)"

# ExecStart's options, with an example file instead of /etc/tunplug/tunplug.yaml
read -r -a cmd < <(grep -m 1 '^ExecStart=' "$UNIT" | sed 's/^ExecStart=//')
args=()
for ((i = 1; i < ${#cmd[@]}; i++)); do
  if [[ ${cmd[i]} == /etc/tunplug/tunplug.yaml ]]; then args+=("$EXAMPLES/split-routing.yaml"); else args+=("${cmd[i]}"); fi
done
out=$("$TUNPLUG" "${args[@]}" --check-config 2>&1) || fail "ExecStart's options do not parse: $TUNPLUG ${args[*]} --check-config: $out"
[[ $out == "config ok" ]] || fail "--check-config said '$out'"
ok "ExecStart's options parse (${args[*]} --check-config: $out)"
