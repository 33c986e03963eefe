"""The batch script renderer: golden files, refusals, quoting and masking.

Golden files live in tests/golden/slurm/. After an intended change of the rendered text,
regenerate them and review the diff:

    RUNSPEC_REGEN_GOLDEN=1 python -m pytest tests/test_slurm_render.py
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from runspec import spec
from runspec.errors import SlurmError
from runspec.job import Job
from runspec.slurm import BatchScript, render_pipeline_sbatch, render_sbatch

RECIPES = Path(__file__).parent / "data" / "slurm" / "recipes"
GOLDEN = Path(__file__).parent / "golden" / "slurm"
REPO = Path("/repo")
JOB_DIR = Path("/jobs/slurm-tests-echo/20250101-120000")
HOSTILE = "a b 'c' \"d\" $(touch /tmp/x) `id` ; rm -rf * ü\\ %x"


def make_job(
    recipe: str,
    env: Mapping[str, Any] = {},  # never mutated
    *,
    folder: Path = JOB_DIR,
    name: str | None = None,
) -> Job:
    """A job for ``recipe`` as if assembled with a profile holding ``env``; paths under /repo."""
    parsed = spec.parse(RECIPES / recipe)
    recipe_spec = dataclasses.replace(parsed, script_path=REPO / "recipes" / recipe)
    run_env = {
        "executor": "slurm",
        "nodes": parsed.resources.nodes,
        "gpus_per_node": parsed.resources.gpus_per_node,
        **env,
    }
    job_name = name or parsed.name.replace("/", "-")
    config = {
        "train": {"steps": 10},
        "run": {
            "env": run_env,
            "recipe": {"name": parsed.name, "script": str(recipe_spec.script_path)},
            "job": {"name": job_name, "dir": str(folder), "profile": "cluster"},
        },
    }
    config_path = REPO / "recipes" / "config" / "default.json"
    return Job(recipe_spec, None, config_path, config, job_name, folder)


FULL_PROFILE = {
    "account": "proj-42",
    "partition": "batch",
    "qos": "high",
    "cpus_per_task": 8,
    "mem": "64G",
    "time": "1-02:00:00",
    "constraint": "a100&ib",
    "exclusive": True,
    "ntasks_per_node": 2,
    "sbatch": {"mail-type": "END", "requeue": True, "partition": "other", "J": "x", "wckey": False},
    "srun_args": ["--mpi=pmix", "--kill-on-bad-exit=1"],
    "setup": ["module load cuda/12.4", "source /opt/venv/bin/activate"],
    "env_vars": {"NCCL_DEBUG": "INFO", "OMP_NUM_THREADS": 4, "USE_FAST": True},
}
GPU_PIPE = {"gpus_per_node": 0, "setup": "echo pipeline starting"}


def _pipeline() -> BatchScript:
    folder = Path("/jobs/pipe/20250101-120000")
    jobs = [
        make_job(f"{name}.py", GPU_PIPE, folder=folder / f"step{i}-{name}")
        for i, name in enumerate(("gen", "relay", "digest"), start=1)
    ]
    args = [["1000", "seed"], [], []]
    return render_pipeline_sbatch(jobs, folder=folder, args=args, python="/opt/py/bin/python")


GOLDEN_CASES: dict[str, Any] = {
    "direct": lambda: render_sbatch(make_job("echo.py", FULL_PROFILE), args=["--seed", "1"]),
    "minimal": lambda: render_sbatch(make_job("echo.py")),
    "torchrun": lambda: render_sbatch(
        make_job("ranks.py", {"partition": "gpu", "time": 30}), args=["--lr", "0.1"]
    ),
    "torchrun-cpu": lambda: render_sbatch(
        make_job("ranks.py", {"gpus_per_node": 0, "ntasks_per_node": 4, "nodes": 1})
    ),
    "ray": lambda: render_sbatch(make_job("ray_app.py", {"partition": "gpu"})),
    "ray-cpu": lambda: render_sbatch(
        make_job("ray_app.py", {"gpus_per_node": 0, "cpus_per_task": 16, "nodes": 2}),
        python="/opt/venv/bin/python",
    ),
    "container": lambda: render_sbatch(
        make_job(
            "container.py",
            {"mounts": ["/data:/data:ro", "/scratch/me:/scratch"], "container_workdir": "/work"},
        ),
        repo=REPO,
    ),
    "container-profile-image": lambda: render_sbatch(
        make_job("ranks.py", {"container_image": "pytorch:24.01", "nodes": 1}), repo=REPO
    ),
    "snapshot": lambda: render_sbatch(make_job("echo.py", {"code": "snapshot"}), repo=REPO),
    "snapshot-container": lambda: render_sbatch(
        make_job("container.py", {"code": "snapshot"}), repo=REPO
    ),
    "dependency": lambda: render_sbatch(
        make_job("echo.py"), after=["1234", "1235_7"], dependency_type="afterany"
    ),
    "secrets": lambda: render_sbatch(
        make_job(
            "echo.py",
            {"env_vars": {"HF_TOKEN": "hf_abc", "WANDB_API_KEY": "w123", "db_Password": "pw"}},
        )
    ),
    "secrets-apart": lambda: render_sbatch(
        make_job(
            "echo.py",
            {"env_vars": {"HF_TOKEN": "hf_abc", "WANDB_API_KEY": "w123", "db_Password": "pw"}},
        ),
        secrets_apart=True,
    ),
    "hostile": lambda: render_sbatch(
        make_job(
            "echo.py",
            {"env_vars": {"HOSTILE": HOSTILE}, "partition": "p q", "sbatch": {"comment": HOSTILE}},
            folder=Path("/jobs/with space/100%/x"),
        ),
        args=[HOSTILE, "*", "$HOME"],
    ),
    "pipeline": _pipeline,
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES), ids=sorted(GOLDEN_CASES))
def test_golden(case: str) -> None:
    script: BatchScript = GOLDEN_CASES[case]()
    path = GOLDEN / f"{case}.sh"
    if os.environ.get("RUNSPEC_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(script.masked, encoding="utf-8")
    assert script.masked == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES), ids=sorted(GOLDEN_CASES))
def test_golden_scripts_are_valid_bash(case: str) -> None:
    script: BatchScript = GOLDEN_CASES[case]()
    checked = subprocess.run(["bash", "-n"], input=script.text, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr


def test_passthrough_collisions_warn_and_runspec_wins() -> None:
    script = render_sbatch(make_job("echo.py", FULL_PROFILE))
    assert script.warnings == (
        "run.env.sbatch.partition: runspec sets --partition itself; ignoring 'other'",
        "run.env.sbatch.J: runspec sets --job-name itself; ignoring 'x'",
    )
    assert "#SBATCH --partition=batch\n" in script.text
    assert "--partition=other" not in script.text
    assert "#SBATCH --mail-type=END\n#SBATCH --requeue\n" in script.text


def test_secrets_are_masked_only_in_printed_text() -> None:
    script = GOLDEN_CASES["secrets"]()
    assert script.secrets == ("HF_TOKEN", "WANDB_API_KEY", "db_Password")
    assert script.mode == 0o600
    assert "export HF_TOKEN=hf_abc\n" in script.text
    assert "hf_abc" not in script.masked and "w123" not in script.masked
    assert "export HF_TOKEN='********'\n" in script.masked


def test_script_without_secrets_is_world_readable() -> None:
    script = render_sbatch(make_job("echo.py"))
    assert (script.secrets, script.mode, script.text) == ((), 0o644, script.masked)


def test_snapshot_names_what_submit_copies() -> None:
    script = GOLDEN_CASES["snapshot"]()
    assert script.snapshot == (REPO, JOB_DIR / "code")
    assert render_sbatch(make_job("echo.py"), repo=REPO).snapshot is None


def _run_launch_line(script: BatchScript, tmp_path: Path) -> list[str]:
    """Run the script's srun line in bash with srun replaced by a recorder; return its argv."""
    line = next(text for text in script.text.splitlines() if text.startswith("srun "))
    record = tmp_path / "argv"
    program = (
        f'srun() {{ printf "%s\\0" "$@" > {record}; }}\n'
        "SLURM_JOB_NUM_NODES=1 MASTER_ADDR=h MASTER_PORT=1 SLURM_JOB_ID=9\n" + line + "\n"
    )
    subprocess.run(["bash", "-c", program], check=True, cwd=tmp_path)
    return record.read_bytes().decode().split("\0")[:-1]


def test_hostile_args_and_mounts_reach_srun_byte_for_byte(tmp_path: Path) -> None:
    mount = f"/data/{HOSTILE.replace(':', '').replace(',', '')}:/in side"
    job = make_job("echo.py", {"container_image": "img:1", "mounts": [mount]})
    argv = _run_launch_line(render_sbatch(job, args=[HOSTILE, "*"], repo=REPO), tmp_path)
    assert argv[-2:] == [HOSTILE, "*"]
    mounts = f"--container-mounts={mount},/repo:/repo,{JOB_DIR}:{JOB_DIR}"
    assert mounts in argv
    assert sorted(os.listdir(tmp_path)) == ["argv"]  # the glob and $(...) ran nothing


def test_env_values_are_exported_byte_for_byte(tmp_path: Path) -> None:
    values = {"HOSTILE": HOSTILE, "MULTI": "line one\nline two", "EMPTY": ""}
    script = render_sbatch(make_job("echo.py", {"env_vars": values}))
    start = script.text.index("export HOSTILE=")
    body = script.text[start : script.text.index("\n\n# runspec: launch")] + "\n"
    names = " ".join(values)
    program = body + f'for n in {names}; do printf "%s=%s\\0" "$n" "${{!n}}"; done\n'
    done = subprocess.run(["bash", "-c", program], capture_output=True, check=True, cwd=tmp_path)
    seen = dict(item.split("=", 1) for item in done.stdout.decode().split("\0")[:-1])
    assert seen == values
    assert os.listdir(tmp_path) == []


def test_directive_quoting_follows_sbatch() -> None:
    script = GOLDEN_CASES["hostile"]()
    assert '#SBATCH --partition="p q"\n' in script.text
    assert '#SBATCH --output="/jobs/with space/100%%/x/%x-%j.out"\n' in script.text
    expected = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
    assert f'#SBATCH --comment="{expected}"\n' in script.text


# -- refusals -------------------------------------------------------------------------------

NL = "a\nb"
REFUSALS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("newline-partition", {"partition": NL}, {},
     "run.env.partition: must not contain a newline or NUL (got 'a\\nb')"),
    ("nul-account", {"account": "a\0b"}, {},
     "run.env.account: must not contain a newline or NUL (got 'a\\x00b')"),
    ("carriage-return-qos", {"qos": "a\rb"}, {},
     "run.env.qos: must not contain a newline or NUL (got 'a\\rb')"),
    ("newline-arg", {}, {"args": ["ok", NL]},
     "argument 2: must not contain a newline or NUL (got 'a\\nb')"),
    ("newline-sbatch-value", {"sbatch": {"comment": NL}}, {},
     "run.env.sbatch.comment: must not contain a newline or NUL (got 'a\\nb')"),
    ("newline-srun-arg", {"srun_args": [NL]}, {},
     "run.env.srun_args: must not contain a newline or NUL (got 'a\\nb')"),
    ("newline-image", {"container_image": NL}, {},
     "run.env.container_image: must not contain a newline or NUL (got 'a\\nb')"),
    ("nul-env-value", {"env_vars": {"X": "a\0b"}}, {},
     "run.env.env_vars.X: must not contain a NUL (got 'a\\x00b')"),
    ("bad-env-name", {"env_vars": {"my-var": "1"}}, {},
     "run.env.env_vars.my-var: not a valid environment variable name"),
    ("env-value-table", {"env_vars": {"X": {"a": 1}}}, {},
     "run.env.env_vars.X: must be a string, number or boolean (got {'a': 1})"),
    ("unknown-dependency", {}, {"after": ["1"], "dependency_type": "after_ok"},
     "unknown dependency type 'after_ok' (expected one of: afterany, afternotok, afterok)"),
    ("bad-job-id", {}, {"after": ["12;rm"]},
     "--after: not a job id: '12;rm' (expected digits, e.g. 12345)"),
    ("time-words", {"time": "2 hours"}, {},
     "run.env.time: bad time '2 hours' (expected MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"),
    ("time-too-many-parts", {"time": "1:2:3:4"}, {},
     "run.env.time: bad time '1:2:3:4' (expected MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"),
    ("time-float", {"time": 1.5}, {},
     "run.env.time: bad time 1.5 (expected MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"),
    ("time-negative", {"time": -5}, {},
     "run.env.time: bad time -5 (expected MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"),
    ("gpus-words", {"gpus_per_node": "two"}, {},
     "run.env.gpus_per_node: must be a whole number (got 'two')"),
    ("gpus-float", {"gpus_per_node": 1.5}, {},
     "run.env.gpus_per_node: must be a whole number (got 1.5)"),
    ("gpus-bool", {"gpus_per_node": True}, {},
     "run.env.gpus_per_node: must be a whole number (got True)"),
    ("gpus-negative", {"gpus_per_node": -1}, {},
     "run.env.gpus_per_node: must be at least 0 (got -1)"),
    ("nodes-zero", {"nodes": 0}, {}, "run.env.nodes: must be at least 1 (got 0)"),
    ("mem-words", {"mem": "lots"}, {},
     "run.env.mem: bad memory size 'lots' (expected a number with an optional K, M, G or T)"),
    ("mount-comma", {"container_image": "i", "mounts": ["/a,/b:/c"]}, {},
     "run.env.mounts: bad mount '/a,/b:/c' (expected SRC:DST[:FLAGS], absolute paths, no commas)"),
    ("mount-one-part", {"container_image": "i", "mounts": ["/a"]}, {},
     "run.env.mounts: bad mount '/a' (expected SRC:DST[:FLAGS], absolute paths, no commas)"),
    ("mount-relative", {"container_image": "i", "mounts": ["a:/b"]}, {},
     "run.env.mounts: bad mount 'a:/b' (expected SRC:DST[:FLAGS], absolute paths, no commas)"),
    ("mount-empty-flags", {"container_image": "i", "mounts": ["/a:/b:"]}, {},
     "run.env.mounts: bad mount '/a:/b:' (expected SRC:DST[:FLAGS], absolute paths, no commas)"),
    ("mount-newline", {"container_image": "i", "mounts": ["/a:/b\n"]}, {},
     "run.env.mounts: must not contain a newline or NUL (got '/a:/b\\n')"),
    ("mounts-not-list", {"container_image": "i", "mounts": "/a:/b"}, {},
     "run.env.mounts: must be a list of strings (got '/a:/b')"),
    ("sbatch-not-table", {"sbatch": "x"}, {}, "run.env.sbatch: must be a table (got 'x')"),
    ("sbatch-bad-option", {"sbatch": {"a b": "x"}}, {},
     "run.env.sbatch.a b: not an sbatch option name"),
    ("sbatch-list-value", {"sbatch": {"gres": ["a"]}}, {},
     "run.env.sbatch.gres: must be a string, number or boolean (got ['a'])"),
    ("snapshot-without-git", {"code": "snapshot"}, {"repo": None},
     "run.env.code: 'snapshot' needs the recipe in a git repository"),
    ("setup-table", {"setup": {"a": 1}}, {},
     "run.env.setup: must be a string or a list of strings (got {'a': 1})"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("env", "options", "message"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refusals(env: dict[str, Any], options: dict[str, Any], message: str) -> None:
    with pytest.raises(SlurmError) as caught:
        render_sbatch(make_job("echo.py", env), **options)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_job_folder_with_a_backslash_is_refused() -> None:
    job = make_job("echo.py", folder=Path("/jobs/a\\b/x"))
    with pytest.raises(SlurmError) as caught:
        render_sbatch(job)
    assert str(caught.value) == (
        "run.job.dir: the job folder must not contain a backslash, which Slurm's --output "
        "cannot take (got '/jobs/a\\\\b/x')"
    )


def test_job_without_folder_is_refused() -> None:
    job = dataclasses.replace(make_job("echo.py"), dir=None)
    with pytest.raises(SlurmError) as caught:
        render_sbatch(job)
    assert str(caught.value) == "run.job.dir: the job has no folder to write its output to"


@pytest.mark.parametrize(
    ("time", "rendered"),
    [("30", "30"), (90, "90"), ("30:00", "30:00"), ("12:30:00", "12:30:00"), ("2-12", "2-12"),
     ("2-12:30", "2-12:30"), ("2-12:30:00", "2-12:30:00"), (0, "0")],
    ids=["MM", "int", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS", "zero"],
)  # fmt: skip
def test_accepted_times(time: object, rendered: str) -> None:
    assert f"#SBATCH --time={rendered}\n" in render_sbatch(make_job("echo.py", {"time": time})).text


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"gpus_per_node": 4}, "--nproc-per-node=4"), ({"gpus_per_node": "3"}, "--nproc-per-node=3"),
     ({"gpus_per_node": 0}, "--nproc-per-node=1"),
     ({"gpus_per_node": 0, "ntasks_per_node": 6}, "--nproc-per-node=6")],
    ids=["gpus", "gpus-string", "cpu", "cpu-tasks"],
)  # fmt: skip
def test_torchrun_processes_per_node(env: dict[str, Any], expected: str) -> None:
    text = render_sbatch(make_job("ranks.py", env)).text
    assert f" {expected} " in text
    assert "#SBATCH --ntasks-per-node=1\n" in text


def test_gpus_zero_writes_no_gpu_directive() -> None:
    assert "--gpus-per-node" not in render_sbatch(make_job("echo.py")).text


PIPELINE_REFUSALS: list[tuple[str, Sequence[str], dict[str, Any], str]] = [
    ("empty", (), {}, "a pipeline needs at least one step"),
    ("ray-step", ("gen.py", "ray_app.py"), {},
     "step 2: launch 'ray' cannot run as a pipeline step"),
    ("args-count", ("gen.py", "digest.py"), {"args": [["1"]]},
     "got 1 argument lists for 2 steps"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("recipes", "options", "message"),
    [case[1:] for case in PIPELINE_REFUSALS],
    ids=[case[0] for case in PIPELINE_REFUSALS],
)
def test_pipeline_refusals(recipes: Sequence[str], options: dict[str, Any], message: str) -> None:
    jobs = [make_job(name) for name in recipes]
    with pytest.raises(SlurmError) as caught:
        render_pipeline_sbatch(jobs, folder=Path("/jobs/p"), **options)
    assert str(caught.value) == message


def _with_cwd(job: Job, cwd: str) -> Job:
    config = {**job.config, "run": {**job.config["run"], "job": {**job.config["run"]["job"], "cwd": cwd}}}
    return dataclasses.replace(job, config=config)


def _cd_line(script: BatchScript) -> str:
    return next(line for line in script.text.splitlines() if line.startswith("cd "))


@pytest.mark.parametrize(
    ("env", "cwd", "options", "expected"),
    [
        ({}, "/home/me/work", {}, "cd /home/me/work"),
        ({}, "/home/me/my work", {}, "cd '/home/me/my work'"),
        ({"code": "snapshot"}, "/repo/recipes/sub", {"repo": REPO}, f"cd {JOB_DIR}/code/recipes/sub"),
        ({"code": "snapshot"}, "/elsewhere", {"repo": REPO}, "cd /elsewhere"),
    ],
    ids=["starting-folder", "quoted", "snapshot-maps-into-the-copy", "snapshot-outside-repo"],
)
def test_a_job_works_in_the_folder_runspec_was_started_from(env, cwd, options, expected):
    script = render_sbatch(_with_cwd(make_job("echo.py", env), cwd), **options)
    assert _cd_line(script) == expected


def test_in_a_container_the_starting_folder_is_mounted_and_the_workdir(tmp_path):
    job = _with_cwd(make_job("echo.py", {"container_image": "img:1"}), "/home/me/work")
    text = render_sbatch(job, repo=REPO).text
    assert "--container-workdir=/home/me/work" in text
    assert f"--container-mounts=/repo:/repo,{JOB_DIR}:{JOB_DIR},/home/me/work:/home/me/work" in text
    assert not any(line.startswith("cd ") for line in text.splitlines())


def test_recipe_workdir_applies_only_in_a_container():
    plain = render_sbatch(_with_cwd(make_job("workdir.py"), "/home/me"))
    assert _cd_line(plain) == "cd /home/me"
    boxed = render_sbatch(_with_cwd(make_job("workdir.py", {"container_image": "i"}), "/home/me"))
    assert "--container-workdir=/opt/app" in boxed.text


def test_secrets_apart_leave_the_script_and_go_to_a_private_file() -> None:
    script = GOLDEN_CASES["secrets-apart"]()
    [(path, text)] = script.secret_files
    assert path.name == "secrets.env" and path.parent.name == "20250101-120000"
    assert text == "export HF_TOKEN=hf_abc\nexport WANDB_API_KEY=w123\nexport db_Password=pw\n"
    assert not [value for value in ("hf_abc", "w123", "=pw") if value in script.text]
    assert (script.mode, script.text) == (0o644, script.masked)


def test_each_pipeline_step_sources_its_own_secrets() -> None:
    jobs = [
        make_job("echo.py", {"env_vars": {"HF_TOKEN": f"tok-{n}"}}, folder=Path(f"/jobs/s{n}"))
        for n in (1, 2)
    ]
    script = render_pipeline_sbatch(jobs, folder=Path("/jobs/p"), secrets_apart=True)
    assert script.secret_files == (
        (Path("/jobs/s1/secrets.env"), "export HF_TOKEN=tok-1\n"),
        (Path("/jobs/s2/secrets.env"), "export HF_TOKEN=tok-2\n"),
    )
    assert "tok-" not in script.text
    sourced = [line.strip() for line in script.text.splitlines() if "secrets.env" in line]
    assert [line.split(". ")[1].split(";")[0] for line in sourced] == [
        "/jobs/s1/secrets.env", "/jobs/s2/secrets.env",
    ]  # fmt: skip
