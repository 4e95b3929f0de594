"""Replies judged as Vapi judges them, through a real transport: the customer's server is an aiohttp
app on loopback port 0 that answers transfer-destination-request and tool-calls; what it answers
decides what the assistant says, where the call goes and what history keeps. The client stream (the
in-process client transport) sees message.call follow the call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.testing import MockVapi

SCENARIO = """
version: 1
name: replies
call: {type: webCall}
assistant:
  firstMessage: "Hi, this is the front desk."
  tools: [{name: lookup}]
steps:
  - user: "Is my order in?"
  - tool: {name: lookup, result: "scripted"}
  - user: "Can I talk to a person?"
  - transfer: {}
"""
Answer = Callable[[dict[str, Any]], tuple[int, Any]]


def answering(tool: Any, transfer: Any) -> Answer:
    def answer(message: dict[str, Any]) -> tuple[int, Any]:
        if message["type"] == "tool-calls":
            call_id = message["toolCallList"][0]["id"]
            return tool(call_id) if callable(tool) else (200, tool)
        if message["type"] == "transfer-destination-request":
            return 200, transfer
        return 200, {}

    return answer


@pytest.fixture
async def hook() -> AsyncIterator[Callable[[Answer], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(answer: Answer) -> str:
        async def take(request: web.Request) -> web.Response:
            status, body = answer(json.loads(await request.read())["message"])
            return web.json_response(body, status=status)

        app = web.Application()
        app.router.add_post("/hook", take)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/hook"))

    yield start
    for server in servers:
        await server.close()


async def play(hook: Any, answer: Answer) -> Any:
    url = await hook(answer)
    async with MockVapi(webhook=url, strict=False) as vapi:
        call = vapi.start_call(SCENARIO)
        await call.wait()
    return call


def said(call: Any) -> list[str]:
    return [item["message"] for item in call.history if item["role"] == "bot"]


def tool_result(call: Any) -> str:
    (item,) = [i for i in call.history if i["role"] == "tool_call_result"]
    return str(item["result"])


NUMBER = {"type": "number", "number": "+14155550100"}


async def test_the_destinations_message_then_the_transfer(hook: Any) -> None:
    ok = lambda cid: (200, {"results": [{"toolCallId": cid, "result": "It shipped."}]})  # noqa: E731
    call = await play(hook, answering(ok, {"destination": {**NUMBER, "message": "Connecting you to sales."}}))
    assert said(call)[-1] == "Connecting you to sales."
    assert tool_result(call) == "It shipped."
    assert call.ended_reason == "assistant-forwarded-call" and call.problems == []


async def test_no_message_says_the_spec_default(hook: Any) -> None:
    call = await play(hook, answering({"results": []}, {"destination": NUMBER}))
    assert said(call)[-1] == "Transferring the call now"


async def test_an_invalid_destination_fails_the_transfer(hook: Any) -> None:
    call = await play(hook, answering({"results": []}, {"destination": {"type": "sip"}}))
    assert call.ended_reason == "call.in-progress.error-transfer-failed"
    assert "bad-transfer-destination" in [p.kind for p in call.problems]


@pytest.mark.parametrize(("reply", "result", "kind"), [
    (lambda cid: (200, {"results": [{"toolCallId": cid, "result": {"in": True}}]}), "No result returned.",
     "bad-tool-result"),
    (lambda cid: (201, {"results": [{"toolCallId": cid, "result": "Created."}]}), "Created.", None),
    (lambda cid: (200, {"error": "Inventory is down."}), "Inventory is down.", None),
    (lambda cid: (200, {"results": [{"toolCallId": cid, "error": "Not found."}]}), "Not found.", None),
    (lambda cid: (500, {"results": [{"toolCallId": cid, "result": "x"}]}), "No result returned.", "non-200-reply"),
], ids=["object-result", "201", "top-level-error", "error", "500"])
async def test_tool_replies_over_http(hook: Any, reply: Any, result: str, kind: str | None) -> None:
    call = await play(hook, answering(reply, {"destination": NUMBER}))
    assert tool_result(call) == result
    assert [p.kind for p in call.problems] == ([kind] if kind else [])


async def test_the_client_stream_sees_message_call_follow_the_call(hook: Any) -> None:
    url = await hook(answering({"results": []}, {"destination": NUMBER}))
    async with MockVapi(webhook=url, strict=False) as vapi:
        call = vapi.start_call(SCENARIO)
        seen = [message async for message in call.client]
        await call.wait()
    statuses = [(m["type"], m["call"]["status"]) for m in seen if "call" in m]
    assert statuses[0] == ("status-update", "in-progress")
    assert ("status-update", "forwarding") in statuses and statuses[-1] == ("status-update", "ended")
    last = seen[-1]["call"]
    assert last["endedReason"] == "assistant-forwarded-call" and "startedAt" in last and "endedAt" in last
