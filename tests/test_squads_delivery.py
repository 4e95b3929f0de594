"""Squads played into real webhook servers on loopback: the servers' replies steer the handoffs, and
every webhook goes to the server of the member that was active when its message was produced."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mockvapi.scenario.loader import load_text
from mockvapi.testing import MockVapi
from tests.engine.invariants import check_invariants
from tests.server.webhook_receiver import WebhookReceiver

NURSE = {"destination": {"type": "assistant", "assistantName": "Nurse"}, "result": "Over to the nurse."}


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = await WebhookReceiver().start()
    yield r
    await r.aclose()


def _names(messages: list[dict[str, Any]]) -> list[str]:
    return [m["assistant"]["name"] for m in messages if "assistant" in m]


def _checked(messages: list[dict[str, Any]]) -> list[str]:
    return check_invariants(messages, side="server")


async def test_the_servers_answer_decides_the_member_of_a_dynamic_handoff() -> None:
    steering = await WebhookReceiver({"handoff-destination-request": NURSE}).start()
    try:
        async with MockVapi(webhook=steering.url, strict=False) as vapi:
            call = await vapi.play("squad-dynamic-handoff")
        messages = steering.messages(call.id)
        request = next(m for m in messages if m["type"] == "handoff-destination-request")
        assert request["assistant"]["name"] == "Triage" and request["parameters"] == {"reason": "symptoms"}
        assert _names(messages)[-1] == "Nurse"
        started = [m for m in messages if m["type"] == "assistant.started"]
        assert [m["newAssistant"]["name"] for m in started] == ["Triage", "Nurse"]
        report = messages[-1]
        assert report["type"] == "end-of-call-report"
        assert report["artifact"]["assistantActivations"] == [{"assistantName": "Triage"}, {"assistantName": "Nurse"}]
        results = [h["result"] for h in report["artifact"]["messages"] if h["role"] == "tool_call_result"]
        assert results == ["Over to the nurse."]
        assert call.problems == [] and _checked(messages) == []
    finally:
        await steering.aclose()


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ({"destination": {"type": "assistant", "assistantName": "Radiology"}}, "bad-handoff-destination"),
        ({"destination": {"type": "assistant"}}, "bad-handoff-destination"),
        ({"error": "All nurses are busy."}, None),
    ],
)
async def test_a_server_reply_the_squad_cannot_use_keeps_the_member(reply: dict[str, Any], problem: str | None) -> None:
    steering = await WebhookReceiver({"handoff-destination-request": reply}).start()
    try:
        async with MockVapi(webhook=steering.url, strict=False) as vapi:
            call = await vapi.play("squad-dynamic-handoff")
        messages = steering.messages(call.id)
        assert set(_names(messages)) == {"Triage"}
        assert [p.kind for p in call.problems] == ([problem] if problem else [])
        bots = [h["message"] for h in messages[-1]["artifact"]["messages"] if h["role"] == "bot"]
        if "error" in reply:
            assert reply["error"] in bots
        assert _checked(messages) == []
    finally:
        await steering.aclose()


async def test_the_invalid_reply_scenario_fails_against_a_server_that_repeats_the_mistake() -> None:
    bad = {"destination": {"type": "assistant", "assistantName": "Escalations"}}
    steering = await WebhookReceiver({"handoff-destination-request": bad}).start()
    try:
        async with MockVapi(webhook=steering.url, strict=False) as vapi:
            call = await vapi.play("squad-invalid-handoff-reply")
        # The server's answer named no member: Support stayed until its static handoff to the specialist.
        assert [p.kind for p in call.problems] == ["bad-handoff-destination"]
        names = _names(steering.messages(call.id))
        assert names[: names.index("Specialist")] == ["Support"] * names.index("Specialist")
    finally:
        await steering.aclose()


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    result = json.dumps({"available": True, "rate": "99"})  # a tool result is a string (fidelity.md)
    return {"results": [{"toolCallId": message["toolCallList"][0]["id"], "result": result}]}


@pytest.mark.parametrize("name", ["squad-receptionist-billing", "squad-member-tools"])
async def test_bundled_static_squads_play_through_a_real_webhook(name: str) -> None:
    receiver = await WebhookReceiver({"tool-calls": _tool_result}).start()
    try:
        async with MockVapi(webhook=receiver.url, strict=False) as vapi:
            call = await vapi.play(name)
    finally:
        await receiver.aclose()
    messages = receiver.messages(call.id)
    assert messages[-1]["type"] == "end-of-call-report"
    assert len(set(_names(messages))) == 2 and call.problems == []
    assert _checked(messages) == []


TWO_SERVERS = """\
version: 1
name: two-servers
call:
  type: inboundPhoneCall
  customer: {number: "+14155550142"}
  phoneNumber: {number: "+14155550100", server: {url: "PHONE"}}
squad:
  members:
    - assistant:
        name: Triage
        firstMessage: "Triage."
        server: {url: "TRIAGE"}
      assistantDestinations: [Nurse, Billing]
    - assistant:
        name: Nurse
        firstMessage: "Nurse here."
        server: {url: "NURSE"}
        serverMessages: [conversation-update, tool-calls, assistant.started, status-update, end-of-call-report]
        tools: [{name: chart, parameters: {patient: string}}]
      assistantDestinations: [Billing]
    - assistant: {name: Billing, firstMessage: "Billing."}
steps:
  - user: "I have a fever."
  # Scripted: the server refuses; the real server below answers Nurse instead.
  - handoff: {reply: {error: "No one is free."}}
  - user: "Thirty-nine degrees."
  - tool: {name: chart, arguments: {patient: "me"}, result: "noted"}
  - handoff: Billing
  - user: "And my invoice?"
  - end: customer-ended-call
"""


async def test_every_webhook_goes_to_the_member_that_was_active_then_falls_back_to_the_phone_number() -> None:
    triage = await WebhookReceiver({"handoff-destination-request": NURSE}).start()
    nurse = await WebhookReceiver({"tool-calls": lambda m: {"results": [
        {"toolCallId": m["toolCallList"][0]["id"], "result": "charted by the nurse's server"}]}}).start()
    phone = await WebhookReceiver().start()
    text = TWO_SERVERS.replace("TRIAGE", triage.url).replace("NURSE", nurse.url).replace("PHONE", phone.url)
    try:
        async with MockVapi(strict=False) as vapi:
            call = await vapi.play(load_text(text))
        for receiver, member in ((triage, "Triage"), (nurse, "Nurse"), (phone, "Billing")):
            assert receiver.messages(call.id), f"{member}'s server got nothing"
            assert set(_names(receiver.messages(call.id))) == {member}, member
        # The server's reply (Nurse) overrode the scripted refusal; the Nurse's own tool went to its server.
        assert "tool-calls" in nurse.types(call.id) and "tool-calls" not in triage.types(call.id)
        results = [h["result"] for h in phone.messages(call.id)[-1]["artifact"]["messages"]
                   if h["role"] == "tool_call_result"]
        assert "charted by the nurse's server" in results
        # Nurse's subscriptions: no speech-update reached its server, while Triage's (defaults) got them.
        assert "speech-update" in triage.types(call.id) and "speech-update" not in nurse.types(call.id)
        assert call.problems == []
    finally:
        for receiver in (triage, nurse, phone):
            await receiver.aclose()



async def test_a_failing_handoff_server_fails_the_handoff_once() -> None:
    # handoff-destination-request is a message whose reply Vapi waits for (as tool-calls): a 500 fails the
    # handoff (the member stays), once, not also as an ordinary message's failed delivery.
    got: list[dict[str, Any]] = []

    def steering(body: dict[str, Any]) -> Any:
        got.append(body["message"])
        if body["message"]["type"] == "handoff-destination-request":
            return 500, {"error": "down"}
        return {}

    async with MockVapi(webhook=steering, strict=False) as vapi:
        call = await vapi.play("squad-dynamic-handoff")
    assert [p.kind for p in call.problems] == ["handoff-destination-failed"]
    started = [m for m in got if m["type"] == "assistant.started"]
    assert [m["newAssistant"]["name"] for m in started] == ["Triage"]
