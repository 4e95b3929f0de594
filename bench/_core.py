"""What every benchmark reports: figures, each a value beside the floor measured in the same run.

A benchmark module in `bench/` exposes ``NAME: str`` and ``run(quick: bool) -> list[Figure]``;
`python -m bench` runs them, writes `bench/results.json` and the table in `docs/benchmarks.md`.
Quick mode keeps the whole suite under two minutes (CI smoke); full mode is the published run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One measured figure. ``ratio`` is value/floor; ``met`` says whether ``goal`` holds (None: no goal)."""

    benchmark: str
    name: str
    value: float
    unit: str
    floor: float | None = None
    ratio: float | None = None
    goal: str | None = None
    met: bool | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __repr__(self) -> str:
        ratio = f" ({self.ratio:.2f}x floor {self.floor:g})" if self.ratio is not None and self.floor else ""
        verdict = "" if self.met is None else (" met" if self.met else " MISSED")
        return f"Figure({self.benchmark}/{self.name}: {self.value:g} {self.unit}{ratio}{verdict})"


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """The fastest of `repeat` runs of `action`, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def percentile(values: list[float], pct: float) -> float:
    """The `pct` percentile (0-100) of `values`, nearest-rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
