"""memory: resident memory for 1,000 concurrent virtual-time calls and for one 1-hour call; the journal bound.

Each measurement runs in a fresh child process (`python -m bench.memory CASE`) so one does not inherit
another's heap. The floor is the child's resident set after its imports and one warm-up call; the value
is the peak resident set (ru_maxrss) while the case ran. Every server message goes to an in-process
callable webhook, so the journal keeps each delivery's request body as a real run would.
Journal bound: 200 calls into a journal of 1,000 entries: it must hold at most 1,000 and count the rest
as dropped.
Per live call (issue 17's figure): the child starts N `long-call`s at once on a real clock (speed
LIVE_SPEED) with `webhook=` a receiver in another process (bench._peers), so every delivery goes over
HTTP; LIVE_AT_S real seconds in (a minute of each call), while all N are still running, it samples its
resident set and the objects the GC tracks; the floor is the same after imports, one warm-up call to the
same URL and a collection. Per live call = (sample - floor) / N. Goal: at most 60 kB.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench._core import Figure

NAME = "memory"
LIVE_SPEED = 6.0
LIVE_AT_S = 10.0
QUICK_LIVE_AT_S = 5.0  # quick mode (CI smoke) samples half a minute into each call
LIVE_GOAL_KB = 60.0
REPO = Path(__file__).resolve().parents[1]
MAX_ENTRIES = 1000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def live_child(calls: int, at_s: float = LIVE_AT_S) -> dict[str, Any]:
    import gc

    from bench._peers import Peer
    from mockvapi.engine.clock import RealClock
    from mockvapi.library import resolve
    from mockvapi.testing import MockVapi

    long_call = resolve("long-call")
    async with Peer("receiver") as receiver:
        url = f"http://127.0.0.1:{receiver.first_line.split()[1]}/hook"
        async with MockVapi(webhook=url) as warm:
            await warm.play(resolve("happy-path"))  # warm-up: imports, the lean client, one whole call
        gc.collect()
        floor, objects = rss_mb(), len(gc.get_objects())
        async with MockVapi(clock=RealClock(LIVE_SPEED), webhook=url) as vapi:
            started = [vapi.start_call(long_call, seed=i, client=False) for i in range(calls)]
            await asyncio.sleep(at_s)
            running = sum(not c.done for c in started)
            sample, live_objects = rss_mb(), len(gc.get_objects())
            entries = len(vapi.journal)
            at = started[0].player.offset()
    return {"floor_mb": floor, "sample_mb": sample, "calls": calls, "running": running, "entries": entries,
            "objects_per_call": (live_objects - objects) / calls, "call_seconds": at}


async def child(case: str, calls: int, at_s: float = LIVE_AT_S) -> dict[str, Any]:
    if case == "live":
        return await live_child(calls, at_s)
    from bench._scenarios import support_call
    from mockvapi.library import resolve
    from mockvapi.testing import MockVapi

    def hook(body: Any) -> dict[str, Any]:
        return {}

    short = resolve("happy-path")
    hour = support_call(240, pause="120s", name="one-hour")
    async with MockVapi(webhook=hook, journal_size=MAX_ENTRIES if case == "journal" else 100_000) as vapi:
        await vapi.play(short)  # warm-up
        vapi.journal.clear()
        floor = rss_mb()
        if case == "hour":
            call = await vapi.play(hour)
            detail = {"duration_min": call.timeline.duration / 60, "turns": len(call.history)}
        else:
            done = await vapi.play_many([short] * calls)
            detail = {"calls": len(done), "ended": sum(c.ended_reason is not None for c in done)}
        journal = vapi.journal
        detail.update(entries=len(journal), dropped=journal.dropped, recorded=journal._seq,
                      problems=len(journal.problems), max_entries=journal.max_entries,
                      request_mb=sum(len(d.request_body or "") for d in journal) / 1e6)
    return {"floor_mb": floor, "peak_mb": peak_mb(), **detail}


def measure(case: str, calls: int = 0, at_s: float = LIVE_AT_S) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.memory", case, str(calls), str(at_s)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"memory child {case} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool) -> list[Figure]:
    calls = 250 if quick else 1000
    many = measure("calls", calls)
    added = many["peak_mb"] - many["floor_mb"]
    figures = [Figure(NAME, f"{calls} concurrent virtual calls: peak RSS", round(many["peak_mb"], 1), "MB",
                      round(many["floor_mb"], 1), round(many["peak_mb"] / many["floor_mb"], 2), None, None,
                      f"+{added:.0f} MB, {added * 1024 / calls:.0f} kB per call, {many['entries']} journal entries",
                      many)]
    hour = measure("hour")
    added = hour["peak_mb"] - hour["floor_mb"]
    figures.append(Figure(NAME, "one 1-hour call: peak RSS", round(hour["peak_mb"], 1), "MB",
                          round(hour["floor_mb"], 1), round(hour["peak_mb"] / hour["floor_mb"], 2), None, None,
                          f"+{added:.0f} MB; {hour['duration_min']:.0f} min, {hour['turns']} history items, "
                          f"{hour['request_mb']:.0f} MB of webhook bodies journaled", hour))
    live_n = 50 if quick else 200
    live = measure("live", live_n, QUICK_LIVE_AT_S if quick else LIVE_AT_S)
    per_call_kb = (live["sample_mb"] - live["floor_mb"]) * 1024 / live_n
    figures.append(Figure(NAME, f"per live call ({live_n} concurrent long-calls over HTTP, sampled mid-call)",
                          round(per_call_kb, 1), "kB", None, None, "≤ 60 kB", per_call_kb <= LIVE_GOAL_KB,
                          f"RSS {live['floor_mb']:.0f} -> {live['sample_mb']:.0f} MB at {live['call_seconds']:.0f} s "
                          f"of each call ({live['running']} running); {live['objects_per_call']:.0f} GC-tracked "
                          f"objects per call; {live['entries']} journal entries", live))
    bound = measure("journal", 50 if quick else 200)
    held = bound["entries"] <= MAX_ENTRIES and bound["dropped"] == bound["recorded"] - bound["entries"] \
        and bound["dropped"] > 0
    figures.append(Figure(NAME, "journal bound: entries kept", bound["entries"], "entries", MAX_ENTRIES,
                          round(bound["entries"] / MAX_ENTRIES, 2), "≤ max_entries, the rest counted as dropped",
                          held, f"{bound['recorded']} recorded, {bound['dropped']} dropped, "
                          f"{bound['calls']} calls", bound))
    return figures


if __name__ == "__main__":
    print(json.dumps(asyncio.run(child(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))))
