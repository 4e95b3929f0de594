"""What a simulated call yields and is sent: its events, its questions to the customer's server
(`Ask`) and their answers (`Reply`, `Waiting`), and what it finds wrong (`SimProblem`, `StepError`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mockvapi.models.messages import Message

if TYPE_CHECKING:
    from mockvapi.engine.context import CallContext

__all__ = ["Abandon", "Ask", "AskKind", "Event", "Reply", "Retract", "SimProblem", "StepError", "Waiting"]

AskKind = Literal[
    "tool-calls", "assistant-request", "transfer-destination-request", "knowledge-base-request",
    "call.endpointing.request", "handoff-destination-request",
]


@dataclass(frozen=True, slots=True)
class Event:
    """One message at one moment of the call."""

    at_ms: int
    message: Message
    history_len: int
    step: int | None
    seq: int
    # Where the history the message carries starts (a squad's handoff may trim it), and the objects it
    # carries (after a handoff: the new member, its subscriptions); None: the call's own context.
    history_base: int = 0
    context: CallContext | None = None
    # The Call's fields that change while it plays (status, startedAt, endedAt, endedReason, cost), as they
    # stand when this message goes out; set when the event is flushed (shared between events, never changed).
    live: Mapping[str, Any] | None = None

    @property
    def at(self) -> float:
        return self.at_ms / 1000

    @property
    def type(self) -> str:
        return self.message.type_name

    def __repr__(self) -> str:
        return f"Event({self.at:.3f}s {self.type} step={self.step})"


@dataclass(frozen=True)
class Ask:
    """The call waits for the customer's server to answer `event` (at most `timeout` seconds)."""

    kind: AskKind
    event: Event
    timeout: float
    hang_after: float | None
    scripted: Reply
    server: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Reply:
    """What the customer's server answered (or failed to)."""

    status: int | None
    body: Any
    latency: float
    error: str | None = None
    scripted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Waiting:
    """Sent instead of a Reply when none has come within the hang threshold; the call sends `hang`
    and asks again."""

    elapsed: float


@dataclass(frozen=True)
class SimProblem:
    """Something the system under test did that Vapi would not accept, or an unmet expectation."""

    kind: str
    detail: str
    at: float
    step: int | None = None

    def __str__(self) -> str:
        where = f" (step #{self.step + 1})" if self.step is not None else ""
        return f"{self.kind} at {self.at:.3f}s{where}: {self.detail}"


@dataclass(frozen=True)
class Retract:
    """Sent back for an event the driver had not delivered yet when a control message arrived before its
    time: the call takes the event back and acts on the control first (live controls act on arrival)."""


class Abandon(Exception):
    """A live control ended the call or took it elsewhere mid-step: the rest of the step never happens."""


class StepError(Exception):
    """A scenario step that cannot be played; `path` is relative to the step."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def floored(reply: Reply, scripted: Reply) -> float:
    """A real reply faster than the scripted one counts as taking the scripted latency: the scenario's
    timing is the floor, so a fast local server does not squeeze the call."""
    return reply.latency if reply.scripted else max(reply.latency, scripted.latency)
