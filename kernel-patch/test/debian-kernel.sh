#!/bin/bash
# Runs boot-test.sh (expect pass) on Debian's own kernel: the versioned
# linux-image-*-amd64 package that linux-image-amd64 depends on. Its
# vmlinuz and config are taken out of the .deb, not installed, and cached
# per package version, so later runs need no network.
#
# Usage: debian-kernel.sh [CRPID]    (CRPID as for boot-test.sh)
# Environment: CRPID_KERNEL_CACHE (default /var/cache/crpid-boot-test, or
# /tmp/crpid-boot-test where /var/cache is not writable)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${CRPID_KERNEL_CACHE:-/var/cache/crpid-boot-test}
[[ -n ${CRPID_KERNEL_CACHE:-} || -w /var/cache ]] || cache=/tmp/crpid-boot-test

die() {
  echo "debian-kernel: $*" >&2
  exit 2
}

# linux-image-amd64's versioned dependency and its candidate version.
find_package() {
  package=$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
  version=$(apt-cache policy "$package" 2>/dev/null |
    sed -n 's/^ *Candidate: //p')
  [[ -n $package && -n $version && $version != "(none)" ]]
}

# Keeps boot/vmlinuz-* and boot/config-* of the .deb in $1.
extract() {
  local dest=$1 tmp
  tmp=$(mktemp -d "$cache/download.XXXXXX")
  # apt's _apt sandbox user cannot write a root-owned temporary dir.
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root \
    "$package=$version") || { rm -rf "$tmp"; return 1; }
  mkdir "$tmp/x"
  dpkg-deb --fsys-tarfile "$tmp"/*.deb |
    tar -x -C "$tmp/x" --wildcards './boot/vmlinuz-*' './boot/config-*'
  rm -rf "$dest"
  mv "$tmp/x/boot" "$dest"  # whole or not at all, for the next run
  rm -rf "$tmp"
}

mkdir -p "$cache"
if ! find_package; then
  apt-get update -qq || die "apt-get update failed"
  find_package || die "no linux-image-*-amd64 dependency of linux-image-amd64"
fi
dir=$cache/${package}_$version
if ! compgen -G "$dir/vmlinuz-*" >/dev/null; then
  echo "debian-kernel: downloading $package $version" >&2
  # A stale package list names a version the archive no longer has.
  extract "$dir" || { apt-get update -qq && find_package &&
    dir=$cache/${package}_$version && extract "$dir"; } ||
    die "cannot download $package"
fi
kernel=$(compgen -G "$dir/vmlinuz-*" | head -n 1)
config=$(compgen -G "$dir/config-*" | head -n 1)

# The guest has no modules: what it needs must be built in.
for option in SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP DEVTMPFS TMPFS_XATTR \
  MEMFD_CREATE CHECKPOINT_RESTORE MULTIUSER; do
  grep -qx "CONFIG_$option=y" "$config" ||
    die "$config: CONFIG_$option is not built in"
done
echo "debian-kernel: $package $version ($kernel)" >&2
exec "$here/boot-test.sh" --expect pass "$kernel" "$@"
