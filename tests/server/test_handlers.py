"""The REST surface over raw HTTP: call kinds, /call/web, bulk delete, the engine hooks,
determinism. Every response is validated by the `http` fixture's hook (spec + error shape)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.server import BACKEND_KEY, ERRORS_KEY, HOOKS_KEY, CallRecord, create_app

from .conftest import SEED, FakeClock, ResponseLog, serve


async def _assistant(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await http.post("/assistant", json={"name": "A", **fields})
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


async def test_websocket_call_urls_point_back_at_this_server(http: httpx.AsyncClient, server: TestServer) -> None:
    assistant = await _assistant(http)
    response = await http.post(
        "/call", json={"assistantId": assistant["id"], "transport": {"provider": "vapi.websocket"}}
    )
    assert response.status_code == 201
    call = response.json()
    host = f"{server.host}:{server.port}"
    assert call["type"] == "vapi.websocketCall" and call["status"] == "queued"
    assert call["transport"] == {
        "provider": "vapi.websocket",
        "audioFormat": {"format": "pcm_s16le", "container": "raw", "sampleRate": 16000},
        "websocketCallUrl": f"ws://{host}/{call['id']}/transport",
    }
    assert call["monitor"] == {
        "listenUrl": f"ws://{host}/{call['id']}/listen",
        "controlUrl": f"http://{host}/{call['id']}/control",
    }


async def test_web_call_endpoint_returns_web_call_url(http: httpx.AsyncClient, server: TestServer) -> None:
    assistant = await _assistant(http)
    response = await http.post("/call/web", json={"assistantId": assistant["id"]})
    assert response.status_code == 201
    call = response.json()
    assert call["type"] == "webCall" and call["assistantId"] == assistant["id"]
    assert call["webCallUrl"] == f"http://{server.host}:{server.port}/{call['id']}/web"
    assert call["transport"] == {
        "provider": "daily",
        "callUrl": call["webCallUrl"],
        "roomDeleteOnUserLeaveEnabled": True,
    }


async def test_outbound_and_batch_calls_through_a_phone_number(http: httpx.AsyncClient) -> None:
    assistant = await _assistant(http)
    number = (await http.post("/phone-number", json={"provider": "vapi", "assistantId": assistant["id"]})).json()
    call = (await http.post("/call", json={"phoneNumberId": number["id"], "customer": {"number": "+15550100"}})).json()
    assert call["type"] == "outboundPhoneCall" and call["phoneCallProvider"] == "vapi"

    batch = await http.post(
        "/call",
        json={"phoneNumberId": number["id"], "customers": [{"number": "+15550101"}, {"number": "+15550102"}]},
    )
    assert batch.status_code == 201
    body = batch.json()
    assert body["errors"] == [] and [c["customer"]["number"] for c in body["results"]] == ["+15550101", "+15550102"]
    listed = (await http.get("/call", params={"phoneNumberId": number["id"]})).json()
    assert len(listed) == 3


async def test_scheduled_call_starts_scheduled(http: httpx.AsyncClient) -> None:
    body = {"assistant": {"name": "x"}, "schedulePlan": {"earliestAt": "2026-02-01T00:00:00.000Z"}}
    call = (await http.post("/call", json=body)).json()
    assert call["status"] == "scheduled"


async def test_bulk_delete_by_ids(http: httpx.AsyncClient) -> None:
    ids = [(await http.post("/call", json={"assistant": {"name": "x"}})).json()["id"] for _ in range(3)]
    response = await http.request("DELETE", f"/call/{ids[0]}", json={"ids": ids[:2]})
    assert response.status_code == 200 and response.json()["id"] == ids[0]
    assert [c["id"] for c in (await http.get("/call")).json()] == [ids[2]]


async def test_delete_without_body_and_patch_with_null_clears(http: httpx.AsyncClient, app: web.Application) -> None:
    assistant = await _assistant(http, firstMessage="Hi")
    patched = (await http.patch(f"/assistant/{assistant['id']}", json={"firstMessage": None})).json()
    assert "firstMessage" not in patched and patched["name"] == "A"

    call = (await http.post("/call", json={"assistantId": assistant["id"]})).json()
    record = app[BACKEND_KEY].calls[call["id"]]
    assert (await http.delete(f"/call/{call['id']}")).json()["id"] == call["id"]
    assert record.deleted


async def test_record_apply_shows_in_get_call(http: httpx.AsyncClient, app: web.Application, clock: FakeClock) -> None:
    call = (await http.post("/call", json={"assistant": {"name": "x"}})).json()
    record = app[BACKEND_KEY].calls[call["id"]]
    clock.advance(2_000)
    record.apply({"status": "in-progress"})
    clock.advance(3_000)
    record.apply({"status": "ended", "endedReason": "customer-ended-call", "cost": 0.12})
    fetched = (await http.get(f"/call/{call['id']}")).json()
    assert fetched["status"] == "ended" and fetched["endedReason"] == "customer-ended-call"
    assert fetched["startedAt"] == "2026-01-01T00:00:02.000Z"
    assert fetched["endedAt"] == fetched["updatedAt"] == "2026-01-01T00:00:05.000Z"
    assert record.statuses == ["queued", "in-progress", "ended"]


# -- engine hooks -------------------------------------------------------------------------------------


async def test_on_call_created_gets_record_and_resolved_assistant(clock: FakeClock, responses: ResponseLog) -> None:
    created: list[tuple[CallRecord, Mapping[str, Any] | None]] = []

    async def on_call_created(record: CallRecord, assistant: Mapping[str, Any] | None) -> None:
        created.append((record, assistant))

    app = create_app(seed=SEED, now_ms=clock, on_call_created=on_call_created)
    async with serve(app, responses) as http:
        saved = await _assistant(http, firstMessage="Hi")
        by_id = (await http.post("/call", json={"assistantId": saved["id"]})).json()
        inline = (await http.post("/call", json={"assistant": {"name": "Inline"}})).json()
        members = [{"assistant": {"name": "First"}}, {"assistant": {"name": "Second"}}]
        squad_id = (await http.post("/squad", json={"members": members})).json()["id"]
        squad = (await http.post("/call", json={"squadId": squad_id})).json()
        web_call = (await http.post("/call/web", json={"assistantId": saved["id"]})).json()

    calls = app[BACKEND_KEY].calls
    assert [r for r, _ in created] == [calls[c["id"]] for c in (by_id, inline, squad, web_call)]
    assert created[0][1] == saved
    assert created[1][1] == {"name": "Inline"}
    assert created[2][1] == {"name": "First"}  # a squad's call starts with its first member
    assert created[0][0].assistant == saved


async def test_failing_call_created_hook_is_recorded_not_answered(
    app: web.Application, http: httpx.AsyncClient
) -> None:
    def broken(record: CallRecord, assistant: Mapping[str, Any] | None) -> None:
        raise RuntimeError("engine exploded")

    app[HOOKS_KEY].on_call_created = broken
    response = await http.post("/call", json={"assistant": {"name": "x"}})
    assert response.status_code == 201
    assert [str(e) for e in app[ERRORS_KEY].errors] == ["engine exploded"]


async def test_per_call_routes_answer_404_until_an_engine_is_plugged_in(
    app: web.Application, http: httpx.AsyncClient
) -> None:
    call = (await http.post("/call", json={"assistant": {"name": "x"}})).json()
    for method, suffix in (("GET", "transport"), ("GET", "listen"), ("POST", "control")):
        response = await http.request(method, f"/{call['id']}/{suffix}")
        assert response.status_code == 404
        assert "No live call" in response.json()["message"]
    assert (await http.post("/nope/control")).json()["message"] == "Call nope not found"

    seen: list[tuple[str, str]] = []

    async def control(record: CallRecord, request: web.Request) -> web.StreamResponse:
        seen.append((record.id, (await request.json())["type"]))
        return web.json_response({"ok": True})

    async def transport(record: CallRecord, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(f'{{"callId": "{record.id}"}}')
        await ws.close()
        return ws

    app[HOOKS_KEY].on_control = control
    app[HOOKS_KEY].on_transport_ws = transport
    assert (await http.post(f"/{call['id']}/control", json={"type": "end-call"})).json() == {"ok": True}
    assert seen == [(call["id"], "end-call")]

    url = str(http.base_url.join(f"/{call['id']}/transport"))
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        assert await ws.receive_json() == {"callId": call["id"]}


async def test_same_seed_and_clock_give_identical_responses(responses: ResponseLog) -> None:
    async def run() -> list[Any]:
        app = create_app(seed=SEED, now_ms=FakeClock())
        async with serve(app, responses) as http:
            assistant = await _assistant(http)
            call = (await http.post("/call", json={"assistantId": assistant["id"]})).json()
            for key in ("monitor", "webCallUrl", "transport"):  # these carry the (random) port
                call.pop(key)
            return [assistant, call]

    assert await run() == await run()


async def test_extra_routes_come_first_and_share_the_backend(responses: ResponseLog) -> None:
    async def reset(request: web.Request) -> web.Response:
        request.app[BACKEND_KEY].reset()
        return web.json_response({"reset": True})

    app = create_app(extra_routes=[web.post("/_mockvapi/reset", reset)])
    async with serve(app, responses) as http:
        await _assistant(http)
        assert (await http.post("/_mockvapi/reset")).json() == {"reset": True}
        assert (await http.get("/assistant")).json() == []


async def test_hook_failing_after_websocket_upgrade_closes_cleanly(
    app: web.Application, http: httpx.AsyncClient
) -> None:
    async def broken(record: CallRecord, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("hello")
        raise RuntimeError("engine bug after upgrade")

    app[HOOKS_KEY].on_transport_ws = broken
    call = (await http.post("/call", json={"assistant": {"name": "x"}})).json()
    url = str(http.base_url.join(f"/{call['id']}/transport"))
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        received = [message.data async for message in ws]
    assert received == ["hello"]  # no JSON error body written into the websocket stream
    assert [str(e) for e in app[ERRORS_KEY].errors] == ["engine bug after upgrade"]
