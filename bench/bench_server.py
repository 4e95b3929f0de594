"""How fast the mock Vapi server starts: from nothing to the first answered request.

In process: `MockVapi(serve=True)` start, an aiohttp client session, one `GET /assistant`
answered (then closed, untimed), N times. The first run (cold) is timed after importing
`mockvapi.testing` and the server, whose import time is printed on its own: it is paid once per
process and depends mostly on the machine. Floor: a bare aiohttp app with one route, the same
steps, interleaved with the mock's runs so machine load hits both alike.

Subprocess: `python -m mockvapi serve --port 0 --clock virtual` from spawn to the first answered
`GET /assistant` (the URL parsed from its stdout), M times; floor: a subprocess serving a bare
aiohttp app, the same way.

Prints best/median in ms and the ratios. Exits non-zero if the in-process start to first answer
(cold, or the warm median; imports excluded) takes a second or more.

    .venv/bin/python bench/bench_server.py [--repeat N] [--subprocess-repeat M]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

LIMIT_SECONDS = 1.0
TOKEN = "bench"
REPO = Path(__file__).resolve().parents[1]
URL = re.compile(rb"(http://127\.0\.0\.1:\d+)")

BARE_SERVER = """
import asyncio
from aiohttp import web

async def main():
    app = web.Application()
    app.router.add_get("/assistant", lambda request: web.json_response([]))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def _first_answer(url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/assistant", headers={"Authorization": f"Bearer {TOKEN}"}) as response,
    ):
        assert response.status == 200, await response.text()
        assert await response.json() == []


def import_server() -> float:
    """Seconds to import the harness and the server (what a fresh process pays once)."""
    start = time.perf_counter()
    import mockvapi.server.harness  # noqa: F401
    import mockvapi.testing  # noqa: F401

    return time.perf_counter() - start


async def mock_start_to_answer() -> float:
    """Seconds from a new `MockVapi(serve=True)` to its first answer."""
    from mockvapi.testing import MockVapi

    start = time.perf_counter()
    vapi = MockVapi(serve=True, token=TOKEN)
    await vapi.start()
    try:
        await _first_answer(vapi.server.url)
        return time.perf_counter() - start
    finally:
        await vapi.aclose()


async def bare_start_to_answer() -> float:
    """The floor: a one-route aiohttp app, started and asked the same way."""
    start = time.perf_counter()
    app = web.Application()

    async def assistants(request: web.Request) -> web.Response:
        return web.json_response([])

    app.router.add_get("/assistant", assistants)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await _first_answer(f"http://127.0.0.1:{runner.addresses[0][1]}")
        return time.perf_counter() - start
    finally:
        await runner.cleanup()


async def subprocess_start_to_answer(args: Sequence[str]) -> float:
    """Seconds from spawning `python *args` to its first answer (the URL read from its stdout)."""
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(60):
            seen = b""
            while not (found := URL.search(seen)):
                line = await process.stdout.readline()
                if not line:
                    raise RuntimeError(f"{args} exited before listening: {seen!r}")
                seen += line
            await _first_answer(found.group(1).decode())
        return time.perf_counter() - start
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await process.communicate()


def _ms(values: Sequence[float]) -> str:
    return f"best {min(values) * 1000:7.1f} ms   median {statistics.median(values) * 1000:7.1f} ms"


async def _interleaved(
    repeat: int, subject: Callable[[], Awaitable[float]], floor: Callable[[], Awaitable[float]]
) -> tuple[list[float], list[float]]:
    subjects, floors = [], []
    for _ in range(repeat):
        subjects.append(await subject())
        floors.append(await floor())
    return subjects, floors


async def run(repeat: int, subprocess_repeat: int) -> dict[str, Any]:
    imports = import_server()
    cold = await mock_start_to_answer()  # the first server of the process
    await bare_start_to_answer()  # warm the floor's own first-use costs too
    warm, floor = await _interleaved(repeat, mock_start_to_answer, bare_start_to_answer)
    served: list[float] = []
    bare: list[float] = []
    if subprocess_repeat:
        served, bare = await _interleaved(
            subprocess_repeat,
            lambda: subprocess_start_to_answer(["-m", "mockvapi", "serve", "--port", "0", "--clock", "virtual",
                                                "--token", TOKEN]),
            lambda: subprocess_start_to_answer(["-c", BARE_SERVER]),
        )
    return {"imports": imports, "cold": cold, "warm": warm, "floor": floor, "served": served, "bare": bare}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="in-process runs (default 20)")
    parser.add_argument("--subprocess-repeat", type=int, default=3, help="subprocess runs (default 3; 0 skips)")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.repeat, args.subprocess_repeat))
    warm, floor = figures["warm"], figures["floor"]
    ratio = statistics.median(warm) / statistics.median(floor)

    print(f"server start to first answered GET /assistant, in process ({args.repeat} runs each):")
    print(f"  imports (once per process)   {figures['imports'] * 1000:7.1f} ms   (mockvapi.testing + server)")
    print(f"  MockVapi(serve=True), cold   {figures['cold'] * 1000:7.1f} ms   (the process's first server)")
    print(f"  MockVapi(serve=True), warm   {_ms(warm)}")
    print(f"  bare aiohttp app (floor)     {_ms(floor)}")
    print(f"  ratio, median warm / floor   {ratio:7.2f}x")
    if figures["served"]:
        served, bare = figures["served"], figures["bare"]
        print(f"subprocess, spawn to first answered GET /assistant ({args.subprocess_repeat} runs each):")
        print(f"  mockvapi serve               {_ms(served)}")
        print(f"  bare aiohttp server (floor)  {_ms(bare)}")
        print(f"  ratio, median / floor        {statistics.median(served) / statistics.median(bare):7.2f}x")

    slow = [name for name, seconds in (("cold", figures["cold"]), ("warm median", statistics.median(warm)))
            if seconds >= LIMIT_SECONDS]
    if slow:
        print(f"FAIL: in-process start to first answer ({', '.join(slow)}) took {LIMIT_SECONDS:g} s or more")
        return 1
    print(f"ok: in-process start to first answer is under {LIMIT_SECONDS:g} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
