from __future__ import annotations

import pytest

from mockvapi import simulate
from mockvapi.engine.timeline import render_message
from mockvapi.library import bundled_names, resolve


def test_messages_between_status_changes_share_one_call_object_equal_to_a_fresh_merge() -> None:
    timeline = simulate(resolve("long-call"), seed=5)
    context = timeline.context
    rendered = [(e, render_message(e, context, timeline.history, timeline.history_openai, "realistic", "server"))
                for e in timeline.events]
    for event, message in rendered:
        assert message["call"] == {**context.call, **(event.live or {})}
    calls = {id(message["call"]) for _, message in rendered}
    lives = {id(event.live) for event, _ in rendered}
    assert len(calls) == len(lives) < len(rendered) / 50  # one Call per status change, not one per message


def test_a_change_to_the_call_is_carried_by_the_next_message_and_not_by_the_last() -> None:
    timeline = simulate(resolve("happy-path"), seed=1)
    context, event = timeline.context, timeline.events[-1]
    before = render_message(event, context, timeline.history, timeline.history_openai, "spec", "client")["call"]
    context.call["assistantId"] = "changed-in-place"
    after = render_message(event, context, timeline.history, timeline.history_openai, "spec", "client")["call"]
    assert after["assistantId"] == "changed-in-place" and before.get("assistantId") != "changed-in-place"
    assert after == {**context.call, **(event.live or {})}


def test_a_misnamed_profile_or_side_is_refused_instead_of_emitting_realistic_messages() -> None:
    timeline = simulate(resolve("happy-path"), seed=1)
    spec = [m for _, m in timeline.messages(profile="spec", side="client")]
    assert spec and not any("confidence" in m for m in spec if m["type"] == "transcript")
    # "strict" is the conformance checker's name for the spec; here it used to mean "realistic" silently.
    with pytest.raises(ValueError, match=r"profile must be 'realistic' or 'spec', got 'strict' \(the checker's "):
        timeline.messages(profile="strict", side="client")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="side must be 'server' or 'client', got 'browser'"):
        timeline.jsonl(side="browser")  # type: ignore[arg-type]


def test_a_conversation_updates_history_lists_are_its_artifacts() -> None:
    """The journal keeps every message sent: an update's own copies of the history made a long call's updates
    cost the square of its length. Equal items, so the same JSON; shared lists."""
    for name in bundled_names():
        timeline = simulate(resolve(name), seed=5)
        updates = [e for e in timeline.events if e.type == "conversation-update"]
        assert updates
        for profile in ("realistic", "spec"):
            for event in updates:
                wire = render_message(event, timeline.context, timeline.history, timeline.history_openai, profile,
                                      "server")
                fresh = event.message.body(profile)
                assert wire["messages"] == fresh["messages"]
                assert wire["messagesOpenAIFormatted"] == fresh["messagesOpenAIFormatted"]
                assert wire["messages"] is wire["artifact"]["messages"]
                assert wire["messagesOpenAIFormatted"] is wire["artifact"]["messagesOpenAIFormatted"]
                if profile == "realistic":
                    assert wire["conversation"] is wire["messagesOpenAIFormatted"]
                client = render_message(event, timeline.context, timeline.history, timeline.history_openai, profile,
                                        "client")
                assert client["messages"] == fresh["messages"] and "artifact" not in client
