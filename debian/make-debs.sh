#!/bin/bash
# SPDX-License-Identifier: MIT
# make-debs.sh OUT_DIR: build the tunplug and tunplug-dev .debs into OUT_DIR
# (what `make deb` runs). It never touches the source tree: it takes lwIP's
# source from $LWIP_SOURCE_DIR or gets it (third_party/get-lwip.sh, into
# OUT_DIR/lwip), copies the tracked files (plus uncommitted changes) into
# OUT_DIR/src/tunplug-VERSION, runs `dpkg-buildpackage -us -uc -b` there
# and lintian on the result; any lintian error fails. DEB_BUILD_OPTIONS is
# passed through (nocheck skips the unit tests of the package build). See
# debian/README.source.
set -euo pipefail
out=${1:?usage: make-debs.sh OUT_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# lwIP's pristine source: LWIP_SOURCE_DIR when given (the ctest passes the
# one the build tree uses), else Debian's source package into OUT_DIR/lwip
if [ -n "${LWIP_SOURCE_DIR:-}" ]; then
	lwip=$(cd "$LWIP_SOURCE_DIR" && pwd)
else
	"$src/third_party/get-lwip.sh" "$out/lwip"
	lwip="$out/lwip/lwip-2.1.3"
fi
[ -f "$lwip/src/core/tcp_in.c" ] || { echo "make-debs: $lwip is not an lwIP source tree" >&2; exit 1; }
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
tree="$out/src/tunplug-$version"
rm -rf "$out/src"
mkdir -p "$tree"
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
	# the files git knows (tracked and new, not ignored), as they are now
	(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
		while IFS= read -r -d '' f; do
			[ -e "$src/$f" ] && printf '%s\0' "$f" # deleted but still tracked: skip
		done | tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
else
	# an unpacked release: everything but build trees
	tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude='./_deps' -cf - . |
		tar -C "$tree" -xf -
fi
[ -f "$tree/debian/rules" ] || { echo "make-debs: copying the tree failed" >&2; exit 1; }

rm -f "$out"/tunplug*_"$version"_*.deb "$out"/tunplug*_"$version"_*.changes \
	"$out"/tunplug*_"$version"_*.buildinfo
(cd "$tree" && LWIP_SOURCE_DIR="$lwip" dpkg-buildpackage -us -uc -b)
# dpkg-buildpackage writes next to the tree
mv "$out/src"/tunplug*_"$version"_* "$out/"
rm -rf "$out/src"

echo "lintian:"
lintian --fail-on error --info "$out"/tunplug*_"$version"_*.changes
ls -l "$out"/*.deb
