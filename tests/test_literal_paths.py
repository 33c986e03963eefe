"""Paths and names are data: substitution applies to template text, never to what it puts in.

A checkout in a folder named ``w${run.env.nodes}{script}`` runs from that folder, with that
script path and that config path, locally and in a batch script. References in the header's
``cmd`` and ``env`` are checked when the job is assembled, before anything starts.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from runspec import template
from tests.support import block

FOLDER = "w${run.env.nodes}{script}\\${run.x}"
PRINTS = "import os, sys\nprint(os.getcwd())\nprint(sys.argv)\n"


def recipe(folder: Path, cmd: str, name: str = "r.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config").mkdir(exist_ok=True)
    (folder / "config" / "default.json").write_text("{}")
    header = block(
        '[tool.runspec]\nname = "r"\n[tool.runspec.run]\nlaunch = "python"\n'
        f"cmd = {cmd!r}\n[tool.runspec.config]\nformat = \"json\"\n"
    )
    path = folder / name
    path.write_text(header + PRINTS)
    return path


def test_a_local_run_keeps_the_paths_as_they_are(runspec, tmp_path: Path) -> None:
    folder = tmp_path / FOLDER
    script = recipe(folder, "python {script} --config {config} --n ${run.env.nodes}")
    done = runspec("run", script.name, cwd=folder)
    assert done.returncode == 0, done.stderr
    cwd, argv = done.stdout.splitlines()
    assert cwd == str(folder)
    args = ast.literal_eval(argv)
    assert args[0] == str(script)
    assert args[1] == "--config" and args[2].startswith(f"{folder}/.runspec/jobs/")
    assert args[3:] == ["--n", "1"]


def test_a_batch_script_keeps_the_paths_as_they_are(runspec, tmp_path: Path) -> None:
    folder = tmp_path / FOLDER
    script = recipe(folder, "python {script} --n ${run.env.nodes}")
    (folder / "env.toml").write_text('[slurm]\nexecutor = "slurm"\npartition = "batch"\n')
    done = runspec("sbatch", script.name, "-p", "slurm", cwd=folder, env={"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"cd {shlex.quote(str(folder))}" in lines
    assert any(line.endswith(f"python {shlex.quote(str(script))} --n 1") for line in lines)


def test_an_absent_optional_section_in_cmd_is_null_with_one_warning(runspec, tmp_path) -> None:
    cmd = "python {script} --project ${run.wandb.project} --again ${run.wandb.project}"
    script = recipe(tmp_path, cmd)
    done = runspec("run", script.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ast.literal_eval(done.stdout.splitlines()[1])[1:] == [
        "--project", "None", "--again", "None",
    ]  # fmt: skip
    assert done.stderr == (
        "runspec: warning: ${run.wandb.project} is null: env.toml has no [wandb] section"
        " (add [wandb] with project = ... to set it)\n"
    )
    (tmp_path / "env.toml").write_text('[wandb]\nproject = "p"\n[local]\nexecutor = "local"\n')
    done = runspec("run", script.name, "-p", "local", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert ast.literal_eval(done.stdout.splitlines()[1])[1:] == ["--project", "p", "--again", "p"]


def test_an_unknown_reference_in_cmd_fails_before_anything_starts(runspec, tmp_path) -> None:
    script = recipe(tmp_path, "python {script} --n ${run.env.nodez}")
    done = runspec("run", script.name, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"runspec: error: {script}:6: tool.runspec.run.cmd: ${{run.env.nodez}}: no such key"
        " (known: executor, gpus_per_node, nodes)\n"
    )
    assert not list((tmp_path / ".runspec" / "jobs").glob("*"))


@given(st.text(alphabet=st.sampled_from("\\${}run.xab/"), max_size=40))
def test_a_literal_resolves_to_itself(text: str) -> None:
    namespace = {"run": {"x": "X", "a": {"b": 2}}}
    assert template.resolve(template.literal(text), namespace) == text
