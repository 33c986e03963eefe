"""Fixtures for tests that need real servers: a private Slurm cluster and a private sshd.

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
from tests.cluster.sshd import PROGRAMS as SSH_PROGRAMS
from tests.cluster.sshd import (
    ServerError,
    SshServer,
    discard_server,
    new_server,
    reap_abandoned_servers,
)

__all__ = ["slurm_cluster", "slurm_login_node", "sshd_server"]

INSTALL_SLURM = f"bash {SCRIPT} install"
INSTALL_SSH = "apt-get install openssh-server openssh-client rsync"


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


def _server(slurm: SlurmCluster | None) -> SshServer:
    require_programs(SSH_PROGRAMS, INSTALL_SSH)
    reap_abandoned_servers()
    try:
        return new_server(slurm.env if slurm else None)
    except ServerError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshServer]:
    """A private sshd on 127.0.0.1 that lets the current user in: ``ssh -F config alias``.

    ``server.host``, ``.port``, ``.user``, ``.identity`` (client key), ``.config`` (client
    ssh_config with Host ``server.alias``), ``.known_hosts``; ``.stop()``/``.start()`` or
    ``with server.down():`` take it away and bring it back on the same port;
    ``.drop_connections()`` ends open connections. A test that stops it must start it again.
    """
    server = _server(None)
    try:
        yield server
    finally:
        discard_server(server)


@pytest.fixture(scope="session")
def slurm_login_node(slurm_cluster: SlurmCluster) -> Iterator[SshServer]:
    """A private sshd in front of the session's Slurm cluster, like a cluster's login node.

    Remote commands find the cluster (``SLURM_CONF`` and this session's ``PATH`` are set in
    every ssh session), so ``ssh -F server.config server.alias sbatch ...`` submits there.
    """
    server = _server(slurm_cluster)
    try:
        yield server
    finally:
        discard_server(server)
