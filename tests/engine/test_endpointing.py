"""Custom endpointing (call.endpointing.request) and language-change-detected, in the simulator."""

from __future__ import annotations

from typing import Any

import pytest

from mockvapi.conformance import check
from mockvapi.engine.events import Ask, Reply
from mockvapi.engine.simulator import CallSimulation, drive, simulate, timeline_of
from mockvapi.engine.timeline import Timeline
from mockvapi.errors import ScenarioError
from mockvapi.library import resolve
from mockvapi.scenario.loader import load_text
from tests.engine.invariants import check_invariants

SCENARIO = """
version: 1
name: ep
seed: 4
call: {type: webCall}
assistant:
  firstMessage: "Hi there."
  server: {url: "https://example.test/hook"}
  startSpeakingPlan: {smartEndpointingPlan: {provider: custom-endpointing-model}}
steps:
  - user: {say: "My number is four four one.", endpointing: ENDPOINTING}
  - assistant: "Thanks."
"""


def answer_gap(timeline: Timeline) -> float:
    """Seconds from the user's speech stop to the assistant's next speech start."""
    updates = [(e.at, e.message) for e in timeline.events if e.type == "speech-update"]
    user_stop = next(at for at, m in updates if getattr(m, "role", "") == "user" and m.status == "stopped")
    return next(at for at, m in updates if at > user_stop and getattr(m, "role", "") == "assistant") - user_stop


def test_the_reply_timeout_decides_when_the_turn_ends_and_the_request_conforms() -> None:
    short = simulate(SCENARIO.replace("ENDPOINTING", "0.2"))
    long = simulate(SCENARIO.replace("ENDPOINTING", "3"))
    assert answer_gap(long) - answer_gap(short) == pytest.approx(2.8, abs=0.01)
    for timeline in (short, long):
        assert check_invariants(timeline) == []
        requests = [m for _, m in timeline.messages(side="server") if m["type"] == "call.endpointing.request"]
        assert len(requests) == 1 and requests[0]["messages"][-1]["role"] == "user"
        for profile, wire in (("strict", "spec"), ("realistic", "realistic")):
            for _, m in timeline.messages(side="server", profile=wire):
                assert check(m, "server", profile) == [], m["type"]


def test_without_the_plan_no_request_is_sent() -> None:
    plain = SCENARIO.replace("  startSpeakingPlan: {smartEndpointingPlan: {provider: custom-endpointing-model}}\n", "")
    timeline = simulate(plain.replace("ENDPOINTING", "3"))
    assert not any(e.type == "call.endpointing.request" for e in timeline.events)


def play_with(reply: Reply) -> CallSimulation:
    sim = CallSimulation(load_text(SCENARIO.replace("ENDPOINTING", "3")), seed=4)
    generator = sim.run()
    item: Any = next(generator)
    try:
        while True:
            if isinstance(item, Ask):
                item = generator.send(reply if item.kind == "call.endpointing.request" else item.scripted)
            else:
                item = generator.send(None)
    except StopIteration:
        pass
    return sim


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (Reply(500, {"error": "x"}, 0.05), "HTTP 500"),
        (Reply(200, {"timeoutSeconds": 40}, 0.05), "outside 0-15"),
        (Reply(200, {"timeout": 1}, 0.05), "no timeoutSeconds"),
        (Reply(None, None, 20.0, error="timeout"), "timeout"),
    ],
    ids=["http-500", "out-of-range", "no-number", "timeout"],
)
def test_a_bad_reply_is_a_problem_and_the_plan_wait_applies(reply: Reply, detail: str) -> None:
    sim = play_with(reply)
    assert [p.kind for p in sim.problems] == ["endpointing-reply"]
    assert detail in sim.problems[0].detail
    timeline = timeline_of(sim)
    assert check_invariants(timeline) == []
    if reply.error is None:
        default = simulate(SCENARIO.replace("ENDPOINTING", "0.4"))  # the timing's waitSeconds
        assert answer_gap(timeline) == pytest.approx(answer_gap(default), abs=0.01)
    else:
        assert answer_gap(timeline) >= 20.0  # the turn stayed open until the server timed out


def test_a_slow_good_reply_holds_the_turn_until_it_comes() -> None:
    fast = play_with(Reply(200, {"timeoutSeconds": 0.2}, 0.05))
    slow = play_with(Reply(200, {"timeoutSeconds": 0.2}, 2.0))
    assert answer_gap(timeline_of(slow)) - answer_gap(timeline_of(fast)) == pytest.approx(1.8, abs=0.01)
    assert slow.problems == []


def test_endpointing_above_the_spec_maximum_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="at most 15 seconds") as caught:
        load_text(SCENARIO.replace("ENDPOINTING", "16"))
    assert "<string>:11:" in str(caught.value)  # the step's line


def test_language_change_detected_is_sent_when_subscribed_and_conforms() -> None:
    timeline = drive(CallSimulation(resolve("custom-endpointing"), seed=2))
    changes = [m for _, m in timeline.messages(side="server") if m["type"] == "language-change-detected"]
    assert [m["language"] for m in changes] == ["es"]
    assert check(changes[0], "server", "strict") == []
    assert check_invariants(timeline) == []


def test_a_client_subscribed_to_language_changed_gets_language_change_detected() -> None:
    timeline = simulate(resolve("custom-endpointing"))
    for profile, wire in (("strict", "spec"), ("realistic", "realistic")):
        changes = [m for _, m in timeline.messages(side="client", profile=wire)
                   if m["type"] == "language-change-detected"]
        assert [m["language"] for m in changes] == ["es"]
        assert check(changes[0], "client", profile) == []
    unsubscribed = SCENARIO.replace("ENDPOINTING", "1").replace(
        'say: "My number is four four one."', 'say: "Mi número es cuatro.", language: es')
    plain = simulate(unsubscribed)
    assert [m["type"] for _, m in plain.messages(side="server") if m["type"] == "language-change-detected"] == []
    assert [m["type"] for _, m in plain.messages(side="client") if m["type"] == "language-change-detected"] == []
