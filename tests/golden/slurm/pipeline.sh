#!/bin/bash
#SBATCH --job-name=slurm-tests-gen+slurm-tests-relay+slurm-tests-digest
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --output=/jobs/pipe/20250101-120000/%x-%j.out
#SBATCH --error=/jobs/pipe/20250101-120000/%x-%j.err
set -euo pipefail

# runspec: environment
export RUNSPEC_PIPELINE_DIR=/jobs/pipe/20250101-120000

# runspec: setup (from the profile)
echo pipeline starting

# runspec: pipeline of 3 steps, stdout -> stdin through named pipes
runspec_steps=(slurm-tests-gen slurm-tests-relay slurm-tests-digest)
runspec_pipes="$RUNSPEC_PIPELINE_DIR/pipes"
mkdir -p "$runspec_pipes"
trap 'rm -rf "$runspec_pipes"' EXIT
mkfifo "$runspec_pipes/1" "$runspec_pipes/2"
runspec_wait_steps() {
    # The first step to fail (a SIGPIPE death, 141, is caused downstream and not counted)
    # stops the others and gives the job its exit code.
    local i code=0 left=${#runspec_pids[@]}
    local -a status=()
    while ((left > 0)); do
        wait -n 2>/dev/null || true
        for i in "${!runspec_pids[@]}"; do
            # bash has reaped a finished step, so kill -0 fails and wait returns its status
            if [[ -n ${status[i]:-} ]] || kill -0 "${runspec_pids[i]}" 2>/dev/null; then
                continue
            fi
            status[i]=0
            wait "${runspec_pids[i]}" || status[i]=$?
            left=$((left - 1))
            if ((status[i] != 0 && status[i] != 141 && code == 0)); then
                code=${status[i]}
                echo "runspec: step $((i + 1)) (${runspec_steps[i]}) failed: exit code $code" >&2
                kill -TERM "${runspec_pids[@]}" 2>/dev/null || true
            fi
        done
    done
    return "$code"
}
runspec_pids=()
(
    cd /repo/recipes
    export RUNSPEC_JOB_DIR=/jobs/pipe/20250101-120000/step1-gen
    export RUNSPEC_CONFIG=/jobs/pipe/20250101-120000/step1-gen/config.json
    exec srun --nodes=1 --ntasks=1 --overlap --nodelist="$SLURMD_NODENAME" bash -c 'exec "${@:2}" >"$1"' runspec-step "$runspec_pipes/1" /opt/py/bin/python /repo/recipes/gen.py --config /jobs/pipe/20250101-120000/step1-gen/config.json 1000 seed
) &
runspec_pids+=("$!")
(
    cd /repo/recipes
    export RUNSPEC_JOB_DIR=/jobs/pipe/20250101-120000/step2-relay
    export RUNSPEC_CONFIG=/jobs/pipe/20250101-120000/step2-relay/config.json
    exec srun --nodes=1 --ntasks=1 --overlap --nodelist="$SLURMD_NODENAME" bash -c 'exec "${@:3}" <"$1" >"$2"' runspec-step "$runspec_pipes/1" "$runspec_pipes/2" /opt/py/bin/python /repo/recipes/relay.py --config /jobs/pipe/20250101-120000/step2-relay/config.json
) &
runspec_pids+=("$!")
(
    cd /repo/recipes
    export RUNSPEC_JOB_DIR=/jobs/pipe/20250101-120000/step3-digest
    export RUNSPEC_CONFIG=/jobs/pipe/20250101-120000/step3-digest/config.json
    exec srun --nodes=1 --ntasks=1 --overlap --nodelist="$SLURMD_NODENAME" bash -c 'exec "${@:2}" <"$1"' runspec-step "$runspec_pipes/2" /opt/py/bin/python /repo/recipes/digest.py --config /jobs/pipe/20250101-120000/step3-digest/config.json
) &
runspec_pids+=("$!")
runspec_wait_steps
