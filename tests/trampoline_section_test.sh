#!/bin/bash
# The set-mm trampoline runs after crpid's own mappings are gone: its code,
# section crpid_trampoline of the built crpid, must reach nothing outside
# itself — no call or jump out of the section, no RIP-relative data outside
# it, and nothing of a sanitizer's runtime, stack protector or coverage
# (src/BUILD.bazel builds it with -fno-sanitize=all; the normal build and
# --config=asan both run this test).
#   trampoline_section_test.sh CRPID
set -uo pipefail

crpid=$1
read -r start size < <(readelf -SW "$crpid" |
  awk '$2 == "crpid_trampoline" { print $4, $6 } $3 == "crpid_trampoline" { print $5, $7 }')
if [[ -z ${start:-} ]]; then
  echo "FAILED: no section crpid_trampoline in $crpid"
  exit 1
fi
code=$(objdump -d --no-show-raw-insn -j crpid_trampoline "$crpid")
echo "crpid_trampoline: 0x$start, 0x$size bytes, $(grep -c '^ *[0-9a-f]*:' <<<"$code") instructions"

failures=0
fail() { echo "FAILED: $1"; failures=$((failures + 1)); }

# Direct calls and jumps, and RIP-relative operands ("# ADDR <symbol>").
while read -r target line; do
  if ((16#$target < 16#$start || 16#$target >= 16#$start + 16#$size)); then
    fail "reaches 0x$target outside the section: $line"
  fi
done < <(awk '
  /^ *[0-9a-f]+:/ {
    line = $0
    if (match($0, /\t(call|j[a-z]+) +[0-9a-f]+ </)) {
      split(substr($0, RSTART + 1), parts, " +")
      print parts[2], line
    } else if (match($0, /# [0-9a-f]+ </)) {
      split(substr($0, RSTART + 2), parts, " ")
      print parts[1], line
    }
  }' <<<"$code")

if grep -Eiq 'asan|ubsan|sanitizer|__stack_chk|sancov' <<<"$code"; then
  fail "sanitizer, stack protector or coverage code: $(grep -Ei 'asan|ubsan|sanitizer|__stack_chk|sancov' <<<"$code" | head -3)"
fi
echo "trampoline_section_test: $failures failed"
((failures == 0))
