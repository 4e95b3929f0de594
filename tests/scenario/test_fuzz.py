"""Fuzzing the scenario loader: whatever text it is given, it loads it or raises ScenarioError
pointing at file:line:col; never another exception, never a hang, never unbounded memory.

Inputs: random YAML-ish text, random YAML documents, and random mutations of the bundled
scenarios (keys deleted, duplicated or retyped, values swapped, text truncated, junk inserted).
What loads is also played (`mockvapi validate` does both), so the simulator is fuzzed too.
Every example runs under a work bound (a count of calls, see `work_bound`), not a time bound, so a
busy machine cannot fail it; hostile inputs (alias bombs, deep nesting, huge files) are refused
within a small work bound with an error naming the file and the limit.
"""

from __future__ import annotations

import contextlib
import resource
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockvapi import cli
from mockvapi.engine.simulator import simulate
from mockvapi.errors import ScenarioError
from mockvapi.library import bundled_paths
from mockvapi.scenario.loader import Limits, load_file, load_text

BUNDLED = {p.name: p.read_text(encoding="utf-8") for p in bundled_paths()}
FUZZ = settings(
    max_examples=100,
    deadline=None,  # the work bound below is the per-example limit; a deadline would flake on a busy box
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Work bounds, in profiler events (calls and returns, Python and C). Measured: playing the largest
# bundled scenario is ~0.3 M events, refusing a 9-level alias bomb ~1.7 M; a loop that never ends
# passes any bound. Counts do not depend on the machine or its load.
WORK_BOUND = 20_000_000
HOSTILE_WORK_BOUND = 5_000_000


class Hang(Exception):
    """An example did more work than its bound allows."""


@contextlib.contextmanager
def work_bound(events: int) -> Iterator[None]:
    """Raise Hang inside the block once it has made more than `events` calls and returns.

    A profile hook counts them (a loop without any call would escape it; the loader and simulator
    have none that could run away: every loop of theirs calls something)."""
    count = 0

    def tick(frame: FrameType, event: str, arg: object) -> None:
        nonlocal count
        count += 1
        if count > events:
            sys.setprofile(None)  # the hook is off before the exception unwinds
            raise Hang(f"still running after {events:,} calls and returns")

    previous = sys.getprofile()
    sys.setprofile(tick)
    try:
        yield
    finally:
        sys.setprofile(previous)


def loads_or_refuses(text: str, file: str = "fuzz.yaml") -> ScenarioError | None:
    """Load and play `text`; None if it worked, the ScenarioError if it was refused.
    Any other exception (or Hang) escapes and fails the test."""
    with work_bound(WORK_BOUND):
        try:
            simulate(load_text(text, file))
        except ScenarioError as exc:
            error = exc
        else:
            return None
    assert error.problems, "a ScenarioError must say what is wrong"
    for problem in error.problems:
        assert problem.location.file == file
        assert problem.location.line >= 1 and problem.location.column >= 1
        assert str(problem).startswith(f"{file}:{problem.location.line}:{problem.location.column}: ")
    return error


def test_bundled_scenarios_load_under_the_bound() -> None:
    for name, text in BUNDLED.items():
        assert loads_or_refuses(text, name) is None, name


# --- random text --------------------------------------------------------------------------------

_YAML_CHARS = list("-:[]{},&*!|>'\"#%?@`~ \n\t.0123456789abcxyz") + ["version: 1\n", "steps:\n", "  - "]
yaml_ish = st.lists(st.sampled_from(_YAML_CHARS) | st.characters(), max_size=200).map("".join)


@FUZZ
@given(text=yaml_ish)
def test_random_text_loads_or_is_refused(text: str) -> None:
    loads_or_refuses(text)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["1.4s", "650ms", "15%", "9 tokens", "-1s", ".inf", "nan", "customer-ended-call"])
)
_keys = st.sampled_from(
    ["version", "name", "steps", "assistant", "call", "user", "say", "tool", "end", "silence", "transfer",
     "expect", "server", "url", "seed", "latency", "interrupt", "faults", "id", "result", "arguments"]
) | st.text(max_size=8)
documents = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=25
)


@FUZZ
@given(doc=documents)
def test_random_documents_load_or_are_refused(doc: Any) -> None:
    loads_or_refuses(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(steps=st.lists(st.dictionaries(_keys, documents, min_size=1, max_size=2), max_size=5))
def test_random_steps_in_a_valid_scenario_load_or_are_refused(steps: list[Any]) -> None:
    loads_or_refuses(yaml.safe_dump({"version": 1, "name": "fuzz", "steps": steps}, allow_unicode=True))


# --- mutations of the bundled scenarios -----------------------------------------------------------


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a document (the root excluded)."""
    out = [path] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*path, index))
    return out


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(BUNDLED)))
    data = yaml.safe_load(BUNDLED[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        op = draw(st.sampled_from(["delete", "retype", "swap", "duplicate"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "retype":
            parent[path[-1]] = draw(documents)
        elif op == "swap":
            other = draw(st.sampled_from(paths))
            if other[: len(path)] != path and path[: len(other)] != other:
                other_parent = _parent(data, other)
                parent[path[-1]], other_parent[other[-1]] = other_parent[other[-1]], parent[path[-1]]
        elif isinstance(parent, list):
            parent.insert(path[-1], parent[path[-1]])
        else:
            parent[f"{path[-1]}{draw(st.sampled_from(['', 's', '_', 'X']))}"] = parent[path[-1]]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@FUZZ
@given(text=mutated_documents())
def test_mutated_bundled_scenarios_load_or_are_refused(text: str) -> None:
    loads_or_refuses(text)


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    text = BUNDLED[draw(st.sampled_from(sorted(BUNDLED)))]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["truncate", "junk", "dup-line", "drop-line", "dup-key"]))
        lines = text.split("\n")
        line = min(at * len(lines) // max(len(text), 1), len(lines) - 1)
        if op == "truncate":
            text = text[:at]
        elif op == "junk":
            text = text[:at] + draw(yaml_ish) + text[at:]
        elif op == "dup-line":
            text = "\n".join(lines[: line + 1] + lines[line:])
        elif op == "drop-line":
            text = "\n".join(lines[:line] + lines[line + 1 :])
        else:
            # a key repeated at the same indentation: always a duplicate-key problem
            text = "\n".join(lines[: line + 1] + [lines[line]] + lines[line + 1 :]) if ":" in lines[line] else text
    return text


@FUZZ
@given(text=mutated_texts())
def test_mutated_bundled_texts_load_or_are_refused(text: str) -> None:
    loads_or_refuses(text)


def test_fuzzing_kept_memory_bounded() -> None:
    """Peak RSS of this process stays sane after a burst of hostile inputs (a cheap, coarse
    bound: the targeted tests below measure the loader's own allocations exactly)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for text in [_alias_bomb(9), _alias_bomb(12), "[" * 100_000, "a:\n" + "  " * 5000 + "b: 1\n"]:
        assert loads_or_refuses(text) is not None
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"peak RSS grew {grown_mb:.0f} MB"


# --- hostile inputs, refused quickly with a clear error -----------------------------------------


def _alias_bomb(levels: int) -> str:
    """Billion laughs: each level is a list of nine aliases of the level before (9**levels values)."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def peak_memory_below(megabytes: float) -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < megabytes * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def refused(text: str, file: str = "hostile.yaml", limits: Limits | None = None) -> str:
    with work_bound(HOSTILE_WORK_BOUND), peak_memory_below(64), pytest.raises(ScenarioError) as info:
        load_text(text, file, limits=limits)
    message = str(info.value)
    assert message.startswith(f"{file}:"), message
    assert len(info.value.problems) == 1, message
    return message


def test_alias_bomb_is_refused_naming_the_limit() -> None:
    message = refused(_alias_bomb(9))
    assert "alias bomb" in message
    assert "more than 100000 (the limit)" in message


def test_alias_bomb_limit_is_configurable() -> None:
    message = refused(_alias_bomb(3), limits=Limits(max_values=50))
    assert "more than 50 (the limit)" in message


def test_modest_alias_use_still_loads() -> None:
    text = BUNDLED["happy-path.yaml"].replace("steps:", "x-anchors: &says [hello]\nsteps:", 1)
    assert "x-anchors" in text
    with pytest.raises(ScenarioError, match="unknown key 'x-anchors'"):
        load_text(text)  # the anchor itself parsed fine; only the unknown key is refused


def test_recursive_alias_is_refused() -> None:
    message = refused("a: &a [1, *a]\n")
    assert "recursive alias" in message


@pytest.mark.parametrize("opener", ["[", "- ", "{a: "])
def test_deep_nesting_is_refused_naming_the_limit(opener: str) -> None:
    text = opener * 10_000 if opener != "- " else "".join("  " * i + "-\n" for i in range(200))
    message = refused(text)
    assert "nested too deeply: more than 64 levels (the limit)" in message


def test_nested_block_mappings_are_refused() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n"
    assert "nested too deeply" in refused(text)


def test_huge_text_is_refused_naming_the_limit() -> None:
    text = "version: 1\nname: big\nsteps: []\n" + "# padding\n" * 500_000
    message = refused(text)
    assert "file too large: 5,000,031 bytes, the limit is 4,194,304 bytes" in message


def test_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: 64 MB of NULs, nearly free on disk
    with work_bound(HOSTILE_WORK_BOUND), peak_memory_below(16), pytest.raises(ScenarioError) as info:
        load_file(path)
    assert str(info.value).startswith(f"{path}:1:1: file too large:")
    assert "the limit is 4,194,304 bytes" in str(info.value)


def test_size_limit_is_configurable_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKVAPI_SCENARIO_MAX_BYTES", "100")
    with pytest.raises(ScenarioError, match="the limit is 100 bytes"):
        load_text(BUNDLED["happy-path.yaml"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nname: x\nsteps: []\nseed: " + "9" * 10_000 + "\n", "4:7: invalid value"),
        ("version: 1\nname: x\nsteps: []\nseed: 2001-02-30\n", "4:7: invalid value"),
        ("version: 1\nname: x\nsteps: !!python/name:os.system ''\n", "3:8: invalid YAML"),
        ("version: 1\nname: x\x08\n", "2:8: invalid YAML: special characters are not allowed"),
        ("version: 1\nname: x\nsteps:\n  - user:\n", "4:5: `user:` is empty"),
        ("version: 1\n? [a, b]\n: 1\n", "2:3: a key must be a plain name"),
    ],
)
def test_bad_scalars_and_keys_are_located(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_text(text, "bad.yaml")
    assert f"bad.yaml:{expected}" in str(info.value)


# --- the CLI ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (_alias_bomb(9), "alias bomb"),
        ("[" * 10_000 + "]" * 10_000, "nested too deeply"),
        ("a: &a [*a]\n", "recursive alias"),
    ],
    ids=["alias-bomb", "deep", "recursive"],
)
def test_cli_validate_refuses_hostile_files_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(content, encoding="utf-8")
    with work_bound(HOSTILE_WORK_BOUND):
        code = cli.main(["validate", str(path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.out + captured.err
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out
    assert lines[0].startswith(f"{path}:") and expected in lines[0]


def test_cli_validate_refuses_a_huge_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(8 * 1024 * 1024)
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{path}:1:1: file too large: 8,388,608 bytes, the limit is 4,194,304 bytes")
    assert "\n" not in out


def test_the_work_bound_stops_a_runaway_loop() -> None:
    def forever() -> None:
        while True:
            len("calls something")

    with pytest.raises(Hang, match="still running after 1,000 calls and returns"), work_bound(1_000):
        forever()
    assert sys.getprofile() is None  # the hook is gone afterwards
