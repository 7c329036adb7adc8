#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmarks `crpid fork-tree` as an unprivileged user: restoring a tree of
# N processes at chosen PIDs, in two shapes, against spawning the same N
# processes with no chosen PIDs (bench/tree_spawner), side by side in one
# run, for N = 1000 and 10000 (SIZES="..." to change):
#   wide: a root and N-1 children;  deep: a parent chain N long.
# Every process `sleep`s until killed; the clock stops once every process
# has exec'd (fork-tree --detach). Targets: wide within 1.15x of spawning,
# deep within 2x of wide, at every size (setup linear in processes
# whatever the shape). Run as root (setcap, setpriv; kernel.pid_max is
# raised for the run if the largest size does not fit, and restored); the
# timed runs are nobody's, from a shell without capabilities, so each crpid
# start is a secure exec. Each run picks a block of PIDs free at that
# moment, away from where new processes land.
set -euo pipefail

runs=${RUNS:-5}
read -r -a sizes <<<"${SIZES:-1000 10000}"
read -r -a shapes <<<"${SHAPES:-wide deep}"

[[ $EUID -eq 0 ]] || { echo "fork_tree_bench.sh: run as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
bazel build --ui_event_filters=-info --noshow_progress //cli:crpid //bench:tree_spawner

tmp=$(mktemp -d)
pid_max=$(</proc/sys/kernel/pid_max)
restore() {
  [[ $(</proc/sys/kernel/pid_max) == "$pid_max" ]] || echo "$pid_max" >/proc/sys/kernel/pid_max
  rm -rf "$tmp"
}
trap restore EXIT
largest=$(printf '%s\n' "${sizes[@]}" | sort -n | tail -1)
cat >"$tmp/free_block.sh" <<'FREE'
# free_block N: the first PID of N consecutive PIDs free now, below
# pid_max, not within 5000 above ns_last_pid (where new processes land).
free_block() {
  local n=$1
  awk -v n="$n" -v max="$(</proc/sys/kernel/pid_max)" \
      -v last="$(</proc/sys/kernel/ns_last_pid)" '
    { used[$1] = 1 }
    END {
      for (start = max - n - 10; start > 300; start -= 211) {
        if (start <= last + 5000 && start + n >= last - 10) continue
        ok = 1
        for (p = start; p < start + n; p++) if (p in used) { ok = 0; break }
        if (ok) { print start; exit }
      }
      exit 1
    }' < <(ls /proc /proc/[0-9]*/task 2>/dev/null | grep -E '^[0-9]+$')
}
FREE
source "$tmp/free_block.sh"
# No room below pid_max for the largest tree (the processes already
# running are spread over it): raise it for the run.
if ! free_block "$largest" >/dev/null; then
  echo $((2 * pid_max > 4 * largest ? 2 * pid_max : 4 * largest)) >/proc/sys/kernel/pid_max
fi
cp bazel-bin/cli/crpid bazel-bin/bench/tree_spawner "$tmp"
chmod 755 "$tmp"
chown nobody "$tmp"
setcap cap_checkpoint_restore+ep "$tmp/crpid"

# The timed loop, as nobody from a capability-less bash: prints one
# "case N µs" line per run; ends each run's processes by PID.
cat >"$tmp/loop.sh" <<'LOOP'
set -euo pipefail
tmp=$1 runs=$2; read -r -a shapes <<<"$3"; shift 3
gone() { for p in "$@"; do while [[ -e /proc/$p ]]; do sleep 0.002; done; done; }
source "$tmp/free_block.sh"
# tree SHAPE N FIRST FILE: root at FIRST leading its session and group.
tree() {
  awk -v shape="$1" -v n="$2" -v first="$3" 'BEGIN {
    printf "{\"format\":\"crpid-process-tree\",\"version\":1,\"root\":%d,\"processes\":[", first
    for (i = 0; i < n; i++) {
      pid = first + i
      ppid = i == 0 ? 1 : (shape == "wide" ? first : pid - 1)
      printf "%s{\"pid\":%d,\"ppid\":%d,\"pgid\":%d,\"sid\":%d,\"argv\":[\"sleep\",\"1000\"]}", \
        (i ? "," : ""), pid, ppid, first, first
    }
    print "]}"
  }' >"$4"
}
for n in "$@"; do
  for ((r = 0; r < runs; r++)); do
    t0=$EPOCHREALTIME
    "$tmp/tree_spawner" "$n" "$tmp/spawned" -- sleep 1000
    t1=$EPOCHREALTIME
    echo "spawn $n $(( (${t1/./} - ${t0/./}) ))"
    mapfile -t pids <"$tmp/spawned"
    kill -9 "${pids[@]}"; gone "${pids[@]}"
    for shape in "${shapes[@]}"; do
      first=$(free_block "$n") || { echo "no block of $n free PIDs below pid_max $(</proc/sys/kernel/pid_max), ns_last_pid $(</proc/sys/kernel/ns_last_pid)" >&2; exit 1; }
      tree "$shape" "$n" "$first" "$tmp/tree.json"
      t0=$EPOCHREALTIME
      "$tmp/crpid" fork-tree --detach "$tmp/tree.json" >/dev/null
      t1=$EPOCHREALTIME
      echo "$shape $n $(( (${t1/./} - ${t0/./}) ))"
      pids=($(seq "$first" $((first + n - 1))))
      kill -9 -- "-$first"; gone "${pids[@]}"
    done
  done
done
LOOP

echo "kernel $(uname -r), $(nproc) cores, pid_max $(</proc/sys/kernel/pid_max)," \
  "load $(cut -d' ' -f1-3 /proc/loadavg), $runs runs"
raw=$(setpriv --reuid=65534 --regid=65534 --clear-groups bash "$tmp/loop.sh" "$tmp" "$runs" \
  "${shapes[*]}" "${sizes[@]}")

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
printf '\n%-46s %12s %12s %12s\n' case "median ms" min max
declare -A med
for n in "${sizes[@]}"; do
  for c in spawn "${shapes[@]}"; do
    values=$(awk -v c=$c -v n=$n '$1 == c && $2 == n {print $3}' <<<"$raw")
    med[$c$n]=$(median <<<"$values")
    case $c in
      spawn) label="spawn $n processes (no chosen PIDs)" ;;
      wide) label="crpid fork-tree, wide, $n processes" ;;
      deep) label="crpid fork-tree, deep chain, $n processes" ;;
    esac
    printf '%-46s %12.1f %12.1f %12.1f\n' "$label" "$(awk "BEGIN{print ${med[$c$n]}/1000}")" \
      "$(sort -n <<<"$values" | head -1 | awk '{print $1/1000}')" \
      "$(sort -n <<<"$values" | tail -1 | awk '{print $1/1000}')"
  done
done
echo
verdict() { awk "BEGIN { print ($1 <= $2) ? \"PASS\" : \"MISS\" }"; }
for n in "${sizes[@]}"; do
  line="$n processes:"
  if [[ -n ${med[wide$n]:-} ]]; then
    wide=$(awk "BEGIN { printf \"%.2f\", ${med[wide$n]} / ${med[spawn$n]} }")
    line+=" wide / spawn ${wide}x (target <= 1.15x: $(verdict "$wide" 1.15))"
  fi
  if [[ -n ${med[deep$n]:-} && -n ${med[wide$n]:-} ]]; then
    deep=$(awk "BEGIN { printf \"%.2f\", ${med[deep$n]} / ${med[wide$n]} }")
    line+=", deep / wide ${deep}x (target <= 2x: $(verdict "$deep" 2))"
  fi
  echo "$line"
done
for c in spawn "${shapes[@]}"; do
  line="$c: per process"
  for n in "${sizes[@]}"; do
    line+=" at $n: $(awk "BEGIN{printf \"%.0f\", ${med[$c$n]}/$n}") µs"
  done
  echo "$line"
done
