"""Tests of runspec.run.pipeline with real processes: pipes, exit codes, signals, stderr."""

from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import runspec.run.pipeline.spawn
from runspec.errors import PipelineError
from runspec.run.pipeline import (
    PipelineResult,
    Step,
    StepResult,
    render_shell,
    run_pipeline,
)

ROOT = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).resolve().parent / "pipeline_helpers"
PY = sys.executable
HANG = 20.0  # seconds; only ever reached when something hangs


@pytest.fixture(autouse=True)
def _hang_guard() -> Iterator[None]:
    """Abort the test run with tracebacks instead of hanging forever."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def run(steps: list[Step], **options: object) -> PipelineResult:
    """run_pipeline, ended by a SIGTERM to this process (forwarded) if it hangs."""
    alarm = threading.Timer(HANG, os.kill, (os.getpid(), signal.SIGTERM))
    alarm.start()
    try:
        return run_pipeline(steps, **options)  # type: ignore[arg-type]
    finally:
        alarm.cancel()


def make_steps(*argvs: list[str]) -> list[Step]:
    return [Step.create(f"s{index}", argv) for index, argv in enumerate(argvs, 1)]


def helper(name: str, *args: object) -> list[str]:
    return [PY, str(HELPERS / name), *map(str, args)]


def process_state(pid: int) -> tuple[str, int] | None:
    """Return (state, process group) of a process, or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    state, _ppid, pgrp = stat[stat.rfind(b")") + 2 :].split()[:3]
    return state.decode(), int(pgrp)


def survivors(pids: list[int]) -> list[int]:
    """Running processes among pids or in their process groups (zombies do not run)."""
    groups = set(pids)
    found = {pid for pid in pids if (process_state(pid) or ("Z", 0))[0] not in "ZX"}
    for entry in os.listdir("/proc"):
        state = process_state(int(entry)) if entry.isdigit() else None
        if state is not None and state[0] not in "ZX" and state[1] in groups:
            found.add(int(entry))
    return sorted(found)


def running_with_arg(marker: str) -> list[int]:
    """Pids of running processes with marker as one of their arguments."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            marker.encode() in args
            and (process_state(int(entry)) or ("Z", 0))[0] not in "ZX"
        ):
            found.append(int(entry))
    return found


def wait_for_files(paths: list[Path]) -> None:
    deadline = time.monotonic() + HANG
    while not all(p.exists() and p.read_text().endswith("\n") for p in paths):
        assert time.monotonic() < deadline, f"never written: {paths}"
        time.sleep(0.02)


def read_pid(path: Path) -> int:
    return int(path.read_text())


# --- data through the pipes -----------------------------------------------------------


def test_256_mib_through_three_steps_arrive_intact(tmp_path: Path) -> None:
    size = 256 << 20
    expected = subprocess.run(
        helper("gen.py", size, "--digest"), capture_output=True, text=True, check=True
    ).stdout.strip()
    out = tmp_path / "out.bin"
    with out.open("wb") as sink:
        result = run(make_steps(helper("gen.py", size), ["cat"], ["cat"]), stdout=sink)
    assert result.exit_code == 0, result.describe()
    digest = hashlib.sha256()
    with out.open("rb") as produced:
        for block in iter(lambda: produced.read(1 << 20), b""):
            digest.update(block)
    assert (out.stat().st_size, digest.hexdigest()) == (size, expected)


def test_given_stdin_and_stdout_are_used(tmp_path: Path) -> None:
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("hello\npipes\n")
    with source.open("rb") as stdin, target.open("wb") as stdout:
        result = run(
            make_steps(["cat"], ["tr", "a-z", "A-Z"]),
            stdin=stdin,
            stdout=stdout.fileno(),
        )
    assert (result.exit_code, target.read_text()) == (0, "HELLO\nPIPES\n")


# --- exit codes and the failing step --------------------------------------------------

KEEPS_READING = ["sh", "-c", "cat >/dev/null; sleep 1000"]
EXIT_CASES = [
    ("one step succeeds", [["true"]], 0, None, "1 step succeeded"),
    (
        "one step exits 3",
        [["sh", "-c", "exit 3"]],
        3,
        0,
        "step 1 (s1) failed with exit code 3",
    ),
    (
        "middle step exits 3",
        [["yes"], ["sh", "-c", "head -c 10 >/dev/null; exit 3"], KEEPS_READING],
        3,
        1,
        "step 2 (s2) failed with exit code 3",
    ),
    (
        "last step exits 4",
        [["printf", "x"], ["cat"], ["sh", "-c", "cat >/dev/null; exit 4"]],
        4,
        2,
        "step 3 (s3) failed with exit code 4",
    ),
    (
        "first step fails, the rest succeed",
        [["sh", "-c", "echo hi; exit 5"], ["cat"], ["wc", "-c"]],
        5,
        0,
        "step 1 (s1) failed with exit code 5",
    ),
    (
        "killed by a signal",
        [["sh", "-c", "kill -USR1 $$"]],
        128 + signal.SIGUSR1,
        0,
        "step 1 (s1) was killed by SIGUSR1",
    ),
    (
        "head -c 1 ends an endless producer",
        [["yes"], ["cat"], ["head", "-c", "1"]],
        0,
        None,
        "3 steps succeeded",
    ),
    (
        "head -c 1 after 512 MB",
        [["head", "-c", "512000000", "/dev/zero"], ["head", "-c", "1"]],
        0,
        None,
        "2 steps succeeded",
    ),
    (
        "a shell reporting SIGPIPE as 141 is no failure",
        [["sh", "-c", "yes; exit $?"], ["head", "-c", "1"]],
        0,
        None,
        "2 steps succeeded",
    ),
    (
        "reader closed stdin and went on",
        [
            ["yes"],
            [PY, "-c", "import os, time; os.read(0, 1); os.close(0); time.sleep(0.3)"],
        ],
        0,
        None,
        "2 steps succeeded",
    ),
    (
        "SIGPIPE while the reader still reads is a failure",
        [["sh", "-c", "kill -PIPE $$"], KEEPS_READING],
        128 + signal.SIGPIPE,
        0,
        "step 1 (s1) was killed by SIGPIPE",
    ),
    (
        "SIGPIPE of the last step is a failure",
        [["true"], ["sh", "-c", "kill -PIPE $$"]],
        128 + signal.SIGPIPE,
        1,
        "step 2 (s2) was killed by SIGPIPE",
    ),
]


@pytest.mark.parametrize(
    ("argvs", "exit_code", "failed", "message"),
    [case[1:] for case in EXIT_CASES],
    ids=[case[0] for case in EXIT_CASES],
)
@pytest.mark.parametrize("wakeup", ["pidfd", "polling"])
def test_exit_code_and_cause(
    monkeypatch: pytest.MonkeyPatch,
    wakeup: str,
    argvs: list[list[str]],
    exit_code: int,
    failed: int | None,
    message: str,
) -> None:
    if wakeup == "polling":  # as on systems without pidfd_open
        monkeypatch.setattr(runspec.run.pipeline.spawn, "_open_pidfd", lambda pid: None)
    result = run(make_steps(*argvs), stdout=subprocess.DEVNULL, grace=2.0)
    assert (result.exit_code, result.describe()) == (exit_code, message)
    assert result.failed == (None if failed is None else result.steps[failed])
    assert result.interrupted is None
    assert survivors([step.pid for step in result.steps]) == []


def test_a_step_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    stubborn += " print('ready', flush=True); time.sleep(1000)"
    result = run(
        make_steps([PY, "-c", stubborn], ["sh", "-c", "read x; exit 2"]), grace=0.5
    )
    assert (result.exit_code, result.steps[0].returncode) == (2, -signal.SIGKILL)
    assert survivors([result.steps[0].pid]) == []


def test_middle_step_killed_stops_everything_including_grandchildren(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    steps = make_steps(["yes"], helper("selfkill.py", 100_000, pidfile), KEEPS_READING)
    result = run(steps, stdout=subprocess.DEVNULL, grace=2.0)
    assert result.exit_code == 128 + signal.SIGKILL
    assert result.describe() == "step 2 (s2) was killed by SIGKILL"
    assert result.failed == result.steps[1]
    # the producer dies of SIGPIPE or of the SIGTERM, whichever reaches it first
    assert result.steps[0].returncode in (-signal.SIGPIPE, -signal.SIGTERM)
    assert result.steps[2].returncode == -signal.SIGTERM
    grandchild = read_pid(pidfile)
    assert survivors([grandchild, *(step.pid for step in result.steps)]) == []


def test_background_job_left_by_a_successful_step_is_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "job.pid"
    script = f"sleep 1000 & echo $! > {shlex.quote(str(pidfile))}"
    result = run(make_steps(["sh", "-c", script]), stdout=subprocess.DEVNULL)
    assert result.exit_code == 0
    assert survivors([read_pid(pidfile), result.steps[0].pid]) == []


# --- runspec receiving SIGINT / SIGTERM -----------------------------------------------

DRIVER = """
import json, os, shlex, sys
from runspec.run.pipeline import Step, run_pipeline
d = shlex.quote(sys.argv[1])
steps = [
    Step("feed", ("sh", "-c",
        f"echo $$ > {d}/feed.pid; sleep 1000 & echo $! > {d}/bg.pid; yes")),
    Step("mid", ("sh", "-c", f"echo $$ > {d}/mid.pid; exec cat")),
    Step("sink", ("sh", "-c", f"echo $$ > {d}/sink.pid; cat > /dev/null")),
]
result = run_pipeline(steps, grace=1.0, stdout=os.open(os.devnull, os.O_WRONLY))
print(json.dumps([result.describe(), result.interrupted, result.failed is None]))
sys.exit(result.exit_code)
"""


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_to_runspec_stops_every_step(
    tmp_path: Path, signum: signal.Signals, exit_code: int
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(
        [PY, "-c", DRIVER, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        names = ["feed", "bg", "mid", "sink"]
        wait_for_files([tmp_path / f"{name}.pid" for name in names])
        pids = [read_pid(tmp_path / f"{name}.pid") for name in names]
        assert survivors(pids) != [], "the pipeline should be running"
        driver.send_signal(signum)
        out, _ = driver.communicate(timeout=HANG)
    finally:
        driver.kill()
        driver.wait()
    assert driver.returncode == exit_code
    assert json.loads(out) == [f"interrupted by {signum.name}", int(signum), True]
    assert survivors(pids) == []


TTY_DRIVER = """
import sys
from runspec.run.pipeline import Step, run_pipeline
result = run_pipeline([Step("ask", (sys.executable, "-c", "print('got', input())"))])
print("exit", result.exit_code)
"""


def test_a_step_can_read_the_terminal_runspec_runs_in() -> None:
    import pty
    import select

    pid, terminal = pty.fork()
    if pid == 0:  # the driver, session leader with the new terminal as its own
        try:
            os.execve(
                PY, [PY, "-c", TTY_DRIVER], {**os.environ, "PYTHONPATH": str(ROOT)}
            )
        finally:
            os._exit(127)
    os.write(terminal, b"hello\n")
    output, deadline = b"", time.monotonic() + HANG
    try:
        while time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.1)[0]:
                try:
                    chunk = os.read(terminal, 4096)
                except OSError:  # EIO: nothing has the terminal open any more
                    break
                if not chunk:
                    break
                output += chunk
    finally:
        if not os.waitpid(pid, os.WNOHANG)[0]:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(terminal)
    assert b"got hello" in output and b"exit 0" in output, output


def test_signal_handlers_are_restored() -> None:
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = [signal.getsignal(number) for number in forwarded]
    run(make_steps(["true"]))
    assert [signal.getsignal(number) for number in forwarded] == before


# --- stderr ---------------------------------------------------------------------------


def test_prefixed_stderr_of_chatty_steps_never_interleaves_mid_line(
    capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    lines, length = 150, 20_000
    steps = [
        Step.create("left", helper("chatty.py", "a", lines, length)),
        Step.create("right", helper("chatty.py", "b", lines, length)),
    ]
    result = run(steps, prefix_stderr=True, stdout=subprocess.DEVNULL)
    assert result.exit_code == 0
    err = capfdbinary.readouterr().err
    assert err.endswith(b"\n")
    counts = {b"left": 0, b"right": 0}
    for line in err.split(b"\n")[:-1]:
        match = re.fullmatch(rb"\[(left|right)\] (a+|b+)", line)
        assert match is not None, line[:80]
        assert (match[2][:1], len(match[2])) == (
            {b"left": b"a", b"right": b"b"}[match[1]],
            length,
        )
        counts[match[1]] += 1
    assert counts == {b"left": lines, b"right": lines}


STDERR_CASES = [
    (
        "whole lines, then a partial last line",
        ["sh", "-c", r"printf 'one\ntwo\n\377\376 last' >&2"],
        True,
        b"[s1] one\n[s1] two\n[s1] \xff\xfe last\n",
    ),
    (
        "a line over 64 KiB is cut into prefixed pieces",
        [PY, "-c", "import sys; sys.stderr.write('x' * 150000 + '\\n')"],
        True,
        b"".join(b"[s1] " + b"x" * n + b"\n" for n in (65536, 65536, 18928)),
    ),
    ("empty stderr", ["true"], True, b""),
    (
        "not prefixed: passed through",
        ["sh", "-c", "printf 'a\\nb' >&2"],
        False,
        b"a\nb",
    ),
]


@pytest.mark.parametrize(
    ("argv", "prefix", "expected"),
    [case[1:] for case in STDERR_CASES],
    ids=[case[0] for case in STDERR_CASES],
)
def test_stderr(
    capfdbinary: pytest.CaptureFixture[bytes],
    argv: list[str],
    prefix: bool,
    expected: bytes,
) -> None:
    result = run(make_steps(argv), prefix_stderr=prefix)
    assert result.exit_code == 0
    assert capfdbinary.readouterr().err == expected


# --- steps that cannot start ----------------------------------------------------------


def not_executable(tmp_path: Path) -> str:
    path = tmp_path / "plain.txt"
    path.write_text("not a program\n")
    return str(path)


START_CASES = [
    (
        "command not found",
        lambda tmp: [
            Step("sleeper", ("sleep", "987123")),
            Step("tok", ("nosuchprog",)),
        ],
        "step 2 (tok): cannot run 'nosuchprog': No such file or directory",
    ),
    (
        "not executable",
        lambda tmp: [
            Step("sleeper", ("sleep", "987123")),
            Step("x", (not_executable(tmp),)),
        ],
        "step 2 (x): cannot run '{tmp}/plain.txt': Permission denied",
    ),
    (
        "missing working directory",
        lambda tmp: [Step("a", ("true",), cwd="/nonexistent/dir")],
        "step 1 (a): cannot change to directory '/nonexistent/dir': No such file or directory",
    ),
    ("no steps", lambda tmp: [], "no steps to run"),
    ("empty argv", lambda tmp: [Step("a", ())], "step 1 (a): empty command"),
]


@pytest.mark.parametrize(
    ("build", "message"),
    [case[1:] for case in START_CASES],
    ids=[case[0] for case in START_CASES],
)
def test_cannot_start(tmp_path: Path, build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(PipelineError) as raised:
        run(build(tmp_path))
    assert str(raised.value) == message.format(tmp=tmp_path)
    assert running_with_arg("987123") == []


# --- results and rendering ------------------------------------------------------------


def test_describe_an_interruption_that_follows_a_failure_names_the_step() -> None:
    steps = (StepResult("a", 0, 10), StepResult("b", 7, 11))
    result = PipelineResult(steps, steps[1], 7, signal.SIGINT)
    assert result.describe() == "step 2 (b) failed with exit code 7"


RENDER_ENV = {"PATH": "/usr/bin", "HOME": "/home/me"}
RENDER_CASES = [
    (
        "plain",
        [Step("a", ("echo", "hello world")), Step("b", ("wc", "-l"))],
        "echo 'hello world' | wc -l",
    ),
    (
        "shell characters quoted",
        [Step("a", ("echo", "$HOME;", "it's"))],
        "echo '$HOME;' 'it'\"'\"'s'",
    ),
    ("same environment, no prefix", [Step.create("a", ["env"], env=RENDER_ENV)], "env"),
    (
        "changed and new variables",
        [Step.create("a", ["run"], env={"PATH": "/usr/bin", "HOME": "/h", "X": "a b"})],
        "env HOME=/h 'X=a b' run",
    ),
    (
        "removed variable",
        [Step.create("a", ["run"], env={"PATH": "/usr/bin"})],
        "env -u HOME run",
    ),
    (
        "working directory",
        [Step("a", ("make",), cwd="/my dir"), Step("b", ("cat",))],
        "(cd '/my dir' && make) | cat",
    ),
]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [case[1:] for case in RENDER_CASES],
    ids=[case[0] for case in RENDER_CASES],
)
def test_render_shell(steps: list[Step], expected: str) -> None:
    assert render_shell(steps, environ=RENDER_ENV) == expected


def test_rendered_pipeline_runs_in_a_shell() -> None:
    steps = [
        Step.create("a", ["printf", "%s\\n", "it's", "a b"], cwd="/"),
        Step("b", ("wc", "-l")),
    ]
    out = subprocess.run(
        ["sh", "-c", render_shell(steps)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "2"
