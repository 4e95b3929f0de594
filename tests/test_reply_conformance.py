"""The messages of the calls section 1 of issue 15 adds (replies judged as Vapi judges them) against the
official spec (the extract mockvapi ships), on both sides and in both profiles, with the checker
test_spec_validation.py uses. The call invariants hold on each as well."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mockvapi.engine.context import CallOverrides
from mockvapi.engine.events import Ask, Reply
from mockvapi.engine.simulator import CallSimulation, drive, timeline_of
from mockvapi.engine.timeline import Timeline
from mockvapi.scenario.loader import load_text
from tests.engine.invariants import check_invariants
from tests.test_spec_validation import spec_errors

INBOUND = """
version: 1
name: inbound
call: {type: inboundPhoneCall, assistant_request: true, customer: {number: "{{ e164_phone_number }}"}}
assistant:
  firstMessage: "Scripted hello."
  tools: [{name: lookup}]
steps:
  - user: "Hi there."
  - tool: {name: lookup, result: "ok"}
  - user: "Can I talk to a person?"
  - transfer: {}
"""
WEBSOCKET = """
version: 1
name: websocket
call: {type: vapi.websocketCall}
steps:
  - user: "Hello?"
"""
RETURNED = {"name": "Returned", "firstMessage": "Hello from your server.",
            "model": {"provider": "openai", "model": "gpt-4o",
                      "tools": [{"type": "function", "function": {"name": "lookup"}}]}}
Answer = Callable[[Ask], Reply | None]


def _play(yaml_text: str, answers: dict[str, Any], setup: Callable[[CallSimulation], None] | None = None,
          overrides: CallOverrides | None = None) -> Timeline:
    sim = CallSimulation(load_text(yaml_text, "<test>"), seed=7, overrides=overrides)
    if setup is not None:
        setup(sim)
    generator = sim.run()
    try:
        item = next(generator)
        while True:
            if isinstance(item, Ask):
                body = answers.get(item.kind)
                if callable(body):
                    body = body(item)
                item = generator.send(Reply(200, body, 0.3) if body is not None else item.scripted)
            else:
                item = generator.send(None)
    except StopIteration:
        pass
    return timeline_of(sim)


def _tool_object(ask: Ask) -> dict[str, Any]:
    return {"results": [{"toolCallId": ask.event.message.tool_call_list[0].id, "result": {"a": 1}}]}  # type: ignore[attr-defined]


CASES: dict[str, Callable[[], Timeline]] = {
    "returned-assistant": lambda: _play(INBOUND, {"assistant-request": {"assistant": RETURNED}}),
    "invalid-assistant": lambda: _play(INBOUND, {"assistant-request": {
        "assistant": {"model": {"provider": "openai", "model": "gpt-4o", "systemPrompt": "x"}}}}),
    "assistant-id": lambda: _play(INBOUND, {"assistant-request": {"assistantId": "a1"}},
                                  overrides=CallOverrides(find_assistant={"a1": RETURNED}.get)),
    "assistant-not-found": lambda: _play(INBOUND, {"assistant-request": {"assistantId": "zz"}},
                                         overrides=CallOverrides(find_assistant={}.get)),
    "forwarding": lambda: _play(INBOUND, {"assistant-request": {
        "destination": {"type": "number", "number": "+14155550100", "message": "Forwarding."}}}),
    "invalid-destination": lambda: _play(INBOUND, {"assistant-request": {"destination": {"type": "number"}}}),
    "transfer-default-message": lambda: _play(INBOUND, {"transfer-destination-request": {
        "destination": {"type": "number", "number": "+14155550100"}}}),
    "transfer-sip-message": lambda: _play(INBOUND, {"transfer-destination-request": {
        "destination": {"type": "sip", "sipUri": "sip:desk@example.com",
                        "message": {"type": "custom-message", "content": "One moment."}}}}),
    "transfer-failed": lambda: _play(INBOUND, {"transfer-destination-request": {"destination": {"type": "sip"}}}),
    "tool-object-result": lambda: _play(INBOUND, {"tool-calls": _tool_object}),
    "websocket-unjoined": lambda: _play(WEBSOCKET, {}, setup=lambda sim: sim.unjoined(10)),
    "scripted": lambda: drive(CallSimulation(load_text(INBOUND, "<test>"), seed=7)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("profile", ["spec", "realistic"])
def test_new_reply_paths_match_the_spec(case: str, side: str, profile: str) -> None:
    timeline = CASES[case]()
    messages = [m for _, m in timeline.messages(profile=profile, side=side)]  # type: ignore[arg-type]
    errors = spec_errors(messages, side, realistic=profile == "realistic")
    assert not errors, "\n".join(errors[:5])


@pytest.mark.parametrize("case", list(CASES))
def test_new_reply_paths_keep_the_call_invariants(case: str) -> None:
    violations = check_invariants(CASES[case]())
    assert violations == [], "\n".join(violations[:10])
