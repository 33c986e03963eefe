"""Submitting over ssh, below the real server: quoting, profile keys, ssh's command lines,
error messages, code snapshots, and the remote scripts run by a real ``sh``.

The login node here is this machine reached through a stand-in ``ssh`` on PATH that runs
the remote command with ``sh -c`` (as sshd runs it with the login shell), so every word
is parsed by a real shell exactly once more. The real OpenSSH server and Slurm cluster
are in tests/integration/test_remote.py.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from runspec.errors import SlurmError
from runspec.slurm.remote import SshTransport, _frames
from runspec.slurm.snapshot import blob_id, take, write_tar
from runspec.slurm.ssh import SshConnection, SshTarget, _failure, quote_command
from runspec.slurm.transport import Code

CANARY = "{canary}"
HOSTILE = [
    "sp ace", "'q'", '"dq"', f"$(touch {CANARY})", f"`touch {CANARY}`", f"; touch {CANARY}",
    f"&& touch {CANARY}", f"| touch {CANARY}", "*", "?", "[a]", "~", "$HOME", "${HOME}",
    "ü ✓", "\\", "\\'", "a\nb", "a\tb", "\r", "-n", "--", "-e", "", " ", "%x", "!!", "#c",
]  # fmt: skip


def hostile(tmp_path: Path) -> list[str]:
    """The corpus with its canary in ``tmp_path``: a file that must never be created."""
    return [word.replace(CANARY, str(tmp_path / "pwned")) for word in HOSTILE]


# -- quoting ---------------------------------------------------------------------------


def test_quoted_command_reaches_a_real_shell_byte_for_byte(tmp_path: Path) -> None:
    words = hostile(tmp_path)
    (tmp_path / "a").write_text("")  # something for the globs to match
    line = quote_command(["printf", "%s\\0", *words])
    done = subprocess.run(["sh", "-c", line], cwd=tmp_path, capture_output=True, check=True)
    assert done.stdout.decode().split("\0")[:-1] == words
    assert not (tmp_path / "pwned").exists()


def test_a_nul_cannot_be_quoted() -> None:
    with pytest.raises(SlurmError) as caught:
        quote_command(["echo", "a\0b"])
    assert str(caught.value) == "a remote command cannot carry a NUL byte (got 'a\\x00b')"


# -- the profile's keys ---------------------------------------------------------------

BASE = {"tunnel": "ssh", "host": "login.example.com", "remote_job_dir": "/lustre/me/run"}

TARGETS = [
    ("minimal", {}, SshTarget("login.example.com", PurePosixPath("/lustre/me/run"))),
    ("all-keys",
     {"user": "me", "port": 2222, "identity": "~/keys/id_x", "ssh_options": ["-F", "/c f"]},
     SshTarget("login.example.com", PurePosixPath("/lustre/me/run"), "me", 2222, "~/keys/id_x",
               ("-F", "/c f"))),
    ("ipv6", {"host": "[::1]"}, SshTarget("[::1]", PurePosixPath("/lustre/me/run"))),
    ("normalised-root", {"remote_job_dir": "/a//b/./c/"}, SshTarget("login.example.com", PurePosixPath("/a/b/c"))),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "expected"), [t[1:] for t in TARGETS], ids=[t[0] for t in TARGETS])
def test_target_from_profile(extra: dict[str, Any], expected: SshTarget) -> None:
    assert SshTarget.from_env({**BASE, **extra}) == expected


BAD_TARGETS = [
    ("no-remote-job-dir", {"remote_job_dir": None},
     "run.env.remote_job_dir: required with tunnel = 'ssh': the folder on login.example.com "
     "that holds the job folders"),
    ("relative-remote-job-dir", {"remote_job_dir": "~/run"},
     "run.env.remote_job_dir: must be an absolute path on login.example.com (got '~/run')"),
    ("newline-remote-job-dir", {"remote_job_dir": "/a\nb"},
     "run.env.remote_job_dir: must be a one-line string (got '/a\\nb')"),
    ("no-host", {"host": None},
     "run.env.host: required with tunnel = 'ssh': the login node to submit through"),
    ("option-as-host", {"host": "-oProxyCommand=touch x"},
     "run.env.host: not a valid host for ssh (got '-oProxyCommand=touch x')"),
    ("host-with-space", {"host": "a b"}, "run.env.host: not a valid host for ssh (got 'a b')"),
    ("user-with-at", {"user": "me@x"}, "run.env.user: not a valid user for ssh (got 'me@x')"),
    ("port-zero", {"port": 0}, "run.env.port: must be a port number, 1 to 65535 (got 0)"),
    ("port-string", {"port": "22"}, "run.env.port: must be a port number, 1 to 65535 (got '22')"),
    ("options-string", {"ssh_options": "-v"},
     "run.env.ssh_options: must be a list of strings (got '-v')"),
    ("other-tunnel", {"tunnel": "nemo"}, "run.env.tunnel: must be 'ssh' to submit remotely (got 'nemo')"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "message"), [t[1:] for t in BAD_TARGETS], ids=[t[0] for t in BAD_TARGETS])
def test_bad_target_is_one_line_naming_the_key(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(SlurmError) as caught:
        SshTarget.from_env({**BASE, **extra})
    assert str(caught.value) == message


def test_target_survives_its_record() -> None:
    target = SshTarget.from_env({**BASE, "user": "me", "port": 22, "ssh_options": ["-v"]})
    assert SshTarget.from_record(json.loads(json.dumps(target.to_record()))) == target


# -- ssh's command line ---------------------------------------------------------------


def test_ssh_command_line(tmp_path: Path) -> None:
    target = SshTarget.from_env(
        {**BASE, "user": "me", "port": 2222, "identity": "/k", "ssh_options": ["-F", "/my config"]}
    )
    connection = SshConnection(target, home=str(tmp_path), interactive=False)
    socket = connection.control_path
    assert socket.parent == tmp_path / ".runspec" / "ssh" and len(socket.name) == 16
    assert connection.argv(["echo", "a b"]) == [
        "ssh", "-o", f"ControlPath={socket}", "-o", "ControlMaster=auto",
        "-o", "ControlPersist=600", "-F", "/my config", "-p", "2222", "-i", "/k",
        "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
        "-o", "BatchMode=yes", "--", "me@login.example.com", "echo 'a b'",
    ]  # fmt: skip
    assert "BatchMode=yes" not in SshConnection(target, home=str(tmp_path), interactive=True).argv(["x"])


def test_one_socket_per_target_and_not_per_terminal(tmp_path: Path) -> None:
    def socket(interactive: bool = False, **extra: Any) -> Path:
        target = SshTarget.from_env({**BASE, **extra})
        return SshConnection(target, home=str(tmp_path), interactive=interactive).control_path

    assert socket() == socket(interactive=True) == socket(remote_job_dir="/other")
    assert len({socket(), socket(user="me"), socket(port=2), socket(ssh_options=["-v"])}) == 4


@pytest.fixture
def short_home() -> Iterator[Path]:
    """A home folder with a short path: a control socket's path must fit 108 bytes."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="rs-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_socket_folder_is_made_private(short_home: Path) -> None:
    folder = short_home / ".runspec" / "ssh"
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    SshConnection(SshTarget.from_env(BASE), home=str(short_home)).prepare()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_socket_path_too_long_for_unix_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / ("h" * 80)
    connection = SshConnection(SshTarget.from_env(BASE), home=str(home))
    with pytest.raises(SlurmError) as caught:
        connection.prepare()
    assert str(caught.value) == (
        f"the ssh socket path {connection.control_path} is too long for a Unix socket (108 "
        "bytes with ssh's temporary suffix); runspec keeps sockets in ~/.runspec/ssh"
    )
    assert not home.exists()


FAILURES = [
    ("refused", "ssh: connect to host h port 22: Connection refused\r\n",
     "login.example.com: unreachable (ssh: connect to host h port 22: Connection refused)"),
    ("unknown-name", "ssh: Could not resolve hostname nowhere: Name or service not known\n",
     "login.example.com: unreachable (ssh: Could not resolve hostname nowhere: Name or service "
     "not known)"),
    ("auth", "me@login.example.com: Permission denied (publickey).\n",
     "login.example.com: authentication refused as me (me@login.example.com: Permission denied "
     "(publickey).); check user, identity and your ssh client configuration"),
    ("host-key", "No ED25519 host key is known for h and you have requested strict checking.\n"
     "Host key verification failed.\n",
     "login.example.com: host key verification failed (Host key verification failed.); connect "
     "once with 'ssh me@login.example.com' to check and accept the host's key"),
    ("other", "Bad configuration option: nope\n",
     "login.example.com: ssh failed (Bad configuration option: nope)"),
    ("silent", "", "login.example.com: ssh failed (ssh exited with code 255 and said nothing)"),
]  # fmt: skip


@pytest.mark.parametrize(("said", "message"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_ssh_failures_are_one_line_naming_the_host(said: str, message: str) -> None:
    target = SshTarget.from_env({**BASE, "user": "me"})
    assert str(_failure(target, said)) == message


# -- code snapshots -------------------------------------------------------------------


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), "-c", "user.email=t@t", "-c", "user.name=t", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    (folder / "pkg").mkdir(parents=True)
    (folder / "train.py").write_text("print('train')\n")
    (folder / "pkg" / "util.py").write_text("X = 1\n")
    (folder / "gone.py").write_text("")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    (folder / ".gitignore").write_text("*.log\n")
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-qm", "init")
    return folder


def test_snapshot_lists_what_git_lists_with_uncommitted_changes(repo: Path) -> None:
    (repo / "pkg" / "util.py").write_text("X = 2\n")  # modified
    (repo / "new.py").write_text("")  # untracked
    (repo / "gone.py").unlink()  # deleted, still in the index
    (repo / "out.log").write_text("")  # ignored
    (repo / ".runspec" / "jobs").mkdir(parents=True)
    (repo / ".runspec" / "jobs" / "x.json").write_text("{}")
    (repo / "link.py").symlink_to("train.py")
    snapshot = take(repo, git=True)
    assert snapshot.paths == (".gitignore", "link.py", "new.py", "pkg/util.py", "run.sh", "train.py")
    for entry in snapshot.entries:  # git's own ids, for the content as it is now
        assert entry.blob == git(repo, "hash-object", "--no-filters", entry.path).strip() or entry.path == "link.py"
    modes = {entry.path: entry.mode for entry in snapshot.entries}
    assert (modes["run.sh"], modes["train.py"], modes["link.py"]) == (0o100755, 0o100644, 0o120000)


def test_snapshot_says_its_commit_and_whether_the_tree_differs_from_it(repo: Path) -> None:
    from runspec.slurm.snapshot import git_head

    head = git_head(repo / "pkg")
    assert head == (repo, git(repo, "rev-parse", "HEAD").strip())
    assert take(repo, git=True, commit=head[1]).dirty is False
    (repo / "new.py").write_text("")
    assert take(repo, git=True, commit=head[1]).dirty is True  # untracked
    git(repo, "add", "new.py")
    (repo / "new.py").write_text("")
    assert take(repo, git=True, commit=head[1]).dirty is True  # staged only
    git(repo, "commit", "-qm", "new")
    assert take(repo, git=True, commit=git(repo, "rev-parse", "HEAD").strip()).dirty is False
    assert git_head(repo.parent) is None


def test_snapshot_id_names_the_content(repo: Path, tmp_path: Path) -> None:
    first = take(repo, git=True).id
    assert take(repo, git=True).id == first
    (repo / "train.py").write_text("print('changed')\n")
    changed = take(repo, git=True).id
    assert changed != first
    (repo / "train.py").write_text("print('train')\n")
    assert take(repo, git=True).id == first  # back as it was: the same snapshot
    (repo / "run.sh").chmod(0o644)
    assert take(repo, git=True).id not in (first, changed)  # the mode is content too


def test_snapshot_outside_git_is_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    (folder / "sub" / "__pycache__").mkdir(parents=True)
    (folder / "train.py").write_text("")
    (folder / "sub" / "a.json").write_text("{}")
    (folder / "sub" / "__pycache__" / "a.pyc").write_text("")
    (folder / ".runspec").mkdir()
    (folder / ".runspec" / "r.json").write_text("")
    snapshot = take(folder, git=False)
    assert snapshot.paths == ("sub/a.json", "train.py")
    assert blob_id(folder / "train.py") == (0o100644, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")


def test_snapshot_tar_is_read_only_and_keeps_links(repo: Path, tmp_path: Path) -> None:
    (repo / "link.py").symlink_to("train.py")
    snapshot = take(repo, git=True)
    path = tmp_path / "code.tar"
    with open(path, "wb") as stream:
        write_tar(snapshot, stream)
    with tarfile.open(path) as archive:
        members = {member.name: member for member in archive.getmembers()}
    assert sorted(members) == list(snapshot.paths)
    assert stat.S_IMODE(members["run.sh"].mode) == 0o555
    assert stat.S_IMODE(members["train.py"].mode) == 0o444
    assert members["link.py"].issym() and members["link.py"].linkname == "train.py"


# -- the remote scripts, run by a real sh through a stand-in ssh ------------------------

FAKE_SSH = """\
#!/bin/sh
# ssh's options, then the destination, then the command: run it as sshd would.
while [ "$#" -gt 0 ]; do
    case $1 in
        --) shift; break ;;
        -o|-p|-i|-F|-l) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
echo "$1" >>"$FAKE_SSH_LOG"
shift
exec sh -c "$*"
"""


@pytest.fixture
def login(
    tmp_path: Path, short_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SshTransport]:
    """A transport to this machine through the stand-in ssh; remote_job_dir is tmp/remote."""
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "ssh").write_text(FAKE_SSH)
    (bin_folder / "ssh").chmod(0o755)
    (bin_folder / "sbatch").write_text('#!/bin/sh\necho "sbatch $*" >&2\necho "4242;cluster"\n')
    (bin_folder / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SSH_LOG", str(tmp_path / "ssh.log"))
    target = SshTarget.from_env({**BASE, "remote_job_dir": str(tmp_path / "remote")})
    home = short_home
    yield SshTransport(target, home=str(home), connection=SshConnection(target, home=str(home), interactive=False))


def staged_job(login: SshTransport, name: str = "job/20250101-120000") -> PurePosixPath:
    folder = login.target.job_root / name
    staged = login.stage(folder)
    staged.mkdir(parents=True)
    (staged / "sbatch.sh").write_text("#!/bin/bash\n")
    (staged / "runspec.json").write_text('{"job_id": "@RUNSPEC_JOB_ID@"}\n')
    return folder


def test_a_job_folder_is_staged_under_home_and_sent_in_one_command(login: SshTransport, tmp_path: Path) -> None:
    folder = staged_job(login)
    (login.stage(folder) / "runspec.json").chmod(0o600)  # a record holding a secret
    assert login.stage(folder) == Path(str(login.home)) / ".runspec" / "jobs" / "job" / "20250101-120000"
    code, out, err = login.submit([folder], ["sbatch", "--parsable", str(folder / "sbatch.sh")], None)
    assert (code, out, err) == (0, "4242;cluster\n", f"sbatch --parsable {folder}/sbatch.sh")
    remote = Path(str(folder))
    assert sorted(os.listdir(remote)) == ["runspec.json", "sbatch.sh"]
    assert (remote / "runspec.json").read_text() == '{"job_id": "4242"}\n'
    assert stat.S_IMODE((remote / "runspec.json").stat().st_mode) == 0o600  # kept when the id went in
    assert stat.S_IMODE(remote.stat().st_mode) == 0o700
    assert (tmp_path / "ssh.log").read_text() == "login.example.com\n"  # one round trip


def test_code_is_sent_once_and_linked(login: SshTransport, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login.shipper, "has_rsync", lambda: False)  # the tar stream; rsync is tried for real in integration
    snapshot = take(repo, git=True)
    code = Code(snapshot, login.code_folder(snapshot.id))
    first = staged_job(login, "job/1")
    login.submit([first], ["sbatch", str(first / "sbatch.sh")], code)
    stored = Path(str(code.folder))
    assert sorted(str(p.relative_to(stored)) for p in stored.rglob("*") if not p.is_dir()) == sorted(snapshot.paths)
    assert os.readlink(Path(str(first)) / "code") == f"../../.runspec/code/{snapshot.id}"
    assert (Path(str(first)) / "code" / "train.py").read_text() == "print('train')\n"
    assert not os.access(stored / "train.py", os.W_OK) or os.geteuid() == 0
    assert stat.S_IMODE((stored / "train.py").stat().st_mode) == 0o444
    rounds = (tmp_path / "ssh.log").read_text().count("\n")
    assert rounds == 3  # install (no code yet), the code, install again
    second = staged_job(login, "job/2")
    login.submit([second], ["sbatch", str(second / "sbatch.sh")], code)
    assert (tmp_path / "ssh.log").read_text().count("\n") == rounds + 1  # unchanged code: one


def test_no_sbatch_on_the_login_node(login: SshTransport) -> None:
    folder = staged_job(login)
    with pytest.raises(SlurmError) as caught:
        login.submit([folder], ["no-such-sbatch", "x"], None)
    assert str(caught.value) == (
        "no-such-sbatch not found on the PATH of login.example.com (submitting needs Slurm there)"
    )
    assert not Path(str(folder)).exists()


def test_remote_job_dir_not_writable(login: SshTransport, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "remote"
        blocker.write_text("a file where the folder should be")
    else:
        (tmp_path / "remote").mkdir(mode=0o500)
    folder = staged_job(login)
    with pytest.raises(SlurmError) as caught:
        login.submit([folder], ["sbatch", str(folder / "sbatch.sh")], None)
    message = str(caught.value)
    assert message.startswith(
        f"run.env.remote_job_dir: remote_job_dir {tmp_path / 'remote'} is not writable on "
        "login.example.com: mkdir: "
    )


def test_an_existing_job_folder_is_never_overwritten(login: SshTransport) -> None:
    folder = staged_job(login)
    Path(str(folder)).mkdir(parents=True)
    with pytest.raises(SlurmError) as caught:
        login.submit([folder], ["sbatch", str(folder / "sbatch.sh")], None)
    assert str(caught.value) == (
        f"the job folder exists already on login.example.com; submit again: {folder} exists"
    )


def test_output_is_read_from_offsets_in_one_command(login: SshTransport, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "a b.out").write_bytes(b"0123456789\xff\n")
    files = [(PurePosixPath(remote / "a b.out"), 4), (PurePosixPath(remote / "none"), 0),
             (PurePosixPath(remote / "a b.out"), -3), (PurePosixPath(remote / "a b.out"), 99)]  # fmt: skip
    assert login.read(files) == [b"456789\xff\n", None, b"9\xff\n", b""]


def test_frames_skip_what_a_login_shell_printed_first() -> None:
    data = b"Welcome!\n3\n" + b"runspec-frames\n3\nab\n-1\n"
    assert _frames(data, 2) == [b"ab\n", None]


def test_a_snapshot_sent_twice_is_kept_once(login: SshTransport, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login.shipper, "has_rsync", lambda: False)
    snapshot = take(repo, git=True)
    code = Code(snapshot, login.code_folder(snapshot.id))
    # Two submissions that both found the snapshot missing send it at the same time.
    first, second = login.shipper.send(code), login.shipper.send(code)
    for name, arrived in (("job/1", first), ("job/2", second)):
        folder = staged_job(login, name)
        argv = login._install_argv([folder], ["sbatch", str(folder / "sbatch.sh")], code, arrived)
        assert login.ssh.run_bytes(argv, stdin=login._folders_tar([folder]))[0] == 0
    store = Path(str(code.folder)).parent
    assert sorted(os.listdir(store)) == [snapshot.id]  # no temporary folder is left
    assert sorted(os.listdir(store / snapshot.id)) == sorted({p.split("/")[0] for p in snapshot.paths})


# -- pinned sources, checked out on the cluster ------------------------------------------

PINNED = """\
# /// script
# [tool.runspec]
# name = "pinned"
# image = "img:1"
# [tool.runspec.config]
# format = "json"
# [tool.runspec.resources]
# gpus_per_node = 0
# ///
"""


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, str]:
    """A repository with one commit on ``main``: (its folder, the commit)."""
    folder = tmp_path / "origin" / "Megatron-LM"
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    (folder / "VERSION").write_text("1\n")
    git(folder, "add", "VERSION")
    git(folder, "commit", "-qm", "one")
    return folder, git(folder, "rev-parse", "HEAD").strip()


def pinned_job(tmp_path: Path, login: SshTransport, refs: list[str], git_dir: str | None) -> Any:
    from runspec import parse
    from runspec.job import assemble
    from runspec.profiles import EnvFile

    cache = f"[cache]\ngit_dir = {json.dumps(git_dir)}\n" if git_dir is not None else ""
    env_toml = tmp_path / "env.toml"
    env_toml.write_text(
        f'[login]\nexecutor = "slurm"\ntunnel = "ssh"\nhost = "login.example.com"\n'
        f"remote_job_dir = {json.dumps(str(login.target.job_root))}\n{cache}"
    )
    script = tmp_path / "recipe" / "train.py"
    (script.parent / "config").mkdir(parents=True, exist_ok=True)
    script.write_text(PINNED)
    mounts = [*(f"${{auto_mount:git+file://{tmp_path}/origin/Megatron-LM@{ref},/opt/m{n}}}"
                for n, ref in enumerate(refs)), "/lustre:/lustre"]  # fmt: skip
    (script.parent / "config" / "default.json").write_text(json.dumps({"run": {"env": {"mounts": mounts}}}))
    envfile = EnvFile.load(env_toml)
    return assemble(parse(script), envfile=envfile, profile=envfile.resolve("login"),
                    job_dir=lambda env: tmp_path / "jobs" / "x")  # fmt: skip


def test_pins_are_checked_out_on_the_cluster_in_one_command(
    login: SshTransport, origin: tuple[Path, str], tmp_path: Path
) -> None:
    from runspec.auto_mount import Pin
    from runspec.slurm import pins

    cache = tmp_path / "cluster cache $(touch pwned) 'q'"
    job = pinned_job(tmp_path, login, ["main", origin[1]], str(cache))
    placed, notes = pins.placed(job, login, submitting=True)
    slug = Pin.parse(f"${{auto_mount:git+file://{origin[0]}@main,/x}}", "k").slug  # type: ignore[union-attr]
    checkout = cache / slug / origin[1]
    assert placed.env["mounts"] == [f"{checkout}:/opt/m0:ro", f"{checkout}:/opt/m1:ro", "/lustre:/lustre"]
    assert notes == ()
    assert (checkout / "VERSION").read_text() == "1\n"
    assert sorted(os.listdir(cache / slug)) == [".lock", origin[1], "repo.git"]
    assert (tmp_path / "ssh.log").read_text() == "login.example.com\n"  # one round trip
    assert not (tmp_path / "pwned").exists()
    # A new commit on the branch is fetched; the old checkout stays for the jobs using it.
    (origin[0] / "VERSION").write_text("2\n")
    git(origin[0], "commit", "-qam", "two")
    newer = git(origin[0], "rev-parse", "HEAD").strip()
    again, _ = pins.placed(pinned_job(tmp_path, login, [newer], str(cache)), login, submitting=True)
    assert again.env["mounts"][0] == f"{cache / slug / newer}:/opt/m0:ro"
    assert (cache / slug / newer / "VERSION").read_text() == "2\n"
    assert (checkout / "VERSION").read_text() == "1\n"


def test_a_dry_run_plans_pins_on_the_cluster_and_connects_nowhere(
    login: SshTransport, origin: tuple[Path, str], tmp_path: Path
) -> None:
    from runspec.slurm import pins

    job = pinned_job(tmp_path, login, ["user/branch", origin[1]], None)
    placed, notes = pins.placed(job, login, submitting=False)
    cache = login.target.job_root / ".runspec" / "git"
    [slug] = {PurePosixPath(m.split(":")[0]).parent.name for m in placed.env["mounts"][:2]}
    assert placed.env["mounts"][:2] == [f"{cache}/{slug}/user-branch:/opt/m0:ro", f"{cache}/{slug}/{origin[1]}:/opt/m1:ro"]
    url = f"file://{tmp_path}/origin/Megatron-LM"
    assert notes == (
        f"run.env.mounts.0: {url}@user/branch is checked out on login.example.com in {cache} when the job is submitted",
        f"run.env.mounts.1: {url}@{origin[1]} is checked out on login.example.com in {cache} when the job is submitted",
    )
    assert not (tmp_path / "ssh.log").exists()


def _pin_failure(login: SshTransport, tmp_path: Path, refs: list[str], git_dir: str | None = None) -> str:
    from runspec.slurm import pins

    with pytest.raises(SlurmError) as caught:
        pins.placed(pinned_job(tmp_path, login, refs, git_dir), login, submitting=True)
    return str(caught.value)


def test_a_missing_ref_on_the_cluster_names_the_pin_and_the_host(
    login: SshTransport, origin: tuple[Path, str], tmp_path: Path
) -> None:
    assert _pin_failure(login, tmp_path, ["main", "no-such-branch"]) == (
        f"run.env.mounts.1: file://{origin[0]} has no ref 'no-such-branch' (looked up on login.example.com)"
    )


def test_a_failed_clone_on_the_cluster_is_one_line(login: SshTransport, tmp_path: Path) -> None:
    message = _pin_failure(login, tmp_path, ["main"])  # no origin repository: clone fails
    assert message.startswith(
        f"run.env.mounts.0: git clone of file://{tmp_path}/origin/Megatron-LM@main failed on "
        "login.example.com: fatal: "
    ), message
    assert "\n" not in message


def test_no_git_on_the_cluster(login: SshTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    (bare / "ssh").symlink_to(tmp_path / "bin" / "ssh")
    (bare / "sh").symlink_to(str(shutil.which("sh")))
    monkeypatch.setenv("PATH", str(bare))
    assert _pin_failure(login, tmp_path, ["main"]) == (
        "run.env.mounts.0: git not found on the PATH of login.example.com (pinned sources are"
        " checked out there)"
    )


def test_a_relative_git_cache_is_refused_over_ssh(login: SshTransport, tmp_path: Path) -> None:
    from runspec.errors import ConfigError
    from runspec.slurm import pins

    with pytest.raises(ConfigError) as caught:
        pins.placed(pinned_job(tmp_path, login, ["main"], "~/git-cache"), login, submitting=False)
    assert str(caught.value) == (
        "run.cache.git_dir: over ssh the git cache is a folder on the cluster and must be"
        " absolute (got '~/git-cache')"
    )



@pytest.mark.parametrize("flock", [True, False], ids=["flock", "no-flock"])
def test_two_submissions_racing_for_a_pin_share_one_checkout(
    login: SshTransport, origin: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    flock: bool,
) -> None:
    import threading

    from runspec.slurm import pins

    if not flock:  # a login node without flock: the first complete checkout wins
        bare = tmp_path / "no-flock-bin"
        bare.mkdir()
        for program in ("sh", "git", "mkdir", "mv", "rm", "tail"):
            (bare / program).symlink_to(str(shutil.which(program)))
        (bare / "ssh").symlink_to(tmp_path / "bin" / "ssh")
        monkeypatch.setenv("PATH", str(bare))
    cache = tmp_path / "cache"
    job = pinned_job(tmp_path, login, ["main"], str(cache))
    found: list[Any] = []
    racers = [threading.Thread(target=lambda: found.append(pins.placed(job, login, submitting=True)[0]))
              for _ in range(3)]  # fmt: skip
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=120)
    assert len(found) == 3 and len({str(job.env["mounts"][0]) for job in found}) == 1
    [slug] = os.listdir(cache)
    lock = [".lock"] if flock else []
    assert sorted(os.listdir(cache / slug)) == [*lock, origin[1], "repo.git"]  # nothing left over
    assert (cache / slug / origin[1] / "VERSION").read_text() == "1\n"
