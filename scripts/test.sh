#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs what the tests need, builds and runs every test, and ends with one
# line "N passed, N failed, N skipped" counted from the test cases' results
# of three runs (docs/development.md "Fuzzing and sanitizers"):
#   1. bazel test //...: the normal build, each fuzz target replaying its
#      corpus (tests/fuzz) among the rest;
#   2. bazel test --config=asan: the library, the CLI, the unit and
#      integration tests (//tests:sanitizer_tests) and the corpus replays,
#      built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. scripts/fuzz.sh --ci: each fuzz target built with clang and libFuzzer
#      replays its corpus, then fuzzes CRPID_FUZZ_SECONDS (20) seconds.
# With CI=true (or CRPID_TEST_NO_SKIP=1) a test that cannot run here fails
# instead of skipping: CI is root and must run them all. What the sanitizer
# build cannot test is skipped there, counted, with the reason in its log.
#
# --under-load: the same runs while a PID-cycling process (tests/pid_churn,
# CRPID_LOAD_FORKS_PER_SECOND forks a second, 1000 by default: PIDs wrap
# every half minute with pid_max 32768) and one CPU hog per core run in the
# background; they are stopped however the script ends (EXIT, INT, TERM).
set -uo pipefail
cd "$(dirname "$0")/.."

under_load=false
for arg in "$@"; do
  case $arg in
    --under-load) under_load=true ;;
    *) echo "usage: scripts/test.sh [--under-load]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

load_pids=()
load_dir=
stop_load() {
  local pid
  for pid in "${load_pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for pid in "${load_pids[@]}"; do wait "$pid" 2>/dev/null; done
  load_pids=()
  [[ -n $load_dir ]] && rm -rf "$load_dir"
  load_dir=
}
stop_step() {  # ends the step running in the background, if any
  [[ -n ${step_pid:-} ]] && kill -TERM "$step_pid" 2>/dev/null && wait "$step_pid" 2>/dev/null
  step_pid=
}
start_load() {
  local cores i rate=${CRPID_LOAD_FORKS_PER_SECOND:-1000}
  bazel build --noshow_progress //tests:pid_churn || return 1
  load_dir=$(mktemp -d) || return 1
  cp "$(bazel info bazel-bin 2>/dev/null)/tests/pid_churn" "$load_dir/" || return 1
  trap stop_load EXIT
  trap 'stop_step; exit 130' INT
  trap 'stop_step; exit 143' TERM
  "$load_dir/pid_churn" 864000 "$rate" &
  load_pids+=($!)
  cores=$(nproc)
  for ((i = 0; i < cores; i++)); do
    (while :; do :; done) &
    load_pids+=($!)
  done
  echo "test: under load: PIDs cycled at $rate forks/s, $cores CPU hogs" >&2
}
if $under_load; then
  start_load || { echo "test: cannot start the load" >&2; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
fi

test_args=(--noshow_progress)
if [[ "${CI:-}" == "true" || "${CRPID_TEST_NO_SKIP:-}" == "1" ]]; then
  test_args+=(--test_env=CRPID_TEST_NO_SKIP=1)
fi

# The test labels a query names, one per line.
labels() { bazel query --noshow_progress "$1" 2>/dev/null; }

# Prints the test.xml of each label in a testlogs directory; a label with
# none (it did not build or run) becomes one failed test case.
test_results() {  # test_results TESTLOGS LABEL...
  local testlogs=$1 label path
  shift
  for label in "$@"; do
    path=${label#//}
    path=${path/://}
    if [[ -f $testlogs/$path/test.xml ]]; then
      cat "$testlogs/$path/test.xml"
    else
      echo "<testcase name=\"$label\"><failure message=\"no test.xml\"/></testcase>"
    fi
  done
}

failed_runs=0
step_pid=
step() {  # step NAME COMMAND…: runs it, timed; counts a failed run
  local name=$1 start=$SECONDS
  shift
  if $under_load; then
    # In the background and waited for, so that INT and TERM reach their
    # traps (which end the step and stop the load) at once, not when the
    # step ends.
    "$@" &
    step_pid=$!
    wait "$step_pid" || failed_runs=$((failed_runs + 1))
    step_pid=
  else
    "$@" || failed_runs=$((failed_runs + 1))
  fi
  echo "test: $name took $((SECONDS - start)) s" >&2
}

mapfile -t normal < <(labels 'tests(//...) except attr(tags, "manual", tests(//...))')
mapfile -t sanitized < <(labels 'tests(//tests:sanitizer_tests) + tests(//tests/fuzz:corpus_tests)')
mapfile -t fuzzed < <(labels 'tests(//tests/fuzz:fuzz_tests)')

step "the normal build and its tests" bazel test "${test_args[@]}" //...
# Ten test cases check what only the shipped static binary has, or need
# what ASan takes (its shadow memory, a process for LeakSanitizer at exit);
# they run in the normal build above and are left out of this one rather
# than counted as skips (CRPID_SKIP_IN_SANITIZER_BUILD says why in each).
not_sanitized_cases=Cli.BinaryIsStaticPie:SetMm.CrpidAsAnInterpreterIsRefused
not_sanitized_cases+=:SetMm.BssLargerThanMemoryIsRefused
not_sanitized_cases+=:ForkAt.NsLastPidRefusedWhenTheProbeCannotTell
not_sanitized_cases+=:ForkTree.PagemapIsRefusedInBoundedMemory:ForkTree.FailedAllocationIsOneLine
not_sanitized_cases+=:MapFilesDump.VerifyReadsAHugeManifestOnlyToItsBound
not_sanitized_cases+=:ForkTree.LargeEnvironmentIsSharedNotCopiedPerProcess
not_sanitized_cases+=:ForkAt.CheckCreatesNoProcess
not_sanitized_cases+=:OutputIntegrity.DescriptorLimitIsNotAMissingProcess
step "the ASan+UBSan build and its tests" bazel test "${test_args[@]}" --config=asan \
  --test_filter="-$not_sanitized_cases" //tests:sanitizer_tests //tests/fuzz:corpus_tests
step "libFuzzer: corpus replay and ${CRPID_FUZZ_SECONDS:-20} s per target" \
  scripts/fuzz.sh --ci --seconds "${CRPID_FUZZ_SECONDS:-20}"

read -r passed failed skipped < <(
  {
    test_results "$(bazel info bazel-testlogs 2>/dev/null)" "${normal[@]}"
    test_results "$(bazel info --config=asan bazel-testlogs 2>/dev/null)" "${sanitized[@]}"
    test_results "$(scripts/fuzz.sh --testlogs)" "${fuzzed[@]}"
  } | awk '
      # One <testcase> per test: self-closing when it passed or was skipped
      # without a message; containing <failure> or <skipped> otherwise.
      /<testcase / {
        open = 1; skipped = ($0 ~ /result="skipped"/)
        failed = ($0 ~ /<failure|<error/)
        # Bazel writes a non-gtest target as <testcase …></testcase>.
        if ($0 ~ /\/>[[:space:]]*$/ || $0 ~ /<\/testcase>/) { open = 0; count() }
        next
      }
      open && /<failure/ { failed = 1 }
      open && /<error/ { failed = 1 }
      open && /<skipped/ { skipped = 1 }
      open && /<\/testcase>/ { open = 0; count() }
      function count() {
        if (failed) f++; else if (skipped) s++; else p++
      }
      END { printf "%d %d %d\n", p, f, s }')

# Every file says its license and copyright (REUSE 3.0; .reuse/dep5 covers
# the data files that cannot carry a comment): one more test case.
if lint=$(reuse lint 2>&1); then
  passed=$((passed + 1))
else
  echo "$lint" >&2
  echo "test: reuse lint failed" >&2
  failed=$((failed + 1))
fi

# The release script builds every artifact from the (clean) tree and runs
# each one's own test: one more test case. A developer's tree with changes
# cannot be released: skipped there, never in CI (where the clone is clean).
if [[ -z $(git status --porcelain --untracked-files=normal 2>/dev/null) ]]; then
  if bash scripts/release.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
elif [[ "${CI:-}" == "true" || "${CRPID_TEST_NO_SKIP:-}" == "1" ]]; then
  echo "test: the tree has changes, so scripts/release.sh cannot run" >&2
  failed=$((failed + 1))
else
  echo "test: scripts/release.sh skipped: the tree has uncommitted changes" >&2
  skipped=$((skipped + 1))
fi

# A run that failed without a failing test case (a build error) still fails.
if ((failed_runs > 0 && failed == 0)); then
  echo "test: $failed_runs runs failed without a failing test case" >&2
  failed=1
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
((failed_runs == 0 && failed == 0))
