"""The one place where Vapi's OpenAPI schemas become JSON Schema a validator can use.

The shipped extract (`spec_extract.json`) is the official spec verbatim; every fix below is
applied when it is read, by `normalise` (spec bugs and OpenAPI 3.0 spellings) and `realistic`
(the documented deviations of live traffic, for ``profile="realistic"``).

Spec bugs, each of which would reject every real value:

* an ``enum`` declared on an array (``serverMessages``, ``clientMessages``, ``redaction``...)
  belongs to its items;
* ``type: object`` beside an enum of strings (``AudioFormat.format``, ``BackoffPlan.type``...): Vapi
  sends, and its docs show, the string;
* ``oneOf`` unions overlap (``role`` is a free string, so a bot history item also matches
  ``SystemMessage``): read as ``anyOf``;
* patterns are JavaScript literals (``"/^...$/u"``); ``\\p{L}`` is spelled for Python's ``re``.

OpenAPI 3.0 spellings: ``nullable: true`` lets ``null`` through.

`strict` closes the message schemas (``ServerMessage<Type>``/``ClientMessage<Type>``): the spec
lists every field a message carries, so an unknown one is a typo or a deviation worth seeing. The
objects inside a message stay open, as the spec declares them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MESSAGE_PREFIXES", "normalise", "normalise_schemas", "realistic", "strict"]

MESSAGE_PREFIXES = ("ServerMessage", "ClientMessage")

# JavaScript patterns Python's re cannot read, spelled for it (\p{L}: a letter; [^\W\d_] is re's letter).
_PATTERNS = {
    r"^\p{L}[\p{L}\d]*(?::[+-]?\d+)?$": r"^[^\W\d_][^\W_]*(?::[+-]?\d+)?$",
}


def _python_pattern(literal: str) -> str | None:
    body = literal[1 : literal.rfind("/")] if literal.startswith("/") and literal.rfind("/") > 0 else literal
    body = _PATTERNS.get(body, body)
    try:
        re.compile(body)
    except re.error:
        return None  # a pattern re cannot read checks nothing rather than rejecting everything
    return body


def normalise(node: Any) -> Any:
    """A copy of one spec schema node (and everything below it) as JSON Schema (see the docstring)."""
    if isinstance(node, list):
        return [normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: normalise(sub) for name, sub in value.items()}
        elif key == "oneOf":
            out["anyOf"] = normalise(value)
        elif key == "pattern" and isinstance(value, str):
            pattern = _python_pattern(value)
            if pattern is not None:
                out[key] = pattern
        elif key in ("example", "examples", "default", "enum", "const", "discriminator", "required"):
            out[key] = copy.deepcopy(value)  # values, not schemas
        else:
            out[key] = normalise(value)
    kind = out.get("type")
    if kind == "array" and "enum" in out:
        enum = out.pop("enum")
        items = out.setdefault("items", {})
        if isinstance(items, dict):
            items.setdefault("enum", enum)
    if kind == "object" and isinstance(out.get("enum"), list) and all(isinstance(v, str) for v in out["enum"]):
        out["type"] = "string"
    if out.pop("nullable", False) is True:
        out = _nullable(out)
    return out


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.get("type")
    if isinstance(kind, str) and not any(k in node for k in ("anyOf", "allOf", "$ref")):
        node["type"] = [kind, "null"]
        if isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        return node
    return {"anyOf": [node, {"type": "null"}]}


def normalise_schemas(schemas: Mapping[str, Any]) -> dict[str, Any]:
    """Every named schema of the extract, normalised."""
    return {name: normalise(schema) for name, schema in schemas.items()}


def _is_message(name: str, schema: Mapping[str, Any]) -> bool:
    """A message schema (not a union of them, nor a reply: those have no ``type``)."""
    return name.startswith(MESSAGE_PREFIXES) and "type" in schema.get("properties", {})


def strict(schemas: Mapping[str, Any]) -> dict[str, Any]:
    """``schemas`` (normalised) with every message schema closed to the fields the spec lists."""
    out = dict(schemas)
    for name, schema in schemas.items():
        if _is_message(name, schema):
            out[name] = {**schema, "additionalProperties": False}
    return out


def realistic(schemas: Mapping[str, Any]) -> dict[str, Any]:
    """``schemas`` (normalised, closed by `strict`) also accepting the deviations of live Vapi traffic.

    Vapi's PROTOCOL notes (§0, §2): ``model-output.output`` is a string token or a list of OpenAI
    tool calls; tool-call ``arguments`` are an object; conversation-update carries the legacy
    ``conversation`` list and tool-calls the legacy ``toolCalls`` list; a final user transcript
    carries the transcriber's ``confidence``.
    """
    out = copy.deepcopy(dict(schemas))
    tool_call_list = {"type": "array", "items": {"type": "object"}}
    for name, schema in out.items():
        props = schema.get("properties", {})
        if name.endswith("MessageModelOutput") and "output" in props:
            props["output"] = {"anyOf": [props["output"], {"type": "string"}, tool_call_list]}
        if name.endswith("MessageConversationUpdate"):
            props.setdefault("conversation", {"type": "array", "items": {"type": "object"}})
        if name.endswith("MessageToolCalls"):
            props.setdefault("toolCalls", tool_call_list)
        if name.endswith("MessageTranscript"):
            props.setdefault("confidence", {"type": "number"})
    function = out.get("ToolCallFunction", {}).get("properties", {})
    if "arguments" in function:
        function["arguments"] = {"anyOf": [function["arguments"], {"type": "object"}]}
    return out
