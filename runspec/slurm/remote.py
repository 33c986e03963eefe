"""A login node over ssh as a :class:`~runspec.slurm.transport.Transport`.

Job folders on the cluster are ``remote_job_dir/<name>/<timestamp>/``; runspec writes
their files first into the same place under ``~/.runspec/jobs/`` on this machine (the
job's local record lives there too), then one remote command checks the login node,
creates the folders, unpacks them from a tar stream and runs ``sbatch``: a second
submission of unchanged code costs one round trip. Code snapshots are kept by content
under ``remote_job_dir/.runspec/code/<id>/`` (read-only: jobs share them) and each job
folder links to its snapshot as ``code``. A snapshot the cluster lacks is sent once,
with ``rsync`` when both ends have it, else as a tar stream over the same connection,
into a temporary folder renamed into place when complete.

Sending a snapshot is :mod:`runspec.slurm.shipping`. The remote side needs a POSIX
shell, ``tar`` and Slurm; nothing of runspec.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import select
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath

from ..errors import SlurmError
from ..tracking import forwarded_secrets
from .shipping import Shipper, temporary_folder
from .ssh import CONTROL_PERSIST_SECONDS, SshConnection, SshError, SshTarget
from .transport import Code, Sink, remove_folder

__all__ = ["RECORD_JOB_ID", "SshTap", "SshTransport", "local_root"]

RECORD_JOB_ID = "@RUNSPEC_JOB_ID@"
"""Stands for the job id in a record shipped before ``sbatch`` gave one; filled in there."""

_NO_PROGRAM, _NOT_WRITABLE, _NO_CODE, _FOLDER_EXISTS, _UNPACK_FAILED = 120, 121, 122, 123, 124

# $1 root, $2 code id ('' for none), $3 link (folder/code, '' for none), $4 link target,
# $5 a folder the snapshot was just sent into ('' for none), $6 number of folders; then the
# folders (relative to the root), then the command. Exit codes 120-124 are this script's
# own; the command's are passed through. A missing snapshot (122) is said before anything
# is made, with whether rsync is there and which snapshot there is the newest. A sent
# snapshot is renamed into place; when two submissions race to send the same one, the
# first rename wins and the other copy goes (also when mv, seeing a folder, moved it inside
# the winner's). A record shipped with the folders gets the job id the command printed
# (sbatch --parsable). Stdin holds NAME=value lines and an empty line, then the tar stream:
# the variables (secrets such as WANDB_API_KEY, see runspec.tracking) are exported for the
# command only, so that sbatch passes them to the job; read takes one line at a time and
# leaves the rest of stdin to tar.
_INSTALL = """\
root=$1 code=$2 link=$3 target=$4 arrived=$5 count=$6
shift 6
program=$(shift "$count" && printf "%s" "$1")
command -v "$program" >/dev/null 2>&1 || exit 120
store=$root/.runspec/code
mkdir -p -- "$store" && [ -w "$root" ] || exit 121
if [ -n "$arrived" ]; then
    if [ ! -d "$store/$code" ]; then mv -- "$arrived" "$store/$code" 2>/dev/null || true; fi
    rm -rf -- "$arrived" "$store/$code/${arrived##*/}"
fi
if [ -n "$code" ] && [ ! -d "$store/$code" ]; then
    if command -v rsync >/dev/null 2>&1; then echo runspec-has-rsync; fi
    echo "runspec-latest $(ls -t -- "$store" | head -n 1)"
    exit 122
fi
left=$count
for folder do
    [ "$left" -gt 0 ] || break
    left=$((left - 1))
    if [ -e "$root/$folder" ]; then echo "$root/$folder exists" >&2; exit 123; fi
    mkdir -p -m 700 -- "$root/$folder" || exit 121
done
while IFS= read -r variable && [ -n "$variable" ]; do export "$variable"; done
tar -xpf - -C "$root" || exit 124
if [ -n "$link" ]; then ln -s -- "$target" "$root/$link" || exit 124; fi
out=$(shift "$count" && "$@") || { status=$?; printf "%s\\n" "$out"; exit "$status"; }
printf "%s\\n" "$out"
id=${out%%;*}
case $id in "" | *[!0-9_]*) exit 0 ;; esac
left=$count
for folder do
    [ "$left" -gt 0 ] || break
    left=$((left - 1))
    record=$root/$folder/runspec.json
    [ -f "$record" ] || continue
    # written through, so that the record keeps its mode (0600 when it holds a secret)
    text=$(sed "s/@RUNSPEC_JOB_ID@/$id/g" "$record") && printf "%s\\n" "$text" >"$record"
done
"""

# Follows $2 from byte $1 (1-based); ends when its stdin ends (the local ssh went away),
# so no tail is left behind on the login node.
_TAIL = 'tail -c "+$1" -F -- "$2" 2>/dev/null & cat >/dev/null; kill "$!" 2>/dev/null'

# After a marker line, for each (offset, file): the byte count, a newline, the bytes from
# that offset on (-1 for a missing file). A negative offset counts from the end.
_FRAMES = b"runspec-frames\n"
_READ = """\
echo runspec-frames
while [ "$#" -ge 2 ]; do
    if [ -f "$2" ]; then
        size=$(wc -c <"$2")
        if [ "$1" -lt 0 ]; then from=$((size + $1 > 0 ? size + $1 : 0)); else from=$1; fi
        size=$((size > from ? size - from : 0))
        echo "$size"; tail -c "+$((from + 1))" -- "$2" | head -c "$size"
    else
        echo -1
    fi
    shift 2
done
"""


def local_root(home: str | None = None) -> Path:
    """``~/.runspec/jobs``: where remote job folders are staged and their records kept."""
    return Path(home or os.path.expanduser("~")) / ".runspec" / "jobs"


class SshTransport:
    """The login node of ``target``, reached through one multiplexed ssh connection."""

    def __init__(self, target: SshTarget, *, home: str | None = None,
                 connection: SshConnection | None = None) -> None:  # fmt: skip
        self.target = target
        self.host: str | None = target.host
        self.home = home
        self.ssh = connection or SshConnection(target, home=home)
        self.shipper = Shipper(self.ssh)

    # -- commands ---------------------------------------------------------------------

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        """Run a program on the login node; a missing one says so, naming the host."""
        code, out, err = self.ssh.run(argv)
        if code == 127:
            err = f"{argv[0]}: command not found on {self.target.host}"
        return code, out, err

    def reconnect(self) -> None:
        """Start a new master connection."""
        self.ssh.reconnect()

    # -- job folders --------------------------------------------------------------------

    def _relative(self, folder: PurePath) -> PurePosixPath:
        relative = PurePosixPath(posixpath.relpath(str(folder), str(self.target.job_root)))
        if relative.parts[:1] == ("..",) or str(relative) == ".":
            raise SlurmError(
                f"job folder {folder} is not inside remote_job_dir {self.target.job_root}"
            )
        return relative

    def stage(self, folder: PurePath) -> Path:
        """``~/.runspec/jobs/<name>/<timestamp>`` for ``remote_job_dir/<name>/<timestamp>``."""
        return local_root(self.home) / self._relative(folder)

    def location(self, path: PurePath) -> str:
        """``host:path``."""
        return f"{self.target.host}:{path}"

    def record_fields(self) -> dict[str, object]:
        """The ssh target, under ``remote``."""
        return {"remote": self.target.to_record()}

    def submit(
        self, folders: Sequence[PurePath], command: Sequence[str], code: Code | None
    ) -> tuple[int, str, str]:
        """Send the staged folders (and the code if the cluster lacks it), then run ``command``.

        One round trip when the code is there already; otherwise three: the cluster says
        it lacks the code, the code goes, then the folders follow.
        """
        payload = self._folders_tar(folders)
        install = self._install_argv(folders, command, code)
        status, out, err = self.ssh.run_bytes(install, stdin=payload)
        if status == _NO_CODE and code is not None:
            latest = re.search(rb"^runspec-latest ([0-9a-f]+)$", out, re.M)
            self.shipper.told(b"runspec-has-rsync" in out, latest and latest.group(1).decode())
            arrived = self.shipper.send(code)
            install = self._install_argv(folders, command, code, arrived)
            status, out, err = self.ssh.run_bytes(install, stdin=payload)
        text = err.decode("utf-8", "replace").strip()
        if status in (_NO_PROGRAM, _NOT_WRITABLE, _NO_CODE, _FOLDER_EXISTS, _UNPACK_FAILED):
            raise self._install_error(status, command[0], text)
        return status, out.decode("utf-8", "replace"), text

    def _install_argv(
        self,
        folders: Sequence[PurePath],
        command: Sequence[str],
        code: Code | None,
        arrived: PurePath | None = None,
    ) -> list[str]:
        relative = [str(self._relative(folder)) for folder in folders]
        link = target = code_id = ""
        if code is not None:
            link = f"{relative[0]}/code"
            target = posixpath.relpath(str(code.folder), str(folders[0]))
            code_id = code.snapshot.id
        sent = str(arrived) if arrived else ""
        head = [str(self.target.job_root), code_id, link, target, sent, str(len(relative))]
        return ["sh", "-c", _INSTALL, "runspec-submit", *head, *relative, *command]

    def _install_error(self, status: int, program: str, said: str) -> SlurmError:
        host, root = self.target.host, self.target.job_root
        detail = f": {said}" if said else ""
        if status == _NO_PROGRAM:
            return SlurmError(
                f"{program} not found on the PATH of {host} (submitting needs Slurm there)"
            )
        if status == _NOT_WRITABLE:
            return SlurmError(
                f"remote_job_dir {root} is not writable on {host}{detail}",
                key="run.env.remote_job_dir",
            )
        if status == _FOLDER_EXISTS:
            return SlurmError(f"the job folder exists already on {host}; submit again{detail}")
        if status == _NO_CODE:
            return SlurmError(f"the code snapshot did not arrive on {host}")
        return SlurmError(f"cannot unpack the job folder on {host}{detail}")

    def _folders_tar(self, folders: Sequence[PurePath]) -> bytes:
        """What the install command reads on stdin: the secrets it exports, then the tar."""
        import tarfile

        buffer = io.BytesIO(_secrets_header(forwarded_secrets(os.environ)))
        buffer.seek(0, io.SEEK_END)
        root = local_root(self.home)
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for folder in folders:
                staged = self.stage(folder)
                for path in sorted(staged.rglob("*")):
                    info = archive.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    if info.isreg():
                        with open(path, "rb") as source:
                            archive.addfile(info, source)
                    elif not info.isdir():
                        archive.addfile(info)
        return buffer.getvalue()

    def discard(self, folders: Sequence[PurePath]) -> None:
        """Remove the staged folders here and the job folders on the cluster."""
        for folder in folders:
            remove_folder(self.stage(folder))
        import contextlib

        paths = [str(PurePosixPath(str(folder))) for folder in folders]
        with contextlib.suppress(SshError):
            self.ssh.run_bytes(["rm", "-rf", "--", *paths])
            parents = sorted({posixpath.dirname(path) for path in paths})
            self.ssh.run_bytes(["rmdir", "--", *parents])

    def describe(
        self, folders: Sequence[PurePath], command: Sequence[str], code: Code | None
    ) -> list[str]:
        """The commands :meth:`submit` runs, as ``--dry-run`` shows them (nothing connects)."""
        import shlex

        ssh = self.ssh
        lines = [
            f"# {self.target.host}: the commands share one ssh connection (ControlMaster=auto, "
            f"kept {CONTROL_PERSIST_SECONDS} s after its last use)",
            "# the job folder, sent as a tar stream on stdin to the command that submits it:",
            shlex.join(ssh.argv(self._install_argv(folders, command, code))),
        ]
        forwarded = sorted(forwarded_secrets(os.environ))
        if forwarded:
            lines.insert(2, f"# {', '.join(forwarded)} (set here) goes first on that stdin, "
                            "exported for sbatch only, written nowhere")  # fmt: skip
        if code is None:
            return lines
        temporary = temporary_folder(code, "XXXXXXXX")
        count = len(code.snapshot.entries)
        again = shlex.join(ssh.argv(self._install_argv(folders, command, code, temporary)))
        return [
            *lines,
            f"# only when {self.target.host} lacks code snapshot {code.snapshot.id} ({count} "
            f"files from {code.snapshot.root}), it is sent first, with rsync when both ends "
            "have it (the file names on stdin):",
            *self.shipper.describe(code, temporary),
            "# then the job folder again, with the snapshot moved into place:", again,
        ]  # fmt: skip

    # -- code ---------------------------------------------------------------------------

    def code_folder(self, snapshot_id: str, job_folder: PurePath | None = None) -> PurePosixPath:
        """``remote_job_dir/.runspec/code/<id>``, shared by every job with the same code."""
        return self.target.job_root / ".runspec" / "code" / snapshot_id

    # -- output files -------------------------------------------------------------------

    def read(self, files: Sequence[tuple[PurePath, int]]) -> list[bytes | None]:
        """Read the files from their offsets in one round trip."""
        words = [word for path, offset in files for word in (str(offset), str(path))]
        code, out, err = self.ssh.run_bytes(["sh", "-c", _READ, "runspec-read", *words])
        if code != 0:
            said = err.decode("utf-8", "replace").strip()
            raise SlurmError(f"cannot read the job's output on {self.target.host}: {said}")
        return _frames(out, len(files))

    def tap(self, path: PurePath, offset: int, sink: Sink) -> SshTap:
        """Follow the file with ``tail -F`` on the login node."""
        return SshTap(self, PurePosixPath(str(path)), offset, sink)


def _secrets_header(secrets: Mapping[str, str]) -> bytes:
    """``NAME=value`` lines and an empty line: what :data:`_INSTALL` exports for sbatch."""
    lines = []
    for name, value in secrets.items():
        if any(character in value for character in "\n\r\0"):
            raise SlurmError(f"cannot pass {name} to the job: its value holds a line break")
        lines.append(f"{name}={value}\n")
    return ("".join(lines) + "\n").encode()


def _frames(data: bytes, count: int) -> list[bytes | None]:
    """Split the answer of ``_READ``: ``<size>\\n<bytes>`` frames (size -1: no such file).

    A login shell may print something before the command's own output: parsing starts
    after the marker line.
    """
    marker = data.find(_FRAMES)
    if marker == -1:
        raise SlurmError("could not read the job's output (unexpected answer)")
    cursor = marker + len(_FRAMES)
    found: list[bytes | None] = []
    for _ in range(count):
        newline = data.index(b"\n", cursor)
        size = int(data[cursor:newline])
        cursor = newline + 1
        found.append(None if size < 0 else data[cursor : cursor + size])
        cursor += max(size, 0)
    return found


class SshTap:
    """``tail -F`` of a file on the login node, streamed back through the connection."""

    def __init__(
        self, transport: SshTransport, path: PurePosixPath, offset: int, sink: Sink
    ) -> None:
        self.transport, self.path, self.offset, self.sink = transport, path, offset, sink
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        command = ["sh", "-c", _TAIL, "runspec-tail", str(self.offset + 1), str(self.path)]
        return self.transport.ssh.start(command, stdout=subprocess.PIPE)

    def fileno(self) -> int | None:
        """The pipe from the local ssh."""
        assert self.process.stdout is not None
        return self.process.stdout.fileno()

    def pump(self) -> bool:
        """Copy what is waiting in the pipe; False once the remote tail ended on its own."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while select.select([fd], [], [], 0)[0]:
            data = os.read(fd, 1 << 16)
            if not data:
                self.process.wait()
                return False
            self.offset += len(data)
            self.sink.write(data)
            self.sink.flush()
        return True

    def restart(self) -> None:
        """Follow again from the current offset (after a new connection)."""
        self.close()
        self.process = self._start()

    def close(self) -> None:
        """End the local ssh: its end of file ends the remote tail."""
        process = self.process
        if process.stdin is not None and not process.stdin.closed:
            import contextlib

            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
