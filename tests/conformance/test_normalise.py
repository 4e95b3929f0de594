"""mockvapi.conformance.normalise: the one place the spec's bugs and OpenAPI spellings are fixed."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from mockvapi.conformance.extract import schemas
from mockvapi.conformance.normalise import normalise, normalise_schemas, realistic, strict


def test_enum_on_an_array_moves_to_its_items() -> None:
    node = {"type": "array", "enum": ["a", "b"], "items": {"type": "string"}}
    assert normalise(node) == {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}
    assert normalise({"type": "array", "enum": ["a"]}) == {"type": "array", "items": {"enum": ["a"]}}


def test_object_with_a_string_enum_is_a_string() -> None:
    node = {"type": "object", "enum": ["pcm_s16le", "mulaw"], "description": "format"}
    assert normalise(node) == {"type": "string", "enum": ["pcm_s16le", "mulaw"], "description": "format"}
    assert normalise({"type": "object", "properties": {}})["type"] == "object"


def test_one_of_is_read_as_any_of() -> None:
    node = {"oneOf": [{"$ref": "#/components/schemas/A"}, {"type": "string", "oneOf": [{"maxLength": 1}]}]}
    assert normalise(node) == {"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "string",
                                                                             "anyOf": [{"maxLength": 1}]}]}


def test_nullable_lets_null_through() -> None:
    assert normalise({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert normalise({"type": "string", "enum": ["a"], "nullable": True}) == {"type": ["string", "null"],
                                                                              "enum": ["a", None]}
    ref = {"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": True}
    assert normalise(ref) == {"anyOf": [{"allOf": [{"$ref": "#/components/schemas/A"}]}, {"type": "null"}]}
    assert normalise({"type": "string", "nullable": False}) == {"type": "string"}


def test_javascript_pattern_literals_become_python_patterns() -> None:
    assert normalise({"pattern": "/^[a-z]+$/"}) == {"pattern": "^[a-z]+$"}
    assert normalise({"pattern": "^plain$"}) == {"pattern": "^plain$"}
    letters = normalise({"pattern": r"/^\p{L}[\p{L}\d]*(?::[+-]?\d+)?$/u"})["pattern"]
    assert re.search(letters, "Zoë:2") and not re.search(letters, "9lives")
    assert normalise({"pattern": "/(?<=a/"}) == {}  # unreadable by re: checks nothing rather than everything


def test_values_are_not_read_as_schemas() -> None:
    """`properties` named like keywords, and enum/example values holding `oneOf`, stay as they are."""
    node = {"properties": {"oneOf": {"type": "string"}, "nullable": {"type": "boolean"}},
            "example": {"oneOf": 1}, "enum": [{"nullable": True}]}
    assert normalise(node) == node


def _keys(node: object) -> set[str]:
    """Every keyword used in the schema ``node`` (not field names, not values such as examples)."""
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    if not isinstance(node, dict):
        return set()
    found = set(node)
    for key, value in node.items():
        if key in ("properties", "$defs"):
            found |= set().union(*(_keys(v) for v in value.values()))
        elif key not in ("enum", "example", "default", "discriminator", "required", "const"):
            found |= _keys(value)
    return found


def test_every_normalised_schema_is_valid_json_schema() -> None:
    fixed = normalise_schemas(schemas())
    Draft202012Validator.check_schema({"$defs": fixed})
    assert {"nullable", "oneOf"} <= _keys({"$defs": schemas()})
    assert not {"nullable", "oneOf"} & _keys({"$defs": fixed})


def test_the_shipped_spec_bugs_are_fixed_on_reading() -> None:
    fixed = normalise_schemas(schemas())
    assert fixed["AudioFormat"]["properties"]["format"]["type"] == "string"
    server_messages = fixed["CreateAssistantDTO"]["properties"]["serverMessages"]
    assert "enum" not in server_messages and "end-of-call-report" in server_messages["items"]["enum"]
    assert schemas()["AudioFormat"]["properties"]["format"]["type"] == "object"  # the extract itself: verbatim


def test_strict_closes_message_schemas_only() -> None:
    closed = strict(normalise_schemas(schemas()))
    assert closed["ServerMessageHang"]["additionalProperties"] is False
    assert closed["ClientMessageTranscript"]["additionalProperties"] is False
    for open_one in ("Call", "ServerMessage", "ServerMessageResponseToolCalls", "CreateAssistantDTO"):
        assert "additionalProperties" not in closed[open_one], open_one


def test_realistic_adds_the_documented_deviations_without_touching_its_input() -> None:
    closed = strict(normalise_schemas(schemas()))
    live = realistic(closed)
    assert "conversation" in live["ServerMessageConversationUpdate"]["properties"]
    assert "conversation" not in closed["ServerMessageConversationUpdate"]["properties"]
    assert "toolCalls" in live["ClientMessageToolCalls"]["properties"]
    assert live["ServerMessageTranscript"]["properties"]["confidence"] == {"type": "number"}
    assert {"type": "string"} in live["ServerMessageModelOutput"]["properties"]["output"]["anyOf"]
    assert {"type": "object"} in live["ToolCallFunction"]["properties"]["arguments"]["anyOf"]
