"""Sending a code snapshot to a cluster over ssh: ``rsync`` when both ends have it, else
a tar stream through the same connection.

A snapshot goes into a temporary folder next to where it belongs
(``.runspec/code/.<id>.<random>``); the remote command that submits the job renames it
into place (:mod:`runspec.slurm.remote`), so a folder named after a snapshot is always
complete. With rsync, files a new snapshot shares with the newest one already there are
hard links to it rather than sent again; their contents are compared by checksum.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import PurePath, PurePosixPath

from ..errors import SlurmError
from .ssh import SshConnection, SshError
from .transport import Code

__all__ = ["Shipper", "temporary_folder"]

# Unpacks a tar stream of a code snapshot into the folder $1.
_UNPACK = 'mkdir -p -- "$1" && exec tar -xpf - -C "$1"'


def temporary_folder(code: Code, suffix: str) -> PurePosixPath:
    """Where a snapshot is sent before it is renamed into place (a hidden sibling)."""
    folder = PurePosixPath(str(code.folder))
    return folder.parent / f".{folder.name}.{suffix}"


class Shipper:
    """Sends code snapshots through one target's ssh connection."""

    def __init__(self, ssh: SshConnection) -> None:
        self.ssh = ssh
        self._rsync_there: bool | None = None
        self.latest: str | None = None
        """The newest snapshot on the cluster, which a new one shares unchanged files with."""

    def told(self, rsync_there: bool, latest: str | None) -> None:
        """What the login node said when it lacked a snapshot: rsync, and its newest one."""
        self._rsync_there, self.latest = rsync_there, latest

    def describe(self, code: Code, temporary: PurePath) -> list[str]:
        """The commands that would send ``code`` (for ``--dry-run``)."""
        import shlex

        unpack = ["sh", "-c", _UNPACK, "runspec-unpack", str(temporary)]
        tar = shlex.join(self.ssh.argv(unpack))
        if self._rsync_shell() is None:
            return [tar]
        return [shlex.join(self.rsync_argv(code, temporary)), "# else as a tar stream:", tar]

    def send(self, code: Code) -> PurePosixPath:
        """Send a snapshot into a temporary folder on the cluster; return that folder.

        The command that submits next renames it into place.
        """
        import secrets

        temporary = temporary_folder(code, secrets.token_hex(4))
        if self.has_rsync():
            self._rsync(code, temporary)
            return temporary
        unpack = ["sh", "-c", _UNPACK, "runspec-unpack", str(temporary)]
        status, err = self._stream_tar(code, unpack)
        if status != 0:
            said = err.decode("utf-8", "replace").strip()
            raise SlurmError(f"cannot store the code snapshot on {self.ssh.target.host}: {said}")
        return temporary

    def has_rsync(self) -> bool:
        """Whether both ends have rsync (the login node says so when it lacks the code)."""
        import shutil

        if shutil.which("rsync") is None or self._rsync_shell() is None:
            return False
        if self._rsync_there is None:
            self._rsync_there = self.ssh.run_bytes(["sh", "-c", "command -v rsync"])[0] == 0
        return self._rsync_there

    def _rsync_shell(self) -> str | None:
        """The ssh command as rsync's ``-e`` takes it (words split at spaces, quotes kept)."""
        words = []
        for word in self.ssh.base_argv():
            if word and not any(char in word for char in " \t\n'\"\\"):
                words.append(word)
            elif "'" not in word and "\n" not in word:
                words.append(f"'{word}'")
            elif '"' not in word and "\n" not in word:
                words.append(f'"{word}"')
            else:
                return None  # a word rsync cannot be given: the tar stream carries the code
        return " ".join(words)

    def rsync_argv(self, code: Code, temporary: PurePath, previous: str | None = None) -> list[str]:
        """The rsync command that sends ``code`` into ``temporary`` (a folder on the cluster).

        With ``previous`` (a snapshot on the cluster), files whose content did not change
        are hard links to its files instead of sent again; contents are compared by
        checksum, never by size and time, since a snapshot must hold exactly its content.
        """
        shell = self._rsync_shell()
        assert shell is not None
        source = str(code.snapshot.root).rstrip("/") + "/"
        options = ["-lpt", "--from0", "--files-from=-", "--chmod=Fa-w", "--secluded-args"]
        if previous:
            options += ["--checksum", f"--link-dest=../{previous}"]
        destination = f"{self.ssh.target.destination}:{temporary}/"
        return ["rsync", *options, "-e", shell, "--", source, destination]

    def _rsync(self, code: Code, temporary: PurePath) -> None:
        self.ssh.prepare()
        names = "".join(f"{path}\0" for path in code.snapshot.paths).encode(
            "utf-8", "surrogateescape"
        )
        done = subprocess.run(
            self.rsync_argv(code, temporary, self.latest),
            input=names,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            said = lines[-1] if lines else ""
            code_ = done.returncode
            raise SlurmError(
                f"rsync to {self.ssh.target.host} failed with exit code {code_}: {said}"
            )

    def _stream_tar(self, code: Code, unpack: Sequence[str]) -> tuple[int, bytes]:
        import tempfile

        from .snapshot import write_tar

        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                self.ssh.argv(unpack),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
            assert process.stdin is not None
            try:
                write_tar(code.snapshot, process.stdin)
            except BrokenPipeError:
                pass  # the remote side failed: its exit code and message say why
            finally:
                process.stdin.close()
            status = process.wait()
            errors.seek(0)
            said = errors.read()
        if status == 255:
            raise SshError(f"{self.ssh.target.host}: the connection failed while sending the code")
        return status, said
