#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmarks `crpid set-mm -- /bin/true` (crpid loads /bin/true itself and
# sets its exe link with PR_SET_MM_MAP) against `env /bin/true` (two execs),
# as an unprivileged user with the file capability, in one run; prints both
# and the ratio with PASS/MISS against the target (at most 2x).
# Exits 0 on MISS (a measurement); non-zero only if something failed to run.
set -euo pipefail

runs=300

[[ $EUID -eq 0 ]] || { echo "set_mm_bench.sh: run as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
bazel build --ui_event_filters=-info --noshow_progress //cli:crpid //bench:spawn_timer

# nobody cannot reach bazel-bin (under /root); the capability sits on a copy.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp bazel-bin/cli/crpid bazel-bin/bench/spawn_timer "$tmp"
chmod 755 "$tmp"
setcap cap_checkpoint_restore+ep "$tmp/crpid"

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"; }

echo "kernel $(uname -r), $(nproc) cores; $runs runs each, as nobody"
plain=$(as_nobody "$tmp/spawn_timer" --runs $runs -- env /bin/true)
set_mm=$(as_nobody "$tmp/spawn_timer" --runs $runs -- "$tmp/crpid" set-mm -- /bin/true)
set_mm_exe=$(as_nobody "$tmp/spawn_timer" --runs $runs -- \
  "$tmp/crpid" set-mm --exe /bin/false -- /bin/true)

echo
printf '%-46s %12s %22s\n' case "median µs" "p10–p90 µs"
row() {
  printf '%-46s %12s %22s\n' "$1" "$(field "$2" median_us)" \
    "$(field "$2" p10_us)–$(field "$2" p90_us)"
}
row "(a) env /bin/true" "$plain"
row "(b) crpid set-mm -- /bin/true" "$set_mm"
row "(c) crpid set-mm --exe /bin/false -- /bin/true" "$set_mm_exe"

echo
for name in set_mm set_mm_exe; do
  value=$(awk "BEGIN { printf \"%.2f\", $(field "${!name}" median_us) / $(field "$plain" median_us) }")
  verdict=$(awk "BEGIN { print ($value <= 2.0) ? \"PASS\" : \"MISS\" }")
  printf '%-46s %9sx  <= 2x  %s\n' "${name//_/-} / env /bin/true" "$value" "$verdict"
done
