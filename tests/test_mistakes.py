"""Mistakes people make, each met with a message that says what to do instead."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Result, block

Cli = Callable[..., Result]

RECIPE = '[tool.runspec]\nname = "m"\n[tool.runspec.run]\nlaunch = "direct"\n[tool.runspec.config]\nformat = "json"\n'


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "train.py"
    path.write_text(block(RECIPE) + "import sys\nprint(sys.argv[3:])\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text('{"lr": 0.1}')
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    return path


def _last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


# -- 19: check on paths without recipes fails ----------------------------------------------


def test_check_without_recipes_fails(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.py").write_text("print(1)\n")
    done = cli("check", tmp_path / "empty", tmp_path / "plain")
    assert (done.code, done.out) == (1, "")
    assert done.err == f"runspec: error: no recipes found under {tmp_path / 'empty'}, {tmp_path / 'plain'}\n"


def test_check_with_json_and_no_recipes_fails_too(cli: Cli, tmp_path: Path) -> None:
    done = cli("check", "--json", tmp_path)
    assert (done.code, done.out) == (1, "")
    assert done.err == f"runspec: error: no recipes found under {tmp_path}\n"


# -- 20: unknown keys a run would use ------------------------------------------------------


def test_unknown_profile_key_warns_at_run_time(cli: Cli, recipe: Path) -> None:
    (recipe.parent / "env.toml").write_text('[base]\nnodse = 2\n[dev]\nextends = "base"\nexecuter = "slurm"\n')
    done = cli("config", recipe, "-p", "dev")
    assert done.code == 0
    env = recipe.parent / "env.toml"
    assert done.err == (
        f"runspec: warning: {env}:2: [base].nodse: unknown key (did you mean 'nodes'?)\n"
        f"runspec: warning: {env}:5: [dev].executer: unknown key (did you mean 'executor'?)\n"
    )


def test_unknown_run_env_override_warns(cli: Cli, recipe: Path) -> None:
    done = cli("config", recipe, "run.env.nodez=3", "--json")
    assert done.code == 0
    assert done.err == "runspec: warning: run.env.nodez: unknown key (did you mean 'nodes'?)\n"
    assert json.loads(done.out)["run"]["env"]["nodez"] == 3


def test_known_run_env_override_is_quiet(cli: Cli, recipe: Path) -> None:
    done = cli("config", recipe, "run.env.nodes=3", "++run.env.env_vars.A=1")
    assert (done.code, done.err) == (0, "")


@pytest.mark.parametrize(
    "override", ["run.job.dir=/x", "++run.job.name=x", "~run.job.cwd", "run.job={}", "+run.job.new=1"]
)
def test_overriding_run_job_is_an_error(cli: Cli, recipe: Path, override: str) -> None:
    key = override.lstrip("+~").partition("=")[0]
    done = cli("run", recipe, override, "--dry-run")
    assert (done.code, done.out) == (1, "")
    assert done.err == f"runspec: error: {key}: set by runspec; an override cannot change it\n"


# -- 21: arguments in the wrong place, mistyped commands and options ----------------------


def test_recipe_options_before_the_separator_get_a_hint(cli: Cli, recipe: Path) -> None:
    done = cli("run", recipe, "-c", "default", "--seed", "1")
    assert (done.code, done.out) == (2, "")
    assert _last_line(done.err) == (
        "runspec run: error: unrecognized arguments: --seed 1 (the recipe's own arguments "
        f"go after '--': runspec run {recipe} -c default -- --seed 1)"
    )


def test_a_bare_word_gets_the_same_hint(cli: Cli, recipe: Path) -> None:
    done = cli("run", recipe, "lr=0.2", "fast")
    assert (done.code, done.out) == (2, "")
    assert _last_line(done.err) == (
        "runspec run: error: 'fast' is neither an option nor an override (key=value); "
        f"the recipe's own arguments go after '--': runspec run {recipe} lr=0.2 -- fast"
    )


def test_the_hint_works(runspec, recipe: Path) -> None:
    done = runspec("run", str(recipe), "--", "--seed", "1", "fast", cwd=recipe.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['--seed', '1', 'fast']\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rnu", "x.py"], "runspec: error: unknown command 'rnu' (did you mean 'run'?)"),
        (["lsit"], "runspec: error: unknown command 'lsit' (did you mean 'list'?)"),
        (["zzz"], "runspec: error: unknown command 'zzz' (commands: show, check, list, env, "
                  "config, run, pipe, sbatch, submit, status, cancel, logs, artifacts, jobs, squash)"),
        (["list", "--jsn"], "runspec list: error: unrecognized arguments: --jsn (did you mean '--json'?)"),
        (["run", "{recipe}", "--dryrun"],
         "runspec run: error: unrecognized arguments: --dryrun (did you mean '--dry-run'?)"),
    ],
    ids=["command", "command-2", "command-unlike-any", "option", "run-option"],
)  # fmt: skip
def test_mistyped_commands_and_options_get_a_suggestion(cli: Cli, recipe: Path, argv, message):
    done = cli(*[word.format(recipe=recipe) for word in argv])
    assert (done.code, done.out) == (2, "")
    assert _last_line(done.err) == message


# -- 22: env --help says where env.toml is looked for ------------------------------------


def test_env_help_says_where_env_toml_is_looked_for(cli: Cli) -> None:
    done = cli("env", "--help")
    assert done.code == 0
    text = " ".join(done.out.split())
    assert (
        "env.toml is looked for in this order: --env-file FILE; $RUNSPEC_ENV_FILE; env.toml "
        "in the current folder or a parent, up to the project root (a folder holding "
        "pyproject.toml or .git); $XDG_CONFIG_HOME/runspec/env.toml, else "
        "~/.config/runspec/env.toml."
    ) in text


def test_a_pipe_says_each_profile_warning_once(cli: Cli, recipe: Path) -> None:
    (recipe.parent / "env.toml").write_text('[dev]\nexecuter = "local"\n')
    done = cli("pipe", "-p", "dev", "--dry-run", recipe, "+", recipe)
    assert done.code == 0
    assert done.err == (
        f"runspec: warning: {recipe.parent / 'env.toml'}:2: [dev].executer: unknown key "
        "(did you mean 'executor'?)\n"
    )


@pytest.mark.parametrize("word", ["fast", "--seed"])
def test_a_pipe_step_with_a_stray_word_gets_the_hint(cli: Cli, recipe: Path, word: str) -> None:
    done = cli("pipe", "--dry-run", recipe, word, "+", recipe)
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        f"runspec: error: pipe: step 1: {word!r} is neither -c CONFIG nor an override (key=value); "
        "the recipe's own arguments go after '--' (SCRIPT [-c CONFIG] [OVERRIDE...] -- ARGS...)\n"
    )


# -- 10: setup lines are checked with bash -n; local runs run them too --------------------

BROKEN_SETUP = {
    "setup-list": (
        '[base]\nexecutor = "slurm"\njob_dir = "JOBS"\nsetup = ["module load x", "if true; then", "fi"]\n'
        '[dev]\nextends = "base"\n',
        "{env}:4: [base].setup: bash -n: line 3: syntax error near unexpected token `fi'",
    ),
    "setup-string": (
        '[dev]\nexecutor = "slurm"\njob_dir = "JOBS"\nsetup = """\necho "unclosed\n"""\n',
        "{env}:4: [dev].setup: bash -n: line 1: unexpected EOF while looking for matching `\"'",
    ),
    "startup-commands": (
        '[dev]\nexecutor = "slurm"\njob_dir = "JOBS"\nstartup_commands = ["echo ok", "done"]\n',
        "{env}:4: [dev].startup_commands: bash -n: line 2: syntax error near unexpected token "
        "`done'",
    ),
}


@pytest.mark.parametrize(("env_text", "message"), BROKEN_SETUP.values(), ids=BROKEN_SETUP)
@pytest.mark.parametrize("command", ["sbatch", "submit", "run --dry-run"])
def test_setup_syntax_error_names_the_profile_key_and_line(
    cli: Cli, recipe: Path, env_text: str, message: str, command: str
) -> None:
    env, jobs = recipe.parent / "env.toml", recipe.parent / "jobs"
    env.write_text(env_text.replace("JOBS", str(jobs)))
    words = command.split()
    done = cli(words[0], recipe, "-p", "dev", *words[1:])
    assert (done.code, done.out) == (1, "")
    assert done.err == f"runspec: error: {message.format(env=env)}\n"
    assert not jobs.exists() or list(jobs.rglob("*")) == []


def test_setup_syntax_error_from_an_override_names_the_key(cli: Cli, recipe: Path) -> None:
    (recipe.parent / "env.toml").write_text('[dev]\nexecutor = "slurm"\n')
    done = cli("sbatch", recipe, "-p", "dev", 'run.env.setup=["fi"]')
    assert (done.code, done.err) == (
        1, "runspec: error: run.env.setup: bash -n: line 1: syntax error near unexpected token "
        "`fi'\n",
    )  # fmt: skip


def test_local_run_runs_the_profiles_setup_then_startup_commands(
    runspec, recipe: Path
) -> None:
    recipe.write_text(block(RECIPE) + "import os\nprint(os.environ['ORDER'])\n")
    (recipe.parent / "env.toml").write_text(
        '[dev]\nsetup = "export ORDER=setup"\nstartup_commands = [\'export ORDER="$ORDER,startup"\']\n'
    )
    done = runspec("run", str(recipe), "-p", "dev", cwd=recipe.parent)
    assert (done.returncode, done.stdout) == (0, "setup,startup\n"), done.stderr


def test_local_run_refuses_setup_that_does_not_parse(runspec, recipe: Path) -> None:
    env = recipe.parent / "env.toml"
    env.write_text('[dev]\nsetup = ["if true; then"]\n')
    done = runspec("run", str(recipe), "-p", "dev", cwd=recipe.parent)
    assert (done.returncode, done.stderr) == (
        1, f"runspec: error: {env}:2: [dev].setup: bash -n: line 2: syntax error: unexpected "
        "end of file\n",
    )  # fmt: skip
    assert not (recipe.parent / ".runspec" / "jobs").exists() or not list(
        (recipe.parent / ".runspec" / "jobs").iterdir()
    )


def test_a_batch_script_that_does_not_parse_is_never_written(
    cli: Cli, recipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the cause (it would be runspec's), bash -n sees the whole script first."""
    from dataclasses import replace

    from runspec.slurm import render

    real = render.render_sbatch
    monkeypatch.setattr(
        render, "render_sbatch",
        lambda *a, **k: replace(real(*a, **k), text=real(*a, **k).text + "if x; then\n"),
    )  # fmt: skip
    (recipe.parent / "env.toml").write_text('[dev]\nexecutor = "slurm"\n')
    target = recipe.parent / "job.sh"
    done = cli("sbatch", recipe, "-p", "dev", "-o", target)
    assert (done.code, done.out) == (1, "")
    assert done.err.startswith("runspec: error: the batch script does not parse (bash -n): line ")
    assert done.err.endswith(": syntax error: unexpected end of file\n")
    assert not target.exists()
