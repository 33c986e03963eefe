"""``${run.*}`` templates: substitution, escapes, type keeping, nesting, errors."""

from __future__ import annotations

import copy
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runspec.errors import TemplateError
from runspec.template import RunTemplate, references, resolve

NAMESPACE: dict[str, Any] = {
    "run": {
        "env": {
            "account": "acct",
            "partition": "batch",
            "nodes": 4,
            "exclusive": True,
            "mem": None,
            "scale": 0.5,
            "remote_job_dir": "/lustre/jobs",
            "job_dir": "${run.env.remote_job_dir}/prod",
            "log_dir": "${run.env.job_dir}/logs",
            "mounts": ["/data:/data", "${run.env.remote_job_dir}:/jobs"],
            "env_vars": {"NCCL_DEBUG": "WARN", "OUT": "${run.env.log_dir}"},
            "alias": "${run.env.env_vars}",
            "literal": "\\${run.env.nodes}",
        },
        "recipe": {"name": "sft", "image": "nvcr.io/x:1"},
        "tags": ("a", "${run.recipe.name}"),
        "a": "${run.b}",
        "b": "x${run.c}",
        "c": "${run.a}",
        "self": "${run.self}",
        "deep": "${run.deep.x}",
        "twice": "${run.env.nodes}${run.env.nodes}",
        "dict_alias": "${run.recipe}",
    }
}

SUCCESSES = [
    ("plain", "no references", "no references"),
    ("int-kept", "${run.env.nodes}", 4),
    ("bool-kept", "${run.env.exclusive}", True),
    ("none-kept", "${run.env.mem}", None),
    ("float-kept", "${run.env.scale}", 0.5),
    ("dict-kept", "${run.recipe}", {"name": "sft", "image": "nvcr.io/x:1"}),
    ("list-kept", "${run.env.mounts}", ["/data:/data", "/lustre/jobs:/jobs"]),
    ("tuple-kept", "${run.tags}", ("a", "sft")),
    ("embedded-int", "-N ${run.env.nodes}", "-N 4"),
    ("embedded-bool", "x=${run.env.exclusive}", "x=True"),
    ("embedded-none", "x=${run.env.mem}", "x=None"),
    ("two", "${run.env.account}/${run.env.partition}", "acct/batch"),
    ("adjacent", "${run.twice}", "44"),
    ("nested", "${run.env.job_dir}", "/lustre/jobs/prod"),
    ("nested-twice", "${run.env.log_dir}", "/lustre/jobs/prod/logs"),
    ("through-a-reference", "${run.env.alias.OUT}", "/lustre/jobs/prod/logs"),
    ("dict-via-alias", "${run.dict_alias}", {"name": "sft", "image": "nvcr.io/x:1"}),
    ("index", "${run.env.mounts.1}", "/lustre/jobs:/jobs"),
    ("escaped", "\\${run.env.nodes}", "${run.env.nodes}"),
    ("escaped-embedded", "a \\${run.x} b ${run.env.nodes}", "a ${run.x} b 4"),
    ("escaped-backslash", "\\\\${run.env.nodes}", "\\4"),
    ("escaped-three", "\\\\\\${run.env.nodes}", "\\${run.env.nodes}"),
    ("escaped-malformed", "\\${run.}", "${run.}"),
    ("escaped-in-referenced-value", "${run.env.literal}", "${run.env.nodes}"),
    ("lone-backslashes-untouched", "a\\b\\\\c\\", "a\\b\\\\c\\"),
    ("shell-var", "$HOME", "$HOME"),
    ("shell-braced", "${HOME}/x", "${HOME}/x"),
    ("shell-pid", "$$", "$$"),
    ("dollar-dollar-ref", "$${run.env.nodes}", "$4"),
    ("omegaconf-resolver", "${oc.env:X}", "${oc.env:X}"),
    ("artifact", "${art:data,path}", "${art:data,path}"),
    ("bare-run", "${run}", "${run}"),
    ("runx", "${runx.a}", "${runx.a}"),
    ("upper", "${RUN.env.nodes}", "${RUN.env.nodes}"),
    ("no-brace", "$run.env.nodes", "$run.env.nodes"),
    ("backslash-foreign", "\\${HOME}", "\\${HOME}"),
]


@pytest.mark.parametrize(
    ("value", "expected"), [case[1:] for case in SUCCESSES], ids=[case[0] for case in SUCCESSES]
)
def test_resolve(value: str, expected: Any) -> None:
    result = resolve(value, NAMESPACE)
    assert result == expected
    assert type(result) is type(expected)


ERRORS = [
    (
        "unknown-key",
        "${run.env.acount}",
        (
            "run.env.acount: no such key (known: account, alias, env_vars, exclusive, job_dir, "
            "literal, log_dir, mem, mounts, nodes, partition, remote_job_dir, scale)"
        ),
    ),
    (
        "unknown-top",
        "x ${run.nope}",
        "run.nope: no such key (known: a, b, c, deep, dict_alias, env, recipe, self, tags, twice)",
    ),
    (
        "unknown-under-alias",
        "${run.env.alias.X}",
        "run.env.alias.X: no such key (known: NCCL_DEBUG, OUT)",
    ),
    ("into-int", "${run.env.nodes.x}", "run.env.nodes.x: run.env.nodes is int, not a table"),
    ("into-str", "${run.env.account.x}", "run.env.account.x: run.env.account is str, not a table"),
    ("into-none", "${run.env.mem.x}", "run.env.mem.x: run.env.mem is NoneType, not a table"),
    (
        "index-out-of-range",
        "${run.env.mounts.2}",
        "run.env.mounts.2: no such index (run.env.mounts has 2 items)",
    ),
    (
        "index-not-a-number",
        "${run.env.mounts.x}",
        "run.env.mounts.x: no such index (run.env.mounts has 2 items)",
    ),
    ("cycle", "${run.a}", "run.a: reference cycle run.a -> run.b -> run.c -> run.a"),
    ("cycle-embedded", "z ${run.b}", "run.b: reference cycle run.b -> run.c -> run.a -> run.b"),
    ("self", "${run.self}", "run.self: reference cycle run.self -> run.self"),
    (
        "through-itself",
        "${run.deep}",
        "run.deep: reference cycle run.deep -> run.deep.x -> run.deep",
    ),
    (
        "embed-dict",
        "x ${run.recipe}",
        "run.recipe: cannot embed a table in a string (use the reference alone to keep its type)",
    ),
    (
        "embed-list",
        "${run.env.mounts}/x",
        (
            "run.env.mounts: cannot embed a list in a string "
            "(use the reference alone to keep its type)"
        ),
    ),
    (
        "embed-escaped-backslash-list",
        "\\\\${run.env.mounts}",
        (
            "run.env.mounts: cannot embed a list in a string "
            "(use the reference alone to keep its type)"
        ),
    ),
    ("empty-path", "${run.}", "malformed reference '${run.}' (expected ${run.<dotted.path>})"),
    (
        "double-dot",
        "${run.a..b}",
        "malformed reference '${run.a..b}' (expected ${run.<dotted.path>})",
    ),
    (
        "unclosed",
        "x ${run.env.nodes",
        "malformed reference '${run.env.nodes' (expected ${run.<dotted.path>})",
    ),
    (
        "resolver-like",
        "${run.x:y}",
        "malformed reference '${run.x:y}' (expected ${run.<dotted.path>})",
    ),
    ("space", "${run.a b}", "malformed reference '${run.a b}' (expected ${run.<dotted.path>})"),
    (
        "even-backslashes-malformed",
        "\\\\${run.}",
        "malformed reference '${run.}' (expected ${run.<dotted.path>})",
    ),
]


@pytest.mark.parametrize(
    ("value", "message"), [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS]
)
def test_resolve_errors(value: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        resolve(value, NAMESPACE)
    assert str(caught.value) == message


def test_unknown_key_in_an_empty_table() -> None:
    with pytest.raises(TemplateError) as caught:
        resolve("${run.env.x}", {"run": {"env": {}}})
    assert str(caught.value) == "run.env.x: no such key (known: none)"


def test_namespace_without_run() -> None:
    with pytest.raises(TemplateError) as caught:
        resolve("${run.x}", {"other": 1})
    assert str(caught.value) == "run: no such key (known: other)"


def test_structures_are_walked_and_copied() -> None:
    value = {
        "trainer": {"num_nodes": "${run.env.nodes}", "dirs": ["${run.env.job_dir}", 3]},
        "pair": ("${run.env.partition}", None),
        "${run.env.nodes}": "keys are left alone",
        7: "${run.recipe.name}",
    }
    before = copy.deepcopy(value)
    namespace_before = copy.deepcopy(NAMESPACE)
    result = resolve(value, NAMESPACE)
    assert result == {
        "trainer": {"num_nodes": 4, "dirs": ["/lustre/jobs/prod", 3]},
        "pair": ("batch", None),
        "${run.env.nodes}": "keys are left alone",
        7: "sft",
    }
    assert value == before
    assert namespace_before == NAMESPACE


def test_results_share_nothing_with_the_namespace() -> None:
    first = resolve({"a": "${run.recipe}", "b": "${run.recipe}"}, NAMESPACE)
    first["a"]["name"] = "changed"
    assert first["b"]["name"] == "sft"
    assert NAMESPACE["run"]["recipe"]["name"] == "sft"


def test_the_namespace_may_resolve_itself() -> None:
    document = {"run": {"env": {"dir": "/j", "out": "${run.env.dir}/o"}}, "out": "${run.env.out}"}
    assert resolve(document, document) == {
        "run": {"env": {"dir": "/j", "out": "/j/o"}},
        "out": "/j/o",
    }


def test_long_chains_resolve() -> None:
    env = {f"k{i}": f"${{run.k{i + 1}}}" for i in range(100)}
    env["k100"] = "end"
    assert resolve("${run.k0}", {"run": env}) == "end"


def test_too_deep_is_a_template_error() -> None:
    env = {f"k{i}": f"${{run.k{i + 1}}}" for i in range(5000)}
    env["k5000"] = "end"
    with pytest.raises(TemplateError, match=r"^references nested too deeply$"):
        resolve("${run.k0}", {"run": env})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none here ${HOME}", ()),
        ("${run.a} and ${run.b.c}", ("run.a", "run.b.c")),
        ("\\${run.a} ${run.b}", ("run.b",)),
        ("\\\\${run.a}", ("run.a",)),
        ("${run.} ${run}", ()),
    ],
    ids=["none", "two", "escaped-skipped", "escaped-backslash", "malformed-skipped"],
)
def test_references(text: str, expected: tuple[str, ...]) -> None:
    assert references(text) == expected


def test_run_template_is_a_string_template() -> None:
    template = RunTemplate("${run.env.partition}-${run.env.nodes}")
    assert template.resolve(NAMESPACE) == "batch-4"
    assert isinstance(template, string.Template)
    if hasattr(string.Template, "get_identifiers"):  # new in Python 3.11
        assert RunTemplate("${HOME}").get_identifiers() == []
        assert RunTemplate("${run.a.b} $x").get_identifiers() == ["run.a.b"]


# --- properties ---------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "0", "1"])
FRAGMENTS = st.sampled_from(
    [
        "${run.",
        "a",
        "b",
        "c",
        "0",
        ".",
        "}",
        "\\",
        "$",
        "{",
        "${run.a}",
        "${run.b.c}",
        "${run.c.0}",
        " ",
        ":",
    ]
)
TEMPLATE_TEXT = st.lists(FRAGMENTS, max_size=8).map("".join)
VALUES = st.recursive(
    TEMPLATE_TEXT | st.integers() | st.booleans() | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.dictionaries(KEYS, VALUES, max_size=4))
def test_resolving_succeeds_or_raises_template_error(value: Any, run: dict[str, Any]) -> None:
    try:
        result = resolve(value, {"run": run})
    except TemplateError as error:
        assert "\n" not in str(error)
        return
    if "\\" not in repr(value) + repr(run):  # without escapes every reference is gone
        assert not any("${run." in text for text in _strings(result))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _strings(item)]
    return []


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_text_without_run_references_is_untouched(text: str) -> None:
    if "${run." not in text:
        assert resolve(text, {"run": {}}) == text
