"""Fields added to the spec since the models were written: end-of-call-report `destination` after a
transfer and `artifact.assistantActivations`."""

from __future__ import annotations

from mockvapi.conformance import check
from mockvapi.engine.simulator import simulate
from mockvapi.library import resolve


def report(name: str) -> dict[str, object]:
    timeline = simulate(resolve(name))
    found = [m for _, m in timeline.messages(side="server", profile="spec") if m["type"] == "end-of-call-report"]
    assert len(found) == 1 and check(found[0], "server", "strict") == []
    return found[0]


def test_a_transferred_call_reports_its_destination() -> None:
    transferred = report("transfer")
    assert transferred["destination"] == {"type": "number", "number": "+14155550123"}
    assert "destination" not in report("happy-path")


def test_the_artifact_lists_the_active_assistant() -> None:
    artifact = report("happy-path")["artifact"]
    assert isinstance(artifact, dict)
    (activation,) = artifact["assistantActivations"]
    assert activation["assistantName"] == resolve("happy-path").scenario.assistant.name
    assert activation["assistantVersion"] is None  # an inline assistant is not versioned
