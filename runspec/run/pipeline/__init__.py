"""Steps run as real OS processes, stdout of each feeding stdin of the next.

See :mod:`.engine` for how a pipeline runs and which step is blamed when one fails.
"""

from __future__ import annotations

from .engine import PipelineResult, Step, StepResult, render_shell, run_pipeline

__all__ = ["PipelineResult", "Step", "StepResult", "render_shell", "run_pipeline"]
