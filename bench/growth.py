"""growth: the cost of one call as its length doubles (10, 20, 40, 80 turns), against the bytes it must send;
and the cost of loading and simulating a scenario as the file grows, over steps and over words.

Every server message carries the whole history so far (conversation-update twice over, every other
message in its artifact), so the bytes a call must send grow about with the square of its length.
Each point plays the call in virtual time into a webhook target that costs nothing (bench._play) and,
as its floor, json.dumps the same webhook bodies. The summary compares growth from the shortest to the
longest call: the cost may grow no faster than the bytes (ratio <= 1).

Scenario size (issue 14, item 13): files of 1,000 to 8,000 steps, and one answer of 25,000 to 200,000
words, each loaded (`load_text`) and simulated (`simulate`). The floor is PyYAML composing the same
text, which loading cannot avoid. Loading and simulating must be linear in the file's size: their
growth from the smallest file to the largest may exceed the size's growth by at most a quarter.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from functools import partial

import yaml

from bench._core import Figure, best_of
from bench._play import NullTarget, dumps, envelopes, play_null
from bench._scenarios import support_call
from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.simulator import simulate
from mockvapi.scenario.loader import LoadedScenario, load_text

NAME = "growth"
LENGTHS = (10, 20, 40, 80)
STEPS = (1_000, 2_000, 4_000, 8_000)
WORDS = (25_000, 50_000, 100_000, 200_000)
LINEAR = 1.25  # growth of cost / growth of size allowed (noise, GC), far below quadratic's 8x


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
    figures += _sizes("steps", STEPS[:3] if quick else STEPS, _steps_file, repeat)
    figures += _sizes("words", WORDS[:3] if quick else WORDS, _words_file, repeat)
    return figures


def _steps_file(count: int) -> str:
    turns = ('  - user: "Hello number {}"\n', '  - assistant: "Reply {}, thanks"\n')
    return "version: 1\nname: steps\nsteps:\n" + "".join(turns[i % 2].format(i) for i in range(count))


def _words_file(count: int) -> str:
    words = " ".join(f"word{i % 1000}" for i in range(count))
    return f'version: 1\nname: words\nsteps:\n  - user: hi\n  - assistant: "{words}"\n'


def _sizes(kind: str, sizes: tuple[int, ...], make: Callable[[int], str], repeat: int) -> list[Figure]:
    """Load and simulate files of growing size; one figure per size and stage, then the growth ratios."""
    figures = []
    points: dict[str, list[tuple[int, float, int]]] = {"load": [], "simulate": []}
    floors: list[float] = []
    for size in sizes:
        text = make(size)
        floor = best_of(repeat, partial(yaml.compose, text, Loader=yaml.SafeLoader))
        floors.append(floor)
        loaded = load_text(text)
        costs = {
            "load": best_of(repeat, partial(load_text, text)),
            "simulate": best_of(repeat, partial(simulate, loaded)),
        }
        for stage, cost in costs.items():
            points[stage].append((size, cost, len(text)))
            figures.append(Figure(
                NAME, f"{stage} {size} {kind}", round(cost * 1000, 2), "ms", round(floor * 1000, 2),
                round(cost / floor, 2), None, None, f"{len(text) / 1e6:.2f} MB",
                {kind: size, "bytes": len(text), "ns_per_byte": cost / len(text) * 1e9},
            ))
    for stage, series in points.items():
        (n0, c0, b0), (n1, c1, b1) = series[0], series[-1]
        cost_growth, size_growth = c1 / c0, b1 / b0
        exponent = math.log(cost_growth) / math.log(n1 / n0)
        figures.append(Figure(
            NAME, f"{stage} growth {n0} -> {n1} {kind}", round(cost_growth, 2), "x", round(size_growth, 2),
            round(cost_growth / size_growth, 2), f"≤ {LINEAR} x size growth (linear)",
            cost_growth <= LINEAR * size_growth,
            # PyYAML's own growth beside it: where the parser is superlinear, that part is its floor.
            f"cost ~ {kind}^{exponent:.2f}; PyYAML compose grew {floors[-1] / floors[0]:.2f}x",
            {"points": [{kind: n, "seconds": c, "bytes": b} for n, c, b in series],
             "compose_growth": floors[-1] / floors[0]},
        ))
    return figures
