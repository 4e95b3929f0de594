"""growth: the cost of one call as its length doubles (10, 20, 40, 80 turns), against the bytes it must send.

Every server message carries the whole history so far (conversation-update twice over, every other
message in its artifact), so the bytes a call must send grow about with the square of its length.
Each point plays the call in virtual time into a webhook target that costs nothing (bench._play) and,
as its floor, json.dumps the same webhook bodies. The summary compares growth from the shortest to the
longest call: the cost may grow no faster than the bytes (ratio <= 1).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from functools import partial

from bench._core import Figure, best_of
from bench._play import NullTarget, dumps, envelopes, play_null
from bench._scenarios import support_call
from mockvapi.engine.clock import VirtualClock
from mockvapi.scenario.loader import LoadedScenario

NAME = "growth"
LENGTHS = (10, 20, 40, 80)


def _player(loaded: LoadedScenario, clock: VirtualClock, target: NullTarget) -> Callable[[], None]:
    return lambda: asyncio.run(play_null(loaded, clock, target))


def run(quick: bool) -> list[Figure]:
    repeat = 3 if quick else 7
    clock = VirtualClock()
    figures = []
    points: list[tuple[int, float, int]] = []
    for turns in LENGTHS:
        loaded = support_call(turns)
        bodies = envelopes(loaded)
        size = dumps(bodies)
        target = NullTarget()
        cost = best_of(repeat, _player(loaded, clock, target))
        floor = best_of(repeat, partial(dumps, bodies))
        points.append((turns, cost, size))
        figures.append(Figure(
            NAME, f"{turns} turns: one call", round(cost * 1000, 2), "ms", round(floor * 1000, 2),
            round(cost / floor, 2), None, None, f"{len(bodies)} webhooks, {size / 1e6:.2f} MB",
            {"turns": turns, "bytes": size, "webhooks": len(bodies), "ns_per_byte": cost / size * 1e9},
        ))
    (t0, c0, b0), (t1, c1, b1) = points[0], points[-1]
    cost_growth, bytes_growth = c1 / c0, b1 / b0
    exponent = math.log(cost_growth) / math.log(t1 / t0)
    bytes_exponent = math.log(bytes_growth) / math.log(t1 / t0)
    figures.append(Figure(
        NAME, f"cost growth {t0} -> {t1} turns", round(cost_growth, 2), "x", round(bytes_growth, 2),
        round(cost_growth / bytes_growth, 2), "≤ bytes growth (ratio ≤ 1)", cost_growth <= bytes_growth,
        f"cost ~ turns^{exponent:.2f}, bytes ~ turns^{bytes_exponent:.2f}",
        {"points": [{"turns": t, "seconds": c, "bytes": b} for t, c, b in points]},
    ))
    return figures
