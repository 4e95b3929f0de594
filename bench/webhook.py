"""webhook: messages per second mockvapi delivers to a minimal aiohttp receiver on loopback, against a bare
aiohttp client posting the same bodies (with the same headers) to the same receiver.

The receiver runs in its own process (bench._peers). mockvapi plays a 50-turn call on a virtual clock
(so only delivery sets the pace) with `webhook=` the receiver's URL; its deliveries are taken from the
journal, and the floor posts exactly those bodies one after another (a call's webhooks go in order) on
one aiohttp session. The mock's time includes simulating the call. A second figure plays several calls
at once against as many concurrent posting loops. Runs alternate, best of each is kept.
Goal: at least 0.7 of the floor.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench._core import Figure
from bench._peers import Peer
from bench._scenarios import support_call
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.testing import MockVapi

NAME = "webhook"
GOAL_RATIO = 0.7
Post = tuple[bytes, dict[str, str]]


async def mock_run(loaded: LoadedScenario, url: str, calls: int) -> tuple[float, list[Post]]:
    async with MockVapi(webhook=url) as vapi:
        started = time.perf_counter()
        await vapi.play_many([loaded] * calls)
        took = time.perf_counter() - started
        sent = vapi.deliveries(channel="webhook")
        failed = [d for d in sent if not d.ok]
        if failed:
            raise RuntimeError(f"{len(failed)} deliveries failed, e.g. {failed[0]!r}")
        first = sent[0].call_id
        return took, [((d.request_body or "").encode(), d.request_headers) for d in sent if d.call_id == first]


async def floor_run(posts: list[Post], url: str, loops: int) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession(skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        async def post_all() -> None:
            for body, headers in posts:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200

        await asyncio.gather(*(post_all() for _ in range(loops)))
    return time.perf_counter() - started


async def measure(quick: bool) -> list[Figure]:
    repeat = 3 if quick else 7
    loaded = support_call(50)
    figures = []
    async with Peer("receiver") as receiver:
        url = f"http://127.0.0.1:{receiver.first_line.split()[1]}/hook"
        for calls in (1, 8):
            best_mock = best_floor = float("inf")
            posts: list[Post] = []
            for _ in range(repeat):
                took, posts = await mock_run(loaded, url, calls)
                best_mock = min(best_mock, took)
                best_floor = min(best_floor, await floor_run(posts, url, calls))
            count = len(posts) * calls
            value, floor = count / best_mock, count / best_floor
            label = "one call, in order" if calls == 1 else f"{calls} calls at once"
            figures.append(Figure(
                NAME, f"deliveries/s, {label}", round(value), "msg/s", round(floor), round(value / floor, 3),
                "≥ 0.7× floor", value / floor >= GOAL_RATIO,
                f"{count} webhooks, {sum(len(b) for b, _ in posts) * calls / 1e6:.1f} MB",
                {"seconds": best_mock, "floor_seconds": best_floor},
            ))
    return figures


def run(quick: bool) -> list[Figure]:
    return asyncio.run(measure(quick))
