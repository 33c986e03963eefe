"""W&B tracking of artifact versions (the ``wandb`` extra).

With ``[artifacts] wandb = true`` in env.toml, :func:`log_version` logs each version
published as a W&B artifact of the same name (its files, or a reference to where they
are, with the version's description as metadata and ``vN`` and ``latest`` as
aliases), in the W&B run of the process or, when there is none, in a short run of its
own. :func:`record_use` notes on the current run that a version was used:
``run.use_artifact`` online; offline, where W&B cannot look artifacts up, in the run's
config under ``runspec_artifacts``. Entity, project and mode come from the standard
``WANDB_*`` variables, which runspec sets for jobs from env.toml's ``[wandb]``.
"""

from __future__ import annotations

import os
from typing import Any

from ._optional import importing
from .artifacts.version import Version

__all__ = ["log_version", "record_use"]


def log_version(version: Version) -> None:
    """Log ``version`` as a W&B artifact (see the module's docstring)."""
    with importing("logging artifacts to W&B"):
        import wandb

    run: Any = wandb.run
    own = run is None
    if own:
        run = wandb.init(job_type="publish-artifact", name=f"publish {version.ref}")
    metadata = version.to_dict()
    kind = str(version.metadata.get("wandb_type", "runspec-artifact"))
    artifact = wandb.Artifact(version.name, type=kind, metadata=metadata)
    if version.mode == "copy" and os.path.isdir(version.path):
        artifact.add_dir(version.path)
    elif os.path.isfile(version.path):
        artifact.add_file(version.path)
    else:
        artifact.add_reference(_uri(version.path))
    run.log_artifact(artifact, aliases=[version.label, "latest"])
    if own:
        run.finish()


def record_use(version: Version) -> None:
    """Note on the current W&B run (if there is one) that ``version`` was used."""
    with importing("recording artifact use in W&B"):
        import wandb

    run: Any = wandb.run
    if run is None:
        return
    if not getattr(run, "offline", False):
        try:
            run.use_artifact(f"{version.name}:{version.label}")
            return
        except (wandb.errors.CommError, ValueError):
            pass  # not logged to W&B: fall back to the run's config
    used = dict(run.config.get("runspec_artifacts") or {})
    used[version.name] = version.ref
    run.config.update({"runspec_artifacts": used}, allow_val_change=True)


def _uri(path: str) -> str:
    return path if "://" in path else "file://" + os.path.abspath(path)
