#!/bin/bash
#SBATCH --job-name=slurm-tests-echo
#SBATCH --partition="p q"
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --output="/jobs/with space/100%%/x/%x-%j.out"
#SBATCH --error="/jobs/with space/100%%/x/%x-%j.err"
#SBATCH --comment="a b 'c' \"d\" $(touch /tmp/x) `id` ; rm -rf * ü\\ %x"
set -euo pipefail

# runspec: environment
export RUNSPEC_JOB_DIR='/jobs/with space/100%/x'
export RUNSPEC_JOB_NAME=slurm-tests-echo
export RUNSPEC_CONFIG='/jobs/with space/100%/x/config.json'
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
export RECIPE_VALUE='from the recipe'
export HOSTILE='a b '"'"'c'"'"' "d" $(touch /tmp/x) `id` ; rm -rf * ü\ %x'

# runspec: launch (direct)
cd /repo/recipes
srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 python /repo/recipes/echo.py --config '/jobs/with space/100%/x/config.json' 'a b '"'"'c'"'"' "d" $(touch /tmp/x) `id` ; rm -rf * ü\ %x' '*' '$HOME'
