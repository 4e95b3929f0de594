"""Squads in the scenario language: who the members are (inline assistants or keys of `assistants:`,
with `membersOverrides` and each member's `assistantOverrides` applied), and the checks only the whole
scenario can make: unknown members, handoffs to a member the active one may not reach, handoff cycles
with nothing said between them (a live squad would bounce the caller forever), and members no step
ever reaches (a lint warning, not an error)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from mockvapi.scenario.schema import Assistant, Handoff, Scenario, SquadDestination, SquadMember, Timing

__all__ = ["Member", "active_members", "members", "squad_problems", "unreached_members"]

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Member:
    """One squad member as the call runs it: its assistant with every override applied."""

    name: str
    index: int
    assistant: Assistant
    spec: SquadMember
    timing: Timing

    def destination(self, name: str) -> SquadDestination | None:
        return next((d for d in self.spec.assistantDestinations if d.target == name), None)

    def saved_destination(self, assistant_id: str) -> SquadDestination | None:
        """The destination outside the squad with this assistantId, if the member has one."""
        return next((d for d in self.spec.assistantDestinations if d.assistantId == assistant_id), None)

    def __repr__(self) -> str:
        return f"Member({self.name!r}, #{self.index + 1})"


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    near = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def _resolve(scenario: Scenario) -> tuple[list[Member], list[tuple[PathKey, str]]]:
    squad = scenario.squad
    if squad is None:
        return [], []
    found: list[Member] = []
    problems: list[tuple[PathKey, str]] = []
    for index, spec in enumerate(squad.members):
        where: PathKey = ("squad", "members", index, "assistant")
        if isinstance(spec.assistant, str):
            base = scenario.assistants.get(spec.assistant)
            if base is None:
                known = sorted(scenario.assistants)
                listed = f" (`assistants:` has {', '.join(known)})" if known else " (the scenario has no `assistants:`)"
                problems.append((where, f"unknown assistant {spec.assistant!r}{listed}"
                                        f"{_did_you_mean(spec.assistant, known)}"))
                continue
        else:
            base = spec.assistant
        overrides = {**(squad.membersOverrides or {}), **(spec.assistantOverrides or {})}
        assistant = base
        if overrides:
            try:
                assistant = Assistant.model_validate(
                    {**base.model_dump(by_alias=True, exclude_unset=True), **overrides}
                )
            except ValidationError as exc:
                error = exc.errors()[0]
                key = "assistantOverrides" if spec.assistantOverrides else "membersOverrides"
                path: PathKey = ("squad", "members", index, key) if key == "assistantOverrides" else ("squad", key)
                problems.append((path, f"member {base.name!r}: {'.'.join(map(str, error['loc']))}: {error['msg']}"))
                continue
        timing = scenario.timing
        if spec.timing:
            try:
                timing = Timing.model_validate({**scenario.timing.model_dump(), **spec.timing})
            except ValidationError as exc:
                error = exc.errors()[0]
                where_ = ("squad", "members", index, "timing", *error["loc"])
                problems.append((where_, f"timing.{'.'.join(map(str, error['loc']))}: {error['msg']}"))
        found.append(Member(assistant.name, index, assistant, spec, timing))
    seen: dict[str, Member] = {}
    for member in found:
        if member.name in seen:
            problems.append((("squad", "members", member.index),
                             f"two members are named {member.name!r} (#{seen[member.name].index + 1} and "
                             f"#{member.index + 1}); handoffs name members, so names must differ"))
        seen[member.name] = member
    return found, problems


def members(scenario: Scenario) -> list[Member]:
    """The squad's members in order (the first starts the call); empty without `squad:`."""
    return _resolve(scenario)[0]


def active_members(scenario: Scenario) -> list[str | None]:
    """Which member is active while each step plays, following static handoffs and the scripted replies
    of dynamic ones (None without a squad)."""
    squad = members(scenario)
    by_name = {m.name: m for m in squad}
    active = squad[0].name if squad else None
    out: list[str | None] = []
    for step in scenario.steps:
        out.append(active)
        target = _target(step.handoff) if step.handoff is not None else None
        if target in by_name:  # the loader refused static handoffs the active member may not make
            active = target
    return out


def _target(handoff: Handoff) -> str | None:
    if handoff.to is not None:
        return handoff.to
    if isinstance(handoff.reply, str):
        return handoff.reply
    return None


def squad_problems(scenario: Scenario, fields_set: set[str]) -> list[tuple[PathKey, str]]:
    """Every squad mistake the loader reports at its place in the file."""
    handoffs = [i for i, step in enumerate(scenario.steps) if step.handoff is not None]
    if scenario.squad is None:
        return [(("steps", i, "handoff"), "a handoff needs a `squad:` whose members it hands between")
                for i in handoffs]
    problems: list[tuple[PathKey, str]] = []
    if "assistant" in fields_set:
        problems.append((("assistant",), "with `squad:` the call starts with its first member; put this "
                                         "assistant in `assistants:` or in `squad.members`"))
    squad, resolved = _resolve(scenario)
    problems += resolved
    names = [m.name for m in squad]
    for member in squad:
        for j, dest in enumerate(member.spec.assistantDestinations):
            path: PathKey = ("squad", "members", member.index, "assistantDestinations", j)
            if dest.assistantName is None:
                continue  # a saved assistant by id: the REST API behind the call knows it, the file cannot
            if dest.assistantName == member.name:
                problems.append((path, f"member {member.name!r} cannot hand off to itself"))
            elif dest.assistantName not in names:
                problems.append((path, f"no member is named {dest.assistantName!r} (members: {', '.join(names)})"
                                       f"{_did_you_mean(dest.assistantName, names)}"))
    if resolved or not squad:
        return problems
    by_name = {m.name: m for m in squad}
    active = squad[0].name
    bounced: list[str] = [active]  # members handed to since anything was last said
    for i, step in enumerate(scenario.steps):
        handoff = step.handoff
        if handoff is None:
            if step.kind in ("user", "assistant", "tool", "silence"):
                bounced = [active]
            continue
        target = _target(handoff)
        key = "to" if handoff.to is not None else "reply"
        if target is None:
            continue  # a raw scripted reply: the engine judges it when the call plays
        current_member = by_name.get(active)
        if handoff.to is not None and current_member is not None and current_member.saved_destination(target):
            if handoff.via == "transferCall":
                problems.append((("steps", i, "handoff", "via"), f"{target!r} is a saved assistant (assistantId): "
                                 "hand off to it with `via: handoff`; transferCall names members"))
                continue
            # A saved assistant runs the call from here; its own destinations are not the file's to check.
            active, bounced = f"#{target}", [f"#{target}"]
            continue
        if target not in by_name:
            ids = [d.assistantId for d in current_member.spec.assistantDestinations
                   if d.assistantId] if current_member is not None and handoff.to is not None else []
            saved = f"; saved assistants it may hand off to: {', '.join(ids)}" if ids else ""
            problems.append((("steps", i, "handoff", key), f"no member is named {target!r} (members: "
                                                           f"{', '.join(names)}{saved})"
                                                           f"{_did_you_mean(target, names + ids)}"))
            continue
        current = by_name.get(active)
        allowed = [d.target for d in current.spec.assistantDestinations] if current is not None else [target]
        if handoff.to is not None and target not in allowed:
            reach = f"it may hand off to {', '.join(allowed)}" if allowed else "it has no assistantDestinations"
            problems.append((("steps", i, "handoff", "to"), f"member {active!r} may not hand off to {target!r}: "
                                                            f"{reach}{_did_you_mean(target, allowed)}"))
            continue
        if target == active:
            problems.append((("steps", i, "handoff", key), f"{target!r} is already the active member"))
            continue
        if target in bounced:
            loop = " -> ".join([*bounced[bounced.index(target):], target])
            problems.append((("steps", i, "handoff", key),
                             f"handoff cycle {loop} with nothing said between: a live squad would hand the "
                             "caller around forever; put a user or assistant turn in the cycle"))
            continue
        bounced.append(target)
        active = target
    return problems


def unreached_members(scenario: Scenario) -> list[Member]:
    """Members (after the first) that no step of the scenario ever hands the call to."""
    reached = set(active_members(scenario))
    return [m for m in members(scenario)[1:] if m.name not in reached]
