#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# The set-mm trampoline runs after crpid's own mappings are gone: its code,
# section crpid_trampoline of the built crpid, must reach nothing outside
# itself — no call or jump out of the section, no RIP-relative data outside
# it, and nothing of a sanitizer's runtime, stack protector or coverage
# (src/BUILD.bazel builds it with -fno-sanitize=all; the normal build and
# --config=asan both run this test, on the x86_64 and the aarch64 crpid).
#   trampoline_section_test.sh CRPID [OBJDUMP]
set -uo pipefail

crpid=$1
objdump=${2:-objdump}
read -r start size < <(readelf -SW "$crpid" |
  awk '$2 == "crpid_trampoline" { print $4, $6 } $3 == "crpid_trampoline" { print $5, $7 }')
if [[ -z ${start:-} ]]; then
  echo "FAILED: no section crpid_trampoline in $crpid"
  exit 1
fi
code=$("$objdump" -d --no-show-raw-insn -j crpid_trampoline "$crpid")
echo "crpid_trampoline: 0x$start, 0x$size bytes, $(grep -c '^ *[0-9a-f]*:' <<<"$code") instructions"

failures=0
fail() { echo "FAILED: $1"; failures=$((failures + 1)); }

# Every address an instruction names ("ADDR <symbol>"): direct calls,
# jumps and branches, RIP-relative operands (x86_64: "# ADDR <symbol>"),
# adr/adrp and literal loads (aarch64).
while read -r target line; do
  if ((16#$target < 16#$start || 16#$target >= 16#$start + 16#$size)); then
    fail "reaches 0x$target outside the section: $line"
  fi
done < <(awk '
  /^ *[0-9a-f]+:/ {
    rest = substr($0, index($0, ":") + 1)
    while (match(rest, /[0-9a-f]+ </)) {
      split(substr(rest, RSTART), parts, " ")
      print parts[1], $0
      rest = substr(rest, RSTART + RLENGTH)
    }
  }' <<<"$code")

if grep -Eiq 'asan|ubsan|sanitizer|__stack_chk|sancov' <<<"$code"; then
  fail "sanitizer, stack protector or coverage code: $(grep -Ei 'asan|ubsan|sanitizer|__stack_chk|sancov' <<<"$code" | head -3)"
fi
echo "trampoline_section_test: $failures failed"
((failures == 0))
