#!/bin/sh
# SPDX-License-Identifier: MIT
# A plugin built for handler ABI 1.2 is refused at start: tunplug exits 1 and
# stderr names both versions ("built for handler ABI 1.2, this tunplug
# speaks 2.1"). Plugins are loaded before the tun is opened, so this needs no
# root; --tun-fd of a descriptor that is not open keeps a tunplug that
# wrongly accepted the plugin from creating an interface (it fails there
# instead, with another message).
# usage: plugin_abi.sh TUNPLUG PLUGIN_ABI1.so
set -u
tp=$1
so=$2
[ -f "$so" ] || { echo "not ok 1 no plugin $so"; exit 1; }
out=$(timeout 10 "$tp" --tun-fd 1000 --plugin "$so" --handler abi1 2>&1 >/dev/null)
rc=$?
want="--plugin $so: handler \"abi1\" was built for handler ABI 1.2, this tunplug speaks 2.1"
if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -qF -- "$want"; then
	echo "ok 1 ABI 1.2 plugin refused (exit 1): $out"
else
	echo "not ok 1 exit $rc, want 1 and \"$want\" on stderr: $out"
	exit 1
fi
