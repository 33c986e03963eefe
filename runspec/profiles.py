"""Execution profiles: finding and reading ``env.toml``, resolving ``extends`` chains.

An env.toml holds profiles (top-level tables) and a few reserved settings sections.
A profile may extend another one; resolving it merges the chain, root first, and
checks the types of the keys runspec itself reads. Errors are raised only when the
profile in question is resolved, so one broken profile never stops the others.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ._chains import Break, Link, chain_of, chain_text, link_profiles
from ._environ import ENV_NAME
from ._masking import masked_tree
from ._merge import copy_tree, iso_text
from ._toml import BARE_KEY, TOML_ERRORS, TOMLLimitError, key_lines, loads
from .errors import Problem, ProfileError

__all__ = [
    "ALIASES",
    "EXECUTORS",
    "KNOWN_KEYS",
    "LAUNCHERS",
    "RESERVED",
    "EnvFile",
    "Profile",
    "canonical",
    "check_env_file",
    "find_env_file",
    "integration_keys",
    "key_warnings",
    "listing_json",
    "profile_json",
    "render_listing",
    "render_profile",
    "toml_key",
    "toml_value",
    "unknown_executor",
    "unknown_key",
    "value_error",
]

RESERVED = ("wandb", "cli", "cache", "artifacts")
"""Top-level tables that hold settings, not profiles."""

EXECUTORS = ("local", "slurm", "docker", "dgxcloud", "lepton", "skypilot")
"""Every executor a profile may name: the core's ``local`` and ``slurm``, then those of
the nemo-run extra (``runspec_extras.nemo_run_executors``)."""

LAUNCHERS = ("runspec", "nemo-run")
"""Who runs a ``local`` or ``slurm`` job: runspec itself (the default) or nemo-run."""

_ENV_VARS = "table of str, int, float or bool"

KNOWN_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "executor": "str",
        "launcher": "'runspec' or 'nemo-run'",
        "account": "str",
        "partition": "str",
        "nodes": "int >= 1",
        "gpus_per_node": "int >= 0",
        "ntasks_per_node": "int >= 1",
        "cpus_per_task": "int >= 1",
        "mem": "str or int",
        "time": "str or int",
        "qos": "str",
        "constraint": "str",
        "exclusive": "bool",
        "container_image": "str",
        "container": "str",
        "mounts": "list of str",
        "container_workdir": "str",
        "workdir": "str",
        "run_partition": "str",
        "batch_partition": "str",
        "nproc_per_node": "int >= 1",
        "startup_commands": "list of str",
        "tunnel": "'local' or 'ssh'",
        "host": "str",
        "user": "str",
        "port": "int >= 1",
        "identity": "str",
        "ssh_options": "list of str",
        "env_vars": _ENV_VARS,
        "job_dir": "str",
        "remote_job_dir": "str",
        "sbatch": "table",
        "srun_args": "list of str",
        "setup": "str or list of str",
        "code": "'snapshot' or 'live'",
        "squash": "bool",
        "squash_dir": "str",
        "extends": "str",
    }
)
"""The profile keys runspec reads, each with the type its value must have."""


ALIASES: Mapping[str, str] = MappingProxyType({"container": "container_image"})
"""Other names of a key, from the cookbook's env.toml dialect: the two are one key."""


def canonical(key: str) -> str:
    """The name runspec uses for ``key`` (``container`` is ``container_image``)."""
    return ALIASES.get(key, key)


def _is_int(value: Any, low: int | None = None) -> bool:
    # bool is a subclass of int, but `nodes = true` is a mistake, not 1 node
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return low is None or value >= low


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_env_value(value: Any) -> bool:
    # bool is an int; a date or time is set as its ISO 8601 text
    return isinstance(value, (str, int, float)) or iso_text(value) is not value


_CHECKS: Mapping[str, Callable[[Any], bool]] = {
    "str": lambda value: isinstance(value, str),
    "int >= 1": lambda value: _is_int(value, 1),
    "int >= 0": lambda value: _is_int(value, 0),
    "str or int": lambda value: isinstance(value, str) or _is_int(value),
    "bool": lambda value: isinstance(value, bool),
    "list of str": _is_str_list,
    "str or list of str": lambda value: isinstance(value, str) or _is_str_list(value),
    "table": lambda value: isinstance(value, Mapping),
    _ENV_VARS: lambda value: isinstance(value, Mapping),
    "'snapshot' or 'live'": lambda value: value in ("snapshot", "live"),
    "'local' or 'ssh'": lambda value: value in ("local", "ssh"),
    "'runspec' or 'nemo-run'": lambda value: value in LAUNCHERS,
}


def value_error(key: str, value: Any) -> str | None:
    """Why ``value`` does not fit profile key ``key``; None when it fits or runspec
    does not read the key."""
    kind = KNOWN_KEYS.get(key)
    if kind is None or _CHECKS[kind](value):
        if kind is not None and _holds_nul(value):
            return "must not contain a NUL character"  # no path, word or line can hold one
        if key == "executor" and value not in EXECUTORS:
            return unknown_executor(value)
        return None
    return f"must be {kind} (got {_show(masked_tree({key: value})[key])})"


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False  # tables: their entries are checked one by one (env_vars), or on use


def unknown_executor(name: str) -> str:
    """The message for an executor nobody provides, with the nearest known name."""
    import difflib

    close = difflib.get_close_matches(name, EXECUTORS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"executor {name!r}: unknown{hint}; known: {', '.join(EXECUTORS)}"


# --- finding the file -------------------------------------------------------------


def find_env_file(
    explicit: str | os.PathLike[str] | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """Return the env.toml to use, or None when there is none.

    First hit wins: ``explicit`` (``--env-file``; must exist), ``$RUNSPEC_ENV_FILE``
    (must exist), ``env.toml`` in ``cwd`` or a parent up to the project root (the first
    folder holding ``pyproject.toml`` or ``.git``; without one, up to the filesystem
    root), then ``$XDG_CONFIG_HOME/runspec/env.toml`` or ``$HOME/.config/runspec/env.toml``.
    """
    env = os.environ if environ is None else environ
    here = Path.cwd() if cwd is None else Path(cwd)
    if explicit is not None:
        return _must_exist(here / explicit, "")
    if env.get("RUNSPEC_ENV_FILE"):
        return _must_exist(here / env["RUNSPEC_ENV_FILE"], " (from RUNSPEC_ENV_FILE)")
    for folder in (here, *here.parents):
        if (folder / "env.toml").is_file():
            return folder / "env.toml"
        if (folder / "pyproject.toml").exists() or (folder / ".git").exists():
            break
    user = _user_env_file(env)
    return user if user is not None and user.is_file() else None


def _must_exist(path: Path, source: str) -> Path:
    if path.is_dir():
        raise ProfileError(f"is a folder, not an env file{source}", path=path)
    if not path.is_file():
        raise ProfileError(f"no such env file{source}", path=path)
    return path


def _user_env_file(env: Mapping[str, str]) -> Path | None:
    config_home = env.get("XDG_CONFIG_HOME", "")
    if os.path.isabs(config_home):  # the XDG spec says to ignore relative values
        return Path(config_home, "runspec", "env.toml")
    home = env.get("HOME")
    return Path(home, ".config", "runspec", "env.toml") if home else None


# --- showing values -----------------------------------------------------------------


def _toml_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or char in "\x7f\x85\u2028\u2029":  # controls, line breaks
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(BARE_KEY, key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    """Render a value as TOML (inline tables and arrays for nested values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (int, float)):  # repr gives TOML's own nan, inf and -inf too
        return repr(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if hasattr(value, "isoformat"):  # TOML dates and times
        return str(value.isoformat())
    return _toml_string(str(value))


def toml_value(value: Any) -> str:
    """A value as TOML text (inline tables and arrays for nested values)."""
    return _toml_value(value)


def toml_key(key_path: Sequence[str]) -> str:
    """A key path as a dotted TOML key (parts quoted where they must be)."""
    return ".".join(_toml_key(part) for part in key_path)


def _show(value: Any) -> str:
    """A value as error messages quote it: ``'x'``, ``3``, ``true``, ``["a", 1]``."""
    return repr(value) if isinstance(value, str) else _toml_value(value)


def _plain(value: Any) -> Any:
    """Return a JSON-ready copy (tables become dicts, dates become ISO strings)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, float)) or value is None:
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# --- profiles -----------------------------------------------------------------------


def _leaves(table: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in table.items():
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key)


def _merge_into(target: dict[str, Any], key: str, value: Any) -> None:
    """Lay ``value`` over ``target[key]`` as :func:`deep_merge` does, changing ``target``."""
    old = target.get(key)
    if isinstance(old, dict) and isinstance(value, Mapping):
        for inner, item in value.items():
            _merge_into(old, inner, item)
    else:
        target[key] = copy_tree(value)


@dataclass(frozen=True)
class Profile:
    """A resolved profile: its ``extends`` chain merged, root first, ``extends`` dropped."""

    name: str
    values: Mapping[str, Any]
    origins: Mapping[str, str]
    """Top-level key -> the profile that wrote it (the nearest one, for merged tables)."""
    chain: tuple[str, ...]
    """The profile, its parent, its grandparent, ... (``("prod", "dev", "base")``)."""
    path: Path
    leaf_origins: Mapping[tuple[str, ...], str]
    """Every leaf key path (``("env_vars", "NCCL_DEBUG")``) -> the profile that wrote it."""

    @classmethod
    def from_chain(cls, chain: Sequence[tuple[str, Mapping[str, Any]]], path: Path) -> Profile:
        """Merge ``(name, own table)`` pairs given child first, root ancestor last.

        One pass from the root: each table is merged into the result in place and
        its leaves noted as written by it, so the cost is linear in the chain.
        """
        values: dict[str, Any] = {}
        spelled: dict[str, str] = {}  # canonical name -> the key ``values`` holds it under
        origins: dict[str, str] = {}
        writers: dict[tuple[str, ...], str] = {}
        for name, table in reversed(chain):
            for key, value in table.items():
                if key == "extends":
                    continue
                other = spelled.get(canonical(key))
                if other is not None and other != key:
                    del values[other]  # the child writes the same key by its other name
                    del origins[other]
                spelled[canonical(key)] = key
                _merge_into(values, key, value)
                origins[key] = name
                writers.update((leaf, name) for leaf in _leaves({key: value}))
        return cls(
            name=chain[0][0],
            values=MappingProxyType(values),
            origins=MappingProxyType(origins),
            chain=tuple(name for name, _ in chain),
            path=path,
            leaf_origins=MappingProxyType({leaf: writers[leaf] for leaf in _leaves(values)}),
        )

    @property
    def executor(self) -> str:
        """The executor to run with; ``"local"`` when the profile sets none."""
        return str(self.values.get("executor", "local"))


@dataclass(frozen=True)
class EnvFile:
    """A parsed env.toml: its path, its data and where each key was written."""

    path: Path
    data: Mapping[str, Any]
    key_lines: Mapping[tuple[str, ...], int]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EnvFile:
        """Read and parse the env.toml at ``path``; any failure is a :class:`ProfileError`."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise ProfileError(
                f"cannot read env file: {error.strerror or error}", path=path
            ) from error
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            bad = raw[error.start]
            raise ProfileError(
                f"not UTF-8 text (byte 0x{bad:02x})", path=path, line=line
            ) from error
        return cls.from_text(text, path)

    @classmethod
    def from_text(cls, text: str, path: str | os.PathLike[str]) -> EnvFile:
        """Parse env.toml ``text``; ``path`` is where it is said to come from."""
        path = Path(path)
        try:
            data = loads(text)
        except TOMLLimitError as error:
            raise ProfileError(f"invalid TOML: {error}", path=path) from None
        except TOML_ERRORS as error:
            raise _toml_error(error, text, path) from error
        return cls(path, MappingProxyType(data), MappingProxyType(key_lines(text)))

    @functools.cached_property
    def profile_names(self) -> tuple[str, ...]:
        """The profiles (top-level tables that are not reserved), in file order."""
        return tuple(
            name
            for name, value in self.data.items()
            if isinstance(value, Mapping) and name not in RESERVED
        )

    @functools.cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(self.profile_names)

    @functools.cached_property
    def _links(self) -> dict[str, Link]:
        """Every profile's place in its ``extends`` chain (each chain walked once)."""
        return link_profiles(self.profile_names, lambda n: self.data[n].get("extends"), RESERVED)

    @functools.cached_property
    def _failures(self) -> dict[str, ProfileError | None]:
        """Memo of :meth:`failure`, filled as profiles are asked about."""
        return {}

    def line_of(self, key_path: tuple[str, ...]) -> int | None:
        """The line defining ``key_path``, else its nearest enclosing table's, else None."""
        for size in range(len(key_path), 0, -1):
            line = self.key_lines.get(key_path[:size])
            if line is not None:
                return line
        return None

    def section(self, name: str) -> Mapping[str, Any]:
        """The reserved settings section ``name`` (empty when the file has none)."""
        if name not in RESERVED:
            raise ValueError(f"{name!r} is not a reserved section ({', '.join(RESERVED)})")
        value = self.data.get(name, {})
        if not isinstance(value, Mapping):
            raise self._error(f"must be a table (got {_show(value)})", (name,), name)
        return MappingProxyType(value)

    def extends_of(self, name: str) -> str | None:
        """The profile ``name`` extends, or None; raises if ``name`` is no profile."""
        self._check_name(name)
        return self._parent(name)

    def resolve(self, name: str) -> Profile:
        """Resolve profile ``name``: follow ``extends``, check types, merge."""
        failure = self.failure(name)
        if failure is not None:
            raise ProfileError(failure.message, path=failure.path, line=failure.line,
                               key=failure.key)  # fmt: skip
        chain = chain_of(name, self._links)
        return Profile.from_chain([(member, self.data[member]) for member in chain], self.path)

    def inherited(self, name: str, key: str) -> Any:
        """The value of top-level ``key`` that profile ``name`` gets from the nearest
        member of its (unbroken) chain that writes it; None when none does.

        Like :meth:`failure`, answers are shared along chains: asking for every profile
        costs time linear in the file, where resolving each would cost its chain.
        """
        if self._links[name].broken is not None:  # a cycle has no nearest member
            return self.data[name].get(key)
        memo = self._inherited.setdefault(key, {})
        path: list[str] = []
        node: str | None = name
        while node is not None and node not in memo:
            path.append(node)
            node = self._links[node].parent
        for member in reversed(path):
            parent = self._links[member].parent
            own = self.data[member].get(key)
            memo[member] = own if own is not None or parent is None else memo[parent]
        return memo[name]

    @functools.cached_property
    def _inherited(self) -> dict[str, dict[str, Any]]:
        return {}

    def failure(self, name: str) -> ProfileError | None:
        """The error resolving profile ``name`` meets, or None when it resolves.

        A broken ``extends`` chain first, else the first type error of the chain's
        member nearest its root. Profiles share what is learnt about their common
        ancestors, so asking about every profile costs time linear in the file.
        """
        self._check_name(name)
        memo = self._failures
        path: list[str] = []
        node: str | None = name
        while node is not None and node not in memo:
            broken = self._links[node].broken
            if broken is not None:
                memo[node] = self._break_error(node, broken)
                break
            path.append(node)
            node = self._links[node].parent
        for member in reversed(path):
            parent = self._links[member].parent
            inherited = memo[parent] if parent is not None else None
            errors = [] if inherited else self._type_errors(member)
            memo[member] = inherited or (errors[0] if errors else None)
        return memo[name]

    # -- private helpers (check_env_file uses them too) --

    def _error(self, message: str, key_path: tuple[str, ...], key: str | None) -> ProfileError:
        return ProfileError(message, path=self.path, line=self.line_of(key_path), key=key)

    def _check_name(self, name: str) -> None:
        if name in RESERVED:
            raise self._error(f"{name!r} is a reserved section, not a profile", (name,), None)
        if name not in self._names:
            known = ", ".join(self.profile_names) or "none"
            raise ProfileError(f"unknown profile {name!r} (known: {known})", path=self.path)

    def _parent(self, name: str) -> str | None:
        parent = self.data[name].get("extends")
        if parent is not None and not isinstance(parent, str):
            raise self._extends_error(name, f"must be a string (got {_show(parent)})")
        return parent

    def _extends_error(self, name: str, message: str) -> ProfileError:
        return self._error(message, (name, "extends"), f"[{name}].extends")

    def _break_error(self, start: str, broken: Break) -> ProfileError:
        """The error of a chain broken at ``broken``, as seen from profile ``start``."""
        target = broken.target
        if broken.kind == "type":
            message = f"must be a string (got {_show(target)})"
        elif broken.kind == "reserved":
            message = f"{target!r} is a reserved section, not a profile"
        elif broken.kind == "unknown":
            message = f"unknown profile {target!r} (chain: {chain_text(start, self._links)})"
        else:
            message = f"cycle {chain_text(start, self._links)}"
        return self._extends_error(broken.profile, message)

    def _type_errors(self, name: str) -> list[ProfileError]:
        errors = []
        for key, value in self.data[name].items():
            kind = KNOWN_KEYS.get(key)
            if kind is None or key == "extends":
                continue
            problem = value_error(key, value)
            if problem:
                errors.append(self._key_error(name, (key,), problem))
            elif kind == _ENV_VARS:
                errors.extend(self._env_var_errors(name, value))
        return errors

    def _env_var_errors(self, name: str, table: Mapping[str, Any]) -> list[ProfileError]:
        errors = []
        for var, item in table.items():
            if not ENV_NAME.fullmatch(var):
                message = "not a valid environment variable name"
            elif not _is_env_value(item):
                got = _show(masked_tree({var: item})[var])
                message = f"must be str, int, float or bool (got {got})"
            elif isinstance(item, str) and "\0" in item:
                message = "must not contain a NUL character"
            else:
                continue
            errors.append(self._key_error(name, ("env_vars", var), message))
        return errors

    def _key_error(self, name: str, key_path: tuple[str, ...], message: str) -> ProfileError:
        dotted = ".".join(_toml_key(part) for part in key_path)
        return self._error(message, (name, *key_path), f"[{name}].{dotted}")


def _toml_error(error: ValueError, text: str, path: Path) -> ProfileError:
    message = str(getattr(error, "msg", "") or error)
    line: int | None = getattr(error, "lineno", None)
    column: int | None = getattr(error, "colno", None)
    at = re.search(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\Z", message)
    if at:
        message = message[: at.start()]
    if line is None:  # before Python 3.14, tomllib puts the place in the message only
        if at and at.group(1):
            line, column = int(at.group(1)), int(at.group(2))
        else:  # at the end of the document
            line, column = text.count("\n") + 1, len(text) - text.rfind("\n")
    where = f" (column {column})" if column else ""
    return ProfileError(f"invalid TOML: {message}{where}", path=path, line=line)


# --- checking -----------------------------------------------------------------------


def check_env_file(envfile: EnvFile) -> list[Problem]:
    """Every problem in ``envfile``, in file order: errors, then warnings per profile.

    Each error is reported once, at the profile that wrote it (a profile broken only
    because its parent is broken adds nothing). Unknown profile keys are warnings,
    with the nearest known key suggested.
    """
    problems: list[Problem] = []
    for name, value in envfile.data.items():
        if name in RESERVED:
            try:
                envfile.section(name)
            except ProfileError as error:
                problems.append(Problem.from_error(error))
        elif not isinstance(value, Mapping):
            where = envfile.line_of((name,))
            message = "not a table, so not a profile (ignored)"
            problems.append(Problem("warning", message, envfile.path, where, name))
        else:
            problems.extend(_profile_problems(envfile, name))
    return problems


def _profile_problems(envfile: EnvFile, name: str) -> list[Problem]:
    problems = []
    broken = envfile._links[name].broken
    if broken is not None and broken.profile == name:  # reported once, where it is written
        problems.append(Problem.from_error(envfile._break_error(name, broken)))
    problems.extend(Problem.from_error(error) for error in envfile._type_errors(name))
    return problems + key_warnings(envfile, name)


def key_warnings(envfile: EnvFile, name: str) -> list[Problem]:
    """Warnings about the keys profile ``name`` writes itself: keys runspec does not read
    (with the nearest known key), and keys its executor does not use."""
    problems = []
    executor, reads = _integration_reads(envfile, name)
    known = [*KNOWN_KEYS, *sorted(reads or ())]
    for key in envfile.data[name]:
        where = envfile.line_of((name, key))
        label = f"[{name}].{_toml_key(key)}"
        if reads is not None and key not in reads and key in KNOWN_KEYS:
            message = f"not used by the {executor} executor (ignored)"
            problems.append(Problem("warning", message, envfile.path, where, label))
        if key not in known:
            problems.append(Problem("warning", unknown_key(key, known), envfile.path, where, label))
    return problems


def unknown_key(key: str, known: Sequence[str] = tuple(KNOWN_KEYS)) -> str:
    """``unknown key``, with the nearest of ``known`` suggested when one is close."""
    import difflib

    close = difflib.get_close_matches(key, known, n=1)
    return f"unknown key (did you mean {close[0]!r}?)" if close else "unknown key"


def _integration_reads(envfile: EnvFile, name: str) -> tuple[str, frozenset[str] | None]:
    """The profile's executor and the keys it reads, when an integration runs it (nemo-run)
    and is installed; ``None`` for the keys otherwise (runspec's own keys apply)."""
    if envfile.failure(name) is not None:
        return "", None
    executor = str(envfile.inherited(name, "executor") or "local")
    return executor, integration_keys(executor, envfile.inherited(name, "launcher"))


def integration_keys(executor: str, launcher: object) -> frozenset[str] | None:
    """The profile keys the integration that runs ``executor`` with ``launcher`` reads
    (nemo-run's, when installed); ``None`` when runspec runs the job itself or the
    integration is not installed (runspec's own keys apply)."""
    from ._extras import executor_keys

    runs_itself = executor in ("local", "slurm") and launcher != "nemo-run"
    return None if runs_itself else executor_keys(executor)


# --- rendering for `runspec env` ------------------------------------------------------


def _listing_rows(envfile: EnvFile) -> list[tuple[str, Any, str | None]]:
    rows = []
    for name in envfile.profile_names:
        failure = envfile.failure(name)
        error = None if failure is None else str(failure)
        rows.append((name, envfile.data[name].get("extends"), error))
    return rows


def render_listing(envfile: EnvFile | None) -> str:
    """The env file used, then one row per profile: name, parent, and ``!`` + error if broken.

    Ends with a newline, like every ``render_...`` function.
    """
    if envfile is None:
        return "env file: none found\n"
    lines = [f"env file: {envfile.path}"]
    rows = _listing_rows(envfile)
    width = max((len(name) for name, _, _ in rows), default=0)
    parents = [
        "" if parent is None else f"extends {parent if isinstance(parent, str) else _show(parent)}"
        for _, parent, _ in rows
    ]
    parent_width = max((len(text) for text in parents), default=0)
    for (name, _, error), parent in zip(rows, parents, strict=True):
        row = f"{'!' if error else ' '} {name:<{width}}  {parent:<{parent_width}}"
        lines.append(f"{row}  error: {error}" if error else row.rstrip())
    if not rows:
        lines.append("  (no profiles)")
    sections = [name for name in RESERVED if name in envfile.data]
    if sections:
        lines.append("settings: " + ", ".join(sections))
    return "\n".join(lines) + "\n"


def listing_json(envfile: EnvFile | None) -> dict[str, Any]:
    """The listing as JSON-ready data: ``env_file``, ``profiles`` and ``settings``."""
    if envfile is None:
        return {"env_file": None, "profiles": [], "settings": []}
    profiles = [
        {"name": name, "extends": _plain(parent), "error": error}
        for name, parent, error in _listing_rows(envfile)
    ]
    settings = [name for name in RESERVED if name in envfile.data]
    return {"env_file": str(envfile.path), "profiles": profiles, "settings": settings}


def _dotted(key_path: tuple[str, ...]) -> str:
    return ".".join(_toml_key(part) for part in key_path)


def _leaf_value(values: Mapping[str, Any], key_path: tuple[str, ...]) -> Any:
    node: Any = values
    for part in key_path:
        node = node[part]
    return node


def render_profile(profile: Profile, explain: bool = False) -> str:
    """The resolved profile as TOML lines; with ``explain``, each notes the profile it came from."""
    chain = " -> ".join(profile.chain)
    lines = [f"# profile {profile.name} ({chain}) from {profile.path}"]
    rows = [
        (f"{_dotted(leaf)} = {_toml_value(_leaf_value(profile.values, leaf))}", origin)
        for leaf, origin in profile.leaf_origins.items()
    ]
    width = max((len(text) for text, _ in rows), default=0)
    for text, origin in rows:
        lines.append(f"{text:<{width}}  # from {origin}" if explain else text)
    return "\n".join(lines) + "\n"


def profile_json(profile: Profile) -> dict[str, Any]:
    """The resolved profile as JSON-ready data, with where each key came from."""
    return {
        "name": profile.name,
        "env_file": str(profile.path),
        "chain": list(profile.chain),
        "values": _plain(profile.values),
        "origins": dict(profile.origins),
        "leaf_origins": {_dotted(leaf): name for leaf, name in profile.leaf_origins.items()},
    }
