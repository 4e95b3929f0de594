"""Faults on the REST API (issue 14): per route and method, the mock answers 429 with Retry-After,
500/502/503, late, or drops the connection; selected with `nth`/`times`/`every`, set from `MockVapi(faults=)`,
`PUT /_mockvapi/faults` and `serve --fault`, and recorded in the journal (channel `api`). The official Python
SDK's retries are driven against them."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from mockvapi.engine.clock import VirtualClock
from mockvapi.errors import ScenarioError
from mockvapi.scenario.loader import load_text
from mockvapi.server import ERRORS_KEY
from mockvapi.testing import MockVapi

from .test_serve_cli import mockvapi_serve

TOKEN = "api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def vapi() -> AsyncIterator[MockVapi]:
    async with MockVapi(serve=True, token=TOKEN, clock=VirtualClock(autojump=False), strict=False) as mock:
        yield mock
        assert not mock.server.app[ERRORS_KEY].errors, mock.server.app[ERRORS_KEY].errors


@pytest.fixture
async def http(vapi: MockVapi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=vapi.server.url, headers=AUTH) as client:
        yield client


async def _set(http: httpx.AsyncClient, *faults: Any) -> None:
    response = await http.put("/_mockvapi/faults", json={"faults": list(faults)})
    assert response.status_code == 200, response.text


async def _api_journal(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    deliveries: list[dict[str, Any]] = (await http.get("/_mockvapi/journal?channel=api")).json()["deliveries"]
    return deliveries


async def test_times_answers_that_many_requests_with_the_status_then_the_real_answer(
    http: httpx.AsyncClient,
) -> None:
    await _set(http, "api:POST /assistant,status=503,times=2")
    answers = [await http.post("/assistant", json={"name": f"A{n}"}) for n in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 201]
    for refused in answers[:2]:
        assert refused.headers["Retry-After"] == "1"
        body = refused.json()
        assert body["statusCode"] == 503 and body["error"] == "Service Unavailable"
    assert answers[2].json()["name"] == "A2"
    assert len((await http.get("/assistant")).json()) == 1  # the refused ones created nothing
    journal = await _api_journal(http)
    assert [(d["target"], d["status"], d["injected"]) for d in journal] == [
        ("POST /assistant", 503, "api status 503 (POST /assistant #1)"),
        ("POST /assistant", 503, "api status 503 (POST /assistant #2)"),
    ]


async def test_routes_match_by_method_and_template_and_nth_picks_one(http: httpx.AsyncClient) -> None:
    created = (await http.post("/assistant", json={"name": "Kept"})).json()
    await _set(http, {"api": {"route": "GET /assistant/{id}", "status": 429, "retry_after": 7, "nth": 2}},
               "api:* /phone-number,status=502,every=true")
    first, second, third = [await http.get(f"/assistant/{created['id']}") for _ in range(3)]
    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)
    assert second.headers["Retry-After"] == "7" and second.json()["error"] == "Too Many Requests"
    assert (await http.patch(f"/assistant/{created['id']}", json={"name": "Other"})).status_code == 200
    assert [(await http.get("/phone-number")).status_code for _ in range(2)] == [502, 502]
    refused = await http.post("/phone-number", json={"provider": "vapi"})
    assert refused.status_code == 502 and "Retry-After" not in refused.headers
    # The control plane is never hit, so faults can always be taken back.
    assert (await http.delete("/_mockvapi/faults")).status_code == 200
    assert (await http.get("/phone-number")).status_code == 200


async def test_a_dropped_request_gets_no_answer_at_all(vapi: MockVapi, http: httpx.AsyncClient) -> None:
    await _set(http, "api:POST /call,drop=true")
    async with aiohttp.ClientSession(headers=AUTH) as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with session.post(vapi.server.url + "/call", json={"assistant": {"name": "Lost"}}):
                pass
        async with session.post(vapi.server.url + "/call", json={"assistant": {"name": "Found"}}) as again:
            assert again.status == 201
    assert not [c for c in vapi.server.backend.calls.values() if c.data.get("assistant", {}).get("name") == "Lost"]
    (dropped,) = await _api_journal(http)
    assert dropped["injected"] == "api drop (POST /call #1)" and dropped["sent"] is False


async def test_a_delay_holds_the_answer_for_that_long_on_the_servers_clock(
    vapi: MockVapi, http: httpx.AsyncClient
) -> None:
    await _set(http, "api:GET /assistant,delay=5s")
    pending = asyncio.ensure_future(http.get("/assistant"))
    while not await _api_journal(http):  # the request has arrived and is held
        await asyncio.sleep(0)
    assert not pending.done()
    await http.post("/_mockvapi/clock/advance", json={"seconds": 4})
    await asyncio.sleep(0.05)
    assert not pending.done()  # 4 s of 5: still held
    await http.post("/_mockvapi/clock/advance", json={"seconds": 1})
    assert (await asyncio.wait_for(pending, 10)).status_code == 200


async def test_faults_given_to_mockvapi_apply_to_its_api_and_not_to_its_calls() -> None:
    vapi = MockVapi(serve=True, token=TOKEN, strict=False, faults=["api:POST /call,status=500"])
    async with vapi, httpx.AsyncClient(base_url=vapi.server.url, headers=AUTH) as http:
        assert (await http.post("/call", json={"assistant": {"name": "X"}})).status_code == 500
        call = (await http.post("/call", json={"assistant": {"name": "Y"}})).json()
        engine = vapi.find_call(call["id"])
        assert engine is not None
        await asyncio.wait_for(engine.wait(), 10)
        assert engine.ended_reason == "customer-ended-call" and not engine.deliveries(injected=True)


def test_an_api_fault_in_a_scenario_is_refused_at_load() -> None:
    with pytest.raises(ScenarioError, match="give it to the server"):
        load_text("version: 1\nname: x\nfaults:\n  - api: {route: POST /call, status: 429}\nsteps:\n  - user: hi\n")


async def test_serve_fault_option() -> None:
    async with mockvapi_serve("--fault", "api:POST /assistant,status=429,retry_after=2") as (served, url):
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer any"}) as client:
            refused = await client.post("/assistant", json={"name": "Riley"})
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
            assert (await client.post("/assistant", json={"name": "Riley"})).status_code == 201
            faults = (await client.get("/_mockvapi/faults")).json()
            assert faults["faults"] == ["api:POST /assistant,status=429,retry_after=2"]
        code, log = await served.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in log


# -- the official SDK ---------------------------------------------------------------------------------


@pytest.fixture
def sdk_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The SDK's waits between retries, recorded instead of slept (the delays are the SDK's own choice)."""
    import vapi.core.http_client as sdk_http

    waits: list[float] = []

    async def instant(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(sdk_http.asyncio, "sleep", instant)
    return waits


async def test_the_official_sdk_retries_503s_honouring_retry_after_and_gets_through(
    vapi: MockVapi, http: httpx.AsyncClient, sdk_waits: list[float]
) -> None:
    from vapi import AsyncVapi

    await _set(http, "api:POST /assistant,status=503,times=2")
    sdk = AsyncVapi(token=TOKEN, base_url=vapi.server.url, httpx_client=http)
    # The SDK's own HTTP client, where its retries live (`assistants.create` goes through it; its pydantic
    # models would cost this test 15-20 s of CPU to build, and test_e2e_sdk covers them).
    response = await sdk._client_wrapper.httpx_client.request("assistant", method="POST", json={"name": "Retried"})
    assert response.status_code == 201 and response.json()["name"] == "Retried"
    assert sdk_waits == [1.0, 1.0]  # Retry-After: 1, twice
    assert len(await _api_journal(http)) == 2


async def test_the_official_sdk_gives_up_after_its_two_retries(
    vapi: MockVapi, http: httpx.AsyncClient, sdk_waits: list[float]
) -> None:
    from vapi import AsyncVapi

    await _set(http, {"api": {"route": "POST /assistant", "status": 429, "retry_after": 3, "every": True}})
    sdk = AsyncVapi(token=TOKEN, base_url=vapi.server.url, httpx_client=http)
    response = await sdk._client_wrapper.httpx_client.request("assistant", method="POST", json={"name": "Refused"})
    assert response.status_code == 429  # what `assistants.create` raises as an ApiError with status_code 429
    assert response.json()["error"] == "Too Many Requests"
    assert sdk_waits == [3.0, 3.0]
    assert len(await _api_journal(http)) == 3  # the request and its two retries
