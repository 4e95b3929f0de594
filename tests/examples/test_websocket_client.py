"""Client code reading a `vapi.websocket` call (text frames are client messages), against the mock
server: the call is created over REST, and the client renders it with the same LiveTranscript."""

from __future__ import annotations

import json

import aiohttp
import pytest

from mockvapi.testing import MockVapi

from .live_transcript import LiveTranscript

PCM_16K = {"format": "pcm_s16le", "container": "raw", "sampleRate": 16000}


async def follow_call(websocket_url: str, view: LiveTranscript) -> None:
    """The client code under test: render the call's messages until the call hangs up."""
    async with aiohttp.ClientSession() as session, session.ws_connect(websocket_url) as ws:
        async for frame in ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                view.update(json.loads(frame.data))


@pytest.mark.mockvapi(serve=True, scenario="barge-in")
async def test_websocket_client_drops_the_interrupted_turn(mockvapi: MockVapi) -> None:
    body = {"assistant": {"name": "Jordan"}, "transport": {"provider": "vapi.websocket", "audioFormat": PCM_16K}}
    async with (
        aiohttp.ClientSession(headers={"Authorization": "Bearer test-token"}) as http,
        http.post(f"{mockvapi.server.url}/call", json=body) as response,
    ):
        created = await response.json()  # POST /call, as your backend would

    view = LiveTranscript()
    await follow_call(created["transport"]["websocketCallUrl"], view)

    [cut] = view.interrupted
    assert cut not in view.turns and view.lines[-1] == ("user", "Great, thank you. Bye!")
    mockvapi.find_call(created["id"]).assert_delivered("user-interrupted", channel="websocket")
