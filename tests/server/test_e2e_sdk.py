"""End to end with the official SDK (vapi-server-sdk 3.0.0, unchanged, base_url pointed at the mock):
calls created through `AsyncVapi` play scenarios into a real webhook receiver and a real websocket
client, and the call records the SDK reads back match what was delivered.

Every response the SDK gets is validated by conftest's response hook (the official spec's schema
for its endpoint; Vapi's error shape for 4xx). The SDK builds its pydantic models on first use
(15-20 s of CPU once per process), so SDK use stays in this module and test_sdk.py, and the tests
here touch only its Assistant and Call models.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import pytest
from vapi import AsyncVapi
from vapi.core.api_error import ApiError
from vapi.types import Call

from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.simulator import simulate
from mockvapi.library import resolve
from mockvapi.testing import MockVapi

from .conftest import ResponseLog, loopback_client
from .test_serve_cli import mockvapi_serve
from .webhook_receiver import WebhookReceiver

TOKEN = "sdk-token"
PCM_16K = {"format": "pcm_s16le", "container": "raw", "sampleRate": 16000}
FRAME_BYTES = 640  # 20 ms of 16-bit mono at 16 kHz
REPORT_FIELDS = ("endedReason", "artifact", "analysis", "cost", "startedAt", "endedAt")


@dataclass
class Mock:
    vapi: MockVapi
    sdk: AsyncVapi
    http: httpx.AsyncClient  # the SDK's own client: its responses are validated too
    responses: ResponseLog

    @property
    def url(self) -> str:
        return str(self.vapi.server.url)

    def last_body(self, method: str, path: str) -> dict[str, Any]:
        """The raw JSON of the latest response to `method path`, as the SDK received it."""
        body = next(b for m, p, _, b in reversed(self.responses.seen) if (m, p) == (method, path))
        assert isinstance(body, dict)
        return body

    async def until_ended(self, call_id: str, *, within: float = 10.0) -> Call:
        """`calls.get` until the call has ended; `within` real seconds at most."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            call: Call = await self.sdk.calls.get(call_id)
            if call.status == "ended":
                return call
            assert loop.time() < deadline, f"call {call_id} still {call.status} after {within}s"
            await asyncio.sleep(0.005)


@asynccontextmanager
async def mock_with_sdk(responses: ResponseLog, *, clock: VirtualClock | None = None) -> AsyncIterator[Mock]:
    async with (
        MockVapi(serve=True, token=TOKEN, clock=clock or VirtualClock(), strict=False) as vapi,
        loopback_client(responses) as client,
    ):
        yield Mock(vapi, AsyncVapi(token=TOKEN, base_url=vapi.server.url, httpx_client=client), client, responses)


@pytest.fixture
async def mock(responses: ResponseLog) -> AsyncIterator[Mock]:
    async with mock_with_sdk(responses) as m:
        yield m


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = await WebhookReceiver().start()
    yield r
    await r.aclose()


def _scenario(name: str) -> dict[str, Any]:
    return {"mockvapi": {"scenario": name}}


def _when(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


# -- a call through the webhook ---------------------------------------------------------------------


async def test_sdk_call_plays_into_the_webhook_and_its_record_matches_the_end_of_call_report(
    mock: Mock, receiver: WebhookReceiver
) -> None:
    assistant = await mock.sdk.assistants.create(
        name="Robin", server={"url": receiver.url}, metadata=_scenario("assistant-ends-call")
    )
    created = await mock.sdk.calls.create(assistant_id=assistant.id)
    assert created.status == "queued" and created.type == "webCall" and created.assistant_id == assistant.id

    ended = await mock.until_ended(created.id)
    report = await receiver.wait_for("end-of-call-report", created.id)

    # The receiver got the call's messages in the envelope, in the order mockvapi sent them.
    for received in receiver.received:
        assert set(received.body) == {"message"}
        assert received.headers["Content-Type"].startswith("application/json")
    messages = receiver.messages(created.id)
    assert messages == receiver.messages()  # only this call
    sent = mock.vapi.journal.deliveries(call_id=created.id, channel="webhook")
    assert [d.message for d in sent] == messages
    assert messages[0]["type"] == "status-update" and messages[0]["status"] == "in-progress"
    assert messages[-1]["type"] == "end-of-call-report"
    stamps = [m["timestamp"] for m in messages]
    assert stamps == sorted(stamps)
    assert {m["call"]["id"] for m in messages} == {created.id}

    # "ended" comes with the status-update; the report (cost, analysis, artifact) lands a moment later,
    # as on Vapi. Once it has been delivered, the record (as the SDK parsed it, and as raw JSON) carries it.
    assert ended.ended_reason == report["endedReason"] == "assistant-ended-call"  # the assistant's scenario
    final = await mock.sdk.calls.get(created.id)
    record = mock.last_body("GET", f"/call/{created.id}")
    assert final.status == "ended" and record["status"] == "ended"
    assert {k: record.get(k) for k in REPORT_FIELDS} == {k: report.get(k) for k in REPORT_FIELDS}
    assert record["messages"] == report["artifact"]["messages"]
    assert final.started_at == _when(report["startedAt"]) and final.ended_at == _when(report["endedAt"])
    assert final.cost == report["cost"] and final.ended_reason == report["endedReason"]
    assert final.analysis is not None and final.analysis.summary == report["analysis"]["summary"]
    assert len(final.messages or []) == len(report["artifact"]["messages"])

    seen = {(method, status) for method, _, status, _ in mock.responses.seen}
    assert {("POST", 201), ("GET", 200)} <= seen  # each one validated against the spec by the hook


async def test_sdk_calls_list_filters_played_calls(mock: Mock, receiver: WebhookReceiver) -> None:
    ends = await mock.sdk.assistants.create(name="Ends", metadata=_scenario("assistant-ends-call"))
    default = await mock.sdk.assistants.create(name="Default", server={"url": receiver.url})
    calls = []
    for assistant in (ends, default, ends):  # each plays to its end, so createdAt moves on between them
        calls.append(await mock.until_ended((await mock.sdk.calls.create(assistant_id=assistant.id)).id))
    first, second, third = calls
    assert first.created_at < second.created_at < third.created_at

    def ids(listed: list[Call]) -> list[str]:
        return [c.id for c in listed]

    assert ids(await mock.sdk.calls.list()) == [third.id, second.id, first.id]
    assert ids(await mock.sdk.calls.list(assistant_id=ends.id)) == [third.id, first.id]
    assert ids(await mock.sdk.calls.list(limit=1)) == [third.id]
    assert ids(await mock.sdk.calls.list(created_at_gt=first.created_at)) == [third.id, second.id]
    assert ids(await mock.sdk.calls.list(assistant_id=ends.id, created_at_gt=first.created_at)) == [third.id]
    assert ids(await mock.sdk.calls.list(created_at_le=second.created_at)) == [second.id, first.id]
    listed = await mock.sdk.calls.list(assistant_id=default.id)
    assert [(c.status, c.ended_reason) for c in listed] == [("ended", "customer-ended-call")]  # happy-path
    assert receiver.types(second.id)[-1] == "end-of-call-report" and not receiver.messages(first.id)


# -- a call through the vapi.websocket transport ----------------------------------------------------------


@dataclass
class Frames:
    """What one websocket peer received until the server closed it."""

    texts: list[dict[str, Any]] = field(default_factory=list)
    binary: list[int] = field(default_factory=list)  # sizes
    closed: bool = False


async def _collect(ws: aiohttp.ClientWebSocketResponse) -> Frames:
    frames = Frames()
    async for frame in ws:
        if frame.type == aiohttp.WSMsgType.TEXT:
            frames.texts.append(json.loads(frame.data))
        elif frame.type == aiohttp.WSMsgType.BINARY:
            frames.binary.append(len(frame.data))
    frames.closed = ws.closed
    return frames


async def test_sdk_websocket_call_streams_to_transport_and_listener_and_ends_on_end_call(
    responses: ResponseLog,
) -> None:
    clock = VirtualClock(autojump=False)  # the call moves only when the test advances it
    async with mock_with_sdk(responses, clock=clock) as mock, aiohttp.ClientSession() as session:
        assistant = await mock.sdk.assistants.create(name="Maya", metadata=_scenario("happy-path"))
        created = await mock.sdk.calls.create(
            assistant_id=assistant.id, transport={"provider": "vapi.websocket", "audioFormat": PCM_16K}
        )
        data = created.dict(by_alias=True)
        assert data["type"] == "vapi.websocketCall" and data["transport"]["audioFormat"] == PCM_16K

        listen = await session.ws_connect(data["monitor"]["listenUrl"])
        transport = await session.ws_connect(data["transport"]["websocketCallUrl"])
        for ws in (listen, transport):  # the first frame (audio) says the peer has joined the call
            first = await asyncio.wait_for(ws.receive(), 60)  # a hang guard, generous for a busy machine
            assert first.type == aiohttp.WSMsgType.BINARY and len(first.data) == FRAME_BYTES
        listened = asyncio.ensure_future(_collect(listen))
        streamed = asyncio.ensure_future(_collect(transport))

        async def advance(seconds: float) -> None:
            response = await mock.http.post(
                f"{mock.url}/_mockvapi/clock/advance", json={"seconds": seconds}
            )
            assert response.status_code == 200, response.text

        await listen.send_str(json.dumps({"type": "end-call"}))  # listen-only: ignored
        await transport.send_bytes(b"\x00" * FRAME_BYTES)  # the caller's audio is taken, not played
        await advance(1.0)
        assert (await mock.sdk.calls.get(created.id)).status == "in-progress"

        said = "This line came through the control URL."
        response = await session.post(data["monitor"]["controlUrl"], json={"type": "say", "content": said})
        assert response.status == 200 and await response.json() == {"success": True}
        # Controls act when they arrive: let the said line be spoken before the caller ends the call.
        await advance(15.0)
        await transport.send_str(json.dumps({"type": "end-call"}))
        async with asyncio.timeout(5):  # the server has read the frame once the journal has it
            while not mock.vapi.journal.deliveries(call_id=created.id, type="end-call"):
                await asyncio.sleep(0.002)
        await advance(60.0)

        ended = await mock.until_ended(created.id)
        async with asyncio.timeout(5):
            streamed_frames, listened_frames = await asyncio.gather(streamed, listened)

    natural = simulate(resolve("happy-path")).duration
    assert ended.ended_reason == "customer-ended-call"
    assert ended.started_at is not None and ended.ended_at is not None
    assert (ended.ended_at - ended.started_at).total_seconds() < natural / 2  # ended early, by the caller
    record = mock.last_body("GET", f"/call/{created.id}")
    assert said in [m["message"] for m in record["messages"] if m["role"] == "bot"]

    controls = mock.vapi.journal.deliveries(call_id=created.id, channel="control")
    assert [(d.message_type, d.target) for d in controls] == [("say", "controlUrl"), ("end-call", "websocket")]

    texts = streamed_frames.texts
    assert texts and all("message" not in t and "type" in t for t in texts)  # bare client messages
    assert texts[0]["type"] == "status-update" and texts[0]["status"] == "in-progress"
    assert texts[-1]["type"] == "status-update" and texts[-1]["endedReason"] == "customer-ended-call"
    assert said in [t.get("input") for t in texts if t["type"] == "voice-input"]
    assert streamed_frames.binary and set(streamed_frames.binary) == {FRAME_BYTES}
    assert streamed_frames.closed and listened_frames.closed  # the server hung up at the end

    assert listened_frames.texts == texts  # the monitor hears the same call
    assert set(listened_frames.binary) == {FRAME_BYTES}


# -- squads -------------------------------------------------------------------------------------------


async def test_sdk_squad_crud_round_trip(mock: Mock) -> None:
    members = [{"assistant": {"name": "Reception", "firstMessage": "Hi."},
                "assistantDestinations": [{"type": "assistant", "assistantName": "Billing"}]},
               {"assistant": {"name": "Billing"}}]
    created = await mock.sdk.squads.create(name="Front desk", members=members)  # type: ignore[arg-type]
    assert created.name == "Front desk" and len(created.members) == 2
    assert (await mock.sdk.squads.get(created.id)).id == created.id
    assert [s.id for s in await mock.sdk.squads.list()] == [created.id]
    updated = await mock.sdk.squads.update(created.id, members=members[:1], name="Renamed")  # type: ignore[arg-type]
    assert updated.name == "Renamed" and len(updated.members) == 1
    assert (await mock.sdk.squads.delete(created.id)).id == created.id
    with pytest.raises(ApiError) as missing:
        await mock.sdk.squads.get(created.id)
    assert missing.value.status_code == 404
    with pytest.raises(ApiError) as bad:  # nested validation: a member's assistant is a CreateAssistantDTO
        await mock.sdk.squads.create(members=[{"assistant": {"name": "X", "firstMessageMode": "shout"}}])  # type: ignore[list-item]
    assert bad.value.status_code == 400 and "firstMessageMode" in json.dumps(bad.value.body)
    with pytest.raises(ApiError) as unknown:
        await mock.sdk.calls.create(squad_id="00000000-0000-4000-8000-000000000000")
    assert unknown.value.status_code == 400


async def test_sdk_squad_call_hands_off_as_the_webhook_answers(mock: Mock) -> None:
    steering = await WebhookReceiver(
        {"handoff-destination-request": {"destination": {"type": "assistant", "assistantName": "Nurse"}}}
    ).start()
    try:
        squad = await mock.sdk.squads.create(
            name="Clinic",
            members=[  # type: ignore[list-item]
                {"assistant": {"name": "Triage", "metadata": _scenario("squad-dynamic-handoff")}},
                {"assistant": {"name": "Nurse", "firstMessage": "The nurse from the REST squad."}},
            ],
            members_overrides={"server": {"url": steering.url}},  # type: ignore[arg-type]
        )
        created = await mock.sdk.calls.create(squad_id=squad.id)
        assert isinstance(created, Call) and created.squad_id == squad.id
        ended = await mock.until_ended(created.id)
        report = await steering.wait_for("end-of-call-report", created.id)
        messages = steering.messages(created.id)
        names = [m["assistant"]["name"] for m in messages]
        assert names[0] == "Triage" and names[-1] == "Nurse"
        assert "handoff-destination-request" in [m["type"] for m in messages]
        bots = [h["message"] for h in report["artifact"]["messages"] if h["role"] == "bot"]
        assert "The nurse from the REST squad." in bots  # the REST member over the scenario's
        assert report["artifact"]["assistantActivations"] == [{"assistantName": "Triage"}, {"assistantName": "Nurse"}]
        assert ended.ended_reason == report["endedReason"]
    finally:
        await steering.aclose()


async def test_sdk_creates_a_squad_and_a_squad_call_against_the_mockvapi_serve_command(responses: ResponseLog) -> None:
    """The official SDK against `python -m mockvapi serve` as users start it (a subprocess, virtual clock):
    a squad by POST /squad, a call by squadId, read back ended with both members' activations."""
    async with mockvapi_serve("--token", TOKEN) as (served, url), loopback_client(responses) as client:
        sdk = AsyncVapi(token=TOKEN, base_url=url, httpx_client=client)
        squad = await sdk.squads.create(
            name="Bay Power front desk",
            members=[  # type: ignore[list-item]
                {"assistant": {"name": "Reception", "metadata": _scenario("squad-receptionist-billing")},
                 "assistantDestinations": [{"type": "assistant", "assistantName": "Billing"}]},
                {"assistant": {"name": "Billing", "firstMessage": "Billing, from the squad the SDK created."}},
            ],
        )
        created = await sdk.calls.create(squad_id=squad.id)
        assert created.squad_id == squad.id
        for _ in range(2000):  # the virtual clock plays the call at once; a loaded machine may still lag
            call = await sdk.calls.get(created.id)
            if call.status == "ended":
                break
            await asyncio.sleep(0.005)
        assert call.status == "ended" and call.ended_reason == "customer-ended-call"
        record = (await client.get(f"{url}/call/{created.id}", headers={"Authorization": f"Bearer {TOKEN}"})).json()
        assert record["artifact"]["assistantActivations"] == [{"assistantName": "Reception"},
                                                              {"assistantName": "Billing"}]
        bots = [m["message"] for m in record["artifact"]["messages"] if m["role"] == "bot"]
        assert "Billing, from the squad the SDK created." in bots  # the SDK's member over the scenario's
        code, log = await served.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in log
