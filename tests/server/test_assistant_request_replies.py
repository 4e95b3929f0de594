"""An assistant-request reply judged as Vapi judges it, over real HTTP: the phone number's server (a
webhook on loopback) answers, the stand-alone mock plays the call, the REST record and the webhook show
what came of it. The assistant is validated as `POST /assistant` validates it and used as returned;
`assistantId` names an assistant created through the REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mockvapi.errors import BadRequest
from mockvapi.models.dto import request_schemas
from mockvapi.server.backend import ASSISTANT_FIELDS, validate_body

from .conftest import ResponseLog
from .test_control_plane import Served, served
from .webhook_receiver import WebhookReceiver

GREETING = "Thanks for calling the dynamic line!"


@pytest.fixture
async def mock(responses: ResponseLog) -> AsyncIterator[Served]:
    async with served(responses) as s:
        yield s


async def inbound(mock: Served, reply: Any) -> tuple[dict[str, Any], WebhookReceiver]:
    """An inbound call whose phone number's server answers assistant-request with `reply`."""
    receiver = await WebhookReceiver({"assistant-request": reply}).start()
    number = await mock.api.post("/phone-number", json={"provider": "vapi", "server": {"url": receiver.url}})
    assert number.status_code == 201
    response = await mock.control.post(
        "/_mockvapi/inbound-call", json={"phoneNumberId": number.json()["id"], "customer": {"number": "+15551230000"}}
    )
    assert response.status_code == 201
    record = await mock.played(response.json()["id"])
    return record, receiver


def problems(mock: Served, call_id: str) -> list[tuple[str, str]]:
    return [(p.kind, p.detail) for p in mock.vapi.journal.problems_for(call_id)]


async def test_an_invalid_assistant_ends_the_call_with_post_assistants_messages(mock: Served) -> None:
    assistant = {"name": "Legacy", "model": {"provider": "openai", "model": "gpt-4o", "systemPrompt": "Hi",
                                             "functions": []}}
    refused = await mock.api.post("/assistant", json=assistant)
    assert refused.status_code == 400
    record, receiver = await inbound(mock, {"assistant": assistant})
    try:
        assert record["endedReason"] == "assistant-request-returned-invalid-assistant"
        ((kind, detail),) = problems(mock, record["id"])
        assert kind == "invalid-assistant"
        for message in refused.json()["message"]:
            assert message in detail  # the same validation, the same words
        assert receiver.types(record["id"])[-1] == "end-of-call-report"
    finally:
        await receiver.aclose()


async def test_a_valid_assistant_is_used_as_returned(mock: Served) -> None:
    assistant = {"name": "Dynamic", "firstMessage": GREETING}
    record, receiver = await inbound(mock, {"assistant": assistant})
    try:
        assert record["endedReason"] == "customer-ended-call"
        assert [m["message"] for m in record["messages"] if m["role"] == "bot"][0] == GREETING
        later = receiver.messages(record["id"])[1:]
        # Nothing of the scenario's assistant (model, voice, server...) is merged in; with no server of its
        # own, its webhooks go to the phone number's server (this receiver), by Vapi's default subscriptions.
        assert later and all(m["assistant"] == assistant for m in later)
        assert {m["type"] for m in later} >= {"status-update", "conversation-update", "end-of-call-report"}
        assert problems(mock, record["id"]) == []
    finally:
        await receiver.aclose()


async def test_assistant_id_names_an_assistant_created_through_rest(mock: Served) -> None:
    created = await mock.assistant(name="Stored", firstMessage="Hello from a stored assistant.")
    record, receiver = await inbound(mock, {"assistantId": created["id"]})
    try:
        assert record["assistantId"] == created["id"]
        assert [m["message"] for m in record["messages"] if m["role"] == "bot"][0] == created["firstMessage"]
        last = receiver.messages(record["id"])[-1]
        assert last["assistant"]["name"] == "Stored" and last["call"]["assistantId"] == created["id"]
    finally:
        await receiver.aclose()


async def test_an_unknown_assistant_id_ends_assistant_not_found(mock: Served) -> None:
    record, receiver = await inbound(mock, {"assistantId": "5b1e6f1c-0000-4000-8000-000000000000"})
    try:
        assert record["endedReason"] == "assistant-not-found"
        assert [k for k, _ in problems(mock, record["id"])] == ["assistant-not-found"]
    finally:
        await receiver.aclose()


async def test_squad_id_names_a_squad_created_through_rest_whose_first_member_runs_the_call(mock: Served) -> None:
    billing = await mock.assistant(name="Billing", firstMessage="Billing, from an assistant created by id.")
    squad = await mock.api.post("/squad", json={"members": [
        {"assistantId": billing["id"]}, {"assistant": {"name": "Reception", "firstMessage": "Reception."}},
    ], "membersOverrides": {"endCallMessage": "Goodbye from the squad."}})
    assert squad.status_code == 201
    record, receiver = await inbound(mock, {"squadId": squad.json()["id"]})
    try:
        assert record["endedReason"] == "customer-ended-call" and problems(mock, record["id"]) == []
        assert [m["message"] for m in record["messages"] if m["role"] == "bot"][0] == billing["firstMessage"]
        last = receiver.messages(record["id"])[-1]
        assert last["call"]["squadId"] == squad.json()["id"]
        assert last["assistant"]["name"] == "Billing"
        assert last["assistant"]["endCallMessage"] == "Goodbye from the squad."
    finally:
        await receiver.aclose()


async def test_a_squad_reply_is_judged_as_post_squad_judges_it(mock: Served) -> None:
    bad = {"members": [{"assistant": {"name": "R", "server": {"url": "file:///etc/passwd"}, "voice": {"provider": 7}}}]}
    refused = await mock.api.post("/squad", json=bad)
    assert refused.status_code == 400
    record, receiver = await inbound(mock, {"squad": bad})
    try:
        assert record["endedReason"] == "assistant-request-returned-invalid-assistant"
        ((kind, detail),) = problems(mock, record["id"])
        assert kind == "invalid-assistant"
        for message in refused.json()["message"]:
            assert message in detail  # the same validation, in the same words (under `squad.`)
    finally:
        await receiver.aclose()
    record, receiver = await inbound(mock, {"squadId": "5b1e6f1c-0000-4000-8000-000000000000"})
    try:
        assert record["endedReason"] == "assistant-not-found"
        assert [k for k, _ in problems(mock, record["id"])] == ["squad-not-found"]
    finally:
        await receiver.aclose()


async def test_a_call_on_a_phone_number_with_a_squad_id_runs_that_squad_through_its_handoffs(mock: Served) -> None:
    greeting = "Billing, from the phone number's squad."
    squad = await mock.api.post("/squad", json={"members": [
        {"assistant": {"name": "Reception", "metadata": {"mockvapi": {"scenario": "squad-receptionist-billing"}}},
         "assistantDestinations": [{"type": "assistant", "assistantName": "Billing"}]},
        {"assistant": {"name": "Billing", "firstMessage": greeting}},
    ]})
    number = await mock.api.post("/phone-number", json={"provider": "vapi", "squadId": squad.json()["id"]})
    assert squad.status_code == 201 and number.status_code == 201
    call = await mock.call(phoneNumberId=number.json()["id"], customer={"number": "+15551230000"})
    record = await mock.played(call["id"])
    assert record["artifact"]["assistantActivations"] == [{"assistantName": "Reception"}, {"assistantName": "Billing"}]
    assert greeting in [m["message"] for m in record["messages"] if m["role"] == "bot"]


@pytest.mark.parametrize(("reply", "reason", "kind"), [
    ({"destination": {"type": "number", "number": "+14155550123"}},
     "assistant-request-returned-forwarding-phone-number", None),
    ({"destination": {"type": "number"}}, "assistant-request-returned-invalid-assistant", "invalid-assistant"),
    ({"destination": {"type": "fax", "number": "+14155550123"}},
     "assistant-request-returned-invalid-assistant", "invalid-assistant"),
    ({"error": "We are closed."}, "assistant-request-returned-error", None),
    ({"assistant": {"name": "Dynamic"}, "assistantOverrides": {"firstMessage": GREETING}}, "customer-ended-call", None),
    ({"assistant": {"name": "Dynamic"}, "assistantOverrides": {"bogus": 1}},
     "assistant-request-returned-invalid-assistant", "invalid-assistant"),
    ({"other": 1}, "assistant-request-returned-no-assistant", "assistant-request-failed"),
], ids=["destination", "destination-without-number", "destination-bad-type", "error", "overrides",
        "bad-overrides", "nothing"])
async def test_each_kind_of_reply(mock: Served, reply: dict[str, Any], reason: str, kind: str | None) -> None:
    record, receiver = await inbound(mock, reply)
    try:
        assert record["endedReason"] == reason
        assert [k for k, _ in problems(mock, record["id"])] == ([kind] if kind else [])
        spoken = [m["message"] for m in record["messages"] if m["role"] == "bot"]
        if "error" in reply:
            assert spoken == ["We are closed."]  # the error is spoken to the customer
        if "assistantOverrides" in reply and kind is None:
            assert spoken[0] == GREETING
    finally:
        await receiver.aclose()


@pytest.mark.parametrize("body", [
    {"model": {"provider": "openai", "model": "gpt-4o", "systemPrompt": "x"}},
    {"name": "a" * 100, "foo": 1, "firstMessageMode": "x", "voice": {"provider": "vapi"}},
    {"maxDurationSeconds": 5, "server": {"url": "x", "timeoutSeconds": 0}},
    {"serverMessages": ["bogus"], "name": 3},
    {"transcriber": {"provider": "nope"}},
    {"name": "fine", "firstMessage": "Hello."},
])
def test_the_engines_check_words_problems_as_post_assistant_does(body: dict[str, Any]) -> None:
    try:
        validate_body(body, ASSISTANT_FIELDS, "CreateAssistantDTO")
        expected: list[str] = []
    except BadRequest as exc:
        expected = list(exc.message)
    assert request_schemas().body_errors(body, "CreateAssistantDTO") == expected
