#!/bin/bash
# examples/slurm/multinode on a simulated 4-node Slurm cluster started here:
# munged and slurmctld on the host, and four slurmd daemons, each in a UTS,
# PID and mount namespace of its own (hostname nodeN, its own /proc), all at
# 127.0.0.1 on ports of their own. Every daemon is stopped by its PID at the
# end, whatever happened. Jobs are submitted by nobody from a shell holding
# no capability:
#   1. checkpoint on node[1-3], every rank at PID 4242 of its node;
#   2. restore on node[2-4] with PID 4242 taken on node3: that task fails
#      with crpid's line naming the holder, the step is killed, no rank at
#      a wrong PID, nothing left on any node;
#   3. restore on node[2-4] with the PIDs free: every rank and child at its
#      recorded PID, no capability, count and memfd bytes as checkpointed.
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
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool" "$tmp/log" "$tmp/run" "$tmp/bin"
chown munge:munge "$tmp/munge"
setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
  --socket="$tmp/munge/socket" --pid-file="$tmp/munge/munged.pid" \
  --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/seed" \
  >"$tmp/log/munged.out" 2>&1 &
daemon_pids+=($!)
for _ in $(seq 600); do [[ -S $tmp/munge/socket ]] && break; sleep 0.1; done

# Ports of their own: slurm_test.sh uses 16817/16818.
export SLURM_CONF=$tmp/slurm.conf
{
  cat <<CONF
ClusterName=crpidmn
SlurmctldHost=$(hostname -s)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmctldPort=16837
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/%n
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd-%n.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd-%n.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
CONF
  port=16841
  for node in "${nodes[@]}"; do
    echo "NodeName=$node NodeAddr=127.0.0.1 Port=$port CPUs=$(nproc) State=UNKNOWN"
    port=$((port + 1))
  done
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
} >"$SLURM_CONF"

/usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
daemon_pids+=($!)
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
for _ in $(seq 1200); do
  if [[ $(sinfo -h -N -o '%N %t' 2>/dev/null | grep -c ' idle$') -eq ${#nodes[@]} ]]; then
    up=true
    break
  fi
  sleep 0.1
done
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
cp "$example_src"/*.sbatch "$tmp/example/"
install -m 0755 "$rank_built" "$tmp/example/rank"
chmod -R a+rX "$tmp/example"
mkdir "$tmp/job" "$tmp/job/state" && chown -R nobody:nogroup "$tmp/job"
state=$tmp/job/state

submit() {  # submit SCRIPT OUTPUT SBATCH_OPTION...: sbatch as nobody, waiting
  local job job_state
  # From a shell holding no capability, like a user's.
  job=$(cd "$tmp/job" && setpriv --reuid=65534 --regid=65534 --clear-groups \
    bash -c 'exec "$@"' submit sbatch --parsable --chdir="$tmp/job" --output="$tmp/job/$2" \
    --export="ALL,STATE=$state,CRPID=$tmp/bin/crpid,EXAMPLE_DIR=$tmp/example,START_PID=$rank_pid" \
    "${@:3}" "$1") || return 1
  # Polled here: sbatch --wait looks only every few seconds.
  for _ in $(seq 3600); do
    job_state=$(scontrol show job -o "$job" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case $job_state in
      COMPLETED) return 0 ;;
      PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED) sleep 0.05 ;;
      *) echo "job $job: $job_state"; return 1 ;;
    esac
  done
  echo "job $job: still $job_state after 60 s"
  return 1
}
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

# 2. Restore with PID 4242 taken on node3.
in_node node3 "$tmp/bin/crpid" fork-at "$rank_pid" -- sleep 300 >"$tmp/log/holder.out" 2>&1 &
holder_pid=$!
for _ in $(seq 600); do in_node node3 test -e "/proc/$rank_pid" && break; sleep 0.1; done
check "holder at PID $rank_pid on node3" \
  test "$(in_node node3 cat "/proc/$rank_pid/comm" 2>/dev/null)" = sleep
holder_pids="$rank_pid $(in_node node3 ps -o ppid= -p "$rank_pid")"
started=$(now)
check "restore job with PID $rank_pid taken on node3 failed" \
  fails submit "$tmp/example/restore.sbatch" restore-taken.out --nodelist='node[2-4]'
failed_time=$(seconds_since "$started")
show restore-taken
check "crpid's one line names the holder" \
  grep -qx "crpid: fork-at: PID $rank_pid (held by 'sleep') is already in use; pick a free PID, or end the process that holds it" \
  "$tmp/job/restore-taken.out"
wrong=$(grep '^restored ' "$tmp/job/restore-taken.out" | while read -r _ rank _ pid _; do
  rank=${rank#rank=}
  [[ ${pid#pid=} == "$(pid_of "$rank")" ]] || echo "rank $rank at ${pid#pid=}"
done)
check "no rank ran at a wrong PID ($(grep -c '^restored ' "$tmp/job/restore-taken.out") started before the step was killed)" \
  test -z "$wrong"
check "nothing of the failed step is left on any node" nodes_clean
in_node node3 kill "$rank_pid"
wait "$holder_pid"
holder_pid=""
holder_pids=""

# 3. Restore on node[2-4] with the PIDs free.
started=$(now)
check "restore job on node[2-4] succeeded" submit "$tmp/example/restore.sbatch" restore.out \
  --nodelist='node[2-4]'
restore_time=$(seconds_since "$started")
show restore
out=$tmp/job/restore.out
declare -A restored_on
for rank in 0 1 2; do
  line=$(grep "^restored rank=$rank " "$out")
  field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  restored_on[$rank]=$(field node)
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
done
restore_nodes=$(printf '%s\n' "${restored_on[@]}" | sort | tr '\n' ' ')
check "restored on node[2-4], another node set ($restore_nodes)" test "$restore_nodes" = "node2 node3 node4 "
check "PID $rank_pid in use on several nodes at once" \
  test "$(grep -c "^restored rank=[0-9]* node=node[0-9] pid=$rank_pid " "$out")" -ge 2
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

echo "slurm_multinode_test: cluster start $cluster_time s, checkpoint job $checkpoint_time s, failing restore job $failed_time s, restore job $restore_time s"
echo "slurm_multinode_test: $failures failed"
((failures == 0))
