"""The fixed cost of ``runspec pipe``: three steps against ``sh -c 'a | b | c'``.

Both run the same three tiny Python steps (generate | copy | count, no data), so the
difference is what starting a pipeline costs runspec: its own interpreter, assembling
three jobs, writing their folders and records, and git. Measured twice in one run: in a
folder outside any git repository, and at the top of a git repository of 10,000
committed files (where finding the commit and the dirty flag costs most). Pairs are
interleaved; prints the median of the per-pair differences with its min-max.
Target: at most +25 ms, in both places.

    python benchmarks/pipe_fixed_cost.py [--pairs 20] [--files 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paired import run_pairs, spread_ms  # noqa: E402
from _recipes import pipe_command, shell_command, write_recipes  # noqa: E402

TARGET_MS = 25.0


def git_repository(root: Path, files: int) -> None:
    """Make ``root`` a git repository holding ``files`` small committed files."""
    for n in range(files):
        folder = root / "src" / f"pkg{n // 1000:02d}" / f"sub{(n // 100) % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod_{n:05d}.py").write_text(f"VALUE = {n}\n", encoding="utf-8")
    quiet = {"stdout": subprocess.DEVNULL, "check": True, "cwd": root}
    subprocess.run(["git", "init", "-q"], **quiet)  # type: ignore[call-overload]
    subprocess.run(["git", "add", "-A"], **quiet)  # type: ignore[call-overload]
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
         "commit", "-q", "-m", "files"], **quiet,
    )  # type: ignore[call-overload]  # fmt: skip


def measure(folder: Path, pairs: int, env: dict[str, str]) -> list[float]:
    paths = write_recipes(folder)
    ours, shell = pipe_command(paths, 0), shell_command(paths, 0)
    for _ in range(3):  # warm caches; not measured
        run_pairs(ours, shell, 1, env, folder)
    return run_pairs(ours, shell, pairs, env, folder).differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--files", type=int, default=10_000, help="files in the git repository")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "runspec"], cwd=REPO, check=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="runspec-pipe-") as tmp:
        plain, repo = Path(tmp) / "plain", Path(tmp) / "repo"
        plain.mkdir()
        repo.mkdir()
        git_repository(repo, args.files)
        results = {
            "plain folder": measure(plain, args.pairs, env),
            f"git repository, {args.files} files": measure(repo, args.pairs, env),
        }
    print(f"3-step pipe, {args.pairs} interleaved pairs per place, python {sys.version.split()[0]}")
    for place, differences in results.items():
        median = statistics.median(differences) * 1000
        verdict = "met" if median <= TARGET_MS else "MISSED"
        print(f"{place:32} runspec - shell: {spread_ms(differences)}  "
              f"(target <= +{TARGET_MS:.0f} ms: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
