#!/bin/bash
#SBATCH --job-name=team-train
#SBATCH --account=acct
#SBATCH --partition=batch
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --output=<job>
#SBATCH --error=<job>
set -euo pipefail

# runspec: environment
export RUNSPEC_JOB_DIR=/jobs/team-train/<stamp>
export RUNSPEC_JOB_NAME=team-train
export RUNSPEC_CONFIG=/jobs/team-train/<stamp>/config.json
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

# runspec: setup (from the profile)
module load cuda

# runspec: startup commands
source /opt/env.sh
echo 'ready'

# runspec: launch (torchrun)
srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --container-image=cfg:2 --container-mounts=/project:/project,/jobs/team-train/<stamp>:/jobs/team-train/<stamp> --container-workdir=/opt/app python -m torch.distributed.run --nnodes="$SLURM_JOB_NUM_NODES" --nproc-per-node=2 --rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT" --rdzv-id="$SLURM_JOB_ID" /project/train.py --config /jobs/team-train/<stamp>/config.json
