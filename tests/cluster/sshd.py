"""A private OpenSSH server on loopback for remote-submission tests.

Debian's ``sshd`` runs from a folder of its own: its own host key, sshd_config, authorized
key, pid file and log, listening on a free port of 127.0.0.1 and letting in only the current
user with the key generated for the test. The client side is a config file of its own too
(``ssh -F CONFIG ALIAS``), with a private known_hosts that already trusts the host key, so
neither the machine's sshd nor the user's own ssh settings and keys are read or touched.

The one thing outside the folder: sshd run by root insists on its privilege separation
directory (/run/sshd, empty, root-owned); it is created when missing, as the openssh-server
service would.

    python -m tests.cluster.sshd start|stop FOLDER    # a server for trying things by hand
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.folders import abandoned_folders, new_folder, remove_folder
from tests.cluster.ports import free_ports

__all__ = [
    "PROGRAMS",
    "ServerError",
    "SshServer",
    "discard_server",
    "new_server",
    "reap_abandoned_servers",
    "start_server",
]

PROGRAMS = ("sshd", "ssh", "ssh-keygen", "rsync", "tar")
SSHD = "/usr/sbin/sshd"  # sshd re-executes itself and so must be started by absolute path
PRIVSEP_DIR = Path("/run/sshd")
ALIAS = "runspec-test-host"
HOST = "127.0.0.1"
FOLDER_KIND = "sshd"
WAIT_SECONDS = 30.0
START_ATTEMPTS = 3


class ServerError(RuntimeError):
    """The server could not be set up or did not start; the message says why in one line."""


@dataclass(frozen=True)
class SshServer:
    """A server on ``host:port`` that lets ``user`` in with ``identity``.

    ``ssh -F config alias COMMAND`` runs COMMAND on it as ``user``; so do rsync
    (``-e "ssh -F config"``) and anything else that takes an ssh config file.
    """

    folder: Path
    port: int
    user: str
    host: str = HOST
    alias: str = ALIAS
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> Path:
        """The client's private key (its public half is the only authorized key)."""
        return self.folder / "id_ed25519"

    @property
    def config(self) -> Path:
        """The client ssh_config: Host ``alias`` (and ``host``), port, key, known_hosts."""
        return self.folder / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        """The client's known_hosts, holding this server's host key."""
        return self.folder / "known_hosts"

    @property
    def log(self) -> Path:
        """sshd's log (connections, authentication, errors)."""
        return self.folder / "sshd.log"

    @property
    def pid_file(self) -> Path:
        return self.folder / "sshd.pid"

    def ssh_argv(self, *command: str) -> list[str]:
        """``ssh -F config alias COMMAND...`` as an argument list."""
        return ["ssh", "-F", str(self.config), self.alias, *command]

    def ssh(
        self, command: str, *, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run shell ``command`` on the server (``stdin`` fed to it); never raises on failure."""
        return subprocess.run(
            self.ssh_argv(command), input=stdin, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def listener(self) -> int | None:
        """The pid of the listening sshd, if it runs."""
        return _listener(self.folder)

    def start(self) -> None:
        """Start the server (again, on the same port); a no-op when it runs."""
        if self.listener() is None:
            _launch(self)

    def stop(self) -> None:
        """Stop the server and end every connection to it, like a host going down."""
        _stop(self.folder)

    def drop_connections(self) -> int:
        """End every open connection (its sshd processes); keep listening. Returns how many.

        The remote commands of those connections are not killed: like after a network
        failure, they end when they next read from or write to the lost connection.
        """
        listener = self.listener()
        if listener is None:
            return 0
        children = _children(listener)
        _terminate([pid for pid in _tree(listener) if pid != listener and _name(pid) == "sshd"])
        return len(children)

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The server is stopped inside the ``with`` block and runs again after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat from the state on (empty when the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
    return text.rpartition(")")[2].split()


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _listener(folder: Path) -> int | None:
    """The live sshd whose pid ``folder``'s pid file holds, if it serves ``folder``'s config.

    sshd rewrites its command line for ps (``sshd: /usr/sbin/sshd -f CONFIG ... [listener]``);
    the config path in it tells this server from any other sshd.
    """
    try:
        pid = int((folder / "sshd.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    serves = str(folder / "sshd_config").encode() in cmdline
    return pid if serves and _stat(pid)[:1] not in ([], ["Z"]) else None


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if len(stat) > 1 and stat[0] != "Z" and stat[1] == str(pid):
                found.append(int(entry.name))
    return found


def _tree(pid: int) -> list[int]:
    """``pid`` and its live descendants: sshd's connections and their sessions."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def _stop(folder: Path) -> None:
    """Stop the listener of ``folder`` and the sshd processes of its connections."""
    listener = _listener(folder)
    if listener is not None:
        _terminate([pid for pid in _tree(listener) if _name(pid) == "sshd"])
    (folder / "sshd.pid").unlink(missing_ok=True)


def _terminate(pids: tuple[int, ...] | list[int]) -> None:
    """SIGTERM ``pids``, wait until they are gone, SIGKILL the ones that linger."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _still_running(pids):
        time.sleep(0.05)
    for pid in _still_running(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _still_running(pids: tuple[int, ...] | list[int]) -> list[int]:
    return [pid for pid in pids if _stat(pid)[:1] not in ([], ["Z"])]


def _keygen(path: Path, comment: str) -> str:
    """Make an ed25519 key pair at ``path``; return the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return path.with_name(path.name + ".pub").read_text(encoding="utf-8").strip()


def _setenv_line(env: Mapping[str, str]) -> str:
    """sshd_config's SetEnv line for ``env`` (values in double quotes)."""
    for name, value in env.items():
        if not name.isidentifier() or any(c in value for c in '"\\\n'):
            raise ServerError(f"cannot pass {name}={value!r} through sshd_config SetEnv")
    return "SetEnv " + " ".join(f'{name}="{value}"' for name, value in env.items())


def render_sshd_config(server: SshServer) -> str:
    """The server's sshd_config: key logins of ``server.user`` only, everything in its folder."""
    folder = server.folder
    lines = [
        f"ListenAddress {server.host}:{server.port}",
        f"HostKey {folder / 'host_ed25519_key'}",
        f"PidFile {server.pid_file}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        f"AllowUsers {server.user}",
        "AuthenticationMethods publickey",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        # PAM would apply the machine's login policy (and needs root); StrictModes would refuse
        # the key files because /tmp above them is writable by everyone.
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        # Tests open many connections and multiplexed sessions at once.
        "MaxStartups 100",
        "MaxSessions 100",
        "LogLevel VERBOSE",
        "Subsystem sftp internal-sftp",
    ]
    if server.env:
        lines.append(_setenv_line(server.env))
    return "\n".join(lines) + "\n"


def render_ssh_config(server: SshServer) -> str:
    """The client's ssh_config: the alias (and the address) reach this server and only it."""
    return "\n".join([
        f"Host {server.alias} {server.host}",
        f"    HostName {server.host}",
        f"    Port {server.port}",
        f"    User {server.user}",
        f"    IdentityFile {server.identity}",
        "    IdentitiesOnly yes",
        "    IdentityAgent none",
        f"    UserKnownHostsFile {server.known_hosts}",
        "    GlobalKnownHostsFile /dev/null",
        "    StrictHostKeyChecking yes",
        "    PasswordAuthentication no",
        "    KbdInteractiveAuthentication no",
        "    BatchMode yes",
        "    LogLevel ERROR",
        "",
    ])  # fmt: skip


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _setup(server: SshServer) -> None:
    """Keys, authorized_keys, known_hosts and both configs in the server's folder."""
    folder = server.folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("host_ed25519_key", "host_ed25519_key.pub", "id_ed25519", "id_ed25519.pub"):
        (folder / name).unlink(missing_ok=True)
    host_key = _keygen(folder / "host_ed25519_key", "runspec-test-sshd")
    client_key = _keygen(server.identity, f"{server.user}@runspec-test")
    _write(folder / "authorized_keys", client_key + "\n")
    _write(server.known_hosts, f"[{server.host}]:{server.port} {host_key}\n")
    _write(folder / "sshd_config", render_sshd_config(server))
    _write(server.config, render_ssh_config(server))


def _check_privsep() -> None:
    """Root's sshd needs its privilege separation user and directory."""
    if os.geteuid() != 0 or PRIVSEP_DIR.is_dir():
        return
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)


def _launch(server: SshServer) -> None:
    """Start sshd (it daemonizes once it listens) and wait until it lets the test key in."""
    _check_privsep()
    done = subprocess.run(
        [SSHD, "-f", str(server.folder / "sshd_config"), "-E", str(server.log)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or [_last_line(server.log)]
        raise ServerError(f"sshd did not start: {reason[0] or 'no reason logged'}")
    deadline = time.monotonic() + WAIT_SECONDS
    while server.ssh("true", timeout=WAIT_SECONDS).returncode != 0:
        if server.listener() is None or time.monotonic() > deadline:
            raise ServerError(
                f"sshd on port {server.port} does not let the test key in: {_last_line(server.log)}"
            )
        time.sleep(0.1)


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def start_server(folder: Path, env: Mapping[str, str] | None = None) -> SshServer:
    """Set up a server in ``folder`` (new keys, a free port) and start it.

    ``env`` is set in every session on the server (``SetEnv``), e.g. ``SLURM_CONF`` so that
    remote commands reach the private Slurm cluster.
    """
    user = pwd.getpwuid(os.geteuid()).pw_name
    for attempt in range(1, START_ATTEMPTS + 1):
        server = SshServer(folder, free_ports(1)[0], user, env=dict(env or {}))
        _setup(server)
        try:
            server.start()
        except ServerError as error:
            # Another program took the port between the pick and the bind: pick again.
            if "Cannot bind" not in str(error) or attempt == START_ATTEMPTS:
                raise
            continue
        return server
    raise AssertionError("unreachable")


def new_server(env: Mapping[str, str] | None = None) -> SshServer:
    """Start a server in a new folder of its own, owned by this process."""
    return start_server(new_folder(FOLDER_KIND), env)


def discard_server(server: SshServer) -> None:
    """Stop ``server`` and remove its folder (started by ``new_server``)."""
    server.stop()
    remove_folder(server.folder)


def reap_abandoned_servers() -> tuple[Path, ...]:
    """Stop and remove servers whose test session died without stopping them."""
    reaped = abandoned_folders(FOLDER_KIND)
    for folder in reaped:
        _stop(folder)
        remove_folder(folder)
    return reaped


def main(argv: list[str]) -> int:
    """``start FOLDER`` prints how to connect; ``stop FOLDER`` stops that server."""
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.cluster.sshd start|stop FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[1]).resolve()
    if argv[0] == "stop":
        _stop(folder)
        return 0
    try:
        server = start_server(folder)
    except ServerError as error:
        print(f"sshd.py: {error}", file=sys.stderr)
        return 1
    print(f"ssh -F {server.config} {server.alias}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
