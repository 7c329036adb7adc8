#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One task of restore.sbatch's check step: are the PIDs this task's rank
# needs on this node (its own, KEY = SLURM_PROCID, and its child's,
# KEY.child) free? Creates nothing (crpid fork-at --check). A PID still
# held by something that goes away (a zombie PID 1 has not reaped yet, the
# old job's processes being torn down) is asked about again every half
# second for up to WAIT seconds. Prints one line and exits 0:
#   free NODE RANK
#   free NODE RANK after N s     (held at first)
#   held NODE RANK: what crpid says holds each PID
# and exits 1 (after one "error NODE RANK: ..." line) when crpid cannot
# answer at all (a bad PID map, crpid missing): no reason to move the job.
#
# Usage: check_pids.sh PID_MAP WAIT
set -uo pipefail
map=$1
wait_seconds=$2
crpid=${CRPID:-crpid}
rank=${SLURM_PROCID:?not run by srun}
node=${SLURMD_NODENAME:-$(hostname -s)}

# The two PIDs in one answer; 0 all free, 1 some held, other: no answer.
check() {
  local key status=0 code
  for key in "$rank" "$rank.child"; do
    "$crpid" fork-at --check --pid-map "$map" --key "$key" 2>&1
    code=$?
    ((code > status)) && status=$code
  done
  return "$status"
}

start=$SECONDS
deadline=$((start + wait_seconds))
waited=""
while :; do
  answer=$(check)
  status=$?
  one_line=$(tr '\n' ' ' <<<"$answer" | sed 's/ *$//')
  case $status in
    0) echo "free $node $rank${waited:+ after $((SECONDS - start)) s}"; exit 0 ;;
    1) ((SECONDS >= deadline)) && { echo "held $node $rank: $one_line"; exit 0; } ;;
    *) echo "error $node $rank: $one_line"; exit 1 ;;
  esac
  waited=yes
  sleep 0.5
done
