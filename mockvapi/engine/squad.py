"""Squads given from outside the scenario: by the REST API (POST /call `squad`/`squadId`) or in an
assistant-request reply. Their members, by name, go over the scenario's squad members (engine/handoff.py
plays the handoffs); the first member runs the call from its start."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from mockvapi.engine.state import CallState
from mockvapi.models.dto import request_schemas
from mockvapi.models.encoding import steady_changed

__all__ = ["SquadReply", "rest_member", "squad_reply"]

Lookup = Callable[[str], Mapping[str, Any] | None]


def rest_member(squad: Mapping[str, Any] | None, name: str) -> dict[str, Any] | None:
    """What a REST squad (POST /call `squad`, or the squad `squadId` names) sets for its member `name`:
    the member's assistant, then membersOverrides (every member's), then the member's own
    assistantOverrides, as the scenario's `squad:` applies them. None: nothing."""
    if not squad:
        return None
    merged: dict[str, Any] = {}
    own: Mapping[str, Any] = {}
    for member in squad.get("members") or []:
        assistant = member.get("assistant") if isinstance(member, Mapping) else None
        if isinstance(assistant, Mapping) and assistant.get("name") == name:
            merged.update(assistant)
            if isinstance(member.get("assistantOverrides"), Mapping):
                own = member["assistantOverrides"]
            break
    overrides = squad.get("membersOverrides")
    if isinstance(overrides, Mapping):
        merged.update(overrides)
    merged.update(own)
    return merged or None


class SquadReply:
    """What an assistant-request reply's squad decides: `assistant`, the call's first assistant (the squad's
    first member; empty: the scenario's stands in), or `failure`, (endedReason, problem kind, detail)."""

    __slots__ = ("assistant", "failure")

    def __init__(self, assistant: dict[str, Any] | None = None,
                 failure: tuple[str, str, str] | None = None) -> None:
        self.assistant = assistant or {}
        self.failure = failure

    def __repr__(self) -> str:
        return f"SquadReply(assistant={self.assistant.get('name')!r}, failure={self.failure!r})"


def squad_reply(call: CallState, body: Mapping[str, Any], at_ms: float, *,
                find_assistant: Lookup | None = None, find_squad: Lookup | None = None) -> SquadReply:
    """An assistant-request reply with `squad` (or `squadId`): the squad runs the call from its first member,
    and its members (by name) go over the scenario's for every handoff.

    The squad is judged by the spec's CreateSquadDTO with the same nested validation as POST /squad and an
    assistant-request reply's assistant (models/dto.py). A `squadId` names a squad created through the REST
    API (`find_squad`), a member's `assistantId` an assistant (`find_assistant`); with no REST API behind the
    call (simulate(), `mockvapi run`) the scenario's squad stands in for what they name, as for assistantId."""
    squad: Any = body.get("squad")
    if not isinstance(squad, dict):
        squad_id = str(body["squadId"])
        call.context.call["squadId"] = squad_id
        steady_changed()  # the call every message carries, changed in place (see models.encoding)
        if find_squad is None:
            return SquadReply()
        stored = find_squad(squad_id)
        if stored is None:
            return SquadReply(failure=("assistant-not-found", "squad-not-found",
                                       f"assistant-request returned squadId {squad_id!r}, which names no squad"))
        squad = copy.deepcopy(dict(stored))
    else:
        problems = request_schemas().nested_errors(squad, "CreateSquadDTO", "squad")
        if problems:
            shown = "; ".join(problems[:8]) + (f" (and {len(problems) - 8} more)" if len(problems) > 8 else "")
            return SquadReply(failure=("assistant-request-returned-invalid-assistant", "invalid-assistant",
                                       f"assistant-request reply's squad is invalid: {shown}"))
        squad = copy.deepcopy(squad)
    members = [m for m in squad.get("members") or [] if isinstance(m, dict)]
    if not members:
        return SquadReply(failure=("assistant-request-returned-invalid-assistant", "invalid-assistant",
                                   "assistant-request reply's squad is invalid: squad.members must contain at "
                                   "least 1 elements"))
    for index, member in enumerate(members):
        if isinstance(member.get("assistant"), dict):
            continue
        assistant_id = member.get("assistantId")
        if not isinstance(assistant_id, str):
            return SquadReply(failure=("assistant-request-returned-invalid-assistant", "invalid-assistant",
                                       f"assistant-request reply's squad is invalid: squad.members.{index} "
                                       "needs either `assistant` or `assistantId`"))
        if find_assistant is None:
            continue  # no REST API: the scenario's member of that place stands in
        stored = find_assistant(assistant_id)
        if stored is None:
            return SquadReply(failure=("assistant-not-found", "assistant-not-found",
                                       f"assistant-request reply's squad.members.{index}.assistantId "
                                       f"{assistant_id!r} names no assistant"))
        member["assistant"] = copy.deepcopy(dict(stored))
    call.rest_squad = squad
    first = members[0].get("assistant")
    if not isinstance(first, dict):
        return SquadReply()
    name = first.get("name")
    merged = rest_member(squad, name) if isinstance(name, str) else None
    return SquadReply(merged or dict(first))
