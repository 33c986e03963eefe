"""The private Slurm test cluster of slurm.sh, from Python: start it, reach it, stop it.

A cluster is a folder; clients reach it through ``SLURM_CONF`` (see ``SlurmCluster.env``).
The test fixtures (tests/integration/conftest.py) start one per test session, and one with
accounting (slurmdbd and MariaDB, for ``sacct``) only when a test asks for it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.folders import abandoned_folders, new_folder, remove_folder
from tests.cluster.programs import search_path

__all__ = [
    "ACCOUNTING_PROGRAMS",
    "PROGRAMS",
    "SCRIPT",
    "ClusterError",
    "SlurmCluster",
    "discard_cluster",
    "new_cluster",
    "reap_abandoned_clusters",
    "start_cluster",
]

SCRIPT = Path(__file__).with_name("slurm.sh")
PROGRAMS = ("slurmctld", "slurmd", "munged", "mungekey", "sbatch", "squeue", "scontrol",
            "scancel", "sinfo", "srun")  # fmt: skip
ACCOUNTING_PROGRAMS = ("slurmdbd", "mariadbd", "mariadb-install-db", "mariadb", "sacct",
                       "sacctmgr")  # fmt: skip
FOLDER_KIND = "slurm"
START_TIMEOUT_SECONDS = 300
STOP_TIMEOUT_SECONDS = 120
CLIENT_TIMEOUT_SECONDS = 120


class ClusterError(RuntimeError):
    """slurm.sh could not start or stop a cluster; the message is its own one-line reason."""


def _script(command: str, folder: Path, *options: str, timeout: float) -> str:
    """Run ``slurm.sh COMMAND [OPTIONS] FOLDER``; return its stdout, raise with its stderr."""
    done = subprocess.run(
        ["bash", str(SCRIPT), command, *options, str(folder)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise ClusterError(done.stderr.strip() or f"slurm.sh {command} failed")
    return done.stdout


@dataclass(frozen=True)
class SlurmCluster:
    """A running private cluster: its folder, and how a client process reaches it."""

    folder: Path
    accounting: bool = False

    @property
    def conf(self) -> Path:
        """The cluster's slurm.conf: what ``SLURM_CONF`` must name."""
        return self.folder / "conf" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The variables a process needs to reach this cluster (``SLURM_CONF``, ``PATH``)."""
        return {"SLURM_CONF": str(self.conf), "PATH": search_path()}

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """This process's environment pointed at the cluster, plus ``extra``."""
        return {**os.environ, **self.env, **(extra or {})}

    def run(
        self, *argv: str, timeout: float = CLIENT_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        """Run a program (``sbatch``, ``sacct`` ...) against this cluster; never raises on failure."""
        return subprocess.run(
            argv, env=self.environ(), capture_output=True, text=True, timeout=timeout, check=False
        )

    def processes(self) -> tuple[int, ...]:
        """Live processes the cluster started (daemons, slurmstepd): its marker is in their
        environment."""
        marker = f"RUNSPEC_TEST_CLUSTER={self.folder}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                continue
            if marker in environ and state != "Z":
                found.append(int(entry.name))
        return tuple(found)

    def ports(self) -> tuple[int, ...]:
        """The TCP ports its daemons listen on (slurmdbd's and MariaDB's too), as configured."""
        dbd_conf = self.conf.with_name("slurmdbd.conf")
        texts = [
            path.read_text(encoding="utf-8") for path in (self.conf, dbd_conf) if path.exists()
        ]
        found = re.findall(r"(?:^|\s)\w*Port=(\d+)", "\n".join(texts), re.M)
        return tuple(sorted({int(port) for port in found}))

    def is_up(self) -> bool:
        """Every daemon runs and every node is idle, mixed or allocated."""
        done = subprocess.run(
            ["bash", str(SCRIPT), "status", str(self.folder)],
            capture_output=True, text=True, timeout=STOP_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
        return done.returncode == 0

    def stop(self) -> None:
        """Cancel its jobs and stop every process it started."""
        _script("stop", self.folder, timeout=STOP_TIMEOUT_SECONDS)


def start_cluster(folder: Path, *, accounting: bool = False) -> SlurmCluster:
    """Start (or find already running) the cluster living in ``folder``."""
    options = ("--accounting",) if accounting else ()
    _script("start", folder, *options, timeout=START_TIMEOUT_SECONDS)
    return SlurmCluster(folder, accounting)


def new_cluster(*, accounting: bool = False) -> SlurmCluster:
    """Start a cluster in a new folder of its own, owned by this process."""
    # A cluster that fails to start keeps its folder (the error names its logs); the next
    # session after this one has ended stops what is left of it and removes the folder.
    return start_cluster(new_folder(FOLDER_KIND) / "cluster", accounting=accounting)


def discard_cluster(cluster: SlurmCluster) -> None:
    """Stop ``cluster`` and remove its folder (started by ``new_cluster``)."""
    cluster.stop()
    remove_folder(cluster.folder.parent)


def reap_abandoned_clusters() -> tuple[Path, ...]:
    """Stop and remove clusters whose test session died without stopping them."""
    reaped = []
    for folder in abandoned_folders(FOLDER_KIND):
        try:
            _script("stop", folder / "cluster", timeout=STOP_TIMEOUT_SECONDS)
        except ClusterError:
            continue
        remove_folder(folder)
        reaped.append(folder)
    return tuple(reaped)
