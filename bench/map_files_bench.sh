#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmarks `crpid map-files-dump` against cat and GNU cp copying the same
# /proc/PID/map_files entries (a 1 GiB dense memfd, a 1 GiB sparse one) of
# a helper process, and, for many small mappings (500 / 2,000 / 8,000
# memfds of 64 KiB, 4 KiB written), against tar copying the saved files
# followed by sync; prints tables and the ratios with PASS/MISS against the
# targets. Writes on the project's disk (beside the repository, or in
# $MAP_FILES_BENCH_DIR), not in a tmp dir that may be slow for metadata.
# Run as root, so that cat and cp may open map_files.
# Exits 0 on MISS (a measurement); non-zero only if something failed to run.
set -euo pipefail

runs=7              # per tool and case; odd, so the median is one run
size=$((1 << 30))   # of each memfd, as memfd_holder makes them
rss_target_kib=16384

[[ $EUID -eq 0 ]] || { echo "map_files_bench.sh: run as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
[[ -x /usr/bin/time ]] || apt-get install -y -qq time >/dev/null
bazel build --ui_event_filters=-info --noshow_progress //cli:crpid \
  //bench:memfd_holder //tests:map_files_target
crpid=$PWD/bazel-bin/cli/crpid
holder=$PWD/bazel-bin/bench/memfd_holder
small_holder=$PWD/bazel-bin/tests/map_files_target
small_counts=(500 2000 8000)

tmp=$(mktemp -d "${MAP_FILES_BENCH_DIR:-$PWD/..}/map_files_bench.XXXXXX")
out=$tmp/out
holder_pid=
stop_holder() {
  if [[ -n $holder_pid ]]; then
    kill "$holder_pid" 2>/dev/null || true
    wait "$holder_pid" 2>/dev/null || true
    holder_pid=
  fi
}
small_mount=
trap 'stop_holder; [[ -z $small_mount ]] || umount "$small_mount"; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# start_holder KIND...: a holder of those memfds; sets range[KIND].
declare -A range
start_holder() {
  local lines line
  stop_holder
  exec {holder_fd}< <(exec "$holder" "$@")
  holder_pid=$!
  mapfile -t -u "$holder_fd" lines  # ends when the holder closes stdout
  exec {holder_fd}<&-
  ((${#lines[@]} == $#)) || { echo "memfd_holder $* failed" >&2; exit 1; }
  for line in "${lines[@]}"; do range[${line% *}]=${line#* }; done
}

# Writes back all that is dirty, so that one run's pages do not slow the
# next; sync waits for writeback, the loop for whatever came after it.
settle() {
  local tries
  sync
  for ((tries = 0; tries < 30; tries++)); do
    (($(awk '/^(Dirty|Writeback):/ { kib += $2 } END { print kib }' \
      /proc/meminfo) < 4096)) && return
    sleep 0.1
  done
}

# timed CMD...: runs CMD (stdout as the caller redirects it) under GNU time;
# sets elapsed_us and rss_kib (peak RSS).
timed() {
  local start=$EPOCHREALTIME end
  /usr/bin/time -f %M -o "$tmp/rss" "$@"
  end=$EPOCHREALTIME
  elapsed_us=$((${end/[.,]/} - ${start/[.,]/}))
  rss_kib=$(<"$tmp/rss")
}

# Allocated bytes of the files given, each checked to be a whole copy.
allocated() {
  stat -c '%s %b %B %n' "$@" | awk -v size="$size" '
    $1 != size { print "wrong size: " $0 > "/dev/stderr"; exit 1 }
    { bytes += $2 * $3 } END { print bytes }'
}

# record KEY US RSS ALLOCATED: one run of a table row.
record() { echo "$2 $3 $4" >>"$tmp/$1.runs"; }

# run_tool CASE TOOL: one timed copy. crpid fsyncs what it saves; the
# baselines are recorded without, and with `sync FILE` (an fsync of that
# file) timed right after them.
run_tool() {
  local case=$1 tool=$2 src=/proc/$holder_pid/map_files/${range[$1]:-}
  local tool_us tool_rss alloc
  settle
  case $tool in
    crpid) timed "$crpid" map-files-dump --only memfd "$holder_pid" -o "$out" ;;
    cat) timed cat "$src" >"$out" ;;
    cp) timed cp --sparse=always "$src" "$out" ;;
  esac
  if [[ $tool == crpid ]]; then
    alloc=$(allocated "$out"/files/*)
    record "$case.crpid" "$elapsed_us" "$rss_kib" "$alloc"
  else
    tool_us=$elapsed_us tool_rss=$rss_kib
    timed sync "$out"
    alloc=$(allocated "$out")
    record "$case.$tool" "$tool_us" "$tool_rss" "$alloc"
    record "$case.$tool+sync" $((tool_us + elapsed_us)) "$tool_rss" "$alloc"
  fi
  rm -rf "$out"
}

# measure CASE TOOL...: $runs rounds, every other one in reverse order so
# that no tool always runs first.
measure() {
  local case=$1 round i
  shift
  local tools=("$@")
  for ((round = 0; round < runs; round++)); do
    for ((i = 0; i < ${#tools[@]}; i++)); do
      if ((round % 2)); then
        run_tool "$case" "${tools[${#tools[@]} - 1 - i]}"
      else
        run_tool "$case" "${tools[i]}"
      fi
    done
  done
}

echo "kernel $(uname -r), $(nproc) cores, load $(cut -d" " -f1-3 /proc/loadavg)," \
  "$(findmnt -no FSTYPE -T "$tmp")" \
  "at $tmp, $(cp --version | head -1), $runs runs each"
# small_case N: N memfds of 64 KiB (4 KiB written) in one process; crpid
# dumps them (syncing what it saved), then tar copies the saved files to a
# new directory followed by sync, $runs rounds alternating which goes first.
# Each N writes on a fresh ext4 filesystem of its own (a loop file on the
# project's disk): on the shared one, the runs measured other writers (one
# syncfs waits for their dirty data too) and ext4's bookkeeping of files
# others had just deleted — it skips inodes freed in the last 5 s (300 s
# while their inode table block is dirty) and reads each to tell (perf:
# recently_deleted), which made creates cost up to 1 ms. For the same
# reason nothing is deleted between runs.
small_case() {
  local n=$1 round pid first dir=$tmp/small$1
  rm -f "$tmp/target/ready"
  mkdir -p "$tmp/target" "$dir"
  truncate -s 4G "$tmp/small.img"
  mkfs.ext4 -q -F "$tmp/small.img"
  mount -o loop "$tmp/small.img" "$dir"
  small_mount=$dir
  "$small_holder" "$tmp/target" memfds "$n" &
  pid=$!
  while [[ ! -e $tmp/target/ready ]]; do sleep 0.01; done
  for ((round = 0; round < runs; round++)); do
    for first in 0 1; do
      if (((round + first) % 2 == 0)); then
        settle
        timed "$crpid" map-files-dump "$pid" -o "$dir/dump.$round"
        record "small$n.crpid" "$elapsed_us" "$rss_kib" 0
      else
        local source=$dir/dump.$round
        if [[ ! -d $source ]]; then
          source=$dir/source.$round
          "$crpid" map-files-dump "$pid" -o "$source"
        fi
        settle
        timed sh -c 'mkdir "$2" && tar -C "$1" -cf - files | tar -C "$2" -xf - && sync -f "$2"' \
          sh "$source" "$dir/tar.$round"
        record "small$n.tar+sync" "$elapsed_us" "$rss_kib" 0
      fi
    done
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  umount "$dir"
  small_mount=
  rm -f "$tmp/small.img"
}

for n in "${small_counts[@]}"; do small_case "$n"; done
start_holder dense
measure dense crpid cat cp
start_holder sparse
measure sparse crpid cat cp
start_holder dense sparse
measure both crpid
stop_holder

# summary KEY: median µs, then median, min, max seconds, peak RSS KiB and
# allocated bytes.
summary() {
  sort -n "$tmp/$1.runs" | awk '
    { us[NR] = $1; if ($2 > rss) rss = $2; if ($3 > bytes) bytes = $3 }
    END { m = us[int((NR + 1) / 2)]
          printf "%d %.4f %.4f %.4f %d %d\n", m, m / 1e6, us[1] / 1e6,
                 us[NR] / 1e6, rss, bytes }'
}
declare -A median rss bytes
echo
echo "dense: 1 GiB memfd, all data; sparse: 1 GiB memfd, 8 KiB of data;" \
  "both: the two in one dump; smallN: N memfds of 64 KiB, 4 KiB written." \
  "RSS: peak of the copying tool."
printf '%-38s %8s %17s %12s %8s\n' case "median s" "min–max s" \
  "allocated B" "RSS KiB"
for case in dense sparse both "${small_counts[@]/#/small}"; do
  for tool in crpid cat cat+sync cp cp+sync tar+sync; do
    key=$case.$tool
    [[ -e $tmp/$key.runs ]] || continue
    read -r med_us med low high peak alloc < <(summary "$key")
    median[$key]=$med_us rss[$key]=$peak bytes[$key]=$alloc
    case $tool in
      crpid) label="crpid map-files-dump" ;;
      cat*) label="cat > FILE" ;;
      cp*) label="cp --sparse=always" ;;
      tar*) label="tar c | tar x" ;;
    esac
    [[ $tool == *+sync ]] && label+="; sync"
    [[ $tool == cat+sync || $tool == cp+sync ]] && label+=" FILE"
    [[ $tool == tar+sync ]] && label+=" -f DIR"
    printf '%-38s %8s %17s %12s %8s\n' "$case: $label" "$med" \
      "$low–$high" "$alloc" "$peak"
  done
done

# verdict NAME VALUE OP TARGET SHOWN: one line of the checks.
verdict() {
  local result=-
  if [[ -n $4 ]]; then
    result=$(awk "BEGIN { print ($2 $3 $4) ? \"PASS\" : \"MISS\" }")
  fi
  printf '%-44s %12s %12s %6s\n' "$1" "$5" "${4:+$3 $4}" "$result"
}
# ratio NAME TOP BOTTOM [TARGET]: of medians, at most TARGET.
ratio() {
  local value
  value=$(awk "BEGIN { printf \"%.2f\", ${median[$2]} / ${median[$3]} }")
  verdict "$1" "$value" "<=" "${4:-}" "${value}x"
}
echo
echo "crpid syncs what it saves (one syncfs, then its directories); the baselines are" \
  "timed without fsync and with \`sync FILE\` (fsync of the copy) after."
printf '%-44s %12s %12s %6s\n' check value target result
ratio "dense: crpid / (cp + sync)" dense.crpid dense.cp+sync 1.2
ratio "dense: crpid / cp, cp without fsync" dense.crpid dense.cp
ratio "dense: crpid / (cat + sync)" dense.crpid dense.cat+sync
ratio "sparse: crpid / (cp + sync)" sparse.crpid sparse.cp+sync 3
ratio "sparse: crpid / cp, cp without fsync" sparse.crpid sparse.cp
median[sum]=$((${median[dense.crpid]} + ${median[sparse.crpid]}))
ratio "both: crpid / (dense crpid + sparse crpid)" both.crpid sum
verdict "sparse: crpid allocated B (target: cp's)" "${bytes[sparse.crpid]}" \
  == "${bytes[sparse.cp]}" "${bytes[sparse.crpid]}"
for n in "${small_counts[@]}"; do
  ratio "small$n: crpid / (tar + sync)" "small$n.crpid" "small$n.tar+sync" 1.5
done
last=${small_counts[-1]} first=${small_counts[0]}
per_file=$(awk "BEGIN { printf \"%.2f\", (${median[small$last.crpid]} / $last) / (${median[small$first.crpid]} / $first) }")
verdict "small: crpid time per file, $last / $first" "$per_file" "<=" 1.2 "${per_file}x"
for n in "${small_counts[@]}"; do
  printf '%-44s %12s\n' "small$n: crpid ms per file" \
    "$(awk "BEGIN { printf \"%.3f\", ${median[small$n.crpid]} / $n / 1000 }")"
done
for case in dense sparse both; do
  verdict "$case: crpid peak RSS KiB" "${rss[$case.crpid]}" \
    "<" "$rss_target_kib" "${rss[$case.crpid]}"
done
