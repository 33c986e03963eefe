"""runspec jobs through nemo-run: executors from env.toml profiles (``runspec[nemo-run]``).

``executor = "local" | "slurm" | "docker" | "dgxcloud" | "lepton" | "skypilot"`` in a
profile picks the nemo-run executor; :func:`build_executor` maps the profile's keys onto
it. :func:`run` and :func:`dry_run` are what runspec's run dispatch calls. Importing this
package imports nemo-run; runspec imports it only when a job runs through nemo-run.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # nemo-run's own imports warn about its dependencies' deprecations; not the user's concern.
    warnings.simplefilter("ignore")
    import nemo_run  # noqa: F401

from .build import build_executor, executor_fields, prepare
from .experiment import dry_run, run
from .keys import EXECUTORS, check_keys
from .request import ExecutorRequest

__all__ = [
    "EXECUTORS",
    "ExecutorRequest",
    "build_executor",
    "check_keys",
    "dry_run",
    "executor_fields",
    "prepare",
    "run",
]
