#!/bin/bash
# Boots Debian's own arm64 kernel (the versioned linux-image-*-arm64 that
# linux-image-arm64 depends on) under qemu-system-aarch64 -M virt -cpu max
# (TCG: no KVM on an x86_64 host) with a static aarch64 crpid, a static
# aarch64 init (arm64_guest_init.c) and the set-mm probes built static,
# static-pie and dynamic (with arm64's ld.so and libraries) in the
# initramfs, and checks the RESULT lines the init prints (see there).
# The kernel's vmlinuz and config are taken out of the .deb, not installed,
# and cached per package version, so later runs need no network.
#
# Usage: arm64-boot-test.sh [--timeout SECONDS] [--log FILE] CRPID [PROBE_SRC]
#   CRPID      static aarch64 crpid (bazel build --config=aarch64 //cli:crpid)
#   PROBE_SRC  tests/set_mm_probe.cc (default: the one in this repository)
# Environment: CRPID_KERNEL_CACHE (default /var/cache/crpid-boot-test, or
# /tmp/crpid-boot-test where /var/cache is not writable)
# Exits 0 when every check passed, 1 when not or on a timeout, 2 on a usage
# or setup error.
set -euo pipefail

readonly CHECKS=11  # RESULT lines arm64_guest_init.c prints
readonly CROSS=aarch64-linux-gnu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${CRPID_KERNEL_CACHE:-/var/cache/crpid-boot-test}
[[ -n ${CRPID_KERNEL_CACHE:-} || -w /var/cache ]] || cache=/tmp/crpid-boot-test

die() {
  echo "arm64-boot-test: $*" >&2
  exit 2
}

timeout=420
log=
while [[ $# -gt 0 ]]; do
  case $1 in
    --timeout) timeout=${2:-}; shift 2 || die "--timeout needs SECONDS" ;;
    --log) log=${2:-}; shift 2 || die "--log needs FILE" ;;
    -h | --help) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout needs a number of seconds"
[[ $# -ge 1 && $# -le 2 ]] || die "usage: arm64-boot-test.sh [options] CRPID [PROBE_SRC]"
crpid=$1
probe_src=${2:-$repo/tests/set_mm_probe.cc}
[[ -x $crpid ]] || die "no crpid at $crpid: run 'bazel build --config=aarch64 //cli:crpid'"
[[ -r $probe_src ]] || die "no $probe_src"
# The guest runs what it is given directly: an aarch64 crpid needing no loader.
LC_ALL=C readelf -h "$crpid" 2>/dev/null | grep -q 'Machine: *AArch64' ||
  die "$crpid is not an aarch64 executable"
if LC_ALL=C readelf -l "$crpid" 2>/dev/null | grep -q 'Requesting program interpreter'; then
  die "$crpid is dynamically linked; the guest needs a static one"
fi

# Installs what is missing (scripts/install-deps.sh has the same list).
missing=()
command -v qemu-system-aarch64 >/dev/null || missing+=(qemu-system-arm)
command -v cpio >/dev/null || missing+=(cpio)
command -v $CROSS-g++ >/dev/null || missing+=(g++-$CROSS)
[[ -e /lib/$CROSS/ld-linux-aarch64.so.1 ]] || missing+=(libc6:arm64)
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: apt-get install them"
  echo "arm64-boot-test: installing ${missing[*]}" >&2
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null; } || die "cannot install ${missing[*]}"
fi

# linux-image-arm64's versioned dependency and its candidate version.
find_package() {
  package=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9].*-arm64\)\(:arm64\)\{0,1\}$/\1/p' |
    head -n 1)
  version=$(apt-cache policy "$package:arm64" 2>/dev/null |
    sed -n 's/^ *Candidate: //p')
  [[ -n $package && -n $version && $version != "(none)" ]]
}

# Keeps boot/vmlinuz-* and boot/config-* of the .deb in $1.
extract() {
  local dest=$1 tmp
  tmp=$(mktemp -d "$cache/download.XXXXXX")
  # apt's _apt sandbox user cannot write a root-owned temporary dir.
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root \
    "$package:arm64=$version") || { rm -rf "$tmp"; return 1; }
  mkdir "$tmp/x"
  dpkg-deb --fsys-tarfile "$tmp"/*.deb |
    tar -x -C "$tmp/x" --wildcards './boot/vmlinuz-*' './boot/config-*'
  rm -rf "$dest"
  mv "$tmp/x/boot" "$dest"  # whole or not at all, for the next run
  rm -rf "$tmp"
}

# The kernel, from the cache or Debian's archive.
fetch_kernel() {
  mkdir -p "$cache"
  if ! find_package; then
    dpkg --print-foreign-architectures | grep -qx arm64 ||
      die "arm64 packages are not enabled: dpkg --add-architecture arm64"
    apt-get update -qq || die "apt-get update failed"
    find_package || die "no linux-image-*-arm64 dependency of linux-image-arm64"
  fi
  dir=$cache/${package}_$version
  if ! compgen -G "$dir/vmlinuz-*" >/dev/null; then
    echo "arm64-boot-test: downloading $package $version" >&2
    # A stale package list names a version the archive no longer has.
    extract "$dir" || { apt-get update -qq && find_package &&
      dir=$cache/${package}_$version && extract "$dir"; } ||
      die "cannot download $package"
  fi
  kernel=$(compgen -G "$dir/vmlinuz-*" | head -n 1)
  local config option
  config=$(compgen -G "$dir/config-*" | head -n 1)
  # The guest has no modules: what it needs must be built in.
  for option in SERIAL_AMBA_PL011_CONSOLE BLK_DEV_INITRD RD_GZIP DEVTMPFS \
    TMPFS_XATTR MEMFD_CREATE CHECKPOINT_RESTORE MULTIUSER SECCOMP_FILTER; do
    grep -qx "CONFIG_$option=y" "$config" ||
      die "$config: CONFIG_$option is not built in"
  done
  echo "arm64-boot-test: $package $version ($kernel)" >&2
}

# Copies what the dynamic probe needs to load: its interpreter and each
# DT_NEEDED library, theirs too (Debian's libc6:arm64, else the cross ones).
copy_loader_and_libraries() {
  local root=$2 library found dir
  local -a queue=("$1")
  mkdir -p "$root/lib/$CROSS"
  cp -L "/lib/$CROSS/ld-linux-aarch64.so.1" "$root/lib/$CROSS/"
  ln -s "$CROSS/ld-linux-aarch64.so.1" "$root/lib/ld-linux-aarch64.so.1"
  while [[ ${#queue[@]} -gt 0 ]]; do
    for library in $(LC_ALL=C readelf -d "${queue[0]}" |
      sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [[ -e $root/lib/$CROSS/$library ]] && continue
      found=
      for dir in "/lib/$CROSS" "/usr/lib/$CROSS" "/usr/$CROSS/lib"; do
        [[ -e $dir/$library ]] && { found=$dir/$library; break; }
      done
      [[ -n $found ]] || die "no $library for the dynamic probe"
      cp -L "$found" "$root/lib/$CROSS/"
      queue+=("$root/lib/$CROSS/$library")
    done
    queue=("${queue[@]:1}")
  done
}

fetch_kernel
work=$(mktemp -d /tmp/crpid-arm64-boot-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/dev" "$root/proc" "$root/t" "$root/probe"
# Details in RESULT lines are cut to fit their buffers on purpose.
$CROSS-gcc -O2 -Wall -Wextra -Wno-format-truncation -static \
  -o "$root/init" "$here/arm64_guest_init.c" || die "cannot build arm64_guest_init.c"
probe=$root/probe/set_mm_probe
cxx=($CROSS-g++ -std=c++20 -O2 -pthread)
"${cxx[@]}" -static -no-pie -o "${probe}_static" "$probe_src" &
"${cxx[@]}" -static-pie -o "${probe}_static_pie" "$probe_src" &
"${cxx[@]}" -o "${probe}_dynamic" "$probe_src" &
for job in 1 2 3; do wait -n || die "cannot build the set-mm probes"; done
copy_loader_and_libraries "${probe}_dynamic" "$root"
install -m 0755 "$crpid" "$root/crpid"
(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$work/initrd.gz"

console=$work/console.log
start=$(date +%s.%N)
status=0
# No stdin: qemu's -nographic monitor must not read the terminal.
timeout "$timeout" qemu-system-aarch64 -M virt -cpu max -smp 2 -m 1024 \
  -nographic -no-reboot -kernel "$kernel" -initrd "$work/initrd.gz" \
  -append "console=ttyAMA0 panic=-1" \
  </dev/null >"$console" 2>&1 || status=$?
seconds=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
[[ -z $log ]] || cp "$console" "$log"

lines=$(tr -d '\r' <"$console" | grep -E '^(CHECK|RESULT|CHECKS DONE) ' || true)
[[ -z $lines ]] || echo "$lines"
release=$(sed -n 's/^CHECK kernel \([^ ]*\) .*/\1/p' <<<"$lines")
passes=$(grep -c '^RESULT .* PASS' <<<"$lines" || true)
fails=$(grep -c '^RESULT .* FAIL' <<<"$lines" || true)
verdict=PASS
reason="$passes/$CHECKS checks passed"
if ! grep -q '^CHECKS DONE ' <<<"$lines"; then
  verdict=FAIL reason="guest did not finish (qemu exit $status); $reason"
  # The console says why: a panic, no init, a hung check.
  echo "arm64-boot-test: last console lines:" >&2
  tr -d '\r' <"$console" | tail -n 20 >&2
elif [[ $passes -ne $CHECKS || $fails -ne 0 ]]; then
  verdict=FAIL
fi
if [[ $status -eq 124 ]]; then
  verdict=FAIL reason="timed out after ${timeout}s; $reason"
fi
echo "arm64-boot-test: $verdict kernel ${release:-unknown} ($kernel):" \
  "$reason; qemu ran ${seconds}s (TCG)"
[[ $verdict == PASS ]]
