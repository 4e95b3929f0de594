"""load_worker: calls per second one Locust worker sustains, against the delivery benchmark's floor.

The worker is `mockvapi.load` in a child process (Locust's library API, local runner: one process,
one core, as one `locust --worker`), its users playing the bundled `customer-hangs-up` call: a call
at realistic token rates, with model-output tokens, transcripts and speech updates subscribed
(~120 webhooks in 42 s of call). The calls are played faster than real time (speed 100) with more
users than the worker can serve, so the worker, not the script, sets the pace: deliveries per second
is its capacity, and calls per second that capacity divided by the webhooks of one call. At speed 1
the same worker therefore keeps `calls/s x 42 s` concurrent real-time calls going.

The floor is the delivery benchmark's (`bench.webhook.aiohttp_floor_run`): a bare aiohttp client posting the
same call's bodies, with the same headers, to the same receiver (`bench._peers`, its own process),
as many loops at once as the worker has users. Ratio: worker calls/s over floor calls/s.

Full mode then plays at real time (speed 1): 100, 200, 400, ... concurrent calls (users started over
10 s, run for 55 s, longer than a call) until deliveries leave more than 20 ms late at p99 (the
asyncio player's real-time goal); the largest N that kept up, divided by the call's length, is the
calls per second one worker sustains at realistic token rates.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from bench._core import Figure
from bench._peers import Peer
from bench.webhook import Post, aiohttp_floor_run
from mockvapi.engine.routing import route
from mockvapi.engine.simulator import CallSimulation, drive
from mockvapi.engine.timeline import render_message
from mockvapi.library import bundled_dir, resolve
from mockvapi.load.command import PATCHED_CHILD
from mockvapi.transports.envelope import delivery_headers, envelope_body

NAME = "load_worker"
SCENARIO = "customer-hangs-up"
USERS = 20
SPEED = 100.0
REALTIME_START = 100  # concurrent calls at speed 1 in full mode, doubled while the worker keeps up
REALTIME_MAX_USERS = 1600
REALTIME_P99_MS = 20.0
REALTIME_SECONDS = 55.0  # longer than one call (42 s), so calls start, run and end in the window
REALTIME_RAMP = 10.0  # seconds to start every user
GOAL_RATIO = 0.25  # the worker simulates and renders each message and keeps Locust stats; the floor only posts
ROOT = Path(__file__).resolve().parents[1]


def call_posts() -> tuple[list[Post], float]:
    """The webhook bodies and headers of one call, as the worker sends them, and the call's length."""
    sim = CallSimulation(resolve(SCENARIO))
    timeline = drive(sim)
    posts = []
    for event in timeline.events:
        if timeline.context.wants(event.message, "server"):
            wire = render_message(event, timeline.context, timeline.history, timeline.history_openai,
                                  "realistic", "server")
            body = envelope_body(wire)
            posts.append((body, delivery_headers(route(sim, event).server or {}, body, wire)))
    return posts, timeline.duration


async def worker_run(url: str, run_time: float, *, users: int = USERS, speed: float = SPEED,
                     spawn_rate: float = 1000) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PATCHED_CHILD, "--to", url, "--scenarios", str(bundled_dir() / f"{SCENARIO}.yaml"),
        "--users", str(users), "--spawn-rate", str(spawn_rate), "--run-time", str(run_time), "--speed", str(speed),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    async with asyncio.timeout(run_time + 60):
        out, err = await process.communicate()
    if not out.strip():
        raise RuntimeError(f"load worker printed no stats (exit {process.returncode}): {err.decode()[-800:]}")
    stats: dict[str, object] = json.loads(out)
    return stats


async def measure(quick: bool) -> list[Figure]:
    run_time, repeat = (5.0, 1) if quick else (10.0, 2)
    posts, duration = call_posts()
    per_call = len(posts)
    best: dict[str, object] | None = None
    best_rate = 0.0
    best_floor = float("inf")
    async with Peer("receiver") as receiver:
        url = f"http://127.0.0.1:{receiver.first_line.split()[1]}/hook"
        for _ in range(repeat):
            stats = await worker_run(url, run_time)
            entries = stats["entries"]
            assert isinstance(entries, list)
            delivered = sum(e["requests"] for e in entries if e["type"] == "webhook")
            failed = sum(e["failures"] for e in entries)
            if failed:
                raise RuntimeError(f"{failed} failures in the load run: {stats['errors']!r:.300}")
            rate = delivered / run_time
            if rate > best_rate:
                best_rate, best = rate, stats
            best_floor = min(best_floor, await aiohttp_floor_run(posts, url, USERS))
    assert best is not None
    floor_rate = len(posts) * USERS / best_floor
    calls, floor_calls = best_rate / per_call, floor_rate / per_call
    entries = best["entries"]
    assert isinstance(entries, list)
    completed = sum(e["requests"] for e in entries if e["type"] == "call")
    figures = [
        Figure(
            NAME, "calls/s one worker sustains", round(calls, 2), "calls/s", round(floor_calls, 2),
            round(calls / floor_calls, 3), f"≥ {GOAL_RATIO}× floor", calls / floor_calls >= GOAL_RATIO,
            f"{SCENARIO}: {per_call} webhooks in {duration:.0f}s of call; {USERS} users at speed {SPEED:g}; "
            f"= {calls * duration:.0f} concurrent real-time calls",
            {"deliveries_per_s": round(best_rate), "floor_deliveries_per_s": round(floor_rate),
             "completed_calls": completed, "run_time": run_time,
             "concurrent_realtime_calls": round(calls * duration)},
        ),
    ]
    if not quick:
        figures.extend(await realtime_search(calls, duration, floor_calls))
    return figures


async def realtime_run(url: str, users: int) -> dict[str, object]:
    stats = await worker_run(url, REALTIME_SECONDS, users=users, speed=1.0, spawn_rate=users / REALTIME_RAMP)
    entries = stats["entries"]
    assert isinstance(entries, list)
    stats["failed"] = sum(e["failures"] for e in entries)
    stats["delivered"] = sum(e["requests"] for e in entries if e["type"] == "webhook")
    return stats


async def realtime_search(capacity: float, duration: float, floor_calls: float) -> list[Figure]:
    """At speed 1, realistic token rates: the largest number of concurrent calls (doubling from
    REALTIME_START) whose deliveries leave within 20 ms of schedule at p99; calls/s = that / call length."""
    figures: list[Figure] = []
    best = 0
    async with Peer("receiver") as receiver:
        url = f"http://127.0.0.1:{receiver.first_line.split()[1]}/hook"
        users = REALTIME_START
        while users <= REALTIME_MAX_USERS:
            stats = await realtime_run(url, users)
            lateness = stats["lateness_ms"]
            assert isinstance(lateness, dict)
            kept_up = lateness["p99"] < REALTIME_P99_MS and not stats["failed"]
            figures.append(Figure(
                NAME, f"real time: {users} calls at once, delivery lateness p99", lateness["p99"], "ms", None, None,
                f"< {REALTIME_P99_MS:g} ms", kept_up,
                f"speed 1, {REALTIME_SECONDS:g} s, {users / duration:.1f} calls/s started; p50 {lateness['p50']} ms, "
                f"max {lateness['max']} ms, {stats['delivered']} deliveries, {stats['failed']} failures",
                {"users": users, "lateness_ms": lateness, "deliveries": stats["delivered"],
                 "failures": stats["failed"]},
            ))
            if not kept_up:
                break
            best = users
            users *= 2
    sustained = best / duration
    figures.append(Figure(
        NAME, "calls/s one worker sustains in real time (p99 lateness < 20 ms)", round(sustained, 2), "calls/s",
        round(floor_calls, 2), round(sustained / floor_calls, 3), None, None,
        f"{best} concurrent {SCENARIO} calls of {duration:.0f} s; capacity at speed {SPEED:g}: {capacity:.1f} calls/s",
        {"concurrent_calls": best},
    ))
    return figures


def run(quick: bool) -> list[Figure]:
    return asyncio.run(measure(quick))


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv):
        print(figure, figure.detail, figure.extra)
