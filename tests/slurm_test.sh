#!/bin/bash
# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# examples/slurm on a real single-node Slurm cluster started here: munged,
# slurmctld (slurm_cluster.sh) and slurmd in the background (stopped by PID
# at the end), the
# checkpoint and restore jobs submitted with sbatch by the unprivileged
# user nobody. Checks, from the restored job's output, that the process runs
# at the PID it had and holds no capability. Needs root.
#
# Usage: slurm_test.sh CRPID EXAMPLE_DIR
set -uo pipefail

crpid_built=$1
example_src=$2
failures=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1"; failures=$((failures + 1)); fi
}

if [[ $EUID -ne 0 ]]; then
  echo "slurm_test: needs root (daemons, setcap)" >&2
  [[ ${CRPID_TEST_NO_SKIP:-} == 1 ]] && exit 1
  exit 0
fi
for tool in munged slurmctld slurmd sbatch; do
  command -v "$tool" >/dev/null || { echo "slurm_test: $tool missing (scripts/install-deps.sh)"; exit 1; }
done

tmp=$(mktemp -d /tmp/crpid-slurm-XXXXXX)
chmod 0755 "$tmp"
source "$(dirname "$0")/slurm_cluster.sh"
slurmd_pid=""
stop() {
  local pid
  for pid in $slurmd_pid "${slurm_cluster_pids[@]}"; do kill "$pid" 2>/dev/null; done
  sleep 0.5
  rm -rf "$tmp"
}
trap stop EXIT

node=$(hostname -s)
mkdir -p "$tmp/bin"
# Ports of its own: slurm_multinode_test.sh uses 16837 and 16841-16844.
slurm_cluster_start "$tmp" crpidtest 16817 \
  "SlurmdPort=16818" \
  "SlurmdSpoolDir=$tmp/spool" \
  "SlurmdPidFile=$tmp/run/slurmd.pid" \
  "SlurmdLogFile=$tmp/log/slurmd.log" \
  "NodeName=$node CPUs=$(nproc) State=UNKNOWN" \
  "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
/usr/sbin/slurmd -D -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
slurmd_pid=$!
up=false
slurm_cluster_wait_idle 1 && up=true
check "single-node cluster up (sinfo: node idle)" $up || { tail -20 "$tmp"/log/*; exit 1; }

# crpid as a site installs it, and the example, where nobody can reach them.
install -m 0755 "$crpid_built" "$tmp/bin/crpid"
setcap cap_checkpoint_restore+ep "$tmp/bin/crpid"
cp -r "$example_src" "$tmp/example"
chmod -R a+rX "$tmp/example"
mkdir "$tmp/job" && chown nobody:nogroup "$tmp/job"

submit() {  # submit SCRIPT OUTPUT: sbatch as nobody, waiting for the end
  # From a shell holding no capability, like a user's, that lifted its stack
  # limit as batch scripts of Fortran codes do (Slurm propagates it).
  (cd "$tmp/job" && setpriv --reuid=65534 --regid=65534 --clear-groups \
    bash -c 'ulimit -s unlimited && exec "$@"' submit \
    sbatch --wait --quiet --chdir="$tmp/job" --output="$tmp/job/$2" \
    --export="ALL,STATE=$tmp/job,CRPID=$tmp/bin/crpid,EXAMPLE_DIR=$tmp/example" \
    "$1")
}

job_output=""
run_job() {  # run_job NAME SCRIPT: submit, check, show and keep its output
  check "$1 job succeeded" submit "$2" "$1.out"
  job_output=$(cat "$tmp/job/$1.out" 2>/dev/null)
  echo "$1 job said:"
  echo "$job_output" | sed 's/^/  /'
}

run_job checkpoint "$tmp/example/checkpoint.sbatch"
pid=$(sed -n 's/^pid=//p' "$tmp/job/checkpoint" 2>/dev/null)
count=$(sed -n 's/^count=//p' "$tmp/job/checkpoint" 2>/dev/null)
check "checkpoint recorded a PID ($pid) and a count ($count)" test -n "$pid" -a -n "$count"

run_job restore "$tmp/example/restore.sbatch"
out=$job_output
check "restored process runs at the checkpointed PID $pid" \
  grep -qx "restored: PID $pid (checkpointed as PID $pid), resuming at count $count" <<<"$out"
for set in CapInh CapPrm CapEff CapAmb; do
  check "restored process holds no capability ($set)" \
    grep -qxE "$set:[[:space:]]+0000000000000000" <<<"$out"
done
check "it resumed from the checkpoint" grep -qx "done: count $((count + 3))" <<<"$out"
check "it has the job's stack limit (unlimited), not the secure exec's 8 MiB" \
  grep -qx "stack limit: unlimited" <<<"$out"

# srun tasks: the task's parent is slurmstepd (8 MiB), so only the
# variable, exported once by the batch script, carries the job's limit.
source "$(dirname "$0")/free_pid.sh"
srun_pid=$(free_pid)
cat >"$tmp/job/srun.sbatch" <<SCRIPT
#!/bin/bash
set -euo pipefail
echo "without: \$(srun $tmp/bin/crpid fork-at $srun_pid -- sh -c 'ulimit -s')"
export CRPID_RLIMIT_STACK=\$(ulimit -s)
srun $tmp/bin/crpid fork-at $srun_pid -- sh -c 'echo "with: \$\$ \$(ulimit -s)"'
SCRIPT
chmod a+rx "$tmp/job/srun.sbatch"
run_job srun "$tmp/job/srun.sbatch"
srun_out=$job_output
check "srun task at PID $srun_pid with the job's stack limit through CRPID_RLIMIT_STACK" \
  grep -qx "with: $srun_pid unlimited" <<<"$srun_out"
check "without it an srun task gets 8 MiB (documented)" \
  grep -qx "without: 8192" <<<"$srun_out"
check "the job ran as nobody" test "$(stat -c %U "$tmp/job/count")" = nobody

echo "slurm_test: $failures failed"
((failures == 0))
