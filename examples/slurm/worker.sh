#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# The job's application, standing in for a real one: it counts, keeping its
# count in STATE/count, and on SIGUSR1 (the checkpoint signal) writes
# STATE/checkpoint and exits. Restarted with --resume it continues from the
# checkpoint and reports the PID it runs at and its capability sets.
#
# Usage: worker.sh STATE_DIR [--resume]
set -euo pipefail
state=$1
count=0

if [[ ${2:-} == --resume ]]; then
  source "$state/checkpoint"  # count=N pid=P
  echo "restored: PID $$ (checkpointed as PID $pid), resuming at count $count"
  grep -E '^Cap(Inh|Prm|Eff|Amb):' "/proc/$$/status"
  echo "stack limit: $(ulimit -s)"
  for _ in 1 2 3; do count=$((count + 1)); echo "$count" > "$state/count"; done
  echo "done: count $count"
  exit 0
fi

checkpoint() {
  printf 'count=%d\npid=%d\n' "$count" "$$" > "$state/checkpoint.tmp"
  mv "$state/checkpoint.tmp" "$state/checkpoint"
  exit 0
}
trap checkpoint USR1
while :; do
  count=$((count + 1))
  echo "$count" > "$state/count"
  sleep 0.05 &
  wait $!  # interruptible, so the checkpoint signal is handled at once
done
