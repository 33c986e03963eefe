#!/usr/bin/env bash
# The whole test suite, set-up included (CI runs this through .ci/run, on a clean clone):
# installs what the tests need, then lints, type-checks and runs pytest (arguments go to
# pytest). What it installs, and why, is in docs/testing.md:
#   - Debian packages, only the missing ones: Slurm and munge for the private test cluster,
#     OpenSSH and rsync for the private ssh server;
#   - Python packages: runspec itself with the test, omegaconf, artifacts and wandb extras
#     (s3fs and moto for the S3 tests come with test), CPU torch for the
#     torchrun tests, Ray for the ray tests.
# Installing Debian packages needs root; when everything is installed it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    slurmctld slurmd slurm-client munge # the Slurm test cluster
    openssh-server openssh-client rsync # the ssh server for remote submission
)
PIP_INSTALL=(python -m pip install --quiet --disable-pip-version-check)

say() {
    echo "tests/run.sh: $*" >&2
}

missing_packages() {
    local pkg status
    for pkg in "${APT_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || echo "$pkg"
    done
}

install_debian_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]})) || return 0
    if ((EUID != 0)); then
        say "not root: cannot install ${missing[*]}; the tests needing them will be skipped"
        return 0
    fi
    # Refresh the package lists only when apt has no candidate for a package yet.
    local known
    known=$(apt-cache policy "${missing[@]}" 2>/dev/null | grep -c 'Candidate: [^(]' || true)
    ((known == ${#missing[@]})) || apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

install_python_packages() {
    "${PIP_INSTALL[@]}" -e '.[test,omegaconf,nemo-run,artifacts,wandb]'
    "${PIP_INSTALL[@]}" 'torch==2.13.0'
    "${PIP_INSTALL[@]}" 'ray[default]==2.60.0'
}

install_debian_packages
install_python_packages
say "set-up took ${SECONDS}s"

ruff check .
mypy --strict runspec runspec_extras
python -m pytest "$@"
