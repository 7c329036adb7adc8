#!/usr/bin/env bash
# Benchmarks `crpid fork-tree` as an unprivileged user: restoring a tree of
# N processes (a root and N-1 children, each `sleep`ing until killed) at
# chosen PIDs, against spawning the same N processes with no chosen PIDs
# (bench/tree_spawner), side by side in one run, for N = 100 and 1000.
# Both stop the clock once every process has exec'd (fork-tree --detach).
# Run as root (setcap, setpriv); the timed runs are nobody's, from a shell
# without capabilities, so each crpid start is a secure exec.
set -euo pipefail

runs=${RUNS:-7}
sizes=(100 1000)

[[ $EUID -eq 0 ]] || { echo "fork_tree_bench.sh: run as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
bazel build --ui_event_filters=-info --noshow_progress //cli:crpid //bench:tree_spawner

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp bazel-bin/cli/crpid bazel-bin/bench/tree_spawner "$tmp"
chmod 755 "$tmp"
chown nobody "$tmp"
setcap cap_checkpoint_restore+ep "$tmp/crpid"

pid_max=$(</proc/sys/kernel/pid_max)
# A block of free PIDs near the top, away from where new processes land.
first=$((pid_max - 1200))
for ((pid = first; pid < first + 1000; pid++)); do
  [[ -e /proc/$pid ]] && { echo "PID $pid is in use; rerun later" >&2; exit 1; }
done

# tree N FILE: root at $first leading its session, N-1 children in its group.
tree() {
  local n=$1 file=$2 i
  {
    echo '{"format":"crpid-process-tree","version":1,"root":'"$first"',"processes":['
    echo '{"pid":'"$first"',"ppid":1,"pgid":'"$first"',"sid":'"$first"',"argv":["sleep","1000"]}'
    for ((i = 1; i < n; i++)); do
      echo ',{"pid":'$((first + i))',"ppid":'"$first"',"pgid":'"$first"',"sid":'"$first"',"argv":["sleep","1000"]}'
    done
    echo ']}'
  } >"$file"
}

# The timed loop, as nobody from a capability-less bash: prints one
# "case N µs" line per run; ends each run's processes by PID.
cat >"$tmp/loop.sh" <<'LOOP'
set -euo pipefail
tmp=$1 first=$2 runs=$3; shift 3
gone() { for p in "$@"; do while [[ -e /proc/$p ]]; do sleep 0.002; done; done; }
for n in "$@"; do
  for ((r = 0; r < runs; r++)); do
    t0=$EPOCHREALTIME
    "$tmp/tree_spawner" "$n" "$tmp/spawned" -- sleep 1000
    t1=$EPOCHREALTIME
    echo "spawn $n $(( (${t1/./} - ${t0/./}) ))"
    mapfile -t pids <"$tmp/spawned"
    kill -9 "${pids[@]}"; gone "${pids[@]}"
    t0=$EPOCHREALTIME
    "$tmp/crpid" fork-tree --detach "$tmp/tree$n.json" >/dev/null
    t1=$EPOCHREALTIME
    echo "forktree $n $(( (${t1/./} - ${t0/./}) ))"
    pids=($(seq "$first" $((first + n - 1))))
    kill -9 "${pids[@]}"; gone "${pids[@]}"
  done
done
LOOP
for n in "${sizes[@]}"; do tree "$n" "$tmp/tree$n.json"; done
chown nobody "$tmp"/*.json

echo "kernel $(uname -r), $(nproc) cores, pid_max $pid_max, PIDs $first..$((first + 999)), $runs runs"
raw=$(setpriv --reuid=65534 --regid=65534 --clear-groups bash "$tmp/loop.sh" "$tmp" "$first" \
  "$runs" "${sizes[@]}")

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
printf '\n%-46s %12s %12s %12s\n' case "median ms" min max
declare -A med
for n in "${sizes[@]}"; do
  for c in spawn forktree; do
    values=$(awk -v c=$c -v n=$n '$1 == c && $2 == n {print $3}' <<<"$raw")
    med[$c$n]=$(median <<<"$values")
    label="spawn $n processes (no chosen PIDs)"
    [[ $c == forktree ]] && label="crpid fork-tree, $n processes"
    printf '%-46s %12.1f %12.1f %12.1f\n' "$label" "$(awk "BEGIN{print ${med[$c$n]}/1000}")" \
      "$(sort -n <<<"$values" | head -1 | awk '{print $1/1000}')" \
      "$(sort -n <<<"$values" | tail -1 | awk '{print $1/1000}')"
  done
done
echo
for n in "${sizes[@]}"; do
  ratio=$(awk "BEGIN { printf \"%.2f\", ${med[forktree$n]} / ${med[spawn$n]} }")
  verdict=$(awk "BEGIN { print ($ratio <= 1.5) ? \"PASS\" : \"MISS\" }")
  echo "fork-tree / spawn, $n processes: ${ratio}x (target <= 1.5x: $verdict)"
done
for c in spawn forktree; do
  echo "$c: per process at 100: $(awk "BEGIN{printf \"%.0f\", ${med[${c}100]}/100}") µs," \
    "at 1000: $(awk "BEGIN{printf \"%.0f\", ${med[${c}1000]}/1000}") µs"
done
