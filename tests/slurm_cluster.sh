# SPDX-FileCopyrightText: 2026 The crpid developers
# SPDX-License-Identifier: GPL-2.0-or-later
# A Slurm cluster for the tests, started in a directory of the test's own:
# munged on a socket of its own, slurm.conf, slurmctld. The test starts its
# slurmd daemons itself (on the host, or each in namespaces of its own) and
# waits for them with slurm_cluster_wait_idle. Sourced by slurm_test.sh and
# slurm_multinode_test.sh; every daemon started here is in
# slurm_cluster_pids, for the test's stop handler.
#
#   slurm_cluster_start DIR CLUSTER PORT [CONF_LINE...]
#       munged and slurmctld (on PORT) for cluster CLUSTER; CONF_LINEs (the
#       nodes, the partition, anything else) end slurm.conf. Sets
#       SLURM_CONF (exported) and slurm_cluster_pids; DIR gets munge/,
#       state/, spool/, log/, run/.
#   slurm_cluster_wait_idle COUNT: true once COUNT nodes are idle (2 min).

slurm_cluster_pids=()

slurm_cluster_start() {
  local dir=$1 cluster=$2 port=$3
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
  chown munge:munge "$dir/munge"
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F \
    --socket="$dir/munge/socket" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" \
    >"$dir/log/munged.out" 2>&1 &
  slurm_cluster_pids+=($!)
  for _ in $(seq 600); do [[ -S $dir/munge/socket ]] && break; sleep 0.1; done

  export SLURM_CONF=$dir/slurm.conf
  {
    cat <<CONF
ClusterName=$cluster
SlurmctldHost=$(hostname -s)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmctldPort=$port
StateSaveLocation=$dir/state
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmctldLogFile=$dir/log/slurmctld.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
CONF
    # AuthInfo names the socket unless the caller gives its own.
    printf '%s\n' "${@:4}" | grep -q '^AuthInfo=' ||
      echo "AuthInfo=socket=$dir/munge/socket"
    printf '%s\n' "${@:4}"
  } >"$SLURM_CONF"
  /usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
  slurm_cluster_pids+=($!)
}

slurm_cluster_wait_idle() {
  for _ in $(seq 1200); do
    (($(sinfo -h -N -o '%N %t' 2>/dev/null | grep -c ' idle$') == $1)) && return 0
    sleep 0.1
  done
  return 1
}
