"""Durations, percentages and cut points: finite and in their documented ranges (issue 14, item 8)."""

from __future__ import annotations

import math

import pytest

from mockvapi.scenario.values import MAX_DURATION_SECONDS, parse_cut_point, parse_duration, parse_fraction


@pytest.mark.parametrize(("text", "seconds"), [("650ms", 0.65), ("1.4s", 1.4), ("2m", 120.0), (3, 3.0), ("12h", None)])
def test_durations(text: object, seconds: float | None) -> None:
    if seconds is None:
        with pytest.raises(ValueError):
            parse_duration(text)
    else:
        assert math.isclose(parse_duration(text), seconds)


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, -1, "-1s", "99999999999999999999m", "9" * 400, MAX_DURATION_SECONDS + 1, True],
)
def test_durations_that_are_not_finite_or_in_range_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_the_longest_duration_is_vapis_longest_call() -> None:
    assert parse_duration("720m") == MAX_DURATION_SECONDS == 43_200


@pytest.mark.parametrize("value", [math.nan, math.inf, "nan%", "inf", -0.1, "101%"])
def test_fractions_outside_0_to_1_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="percentage"):
        parse_fraction(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, "0 tokens", "99999999999999999999999 tokens", "1e9s"])
def test_cut_points_that_cannot_be_played_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_cut_point(value)


def test_cut_points() -> None:
    assert parse_cut_point("9 tokens") == ("tokens", 9.0)
    assert parse_cut_point("1.4s") == ("seconds", 1.4)
