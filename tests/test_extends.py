"""``extends`` chains: resolving and listing cost time linear in the chain's length.

No clock is read: the work is counted as Python function calls (``sys.setprofile``),
which is the same on a loaded machine as on an idle one. Doubling the chain must
roughly double the calls; a quadratic walk would quadruple them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runspec.errors import ProfileError
from runspec.profiles import EnvFile, check_env_file, render_listing


def _chain_file(size: int) -> str:
    lines = ["[p0]", 'executor = "local"', "nodes = 1"]
    for index in range(1, size):
        lines += [f"[p{index}]", f'extends = "p{index - 1}"', f"key{index} = {index}"]
    return "\n".join(lines) + "\n"


def _cycle_file(size: int) -> str:
    lines = []
    for index in range(size):
        lines += [f"[p{index}]", f'extends = "p{(index + 1) % size}"']
    return "\n".join(lines) + "\n"


def _calls(work: Callable[[], object]) -> int:
    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def _listing(text: str) -> Callable[[], object]:
    return lambda: render_listing(EnvFile.from_text(text, "env.toml"))


def _resolving_last(size: int) -> Callable[[], object]:
    text = _chain_file(size)
    return lambda: EnvFile.from_text(text, "env.toml").resolve(f"p{size - 1}")


def _checking(text: str) -> Callable[[], object]:
    return lambda: check_env_file(EnvFile.from_text(text, "env.toml"))


WORKS = {
    "list-chain": lambda size: _listing(_chain_file(size)),
    "list-cycle": lambda size: _listing(_cycle_file(size)),
    "resolve-chain": _resolving_last,
    "check-chain": lambda size: _checking(_chain_file(size)),
    "check-cycle": lambda size: _checking(_cycle_file(size)),
}


@pytest.mark.parametrize("work", WORKS.values(), ids=WORKS)
def test_work_is_linear_in_the_chain(work: Callable[[int], Callable[[], object]]) -> None:
    small, large = _calls(work(500)), _calls(work(1000))
    assert large < 2.4 * small, (small, large)


def test_a_2000_profile_chain_resolves_and_lists() -> None:
    env = EnvFile.from_text(_chain_file(2000), "env.toml")
    profile = env.resolve("p1999")
    assert profile.chain[:2] == ("p1999", "p1998") and len(profile.chain) == 2000
    assert profile.values["key1999"] == 1999 and profile.values["nodes"] == 1
    assert profile.origins["key5"] == "p5" and profile.origins["executor"] == "p0"
    assert profile.leaf_origins[("nodes",)] == "p0"
    listing = render_listing(env)
    assert listing.count("\n") == 2001 and "error" not in listing


def test_a_1000_profile_cycle_lists_with_short_messages() -> None:
    env = EnvFile.from_text(_cycle_file(1000), "env.toml")
    rows = render_listing(env).splitlines()[1:]
    assert len(rows) == 1000
    assert rows[0] == (
        "! p0    extends p1    error: env.toml:2: [p0].extends: "
        "cycle p0 -> p1 -> p2 -> ... -> p998 -> p999 -> p0"
    )
    assert rows[999].endswith("[p999].extends: cycle p999 -> p0 -> p1 -> ... -> p997 -> p998 -> p999")
    with pytest.raises(ProfileError) as caught:
        env.resolve("p500")
    assert str(caught.value) == (
        "env.toml:1002: [p500].extends: cycle p500 -> p501 -> p502 -> ... -> p498 -> p499 -> p500"
    )


def test_a_long_chain_to_an_unknown_profile_names_its_ends(tmp_path: Path) -> None:
    text = _chain_file(50).replace('[p0]\nexecutor = "local"', '[p0]\nextends = "gone"')
    env = EnvFile.from_text(text, "env.toml")
    with pytest.raises(ProfileError) as caught:
        env.resolve("p49")
    assert str(caught.value) == (
        "env.toml:2: [p0].extends: unknown profile 'gone' (chain: p49 -> p48 -> p47 -> ... -> p0 -> gone)"
    )
    with pytest.raises(ProfileError) as caught:
        env.resolve("p3")
    assert str(caught.value) == (
        "env.toml:2: [p0].extends: unknown profile 'gone' (chain: p3 -> p2 -> p1 -> p0 -> gone)"
    )
    [problem] = [p for p in check_env_file(env) if p.severity == "error"]
    assert str(problem) == (
        "env.toml:2: error: [p0].extends: unknown profile 'gone' (chain: p0 -> gone)"
    )


def test_a_chain_entering_a_cycle_reports_it_at_the_entry() -> None:
    text = '[x]\nextends = "a"\n[a]\nextends = "b"\n[b]\nextends = "a"\n'
    env = EnvFile.from_text(text, "env.toml")
    with pytest.raises(ProfileError, match=r"^env\.toml:4: \[a\]\.extends: cycle a -> b -> a$"):
        env.resolve("x")
    errors = [str(p) for p in check_env_file(env)]
    assert errors == [
        "env.toml:4: error: [a].extends: cycle a -> b -> a",
        "env.toml:6: error: [b].extends: cycle b -> a -> b",
    ]


def test_a_type_error_high_in_the_chain_is_reported_for_every_descendant() -> None:
    text = _chain_file(300).replace("nodes = 1", 'nodes = "many"')
    env = EnvFile.from_text(text, "env.toml")
    for name in ("p0", "p150", "p299"):
        with pytest.raises(ProfileError, match=r"^env\.toml:3: \[p0\]\.nodes: must be int >= 1"):
            env.resolve(name)
    assert render_listing(env).count("[p0].nodes: must be int >= 1") == 300
