"""Fixtures for tests that need real servers: a private Slurm cluster.

Every server lives in a folder of its own under the temp folder, on free ports, and is stopped
at the end of the session (docs/testing.md). Outside CI a machine lacking the packages (or
root, for Slurm) skips these tests with the command that installs them; in CI they fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.programs import require_programs, require_root
from tests.cluster.slurm import (
    ACCOUNTING_PROGRAMS,
    PROGRAMS,
    SCRIPT,
    ClusterError,
    SlurmCluster,
    discard_cluster,
    new_cluster,
    reap_abandoned_clusters,
)

__all__ = ["slurm_cluster"]

INSTALL_SLURM = f"bash {SCRIPT} install"


def _cluster(*, accounting: bool) -> SlurmCluster:
    """Start a private cluster after stopping the ones killed sessions left behind."""
    require_root("the Slurm test cluster")
    if accounting:
        require_programs((*PROGRAMS, *ACCOUNTING_PROGRAMS), INSTALL_SLURM + " --accounting")
    else:
        require_programs(PROGRAMS, INSTALL_SLURM)
    reap_abandoned_clusters()
    try:
        return new_cluster(accounting=accounting)
    except ClusterError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """The session's private Slurm cluster, exported as ``SLURM_CONF`` for the session.

    sbatch, squeue, scontrol, srun and runspec subprocesses started by the tests reach it
    (they inherit ``SLURM_CONF``), and so do the jobs. Nodes node1..node3 (64 CPUs, 8 fake
    GPUs each), partition ``debug``, no accounting. Stopped at the end of the session.
    """
    cluster = _cluster(accounting=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", str(cluster.conf))
        try:
            yield cluster
        finally:
            discard_cluster(cluster)
