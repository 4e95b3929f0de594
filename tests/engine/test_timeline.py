from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any

import pytest

from mockvapi import simulate
from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.events import Event, Reply
from mockvapi.engine.player import CallPlayer, Outgoing
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


class _Keeping:
    """A server sink that keeps what it is handed, and each message as JSON when it was handed over."""

    def __init__(self) -> None:
        self.got: list[Outgoing] = []
        self.sent: list[str] = []

    def submit(self, outgoing: Outgoing) -> Awaitable[Reply | None]:
        self.got.append(outgoing)
        self.sent.append(json.dumps(outgoing.wire))
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def drain(self) -> None:
        return None


async def _kept_after_the_call(name: str, controls: bool) -> _Keeping:
    sink = _Keeping()
    said = {"done": False}

    def interrupt(player: CallPlayer, event: Event, wire: dict[str, Any]) -> None:
        # A control mid-call: the call takes back history no conversation-update announced yet, and plans again.
        if controls and not said["done"] and wire["type"] == "speech-update" and wire["role"] == "user":
            said["done"] = player.control({"type": "say", "content": "One moment.", "interruptionsEnabled": True})
            player.control({"type": "add-message", "message": {"role": "system", "content": "VIP caller."}})

    player = CallPlayer(resolve(name), clock=VirtualClock(), server=sink, listeners=[interrupt], seed=3,
                        start_ms=1_767_603_600_000)
    await player.run()
    return sink


@pytest.mark.parametrize("controls", [False, True])
async def test_the_journal_renders_each_server_message_again_as_it_was_sent(controls: bool) -> None:
    # The journal keeps a server message as the way to render it again from the call's event log (a rendered
    # dict per delivery was the largest part of a live call's journal): after the call, each one renders to
    # the same JSON as when it was handed over, key order included, and to a new dict on each read.
    for name in bundled_names():
        sink = await _kept_after_the_call(name, controls)
        assert sink.got, name
        for outgoing, sent in zip(sink.got, sink.sent, strict=True):
            kept = outgoing.kept
            assert kept is not None, (name, outgoing.event)
            again = kept.render()
            assert json.dumps(again) == json.dumps(outgoing.wire), (name, outgoing.event)
            if outgoing.event.live is not None:  # the Call then carried is its own copy, never changed later
                assert json.dumps(again) == sent, (name, outgoing.event)
            assert again is not outgoing.wire and kept.render() is not again
        frames = {id(o.kept.frame) for o in sink.got if o.kept is not None}
        assert len(frames) < len(sink.got) / 3  # the call's shared objects once per change, not per message
