#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# One task of restore.sbatch's check step: are the PIDs this task's rank
# needs on this node (its own, KEY = SLURM_PROCID, and its child's,
# KEY.child) free? Creates nothing (crpid fork-at --check). When one is
# held, crpid waits up to WAIT seconds in all for holders that go away (a
# zombie PID 1 has not reaped yet, the old job's processes being torn
# down), then answers again. Prints one line and exits 0:
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
start=$SECONDS
deadline=$((start + wait_seconds))

# check [--wait]: both PIDs in one answer (crpid's lines, joined); status
# 0 all free, 1 some held, anything else no answer.
check() {
  local key status=0 code wait=()
  for key in "$rank" "$rank.child"; do
    [[ ${1:-} == --wait ]] && wait=(--wait $((deadline > SECONDS ? deadline - SECONDS : 0)))
    "$crpid" fork-at --check "${wait[@]}" --pid-map "$map" --key "$key" 2>&1
    code=$?
    ((code > status)) && status=$code
  done
  return "$status"
}
# answer STATUS WAITED SAID: the line, and the exit.
answer() {
  local said
  said=$(awk 'NF { printf "%s%s", (n++ ? "; " : ""), $0 }' <<<"$3")
  case $1 in
    0) echo "free $node $rank${2:+ after $((SECONDS - start)) s}"; exit 0 ;;
    1) echo "held $node $rank: $said"; exit 0 ;;
    *) echo "error $node $rank: $said"; exit 1 ;;
  esac
}

said=$(check)
status=$?
((status == 1 && wait_seconds > 0)) || answer "$status" "" "$said"
said=$(check --wait)
answer $? waited "$said"
