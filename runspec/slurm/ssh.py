"""Reaching a cluster's login node with the system's OpenSSH client.

:class:`SshTarget` is what a profile with ``tunnel = "ssh"`` says (``host``, ``user``,
``port``, ``identity``, ``ssh_options``, ``remote_job_dir``), checked once.
:class:`SshConnection` runs commands there through one multiplexed connection per
target: a master started once (``ControlMaster``, ``ControlPersist``) with its socket
in ``~/.runspec/ssh/`` (a folder private to the user), reused by every later command,
also of later runspec processes, so polling costs no new handshake. Calling ``ssh``
rather than a library means ``~/.ssh/config`` (aliases, jump hosts, keys, agents) is
honoured as in the user's own terminal.

ssh joins the words of a remote command into one string that the remote login shell
parses again, so every remote command is built here from a list and quoted once, by
:func:`quote_command`, and nowhere else.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ..errors import SlurmError

__all__ = [
    "CONTROL_PERSIST_SECONDS",
    "ConnectionLost",
    "SshConnection",
    "SshError",
    "SshTarget",
    "control_folder",
    "is_remote",
    "quote_command",
]

CONTROL_PERSIST_SECONDS = 600
"""How long an idle master connection stays up for the next command."""

_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:-]*|\[[0-9A-Fa-f:.%]+\]")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\$?")
_CONNECT_SECONDS = 20
_DEFAULTS = (
    # The master notices a dead network within about a minute, and its mux clients with it.
    "-o", f"ConnectTimeout={_CONNECT_SECONDS}",
    "-o", "ServerAliveInterval=15",
    "-o", "ServerAliveCountMax=4",
)  # fmt: skip


class SshError(SlurmError):
    """ssh could not connect, or the login node refused or failed a request; names the host."""


class ConnectionLost(SshError):
    """The connection went away while a job was being followed; the job itself keeps running."""


def quote_command(argv: Sequence[str]) -> str:
    """The one string a remote POSIX shell parses back into exactly ``argv``.

    Every word is quoted with :func:`shlex.quote`, so ``$()``, backticks, ``;``, globs,
    newlines and leading dashes reach the remote program as they are. A NUL cannot be
    passed through a command line at all and is refused.
    """
    if not argv:
        raise ValueError("a remote command needs at least one word")
    for word in argv:
        if "\0" in word:
            raise SlurmError(f"a remote command cannot carry a NUL byte (got {word!r})")
    return " ".join(shlex.quote(word) for word in argv)


def is_remote(env: Mapping[str, Any]) -> bool:
    """Whether a profile submits over ssh (``tunnel = "ssh"``)."""
    return env.get("tunnel") == "ssh"


def _text(env: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None) -> str | None:
    value = env.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SlurmError(f"must be a string (got {value!r})", key=f"run.env.{key}")
    if any(char in value for char in "\0\n\r") or (pattern and not pattern.fullmatch(value)):
        raise SlurmError(f"not a valid {key} for ssh (got {value!r})", key=f"run.env.{key}")
    return value


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in, and the folder there that holds the job folders."""

    host: str
    job_root: PurePosixPath
    user: str | None = None
    port: int | None = None
    identity: str | None = None
    options: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> SshTarget:
        """Read and check the ssh keys of a resolved profile (``run.env``)."""
        tunnel = env.get("tunnel")
        if tunnel != "ssh":
            raise SlurmError(
                f"must be 'ssh' to submit remotely (got {tunnel!r})", key="run.env.tunnel"
            )
        host = _text(env, "host", _HOST)
        if host is None:
            message = "required with tunnel = 'ssh': the login node to submit through"
            raise SlurmError(message, key="run.env.host")
        return cls(
            host=host,
            job_root=_job_root(env, host),
            user=_text(env, "user", _USER),
            port=_port(env.get("port")),
            identity=_text(env, "identity", None),
            options=_options(env.get("ssh_options")),
        )

    @property
    def destination(self) -> str:
        """``user@host``, or ``host`` when the user comes from ``~/.ssh/config``."""
        return f"{self.user}@{self.host}" if self.user else self.host

    def to_record(self) -> dict[str, Any]:
        """The target as a job record keeps it, to reach the job again later."""
        return {
            "host": self.host, "user": self.user, "port": self.port,
            "identity": self.identity, "ssh_options": list(self.options),
            "remote_job_dir": str(self.job_root),
        }  # fmt: skip

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SshTarget:
        """The target saved by :meth:`to_record`."""
        env = {**record, "tunnel": "ssh"}
        return cls.from_env(env)


def _job_root(env: Mapping[str, Any], host: str) -> PurePosixPath:
    value = env.get("remote_job_dir")
    key = "run.env.remote_job_dir"
    if value is None or value == "":
        message = f"required with tunnel = 'ssh': the folder on {host} that holds the job folders"
        raise SlurmError(message, key=key)
    if not isinstance(value, str) or any(char in value for char in "\0\n\r"):
        raise SlurmError(f"must be a one-line string (got {value!r})", key=key)
    if not value.startswith("/"):
        raise SlurmError(f"must be an absolute path on {host} (got {value!r})", key=key)
    return PurePosixPath(os.path.normpath(value))


def _port(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise SlurmError(f"must be a port number, 1 to 65535 (got {value!r})", key="run.env.port")
    return value


def _options(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    key = "run.env.ssh_options"
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise SlurmError(f"must be a list of strings (got {value!r})", key=key)
    for item in value:
        if "\0" in item:
            raise SlurmError(f"must not contain a NUL (got {item!r})", key=key)
    return tuple(value)


def control_folder(home: str | None = None) -> Path:
    """``~/.runspec/ssh``: where the master connections' sockets live."""
    return Path(home or os.path.expanduser("~")) / ".runspec" / "ssh"


def _private_folder(folder: Path) -> Path:
    """Create ``folder`` (mode 0700) or make an existing one private; refuse a foreign one."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
        if info.st_uid != os.geteuid():
            raise SlurmError("belongs to another user; runspec keeps ssh sockets here", path=folder)
        if info.st_mode & 0o077:
            folder.chmod(0o700)
    except OSError as exc:
        raise SlurmError(
            f"cannot create the ssh socket folder: {exc.strerror}", path=folder
        ) from None
    return folder


_UNREACHABLE = (
    "could not resolve hostname", "connection refused", "connection timed out",
    "no route to host", "network is unreachable", "operation timed out",
    "connection closed by", "connection reset", "name or service not known",
    "temporary failure in name resolution", "kex_exchange_identification",
)  # fmt: skip
_REFUSED = ("permission denied", "too many authentication failures", "authentication failed")


def _failure(target: SshTarget, stderr: str) -> SshError:
    """A one-line error naming the host, from what ssh printed when it gave up."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said = lines[-1] if lines else "ssh exited with code 255 and said nothing"
    lower = stderr.lower()
    if "host key verification failed" in lower or "host key for" in lower:
        return SshError(
            f"{target.host}: host key verification failed ({said}); connect once with "
            f"'ssh {target.destination}' to check and accept the host's key"
        )
    if any(text in lower for text in _REFUSED):
        who = f" as {target.user}" if target.user else ""
        return SshError(
            f"{target.host}: authentication refused{who} ({said}); check user, identity "
            "and your ssh client configuration"
        )
    if any(text in lower for text in _UNREACHABLE):
        return SshError(f"{target.host}: unreachable ({said})")
    return SshError(f"{target.host}: ssh failed ({said})")


class SshConnection:
    """Commands on a target's login node through one shared connection.

    Every ssh runs with ``ControlMaster=auto``: the first one logs in and leaves a
    master connection behind (in a session of its own, so Ctrl-C does not end it),
    which every later command, of this process or a later one, joins without a new
    handshake; a dead master's socket is replaced by the next command. ``home``
    replaces ``~`` for the socket folder (tests). ``interactive`` lets ssh ask for a
    password or passphrase on the terminal (default: when stdin and stderr are
    terminals); otherwise ``BatchMode=yes`` makes it fail at once instead of waiting.
    """

    def __init__(
        self, target: SshTarget, *, home: str | None = None, interactive: bool | None = None
    ) -> None:
        self.target = target
        self.home = home
        if interactive is None:
            interactive = sys.stdin.isatty() and sys.stderr.isatty()
        self.interactive = interactive
        self._ready = False

    # -- the command lines ------------------------------------------------------------

    @property
    def control_path(self) -> Path:
        """The master's socket: ``~/.runspec/ssh/<16 hex digits naming the target>``."""
        import hashlib

        target = self.target
        words = [*target.options, str(target.port), str(target.identity), target.destination]
        digest = hashlib.sha256("\0".join(words).encode("utf-8", "surrogateescape"))
        return control_folder(self.home) / digest.hexdigest()[:16]

    def base_argv(self) -> list[str]:
        """``ssh`` and its options, up to the destination.

        The connection sharing comes first (it beats ``~/.ssh/config``), then the
        profile's ``ssh_options``, ``port`` and ``identity``, then runspec's defaults,
        which both of those beat (ssh takes the first value it is given).
        """
        target = self.target
        words = [
            "ssh", "-o", f"ControlPath={self.control_path}", "-o", "ControlMaster=auto",
            "-o", f"ControlPersist={CONTROL_PERSIST_SECONDS}", *target.options,
        ]  # fmt: skip
        if target.port is not None:
            words += ["-p", str(target.port)]
        if target.identity:
            words += ["-i", os.path.expanduser(target.identity)]
        words += _DEFAULTS
        if not self.interactive:
            words += ["-o", "BatchMode=yes"]
        return words

    def argv(self, command: Sequence[str]) -> list[str]:
        """The local command line that runs ``command`` (a list of words) on the login node."""
        return [*self.base_argv(), "--", self.target.destination, quote_command(command)]

    def prepare(self) -> None:
        """Create the private socket folder (once), before the first command."""
        if not self._ready:
            path = self.control_path
            # ssh binds the socket under a name 17 bytes longer, then renames it
            limit = 104 if sys.platform == "darwin" else 108
            if len(os.fsencode(path)) + 17 >= limit:
                raise SlurmError(
                    f"the ssh socket path {path} is too long for a Unix socket ({limit} bytes "
                    "with ssh's temporary suffix); runspec keeps sockets in ~/.runspec/ssh"
                )
            _private_folder(path.parent)
            self._ready = True

    # -- the shared connection ----------------------------------------------------------

    def reconnect(self) -> None:
        """Reach the login node again (a new master); raises :class:`SshError` if it cannot."""
        self.run_bytes(["true"], timeout=_CONNECT_SECONDS * 3)

    def alive(self) -> bool:
        """Whether a master connection answers on the socket."""
        return self._control("check") == 0

    def close(self) -> None:
        """End the master connection (``ssh -O exit``), if one runs."""
        self._control("exit")

    def _control(self, request: str) -> int:
        if not self.control_path.exists():
            return 1
        argv = [*self.base_argv(), "-O", request, "--", self.target.destination]
        done = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, check=False)
        return done.returncode

    # -- running commands ---------------------------------------------------------------

    def run_bytes(
        self, command: Sequence[str], stdin: bytes | None = None, timeout: float = 300
    ) -> tuple[int, bytes, bytes]:
        """Run ``command`` on the login node; its exit code, stdout and stderr as bytes.

        ssh's own failures (exit code 255: unreachable, refused, connection lost) raise
        :class:`SshError` naming the host.
        """
        self.prepare()
        try:
            done = subprocess.run(
                self.argv(command), input=stdin if stdin is not None else b"",
                capture_output=True, timeout=timeout, check=False,
            )  # fmt: skip
        except FileNotFoundError:
            raise SshError("ssh not found on PATH; submitting over ssh needs OpenSSH") from None
        except subprocess.TimeoutExpired:
            raise SshError(f"{self.target.host}: no answer within {timeout:.0f} s") from None
        if done.returncode == 255:
            raise _failure(self.target, done.stderr.decode("utf-8", "replace"))
        return done.returncode, done.stdout, done.stderr

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        """A :data:`~runspec.slurm.transport.Runner` on the login node (text in and out)."""
        code, out, err = self.run_bytes(argv)
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def start(self, command: Sequence[str], stdout: int | IO[bytes]) -> subprocess.Popen[bytes]:
        """Start ``command`` on the login node without waiting for it (its stdin is a pipe)."""
        self.prepare()
        return subprocess.Popen(
            self.argv(command), stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.DEVNULL
        )
