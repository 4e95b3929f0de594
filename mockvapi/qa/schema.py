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
from mockvapi.scenario.schema import Scenario

__all__ = ["editor_schema"]

# Step kind -> (model, the key its bare-scalar shorthand stands for)
_SHORTHANDS = {"user": ("UserTurn", "say"), "assistant": ("AssistantTurn", "say"), "silence": ("Silence", "duration"),
               "end": ("End", "reason")}  # fmt: skip


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
    """The scenario language's JSON Schema, with shorthands and Vapi's enums, for editors."""
    schema = copy.deepcopy(Scenario.model_json_schema(by_alias=True))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mockvapi scenario"
    defs: dict[str, Any] = schema["$defs"]
    _with_enum(defs["End"]["properties"]["reason"], ENDED_REASONS)
    _with_enum(defs["Transfer"]["properties"]["reason"], ENDED_REASONS)
    _with_enum(defs["Expect"]["properties"]["ended_reason"], ENDED_REASONS)
    _with_enum(defs["Assistant"]["properties"]["serverMessages"], SERVER_MESSAGE_NAMES)
    _with_enum(defs["Assistant"]["properties"]["clientMessages"], CLIENT_MESSAGE_NAMES)
    for key in ("delivered", "not_delivered"):
        _with_enum(defs["Expect"]["properties"][key], KNOWN_TYPES)
    step = defs["Step"]["properties"]
    for kind, (model, key) in _SHORTHANDS.items():
        scalar = copy.deepcopy(defs[model]["properties"][key])
        for noise in ("default", "title"):
            scalar.pop(noise, None)
        scalar["description"] = f"Shorthand for `{kind}: {{{key}: ...}}`."
        step[kind]["anyOf"].insert(1, scalar)
    return schema
