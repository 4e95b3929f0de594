"""Squads and handoffs (squad-billing.yaml): a webhook that decides the handoff and answers the new
member's tool, checked against what the call carried before and after the handoff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mockvapi import cli
from mockvapi.testing import MockVapi

SCENARIO = Path(__file__).with_name("squad-billing.yaml")


def webhook(body: dict[str, Any], headers: Any) -> dict[str, Any] | None:
    """The code under test: pick the squad member for a handoff, answer the billing member's tool."""
    message = body["message"]
    if message["type"] == "handoff-destination-request":
        return {"destination": {"type": "assistant", "assistantName": "Billing"}}
    if message["type"] == "tool-calls":
        call = message["toolCallList"][0]
        return {"results": [{"toolCallId": call["id"], "result": "refunded 80.00"}]}
    return None


async def test_a_billing_question_is_handed_to_billing(mockvapi: MockVapi) -> None:
    call = await mockvapi.play(SCENARIO, webhook=webhook)

    # Every message carries the member active when it was produced; assistant.started announces each.
    started = [m["newAssistant"]["name"] for m in call.messages() if m["type"] == "assistant.started"]
    assert started == ["Reception", "Billing"]
    tool_call = next(m for m in call.messages() if m["type"] == "tool-calls")
    assert tool_call["assistant"]["name"] == "Billing"

    # Billing keeps the last two messages before the handoff, then its own system prompt.
    report = call.messages()[-1]
    roles = [m["role"] for m in report["artifact"]["messages"]]
    assert roles[:3] == ["tool_call_result", "bot", "system"]
    assert report["artifact"]["assistantActivations"] == [
        {"assistantName": "Reception"}, {"assistantName": "Billing"}
    ]


def test_the_squad_scenario_is_valid_and_lints_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(SCENARIO)]) == 0
    assert cli.main(["lint", "--strict", str(SCENARIO)]) == 0
