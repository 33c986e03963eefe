#!/bin/bash
#SBATCH --job-name=squash-nvcr.io+nvidia+nemo+25.11
#SBATCH --partition=cpu
#SBATCH --account=acct
#SBATCH --qos=low
#SBATCH --time=01:00:00
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --output=/jobs/squash-x/20250101-120000/squash-nvcr.io+nvidia+nemo+25.11-%j.out
#SBATCH --error=/jobs/squash-x/20250101-120000/squash-nvcr.io+nvidia+nemo+25.11-%j.err
set -euo pipefail

# runspec: squash nvcr.io/nvidia/nemo:25.11 into /cache/sq/nvcr.io+nvidia+nemo+25.11.sqsh
target=/cache/sq/nvcr.io+nvidia+nemo+25.11.sqsh
if [ -e "$target" ]; then
  echo "runspec: $target exists already; nothing to do"
  exit 0
fi
mkdir -p -- "$(dirname -- "$target")"
trap 'rm -f -- "$target.partial-$SLURM_JOB_ID"' EXIT
enroot import --output "$target.partial-$SLURM_JOB_ID" 'docker://nvcr.io#nvidia/nemo:25.11'
mv -f -- "$target.partial-$SLURM_JOB_ID" "$target"
echo "runspec: squashed into $target"
