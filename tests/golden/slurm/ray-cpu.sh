#!/bin/bash
#SBATCH --job-name=slurm-tests-ray
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --output=/jobs/slurm-tests-echo/20250101-120000/%x-%j.out
#SBATCH --error=/jobs/slurm-tests-echo/20250101-120000/%x-%j.err
set -euo pipefail

# runspec: environment
export RUNSPEC_JOB_DIR=/jobs/slurm-tests-echo/20250101-120000
export RUNSPEC_JOB_NAME=slurm-tests-ray
export RUNSPEC_CONFIG=/jobs/slurm-tests-echo/20250101-120000/config.json
runspec_nodes=$(scontrol show hostnames "$SLURM_JOB_NODELIST")
runspec_head=${runspec_nodes%%$'\n'*}
# The first node's address as Slurm knows it (NodeAddr), else its host name.
runspec_node=$(scontrol show node "$runspec_head" 2>/dev/null || true)
if [[ $runspec_node =~ NodeAddr=([^[:space:]]+) ]]; then
    export MASTER_ADDR=${BASH_REMATCH[1]}
else
    export MASTER_ADDR=$runspec_head
fi
export MASTER_PORT=$((20000 + SLURM_JOB_ID % 10000))
# Slurm 22.05+ steps no longer inherit --cpus-per-task from the job.
if [[ -n ${SLURM_CPUS_PER_TASK:-} ]]; then
    export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
fi

# runspec: launch (ray)
cd /repo/recipes
export RAY_ADDRESS="$MASTER_ADDR:$MASTER_PORT"
runspec_ray=()
# Stop the Ray cluster however the script ends. A killed srun cancels its step at once;
# left to the end of the job, Ray's own shutdown held the job for ~30 s more.
runspec_stop_ray() {
    echo "runspec: stopping the Ray cluster" >&2
    # shellcheck disable=SC2046 # one pid per word: the Ray sruns and the waiter
    kill $(jobs -p) 2>/dev/null || true
    wait
}
trap runspec_stop_ray EXIT
# runspec_ray_wait N: wait until N Ray nodes are alive, or fail if a node stops.
runspec_ray_wait() {
    srun --nodes=1 --ntasks=1 --overlap --nodelist="$runspec_head" /opt/venv/bin/python -c 'import sys, time
import ray
want, deadline = int(sys.argv[1]), time.monotonic() + 600
while True:
    try:
        ray.init(address="auto", logging_level="ERROR")
        break
    except Exception:
        if time.monotonic() > deadline:
            sys.exit("runspec: the Ray head did not start within 600 s")
        time.sleep(1)
while sum(node["Alive"] for node in ray.nodes()) < want:
    if time.monotonic() > deadline:
        what = "the Ray head did not register" if want == 1 else f"not all {want} nodes joined"
        sys.exit(f"runspec: {what} within 600 s")
    time.sleep(0.5)
' "$1" &
    runspec_waiter=$!
    # A Ray srun that ends before the waiter returns means its node can no longer join.
    while kill -0 "$runspec_waiter" 2>/dev/null; do
        for runspec_pid in "${runspec_ray[@]}"; do
            if ! kill -0 "$runspec_pid" 2>/dev/null; then
                echo "runspec: a Ray node stopped before all nodes joined" >&2
                exit 1
            fi
        done
        sleep 0.5
    done
    wait "$runspec_waiter"
}
srun --nodes=1 --ntasks=1 --overlap --nodelist="$runspec_head" /opt/venv/bin/python -m ray.scripts.scripts start --head --node-ip-address="$MASTER_ADDR" --port="$MASTER_PORT" --temp-dir="${TMPDIR:-/tmp}/ray-$SLURM_JOB_ID" --num-gpus=0 --num-cpus=16 --dashboard-agent-listen-port=0 --dashboard-port="$((MASTER_PORT + 10000))" --ray-client-server-port="$((MASTER_PORT + 20000))" --disable-usage-stats --block &
runspec_ray+=("$!")
# Workers start once the head has registered: a worker that finds no head in the
# GCS gives up after about 40 s, which a busy head node can take to register.
runspec_ray_wait 1
# One srun per worker node: one that fails is seen at once, and ends no other.
mapfile -t runspec_hosts <<<"$runspec_nodes"
for runspec_worker in "${runspec_hosts[@]:1}"; do
    srun --nodes=1 --ntasks=1 --overlap --nodelist="$runspec_worker" /opt/venv/bin/python -m ray.scripts.scripts start --address="$RAY_ADDRESS" --num-gpus=0 --num-cpus=16 --dashboard-agent-listen-port=0 --block &
    runspec_ray+=("$!")
done
runspec_ray_wait "$SLURM_JOB_NUM_NODES"
srun --nodes=1 --ntasks=1 --overlap --nodelist="$runspec_head" /opt/venv/bin/python /repo/recipes/ray_app.py --config /jobs/slurm-tests-echo/20250101-120000/config.json
