"""Keeping secrets out of what runspec prints and records.

The rule: a value is a secret when it is a string (alone, or anywhere inside a list
or table) under a key whose last name part is a secret word, and it is not a
``${...}`` reference. Name parts are split on ``_``, ``-`` and ``.``, compared
without case: ``HF_TOKEN``, ``WANDB_API_KEY``, ``db.password`` and ``api_tokens``
are secret names; ``TOKENIZERS_PARALLELISM``, ``num_key_value_heads`` and
``api_key_env`` are not. Numbers, booleans and nulls are never masked, so
``forward_ngc_api_key: false`` and ``max_doc_tokens: null`` show as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "SECRET_WORDS",
    "has_secrets",
    "is_reference",
    "is_secret",
    "masked",
    "masked_argv",
    "masked_tree",
    "secret_value",
    "shown",
]

MASK = "********"
SECRET_WORDS = frozenset(
    {
        "token", "tokens", "secret", "secrets", "password", "passwords", "passwd",
        "credential", "credentials", "key", "keys",
    }
)  # fmt: skip
"""Last name parts that make a key secret."""

_PARTS = re.compile(r"[_.-]")
_INNERMOST = re.compile(r"\$\{[^${}]*\}")


def is_secret(name: str) -> bool:
    """Whether a key's last name part (split on ``_``, ``-``, ``.``) is a secret word."""
    return _PARTS.split(name)[-1].lower() in SECRET_WORDS


def is_reference(text: str) -> bool:
    """Whether ``text`` is made of ``${...}`` references only (nested ones included)."""
    if "${" not in text:
        return False
    previous = None
    while previous != text:
        previous, text = text, _INNERMOST.sub("", text)
    return not text.strip()


def secret_value(name: str, value: object) -> bool:
    """Whether ``value``, found under ``name``, is a secret to mask."""
    return is_secret(name) and _maskable(value)


def _maskable(value: object) -> bool:
    return isinstance(value, str) and not is_reference(value)


def _mask_all(value: Any) -> Any:
    """Every string inside ``value`` masked (it sits under a secret key)."""
    if isinstance(value, Mapping):
        return {key: _mask_all(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_all(item) for item in value]
    return MASK if _maskable(value) else value


def masked_tree(data: Any) -> Any:
    """A copy of a config tree with its secrets masked (tuples come back as lists)."""
    if isinstance(data, Mapping):
        return {
            key: _mask_all(value) if is_secret(str(key)) else masked_tree(value)
            for key, value in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [masked_tree(item) for item in data]
    return data


def has_secrets(data: Any) -> bool:
    """Whether a config tree holds a secret."""
    return bool(masked_tree(data) != _plain(data))


def _plain(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(item) for item in data]
    return data


def masked(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of an environment with the values of secret names masked."""
    return {name: MASK if secret_value(name, value) else value for name, value in env.items()}


def shown(value: object, key: str | None) -> str:
    """``value`` as an error message quotes it: ``repr``, or the mask under a secret key."""
    if key is not None and is_secret(re.sub(r"[\"'\[\]]", "", key)):
        return repr(MASK)
    if hasattr(value, "isoformat"):  # a TOML date or time: as TOML writes it
        return str(value.isoformat())
    return repr(value)


_OVERRIDE = re.compile(r"(?P<key>[+~]{0,2}[A-Za-z0-9_.-]+)=(?P<value>.*)", re.DOTALL)
_OPTION = re.compile(r"(?P<key>--?[A-Za-z0-9_.-]+)(?:=(?P<value>.*))?", re.DOTALL)


def masked_argv(argv: Iterable[str]) -> list[str]:
    """A command line with its secrets masked, for saving it in a job record.

    ``key=value`` words (overrides) under a secret key lose their value; a JSON
    value has its secrets masked inside; ``--secret-name VALUE`` and
    ``--secret-name=VALUE`` options (a recipe's own arguments) lose their value.
    """
    words = list(argv)
    out: list[str] = []
    hide_next = False
    for word in words:
        if hide_next and not word.startswith("-"):
            out.append(MASK)
            hide_next = False
            continue
        hide_next = False
        option = _OPTION.fullmatch(word)
        if option is not None and word.startswith("-"):
            if is_secret(option.group("key").lstrip("-")):
                hide_next = option.group("value") is None
                word = word if hide_next else f"{option.group('key')}={MASK}"
            out.append(word)
            continue
        out.append(_masked_override(word))
    return out


def _masked_override(word: str) -> str:
    match = _OVERRIDE.fullmatch(word)
    if match is None:
        return word
    key, value = match.group("key"), match.group("value")
    if is_secret(key):
        return f"{key}={MASK}"
    if value.lstrip()[:1] in ("{", "["):
        import json

        try:
            data = json.loads(value)
        except (ValueError, RecursionError):
            return word
        hidden = masked_tree({"value": data})["value"]
        if hidden != data:
            return f"{key}={json.dumps(hidden, ensure_ascii=False)}"
    return word
