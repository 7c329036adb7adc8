#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# What fork-tree's processes run between their creation and their exec
# shares crpid's memory and TLS and runs on stacks no sanitizer runtime
# knows (src/fork_tree_child.h): its objects (the archives given) may call
# only functions they define themselves, raw system calls and
# __stack_chk_fail (which ends the process). Nothing of libc (a sanitizer
# interposes memcpy, sigaction, waitpid ...), of a sanitizer's runtime, of
# coverage or of the C++ runtime, and no weak definition (an inline
# function left out of line, for which the linker may pick an instrumented
# copy from another object). The normal build and --config=asan both run it.
#   tree_child_calls_test.sh ARCHIVE...
set -uo pipefail

failures=0
fail() { echo "FAILED: $1"; failures=$((failures + 1)); }

archives=()
for file in "$@"; do
  [[ -f $file ]] || { echo "FAILED: no file $file"; exit 1; }
  [[ $file == *.a ]] && archives+=("$file")
done
((${#archives[@]} == 3)) || { echo "FAILED: not the three archives: $*"; exit 1; }

# Symbols the archives define (strong, in code) and those they use.
defined=$(nm --defined-only "${archives[@]}" | awk 'NF == 3 && $2 ~ /^[Tt]$/ { print $3 }' | sort -u)
undefined=$(nm --undefined-only "${archives[@]}" | awk 'NF == 2 { print $2 }' | sort -u)
weak=$(nm "${archives[@]}" | awk 'NF == 3 && $2 ~ /^[VvWw]$/ { print $3 }' | sort -u)
echo "defined: $(wc -l <<<"$defined") functions; used from elsewhere: $(tr '\n' ' ' <<<"$undefined")"

# The linker's GOT, and aarch64's canary (a global there, read only).
allowed=$'__stack_chk_fail\n_GLOBAL_OFFSET_TABLE_\n__stack_chk_guard'
while read -r symbol; do
  [[ -z $symbol ]] && continue
  grep -qxF -- "$symbol" <<<"$defined" && continue
  grep -qxF -- "$symbol" <<<"$allowed" && continue
  fail "calls $symbol ($(c++filt "$symbol")), which the tree-child code does not define"
done <<<"$undefined"
[[ -n $weak ]] && fail "weak definitions: $(c++filt $weak | tr '\n' ' ')"

# Instrumentation shows as calls or data references in the code itself.
code=$(objdump -dr --no-show-raw-insn "${archives[@]}")
if grep -Eiq '__asan|__ubsan|__sanitizer|__sancov|__gcov|__tsan|__msan' <<<"$code"; then
  fail "sanitizer or coverage code: $(grep -Ei '__asan|__ubsan|__sanitizer|__sancov|__gcov' <<<"$code" | head -3)"
fi
echo "tree_child_calls_test: $failures failed"
((failures == 0))
