"""Squads given from outside the scenario: by the REST API (POST /call `squad`/`squadId`) or in an
assistant-request reply. Their members, by name, go over the scenario's squad members (engine/handoff.py
plays the handoffs); the first member runs the call from its start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mockvapi import conformance
from mockvapi.engine.state import CallState

__all__ = ["rest_member", "squad_reply"]


def rest_member(squad: Mapping[str, Any] | None, name: str) -> dict[str, Any] | None:
    """What a REST squad (POST /call `squad`, or the squad `squadId` names) sets for its member `name`:
    membersOverrides, then the member's assistant, then its assistantOverrides. None: nothing."""
    if not squad:
        return None
    overrides = squad.get("membersOverrides")
    merged: dict[str, Any] = dict(overrides) if isinstance(overrides, Mapping) else {}
    for member in squad.get("members") or []:
        assistant = member.get("assistant") if isinstance(member, Mapping) else None
        if isinstance(assistant, Mapping) and assistant.get("name") == name:
            merged.update(assistant)
            if isinstance(member.get("assistantOverrides"), Mapping):
                merged.update(member["assistantOverrides"])
            break
    return merged or None


def squad_reply(call: CallState, body: Mapping[str, Any], at_ms: float) -> dict[str, Any] | None:
    """An assistant-request reply with `squad` (or `squadId`): the assistant the call starts with (the
    squad's first member over the scenario's), or None (a problem recorded) when the squad is invalid.

    The squad is checked against the spec's CreateSquadDTO (where assistant-request replies are validated
    in one place, route this through it). A squadId names a squad the mock cannot look up: the call
    records it and plays the scenario's assistant, as for assistantId."""
    squad = body.get("squad")
    if not isinstance(squad, dict):
        call.context.call["squadId"] = body["squadId"]
        return {}
    violations = conformance.check_against(squad, "CreateSquadDTO")
    members = squad.get("members") if isinstance(squad.get("members"), list) else []
    first = members[0] if members and isinstance(members[0], dict) else {}
    if violations or not isinstance(first.get("assistant"), dict):
        why = "; ".join(str(v) for v in violations[:3]) or "its first member has no inline `assistant`"
        call.problem("assistant-request-failed", f"assistant-request reply's squad is invalid: {why}", at_ms)
        return None
    call.rest_squad = squad
    name = first["assistant"].get("name")
    return rest_member(squad, name) if isinstance(name, str) else dict(first["assistant"])
