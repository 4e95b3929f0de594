"""simulate: messages per second of a 50-turn call in virtual time, against json.dumps of the same messages.

simulate() plus rendering every message of both sides is what mockvapi must do before any transport;
serialising those messages (json.dumps) is what any delivery must do at least: the floor. A second
figure plays the same call through the player into a webhook target that costs nothing (render,
encode, sign and journal every server message), against json.dumps of those webhook bodies.
Goal: within 3x of the floor (ratio >= 0.33).
"""

from __future__ import annotations

import asyncio
import json

from bench._core import Figure, best_of
from bench._play import NullTarget, dumps, envelopes, play_null
from bench._scenarios import support_call
from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.simulator import simulate

NAME = "simulate"
GOAL_RATIO = 1 / 3


def run(quick: bool) -> list[Figure]:
    repeat = 3 if quick else 9
    loaded = support_call(50)
    timeline = simulate(loaded)
    messages = timeline.messages(side="server") + timeline.messages(side="client")
    count = len(messages)

    def produce() -> None:
        t = simulate(loaded)
        t.messages(side="server")
        t.messages(side="client")

    sim_s = best_of(repeat, produce)
    floor_s = best_of(repeat, lambda: [json.dumps(m, separators=(",", ":"), ensure_ascii=False) for _, m in messages])
    turns = sum(1 for item in timeline.history if item["role"] in ("bot", "user"))
    detail = f"{turns} turns, {timeline.duration / 60:.0f} min, {count} messages"
    figures = [_rate("simulate() + render both sides", count, sim_s, floor_s, detail)]

    bodies = envelopes(loaded)
    clock = VirtualClock()
    target = NullTarget()
    play_s = best_of(repeat, lambda: asyncio.run(play_null(loaded, clock, target)))
    size = dumps(bodies)
    bodies_floor_s = best_of(repeat, lambda: dumps(bodies))
    figures.append(_rate("play into a null webhook (virtual clock)", len(bodies), play_s, bodies_floor_s,
                         f"{len(bodies)} webhooks, {size / 1e6:.1f} MB"))
    return figures


def _rate(name: str, count: int, seconds: float, floor_seconds: float, detail: str) -> Figure:
    value, floor = count / seconds, count / floor_seconds
    ratio = value / floor
    return Figure(NAME, name, round(value), "msg/s", round(floor), round(ratio, 3), "≥ 0.33× floor (within 3×)",
                  ratio >= GOAL_RATIO, detail, {"seconds": seconds, "floor_seconds": floor_seconds, "messages": count})
