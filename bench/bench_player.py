"""How fast and how punctually CallPlayer plays calls into its transports.

1. Virtual time: the bundled long-call scenario (or a 10-minute one built in memory) played on a
   VirtualClock into an in-process callable webhook. Best of N wall time, against two floors measured
   in the same run: simulate() of the same scenario, and json.dumps of its webhook envelopes (any
   webhook delivery has to serialise them). Also the player with no transport at all, for scale.
2. Real time at speed 1: a short call (a few seconds) on a RealClock into a MemoryClient, a callable
   webhook and a websocket peer (call_endpoints on 127.0.0.1, port 0). Lateness of each message
   against its offset (clock.now() at receipt minus the message's offset), p50 / p99 / max in ms,
   and the websocket's 20 ms audio frames: how many arrived against the call's length, and the gaps.

Exits non-zero if the virtual-time run takes a second or more.

    .venv/bin/python bench/bench_player.py [--repeat N] [--speed S] [--no-real-time]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.engine.clock import RealClock, VirtualClock
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer, MemoryClient
from mockvapi.engine.simulator import simulate
from mockvapi.library import bundled_names, resolve
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.transports.webhook import TargetPool, WebhookSink
from mockvapi.transports.websocket import call_endpoints

LIMIT_SECONDS = 1.0
GOAL_SECONDS = 0.1

TEN_MINUTES = """
version: 1
name: ten-minutes-in-memory
call: {type: inboundPhoneCall}
assistant: {firstMessage: "Thanks for calling support, this is Morgan. How can I help?"}
steps:
""" + "".join(
    '  - user: "The light is still blinking green."\n'
    '  - assistant: "That is expected while the hub updates. Let us give it a minute."\n'
    "  - silence: 60s\n"
    for _ in range(10)
)

SHORT = """
version: 1
name: short-real-time
seed: 61
call: {type: vapi.websocketCall}
assistant:
  firstMessage: "Hi, this is the bakery."
  serverMessages: [conversation-update, model-output, speech-update, status-update, transcript, voice-input,
                   end-of-call-report]
  clientMessages: [conversation-update, model-output, speech-update, status-update, transcript, voice-input]
timing: {user_pause: 0.3s, report_delay: 0.3s, first_token_latency: 0.3s, wait_seconds: 0.2s, words_per_minute: 300,
         user_words_per_minute: 300}
steps:
  - user: "Are you open on Sunday?"
  - assistant: "Yes, from eight in the morning until two."
  - end: customer-ended-call
"""


def longest() -> tuple[LoadedScenario, str]:
    if "long-call" in bundled_names():
        return resolve("long-call"), "bundled long-call"
    return resolve(TEN_MINUTES), "built in memory"


async def best_of(repeat: int, work: Callable[[], Awaitable[Any]]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        await work()
        best = min(best, time.perf_counter() - start)
    return best


def best_of_sync(repeat: int, work: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {p50 * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms  max {ordered[-1] * 1000:6.2f} ms  (n={len(ordered)})"


# -- 1. virtual time ------------------------------------------------------------------------------


async def virtual_time(repeat: int) -> float:
    loaded, origin = longest()
    timeline = simulate(loaded)
    envelopes = [{"message": m} for _, m in timeline.messages(side="server")]
    size = sum(len(json.dumps(e)) for e in envelopes)
    print(f"1. virtual time: {loaded.scenario.name} ({origin})")
    print(
        f"   call: {timeline.duration / 60:.1f} min, {len(timeline.events)} events, {len(envelopes)} webhooks, "
        f"{size / 1e6:.1f} MB of JSON"
    )

    # One clock for every run: each call starts where the previous one ended (virtual time is free).
    clock = VirtualClock()
    received = 0

    def webhook(body: Any) -> None:
        nonlocal received
        received += 1

    async def play_webhook() -> None:
        journal = Journal()
        pool = TargetPool(webhook)
        player = CallPlayer(loaded, clock=clock, journal=journal, server=WebhookSink(pool, journal, clock))
        await player.run()
        await pool.aclose()

    async def play_bare() -> None:
        await CallPlayer(loaded, clock=clock).run()

    player_s = await best_of(repeat, play_webhook)
    assert received == repeat * len(envelopes), (received, len(envelopes))
    bare_s = await best_of(repeat, play_bare)
    simulate_s = best_of_sync(repeat, lambda: simulate(loaded))
    dumps_s = best_of_sync(repeat, lambda: [json.dumps(e, separators=(",", ":")) for e in envelopes])
    floor_s = max(simulate_s, dumps_s)
    verdict = "ok" if player_s < GOAL_SECONDS else "over the goal"
    print(f"   player -> callable webhook: {ms(player_s)}  (goal < {GOAL_SECONDS * 1000:.0f} ms: {verdict})")
    print(f"   player, no transport:       {ms(bare_s)}")
    print(f"   floor simulate():           {ms(simulate_s)}")
    print(f"   floor json.dumps envelopes: {ms(dumps_s)}")
    print(f"   ratio webhook player / simulate():   {player_s / simulate_s:6.2f} x")
    print(f"   ratio webhook player / json.dumps:   {player_s / dumps_s:6.2f} x")
    print(f"   ratio webhook player / larger floor: {player_s / floor_s:6.2f} x")
    print(f"   virtual speed-up: {timeline.duration / player_s:,.0f} x real time")
    return player_s


# -- 2. real time ---------------------------------------------------------------------------------


class TimedClient(MemoryClient):
    """A MemoryClient that notes how late each message was pushed."""

    def __init__(self, player_ref: list[CallPlayer]) -> None:
        super().__init__()
        self.player_ref = player_ref
        self.lateness: list[float] = []

    def push(self, at: float, message: dict[str, Any]) -> None:
        self.lateness.append(self.player_ref[0].offset() - at)
        super().push(at, message)


async def real_time(speed: float) -> None:
    loaded = resolve(SHORT)
    expected = simulate(loaded)
    print(
        f"2. real time at speed {speed:g}: {loaded.scenario.name}, {expected.duration:.1f} s of call, "
        f"{len(expected.messages(side='server'))} webhooks, {len(expected.messages(side='client'))} client messages"
    )
    clock = RealClock(speed=speed)
    journal = Journal()
    ref: list[CallPlayer] = []
    webhook_lateness: list[float] = []
    start_ms = 1_767_603_600_000

    def webhook(body: Any) -> None:
        message = body["message"]
        webhook_lateness.append(ref[0].offset() - (message["timestamp"] - start_ms) / 1000)

    client = TimedClient(ref)
    pool = TargetPool(webhook)
    player = CallPlayer(
        loaded, clock=clock, journal=journal, start_ms=start_ms, server=WebhookSink(pool, journal, clock)
    )
    ref.append(player)

    app = web.Application()
    app.add_routes(call_endpoints({player.call_id: player}.get, journal, clock))
    ws_lateness: list[float] = []
    frame_times: list[float] = []
    async with TestServer(app, host="127.0.0.1", port=0) as server, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.make_url(f"/{player.call_id}/transport"))
        await player.client_joined.wait()
        player.add_client(client)

        async def read() -> None:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    at = (json.loads(frame.data)["timestamp"] - start_ms) / 1000
                    ws_lateness.append(player.offset() - at)
                elif frame.type == aiohttp.WSMsgType.BINARY:
                    frame_times.append(clock.now())

        reader = asyncio.ensure_future(read())
        await player.run()
        await reader
    await pool.aclose()

    gaps = [(b - a) / speed for a, b in zip(frame_times, frame_times[1:], strict=False)]
    print(f"   memory client lateness:   {percentiles(client.lateness)}")
    print(f"   callable webhook latency: {percentiles(webhook_lateness)}  (queueing behind earlier posts included)")
    print(f"   websocket text lateness:  {percentiles(ws_lateness)}  (socket included)")
    duration = player.timeline().duration
    print(
        f"   websocket audio: {len(frame_times)} frames for {duration:.2f} s of call "
        f"(one per 20 ms would be {duration / 0.02:.0f}); gaps between frames: {percentiles(gaps)}"
    )


async def main_async(args: argparse.Namespace) -> int:
    player_s = await virtual_time(args.repeat)
    if not args.no_real_time:
        print()
        await real_time(args.speed)
    if player_s >= LIMIT_SECONDS:
        print(f"FAIL: the virtual-time run took {player_s:.3f} s (limit {LIMIT_SECONDS:.1f} s)", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="virtual-time runs (best is kept)")
    parser.add_argument("--speed", type=float, default=1.0, help="RealClock speed for the real-time run")
    parser.add_argument("--no-real-time", action="store_true", help="skip the real-time run")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
