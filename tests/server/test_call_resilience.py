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
