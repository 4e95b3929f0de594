"""A large webhook reply (issue 14, item 9): a multi-megabyte tool result rides in every later message's
history, yet costs mockvapi about its size once, not once per later message, and the call still ends and
reports. Driven the way it was found: a real webhook server on loopback answering a 4 MB tool result.

Memory is measured with tracemalloc (what Python allocates, the target's own included, which reads request
bodies in small pieces and never keeps them) as ratios to the reply's size, never as absolute RSS."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from mockvapi.engine.clock import VirtualClock
from mockvapi.testing import Call, MockVapi

MB = 1024 * 1024
SIZE = 4 * MB


class BigToolServer:
    """Answers tool-calls with a SIZE-character result; reads every other body in pieces and drops it."""

    def __init__(self) -> None:
        self.url = ""
        self.bodies = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> BigToolServer:
        app = web.Application(client_max_size=1024 * MB)
        app.router.add_post("/hook", self._take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _take(self, request: web.Request) -> web.Response:
        self.bodies += 1
        head = await request.content.read(64 * 1024)
        while await request.content.read(64 * 1024):
            pass
        if b'"type":"tool-calls"' not in head[:200]:
            return web.json_response({})
        call_id = json.loads(head)["message"]["toolCallList"][0]["id"]
        result = {"results": [{"toolCallId": call_id, "result": "x" * SIZE}]}
        return web.Response(body=json.dumps(result).encode(), content_type="application/json")


def scenario(url: str, turns: int) -> str:
    more = "".join(f'  - assistant: "Anything else, number {n}?"\n  - user: "Yes, one more thing."\n'
                   for n in range(turns))
    return f"""\
version: 1
name: big-reply
assistant:
  server: {{url: "{url}", timeoutSeconds: 60}}
  tools:
    - name: lookup
      description: Look a record up.
      parameters: {{id: string}}
steps:
  - user: "Look up my record, please."
  - tool: {{name: lookup, arguments: {{id: "42"}}}}
{more}  - assistant: "That is all of it."
  - end: customer-ended-call
"""


@pytest.fixture
async def target() -> AsyncIterator[BigToolServer]:
    server = await BigToolServer().start()
    yield server
    await server.aclose()


async def _measured(url: str, turns: int) -> tuple[Call, MockVapi, float, float]:
    """Play one call; (call, its MockVapi still holding it, memory kept after it, peak while it played),
    both as multiples of SIZE."""
    vapi = MockVapi(clock=VirtualClock(), strict=False)
    await vapi.start()
    gc.collect()
    tracemalloc.start()
    try:
        call = await vapi.play(scenario(url, turns))
        gc.collect()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return call, vapi, kept / SIZE, peak / SIZE


async def test_the_call_ends_and_reports_every_message_after_a_4_mb_tool_result(target: BigToolServer) -> None:
    call, vapi, _, _ = await _measured(target.url, turns=2)
    try:
        assert call.ended_reason == "customer-ended-call"
        assert call.history[2]["role"] == "tool_call_result" and len(call.history[2]["result"]) == SIZE
        failed = [(d.message_type, d.error) for d in call.deliveries() if not d.ok]
        assert failed == [] and call.problems == []
        sent = call.deliveries(channel="webhook")
        ended = [d for d in sent if d.message_type == "status-update" and d.message["status"] == "ended"]
        assert len(ended) == 1 and ended[0].status == 200
        assert sent[-1].message_type == "end-of-call-report" and sent[-1].status == 200
        assert target.bodies == len(sent)
        # The journal still gives the body as sent, large ones included (re-encoded when read).
        report = json.loads(sent[-1].request_body or "")
        assert report["message"]["artifact"]["messages"][2]["result"] == "x" * SIZE
    finally:
        await vapi.aclose()


async def test_a_large_reply_costs_about_its_size_once_not_once_per_later_message(target: BigToolServer) -> None:
    few_call, few, few_kept, few_peak = await _measured(target.url, turns=1)
    await few.aclose()
    many_call, many, many_kept, many_peak = await _measured(target.url, turns=6)
    await many.aclose()
    later = len(many_call.deliveries()) - len(few_call.deliveries())
    assert later >= 25  # each of which carries the 4 MB result in its history
    # Held after the call: the result itself and the journal's copy of the reply, whatever follows it...
    assert many_kept < 4, f"{many_kept:.1f}x the reply's size kept after the call"
    assert many_kept - few_kept < 0.5, f"{later} later messages kept {many_kept - few_kept:.2f}x more"
    # ...and while playing, about one message's worth at a time (a message carries it five times, as text
    # and bytes, and the target reads it), never growing with the messages that follow.
    assert many_peak - few_peak < 2, f"peak grew by {many_peak - few_peak:.2f}x with {later} more messages"
    assert many_peak < 30, f"peak {many_peak:.1f}x the reply's size"
