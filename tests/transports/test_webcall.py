"""The web call transport and the server side of a web call, without a browser.

A Python websocket peer plays the stand-in's part. The clock is virtual and moves only when a test
advances it (autojump off), so "nothing plays before `playable`" and "nobody joined within 60 s" are
checked at exact call times, with no race and no real waiting. (On a virtual clock a web call plays at
once unless the server is told to wait for its page, as it does on a real clock: these tests tell it.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mockvapi.engine.clock import VirtualClock
from mockvapi.server.harness import WEB_JOIN_SECONDS, WEB_NOT_JOINED_REASON
from mockvapi.testing import MockVapi
from mockvapi.transports.webcall import MAX_HELD, is_playable
from mockvapi.web import cjs_source, esm_source

KEY = "pk-web"
ORIGIN = "http://localhost:5173"  # a dev server's page: another origin than the mock's
AUTH = {"Authorization": f"Bearer {KEY}", "Origin": ORIGIN}


@pytest.fixture
async def mock() -> AsyncIterator[MockVapi]:
    async with MockVapi(serve=True, clock=VirtualClock(autojump=False), token=KEY,
                        default_scenario="happy-path") as vapi:
        assert vapi.server is not None
        assert not vapi.server.web_calls_wait  # a virtual clock plays web calls at once...
        vapi.server.web_calls_wait = True  # ...but these tests step the clock by hand around a join
        yield vapi


@pytest.fixture
async def http(mock: MockVapi) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=str(mock.server.url)) as session:  # type: ignore[union-attr]
        yield session


async def web_call(http: aiohttp.ClientSession, path: str = "/call/web", body: Any = None) -> dict[str, Any]:
    async with http.post(path, json=body or {"assistant": {"name": "Riley"}}, headers=AUTH) as answer:
        assert answer.status == 201, await answer.text()
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        created: dict[str, Any] = await answer.json()
        return created


def ws_url(call: dict[str, Any]) -> str:
    url = str(call["webCallUrl"])
    assert url.startswith("http://127.0.0.1:") and url.endswith(f"/{call['id']}/web")
    return "ws" + url.removeprefix("http")


async def frames_until_close(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[str], int, int | None]:
    """Text frames, the number of binary frames, and the code of the close frame (None: no close frame)."""
    texts: list[str] = []
    binary = 0
    while True:
        frame = await ws.receive()
        if frame.type == aiohttp.WSMsgType.TEXT:
            texts.append(frame.data)
        elif frame.type == aiohttp.WSMsgType.BINARY:
            binary += 1
        else:
            return texts, binary, frame.data if frame.type == aiohttp.WSMsgType.CLOSE else None


async def settle(mock: MockVapi, predicate: Any) -> None:
    """Let the loop run (no time passes on the stopped clock) until ``predicate()`` holds."""
    for _ in range(2000):
        if predicate():
            return
        await VirtualClock._settle(mock._loop)  # type: ignore[arg-type]
    raise AssertionError("the server did not get there")


async def run_until_said(clock: VirtualClock, ws: aiohttp.ClientWebSocketResponse, line: str) -> None:
    """Let call time pass until the page receives a conversation-update whose history has the assistant
    saying `line` (a tenth of a second of call time at a time, at most a minute)."""

    async def said() -> None:
        while True:
            frame = await ws.receive()
            assert frame.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), f"the call ended first: {frame}"
            if frame.type == aiohttp.WSMsgType.TEXT and frame.data.startswith("{"):
                message = json.loads(frame.data)
                if message["type"] == "conversation-update" and {"role": "bot", "message": line} in [
                    {"role": m.get("role"), "message": m.get("message")} for m in message["messages"]
                ]:
                    return

    heard = asyncio.ensure_future(said())
    try:
        for _ in range(600):
            if heard.done():
                break
            await clock.advance(0.1)
        # What the last step sent is still to be read from the socket (a guard, not a wait for time).
        done, _ = await asyncio.wait({heard}, timeout=5)
        assert done, f"the page never heard the assistant say {line!r}"
        heard.result()
    finally:
        heard.cancel()


def test_playable_is_the_raw_string_or_the_mobile_sdks_object() -> None:
    assert is_playable("playable") and is_playable('{"message": "playable"}')
    assert not is_playable("listening") and not is_playable('{"message": "playable", "x": 1}')
    assert not is_playable("[1") and not is_playable('"playable"')


async def test_cors_preflight_for_the_sdks_post(http: aiohttp.ClientSession) -> None:
    headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization,content-type"}
    async with http.options("/call/web", headers=headers) as answer:
        assert answer.status == 204
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type"} <= allowed
        assert "POST" in answer.headers["Access-Control-Allow-Methods"]


async def test_a_web_call_plays_only_once_its_page_said_playable(mock: MockVapi, http: aiohttp.ClientSession) -> None:
    clock = mock.clock
    assert isinstance(clock, VirtualClock)
    call = await web_call(http)
    assert call["type"] == "webCall" and call["status"] == "queued"
    async with http.ws_connect(ws_url(call)) as ws:
        await clock.advance(30)  # joined, but the SDK has not played the track yet
        assert mock.find_call(call["id"]) is None and mock.journal.deliveries(call_id=call["id"]) == []
        await ws.send_str("playable")
        await settle(mock, lambda: mock.find_call(call["id"]) is not None)
        started = mock.find_call(call["id"])
        assert started is not None
        await clock.advance(600)
        texts, binary, code = await frames_until_close(ws)
        assert code == 1000  # a normal end: the stand-in reports no error
    await started.wait()
    assert texts[0] == "listening"
    messages = [json.loads(t) for t in texts[1:]]
    assert messages == [m for _, m in started.player.timeline().messages(side="client")]
    assert any(m["type"] == "status-update" and m.get("status") == "ended" for m in messages)
    assert binary > 0
    async with http.get(f"/call/{call['id']}", headers=AUTH) as answer:
        record = await answer.json()
    assert record["status"] == "ended" and record["endedReason"] == started.player.ended_reason


async def test_a_web_call_nobody_joins_ends_without_a_microphone(
    mock: MockVapi, http: aiohttp.ClientSession
) -> None:
    clock = mock.clock
    assert isinstance(clock, VirtualClock)
    call = await web_call(http)
    await clock.advance(WEB_JOIN_SECONDS - 1)
    assert mock.find_call(call["id"]) is None
    await clock.advance(2)
    await settle(mock, lambda: mock.find_call(call["id"]) is not None)
    ended = mock.find_call(call["id"])
    assert ended is not None
    await clock.advance(60)
    await ended.wait()
    assert ended.player.ended_reason == WEB_NOT_JOINED_REASON == "customer-did-not-give-microphone-permission"
    statuses = [m for _, m in ended.player.timeline().messages(side="server") if m["type"] == "status-update"]
    assert statuses[-1]["endedReason"] == WEB_NOT_JOINED_REASON
    async with http.get(f"/call/{call['id']}", headers=AUTH) as answer:
        record = await answer.json()
    assert record["status"] == "ended" and record["endedReason"] == WEB_NOT_JOINED_REASON
    # Its webCallUrl now says the call has ended (the stand-in reports Daily's no-room).
    async with http.get(f"/{call['id']}/web") as answer:
        assert answer.status == 410 and (await answer.json())["statusCode"] == 410
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(ws_url(call))
    assert refused.value.status == 410


async def test_an_unknown_web_call_is_404_for_get_and_upgrade(http: aiohttp.ClientSession) -> None:
    path = "/5b7e7d1c-0000-4000-8000-000000000000/web"
    async with http.get(path, headers={"Origin": ORIGIN}) as answer:
        assert answer.status == 404
        assert answer.headers["Access-Control-Allow-Origin"] == "*"  # the page's stand-in reads it
        assert (await answer.json())["statusCode"] == 404
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(path)
    assert refused.value.status == 404


async def test_what_the_page_sends_is_applied_and_leaving_ends_the_call(
    mock: MockVapi, http: aiohttp.ClientSession
) -> None:
    clock = mock.clock
    assert isinstance(clock, VirtualClock)
    # POST /call with Vapi's web call transport is a web call for a browser, as POST /call/web is.
    call = await web_call(http, "/call", {"assistant": {"name": "Riley"}, "transport": {"provider": "daily"}})
    assert call["type"] == "webCall"
    async with http.ws_connect(ws_url(call)) as ws:
        await ws.send_str(json.dumps({"type": "mockvapi.local-audio", "enabled": False}))
        await ws.send_str("playable")
        await settle(mock, lambda: mock.find_call(call["id"]) is not None)
        await ws.send_str(json.dumps({"type": "add-message", "message": {"role": "system", "content": "VIP"},
                                      "triggerResponseEnabled": False}))
        await ws.send_str(json.dumps({"type": "say", "message": "Hold on.", "interruptionsEnabled": False}))
        await ws.send_bytes(b"\x01\x00" * 320)  # a microphone frame while muted
        await ws.send_str("not json")  # ignored, as Vapi ignores app-messages it does not understand
        await settle(mock, lambda: len(mock.journal.deliveries(call_id=call["id"], channel="control")) >= 3)
        # Leaving ends the call at once, mid-sentence if need be (as on Vapi): a page that wants its line
        # heard leaves once the call's history says it was spoken.
        await run_until_said(clock, ws, "Hold on.")
    started = mock.find_call(call["id"])
    assert started is not None
    await clock.advance(600)
    await started.wait()
    controls = [(d.message_type, d.target) for d in mock.journal.deliveries(call_id=call["id"], channel="control")]
    assert controls == [("mockvapi.local-audio", "web"), ("add-message", "web"), ("say", "web")]
    # The page left without end-call: Vapi ends a web call whose customer left the room.
    assert started.player.ended_reason == "customer-ended-call"
    history = [m for _, m in started.player.timeline().messages(side="client") if m["type"] == "conversation-update"]
    contents = [m.get("message") for m in history[-1]["messages"]]
    assert "VIP" in contents and "Hold on." in contents


async def test_a_web_call_made_without_a_transport_plays_at_once(mock: MockVapi, http: aiohttp.ClientSession) -> None:
    """POST /call with no transport is also a webCall, but nobody said a browser comes: a server's test
    that creates calls for their webhooks gets them played at once."""
    call = await web_call(http, "/call", {"assistant": {"name": "Riley"}})
    assert call["type"] == "webCall"
    assert mock.find_call(call["id"]) is not None


async def test_the_stand_in_is_served_at_a_public_path(http: aiohttp.ClientSession) -> None:
    async with http.get("/_mockvapi-web/daily.js", headers={"Origin": ORIGIN}) as answer:
        assert answer.status == 200 and answer.content_type == "text/javascript"
        # A page on another origin may import it as a module, which needs CORS.
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert await answer.text() == esm_source()
    async with http.get("/_mockvapi-web/daily.cjs") as answer:
        assert answer.status == 200 and await answer.text() == cjs_source()
    async with http.get("/_mockvapi-web/other.js") as answer:
        assert answer.status == 404


async def test_what_a_page_sends_before_playable_is_kept_up_to_a_bound(
    mock: MockVapi, http: aiohttp.ClientSession
) -> None:
    call = await web_call(http)
    say = json.dumps({"type": "say", "message": "Early."})
    async with http.ws_connect(ws_url(call)) as ws:
        for _ in range(MAX_HELD + 10):
            await ws.send_str(say)
        await ws.send_str("playable")
        await settle(mock, lambda: len(mock.journal.deliveries(call_id=call["id"], channel="control")) >= MAX_HELD)
        await ws.close()
    controls = mock.journal.deliveries(call_id=call["id"], channel="control")
    assert [d.message_type for d in controls] == ["say"] * MAX_HELD
