"""Replies judged as Vapi judges them, in the engine: an assistant-request reply's assistant used as
returned (its own server, tools and subscriptions, Vapi's defaults for what it omits), what a transfer
says before connecting, and message.call following the call's progress."""

from __future__ import annotations

from typing import Any

import pytest

from mockvapi.engine.context import CallOverrides
from mockvapi.engine.events import Reply
from mockvapi.engine.simulator import CallSimulation, simulate
from mockvapi.engine.transfer import DEFAULT_TRANSFER_MESSAGE
from mockvapi.library import bundled_names, resolve
from mockvapi.models.messages import DEFAULT_SERVER_MESSAGES

from .test_simulator import (
    ASSISTANT_REQUEST_YAML,
    TRANSFER_YAML,
    assert_clean,
    assistant_answer,
    drive_with,
    history,
    load,
    of_type,
    play,
    transfer_answer,
)

SCENARIO_SERVER = "http://127.0.0.1:9/scenario"
PHONE_SERVER = "http://127.0.0.1:9/phone"
REPLY_TOOLS = "http://127.0.0.1:9/tools"

RICH_INBOUND = f"""
version: 1
name: inbound-rich
call:
  type: inboundPhoneCall
  assistant_request: true
  phoneNumber: {{number: "+14155550199", server: {{url: "{PHONE_SERVER}", secret: phone-secret}}}}
assistant:
  firstMessage: "Scripted hello."
  server: {{url: "{SCENARIO_SERVER}", secret: scenario-secret}}
  serverMessages: [status-update, end-of-call-report]
  tools:
    - name: lookup
      server: {{url: "{SCENARIO_SERVER}/tools"}}
steps:
  - user: "Hi there."
  - tool: {{name: lookup, result: "ok"}}
  - assistant: "Done."
"""

RETURNED = {
    "name": "Returned",
    "firstMessage": "Hello from your server.",
    "model": {
        "provider": "openai",
        "model": "gpt-4o",
        "tools": [{"type": "function", "function": {"name": "lookup"},
                   "server": {"url": REPLY_TOOLS, "timeoutSeconds": 5}}],
    },
}


def test_a_returned_assistant_runs_the_call_with_nothing_of_the_scenarios() -> None:
    sim, timeline = play(RICH_INBOUND, assistant_answer(Reply(200, {"assistant": RETURNED}, 0.3)))
    assert sim.problems == []
    server = [m for _, m in timeline.messages(side="server")][1:]
    # Vapi's default subscriptions, not the scenario's two types.
    assert {m["type"] for m in server} == {"status-update", "conversation-update", "end-of-call-report",
                                            "speech-update", "tool-calls", "assistant.started"}
    assert {m["type"] for m in server} <= set(DEFAULT_SERVER_MESSAGES)
    # The assistant as returned.
    shown = server[0]["assistant"]
    assert shown == RETURNED
    # Webhooks: no server of its own -> the phone number's (with its secret); its tool -> its tool server.
    assert sim.server_for("") == {"url": PHONE_SERVER, "secret": "phone-secret", "timeoutSeconds": 20.0}
    assert sim.server_for("lookup") == {"url": REPLY_TOOLS, "timeoutSeconds": 5}
    (_, calls), = of_type(timeline.messages(side="server"), "tool-calls")
    assert calls["toolWithToolCallList"][0]["server"] == {"url": REPLY_TOOLS, "timeoutSeconds": 5}
    assert ("bot", "Hello from your server.") in history(timeline)
    assert_clean(timeline)


def test_a_returned_assistant_with_its_own_server_gets_the_webhooks() -> None:
    returned = {**RETURNED, "server": {"url": "http://127.0.0.1:9/own", "timeoutSeconds": 3}}
    sim, _ = play(RICH_INBOUND, assistant_answer(Reply(200, {"assistant": returned}, 0.3)))
    assert sim.problems == []
    assert sim.server_for("") == {"url": "http://127.0.0.1:9/own", "timeoutSeconds": 3}


def test_a_tool_the_returned_assistant_lacks_is_recorded() -> None:
    returned = {"name": "Toolless", "firstMessage": "Hi."}
    sim, timeline = play(RICH_INBOUND, assistant_answer(Reply(200, {"assistant": returned}, 0.3)))
    assert [p.kind for p in sim.problems] == ["unknown-tool"]
    assert_clean(timeline)


def test_the_scripted_reply_keeps_the_scenarios_assistant_and_routing() -> None:
    sim, timeline = play(RICH_INBOUND)
    assert {m["type"] for _, m in timeline.messages(side="server")} == {
        "assistant-request", "status-update", "end-of-call-report"}
    assert sim.server_for("") == {"url": SCENARIO_SERVER, "secret": "scenario-secret", "timeoutSeconds": 20.0}
    assert sim.server_for("lookup") == {"url": f"{SCENARIO_SERVER}/tools", "timeoutSeconds": 20.0}


@pytest.mark.parametrize(("assistant", "needle"), [
    ({"model": {"provider": "openai", "model": "gpt-4o", "systemPrompt": "x"}},
     "property model.systemPrompt should not exist"),
    ({"name": "x" * 41}, "name must be shorter than or equal to 40 characters"),
    ({"firstMessageMode": "sometimes"}, "firstMessageMode must be one of the following values"),
    ({"voice": {"provider": "vapi"}}, "voice.voiceId should not be empty"),
    ("an assistant", "request body must be a JSON object"),
])
def test_an_invalid_assistant_ends_the_call_quoting_the_validation(assistant: Any, needle: str) -> None:
    sim, timeline = play(ASSISTANT_REQUEST_YAML, assistant_answer(Reply(200, {"assistant": assistant}, 0.3)))
    assert timeline.ended_reason == "assistant-request-returned-invalid-assistant"
    (problem,) = sim.problems
    assert problem.kind == "invalid-assistant" and needle in problem.detail
    assert [m["type"] for _, m in timeline.messages(side="server")] == [
        "assistant-request", "status-update", "end-of-call-report"]
    assert_clean(timeline)


def test_assistant_id_uses_the_lookup_hook() -> None:
    stored = {"id": "a1", "name": "Stored", "firstMessage": "Stored hello."}
    overrides = CallOverrides(find_assistant={"a1": stored}.get)
    sim = CallSimulation(load(ASSISTANT_REQUEST_YAML), seed=0, overrides=overrides)
    timeline = drive_with(sim, assistant_answer(Reply(200, {"assistantId": "a1"}, 0.3)))
    assert ("bot", "Stored hello.") in history(timeline)
    assert all(m["call"]["assistantId"] == "a1" for _, m in timeline.messages(side="server")[1:])
    sim = CallSimulation(load(ASSISTANT_REQUEST_YAML), seed=0, overrides=overrides)
    timeline = drive_with(sim, assistant_answer(Reply(200, {"assistantId": "missing"}, 0.3)))
    assert timeline.ended_reason == "assistant-not-found"
    assert [p.kind for p in sim.problems] == ["assistant-not-found"]


# -- transfer ----------------------------------------------------------------------------------


def transfer(destination: dict[str, Any], **extra: Any) -> tuple[list[tuple[str, str]], str | None, list[str]]:
    sim, timeline = play(TRANSFER_YAML, transfer_answer(Reply(200, {"destination": destination, **extra}, 0.3)))
    assert_clean(timeline)
    return history(timeline), timeline.ended_reason, [p.kind for p in sim.problems]


NUMBER = {"type": "number", "number": "+14155550100"}


def test_the_destinations_message_is_said_before_connecting() -> None:
    spoken, reason, problems = transfer({**NUMBER, "message": "Putting you through to billing."},
                                        message={"type": "request-start", "content": "Not this."})
    assert spoken[-1] == ("bot", "Putting you through to billing.") and reason == "assistant-forwarded-call"
    assert problems == []
    spoken, _, _ = transfer({"type": "sip", "sipUri": "sip:desk@example.com",
                             "message": {"type": "custom-message", "content": "One moment."}})
    assert spoken[-1] == ("bot", "One moment.")


def test_without_a_message_the_spec_default_is_said_and_an_empty_one_is_silence() -> None:
    spoken, _, _ = transfer(NUMBER)
    assert spoken[-1] == ("bot", DEFAULT_TRANSFER_MESSAGE)
    spoken, reason, _ = transfer({**NUMBER, "message": ""})
    assert spoken[-1] == ("user", "Can I talk to a person?") and reason == "assistant-forwarded-call"


@pytest.mark.parametrize("destination", [
    {"type": "number"}, {"type": "sip", "number": "+14155550100"}, {"type": "fax", "number": "+1415"},
    {**NUMBER, "surprise": True},
], ids=["no-number", "sip-without-uri", "unknown-type", "unknown-property"])
def test_an_invalid_destination_fails_the_transfer(destination: dict[str, Any]) -> None:
    spoken, reason, problems = transfer(destination)
    assert reason == "call.in-progress.error-transfer-failed" and problems == ["bad-transfer-destination"]
    assert spoken[-1][0] == "user"


def test_a_reply_with_error_makes_no_transfer() -> None:
    sim, timeline = play(TRANSFER_YAML + '  - assistant: "Nobody is free; how else can I help?"\n',
                         transfer_answer(Reply(200, {"error": "No agents available."}, 0.3)))
    assert timeline.ended_reason == "customer-ended-call" and sim.problems == []
    assert not of_type(timeline.messages(side="server"), "transfer-update")
    assert_clean(timeline)


def test_the_scenarios_message_is_its_scripted_destinations() -> None:
    yaml_text = TRANSFER_YAML.replace("transfer: {}", 'transfer: {message: "Hold on."}')
    timeline = simulate(load(yaml_text))
    assert history(timeline)[-1] == ("bot", "Hold on.")
    asked = [m for _, m in timeline.messages(side="client") if m["type"] == "transfer-update"]
    assert asked[0]["destination"]["message"] == "Hold on."


# -- message.call ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", bundled_names())
def test_message_call_follows_the_calls_progress(name: str) -> None:
    timeline = simulate(resolve(name))
    server = [m for _, m in timeline.messages(side="server")]
    report = server[-1]
    assert report["type"] == "end-of-call-report"
    call = report["call"]
    assert call["status"] == "ended" and call["endedReason"] == report["endedReason"] == timeline.ended_reason
    assert call["cost"] == report["cost"] and call["endedAt"] == report["endedAt"]
    if report.get("startedAt") and any(m.get("status") == "in-progress" for m in server):
        assert call["startedAt"] == report["startedAt"]
    first = server[0]["call"]
    assert first["status"] in ("queued", "ringing", "in-progress") and "endedReason" not in first
    assert_clean(timeline)
