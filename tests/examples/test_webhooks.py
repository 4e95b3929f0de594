"""The dashboard webhook (live_transcript.py) in FastAPI, Flask and aiohttp, played real calls."""

from __future__ import annotations

import pytest

from mockvapi.testing import MockVapi

from . import aiohttp_app, fastapi_app, flask_app
from .live_transcript import Dashboard


@pytest.mark.mockvapi(scenario="barge-in")
async def test_fastapi_dashboard_drops_the_interrupted_turn(mockvapi: MockVapi) -> None:
    dashboard = Dashboard()
    app = fastapi_app.create_app(dashboard)

    call = await mockvapi.play(webhook=app, webhook_path="/vapi/webhook")

    call.assert_delivered("model-output", "user-interrupted", "conversation-update")
    [cut] = call.deliveries(type="user-interrupted")
    view = dashboard.calls[call.id]
    assert cut.message["turnId"] not in view.turns  # its tokens are gone from the screen
    assert view.live_text.startswith("Done. You're booked for Tuesday at two thirty.")
    assert view.render().splitlines()[-1] == "User: Great, thank you. Bye!"


def test_flask_dashboard_renders_what_was_said(mockvapi: MockVapi) -> None:
    dashboard = Dashboard()
    app = flask_app.create_app(dashboard)

    call = mockvapi.play_sync("double-barge-in", webhook=app, webhook_path="/vapi/webhook")

    view = dashboard.calls[call.id]
    assert len(view.interrupted) == 2 and not view.interrupted & view.turns.keys()
    said = [(m["role"], m["message"]) for m in call.history if m["role"] in ("user", "bot")]
    assert view.lines == said  # interrupted turns as far as they were spoken


async def test_aiohttp_dashboard_answers_tool_calls(mockvapi: MockVapi) -> None:
    def find_table(date: str, time: str, party_size: int) -> dict[str, object]:
        return {"available": True, "time": "8:00 PM", "table_id": "T7", "area": "the window"}

    def book_table(table_id: str, guest_name: str) -> dict[str, str]:
        return {"confirmation": f"SOLE-{table_id}"}

    dashboard = Dashboard(tools={"find_table": find_table, "book_table": book_table})
    app = aiohttp_app.create_app(dashboard)

    call = await mockvapi.play("tool-call", webhook=app, webhook_path="/vapi/webhook")

    call.assert_replied("tool-calls", status=200, within=3.0)
    assert "The closest I have is 8:00 PM on the window." in call.transcript  # your answer, spoken
    assert "Your confirmation code is SOLE-T7." in call.transcript
