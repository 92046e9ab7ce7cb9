#!/bin/sh
# SPDX-License-Identifier: MIT
# tunplug --check-config: every example config passes ("config ok", exit 0);
# a bad file fails with exit 2 and a "FILE:LINE: key" message on stderr;
# the command line is checked on top of the file.
# usage: check_config.sh TUNPLUG EXAMPLE.yaml...
set -u
tp=$1
shift
fail=0
n=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
bad() { n=$((n + 1)); fail=1; echo "not ok $n $1"; }

[ $# -gt 0 ] || { echo "no example configs given"; exit 1; }
for f in "$@"; do
	out=$("$tp" --check-config -c "$f" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ "$out" = "config ok" ]; then
		ok "$(basename "$f"): config ok"
	else
		bad "$(basename "$f"): exit $rc: $out"
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'log-level: info\ntun:\n  mtu: abc\n' > "$tmp/bad.yaml"
out=$("$tp" --check-config -c "$tmp/bad.yaml" 2>"$tmp/err")
rc=$?
err=$(cat "$tmp/err")
case "$rc:$out:$err" in
"2::tunplug: $tmp/bad.yaml:3: key \"tun.mtu\": \"abc\" is not a number in 576..65535")
	ok "bad file: exit 2, message on stderr" ;;
*) bad "bad file: exit $rc, stdout '$out', stderr '$err'" ;;
esac

# the command line is validated on top of the file
printf 'tun:\n  mtu: 1500\n' > "$tmp/good.yaml"
out=$("$tp" --check-config -c "$tmp/good.yaml" --mtu 1 2>&1)
rc=$?
case "$rc:$out" in
"2:tunplug: --mtu: \"1\" is not a number in 576..65535") ok "command line checked too" ;;
*) bad "command line: exit $rc: $out" ;;
esac
out=$("$tp" --check-config --config="$tmp/good.yaml" --max-flows 10 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$out" = "config ok" ] && ok "--config=FILE with an override" ||
	bad "--config=FILE: exit $rc: $out"
# combinations are checked on the merged set, not the command line alone
printf 'auto-route: true\noutbound: {fwmark: 0x7}\n' > "$tmp/auto.yaml"
out=$("$tp" --check-config -c "$tmp/auto.yaml" --exclude 10.0.0.0/8 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$out" = "config ok" ] && ok "--exclude on the command line, auto-route in the file" ||
	bad "--exclude with the file's auto-route: exit $rc: $out"
out=$("$tp" --check-config -c "$tmp/good.yaml" --exclude 10.0.0.0/8 2>&1)
rc=$?
case "$rc:$out" in
"2:tunplug: --exclude needs --auto-route") ok "--exclude without auto-route anywhere: exit 2" ;;
*) bad "--exclude without auto-route: exit $rc: $out" ;;
esac
printf 'plugins: [/nonexistent/upper.so]\n' > "$tmp/plug.yaml"
out=$("$tp" --check-config -c "$tmp/plug.yaml" --rule port=1,handler=upper 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$out" = "config ok" ] && ok "a rule for a plugin handler the file loads" ||
	bad "plugin from the file: exit $rc: $out"
out=$("$tp" --check-config -c "$tmp/missing.yaml" 2>&1)
rc=$?
case "$rc:$out" in
"2:tunplug: $tmp/missing.yaml: No such file or directory") ok "missing file: exit 2" ;;
*) bad "missing file: exit $rc: $out" ;;
esac
echo "1..$n"
exit $fail
