"""A played call as its messages: `Timeline` (every event with the call's shared objects) and
`render_message` (one event as the bare wire message a side receives)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import is_
from typing import Any

from mockvapi.engine.context import CallContext
from mockvapi.engine.events import Event, SimProblem
from mockvapi.engine.journal import KeptMessage, MessageSource
from mockvapi.models import encoding
from mockvapi.models.messages import (
    AssistantRequest,
    ConversationUpdate,
    Profile,
    Side,
    profile_named,
    side_named,
)

__all__ = ["KeptMessages", "Timeline", "render_message"]


class _Listed:
    """`Timeline.events`: given a call's compact log (engine.events.EventLog), it lists them as Events on
    first read (a call's timeline is made at its end whether or not anyone reads it)."""

    _slot = "_events"

    def __get__(self, obj: object | None, owner: type | None = None) -> list[Event]:
        if obj is None:
            raise AttributeError("events")  # a required field (no default)
        value = obj.__dict__[self._slot]
        if not isinstance(value, list):
            value = obj.__dict__[self._slot] = list(value)
        return value

    def __set__(self, obj: object, value: Sequence[Event]) -> None:
        obj.__dict__[self._slot] = value


@dataclass
class Timeline:
    """Every message of one simulated call, with the call's shared objects."""

    name: str
    seed: int
    context: CallContext
    events: list[Event]  # given an EventLog, listed on first read (see _Listed, installed below)
    history: list[dict[str, Any]]
    history_openai: list[dict[str, Any]]
    ended_reason: str | None
    problems: list[SimProblem] = field(default_factory=list)
    # Where the final history starts in `history` (a squad member's contextEngineeringPlan may trim it).
    history_base: int = 0


    @property
    def final_history(self) -> list[dict[str, Any]]:
        """The history as the call ended (what the last conversation-update and the artifact carry)."""
        return self.history[self.history_base:]

    def messages(
        self, *, profile: Profile = "realistic", side: Side = "server"
    ) -> list[tuple[float, dict[str, Any]]]:
        """(offset seconds, bare wire message) for every message that goes out on `side`."""
        profile, side = profile_named(profile), side_named(side)
        return [
            (e.at, render_message(e, e.context or self.context, self.history, self.history_openai, profile, side))
            for e in self.events
            if (e.context or self.context).wants(e.message, side)
        ]

    def jsonl(self, *, profile: Profile = "realistic", side: Side = "server") -> str:
        return "".join(
            json.dumps({"at": at, "message": message}, ensure_ascii=False) + "\n"
            for at, message in self.messages(profile=profile, side=side)
        )

    @property
    def duration(self) -> float:
        return self.events[-1].at if self.events else 0.0

    def __repr__(self) -> str:
        return (
            f"Timeline({self.name!r}, seed={self.seed}, {len(self.events)} events, {self.duration:.1f}s, "
            f"ended={self.ended_reason})"
        )


Timeline.events = _Listed()  # type: ignore[assignment]  # after @dataclass: `events` stays a required field


def _live_call(context: CallContext, live: Mapping[str, Any], announced: bool) -> dict[str, Any]:
    """`{**context.call, **live}`, one object for every message until the live fields or the call change: a
    call's messages then share it (memory) and the wire encoder reuses its text (it caches by identity).
    `announced` (the player's messages): the call is compared with its copy only after an in-place change to a
    steady object was announced (`encoding.steady_changed`), as the engine announces each of its own."""
    cached = context.live_call
    if cached is not None and cached[0] is live:
        if (announced and cached[3] == encoding.steady_changes
                and (not encoding.CHECK_ANNOUNCED or _unchanged(cached[1], context))):
            return cached[2]
        if cached[1] == context.call:
            context.live_call = (live, cached[1], cached[2], encoding.steady_changes)
            return cached[2]
    merged = {**context.call, **live}
    context.live_call = (live, dict(context.call), merged, encoding.steady_changes)
    return merged


def _unchanged(copied: dict[str, Any], context: CallContext) -> bool:
    """Under `encoding.CHECK_ANNOUNCED`: whether the call still equals its copy; notes it when not."""
    if copied == context.call:
        return True
    encoding.unannounced.append("the call changed in place with no steady_changed()")
    return False


def _artifact(
    context: CallContext, history: list[dict[str, Any]], history_openai: list[dict[str, Any]], base: int, n: int
) -> dict[str, Any]:
    """`{"messages": history[base:n], "messagesOpenAIFormatted": history_openai[base:n]}`, one object for
    every message until the slice changes: a live call's messages (a dozen or more per turn) then share it
    instead of holding two lists each, and the wire encoder reuses its text (it caches by identity)."""
    messages, openai = history[base:n], history_openai[base:n]
    cached = context.artifact
    if cached is not None and cached[0] == base and cached[1] == n:
        held = cached[2]
        if _same_items(held["messagesOpenAIFormatted"], openai) and _same_items(held["messages"], messages):
            return held
    artifact = {"messages": messages, "messagesOpenAIFormatted": openai}
    context.artifact = (base, n, artifact)
    return artifact


def _same_items(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(map(is_, a, b))  # map over operator.is_: no generator frame per item


def _share_history(out: dict[str, Any], artifact: dict[str, Any]) -> None:
    """A conversation-update's `messages` and `messagesOpenAIFormatted` (and `conversation`) become its
    artifact's lists when they hold the same items: the journal keeps every message sent, and each update
    held two more copies of the history so far (a long call's updates: the square of its length)."""
    messages, openai = artifact["messages"], artifact["messagesOpenAIFormatted"]
    if _same_items(out["messages"], messages) and _same_items(out["messagesOpenAIFormatted"], openai):
        out["messages"] = messages
        out["messagesOpenAIFormatted"] = openai
        if "conversation" in out:
            out["conversation"] = openai


def render_message(
    event: Event,
    context: CallContext,
    history: list[dict[str, Any]],
    history_openai: list[dict[str, Any]],
    profile: Profile,
    side: Side,
    *,
    announced: bool = False,
) -> dict[str, Any]:
    """The bare wire message for `event` on `side` (no webhook envelope). `announced`: the call's in-place
    changes to its steady objects are announced (`encoding.steady_changed`), as while the engine plays it."""
    message = event.message
    # Told by exact type (neither class has subclasses), as the player does: `isinstance` against a pydantic
    # model class goes through ABCMeta's check, and a model token (half a call's messages) answers it through
    # its Python-level `__class__` (lever 121).
    kind = type(message)
    out = message.body(profile)
    out["timestamp"] = context.start_ms + event.at_ms
    if side == "server" and "artifact" not in out and kind is not AssistantRequest:
        n, base = event.history_len, event.history_base
        artifact = out["artifact"] = _artifact(context, history, history_openai, base, n)
        if kind is ConversationUpdate:
            _share_history(out, artifact)
    live = event.live
    if not live:
        out["call"] = context.call
    else:
        # `_live_call`'s commonest answer, inline (a call per message less, lever 124): the last message's merged call.
        cached = context.live_call
        if (announced and cached is not None and cached[0] is live and cached[3] == encoding.steady_changes
                and not encoding.CHECK_ANNOUNCED):
            out["call"] = cached[2]
        else:
            out["call"] = _live_call(context, live, announced)
    if context.assistant is not None and kind is not AssistantRequest:
        out["assistant"] = context.assistant
    if context.customer is not None:
        out["customer"] = context.customer
    if context.phone_number is not None:
        out["phoneNumber"] = context.phone_number
    return out


class KeptMessages(MessageSource):
    """One call's server messages as the journal keeps them: rendered again on each read from the call's event
    log (the event at an index), instead of a rendered dict per delivery (~300 bytes each, and the artifact's
    two history lists: the largest part of the journal a live call grows).

    Rendered again, a message is equal to the one sent: the log reads back equal events; the history a
    delivered event carries (`[history_base:history_len]`) never changes, as the call only takes back history
    no delivered conversation-update announced (`CallState.flush`, `forget_unannounced`); and what a message
    shares with the call (its `call`, `assistant`, `customer`, `phoneNumber`, which the call may change in
    place or replace later) is kept as the very objects it carried, in a frame shared by the messages that
    carried the same ones."""

    __slots__ = ("_events", "_frame", "_history", "_history_openai", "_profile")

    def __init__(
        self,
        events: Sequence[Event],
        history: list[dict[str, Any]],
        history_openai: list[dict[str, Any]],
        profile: Profile,
    ) -> None:
        self._events, self._history, self._history_openai, self._profile = events, history, history_openai, profile
        self._frame: tuple[Any, ...] | None = None

    def keep(self, index: int, context: CallContext, wire: dict[str, Any]) -> KeptMessage:
        """The journal's form of `wire`, the server message `render_message` made of `self._events[index]`."""
        call, frame = wire["call"], self._frame
        if (
            frame is None or frame[1] is not call or frame[2] is not context.assistant
            or frame[3] is not context.customer or frame[4] is not context.phone_number
            or frame[0] != context.start_ms
        ):
            frame = self._frame = (context.start_ms, call, context.assistant, context.customer, context.phone_number)
        return KeptMessage(self, index, frame)

    def render(self, index: int, frame: tuple[Any, ...]) -> dict[str, Any]:
        event = self._events[index]
        start_ms, call, assistant, customer, phone_number = frame
        message = event.message
        out = message.body(self._profile)
        out["timestamp"] = start_ms + event.at_ms
        if "artifact" not in out and not isinstance(message, AssistantRequest):
            n, base = event.history_len, event.history_base
            artifact = out["artifact"] = {
                "messages": self._history[base:n], "messagesOpenAIFormatted": self._history_openai[base:n],
            }
            if isinstance(message, ConversationUpdate):
                _share_history(out, artifact)
        out["call"] = call
        if assistant is not None and not isinstance(message, AssistantRequest):
            out["assistant"] = assistant
        if customer is not None:
            out["customer"] = customer
        if phone_number is not None:
            out["phoneNumber"] = phone_number
        return out
