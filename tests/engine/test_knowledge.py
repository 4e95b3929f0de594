"""knowledge-base-request (custom knowledge base) in the simulator: what the reply does to the next answer,
spec conformance, and bad replies."""

from __future__ import annotations

from typing import Any

import pytest

from mockvapi.conformance import check
from mockvapi.engine.events import Ask, Reply
from mockvapi.engine.simulator import CallSimulation, simulate, timeline_of
from mockvapi.library import resolve
from tests.engine.invariants import check_invariants


def bots(history: list[dict[str, Any]]) -> list[str]:
    return [str(h["message"]) for h in history if h["role"] == "bot"]


def test_documents_shape_the_answer_and_a_message_replaces_it() -> None:
    timeline = simulate(resolve("knowledge-base"))
    assert bots(timeline.history)[1:] == [
        "On Saturdays we are open from ten to four.",
        "The wifi password is on the card at the front desk.",
    ]
    assert check_invariants(timeline) == []
    requests = [m for _, m in timeline.messages(side="server") if m["type"] == "knowledge-base-request"]
    assert len(requests) == 2
    assert requests[0]["messagesOpenAIFormatted"][-1] == {"role": "user", "content": "When are you open on Saturday?"}
    for profile, wire in (("strict", "spec"), ("realistic", "realistic")):
        for side in ("server", "client"):
            for _, m in timeline.messages(side=side, profile=wire):
                assert check(m, side, profile) == [], (side, profile, m["type"])
    # The custom message is spoken as is: no model tokens for it.
    client = [m for _, m in timeline.messages(side="client")]
    assert not any(m["type"] == "model-output" and "wifi" in str(m["output"]) for m in client)


def play_with(reply: Reply) -> CallSimulation:
    sim = CallSimulation(resolve("knowledge-base"), seed=1, lenient_templates=True)
    generator = sim.run()
    item: Any = next(generator)
    try:
        while True:
            if isinstance(item, Ask):
                item = generator.send(reply if item.kind == "knowledge-base-request" else item.scripted)
            else:
                item = generator.send(None)
    except StopIteration:
        pass
    return sim


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (Reply(503, None, 0.1), "HTTP 503"),
        (Reply(200, {"documents": [{"content": "x"}]}, 0.1), "documents must be"),
        (Reply(200, {"message": {"content": "hi"}}, 0.1), "CustomMessage"),
        (Reply(200, ["not", "an", "object"], 0.1), "not a JSON object"),
        (Reply(None, None, 20.0, error="timeout"), "timeout"),
    ],
    ids=["http-503", "document-without-similarity", "message-without-type", "not-an-object", "timeout"],
)
def test_a_bad_reply_is_a_problem_and_the_model_answers_without_documents(reply: Reply, detail: str) -> None:
    sim = play_with(reply)
    kinds = [p.kind for p in sim.problems]
    assert kinds.count("knowledge-base-reply") == 2 and detail in sim.problems[0].detail
    timeline = timeline_of(sim)
    # The template quoting a document renders empty (a template problem); the second answer is the model's.
    assert bots(timeline.history)[-1] == "Let me think."
    assert check_invariants(timeline) == []


def test_no_knowledge_base_no_request() -> None:
    timeline = simulate(resolve("happy-path"))
    assert not any(e.type == "knowledge-base-request" for e in timeline.events)
