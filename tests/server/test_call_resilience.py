"""Hostile input to calls over real loopback HTTP (issue 14): what cannot be served is refused at creation
with Vapi's 400 shape, and nothing a client sends to a live call (its websocket, its control URL) raises
inside mockvapi or drops the call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mockvapi.engine.clock import VirtualClock
from mockvapi.server import ERRORS_KEY
from mockvapi.testing import MockVapi

TOKEN = "api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEEP = "[" * 100_000 + "]" * 100_000  # beyond json's recursion limit
DEEPISH = '{"type": "say", "content": ' + "[" * 500 + "]" * 500 + "}"  # parses, but too deep to keep


@pytest.fixture
async def vapi() -> AsyncIterator[MockVapi]:
    async with MockVapi(serve=True, token=TOKEN, clock=VirtualClock(autojump=False), strict=False) as mock:
        yield mock
        assert not mock.server.app[ERRORS_KEY].errors, mock.server.app[ERRORS_KEY].errors


async def _post(vapi: MockVapi, path: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(vapi.server.url + path, json=body,
                                                                headers=AUTH) as response:
        return response.status, await response.json()


def _websocket_call(rate: object) -> dict[str, Any]:
    audio = {"format": "pcm_s16le", "container": "raw", "sampleRate": rate}
    return {"assistant": {"name": "Wes"}, "transport": {"provider": "vapi.websocket", "audioFormat": audio}}


@pytest.mark.parametrize("rate", [11025, 7, 0.5, 0, 16000.5, 192000 + 50])
async def test_a_sample_rate_the_audio_source_cannot_serve_is_a_400_at_creation(vapi: MockVapi, rate: object) -> None:
    status, body = await _post(vapi, "/call", _websocket_call(rate))
    assert status == 400, body
    assert body["statusCode"] == 400 and body["error"] == "Bad Request"
    assert any("transport.audioFormat.sampleRate" in m for m in body["message"]), body
    assert not vapi.server.backend.calls  # no record left behind


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
async def test_every_rate_it_accepts_streams_audio_frames_of_that_rate(vapi: MockVapi, rate: int) -> None:
    status, call = await _post(vapi, "/call", _websocket_call(rate))
    assert status == 201, call
    async with aiohttp.ClientSession() as session, session.ws_connect(call["transport"]["websocketCallUrl"]) as ws:
        frame = await asyncio.wait_for(ws.receive(), 10)
        assert frame.type == aiohttp.WSMsgType.BINARY
        assert len(frame.data) == rate * 20 // 1000 * 2  # 20 ms of 16-bit samples


async def test_a_deeply_nested_text_frame_is_ignored_and_the_call_plays_on(vapi: MockVapi) -> None:
    status, call = await _post(vapi, "/call", _websocket_call(16000))
    assert status == 201
    async with aiohttp.ClientSession() as session, session.ws_connect(call["transport"]["websocketCallUrl"]) as ws:
        await ws.send_str(DEEP)
        await ws.send_str(DEEPISH)
        await ws.send_str('{"type": "say", "content": "still here"}')
        engine = vapi.find_call(call["id"])
        assert engine is not None
        await asyncio.wait_for(_said(vapi, call["id"]), 10)
        assert not ws.closed
        assert isinstance(vapi.clock, VirtualClock)
        vapi.clock.autojump = True
        await asyncio.wait_for(engine.wait(), 10)
    assert engine.ended_reason is not None and engine.player.error is None
    controls = [d.message for d in vapi.journal.deliveries(call_id=call["id"], channel="control")]
    assert controls == [{"type": "say", "content": "still here"}]


async def _said(vapi: MockVapi, call_id: str) -> None:
    while not vapi.journal.deliveries(call_id=call_id, channel="control"):
        await asyncio.sleep(0)


@pytest.mark.parametrize("body", [DEEP, DEEPISH, b"\xff\xfe not utf-8"], ids=["deep", "deepish", "bad-utf8"])
async def test_a_hostile_body_to_the_control_url_is_a_400_not_a_500(vapi: MockVapi, body: str | bytes) -> None:
    status, call = await _post(vapi, "/call", {"assistant": {"name": "Cora"}})
    assert status == 201
    async with aiohttp.ClientSession() as session, session.post(call["monitor"]["controlUrl"], data=body,
                            headers={"Content-Type": "application/json"}) as response:
        answer = await response.json()
    assert response.status == 400, answer
    assert answer["statusCode"] == 400


# -- server URLs and calls that fail while playing (item 3) ------------------------------------------

BAD_URLS = ["file:///etc/passwd", "http://[::1", "ftp://127.0.0.1/hook", "javascript:alert(1)", "http://h:99999/x"]


async def _send(vapi: MockVapi, method: str, path: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
        method, vapi.server.url + path, json=body, headers=AUTH
    ) as response:
        return response.status, await response.json()


@pytest.mark.parametrize("url", BAD_URLS)
async def test_a_server_url_nothing_can_be_sent_to_is_a_400_wherever_it_is_given(vapi: MockVapi, url: str) -> None:
    server = {"url": url}
    status, assistant = await _send(vapi, "POST", "/assistant", {"name": "Ok"})
    assert status == 201
    status, number = await _send(vapi, "POST", "/phone-number", {"provider": "vapi"})
    assert status == 201
    tool = {"type": "function", "function": {"name": "look_up"}, "server": server}
    attempts = [
        ("POST", "/call", {"assistant": {"server": server}}, "assistant.server.url"),
        ("POST", "/call", {"assistant": {"model": {"provider": "openai", "model": "gpt-4o", "tools": [tool]}}},
         "assistant.model.tools.0.server.url"),
        ("POST", "/call/web", {"assistant": {"server": server}}, "assistant.server.url"),
        ("POST", "/assistant", {"server": server}, "server.url"),
        ("PATCH", f"/assistant/{assistant['id']}", {"server": server}, "server.url"),
        ("POST", "/phone-number", {"provider": "vapi", "server": server}, "server.url"),
        ("PATCH", f"/phone-number/{number['id']}", {"server": server}, "server.url"),
    ]
    for method, path, body, where in attempts:
        status, answer = await _send(vapi, method, path, body)
        assert status == 400, (method, path, answer)
        assert answer["error"] == "Bad Request" and answer["statusCode"] == 400
        assert f"{where} must be a URL address" in answer["message"], (method, path, answer)
    assert not vapi.server.backend.calls and len(vapi.server.backend.assistants) == 1


BREAKS_WHILE_PLAYING = """\
version: 1
name: breaks-while-playing
assistant:
  firstMessage: "Hello."
  server: {{url: "{url}"}}
steps:
  - user: "Hi."
  - assistant:
      say: "Short."
      interrupted: {{after: 40 tokens, by: "Wait."}}
  - end: customer-ended-call
"""


async def test_a_call_that_fails_while_playing_ends_with_a_reason_a_problem_and_a_log_line(
    vapi: MockVapi, caplog: pytest.LogCaptureFixture
) -> None:
    from .webhook_receiver import WebhookReceiver

    assert isinstance(vapi.clock, VirtualClock)
    vapi.clock.autojump = True
    receiver = await WebhookReceiver().start()
    try:
        async with aiohttp.ClientSession() as session, session.post(
            vapi.server.url + "/_mockvapi/scenarios", data=BREAKS_WHILE_PLAYING.format(url=receiver.url),
            headers={"Content-Type": "application/yaml"},
        ) as loaded:
            assert loaded.status == 201, await loaded.text()
        metadata = {"mockvapi": {"scenario": "breaks-while-playing"}}
        status, call = await _post(vapi, "/call", {"assistant": {"name": "Bo", "metadata": metadata}})
        assert status == 201
        report = await receiver.wait_for("end-of-call-report", call["id"])
        engine = vapi.find_call(call["id"])
        assert engine is not None
        assert engine.task is not None
        await asyncio.wait({engine.task}, timeout=10)
        assert isinstance(engine.task.exception(), Exception)  # the ScenarioError, for whoever awaits it
    finally:
        await receiver.aclose()
    reason = "call.in-progress.error-vapifault-worker-died"
    assert report["endedReason"] == reason
    ended = [m for m in receiver.messages(call["id"]) if m["type"] == "status-update" and m["status"] == "ended"]
    assert [m["endedReason"] for m in ended] == [reason]
    status, record = await _send(vapi, "GET", f"/call/{call['id']}", None)
    assert (record["status"], record["endedReason"]) == ("ended", reason)
    status, problems = await _send(vapi, "GET", "/_mockvapi/problems", None)
    failed = [p for p in problems["problems"] if p["kind"] == "call-failed"]
    assert len(failed) == 1 and failed[0]["call_id"] == call["id"] and "only" in failed[0]["detail"]
    assert any(call["id"] in r.getMessage() and reason in r.getMessage() for r in caplog.records)


async def test_a_scenario_naming_a_server_url_nothing_can_be_sent_to_plays_on_and_says_so(vapi: MockVapi) -> None:
    assert isinstance(vapi.clock, VirtualClock)
    vapi.clock.autojump = True
    scenario = BREAKS_WHILE_PLAYING.format(url="file:///etc/passwd").replace("40 tokens", "1 tokens")
    call = await vapi.play(scenario)
    assert call.ended_reason == "customer-ended-call"
    problems = [(p.kind, p.detail) for p in call.problems]
    assert len(problems) == 1 and problems[0][0] == "delivery-failed" and "file:///etc/passwd" in problems[0][1]


# -- batches and running calls (item 4) --------------------------------------------------------------


async def _phone(vapi: MockVapi) -> str:
    status, number = await _send(vapi, "POST", "/phone-number", {"provider": "vapi"})
    assert status == 201
    return str(number["id"])


def _customers(n: int) -> list[dict[str, str]]:
    return [{"number": f"+1555{i:07d}"} for i in range(n)]


async def test_a_batch_over_1000_customers_is_a_400_before_any_call_starts(vapi: MockVapi) -> None:
    phone = await _phone(vapi)
    status, answer = await _post(vapi, "/call", {"assistant": {"name": "Bat"}, "phoneNumberId": phone,
                                                 "customers": _customers(1001)})
    assert status == 400
    assert answer["message"] == ["customers must contain no more than 1000 elements"]
    assert not vapi.server.backend.calls and not vapi.calls


async def test_calls_past_max_running_calls_are_a_429_with_retry_after_until_some_end() -> None:
    clock = VirtualClock(autojump=False)  # the calls stay running until the clock moves
    async with MockVapi(serve=True, token=TOKEN, clock=clock, strict=False, max_running_calls=3) as vapi:
        phone = await _phone(vapi)
        for _ in range(2):
            assert (await _post(vapi, "/call", {"assistant": {"name": "One"}}))[0] == 201
        batch = {"assistant": {"name": "Two"}, "phoneNumberId": phone, "customers": _customers(2)}
        async with aiohttp.ClientSession() as session:
            for path, body in (("/call", batch), ("/call/web", {"assistant": {"name": "Web"}})):
                if path == "/call/web":
                    assert (await _post(vapi, "/call", {"assistant": {"name": "Three"}}))[0] == 201
                async with session.post(vapi.server.url + path, json=body, headers=AUTH) as response:
                    answer = await response.json()
                    assert response.status == 429, answer
                    assert response.headers["Retry-After"] == "1"
                    assert answer["error"] == "Too Many Requests" and answer["statusCode"] == 429
                    assert "--max-running-calls" in answer["message"]
            async with session.get(vapi.server.url + "/_mockvapi/status") as response:
                status = await response.json()
        assert status["calls"]["running"] == 3 and status["calls"]["maxRunningCalls"] == 3
        assert len(vapi.server.backend.calls) == 3  # the refused ones left no record
        clock.autojump = True
        await asyncio.wait_for(asyncio.gather(*(c.wait() for c in vapi.calls)), 10)
        assert (await _post(vapi, "/call", batch))[0] == 201


async def test_a_batch_starts_its_calls_without_holding_other_requests_back(vapi: MockVapi) -> None:
    phone = await _phone(vapi)
    size = 200
    batch = {"assistant": {"name": "Many"}, "phoneNumberId": phone, "customers": _customers(size)}

    async def status_once_started() -> dict[str, Any]:
        while not vapi.calls:  # the batch's first call has started
            await asyncio.sleep(0)
        async with aiohttp.ClientSession() as session, session.get(
            vapi.server.url + "/_mockvapi/status"
        ) as response:
            answer: dict[str, Any] = await response.json()
            return answer

    created, status = await asyncio.gather(_post(vapi, "/call", batch), status_once_started())
    assert created[0] == 201 and len(created[1]["results"]) == size and created[1]["errors"] == []
    # Answered while the batch was still starting its calls: the loop was not held for the whole batch.
    assert 0 < status["calls"]["held"] < size


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_serve_refuses_a_max_running_calls_that_is_not_a_positive_whole_number(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mockvapi.serve import serve

    assert serve(port=0, max_running_calls=value) == 2
    assert f"--max-running-calls must be a whole number of at least 1, got {value!r}" in capsys.readouterr().err


SCENARIO_AT_11025 = """\
version: 1
name: odd-rate
call:
  type: vapi.websocketCall
  audioFormat: {format: pcm_s16le, sampleRate: 11025}
steps:
  - user: "Hello?"
  - assistant: "Hi there."
  - end: customer-ended-call
"""


def test_a_scenarios_own_unservable_rate_is_refused_when_it_loads() -> None:
    """A rate the 20 ms audio frames cannot carry (11025 Hz: 220.5 samples a frame) is a scenario error at
    its line and column, as the REST API refuses it with a 400: no call starts with it."""
    from mockvapi.errors import ScenarioError
    from mockvapi.library import resolve

    with pytest.raises(ScenarioError) as refused:
        resolve(SCENARIO_AT_11025)
    assert "<string>:5:48: Input should be a multiple of 50" in str(refused.value)  # at sampleRate: 11025
