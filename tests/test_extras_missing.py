"""What runspec says when an extra is missing or broken, each case in a fresh interpreter.

Missing is reported only when a package really is not there, naming what to install;
an import that fails inside an installed package shows the real error instead.
Packages are hidden with an import hook (as if not installed) or with a crafted
``PYTHONPATH`` (a core without ``runspec_extras``, an older ``runspec_extras``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import REPO, block, require_module

pytestmark = pytest.mark.extra

HIDE = """
import sys

class Hide:
    '''Make these modules unimportable, as if they were not installed.'''

    names = {names!r}

    def find_spec(self, name, path=None, target=None):
        if name in self.names:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Hide())
"""

CLI = "import sys, runspec.cli; sys.exit(runspec.cli.main(sys.argv[1:]))"


def python(
    code: str, *args: object, pythonpath: list[Path], cwd: Path, site: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code args`` with ``pythonpath`` first on the import path.

    ``site=False`` leaves out site-packages (``python -S``): only ``pythonpath`` and the
    standard library can be imported, as on a bare cluster with a vendored core.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
    env.pop("RUNSPEC_ENV_FILE", None)
    return subprocess.run(
        [sys.executable, *([] if site else ["-S"]), "-c", code, *map(str, args)],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def hiding(*names: str) -> str:
    return HIDE.format(names=set(names)) + CLI


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    """An omegaconf recipe with a plain config (``default``) and one with defaults: (``child``)."""
    require_module("yaml")
    require_module("omegaconf")
    script = tmp_path / "recipe" / "train.py"
    (script.parent / "config").mkdir(parents=True)
    toml = '[tool.runspec]\nname = "t"\n[tool.runspec.config]\nformat = "omegaconf"\n'
    script.write_text(block(toml) + "print('hi')\n", encoding="utf-8")
    (script.parent / "config" / "default.yaml").write_text("lr: 1e-4\n", encoding="utf-8")
    (script.parent / "config" / "child.yaml").write_text("defaults: default\nx: 1\n", encoding="utf-8")
    return script


def _config(recipe: Path, name: str = "default") -> Path:
    return recipe.parent / "config" / f"{name}.yaml"


def _copy(tmp_path: Path, *packages: str) -> Path:
    root = tmp_path / "site"
    for package in packages:
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / package, root / package, ignore=ignore, dirs_exist_ok=True)
    return root


def test_a_core_without_runspec_extras_names_it(tmp_path: Path, recipe: Path) -> None:
    site = _copy(tmp_path, "runspec")
    done = python(CLI, "config", recipe, pythonpath=[site], cwd=tmp_path, site=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"runspec: error: {_config(recipe)}: reading omegaconf configs needs runspec_extras, "
        "which is not installed: pip install 'runspec[omegaconf]'\n"
    )


def test_an_older_runspec_extras_without_the_module(tmp_path: Path, recipe: Path) -> None:
    site = _copy(tmp_path, "runspec")
    (site / "runspec_extras").mkdir()
    (site / "runspec_extras" / "__init__.py").write_text("", encoding="utf-8")
    done = python(CLI, "config", recipe, pythonpath=[site], cwd=tmp_path, site=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"runspec: error: {_config(recipe)}: reading omegaconf configs needs "
        f"runspec_extras.omegaconf_config, which the installed runspec_extras "
        f"({site / 'runspec_extras'}) does not have: pip install --upgrade 'runspec[omegaconf]'\n"
    )


@pytest.mark.parametrize("fmt", ["omegaconf", "yaml"])
def test_without_pyyaml_the_error_names_it(tmp_path: Path, recipe: Path, fmt: str) -> None:
    recipe.write_text(recipe.read_text().replace('"omegaconf"', f'"{fmt}"'), encoding="utf-8")
    done = python(hiding("yaml"), "config", recipe, pythonpath=[REPO], cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"runspec: error: {_config(recipe)}: reading {fmt} configs needs PyYAML, "
        "which is not installed: pip install 'runspec[omegaconf]'\n"
    )


def test_without_omegaconf_a_plain_config_still_loads(tmp_path: Path, recipe: Path) -> None:
    done = python(hiding("omegaconf"), "config", recipe, "--json", pythonpath=[REPO], cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["lr"] == 0.0001


def test_without_omegaconf_a_defaults_list_names_it(tmp_path: Path, recipe: Path) -> None:
    done = python(hiding("omegaconf"), "config", recipe, "-c", "child", pythonpath=[REPO], cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"runspec: error: {_config(recipe, 'child')}: merging a defaults list needs omegaconf, "
        "which is not installed: pip install 'runspec[omegaconf]'\n"
    )


def test_a_broken_omegaconf_shows_the_real_error(tmp_path: Path, recipe: Path) -> None:
    import omegaconf

    code = hiding("omegaconf.grammar_parser")
    done = python(code, "config", recipe, "-c", "child", pythonpath=[REPO], cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    folder = re.escape(str(Path(omegaconf.__file__).parent))
    assert re.fullmatch(
        f"runspec: error: {re.escape(str(_config(recipe, 'child')))}: merging a defaults list: "
        f"No module named 'omegaconf.grammar_parser' \\(ModuleNotFoundError at {folder}/\\w+\\.py:\\d+\\)\n",
        done.stderr,
    ), done.stderr


def test_a_bug_inside_the_extra_shows_the_real_error(tmp_path: Path, recipe: Path) -> None:
    site = _copy(tmp_path, "runspec_extras")
    module = site / "runspec_extras" / "omegaconf_config.py"
    lines = module.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("from runspec.errors"))
    lines.insert(at + 1, "from runspec.errors import NoSuchError\n")
    module.write_text("".join(lines), encoding="utf-8")
    done = python(CLI, "config", recipe, pythonpath=[site, REPO], cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"runspec: error: {_config(recipe)}: cannot import runspec_extras.omegaconf_config: "
        f"cannot import name 'NoSuchError' from 'runspec.errors' ({REPO / 'runspec' / 'errors.py'}) "
        f"(ImportError at {module}:{at + 2})\n"
    )


@pytest.fixture
def vendored(tmp_path: Path) -> Path:
    """tmp_path/somerepo/_vendor/runspec/: a vendored core, with runspec[omegaconf] installed."""
    shutil.copytree(
        REPO / "runspec", tmp_path / "somerepo" / "_vendor" / "runspec",
        ignore=shutil.ignore_patterns("__pycache__"),
    )  # fmt: skip
    (tmp_path / "somerepo" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "somerepo" / "_vendor" / "__init__.py").write_text("", encoding="utf-8")
    return tmp_path


VENDORED_CLI = "import sys; from somerepo._vendor.runspec import cli; sys.exit(cli.main(sys.argv[1:]))"


def test_a_vendored_core_uses_the_installed_extra(vendored: Path, recipe: Path) -> None:
    done = python(VENDORED_CLI, "config", recipe, "--json", pythonpath=[vendored, REPO], cwd=vendored)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["lr"] == 0.0001


def test_a_vendored_core_reports_the_extras_errors_in_one_line(vendored: Path, recipe: Path) -> None:
    _config(recipe).write_text("lr: [1\n", encoding="utf-8")
    done = python(VENDORED_CLI, "config", recipe, pythonpath=[vendored, REPO], cwd=vendored)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"runspec: error: {_config(recipe)}:2: invalid YAML: did not find expected ',' or ']' "
        "(column 1), while parsing a flow sequence at line 1\n"
    )


LOADED = """
import json, sys
before = set(sys.modules)
import runspec, runspec.cli
codes = [runspec.cli.main(["show", sys.argv[1]]), runspec.cli.main(["check", sys.argv[1]])]
print(json.dumps([codes, sorted(set(sys.modules) - before)]), file=sys.stderr)
"""


def test_import_show_and_check_load_no_extra(tmp_path: Path, recipe: Path) -> None:
    done = python(textwrap.dedent(LOADED), recipe, pythonpath=[REPO], cwd=tmp_path)
    codes, added = json.loads(done.stderr.splitlines()[-1])
    assert codes == [0, 0]
    foreign = [m for m in added if m.partition(".")[0] not in {*sys.stdlib_module_names, "runspec"}]
    assert foreign == []
    assert "runspec._extras" not in added
