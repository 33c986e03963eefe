"""Slurm batch scripts: a job rendered as the text ``sbatch`` runs, with no side effects.

:func:`render_sbatch` turns an assembled :class:`~runspec.job.Job` into a
:class:`BatchScript`: ``#SBATCH`` directives, ``set -euo pipefail``, the environment,
the profile's ``setup`` lines, then the launch (``direct``, ``torchrun`` or ``ray``).
:func:`render_pipeline_sbatch` renders several jobs as one batch job whose steps stream
into each other through named pipes. Nothing here reads the clock, the environment or
a file: the python to call and the recipe's repository are passed in. Submitting,
waiting and cancelling live in :mod:`runspec.slurm.cluster`.

Every value that reaches the shell is quoted with :func:`shlex.quote`; values that
become directives are quoted the way ``sbatch`` reads them. A value that would break
a line, an unknown dependency type, a bad time, a non-numeric count or a malformed
mount is refused with a :class:`~runspec.errors.SlurmError` before anything is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import launch
from .._environ import ENV_NAME, env_text
from .._masking import MASK, secret_value, shown
from ..errors import RunspecError, SlurmError
from ..runenv import partition_for
from ..tracking import wandb_variables

if TYPE_CHECKING:
    from ..job import Job
    from ..spec import Runspec

__all__ = [
    "DEPENDENCY_TYPES",
    "BatchScript",
    "check_time",
    "pipeline_name",
    "render_pipeline_sbatch",
    "render_sbatch",
]

DEPENDENCY_TYPES = ("afterany", "afternotok", "afterok")
"""The ``--dependency`` types ``--after`` accepts."""

_OPTION = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_PLAIN = re.compile(r"[A-Za-z0-9_./:%@+=,^-]+")
_JOB_ID = re.compile(r"[0-9]+(?:_[0-9]+)?")
_MEM = re.compile(r"[0-9]+[KMGT]?")
_TIME = re.compile(r"[0-9]+(?::[0-9]{1,2}){0,2}|[0-9]+-[0-9]{1,2}(?::[0-9]{1,2}){0,2}")
_TIME_FORMATS = "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
_SHORT = {
    "A": "account", "C": "constraint", "J": "job-name", "N": "nodes", "c": "cpus-per-task",
    "d": "dependency", "e": "error", "o": "output", "p": "partition", "q": "qos", "t": "time",
}  # fmt: skip
_RAY_WAIT = """\
import sys, time
import ray
want, deadline = int(sys.argv[1]), time.monotonic() + 600
while True:
    try:
        ray.init(address="auto", logging_level="ERROR")
        break
    except Exception:
        if time.monotonic() > deadline:
            sys.exit("runspec: the Ray head did not start within 600 s")
        time.sleep(1)
while sum(node["Alive"] for node in ray.nodes()) < want:
    if time.monotonic() > deadline:
        what = "the Ray head did not register" if want == 1 else f"not all {want} nodes joined"
        sys.exit(f"runspec: {what} within 600 s")
    time.sleep(0.5)
"""
_RAY_TRAP = """\
runspec_ray=()
# Stop the Ray cluster however the script ends. A killed srun cancels its step at once;
# left to the end of the job, Ray's own shutdown held the job for ~30 s more.
runspec_stop_ray() {
    echo "runspec: stopping the Ray cluster" >&2
    # shellcheck disable=SC2046 # one pid per word: the Ray sruns and the waiter
    kill $(jobs -p) 2>/dev/null || true
    wait
}
trap runspec_stop_ray EXIT"""
_RAY_WATCH = """\
    runspec_waiter=$!
    # A Ray srun that ends before the waiter returns means its node can no longer join.
    while kill -0 "$runspec_waiter" 2>/dev/null; do
        for runspec_pid in "${runspec_ray[@]}"; do
            if ! kill -0 "$runspec_pid" 2>/dev/null; then
                echo "runspec: a Ray node stopped before all nodes joined" >&2
                exit 1
            fi
        done
        sleep 0.5
    done
    wait "$runspec_waiter"
}"""
_WAIT_STEPS = r"""runspec_wait_steps() {
    # The first step to fail (a SIGPIPE death, 141, is caused downstream and not counted)
    # stops the others and gives the job its exit code.
    local i code=0 left=${#runspec_pids[@]}
    local -a status=()
    while ((left > 0)); do
        wait -n 2>/dev/null || true
        for i in "${!runspec_pids[@]}"; do
            # bash has reaped a finished step, so kill -0 fails and wait returns its status
            if [[ -n ${status[i]:-} ]] || kill -0 "${runspec_pids[i]}" 2>/dev/null; then
                continue
            fi
            status[i]=0
            wait "${runspec_pids[i]}" || status[i]=$?
            left=$((left - 1))
            if ((status[i] != 0 && status[i] != 141 && code == 0)); then
                code=${status[i]}
                echo "runspec: step $((i + 1)) (${runspec_steps[i]}) failed: exit code $code" >&2
                kill -TERM "${runspec_pids[@]}" 2>/dev/null || true
            fi
        done
    done
    return "$code"
}"""


@dataclass(frozen=True)
class BatchScript:
    """A rendered batch script: the text to submit and the same text with secrets masked."""

    text: str
    masked: str
    warnings: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    """Names of the exported variables whose values are masked (keys like ``*token*``)."""
    snapshot: tuple[Path, Path] | None = None
    """(repository, folder): ``submit`` copies the repository's files into the folder."""
    secret_files: tuple[tuple[Path, str], ...] = ()
    """(path, text) of the files holding the secret exports, when kept apart from the
    script: each is written 0600 and sourced by the script with tracing off."""

    @property
    def mode(self) -> int:
        """The file mode to write the script with: 0600 when it holds secrets."""
        return 0o600 if self.secrets and not self.secret_files else 0o644


class _Shell(str):
    """A command-line token that is shell text on purpose (``"$MASTER_ADDR"``), not quoted."""

    __slots__ = ()


def _join(argv: Iterable[str]) -> str:
    from shlex import quote

    return " ".join(token if isinstance(token, _Shell) else quote(token) for token in argv)


_BREAK = re.compile(r"[\n\r\0]")


def _one_line(value: object, key: str) -> str:
    text = str(value)
    if _BREAK.search(text):
        raise SlurmError(f"must not contain a newline or NUL (got {shown(text, key)})", key=key)
    return text


def _count(env: Mapping[str, Any], name: str, low: int, default: int | None) -> int | None:
    """A whole-number setting of ``run.env`` (an int, or a string of digits)."""
    value = env.get(name, default)
    if value is None:
        return None
    key = f"run.env.{name}"
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SlurmError(f"must be a whole number (got {value!r})", key=key)
    if value < low:
        raise SlurmError(f"must be at least {low} (got {value})", key=key)
    return value


def check_time(value: object, key: str = "run.env.time") -> str:
    """Return a Slurm ``--time`` value; an int is minutes. Refuses other formats."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    text = _one_line(value, key)
    if not isinstance(value, str) or not _TIME.fullmatch(text):
        raise SlurmError(f"bad time {value!r} (expected {_TIME_FORMATS})", key=key)
    return text


def _check_mem(value: object) -> str:
    text = _one_line(value, "run.env.mem")
    if isinstance(value, bool) or not _MEM.fullmatch(text):
        message = f"bad memory size {value!r} (expected a number with an optional K, M, G or T)"
        raise SlurmError(message, key="run.env.mem")
    return text


def _check_mount(text: object, key: str) -> str:
    mount = _one_line(text, key)
    parts = mount.split(":")
    fine = (
        isinstance(text, str)
        and "," not in mount
        and len(parts) in (2, 3)
        and all(parts)
        and parts[0].startswith("/")
        and parts[1].startswith("/")
    )
    if not fine:
        message = f"bad mount {text!r} (expected SRC:DST[:FLAGS], absolute paths, no commas)"
        raise SlurmError(message, key=key)
    return mount


# -- directives ---------------------------------------------------------------------------


def _directive_value(value: str) -> str:
    """``value`` as sbatch reads it from a ``#SBATCH`` line (double quotes, backslash escapes)."""
    if _PLAIN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _directive(option: str, value: str | bool) -> str:
    if value is True:
        return f"#SBATCH --{option}"
    return f"#SBATCH --{option}={_directive_value(str(value))}"


def _dependency(after: Sequence[str], kind: str) -> str | None:
    if kind not in DEPENDENCY_TYPES:
        expected = ", ".join(DEPENDENCY_TYPES)
        raise SlurmError(f"unknown dependency type {kind!r} (expected one of: {expected})")
    for job_id in after:
        if not _JOB_ID.fullmatch(str(job_id)):
            message = f"not a job id: {job_id!r} (expected digits, e.g. 12345)"
            raise SlurmError(message, key="--after")
    return ":".join((kind, *map(str, after))) if after else None


def _options(
    job: Job, folder: Path, tasks: int, dependency: str | None, attached: bool
) -> dict[str, str | bool]:
    """runspec's own options, in the order they are written (these win over pass-through)."""
    env = job.env
    options: dict[str, str | bool] = {"job-name": job.name}
    if env.get("account") is not None:
        options["account"] = _one_line(env["account"], "run.env.account")
    key, partition = partition_for(env, attached)
    if partition is not None:
        options["partition"] = _one_line(partition, f"run.env.{key}")
    if env.get("qos") is not None:
        options["qos"] = _one_line(env["qos"], "run.env.qos")
    options["nodes"] = str(_count(env, "nodes", 1, 1))
    options["ntasks-per-node"] = str(tasks)
    gpus = _count(env, "gpus_per_node", 0, 0)
    if gpus:
        options["gpus-per-node"] = str(gpus)
    cpus = _count(env, "cpus_per_task", 1, None)
    if cpus is not None:
        options["cpus-per-task"] = str(cpus)
    if env.get("mem") is not None:
        options["mem"] = _check_mem(env["mem"])
    if env.get("time") is not None:
        options["time"] = check_time(env["time"])
    if env.get("constraint") is not None:
        options["constraint"] = _one_line(env["constraint"], "run.env.constraint")
    if env.get("exclusive") is True:
        options["exclusive"] = True
    where = _one_line(folder, "run.job.dir")
    if "\\" in where:  # sbatch fails to open such an --output file: the job never starts
        message = (
            "the job folder must not contain a backslash, which Slurm's --output cannot "
            f"take (got {str(folder)!r})"
        )
        raise SlurmError(message, key="run.job.dir")
    where = where.replace("%", "%%")
    options["output"] = f"{where}/%x-%j.out"
    options["error"] = f"{where}/%x-%j.err"
    if dependency:
        options["dependency"] = dependency
    return options


def _passthrough(
    table: object, protected: Mapping[str, object]
) -> tuple[list[str], list[str]]:
    """The profile's ``sbatch`` table as directives, and warnings for options runspec sets."""
    if table is None:
        return [], []
    if not isinstance(table, Mapping):
        raise SlurmError(f"must be a table (got {table!r})", key="run.env.sbatch")
    lines, warnings = [], []
    for raw, value in table.items():
        key = f"run.env.sbatch.{raw}"
        option = str(raw).lstrip("-")
        if not _OPTION.fullmatch(option):
            raise SlurmError("not an sbatch option name", key=key)
        long = _SHORT.get(option, option.replace("_", "-"))
        if long in protected:
            warnings.append(f"{key}: runspec sets --{long} itself; ignoring {value!r}")
            continue
        if value is False:
            continue
        if not isinstance(value, (str, int, float)):
            raise SlurmError(f"must be a string, number or boolean (got {value!r})", key=key)
        lines.append(_directive(long, True if value is True else _one_line(value, key)))
    return lines, warnings


# -- environment --------------------------------------------------------------------------

_HEAD_ADDRESS = """\
runspec_nodes=$(scontrol show hostnames "$SLURM_JOB_NODELIST")
runspec_head=${runspec_nodes%%$'\\n'*}
# The first node's address as Slurm knows it (NodeAddr), else its host name.
runspec_node=$(scontrol show node "$runspec_head" 2>/dev/null || true)
if [[ $runspec_node =~ NodeAddr=([^[:space:]]+) ]]; then
    export MASTER_ADDR=${BASH_REMATCH[1]}
else
    export MASTER_ADDR=$runspec_head
fi
export MASTER_PORT=$((20000 + SLURM_JOB_ID % 10000))
# Slurm 22.05+ steps no longer inherit --cpus-per-task from the job.
if [[ -n ${SLURM_CPUS_PER_TASK:-} ]]; then
    export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
fi"""


def _env_value(value: object, key: str) -> str:
    if not isinstance(value, (str, int, float)):
        message = f"must be a string, number or boolean (got {shown(value, key)})"
        raise SlurmError(message, key=key)
    text = env_text(value)
    if "\0" in text:
        raise SlurmError(f"must not contain a NUL (got {shown(text, key)})", key=key)
    return text


def _variables(job: Job) -> list[tuple[str, str, str]]:
    """(name, value, key) of the recipe's env (``${run.*}`` resolved), then the profile's."""
    wandb = wandb_variables(job.config["run"].get("wandb"))
    found: list[tuple[str, Any, str]] = [(name, value, "wandb") for name, value in wandb.items()]
    for name, raw in job.spec.env.items():
        value = job.resolve(raw) if isinstance(raw, str) else raw
        found.append((name, value, f"tool.runspec.env.{name}"))
    profile = job.env.get("env_vars") or {}
    if not isinstance(profile, Mapping):
        raise SlurmError(f"must be a table (got {profile!r})", key="run.env.env_vars")
    found.extend((str(name), value, f"run.env.env_vars.{name}") for name, value in profile.items())
    checked = []
    for name, value, key in found:
        if not ENV_NAME.fullmatch(name):
            raise SlurmError("not a valid environment variable name", key=key)
        checked.append((name, _env_value(value, key), key))
    return checked


SECRETS_FILE = "secrets.env"
"""The file in a job folder that holds its secret exports (see :class:`BatchScript`)."""


def _source_quietly(path: Path) -> str:
    """The line that sources ``path`` with tracing off, and turns tracing back on if it was."""
    from shlex import quote

    return (
        f"runspec_xtrace=${{-//[^x]/}}; set +x; . {quote(str(path))}; "
        '[[ -z $runspec_xtrace ]] || set -x'
    )


class _Text:
    """Lines of a script, with a masked twin for the lines holding secrets.

    With ``secrets_apart``, a secret export goes into the ``secrets.env`` of the folder
    set by :meth:`secrets_in` instead, and the script sources that file where the first
    such export would have been.
    """

    def __init__(self, secrets_apart: bool = False) -> None:
        self.lines: list[str] = []
        self.masked: list[str] = []
        self.secrets: list[str] = []
        self._apart = secrets_apart
        self._file: Path | None = None
        self.files: dict[Path, list[str]] = {}

    def secrets_in(self, folder: Path) -> None:
        """Secret exports from here on go to ``folder/secrets.env`` (when kept apart)."""
        self._file = folder / SECRETS_FILE

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)
        self.masked.extend(lines)

    def export(self, name: str, value: str, indent: str = "") -> None:
        from shlex import quote

        secret = secret_value(name, value)
        line = f"{indent}export {name}={quote(value)}"
        if secret and name not in self.secrets:
            self.secrets.append(name)
        if secret and self._apart and self._file is not None:
            if self._file not in self.files:
                self.files[self._file] = []
                self.add(indent + _source_quietly(self._file))
            self.files[self._file].append(line.lstrip())
            return
        self.lines.append(line)
        self.masked.append(f"{indent}export {name}={quote(MASK)}" if secret else line)

    def script(
        self, warnings: Sequence[str], snapshot: tuple[Path, Path] | None
    ) -> BatchScript:
        files = tuple((path, "\n".join(lines) + "\n") for path, lines in self.files.items())
        return BatchScript(
            "\n".join(self.lines) + "\n",
            "\n".join(self.masked) + "\n",
            tuple(warnings),
            tuple(self.secrets),
            snapshot,
            files,
        )


def _setup(env: Mapping[str, Any], key: str = "setup") -> list[str]:
    """The shell lines of ``setup`` (a string or a list) or ``startup_commands`` (a list)."""
    from ..startup import shell_lines

    try:
        lines = shell_lines(env, key)
    except RunspecError as error:
        raise SlurmError(error.message, key=error.key) from None
    for line in lines:
        if "\0" in line:
            raise SlurmError(f"must not contain a NUL (got {line!r})", key=f"run.env.{key}")
    return lines


def _setup_lines(env: Mapping[str, Any]) -> list[str]:
    """The profile's ``setup``, then ``startup_commands``, each under a heading."""
    lines = []
    headings = (("setup", "setup (from the profile)"), ("startup_commands", "startup commands"))
    for key, heading in headings:
        own = _setup(env, key)
        if own:
            lines += ["", f"# runspec: {heading}", *own]
    return lines


# -- launch -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """What the launch lines of one job need, computed once."""

    spec: Runspec
    config: str
    workdir: str
    srun: tuple[str, ...]
    """Options every ``srun`` of the job gets: the profile's ``srun_args``, then containers."""
    program: tuple[str, ...]
    python: str


def uses_snapshot(env: Mapping[str, Any]) -> bool:
    """Whether the job runs from a copy of its code: ``code = "snapshot"``, or the default
    when submitting over ssh (``tunnel = "ssh"``), where the cluster has no checkout."""
    default = "snapshot" if env.get("tunnel") == "ssh" else "live"
    return bool(env.get("code", default) == "snapshot")


def _snapshot_spec(job: Job, repo: Path | None, code: Path) -> Runspec:
    if not uses_snapshot(job.env):
        return job.spec
    if repo is None:
        message = "'snapshot' needs the recipe in a git repository"
        raise SlurmError(message, key="run.env.code")
    relative = os.path.relpath(job.spec.script_path, repo)
    return replace(job.spec, script_path=code / relative)


def _is_containerised(job: Job) -> bool:
    return bool(job.image)


@dataclass(frozen=True)
class _Workdir:
    """The job's working folder, and whether it is a folder of this host (the starting
    folder) that a container must have mounted, rather than one the job names."""

    folder: str
    on_host: bool


def _workdir(job: Job, spec: Runspec, repo: Path | None, code: Path) -> _Workdir:
    """The job's working folder: ``run.env.workdir``; else, in a container, the recipe's
    ``run.workdir``; else the folder runspec was started from (``run.job.cwd``), as for
    a local run. Relative folders are taken from the recipe's folder.

    With a code snapshot (copied to ``code``), a starting folder inside the
    repository becomes the same folder of the copy.
    """
    run = job.config.get("run", {})
    raw, key = job.env.get("workdir"), "run.env.workdir"
    if raw is None and _is_containerised(job):
        raw = run.get("recipe", {}).get("workdir", spec.run.workdir)
        key = "tool.runspec.run.workdir"
    if raw is not None:
        resolved = str(raw)  # resolved with the job config already
        folder = os.path.normpath(os.path.join(spec.script_path.parent, resolved))
        return _Workdir(_one_line(folder, key), on_host=False)
    cwd = run.get("job", {}).get("cwd") or str(spec.script_path.parent)
    if spec is not job.spec and repo is not None and _is_under(cwd, repo):
        cwd = os.path.normpath(os.path.join(code, os.path.relpath(cwd, repo)))
    elif spec is not job.spec and job.env.get("tunnel") == "ssh":
        cwd = str(code)  # a folder of this machine, which the cluster does not have
    return _Workdir(_one_line(cwd, "run.job.cwd"), on_host=True)


def _is_under(path: str | Path, folder: str | Path) -> bool:
    return not os.path.relpath(path, folder).startswith(os.pardir)


def _container(
    job: Job, workdir: _Workdir, repo: Path | None, code: Path | None
) -> tuple[str, ...]:
    """The srun options of a container job: image, mounts (the profile's, then the
    checkout, or the code snapshot, and the job folder), working folder. A working
    folder the job names is never mounted over: it may exist only in the image."""
    from .squash import squashed_image

    env, image = job.env, squashed_image(job)
    if not image:
        return ()
    mounts = env.get("mounts") or []
    if not isinstance(mounts, (list, tuple)):
        raise SlurmError(f"must be a list of strings (got {mounts!r})", key="run.env.mounts")
    checked = [_check_mount(mount, "run.env.mounts") for mount in mounts]
    assert job.dir is not None
    own = [job.dir] if code else [repo or job.spec.script_path.parent, job.dir]
    if code and not _is_under(code, job.dir):
        own.append(code)  # a snapshot shared by jobs, outside the job folder
    if workdir.on_host and not any(_is_under(workdir.folder, folder) for folder in own):
        own.append(Path(workdir.folder))  # the starting folder, where the job works
    for folder in own:
        mount = _check_mount(f"{folder}:{folder}", "run.job.dir")
        if mount not in checked:
            checked.append(mount)
    where = env.get("container_workdir") or workdir.folder
    return (
        f"--container-image={_one_line(image, 'run.env.container_image')}",
        f"--container-mounts={','.join(checked)}",
        f"--container-workdir={_one_line(where, 'run.env.container_workdir')}",
    )


def _squash_guard(job: Job) -> list[str]:
    """With ``squash = true``: stop at once when the image's ``.sqsh`` file is missing."""
    from .squash import guard_lines

    return guard_lines(job)


def _context(
    job: Job, args: Sequence[str], python: str, repo: Path | None, code: Path | None = None
) -> _Context:
    if job.dir is None:
        raise SlurmError("the job has no folder to write its output to", key="run.job.dir")
    for index, arg in enumerate(args, start=1):
        _one_line(arg, f"argument {index}")
    code = code or job.dir / "code"
    spec = _snapshot_spec(job, repo, code)
    config = _one_line(job.config_file, "run.job.dir")
    workdir = _workdir(job, spec, repo, code)
    extra = job.env.get("srun_args") or []
    if not isinstance(extra, (list, tuple)):
        raise SlurmError(f"must be a list of strings (got {extra!r})", key="run.env.srun_args")
    srun = tuple(_one_line(arg, "run.env.srun_args") for arg in extra)
    srun += _container(job, workdir, repo, code if spec is not job.spec else None)
    program = launch.program(spec, config, args, python=python, resolve=job.resolve)
    for token in program:
        _one_line(token, "tool.runspec.run.cmd")
    return _Context(spec, config, workdir.folder, srun, program, python)


def _procs(job: Job) -> int:
    """torchrun processes per node: ``nproc_per_node``, else the GPUs per node, else the
    tasks per node, else 1."""
    nproc = _count(job.env, "nproc_per_node", 1, None)
    if nproc is not None:
        return nproc
    gpus = _count(job.env, "gpus_per_node", 0, 0)
    return gpus or _count(job.env, "ntasks_per_node", 1, 1) or 1


def _torchrun(job: Job, ctx: _Context, args: Sequence[str]) -> tuple[str, ...]:
    options = (
        ctx.python, "-m", "torch.distributed.run",
        _Shell('--nnodes="$SLURM_JOB_NUM_NODES"'), f"--nproc-per-node={_procs(job)}",
        "--rdzv-backend=c10d", _Shell('--rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT"'),
        _Shell('--rdzv-id="$SLURM_JOB_ID"'),
    )  # fmt: skip
    return launch.torchrun_argv(ctx.spec, ctx.config, args, torchrun=options, resolve=job.resolve)


def _launch_lines(job: Job, ctx: _Context, args: Sequence[str]) -> list[str]:
    launcher = job.spec.run.launcher
    all_nodes = (_Shell('--nodes="$SLURM_JOB_NUM_NODES"'),)
    if launcher == "torchrun":
        argv = ("srun", *all_nodes, "--ntasks-per-node=1", *ctx.srun, *_torchrun(job, ctx, args))
        return [_join(argv)]
    if launcher == "ray":
        return _ray_lines(job, ctx)
    tasks = _count(job.env, "ntasks_per_node", 1, 1)
    return [_join(("srun", *all_nodes, f"--ntasks-per-node={tasks}", *ctx.srun, *ctx.program))]


def _ray_lines(job: Job, ctx: _Context) -> list[str]:
    def on(node: str) -> tuple[str, ...]:
        return ("srun", "--nodes=1", "--ntasks=1", "--overlap", _Shell(f'--nodelist="{node}"'))

    # Ray's workers run the interpreter that ran `ray start`: runspec's python, not a `ray`
    # found on PATH. Ports with a fixed default are per job or left to the kernel, and the
    # session folder is per job (workers take it from the head), so that several Ray jobs
    # (or all the nodes of one) can share a host.
    ray = (ctx.python, "-m", "ray.scripts.scripts", "start")
    node = (*_ray_resources(job), "--dashboard-agent-listen-port=0")
    head = (
        *ray, "--head", _Shell('--node-ip-address="$MASTER_ADDR"'), _Shell('--port="$MASTER_PORT"'),
        _Shell('--temp-dir="${TMPDIR:-/tmp}/ray-$SLURM_JOB_ID"'),
        *node, _Shell('--dashboard-port="$((MASTER_PORT + 10000))"'),
        _Shell('--ray-client-server-port="$((MASTER_PORT + 20000))"'), "--disable-usage-stats",
        "--block",
    )  # fmt: skip
    worker = (*ray, _Shell('--address="$RAY_ADDRESS"'), *node, "--block")
    waiter = (ctx.python, "-c", _RAY_WAIT, _Shell('"$1"'))
    on_head = on("$runspec_head")
    return [
        'export RAY_ADDRESS="$MASTER_ADDR:$MASTER_PORT"',
        _RAY_TRAP,
        "# runspec_ray_wait N: wait until N Ray nodes are alive, or fail if a node stops.",
        "runspec_ray_wait() {",
        "    " + _join((*on_head, *ctx.srun, *waiter)) + " &",
        _RAY_WATCH,
        _join((*on_head, *ctx.srun, *head)) + " &",
        'runspec_ray+=("$!")',
        "# Workers start once the head has registered: a worker that finds no head in the",
        "# GCS gives up after about 40 s, which a busy head node can take to register.",
        "runspec_ray_wait 1",
        "# One srun per worker node: one that fails is seen at once, and ends no other.",
        'mapfile -t runspec_hosts <<<"$runspec_nodes"',
        'for runspec_worker in "${runspec_hosts[@]:1}"; do',
        "    " + _join((*on("$runspec_worker"), *ctx.srun, *worker)) + " &",
        '    runspec_ray+=("$!")',
        "done",
        'runspec_ray_wait "$SLURM_JOB_NUM_NODES"',
        _join((*on_head, *ctx.srun, *ctx.program)),
    ]


def _ray_resources(job: Job) -> tuple[str, ...]:
    """What each Ray node offers: the job's share of the node, not everything Ray can see."""
    found = [f"--num-gpus={_count(job.env, 'gpus_per_node', 0, 0)}"]
    cpus = _count(job.env, "cpus_per_task", 1, None)
    if cpus is not None:
        found.append(f"--num-cpus={cpus}")
    return tuple(found)


# -- whole scripts ------------------------------------------------------------------------


def _header(
    job: Job,
    folder: Path,
    tasks: int,
    after: Sequence[str],
    dependency_type: str,
    attached: bool,
) -> tuple[list[str], list[str]]:
    options = _options(job, folder, tasks, _dependency(after, dependency_type), attached)
    extra, warnings = _passthrough(job.env.get("sbatch"), options)
    lines = ["#!/bin/bash", *(_directive(name, value) for name, value in options.items())]
    return [*lines, *extra, "set -euo pipefail"], warnings


def render_sbatch(
    job: Job,
    *,
    args: Sequence[str] = (),
    after: Sequence[str] = (),
    dependency_type: str = "afterok",
    python: str = "python",
    repo: Path | None = None,
    code: Path | None = None,
    attached: bool = False,
    secrets_apart: bool = False,
) -> BatchScript:
    """Render ``job`` as a batch script (pure: no I/O, no clock, no environment).

    ``args`` go after the recipe's command; ``after`` are job ids the job depends on
    (one ``--dependency=<dependency_type>:<id>:<id>``); ``python`` runs the default
    command; ``repo`` is the recipe's repository (mounted at the same path in a
    container, copied with a code snapshot); ``code`` is where the snapshot's copy is
    (default: ``code/`` in the job folder). ``attached`` says the job is followed as it
    runs (``runspec run``): it goes to the profile's ``run_partition`` instead of its
    ``batch_partition``. ``secrets_apart`` keeps secret values out of the script, in
    ``secrets.env`` of the job folder (see :class:`BatchScript`), as submitting does.
    """
    launcher = job.spec.run.launcher
    tasks = _count(job.env, "ntasks_per_node", 1, 1) if launcher == "direct" else 1
    ctx = _context(job, args, python, repo, code)
    assert job.dir is not None
    header, warnings = _header(job, job.dir, tasks or 1, after, dependency_type, attached)
    text = _Text(secrets_apart)
    text.secrets_in(job.dir)
    text.add(*header, "", "# runspec: environment")
    text.export("RUNSPEC_JOB_DIR", str(job.dir))
    text.export("RUNSPEC_JOB_NAME", job.name)
    text.export("RUNSPEC_CONFIG", ctx.config)
    text.add(_HEAD_ADDRESS)
    for name, value, _ in _variables(job):
        text.export(name, value)
    text.add(*_setup_lines(job.env))
    text.add(*_squash_guard(job))
    text.add("", f"# runspec: launch ({launcher})")
    if not any(option.startswith("--container-image=") for option in ctx.srun):
        text.add(_join(("cd", ctx.workdir)))
    text.add(*_launch_lines(job, ctx, args))
    snapshot = (repo, code or job.dir / "code") if repo and ctx.spec is not job.spec else None
    return text.script(warnings, snapshot)


_PREFIXER = "LC_ALL=C awk '{ print ENVIRON[\"RUNSPEC_PREFIX\"] $0; fflush() }'"


def _prefix_lines(text: _Text, name: str, index: int) -> str:
    """``--prefix``: a reader that writes the step's stderr as ``[name] line`` lines.

    It reads a named pipe the step's stderr goes to; the job waits for it at the end,
    so no line is lost. Returns the redirection that sends the step's stderr there.
    """
    import shlex

    pipe = f'"$runspec_pipes/err{index + 1}"'
    text.add(f"mkfifo {pipe}")
    text.add(f"RUNSPEC_PREFIX={shlex.quote(f'[{name}] ')} {_PREFIXER} <{pipe} >&2 &")
    text.add('runspec_taps+=("$!")')
    return f" 2>{pipe}"


def _step_lines(
    text: _Text, job: Job, ctx: _Context, index: int, count: int, args: Sequence[str],
    prefix: bool = False,
) -> None:
    """One pipeline step: a background subshell that ``exec``s its srun."""
    pipes = [_Shell(f'"$runspec_pipes/{n}"') for n in (index, index + 1)]
    ends = ([pipes[0]] if index > 0 else []) + ([pipes[1]] if index < count - 1 else [])
    redirect = ("<" if index > 0 else "") + (">" if index < count - 1 else "")
    streams = " ".join(f'{sign}"${n + 1}"' for n, sign in enumerate(redirect))
    wrapper = ("bash", "-c", f'exec "${{@:{len(ends) + 1}}}" {streams}', "runspec-step", *ends)
    if not ends:
        wrapper = ()
    program = ctx.program
    if job.spec.run.launcher == "torchrun":
        options = (
            ctx.python, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={_procs(job)}",
        )  # fmt: skip
        program = launch.torchrun_argv(
            ctx.spec, ctx.config, args, torchrun=options, resolve=job.resolve
        )
    srun: tuple[str, ...] = ("exec", "srun", "--nodes=1", "--ntasks=1", "--overlap")
    srun = (*srun, _Shell('--nodelist="$SLURMD_NODENAME"'), *ctx.srun)
    redirect = _prefix_lines(text, job.name, index) if prefix else ""
    text.add("(")
    if not any(option.startswith("--container-image=") for option in ctx.srun):
        text.add("    " + _join(("cd", ctx.workdir)))
    assert job.dir is not None
    text.secrets_in(job.dir)
    text.export("RUNSPEC_JOB_DIR", str(job.dir), "    ")
    text.export("RUNSPEC_CONFIG", ctx.config, "    ")
    for name, value, _ in _variables(job):
        text.export(name, value, "    ")
    text.add("    " + _join((*srun, *wrapper, *program)), f"){redirect} &", 'runspec_pids+=("$!")')


def render_pipeline_sbatch(
    jobs: Sequence[Job],
    *,
    folder: Path,
    name: str | None = None,
    args: Sequence[Sequence[str]] = (),
    after: Sequence[str] = (),
    dependency_type: str = "afterok",
    python: str = "python",
    repo: Path | None = None,
    code: Path | None = None,
    prefix: bool = False,
    attached: bool = True,
    secrets_apart: bool = False,
) -> BatchScript:
    """Render ``jobs`` as ONE batch job whose steps stream into each other.

    Step N's stdout is step N+1's stdin through a named pipe in ``folder/pipes`` (on the
    batch node, so the kernel carries the bytes; ``srun a | srun b`` would not stop
    ``a`` when ``b`` exits early). Each step is ``srun --nodes=1 --ntasks=1 --overlap``
    with its own config and environment. The job's exit code is the first failing
    step's; an upstream step killed by SIGPIPE is not counted as failing. The
    directives and setup lines come from the first job's profile. ``args`` holds one
    argument list per step. With ``prefix`` each step's stderr lines start with
    ``[step name] ``, as in a local ``runspec pipe --prefix``. ``runspec pipe`` follows
    the job (``attached``, the ``run_partition``). ``secrets_apart``: each step's secret
    values go to the ``secrets.env`` of its job folder, as in :func:`render_sbatch`.
    """
    if not jobs:
        raise SlurmError("a pipeline needs at least one step")
    if len(args) not in (0, len(jobs)):
        raise SlurmError(f"got {len(args)} argument lists for {len(jobs)} steps")
    steps = [tuple(args[i]) if args else () for i in range(len(jobs))]
    for index, job in enumerate(jobs, start=1):
        if job.spec.run.launcher == "ray":
            raise SlurmError("launch 'ray' cannot run as a pipeline step", key=f"step {index}")
    code = code or folder / "code"
    contexts = [_context(job, steps[i], python, repo, code) for i, job in enumerate(jobs)]
    safe = re.sub(r"[^A-Za-z0-9._+-]+", "-", name or pipeline_name(jobs))
    first = replace(jobs[0], name=safe.strip("-.")[:128] or "pipeline")
    header, warnings = _header(first, folder, 1, after, dependency_type, attached)
    text = _Text(secrets_apart)
    text.secrets_in(folder)
    text.add(*header, "", "# runspec: environment")
    text.export("RUNSPEC_PIPELINE_DIR", str(folder))
    text.add(*_setup_lines(jobs[0].env))
    for job in jobs:
        text.add(*_squash_guard(job))
    text.add("", f"# runspec: pipeline of {len(jobs)} steps, stdout -> stdin through named pipes")
    text.add("runspec_steps=(" + _join(job.name for job in jobs) + ")")
    text.add('runspec_pipes="$RUNSPEC_PIPELINE_DIR/pipes"', 'mkdir -p "$runspec_pipes"')
    text.add("trap 'rm -rf \"$runspec_pipes\"' EXIT")
    if len(jobs) > 1:
        fifos = " ".join(f'"$runspec_pipes/{n}"' for n in range(1, len(jobs)))
        text.add(f"mkfifo {fifos}")
    text.add(_WAIT_STEPS, "runspec_pids=()")
    if prefix:
        text.add("runspec_taps=()")
    for index, (job, ctx) in enumerate(zip(jobs, contexts, strict=True)):
        _step_lines(text, job, ctx, index, len(jobs), steps[index], prefix)
    if prefix:
        text.add(
            "runspec_code=0",
            "runspec_wait_steps || runspec_code=$?",
            'wait "${runspec_taps[@]}" || true  # the prefixed lines are all written',
            'exit "$runspec_code"',
        )
    else:
        text.add("runspec_wait_steps")
    snapshot = any(ctx.spec is not job.spec for job, ctx in zip(jobs, contexts, strict=True))
    return text.script(warnings, (repo, code) if repo and snapshot else None)


def pipeline_name(jobs: Sequence[Job]) -> str:
    """The batch job name of a pipeline: its steps' names joined by ``+`` (at most 128 chars)."""
    return "+".join(job.name for job in jobs)[:128] or "pipeline"

