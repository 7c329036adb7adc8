#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# examples/slurm/multinode on a simulated 4-node Slurm cluster started here:
# munged and slurmctld on the host, and four slurmd daemons, each in a UTS,
# PID and mount namespace of its own (hostname nodeN, its own /proc), all at
# 127.0.0.1 on ports of their own. Every daemon is stopped by its PID at the
# end, whatever happened. Jobs are submitted by nobody from a shell holding
# no capability. node3 has the lowest scheduling weight, so a job that names
# no nodes starts on node[1-3]:
#   1. checkpoint on node[1-3], every rank at PID 4242 of its node;
#   2. restore with the PIDs free: on node[1-3], every rank and child at its
#      recorded PID, no capability, count and memfd bytes as checkpointed;
#   3. PID 4242 held on node3 by a live process, RESTORE_ATTEMPTS=1: the
#      job fails after the check step, saying what holds the PID; no rank
#      started anywhere, nothing left on any node;
#      Submitted with --exclude=node4, it fails too: two nodes would be
#      left for it; and with --nodelist=node[1-3]: it cannot move;
#   4. the same with the default attempts: the job requeues itself
#      excluding node3 and is restored on node[1-2,4], every rank at its
#      PID; nothing started on node3, nothing left anywhere;
#   5. the holder ends while the check step waits for it (PID_WAIT): the
#      job is restored on node[1-3] without a requeue.
# Prints how long the restore took without and with the collision.
# Needs root.
#
# Usage: slurm_multinode_test.sh CRPID RANK EXAMPLE_DIR
set -uo pipefail

crpid_built=$1
rank_built=$2
example_src=$3
rank_pid=4242
failures=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1"; failures=$((failures + 1)); fi
}
now() { echo $(($(date +%s%N) / 1000000)); }  # ms
seconds_since() { local ms=$(($(now) - $1)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
fails() { ! "$@"; }

if [[ $EUID -ne 0 ]]; then
  echo "slurm_multinode_test: needs root (daemons, namespaces, setcap)" >&2
  [[ ${CRPID_TEST_NO_SKIP:-} == 1 ]] && exit 1
  exit 0
fi
for tool in munged slurmctld slurmd sbatch unshare nsenter pgrep; do
  command -v "$tool" >/dev/null || { echo "slurm_multinode_test: $tool missing (scripts/install-deps.sh)"; exit 1; }
done

nodes=(node1 node2 node3 node4)
tmp=$(mktemp -d /tmp/crpid-slurm-mn-XXXXXX)
chmod 0755 "$tmp"
# Host PIDs: unshare; the node's init (PID 1 in its namespace: bash, which
# reaps what Slurm's daemons orphan there); slurmd.
declare -A unshare_pid node_pid slurmd_pid
daemon_pids=()  # munged, slurmctld
holder_pid=""   # host PID of nsenter running the holder
holder_pids=""  # the holder's PIDs inside node3: crpid and sleep

stop_pid() {  # stop_pid PID: SIGTERM, then SIGKILL after 5 s
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}
stop() {
  local node
  [[ -n $holder_pid ]] && stop_pid "$holder_pid"
  # slurmd first; then the node's init, whose end makes the kernel kill
  # whatever else runs in the namespace; unshare (--kill-child) follows.
  for node in "${nodes[@]}"; do
    [[ -n ${slurmd_pid[$node]:-} ]] && stop_pid "${slurmd_pid[$node]}"
    [[ -n ${node_pid[$node]:-} ]] && stop_pid "${node_pid[$node]}"
    [[ -n ${unshare_pid[$node]:-} ]] && stop_pid "${unshare_pid[$node]}"
  done
  for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do stop_pid "${daemon_pids[i]}"; done
  rm -rf "$tmp"
}
trap stop EXIT

in_node() {  # in_node NODE COMMAND...: run in the node's PID and mount namespaces
  nsenter -t "${node_pid[$1]}" -p -m -u "${@:2}"
}
# The processes of a node's PID namespace other than its init, slurmd and
# the test's holder, as "PID STATE COMM" lines seen from inside it.
node_processes() {
  local pid state comm
  in_node "$1" ps -e -o pid=,stat=,comm= | while read -r pid state comm; do
    [[ $pid == 1 || $comm == slurmd || $comm == ps ]] && continue
    [[ $1 == node3 && " $holder_pids " == *" $pid "* ]] && continue
    echo "$pid $state $comm"
  done
}

cluster_start=$(now)
source "$(dirname "$0")/slurm_cluster.sh"
mkdir -p "$tmp/bin"
# Ports of their own: slurm_test.sh uses 16817/16818.
node_lines=()
port=16841
for node in "${nodes[@]}"; do
  weight=2
  [[ $node == node3 ]] && weight=1
  node_lines+=("NodeName=$node NodeAddr=127.0.0.1 Port=$port CPUs=$(nproc) Weight=$weight State=UNKNOWN")
  port=$((port + 1))
done
# cred_expire: a requeued job starts again only after this many seconds
# (Slurm's default 120; 5 is its least). sched_interval: the scheduler
# looks at pending jobs every second, not every 60.
slurm_cluster_start "$tmp" crpidmn 16837 \
  "AuthInfo=socket=$tmp/munge/socket,cred_expire=10" \
  "SchedulerParameters=sched_interval=1" \
  "SlurmdSpoolDir=$tmp/spool/%n" \
  "SlurmdPidFile=$tmp/run/slurmd-%n.pid" \
  "SlurmdLogFile=$tmp/log/slurmd-%n.log" \
  "${node_lines[@]}" \
  "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
daemon_pids=("${slurm_cluster_pids[@]}")
for node in "${nodes[@]}"; do
  unshare --uts --pid --mount --fork --mount-proc --kill-child bash -c '
      hostname "$1" || exit 1
      /usr/sbin/slurmd -D -N "$1" -f "$2" &
      trap "kill $!" TERM
      wait $!; wait $!' init "$node" "$SLURM_CONF" >"$tmp/log/slurmd-$node.out" 2>&1 &
  unshare_pid[$node]=$!
done
for node in "${nodes[@]}"; do  # unshare's child (PID 1 of the node), its child
  for _ in $(seq 600); do
    node_pid[$node]=$(pgrep -P "${unshare_pid[$node]}")
    [[ -n ${node_pid[$node]} ]] && slurmd_pid[$node]=$(pgrep -P "${node_pid[$node]}" -x slurmd)
    [[ -n ${slurmd_pid[$node]:-} ]] && break
    sleep 0.1
  done
done
up=false
slurm_cluster_wait_idle ${#nodes[@]} && up=true
cluster_time=$(seconds_since "$cluster_start")
check "4-node cluster up in $cluster_time s (sinfo: node1-4 idle)" $up ||
  { sinfo -N; tail -20 "$tmp"/log/*; exit 1; }
for node in "${nodes[@]}"; do
  check "$node: slurmd (host PID ${slurmd_pid[$node]}) in a PID namespace of its own, hostname $node" \
    test "$(in_node "$node" pgrep -x slurmd | wc -l) $(in_node "$node" hostname)" = "1 $node" -a \
    "$(readlink "/proc/${slurmd_pid[$node]}/ns/pid")" != "$(readlink /proc/self/ns/pid)"
done

# crpid as a site installs it, and the example, where nobody can reach them.
install -m 0755 "$crpid_built" "$tmp/bin/crpid"
setcap cap_checkpoint_restore+ep "$tmp/bin/crpid"
mkdir "$tmp/example"
cp "$example_src"/*.sbatch "$example_src"/check_pids.sh "$tmp/example/"
install -m 0755 "$rank_built" "$tmp/example/rank"
chmod -R a+rX "$tmp/example"
mkdir "$tmp/job" "$tmp/job/state" && chown -R nobody:nogroup "$tmp/job"
state=$tmp/job/state

job_id=""        # the last job submit started
extra_export="" # more VAR=VALUE,... for the next submit
submit() {  # submit SCRIPT OUTPUT SBATCH_OPTION...: sbatch as nobody, waiting
  local job_state
  # From a shell holding no capability, like a user's.
  job_id=$(cd "$tmp/job" && setpriv --reuid=65534 --regid=65534 --clear-groups \
    bash -c 'exec "$@"' submit sbatch --parsable --chdir="$tmp/job" --output="$tmp/job/$2" \
    --export="ALL,STATE=$state,CRPID=$tmp/bin/crpid,EXAMPLE_DIR=$tmp/example,START_PID=$rank_pid${extra_export:+,$extra_export}" \
    "${@:3}" "$1") || return 1
  # Polled here: sbatch --wait looks only every few seconds.
  for _ in $(seq 3600); do
    job_state=$(scontrol show job -o "$job_id" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case $job_state in
      COMPLETED) return 0 ;;
      PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED) sleep 0.05 ;;
      *) echo "job $job_id: $job_state"; return 1 ;;
    esac
  done
  echo "job $job_id: still $job_state after 180 s"
  return 1
}
job_field() { scontrol show job -o "$job_id" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
show() { echo "$1 job said:"; sed 's/^/  /' "$tmp/job/$1.out" 2>/dev/null; }

# PID map values: pid_of KEY.
pid_of() { sed -n "s/^$1 //p" "$state/pids"; }
# Every node's namespace holds nothing but slurmd (and, on node3, the
# holder) once a step has ended; Slurm may take a moment to reap it.
nodes_clean() {
  local node left
  for _ in $(seq 600); do
    left=""
    for node in "${nodes[@]}"; do
      left+=$(node_processes "$node" | sed "s/^/ $node:/")
    done
    [[ -z $left ]] && return 0
    sleep 0.1
  done
  echo "left on the nodes: $left"
  return 1
}

# 1. Checkpoint on node[1-3].
started=$(now)
check "checkpoint job on node[1-3] succeeded" submit "$tmp/example/checkpoint.sbatch" checkpoint.out \
  --nodelist='node[1-3]'
checkpoint_time=$(seconds_since "$started")
show checkpoint
echo "PID map:"; sed 's/^/  /' "$state/pids"
for rank in 0 1 2; do
  check "rank $rank recorded at PID $rank_pid, its child at $(pid_of "$rank.child")" \
    test "$(pid_of "$rank")" = "$rank_pid" -a -n "$(pid_of "$rank.child")"
  check "rank $rank's memfd dump verifies" \
    setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/bin/crpid" map-files-dump \
    --verify "$state/rank.$rank.maps"
done
checkpoint_nodes=$(sed -n 's/^node=//p' "$state"/rank.? | sort -u | tr '\n' ' ')
check "the ranks ran on three nodes ($checkpoint_nodes)" test "$checkpoint_nodes" = "node1 node2 node3 "

# What a restore job said about each rank, from its output OUT:
# restored_field OUT RANK FIELD.
restored_field() {
  grep "^restored rank=$2 " "$1" | sed -n "s/.* $3=\([^ ]*\).*/\1/p"
}
# check_restored OUT NODES: every rank and child at its recorded PID, on
# NODES (as "nodeA nodeB nodeC "), holding no capability, resumed where it
# was checkpointed.
check_restored() {
  local out=$1 nodes=$2 rank process on=""
  for rank in 0 1 2; do
    field() { restored_field "$out" "$rank" "$1"; }
    check "rank $rank at its recorded PID $(pid_of "$rank") on $(field node) (checkpointed on $(field checkpoint_node))" \
      test "$(field pid)" = "$(pid_of "$rank")"
    check "rank $rank's child at its recorded PID $(pid_of "$rank.child")" \
      test "$(field child)" = "$(pid_of "$rank.child")"
    check "rank $rank resumed at count $(field recorded_count)" \
      test -n "$(field count)" -a "$(field count)" = "$(field recorded_count)"
    check "rank $rank's memfd bytes are the checkpoint's (checksum $(field recorded_checksum))" \
      test -n "$(field checksum)" -a "$(field checksum)" = "$(field recorded_checksum)"
    for process in rank child; do
      check "rank $rank's $process holds no capability" grep -qx \
        "caps rank=$rank process=$process CapInh=0\{16\} CapPrm=0\{16\} CapEff=0\{16\} CapAmb=0\{16\}" "$out"
    done
    check "rank $rank counted on" grep -qx "resumed rank=$rank count=$(($(field count) + 3))" "$out"
    on+="$(field node)"$'\n'
  done
  check "restored on $nodes" test "$(sort <<<"$on" | sed '/^$/d' | tr '\n' ' ')" = "$nodes"
}
# hold_pid: a live process at PID 4242 on node3 (sleep, through crpid).
hold_pid() {
  in_node node3 "$tmp/bin/crpid" fork-at "$rank_pid" -- sleep 300 >"$tmp/log/holder.out" 2>&1 &
  holder_pid=$!
  # Until crpid's child has exec'd, its comm is crpid's.
  for _ in $(seq 600); do
    [[ $(in_node node3 cat "/proc/$rank_pid/comm" 2>/dev/null) == sleep ]] && break
    sleep 0.1
  done
  check "holder at PID $rank_pid on node3" \
    test "$(in_node node3 cat "/proc/$rank_pid/comm" 2>/dev/null)" = sleep
  holder_pids="$rank_pid $(in_node node3 ps -o ppid= -p "$rank_pid")"
}
end_holder() {
  in_node node3 kill "$rank_pid"
  wait "$holder_pid"
  holder_pid=""
  holder_pids=""
}

# 2. Restore with every PID free: on node[1-3] (node3 weighs least).
started=$(now)
check "restore job with the PIDs free succeeded" submit "$tmp/example/restore.sbatch" restore.out
free_time=$(seconds_since "$started")
show restore
check "every node answered free at once" fails grep -q 'became free' "$tmp/job/restore.out"
check_restored "$tmp/job/restore.out" "node1 node2 node3 "
check "restored in one run (Restarts=$(job_field Restarts))" test "$(job_field Restarts)" = 0
check "nothing is left on any node" nodes_clean

# 3. PID 4242 held on node3 for good, one attempt allowed: the job fails
# before any rank starts.
hold_pid
extra_export="PID_WAIT=2,RESTORE_ATTEMPTS=1"
check "restore job with PID $rank_pid held on node3 and RESTORE_ATTEMPTS=1 failed" \
  fails submit "$tmp/example/restore.sbatch" restore-held.out
show restore-held
out=$tmp/job/restore-held.out
check "it says what holds PID $rank_pid on node3" \
  grep -qx "restore: node3: rank 2's PIDs still held after 2 s: $rank_pid: held by process 'sleep' (uid 0); $(pid_of 2.child): free" "$out"
check "it says it was not requeued" grep -q "^restore: not requeued: this was run 1 of at most 1" "$out"
check "no rank started" fails grep -q '^restored ' "$out"
check "nothing of the failed job is left on any node" nodes_clean

# 3b. The same, submitted without node4: node3 excluded too, two nodes
# would be left for a 3-node job, so it is not requeued; submitted for
# node[1-3], it cannot move off node3.
extra_export="PID_WAIT=2"
check "restore job with PID $rank_pid held on node3, submitted with --exclude=node4, failed" \
  fails submit "$tmp/example/restore.sbatch" restore-too-few.out --exclude=node4
show restore-too-few
out=$tmp/job/restore-too-few.out
check "it says too few nodes are left to requeue" grep -qx \
  "restore: not requeued: partition debug has 2 nodes outside node\[3-4\], the job needs 3; nothing was started" "$out"
check "not requeued (Restarts=$(job_field Restarts)), no rank started" \
  test "$(job_field Restarts)" = 0 -a -z "$(grep '^restored ' "$out")"
check "nothing of the failed job is left on any node" nodes_clean
check "restore job with PID $rank_pid held on node3, submitted with --nodelist=node[1-3], failed" \
  fails submit "$tmp/example/restore.sbatch" restore-pinned.out --nodelist='node[1-3]'
show restore-pinned
out=$tmp/job/restore-pinned.out
check "it says the job cannot move off node3" grep -qx \
  "restore: not requeued: the job was submitted for node3 (--nodelist); submit it with --nodes only; nothing was started" "$out"
check "not requeued (Restarts=$(job_field Restarts)), no rank started" \
  test "$(job_field Restarts)" = 0 -a -z "$(grep '^restored ' "$out")"
check "nothing of the failed job is left on any node" nodes_clean

# 4. The same with up to 3 runs: requeued without node3, restored on
# node[1-2,4].
extra_export="PID_WAIT=2"
started=$(now)
check "restore job with PID $rank_pid held on node3 succeeded" \
  submit "$tmp/example/restore.sbatch" restore-requeued.out
held_time=$(seconds_since "$started")
show restore-requeued
out=$tmp/job/restore-requeued.out
check "run 1 was on node[1-3]" grep -qx "restore: job $job_id run 1 of at most 3 on node\[1-3\]" "$out"
check "it says what holds PID $rank_pid on node3" \
  grep -qx "restore: node3: rank 2's PIDs still held after 2 s: $rank_pid: held by process 'sleep' (uid 0); $(pid_of 2.child): free" "$out"
check "it says it requeued itself without node3" \
  grep -qx "restore: requeued job $job_id excluding node3, for run 2 of at most 3; nothing was started" "$out"
check "no rank started before the requeue" \
  test "$(sed -n '/^restore: requeued/q;/^restored /p' "$out")" = ""
check "run 2 was on node[1-2,4], excluding node3" \
  grep -qx "restore: job $job_id run 2 of at most 3 on node\[1-2,4\] (excluded: node3)" "$out"
check "Slurm counts one requeue (Restarts=$(job_field Restarts)) and excludes node3 (ExcNodeList=$(job_field ExcNodeList))" \
  test "$(job_field Restarts) $(job_field ExcNodeList)" = "1 node3"
check_restored "$out" "node1 node2 node4 "
check "the holder still holds PID $rank_pid on node3" \
  test "$(in_node node3 cat "/proc/$rank_pid/comm" 2>/dev/null)" = sleep
check "nothing is left on any node" nodes_clean

# 5. The holder ends while the check step waits for it: no requeue.
extra_export="PID_WAIT=60"
(
  # Once node3's check task waits (crpid fork-at --check --wait), end the
  # holder.
  for _ in $(seq 600); do
    in_node node3 pgrep -f -- 'fork-at --check --wait' >/dev/null && break
    sleep 0.1
  done
  sleep 0.5
  in_node node3 kill "$rank_pid"
) &
killer=$!
check "restore job whose holder ends during the check succeeded" \
  submit "$tmp/example/restore.sbatch" restore-waited.out
wait "$killer"
wait "$holder_pid"
holder_pid=""
holder_pids=""
show restore-waited
out=$tmp/job/restore-waited.out
check "it waited for PID $rank_pid on node3, and only there" \
  test "$(grep 'became free' "$out" | sed 's/after [0-9]* s/after N s/')" = \
  "restore: node3: rank 2's PIDs became free after N s"
check "no requeue" fails grep -q '^restore: requeued' "$out"
check_restored "$out" "node1 node2 node3 "
check "restored in one run (Restarts=$(job_field Restarts))" test "$(job_field Restarts)" = 0
check "nothing is left on any node" nodes_clean
check "the jobs ran as nobody" test "$(stat -c %U "$state/rank.0")" = nobody

# 4. Stop the cluster: slurmd by its host PID; the node's init then
# returns, which ends the namespace, and unshare exits.
stopped=true
for node in "${nodes[@]}"; do
  stop_pid "${slurmd_pid[$node]}"
  wait "${unshare_pid[$node]}" 2>/dev/null
  for pid in "${slurmd_pid[$node]}" "${node_pid[$node]}" "${unshare_pid[$node]}"; do
    kill -0 "$pid" 2>/dev/null && stopped=false
  done
done
check "every slurmd and its namespace ended" $stopped

echo "slurm_multinode_test: cluster start $cluster_time s, checkpoint job $checkpoint_time s"
echo "slurm_multinode_test: restore job, PIDs free: $free_time s; PID $rank_pid held on node3 (check, wait 2 s, requeue, restore elsewhere): $held_time s"
echo "slurm_multinode_test: $failures failed"
((failures == 0))
