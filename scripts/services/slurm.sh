#!/usr/bin/env bash
# A real single-node Slurm (with slurmdbd accounting on the running MariaDB) for tests and demos.
#
#   slurm.sh install          install the Debian packages when missing (the test command runs it)
#   slurm.sh start DIR [DB]   write a complete config under DIR, start munged, slurmdbd, slurmctld
#                             and slurmd as background daemons (root, no systemd) and wait until
#                             the node is idle; DB is slurmdbd's database (default nora_slurm_acct,
#                             dropped and re-created). Prints `export SLURM_CONF=DIR/etc/slurm.conf`.
#   slurm.sh stop DIR         stop the daemons started under DIR (by their pid files)
#
# Environment: NORA_MYSQL_HOST/PORT/USER/PASSWORD (default 127.0.0.1, 3306, root, empty),
# NORA_SLURM_CPUS (CPUs advertised by the node, default 16; more than the cores lets arrays run wide).
set -euo pipefail

pkgs=(slurmctld slurmd slurm-client munge slurmdbd)

install() {
  local need=() p
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing Slurm packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}" >/dev/null
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_pidfile() {  # stop the daemon whose pid is in $1, waiting up to 10 s
  local f=$1 pid i
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop() {
  local dir=$1 conf pid i
  dir=$(realpath -m "$dir"); conf=$dir/etc/slurm.conf
  if [ -s "$dir/run/slurmctld.pid" ] && kill -0 "$(cat "$dir/run/slurmctld.pid")" 2>/dev/null; then
    SLURM_CONF=$conf scancel --user="$(id -un)" 2>/dev/null || true
    for i in $(seq 50); do
      [ -z "$(SLURM_CONF=$conf squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1
    done
  fi
  # job processes that outlived their job: a SLURM_JOB_ID and this cluster's SLURM_CONF
  for pid in $(grep -lsxzF "SLURM_CONF=$conf" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
    [ "$pid" = "$$" ] && continue
    tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -q '^SLURM_JOB_ID=' || continue
    kill -9 "$pid" 2>/dev/null || true
  done
  stop_pidfile "$dir/run/slurmd.pid"
  stop_pidfile "$dir/run/slurmctld.pid"
  stop_pidfile "$dir/run/slurmdbd.pid"
  stop_pidfile "$dir/run/munged.pid"
}

start() {
  local dir db host mhost mport muser mpass cpus ctld_port d_port dbd_port sock conf
  dir=$(realpath -m "$1"); db=${2:-nora_slurm_acct}
  for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || { echo "Slurm is not installed: run '$0 install'" >&2; exit 2; }
  done
  host=$(hostname -s)
  mhost=${NORA_MYSQL_HOST:-127.0.0.1}; mport=${NORA_MYSQL_PORT:-3306}
  muser=${NORA_MYSQL_USER:-root}; mpass=${NORA_MYSQL_PASSWORD:-}
  cpus=${NORA_SLURM_CPUS:-16}
  mkdir -p "$dir"/{etc,munge,run,log,state,spool}
  chmod 755 "$dir" "$dir"/{etc,run,log,state,spool}; chmod 700 "$dir/munge"
  sock=$dir/munge/munge.socket

  # munge: its own key and socket
  [ -s "$dir/munge/munge.key" ] || { head -c 1024 /dev/urandom >"$dir/munge/munge.key"; }
  chmod 600 "$dir/munge/munge.key"
  trap 'stop "$dir"' ERR
  munged --force --socket="$sock" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed"

  # accounting database: fresh, so job ids (which restart at 1) never meet old records
  MYSQL_PWD=$mpass mysql -h "$mhost" -P "$mport" -u "$muser" \
    -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\`;"

  ctld_port=$(free_port); d_port=$(free_port); dbd_port=$(free_port)
  while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done
  while [ "$dbd_port" = "$ctld_port" ] || [ "$dbd_port" = "$d_port" ]; do dbd_port=$(free_port); done

  cat >"$dir/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$sock
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
PidFile=$dir/run/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=$mhost
StoragePort=$mport
StorageUser=$muser
$( [ -n "$mpass" ] && echo "StoragePass=$mpass" )
StorageLoc=$db
EOF
  chmod 600 "$dir/etc/slurmdbd.conf"

  conf=$dir/etc/slurm.conf
  cat >"$conf" <<EOF
ClusterName=nora
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
AccountingStoragePass=$sock
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MaxArraySize=10001
MaxJobCount=100000
MinJobAge=300
KillWait=2
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
MessageTimeout=30
NodeName=$host CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=DPXproc Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=DPXimport Nodes=$host Default=NO MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$conf

  trap 'echo "Slurm failed to start; logs in $dir/log" >&2; stop "$dir"' ERR
  slurmdbd   # reads slurmdbd.conf beside $SLURM_CONF
  local i
  for i in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$dbd_port") 2>/dev/null && break; sleep 0.1
  done
  slurmctld -f "$conf"
  slurmd -f "$conf"
  for i in $(seq 300); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case $state in idle|idle\*|mix|alloc) break;; esac
    sleep 0.1
  done
  case ${state:-} in
    idle|mix|alloc) ;;
    *) echo "Slurm node did not become idle (state '${state:-none}'); logs in $dir/log" >&2
       stop "$dir"; exit 1;;
  esac
  # sacct answers only once the cluster is registered with slurmdbd
  for i in $(seq 100); do sacct -n -X -j 1 >/dev/null 2>&1 && break; sleep 0.1; done
  echo "export SLURM_CONF=$conf"
}

case ${1:-} in
  install) install ;;
  start) [ $# -ge 2 ] || { echo "usage: $0 start DIR [DB]" >&2; exit 2; }; start "$2" "${3:-}" ;;
  stop) [ $# -ge 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
  *) echo "usage: $0 install | start DIR [DB] | stop DIR" >&2; exit 2 ;;
esac
