"""A dynamic handoff to an assistant created through the REST API, over real HTTP: the active member's
server (a webhook on loopback) answers handoff-destination-request with `assistantId`, and the saved
assistant runs the rest of the call as a squad member would, its webhooks going to its own server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.engine.invariants import check_invariants

from .conftest import ResponseLog
from .test_control_plane import Served, served
from .webhook_receiver import WebhookReceiver

CLINIC_MESSAGES = ["conversation-update", "assistant.started", "status-update", "end-of-call-report"]


@pytest.fixture
async def mock(responses: ResponseLog) -> AsyncIterator[Served]:
    async with served(responses) as s:
        yield s


async def squad_call(mock: Served, steering: WebhookReceiver) -> dict[str, Any]:
    """A phone call whose squad plays the bundled squad-dynamic-handoff, its Triage asking `steering`."""
    squad = await mock.api.post("/squad", json={"members": [
        {"assistant": {"name": "Triage", "server": {"url": steering.url},
                       "metadata": {"mockvapi": {"scenario": "squad-dynamic-handoff"}}}},
        {"assistant": {"name": "Nurse"}},
    ]})
    number = await mock.api.post("/phone-number", json={"provider": "vapi", "squadId": squad.json()["id"]})
    assert squad.status_code == 201 and number.status_code == 201
    call = await mock.call(phoneNumberId=number.json()["id"], customer={"number": "+15551230000"})
    return await mock.played(call["id"])


async def test_a_reply_naming_a_saved_assistant_hands_the_call_to_it(mock: Served) -> None:
    clinic_server = await WebhookReceiver().start()
    created = await mock.assistant(name="Clinic", firstMessage="Clinic here, a saved assistant.",
                                   server={"url": clinic_server.url}, serverMessages=CLINIC_MESSAGES)
    steering = await WebhookReceiver({"handoff-destination-request": {
        "destination": {"type": "assistant", "assistantId": created["id"]}, "result": "Over to the clinic."}}).start()
    try:
        record = await squad_call(mock, steering)
        assert mock.vapi.journal.problems_for(record["id"]) == []
        assert record["artifact"]["assistantActivations"] == [{"assistantName": "Triage"},
                                                              {"assistantName": "Clinic"}]
        assert "Clinic here, a saved assistant." in [m["message"] for m in record["messages"] if m["role"] == "bot"]
        asked = steering.messages(record["id"])
        assert "handoff-destination-request" in [m["type"] for m in asked]
        assert {m["assistant"]["name"] for m in asked} == {"Triage"}
        # From the handoff on, the saved assistant's own server gets the call, as its subscriptions say.
        taken = clinic_server.messages(record["id"])
        assert {m["assistant"]["name"] for m in taken} == {"Clinic"}
        assert set(clinic_server.types(record["id"])) <= set(CLINIC_MESSAGES)
        started = [m for m in taken if m["type"] == "assistant.started"]
        assert [m["newAssistant"]["name"] for m in started] == ["Clinic"]
        assert taken[-1]["type"] == "end-of-call-report"
        assert check_invariants(asked + taken, side="server") == []
    finally:
        await steering.aclose()
        await clinic_server.aclose()


async def test_a_reply_naming_an_unknown_assistant_id_keeps_the_member(mock: Served) -> None:
    steering = await WebhookReceiver({"handoff-destination-request": {
        "destination": {"type": "assistant", "assistantId": "5b1e6f1c-0000-4000-8000-000000000000"}}}).start()
    try:
        record = await squad_call(mock, steering)
        kinds = [p.kind for p in mock.vapi.journal.problems_for(record["id"])]
        assert kinds == ["assistant-not-found"]
        assert record["artifact"]["assistantActivations"] == [{"assistantName": "Triage"}]
        assert {m["assistant"]["name"] for m in steering.messages(record["id"])} == {"Triage"}
    finally:
        await steering.aclose()
