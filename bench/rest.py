"""rest: `GET /call/{id}` latency on the mock server, against an aiohttp hello-world handler.

The mock serves (MockVapi(serve=True), virtual clock); one call is created with POST /call and played
to its end, so the record is complete. The floor is a bare aiohttp app on 127.0.0.1 whose one handler
answers `web.json_response` of that same record: the difference is what the mock adds (auth, routing,
middlewares, the record lookup), not the body's size. One client session per server, requests one after
another, in alternating blocks so machine load hits both alike. Goal: p50 and p99 within 1.5x.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from bench._core import Figure, percentile
from mockvapi.testing import MockVapi

NAME = "rest"
GOAL_RATIO = 1.5
TOKEN = "bench"


async def timed_gets(session: aiohttp.ClientSession, url: str, n: int, out: list[float]) -> None:
    for _ in range(n):
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
        out.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status}")


async def measure(quick: bool) -> list[Figure]:
    blocks, per_block = (6, 50) if quick else (20, 100)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with MockVapi(serve=True, token=TOKEN) as vapi, aiohttp.ClientSession(headers=headers) as session:
        base = vapi.server.url
        async with session.post(f"{base}/call/web", json={"assistant": {"name": "Bench"}}) as response:
            created: dict[str, Any] = await response.json()
            assert response.status == 201, created
        call = vapi.find_call(created["id"])
        assert call is not None
        await call.wait()
        url = f"{base}/call/{created['id']}"
        async with session.get(url) as response:
            record = await response.json()

        async def hello(request: web.Request) -> web.Response:
            return web.json_response(record)

        app = web.Application()
        app.router.add_get("/call/{id}", hello)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            floor_url = f"http://127.0.0.1:{runner.addresses[0][1]}/call/{created['id']}"
            async with aiohttp.ClientSession() as floor_session:
                await timed_gets(session, url, 20, [])  # warm both
                await timed_gets(floor_session, floor_url, 20, [])
                mock: list[float] = []
                floor: list[float] = []
                for _ in range(blocks):
                    await timed_gets(session, url, per_block, mock)
                    await timed_gets(floor_session, floor_url, per_block, floor)
        finally:
            await runner.cleanup()
    size = len(str(record))
    figures = []
    for pct in (50, 99):
        value, base_value = percentile(mock, pct) * 1000, percentile(floor, pct) * 1000
        ratio = value / base_value
        figures.append(Figure(NAME, f"GET /call/{{id}} p{pct}", round(value, 3), "ms", round(base_value, 3),
                              round(ratio, 2), "≤ 1.5× floor", ratio <= GOAL_RATIO,
                              f"{len(mock)} requests, ~{size / 1000:.0f} kB record"))
    return figures


def run(quick: bool) -> list[Figure]:
    return asyncio.run(measure(quick))
