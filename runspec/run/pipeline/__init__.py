"""Steps run as real OS processes, stdout of each feeding stdin of the next.

A local run of one recipe is a pipeline of one step, so one engine serves both.

How a pipeline runs
-------------------
* Every step is its own process in its own process group, whose id is its pid
  (see :mod:`.spawn`). runspec signals whole groups, so a grandchild a step
  started dies with it.
* Step ``i`` writes into an OS pipe that step ``i + 1`` reads. runspec closes its
  own copies of both ends as soon as the children hold theirs: the data never
  passes through runspec, and end-of-file and SIGPIPE travel between the steps
  exactly as in a shell pipeline.
* stderr is inherited, or with ``prefix_stderr`` read by runspec and written to
  its own stderr in whole lines as ``[name] line`` (see :mod:`.stderr`).

Which step failed
-----------------
Statuses are judged in the order runspec observes the exits; exits seen in the
same wake-up are taken in step order.

1. Status 0 is a success.
2. A *pipe death* is no failure: a step that is not the last one, killed by
   SIGPIPE or exiting 141 (how a shell reports a SIGPIPE death), after its reader
   has gone, i.e. the next step has exited or no longer holds the pipe as its
   stdin (read from ``/proc`` on Linux; where there is no ``/proc`` the reader is
   assumed gone). This is what ``producer | head -c 1`` does to the producer, and
   the early exit of ``head`` is what the pipeline asked for. A SIGPIPE death
   while the next step still reads its stdin came from elsewhere (a socket, an
   inner pipe) and is a failure. (A Python step ignores SIGPIPE and exits 1 or
   120 on BrokenPipeError instead, which counts as a failure: such a step should
   restore ``signal.SIGPIPE`` to ``SIG_DFL`` or exit 141 when its reader is gone.)
3. Any other status is a failure. The first failure is the *cause*: runspec sends
   SIGTERM to every step's process group, waits ``grace`` seconds, then sends
   SIGKILL. Statuses seen after that are consequences and never the cause.

SIGINT, SIGTERM and SIGHUP received by runspec while steps run are forwarded to
every step's process group, followed by the same grace period and SIGKILL; a
second one skips the rest of the grace period. The exit code is then 128 + the
signal (130 for SIGINT, 143 for SIGTERM), unless a step had already failed.
Signals that were ignored when the run began stay ignored.

When every step has exited, processes still left in a step's process group (a
background job the step did not wait for) are stopped the same way, so nothing
outlives the run. Zombies, which only wait for their parent to reap them, count
as gone.

The parts
---------
=================  ================================================================
module             owns
=================  ================================================================
:mod:`.steps`      ``Step``, ``StepResult``, ``PipelineResult``, ``render_shell``
:mod:`.engine`     ``run_pipeline`` and the loop that drives the parts below
:mod:`.spawn`      starting the steps, each in its own process group, joined by pipes
:mod:`.exits`      reaping the steps and judging which failure is the cause
:mod:`.groups`     the steps' process groups: live or not, SIGTERM, grace, SIGKILL
:mod:`.signals`    SIGINT, SIGTERM and SIGHUP caught and handed to the engine
:mod:`.stderr`     ``--prefix``: stderr read back and written in ``[name] line`` lines
=================  ================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import run_pipeline
    from .steps import PipelineResult, Step, StepResult, render_shell

__all__ = ["PipelineResult", "Step", "StepResult", "render_shell", "run_pipeline"]

_MODULES = {
    "engine": ("run_pipeline",),
    "steps": ("PipelineResult", "Step", "StepResult", "render_shell"),
}


def __getattr__(name: str) -> object:
    """Import the module of a re-exported name on first use (a dry run needs no engine)."""
    for module, names in _MODULES.items():
        if name in names:
            import importlib

            return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
