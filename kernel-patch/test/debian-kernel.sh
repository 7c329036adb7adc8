#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-only
# Boots Debian's own kernel of a release (11, 12 or 13) for x86_64 or arm64
# with boot-test.sh: the versioned linux-image-*-ARCH package that
# linux-image-ARCH depends on in that release. The package lists come from
# a private apt configuration (its own sources list, lists and cache under
# the cache directory; the system's apt state is not touched) naming the
# mirror the system's own sources use. vmlinuz and config are taken out of
# the .deb, not installed, and kept per package version, so later runs need
# no network.
#
# Usage: debian-kernel.sh [--fetch-only] RELEASE ARCH CRPID [PROBE_SRC]
#   RELEASE    11 (bullseye), 12 (bookworm) or 13 (trixie)
#   ARCH       x86_64 or arm64
#   CRPID, PROBE_SRC  as for boot-test.sh
#   --fetch-only      download (or find cached) and print the vmlinuz path
# Environment:
#   CRPID_KERNEL_CACHE  default ~/.cache/crpid/kernels (the home directory
#                       of the user running it, not $HOME, which Bazel moves)
#   CRPID_DEBIAN_MIRROR default: the first URI of the system's sources that
#                       serves the main component of a release
# A kernel that cannot be had is a failure (exit 2) under CI=true or
# CRPID_TEST_NO_SKIP=1, a skip (exit 0, one line saying so) otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=$(getent passwd "$(id -u)" | cut -d: -f6)
cache=${CRPID_KERNEL_CACHE:-${home:-/root}/.cache/crpid/kernels}
no_skip=false
[[ ${CI:-} == true || ${CRPID_TEST_NO_SKIP:-} == 1 ]] && no_skip=true

die() {
  echo "debian-kernel: $*" >&2
  exit 2
}

# Cannot test here: a failure where every test must run, else a skip.
unavailable() {
  if $no_skip; then
    die "$* (a failure under CI=true / CRPID_TEST_NO_SKIP=1)"
  fi
  echo "debian-kernel: SKIP: $*" >&2
  # Counted as a skip by scripts/test.sh, not as a pass.
  if [[ -n ${XML_OUTPUT_FILE:-} ]]; then
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="%s" tests="1" skipped="1"><testcase name="debian-%s-%s" result="skipped"><skipped message="kernel unavailable"/></testcase></testsuite></testsuites>\n' \
      "${TEST_TARGET:-debian-kernel}" "$release" "$arch" >"$XML_OUTPUT_FILE"
  fi
  exit 0
}

fetch_only=false
if [[ ${1:-} == --fetch-only ]]; then
  fetch_only=true
  shift
fi
[[ $# -ge 2 ]] || die "usage: debian-kernel.sh [--fetch-only] RELEASE ARCH [CRPID [PROBE_SRC]]"
release=$1 arch=$2
shift 2
case $release in
  11) suite=bullseye ;;
  12) suite=bookworm ;;
  13) suite=trixie ;;
  *) die "unknown Debian release '$release': 11, 12 or 13" ;;
esac
case $arch in
  x86_64) debarch=amd64 ;;
  arm64 | aarch64) arch=arm64 debarch=arm64 ;;
  *) die "unknown architecture '$arch': x86_64 or arm64" ;;
esac

# The mirror of the system's sources: deb822 URIs: lines or one-line "deb".
system_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [[ -r $file ]] && awk '
      /^URIs:/ { uri = $2 }
      /^Components:.*main/ && uri !~ /security/ { print uri; exit }
      /^$/ { uri = "" }' "$file"
  done
  [[ -r /etc/apt/sources.list ]] && awk '$1 == "deb" && $0 !~ /security/ {
      for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; exit } }' \
    /etc/apt/sources.list
  return 0
}
mirror=${CRPID_DEBIAN_MIRROR:-$(system_mirror | head -n 1)}
[[ -n $mirror ]] || unavailable "no Debian mirror in /etc/apt/sources*: set CRPID_DEBIAN_MIRROR"

aptdir=$cache/apt-$suite
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" ||
  die "cannot create $aptdir"
echo "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
  "$mirror $suite main" >"$aptdir/sources.list"
apt_options=(-o "Dir::Etc::sourcelist=$aptdir/sources.list"
  -o Dir::Etc::sourceparts=/dev/null -o "Dir::State::Lists=$aptdir/lists"
  -o "Dir::Cache=$aptdir/cache" -o APT::Architectures::=amd64
  -o APT::Architectures::=arm64 -o APT::Sandbox::User=root)

# One run at a time per release: the lists and the cache are shared.
exec 9>"$aptdir/lock"
flock 9

# linux-image-ARCH's versioned dependency and its version, in $suite.
find_package() {
  package=$(apt-cache "${apt_options[@]}" depends "linux-image-$debarch:$debarch" 2>/dev/null |
    sed -n "s/^ *Depends: \(linux-image-[0-9].*-$debarch\)\(:$debarch\)\{0,1\}\$/\1/p" |
    head -n 1)
  version=$(apt-cache "${apt_options[@]}" policy "$package:$debarch" 2>/dev/null |
    sed -n 's/^ *Candidate: //p')
  [[ -n $package && -n $version && $version != "(none)" ]]
}

update_lists() {
  apt-get "${apt_options[@]}" update -qq >/dev/null 2>"$aptdir/update.err" || {
    cat "$aptdir/update.err" >&2
    return 1
  }
}

# Keeps boot/vmlinuz-* and boot/config-* of the .deb in $1, whole or not at all.
extract() {
  local dest=$1 tmp
  tmp=$(mktemp -d "$cache/download.XXXXXX")
  if ! (cd "$tmp" && apt-get "${apt_options[@]}" download -qq \
    "$package:$debarch=$version"); then
    rm -rf "$tmp"
    return 1
  fi
  mkdir "$tmp/x"
  dpkg-deb --fsys-tarfile "$tmp"/*.deb |
    tar -x -C "$tmp/x" --wildcards './boot/vmlinuz-*' './boot/config-*'
  rm -rf "$dest"
  mv "$tmp/x/boot" "$dest"
  rm -rf "$tmp"
}

# Lists older than a week are refreshed: the archive drops old versions.
if [[ -z $(find "$aptdir/lists" -maxdepth 1 -name '*_Packages' -mtime -7 2>/dev/null) ]]; then
  update_lists || true
fi
find_package || { update_lists && find_package; } ||
  unavailable "no linux-image-*-$debarch in Debian $release ($suite) from $mirror"
dir=$cache/${package}_$version
if ! compgen -G "$dir/vmlinuz-*" >/dev/null; then
  echo "debian-kernel: downloading $package $version (Debian $release)" >&2
  # A stale list names a version the archive no longer has.
  extract "$dir" || { update_lists && find_package &&
    dir=$cache/${package}_$version && extract "$dir"; } ||
    unavailable "cannot download $package $version from $mirror"
fi
exec 9>&-
kernel=$(compgen -G "$dir/vmlinuz-*" | head -n 1)
config=$(compgen -G "$dir/config-*" | head -n 1)

# The guest has no modules: what it needs must be built in.
console_option=SERIAL_8250_CONSOLE
[[ $arch == arm64 ]] && console_option=SERIAL_AMBA_PL011_CONSOLE
for option in $console_option BLK_DEV_INITRD RD_GZIP DEVTMPFS TMPFS_XATTR \
  MEMFD_CREATE CHECKPOINT_RESTORE MULTIUSER SECCOMP_FILTER; do
  grep -qx "CONFIG_$option=y" "$config" ||
    die "$config: CONFIG_$option is not built in"
done
if $fetch_only; then
  echo "$kernel"
  exit 0
fi
echo "debian-kernel: Debian $release $arch: $package $version ($kernel)" >&2
exec "$here/boot-test.sh" --arch "$arch" --label "debian-$release-$arch" "$kernel" "$@"
