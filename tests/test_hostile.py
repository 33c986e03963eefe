"""Hostile documents: one line naming the file, never a traceback; the other files still count.

Recipes, env.toml files, config files and override values nested hundreds of levels
deep, holding integers of thousands of digits, or TOML dates and times.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import block, cli_env

DEEP_ARRAY = "[" * 600 + "]" * 600
DEEP_TABLE = "{a = " * 600 + "1" + "}" * 600
HUGE_INT = "9" * 4301
HEX_INT = "0x" + "f" * 3700  # parses, but has more than 4300 decimal digits

HOSTILE_RECIPES = {
    "deep-array": (f"deep = {DEEP_ARRAY}", "invalid TOML: nested more than 100 levels deep"),
    "deep-table": (f"deep = {DEEP_TABLE}", "invalid TOML: nested more than 100 levels deep"),
    "dotted-600": (".".join(["a"] * 600) + " = 1", "invalid TOML: nested more than 100 levels deep"),
    "huge-int": (
        f"[tool.runspec.resources]\nnodes = {HUGE_INT}",
        "invalid TOML: integer out of range (TOML integers are 64-bit)",
    ),
    "hex-int": (
        f"[tool.runspec.resources]\nnodes = {HEX_INT}",
        "invalid TOML: integer out of range (TOML integers are 64-bit)",
    ),
    "big-int": (
        "[tool.runspec.resources]\nnodes = 9223372036854775808",
        "invalid TOML: integer out of range (TOML integers are 64-bit)",
    ),
}


def _recipe(folder, name, extra):
    path = folder / name
    path.write_text(block(f'[tool.runspec]\nname = "{name}"\n{extra}\n') + "print(1)\n")
    return path


@pytest.mark.parametrize(("extra", "message"), HOSTILE_RECIPES.values(), ids=HOSTILE_RECIPES)
def test_hostile_recipe_is_one_line_and_others_still_count(runspec, tmp_path, extra, message):
    _recipe(tmp_path, "a_good.py", "")
    bad = _recipe(tmp_path, "b_bad.py", extra)
    _recipe(tmp_path, "c_good.py", "")
    line = 5 + extra.count("\n")  # the closing "# ///" line of the block
    expected = f"{bad}:{line}: {message}"

    shown = runspec("show", str(bad), cwd=tmp_path)
    assert (shown.returncode, shown.stderr) == (1, f"runspec: error: {expected}\n")

    checked = runspec("check", str(tmp_path), cwd=tmp_path)
    assert checked.returncode == 1
    assert checked.stdout == (
        f"{bad}:{line}: error: {message}\nchecked 3 files: 1 error(s), 0 warning(s)\n"
    )

    listed = runspec("list", "--json", str(tmp_path), cwd=tmp_path)
    assert listed.returncode == 0
    assert [recipe["name"] for recipe in json.loads(listed.stdout)] == ["a_good.py", "c_good.py"]
    assert listed.stderr == f"runspec: warning: {expected}\n"


HOSTILE_PROFILES = {
    "deep-array": (f"deep = {DEEP_ARRAY}", "invalid TOML: nested more than 100 levels deep"),
    "deep-table": (f"deep = {DEEP_TABLE}", "invalid TOML: nested more than 100 levels deep"),
    "dotted-600": (".".join(["a"] * 600) + " = 1", "invalid TOML: nested more than 100 levels deep"),
    "huge-int": (f"nodes = {HUGE_INT}", "invalid TOML: integer out of range (TOML integers are 64-bit)"),
    "hex-int": (f"nodes = {HEX_INT}", "invalid TOML: integer out of range (TOML integers are 64-bit)"),
}


@pytest.mark.parametrize(("line", "message"), HOSTILE_PROFILES.values(), ids=HOSTILE_PROFILES)
@pytest.mark.parametrize("command", ["env", "env --check", "config", "run --dry-run"])
def test_hostile_env_file_is_one_line(runspec, tmp_path, line, message, command):
    recipe = _recipe(tmp_path, "r.py", '[tool.runspec.config]\nformat = "json"')
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text("{}")
    env = tmp_path / "env.toml"
    env.write_text(f"[dev]\n{line}\n")
    words = command.split()
    argv = words if words[0] == "env" else [words[0], str(recipe), "-p", "dev", *words[1:]]
    done = runspec(*argv, "--env-file", str(env), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, f"runspec: error: {env}: {message}\n")


HOSTILE_OVERRIDES = {
    "huge-int": (
        f"a={HUGE_INT}",
        f"invalid override 'a={HUGE_INT[:38]}...': integer has more than 4300 digits",
    ),
    "deep-json": (
        "a=" + "[" * 1500 + "]" * 1500,
        "invalid override 'a=" + "[" * 38 + "...': value nested more than 100 levels deep",
    ),
    "deep-json-101": (
        "a=" + "[" * 101 + "]" * 101,
        "invalid override 'a=" + "[" * 38 + "...': value nested more than 100 levels deep",
    ),
    "huge-int-in-json": (
        f"a=[{HUGE_INT}]",
        f"invalid override 'a=[{HUGE_INT[:37]}...': integer has more than 4300 digits",
    ),
}


@pytest.mark.parametrize(("override", "message"), HOSTILE_OVERRIDES.values(), ids=HOSTILE_OVERRIDES)
def test_hostile_override_is_one_line(cli, tmp_path, override, message):
    recipe = _recipe(tmp_path, "r.py", '[tool.runspec.config]\nformat = "json"')
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text('{"a": 1}')
    done = cli("config", recipe, override)
    assert (done.code, done.out, done.err) == (1, "", f"runspec: error: {message}\n")


def test_override_nested_100_levels_is_fine(cli, tmp_path):
    recipe = _recipe(tmp_path, "r.py", '[tool.runspec.config]\nformat = "json"')
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text('{"a": 1}')
    done = cli("config", recipe, "a=" + "[" * 99 + "]" * 99, "--json")
    assert done.code == 0, done.err


HOSTILE_CONFIGS = {
    "deep": ("[" * 1500 + "]" * 1500, "invalid JSON: nested more than 100 levels deep"),
    "deep-101": (
        '{"a": ' + "[" * 100 + "]" * 100 + "}",
        "invalid JSON: nested more than 100 levels deep",
    ),
    "huge-int": ('{"a": ' + HUGE_INT + "}", "invalid JSON: integer has more than 4300 digits"),
}


@pytest.mark.parametrize(("text", "message"), HOSTILE_CONFIGS.values(), ids=HOSTILE_CONFIGS)
def test_hostile_json_config_is_one_line(cli, tmp_path, text, message):
    recipe = _recipe(tmp_path, "r.py", '[tool.runspec.config]\nformat = "json"')
    (tmp_path / "config").mkdir()
    config = tmp_path / "config" / "default.json"
    config.write_text(text)
    done = cli("config", recipe)
    assert (done.code, done.err) == (1, f"runspec: error: {config}: {message}\n")


# -- dates and times ----------------------------------------------------------------------

DATES_ENV = """\
[dev]
start = 1979-05-27
at = 1979-05-27T07:32:00Z
local = 1979-05-27T07:32:00.5
clock = 07:32:00
[dev.env_vars]
WHEN = 2024-01-02
[wandb]
since = 2020-02-02T10:00:00+02:00
"""


def test_toml_dates_reach_json_as_iso_strings(cli, tmp_path):
    recipe = _recipe(tmp_path, "r.py", '[tool.runspec.config]\nformat = "json"')
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text('{"when": "${run.env.at}"}')
    (tmp_path / "env.toml").write_text(DATES_ENV)
    done = cli("config", recipe, "-p", "dev", "--env-file", tmp_path / "env.toml", "--json")
    assert done.code == 0, done.err
    config = json.loads(done.out)
    env = config["run"]["env"]
    assert (env["start"], env["at"], env["local"], env["clock"]) == (
        "1979-05-27", "1979-05-27T07:32:00+00:00", "1979-05-27T07:32:00.500000", "07:32:00",
    )  # fmt: skip
    assert env["env_vars"]["WHEN"] == "2024-01-02"
    assert config["run"]["wandb"]["since"] == "2020-02-02T10:00:00+02:00"
    assert config["when"] == "1979-05-27T07:32:00+00:00"


def test_toml_dates_run_locally(runspec, tmp_path):
    recipe = tmp_path / "r.py"
    recipe.write_text(
        block('[tool.runspec]\n[tool.runspec.run]\nlaunch = "direct"\n'
              '[tool.runspec.config]\nformat = "json"\n')
        + "import json, os, sys\nprint(os.environ['WHEN'], json.load(open(sys.argv[2]))['run']['env']['at'])\n"
    )  # fmt: skip
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text("{}")
    (tmp_path / "env.toml").write_text(DATES_ENV)
    (tmp_path / "pyproject.toml").write_text("")
    done = runspec("run", str(recipe), "-p", "dev", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "2024-01-02 1979-05-27T07:32:00+00:00\n"


def test_show_json_prints_dates_as_iso(cli, tmp_path):
    recipe = _recipe(tmp_path, "r.py", "docs = 1979-05-27T07:32:00Z")
    done = cli("show", "--json", recipe)
    assert json.loads(done.out)["docs"] == "1979-05-27T07:32:00+00:00"
    assert done.err == (
        f"runspec: {recipe}:4: error: tool.runspec.docs: must be a string "
        "(got 1979-05-27T07:32:00+00:00)\n"
    )


def test_env_json_prints_dates_as_iso(cli, tmp_path):
    (tmp_path / "env.toml").write_text(DATES_ENV)
    done = cli("env", "dev", "--env-file", tmp_path / "env.toml", "--json")
    assert json.loads(done.out)["values"]["at"] == "1979-05-27T07:32:00+00:00"


# -- property tests: whatever the document, one line or success, never a traceback --------

_DEPTHS = st.integers(min_value=1, max_value=700)
_INTS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.integers(min_value=4290, max_value=4400).map(lambda n: "9" * n),
    st.integers(min_value=1, max_value=4000).map(lambda n: "0x" + "f" * n),
)
_DATES = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.times().map(lambda t: t.isoformat()),
)


# Generous settings: the suite runs on a loaded 2-core machine.
_UNDER_LOAD = [HealthCheck.too_slow, HealthCheck.data_too_large]


@st.composite
def _values(draw):
    depth = draw(_DEPTHS)
    kind = draw(st.sampled_from(["array", "table", "dotted"]))
    leaf = draw(st.one_of(_INTS, _DATES))
    if kind == "array":
        return f"v = {'[' * depth}{leaf}{']' * depth}"
    if kind == "table":
        return f"v = {'{a = ' * depth}{leaf}{'}' * depth}"
    return ".".join(["v"] * depth) + f" = {leaf}"


def _main(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in this process: an uncaught exception fails the test with its traceback."""
    import contextlib
    import io

    from runspec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=_UNDER_LOAD)
@given(value=_values())
def test_no_hostile_profile_value_gives_a_traceback(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("env")
    recipe = _recipe(folder, "r.py", '[tool.runspec.config]\nformat = "json"')
    (folder / "config").mkdir()
    (folder / "config" / "default.json").write_text("{}")
    (folder / "env.toml").write_text(f"[dev]\n{value}\n")
    for argv in (["env", "dev"], ["config", str(recipe), "-p", "dev", "--json"]):
        code, out, err = _main(*argv, "--env-file", str(folder / "env.toml"))
        assert code in (0, 1)
        if code:
            assert err.count("\n") == 1 and err.startswith("runspec: error: "), err
        elif argv[0] == "config":
            json.loads(out)


@settings(max_examples=40, deadline=None, suppress_health_check=_UNDER_LOAD)
@given(value=_values())
def test_no_hostile_recipe_value_gives_a_traceback(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("recipe")
    _recipe(folder, "a.py", "")
    bad = _recipe(folder, "b.py", value)
    _, out, _ = _main("show", "--json", str(bad))
    _, out, _ = _main("list", "--json", str(folder))
    assert "a.py" in [recipe["name"] for recipe in json.loads(out)]
    _, out, _ = _main("check", str(folder))
    assert "checked 2 files" in out


# -- Ctrl-C during start-up imports: exit 130, no traceback -------------------------------

INTERRUPTER = """\
import os, signal, sys


class Interrupt:
    \"\"\"Sends this process SIGINT as the module named in RUNSPEC_TEST_SIGINT_AT is imported.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name == os.environ.get("RUNSPEC_TEST_SIGINT_AT"):
            os.kill(os.getpid(), signal.SIGINT)
        return None


sys.meta_path.insert(0, Interrupt())
"""
_ENTRY_POINT = "import sys; from runspec._start import main; sys.exit(main())"
_STARTS = {"python -m runspec": ["-m", "runspec"], "entry point": ["-c", _ENTRY_POINT]}


@pytest.mark.parametrize(
    "module",
    ["runspec.errors", "runspec.cli", "runspec.cli.main", "argparse", "runspec.script", "json"],
)
@pytest.mark.parametrize("start", _STARTS.values(), ids=_STARTS)
def test_ctrl_c_during_start_up_imports_exits_130_quietly(tmp_path, module, start):
    (tmp_path / "sitecustomize.py").write_text(INTERRUPTER)
    recipe = _recipe(tmp_path, "r.py", "")
    env = cli_env(RUNSPEC_TEST_SIGINT_AT=module)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    done = subprocess.run(
        [sys.executable, *start, "show", "--json", str(recipe)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "")


def test_the_interrupter_really_interrupts(tmp_path):
    """Without runspec's guard the same SIGINT is a traceback: the test above can fail."""
    (tmp_path / "sitecustomize.py").write_text(INTERRUPTER)
    env = cli_env(RUNSPEC_TEST_SIGINT_AT="json")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    done = subprocess.run(
        [sys.executable, "-c", "import json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "KeyboardInterrupt" in done.stderr


# -- an interpreter too old for runspec ---------------------------------------------------

# No Python older than 3.10 is at hand, so the test runs the real start-up with the
# interpreter's version faked, and checks apart that what runs first parses on 3.7.
AS_PYTHON_39 = """\
import runpy, sys
sys.version_info = (3, 9, 18, "final", 0)
sys.version = "3.9.18 (main) [GCC]"
runpy.run_module("runspec", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("start", ["module", "entry point"])
def test_python_older_than_3_10_is_one_line(tmp_path, start):
    code = AS_PYTHON_39 if start == "module" else AS_PYTHON_39.replace(
        'runpy.run_module("runspec", run_name="__main__", alter_sys=True)',
        "from runspec._start import main; sys.exit(main())",
    )  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, "list"], cwd=tmp_path, env=cli_env(),
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "runspec: error: runspec needs Python 3.10 or newer (this is Python 3.9.18)\n",
    )  # fmt: skip


@pytest.mark.parametrize("name", ["__init__.py", "__main__.py", "_start.py"])
def test_what_runs_first_parses_on_old_pythons(name):
    import ast

    from tests.support import REPO

    ast.parse((REPO / "runspec" / name).read_text(), feature_version=(3, 7))


# -- I/O faults while a job is written: one line naming the file, nothing half-written ----


FAULTS = {
    "ENOSPC-on-write": ("write", errno.ENOSPC),
    "EIO-on-fsync": ("fsync", errno.EIO),
    "EXDEV-on-rename": ("replace", errno.EXDEV),
    "EPERM-on-chmod": ("fchmod", errno.EPERM),
}


def _inject(monkeypatch, where: str, number: int, file_name: str) -> None:
    """Make ``where`` fail with ``number`` for the temporary file of ``file_name`` only."""
    fault = OSError(number, os.strerror(number))

    def ours(fd_or_path) -> bool:
        path = fd_or_path if isinstance(fd_or_path, str) else os.readlink(f"/proc/self/fd/{fd_or_path}")
        return os.path.basename(path).startswith(f".{file_name}.")

    real = {name: getattr(os, name) for name in ("fsync", "replace", "fchmod", "fdopen")}

    def fsync(fd):
        if ours(fd):
            raise fault
        return real["fsync"](fd)

    def replace(src, dst):
        if ours(str(src)):
            raise fault
        return real["replace"](src, dst)

    def fchmod(fd, mode):
        if ours(fd):
            raise fault
        return real["fchmod"](fd, mode)

    def fdopen(fd, *args, **kwargs):
        stream = real["fdopen"](fd, *args, **kwargs)
        if ours(fd):
            def write(text):
                raise fault
            stream.write = write
        return stream

    monkeypatch.setattr(os, where if where != "write" else "fdopen",
                        {"fsync": fsync, "replace": replace, "fchmod": fchmod,
                         "write": fdopen}[where])  # fmt: skip


@pytest.mark.skipif(sys.platform != "linux", reason="finds the file of a descriptor in /proc")
@pytest.mark.parametrize(("where", "number"), FAULTS.values(), ids=FAULTS)
@pytest.mark.parametrize("file_name", ["config.json", "runspec.json"])
@pytest.mark.parametrize("command", ["run", "pipe"])
def test_io_fault_writing_a_job_is_one_line_and_leaves_nothing_half_written(
    cli, tmp_path, monkeypatch, where, number, file_name, command
):
    recipe = _recipe(tmp_path, "r.py", '[tool.runspec.config]\nformat = "json"')
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text("{}")
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    _inject(monkeypatch, where, number, file_name)
    done = cli(command, recipe)
    jobs = tmp_path / ".runspec" / "jobs"
    what = "job config" if file_name == "config.json" else "job record"
    pattern = (
        f"runspec: error: {re.escape(str(jobs))}/\\d{{8}}-\\d{{6}}-r\\.py/{file_name}: "
        f"cannot write the {what}: {re.escape(os.strerror(number))}\n"
    )
    assert done.code == 1
    assert re.fullmatch(pattern, done.err.splitlines(keepends=True)[-1]), done.err
    assert done.err.count("runspec: error:") == 1
    assert list(tmp_path.rglob("*.tmp")) == []
    folders = list(jobs.iterdir())
    for folder in folders:  # a record only beside its config
        assert not (folder / "runspec.json").exists() or (folder / "config.json").exists()
    if file_name == "config.json":
        assert folders == []  # the job never started: its folder is gone


_FD_LIMIT_ERRORS = re.compile(
    r"runspec: error: (cannot start the steps: "
    r"|step \d \(tests-(probe|head)\): cannot run '[^']+': "
    r"|\S+/(stdout|stderr)\.log: cannot write the log: )Too many open files\n"
)


@pytest.mark.skipif(sys.platform != "linux", reason="the descriptor counts are Linux's")
def test_running_out_of_file_descriptors_is_one_line(tmp_path):
    """A real EMFILE: ``pipe`` under every descriptor limit from too few to enough."""
    import resource
    import shutil

    from tests.support import REPO

    work = tmp_path / "work"
    shutil.copytree(REPO / "tests" / "data" / "run", work)
    (work / "pyproject.toml").write_text("")
    seen = set()
    for limit in range(6, 32):
        done = subprocess.run(
            [sys.executable, "-m", "runspec", "pipe", "probe.py", "+", "head.py"],
            cwd=work, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
            preexec_fn=lambda n=limit: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)),
        )  # fmt: skip
        assert done.returncode in (0, 1), (limit, done.stderr)
        if done.returncode:
            assert _FD_LIMIT_ERRORS.fullmatch(done.stderr), (limit, done.stderr)
            seen.add(done.stderr.split(":")[2])
    assert " cannot start the steps" in seen  # the pipes between the steps ran out
    assert done.returncode == 0  # enough descriptors: the pipe runs
    assert list(work.rglob("*.tmp")) == []
    for folder in (work / ".runspec" / "jobs").iterdir():  # a record only beside its config
        assert not (folder / "runspec.json").exists() or (folder / "config.json").exists()
