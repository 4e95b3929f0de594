"""Fault injection at delivery: which deliveries a plan hits and what happens to them.

Pure and synchronous, like the simulator. A `ChannelFaults` sits in front of one channel (the call's
webhooks, or one client stream) and turns each message offered to it into `Send`s: the message itself
(perhaps marked, held, delayed or not sent), copies, and messages it had held back. The player performs
them; sinks read each one's `Tamper` (the journal marker, a wrong secret, retries, a websocket close).

The simulator's timeline is untouched: faults change only what was delivered, never what Vapi meant
to send. Everything is decided from the event stream, so the same seed and plan give the same output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from mockvapi.engine.events import Event
from mockvapi.models.messages import ModelOutput, UserInterrupted
from mockvapi.scenario.faults import (
    Api,
    CloseWebsocket,
    Delay,
    Duplicate,
    Fault,
    FaultChannel,
    FaultPlan,
    Retry5xx,
    WrongSecret,
    resolve_step,
)
from mockvapi.scenario.schema import Scenario

__all__ = ["ApiFaults", "ApiHit", "ChannelFaults", "Rule", "Send", "Tamper", "rules_for"]

P = TypeVar("P")


@dataclass(frozen=True)
class Tamper:
    """What faults do to one delivery. `injected` is the journal marker (None: nothing visible yet)."""

    injected: str | None = None
    send: bool = True  # False: recorded in the journal as not sent (drop, close)
    at: float | None = None  # the call offset it actually goes out at, when not its own
    secret: str | None = None  # X-Vapi-Secret value sent instead of the configured one
    retries: int = 0  # re-sends after a 5xx answer
    retry_delay: float = 0.0
    close: bool = False  # close the websocket instead of sending
    close_code: int | None = None  # None: drop the connection without a close frame

    def but(self, marker: str | None = None, **changes: object) -> Tamper:
        """This tamper with `marker` added to the journal marker and `changes` applied."""
        injected = ", ".join(m for m in (self.injected, marker) if m) or None
        return replace(self, injected=injected, **changes)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"Tamper({self.injected!r}{'' if self.send else ', not sent'})"


@dataclass(frozen=True)
class Send(Generic[P]):
    """One delivery to perform now (after `delay` call seconds, if any)."""

    payload: P
    event: Event
    tamper: Tamper | None = None
    delay: float = 0.0
    primary: bool = False  # the offered message itself (its reply is the one the call waits for)


@dataclass
class Rule:
    """One fault as it applies to one call: its step resolved to an index (-1: no such step)."""

    fault: Fault
    step: int | None
    origin: str  # "scenario", "step #2", "server"

    @property
    def kind(self) -> str:
        return self.fault.kind

    def __repr__(self) -> str:
        return f"Rule({self.fault.compact()!r} from {self.origin})"


def rules_for(scenario: Scenario, plan: FaultPlan | None = None) -> list[Rule]:
    """Every fault that applies to a call of `scenario`: the scenario's, its steps', then `plan`'s."""
    rules = [Rule(f, resolve_step(f.body.step, scenario.steps), "scenario") for f in scenario.faults]
    for index, step in enumerate(scenario.steps):
        rules += [Rule(f, index, f"step #{index + 1}") for f in step.faults]
    if plan is not None:
        # `api` faults are the REST API's (ApiFaults), not a call's.
        rules += [Rule(f, resolve_step(f.body.step, scenario.steps), "server") for f in plan.faults if f.kind != "api"]
    return rules


# The message type each kind is triggered by when it has no `type` of its own.
_TRIGGER = {"stale-token": "user-interrupted", "update-after-hang": "hang"}
# `api` faults are on no call's channel: the REST API applies them (ApiFaults).
_CHANNEL_ONLY = {"close-websocket": "websocket", "wrong-secret": "webhook", "retry-5xx": "webhook", "api": "api"}


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


@dataclass
class _Held(Generic[P]):
    send: Send[P]
    marker: str | None


@dataclass
class ChannelFaults(Generic[P]):
    """The faults of one call on one channel ("webhook" or "websocket")."""

    rules: Sequence[Rule]
    channel: FaultChannel
    now: Callable[[], float] = lambda: 0.0  # the call offset, for messages released late
    closed: bool = False
    _counts: list[int] = field(default_factory=list)
    _reordered: list[_Held[P]] = field(default_factory=list)
    _update: _Held[P] | None = None
    _tokens: dict[str, Send[P]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rules = [r for r in self.rules if self._on_channel(r)]
        self._counts = [0] * len(self.rules)

    def _on_channel(self, rule: Rule) -> bool:
        only = _CHANNEL_ONLY.get(rule.kind)
        chosen = getattr(rule.fault.body, "channel", None)
        return (only or chosen or self.channel) == self.channel

    def __bool__(self) -> bool:
        return bool(self.rules)

    # -- selection --------------------------------------------------------------------------------

    def _hits(self, event: Event) -> list[Rule]:
        """The rules `event` triggers; counting matches per rule, as `nth` counts them."""
        hit = []
        for index, rule in enumerate(self.rules):
            body = rule.fault.body
            wanted = _TRIGGER.get(rule.kind) or getattr(body, "type", None)
            if wanted is not None and event.type != wanted:
                continue
            if rule.step is not None and event.step != rule.step:
                continue
            if body.at is not None and event.at < body.at:
                continue
            self._counts[index] += 1
            if body.hits_every or self._counts[index] == body.which:
                hit.append(rule)
        return hit

    def _live(self, kind: str) -> bool:
        """Whether a rule of `kind` can still hit something."""
        return any(
            r.kind == kind and (r.fault.body.hits_every or self._counts[i] < r.fault.body.which)
            for i, r in enumerate(self.rules)
        )

    # -- the stream -------------------------------------------------------------------------------

    def offer(self, event: Event, payload: P) -> list[Send[P]]:
        """`payload` (the message `event` as this channel gets it) is due now: what to send, in order."""
        if self.closed:
            return []  # the websocket is gone: nothing more reaches this peer
        before: list[Send[P]] = []
        after: list[Send[P]] = []
        if self._update is not None and event.type != "hang":
            before.append(self._release_update(None))
        hits = self._hits(event)
        kinds = {r.kind for r in hits}
        tamper = Tamper()
        main: Send[P] = Send(payload, event, primary=True)
        for rule in hits:
            body = rule.fault.body
            if isinstance(body, WrongSecret):
                tamper = tamper.but("wrong-secret", secret=body.value)
            elif isinstance(body, Retry5xx):
                tamper = tamper.but(None, retries=body.times, retry_delay=body.delay)
            elif isinstance(body, CloseWebsocket):
                self.closed = True
                marker = "close" if body.code is None else f"close {body.code}"
                closing = Tamper(marker, send=False, at=event.at, close=True, close_code=body.code)
                return [*before, replace(main, tamper=closing)]
        if "drop" in kinds:
            tamper = tamper.but("drop", send=False)
        elif "delay" in kinds:
            by = max(r.fault.body.by for r in hits if isinstance(r.fault.body, Delay))
            tamper = tamper.but(f"delay {_duration(by)}", at=event.at + by)
            main = replace(main, delay=by)
        main = replace(main, tamper=tamper if tamper != Tamper() else None)
        # A message held for reorder goes out right after the next one.
        released = [self._release(held) for held in self._reordered]
        self._reordered = []
        now: list[Send[P]] = []
        if "reorder" in kinds and tamper.send and not main.delay:
            self._reordered.append(_Held(main, "reorder"))
        elif event.type == "conversation-update" and tamper.send and not main.delay and self._live(
            "update-after-hang"
        ):
            # Held until the next event shows whether a hang comes first (see `upcoming`).
            self._update = _Held(main, None)
        else:
            now.append(main)
        if event.type == "hang" and self._update is not None:
            if "update-after-hang" in kinds:
                after.append(self._release_update("update-after-hang"))
            else:
                before.append(self._release_update(None))
        if now and tamper.send and not main.delay:
            for rule in hits:
                if isinstance(rule.fault.body, Duplicate):
                    copies = rule.fault.body.copies
                    for n in range(1, copies + 1):
                        marker = "duplicate" if copies == 1 else f"duplicate {n}/{copies}"
                        after.append(Send(payload, event, Tamper(marker)))
        if "stale-token" in kinds and isinstance(event.message, UserInterrupted):
            token = self._tokens.get(event.message.turn_id or "")
            if token is not None:
                after.append(Send(token.payload, token.event, Tamper("stale-token", at=event.at)))
        if isinstance(event.message, ModelOutput) and event.message.token is not None and tamper.send:
            self._tokens[event.message.turn_id] = main
        return [*before, *now, *released, *after]

    def upcoming(self, event: Event) -> list[Send[P]]:
        """The call's next event is `event` (not yet due): a held conversation-update goes now unless a
        hang comes first."""
        if self._update is not None and event.type != "hang":
            return [self._release_update(None)]
        return []

    def waiting(self, seq: int) -> list[Send[P]]:
        """The call now waits for the reply to event `seq`: a held request cannot wait for a follower
        that only comes after its reply, so it goes now (not reordered)."""
        out = []
        for held in list(self._reordered):
            if held.send.event.seq == seq:
                self._reordered.remove(held)
                out.append(self._release(_Held(held.send, None)))
        return out

    def finish(self) -> list[Send[P]]:
        """The call is over: whatever is still held goes out (nothing followed it, so it is not marked)."""
        out = [self._release(_Held(held.send, None)) for held in self._reordered]
        self._reordered = []
        if self._update is not None:
            out.append(self._release_update(None))
        return out

    def _release(self, held: _Held[P]) -> Send[P]:
        return replace(held.send, tamper=(held.send.tamper or Tamper()).but(held.marker, at=self.now()))

    def _release_update(self, marker: str | None) -> Send[P]:
        assert self._update is not None
        held, self._update = self._update, None
        return self._release(_Held(held.send, marker))

    def __repr__(self) -> str:
        return f"ChannelFaults({self.channel}, {len(self.rules)} rules{', closed' if self.closed else ''})"


@dataclass(frozen=True)
class ApiHit:
    """What an `api` fault does to one REST request, and the journal's marker for it."""

    fault: Api
    count: int  # the request's number among those the fault selects by route (from 1)

    @property
    def marker(self) -> str:
        f = self.fault
        if f.status is not None:
            what = f"status {f.status}"
        else:
            what = "drop" if f.drop else f"delay {_duration(f.delay or 0.0)}"
        return f"api {what} ({f.method} {f.path} #{self.count})"


class ApiFaults:
    """The `api` faults of a plan, for the REST API: which requests they hit. Requests are counted per fault
    (every fault whose route matches counts the request); the first fault that hits it decides."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.rules: list[Api] = [f.body for f in plan.faults if isinstance(f.body, Api)]
        self._counts = [0] * len(self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def hit(self, method: str, route: str, path: str) -> ApiHit | None:
        """The fault for this request (`route`: its path as the route table spells it), or None."""
        found: ApiHit | None = None
        for index, rule in enumerate(self.rules):
            if not rule.matches(method, route, path):
                continue
            self._counts[index] += 1
            if found is None and rule.hits(self._counts[index]):
                found = ApiHit(rule, self._counts[index])
        return found

    def __repr__(self) -> str:
        return f"ApiFaults({[f'{r.method} {r.path}' for r in self.rules]})"
