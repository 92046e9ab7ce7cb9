#!/bin/sh
# SPDX-License-Identifier: MIT
# Every tracked source file must say its licence with an
# "SPDX-License-Identifier:" line within its first 10 lines. Source files:
# C and headers, shell, Python, CMake, Makefiles, the lwIP patches, and any
# other tracked file that starts with "#!". Lists every file without one and
# exits 1; exits 0 when there is none.
set -eu
cd "$(dirname "$0")/.."

list=$(mktemp)
trap 'rm -f "$list"' EXIT
{
	git ls-files -- '*.c' '*.h' '*.sh' '*.py' '*.patch' '*.cmake' \
		'*CMakeLists.txt' '*Makefile'
	git ls-files | while IFS= read -r f; do
		[ -f "$f" ] && [ "$(head -c 2 -- "$f")" = '#!' ] && echo "$f"
	done
} | sort -u >"$list"

missing=0
while IFS= read -r f; do
	[ -f "$f" ] || continue # deleted in the work tree, not yet in the index
	if ! head -n 10 -- "$f" | grep -q 'SPDX-License-Identifier:'; then
		echo "no SPDX-License-Identifier line: $f"
		missing=$((missing + 1))
	fi
done <"$list"

if [ "$missing" -ne 0 ]; then
	echo "check-spdx: $missing file(s) without an SPDX line (add e.g. '/* SPDX-License-Identifier: MIT */' or '# SPDX-License-Identifier: MIT' at the top)" >&2
	exit 1
fi
echo "check-spdx: $(wc -l <"$list") files, all with an SPDX line"
