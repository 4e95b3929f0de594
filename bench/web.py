"""web: Vapi's web SDK in Debian's Chromium against `mockvapi serve`, through the daily-js stand-in.

- start: `vapi.start()` to the SDK's `call-start` (POST /call/web, join, the assistant's track played,
  `playable`, `listening`), against a bare websocket connect from the same page to the same loopback
  server, alternately; medians. Goal: at most 15x the bare connect (a start is two round trips plus
  starting media playback in the browser).
- lateness: at speed 1 on a real clock, each `message` event's arrival in the page (Date.now()) minus
  the time the scenario schedules it (the message's own `timestamp`): p50 and p99. Goal: p99 < 50 ms.

Uses tests/web's npm packages (installed from its lock when missing) and its Chromium driver. Without
node or Chromium the module reports no figures and says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from bench._core import Figure, median, percentile
from bench._scenarios import support_call
from mockvapi.testing import MockVapi
from mockvapi.web import write_package

NAME = "web"
ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tests" / "web"
CHROMIUM = Path(os.environ.get("MOCKVAPI_CHROMIUM", "/usr/bin/chromium"))
KEY = "pk-bench"
START_GOAL = 15.0
P99_GOAL_MS = 50.0


def _prepare(folder: Path) -> None:
    if not (TOOLS / "node_modules" / ".package-lock.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TOOLS, check=True,
                       capture_output=True, timeout=900)
    write_package(folder / "daily")
    subprocess.run(
        [str(TOOLS / "node_modules" / ".bin" / "esbuild"), str(ROOT / "bench" / "web_page.js"), "--bundle",
         "--format=iife", "--log-level=error", f"--outfile={folder / 'page.js'}",
         f"--alias:@daily-co/daily-js={folder / 'daily'}",
         f"--alias:@vapi-ai/web={TOOLS / 'node_modules' / '@vapi-ai' / 'web'}"],
        cwd=TOOLS, check=True, capture_output=True, timeout=120,
    )
    (folder / "index.html").write_text('<!doctype html><html><body><script src="/page.js"></script></body></html>')


async def _drive(url: str, jobs: list[dict[str, Any]]) -> list[Any]:
    process = await asyncio.create_subprocess_exec(
        "node", str(TOOLS / "drive.mjs"), cwd=TOOLS, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate(json.dumps({"url": url, "jobs": jobs, "timeoutMs": 600000}).encode())
    if process.returncode != 0:
        raise RuntimeError(f"drive.mjs failed: {stderr.decode()[-2000:]}")
    out = json.loads(stdout)
    if out["pageErrors"]:
        raise RuntimeError(f"the page threw: {out['pageErrors']}")
    results: list[Any] = out["results"]
    return results


async def measure(quick: bool, folder: Path) -> list[Figure]:
    async def bare(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    pages = web.Application()
    pages.router.add_get("/bare", bare)
    pages.router.add_static("/", folder)
    runner = web.AppRunner(pages, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    page_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    scenario = support_call(2 if quick else 12, call_type="webCall", pause=None, name="web-bench")
    try:
        async with MockVapi(serve=True, clock="real", token=KEY, default_scenario="web-bench") as vapi:
            assert vapi.server is not None
            vapi.server.loaded["web-bench"] = scenario
            common = {"key": KEY, "apiUrl": vapi.server.url, "assistant": {"name": "Morgan"}}
            timed, lateness = await _drive(f"{page_url}/index.html", [
                {"fn": "benchStart", "arg": {**common, "bareUrl": f"ws{page_url[4:]}/bare",
                                             "repeat": 3 if quick else 10}},
                {"fn": "benchLateness", "arg": common},
            ])
    finally:
        await runner.cleanup()
    start, floor = median(timed["start"]), median(timed["bare"])
    p50, p99 = percentile(lateness, 50), percentile(lateness, 99)
    return [
        Figure(NAME, "vapi.start() to call-start", round(start, 1), "ms", round(floor, 2), round(start / floor, 1),
               f"≤ {START_GOAL:g}× floor", start / floor <= START_GOAL,
               f"median of {len(timed['start'])}; floor: a bare websocket connect from the same page"),
        Figure(NAME, "message lateness in the page | p50", round(p50, 1), "ms", detail=f"{len(lateness)} messages"),
        Figure(NAME, "message lateness in the page | p99", round(p99, 1), "ms", goal=f"< {P99_GOAL_MS:g} ms",
               met=p99 < P99_GOAL_MS, detail="speed 1, real clock, arrival minus the message's timestamp"),
    ]


def run(quick: bool) -> list[Figure]:
    if shutil.which("node") is None or not CHROMIUM.exists():
        print(f"web: skipped, needs node and {CHROMIUM}")
        return []
    with tempfile.TemporaryDirectory(prefix="mockvapi-bench-web-") as tmp:
        _prepare(Path(tmp))
        return asyncio.run(measure(quick, Path(tmp)))
