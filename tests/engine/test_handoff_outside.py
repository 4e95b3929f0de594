"""Handoffs to an assistant outside the squad (mockvapi/engine/handoff.py): a handoff-destination-request
reply may name a saved assistant by `assistantId` (looked up as assistant-request's assistantId is) or give
a transient `assistant` inline; it then runs the call as a member would."""

from __future__ import annotations

from typing import Any

import pytest

from mockvapi.conformance import check
from mockvapi.engine.context import CallOverrides
from mockvapi.engine.events import Ask, Reply
from mockvapi.engine.simulator import CallSimulation, drive, timeline_of
from mockvapi.engine.timeline import Timeline
from mockvapi.scenario.loader import load_text
from tests.engine.invariants import check_invariants

SCENARIO = """\
version: 1
name: outside
squad:
  members:
    - assistant:
        name: Triage
        firstMessage: "Triage."
        server: {url: "http://127.0.0.1:9/triage"}
        tools: [{name: lookup, parameters: {q: string}}]
    - assistant: {name: Nurse, firstMessage: "Nurse here.", tools: [{name: lookup, parameters: {q: string}}]}
steps:
  - user: "I have a fever."
  - assistant: "Let me see who can help."
  - user: "Please hurry."
  - handoff: {arguments: {reason: fever}, reply: {error: "Nobody is free."}}
  - user: "Thirty-nine degrees."
  - tool: {name: lookup, arguments: {q: fever}, result: "rest"}
  - handoff: {reply: {error: "Stay."}}
  - user: "Thanks."
  - end: customer-ended-call
"""

CLINIC_TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
    "server": {"url": "http://127.0.0.1:9/clinic-tools", "secret": "tool-secret"},
}
CLINIC = {
    "id": "a-clinic",
    "orgId": "org",
    "name": "Clinic",
    "firstMessage": "Clinic here.",
    "server": {"url": "http://127.0.0.1:9/clinic", "secret": "clinic-secret"},
    "serverMessages": ["conversation-update", "assistant.started", "tool-calls", "end-of-call-report",
                       "status-update", "handoff-destination-request"],
    "model": {"provider": "openai", "model": "gpt-4o",
              "messages": [{"role": "system", "content": "You are the clinic."}], "tools": [CLINIC_TOOL]},
}
SAVED = {"a-clinic": CLINIC}


def play(answers: list[dict[str, Any]], overrides: CallOverrides | None = None) -> tuple[CallSimulation, list[Ask]]:
    """Play SCENARIO answering the n-th handoff-destination-request with answers[n] (scripted when none);
    every other question gets its scripted reply."""
    sim = CallSimulation(load_text(SCENARIO), overrides=overrides)
    asks: list[Ask] = []
    generator = sim.run()
    item = next(generator)
    try:
        while True:
            reply: Any = None
            if isinstance(item, Ask):
                asks.append(item)
                reply = item.scripted
                handoffs = sum(a.kind == "handoff-destination-request" for a in asks)
                if item.kind == "handoff-destination-request" and handoffs <= len(answers):
                    reply = Reply(200, answers[handoffs - 1], 0.2)
            item = generator.send(reply)
    except StopIteration:
        pass
    return sim, asks


def of_type(timeline: Timeline, kind: str, side: str = "server") -> list[dict[str, Any]]:
    return [m for _, m in timeline.messages(side=side) if m["type"] == kind]  # type: ignore[arg-type]


def names(timeline: Timeline, side: str = "server") -> list[str]:
    return [m["assistant"]["name"] for _, m in timeline.messages(side=side)]  # type: ignore[arg-type]


def test_a_saved_assistant_named_by_id_takes_over_as_a_member_would() -> None:
    sim, asks = play([{"destination": {"type": "assistant", "assistantId": "a-clinic"}}],
                     CallOverrides(find_assistant=SAVED.get))
    timeline = timeline_of(sim)
    assert sim.problems == [] and check_invariants(timeline) == []
    assert sim.context.assistant is not None and sim.context.assistant["name"] == "Clinic"
    seen = names(timeline)
    assert set(seen[: seen.index("Clinic")]) == {"Triage"} and set(seen[seen.index("Clinic"):]) == {"Clinic"}
    started = of_type(timeline, "assistant.started")
    assert [m["newAssistant"]["name"] for m in started][-1] == "Clinic"
    # Messages never show a server's secret, its own or its tools'.
    shown = started[-1]["newAssistant"]
    assert "secret" not in shown["server"] and "secret" not in shown["model"]["tools"][0]["server"]
    report = of_type(timeline, "end-of-call-report")[0]
    assert report["artifact"]["assistantActivations"] == [{"assistantName": "Triage"}, {"assistantName": "Clinic"}]
    bots = [m["message"] for m in timeline.final_history if m["role"] == "bot"]
    assert "Clinic here." in bots and timeline.final_history[-1]["role"] != "system"
    systems = [m["message"] for m in timeline.final_history if m["role"] == "system"]
    assert systems[-1] == "You are the clinic."
    # Its own tool goes to its tool's server (with the secret), its other webhooks to its own server.
    tool_ask = next(a for a in asks if a.kind == "tool-calls")
    assert tool_ask.server == CLINIC_TOOL["server"]
    second = [a for a in asks if a.kind == "handoff-destination-request"][1]
    assert second.server == CLINIC["server"]
    # Its subscriptions: no speech-update reaches the server after it took over.
    kinds_after = [m["type"] for _, m in timeline.messages(side="server")][seen.index("Clinic"):]
    assert "speech-update" not in kinds_after and "speech-update" in [
        m["type"] for _, m in timeline.messages(side="server")][: seen.index("Clinic")]


def test_an_inline_assistant_is_used_as_given_with_the_replys_overrides_and_plan() -> None:
    inline = {"name": "Pharmacy", "firstMessage": "Pharmacy.", "server": {"url": "http://127.0.0.1:9/pharmacy"}}
    destination = {"type": "assistant", "assistant": inline, "assistantOverrides": {"firstMessage": "Pharmacy here."},
                   "contextEngineeringPlan": {"type": "none"}}
    sim, asks = play([{"destination": destination, "result": "To the pharmacy."}])
    timeline = timeline_of(sim)
    # Its model has no lookup tool: the scenario's tool step is a problem, as after assistant-request.
    assert [p.kind for p in sim.problems] == ["unknown-tool"] and check_invariants(timeline) == []
    assert sim.context.assistant is not None and sim.context.assistant["name"] == "Pharmacy"
    # contextEngineeringPlan none: the artifact's history starts at the handoff (its own tool result gone),
    # with the new greeting.
    results = [m["result"] for m in timeline.final_history if m["role"] == "tool_call_result"]
    assert results == ["rest", "Stay."]
    bots = [m["message"] for m in timeline.final_history if m["role"] == "bot"]
    assert bots[0] == "Pharmacy here." and "Triage." not in bots
    second = [a for a in asks if a.kind == "handoff-destination-request"][1]
    assert second.server is not None and second.server["url"] == "http://127.0.0.1:9/pharmacy"


def test_an_unknown_assistant_id_is_a_problem_and_the_member_stays() -> None:
    for overrides, detail in ((CallOverrides(find_assistant=SAVED.get), "'a-gone' names no assistant"),
                              (None, "no REST API holds saved assistants")):
        sim, _ = play([{"destination": {"type": "assistant", "assistantId": "a-gone"}}], overrides)
        assert [p.kind for p in sim.problems] == ["assistant-not-found"], overrides
        assert detail in sim.problems[0].detail
        timeline = timeline_of(sim)
        assert set(names(timeline)) == {"Triage"}
        bots = [m["message"] for m in timeline.final_history if m["role"] == "bot"]
        assert "I'm sorry, I couldn't transfer you right now." in bots
        assert check_invariants(timeline) == []


def test_an_invalid_inline_assistant_is_a_bad_destination() -> None:
    destination = {"type": "assistant", "assistant": {"name": "X", "firstMessage": 7}}
    sim, _ = play([{"destination": destination}])
    assert [p.kind for p in sim.problems] == ["bad-handoff-destination"]
    assert "destination.assistant.firstMessage must be a string" in sim.problems[0].detail
    assert set(names(timeline_of(sim))) == {"Triage"}


def test_the_call_returns_from_an_outside_assistant_to_a_member_whose_tools_route_again() -> None:
    nurse = {"destination": {"type": "assistant", "assistantName": "Nurse"}}
    sim, asks = play([{"destination": {"type": "assistant", "assistantId": "a-clinic"}}, nurse],
                     CallOverrides(find_assistant=SAVED.get))
    timeline = timeline_of(sim)
    assert sim.problems == [] and check_invariants(timeline) == []
    started = [m["newAssistant"]["name"] for m in of_type(timeline, "assistant.started")]
    assert started == ["Triage", "Clinic", "Nurse"]
    report = of_type(timeline, "end-of-call-report")[0]
    assert [a["assistantName"] for a in report["artifact"]["assistantActivations"]] == ["Triage", "Clinic", "Nurse"]
    assert sim.state.assistant_tools is None  # the scenario's tools route the members' calls again
    assert names(timeline)[-1] == "Nurse"


STATIC = """\
version: 1
name: static-outside
squad:
  members:
    - assistant:
        name: Triage
        firstMessage: "Triage."
        server: {url: "http://127.0.0.1:9/triage"}
      assistantDestinations:
        - assistantId: a-clinic
          message: "Connecting you to the clinic."
          contextEngineeringPlan: {type: lastNMessages, maxMessages: 2}
        - Nurse
    - assistant: {name: Nurse, firstMessage: "Nurse here."}
steps:
  - user: "I have a fever."
  - assistant: "Let me connect you."
  - handoff: a-clinic
  - user: "Thirty-nine degrees."
  - handoff: Nurse
  - user: "Thanks."
  - end: customer-ended-call
"""


def test_a_static_destination_by_assistant_id_hands_off_to_the_saved_assistant() -> None:
    sim = CallSimulation(load_text(STATIC), overrides=CallOverrides(find_assistant=SAVED.get))
    timeline = drive(sim)
    assert sim.problems == [] and check_invariants(timeline) == []
    started = [m["newAssistant"]["name"] for m in of_type(timeline, "assistant.started")]
    assert started == ["Triage", "Clinic", "Nurse"]
    history = timeline.final_history
    bots = [m["message"] for m in history if m["role"] == "bot"]
    assert bots[:3] == ["Connecting you to the clinic.", "Clinic here.", "Nurse here."]
    # lastNMessages 2: the clinic kept the last two items before it took over (the destination's plan).
    assert "Triage." not in bots and "Let me connect you." not in bots
    results = [m for m in history if m["role"] == "tool_call_result"]
    assert (results[0]["name"], results[0]["result"]) == ("handoff_to_a-clinic", "Handed off to Clinic.")
    report = of_type(timeline, "end-of-call-report")[0]
    assert [a["assistantName"] for a in report["artifact"]["assistantActivations"]] == ["Triage", "Clinic", "Nurse"]


def test_a_static_destination_by_an_unknown_id_is_a_problem_and_the_member_stays() -> None:
    nothing_saved: dict[str, dict[str, Any]] = {}
    for overrides in (CallOverrides(find_assistant=nothing_saved.get), None):
        sim = CallSimulation(load_text(STATIC), overrides=overrides)
        timeline = drive(sim)
        assert [p.kind for p in sim.problems] == ["assistant-not-found"]
        started = [m["newAssistant"]["name"] for m in of_type(timeline, "assistant.started")]
        assert started == ["Triage", "Nurse"]
        assert check_invariants(timeline) == []


@pytest.mark.parametrize(("change", "error"), [
    ("  - handoff: a-clinic\n", "  - handoff: {to: a-clinic, via: transferCall}\n"),
    ("        - assistantId: a-clinic\n", "        - assistantName: Nurse\n          assistantId: a-clinic\n"),
])
def test_the_loader_refuses_what_a_saved_destination_cannot_be(change: str, error: str) -> None:
    text = STATIC.replace(change, error)
    assert text != STATIC
    with pytest.raises(Exception, match="transferCall names members|either `assistantName`"):
        load_text(text)


def test_a_misspelt_saved_destination_is_a_load_error_with_a_did_you_mean() -> None:
    with pytest.raises(Exception, match=r"18:14: .*saved assistants it may hand off to: a-clinic\); did you mean "
                                        r"'a-clinic'\?"):
        load_text(STATIC.replace("  - handoff: a-clinic\n", "  - handoff: a-clinik\n"))


def test_calls_handing_off_outside_the_squad_conform_to_the_spec_on_both_sides() -> None:
    saved = CallOverrides(find_assistant=SAVED.get)
    inline = {"destination": {"type": "assistant", "assistant": {"name": "Pharmacy", "firstMessage": "Pharmacy."}}}
    timelines = [
        drive(CallSimulation(load_text(STATIC), overrides=saved)),
        timeline_of(play([{"destination": {"type": "assistant", "assistantId": "a-clinic"}}], saved)[0]),
        timeline_of(play([inline])[0]),
    ]
    for timeline in timelines:
        for side in ("server", "client"):
            for emitted, checked in (("spec", "strict"), ("realistic", "realistic")):
                messages = [m for _, m in timeline.messages(side=side, profile=emitted)]  # type: ignore[arg-type]
                assert "assistant.started" in [m["type"] for m in messages]
                for message in messages:
                    assert check(message, side, checked) == [], (side, emitted, message)


def test_a_replys_plan_applies_to_a_member_it_names_too() -> None:
    nurse = {"destination": {"type": "assistant", "assistantName": "Nurse", "contextEngineeringPlan": {"type": "none"}}}
    sim, _ = play([nurse])
    timeline = timeline_of(sim)
    bots = [m["message"] for m in timeline.final_history if m["role"] == "bot"]
    assert bots[0] == "Nurse here." and "Triage." not in bots
    assert sim.problems == [] and check_invariants(timeline) == []
