#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the fuzz targets of tests/fuzz with clang 14, libFuzzer, ASan and
# UBSan (bazel --config=fuzz) and fuzzes them. docs/development.md "Fuzzing and
# sanitizers".
#
#   scripts/fuzz.sh [--minutes N | --seconds N] [--jobs J] [TARGET…]
#       A local campaign: each target (default: all) fuzzes N minutes (10),
#       J at a time (2), from the tree's corpus plus what earlier campaigns
#       found, kept in $CRPID_FUZZ_DIR (~/.cache/crpid-fuzz/WORKTREE). A
#       crash, leak, UB report, timeout or failed FUZZ_CHECK is saved there
#       (TARGET/artifacts/) and fuzzing goes on for the rest of the time.
#       Ends with a table: executions, exec/s, libFuzzer's cov/ft, corpus
#       size and findings per target; exit 1 when there was a finding.
#   scripts/fuzz.sh --ci [--seconds N]
#       What CI runs (scripts/test.sh): `bazel test` of every NAME_fuzz_test,
#       each replaying its corpus and fuzzing N seconds (20), two at a time.
#   scripts/fuzz.sh --testlogs
#       Prints where --ci left its test.xml files.
#
# Why an output base of its own: --config=fuzz selects clang through CC,
# which makes Bazel 4.2.3 re-configure its auto-detected C++ toolchain.
# Sharing the normal build's output base, each switch between the two would
# re-run that configuration and discard the analysis cache; a second one
# costs a second Bazel server (stopped after each use) and keeps both
# builds incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

workspace=$(pwd -P)
key=$(printf '%s' "$workspace" | md5sum | cut -c1-12)
state=${CRPID_FUZZ_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/crpid-fuzz/$key}
output_base=$state/bazel
fuzz_bazel() { bazel --output_base="$output_base" "$@"; }

all_targets() {
  sed -n '/^FUZZ_TARGETS = \[/,/^\]/s/^ *"\([a-z_]*\)",$/\1/p' tests/fuzz/BUILD.bazel
}

mode=campaign seconds=600 jobs=2 targets=()
while (($# > 0)); do
  case $1 in
    --ci) mode=ci seconds=20 ;;
    --testlogs) mode=testlogs ;;
    --minutes) seconds=$(($2 * 60)); shift ;;
    --seconds) seconds=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
((${#targets[@]} > 0)) || mapfile -t targets < <(all_targets)

case $mode in
  testlogs)
    # --batch: no server left running for one question.
    bazel --batch --output_base="$output_base" info --config=fuzz bazel-testlogs 2>/dev/null
    exit
    ;;
  ci)
    status=0
    fuzz_bazel test --config=fuzz --noshow_progress --local_test_jobs=2 \
      --test_env=CRPID_FUZZ_SECONDS="$seconds" //tests/fuzz:fuzz_tests || status=$?
    fuzz_bazel shutdown
    exit $status
    ;;
esac

# The campaign.
fuzz_bazel build --config=fuzz --noshow_progress //tests/fuzz:fuzzers
bin=$(fuzz_bazel info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz
fuzz_bazel shutdown

# Fuzzes one target for $seconds, restarting after each finding.
campaign() {
  local target=$1 dir=$state/$1
  local dictionary=tests/fuzz/$target.dict
  [[ -f $dictionary ]] || dictionary=""
  mkdir -p "$dir/corpus" "$dir/artifacts"
  : >"$dir/log"
  local end=$((SECONDS + seconds)) runs=0
  while ((SECONDS < end && runs < 50)); do
    runs=$((runs + 1))
    CRPID_FUZZ_SECONDS=$((end - SECONDS)) CRPID_FUZZ_WORK=$dir/corpus \
      CRPID_FUZZ_ARTIFACTS=$dir/artifacts \
      tests/fuzz/run_fuzzer.sh fuzz "$bin/${target}_fuzzer" "tests/fuzz/corpus/$target" \
      $dictionary >>"$dir/log" 2>&1 || true
  done
}

# One line of the table, from the runs' final statistics in the log.
summary() {
  local target=$1 dir=$state/$1
  awk -v target="$target" -v seconds="$seconds" \
      -v findings="$(find "$dir/artifacts" -type f | wc -l)" \
      -v corpus="$(find "$dir/corpus" -type f | wc -l)" '
    /^stat::number_of_executed_units:/ { executions += $2 }
    /^#[0-9]+[[:space:]]/ {
      for (i = 1; i < NF; i++) {
        if ($i == "cov:") cov = $(i + 1)
        if ($i == "ft:") ft = $(i + 1)
      }
    }
    END {
      printf "%-12s %7d %12d %9d %6d %7d %7d %8d\n", target, seconds, executions,
             executions / seconds, cov, ft, corpus, findings
    }' "$dir/log"
}

echo "fuzz: ${#targets[@]} targets, $seconds s each, $jobs at a time; state in $state"
running=0
for target in "${targets[@]}"; do
  campaign "$target" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
done
wait

printf "%-12s %7s %12s %9s %6s %7s %7s %8s\n" target seconds executions exec/s cov ft corpus findings
found=0
for target in "${targets[@]}"; do
  line=$(summary "$target")
  echo "$line"
  (($(awk '{print $8}' <<<"$line") == 0)) || found=1
done
if ((found)); then
  echo "fuzz: findings in $state/*/artifacts: reproduce with $bin/TARGET_fuzzer FILE," \
    "fix, and add the file to tests/fuzz/corpus/TARGET/"
fi
exit $found
