"""A QA scenario (delivery-reschedule.yaml): checked as QA would in CI, then played into the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockvapi import cli
from mockvapi.testing import MockVapi

from . import fastapi_app
from .live_transcript import Dashboard

SCENARIO = Path(__file__).with_name("delivery-reschedule.yaml")


def test_scenario_is_valid_and_passes_with_scripted_replies(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(SCENARIO)]) == 0
    assert cli.main(["lint", "--strict", str(SCENARIO)]) == 0
    assert cli.main(["run", str(SCENARIO), "--quiet"]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


async def test_dashboard_passes_the_qa_scenario(mockvapi: MockVapi) -> None:
    slots = ["Thursday morning", "Friday afternoon", "Saturday morning"]
    orders = {"NG4412": {"item": "the Linden sofa", "slots": slots}}
    dashboard = Dashboard(tools={"find_order": lambda order_number: orders[order_number]})
    app = fastapi_app.create_app(dashboard)

    call = await mockvapi.play(SCENARIO, webhook=app, webhook_path="/vapi/webhook")
    # The fixture checks the scenario's `expect` block when the test ends: the tool reply came
    # within 2 s and contained the slots, user-interrupted was delivered, hang was not.

    view = dashboard.calls[call.id]
    assert ("bot", "I found the Linden sofa. I can bring it") in view.lines  # cut where the caller spoke
    assert "Thursday" not in "".join(view.turns.values())  # streamed, never heard, dropped
