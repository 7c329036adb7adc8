#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-only
# Boots a given kernel under qemu (TCG: KVM aborts for these guests on
# this machine kind) with a static crpid, guest_init.c as /init and
# tests/set_mm_probe.cc built static, static-pie and dynamic (with the
# machine's ld.so and libraries) in an initramfs, and checks the RESULT
# lines the init prints on the serial console: every name of CHECK_NAMES
# must appear once, as PASS, and the init must print its total.
#
# Usage: boot-test.sh [--arch x86_64|arm64] [--label NAME]
#                     [--timeout SECONDS] [--log FILE] KERNEL CRPID [PROBE_SRC]
#   --arch     the kernel's and crpid's machine (default x86_64); arm64 boots
#              qemu-system-aarch64 -M virt -cpu max and builds the guest
#              with aarch64-linux-gnu-gcc
#   --label    names the boot in the last line (default: the kernel file)
#   KERNEL     bzImage / vmlinuz (Debian's arm64 vmlinuz is a plain Image)
#   CRPID      static crpid for that machine
#   PROBE_SRC  tests/set_mm_probe.cc (default: the one in this repository)
# Exits 0 when every check passed, 1 when not or on a timeout, 2 on a usage
# or setup error. The last line is
#   boot-test: PASS|FAIL LABEL kernel RELEASE ARCH: N/M checks passed in S s
set -euo pipefail

# The RESULT names guest_init.c prints, in its order.
readonly CHECK_NAMES=(
  caller-caps check check-clone3-enosys fork-at-clone3 fork-at-ns-last-pid
  fork-at-forced-ns-last-pid fork-at-pid-map fork-at-wait fork-at-check
  map-files-dump-deleted map-files-dump-memfd cap-absent-map-files-dump
  set-mm-static set-mm-static-pie set-mm-dynamic set-mm-foreign set-mm-exe
  set-mm-auxv tree-save fork-tree fork-tree-ns-last-pid cap-absent-fork-tree
  fork-tree-placeholders cap-absent-fork-at cap-absent-set-mm cap-absent-check
)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

die() {
  echo "boot-test: $*" >&2
  exit 2
}

arch=x86_64
label=
timeout=600
log=
positional=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --arch) arch=${2:-}; shift 2 || die "--arch needs x86_64|arm64" ;;
    --label) label=${2:-}; shift 2 || die "--label needs NAME" ;;
    --timeout) timeout=${2:-}; shift 2 || die "--timeout needs SECONDS" ;;
    --log) log=${2:-}; shift 2 || die "--log needs FILE" ;;
    -h | --help) sed -n '3,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) positional+=("$1"); shift ;;
  esac
done
set -- "${positional[@]}"
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout needs a number of seconds"
[[ $# -ge 2 && $# -le 3 ]] || die "usage: boot-test.sh [options] KERNEL CRPID [PROBE_SRC]"
kernel=$1 crpid=$2 probe_src=${3:-$repo/tests/set_mm_probe.cc}
label=${label:-$kernel}

# The machine's seam: compilers, where its libraries are, how qemu boots it.
case $arch in
  x86_64)
    cross= triplet=x86_64-linux-gnu elf_machine='Advanced Micro Devices X86-64'
    loader=/lib64/ld-linux-x86-64.so.2
    qemu=(qemu-system-x86_64 -m 1024 -smp 2) tty=ttyS0 ;;
  arm64 | aarch64)
    arch=arm64 cross=aarch64-linux-gnu- triplet=aarch64-linux-gnu elf_machine=AArch64
    loader=/lib/ld-linux-aarch64.so.1
    qemu=(qemu-system-aarch64 -M virt -cpu max -smp 2 -m 1024) tty=ttyAMA0 ;;
  *) die "unknown --arch $arch: x86_64 or arm64" ;;
esac

[[ -r $kernel ]] || die "no kernel image $kernel"
[[ -x $crpid ]] || die "no crpid at $crpid: run 'bazel build //cli:crpid' (--config=aarch64 for arm64)"
[[ -r $probe_src ]] || die "no $probe_src"
LC_ALL=C readelf -h "$crpid" 2>/dev/null | grep -q "Machine: *$elf_machine" ||
  die "$crpid is not an $arch executable"
# The initramfs has no loader for crpid: it must be static.
if LC_ALL=C readelf -l "$crpid" 2>/dev/null | grep -q 'Requesting program interpreter'; then
  die "$crpid is dynamically linked; the guest needs a static one"
fi
for tool in "${qemu[0]}" cpio "${cross}gcc" "${cross}g++"; do
  command -v "$tool" >/dev/null || die "no $tool: run scripts/install-deps.sh"
done
[[ -e /lib/$triplet/libc.so.6 ]] || die "no /lib/$triplet/libc.so.6: run scripts/install-deps.sh"

# Copies what the dynamic probe needs to load: its interpreter and each
# DT_NEEDED library, theirs too.
copy_loader_and_libraries() {
  local root=$2 library found dir
  local -a queue=("$1")
  mkdir -p "$root/lib/$triplet" "$root$(dirname "$loader")"
  cp -L "$loader" "$root$loader"
  while [[ ${#queue[@]} -gt 0 ]]; do
    for library in $(LC_ALL=C readelf -d "${queue[0]}" |
      sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [[ -e $root/lib/$triplet/$library ]] && continue
      found=
      for dir in "/lib/$triplet" "/usr/lib/$triplet" "/usr/$triplet/lib"; do
        [[ -e $dir/$library ]] && { found=$dir/$library; break; }
      done
      [[ -n $found ]] || die "no $library for the dynamic probe"
      cp -L "$found" "$root/lib/$triplet/"
      queue+=("$root/lib/$triplet/$library")
    done
    queue=("${queue[@]:1}")
  done
}

work=$(mktemp -d /tmp/crpid-boot-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/dev" "$root/proc" "$root/t" "$root/probe"
# Details in RESULT lines are cut to fit their buffers on purpose.
"${cross}gcc" -O2 -Wall -Wextra -Wno-format-truncation -static \
  -o "$root/init" "$here/guest_init.c" || die "cannot build guest_init.c"
probe=$root/probe/set_mm_probe
cxx=("${cross}g++" -std=c++20 -O2 -pthread)
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
timeout "$timeout" "${qemu[@]}" -nographic -no-reboot -kernel "$kernel" \
  -initrd "$work/initrd.gz" -append "console=$tty panic=-1" \
  </dev/null >"$console" 2>&1 || status=$?
seconds=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
[[ -z $log ]] || cp "$console" "$log"

lines=$(tr -d '\r' <"$console" | grep -E '^(CHECK|RESULT|CHECKS DONE) ' || true)
[[ -z $lines ]] || echo "$lines"
release=$(sed -n 's/^CHECK kernel \([^ ]*\) .*/\1/p' <<<"$lines")
passes=0
problems=()
for name in "${CHECK_NAMES[@]}"; do
  count=$(grep -c "^RESULT $name " <<<"$lines" || true)
  if [[ $count -ne 1 ]]; then
    problems+=("$name: $count RESULT lines")
  elif grep -q "^RESULT $name PASS" <<<"$lines"; then
    passes=$((passes + 1))
  else
    problems+=("$name: FAIL")
  fi
done
# A RESULT line this list does not know is a guest and harness mismatch.
while read -r name; do
  [[ " ${CHECK_NAMES[*]} " == *" $name "* ]] || problems+=("$name: not in CHECK_NAMES")
done < <(sed -n 's/^RESULT \([^ ]*\) .*/\1/p' <<<"$lines")
if ! grep -q '^CHECKS DONE ' <<<"$lines"; then
  problems+=("the guest did not finish (qemu exit $status)")
  # The console says why: a panic, no init, a hung check.
  echo "boot-test: last console lines:" >&2
  tr -d '\r' <"$console" | tail -n 20 >&2
fi
[[ $status -ne 124 ]] || problems+=("timed out after ${timeout}s")
verdict=PASS
[[ ${#problems[@]} -eq 0 ]] || verdict=FAIL
for problem in "${problems[@]}"; do echo "boot-test: $problem" >&2; done
echo "boot-test: $verdict $label kernel ${release:-unknown} $arch:" \
  "$passes/${#CHECK_NAMES[@]} checks passed in ${seconds} s (qemu TCG)"
[[ $verdict == PASS ]]
