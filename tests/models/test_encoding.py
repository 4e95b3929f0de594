"""WireEncoder: byte-identical to compact json.dumps, with history items encoded once per call."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockvapi.engine.simulator import simulate
from mockvapi.library import bundled_names, resolve
from mockvapi.models.encoding import WireEncoder, compact


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("name", bundled_names())
def test_every_message_of_every_bundled_scenario_encodes_byte_for_byte(name: str) -> None:
    timeline = simulate(resolve(name))
    for profile in ("realistic", "spec"):
        for side in ("server", "client"):
            encoder = WireEncoder()
            for _, message in timeline.messages(profile=profile, side=side):  # type: ignore[arg-type]
                assert encoder.encode(message) == dumps(message)


def test_a_growing_history_is_encoded_once_and_only_identical_prefixes_are_reused() -> None:
    first, second = {"role": "user", "message": "héllo \"x\""}, {"role": "bot", "message": "ok"}
    history = [first]
    encoder = WireEncoder()
    one = {"type": "conversation-update", "messages": list(history), "artifact": {"messages": list(history)}}
    assert encoder.encode(one) == dumps(one)
    history.append(second)
    two = {"type": "speech-update", "artifact": {"messages": tuple(history), "messagesOpenAIFormatted": []}}
    assert encoder.encode(two) == dumps(two)
    assert repr(encoder) == (
        "WireEncoder(artifact.messages: 2, artifact.messagesOpenAIFormatted: 0, messages: 1)"
    )
    # Equal is not enough (1 == 1.0, key order): a different object at any place is encoded afresh.
    changed = [first, {"role": "bot", "message": "ok", "n": 1}]
    swapped = [{"message": "héllo \"x\"", "role": "user"}, second]
    for items in (changed, swapped, [first], [], [second, first]):
        three = {"artifact": {"messages": items}}
        assert encoder.encode(three) == dumps(three)


def test_anything_else_falls_back_to_json_itself() -> None:
    encoder = WireEncoder()
    odd: dict[Any, Any] = {1: "int key", "messages": [1, "two", None, {"a": [1.5, True]}]}
    assert encoder.encode(odd) == dumps(odd)
    nested = {"type": "x", "messages": "not a list", "artifact": "not a dict", "call": {"artifact": {"messages": [{}]}}}
    assert encoder.encode(nested) == dumps(nested) == compact(nested)
    assert repr(encoder) == "WireEncoder(nothing encoded yet)"
    marker = "\x00mockvapi-history-0\x00"  # a message holding the encoder's own marker text
    for tricky in ({"note": marker, "messages": [{"a": 1}]}, {"messages": [{"a": marker}], "conversation": [marker]}):
        assert encoder.encode(tricky) == dumps(tricky)


def test_the_call_assistant_and_customer_objects_are_reused_only_while_unchanged() -> None:
    encoder = WireEncoder()
    call: dict[str, Any] = {"id": "c1", "status": "queued", "cost": 0}
    assistant = {"name": "Morgan", "model": {"provider": "openai"}}
    for status in ("queued", "ringing"):
        call["status"] = status  # changed in place: encoded again
        message = {"type": "status-update", "call": call, "assistant": assistant, "customer": {"number": "+1"}}
        assert encoder.encode(message) == compact(message)
        assert f'"status":"{status}"' in encoder.encode(message)
    replaced = {"type": "x", "call": {"id": "c2", "status": "ended", "cost": 0}, "assistant": assistant}
    assert encoder.encode(replaced) == compact(replaced)
    tricky = {"type": "x", "call": {"id": "\x00mockvapi-history-0\x00"}, "assistant": assistant}
    assert encoder.encode(tricky) == compact(tricky)  # a marker's text inside the message: no shortcut


def test_steady_objects_at_the_end_are_spliced_after_the_rest_and_any_other_shape_still_encodes_alike() -> None:
    encoder = WireEncoder()
    call, assistant = {"id": "c1"}, {"name": "Morgan", "tools": [1, "é"]}
    shapes: list[dict[Any, Any]] = [
        {"type": "model-output", "output": "hi\u2028", "call": call, "assistant": assistant},
        {"call": call},  # nothing before the steady objects
        {"call": call, "assistant": assistant, "customer": {}, "phoneNumber": {"number": "+1"}},
        {"type": "x", "call": call, "n": 1},  # a steady object in the middle
        {"type": "x", "call": "not an object"},
        {1: "int key", "call": call},
        {"type": "conversation-update", "messages": [{"role": "user"}], "call": call},
    ]
    for shape in shapes:
        for _ in range(2):
            assert encoder.encode(shape) == dumps(shape)
    first = encoder.encode_parts(shapes[0])
    again = encoder.encode_parts({"type": "model-output", "output": "there", "call": call, "assistant": assistant})
    # The steady objects' text (from the comma before `call` to the closing brace) made once, reused.
    assert first[-1] is again[-1] == f',"call":{dumps(call)},"assistant":{dumps(assistant)}}}'
    history = {"type": "conversation-update", "messages": [{"role": "user"}], "call": call, "assistant": assistant}
    assert encoder.encode_parts(history)[-1] is first[-1]  # the same after a history list (a server message too)


def test_compact_is_json_dumps_for_any_value_and_fails_alike() -> None:
    values: list[Any] = [
        {"a": [1, 2.5, float("nan"), float("inf"), True, None], 1: "int key", 2.5: "float key", None: "x", False: 0},
        ["é\u2028\x00", {"nested": {"deep": [[], {}]}}, 10**30, -0.0],
        "just a string", 3, None, (1, 2),
    ]
    for value in values:
        assert compact(value) == dumps(value)
    for bad in ({"x": object()}, [{1, 2}], {("tuple", "key"): 1}):
        with pytest.raises(TypeError) as ours:
            compact(bad)
        with pytest.raises(TypeError) as theirs:
            dumps(bad)
        assert str(ours.value) == str(theirs.value)


def test_a_client_message_tail_is_reused_only_for_the_same_unchanged_objects() -> None:
    encoder = WireEncoder()
    call: dict[str, Any] = {"id": "c1", "status": "in-progress"}
    assistant: dict[str, Any] = {"name": "Morgan", "model": {"provider": "openai", "messages": [{"role": "system"}]}}

    def message(token: str) -> dict[str, Any]:
        return {"type": "model-output", "output": token, "timestamp": 1, "call": call, "assistant": assistant}

    for token in ("a", "b"):
        assert encoder.encode(message(token)) == dumps(message(token))
    assistant["model"]["messages"][0]["content"] = "changed deep inside, in place"  # an assistant-request answer
    assert encoder.encode(message("c")) == dumps(message("c"))
    assert "changed deep inside" in encoder.encode(message("d"))
    call = {"status": "in-progress", "id": "c1"}  # an equal object, another key order: not the same text
    assert encoder.encode(message("e")) == dumps(message("e")) and '"call":{"status"' in encoder.encode(message("f"))
    odd: dict[str, Any] = {"type": "x", "call": call, "assistant": "not an object"}  # same keys, other values
    assert encoder.encode(odd) == dumps(odd)
    assert encoder.encode({"call": call}) == dumps({"call": call})


def test_messages_of_more_shapes_than_are_remembered_still_encode_alike() -> None:
    from mockvapi.models import encoding

    encoder = WireEncoder()
    call = {"id": "c1"}
    for n in range(encoding._MAX_TAIL_SHAPES + 5):
        message = {f"field{n}": n, "call": call}
        assert encoder.encode(message) == dumps(message)
    assert len(encoding._tail_shapes) <= encoding._MAX_TAIL_SHAPES


def test_every_order_of_steady_objects_history_lists_and_plain_fields_encodes_alike() -> None:
    import itertools

    call: dict[str, Any] = {"id": "c1", "status": "queued"}
    assistant: dict[str, Any] = {"name": "Morgan", "model": {"tools": [1, "é"]}}
    item = {"role": "user", "message": "hi"}
    values: dict[str, Any] = {
        "type": "x", "n": 1.5, "call": call, "assistant": assistant, "customer": {"number": "+1"},
        "messages": [item], "artifact": {"messages": [item], "messagesOpenAIFormatted": []},
    }
    encoder = WireEncoder()
    for size in range(1, 5):
        for keys in itertools.permutations(values, size):
            message = {key: values[key] for key in keys}
            assert encoder.encode(message) == dumps(message)
            assert "".join(encoder.encode_parts(message)) == dumps(message)
    call["status"] = "ringing"  # in place, after every shape's tail was kept
    assistant["model"]["tools"].append(None)
    for keys in itertools.permutations(values, 3):
        message = {key: values[key] for key in keys}
        assert encoder.encode(message) == dumps(message)
        assert "".join(encoder.encode_parts(message)) == dumps(message)


def test_an_artifact_of_history_lists_before_the_tail_encodes_alike_whatever_it_holds() -> None:
    # The server message's usual shape (plain fields, `artifact`, then the steady objects) has its own path:
    # every artifact it may meet, and a history list grown, shrunk or changed between messages.
    call: dict[str, Any] = {"id": "c1"}
    first, second = {"role": "user", "message": "hi \"é\""}, {"role": "bot", "message": "ok"}
    artifacts: list[Any] = [
        {"messages": [first], "messagesOpenAIFormatted": []},
        {"messagesOpenAIFormatted": [second], "messages": [first, second]},  # another key order
        {"messages": [first, second]},
        {"messages": [second]},  # not a prefix of what came before
        {"messages": (first,)},  # a tuple, not a list
        {"messages": [first], "recording": {"url": "x"}},  # an end-of-call-report's artifact
        {"messages": "not a list"},
        {},
        "not an object",
        {"conversation": [first], "messages": [first]},
    ]
    encoder = WireEncoder()
    for artifact in artifacts:
        for head in ({"type": "status-update", "timestamp": 1}, {}, {"type": "x", 1: "int key"}):
            message = {**head, "artifact": artifact, "call": call, "assistant": {"name": "A"}}
            assert "".join(encoder.encode_parts(message)) == dumps(message)
            assert encoder.encode(message) == dumps(message)


def test_history_lists_at_the_top_and_in_an_artifact_encode_alike_around_plain_fields() -> None:
    # A conversation-update's shapes (its lists at the top, on the server side an artifact too) are put together
    # key by key from the history texts, with no markers: lists first, last, between plain fields, as tuples,
    # empty, shared between places, beside an artifact that is not only history lists (the spliced path).
    call: dict[str, Any] = {"id": "c1"}
    history = [{"role": "user", "message": "hi \"é\" \x00mockvapi-history-0\x00"}, {"role": "bot", "message": "ok"}]
    openai = [{"role": "user", "content": "hi"}]
    encoder = WireEncoder()
    shapes: list[dict[str, Any]] = [
        {"type": "conversation-update", "messages": history[:1], "messagesOpenAIFormatted": openai,
         "conversation": openai, "timestamp": 1},
        {"messages": history, "type": "x", "messagesOpenAIFormatted": (), "n": 2.5},
        {"type": "conversation-update", "messages": history, "timestamp": 2,
         "artifact": {"messages": history, "messagesOpenAIFormatted": openai}},
        {"artifact": {"messages": history}, "messages": history, "z": None},
        {"messages": history, "artifact": {"messages": history, "recording": {"url": "x"}}},
        {"messages": history, "artifact": "not an object", "text": "\x00mockvapi-history-1\x00"},
    ]
    for shape in shapes:
        message = {**shape, "call": call, "assistant": {"name": "A"}}
        assert "".join(encoder.encode_parts(message)) == dumps(message)
        assert encoder.encode(message) == dumps(message)


def test_a_messages_plain_fields_before_its_tail_encode_alike_whatever_they_hold() -> None:
    # A client message's own fields are put into its shape's template one by one (lever 99): every kind of
    # value, and keys json must escape, give json's bytes; anything else in one of them falls back whole.
    import enum

    class Kind(enum.IntEnum):
        ONE = 1

    class Text(str):
        pass

    call = {"id": "c1"}
    values: list[Any] = [
        "plain", 'quote " back \\ slash', "ünïcode ✓ \U0001f600", "\x00\x1f\n\t\u2028", "", "%s %d %%",
        0, -7, 10**30, True, False, None, 0.0, -0.0, 1.5, 1e300, 5e-324, float("nan"), float("inf"),
        float("-inf"), Kind.ONE, Text("sub"), {"nested": 1}, [1, 2], (1, 2),
    ]
    encoder = WireEncoder()
    for value in values:
        for key in ("output", 'k"%s\\é', "%"):
            message = {"type": "model-output", key: value, "timestamp": 12, "call": call}
            assert encoder.encode(message) == dumps(message), (key, value)
    for value in values:  # the same shape again, values changing from one message to the next
        message = {"type": "transcript", "transcript": value, "confidence": value, "call": call}
        assert encoder.encode(message) == dumps(message), value
