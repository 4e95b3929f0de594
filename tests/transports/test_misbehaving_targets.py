"""Webhook targets that misbehave, as real loopback servers: refuse connections, hang, answer slowly,
answer garbage (not HTTP, broken chunking, invalid JSON) or reset the connection mid-response.

For each: every delivery is recorded with its failure, a problem is recorded, the call plays to its
end, the end-of-call-report is still attempted (retried as the backoffPlan says), and a healthy call
played beside it keeps the timeline it has alone. Calls run on a VirtualClock; the per-attempt
timeout is the server's timeoutSeconds divided by the clock's io_speed, so a hang costs ~100 ms.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from mockvapi.engine.clock import VirtualClock
from mockvapi.testing import Call, MockVapi

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
IO_SPEED = 10.0  # a failing target's timeoutSeconds 1 -> 100 ms real; a healthy one's 30 -> 3 s


def scenario(retries: int = 0, timeout: float = 1) -> str:
    return f"""\
version: 1
name: misbehaving
assistant:
  server:
    url: http://127.0.0.1:9/unused
    timeoutSeconds: {timeout}
    backoffPlan: {{maxRetries: {retries}, baseDelaySeconds: 1}}
steps:
  - user: "Hello, is this the bakery?"
  - assistant: "It is. What can I get you?"
  - end: customer-ended-call
"""


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    await reader.readexactly(length)


def _answer(raw: bytes) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await _read_request(reader)
                writer.write(raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


async def _hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read()  # until the client gives up and closes
    finally:
        writer.close()


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"par")
    await writer.drain()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    writer.transport.abort()


def _slow(delay: float) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await _read_request(reader)
                await asyncio.sleep(delay)  # the target's own slowness, below the timeout
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


HANDLERS: dict[str, Handler] = {
    "hang": _hang,
    "not-http": _answer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
    "broken-chunking": _answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nnope\r\n"),
    "invalid-json-500": _answer(
        b"HTTP/1.1 500 Oops\r\nContent-Length: 9\r\nContent-Type: application/json\r\n\r\n{not json"
    ),
    "reset": _reset,
}


@asynccontextmanager
async def target(kind: str) -> AsyncIterator[str]:
    if kind == "refused":
        with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        yield f"http://127.0.0.1:{port}/hook"
        return
    handler = _slow(0.02) if kind == "slow" else HANDLERS[kind]
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def healthy() -> AsyncIterator[str]:
    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


def timeline(call: Call) -> list[tuple[str, float, bool]]:
    return [(d.message_type, round(d.at, 6), d.ok) for d in call.deliveries()]


FAILING = ["refused", "hang", "not-http", "broken-chunking", "invalid-json-500", "reset"]


@pytest.mark.parametrize("kind", FAILING)
async def test_a_failing_target_is_recorded_and_the_call_goes_on(kind: str) -> None:
    async with target(kind) as bad, healthy() as good:
        async with MockVapi(clock=VirtualClock(io_speed=IO_SPEED), strict=False) as alone_vapi:
            alone = await alone_vapi.play(scenario(timeout=30), webhook=good, seed=1)
        async with MockVapi(clock=VirtualClock(io_speed=IO_SPEED), strict=False) as vapi:
            failing = vapi.start_call(scenario(), webhook=bad, seed=2)
            beside = vapi.start_call(scenario(timeout=30), webhook=good, seed=1, call_id=alone.id)
            await asyncio.wait_for(asyncio.gather(failing.wait(), beside.wait()), timeout=60)

    assert failing.ended_reason == "customer-ended-call"
    deliveries = failing.deliveries()
    sent = [m["type"] for m in failing.messages("server")]
    assert [d.message_type for d in deliveries] == sent  # every message recorded, in order
    assert deliveries and all(not d.ok and d.error for d in deliveries), deliveries
    assert deliveries[-1].message_type == "end-of-call-report"  # still attempted
    problems = [p for p in failing.problems if p.kind == "delivery-failed"]
    assert problems and all(bad in p.detail for p in problems)
    # The healthy call beside it: the same deliveries at the same times as when it played alone.
    assert beside.problems == []
    assert timeline(beside) == timeline(alone)


async def test_a_slow_target_is_waited_for_and_recorded_ok() -> None:
    async with target("slow") as slow, MockVapi(clock=VirtualClock(io_speed=IO_SPEED), strict=False) as vapi:
        call = await vapi.play(scenario(timeout=30), webhook=slow, seed=3)
    assert call.ended_reason == "customer-ended-call"
    assert call.deliveries() and all(d.ok for d in call.deliveries())
    assert all(d.latency is not None and d.latency >= 0.02 for d in call.deliveries())
    assert call.problems == []


@pytest.mark.parametrize("kind", ["refused", "hang", "reset", "invalid-json-500"])
async def test_the_backoff_plan_is_followed_for_a_failing_target(kind: str) -> None:
    async with target(kind) as bad, MockVapi(clock=VirtualClock(io_speed=IO_SPEED), strict=False) as vapi:
        call = await asyncio.wait_for(vapi.play(scenario(retries=2), webhook=bad, seed=4), timeout=60)
    assert call.ended_reason == "customer-ended-call"
    report = call.deliveries(type="end-of-call-report")
    assert len(report) == 1 and report[0].attempts == 3, report  # 1 try + maxRetries 2
    assert all(d.attempts == 3 for d in call.deliveries())
    assert "after 3 attempts" in (report[0].error or "")

