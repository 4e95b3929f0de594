"""The shared state of one call and the few moves every concern makes on it: emit a message at a time,
commit a history item (with its conversation-update), flush what is due in time order, draw jitter,
render a template, record a problem.

Each concern of the call (speech, interruptions, tools, transfer, controls, the lifecycle, the report)
holds a reference to one `CallState`; `CallSimulation` (engine/simulator.py) sequences them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mockvapi.engine.context import CallContext, template_context
from mockvapi.engine.events import Event, SimProblem, StepError
from mockvapi.fakes import Fakes
from mockvapi.models.messages import ConversationUpdate, HistoryItem, Message, openai_format
from mockvapi.scenario import templating
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.scenario.schema import Scenario

__all__ = ["CallState"]


class CallState:
    """Everything one call has said and decided so far, and where it stands."""

    def __init__(
        self,
        scenario: Scenario,
        loaded: LoadedScenario | None,
        *,
        seed: int,
        start_ms: int,
        lenient_templates: bool,
    ) -> None:
        self.scenario = scenario
        self.loaded = loaded
        self.seed = seed
        self.fakes = Fakes(seed)
        self.start_ms = start_ms
        self.timing = scenario.timing
        self.lenient_templates = lenient_templates
        self.history: list[HistoryItem] = []
        self.rendered: list[dict[str, Any]] = []  # history as wire dicts
        self.openai: list[dict[str, Any]] = []  # history in OpenAI's format
        self.events: list[Event] = []
        self.problems: list[SimProblem] = []
        self.ended_reason: str | None = None
        self.started_ms: int | None = None
        self.ended_ms: int | None = None
        self.tool_results: dict[str, dict[str, Any]] = {}
        # Full server configs (with secrets) for delivery; messages carry redacted copies.
        self.servers: dict[str, dict[str, Any] | None] = {}
        self.cursor = 0  # ms: where the next step starts
        self.turn = 0  # the next assistant speech turn
        self.step: int | None = None  # the scenario step being played
        self._context: CallContext | None = None
        self._batch: list[Event] = []
        self._seq = 0
        self._last_ms = 0
        self._announced = 0  # history items announced by the conversation-updates flushed so far
        # Where the history the call's messages carry starts: a squad member's contextEngineeringPlan
        # trims what the next member sees; the lists above keep everything, so earlier messages stay.
        self.history_base = 0
        # Squad members that were active, in order, with when they took over (ms from call start).
        self.activations: list[tuple[str, int]] = []
        # A squad given by the REST API or an assistant-request reply: its members, by name, over the
        # scenario's members (engine/handoff.py).
        self.rest_squad: Mapping[str, Any] | None = None

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
        """Time has passed while the call waited (for a reply): what follows comes no earlier."""
        self._last_ms = max(self._last_ms, at_ms)

    def ended(self) -> bool:
        # A method, not an attribute test: mypy narrows `ended_reason` and cannot see a generator change it.
        return self.ended_reason is not None

    # -- emitting ---------------------------------------------------------------------------

    def emit(self, at_ms: float, message: Message) -> Event:
        event = Event(int(round(at_ms)), message, len(self.history), self.step, self._seq, self.history_base,
                      self._context)
        self._seq += 1
        self._batch.append(event)
        return event

    def flush(self) -> Iterator[Event]:
        batch = sorted(self._batch, key=lambda e: (e.at_ms, e.seq))
        self._batch = []
        for event in batch:
            if isinstance(event.message, ConversationUpdate):
                self._announced = event.history_base + len(event.message.messages)
            # An event timed before a conversation-update that was emitted earlier in code (the
            # interrupting user starts speaking before the cut turn is committed) must not carry that
            # history in its artifact yet.
            history_len = min(event.history_len, self._announced)
            if event.at_ms < self._last_ms or history_len != event.history_len:
                event = Event(max(event.at_ms, self._last_ms), event.message, history_len, event.step, event.seq,
                              event.history_base, event.context)
            self._last_ms = event.at_ms
            self.events.append(event)
            yield event

    def remember(self, item: HistoryItem, at_ms: float) -> Event:
        """Append to history and announce it with a conversation-update."""
        self.history.append(item)
        self.rendered.append(item.wire())
        self.openai.append(openai_format(item))
        return self.announce(at_ms)

    def announce(self, at_ms: float) -> Event:
        """A conversation-update with the history as it stands (from `history_base`)."""
        base = self.history_base
        return self.emit(
            at_ms,
            # Constructed, not validated: validation would copy every history item for every update, and
            # the items are shared on purpose (they never change; the wire encoder reuses their text).
            ConversationUpdate.model_construct(
                messages=tuple(self.rendered[base:]), messages_openai_formatted=tuple(self.openai[base:])
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
            return templating.render_value(value, names, on_error)
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
