#!/bin/bash
# Installs what the tests need, builds and runs every test, and ends with one
# line "N passed, N failed, N skipped" counted from the test cases' results.
# With CI=true (or CRPID_TEST_NO_SKIP=1) a test that cannot run here fails
# instead of skipping: CI is root and must run them all.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

test_args=(--noshow_progress)
if [[ "${CI:-}" == "true" || "${CRPID_TEST_NO_SKIP:-}" == "1" ]]; then
  test_args+=(--test_env=CRPID_TEST_NO_SKIP=1)
fi

bazel test "${test_args[@]}" //...
bazel_status=$?

testlogs=$(bazel info bazel-testlogs 2>/dev/null)
read -r passed failed skipped < <(
  find "$testlogs/" -name test.xml -print0 2>/dev/null |
    xargs -0 -r cat |
    awk '
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

# A target that did not build or run leaves no test cases to count.
if ((bazel_status != 0 && failed == 0)); then
  echo "test: bazel test exited $bazel_status without a failing test case" >&2
  failed=1
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
((bazel_status == 0 && failed == 0))
