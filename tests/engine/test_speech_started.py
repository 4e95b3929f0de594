"""assistant.speechStarted: one per spoken segment when subscribed, consistent with speech-update and the
transcripts, conforming to the spec on both sides in both profiles."""

from __future__ import annotations

from mockvapi.conformance import check
from mockvapi.engine.simulator import simulate
from mockvapi.library import resolve
from tests.engine.invariants import check_invariants


def test_speech_started_follows_each_spoken_segment_and_conforms() -> None:
    timeline = simulate(resolve("speech-started"))
    assert check_invariants(timeline) == []
    for side in ("server", "client"):
        messages = [m for _, m in timeline.messages(side=side, profile="realistic")]
        started = [m for m in messages if m["type"] == "assistant.speechStarted"]
        assert started, side
        for profile, wire in (("strict", "spec"), ("realistic", "realistic")):
            for _, m in timeline.messages(side=side, profile=wire):
                if m["type"] == "assistant.speechStarted":
                    assert check(m, side, profile) == [], (side, profile, m)
        # Each lies within its turn's speech, and the segments of a turn spell what history kept.
        open_turn = None
        segments: dict[int, list[str]] = {}
        for m in messages:
            if m["type"] == "speech-update" and m["role"] == "assistant":
                open_turn = m["turn"] if m["status"] == "started" else None
            elif m["type"] == "assistant.speechStarted":
                assert m["turn"] == open_turn
                assert m["timing"]["type"] == "word-progress"
                assert m["timing"]["wordsSpoken"] <= m["timing"]["totalWords"]
                assert m["text"].startswith(m["timing"]["segment"]) or m["timing"]["segment"] in m["text"]
                segments.setdefault(m["turn"], []).append(m["timing"]["segment"])
        bots = [h["message"] for h in timeline.history if h["role"] == "bot"]
        assert [" ".join(s) for s in segments.values()] == bots
        sources = {m["source"] for m in started}
        assert sources == {"force-say", "model"}  # the first message is said as is, answers come from the model


def test_speech_started_is_opt_in() -> None:
    timeline = simulate(resolve("happy-path"))
    assert not any(e.type == "assistant.speechStarted" for e in timeline.events)
