#!/usr/bin/env bash
# Local test Slurm cluster for runspec: one host emulating three GPU nodes.
#
# Usage: tests/cluster/slurm.sh install|start|stop|status
#
#   install  install slurmctld, slurmd, slurm-client and munge from Debian (skipped when present)
#   start    write the config, start munged, slurmctld and one slurmd per node, wait until idle;
#            a no-op when the cluster is already up
#   stop     cancel every job, stop the daemons and wait until they are gone
#   status   print sinfo; exit 0 only if every node is idle, mixed or allocated
#
# Layout: nodes node1..node3 (CPUs=64 each via config_overrides, Gres=gpu:8 backed by fake
# character devices), one partition `debug` (Default=YES) holding all of them, every daemon on
# 127.0.0.1. No accounting: finished jobs stay in `scontrol show job ID` for MinJobAge=300 s.
#
# Where the config lives: slurm.conf and gres.conf are written to /etc/slurm, the place every
# Slurm client looks by default, so plain sbatch/squeue/scontrol/scancel/srun work from any later
# process without SLURM_CONF. This is meant for throwaway machines (root, no systemd) and means
# one cluster per machine. Everything else (spool, state, logs, pid files, fake devices) lives in
# the state folder: $RUNSPEC_SLURM_DIR, default /tmp/runspec-slurm.
set -euo pipefail

# The daemons live in /usr/sbin, which a non-login environment may leave off PATH.
PATH=$PATH:/usr/sbin:/sbin
STATE_DIR=${RUNSPEC_SLURM_DIR:-/tmp/runspec-slurm}
CONF_DIR=/etc/slurm
CONF_FILE=$CONF_DIR/slurm.conf
NODES=(node1 node2 node3)
NODE_LIST="node[1-${#NODES[@]}]"
NODE_PORT_BASE=17000
CTLD_PORT=6817
GPUS_PER_NODE=8
CPUS_PER_NODE=64
REAL_MEMORY_MB=262144
WAIT_SECONDS=30
PACKAGES=(slurmctld slurmd slurm-client munge)
MUNGE_PID=/run/munge/munged.pid
STATE_MARKER="# runspec-slurm-state-dir:"

die() {
    echo "slurm.sh: $*" >&2
    exit 1
}

# ---------------------------------------------------------------- install

packages_installed() {
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || return 1
    done
}

cmd_install() {
    if packages_installed; then
        echo "slurm.sh: packages already installed"
        return 0
    fi
    # Only refresh the package lists when apt does not know the packages yet.
    if ! apt-cache policy slurmctld 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        apt-get update
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"
}

# ---------------------------------------------------------------- processes

# read_pid PIDFILE: print the pid in PIDFILE; fails when there is none. The daemon removes its
# pid file as it exits, so the file may vanish between any two reads.
read_pid() {
    local pid
    pid=$({ tr -dc '0-9' <"$1"; } 2>/dev/null) || return 1
    [[ -n $pid ]] && echo "$pid"
}

# proc_alive PID NAME: PID runs a process called NAME that is not a zombie. A stopped daemon
# is reparented to a pid 1 that reaps late, so kill -0 would still see it.
proc_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # /proc/PID/stat is "pid (comm) state ...": comm may hold spaces, so split at the last ')'.
    [[ ${stat#*(} == "$2)"* ]] || return 1
    [[ ${stat##*) } != Z* ]]
}

pid_alive() {
    local pid
    pid=$(read_pid "$1") || return 1
    proc_alive "$pid" "$2"
}

# stop_pidfile PIDFILE NAME: SIGTERM the daemon, wait (bounded), then SIGKILL.
stop_pidfile() {
    local pidfile=$1 name=$2 pid i
    if pid=$(read_pid "$pidfile") && proc_alive "$pid" "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            proc_alive "$pid" "$name" || break
            sleep 0.1
        done
        if proc_alive "$pid" "$name"; then
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
        ! proc_alive "$pid" "$name" || die "$name (pid $pid) does not stop"
    fi
    rm -f "$pidfile"
}

node_pidfile() { echo "$STATE_DIR/run/slurmd-$1.pid"; }

daemons_alive() {
    local node
    pid_alive "$MUNGE_PID" munged || return 1
    pid_alive "$STATE_DIR/run/slurmctld.pid" slurmctld || return 1
    for node in "${NODES[@]}"; do
        pid_alive "$(node_pidfile "$node")" slurmd || return 1
    done
}

# nodes_ready: sinfo answers and lists every node as idle, mixed or allocated.
nodes_ready() {
    local states
    states=$(timeout 10 sinfo -h -N -o '%N %T' 2>/dev/null) || return 1
    [[ $(grep -cE '^node[0-9]+ (idle|mixed|allocated)$' <<<"$states") -eq ${#NODES[@]} ]]
}

# ---------------------------------------------------------------- config

render_slurm_conf() {
    local host node i
    host=$(hostname -s)
    cat <<EOF
$STATE_MARKER $STATE_DIR
# Written by tests/cluster/slurm.sh: a throwaway single-host test cluster.
ClusterName=runspec
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool/%n
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd-%n.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
EnforcePartLimits=ALL
ReturnToService=2
MailProg=/bin/true
EOF
    for i in "${!NODES[@]}"; do
        node=${NODES[$i]}
        echo "NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$host Port=$((NODE_PORT_BASE + i + 1))" \
            "CPUs=$CPUS_PER_NODE RealMemory=$REAL_MEMORY_MB Gres=gpu:$GPUS_PER_NODE State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=$NODE_LIST Default=YES MaxTime=INFINITE State=UP"
}

render_gres_conf() {
    echo "AutoDetect=off"
    echo "NodeName=$NODE_LIST Name=gpu File=$STATE_DIR/dev/nvidia[0-$((GPUS_PER_NODE - 1))]"
}

# write_atomic PATH: stdin to PATH through a temp file in the same folder.
write_atomic() {
    local path=$1 tmp
    tmp=$(mktemp "$path.XXXXXX")
    cat >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$path"
}

# Refuse to take over /etc/slurm while it points at another live state folder.
check_owner() {
    local other
    [[ -r $CONF_FILE ]] || return 0
    other=$(sed -n "s|^$STATE_MARKER ||p" "$CONF_FILE" | head -1)
    [[ -z $other || $other == "$STATE_DIR" ]] && return 0
    if pid_alive "$other/run/slurmctld.pid" slurmctld; then
        die "a cluster with state folder $other is running; stop it with RUNSPEC_SLURM_DIR=$other $0 stop"
    fi
}

make_fake_gpus() {
    local i dev
    mkdir -p "$STATE_DIR/dev"
    for ((i = 0; i < GPUS_PER_NODE; i++)); do
        dev=$STATE_DIR/dev/nvidia$i
        [[ -c $dev ]] && continue
        rm -f "$dev"
        # Slurm only accepts character devices as GRES files; 1:3 is /dev/null's number.
        mknod "$dev" c 1 3
    done
}

write_config() {
    mkdir -p "$CONF_DIR" "$STATE_DIR"/{ctld,spool,run,log}
    render_slurm_conf | write_atomic "$CONF_FILE"
    render_gres_conf | write_atomic "$CONF_DIR/gres.conf"
}

# ---------------------------------------------------------------- start / stop

start_munge() {
    local i
    pid_alive "$MUNGE_PID" munged && return 0
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        runuser -u munge -- mungekey --create
    fi
    # Daemons get no inherited stdio, so a caller capturing our output is not held open.
    runuser -u munge -- setsid /usr/sbin/munged </dev/null >/dev/null 2>&1
    for ((i = 0; i < 50; i++)); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "munged did not answer; see /var/log/munge/munged.log"
}

start_daemons() {
    local node
    mkdir -p /run/slurm
    pid_alive "$STATE_DIR/run/slurmctld.pid" slurmctld ||
        setsid slurmctld -i </dev/null >/dev/null 2>&1
    for node in "${NODES[@]}"; do
        mkdir -p "$STATE_DIR/spool/$node"
        pid_alive "$(node_pidfile "$node")" slurmd ||
            setsid slurmd -N "$node" </dev/null >/dev/null 2>&1
    done
}

wait_ready() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    while ((SECONDS < deadline)); do
        nodes_ready && return 0
        sleep 0.2
    done
    sinfo -N >&2 || true
    die "nodes not idle after ${WAIT_SECONDS}s; logs in $STATE_DIR/log"
}

cmd_start() {
    if daemons_alive && nodes_ready; then
        return 0
    fi
    local prog
    for prog in slurmctld slurmd munged sinfo; do
        command -v "$prog" >/dev/null || die "Slurm is not installed ($prog missing); run: $0 install"
    done
    check_owner
    # Half-up clusters are restarted whole so they always run the config written below.
    stop_daemons
    make_fake_gpus
    write_config
    start_munge
    start_daemons
    wait_ready
    sinfo
}

cancel_jobs() {
    local jobs i
    pid_alive "$STATE_DIR/run/slurmctld.pid" slurmctld || return 0
    jobs=$(timeout 10 squeue -h -o '%A' 2>/dev/null) || return 0
    [[ -z $jobs ]] && return 0
    # shellcheck disable=SC2086 # one job id per word
    scancel $jobs 2>/dev/null || true
    # slurmstepd outlives slurmd, so wait for the jobs to leave before stopping the daemons.
    for ((i = 0; i < 100; i++)); do
        [[ -z $(timeout 10 squeue -h -t running,completing -o '%A' 2>/dev/null) ]] && return 0
        sleep 0.1
    done
}

stop_daemons() {
    local node
    for node in "${NODES[@]}"; do
        stop_pidfile "$(node_pidfile "$node")" slurmd
    done
    stop_pidfile "$STATE_DIR/run/slurmctld.pid" slurmctld
}

cmd_stop() {
    cancel_jobs
    stop_daemons
    stop_pidfile "$MUNGE_PID" munged
}

cmd_status() {
    if ! daemons_alive; then
        echo "slurm.sh: not every daemon of $STATE_DIR is running" >&2
        return 1
    fi
    timeout 10 sinfo -N || return 1
    nodes_ready
}

main() {
    case ${1:-} in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 install|start|stop|status" >&2
        exit 2
        ;;
    esac
}

main "$@"
