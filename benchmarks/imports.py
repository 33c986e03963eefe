"""What ``runspec show --json`` costs a login node: modules imported and file-system calls.

Two counts that do not depend on the machine's load, which is why they travel to a login
node whose Python sits on NFS or Lustre (every ``stat`` and ``open`` of an import is a
network round trip there):

* modules: ``sys.modules`` after ``python -S -m runspec show --json SCRIPT`` minus after
  ``python -S -c pass`` (``-S``: no site-packages, so the machine's ``.pth`` files do not
  count), listed by who needs them. Target: at most 50 beyond what ``python -S -m`` loads
  for an empty module.
* file-system calls: ``strace -f -c -e trace=openat,stat,newfstatat,lstat`` of the same
  command on a clean virtual environment of this interpreter (no site-packages ``.pth``),
  run from the repository root with runspec vendored (found in the current folder), against
  ``python -c pass`` there. Target: at most 500. Needs strace (``apt-get install -y strace``).

    python benchmarks/imports.py [--script examples/hello/train.py]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULE_TARGET = 50
CALL_TARGET = 500

RUN_MODULE = """
import runpy, sys
module, sys.argv = sys.argv[1], sys.argv[1:]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
except SystemExit:
    pass
sys.stdout.flush()
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""
"""``python -S -m MODULE ARGS`` as runpy does it, then the modules loaded, on stderr."""


def loaded(python: str, *args: str, path: Path = REPO) -> set[str]:
    """The modules of a fresh ``python -S``: of ``-m MODULE ARGS``, or of ``-c pass``."""
    code = RUN_MODULE if args else "import sys; print(' '.join(sys.modules), file=sys.stderr)"
    done = subprocess.run(
        [python, "-S", "-c", code, *args], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(path)}, cwd=REPO,
    )  # fmt: skip
    return set(done.stderr.split())


FLOOR = "import argparse, json, re, tomllib\n"
"""What any ``-m`` command line that reads TOML and prints JSON imports, runspec or not."""


def modules(python: str, script: str) -> tuple[set[str], set[str], set[str], set[str]]:
    """Modules of a bare interpreter, of ``-m`` running an empty module, of ``-m`` running
    :data:`FLOOR`, and of ``show --json``."""
    with tempfile.TemporaryDirectory(prefix="runspec-empty-") as tmp:
        (Path(tmp) / "empty_module.py").write_text("", encoding="utf-8")
        (Path(tmp) / "floor_module.py").write_text(FLOOR, encoding="utf-8")
        minus_m = loaded(python, "empty_module", path=Path(tmp))
        floor = loaded(python, "floor_module", path=Path(tmp)) - {"floor_module"}
    return loaded(python), minus_m, floor, loaded(python, "runspec", "show", "--json", script)


def file_system_calls(python: str, args: list[str]) -> int:
    trace = ["strace", "-f", "-c", "-e", "trace=openat,stat,newfstatat,lstat"]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [*trace, python, *args], capture_output=True, text=True, check=True, env=env, cwd=REPO
    )
    total = re.search(r"^\S+\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total$", done.stderr, re.M)
    if total is None:
        raise SystemExit(f"could not read strace's summary:\n{done.stderr}")
    return int(total.group(1))


def clean_python(folder: Path) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return str(folder / "bin" / "python")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", default="examples/hello/train.py", help="recipe to show")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "runspec"], cwd=REPO, check=True)

    bare, empty, floor, shown = modules(sys.executable, args.script)
    added = shown - bare
    ours = sorted(name for name in added if name.partition(".")[0] == "runspec")
    minus_m = sorted(added & (empty - bare - {"empty_module"}))
    stdlib = sorted(added - set(minus_m) - set(ours))
    beyond_m = len(added) - len(minus_m)
    verdict = "met" if beyond_m <= MODULE_TARGET else "MISSED"
    print(f"python {sys.version.split()[0]} -S: bare interpreter {len(bare)} modules")
    print(f"show --json imports {len(added)} more:")
    print(f"  {len(minus_m):2} for 'python -m' itself: {' '.join(minus_m)}")
    print(f"  {len(stdlib):2} of the standard library: {' '.join(stdlib)}")
    print(f"  {len(ours):2} of runspec: {' '.join(ours)}")
    print(f"  {beyond_m} beyond what 'python -S -m' loads for an empty module "
          f"(target <= {MODULE_TARGET}: {verdict})")  # fmt: skip
    print(f"floor: 'python -S -m' of a module importing argparse, json, re and tomllib imports "
          f"{len(floor - bare)}; show --json imports {len(shown - floor)} beyond it: "
          f"{' '.join(sorted(shown - floor))}")  # fmt: skip

    if shutil.which("strace") is None:
        print("file-system calls: needs strace (apt-get install -y strace)")
        return 0
    with tempfile.TemporaryDirectory(prefix="runspec-venv-") as tmp:
        python = clean_python(Path(tmp))
        base = file_system_calls(python, ["-c", "pass"])
        calls = file_system_calls(python, ["-m", "runspec", "show", "--json", args.script])
    verdict = "met" if calls <= CALL_TARGET else "MISSED"
    print("file-system calls (openat, stat, newfstatat, lstat) on a clean venv, vendored:")
    print(f"  python -c pass: {base}; show --json: {calls} (target <= {CALL_TARGET}: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
