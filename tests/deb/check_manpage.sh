#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_manpage: the tunplug.8 the build made (docs/manpage.py from
# docs/tunplug.8.in and --help) documents exactly the long options that
# `tunplug --help` lists (both ways: the converter lost or invented none),
# its version is the binary's, and groff reads it without a warning.
#   check_manpage.sh MANPAGE TUNPLUG
set -euo pipefail
man=${1:?usage: check_manpage.sh MANPAGE TUNPLUG}
bin=${2:?usage: check_manpage.sh MANPAGE TUNPLUG}
fail() { echo "FAIL: check_manpage: $*" >&2; exit 1; }

help_opts=$("$bin" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
# options in the page are written \-\-name (escaped hyphens)
man_opts=$(sed 's/\\-/-/g' "$man" | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
missing=$(comm -23 <(echo "$help_opts") <(echo "$man_opts"))
extra=$(comm -13 <(echo "$help_opts") <(echo "$man_opts"))
[[ -z $missing ]] || fail "in --help but not in $man: $(tr '\n' ' ' <<<"$missing")"
[[ -z $extra ]] || fail "in $man but not in --help: $(tr '\n' ' ' <<<"$extra")"
echo "ok: $(wc -l <<<"$help_opts") long options, the same in --help and the man page"

ver=$("$bin" --version | awk '{ print $2 }')
grep -q "^\.TH TUNPLUG 8 .* \"tunplug $ver\"" "$man" || fail ".TH line does not say tunplug $ver"
echo "ok: .TH says tunplug $ver"

if command -v groff >/dev/null; then
  warn=$(groff -man -ww -z "$man" 2>&1) || true
  [[ -z $warn ]] || fail "groff warnings: $warn"
  echo "ok: groff -man -ww: no warnings"
fi
