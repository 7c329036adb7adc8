#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmarks `crpid fork-at --check` (src/pid_holder.h) on N free PIDs, the
# case that needs the pass over /proc/*/stat for group and session IDs, for
# N = 1, 100 and 1000, side by side in one run with `ps -e -o pid,pgid,sid`,
# which reads every /proc/*/stat once as well. One pass per request means
# the 1000-PID check costs about what the 100-PID one does, and both about
# one ps. Run as root (setcap, setpriv); the timed runs are nobody's, from a
# shell without capabilities, so each crpid start is a secure exec.
set -euo pipefail

runs=${RUNS:-11}

[[ $EUID -eq 0 ]] || { echo "pid_check_bench.sh: run as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
bazel build --ui_event_filters=-info --noshow_progress //cli:crpid

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp bazel-bin/cli/crpid "$tmp"
chmod 755 "$tmp"
setcap cap_checkpoint_restore+ep "$tmp/crpid"

pid_max=$(</proc/sys/kernel/pid_max)
first=$((pid_max - 1200))
seq "$first" $((first + 999)) >"$tmp/pids"

cat >"$tmp/loop.sh" <<'LOOP'
set -euo pipefail
tmp=$1 runs=$2
mapfile -t all <"$tmp/pids"
for ((r = 0; r < runs; r++)); do
  t0=$EPOCHREALTIME; ps -e -o pid=,pgid=,sid= >/dev/null; t1=$EPOCHREALTIME
  echo "ps-scan 0 $(( ${t1/./} - ${t0/./} ))"
  for n in 1 100 1000; do
    t0=$EPOCHREALTIME
    "$tmp/crpid" fork-at --check "${all[@]:0:n}" >/dev/null || true
    t1=$EPOCHREALTIME
    echo "check $n $(( ${t1/./} - ${t0/./} ))"
  done
done
LOOP

setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
  bash "$tmp/loop.sh" "$tmp" "$runs" >"$tmp/times"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ps_us=$(awk '$1=="ps-scan"{print $3}' "$tmp/times" | median)
processes=$(find /proc -maxdepth 1 -name "[0-9]*" 2>/dev/null | wc -l)
echo "processes on the machine: $processes; medians of $runs runs (µs)"
echo "ps -e (one /proc scan): $ps_us"
for n in 1 100 1000; do
  us=$(awk -v n="$n" '$1=="check" && $2==n {print $3}' "$tmp/times" | median)
  eval "check_$n=$us"
  awk -v n="$n" -v us="$us" -v ps="$ps_us" \
    'BEGIN {printf "fork-at --check, %4d free PIDs: %7d  (%.2fx ps)\n", n, us, us / ps}'
done
awk -v a="$check_100" -v b="$check_1000" \
  'BEGIN {printf "growth 100 -> 1000 PIDs: %.2fx\n", b / a}'
