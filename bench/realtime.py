"""realtime: N concurrent calls at speed 1 on a real clock, each message's lateness against the run's schedule.

The figure (what a user runs): `MockVapi(clock=RealClock(), webhook=URL)` plays the bundled `long-call`
(a 13-minute support call, 179 webhooks and 918 client messages) N times at once. Every webhook goes
over real HTTP (mockvapi's own client) to a receiver in another process (bench._peers stamper); every
fourth call also streams its client messages and paced audio down its `/{id}/transport` websocket
(served by `call_endpoints` on an aiohttp app in this process) to a client in another process
(bench._peers listeners). Call i is scheduled to start at t0 + i * SPREAD / N (calls arrive over a few
seconds); a message is due at its call's scheduled start plus its offset in the call (its `timestamp`
minus the call's start_ms) and its lateness is when the other process got it (`time.monotonic()`, one
clock for every process on Linux) minus that: a call that starts late is late, and the HTTP hop and the
peer's read are included. Messages due in the first WINDOW seconds count; the calls are then cancelled.
A webhook due in the window that never arrived counts as late by (end of the run - due). The websocket
clients join each call as soon as they can (the call does not wait for them); messages before their
join are not theirs to count, and the join time is reported. Every N is run RUNS times; its figure is
the worst p99 of those runs. N doubles until a step misses 20 ms, then (full mode) one bisection step.
Goal: N >= 500.

The second figure (full mode only) is the earlier method, kept for comparison and labelled as such: short 4-turn calls
into in-process callables (no HTTP, no websocket), lateness from each call's own start, a miss re-run
and the better run kept.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bench._core import Figure, median, percentile
from bench._peers import Peer
from bench._scenarios import support_call
from mockvapi.engine.clock import RealClock
from mockvapi.engine.player import CallPlayer, MemoryClient
from mockvapi.library import resolve
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.testing import Call, MockVapi
from mockvapi.transports.websocket import call_endpoints

NAME = "realtime"
P99_LIMIT_MS = 20.0
GOAL_N = 500
OLD_GOAL_N = 200
SPREAD_S = 2.0  # the old method's spread
SCENARIO = "long-call"
WS_EVERY = 4  # every fourth call also has a websocket client
SEEDS = 8  # distinct seeds (call i plays seed i % SEEDS): each seed's timeline is simulated once to count
GRACE_S = 1.0  # after the window, before the calls are cancelled


@dataclass
class Schedule:
    """When each call of a run was due to start, and what it was due to send in the window."""

    t0: float
    window: float
    due: dict[str, tuple[float, int]] = field(default_factory=dict)  # call id -> (scheduled start, start_ms)
    expected_webhooks: int = 0

    def lateness(self, call_id: str, timestamp_ms: float, arrived: float) -> float | None:
        """Seconds late, or None if the message is not counted (unknown call, due after the window)."""
        known = self.due.get(call_id)
        if known is None:
            return None
        start, start_ms = known
        due = start + (timestamp_ms - start_ms) / 1000
        if due > self.t0 + self.window:
            return None
        return arrived - due


def summarize(schedule: Schedule, webhooks: list[list[Any]], frames: list[list[Any]], ended: float,
              joined: list[list[Any]] | None = None) -> dict[str, Any]:
    """Lateness of every counted webhook and websocket frame; a webhook due in the window that never
    arrived counts as late by `ended - due` (a lower bound)."""
    late: list[float] = []
    counted = 0
    for call_id, stamp, arrived in webhooks:
        lateness = schedule.lateness(call_id, stamp, arrived)
        if lateness is not None:
            late.append(lateness)
            counted += 1
    lost = max(0, schedule.expected_webhooks - counted)
    late.extend([max(0.0, ended - (schedule.t0 + schedule.window))] * lost)
    ws_late = []
    for url, stamp, arrived in frames:
        lateness = schedule.lateness(_call_of(url), stamp, arrived)
        if lateness is not None:
            ws_late.append(lateness)
    joins = [arrived - schedule.due[_call_of(url)][0] for url, arrived in joined or [] if _call_of(url) in schedule.due]
    every = late + ws_late
    return {
        "webhooks": counted, "expected_webhooks": schedule.expected_webhooks, "lost_webhooks": lost,
        "frames": len(ws_late), "messages": len(every),
        "p50_ms": median(every) * 1000, "p99_ms": percentile(every, 99) * 1000,
        "max_ms": (max(every) if every else 0.0) * 1000,
        "webhook_p99_ms": percentile(late, 99) * 1000, "websocket_p99_ms": percentile(ws_late, 99) * 1000,
        "join_p99_ms": percentile(joins, 99) * 1000, "joined": len(joins),
    }


def _call_of(url: str) -> str:
    return url.rstrip("/").split("/")[-2]


@dataclass
class Plan:
    """Per seed: the call's webhooks (offset, body) as simulate() has them, its call id and start_ms."""

    webhooks: dict[int, list[tuple[float, bytes]]]
    call_ids: dict[int, str]
    start_ms: dict[int, int]

    def offsets(self, seed: int) -> list[float]:
        return [at for at, _ in self.webhooks[seed]]


def plan(loaded: LoadedScenario) -> Plan:
    from mockvapi.engine.simulator import simulate

    webhooks, ids, starts = {}, {}, {}
    for seed in range(SEEDS):
        timeline = simulate(loaded, seed=seed)
        messages = timeline.messages(side="server")
        webhooks[seed] = [(at, json.dumps({"message": m}, separators=(",", ":")).encode()) for at, m in messages]
        ids[seed] = str(messages[0][1]["call"]["id"])
        starts[seed] = int(messages[0][1]["timestamp"] - round(messages[0][0] * 1000))
    return Plan(webhooks, ids, starts)


async def floor_run(n: int, window: float, spread: float, plan: Plan, receiver: Peer, url: str) -> dict[str, Any]:
    """The floor: the same calls' webhook bodies, ready-made, each POSTed at its due time by the lean
    client (one pool per call, a call's posts in order) from a bare loop: what the machine, the HTTP hop
    and the receiver cost with no mock at all."""
    from mockvapi.transports.http1 import Http1Pool

    schedule = Schedule(time.monotonic() + 0.5, window)
    headers = {"Content-Type": "application/json"}
    cut = schedule.t0 + window

    async def one(i: int, start: float) -> None:
        seed = i % SEEDS
        pool = Http1Pool()
        mine, theirs = f"{i:08d}-floor-call".encode(), plan.call_ids[seed].encode()
        try:
            for at, body in plan.webhooks[seed]:
                if start + at > cut:
                    break
                await _until(start + at)
                await pool.request("POST", url, headers, body.replace(theirs, mine), timeout=10)
        finally:
            await pool.aclose()

    tasks = []
    for i in range(n):
        start = schedule.t0 + i * spread / n
        schedule.due[f"{i:08d}-floor-call"] = (start, plan.start_ms[i % SEEDS])
        schedule.expected_webhooks += sum(1 for at in plan.offsets(i % SEEDS) if start + at <= cut)
        tasks.append(asyncio.ensure_future(one(i, start)))
    await _until(cut + GRACE_S)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    ended = time.monotonic()
    webhooks = json.loads(await receiver.ask("collect", timeout=120))
    return {"n": n, **summarize(schedule, webhooks, [], ended)}


async def _until(moment: float) -> None:
    """Sleep until time.monotonic() reaches `moment` (the last stretch by yielding, as RealClock does)."""
    remaining = moment - time.monotonic()
    if remaining > 0.002:
        await asyncio.sleep(remaining - 0.002)
    while time.monotonic() < moment:
        await asyncio.sleep(0)


async def http_run(n: int, window: float, spread: float, loaded: LoadedScenario, plan: Plan,
                   receiver: Peer, listeners: Peer, url: str) -> dict[str, Any]:
    """One run of n calls over HTTP (+ a websocket share); its lateness summary."""
    players: dict[str, CallPlayer] = {}
    clock = RealClock()
    cpu = time.process_time()
    async with MockVapi(clock=clock, webhook=url, journal_size=1_000_000) as vapi:
        app = web.Application()
        app.add_routes(call_endpoints(players.get, vapi.journal, clock))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"ws://127.0.0.1:{runner.addresses[0][1]}"
        schedule = Schedule(time.monotonic() + 0.5, window)
        calls: list[Call] = []
        try:
            for i in range(n):
                start = schedule.t0 + i * spread / n
                await _until(start)
                call = vapi.start_call(loaded, seed=i % SEEDS, client=False)
                calls.append(call)
                schedule.due[call.id] = (start, call.player.sim.start_ms)
                cut = schedule.t0 + window
                schedule.expected_webhooks += sum(1 for at in plan.offsets(i % SEEDS) if start + at <= cut)
                if i % WS_EVERY == 0:
                    players[call.id] = call.player
                    listeners.tell(f"{base}/{call.id}/transport")
            await _until(schedule.t0 + window + GRACE_S)
            running = sum(not c.done for c in calls)
        finally:
            await vapi.aclose()
            await runner.cleanup()
        ended = time.monotonic()
        problems = len(vapi.problems)
    cpu = time.process_time() - cpu
    ws = json.loads(await listeners.ask("collect", timeout=120))
    webhooks = json.loads(await receiver.ask("collect", timeout=120))
    summary = summarize(schedule, webhooks, ws["stamps"], ended, ws["joined"])
    return {"n": n, **summary, "ws_clients": len(players), "ws_errors": ws["errors"][:3],
            "running_at_cut": running, "problems": problems,
            "cpu_share": cpu / (ended - schedule.t0 + 0.5), "seconds": ended - schedule.t0}


def _http_figure(n: int, runs: list[dict[str, Any]], floor: dict[str, Any]) -> Figure:
    worst = max(runs, key=lambda r: r["p99_ms"])
    ok = worst["p99_ms"] < P99_LIMIT_MS
    others = ", ".join(f"{r['p99_ms']:.1f}" for r in runs)
    base = floor["p99_ms"]
    return Figure(
        NAME, f"over HTTP + websocket: {n} calls, lateness p99", round(worst["p99_ms"], 2), "ms", round(base, 2),
        round(worst["p99_ms"] / base, 2) if base > 0 else None, "< 20 ms", ok,
        f"worst of {len(runs)} runs (p99 {others} ms); p50 {worst['p50_ms']:.2f} ms, max {worst['max_ms']:.0f} ms; "
        f"{worst['webhooks']} webhooks (lost {worst['lost_webhooks']}, p99 {worst['webhook_p99_ms']:.1f} ms), "
        f"{worst['frames']} websocket messages to {worst['ws_clients']} clients "
        f"(p99 {worst['websocket_p99_ms']:.1f} ms, join p99 {worst['join_p99_ms']:.0f} ms); "
        f"mock CPU {worst['cpu_share'] * 100:.0f}% of a core; floor: the same webhook bodies posted on "
        f"schedule by the lean client from a bare loop (p50 {floor['p50_ms']:.2f} ms)",
        {"n": n, "runs": runs, "floor": floor},
    )


async def measure_http(quick: bool) -> list[Figure]:
    runs, window, spread, sizes, budget, bisect = (
        (1, 4.0, 2.0, (40,), 40.0, False) if quick else (2, 30.0, 5.0, (125, 250, 500, 1000), 480.0, True)
    )
    loaded = resolve(SCENARIO)
    plans = plan(loaded)
    figures: list[Figure] = []
    best, failed = 0, None
    started = time.perf_counter()
    async with Peer("stamper") as receiver, Peer("listeners") as listeners:
        url = f"http://127.0.0.1:{receiver.first_line.split()[1]}/hook"

        async def step(n: int) -> bool:
            results = [await http_run(n, window, spread, loaded, plans, receiver, listeners, url)
                       for _ in range(runs)]
            floor = await floor_run(n, window, spread, plans, receiver, url)
            figures.append(_http_figure(n, results, floor))
            return bool(figures[-1].met)

        for n in sizes:
            if await step(n):
                best = n
            else:
                failed = n
                break
            if time.perf_counter() - started > budget / 2:
                break
        if bisect and failed is not None and time.perf_counter() - started < budget * 0.75:
            n = _midpoint(best, failed)
            if best < n < failed:
                if await step(n):
                    best = n
                else:
                    failed = n
    tried = ", ".join(str(f.extra["n"]) for f in figures)
    figures.append(Figure(
        NAME, "over HTTP + websocket: largest N with p99 < 20 ms", best, "calls", None, None, "≥ 500",
        best >= GOAL_N,
        f"{SCENARIO}, {window:g} s of each run counted, 1 in {WS_EVERY} calls with a websocket client; "
        f"tried {tried}" + (f"; {failed} missed" if failed is not None else "")))
    return figures


# -- the earlier method, kept as a labelled second figure ---------------------------------------------

OLD = "in-process callables, 4-turn calls (earlier method)"


class TimedClient(MemoryClient):
    """Notes how late each client message arrives; keeps nothing else."""

    def __init__(self, call: list[Call], lateness: list[float]) -> None:
        super().__init__()
        self.call = call
        self.lateness = lateness

    def push(self, at: float, message: dict[str, Any], tamper: Any = None) -> None:
        self.lateness.append(self.call[0].player.offset() - at)


async def one_step(n: int, turns: int) -> dict[str, Any]:
    loaded = support_call(turns, pause=None)
    lateness: list[float] = []
    clock = RealClock()
    async with MockVapi(clock=clock) as vapi:
        calls = []
        started = time.perf_counter()
        for i in range(n):
            ref: list[Call] = []

            def hook(body: Any, headers: Any, ref: list[Call] = ref) -> dict[str, Any]:
                player = ref[0].player
                scheduled = (body["message"]["timestamp"] - player.sim.start_ms) / 1000
                lateness.append(player.offset() - scheduled)
                return {}

            call = vapi.start_call(loaded, webhook=hook, seed=i, client=False, clients=[TimedClient(ref, lateness)])
            ref.append(call)
            calls.append(call)
            await clock.sleep_until((i + 1) * SPREAD_S / n)
        await asyncio.gather(*(c.wait() for c in calls))
        took = time.perf_counter() - started
        problems = len(vapi.problems)
    return {"n": n, "messages": len(lateness), "p50_ms": median(lateness) * 1000,
            "p99_ms": percentile(lateness, 99) * 1000, "max_ms": max(lateness) * 1000, "seconds": took,
            "problems": problems}


def _figure(step: dict[str, Any]) -> Figure:
    ok = step["p99_ms"] < P99_LIMIT_MS
    return Figure(
        NAME, f"{OLD}: {step['n']} calls, lateness p99", round(step["p99_ms"], 2), "ms", None, None, "< 20 ms", ok,
        f"p50 {step['p50_ms']:.2f} ms, max {step['max_ms']:.1f} ms, {step['messages']} messages, "
        f"{step['seconds']:.1f} s" + (f"; best of 2, other p99 {step['other_p99_ms']:.1f} ms"
                                      if "other_p99_ms" in step else ""), step,
    )


def _midpoint(lo: int, hi: int) -> int:
    """Halfway, rounded to a multiple of 10 (25 from 200 on) so the steps read as round numbers."""
    unit = 25 if hi >= 200 else 10
    mid = round((lo + hi) / 2 / unit) * unit
    return mid if lo < mid < hi else (lo + hi) // 2


async def measure_old(quick: bool) -> list[Figure]:
    turns, budget, sizes, bisections, retry_misses = (
        (2, 20.0, (50,), 0, False) if quick else (4, 150.0, (100, 200, 400, 800), 1, True)
    )
    figures = []
    best, failed = 0, None
    started = time.perf_counter()

    def affordable(step: dict[str, Any]) -> bool:
        # The next step (as long again, busier) must fit in the budget.
        return time.perf_counter() - started + float(step["seconds"]) * 1.3 <= budget

    async def step_at(n: int) -> dict[str, Any]:
        step = await one_step(n, turns)
        if retry_misses and step["p99_ms"] >= P99_LIMIT_MS and affordable(step):
            # The earlier method: a miss is run once more and the better run kept.
            again = await one_step(n, turns)
            better, other = (again, step) if again["p99_ms"] < step["p99_ms"] else (step, again)
            step = {**better, "other_p99_ms": other["p99_ms"]}
        return step

    for n in sizes:
        step = await step_at(n)
        figures.append(_figure(step))
        if not figures[-1].met:
            failed = n
            break
        best = n
        if not affordable(step):
            break
    while failed is not None and bisections > 0 and failed - best > max(10, best // 8) and affordable(step):
        bisections -= 1
        n = _midpoint(best, failed)
        step = await step_at(n)
        figures.append(_figure(step))
        if figures[-1].met:
            best = n
        else:
            failed = n
    tried = ", ".join(str(f.extra["n"]) for f in figures)
    figures.append(Figure(NAME, f"{OLD}: largest N with p99 < 20 ms", best, "calls", None, None, "≥ 200",
                          best >= OLD_GOAL_N,
                          f"tried {tried}" + (f"; {failed} missed" if failed is not None else "")))
    return figures


async def measure(quick: bool) -> list[Figure]:
    # Quick mode (the CI smoke) skips the earlier method: its short calls add ~20 s and nothing new.
    return await measure_http(quick) + ([] if quick else await measure_old(quick))


def run(quick: bool) -> list[Figure]:
    return asyncio.run(measure(quick))
