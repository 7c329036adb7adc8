#!/bin/bash
# Boots a given kernel under qemu with a static crpid in an initramfs and
# checks on the serial console that crpid works with, and is refused
# without, the file capability cap_checkpoint_restore (see guest_init.c).
#
# Usage: boot-test.sh [--expect pass|refused] [--timeout SECONDS]
#                     [--log FILE] BZIMAGE [CRPID]
#   --expect pass     (default) the capability copy works, the other is
#                     refused: a 5.9+ kernel or v5.4 with kernel-patch/
#   --expect refused  both copies are refused and crpid names kernel-patch/:
#                     an unpatched kernel older than 5.9
#   CRPID             static crpid (default: bazel-bin/cli/crpid)
# Exits 0 when what the guest saw matches the expectation, 1 when not or
# on a timeout, 2 on a usage or setup error.
set -euo pipefail

readonly CHECKS=6  # 3 commands x (cap-present, cap-absent)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

die() {
  echo "boot-test: $*" >&2
  exit 2
}

expect=pass
timeout=180
log=
while [[ $# -gt 0 ]]; do
  case $1 in
    --expect) expect=${2:-}; shift 2 || die "--expect needs pass|refused" ;;
    --timeout) timeout=${2:-}; shift 2 || die "--timeout needs SECONDS" ;;
    --log) log=${2:-}; shift 2 || die "--log needs FILE" ;;
    -h | --help) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $expect == pass || $expect == refused ]] || die "--expect pass|refused"
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout needs a number of seconds"
[[ $# -ge 1 && $# -le 2 ]] || die "usage: boot-test.sh [options] BZIMAGE [CRPID]"
kernel=$1
crpid=${2:-$repo/bazel-bin/cli/crpid}
[[ -r $kernel ]] || die "no kernel image $kernel"
[[ -x $crpid ]] || die "no crpid at $crpid: run 'bazel build //cli:crpid'"
# The initramfs has no libraries: crpid must not need a dynamic loader.
if LC_ALL=C readelf -l "$crpid" 2>/dev/null | grep -q 'Requesting program interpreter'; then
  die "$crpid is dynamically linked; the guest needs a static one"
fi

# Installs what is missing (CI machines start without qemu).
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v cpio >/dev/null || missing+=(cpio)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: apt-get install them"
  echo "boot-test: installing ${missing[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null; } || die "cannot install ${missing[*]}"
fi

work=$(mktemp -d /tmp/crpid-boot-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/dev" "$root/proc" "$root/t"
# Details in RESULT lines are cut to fit their buffers on purpose.
gcc -O2 -Wall -Wextra -Wno-format-truncation -static \
  -o "$root/init" "$here/guest_init.c" || die "cannot build guest_init.c"
install -m 0755 "$crpid" "$root/crpid"
(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$work/initrd.gz"

console=$work/console.log
start=$(date +%s.%N)
status=0
# No stdin: qemu's -nographic monitor must not read the terminal.
timeout "$timeout" qemu-system-x86_64 -nographic -no-reboot -m 512 \
  -kernel "$kernel" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 panic=-1 crpid_expect=$expect" \
  </dev/null >"$console" 2>&1 || status=$?
seconds=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
[[ -z $log ]] || cp "$console" "$log"

lines=$(tr -d '\r' <"$console" | grep -E '^(CHECK|RESULT|CHECKS DONE) ' || true)
[[ -z $lines ]] || echo "$lines"
release=$(sed -n 's/^CHECK kernel \([^ ]*\) .*/\1/p' <<<"$lines")
passes=$(grep -c '^RESULT .* PASS' <<<"$lines" || true)
fails=$(grep -c '^RESULT .* FAIL' <<<"$lines" || true)
verdict=PASS
reason="$passes/$CHECKS checks as expected"
if ! grep -q '^CHECKS DONE ' <<<"$lines"; then
  verdict=FAIL reason="guest did not finish (qemu exit $status); $reason"
  # The console says why: a panic, no init, a hung check.
  echo "boot-test: last console lines:" >&2
  tr -d '\r' <"$console" | tail -n 20 >&2
elif [[ $passes -ne $CHECKS || $fails -ne 0 ]]; then
  verdict=FAIL
fi
if [[ $status -eq 124 ]]; then
  verdict=FAIL reason="timed out after ${timeout}s; $reason"
fi
echo "boot-test: $verdict kernel ${release:-unknown} ($kernel)" \
  "expect=$expect: $reason in ${seconds}s"
[[ $verdict == PASS ]]
