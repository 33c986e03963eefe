#!/usr/bin/env bash
# A private Slurm test cluster for runspec: one host emulating three GPU nodes, living entirely
# in one folder, so that several can run side by side and none touches the machine's own Slurm.
#
# Usage: tests/cluster/slurm.sh COMMAND [--accounting] [DIR]
#
#   install [--accounting]  install Debian's slurmctld, slurmd, slurm-client, munge (with
#                           --accounting also slurmdbd and mariadb-server); skipped when present
#   start [--accounting]    write DIR's config, start its munged, (mariadbd and slurmdbd,) slurmctld
#                           and one slurmd per node on free ports, wait until every node is idle;
#                           a no-op when DIR's cluster is already up in the same mode
#   stop                    cancel DIR's jobs, stop every process DIR's cluster started, wait
#   status                  print sinfo; exit 0 only if every node is idle, mixed or allocated
#   env                     print `export SLURM_CONF=...` for DIR (eval it to use the cluster)
#
# DIR defaults to $RUNSPEC_SLURM_DIR, else ${TMPDIR:-/tmp}/runspec-cluster-$UID. Clients find
# the cluster through SLURM_CONF=DIR/conf/slurm.conf, which names DIR's munge socket
# (AuthInfo=socket=...), so plain sbatch/squeue/scontrol/srun/sacct work once it is exported;
# jobs inherit it. Layout: nodes node1..node3 (CPUs=64 each via config_overrides, Gres=gpu:8
# backed by fake character devices), one partition `debug` (Default=YES), every daemon on
# 127.0.0.1. Without --accounting finished jobs stay in `scontrol show job ID` for
# MinJobAge=300 s and `sacct` says accounting is disabled; with it, a private MariaDB (own
# datadir, socket and port) and slurmdbd record every job for sacct (accounting.sh).
#
# Every process the cluster starts carries RUNSPEC_TEST_CLUSTER=DIR in its environment (and so
# does everything they fork, slurmstepd included): `stop` ends exactly those processes, and
# nothing outside DIR is written, read as configuration, or stopped. Needs root (slurmd runs
# jobs as their submitters).
set -euo pipefail

# The daemons live in /usr/sbin, which a non-login environment may leave off PATH.
PATH=$PATH:/usr/sbin:/sbin
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODES=(node1 node2 node3)
NODE_LIST="node[1-${#NODES[@]}]"
GPUS_PER_NODE=8
CPUS_PER_NODE=64
REAL_MEMORY_MB=262144
WAIT_SECONDS=60
START_ATTEMPTS=3
MAX_DIR_LENGTH=80
PACKAGES=(slurmctld slurmd slurm-client munge)
ACCOUNTING_PACKAGES=(slurmdbd mariadb-server)
CONF_MARKER="# Written by tests/cluster/slurm.sh: a private single-host test cluster."

die() {
    echo "slurm.sh: $*" >&2
    exit 1
}

# shellcheck source=tests/cluster/accounting.sh
source "$HERE/accounting.sh"

# ---------------------------------------------------------------- install

packages_installed() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || return 1
    done
}

cmd_install() {
    local packages=("${PACKAGES[@]}")
    ((ACCOUNTING)) && packages+=("${ACCOUNTING_PACKAGES[@]}")
    if packages_installed "${packages[@]}"; then
        echo "slurm.sh: packages already installed"
        return 0
    fi
    # Only refresh the package lists when apt has no candidate for a package yet.
    local known
    known=$(apt-cache policy "${packages[@]}" 2>/dev/null | grep -c 'Candidate: [^(]' || true)
    ((known == ${#packages[@]})) || apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
}

# ---------------------------------------------------------------- folder

set_paths() {
    DIR=$1
    CONF=$DIR/conf/slurm.conf
    MUNGE=$DIR/munge
    SOCKET=$MUNGE/munge.socket
    RUN=$DIR/run
    LOG=$DIR/log
    DB=$DIR/db
    MARK="RUNSPEC_TEST_CLUSTER=$DIR"
    export SLURM_CONF=$CONF
}

# resolve_dir DIR: an absolute, normalised DIR (it need not exist yet).
resolve_dir() {
    local dir=$1
    [[ $dir == /* ]] || dir=$PWD/$dir
    realpath -m -- "$dir"
}

# check_dir: DIR is new, empty, or a folder this script wrote; its socket paths fit.
check_dir() {
    ((${#DIR} <= MAX_DIR_LENGTH)) ||
        die "$DIR is too long for the cluster's socket paths (${#DIR} > $MAX_DIR_LENGTH characters); choose a shorter folder"
    [[ -e $DIR && ! -d $DIR ]] && die "$DIR is not a folder"
    [[ -d $DIR ]] || return 0
    [[ -z $(ls -A "$DIR") ]] && return 0
    [[ -f $CONF ]] && [[ $(head -1 "$CONF") == "$CONF_MARKER" ]] && return 0
    die "$DIR is not empty and holds no cluster written by this script; give a new or empty folder"
}

# ---------------------------------------------------------------- processes

# marked_pids: every live process started by DIR's cluster (the marker is in its environment).
marked_pids() {
    local file pid
    for file in $(grep -lzxF -- "$MARK" /proc/[0-9]*/environ 2>/dev/null); do
        pid=${file#/proc/}
        pid=${pid%/environ}
        proc_alive "$pid" && echo "$pid"
    done
    return 0
}

# proc_alive PID [NAME]: PID runs (called NAME) and is not a zombie. A stopped daemon is
# reparented to a pid 1 that may reap late, so kill -0 would still see it.
proc_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # /proc/PID/stat is "pid (comm) state ...": comm may hold spaces, so split at the last ')'.
    [[ -z ${2:-} || ${stat#*(} == "$2)"* ]] || return 1
    [[ ${stat##*) } != Z* ]]
}

# marked_alive NAME: a process called NAME that DIR's cluster started is alive.
marked_alive() {
    local pid
    for pid in $(marked_pids); do
        proc_alive "$pid" "$1" && return 0
    done
    return 1
}

# ours PID: PID was started by DIR's cluster.
ours() {
    grep -qzxF -- "$MARK" "/proc/$1/environ" 2>/dev/null
}

# pid_alive PIDFILE NAME: the pid file names a live process of DIR's cluster called NAME.
pid_alive() {
    local pid
    pid=$({ tr -dc '0-9' <"$1"; } 2>/dev/null) || return 1
    [[ -n $pid ]] && proc_alive "$pid" "$2" && ours "$pid"
}

# stop_pids PID...: SIGTERM, wait (bounded), then SIGKILL what is left.
stop_pids() {
    local pid i left
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        left=()
        for pid in "$@"; do
            proc_alive "$pid" && left+=("$pid")
        done
        ((${#left[@]})) || return 0
        sleep 0.1
    done
    kill -KILL "${left[@]}" 2>/dev/null || true
}

# launch PROG ARGS...: start PROG as one of DIR's processes, detached from our stdio (a caller
# capturing our output is not held open) and from our session.
launch() {
    env "$MARK" setsid "$@" </dev/null >>"$LOG/launch.log" 2>&1
}

# ---------------------------------------------------------------- config

render_slurm_conf() {
    local host=$1 ctld_port=$2 dbd_port=$3 node i first_job_id
    shift 3
    # Job ids differ between clusters, so jobs of clusters running side by side do not share
    # the ports runspec derives from the job id (MASTER_PORT = 20000 + id % 10000).
    first_job_id=$((1000 + (RANDOM * 32768 + RANDOM) % 9000000))
    cat <<EOF
$CONF_MARKER
ClusterName=runspec
FirstJobId=$first_job_id
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd-%n.log
PlugStackConfig=$DIR/conf/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
EnforcePartLimits=ALL
ReturnToService=2
MailProg=/bin/true
EOF
    if ((ACCOUNTING)); then
        echo "AccountingStorageType=accounting_storage/slurmdbd"
        echo "AccountingStorageHost=127.0.0.1"
        echo "AccountingStoragePort=$dbd_port"
        # Connections to slurmdbd take their munge socket from here, not from AuthInfo.
        echo "AccountingStoragePass=$SOCKET"
    else
        echo "AccountingStorageType=accounting_storage/none"
    fi
    for i in "${!NODES[@]}"; do
        node=${NODES[$i]}
        echo "NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$host Port=$1" \
            "CPUs=$CPUS_PER_NODE RealMemory=$REAL_MEMORY_MB Gres=gpu:$GPUS_PER_NODE State=UNKNOWN"
        shift
    done
    echo "PartitionName=debug Nodes=$NODE_LIST Default=YES MaxTime=INFINITE State=UP"
}

render_gres_conf() {
    echo "AutoDetect=off"
    echo "NodeName=$NODE_LIST Name=gpu File=$DIR/dev/nvidia[0-$((GPUS_PER_NODE - 1))]"
}

# write_file PATH MODE: stdin to PATH through a temp file in the same folder.
write_file() {
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    cat >"$tmp"
    chmod "$2" "$tmp"
    mv -f "$tmp" "$1"
}

make_layout() {
    local i dev
    mkdir -p "$DIR"/{conf,ctld,spool,dev} "$RUN" "$LOG" "$MUNGE"
    # munged serves clients of every user: its folder and the folders above must be searchable.
    chmod 755 "$DIR" "$MUNGE"
    for ((i = 0; i < GPUS_PER_NODE; i++)); do
        dev=$DIR/dev/nvidia$i
        [[ -c $dev ]] && continue
        rm -f "$dev"
        # Slurm only accepts character devices as GRES files; 1:3 is /dev/null's number.
        mknod "$dev" c 1 3
    done
}

# write_config PORTS...: slurmctld's port, one per node, then slurmdbd's and MariaDB's.
write_config() {
    local host ctld_port=$1 dbd_port db_port
    shift
    host=$(hostname -s)
    dbd_port=${*:${#NODES[@]}+1:1}
    db_port=${*:${#NODES[@]}+2:1}
    render_slurm_conf "$host" "$ctld_port" "${dbd_port:-0}" "${@:1:${#NODES[@]}}" |
        write_file "$CONF" 644
    render_gres_conf | write_file "$DIR/conf/gres.conf" 644
    : | write_file "$DIR/conf/plugstack.conf" 644
    if ((ACCOUNTING)); then
        # slurmdbd refuses a config that others can read: it holds the database password.
        render_slurmdbd_conf "$host" "$dbd_port" "$db_port" | write_file "$DIR/conf/slurmdbd.conf" 600
    fi
}

config_has_accounting() {
    grep -qx 'AccountingStorageType=accounting_storage/slurmdbd' "$CONF" 2>/dev/null
}

# ---------------------------------------------------------------- munge

start_munge() {
    local i
    [[ -s $MUNGE/munge.key ]] || mungekey --create --keyfile="$MUNGE/munge.key"
    launch munged --socket="$SOCKET" --key-file="$MUNGE/munge.key" \
        --pid-file="$RUN/munged.pid" --log-file="$LOG/munged.log" \
        --seed-file="$MUNGE/munged.seed" ||
        die "munged did not start: $(last_error "$LOG/munged.log")"
    for ((i = 0; i < 100; i++)); do
        munge -S "$SOCKET" -n </dev/null 2>/dev/null | unmunge -S "$SOCKET" >/dev/null 2>&1 &&
            return 0
        sleep 0.1
    done
    die "munged does not answer on $SOCKET; see $LOG/munged.log"
}

# ---------------------------------------------------------------- slurm

start_slurm_daemons() {
    local node
    launch slurmctld -i || return 1
    for node in "${NODES[@]}"; do
        mkdir -p "$DIR/spool/$node"
        launch slurmd -N "$node" || return 1
    done
}

# nodes_ready: sinfo answers and lists every node as idle, mixed or allocated.
nodes_ready() {
    local states
    states=$(timeout 10 sinfo -h -N -o '%N %T' 2>/dev/null) || return 1
    [[ $(grep -cE '^node[0-9]+ (idle|mixed|allocated)$' <<<"$states") -eq ${#NODES[@]} ]]
}

daemons_alive() {
    local node
    pid_alive "$RUN/munged.pid" munged || return 1
    pid_alive "$RUN/slurmctld.pid" slurmctld || return 1
    for node in "${NODES[@]}"; do
        pid_alive "$RUN/slurmd-$node.pid" slurmd || return 1
    done
    if ((ACCOUNTING)); then
        pid_alive "$RUN/mariadbd.pid" mariadbd || return 1
        pid_alive "$RUN/slurmdbd.pid" slurmdbd || return 1
    fi
}

wait_ready() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    while ((SECONDS < deadline)); do
        nodes_ready && return 0
        daemons_alive || return 1
        sleep 0.2
    done
    return 1
}

# last_error LOG: the last error line of LOG, for a one-line message.
last_error() {
    { grep -i 'fatal' "$1" || grep -i 'error' "$1"; } 2>/dev/null | tail -1 || true
}

# port_taken: a daemon of the last attempt could not bind its port.
port_taken() {
    grep -qsE 'Address already in use|errno: 98|error: 98' "$LOG"/*.log
}

# start_once: one attempt on fresh ports; fails when a daemon does not come up.
start_once() {
    local ports count=$((1 + ${#NODES[@]}))
    ((ACCOUNTING)) && count=$((count + 2))
    ports=$(python3 "$HERE/ports.py" "$count") || die "no $count free ports"
    mapfile -t ports <<<"$ports"
    ((ACCOUNTING)) && make_password
    write_config "${ports[@]}"
    start_munge
    if ((ACCOUNTING)); then
        start_mariadb "${ports[-1]}" || return 1
        start_slurmdbd || return 1
    fi
    start_slurm_daemons && wait_ready
}

cmd_start() {
    local prog attempt
    ((EUID == 0)) || die "needs root (slurmd runs jobs as the users who submit them)"
    for prog in slurmctld slurmd munged mungekey sinfo sbatch; do
        command -v "$prog" >/dev/null || die "$prog not found; install with: bash $0 install"
    done
    if ((ACCOUNTING)); then
        for prog in slurmdbd mariadbd mariadb-install-db mariadb sacctmgr; do
            command -v "$prog" >/dev/null ||
                die "$prog not found; install with: bash $0 install --accounting"
        done
    fi
    check_dir
    if [[ -f $CONF ]] && daemons_alive && nodes_ready &&
        [[ $ACCOUNTING -eq $(config_has_accounting && echo 1 || echo 0) ]]; then
        return 0
    fi
    # A half-up cluster is restarted whole so that it always runs the config written below.
    stop_all
    make_layout
    for ((attempt = 1; attempt <= START_ATTEMPTS; attempt++)); do
        rm -f "$LOG"/*.log
        start_once && return 0
        port_taken || break
        stop_all
    done
    port_taken && die "ports taken by other programs $attempt times in a row; see $LOG"
    die "the cluster did not come up in ${WAIT_SECONDS}s: $(last_error_any); logs in $LOG"
}

last_error_any() {
    local file line
    for file in "$LOG"/slurmctld.log "$LOG"/slurmd-*.log "$LOG"/slurmdbd.log "$LOG"/mariadbd.log \
        "$LOG"/munged.log; do
        line=$(last_error "$file")
        [[ -n $line ]] && echo "${file##*/}: $line" && return 0
    done
    echo "no error logged"
}

cancel_jobs() {
    local jobs i
    pid_alive "$RUN/slurmctld.pid" slurmctld || return 0
    jobs=$(timeout 10 squeue -h -o '%A' 2>/dev/null) || return 0
    [[ -z $jobs ]] && return 0
    # shellcheck disable=SC2086 # one job id per word
    scancel $jobs 2>/dev/null || true
    # slurmstepd outlives slurmd, so let the jobs leave before the daemons stop.
    for ((i = 0; i < 100; i++)); do
        [[ -z $(timeout 10 squeue -h -t running,completing -o '%A' 2>/dev/null) ]] &&
            return 0
        sleep 0.1
    done
}

# stop_all: every process of DIR's cluster, Slurm first (it still needs munge to say goodbye),
# then the database, munged, and whatever is left (slurmstepd and what it forked).
stop_all() {
    local name pid pids
    for name in slurmd slurmctld slurmdbd mariadbd munged ''; do
        pids=()
        for pid in $(marked_pids); do
            proc_alive "$pid" "$name" && pids+=("$pid")
        done
        stop_pids "${pids[@]}"
    done
    rm -f "$RUN"/*.pid
}

cmd_stop() {
    [[ -f $CONF ]] || return 0
    cancel_jobs
    stop_all
    [[ -z $(marked_pids) ]] || die "processes of $DIR do not stop: $(marked_pids | tr '\n' ' ')"
}

cmd_status() {
    ACCOUNTING=$(config_has_accounting && echo 1 || echo 0)
    if [[ ! -f $CONF ]] || ! daemons_alive; then
        echo "slurm.sh: not every daemon of $DIR is running" >&2
        return 1
    fi
    timeout 10 sinfo -N || return 1
    nodes_ready
}

usage() {
    echo "usage: $0 install|start|stop|status|env [--accounting] [DIR]" >&2
    exit 2
}

main() {
    local command=${1:-} dir=
    (($#)) && shift
    ACCOUNTING=0
    while (($#)); do
        case $1 in
        --accounting) ACCOUNTING=1 ;;
        -*) usage ;;
        *) [[ -z $dir ]] || usage; dir=$1 ;;
        esac
        shift
    done
    set_paths "$(resolve_dir "${dir:-${RUNSPEC_SLURM_DIR:-${TMPDIR:-/tmp}/runspec-cluster-$EUID}}")"
    case $command in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) printf 'export SLURM_CONF=%q\n' "$CONF" ;;
    *) usage ;;
    esac
}

main "$@"
