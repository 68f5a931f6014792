#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the scale-out tests and
# for trying docs/scaling.md's sbatch script: munged, slurmctld and slurmd
# run in the background (no systemd), with their configuration, state,
# logs and PIDs in one scratch folder; stopped by PID.
#
#   scripts/slurm.sh start DIR   # prints SLURM_CONF=DIR/slurm.conf once the node is idle
#   scripts/slurm.sh stop DIR
#
# Needs root and the Debian packages slurm-wlm and munge
# (scripts/install-system-deps.sh installs them).
set -euo pipefail
command=${1:?usage: slurm.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm.sh start|stop DIR}")
conf="$dir/slurm.conf"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_munge() {
  if [ -f /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
    return
  fi
  mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
  [ -f /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
  chmod 0700 /etc/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  chmod 0600 /etc/munge/munge.key
  su -s /bin/sh munge -c /usr/sbin/munged
  touch "$dir/munged.started"
  for _ in $(seq 50); do
    [ -S /run/munge/munge.socket.2 ] && return
    sleep 0.1
  done
  echo "slurm.sh: munged did not start (see /var/log/munge/munged.log)" >&2
  exit 1
}

case "$command" in
  start)
    for tool in slurmctld slurmd sinfo munged mungekey; do
      command -v "$tool" >/dev/null || { echo "slurm.sh: $tool is missing: install slurm-wlm and munge (scripts/install-system-deps.sh)" >&2; exit 1; }
    done
    [ "$(id -u)" -eq 0 ] || { echo "slurm.sh: run as root (slurmd runs jobs as their user)" >&2; exit 1; }
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    start_munge
    cat >"$conf" <<EOF
ClusterName=local
SlurmctldHost=localhost
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=localhost CPUs=$(nproc) RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$conf"
    slurmctld -D -f "$conf" >"$dir/log/slurmctld.out" 2>&1 &
    echo $! >"$dir/slurmctld.daemon"
    slurmd -D -N localhost -f "$conf" >"$dir/log/slurmd.out" 2>&1 &
    echo $! >"$dir/slurmd.daemon"
    for _ in $(seq 120); do
      if sinfo -h -o %T 2>/dev/null | grep -q idle; then
        echo "SLURM_CONF=$conf"
        exit 0
      fi
      sleep 0.5
    done
    echo "slurm.sh: the node did not become idle in 60 s; logs in $dir/log" >&2
    tail -5 "$dir/log/"*.log >&2 || true
    "$0" stop "$dir" || true
    exit 1
    ;;
  stop)
    for daemon in slurmd slurmctld; do
      if [ -f "$dir/$daemon.daemon" ]; then
        kill "$(cat "$dir/$daemon.daemon")" 2>/dev/null || true
        rm -f "$dir/$daemon.daemon"
      fi
    done
    if [ -f "$dir/munged.started" ] && [ -f /run/munge/munged.pid ]; then
      kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
      rm -f "$dir/munged.started"
    fi
    ;;
  *)
    echo "usage: slurm.sh start|stop DIR" >&2
    exit 2
    ;;
esac
