"""A vapi.websocket call that no client joins hears no audio, not even silence: Vapi ends it
`silence-timed-out` (PROTOCOL.md 1c), and the customer's webhook (a loopback server) is told so, with
message.call carrying the ended call. Any other call type starts without a client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.library import resolve
from mockvapi.testing import MockVapi


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def take(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read())["message"])
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", take)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("/hook")), received
    finally:
        await server.close()


async def test_a_websocket_call_nobody_joins_ends_silence_timed_out(
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook
    async with MockVapi(webhook=url, strict=False) as vapi:
        call = vapi.start_call("interrupt-after-first-token", client=False, wait_for_client=0.01)
        await call.wait()
    assert call.ended_reason == "silence-timed-out"
    assert [p.kind for p in call.problems] == ["no-client"]
    assert [(m["type"], m.get("status")) for m in received] == [
        ("status-update", "ended"), ("end-of-call-report", None)]
    assert received[0]["endedReason"] == received[1]["endedReason"] == "silence-timed-out"
    assert received[1]["call"]["status"] == "ended"
    assert received[1]["call"]["endedReason"] == "silence-timed-out"
    assert received[1]["artifact"]["messages"] == []


async def test_another_call_type_starts_without_a_client(webhook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = webhook
    async with MockVapi(webhook=url) as vapi:
        call = vapi.start_call("happy-path", client=False, wait_for_client=0.01)
        await call.wait()
    assert call.ended_reason == resolve("happy-path").scenario.expect.ended_reason  # type: ignore[union-attr]
    statuses = [m["call"]["status"] for m in received]
    assert statuses[0] == "in-progress" and statuses[-1] == "ended"
    assert "startedAt" in received[0]["call"] and received[-1]["call"]["cost"] == received[-1]["cost"]
