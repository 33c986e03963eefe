"""The nemo-run pin of ``runspec[nemo-run]`` (setup.cfg): what it says, and that the
environment installed from it (tests/run.sh installs ``.[test,full]`` from scratch) is whole.

nemo-run 0.11.1 asks for ``leptonai>=0.26.6`` but imports ``leptonai.api.v1``, which later
leptonai releases removed, so the extra pins leptonai too (docs/nemo-run.md). The fresh-venv
install of the extra alone is measured by hand (docs/nemo-run.md, "The install pin").
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from importlib import metadata

import pytest

from tests.support import REPO, require_module

require_module("nemo_run")
from packaging.markers import default_environment  # noqa: E402
from packaging.requirements import Requirement  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402

pytestmark = pytest.mark.extra

PIN = ["nemo-run>=0.11.1,<0.12", "leptonai==0.27.3"]


def extras() -> dict[str, list[str]]:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg", encoding="utf-8")
    table = parser["options.extras_require"]
    return {name: [line for line in table[name].splitlines() if line] for name in table}


def test_the_extra_pins_nemo_run_and_leptonai() -> None:
    found = extras()
    assert found["nemo-run"] == PIN
    assert set(PIN) <= set(found["full"])


@pytest.mark.parametrize("text", PIN)
def test_the_installed_versions_are_in_the_pin(text: str) -> None:
    wanted = Requirement(text)
    assert wanted.specifier.contains(metadata.version(wanted.name), prereleases=True)


def unmet(top: list[str]) -> list[str]:
    """The requirements (markers evaluated, extras left out) of ``top`` and of everything they
    pull in that the installed packages do not meet."""
    environment = default_environment()
    seen: set[str] = set()
    problems: list[str] = []
    todo = [Requirement(text) for text in top]
    while todo:
        wanted = todo.pop()
        name = canonicalize_name(wanted.name)
        if wanted.marker is not None and not wanted.marker.evaluate({**environment, "extra": ""}):
            continue
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{wanted}: not installed")
            continue
        if not wanted.specifier.contains(have, prereleases=True):
            problems.append(f"{wanted}: {have} installed")
        if name not in seen:
            seen.add(name)
            todo.extend(Requirement(text) for text in metadata.requires(name) or ())
    return sorted(problems)


def test_everything_the_pin_pulls_in_is_met() -> None:
    assert unmet(PIN) == []


def test_nemo_run_imports_in_a_fresh_interpreter() -> None:
    code = "import warnings; warnings.simplefilter('ignore'); import nemo_run, leptonai.api.v1"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
