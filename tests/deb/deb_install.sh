#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deb_install: the Debian packages install and work on a clean Debian 12.
#   deb_install.sh SRC_DIR OUT_DIR
#  1. debian/make-debs.sh builds tunplug_*.deb and tunplug-dev_*.deb into
#     OUT_DIR (dpkg-buildpackage -us -uc -b on a copy of the tree, lintian:
#     any error fails)
#  2. a clean bookworm rootfs (debootstrap --variant=minbase) with gcc, make,
#     pkg-config and libuv1-dev from the mirror, cached in
#     $TUNPLUG_DEB_ROOTFS (default /var/cache/tunplug-test-rootfs/bookworm),
#     made once and never changed afterwards: each run works on an overlay
#     of it (or a copy when overlayfs is not available) that is thrown away
#  3. in that rootfs (chroot, /proc mounted): dpkg -i of both .debs, then
#     apt-get -f install for their dependencies; both packages end up
#     "install ok installed"; `tunplug --version` prints the packaged
#     version; the unit, the man page and the example configs are where
#     the package says; the example plugin, copied from
#     /usr/share/doc/tunplug-dev/examples, builds with `make` (pkg-config
#     tunplug-handler, the installed handler.h) into a shared object that
#     exports tunplug_handler_entry
# Needs root (debootstrap, chroot, mounts). Skips (77) without root or the
# tools, or when the Debian mirror cannot be reached. The first run
# downloads about 100 MB and takes a few minutes; later runs take about a
# minute plus the package build. Remove the cache directory to start over.
set -euo pipefail

SRC=$(cd "${1:?usage: deb_install.sh SRC_DIR OUT_DIR}" && pwd)
OUT=${2:?usage: deb_install.sh SRC_DIR OUT_DIR}
MIRROR=${TUNPLUG_DEB_MIRROR:-http://deb.debian.org/debian}
ROOTFS=${TUNPLUG_DEB_ROOTFS:-/var/cache/tunplug-test-rootfs/bookworm}
TOOLS="gcc libc6-dev make pkg-config libuv1-dev"

skip() { echo "SKIP: deb_install: $*"; exit 77; }
fail() { echo "FAIL: deb_install: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

[[ $(id -u) == 0 ]] || skip "needs root (debootstrap, chroot, mount)"
for t in debootstrap chroot dpkg-buildpackage lintian fakeroot curl flock; do
  command -v "$t" >/dev/null || skip "$t not installed (make deps installs it)"
done
mirror_ok() { curl -fsS -m 20 -o /dev/null "$MIRROR/dists/bookworm/Release"; }

TMP=$(mktemp -d /tmp/tunplug-deb.XXXXXX)
MERGED=$TMP/root
MOUNTS=()
cleanup() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount -l "${MOUNTS[i]}" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- 1. the packages ---
"$SRC/debian/make-debs.sh" "$OUT" >"$TMP/build.log" 2>&1 ||
  fail "make-debs.sh failed: $(tail -30 "$TMP/build.log")"
mapfile -t DEBS < <(find "$OUT" -maxdepth 1 -name 'tunplug*.deb' ! -name '*dbgsym*' | sort)
((${#DEBS[@]} == 2)) || fail "want 2 .debs in $OUT, have: ${DEBS[*]:-none}"
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
ok "built ${DEBS[*]##*/}; lintian: $(grep -c '^W:' "$TMP/build.log" || true) warnings, no errors"

# --- 2. the cached clean rootfs ---
mkdir -p "$(dirname "$ROOTFS")"
exec 9>"$ROOTFS.lock"
flock -w 1200 9 || fail "another run holds $ROOTFS.lock"
# the stamp holds the tool list it was made with: a changed list is
# installed into the existing rootfs
if [[ ! -f $ROOTFS/.tunplug-ready ]] || [[ $(cat "$ROOTFS/.tunplug-ready") != "$TOOLS" ]]; then
  mirror_ok || skip "the Debian mirror $MIRROR is not reachable (needed once to make $ROOTFS)"
  rm -rf "$ROOTFS.tmp"
  if [[ -f $ROOTFS/.tunplug-ready ]]; then
    echo "updating $ROOTFS: $TOOLS"
    mv "$ROOTFS" "$ROOTFS.tmp"
  else
    echo "preparing $ROOTFS (debootstrap, once; a few minutes)"
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase bookworm "$ROOTFS.tmp" "$MIRROR" >"$TMP/debootstrap.log" 2>&1 ||
      fail "debootstrap failed: $(tail -20 "$TMP/debootstrap.log")"
  fi
  mount -t proc proc "$ROOTFS.tmp/proc" && MOUNTS+=("$ROOTFS.tmp/proc")
  # shellcheck disable=SC2086 # TOOLS is a word list
  chroot "$ROOTFS.tmp" sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends $TOOLS && apt-get clean" \
    >"$TMP/tools.log" 2>&1 || fail "installing $TOOLS in the rootfs failed: $(tail -20 "$TMP/tools.log")"
  umount "$ROOTFS.tmp/proc" && unset 'MOUNTS[-1]'
  echo "$TOOLS" >"$ROOTFS.tmp/.tunplug-ready"
  mv "$ROOTFS.tmp" "$ROOTFS"
  ok "rootfs ready in $ROOTFS"
else
  ok "reusing the cached rootfs $ROOTFS"
fi

# --- 3. install and use the packages in a throw-away view of it ---
mkdir -p "$MERGED" "$TMP/upper" "$TMP/work"
if mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$TMP/upper,workdir=$TMP/work" "$MERGED" \
  2>/dev/null; then
  MOUNTS+=("$MERGED")
else
  cp -a "$ROOTFS/." "$MERGED/"
fi
mount -t proc proc "$MERGED/proc" && MOUNTS+=("$MERGED/proc")
cp /etc/resolv.conf "$MERGED/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$MERGED/tmp/debs"
cp "${DEBS[@]}" "$MERGED/tmp/debs/"
in_root() { chroot "$MERGED" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }

# dpkg -i alone cannot configure them (adduser, libmnl0, libyaml-0-2 are
# not in the rootfs); apt-get -f install brings them and configures both.
in_root sh -c 'dpkg -i /tmp/debs/*.deb' >"$TMP/dpkg.log" 2>&1 || true
mirror_ok || skip "the Debian mirror $MIRROR is not reachable (apt-get -f install needs it)"
in_root sh -c 'apt-get update -q && apt-get -f install -y -q --no-install-recommends' \
  >"$TMP/apt.log" 2>&1 || fail "apt-get -f install failed: $(tail -20 "$TMP/apt.log")"
for p in tunplug tunplug-dev; do
  # shellcheck disable=SC2016 # dpkg-query's own ${...} fields
  st=$(in_root dpkg-query -W -f='${Status} ${Version}' "$p" 2>&1) || true
  [[ $st == "install ok installed $VERSION" ]] || fail "$p: dpkg says \"$st\"; dpkg -i: $(cat "$TMP/dpkg.log")"
done
ok "dpkg -i + apt-get -f install: tunplug and tunplug-dev $VERSION installed"
in_root getent passwd tunplug >/dev/null || fail "postinst did not create the system user tunplug"
ok "the system user tunplug exists: $(in_root getent passwd tunplug)"

out=$(in_root tunplug --version 2>&1) || fail "tunplug --version failed: $out"
[[ $out == "tunplug ${VERSION%%-*} "* ]] || fail "tunplug --version: \"$out\", want version ${VERSION%%-*}"
ok "tunplug --version: $out"

for f in /usr/bin/tunplug /lib/systemd/system/tunplug.service /usr/share/man/man8/tunplug.8.gz \
  /usr/include/tunplug/handler.h /usr/share/doc/tunplug/examples/split-routing.yaml \
  /usr/share/doc/tunplug-dev/examples/upper.c /usr/share/doc/tunplug-dev/examples/Makefile; do
  [[ -e $MERGED$f ]] || fail "$f is not installed"
done
grep -q '^ExecStart=/usr/bin/tunplug ' "$MERGED/lib/systemd/system/tunplug.service" ||
  fail "the unit does not start /usr/bin/tunplug: $(grep ExecStart= "$MERGED/lib/systemd/system/tunplug.service")"
page=$(zcat "$MERGED/usr/share/man/man8/tunplug.8.gz")
grep -q "^\.TH TUNPLUG 8 .*\"tunplug ${VERSION%%-*}\"" <<<"$page" ||
  fail "tunplug.8 has no .TH line with the version"
grep -q '^\\fB\\-\\-max\\-flows' <<<"$page" ||
  fail "tunplug.8 lacks the options (--max-flows)"
ok "binary, unit (ExecStart=/usr/bin/tunplug), man page, header, examples in place"

in_root sh -c 'cp -r /usr/share/doc/tunplug-dev/examples /tmp/plugin && make -C /tmp/plugin' \
  >"$TMP/plugin.log" 2>&1 || fail "the example plugin does not build: $(tail -20 "$TMP/plugin.log")"
pc=$(in_root pkg-config --modversion --variable=includedir tunplug-handler 2>&1 | tr '\n' ' ') ||
  fail "pkg-config tunplug-handler: $pc"
[[ $pc == "${VERSION%%-*} /usr/include " ]] || fail "pkg-config tunplug-handler: version, includedir: $pc"
in_root nm -D --defined-only /tmp/plugin/upper.so | grep -q ' tunplug_handler_entry$' ||
  fail "upper.so does not export tunplug_handler_entry"
ok "the example plugin builds against the installed SDK (pkg-config: $pc) and exports tunplug_handler_entry"
echo "PASS: deb_install"
