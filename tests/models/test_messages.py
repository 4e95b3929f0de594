from __future__ import annotations

import copy
import pickle

import pytest
from pydantic import BaseModel

from mockvapi import simulate
from mockvapi.library import resolve
from mockvapi.models.messages import PROFILES, Message, ModelOutput, ModelToken, StatusUpdate


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
