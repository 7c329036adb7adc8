#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmarks `crpid fork-at` as an unprivileged user against a plain spawn
# and against the PID-cycling workaround it replaces; prints a table and the
# ratios with PASS/MISS against the targets. Run as root (setcap, setpriv).
# Exits 0 on MISS (a measurement); non-zero only if something failed to run.
set -euo pipefail

spawn_runs=${SPAWN_RUNS:-300}
cycler_runs=(40 20 15)
aheads=(1000 10000 30000)

[[ $EUID -eq 0 ]] || { echo "fork_at_bench.sh: run as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
bazel build --ui_event_filters=-info --noshow_progress //cli:crpid //bench:all \
  //tests:seccomp_enosys_clone3

# nobody cannot reach bazel-bin (under /root), and the file capability must
# sit on a copy on a filesystem mounted without nosuid.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp bazel-bin/cli/crpid bazel-bin/bench/spawn_timer bazel-bin/bench/pid_cycler \
  bazel-bin/tests/seccomp_enosys_clone3 "$tmp"
chmod 755 "$tmp"
setcap cap_checkpoint_restore+ep "$tmp/crpid"

# setpriv execs spawn_timer, which holds no capability: each crpid it starts
# is a secure exec, as from a user's shell.
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# An ordinary user's crpid writes ns_last_pid only where clone3 set_tid is
# missing: that case runs under a seccomp filter answering ENOSYS for clone3.
without_clone3=("$tmp/seccomp_enosys_clone3" setpriv --reuid=65534 --regid=65534
  --clear-groups)
field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"; }

pid_max=$(</proc/sys/kernel/pid_max)
free_pid=$((pid_max - 1))
while [[ -e /proc/$free_pid ]]; do free_pid=$((free_pid - 1)); done
echo "kernel $(uname -r), $(nproc) cores, pid_max $pid_max," \
  "ns_last_pid $(</proc/sys/kernel/ns_last_pid), fork-at target PID $free_pid"

declare -A result label
label[plain]="(a) plain spawn: env /bin/true"
result[plain]=$(as_nobody "$tmp/spawn_timer" --runs $spawn_runs -- env /bin/true)
letter=b
for method in clone3 ns-last-pid; do
  label[$method]="($letter) crpid fork-at --method $method"
  letter=c
  runner=(as_nobody)
  [[ $method == ns-last-pid ]] && runner=("${without_clone3[@]}")
  result[$method]=$("${runner[@]}" "$tmp/spawn_timer" --runs $spawn_runs -- \
    "$tmp/crpid" fork-at --method $method $free_pid -- /bin/true)
done
for i in "${!aheads[@]}"; do
  ahead=${aheads[i]}
  label[$ahead]="(d) PID cycling, $ahead ahead + /bin/true"
  result[$ahead]=$(as_nobody "$tmp/pid_cycler" --runs "${cycler_runs[i]}" \
    --ahead "$ahead" -- /bin/true)
done

echo
printf '%-44s %12s %22s %5s\n' case "median µs" "p10–p90 µs" runs
for key in plain clone3 ns-last-pid "${aheads[@]}"; do
  r=${result[$key]}
  printf '%-44s %12s %22s %5s\n' "${label[$key]}" "$(field "$r" median_us)" \
    "$(field "$r" p10_us)–$(field "$r" p90_us)" "$(field "$r" runs)"
done

# ratio NAME NUMERATOR DENOMINATOR OP TARGET: one line of the ratio table.
ratio() {
  local top bottom value verdict=-
  top=$(field "${result[$2]}" median_us)
  bottom=$(field "${result[$3]}" median_us)
  value=$(awk "BEGIN { printf \"%.2f\", $top / $bottom }")
  if [[ -n $5 ]]; then
    verdict=$(awk "BEGIN { print ($value $4 $5) ? \"PASS\" : \"MISS\" }")
  fi
  printf '%-44s %9sx %8s %6s\n' "$1" "$value" "${5:+$4 ${5}x}" "$verdict"
}
echo
printf '%-44s %10s %8s %6s\n' "ratio of medians" value target result
ratio "fork-at clone3 / plain spawn" clone3 plain "<=" 1.5
ratio "fork-at ns-last-pid / plain spawn" ns-last-pid plain "<=" 1.5
declare -A target=([10000]=30 [30000]=100)
for ahead in "${aheads[@]}"; do
  ratio "cycling $ahead ahead / fork-at clone3" "$ahead" clone3 ">=" "${target[$ahead]:-}"
done

echo
for ahead in "${aheads[@]}"; do
  r=${result[$ahead]}
  echo "cycler, $ahead ahead: mean overshoot $(field "$r" overshoot_mean) PIDs" \
    "past target, exact $(field "$r" exact), mean $(field "$r" burned_mean) PIDs burned"
done
