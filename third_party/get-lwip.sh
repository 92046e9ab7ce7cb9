#!/bin/sh
# SPDX-License-Identifier: MIT
# Obtain the pinned lwIP release from Debian's source package into $1.
# lwIP is never committed to this repository; this is the only way in.
#   get-lwip.sh DEST_DIR   -> DEST_DIR/lwip-2.1.3/src/... (pristine upstream
#                             tarball as Debian ships it, without Debian's patches)
set -eu
dest=$1
version=2.1.3
debver=2.1.3+dfsg1
want="lwip-$version"
[ -f "$dest/$want/src/core/tcp_in.c" ] && exit 0
mkdir -p "$dest"
cd "$dest"
orig="lwip_${debver}.orig.tar.xz"
if [ ! -f "$orig" ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "get-lwip: apt-get not found; pass -DLWIP_SOURCE_DIR=/path/to/lwip-$version" >&2
		exit 1
	fi
	# apt-get source needs a deb-src entry; add one for the configured
	# Debian suites when there is none (root only).
	if ! apt-get source --download-only --print-uris lwip >/dev/null 2>&1; then
		if [ "$(id -u)" != 0 ]; then
			echo "get-lwip: no deb-src entry for lwip and not root to add one;" >&2
			echo "          run as root once, or pass -DLWIP_SOURCE_DIR=" >&2
			exit 1
		fi
		suites=$(. /etc/os-release && echo "$VERSION_CODENAME $VERSION_CODENAME-updates")
		cat >/etc/apt/sources.list.d/tunplug-src.sources <<EOS
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suites
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
		apt-get update -q >/dev/null
	fi
	apt-get source --download-only "lwip=${debver}-2" >/dev/null 2>&1 ||
		apt-get source --download-only lwip >/dev/null
fi
[ -f "$orig" ] || { echo "get-lwip: $orig not downloaded (is Debian's lwip still $debver?)" >&2; exit 1; }
rm -rf "$want.tmp" && mkdir "$want.tmp"
tar -xJf "$orig" -C "$want.tmp" --strip-components=1
mv "$want.tmp" "$want"
