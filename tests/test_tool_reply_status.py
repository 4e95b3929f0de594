"""Which tool reply statuses Vapi uses (docs/decisions/tool-reply-status.md): any 2xx is an answer,
everything else is ignored ("No result returned." and a recorded problem).

The reply comes over real HTTP (the lean HTTP/1.1 client, as for any http:// server URL) and from
an aiohttp app in process. Every non-2xx reply carries a perfectly good `results` body, so a mock
that used it would fail; the 3xx points at a handler that answers well, so one that followed it
would fail too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.library import resolve
from mockvapi.qa.lint import lint
from mockvapi.testing import Call, MockVapi

NO_RESULT = "No result returned."
SCENARIO: dict[str, Any] = {
    "version": 1,
    "name": "tool-status",
    "assistant": {"tools": [{"name": "lookup", "parameters": {"q": "string"}}]},
    "steps": [
        {"user": "Can you look it up?"},
        {"tool": {"name": "lookup", "arguments": {"q": "order 7"}, "result": "scripted"}},
        {"assistant": "Here it is: {{ tools.lookup.result }}"},
        {"end": "customer-ended-call"},
    ],
}
STATUS = web.AppKey("status", int)
REDIRECTED = web.AppKey("redirected", list)


def _results(message: dict[str, Any]) -> dict[str, Any]:
    return {"results": [{"toolCallId": message["toolCallList"][0]["id"], "result": "found"}]}


async def webhook(request: web.Request) -> web.Response:
    message = (await request.json())["message"]
    if message["type"] != "tool-calls":
        return web.json_response({})
    status = request.app[STATUS]
    if status == 204:
        return web.Response(status=204)
    headers = {"Location": "/elsewhere"} if 300 <= status < 400 else {}
    return web.json_response(_results(message), status=status, headers=headers)


async def elsewhere(request: web.Request) -> web.Response:
    message = (await request.json())["message"]
    request.app[REDIRECTED].append(message["type"])
    return web.json_response(_results(message) if message["type"] == "tool-calls" else {})


def make_app(status: int) -> web.Application:
    app = web.Application()
    app[STATUS] = status
    app[REDIRECTED] = []
    app.router.add_post("/hook", webhook)
    app.router.add_post("/elsewhere", elsewhere)
    return app


@pytest.fixture(params=["http", "in-process"])
async def play(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    servers: list[TestServer] = []

    async def play_with(status: int) -> tuple[Call, web.Application]:
        app = make_app(status)
        target: object = app
        if request.param == "http":
            server = TestServer(app, host="127.0.0.1", port=0)
            await server.start_server()
            servers.append(server)
            target = str(server.make_url("/hook"))
        async with MockVapi(webhook=target, webhook_path="/hook", strict=False) as vapi:
            return await vapi.play(SCENARIO), app

    yield play_with
    for server in servers:
        await server.close()


def tool_result(call: Call) -> str:
    [result] = [m["result"] for m in call.history if m["role"] == "tool_call_result"]
    return str(result)


@pytest.mark.parametrize("status", [200, 201, 202])
async def test_a_2xx_reply_is_the_tools_answer(play: Any, status: int) -> None:
    call, _ = await play(status)
    assert tool_result(call) == "found"
    assert "Here it is: found" in call.transcript
    assert call.problems == []
    [delivery] = call.deliveries(type="tool-calls")
    assert (delivery.status, delivery.ok) == (status, True)


async def test_a_204_is_accepted_but_carries_no_result(play: Any) -> None:
    call, _ = await play(204)
    assert tool_result(call) == NO_RESULT
    assert [p.kind for p in call.problems] == ["bad-tool-result"]
    assert "no `results` list" in call.problems[0].detail
    [delivery] = call.deliveries(type="tool-calls")
    assert (delivery.status, delivery.ok) == (204, True)  # delivered: no retry, not a delivery failure


@pytest.mark.parametrize("status", [301, 302, 307, 308, 400, 404, 422, 500, 503])
async def test_any_other_status_is_ignored(play: Any, status: int) -> None:
    call, app = await play(status)
    assert tool_result(call) == NO_RESULT
    assert "Here it is: No result returned." in call.transcript
    assert [p.kind for p in call.problems] == ["non-200-reply"]
    assert f"reply had status {status} (Vapi ignores it)" in call.problems[0].detail
    assert app[REDIRECTED] == []  # a redirect is not followed


@pytest.mark.parametrize(("status", "ignored"), [(200, False), (201, False), (204, False), (302, True), (500, True)])
def test_lint_warns_that_an_error_text_is_never_seen_only_outside_2xx(status: int, ignored: bool) -> None:
    steps = [{"tool": {"name": "lookup", "arguments": {"q": "x"}, "error": "down", "status": status}}]
    loaded = resolve({**SCENARIO, "steps": [SCENARIO["steps"][0], *steps, *SCENARIO["steps"][2:]]})
    assert ("error-ignored" in {w.code for w in lint(loaded)}) is ignored
