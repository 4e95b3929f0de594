"""The loader: numbers that cannot be played and YAML merge keys (issue 14, items 8 and 15)."""

from __future__ import annotations

import pytest

from mockvapi.errors import ScenarioError
from mockvapi.scenario.loader import load_text


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_text(text, "s.yaml")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("  - tool: {name: t, result: {x: .inf}}", "4:33"),
        ("  - tool: {name: t, arguments: {n: -.inf}}", "4:36"),
        ("  - tool: {name: t, result: [1, .NaN]}", "4:33"),
        ("  - tool: {name: t, result: 99999999999999999999999}", "4:29"),
    ],
)
def test_a_non_finite_or_huge_number_anywhere_is_refused_at_its_place(body: str, where: str) -> None:
    problems = _problems(f"version: 1\nname: n\nsteps:\n{body}\n")
    assert any(p.startswith(f"s.yaml:{where}: ") for p in problems), problems


def test_merge_keys_merge_with_the_mappings_own_keys_winning() -> None:
    loaded = load_text(
        "version: 1\nname: m\nsteps:\n"
        "  - user: &base {say: Hello, after: 1s}\n"
        "  - user: {<<: *base, say: Bye}\n"
        "  - user: {<<: [*base], confidence: 0.5}\n"
    )
    second, third = (step.user for step in loaded.scenario.steps[1:])
    assert second is not None and (second.say, second.after) == ("Bye", 1.0)
    assert third is not None and (third.say, third.confidence) == ("Hello", 0.5)


def test_a_merge_of_something_that_is_not_a_mapping_says_so() -> None:
    problems = _problems("version: 1\nname: m\nsteps:\n  - user: {<<: 3}\n")
    assert problems == [
        "s.yaml:4:16: a merge key `<<` takes a mapping (`<<: *base`) or a list of them (`<<: [*a, *b]`)"
    ]


def test_merges_of_merges_are_bounded_like_an_alias_bomb() -> None:
    lines = ["version: 1", "name: m", "x0: &x0 {a0: 1, b0: 2}"]
    lines += [f"x{i}: &x{i} {{<<: [*x{i - 1}, *x{i - 1}], k{i}: {i}}}" for i in range(1, 40)]
    lines += ["steps: [user: hi]"]
    problems = _problems("\n".join(lines) + "\n")
    assert any("too many values" in p for p in problems), problems
