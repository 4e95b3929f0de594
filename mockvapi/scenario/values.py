"""Small value types of the scenario language: durations, percentages, token counts.

Every number a scenario gives is finite and in a documented range (README, "Numbers"), checked when
the file loads: a NaN, an infinity or `99999999999999999999m` would otherwise surface much later as
an OverflowError in the simulator, far from the line that caused it.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|sec|m|min)?\s*$")
_UNIT_SECONDS = {None: 1.0, "s": 1.0, "sec": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0}
# Vapi's own ceiling for a call (maxDurationSeconds <= 43200): no pause, latency or offset is longer.
MAX_DURATION_SECONDS = 43_200.0
# An interruption `N tokens` into an answer: more tokens than any answer a scenario file can hold.
MAX_CUT_TOKENS = 1_000_000


def finite(value: float, what: str) -> float:
    """`value`, or ValueError if it is NaN or infinite (YAML `.nan`, `.inf`)."""
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return value


def parse_duration(value: Any) -> float:
    """`650ms`, `1.4s`, `2m` or a bare number of seconds -> seconds (never negative)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 650ms, 1.4s or 2m")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"expected a duration like 650ms, 1.4s or 2m, got {value!r:.60}")
    finite(seconds, "a duration")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r:.60}")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(
            f"a duration can be at most {MAX_DURATION_SECONDS:g}s (12 hours, Vapi's longest call), got {value!r:.60}"
        )
    return seconds


def parse_fraction(value: Any) -> float:
    """`15%` or `0.15` -> 0.15, between 0 and 1."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage like 15%")
    if isinstance(value, str):
        text = value.strip()
        try:
            fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"expected a percentage like 15%, got {value!r:.60}") from None
    elif isinstance(value, int | float):
        fraction = float(value)
    else:
        raise ValueError(f"expected a percentage like 15%, got {value!r:.60}")
    finite(fraction, "a percentage")
    if not 0 <= fraction <= 1:
        raise ValueError(f"a percentage must be between 0% and 100%, got {value!r}")
    return fraction


_TOKENS = re.compile(r"^\s*(\d+)\s*tokens?\s*$")


def parse_cut_point(value: Any) -> tuple[str, float]:
    """An interruption point: `9 tokens` -> ("tokens", 9); `1.4s` -> ("seconds", 1.4)."""
    if isinstance(value, str) and (match := _TOKENS.match(value)):
        digits = match.group(1).lstrip("0") or "0"
        if len(digits) > len(str(MAX_CUT_TOKENS)) or int(digits) > MAX_CUT_TOKENS:
            raise ValueError(f"an interruption comes at most {MAX_CUT_TOKENS:,} tokens in, got {value!r:.60}")
        count = int(digits)
        if count < 1:
            raise ValueError("an interruption needs at least 1 token before it")
        return ("tokens", float(count))
    if isinstance(value, str) and not _DURATION.match(value):
        raise ValueError(f"expected `N tokens` or a duration like 1.4s, got {value!r:.60}")
    return ("seconds", parse_duration(value))


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": MAX_DURATION_SECONDS},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|sec|m|min)?\s*$"},
    ],
    "description": "A duration: seconds, or a string like 650ms, 1.4s, 2m.",
}
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)]
Fraction = Annotated[
    float,
    BeforeValidator(parse_fraction),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "string"}],
            "description": "A fraction: 0.15 or 15%.",
        }
    ),
]
CutPoint = Annotated[
    tuple[str, float],
    BeforeValidator(parse_cut_point),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}],
            "description": "`N tokens` or a duration such as 1.4s.",
        }
    ),
]
