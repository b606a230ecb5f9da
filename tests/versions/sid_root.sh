#!/usr/bin/env bash
# Builds (once) a Debian sid root holding CPython 3.14 and 3.15 with their headers and venv, and
# prints its path. Debian's python3.14/3.15 need sid's libc, so they cannot be installed on the
# bookworm host itself; a debootstrap root from the archive the host's apt already uses can.
# The root is cached under the user's cache folder: a second call only prints the path.
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/heapprof_nb"
root="$cache/sid-root"
# Bump when the package list below changes, so a cached root is rebuilt.
recipe=2
packages="python3.14 python3.14-dev python3.14-venv python3.15 python3.15-dev python3.15-venv
  gcc libc6-dev ca-certificates graphviz procps"
if [ -f "$root/.heapprof_nb-ready" ] && [ "$(cat "$root/.heapprof_nb-ready")" = "$recipe" ]; then
    echo "$root"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "sid_root.sh: building the sid root needs root (debootstrap, chroot)" >&2
    exit 1
fi
command -v debootstrap >/dev/null || {
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2; }
# The mirror the host's apt uses (deb822 or one-line sources).
mirror=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list 2>/dev/null | head -n1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$cache"
rm -rf "$root.tmp"
echo "sid_root.sh: debootstrap sid from $mirror into $root (once; several minutes)" >&2
debootstrap --variant=minbase sid "$root.tmp" "$mirror" >&2
# The archive is a frozen snapshot: its Release file's Valid-Until has passed.
echo 'Acquire::Check-Valid-Until "false";' > "$root.tmp/etc/apt/apt.conf.d/99heapprof-snapshot"
cp /etc/resolv.conf "$root.tmp/etc/resolv.conf"
chroot "$root.tmp" apt-get update -qq >&2
# shellcheck disable=SC2086
chroot "$root.tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $packages >&2
# After ca-certificates rewrote the bundle: the host's, so that pip reaches PyPI as the host does.
cp /etc/ssl/certs/ca-certificates.crt "$root.tmp/etc/ssl/certs/ca-certificates.crt"
cp /etc/resolv.conf "$root.tmp/etc/resolv.conf"
chroot "$root.tmp" apt-get clean >&2
echo "$recipe" > "$root.tmp/.heapprof_nb-ready"
mv "$root.tmp" "$root"
echo "$root"
