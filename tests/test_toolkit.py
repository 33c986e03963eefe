"""Recipes by name, and a repository's own CLI (`runspec.cli.recipe_cli`).

The example repository CLI is examples/cookbook/cli.py; its documented commands are run
by tests/test_docs.py. Here: names everywhere a SCRIPT is taken, the command tree, how
words are taken apart, help pages, errors, and that the tree follows recipes that are
edited, added, renamed or deleted from one call to the next.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO, block, cli_env

COOKBOOK = REPO / "examples" / "cookbook"


def _recipe(path: Path, name: str | None, extra: str = "", body: str = "") -> Path:
    toml = "[tool.runspec]\n" + (f'name = "{name}"\n' if name else "")
    toml += '[tool.runspec.run]\nlaunch = "direct"\n[tool.runspec.config]\nformat = "json"\n'
    toml += "[tool.runspec.resources]\ngpus_per_node = 0\n" + extra
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "config").mkdir(exist_ok=True)
    (path.parent / "config" / "default.json").write_text('{"train": {"steps": 3, "lr": 0.5}}\n')
    code = body or "import sys\nprint('ran', sys.argv[1:][2:])\n"
    path.write_text(block(toml) + code)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with a few named recipes, and one without a name."""
    (tmp_path / "pyproject.toml").write_text("")
    _recipe(tmp_path / "recipes" / "nano" / "pretrain" / "train.py", "nano/pretrain")
    _recipe(tmp_path / "recipes" / "nano" / "sft" / "train.py", "nano/sft")
    _recipe(tmp_path / "recipes" / "nano" / "prep" / "prep.py", "nano/data/prep")
    _recipe(tmp_path / "recipes" / "tools" / "convert.py", None)
    (tmp_path / "cli.py").write_text(
        "import sys\nfrom runspec.cli import recipe_cli\n"
        "sys.exit(recipe_cli('recipes', prog='cook')())\n"
    )
    return tmp_path


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(HOME=str(cwd / "home"))
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def runspec(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(cwd, "-m", "runspec", *args)


def cook(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(cwd, "cli.py", *args)


# names wherever a SCRIPT is taken ----------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["show"], ["config", "--json"], ["run", "--dry-run"], ["check"]],
    ids=["show", "config", "run", "check"],
)
def test_a_recipe_name_works_where_a_script_does(project: Path, command: list[str]) -> None:
    by_name = runspec(project, command[0], "nano/sft", *command[1:])
    by_path = runspec(project, command[0], "recipes/nano/sft/train.py", *command[1:])
    assert by_name.returncode == by_path.returncode == 0, by_name.stderr

    def same(text: str) -> str:
        text = text.replace(str(project / "recipes/nano/sft/train.py"), "SCRIPT")
        return re.sub(r"\d{8}-\d{6}", "STAMP", text.replace("recipes/nano/sft/train.py", "SCRIPT"))

    assert same(by_name.stdout) == same(by_path.stdout)


def test_a_recipe_name_works_for_sbatch(project: Path) -> None:
    (project / "env.toml").write_text(
        f'[cluster]\nexecutor = "slurm"\npartition = "debug"\njob_dir = "{project}/jobs"\n'
    )
    by_name = runspec(project, "sbatch", "nano/sft", "-p", "cluster", "train.lr=2")
    by_path = runspec(project, "sbatch", "recipes/nano/sft/train.py", "-p", "cluster", "train.lr=2")
    assert by_name.returncode == by_path.returncode == 0, by_name.stderr

    def same(text: str) -> str:
        return re.sub(r"\d{8}-\d{6}", "STAMP", text)

    assert same(by_name.stdout) == same(by_path.stdout)
    assert f"{project}/recipes/nano/sft/train.py --config " in by_name.stdout


def test_names_run_and_pipe(project: Path) -> None:
    done = runspec(project, "run", "nano/pretrain", "train.steps=5", "--", "--flag")
    assert (done.returncode, done.stdout) == (0, "ran ['--flag']\n")
    # the second step reads what the first writes (a step that exits unread breaks the pipe)
    sft = project / "recipes" / "nano" / "sft" / "train.py"
    sft.write_text(sft.read_text().replace("import sys\n", "import sys\nsys.stdin.read()\n", 1))
    piped = runspec(project, "pipe", "nano/pretrain", "+", "nano/sft")
    assert (piped.returncode, piped.stdout) == (0, "ran []\n"), piped.stderr


def test_a_recipe_without_a_name_is_named_by_its_path(project: Path) -> None:
    done = runspec(project, "show", "--json", "recipes/tools/convert")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["script_path"] == str(project / "recipes/tools/convert.py")


NAME_ERRORS = [
    ("typo", "nano/pretrian", "no recipe named 'nano/pretrian' under {root} (nearest: "
     "nano/pretrain, nano/data/prep, nano/sft, recipes/tools/convert)"),
    ("unknown", "gpt/pretrain", "no recipe named 'gpt/pretrain' under {root} (nearest: "
     "nano/pretrain, nano/data/prep, recipes/tools/convert, nano/sft)"),
]  # fmt: skip


@pytest.mark.parametrize(("word", "message"), [e[1:] for e in NAME_ERRORS], ids=[e[0] for e in NAME_ERRORS])
def test_unknown_names_list_the_nearest_first(project: Path, word: str, message: str) -> None:
    done = runspec(project, "run", word)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"runspec: error: {message.format(root=project)}\n"


def test_an_ambiguous_name_lists_its_scripts(project: Path) -> None:
    _recipe(project / "other" / "train.py", "nano/sft")
    done = runspec(project, "show", "nano/sft")
    assert done.returncode == 1
    assert done.stderr == (
        f"runspec: error: recipe name 'nano/sft' is ambiguous under {project}: "
        f"{project}/other/train.py, {project}/recipes/nano/sft/train.py\n"
    )


def test_paths_keep_their_errors(project: Path) -> None:
    assert runspec(project, "show", "missing.py").stderr == (
        "runspec: error: missing.py: no such file\n"
    )
    assert runspec(project, "show", "recipes").stderr == (
        "runspec: error: recipes: is a directory, not a script\n"
    )


# the recipe CLI ---------------------------------------------------------------------------


def test_commands_are_the_recipe_names(project: Path) -> None:
    done = cook(project, "nano", "pretrain", "train.steps=5", "extra", "--", "a=b")
    assert (done.returncode, done.stdout, done.stderr) == (0, "ran ['extra', 'a=b']\n", "")
    record = json.loads(next((project / ".runspec" / "jobs").glob("*/runspec.json")).read_text())
    assert record["argv"][1:] == ["nano", "pretrain", "train.steps=5", "extra", "--", "a=b"]
    config = json.loads(next((project / ".runspec" / "jobs").glob("*/config.json")).read_text())
    assert config["train"] == {"steps": 5, "lr": 0.5}
    deeper = cook(project, "nano", "data", "prep")
    assert (deeper.returncode, deeper.stdout) == (0, "ran []\n")
    unnamed = cook(project, "tools", "convert")  # named by its path under the CLI's root
    assert (unnamed.returncode, unnamed.stdout) == (0, "ran []\n")


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "default", "nano", "sft", "-d", "--json", "train.lr=1"],
        ["nano", "sft", "-d", "train.lr=1", "--json", "-c", "default"],
        ["-d", "nano", "--json", "sft", "--config=default", "train.lr=1"],
        ["--json", "-cdefault", "-d", "nano", "sft", "train.lr=1"],
    ],
    ids=["before", "after", "between", "attached"],
)
def test_options_go_anywhere(project: Path, argv: list[str]) -> None:
    done = cook(project, *argv)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["recipe"]["name"] == "nano/sft"
    assert plan["config"]["overrides"] == ["train.lr=1"]
    assert plan["config"]["values"]["train"]["lr"] == 1
    assert not (project / ".runspec" / "jobs").exists()


def test_dry_run_is_a_tree(project: Path) -> None:
    done = cook(project, "nano", "sft", "-d", "train.lr=1", "--", "--x")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"nano/sft  {project}/recipes/nano/sft/train.py"
    assert "│   │   └── lr: 1  (override)" in lines
    assert lines[-2] == "└── command"
    assert lines[-1].endswith(" --x")


def test_passthrough_words_and_overrides(project: Path) -> None:
    done = cook(project, "nano", "sft", "-d", "--json", "+new.k=1", "~train.lr", "pos",
                "--opt", "++train.steps=9", "--", "--after", "x=1")  # fmt: skip
    plan = json.loads(done.stdout)
    assert plan["config"]["overrides"] == ["+new.k=1", "~train.lr", "++train.steps=9"]
    assert plan["command"].endswith(" pos --opt --after x=1")


def test_batch_needs_a_profile_that_submits(project: Path) -> None:
    (project / "env.toml").write_text('[laptop]\nexecutor = "local"\n')
    for words in (["-b", "laptop"], ["--batch", "laptop", "-d"]):
        done = cook(project, "nano", "sft", *words)
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == (
            "cook: error: -b/--batch submits a job and returns: profile 'laptop' runs here "
            "(executor 'local'); run it with -r laptop\n"
        )
    assert not (project / ".runspec" / "jobs").exists()
    attached = cook(project, "nano", "sft", "-r", "laptop")
    assert (attached.returncode, attached.stdout) == (0, "ran []\n")
    plain = runspec(project, "run", "nano/sft", "-b", "laptop")
    assert plain.stderr == (
        "runspec: error: -b/--batch submits a job and returns: profile 'laptop' runs here "
        "(executor 'local'); run it with -r laptop\n"
    )


def test_usage_errors(project: Path) -> None:
    done = cook(project, "nano", "sft", "-c")
    assert done.returncode == 2
    assert done.stderr.endswith("cook nano sft: error: argument -c/--config: expected one argument\n")


def test_an_unknown_command_names_the_nearest(project: Path) -> None:
    done = cook(project, "nano", "pretrian")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "cook: error: cook nano: no recipe command 'pretrian' (nearest: pretrain, data, sft); "
        "see 'cook nano --help'\n"
    )
    top = cook(project, "nanp")
    assert top.stderr == (
        "cook: error: cook: no recipe command 'nanp' (nearest: nano, tools); see 'cook --help'\n"
    )


WORDS_BEFORE_THE_COMMAND = [
    ("override", ["train.lr=1", "nano", "sft"], "cook: 'train.lr=1' comes before the recipe "
     "command 'nano'"),
    ("script-word", ["nano", "--seed", "sft"], "cook nano: '--seed' comes before the recipe "
     "command 'sft'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"), [w[1:] for w in WORDS_BEFORE_THE_COMMAND],
    ids=[w[0] for w in WORDS_BEFORE_THE_COMMAND],
)  # fmt: skip
def test_words_before_the_command_are_named(project: Path, argv: list[str], message: str) -> None:
    done = cook(project, *argv)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"cook: error: {message}: give the command first, then overrides and words for "
        "the script\n"
    )


def test_a_missing_root_is_an_error(project: Path) -> None:
    (project / "cli.py").write_text(
        "import sys\nfrom runspec.cli import recipe_cli\n"
        "sys.exit(recipe_cli('recipez', prog='cook')())\n"
    )
    for argv in (["--help"], ["nano", "sft"]):
        done = cook(project, *argv)
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == (
            f"cook: error: {project}/recipez: no such folder (where cook looks for recipes)\n"
        )


def test_a_group_lists_its_recipes(project: Path) -> None:
    done = cook(project, "nano", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "usage: cook nano COMMAND... [OPTIONS] [KEY=VALUE ...] [ARGS ...] [-- ARGS ...]\n\n"
        f"recipes under {project}/recipes\n"
        "  nano data prep  direct   1 x 0 GPU  nano/prep/prep.py\n"
        "  nano pretrain   direct   1 x 0 GPU  nano/pretrain/train.py\n"
        "  nano sft        direct   1 x 0 GPU  nano/sft/train.py\n\n"
        "Run 'cook nano COMMAND... --help' for a recipe's configs, profiles and overrides.\n"
    )
    bare = cook(project, "nano")
    assert (bare.returncode, bare.stdout, bare.stderr) == (2, "", done.stdout)


def test_recipe_help_shows_configs_profiles_and_override_examples(project: Path) -> None:
    (project / "recipes" / "nano" / "sft" / "config" / "tiny.json").write_text("{}")
    (project / "env.toml").write_text('[base]\nexecutor = "local"\n[dev]\nextends = "base"\n')
    done = cook(project, "nano", "sft", "--help")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    head, options = text.split("\noptions\n")
    assert head == (
        "usage: cook nano sft [OPTIONS] [KEY=VALUE ...] [ARGS ...] [-- ARGS ...]\n\n"
        "nano/sft  nano/sft/train.py\n\nrecipe\n  image      (none: runs on the host)\n"
        "  launch     direct\n  resources  1 node(s) x 0 GPU(s)\n\n"
        f"configs (-c NAME, or -c PATH): {project}/recipes/nano/sft/config\n"
        "  default  (default)\n  tiny\n\n"
        "profiles (-r PROFILE runs attached, -b PROFILE submits and returns)\n"
        f"  from {project}/env.toml\n    base\n    dev   extends base\n\n"
        "overrides (KEY=VALUE words, applied to the job config)\n"
        "  train.steps=3     set a key the config has\n"
        "  +train.new_key=1  add a key it lacks\n"
        "  ++train.lr=0.5    set a key, adding it if missing\n"
        "  ~train.lr         delete a key\n\n"
        "passthrough\n"
        "  Any other word, and every word after --, goes to the script after\n"
        "  --config JOB_CONFIG, in order. Put a KEY=VALUE meant for the script after --:\n"
        "    cook nano sft -- --name a=b\n"
    )
    assert options.startswith("  -c NAME|PATH, --config NAME|PATH\n")
    assert "  -h, --help            show this help\n" in options



def _on_a_terminal(cwd: Path, *args: str, **extra: str) -> str:
    """What ``python cli.py ARGS`` writes to a terminal (a pseudo-terminal here)."""
    import pty

    env = cli_env(HOME=str(cwd / "home"), TERM="xterm", **extra)
    if "NO_COLOR" not in extra:
        env.pop("NO_COLOR", None)
    main, side = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "cli.py", *args], cwd=cwd, env=env, stdout=side,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        os.close(side)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other side closed: Linux says EIO
                break
            if not chunk:
                break
            chunks.append(chunk)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    finally:
        os.close(main)
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal_and_never_with_no_color(project: Path) -> None:
    assert "\033[" not in cook(project, "nano", "sft", "--help").stdout
    coloured = _on_a_terminal(project, "nano", "sft", "--help")
    assert "\033[36mnano/sft\033[0m" in coloured
    assert "\033[" not in _on_a_terminal(project, "nano", "sft", "--help", NO_COLOR="1")


# the command tree follows the recipes ------------------------------------------------------


def test_edited_added_renamed_and_deleted_recipes_are_seen_on_the_next_call(
    project: Path,
) -> None:
    def commands() -> list[str]:
        done = cook(project, "--help")
        assert done.returncode == 0, done.stderr
        return [line.split("  ")[1] for line in done.stdout.splitlines() if line.startswith("  ")]

    assert commands() == ["nano data prep", "nano pretrain", "nano sft", "tools convert"]
    assert (project / "recipes" / ".runspec" / "discovery.index").exists()  # the index
    sft = project / "recipes" / "nano" / "sft" / "train.py"
    sft.write_text(sft.read_text().replace('name = "nano/sft"', 'name = "nano/chat"'))  # edit
    _recipe(project / "recipes" / "nano" / "eval" / "run.py", "nano/eval")  # add
    (project / "recipes" / "tools" / "convert.py").rename(project / "recipes" / "tools" / "c2.py")
    shutil.rmtree(project / "recipes" / "nano" / "prep")  # delete
    assert commands() == ["nano chat", "nano eval", "nano pretrain", "tools c2"]
    gone = cook(project, "nano", "sft")
    assert gone.returncode == 1 and "no recipe command 'sft'" in gone.stderr
    assert cook(project, "nano", "chat").stdout == "ran []\n"


OPENS = """\
import json, os, sys
from runspec.cli import recipe_cli
recipes = os.path.abspath("recipes") + os.sep
opened = set()
def hook(event, args):
    if event == "open" and str(args[0]).startswith(recipes) and str(args[0]).endswith(".py"):
        opened.add(os.path.relpath(str(args[0]), recipes))
sys.addaudithook(hook)
if sys.argv[1] == "runspec":
    from runspec.cli import main
    code = main(sys.argv[2:])
else:
    code = recipe_cli("recipes", prog="cook")(sys.argv[1:])
print(json.dumps(sorted(opened)), file=sys.stderr)
sys.exit(code)
"""


def test_a_call_reads_only_the_recipe_it_runs(project: Path) -> None:
    """The command tree comes from the index: a warm call opens no other recipe."""
    (project / "opens.py").write_text(OPENS)

    def opened(*argv: str) -> list[str]:
        done = _run(project, "opens.py", *argv)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stderr.splitlines()[-1])  # type: ignore[no-any-return]

    past = time.time() - 60  # older than the index: its entries are trusted
    for path in (project / "recipes").rglob("*.py"):
        os.utime(path, (past, past))
    assert len(opened("--help")) == 4  # the first call reads them all, for the index
    assert opened("--help") == []
    assert opened("nano", "sft", "-d", "--json") == ["nano/sft/train.py"]
    assert opened("nano", "pretrain", "train.steps=1") == ["nano/pretrain/train.py"]
    edited = project / "recipes" / "tools" / "convert.py"
    edited.write_text(edited.read_text() + "# edited\n")
    assert opened("nano", "sft", "-d") == ["nano/sft/train.py", "tools/convert.py"]
    assert opened("nano", "sft", "-d") == ["nano/sft/train.py"]
    assert len(opened("runspec", "show", "nano/pretrain")) == 4  # the project root's index
    assert opened("runspec", "show", "nano/pretrain") == ["nano/pretrain/train.py"]


def test_the_example_cli_is_short() -> None:
    lines = (COOKBOOK / "cli.py").read_text().splitlines()
    assert len(lines) < 10


def test_the_example_cookbook_runs(tmp_path: Path) -> None:
    shutil.copytree(COOKBOOK, tmp_path / "cookbook")
    (tmp_path / "pyproject.toml").write_text("")
    done = _run(tmp_path, "cookbook/cli.py", "tiny", "pretrain", "-c", "tiny", "--", "--quiet")
    assert (done.returncode, done.stdout) == (0, "tiny/pretrain: a=1.567 b=1.044\n")
