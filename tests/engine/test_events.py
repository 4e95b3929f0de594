"""EventLog: a call's delivered events kept compactly, read back equal to what was appended."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from mockvapi.engine.events import Event, EventLog
from mockvapi.engine.simulator import CallSimulation, drive, simulate
from mockvapi.library import bundled_names, resolve
from mockvapi.models.messages import (
    PROFILES,
    ConversationUpdate,
    HistoryPrefix,
    Message,
    ModelToken,
    SpeechUpdate,
    StatusUpdate,
    Transcript,
    WireModel,
)


def _state(message: Any) -> tuple[Any, ...]:
    """Everything a pydantic model is made of (a `model_construct`ed one may lack `__pydantic_private__`)."""
    if type(message) is ModelToken:
        return ("token", message.turn_id, message.token)
    try:
        private: Any = object.__getattribute__(message, "__pydantic_private__")
    except AttributeError:
        private = "unset"
    return (type(message), list(message.__dict__.items()), message.__pydantic_fields_set__,
            message.__pydantic_extra__, private)


def _same(read: Event, logged: Event) -> None:
    assert read == logged
    assert (read.at_ms, read.history_len, read.step, read.seq, read.history_base) == (
        logged.at_ms, logged.history_len, logged.step, logged.seq, logged.history_base)
    assert read.context is logged.context and read.live is logged.live
    assert type(read.message) is type(logged.message)
    assert _state(read.message) == _state(logged.message)
    # The values themselves are the ones logged (shared, not copies): a history prefix, a dict, a string; but a
    # partial transcript's text, kept as UTF-8 (an equal string).
    if isinstance(logged.message, WireModel) and type(logged.message) is not ModelToken:
        partial = isinstance(logged.message, Transcript) and logged.message.transcript_type == "partial"
        for key, value in logged.message.__dict__.items():
            if partial and key == "transcript":
                assert read.message.__dict__[key] == value and type(read.message.__dict__[key]) is str
            elif type(value) is HistoryPrefix and len(value) == logged.history_len:
                # A conversation-update's history: made again, over the very list logged.
                again = read.message.__dict__[key]
                assert type(again) is HistoryPrefix and again == value and again._items is value._items
            else:
                assert read.message.__dict__[key] is value
    for profile in PROFILES:
        assert read.message.body(profile) == logged.message.body(profile)


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_scenario_reads_back_equal(name: str) -> None:
    events = simulate(resolve(name), seed=3).events
    log = EventLog(events)
    assert len(log) == len(events)
    for read, logged in zip(log, events, strict=True):
        _same(read, logged)
    assert list(reversed(log)) == list(reversed(events))
    assert log == events and log[-1] == events[-1] and log[2:5] == events[2:5]


def test_the_log_keeps_no_event_or_model_objects() -> None:
    """What makes it compact: the numbers in arrays, a message's field values in one flat list. The old list
    of Events held an Event, an int and a pydantic model (with its own `__dict__`) per event."""
    sim = CallSimulation(resolve("long-call"), seed=1)
    drive(sim)
    log = sim.events
    assert len(log) > 900
    reachable = gc.get_referents(*gc.get_referents(log))
    assert not any(isinstance(x, Event | ModelToken) for x in reachable)
    # Only messages the log cannot flatten are kept whole; a long call has none.
    assert not any(isinstance(x, Message) for x in reachable)
    # Nor the conversation-updates' history prefixes (48 bytes each): the shared lists only.
    assert not any(isinstance(x, HistoryPrefix) for x in reachable)
    assert any(type(e.message).__name__ == "ConversationUpdate" for e in log)
    assert [type(e.message).__name__ for e in log].count("ModelToken") > 400


def test_pop_and_append_keep_runs_of_shared_context_and_live() -> None:
    events = simulate(resolve("happy-path")).events
    log = EventLog()
    for event in events:
        log.append(event)
    assert len({id(e.live) for e in events}) > 1  # the live fields change while the call plays
    taken = [log.pop() for _ in range(len(events) // 2)]
    assert list(reversed(taken)) == events[len(events) - len(taken):]
    assert list(log) == events[: len(events) - len(taken)]
    for event in reversed(taken):
        log.append(event)
    for read, logged in zip(log, events, strict=True):
        _same(read, logged)


def test_numbers_too_large_for_the_narrow_columns_widen_them() -> None:
    # Times and counts sit in 32- and 16-bit columns (memory per live call), widened the first time a value
    # does not fit: a call of days, a history or event count past 32,767, a step past it too.
    events = simulate(resolve("happy-path")).events
    big = [
        Event(events[3].at_ms + (1 << 40), events[3].message, 70_000, 40_000, 1 << 33, 65_536,
              events[3].context, events[3].live),
        Event(events[4].at_ms, events[4].message, 5, None, 100_000, 0, events[4].context, events[4].live),
    ]
    log = EventLog(events[:3])
    for event in [*big, *events[3:]]:
        log.append(event)
    for read, logged in zip(log, [*events[:3], *big, *events[3:]], strict=True):
        _same(read, logged)
    log.pop()
    assert log[-1] == events[-2] and log[3] == big[0] and log[4].step is None


def test_history_base_is_kept_once_per_run_of_events_that_share_it() -> None:
    # 0 for every event of a call without a handoff: 2 bytes an event of a live call's memory as a column.
    events = simulate(resolve("happy-path")).events
    based = [Event(e.at_ms, e.message, e.history_len, e.step, e.seq, 3 if 4 <= i < 7 else 1 << 40 if i == 9 else 0,
                   e.context, e.live) for i, e in enumerate(events)]
    log = EventLog(based)
    assert len(log._numbers) == 3 * len(log) and len(log._runs) < len(log)
    for read, logged in zip(log, based, strict=True):
        _same(read, logged)
    assert [e.history_base for e in log][:11] == [0, 0, 0, 0, 3, 3, 3, 0, 0, 1 << 40, 0]
    while len(log) > 5:
        log.pop()
    log.append(based[5])
    assert list(log) == based[:6] and log[-1].history_base == 3


def test_indexing_like_a_list() -> None:
    events = simulate(resolve("happy-path")).events
    log = EventLog(events)
    assert log[0] == events[0] and log[-2] == events[-2]
    with pytest.raises(IndexError):
        log[len(events)]
    with pytest.raises(IndexError):
        EventLog().pop()
    assert not EventLog() and log and repr(log) == f"EventLog({len(events)} events)"
    assert log != events[:-1] and log != 3


def test_a_message_it_cannot_flatten_is_kept_as_it_is() -> None:
    """A model made some other way (its fields set out of order, say) is kept whole, identity and all."""
    simulate(resolve("happy-path"))  # status-updates of this layout seen (and flattened) before
    odd = StatusUpdate(status="ended")
    object.__setattr__(odd, "__dict__", {"ended_reason": None, "status": "ended", "destination": None})
    update = ConversationUpdate.model_construct(messages=(), messages_openai_formatted=())
    log = EventLog([Event(5, odd, 0, None, 0), Event(6, update, 0, 1, 1)])
    assert log[0].message is odd and log[0].step is None
    assert log[1].message == update and log[1].message is not update and log[1].step == 1
    assert _state(log[1].message) == _state(update)  # no __pydantic_private__, as model_construct left it


@pytest.mark.parametrize("name", bundled_names())
def test_a_compact_call_gives_the_timeline_simulate_gives(name: str) -> None:
    """A live call (the player) keeps its events compactly; simulate() keeps them as they are: the same timeline."""
    compact = CallSimulation(resolve(name), seed=4)
    assert isinstance(compact.events, EventLog)
    timeline = drive(compact)
    plain = simulate(resolve(name), seed=4)
    assert timeline.events == plain.events and len(timeline.events) == len(plain.events)
    for profile in PROFILES:
        assert timeline.jsonl(profile=profile) == plain.jsonl(profile=profile)
        assert timeline.jsonl(profile=profile, side="client") == plain.jsonl(profile=profile, side="client")


def test_an_event_built_by_its_own_init_is_the_frozen_dataclass_it_was() -> None:
    # Event's __init__ sets the slots directly (faster than the frozen dataclass's): every field set, the
    # defaults, keywords, `replace` and the frozen guard as before.
    import dataclasses

    token = ModelToken("t", " hi")
    event = Event(history_len=2, at_ms=5, step=None, seq=3, message=token)
    assert (event.at_ms, event.message, event.history_len, event.step, event.seq) == (5, token, 2, None, 3)
    assert (event.history_base, event.context, event.live) == (0, None, None)
    assert event == Event(5, token, 2, None, 3, 0, None, None) != Event(5, token, 2, None, 4)
    moved = dataclasses.replace(event, history_len=7, live={"status": "queued"})
    assert (moved.history_len, moved.live, moved.seq) == (7, {"status": "queued"}, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.seq = 4  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(Event)][-3:] == ["history_base", "context", "live"]


def test_a_token_s_text_is_kept_as_utf8_not_as_a_string_of_its_own() -> None:
    """A model token's text sits in one byte buffer (a string object per token was ~55 bytes of a live call's
    memory, most of its events being tokens); it reads back equal, whatever its characters."""
    tokens = [" Hello", ",", " naïve", " 東京", " \ud800", "", " 🙂", "."]
    events = [Event(i, ModelToken("turn-1", token), 0, 0, i) for i, token in enumerate(tokens)]
    log = EventLog(events)
    assert [e.message.token for e in log] == tokens and list(log) == events
    assert not any(type(x) is str and x in tokens for x in gc.get_referents(*gc.get_referents(log)))
    assert log.pop() == events[-1] and log.pop() == events[-2]
    log.append(events[-1])
    assert [e.message.token for e in log] == [*tokens[:-2], "."]
    assert log[4].message.token == " \ud800" and log[4].message.turn_id == "turn-1"


def test_a_turn_s_tokens_keep_its_turn_id_once() -> None:
    """A token right after a token with the very same turn id object keeps no value of its own (8 bytes of a live
    call's memory per token): it reads back with that object; another event between, pops and appends."""
    first, second = "turn-a", "".join(["turn-", "b"])
    other = "".join(["turn-", "a"])  # equal to `first`, another object: kept as its own value
    update = SpeechUpdate(status="started", role="assistant", turn=1)
    messages = [ModelToken(first, " Hi"), ModelToken(first, ","), update, ModelToken(first, " there"),
                ModelToken(second, " Bye"), ModelToken("turn-c", "."), ModelToken("turn-c", "!"),
                ModelToken(other, "?"), ModelToken(first, " again")]
    events = [Event(i, m, 0, None, i) for i, m in enumerate(messages)]
    log = EventLog(events)
    # first, (the update), first, second, turn-c, other, first: once per run of tokens
    assert len(log._values) == len(update.__dict__) + 6
    for read, logged in zip(log, events, strict=True):
        _same(read, logged)
        if type(logged.message) is ModelToken:
            assert read.message.turn_id is logged.message.turn_id
    assert list(reversed(log)) == list(reversed(events)) and log[-3:] == events[-3:]
    assert log[3].message.turn_id is first and log[6].message.turn_id == "turn-c" and log[7].message.turn_id is other
    # Popping the turn's first token: the next token of that turn keeps its turn id again.
    while len(log) > 1:
        log.pop()
    log.append(Event(1, ModelToken(first, ","), 0, None, 1))
    log.append(Event(2, ModelToken(first, "!"), 0, None, 2))
    assert [(e.message.turn_id, e.message.token) for e in log] == [(first, " Hi"), (first, ","), (first, "!")]
    assert log._values == [first, first]  # after a pop the log does not look back for the turn's id
    log.pop(), log.pop(), log.pop()
    log.append(Event(0, ModelToken(first, "x"), 0, None, 0))
    log.append(Event(1, ModelToken(first, "y"), 0, None, 1))
    assert log._values == [first] and [e.message.token for e in log] == ["x", "y"]
    assert all(e.message.turn_id is first for e in log)


def test_a_partial_transcript_s_text_is_kept_as_utf8_and_a_final_s_as_the_string_it_shares() -> None:
    """Each partial transcript is a string of its own (all the customer's words so far, every two words): the
    log keeps its text in the buffer; a final's text is shared with history, so the log keeps the object."""
    partials = [Transcript(role="user", transcript_type="partial", transcript=t) for t in ("I'd like", "", "é \ud800")]
    final = Transcript(role="user", transcript_type="final", transcript="I'd like a table.", confidence=0.9)
    events = [Event(i, m, 0, 0, i) for i, m in enumerate([*partials, final])]
    log = EventLog(events)
    for read, logged in zip(log, events, strict=True):
        _same(read, logged)
    reachable = gc.get_referents(*gc.get_referents(log))
    assert not any(x is p.transcript for p in partials for x in reachable if x)
    assert any(x is final.transcript for x in reachable)
    assert log.pop() == events[-1] and log.pop() == events[-2] and list(log) == events[:2]


def test_history_prefixes_of_another_length_than_the_event_says_are_kept_as_they_are() -> None:
    items = [{"role": "bot", "message": "hi"}, {"role": "user", "message": "yo"}]
    odd = ConversationUpdate.model_construct(
        messages=HistoryPrefix(items, 1), messages_openai_formatted=HistoryPrefix(items, 2))
    even = ConversationUpdate.model_construct(
        messages=HistoryPrefix(items, 2), messages_openai_formatted=HistoryPrefix(items, 2))
    events = [Event(5, odd, 2, None, 7), Event(6, even, 2, None, 8)]
    log = EventLog(events)
    read = log[0].message
    assert read.messages is odd.messages and read.messages_openai_formatted is odd.messages_openai_formatted
    again = log[1].message
    assert again.messages == items and again.messages is not even.messages and again.messages._items is items
    assert type(again.messages_openai_formatted) is HistoryPrefix and again.messages_openai_formatted == items
    assert log.pop() == events[1] and log.pop() == events[0] and len(log) == 0


def test_offsets_sit_in_16_bits_until_a_call_outgrows_them() -> None:
    # Where each event's values and text start: 2 bytes an event (a live call's memory), widened the first time
    # the values or the text pass 65,535.
    log = EventLog(simulate(resolve("happy-path")).events)
    assert log._starts.itemsize == 2 and log._text_starts.itemsize == 2
    # (two turns in turn: a token whose turn id is the previous token's keeps no value of its own)
    events = [Event(i, ModelToken("turn-1" if i % 2 else "turn-2", "é" if i % 3 else "ab"), 0, 0, i)
              for i in range(70_000)]
    log = EventLog(events)
    assert log._starts.itemsize == 8 and log._text_starts.itemsize == 8
    assert log[0] == events[0] and log[-1] == events[-1] and log[40_000] == events[40_000]
    assert [e.message.token for e in log[32_760:32_780]] == [e.message.token for e in events[32_760:32_780]]
    assert log.pop() == events[-1] and log[-1] == events[-2] and len(log) == 69_999
