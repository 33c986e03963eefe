#!/bin/bash
#SBATCH --job-name=nano3-sft
#SBATCH --account=my-account
#SBATCH --partition=batch
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --mem=0
#SBATCH --time=04:00:00
#SBATCH --exclusive
#SBATCH --output=/lustre/fsw/my-account/users/me/run/nano3-sft/<stamp>/%x-%j.out
#SBATCH --error=/lustre/fsw/my-account/users/me/run/nano3-sft/<stamp>/%x-%j.err
set -euo pipefail

# runspec: environment
export RUNSPEC_JOB_DIR=/lustre/fsw/my-account/users/me/run/nano3-sft/<stamp>
export RUNSPEC_JOB_NAME=nano3-sft
export RUNSPEC_CONFIG=/lustre/fsw/my-account/users/me/run/nano3-sft/<stamp>/config.yaml
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
export WANDB_PROJECT=nemotron
export WANDB_ENTITY=my-team
export NCCL_DEBUG=WARN

# runspec: startup commands
source /opt/env.sh

# runspec: launch (torchrun)
srun --nodes="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --container-image=nvcr.io/nvidian/nemo:26.02.super.rc1 --container-mounts=/lustre/fsw/my-account/users/me/git-cache/Megatron-LM-e54e34fdc8ae/bbbedbb9f53343762e4dc70abc771b813a83d817:/opt/megatron-lm:ro,/lustre/fsw/my-account/users/me/git-cache/Megatron-Bridge-acb62edc1a64/romeyn-parquet-sequence-pack:/opt/Megatron-Bridge:ro,/lustre:/lustre,/lustre/fsw/my-account/users/me/run/nano3-sft/<stamp>:/lustre/fsw/my-account/users/me/run/nano3-sft/<stamp>,/lustre/fsw/my-account/users/me/run/.runspec/code/<snapshot>:/lustre/fsw/my-account/users/me/run/.runspec/code/<snapshot> --container-workdir=/lustre/fsw/my-account/users/me/run/.runspec/code/<snapshot>/tests/data/cookbook python -m torch.distributed.run --nnodes="$SLURM_JOB_NUM_NODES" --nproc-per-node=8 --rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT" --rdzv-id="$SLURM_JOB_ID" /lustre/fsw/my-account/users/me/run/.runspec/code/<snapshot>/tests/data/cookbook/src/nemotron/recipes/nano3/stage1_sft/train.py --config /lustre/fsw/my-account/users/me/run/nano3-sft/<stamp>/config.yaml
