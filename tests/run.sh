#!/usr/bin/env bash
# The whole test suite, set-up included: installs what the tests need (Debian's Slurm and
# munge for the local test cluster, the Python test dependencies, the omegaconf extra, CPU
# torch for the torchrun test, Ray for the ray test), then lints, type-checks and runs pytest.
# Needs root for apt-get and the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/cluster/slurm.sh install
python -m pip install --quiet --disable-pip-version-check -e '.[test,omegaconf]'
python -m pip install --quiet --disable-pip-version-check 'torch==2.13.0'
python -m pip install --quiet --disable-pip-version-check 'ray[default]==2.60.0'

ruff check .
mypy --strict runspec runspec_extras
python -m pytest "$@"
