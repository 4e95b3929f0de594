"""Retention in the stand-alone mock: past `max_calls` the oldest ended calls go with their REST records
(GET /call/{id} then answers Vapi's 404), counted in GET /_mockvapi/status; running calls stay; the
journal keeps their entries; `mockvapi serve --max-calls N` sets the bound and refuses bad values in
one line. Nothing (record updater, websocket peer, webhook session) keeps a forgotten call's player alive.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pytest

from mockvapi.cli import main
from mockvapi.engine.clock import Clock, VirtualClock
from mockvapi.serve import serve
from mockvapi.server import ERRORS_KEY
from mockvapi.testing import MockVapi

from .conftest import ResponseLog, loopback_client
from .webhook_receiver import WebhookReceiver

TOKEN = "api-token"


@dataclass
class Served:
    vapi: MockVapi
    api: httpx.AsyncClient

    async def call(self, **body: Any) -> str:
        response = await self.api.post("/call", json=body)
        assert response.status_code == 201, response.text
        call_id: str = response.json()["id"]
        return call_id

    async def played(self, **body: Any) -> str:
        call_id = await self.call(**body)
        call = self.vapi.find_call(call_id)
        if call is not None:
            async with asyncio.timeout(10):
                await call.wait()
        return call_id

    async def status(self) -> dict[str, Any]:
        response = await self.api.get("/_mockvapi/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@asynccontextmanager
async def served(responses: ResponseLog, *, max_calls: int, clock: Clock | None = None) -> AsyncIterator[Served]:
    vapi = MockVapi(serve=True, token=TOKEN, clock=clock or VirtualClock(), strict=False, max_calls=max_calls)
    async with vapi:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with loopback_client(responses, base_url=vapi.server.url, headers=headers) as api:
            yield Served(vapi, api)
        assert not vapi.server.app[ERRORS_KEY].errors, vapi.server.app[ERRORS_KEY].errors


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = await WebhookReceiver().start()
    yield r
    await r.aclose()


async def test_forgotten_calls_answer_vapis_404_and_are_counted(
    responses: ResponseLog, receiver: WebhookReceiver
) -> None:
    async with served(responses, max_calls=2) as mock:
        ids = [await mock.played(assistant={"name": f"A{n}", "server": {"url": receiver.url}}) for n in range(3)]

        gone = await mock.api.get(f"/call/{ids[0]}")
        assert gone.status_code == 404
        assert gone.json() == {"message": f"Call {ids[0]} not found", "error": "Not Found", "statusCode": 404}
        for call_id in ids[1:]:
            assert (await mock.api.get(f"/call/{call_id}")).json()["status"] == "ended"
        listed = (await mock.api.get("/call")).json()
        assert sorted(c["id"] for c in listed) == sorted(ids[1:])

        status = await mock.status()
        assert status["calls"] == {"held": 2, "running": 0, "forgotten": 1, "maxCalls": 2, "maxRunningCalls": 1000}
        assert status["records"] == {"held": 2, "forgotten": 1}
        # The journal keeps the forgotten call's deliveries: only its own bound evicts them.
        kept = mock.vapi.journal.deliveries(call_id=ids[0])
        assert kept and [d.message for d in kept] == receiver.messages(ids[0])
        assert status["journal"]["deliveries"] == len(mock.vapi.journal) and status["journal"]["dropped"] == 0


async def test_running_calls_keep_their_records_past_the_bound(responses: ResponseLog) -> None:
    clock = VirtualClock(autojump=False)  # nothing moves until advanced
    async with served(responses, max_calls=2, clock=clock) as mock:
        ids = [await mock.call(assistant={"name": f"A{n}"}) for n in range(3)]
        for call_id in ids:
            assert (await mock.api.get(f"/call/{call_id}")).json()["status"] == "queued"
        status = await mock.status()
        assert status["calls"] == {"held": 3, "running": 3, "forgotten": 0, "maxCalls": 2, "maxRunningCalls": 1000}
        assert status["records"] == {"held": 3, "forgotten": 0}

        await clock.advance(600)
        async with asyncio.timeout(10):
            await asyncio.gather(*(c.wait() for c in list(mock.vapi.calls)))
        assert (await mock.api.get(f"/call/{ids[0]}")).status_code == 404  # the oldest, once ended
        status = await mock.status()
        assert status["calls"] == {"held": 2, "running": 0, "forgotten": 1, "maxCalls": 2, "maxRunningCalls": 1000}


async def test_calls_that_could_not_start_are_bounded_too(responses: ResponseLog) -> None:
    async with served(responses, max_calls=2) as mock:
        unknown = {"name": "Lost", "metadata": {"mockvapi": {"scenario": "no-such-scenario"}}}
        mock.vapi.server.backend.assistant_check = None  # let the calls be created, to fail when they start
        ids = [await mock.call(assistant=unknown) for _ in range(3)]
        assert not mock.vapi.calls  # no call object: only records
        assert (await mock.api.get(f"/call/{ids[0]}")).status_code == 404
        assert (await mock.api.get(f"/call/{ids[2]}")).json()["endedReason"] == "call.start.error-get-assistant"
        assert (await mock.status())["records"] == {"held": 2, "forgotten": 1}


async def test_reset_starts_the_counts_again(responses: ResponseLog) -> None:
    async with served(responses, max_calls=1) as mock:
        for n in range(3):
            await mock.played(assistant={"name": f"A{n}"})
        assert (await mock.status())["calls"]["forgotten"] == 2
        assert (await mock.api.post("/_mockvapi/reset")).status_code == 200
        status = await mock.status()
        assert status["calls"] == {"held": 0, "running": 0, "forgotten": 0, "maxCalls": 1, "maxRunningCalls": 1000}
        assert status["records"] == {"held": 0, "forgotten": 0}


async def test_a_forgotten_websocket_calls_player_is_collectable(
    responses: ResponseLog, receiver: WebhookReceiver
) -> None:
    async with served(responses, max_calls=1) as mock:
        response = await mock.api.post(
            "/call", json={"assistant": {"name": "Ws", "server": {"url": receiver.url}},
                           "transport": {"provider": "vapi.websocket"}},
        )
        assert response.status_code == 201, response.text
        created = response.json()
        call = mock.vapi.find_call(created["id"])
        assert call is not None
        player, held = weakref.ref(call.player), weakref.ref(call)
        del call
        async with aiohttp.ClientSession() as session:
            listen = await session.ws_connect(created["monitor"]["listenUrl"])
            async with session.ws_connect(created["transport"]["websocketCallUrl"]) as ws:
                async with asyncio.timeout(10):
                    async for frame in ws:  # the call plays to its end and closes the socket
                        if frame.type == aiohttp.WSMsgType.TEXT:
                            json.loads(frame.data)
            async with asyncio.timeout(10):
                while (await listen.receive()).type != aiohttp.WSMsgType.CLOSE:
                    pass
            await listen.close()
        ended = held()
        assert ended is not None
        async with asyncio.timeout(10):
            await ended.wait()
        del ended
        await mock.played(assistant={"name": "Next"})  # forgets the websocket call
        assert (await mock.api.get(f"/call/{created['id']}")).status_code == 404
        gc.collect()
        assert held() is None and player() is None, gc.get_referrers(*(x for x in (held(), player()) if x))


# -- mockvapi serve --max-calls -------------------------------------------------------------------------


def test_serve_passes_max_calls_to_the_mock(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[dict[str, Any]] = []

    def ready(url: str) -> None:
        def ask() -> None:
            try:
                status = httpx.get(f"{url}/_mockvapi/status", timeout=10)
                seen.append(status.json())
            finally:
                os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=ask, daemon=True).start()

    assert serve(port=0, clock="virtual", max_calls="7", banner=lambda url, token: "", ready=ready) == 0
    assert seen and seen[0]["calls"] == {"held": 0, "running": 0, "forgotten": 0, "maxCalls": 7,
                                         "maxRunningCalls": 1000}


def test_the_cli_hands_max_calls_to_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    got: dict[str, Any] = {}

    def fake_serve(**options: Any) -> int:
        got.update(options)
        return 0

    monkeypatch.setattr("mockvapi.serve.serve", fake_serve)
    assert main(["serve", "--max-calls", "250"]) == 0 and got["max_calls"] == "250"
    assert main(["serve"]) == 0 and got["max_calls"] == "1000"


@pytest.mark.parametrize("bad", ["0", "-3", "many", "2.5", ""])
def test_serve_refuses_a_bad_max_calls_in_one_line(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--clock", "virtual", "--max-calls", bad]) == 2
    err = capsys.readouterr().err
    assert err == f"mockvapi: cannot serve: --max-calls must be a whole number of at least 1, got {bad!r}\n"
