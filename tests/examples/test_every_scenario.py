"""The FastAPI and Flask dashboards against every bundled scenario.

Webhooks get `model-output` only when the assistant opts in, and most bundled scenarios do not, so
each call runs with the serverMessages the dashboard's owner would configure (`subscribed`). The
dashboard's tools answer what each scenario scripts, so the scenario's own `expect` block holds and
the fixture's strict teardown check passes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mockvapi.engine.knowledge import Knowledge
from mockvapi.library import bundled_names, resolve
from mockvapi.testing import CallOverrides, MockVapi

from . import fastapi_app, flask_app
from .live_transcript import Dashboard, Tool

# The assistant's serverMessages, as the dashboard's owner would set them for this webhook.
DASHBOARD_MESSAGES = [
    "conversation-update", "model-output", "user-interrupted", "tool-calls", "hang", "status-update",
    "transfer-update", "end-of-call-report",
]


def subscribed(scenario: str) -> CallOverrides:
    """The dashboard's serverMessages, plus those the scenario's assistant subscribes to (its `expect` block
    may count on them: language-change-detected, assistant.speechStarted)."""
    own = resolve(scenario).scenario.assistant.serverMessages or []
    extra = [m for m in own if m not in DASHBOARD_MESSAGES]
    return CallOverrides(assistant={"serverMessages": DASHBOARD_MESSAGES + extra})


APPS: dict[str, Callable[[Dashboard], Any]] = {"fastapi": fastapi_app.create_app, "flask": flask_app.create_app}


def scripted_tools(scenario: str) -> dict[str, Tool]:
    """Tools answering, call after call, what the scenario's tool steps script (errors raise)."""
    steps = [s.tool for s in resolve(scenario).scenario.steps if s.tool is not None]

    def tool(name: str) -> Tool:
        def answer(**arguments: Any) -> Any:
            step = next(s for s in steps if s.name == name)
            steps.remove(step)
            if step.error is not None or not 200 <= step.status < 300:
                raise RuntimeError(step.error or f"upstream answered {step.status}")
            return step.result

        return answer

    return {s.name: tool(s.name) for s in steps}


def scripted_answers(scenario: str) -> dict[str, Callable[[Any], dict[str, Any]]]:
    """The knowledge base's and the endpointing model's replies, call after call, as the scenario scripts
    them (the owner of a custom knowledge base or endpointing model serves these too)."""
    loaded = resolve(scenario).scenario
    knowledge = [Knowledge.scripted(s.assistant).body for s in loaded.steps if s.assistant is not None]
    wait = loaded.timing.wait_seconds
    endpointing = [{"timeoutSeconds": wait if s.user.endpointing is None else s.user.endpointing}
                   for s in loaded.steps if s.user is not None]
    return {
        "knowledge-base-request": lambda message: knowledge.pop(0),
        "call.endpointing.request": lambda message: endpointing.pop(0),
    }


@pytest.mark.parametrize("framework", sorted(APPS))
@pytest.mark.parametrize("scenario", bundled_names())
def test_dashboard_renders_the_call_and_drops_interrupted_tokens(
    mockvapi: MockVapi, scenario: str, framework: str
) -> None:
    dashboard = Dashboard(tools=scripted_tools(scenario), answers=scripted_answers(scenario))
    app = APPS[framework](dashboard)

    call = mockvapi.play_sync(scenario, webhook=app, webhook_path="/vapi/webhook", overrides=subscribed(scenario))

    view = dashboard.calls[call.id]
    history = [(m["role"], m["message"]) for m in call.history if m["role"] in ("user", "bot")]
    assert view.lines == history
    bot_lines = {text for role, text in history if role == "bot"}
    cut = {d.message.get("turnId", "") for d in call.deliveries(type="user-interrupted")}  # none: a cut first message
    assert view.interrupted == cut
    assert not cut & set(view.turns)  # no stale tokens left from interrupted turns
    *finished, last = view.turns.values() or [""]
    for text in finished:
        assert text in bot_lines, f"{text!r} is not what the assistant said"
    # The last turn may have been cut by the end of the call (no user-interrupted): said, then more.
    assert not last or any(last.startswith(line) for line in bot_lines)
    tokens = [d.message for d in call.deliveries(type="model-output")]
    assert set(view.turns) == {m["turnId"] for m in tokens if isinstance(m["output"], str)} - cut
    call.assert_replied("conversation-update")
