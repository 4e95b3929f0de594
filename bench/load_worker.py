"""load_worker: calls per second one Locust worker sustains, against the delivery benchmark's floor.

The worker is `mockvapi.load` in a child process (Locust's library API, local runner: one process,
one core, as one `locust --worker`), its users playing the bundled `customer-hangs-up` call: a call
at realistic token rates, with model-output tokens, transcripts and speech updates subscribed
(~120 webhooks in 42 s of call). The calls are played faster than real time (speed 100) with more
users than the worker can serve, so the worker, not the script, sets the pace: deliveries per second
is its capacity, and calls per second that capacity divided by the webhooks of one call. At speed 1
the same worker therefore keeps `calls/s x 42 s` concurrent real-time calls going.

The floor is the delivery benchmark's (`bench.webhook.floor_run`): a bare aiohttp client posting the
same call's bodies, with the same headers, to the same receiver (`bench._peers`, its own process),
as many loops at once as the worker has users. Ratio: worker calls/s over floor calls/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from bench._core import Figure
from bench._peers import Peer
from bench.webhook import Post, floor_run
from mockvapi.engine.routing import route
from mockvapi.engine.simulator import CallSimulation, drive, render_message
from mockvapi.library import bundled_dir, resolve
from mockvapi.load.command import PATCHED_CHILD
from mockvapi.transports.envelope import delivery_headers, envelope_body

NAME = "load_worker"
SCENARIO = "customer-hangs-up"
USERS = 20
SPEED = 100.0
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


async def worker_run(url: str, run_time: float) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PATCHED_CHILD, "--to", url, "--scenarios", str(bundled_dir() / f"{SCENARIO}.yaml"),
        "--users", str(USERS), "--spawn-rate", "1000", "--run-time", str(run_time), "--speed", str(SPEED),
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
            best_floor = min(best_floor, await floor_run(posts, url, USERS))
    assert best is not None
    floor_rate = len(posts) * USERS / best_floor
    calls, floor_calls = best_rate / per_call, floor_rate / per_call
    entries = best["entries"]
    assert isinstance(entries, list)
    completed = sum(e["requests"] for e in entries if e["type"] == "call")
    return [
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


def run(quick: bool) -> list[Figure]:
    return asyncio.run(measure(quick))


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv):
        print(figure, figure.detail, figure.extra)
