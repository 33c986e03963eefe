"""Command-line overrides: grammar, typed values, applying them, every error."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runspec.errors import OverrideError
from runspec.overrides import OPS, Override, apply_overrides

PARSES = [
    ("set", "a.b=1", "set", ("a", "b"), 1),
    ("add", "+a.b=1", "add", ("a", "b"), 1),
    ("force", "++a.b=1", "force", ("a", "b"), 1),
    ("delete", "~a.b", "delete", ("a", "b"), None),
    ("index", "a.0=x", "set", ("a", "0"), "x"),
    ("dashes", "run.env.gpus-per-node=8", "set", ("run", "env", "gpus-per-node"), 8),
    ("negative-int", "a=-3", "set", ("a",), -3),
    ("plus-int", "a=+3", "set", ("a",), 3),
    ("underscore-int", "a=1_000", "set", ("a",), 1000),
    ("zero", "a=0", "set", ("a",), 0),
    ("leading-zero-is-str", "a=007", "set", ("a",), "007"),
    ("float", "a=0.5", "set", ("a",), 0.5),
    ("float-no-int-part", "a=.5", "set", ("a",), 0.5),
    ("float-no-fraction", "a=5.", "set", ("a",), 5.0),
    ("float-exponent", "a=1e-3", "set", ("a",), 0.001),
    ("inf-is-str", "a=inf", "set", ("a",), "inf"),
    ("nan-is-str", "a=nan", "set", ("a",), "nan"),
    ("true", "a=true", "set", ("a",), True),
    ("false-any-case", "a=False", "set", ("a",), False),
    ("null", "a=null", "set", ("a",), None),
    ("null-upper", "a=NULL", "set", ("a",), None),
    ("json-list", 'a=[1, 2.5, "x", null]', "set", ("a",), [1, 2.5, "x", None]),
    ("json-object", 'a={"k": [true]}', "set", ("a",), {"k": [True]}),
    ("empty-list", "a=[]", "set", ("a",), []),
    ("string", "a=hello world", "set", ("a",), "hello world"),
    ("empty", "a=", "set", ("a",), ""),
    ("stripped", "a=  7 ", "set", ("a",), 7),
    ("equals-in-value", "a=b=c", "set", ("a",), "b=c"),
    ("single-quoted-int", "a='3'", "set", ("a",), "3"),
    ("single-quoted-raw", "a='x\\ny'", "set", ("a",), "x\\ny"),
    ("double-quoted-escapes", 'a="x\\ny"', "set", ("a",), "x\ny"),
    ("double-quoted-true", 'a="true"', "set", ("a",), "true"),
    ("quoted-keeps-spaces", "a=' x '", "set", ("a",), " x "),
    ("quoted-empty", 'a=""', "set", ("a",), ""),
    ("template-kept", "a=${run.env.nodes}", "set", ("a",), "${run.env.nodes}"),
    ("path", "a=/lustre/x:/x", "set", ("a",), "/lustre/x:/x"),
]


@pytest.mark.parametrize(
    ("text", "op", "path", "value"), [case[1:] for case in PARSES], ids=[case[0] for case in PARSES]
)
def test_parse(text: str, op: str, path: tuple[str, ...], value: Any) -> None:
    override = Override.parse(text)
    assert override == Override(op, path, value, text)
    assert type(override.value) is type(value)
    assert override.op in OPS


PARSE_ERRORS = [
    ("empty", "", "invalid override '': expected key=value (or ~key to delete)"),
    ("no-equals", "a.b", "invalid override 'a.b': expected key=value (or ~key to delete)"),
    ("add-no-equals", "+a", "invalid override '+a': expected key=value (or ~key to delete)"),
    ("no-key", "=1", "invalid override '=1': missing key"),
    ("delete-no-key", "~", "invalid override '~': missing key"),
    ("plus-only", "+=1", "invalid override '+=1': missing key"),
    ("delete-with-value", "~a=1", "invalid override '~a=1': a delete takes no value (write ~a)"),
    (
        "double-dot",
        "a..b=1",
        "invalid override 'a..b=1': bad key 'a..b' (dotted names of letters, digits, '_' and '-')",
    ),
    (
        "trailing-dot",
        "a.=1",
        "invalid override 'a.=1': bad key 'a.' (dotted names of letters, digits, '_' and '-')",
    ),
    (
        "space-in-key",
        "a b=1",
        "invalid override 'a b=1': bad key 'a b' (dotted names of letters, digits, '_' and '-')",
    ),
    (
        "triple-plus",
        "+++a=1",
        "invalid override '+++a=1': bad key '+a' (dotted names of letters, digits, '_' and '-')",
    ),
    (
        "brackets",
        "a[0]=1",
        "invalid override 'a[0]=1': bad key 'a[0]' (dotted names of letters, digits, '_' and '-')",
    ),
    ("unterminated-double", 'a="x', "invalid override 'a=\"x': unterminated quoted string"),
    ("unterminated-single", "a='", 'invalid override "a=\'": unterminated quoted string'),
    ("mismatched-quotes", "a='x\"", "invalid override 'a=\\'x\"': unterminated quoted string"),
    (
        "bad-escape",
        'a="\\q"',
        'invalid override \'a="\\\\q"\': bad "..." string (JSON escapes apply)',
    ),
    (
        "bad-json-list",
        "a=[a,b]",
        (
            "invalid override 'a=[a,b]': value is not valid JSON (Expecting value); "
            "quote it to keep a string"
        ),
    ),
    (
        "bad-json-object",
        "a={x: 1}",
        (
            "invalid override 'a={x: 1}': value is not valid JSON "
            "(Expecting property name enclosed in double quotes); quote it to keep a string"
        ),
    ),
    (
        "lone-surrogate-escape",
        'a=["\\ud800"]',
        "invalid override 'a=[\"\\\\ud800\"]': value is not valid UTF-8 text",
    ),
    (
        "undecodable-argv-byte",
        "a=x\udcff",
        "invalid override 'a=x\\udcff': value is not valid UTF-8 text",
    ),
    (
        "json-nan",
        "a=[NaN]",
        (
            "invalid override 'a=[NaN]': value is not valid JSON (NaN is not JSON); "
            "quote it to keep a string"
        ),
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [case[1:] for case in PARSE_ERRORS], ids=[case[0] for case in PARSE_ERRORS]
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(OverrideError) as caught:
        Override.parse(text)
    assert str(caught.value) == message


CONFIG: dict[str, Any] = {
    "model": {"lr": 0.1, "layers": [1, 2, 3], "opt": {"name": "adam"}},
    "steps": 10,
    "run": {"env": {"nodes": 1, "partition": "dev"}, "recipe": {"name": "sft"}},
}
ENV = (("run", "env"),)

APPLIES = [
    ("set", ["steps=20"], {"steps": 20}),
    ("set-nested", ["model.lr=0.5"], {"model": {"lr": 0.5}}),
    ("set-table-to-scalar", ["model.opt=sgd"], {"model": {"opt": "sgd"}}),
    ("set-scalar-to-table", ['steps={"a": 1}'], {"steps": {"a": 1}}),
    ("set-list", ["model.layers=[4]"], {"model": {"layers": [4]}}),
    ("set-index", ["model.layers.1=9"], {"model": {"layers": [1, 9, 3]}}),
    ("add", ["+model.wd=0.01"], {"model": {"wd": 0.01}}),
    ("add-deep-creates-tables", ["+data.train.path=/d"], {"data": {"train": {"path": "/d"}}}),
    ("force-existing", ["++steps=5"], {"steps": 5}),
    ("force-new", ["++extra.x=1"], {"extra": {"x": 1}}),
    ("delete", ["~model.opt"], {"model": {"opt": None}}),
    ("delete-index", ["~model.layers.0"], {"model": {"layers": [2, 3]}}),
    ("in-order", ["+a=1", "a=2", "~a", "+a=3"], {"a": 3}),
    ("open-set-existing", ["run.env.nodes=4"], {"run": {"env": {"nodes": 4}}}),
    ("open-set-new", ["run.env.account=acct"], {"run": {"env": {"account": "acct"}}}),
    (
        "open-set-new-table",
        ["run.env.sbatch.gres=gpu:8"],
        {"run": {"env": {"sbatch": {"gres": "gpu:8"}}}},
    ),
    ("open-add", ["+run.env.qos=high"], {"run": {"env": {"qos": "high"}}}),
    ("open-delete", ["~run.env.partition"], {"run": {"env": {"partition": None}}}),
]


def _expect(changes: dict[str, Any]) -> dict[str, Any]:
    """CONFIG with ``changes`` laid over it; a None value means the key is gone."""

    def lay(base: dict[str, Any], over: dict[str, Any]) -> None:
        for key, value in over.items():
            if value is None:
                del base[key]
            elif isinstance(value, dict) and isinstance(base.get(key), dict) and value:
                lay(base[key], value)
            else:
                base[key] = value

    expected = copy.deepcopy(CONFIG)
    lay(expected, changes)
    return expected


@pytest.mark.parametrize(
    ("texts", "changes"), [case[1:] for case in APPLIES], ids=[case[0] for case in APPLIES]
)
def test_apply(texts: list[str], changes: dict[str, Any]) -> None:
    before = copy.deepcopy(CONFIG)
    result = apply_overrides(CONFIG, [Override.parse(text) for text in texts], open_prefixes=ENV)
    assert result == _expect(changes)
    assert before == CONFIG


def test_open_prefix_creates_missing_sections() -> None:
    result = apply_overrides({}, [Override.parse("run.env.nodes=2")], open_prefixes=ENV)
    assert result == {"run": {"env": {"nodes": 2}}}


def test_result_shares_nothing_with_input_or_values() -> None:
    override = Override.parse("++x=[1, 2]")
    result = apply_overrides(CONFIG, [override])
    result["model"]["layers"].append(4)
    result["x"].append(3)
    assert CONFIG["model"]["layers"] == [1, 2, 3]
    assert override.value == [1, 2]


APPLY_ERRORS = [
    (
        "set-missing",
        ["model.wd=1"],
        (),
        "model.wd: no such key to set (use +model.wd=... to add it)",
    ),
    (
        "set-missing-parent",
        ["data.path=/d"],
        (),
        "data.path: no such key to set (use +data.path=... to add it)",
    ),
    (
        "env-not-open",
        ["run.env.account=a"],
        (),
        "run.env.account: no such key to set (use +run.env.account=... to add it)",
    ),
    (
        "open-only-below-prefix",
        ["run.recipe.image=x"],
        ENV,
        "run.recipe.image: no such key to set (use +run.recipe.image=... to add it)",
    ),
    ("add-existing", ["+steps=1"], (), "steps: already exists (use ++steps=... to set it)"),
    (
        "add-existing-open",
        ["+run.env.nodes=1"],
        ENV,
        "run.env.nodes: already exists (use ++run.env.nodes=... to set it)",
    ),
    (
        "add-existing-index",
        ["+model.layers.0=1"],
        (),
        "model.layers.0: already exists (use ++model.layers.0=... to set it)",
    ),
    ("delete-missing", ["~model.wd"], (), "model.wd: no such key to delete"),
    ("delete-missing-parent", ["~data.path"], (), "data.path: no such key to delete"),
    ("delete-twice", ["~steps", "~steps"], (), "steps: no such key to delete"),
    ("through-scalar", ["model.lr.x=1"], (), "model.lr.x: model.lr is float, not a table"),
    ("add-through-scalar", ["+steps.x=1"], (), "steps.x: steps is int, not a table"),
    (
        "index-out-of-range",
        ["model.layers.3=1"],
        (),
        "model.layers.3: no such index (model.layers has 3 items)",
    ),
    (
        "index-not-a-number",
        ["++model.layers.x=1"],
        (),
        "model.layers.x: no such index (model.layers has 3 items)",
    ),
    (
        "delete-index-out-of-range",
        ["~model.layers.7"],
        (),
        "model.layers.7: no such index (model.layers has 3 items)",
    ),
    (
        "through-list-item",
        ["model.layers.0.x=1"],
        (),
        "model.layers.0.x: model.layers.0 is int, not a table",
    ),
]


@pytest.mark.parametrize(
    ("texts", "open_prefixes", "message"),
    [case[1:] for case in APPLY_ERRORS],
    ids=[case[0] for case in APPLY_ERRORS],
)
def test_apply_errors(
    texts: list[str], open_prefixes: tuple[tuple[str, ...], ...], message: str
) -> None:
    before = copy.deepcopy(CONFIG)
    with pytest.raises(OverrideError) as caught:
        apply_overrides(
            CONFIG, [Override.parse(text) for text in texts], open_prefixes=open_prefixes
        )
    assert str(caught.value) == message
    assert caught.value.key == message.split(": ", 1)[0]
    assert before == CONFIG


# --- properties ---------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    st.text()
    | st.lists(st.sampled_from(["+", "~", "=", ".", "a", "0", "'", '"', "[", "{", " "])).map(
        "".join
    )
)
def test_parse_succeeds_or_raises_override_error(text: str) -> None:
    try:
        override = Override.parse(text)
    except OverrideError as error:
        assert "\n" not in str(error) or "\n" in text
        return
    assert override.text == text
    assert override.op in OPS


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_json_values_round_trip(value: Any) -> None:
    parsed = Override.parse("++a.b=" + json.dumps(value)).value
    assert parsed == value
    assert type(parsed) is type(value)
