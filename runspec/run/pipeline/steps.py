"""What a pipeline is made of and how it ended: steps, their results, the shell equivalent."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["PipelineResult", "Step", "StepResult", "render_shell", "signal_name", "step_label"]


@dataclass(frozen=True)
class Step:
    """One process of a pipeline: name, argv, full environment (None inherits), cwd."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None
    cwd: str | None = None

    @classmethod
    def create(
        cls,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> Step:
        """Build a step from any sequence and mapping, copied so it cannot change."""
        from types import MappingProxyType

        frozen_env = None if env is None else MappingProxyType(dict(env))
        return cls(
            name, tuple(argv), frozen_env, None if cwd is None else os.fspath(cwd)
        )


@dataclass(frozen=True)
class StepResult:
    """How one step ended: ``returncode`` is negative (-N) when signal N killed it."""

    name: str
    returncode: int
    pid: int


@dataclass(frozen=True)
class PipelineResult:
    """How a pipeline ended.

    ``failed`` is the step whose failure caused the end (None on success or when
    runspec was interrupted first); ``exit_code`` is 0, that step's exit code
    (128 + N for signal N), or 128 + the signal runspec received;
    ``interrupted`` is the first signal runspec received while running, if any.
    """

    steps: tuple[StepResult, ...]
    failed: StepResult | None
    exit_code: int
    interrupted: int | None

    def describe(self) -> str:
        """Return one line, e.g. ``step 2 (tokenize) failed with exit code 3``."""
        if self.failed is not None:
            label = step_label(self.steps.index(self.failed), self.failed.name)
            code = self.failed.returncode
            if code < 0:
                return f"{label} was killed by {signal_name(-code)}"
            return f"{label} failed with exit code {code}"
        if self.interrupted is not None:
            return f"interrupted by {signal_name(self.interrupted)}"
        count = len(self.steps)
        return f"{count} step{'' if count == 1 else 's'} succeeded"


def render_shell(
    steps: Sequence[Step], environ: Mapping[str, str] | None = None
) -> str:
    """Return the equivalent shell pipeline, every word quoted.

    Environment entries that differ from ``environ`` (default ``os.environ``)
    become an ``env -u K K=V`` prefix; a working directory becomes ``(cd DIR && ...)``.
    """
    base = os.environ if environ is None else environ
    return " | ".join(_render_step(step, base) for step in steps)


def _render_step(step: Step, base: Mapping[str, str]) -> str:
    import shlex

    words = [shlex.quote(arg) for arg in step.argv]
    if step.env is not None:
        env = step.env
        removed = [f"-u {shlex.quote(key)}" for key in sorted(base) if key not in env]
        changed = [
            shlex.quote(f"{k}={env[k]}") for k in sorted(env) if base.get(k) != env[k]
        ]
        if removed or changed:
            words = ["env", *removed, *changed, *words]
    command = " ".join(words)
    if step.cwd is not None:
        command = f"(cd {shlex.quote(step.cwd)} && {command})"
    return command


def step_label(index: int, name: str) -> str:
    """How messages name a step: ``step 2 (tokenize)`` for index 1."""
    return f"step {index + 1} ({name})"


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15; ``signal 99`` for a number that names no signal."""
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
