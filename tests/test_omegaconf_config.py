"""YAML and OmegaConf configs: reading, defaults: inheritance, errors, saving.

Everything here uses the real PyYAML and omegaconf packages (the omegaconf extra).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runspec import ConfigError
from runspec_extras import _yaml
from runspec_extras.omegaconf_config import dump_config, load_config
from tests.support import IN_CI, REPO, require_module

pytestmark = pytest.mark.extra


@pytest.fixture(autouse=True)
def _packages() -> None:
    require_module("yaml")
    require_module("omegaconf")
    import yaml

    # The syntax error messages asserted below are libyaml's (PyYAML's wheels carry it).
    if not yaml.__with_libyaml__:
        message = "needs PyYAML built with libyaml"
        pytest.fail(message) if IN_CI else pytest.skip(message)


def write(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


# Values ------------------------------------------------------------------------------------

VALUES = [
    ("mapping", "both", "a: 1\nb: [x, 2.5]\nc: {d: null}\n", {"a": 1, "b": ["x", 2.5], "c": {"d": None}}),
    (
        "interpolations-kept", "omegaconf",
        "a: ${b}\nb: ${oc.env:HOME,/tmp}\nc: x${a}y\nd: \\${e}\ne: ???\n",
        {"a": "${b}", "b": "${oc.env:HOME,/tmp}", "c": "x${a}y", "d": "\\${e}", "e": "???"},
    ),
    ("exponent-floats-omegaconf", "omegaconf", "a: 1e-4\nb: 1.5e3\nc: 1.0e-4\nd: .5\n", {"a": 0.0001, "b": 1500.0, "c": 0.0001, "d": 0.5}),
    ("exponent-floats-yaml", "yaml", "a: 1e-4\nb: 1.5e3\nc: 1.0e-4\nd: .5\n", {"a": "1e-4", "b": "1.5e3", "c": 0.0001, "d": 0.5}),
    ("yaml-1.1-bools", "both", "a: yes\nb: off\nc: 'yes'\n", {"a": True, "b": False, "c": "yes"}),
    ("dates-as-written-omegaconf", "omegaconf", "d: 2024-05-01\nt: 2024-05-01 10:30:00\n", {"d": "2024-05-01", "t": "2024-05-01 10:30:00"}),
    (
        "dates-iso-yaml", "yaml", "d: 2024-05-01\nt: 2024-05-01 10:30:00\nz: 2024-05-01T10:30:00.5Z\n",
        {"d": "2024-05-01", "t": "2024-05-01T10:30:00", "z": "2024-05-01T10:30:00.500000+00:00"},
    ),
    ("explicit-timestamp", "both", "d: !!timestamp 2024-05-01\n", {"d": "2024-05-01"}),
    ("binary-as-base64", "both", "b: !!binary |\n  aGVs\n  bG8=\n", {"b": "aGVsbG8="}),
    ("set-as-list", "both", "s: !!set {b, a, 3}\n", {"s": ["b", "a", 3]}),
    ("omap-as-mapping", "both", "m: !!omap [{b: 1}, {a: 2}]\n", {"m": {"b": 1, "a": 2}}),
    ("pairs-as-lists", "both", "p: !!pairs [{b: 1}, {b: 2}]\n", {"p": [["b", 1], ["b", 2]]}),
    (
        "keys-as-json-writes-them", "both", "1: a\n2.5: b\ntrue: c\n~: d\n",
        {"1": "a", "2.5": "b", "true": "c", "null": "d"},
    ),
    (
        "merge-keys", "both", "base: &b {x: 1, y: 1}\nc:\n  <<: *b\n  y: 2\n",
        {"base": {"x": 1, "y": 1}, "c": {"x": 1, "y": 2}},
    ),
    ("shared-alias", "both", "a: &a [1, 2]\nb: *a\n", {"a": [1, 2], "b": [1, 2]}),
    ("empty-file", "both", "", {}),
    ("comments-only", "both", "# nothing here\n", {}),
    ("empty-flow-mapping", "both", "{}\n", {}),
    ("byte-order-mark", "both", "\ufeffa: 1\n", {"a": 1}),
    ("omap-at-the-top", "both", "!!omap [{b: 1}, {a: 2}]\n", {"b": 1, "a": 2}),
    ("defaults-is-data-in-plain-yaml", "yaml", "defaults: [x]\na: 1\n", {"defaults": ["x"], "a": 1}),
]  # fmt: skip


def _formats(which: str) -> list[str]:
    return ["yaml", "omegaconf"] if which == "both" else [which]


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [(fmt, text, expected) for _, which, text, expected in VALUES for fmt in _formats(which)],
    ids=[f"{name}-{fmt}" for name, which, _, _ in VALUES for fmt in _formats(which)],
)
def test_values(tmp_path: Path, fmt: str, text: str, expected: dict[str, Any]) -> None:
    write(tmp_path, {"c.yaml": text})
    data = load_config(tmp_path / "c.yaml", fmt)
    assert data == expected
    assert list(data) == list(expected)


# Errors --------------------------------------------------------------------------------------

ERRORS = [
    ("mapping-value-in-scalar", "a: b: c\n", "{c}:1: invalid YAML: mapping values are not allowed in this context (column 5)"),
    ("unclosed-flow-list", "a: [1, 2\nb: 3\n", "{c}:2: invalid YAML: did not find expected ',' or ']' (column 2), while parsing a flow sequence at line 1"),
    ("bad-indentation", "a:\n  b: 1\n c: 2\n", "{c}:3: invalid YAML: did not find expected key (column 2), while parsing a block mapping at line 1"),
    ("unclosed-quote", "a: 'x\n\n", "{c}:3: invalid YAML: found unexpected end of stream (column 1), while scanning a quoted scalar at line 1"),
    ("undefined-alias", "a: *x\n", "{c}:1: invalid YAML: found undefined alias (column 4)"),
    ("two-documents", "a: 1\n---\nb: 2\n", "{c}:2: invalid YAML: a config is one document (found a second)"),
    ("unknown-tag", "a: !foo 1\n", "{c}:1: invalid YAML: could not determine a constructor for the tag '!foo' (column 4)"),
    ("python-tag", "a: !!python/object/apply:os.system [ls]\n", "{c}:1: invalid YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system' (column 4)"),
    ("control-character", "a: 1\nb: \x07\n", "{c}:2: invalid YAML: control characters are not allowed (character #x0007)"),
    ("bad-escape", 'a: "\\ud800"\n', "{c}:1: invalid YAML: found invalid Unicode character escape code (column 7)"),
    ("duplicate-key", "a: 1\nb:\n  x: 1\n  x: 2\n", "{c}:4: duplicate key 'x' (first at line 3)"),
    ("duplicate-after-json", "1: a\n'1': b\n", "{c}:2: duplicate key '1' (first at line 1)"),
    ("null-twice", "null: a\n~: b\n", "{c}:2: duplicate key 'null' (first at line 1)"),
    ("list-key", "[1, 2]: x\n", "{c}:1: a key must be a string, number, bool or null (got a list)"),
    ("recursive-alias", "a: &x [1, *x]\n", "{c}:1: invalid YAML: a value contains itself (a recursive alias) (column 4)"),
    ("top-level-list", "- 1\n- 2\n", "{c}:1: a config must be a mapping at the top (got a list)"),
    ("top-level-scalar", "\nhello\n", "{c}:2: a config must be a mapping at the top (got str)"),
    ("not-utf8", b"a: 1\nb: caf\xe9\n", "{c}:2: not UTF-8 text: byte 0xe9 (column 7)"),
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["yaml", "omegaconf"])
@pytest.mark.parametrize(
    ("text", "message"), [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS]
)
def test_errors(tmp_path: Path, fmt: str, text: str | bytes, message: str) -> None:
    write(tmp_path, {"c.yaml": text})
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml", fmt)
    assert str(caught.value) == message.format(c=tmp_path / "c.yaml")


def test_aliases_that_expand_too_far(tmp_path: Path) -> None:
    rows = ["l0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    for level in range(1, 7):
        rows.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]")
    write(tmp_path, {"c.yaml": "\n".join(rows) + "\n"})
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    assert str(caught.value) == (
        f"{tmp_path / 'c.yaml'}:6: invalid YAML: aliases expand to more than 1000000 values (column 5)"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.yaml", "no such config file"), ("folder", "is a folder, not a config file")],
    ids=["missing", "folder"],
)
def test_files_that_cannot_be_read(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / name)
    assert str(caught.value) == f"{tmp_path / name}: {message}"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads any file whatever its mode, so the refusal is faked at the boundary.
    write(tmp_path, {"c.yaml": "a: 1\n"})

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    assert str(caught.value) == f"{tmp_path / 'c.yaml'}: cannot read: Permission denied"


def test_unknown_format_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown config format 'toml'"):
        load_config(tmp_path / "c.yaml", "toml")


# defaults: ---------------------------------------------------------------------------------

DEFAULTS = [
    ("single-name", {"a.yaml": "defaults: b\nx: 1\n", "b.yaml": "x: 0\ny: 0\n"}, {"x": 1, "y": 0}),
    (
        "list-in-order",
        {"a.yaml": "defaults:\n  - b\n  - c\nz: 1\n", "b.yaml": "x: b\ny: b\n", "c.yaml": "y: c\n"},
        {"x": "b", "y": "c", "z": 1},
    ),
    (
        "self-first", {"a.yaml": "defaults: [_self_, b]\nx: a\nz: a\n", "b.yaml": "x: b\ny: b\n"},
        {"x": "b", "z": "a", "y": "b"},
    ),
    (
        "self-in-the-middle",
        {"a.yaml": "defaults: [b, _self_, c]\nx: a\ny: a\n", "b.yaml": "x: b\n", "c.yaml": "y: c\n"},
        {"x": "a", "y": "c"},
    ),
    (
        "chain", {"a.yaml": "defaults: b\nx: a\n", "b.yaml": "defaults: c\nx: b\ny: b\n", "c.yaml": "x: c\ny: c\nz: c\n"},
        {"x": "a", "y": "b", "z": "c"},
    ),
    (
        "diamond",
        {"a.yaml": "defaults: [b, c]\n", "b.yaml": "defaults: d\nb: 1\n", "c.yaml": "defaults: d\nd: c\n", "d.yaml": "d: d\nb: 0\n"},
        {"d": "c", "b": 0},
    ),
    (
        "subfolders-relative-to-the-asking-file",
        {"a.yaml": "defaults: sub/b\n", "sub/b.yaml": "defaults: [c]\nb: 1\n", "sub/c.yaml": "c: 1\n"},
        {"c": 1, "b": 1},
    ),
    ("yml-suffix", {"a.yaml": "defaults: b\n", "b.yml": "b: 1\n"}, {"b": 1}),
    ("suffix-written-out", {"a.yaml": "defaults: [b.yaml]\n", "b.yaml": "b: 1\n"}, {"b": 1}),
    ("empty-list", {"a.yaml": "defaults: []\na: 1\n"}, {"a": 1}),
    ("only-self", {"a.yaml": "defaults: [_self_]\na: 1\n"}, {"a": 1}),
    (
        "mappings-merge-deeply",
        {"a.yaml": "defaults: b\nm: {y: 2, n: {q: 2}}\n", "b.yaml": "m: {x: 1, y: 1, n: {p: 1}}\n"},
        {"m": {"x": 1, "y": 2, "n": {"p": 1, "q": 2}}},
    ),
    ("lists-are-replaced", {"a.yaml": "defaults: b\nl: [3]\n", "b.yaml": "l: [1, 2]\n"}, {"l": [3]}),
    ("null-replaces-a-mapping", {"a.yaml": "defaults: b\nm: null\n", "b.yaml": "m: {x: 1}\n"}, {"m": None}),
    ("missing-value-keeps-the-base", {"a.yaml": "defaults: b\nx: ???\n", "b.yaml": "x: 1\n"}, {"x": 1}),
    (
        "interpolations-survive",
        {"a.yaml": "defaults: b\ny: ${x}\n", "b.yaml": "x: ${oc.env:HOME}\nr: ${run.wandb.project}\n"},
        {"x": "${oc.env:HOME}", "r": "${run.wandb.project}", "y": "${x}"},
    ),
    (
        "base-read-as-omegaconf", {"a.yaml": "defaults: b\n", "b.yaml": "lr: 1e-4\nd: 2024-05-01\n"},
        {"lr": 0.0001, "d": "2024-05-01"},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "expected"), [case[1:] for case in DEFAULTS], ids=[case[0] for case in DEFAULTS]
)
def test_defaults(tmp_path: Path, files: dict[str, str], expected: dict[str, Any]) -> None:
    write(tmp_path, files)
    data = load_config(tmp_path / "a.yaml")
    assert data == expected
    assert list(data) == list(expected)


DEFAULTS_ERRORS = [
    ("cycle", {"a.yaml": "defaults: b\n", "b.yaml": "x: 1\ndefaults:\n  - c\n  - a\n", "c.yaml": ""}, "b.yaml:4: defaults: cycle: a.yaml -> b.yaml -> a.yaml"),
    ("self-cycle", {"a.yaml": "x: 1\ndefaults: [_self_, a]\n"}, "a.yaml:2: defaults: cycle: a.yaml -> a.yaml"),
    ("cycle-in-a-subfolder", {"a.yaml": "defaults: s/b\n", "s/b.yaml": "defaults: [../a]\n"}, "s/b.yaml:1: defaults: cycle: a.yaml -> s/b.yaml -> a.yaml"),
    ("missing-base", {"a.yaml": "# comment\ndefaults:\n  - b\n  - phase9\n", "b.yaml": ""}, "a.yaml:4: defaults: no such config file 'phase9.yaml'"),
    ("missing-base-of-a-base", {"a.yaml": "defaults: b\n", "b.yaml": "defaults: nope\n"}, "b.yaml:1: defaults: no such config file 'nope.yaml'"),
    ("not-a-list", {"a.yaml": "defaults: 3\n"}, "a.yaml:1: defaults: must be a config name or a list of names (got 3)"),
    ("group-entry", {"a.yaml": "defaults:\n  - model: llama\n"}, "a.yaml:2: defaults: each entry must be a config name (got {'model': 'llama'})"),
    ("empty-name", {"a.yaml": "defaults: ['']\n"}, "a.yaml:1: defaults: each entry must be a config name (got '')"),
    ("self-twice", {"a.yaml": "defaults:\n  - _self_\n  - _self_\n"}, "a.yaml:3: defaults: lists _self_ twice"),
    ("list-over-mapping", {"a.yaml": "defaults: b\nm: [1]\n", "b.yaml": "m: {x: 1}\n"}, "a.yaml:2: m: cannot merge a list and a mapping (one here, the other in a config merged before)"),
    ("nested-clash", {"a.yaml": "defaults: b\nm:\n  n: {x: 1}\n", "b.yaml": "m: {n: [1]}\n"}, "a.yaml: m.n: cannot merge a list and a mapping (one here, the other in a config merged before)"),
    ("bad-interpolation", {"a.yaml": "defaults: b\n", "b.yaml": "q: ${oops\n"}, "b.yaml: q: invalid interpolation: no viable alternative at input '${oops'"),
    ("syntax-error-in-a-base", {"a.yaml": "defaults: b\n", "b.yaml": "a: [\n"}, "b.yaml:2: invalid YAML: did not find expected node content (column 1)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "message"),
    [case[1:] for case in DEFAULTS_ERRORS],
    ids=[case[0] for case in DEFAULTS_ERRORS],
)
def test_defaults_errors(tmp_path: Path, files: dict[str, str], message: str) -> None:
    write(tmp_path, files)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "a.yaml")
    assert str(caught.value) == f"{tmp_path}/{message}"


def test_defaults_name_files_by_the_path_they_were_asked_by(tmp_path: Path) -> None:
    write(tmp_path, {"c/a.yaml": "defaults: b\n", "c/b.yaml": "b: [\n"})
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c" / ".." / "c" / "a.yaml")
    assert str(caught.value).startswith(f"{tmp_path}/c/../c/b.yaml:2: invalid YAML: ")


# The OmegaConf dialect is OmegaConf's ---------------------------------------------------------

SCALARS = st.text(alphabet="0123456789eE+-._:xnaiftNIFyYo ", min_size=1, max_size=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=SCALARS)
def test_scalars_read_as_omegaconf_reads_them(tmp_path: Path, text: str) -> None:
    from omegaconf import OmegaConf

    path = tmp_path / "c.yaml"
    path.write_text(f"v: {text}\n", encoding="utf-8")
    try:
        ours: Any = load_config(path)
    except ConfigError:
        ours = "error"
    try:
        theirs: Any = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception:
        theirs = "error"
    assert ours == theirs or (_nan(ours) and _nan(theirs))


def _nan(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("v"), float) and math.isnan(data["v"])


def test_cookbook_configs_read_as_omegaconf_reads_them() -> None:
    from omegaconf import OmegaConf

    cookbook = Path(__file__).parent / "data" / "cookbook"
    files = sorted(cookbook.rglob("*.yaml"))
    assert len(files) > 20
    for path in files:
        if "defaults" not in _yaml.read_yaml(path, "omegaconf").data:
            assert load_config(path) == OmegaConf.to_container(OmegaConf.load(path)), path


# Saving --------------------------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
CONFIGS = st.dictionaries(st.text().filter(lambda key: key != "defaults"), JSON_VALUES, max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=CONFIGS)
def test_dump_round_trips_in_both_formats(tmp_path: Path, config: dict[str, Any]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config), encoding="utf-8")
    for fmt in ("yaml", "omegaconf"):
        back = load_config(path, fmt)
        assert back == config
        assert list(back) == list(config)


def test_dump_is_block_yaml_in_order(tmp_path: Path) -> None:
    config = {
        "train": {"lr": 1e-05, "steps": 10, "tags": ["a", "b"], "empty": {}},
        "data": "${run.data}/x",
        "looks_like": ["1e-4", "2024-05-01", "yes", "null", "12"],
        "text": "two\nlines\n",
        "none": None,
    }
    text = dump_config(config)
    assert text == (
        "train:\n"
        "  lr: 1.0e-05\n"
        "  steps: 10\n"
        "  tags:\n"
        "    - a\n"
        "    - b\n"
        "  empty: {}\n"
        "data: ${run.data}/x\n"
        "looks_like:\n"
        "  - '1e-4'\n"
        "  - '2024-05-01'\n"
        "  - 'yes'\n"
        "  - 'null'\n"
        "  - '12'\n"
        "text: |\n"
        "  two\n"
        "  lines\n"
        "none: null\n"
    )
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    assert load_config(tmp_path / "c.yaml") == config


def test_dump_takes_read_only_mappings_and_tuples() -> None:
    from types import MappingProxyType

    config = MappingProxyType({"a": MappingProxyType({"b": (1, 2)})})
    assert dump_config(config) == "a:\n  b:\n    - 1\n    - 2\n"


def test_dump_writes_shared_values_out_in_full() -> None:
    shared = {"x": 1}
    assert dump_config({"a": shared, "b": shared}) == "a:\n  x: 1\nb:\n  x: 1\n"


# Through the command line ---------------------------------------------------------------------

RECIPE = '[tool.runspec]\nname = "t"\n[tool.runspec.config]\nformat = "omegaconf"\n'

CLI_ERRORS = [
    ("invalid-yaml", {"default.yaml": "a: [1\n"}, "default.yaml:2: invalid YAML: did not find expected ',' or ']' (column 1), while parsing a flow sequence at line 1"),
    ("cycle", {"default.yaml": "defaults: b\n", "b.yaml": "defaults: default\n"}, "b.yaml:1: defaults: cycle: default.yaml -> b.yaml -> default.yaml"),
    ("missing-base", {"default.yaml": "defaults:\n  - base\n"}, "default.yaml:2: defaults: no such config file 'base.yaml'"),
    ("duplicate-key", {"default.yaml": "a: 1\na: 2\n"}, "default.yaml:2: duplicate key 'a' (first at line 1)"),
]  # fmt: skip


@pytest.mark.parametrize("command", ["config", "run"])
@pytest.mark.parametrize(
    ("files", "message"), [case[1:] for case in CLI_ERRORS], ids=[case[0] for case in CLI_ERRORS]
)
def test_cli_errors_are_one_line(
    cli: Any, write_recipe: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    command: str, files: dict[str, str], message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    script = write_recipe("r/train.py", RECIPE)
    write(script.parent / "config", files)
    result = cli(command, script)
    assert (result.code, result.out) == (1, "")
    assert result.err == f"runspec: error: {script.parent / 'config'}/{message}\n"
    assert not (tmp_path / ".runspec").exists()


def test_config_of_a_recipe_with_defaults(runspec: Any, tmp_path: Path) -> None:
    import json

    recipe = REPO / "examples" / "layered" / "train.py"
    done = runspec("config", str(recipe), "-c", "tiny", "train.lr=0.01", "--json", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    config = json.loads(done.stdout)
    assert {key: config[key] for key in ("model", "train", "data")} == {
        "model": {"name": "tiny-lm", "layers": 1, "hidden": 8},
        "train": {"steps": 10, "lr": 0.01, "seed": 0},
        "data": {"cache": "${oc.env:LAYERED_CACHE,/tmp/layered-cache}"},
    }
    assert config["run"]["config"]["path"] == str(recipe.parent / "config" / "tiny.yaml")
