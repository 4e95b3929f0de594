"""soak: calls started at a steady rate for 10 minutes (about 12 s in quick mode): memory stays flat
and no journal entry is lost without being counted as dropped.

Three processes, so that neither peer's heap is in the figure: this one (the parent), a webhook
receiver that counts every POST (`python -m bench._peers receiver`), and the soak itself
(`python -m bench.soak child SECONDS URL`), which holds a `MockVapi` built as `mockvapi serve` builds
it (serving the REST API, on a real clock at speed SPEED, not strict) and creates RATE calls per second
through `POST /call`, each with an assistant whose server URL is the receiver, so each plays the
bundled `happy-path` scenario and keeps a REST record. Nothing is forgotten by hand, as a real serve
user forgets nothing: the mock's own bounds do it. Both bounds are small enough to fill well within
warm-up, so eviction and its counts are part of the run: the journal (JOURNAL entries, `dropped`) and
the calls held (`max_calls`, `forgotten`). The child samples its resident set (psutil) once a second.

Figures: RSS at 25 %, 50 % and 100 % of the run against the RSS at the end of warm-up (the first
25 %: by then the journal and the calls held are at their bounds, so both are in the floor); the RSS
growth per 1,000 calls after warm-up (least-squares slope); the entry count check: every delivery the
journal recorded was either kept or counted as dropped, every one reached the receiver, and each call
recorded exactly the server messages its timeline sent; and the call count check, as
`GET /_mockvapi/status` reports it: calls started = held + forgotten, the same for REST records, no
more held than the bound, none running at the end.

    python -m bench.soak [--quick]       runs the soak and prints its figures
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench._core import Figure

NAME = "soak"
REPO = Path(__file__).resolve().parents[1]
RATE = 4.0  # calls started per second
SPEED = 30.0  # the 45 s happy-path call plays in 1.5 s: about 6 calls in flight
SCENARIO = "happy-path"
FULL_SECONDS, QUICK_SECONDS = 600.0, 12.0
WARMUP = 0.25  # fraction of the run before memory is judged
FLAT_GOAL = 1.10  # RSS at the end at most 10 % above the warm-up RSS
SLOPE_GOAL_MB = 1.0  # and growing by less than 1 MB per 1,000 calls


def journal_size(seconds: float) -> int:
    """Small enough to fill well within warm-up (about 29 entries per call), so eviction is exercised,
    yet holding every call in flight (about 6, up to twice that when the machine is busy): a running
    call's first entries evicted before it ends would read as lost (quick mode's 174 entries did)."""
    return max(12 * 29, int(seconds * WARMUP * RATE * 29 * 0.5))


def max_calls(seconds: float) -> int:
    """A third of the calls started in warm-up (200 in the full run), so calls are forgotten early."""
    return max(5, int(seconds * WARMUP * RATE / 3))


# --- the soak (its own process) ---------------------------------------------------------------------


async def child(seconds: float, url: str) -> dict[str, Any]:
    import aiohttp
    import psutil  # type: ignore[import-untyped]

    from mockvapi.engine.clock import RealClock
    from mockvapi.testing import Call, MockVapi

    process = psutil.Process()
    size, bound = journal_size(seconds), max_calls(seconds)
    expected = 0
    mismatched: list[str] = []
    refused: list[str] = []
    samples: list[tuple[float, int, float]] = []  # (seconds into the run, calls ended, RSS MB)
    ended = 0
    # As `mockvapi serve` builds it (mockvapi/serve.py), with both bounds small.
    vapi = MockVapi(serve=True, port=0, token="soak", clock=RealClock(SPEED, spin=0), strict=False,
                    default_scenario=SCENARIO, journal_size=size, max_calls=bound)

    def account(call: Call) -> None:
        """At a call's end, before any bound can evict it: its deliveries against its timeline."""
        nonlocal ended, expected
        ended += 1
        sent = len(call.timeline.messages(side="server"))
        expected += sent
        got = len(vapi.journal.deliveries(call_id=call.id))
        if got != sent:
            mismatched.append(f"{call.id[:8]}: {got} recorded, {sent} sent")

    async with vapi, aiohttp.ClientSession(
        base_url=vapi.server.url, headers={"Authorization": "Bearer soak"}
    ) as api:
        body = {"assistant": {"name": "Soak", "server": {"url": url}}}
        started = 0
        running: set[asyncio.Task[Any]] = set()
        t0 = time.perf_counter()
        next_sample = t0
        while (now := time.perf_counter()) - t0 < seconds:
            if now >= next_sample:
                samples.append((now - t0, ended, process.memory_info().rss / 2**20))
                next_sample += 1.0
            async with api.post("/call", json=body) as response:
                created = await response.json()
            started += 1
            call = vapi.find_call(str(created.get("id")))
            if response.status != 201 or call is None:
                refused.append(f"{response.status}: {str(created)[:200]}")
            else:
                task = asyncio.ensure_future(call.wait())
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(partial(_ended, account, call))
                del call  # only the mock holds it now
            await asyncio.sleep(max(0.0, t0 + started / RATE - time.perf_counter()))
        if running:
            await asyncio.wait(running)
        samples.append((time.perf_counter() - t0, ended, process.memory_info().rss / 2**20))
        async with api.get("/_mockvapi/status") as response:
            status = await response.json()
        deliveries = vapi.journal.deliveries()
        recorded = deliveries[-1].seq if deliveries else 0
        problems = vapi.journal.problems
        result = {
            "seconds": seconds,
            "calls": started,
            "ended": ended,
            "refused": refused[:5],
            "journal_size": size,
            "max_calls": bound,
            "status": status,
            "expected": expected,
            "recorded": recorded,
            "kept": len(deliveries),
            "dropped": vapi.journal.dropped,
            "problems": len(problems),
            "problem_sample": [str(p) for p in problems[:3]],
            "mismatched": mismatched[:5],
            "not_ok": sum(1 for d in deliveries if not d.ok),
            "samples": samples,
        }
    return result


def _ended(account: Callable[[Any], None], call: Any, task: asyncio.Task[Any]) -> None:
    account(call)


# --- the parent -------------------------------------------------------------------------------------


def _rss_at(samples: list[tuple[float, int, float]], fraction: float) -> float:
    end = samples[-1][0]
    return next(rss for t, _, rss in samples if t >= fraction * end - 1e-9)


def _slope_mb_per_1000_calls(samples: list[tuple[float, int, float]]) -> float:
    """Least-squares RSS growth per 1,000 ended calls, after warm-up."""
    end = samples[-1][0]
    points = [(calls, rss) for t, calls, rss in samples if t >= WARMUP * end]
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var * 1000


def soak(seconds: float) -> tuple[dict[str, Any], int]:
    """Run the receiver and the soak child; the child's result and what the receiver counted."""
    peer = subprocess.Popen(
        [sys.executable, "-m", "bench._peers", "receiver"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert peer.stdin is not None and peer.stdout is not None
    try:
        port = int(peer.stdout.readline().split()[1])
        done = subprocess.run(
            [sys.executable, "-m", "bench.soak", "child", str(seconds), f"http://127.0.0.1:{port}/hook"],
            cwd=REPO, capture_output=True, text=True, timeout=seconds * 3 + 120, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"soak child failed ({done.returncode}):\n{done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        peer.stdin.close()
        received = int(peer.stdout.readline().split()[1])
    finally:
        if peer.poll() is None:
            peer.kill()
        peer.wait()
    return result, received


def run(quick: bool) -> list[Figure]:
    seconds = QUICK_SECONDS if quick else FULL_SECONDS
    result, received = soak(seconds)
    samples: list[tuple[float, int, float]] = [(t, n, rss) for t, n, rss in result["samples"]]
    warm = _rss_at(samples, WARMUP)
    figures = []
    for fraction in (0.25, 0.5, 1.0):
        rss = _rss_at(samples, fraction)
        last = fraction == 1.0
        figures.append(Figure(
            NAME, f"RSS at {fraction:.0%} of the run", round(rss, 1), "MB", round(warm, 1), round(rss / warm, 3),
            f"≤ {FLAT_GOAL:.2f}x warm-up RSS" if last else None, rss <= FLAT_GOAL * warm if last else None,
            f"{result['calls']} calls over {seconds:g} s at {RATE:g}/s, speed {SPEED:g}",
        ))
    slope = _slope_mb_per_1000_calls(samples)
    # A slope over the few calls of quick mode is allocator noise (tens of MB either way): judged in full mode only.
    figures.append(Figure(
        NAME, "RSS growth per 1,000 calls after warm-up", round(slope, 3), "MB", None, None,
        None if quick else f"< {SLOPE_GOAL_MB:g} MB", None if quick else slope < SLOPE_GOAL_MB,
        f"{result['ended']} calls ended" + (" (quick mode: too few to judge)" if quick else ""),
        {"samples": samples},
    ))
    accounted = result["recorded"] == result["kept"] + result["dropped"] - _dropped_problems(result)
    lossless = (
        accounted
        and received == result["recorded"] == result["expected"]
        and not result["mismatched"]
        and result["not_ok"] == 0
    )
    figures.append(Figure(
        NAME, "journal entries lost uncounted", result["recorded"] - result["kept"] - result["dropped"]
        + _dropped_problems(result) + abs(received - result["recorded"]) + abs(result["expected"] - result["recorded"]),
        "entries", None, None, "0", lossless,
        f"recorded {result['recorded']}, kept {result['kept']}, dropped {result['dropped']} "
        f"(journal of {result['journal_size']}), received {received}, sent by timelines {result['expected']}, "
        f"problems {result['problems']}",
        {k: v for k, v in result.items() if k != "samples"} | {"received": received},
    ))
    calls, bound, status = result["calls"], result["max_calls"], result["status"]
    held, forgotten = status["calls"]["held"], status["calls"]["forgotten"]
    records = status["records"]
    retained = (
        not result["refused"]
        and result["ended"] == calls
        and held + forgotten == calls
        and records["held"] + records["forgotten"] == calls
        and held <= bound
        and status["calls"]["running"] == 0
    )
    lost = abs(calls - held - forgotten) + abs(calls - records["held"] - records["forgotten"])
    figures.append(Figure(
        NAME, "calls lost uncounted", lost, "calls", None, None, "0", retained,
        f"started {calls}, held {held} (max_calls {bound}), forgotten {forgotten}; REST records held "
        f"{records['held']}, forgotten {records['forgotten']}; running at the end {status['calls']['running']}"
        + (f"; refused {result['refused']}" if result["refused"] else ""),
        {"status": status, "max_calls": bound, "calls": calls},
    ))
    return figures


def _dropped_problems(result: dict[str, Any]) -> int:
    """Problems evicted also count in `dropped`; a clean soak has none."""
    return max(0, result["problems"] - result["journal_size"]) if result["problems"] else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["child"]:
        print(json.dumps(asyncio.run(child(float(argv[1]), argv[2]))), flush=True)
        return 0
    figures = run(quick="--quick" in argv)
    for figure in figures:
        print(figure, "-", figure.detail)
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
