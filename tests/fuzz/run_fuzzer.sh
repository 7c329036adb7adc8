#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs one fuzz target (tests/fuzz/fuzz.bzl; scripts/fuzz.sh).
#   run_fuzzer.sh replay FUZZER CORPUS
#     Runs FUZZER once on each file of CORPUS: libFuzzer and replay_main.cc
#     both take input files as arguments. Fails on a crash, a sanitizer
#     report or a failed FUZZ_CHECK, and when CORPUS is empty.
#   run_fuzzer.sh fuzz FUZZER CORPUS [DICTIONARY]
#     libFuzzer builds only: replays CORPUS, then fuzzes for
#     CRPID_FUZZ_SECONDS (default 30) into a work copy of it
#     (CRPID_FUZZ_WORK, default $TEST_TMPDIR/corpus), and fails on any
#     finding, saved as crash-*/leak-*/timeout-*/oom-* in CRPID_FUZZ_ARTIFACTS
#     (default $TEST_UNDECLARED_OUTPUTS_DIR, which Bazel keeps). The last
#     lines of its output are libFuzzer's final statistics.
set -uo pipefail

mode=$1 fuzzer=$2 corpus=$3 dictionary=${4:-}
mapfile -t inputs < <(find -L "$corpus" -type f | sort)
if ((${#inputs[@]} == 0)); then
  echo "run_fuzzer: no inputs in $corpus" >&2
  exit 1
fi

case $mode in
  replay)
    # Leaks count: LeakSanitizer (ASan builds) checks at exit.
    "$fuzzer" "${inputs[@]}"
    status=$?
    echo "run_fuzzer: replayed ${#inputs[@]} inputs of $corpus: exit $status"
    exit $status
    ;;
  fuzz)
    seconds=${CRPID_FUZZ_SECONDS:-30}
    work=${CRPID_FUZZ_WORK:-${TEST_TMPDIR:-/tmp}/corpus}
    artifacts=${CRPID_FUZZ_ARTIFACTS:-${TEST_UNDECLARED_OUTPUTS_DIR:-$work/..}}
    mkdir -p "$work" "$artifacts"
    options=(
      -max_total_time="$seconds"
      -timeout=10             # one input taking 10 s is a finding (a hang)
      -rss_limit_mb=2048
      -print_final_stats=1
      -artifact_prefix="$artifacts/"
    )
    [[ -n $dictionary ]] && options+=(-dict="$dictionary")
    # New inputs go to the first directory, the work copy; the tree's corpus
    # is only read.
    "$fuzzer" "${options[@]}" "$work" "$corpus"
    status=$?
    echo "run_fuzzer: fuzzed $(basename "$fuzzer") for $seconds s: exit $status"
    exit $status
    ;;
  *)
    echo "usage: run_fuzzer.sh replay|fuzz FUZZER CORPUS [DICTIONARY]" >&2
    exit 2
    ;;
esac
