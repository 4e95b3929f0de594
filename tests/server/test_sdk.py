"""The REST surface driven by the official Python SDK (vapi-server-sdk 3.0.0).

Every response is validated against the official spec by the fixtures' response hook.
The SDK's response models (Assistant, Call) cost vapi-server-sdk 3.0.0 about 15-20 s of
pydantic schema building on first use, once per process. So only this module uses the SDK, it
imports nothing heavy at collection time (model arguments are plain dicts, which the SDK sends
as they are), and ``pytest tests/server -k "not sdk"`` runs the rest in a few seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from vapi import AsyncVapi
from vapi.core.api_error import ApiError
from vapi.errors import BadRequestError, NotFoundError

from mockvapi.server import create_app

from .conftest import T0, TOKEN, FakeClock, ResponseLog, loopback_client, serve

UTC = dt.UTC


@pytest.fixture
async def vapi(server: TestServer, responses: ResponseLog) -> AsyncIterator[AsyncVapi]:
    """The official SDK pointed at the server; every response is validated."""
    async with loopback_client(responses) as client:
        yield AsyncVapi(token=TOKEN, base_url=str(server.make_url("")), httpx_client=client)


def _when(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=UTC)


# -- assistants -----------------------------------------------------------------------------------


async def test_assistant_crud_round_trip(vapi: AsyncVapi, clock: FakeClock) -> None:
    created = await vapi.assistants.create(
        name="Support", first_message="Hello!", model={"provider": "openai", "model": "gpt-4o"}
    )
    assert created.name == "Support" and created.first_message == "Hello!"
    assert created.created_at == created.updated_at == _when(T0)

    fetched = await vapi.assistants.get(created.id)
    assert fetched.id == created.id and fetched.org_id == created.org_id

    clock.advance(1_000)
    updated = await vapi.assistants.update(created.id, name="Renamed")
    assert updated.name == "Renamed" and updated.first_message == "Hello!"
    assert updated.updated_at == _when(T0 + 1_000) and updated.created_at == _when(T0)

    deleted = await vapi.assistants.delete(created.id)
    assert deleted.id == created.id
    with pytest.raises(ApiError) as info:
        await vapi.assistants.get(created.id)
    assert info.value.status_code == 404


async def test_assistant_list_is_newest_first_with_limit_and_date_filters(vapi: AsyncVapi, clock: FakeClock) -> None:
    ids = []
    for i in range(3):
        ids.append((await vapi.assistants.create(name=f"a{i}")).id)
        clock.advance(1_000)
    assert [a.id for a in await vapi.assistants.list()] == ids[::-1]
    assert [a.id for a in await vapi.assistants.list(limit=2)] == ids[:0:-1]
    assert [a.id for a in await vapi.assistants.list(created_at_gt=_when(T0))] == ids[:0:-1]
    assert [a.id for a in await vapi.assistants.list(created_at_ge=_when(T0))] == ids[::-1]
    assert [a.id for a in await vapi.assistants.list(created_at_lt=_when(T0 + 1_000))] == ids[:1]
    assert [a.id for a in await vapi.assistants.list(created_at_le=_when(T0 + 1_000))] == ids[1::-1]

    await vapi.assistants.update(ids[0], name="touched")  # updatedAt = T0 + 3000
    assert [a.id for a in await vapi.assistants.list(updated_at_ge=_when(T0 + 3_000))] == ids[:1]


# -- phone numbers ----------------------------------------------------------------------------------


async def test_phone_number_crud_round_trip(vapi: AsyncVapi, clock: FakeClock) -> None:
    assistant = await vapi.assistants.create(name="Inbound")
    vapi_number = await vapi.phone_numbers.create(request={"provider": "vapi", "assistantId": assistant.id})
    assert vapi_number.provider == "vapi" and vapi_number.assistant_id == assistant.id
    assert vapi_number.number is not None and vapi_number.number.startswith("+1")

    twilio = await vapi.phone_numbers.create(
        request={"provider": "twilio", "number": "+15550001111", "twilioAccountSid": "AC123"}
    )
    assert twilio.provider == "twilio" and twilio.number == "+15550001111"

    assert [p.id for p in await vapi.phone_numbers.list()] == [twilio.id, vapi_number.id]
    assert (await vapi.phone_numbers.get(twilio.id)).id == twilio.id

    clock.advance(500)
    updated = await vapi.phone_numbers.update(twilio.id, request={"provider": "twilio", "name": "Main line"})
    assert updated.name == "Main line" and updated.number == "+15550001111"

    assert (await vapi.phone_numbers.delete(twilio.id)).id == twilio.id
    with pytest.raises(ApiError) as info:
        await vapi.phone_numbers.get(twilio.id)
    assert info.value.status_code == 404


# -- calls ------------------------------------------------------------------------------------------


async def test_websocket_call_points_transport_and_monitor_urls_at_this_server(
    vapi: AsyncVapi, server: TestServer
) -> None:
    assistant = await vapi.assistants.create(name="WS")
    call = await vapi.calls.create(
        assistant_id=assistant.id,
        transport={
            "provider": "vapi.websocket",
            "audioFormat": {"format": "mulaw", "container": "raw", "sampleRate": 8000},
        },
    )
    data = call.dict(by_alias=True)
    host = f"{server.host}:{server.port}"
    assert data["type"] == "vapi.websocketCall" and data["status"] == "queued"
    assert data["transport"]["websocketCallUrl"] == f"ws://{host}/{call.id}/transport"
    assert data["transport"]["audioFormat"] == {"format": "mulaw", "container": "raw", "sampleRate": 8000}
    assert data["monitor"]["listenUrl"] == f"ws://{host}/{call.id}/listen"
    assert data["monitor"]["controlUrl"] == f"http://{host}/{call.id}/control"


async def test_call_without_phone_or_transport_is_a_web_call(vapi: AsyncVapi) -> None:
    call = await vapi.calls.create(assistant={"name": "Inline", "firstMessage": "Hi"})
    data = call.dict(by_alias=True)
    assert data["type"] == "webCall"
    assert data["assistant"] == {"name": "Inline", "firstMessage": "Hi"}
    assert data["transport"]["provider"] == "daily"


async def test_outbound_call_and_batch_with_customers(vapi: AsyncVapi) -> None:
    assistant = await vapi.assistants.create(name="Caller")
    number = await vapi.phone_numbers.create(request={"provider": "vapi", "assistantId": assistant.id})
    call = await vapi.calls.create(phone_number_id=number.id, customer={"number": "+15551230000"})
    data = call.dict(by_alias=True)
    assert data["type"] == "outboundPhoneCall"
    assert data["phoneNumberId"] == number.id and data["customer"] == {"number": "+15551230000"}
    assert data["phoneCallProvider"] == "vapi"

    batch = await vapi.calls.create(
        assistant_id=assistant.id,
        phone_number_id=number.id,
        customers=[{"number": "+15551230001"}, {"number": "+15551230002"}],
    )
    batch_data = batch.dict(by_alias=True)
    assert batch_data["errors"] == []
    assert [c["customer"]["number"] for c in batch_data["results"]] == ["+15551230001", "+15551230002"]
    assert len(await vapi.calls.list(phone_number_id=number.id)) == 3


async def test_call_list_filters_get_update_delete(vapi: AsyncVapi, clock: FakeClock) -> None:
    first = await vapi.assistants.create(name="first")
    second = await vapi.assistants.create(name="second")
    calls = []
    for assistant in (first, second, first):
        calls.append(await vapi.calls.create(assistant_id=assistant.id))
        clock.advance(1_000)
    ids = [c.id for c in calls]

    assert [c.id for c in await vapi.calls.list()] == ids[::-1]
    assert [c.id for c in await vapi.calls.list(assistant_id=first.id)] == [ids[2], ids[0]]
    assert [c.id for c in await vapi.calls.list(id=ids[1])] == [ids[1]]
    assert [c.id for c in await vapi.calls.list(limit=1)] == [ids[2]]
    assert [c.id for c in await vapi.calls.list(created_at_gt=_when(T0 + 500))] == [ids[2], ids[1]]

    assert (await vapi.calls.get(ids[0])).assistant_id == first.id
    renamed = await vapi.calls.update(ids[0], name="renamed")
    assert renamed.name == "renamed" and renamed.updated_at == _when(T0 + 3_000)

    deleted = await vapi.calls.delete(ids[0])
    assert deleted.id == ids[0]
    with pytest.raises(ApiError) as info:
        await vapi.calls.get(ids[0])
    assert info.value.status_code == 404
    assert [c.id for c in await vapi.calls.list()] == [ids[2], ids[1]]


# -- errors through the SDK ------------------------------------------------------------------------


async def test_sdk_maps_status_codes_to_its_errors(vapi: AsyncVapi, responses: ResponseLog) -> None:
    with pytest.raises(BadRequestError) as bad:
        await vapi.calls.create(assistant_id=12345)
    assert bad.value.body["message"] == ["assistantId must be a string"]

    with pytest.raises(ApiError) as missing:
        await vapi.calls.get("00000000-0000-4000-8000-000000000000")
    assert missing.value.status_code == 404

    # Artifact downloads are not implemented; the SDK maps their 404 to NotFoundError.
    with pytest.raises(NotFoundError) as not_implemented:
        await vapi.calls.call_artifact_controller_mono_recording_download("abc")
    assert "not implemented in mockvapi" in not_implemented.value.body["message"]

    async with serve(create_app(tokens=["right"]), responses, token=None) as client:
        base_url = str(client.base_url)
        wrong = AsyncVapi(token="wrong", base_url=base_url, httpx_client=client)
        with pytest.raises(ApiError) as unauthorized:
            await wrong.assistants.list()
        assert unauthorized.value.status_code == 401
        assert unauthorized.value.body["error"] == "Unauthorized"
        right = AsyncVapi(token="right", base_url=base_url, httpx_client=client)
        assert await right.assistants.list() == []
