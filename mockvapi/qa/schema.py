"""The scenario JSON Schema as editors need it (yaml-language-server, VS Code, JetBrains).

pydantic's schema describes the models after validation, so it rejects the shorthands the language
accepts before it (`user: "Hi"`, `silence: 2s`, `end: voicemail`) and offers no completion for
Vapi's enums (validated by function, not declared). `editor_schema()` adds both: every shorthand as
an alternative, and `enum`s for endedReason, serverMessages, clientMessages and expect's message
types, so an editor completes them and flags a typo as you type.
"""

from __future__ import annotations

import copy
from typing import Any

from mockvapi.models.enums import CLIENT_MESSAGE_NAMES, ENDED_REASONS, SERVER_MESSAGE_NAMES
from mockvapi.qa.lint import KNOWN_TYPES
from mockvapi.scenario.schema import json_schema

__all__ = ["editor_schema"]

def _strings(values: frozenset[str]) -> dict[str, Any]:
    return {"type": "string", "enum": sorted(values)}


def _with_enum(prop: dict[str, Any], values: frozenset[str]) -> None:
    """Put an enum on a string property (or on the string branch / array items of an anyOf)."""
    if prop.get("type") == "string":
        prop["enum"] = sorted(values)
        return
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        prop["items"] = _strings(values)
        return
    for branch in prop.get("anyOf") or []:
        if isinstance(branch, dict) and branch.get("type") in ("string", "array"):
            _with_enum(branch, values)


def editor_schema() -> dict[str, Any]:
    """The scenario language's JSON Schema (shorthands included) with Vapi's enums, for editors."""
    schema = copy.deepcopy(json_schema())
    defs: dict[str, Any] = schema["$defs"]
    _with_enum(defs["End"]["properties"]["reason"], ENDED_REASONS)
    _with_enum(defs["Transfer"]["properties"]["reason"], ENDED_REASONS)
    _with_enum(defs["Expect"]["properties"]["ended_reason"], ENDED_REASONS)
    _with_enum(defs["Assistant"]["properties"]["serverMessages"], SERVER_MESSAGE_NAMES)
    _with_enum(defs["Assistant"]["properties"]["clientMessages"], CLIENT_MESSAGE_NAMES)
    for key in ("delivered", "not_delivered"):
        _with_enum(defs["Expect"]["properties"][key], KNOWN_TYPES)
    _with_enum(defs["Step"]["properties"]["end"]["anyOf"][0], ENDED_REASONS)  # `end: <reason>` shorthand
    return schema
