"""webhook: messages per second mockvapi delivers to a minimal aiohttp receiver on loopback, against the
cheapest bare way to send the same bytes: its own lean HTTP/1.1 client posting the ready-made bodies.

The receiver runs in its own process (bench._peers). mockvapi plays a 50-turn call on a virtual clock
(so only delivery sets the pace) with `webhook=` the receiver's URL; its deliveries are taken from the
journal, and the floor posts exactly those bodies and headers one after another (a call's webhooks go
in order) with `Http1Pool` (mockvapi.transports.http1), the client the mock itself uses. A second floor
posts them with a bare aiohttp ClientSession. Both sides are timed alike: start-up (MockVapi entered,
the pool or session made) and close are outside the timed region of each. The mock's time includes
simulating the call. A second figure plays several calls at once against as many concurrent posting
loops (one pool or session each, as each call has its own). Runs alternate, best of each is kept.
Goal: at least 0.7 of the lean-client floor.

A third figure for each, with no goal, says how much the delivery itself adds: its floor is the lean
client's time plus the same calls played into a webhook that costs nothing (bench._play's null target:
simulating, rendering, encoding and journaling every webhook, no I/O), one after the other. Neither half
can be skipped by a mock that simulates its calls in one process; it can beat their sum only by
simulating while a request is out (the floor's process is idle then, waiting for the receiver), and a
call stops simulating while it waits for an answer Vapi waits for (`tool-calls`), which goes out behind
every message queued before it. So the figures also give the share of its run the mock's process was
busy (CPU seconds over seconds): near 100 % means CPU, not waiting, sets its pace; and the mock's CPU time
against the floor's time: with every wait overlapped, this implementation reaches at most their ratio.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench._core import Figure
from bench._peers import Peer
from bench._play import NullTarget, play_null
from bench._scenarios import support_call
from mockvapi.engine.clock import VirtualClock
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.testing import MockVapi
from mockvapi.transports.http1 import Http1Pool

NAME = "webhook"
GOAL_RATIO = 0.7
Post = tuple[bytes, dict[str, str]]


async def mock_run(loaded: LoadedScenario, url: str, calls: int) -> tuple[float, float, list[Post]]:
    """The calls played into `url`: (seconds, CPU seconds of this process, one call's posts)."""
    async with MockVapi(webhook=url) as vapi:
        cpu = time.process_time()
        started = time.perf_counter()
        await vapi.play_many([loaded] * calls)
        took = time.perf_counter() - started
        cpu = time.process_time() - cpu
        sent = vapi.deliveries(channel="webhook")
        failed = [d for d in sent if not d.ok]
        if failed:
            raise RuntimeError(f"{len(failed)} deliveries failed, e.g. {failed[0]!r}")
        first = sent[0].call_id
        return took, cpu, [((d.request_body or "").encode(), d.request_headers) for d in sent if d.call_id == first]


async def lean_floor_run(posts: list[Post], url: str, loops: int) -> float:
    """The lean client posting the ready-made bodies: one pool per loop, made before the clock starts."""
    pools = [Http1Pool() for _ in range(loops)]

    async def post_all(pool: Http1Pool) -> None:
        for body, headers in posts:
            response = await pool.request("POST", url, headers, body, timeout=20)
            if response.status != 200:
                raise RuntimeError(f"floor post answered {response.status}")

    try:
        started = time.perf_counter()
        await asyncio.gather(*(post_all(pool) for pool in pools))
        return time.perf_counter() - started
    finally:
        for pool in pools:
            await pool.aclose()


async def aiohttp_floor_run(posts: list[Post], url: str, loops: int) -> float:
    """A bare aiohttp client posting the same bodies: one session per loop, made before the clock starts."""
    sessions = [aiohttp.ClientSession(skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
                                      cookie_jar=aiohttp.DummyCookieJar()) for _ in range(loops)]

    async def post_all(session: aiohttp.ClientSession) -> None:
        for body, headers in posts:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"floor post answered {response.status}")

    try:
        started = time.perf_counter()
        await asyncio.gather(*(post_all(session) for session in sessions))
        return time.perf_counter() - started
    finally:
        for session in sessions:
            await session.close()


async def null_pipeline_run(loaded: LoadedScenario, calls: int) -> float:
    """The same calls on one virtual clock into a target that answers at once (no I/O): the mock's own work."""
    clock = VirtualClock()
    target = NullTarget()
    started = time.perf_counter()
    await asyncio.gather(*(play_null(loaded, clock, target) for _ in range(calls)))
    return time.perf_counter() - started


async def measure(quick: bool) -> list[Figure]:
    repeat = 3 if quick else 7
    loaded = support_call(50)
    figures = []
    async with Peer("receiver") as receiver:
        url = f"http://127.0.0.1:{receiver.first_line.split()[1]}/hook"
        for calls in (1, 8):
            best_mock = best_lean = best_aiohttp = best_null = float("inf")
            mock_cpu = 0.0  # the best run's
            posts: list[Post] = []
            for _ in range(repeat):
                took, cpu, posts = await mock_run(loaded, url, calls)
                if took < best_mock:
                    best_mock, mock_cpu = took, cpu
                best_lean = min(best_lean, await lean_floor_run(posts, url, calls))
                best_aiohttp = min(best_aiohttp, await aiohttp_floor_run(posts, url, calls))
                best_null = min(best_null, await null_pipeline_run(loaded, calls))
            count = len(posts) * calls
            value, lean, slow = count / best_mock, count / best_lean, count / best_aiohttp
            label = "one call, in order" if calls == 1 else f"{calls} calls at once"
            size = f"{count} webhooks, {sum(len(b) for b, _ in posts) * calls / 1e6:.1f} MB; best of {repeat}"
            figures.append(Figure(
                NAME, f"deliveries/s, {label}", round(value), "msg/s", round(lean), round(value / lean, 3),
                "≥ 0.7× floor", value / lean >= GOAL_RATIO,
                f"{size}; floor: the lean client posting the ready-made bodies",
                {"seconds": best_mock, "floor_seconds": best_lean, "aiohttp_floor_seconds": best_aiohttp,
                 "cpu_seconds": mock_cpu},
            ))
            figures.append(Figure(
                NAME, f"deliveries/s, {label}, vs aiohttp", round(value), "msg/s", round(slow),
                round(value / slow, 3), None, None, f"{size}; second floor: a bare aiohttp client",
                {"seconds": best_mock, "floor_seconds": best_aiohttp},
            ))
            bound = count / (best_lean + best_null)
            figures.append(Figure(
                NAME, f"deliveries/s, {label}, vs floor + null pipeline", round(value), "msg/s", round(bound),
                round(value / bound, 3), None, None,
                f"{size}; bound: the lean floor plus the same calls into a null webhook "
                f"({count / best_null:.0f} msg/s alone), one after the other; the bound is "
                f"{best_lean / (best_lean + best_null):.2f}× the floor; the mock's process was busy "
                f"{mock_cpu / best_mock:.0%} of its run, and its CPU time alone is "
                f"{mock_cpu / best_lean:.2f}× the floor's time (at most {best_lean / mock_cpu:.2f}× with every "
                f"wait overlapped)",
                {"seconds": best_mock, "floor_seconds": best_lean + best_null, "null_pipeline_seconds": best_null,
                 "cpu_seconds": mock_cpu},
            ))
    return figures


def run(quick: bool) -> list[Figure]:
    return asyncio.run(measure(quick))
