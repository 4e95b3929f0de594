from __future__ import annotations

import copy
import pickle

import pytest
from pydantic import BaseModel

from mockvapi import simulate
from mockvapi.library import resolve
from mockvapi.models.messages import (
    PROFILES,
    AssistantSpeechStarted,
    Hang,
    Message,
    ModelOutput,
    ModelToken,
    SpeechUpdate,
    StatusUpdate,
    Transcript,
    UserInterrupted,
    VoiceInput,
)


def test_a_model_token_is_the_model_output_it_stands_for() -> None:
    token, model = ModelToken("turn-1", " Hello"), ModelOutput(turn_id="turn-1", token=" Hello")
    for profile in PROFILES:
        assert token.body(profile) == model.body(profile)
    assert isinstance(token, ModelOutput) and isinstance(token, Message) and isinstance(token, BaseModel)
    assert not isinstance(token, StatusUpdate)
    assert token == model and model == token and hash(token) == hash(model)
    assert token == ModelToken("turn-1", " Hello") and token != ModelToken("turn-1", " Bye")
    assert model != ModelToken("turn-2", " Hello")
    assert (token.type_name, token.tool_calls, token.sides) == (model.type_name, None, model.sides)
    assert token.model_dump() == model.model_dump() and token.wire() == model.wire()
    assert repr(token) == repr(model)
    assert pickle.loads(pickle.dumps(token)) == token and copy.deepcopy(token) == token
    with pytest.raises(TypeError):
        token.token = " Bye"  # type: ignore[misc]


def test_streamed_tokens_are_model_tokens_and_tool_calls_stay_models() -> None:
    timeline = simulate(resolve("long-call"), seed=3)
    outputs = [e.message for e in timeline.events if e.type == "model-output"]
    tokens = [m for m in outputs if m.token is not None]
    assert tokens and all(type(m) is ModelToken for m in tokens)
    assert all(type(m) is ModelOutput for m in outputs if m.token is None)


def test_models_given_the_same_fields_share_one_fields_set_and_copies_get_their_own() -> None:
    a, b = StatusUpdate(status="in-progress"), StatusUpdate(status="ended", ended_reason="customer-ended-call")
    c = StatusUpdate(status="ended")
    assert a.model_fields_set == c.model_fields_set == {"status"}
    assert a.model_fields_set is c.model_fields_set  # one per combination of fields, not per model
    assert b.model_fields_set == {"status", "ended_reason"}
    changed = a.model_copy(update={"ended_reason": "assistant-ended-call"})
    assert changed.model_fields_set == {"status", "ended_reason"} and a.model_fields_set == {"status"}
    deep = b.model_copy(deep=True, update={"status": "forwarding"})
    assert (deep.status, deep.model_fields_set) == ("forwarding", {"status", "ended_reason"})
    assert copy.copy(a) == a and copy.deepcopy(b) == b and pickle.loads(pickle.dumps(b)) == b
    assert c.model_dump(exclude_unset=True) == {"status": "ended"}


def test_a_message_of_plain_fields_has_the_body_pydantic_dumps_in_the_same_order() -> None:
    # Plain fields (str, int, float, bool, None) are put in the body without pydantic's serializer; containers
    # are still dumped (copied) by pydantic. The same dict, key for key and in order, either way.
    messages: list[Message] = [
        SpeechUpdate(status="started", role="assistant", turn=3),
        SpeechUpdate(status="stopped", role="user"),
        Transcript(role="user", transcript_type="final", transcript="Hi", confidence=0.93),
        Transcript(role="assistant", transcript_type="partial", transcript="Hel"),
        VoiceInput(input="One moment."),
        UserInterrupted(),
        Hang(),
        StatusUpdate(status="ended", ended_reason="customer-ended-call"),
        StatusUpdate(status="forwarding", destination={"type": "number", "number": "+15550100"}),
        AssistantSpeechStarted(text="Hi", turn=1, source="model", timing={"type": "word-progress"}),
        Transcript.model_construct(role="user", transcript="no type given"),
    ]
    reordered = Transcript(role="user", transcript_type="final", transcript="x", confidence=float("inf"))
    object.__setattr__(reordered, "__dict__", dict(reversed(reordered.__dict__.items())))
    for message in [*messages, reordered]:
        for profile in PROFILES:
            body = message.body(profile)
            dumped = {"type": message.type_name, **message.wire()}
            if profile == "spec" and isinstance(message, Transcript):
                dumped.pop("confidence", None)
            assert list(body.items()) == list(dumped.items())
    with_destination = messages[8]
    assert isinstance(with_destination, StatusUpdate)
    assert with_destination.body("realistic")["destination"] is not with_destination.destination
