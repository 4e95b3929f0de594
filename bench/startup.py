"""startup: `import mockvapi` in a fresh interpreter, and `mockvapi serve` from spawn to its first answer.

Import: a fresh `python -c` times `from mockvapi import MockVapi` (perf_counter around the import: what a test
module writes; `import mockvapi` alone imports the engine on first use of a name); the floor is a whole
`python -c pass` (spawn to exit), timed the same way from here. Goal: under 300 ms. Also the pytest plugin's
import after pytest's (what every pytest run pays where mockvapi is installed, no goal).
Peer: `import moto` timed the same way (a widely used test double, for scale; no goal).
Serve: `python -m mockvapi serve --port 0 --clock virtual` from spawn to the first answered
`GET /assistant` (the URL read from its stdout); floor: a subprocess serving a one-route aiohttp app.
Goal: under 0.5 s (issue 17). Also, for scale: `MockVapi(serve=True)` in a warm process to its first answer,
against a one-route aiohttp app started and asked the same way. Runs alternate; best of each is kept.
Every child loads its modules' bytecode from one cache, as an installed package does (pip compiles it at
install time, a checkout writes `__pycache__` on its first import): each command runs once untimed to fill
it. Without it, in an environment with PYTHONDONTWRITEBYTECODE set, mockvapi's own ~60-90 modules were compiled
from source at every start (~100 ms of the import, more of serve) while the peer and the floors loaded
site-packages' bytecode.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from aiohttp import web

from bench._core import Figure, median

NAME = "startup"
TOKEN = "bench"
REPO = Path(__file__).resolve().parents[1]
URL = re.compile(rb"(http://127\.0\.0\.1:\d+)")
IMPORT_GOAL_MS = 300.0
SERVE_GOAL_MS = 500.0

TIME_IMPORT = "import time; t = time.perf_counter(); from mockvapi import MockVapi; print(time.perf_counter() - t)"
TIME_PLUGIN = ("import time, pytest; t = time.perf_counter(); import mockvapi.pytest_plugin; "
               "print(time.perf_counter() - t)")
TIME_MOTO = "import time; t = time.perf_counter(); import moto; print(time.perf_counter() - t)"
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


def bytecode_env(cache: str) -> dict[str, str]:
    """The environment of every child: bytecode read from and written to `cache` (see the module doc)."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": cache, "PYTHONUNBUFFERED": "1"}


def _python(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, check=True,
                         timeout=60)
    return time.perf_counter() - started, out.stdout


async def _first_answer(url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/assistant", headers={"Authorization": f"Bearer {TOKEN}"}) as response,
    ):
        if response.status != 200:
            raise RuntimeError(f"GET {url}/assistant: {response.status} {await response.text()}")
        await response.read()


async def subprocess_start_to_answer(args: Sequence[str], env: dict[str, str]) -> float:
    """Seconds from spawning `python *args` to its first answer (the URL read from its stdout)."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=REPO, env=env,
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
        return time.perf_counter() - started
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await process.communicate()


async def mock_start_to_answer() -> float:
    from mockvapi.testing import MockVapi

    started = time.perf_counter()
    vapi = MockVapi(serve=True, token=TOKEN)
    await vapi.start()
    try:
        await _first_answer(vapi.server.url)
        return time.perf_counter() - started
    finally:
        await vapi.aclose()


async def bare_start_to_answer() -> float:
    started = time.perf_counter()
    app = web.Application()

    async def assistants(request: web.Request) -> web.Response:
        return web.json_response([])

    app.router.add_get("/assistant", assistants)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await _first_answer(f"http://127.0.0.1:{runner.addresses[0][1]}")
        return time.perf_counter() - started
    finally:
        await runner.cleanup()


SERVE = ("-m", "mockvapi", "serve", "--port", "0", "--clock", "virtual", "--token", TOKEN)


async def serving(quick: bool, env: dict[str, str]) -> list[Figure]:
    spawns, warm_runs = (2, 5) if quick else (5, 20)
    served, bare = [], []
    for _ in range(spawns):
        served.append(await subprocess_start_to_answer(SERVE, env))
        bare.append(await subprocess_start_to_answer(["-c", BARE_SERVER], env))
    await mock_start_to_answer()  # the process's first server pays one-off costs
    await bare_start_to_answer()
    warm, floor = [], []
    for _ in range(warm_runs):
        warm.append(await mock_start_to_answer())
        floor.append(await bare_start_to_answer())
    value, base = min(served) * 1000, min(bare) * 1000
    return [
        Figure(NAME, "mockvapi serve: spawn to first answer", round(value, 1), "ms", round(base, 1),
               round(value / base, 2), "< 500 ms", value < SERVE_GOAL_MS, f"best of {spawns}",
               {"runs": served, "floor_runs": bare}),
        Figure(NAME, "MockVapi(serve=True) in process: start to first answer", round(median(warm) * 1000, 2), "ms",
               round(median(floor) * 1000, 2), round(median(warm) / median(floor), 2), None, None,
               f"median of {warm_runs}, warm process"),
    ]


def run(quick: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-bytecode-") as cache:
        env = bytecode_env(cache)
        for code in (TIME_IMPORT, "pass", TIME_MOTO, TIME_PLUGIN):  # fill the bytecode cache, untimed
            _python(env, "-c", code)
        asyncio.run(subprocess_start_to_answer(SERVE, env))
        asyncio.run(subprocess_start_to_answer(["-c", BARE_SERVER], env))
        return _run(quick, env)


def _run(quick: bool, env: dict[str, str]) -> list[Figure]:
    repeat = 3 if quick else 7
    imports, floors, motos, plugins = [], [], [], []
    for _ in range(repeat):
        imports.append(float(_python(env, "-c", TIME_IMPORT)[1]))
        floors.append(_python(env, "-c", "pass")[0])
        motos.append(float(_python(env, "-c", TIME_MOTO)[1]))
        plugins.append(float(_python(env, "-c", TIME_PLUGIN)[1]))
    value, base = min(imports) * 1000, min(floors) * 1000
    figures = [Figure(NAME, "import mockvapi (fresh interpreter)", round(value, 1), "ms", round(base, 1),
                      round(value / base, 2), "< 300 ms", value < IMPORT_GOAL_MS,
                      f"best of {repeat}: from mockvapi import MockVapi; floor: python -c pass",
                      {"runs": imports, "floor_runs": floors}),
               Figure(NAME, "import mockvapi vs import moto (fresh interpreter)", round(value, 1), "ms",
                      round(min(motos) * 1000, 1), round(value / (min(motos) * 1000), 2), None, None,
                      f"best of {repeat}; peer: import moto {min(motos) * 1000:.0f} ms", {"peer_runs": motos}),
               Figure(NAME, "pytest plugin: import mockvapi.pytest_plugin after pytest", round(min(plugins) * 1000, 1),
                      "ms", detail=f"best of {repeat}; what a pytest run using no mockvapi pays",
                      extra={"runs": plugins})]
    return figures + asyncio.run(serving(quick, env))
