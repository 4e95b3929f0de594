"""websocket: messages per second mockvapi sends down a call's `vapi.websocket` transport, against a bare
aiohttp websocket handler sending the same frames to the same reader.

A 50-turn `vapi.websocketCall` plays on a virtual clock (one 20 ms audio frame goes with each message
there, so frames and texts interleave as on a live call) through the transport routes
(`call_endpoints`) on 127.0.0.1. The reader is its own process (bench._peers): it connects, reads every
frame until the server closes, and answers with the counts; each run is timed from building the call's
player (inside the timed region, as a user's call is built) to the reader's answer, so the mock's
figure includes making and simulating the call. The floor's handler sends the frames
the mock sent (captured once) with send_str/send_bytes and closes. Runs alternate; best of each is kept.
Goal: at least 0.5 of the floor (issue 17).

A second figure, with no goal, bounds what any transport can reach on top of this simulation: its floor
is the bare handler's time plus the same call simulated and its client messages rendered (`simulate()`,
no player, no encoding, no socket), one after the other. A mock that simulates its calls in one process
cannot skip either half, and encoding is left out of the bound, so it is generous: if the bound alone is
under 0.5 of the floor, no work on the transport meets the goal; only a faster simulation (or one in
another process) can.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
from aiohttp import web

from bench._core import Figure
from bench._peers import Peer
from bench._scenarios import support_call
from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer
from mockvapi.engine.simulator import simulate
from mockvapi.transports.websocket import call_endpoints

NAME = "websocket"
GOAL_RATIO = 0.5


async def measure(quick: bool) -> list[Figure]:
    repeat = 3 if quick else 7
    loaded = support_call(50, call_type="vapi.websocketCall")
    clock = VirtualClock()
    journal = Journal()
    players: dict[str, CallPlayer] = {}
    frames: list[str | bytes] = []

    async def bare(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        for frame in frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        await ws.close()
        return ws

    app = web.Application()
    app.add_routes(call_endpoints(players.get, journal, clock))
    app.router.add_get("/bare", bare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"ws://127.0.0.1:{runner.addresses[0][1]}"

    def new_call() -> tuple[CallPlayer, asyncio.Task[object]]:
        player = CallPlayer(loaded, clock=clock, journal=journal)
        players[player.call_id] = player
        return player, asyncio.ensure_future(player.run(wait_for_client=60))

    try:
        # Capture what the mock sends, for the floor to send the same.
        player, task = new_call()
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"{base}/{player.call_id}/transport", heartbeat=None) as ws:
            async for frame in ws:
                if frame.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    frames.append(frame.data)
        await task
        texts = sum(isinstance(f, str) for f in frames)
        best_mock = best_floor = best_sim = float("inf")
        async with Peer("reader") as reader:
            for _ in range(repeat):
                started = time.perf_counter()
                player, task = new_call()
                counts = await reader.ask(f"{base}/{player.call_id}/transport")
                best_mock = min(best_mock, time.perf_counter() - started)
                await task
                del players[player.call_id]
                if counts != f"{texts} {len(frames) - texts}":
                    raise RuntimeError(f"mock sent {counts} (text binary) frames, not {texts} {len(frames) - texts}")
                started = time.perf_counter()
                counts = await reader.ask(f"{base}/bare")
                best_floor = min(best_floor, time.perf_counter() - started)
                started = time.perf_counter()
                simulate(loaded).messages(side="client")
                best_sim = min(best_sim, time.perf_counter() - started)
    finally:
        await runner.cleanup()
    value, floor, bound = texts / best_mock, texts / best_floor, texts / (best_floor + best_sim)
    size = f"{texts} messages + {len(frames) - texts} audio frames, {sum(len(f) for f in frames) / 1e6:.1f} MB"
    return [
        Figure(
            NAME, "client messages/s, one call", round(value), "msg/s", round(floor), round(value / floor, 3),
            "≥ 0.5× floor", value / floor >= GOAL_RATIO, size, {"seconds": best_mock, "floor_seconds": best_floor},
        ),
        Figure(
            NAME, "client messages/s, one call, vs floor + simulation", round(value), "msg/s", round(bound),
            round(value / bound, 3), None, None,
            f"{size}; bound: the bare handler plus the call simulated and rendered alone ({texts / best_sim:.0f} "
            f"msg/s alone), one after the other; the bound is {bound / floor:.2f}× the floor",
            {"seconds": best_mock, "floor_seconds": best_floor + best_sim, "simulation_seconds": best_sim},
        ),
    ]


def run(quick: bool) -> list[Figure]:
    return asyncio.run(measure(quick))
