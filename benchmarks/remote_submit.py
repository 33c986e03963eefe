"""Submitting over ssh: runspec against plain ssh and rsync, over a loopback sshd.

Second submission: a repository runspec has sent once is submitted again, unchanged, with
``runspec submit -p login`` (a fresh interpreter: assemble, render, name the code snapshot,
one ssh command through the shared connection that unpacks the job folder and runs
``sbatch``, the local record), against a plain ``ssh host sbatch --parsable SCRIPT`` of
the very script runspec wrote (a new connection each time, as without runspec), in
interleaved pairs. Jobs are submitted held and cancelled at the end. Target: at most 1.5.

First shipping: a repository of 10,000 files is submitted to an empty ``remote_job_dir``
(listing and naming the snapshot, sending it, then the job) against ``rsync -a`` of the
same files into an empty folder, in interleaved pairs; then once more with runspec's tar
stream (no rsync on this side's PATH).

Needs a Slurm cluster that ``sbatch`` reaches, e.g. the local test cluster
(``bash tests/cluster/slurm.sh start && eval "$(bash tests/cluster/slurm.sh env)"``), and
starts a private sshd in front of it (tests/cluster/sshd.py), or uses the login node given
with --ssh-config/--host.

    python benchmarks/remote_submit.py [--pairs 20] [--files 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET = 1.5
RECIPE = REPO / "tests" / "data" / "slurm" / "recipes" / "echo.py"


@contextlib.contextmanager
def login_node(config: str | None, host: str | None) -> Iterator[tuple[str, str]]:
    """(client ssh_config, host alias): the given server, else a private one started here."""
    if config and host:
        yield config, host
        return
    from tests.cluster.sshd import discard_server, new_server

    env = {"PATH": os.environ["PATH"]}
    if os.environ.get("SLURM_CONF"):
        env["SLURM_CONF"] = os.environ["SLURM_CONF"]
    server = new_server(env)
    try:
        yield str(server.config), server.alias
    finally:
        discard_server(server)


def git_repository(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "code"]):
        subprocess.run(["git", "-C", str(folder), "-c", "user.email=b@b", "-c", "user.name=b",
                        *command], check=True, capture_output=True)  # fmt: skip


def this_repository() -> dict[str, str]:
    """runspec's own tracked files: a realistic small repository (and a recipe in it)."""
    names = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    files = [name for name in names if (REPO / name).is_file()]
    found = {name: (REPO / name).read_text(errors="replace") for name in files}
    found["bench/echo.py"] = RECIPE.read_text()
    found["bench/config/default.json"] = '{"exit_code": 0, "sleep": 0}'
    return found


def many_files(count: int) -> dict[str, str]:
    """``count`` Python-sized files in 100 folders, and the recipe."""
    body = "".join(f"value_{n} = {n * 7919 % 1000}  # a line of ordinary code\n" for n in range(30))
    found = {f"pkg{n % 100:03}/module_{n:05}.py": f"# file {n}\n{body}" for n in range(count - 2)}
    found["bench/echo.py"] = RECIPE.read_text()
    found["bench/config/default.json"] = '{"exit_code": 0, "sleep": 0}'
    return found


class Bench:
    """A workstation: a home folder, an env.toml with the ``login`` profile, commands to time."""

    def __init__(self, folder: Path, config: str, host: str) -> None:
        self.folder, self.config, self.host = folder, config, host
        self.home = Path(tempfile.mkdtemp(prefix="rs-bench-"))
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(self.home),
                    "RUNSPEC_ENV_FILE": str(folder / "env.toml")}  # fmt: skip
        self.ids: list[str] = []

    def profile(self, remote: Path) -> None:
        (self.folder / "env.toml").write_text(
            '[login]\nexecutor = "slurm"\npartition = "debug"\ngpus_per_node = 0\n'
            f'tunnel = "ssh"\nhost = {json.dumps(self.host)}\n'
            f"ssh_options = [\"-F\", {json.dumps(self.config)}]\n"
            f"remote_job_dir = {json.dumps(str(remote))}\nsbatch = {{ hold = true }}\n"
        )

    def timed(self, command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env or self.env, capture_output=True,
                              text=True, check=False)  # fmt: skip
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{command[:4]} failed: {done.stderr.strip()}")
        self.ids += re.findall(r"^([0-9]+)", done.stdout, re.M)
        return seconds

    def runspec(self, checkout: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "runspec", "submit", str(checkout / "bench" / "echo.py"),
                "-p", "login", *extra]  # fmt: skip

    def ssh(self, *words: str) -> list[str]:
        return ["ssh", "-F", self.config, self.host, *words]

    def close(self) -> None:
        if self.ids:
            subprocess.run(["scancel", *self.ids], check=False)
        for socket in (self.home / ".runspec" / "ssh").glob("*"):
            if socket.is_socket():
                subprocess.run(["ssh", "-F", self.config, "-o", f"ControlPath={socket}", "-O",
                                "exit", self.host], capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(self.home, ignore_errors=True)


def ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.0f} ms"


def second_submit(bench: Bench, pairs: int) -> None:
    checkout = bench.folder / "small"
    git_repository(checkout, this_repository())
    bench.profile(bench.folder / "remote-small")
    bench.timed(bench.runspec(checkout), checkout)  # the first: the code goes over, once
    [script] = (bench.folder / "remote-small").glob("slurm-tests-echo/*/sbatch.sh")
    ours, plain, ratios = [], [], []
    for index in range(pairs):
        order = [("ours", bench.runspec(checkout)),
                 ("plain", bench.ssh("sbatch", "--parsable", "--hold", str(script)))]  # fmt: skip
        times = {}
        for name, command in order if index % 2 == 0 else order[::-1]:
            times[name] = bench.timed(command, checkout)
        ours.append(times["ours"])
        plain.append(times["plain"])
        ratios.append(times["ours"] / times["plain"])
    true_plain = [bench.timed(bench.ssh("true"), checkout) for _ in range(5)]
    bare = [bench.timed([sys.executable, "-c", "pass"], checkout) for _ in range(5)]
    ratio = statistics.median(ratios)
    files = len(this_repository())
    print(f"context: bare python {ms(bare)}; a new ssh connection running 'true' {ms(true_plain)}")
    print(f"second submit of an unchanged {files}-file repository: plain 'ssh host sbatch' "
          f"{ms(plain)}, runspec submit {ms(ours)}, ratio {ratio:.2f} "
          f"(target <= {TARGET}: {'met' if ratio <= TARGET else 'missed'})")  # fmt: skip


def first_shipping(bench: Bench, count: int, rounds: int) -> None:
    checkout = bench.folder / "big"
    git_repository(checkout, many_files(count))
    rsync_shell = f"ssh -F {bench.config}"
    ours, plain, ratios = [], [], []
    for index in range(rounds):
        remote = bench.folder / f"remote-big-{index}"
        bench.profile(remote)
        ship = bench.runspec(checkout)
        copy = ["rsync", "-a", "--exclude=.git", "-e", rsync_shell, f"{checkout}/",
                f"{bench.host}:{bench.folder / f'rsync-{index}'}/"]  # fmt: skip
        order = [("ours", ship), ("plain", copy)]
        times = {}
        for name, command in order if index % 2 == 0 else order[::-1]:
            times[name] = bench.timed(command, checkout)
        ours.append(times["ours"])
        plain.append(times["plain"])
        ratios.append(times["ours"] / times["plain"])
    print(f"first submit of a {count}-file repository: rsync -a of the files {ms(plain)}, "
          f"runspec submit (rsync) {ms(ours)}, ratio {statistics.median(ratios):.2f}")
    no_rsync = bench.folder / "bin"
    no_rsync.mkdir()
    for program in ("ssh", "git", "sh", "tar"):
        found = shutil.which(program)
        if found:
            (no_rsync / program).symlink_to(found)
    env = {**bench.env, "PATH": str(no_rsync)}
    tar = []
    for index in range(rounds):
        bench.profile(bench.folder / f"remote-tar-{index}")
        tar.append(bench.timed(bench.runspec(checkout), checkout, env))
    print(f"first submit of a {count}-file repository as a tar stream (no rsync here): {ms(tar)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20, help="second-submission pairs")
    parser.add_argument("--files", type=int, default=10_000, help="files of the big repository")
    parser.add_argument("--rounds", type=int, default=3, help="first-shipping pairs")
    parser.add_argument("--ssh-config", help="an ssh client config that reaches the login node")
    parser.add_argument("--host", help="the login node's name in that config")
    args = parser.parse_args()
    server = login_node(args.ssh_config, args.host)
    with server as (config, host), tempfile.TemporaryDirectory() as temp:
        bench = Bench(Path(temp), config, host)
        try:
            second_submit(bench, args.pairs)
            first_shipping(bench, args.files, args.rounds)
        finally:
            bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
