"""The shared state of one call and the few moves every concern makes on it: emit a message at a time,
commit a history item (with its conversation-update), flush what is due in time order, draw jitter,
render a template, record a problem.

Each concern of the call (speech, interruptions, tools, transfer, controls, the lifecycle, the report)
holds a reference to one `CallState`; `CallSimulation` (engine/simulator.py) sequences them.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from mockvapi.engine.context import CallContext, iso, template_context
from mockvapi.engine.events import Ask, Event, EventLog, Retract, SimProblem, StepError
from mockvapi.engine.settings import CallSettings
from mockvapi.fakes import Fakes
from mockvapi.models.messages import (
    ConversationUpdate,
    EndOfCallReport,
    HistoryItem,
    HistoryPrefix,
    Message,
    ModelToken,
    SpeechUpdate,
    StatusUpdate,
    openai_format,
)
from mockvapi.scenario import templating
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.scenario.schema import Scenario

__all__ = ["Arrivals", "CallState", "Flush", "Utterance"]

Flush = Generator[Event | Ask, Any, None]


@dataclass
class Utterance:
    """One assistant utterance as planned: its speech turn, model turnId and spoken segments (text, start ms,
    end ms). Live controls that arrive mid-utterance cut it by these times."""

    turn: int
    turn_id: str | None
    text: str
    source: str
    segments: list[tuple[str, float, float]] = field(default_factory=list)
    stopped: bool = False  # cut off by a live control
    words_started: int = 0  # words in the segments whose speech started (a running count: a turn may be long)
    # When its speech-update started is planned, once it is: an utterance the call's end cuts before its first
    # word has one but no segment (see `Controls._answer_planned`).
    started_at: float | None = None

    @property
    def start(self) -> float:
        return self.segments[0][1] if self.segments else 0.0

    @property
    def end(self) -> float:
        return self.segments[-1][2] if self.segments else 0.0

    def spoken_by(self, at_ms: float) -> str:
        """The words said before `at_ms`: whole segments, then the share of the current one."""
        words: list[str] = []
        for text, start, end in self.segments:
            if end <= at_ms:
                words.extend(text.split())
            elif start < at_ms:
                part = text.split()
                words.extend(part[: int(len(part) * (at_ms - start) / max(end - start, 1.0))])
        return " ".join(words)


class Arrivals(Protocol):
    """Live control messages that act when they arrive (engine/controls.py)."""

    def due(self, pending: list[Event]) -> bool:
        """Whether a control that acts on arrival came before the first of `pending` (the events not yet
        delivered, in order)."""
        ...

    def act(self, pending: list[Event]) -> Generator[Event | Ask, Any, list[Event]]:
        """Act on the first such control; `pending` are the events not yet delivered. Returns the ones that
        still happen (it may also emit new ones, or raise Abandon)."""
        ...

    def ends_waiting(self) -> bool:
        """Whether a queued control ends the call now, while it waits for the customer's server."""
        ...

    def end_waiting(self) -> Generator[Event | Ask, Any, None]:
        """The call's end on that control: a driver plays these events instead of the rest of the step."""
        ...


class CallState:
    """Everything one call has said and decided so far, and where it stands."""

    # Slots: with more than 30 attributes an instance dict no longer shares its keys with the class's
    # other instances, and a call's own dict took ~1.6 kB of its live memory (~0.4 kB as slots).
    __slots__ = (
        "scenario", "loaded", "seed", "fakes", "template_budget", "start_ms", "timing", "lenient_templates",
        "history", "rendered", "openai", "events", "problems", "ended_reason", "started_ms", "ended_ms",
        "tool_results", "destination", "servers", "assistant_tools", "_cursor", "busy_until", "taking_over_until",
        "turn", "step", "utterances", "muted", "_arrivals", "settings", "deadline", "overran", "_context", "_batch",
        "_seq", "_last_ms", "_announced", "_announce_floor", "_held", "_live", "_heard", "history_base", "activations",
        "rest_squad",
    )

    def __init__(
        self,
        scenario: Scenario,
        loaded: LoadedScenario | None,
        *,
        seed: int,
        start_ms: int,
        lenient_templates: bool,
        compact_events: bool = True,
    ) -> None:
        self.scenario = scenario
        self.loaded = loaded
        self.seed = seed
        self.fakes = Fakes(seed)
        # What all the templates of this call may still produce together (MOCKVAPI_SCENARIO_MAX_BYTES).
        self.template_budget = templating.Budget()
        self.start_ms = start_ms
        self.timing = scenario.timing
        self.lenient_templates = lenient_templates
        self.history: list[HistoryItem] = []
        self.rendered: list[dict[str, Any]] = []  # history as wire dicts
        self.openai: list[dict[str, Any]] = []  # history in OpenAI's format
        # Every event delivered, for the timeline and the live controls: compact for a live call (see EventLog).
        self.events: EventLog | list[Event] = EventLog() if compact_events else []
        self.problems: list[SimProblem] = []
        self.ended_reason: str | None = None
        self.started_ms: int | None = None
        self.ended_ms: int | None = None
        self.tool_results: dict[str, dict[str, Any]] = {}
        self.destination: dict[str, Any] | None = None  # where the call was forwarded, if it was
        # Full server configs (with secrets) for delivery; messages carry redacted copies.
        self.servers: dict[str, dict[str, Any] | None] = {}
        # The tools of an assistant the server returned (assistant-request), by name, secrets included;
        # None while the scenario's assistant (and its tools) runs the call.
        self.assistant_tools: dict[str, dict[str, Any]] | None = None
        self._cursor = 0  # ms: where the next step starts
        self.busy_until = 0  # ms: what a live control said ends here; no step starts before it
        # ms: a squad member's takeover is announced whole (assistant.started, its history): a live control
        # arriving before then acts once it is (engine/handoff.py, engine/controls.py `due`).
        self.taking_over_until = -1
        self.turn = 0  # the next assistant speech turn
        self.step: int | None = None  # the scenario step being played
        self.utterances: list[Utterance] = []  # the assistant's utterances as planned, in order
        self.muted = False  # mute-assistant: tokens stream, nothing is spoken
        self._arrivals: weakref.ref[Arrivals] | None = None
        self.settings = CallSettings()  # the assistant's settings, read when the call starts
        # ms: when maxDurationSeconds runs out. Nothing later is emitted (the call ends there); `overran`
        # says something was held back, so the call must end at the deadline.
        self.deadline: int | None = None
        self.overran = False
        self._context: CallContext | None = None
        self._batch: list[Event] = []
        self._seq = 0
        self._last_ms = 0
        self._announced = 0  # history items announced by the conversation-updates flushed so far
        self._announce_floor = 0  # ms of the last conversation-update planned: the next comes no earlier
        self._heard: int | None = None  # the turn of the assistant's last speech-update delivered
        # While a driver holds the event `flush` yields: (last ms, announced, message.call) from before it,
        # and the events still to deliver (that one, as planned, first).
        self._held: tuple[int, int, dict[str, Any] | None, Event, list[Event]] | None = None
        # What message.call says of the call's progress so far (see `_advance`).
        self._live: dict[str, Any] | None = None
        # Where the history the call's messages carry starts: a squad member's contextEngineeringPlan
        # trims what the next member sees; the lists above keep everything, so earlier messages stay.
        self.history_base = 0
        # Squad members that were active, in order, with when they took over (ms from call start).
        self.activations: list[tuple[str, int]] = []
        # A squad given by the REST API or an assistant-request reply: its members, by name, over the
        # scenario's members (engine/handoff.py).
        self.rest_squad: Mapping[str, Any] | None = None

    @property
    def arrivals(self) -> Arrivals | None:
        """Live controls that act on arrival (set by the simulator, which owns them). Held weakly: they
        hold this state, and a cycle would keep a whole ended call (its history, a large tool result) alive
        until the next full collection."""
        return None if self._arrivals is None else self._arrivals()

    @arrivals.setter
    def arrivals(self, arrivals: Arrivals | None) -> None:
        self._arrivals = None if arrivals is None else weakref.ref(arrivals)

    @property
    def cursor(self) -> int:
        # A live control that spoke after the cursor was set (mid-step) holds back what comes next too.
        return max(self._cursor, self.busy_until)

    @cursor.setter
    def cursor(self, value: int) -> None:
        # A live control may have spoken mid-step; what the step planned cannot start before it ended.
        self._cursor = max(value, self.busy_until)

    @property
    def context(self) -> CallContext:
        assert self._context is not None, "the call's context is not built yet"
        return self._context

    @context.setter
    def context(self, context: CallContext) -> None:
        self._context = context

    @property
    def last_ms(self) -> int:
        """The time of the last flushed event: nothing later flushed may come before it."""
        return self._last_ms

    def catch_up(self, at_ms: int) -> None:
        """Time has passed while the call waited (for a reply): what follows comes no earlier. A wait past
        the max-duration deadline ends at it (the call ends then, whatever the reply)."""
        if self.deadline is not None:
            at_ms = min(at_ms, self.deadline)
        self._last_ms = max(self._last_ms, at_ms)

    def ended(self) -> bool:
        # A method, not an attribute test: mypy narrows `ended_reason` and cannot see a generator change it.
        return self.ended_reason is not None

    # -- emitting ---------------------------------------------------------------------------

    def past_deadline(self, at_ms: float) -> bool:
        """Whether `at_ms` comes after the max-duration deadline (which then ends the call)."""
        if self.deadline is not None and round(at_ms) > self.deadline:
            self.overran = True
        return self.overran

    def emit(self, at_ms: float, message: Message, history_len: int | None = None) -> Event:
        """Plan `message` at `at_ms`. Its artifact carries the history announced when it goes out, at most
        `history_len` items (default: the history so far)."""
        at = int(round(at_ms))
        event = Event(at, message, len(self.history) if history_len is None else history_len,
                      self.step, self._seq, self.history_base, self._context)
        if self.deadline is not None and at > self.deadline:
            self.overran = True
            return event  # never sent: the call has ended by then
        self._seq += 1
        self._batch.append(event)
        return event

    def flush(self) -> Flush:
        """Yield what is due in time order. A live control that arrives before the next event acts first
        (`arrivals`); a driver that sends `Retract` for the event just yielded gives it back undelivered."""
        pending = sorted(self._batch, key=_order)
        self._batch = []
        self._forget_utterances()
        # The driver waits for each event's time: the random streams' state can go. Nothing draws between
        # two events of one flush but a live control acting (below), so once here and after each act
        # instead of per event (a call's every event paid for the check).
        self.fakes.park()
        while pending:
            ref = self._arrivals  # `self.arrivals`, inline: asked once per event
            arrivals = None if ref is None else ref()
            if arrivals is not None and arrivals.due(pending):
                kept = yield from arrivals.act(pending)
                self.fakes.park()
                pending = sorted([*kept, *self._batch], key=_order)
                self._batch = []
                continue
            original = pending.pop(0)
            event = original
            message = event.message
            last_ms, announced, live = self._last_ms, self._announced, self._live
            # A model token (most of a call's events) neither announces history nor moves the call on; it is
            # told apart by its exact type: `isinstance` of a token asks its Python-level `__class__`.
            token = type(message) is ModelToken
            if not token and isinstance(message, ConversationUpdate):
                self._announced = event.history_base + len(message.messages)
            # An event timed before a conversation-update that was emitted earlier in code (the
            # interrupting user starts speaking before the cut turn is committed) must not carry that
            # history in its artifact yet.
            history_len = min(event.history_len, self._announced)
            at_ms = max(event.at_ms, last_ms)
            if not token or live is None:
                self._advance(message, at_ms)
            event = Event(at_ms, message, history_len, event.step, event.seq, event.history_base, event.context,
                          self._live)
            self._last_ms = event.at_ms
            self.events.append(event)
            self._held = (last_ms, announced, live, original, pending)  # no copy: read only while held
            answer = yield event
            self._held = None
            if isinstance(answer, Retract):
                self.events.pop()
                self._last_ms, self._announced, self._live = last_ms, announced, live
                pending.insert(0, original)
            elif not token and type(message) is SpeechUpdate and message.role == "assistant":
                self._heard = message.turn  # delivered (not taken back): see `_forget_utterances`

    def _forget_utterances(self) -> None:
        """Let go of the utterances no live control can ask for any more (a long call says hundreds).

        Controls ask for the last one, for the one being said at a time no earlier than the last event
        delivered (`Controls.speaking` looks back for the latest begun by then), and for the one whose
        speech-update was delivered last (`Controls._open_utterance`, by turn: the assistant's turns are
        delivered in increasing order, tests/engine/invariants.py). An utterance before the latest begun by
        now, of a turn before the last one delivered (`_heard`), is none of these. Called between deliveries."""
        utterances = self.utterances
        if len(utterances) < 2 or self._heard is None:
            return
        for begun in range(len(utterances) - 1, 0, -1):
            segments = utterances[begun].segments
            if segments and segments[0][1] <= self._last_ms:
                break
        else:
            return  # none but the first has begun
        drop = 0
        while drop < begun and utterances[drop].turn < self._heard:
            drop += 1
        del utterances[:drop]

    @contextmanager
    def undelivered(self) -> Iterator[list[Event]]:
        """The call as it stands with the event `flush` is yielding given back, and the events still to
        deliver (that one first; empty when no event is held): a driver that holds the event until its time
        (and may send `Retract`) sees what `flush` will see."""
        if self._held is None:
            yield []
            return
        held = self.events.pop()
        now = self._last_ms, self._announced, self._live
        self._last_ms, self._announced, self._live, original, pending = self._held
        try:
            yield [original, *pending]
        finally:
            self.events.append(held)
            self._last_ms, self._announced, self._live = now

    def unflushed(self) -> list[Event]:
        """Take the events emitted and not yet flushed (in time order): a control that ends the call while
        it waits for a reply plans again from them."""
        pending = sorted(self._batch, key=_order)
        self._batch = []
        return pending

    @property
    def announced(self) -> int:
        """History items announced by the conversation-updates delivered so far."""
        return self._announced

    def forget_unannounced(self) -> list[HistoryItem]:
        """Take back the history items no delivered conversation-update announced (a control cut them off);
        returns them, oldest first."""
        n = self._announced
        taken = self.history[n:]
        del self.history[n:], self.rendered[n:], self.openai[n:]
        self._announce_floor = self._last_ms  # their announcements are planned again
        return taken

    def _advance(self, message: Message, at_ms: int) -> None:
        """The Call as Vapi holds it when `message` goes out: its status, `startedAt` once in progress,
        `endedAt` and `endedReason` once ended, and `cost` on the end-of-call-report."""
        if self._live is None:
            # Before its first status-update a call is queued (POST /call answers so), or ringing when it
            # is an inbound call (its assistant-request goes out while the phone rings).
            inbound = self.context.call.get("type") == "inboundPhoneCall"
            self._live = {"status": "ringing" if inbound else "queued"}
        if isinstance(message, StatusUpdate):
            live = {**self._live, "status": message.status}
            if message.status == "in-progress":
                live["startedAt"] = iso(self.start_ms + at_ms)
            elif message.status == "ended":
                live["endedAt"] = iso(self.start_ms + at_ms)
                if message.ended_reason is not None:
                    live["endedReason"] = message.ended_reason
            self._live = live
        elif isinstance(message, EndOfCallReport) and message.cost is not None:
            self._live = {**self._live, "cost": message.cost}

    def remember(self, item: HistoryItem, at_ms: float) -> Event | None:
        """Append to history and announce it with a conversation-update, no earlier than the one before it
        (each announces a longer history: a later item said inside an earlier one, as a `say` while the
        customer talks over the assistant, waits for that one's announcement)."""
        at_ms = max(at_ms, self._announce_floor)
        if self.deadline is not None and round(at_ms) > self.deadline:
            # Said before the deadline: announced at it. Said (or ending) after it: never said.
            end = getattr(item, "end_time", None) or item.time
            if end - self.start_ms > self.deadline:
                self.overran = True
                return None
            at_ms = self.deadline
        self.history.append(item)
        self.rendered.append(item.wire())
        self.openai.append(openai_format(item))
        return self.announce(at_ms)

    def announce(self, at_ms: float) -> Event:
        """A conversation-update with the history as it stands (from `history_base`), no earlier than the
        one planned before it."""
        at_ms = max(at_ms, self._announce_floor)
        self._announce_floor = int(round(at_ms))
        base = self.history_base
        return self.emit(
            at_ms,
            # Constructed, not validated: validation would copy every history item for every update, and
            # the items are shared on purpose (they never change; the wire encoder reuses their text).
            ConversationUpdate.model_construct(
                # A prefix of the one shared list (no copy); after a squad's handoff trimmed the history, the
                # part from `base` (a copy, but only for calls whose handoffs trim).
                messages=HistoryPrefix(self.rendered) if base == 0 else tuple(self.rendered[base:]),
                messages_openai_formatted=HistoryPrefix(self.openai) if base == 0 else tuple(self.openai[base:]),
            ),
        )

    # -- helpers ----------------------------------------------------------------------------

    def jitter_ms(self, seconds: float) -> float:
        """Seconds -> jittered milliseconds."""
        return self.fakes.jitter(seconds, self.timing.jitter) * 1000

    def epoch_ms(self, at_ms: float) -> int:
        """An offset from call start as epoch milliseconds."""
        return self.start_ms + int(round(at_ms))

    @staticmethod
    def seconds(at_ms: float) -> float:
        """An offset from call start as the seconds Vapi's history items carry."""
        return round(at_ms) / 1000

    def render(self, value: Any, path: tuple[str | int, ...]) -> Any:
        on_error = self._template_problem if self.lenient_templates else None
        names = template_context(self.fakes, self.start_ms, self.scenario.assistant.name, self._context,
                                 self.tool_results)
        try:
            return templating.render_value(value, names, on_error, budget=self.template_budget)
        except templating.TemplateError as exc:
            raise StepError(path, str(exc)) from None

    def _template_problem(self, exc: templating.TemplateError) -> str:
        # A real reply lacked what the scenario refers to: the assistant says it without that part.
        self.problem("template", f"{exc}; rendered as empty text", self.cursor)
        return ""

    def problem(self, kind: str, detail: str, at_ms: float) -> None:
        self.problems.append(SimProblem(kind, detail, round(at_ms) / 1000, self.step))

    def __repr__(self) -> str:
        where = f"ended={self.ended_reason}" if self.ended_reason else f"at {self.cursor / 1000:.3f}s"
        return f"CallState({self.scenario.name!r}, seed={self.seed}, {len(self.history)} history items, {where})"


def _order(event: Event) -> tuple[int, int]:
    return (event.at_ms, event.seq)
