"""soak_large: calls whose webhook answers a 1-15 MB tool result, one after another: mockvapi's memory stays
bounded by the reply size (about its size once per held call, plus one message's worth while sending), not
by the number of messages that carry the result afterwards, and every call still ends and reports.

Three processes, as the soak: this one (the parent), the target (`python -m bench.soak_large target`), which
answers each tool-calls with a result of the size the parent cycles through (1, 4, 8, 15 MB) and `{}`
to everything else, and the child (`python -m bench.soak_large child CALLS URL`), a `MockVapi` on a virtual
clock that plays CALLS calls of a short tool scenario into the target, holding at most MAX_CALLS ended calls
and JOURNAL journal entries (the mock's own bounds forget the rest), and samples its resident set (psutil)
after each call and every 20 ms while calls play.

Figures: the peak RSS above the child's baseline per MB of the largest reply (goal: at most PEAK_GOAL);
the RSS after the last call (a 15 MB one) against the RSS after the first cycle's 15 MB call, when both
bounds are already full (flat: at most FLAT_GOAL);
and calls that did not end and report (0: every call ended with its scripted reason, its final
status-update and end-of-call-report answered 200, no problem recorded).

    python -m bench.soak_large [--quick]     runs it and prints its figures
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench._core import Figure

NAME = "soak_large"
REPO = Path(__file__).resolve().parents[1]
SIZES_MB = (1, 4, 8, 15)
FULL_CALLS, QUICK_CALLS = 40, 8  # whole cycles of sizes, at least two
MAX_CALLS = 2  # ended calls held: each holds its reply (history) and the journal's copy of it
# Journal entries kept: about two calls' worth. The journal holds each delivery's message (whose history holds
# the reply) and the reply as answered, so what it keeps is bounded by its size in calls times the reply size.
JOURNAL = 40
PEAK_GOAL = 40.0  # MB of RSS above baseline per MB of the largest reply (was ~600 before issue 14)
FLAT_GOAL = 1.15

SCENARIO = """\
version: 1
name: large-reply
assistant:
  server: {{url: "{url}", timeoutSeconds: 120}}
  tools:
    - name: lookup
      description: Look a record up.
      parameters: {{id: string}}
steps:
  - user: "Look up my record, please."
  - tool: {{name: lookup, arguments: {{id: "{n}"}}}}
  - assistant: "Here it is."
  - end: customer-ended-call
"""


# --- the target (its own process) -------------------------------------------------------------------


async def target() -> None:
    """Answers tool-calls with a result of SIZES_MB[n % 4] MB for the call's argument n; `{}` otherwise."""
    from aiohttp import web

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if b'"type":"tool-calls"' not in body[:200]:
            return web.json_response({})
        tool_call = json.loads(body)["message"]["toolCallList"][0]
        n = int(json.loads(tool_call["function"]["arguments"])["id"]) if isinstance(
            tool_call["function"]["arguments"], str) else int(tool_call["function"]["arguments"]["id"])
        size = SIZES_MB[n % len(SIZES_MB)] * 1024 * 1024
        result = {"results": [{"toolCallId": tool_call["id"], "result": "x" * size}]}
        return web.Response(body=json.dumps(result).encode(), content_type="application/json")

    app = web.Application(client_max_size=1024 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"port {runner.addresses[0][1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


# --- the child (its own process) --------------------------------------------------------------------


async def child(calls: int, url: str) -> dict[str, Any]:
    import psutil  # type: ignore[import-untyped]

    from mockvapi.engine.clock import VirtualClock
    from mockvapi.testing import MockVapi

    process = psutil.Process()

    def rss() -> float:
        megabytes: float = process.memory_info().rss / 2**20
        return megabytes
    failures: list[str] = []
    after: list[float] = []
    peak = 0.0
    async with MockVapi(clock=VirtualClock(), strict=False, max_calls=MAX_CALLS, journal_size=JOURNAL) as vapi:
        vapi.load(SCENARIO.format(url=url, n=0))  # imports and caches warmed before the baseline
        baseline = rss()
        for n in range(calls):
            task = asyncio.ensure_future(vapi.play(SCENARIO.format(url=url, n=n)))
            while not task.done():
                peak = max(peak, rss())
                await asyncio.wait({task}, timeout=0.02)
            call = task.result()
            after.append(rss())
            peak = max(peak, after[-1])
            sent = call.deliveries(channel="webhook")
            ended = [d for d in sent if d.message_type == "status-update" and d.message.get("status") == "ended"]
            report_ok = bool(sent) and sent[-1].message_type == "end-of-call-report" and sent[-1].status == 200
            if call.ended_reason != "customer-ended-call" or len(ended) != 1 or ended[0].status != 200 \
                    or not report_ok or call.problems:
                failures.append(f"call {n}: ended {call.ended_reason}, problems {[str(p) for p in call.problems][:2]}")
            del call, task, sent, ended
    return {"calls": calls, "baseline": baseline, "peak": peak, "after": after, "failures": failures[:5],
            "failed": len(failures)}


# --- the parent -------------------------------------------------------------------------------------


def soak(calls: int) -> dict[str, Any]:
    peer = subprocess.Popen([sys.executable, "-m", "bench.soak_large", "target"], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert peer.stdin is not None and peer.stdout is not None
    try:
        port = int(peer.stdout.readline().split()[1])
        done = subprocess.run(
            [sys.executable, "-m", "bench.soak_large", "child", str(calls), f"http://127.0.0.1:{port}/hook"],
            cwd=REPO, capture_output=True, text=True, timeout=calls * 60 + 120, check=False,
            # Large blocks always mmap'd (glibc otherwise raises its threshold after the first free, and freed
            # megabytes stay in the heap): the RSS then follows what is live rather than the allocator's history.
            env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"},
        )
        if done.returncode != 0:
            raise RuntimeError(f"soak-large child failed ({done.returncode}):\n{done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        peer.stdin.close()
    finally:
        if peer.poll() is None:
            peer.kill()
        peer.wait()
    return result


def run(quick: bool) -> list[Figure]:
    calls = QUICK_CALLS if quick else FULL_CALLS
    result = soak(calls)
    largest = max(SIZES_MB)
    above = result["peak"] - result["baseline"]
    per_mb = above / largest
    cycle = len(SIZES_MB)
    # After the first cycle's largest reply (both bounds are full by then) against the last cycle's.
    settled, last = result["after"][cycle - 1], result["after"][-1]
    detail = (f"{calls} calls answering {', '.join(map(str, SIZES_MB))} MB tool results in turn, {MAX_CALLS} ended "
              f"calls held; baseline {result['baseline']:.0f} MB, peak {result['peak']:.0f} MB")
    return [
        Figure(NAME, "peak RSS above baseline per MB of the largest reply", round(per_mb, 1), "MB/MB", None, None,
               f"≤ {PEAK_GOAL:g}", per_mb <= PEAK_GOAL, detail, {"after": result["after"]}),
        Figure(NAME, "RSS after the last call", round(last, 1), "MB", round(settled, 1), round(last / settled, 3),
               f"≤ {FLAT_GOAL:.2f}x the RSS after the first cycle of sizes", last <= FLAT_GOAL * settled, detail),
        Figure(NAME, "calls that did not end and report", result["failed"], "calls", None, None, "0",
               result["failed"] == 0, "; ".join(result["failures"]) or f"all {calls} ended and reported"),
    ]


def main(argv: list[str]) -> int:
    if argv[:1] == ["target"]:
        asyncio.run(target())
        return 0
    if argv[:1] == ["child"]:
        print(json.dumps(asyncio.run(child(int(argv[1]), argv[2]))), flush=True)
        return 0
    figures = run(quick="--quick" in argv)
    for figure in figures:
        print(figure, "-", figure.detail)
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
