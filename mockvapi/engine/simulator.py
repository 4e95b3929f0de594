"""The call simulator: a scenario plus a seed becomes the ordered messages of one call.

Pure and synchronous. `CallSimulation.run()` is a generator that yields `Event`s in time order and,
where Vapi would wait for the customer's server (tool-calls, assistant-request,
transfer-destination-request), an `Ask`; whoever drives the generator sends back a `Reply`. The
`simulate()` function drives it with the scenario's scripted replies; the player (next layer) drives
it with what a real target answers, so both share one model of the conversation.

`CallSimulation` is the conductor: it plays the scenario's steps in order and hands each to the concern
that owns it. They share one `CallState` (engine/state.py):

    assistant.py      which assistant runs the call (scenario, REST overrides, assistant-request)
    lifecycle.py      how the call starts (statuses, first message) and ends (ended status, report)
    settings.py       the assistant's settings that shape the call, with the spec's defaults and ranges
    endings.py        endings those settings decide (max duration, silence, end-call phrases, messages)
    speech.py         turn timing: tokens, TTS chunks, both parties' speech and history items
    interruptions.py  barge-in: the cut answer, the words kept, the interrupting turn
    tools.py          tool calls, the server's reply as Vapi judges it, expect_reply
    transfer.py       transfers and transfer-destination-request
    handoff.py        squads: handoffs between members, handoff-destination-request
    controls.py       live control messages, on arrival or at step boundaries
    endpointing.py    when the user's turn ends (custom endpointing), the language heard
    knowledge.py      a custom knowledge base asked before each answer
    report.py         artifact, transcript, analysis, cost, end-of-call-report
    context.py        the call's shared objects, subscriptions, servers, template names
    timeline.py       the played call as wire messages (Timeline, render_message)
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, cast

from mockvapi.engine.assistant import ASSISTANT_REQUEST_TIMEOUT, AssistantSource
from mockvapi.engine.context import DEFAULT_START_MS, CallContext, CallOverrides, build_context, server_for
from mockvapi.engine.controls import Controls
from mockvapi.engine.endings import Endings
from mockvapi.engine.endpointing import Endpointing
from mockvapi.engine.events import Abandon, Ask, AskKind, Event, Reply, Retract, SimProblem, StepError, Waiting
from mockvapi.engine.handoff import Handoffs, squad_start
from mockvapi.engine.interruptions import Interruptions
from mockvapi.engine.knowledge import Knowledge
from mockvapi.engine.lifecycle import Lifecycle
from mockvapi.engine.report import Report
from mockvapi.engine.speech import Speech, tokenize
from mockvapi.engine.state import CallState
from mockvapi.engine.timeline import Timeline, render_message
from mockvapi.engine.tools import NO_RESULT, Tools
from mockvapi.engine.transfer import Transfers
from mockvapi.errors import ScenarioError, ScenarioProblem, SourceLocation
from mockvapi.fakes import Fakes
from mockvapi.models.messages import EndOfCallReport, HistoryItem
from mockvapi.scenario.loader import LoadedScenario, load_text
from mockvapi.scenario.schema import (
    AssistantTurn,
    End,
    Handoff,
    Scenario,
    Silence,
    Step,
    Timing,
    ToolStep,
    Transfer,
    UserTurn,
)

__all__ = [
    # this module's own
    "CallSimulation",
    "drive",
    "natural_call_id",
    "simulate",
    "step_error",
    "timeline_of",
    # re-exported from their homes (engine.events, .context, .speech, .tools, .assistant, .timeline)
    "ASSISTANT_REQUEST_TIMEOUT",
    "DEFAULT_START_MS",
    "NO_RESULT",
    "Ask",
    "AskKind",
    "CallContext",
    "CallOverrides",
    "Event",
    "Reply",
    "Retract",
    "SimProblem",
    "StepError",
    "Timeline",
    "Waiting",
    "render_message",
    "tokenize",
]

Steps = Generator[Event | Ask, Reply | Waiting | Retract | None, None]


class CallSimulation:
    """One call, step by step. Iterate `run()`; answer each `Ask` with `generator.send(Reply)`."""

    def __init__(
        self,
        scenario: Scenario | LoadedScenario,
        *,
        seed: int | None = None,
        start_ms: int | None = None,
        call_id: str | None = None,
        lenient_templates: bool = False,
        overrides: CallOverrides | None = None,
        compact_events: bool = True,
    ) -> None:
        """`compact_events`: keep the events delivered compactly (engine.events.EventLog), as a live call
        wants; `simulate()`, which returns them all at once, keeps them as they are."""
        loaded = scenario if isinstance(scenario, LoadedScenario) else None
        plain = squad_start(scenario.scenario if isinstance(scenario, LoadedScenario) else scenario)
        self.overrides = overrides or CallOverrides()
        self.state = state = CallState(
            plain,
            loaded,
            seed=plain.seed if seed is None else seed,
            start_ms=DEFAULT_START_MS if start_ms is None else start_ms,
            lenient_templates=lenient_templates,
            compact_events=compact_events,
        )
        self._speech = Speech(state)
        self._report = Report(state)
        self._interruptions = Interruptions(state, self._speech)
        self._lifecycle = Lifecycle(state, self._speech, self._report, self._interruptions)
        self._assistant = AssistantSource(state, self.overrides, self._lifecycle)
        self._tools = Tools(state)
        self._transfers = Transfers(state, self._speech, self._lifecycle)
        self._controls = Controls(state, self._speech, self._lifecycle, self._transfers)
        self._endings = Endings(state, self._lifecycle)
        self._endpointing = Endpointing(state)
        self._knowledge = Knowledge(state)
        state.arrivals = self._controls  # live controls act on arrival, mid-step
        self._handoffs = Handoffs(
            state, self._speech, self._lifecycle, self.overrides.squad, find_assistant=self.overrides.find_assistant,
            written=scenario.scenario if isinstance(scenario, LoadedScenario) else scenario,
        )
        try:
            setup = build_context(
                plain, state.fakes, state.start_ms, self.overrides, call_id, state.render,
                self._assistant.scenario_assistant,
            )
        except StepError as exc:
            raise step_error(self, exc) from None
        state.context = setup.context
        state.servers.update(setup.servers)
        self.assistant_request = setup.assistant_request
        self.audio_format = setup.audio_format  # the websocket transport's audio format (off the wire)
        self._unjoined: str | None = None

    # -- the call -----------------------------------------------------------------------------

    def run(self) -> Steps:
        """Yield the call's events in order; yield an Ask where a reply is needed and expect a Reply.

        A driver may answer an event with `Retract` when a control arrived before the event's time."""
        try:
            yield from self._run()
        except Abandon:
            self.state.step = None  # a live control ended the call mid-step

    def _run(self) -> Steps:
        state = self.state
        if self._unjoined is not None:
            # A vapi.websocket call nobody joined hears no audio, not even silence: Vapi ends it as a
            # silent call (PROTOCOL.md 1c), before anything is said.
            state.problem("no-client", self._unjoined, 0)
            yield from self._lifecycle.end(0, "silence-timed-out", None)
            return
        if self.assistant_request:
            yield from self._assistant.request()
        if state.ended():
            return  # the assistant-request reply ended the call (error, destination, failure): no script
        yield from self._lifecycle.start()
        yield from self._endings.after(0, spoke=True)
        steps = state.scenario.steps
        # The user's first words, begun over the first message, were played with it: the script goes on after.
        first = 1 if self._lifecycle.took_first_step else 0
        if not state.ended() and not self._endings.ended:
            yield from self._between(steps[first].body if first < len(steps) else None)
        if state.ended():
            return  # a control message or a setting ended the call during the first message
        for index, step in enumerate(steps):
            if self._endings.ended:
                return  # a setting of the assistant ended the call; the rest of the script never happens
            if index < first:
                continue
            state.step = index
            if state.ended_reason is not None:
                raise StepError((), f"the call already ended ({state.ended_reason}); remove the steps after it")
            mark = len(state.history)
            yield from self._play_step(step)
            yield from self._endings.after(mark, spoke=isinstance(step.body, AssistantTurn))
            state.step = None
            if not state.ended():
                yield from self._between(steps[index + 1].body if index + 1 < len(steps) else None)
                if state.ended():
                    return  # a control message ended the call; the rest of the script never happens
        if not state.ended():
            yield from self._lifecycle.end(state.cursor + 500, "customer-ended-call", None)

    def _between(self, following: object) -> Steps:
        """Between steps: queued controls act, and an add-message that asked for an answer gets one (the
        next `assistant:` step stands for it when there is one)."""
        yield from self._controls.handle()
        if not self.state.ended() and self._controls.answer_due() and not isinstance(following, AssistantTurn):
            yield from self._controls.answer()

    def _play_step(self, step: Step) -> Steps:
        body = step.body
        if isinstance(body, UserTurn):
            self._speech.user_turn(body)
            yield from self._endpointing.after_user(body)  # flushes the turn
        elif isinstance(body, AssistantTurn):
            yield from self._assistant_turn(body)
        elif isinstance(body, ToolStep):
            yield from self._tools.step(body)
        elif isinstance(body, Silence):
            yield from self._endings.silence(body)
        elif isinstance(body, Transfer):
            yield from self._transfers.step(body)
        elif isinstance(body, Handoff):
            yield from self._handoffs.step(body)
        elif isinstance(body, End):
            yield from self._endings.end_step(body)

    def _assistant_turn(self, turn: AssistantTurn) -> Steps:
        state = self.state
        if self._knowledge.custom():
            custom = yield from self._knowledge.before_answer(turn)
            if custom is not None:  # the knowledge base's message is spoken instead of the model's answer
                state.cursor = self._speech.speak(custom, state.cursor, streamed=False)
                yield from state.flush()
                return
        text = state.render(turn.say, ("assistant", "say"))
        if turn.interrupted is None:
            state.cursor = self._speech.speak(
                text, state.cursor, streamed=True, delay=turn.delay, hang_after=turn.hang_after
            )
        else:
            state.cursor = self._interruptions.interrupted(text, turn)
            if turn.interrupted.hangup:
                yield from self._lifecycle.end(state.cursor, "customer-ended-call", None)
                return
        yield from state.flush()

    # -- what drivers and transports use --------------------------------------------------------

    def unjoined(self, waited: float) -> None:
        """No client joined this (vapi.websocket) call within `waited` seconds: it ends silence-timed-out."""
        self._unjoined = f"no client joined the {self.context.call.get('type')} within {waited:g}s"

    def control(self, message: Mapping[str, Any], at: float) -> None:
        """Queue an inbound control message: it acts on arrival (end-call, transfer, interrupting say, mute)
        or once the assistant is free (see engine/controls.py)."""
        self._controls.add(message, at)

    def acts_before(self, event: Event) -> bool:
        """Whether a queued control acts before `event` (a driver holding it then sends `Retract`): asked of
        the call as `flush` will see it once the event is given back, so both agree."""
        with self.state.undelivered() as pending:
            return self._controls.due(pending) if pending else self._controls.due([event], quiet=False)

    def knowledge_server(self) -> dict[str, Any] | None:
        """Where knowledge-base-request goes: the knowledge base's server, else the call's."""
        return self._knowledge.server()

    def phone_server(self) -> dict[str, Any] | None:
        """The phone number's full server config (where assistant-request goes)."""
        server = self.state.servers.get("phone")
        return dict(server) if server and server.get("url") else None

    def server_for(self, tool_name: str) -> dict[str, Any] | None:
        """Where a webhook about `tool_name` goes ("" for the call's own messages), secrets included."""
        return server_for(self.state.scenario, self.state.servers, tool_name, self.state.assistant_tools)

    def render(self, value: Any, path: tuple[str | int, ...]) -> Any:
        return self.state.render(value, path)

    def artifact(self) -> dict[str, Any]:
        return self._report.artifact()

    def transcript(self) -> str:
        return self._report.transcript()

    def analysis(self, reason: str) -> dict[str, Any]:
        return self._report.analysis(reason)

    def cost(self) -> float:
        return self._report.cost()

    # -- the call's state, read-only ------------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        return self.state.scenario

    @property
    def loaded(self) -> LoadedScenario | None:
        return self.state.loaded

    @property
    def seed(self) -> int:
        return self.state.seed

    @property
    def fakes(self) -> Fakes:
        return self.state.fakes

    @property
    def start_ms(self) -> int:
        return self.state.start_ms

    @property
    def timing(self) -> Timing:
        return self.state.timing

    @property
    def lenient_templates(self) -> bool:
        return self.state.lenient_templates

    @property
    def context(self) -> CallContext:
        return self.state.context

    @property
    def history(self) -> list[HistoryItem]:
        return self.state.history

    @property
    def rendered(self) -> list[dict[str, Any]]:
        return self.state.rendered

    @property
    def openai(self) -> list[dict[str, Any]]:
        return self.state.openai

    @property
    def events(self) -> Sequence[Event]:
        """Every event delivered so far (kept compactly: engine.events.EventLog)."""
        return self.state.events

    @property
    def problems(self) -> list[SimProblem]:
        return self.state.problems

    def end_of_call_report(self, reason: str) -> EndOfCallReport:
        """The end-of-call-report for a call ending now with `reason` (also for a call that failed)."""
        return self._report.end_of_call_report(reason)

    @property
    def ended_reason(self) -> str | None:
        return self.state.ended_reason

    @property
    def started_ms(self) -> int | None:
        return self.state.started_ms

    @property
    def ended_ms(self) -> int | None:
        return self.state.ended_ms

    @property
    def tool_results(self) -> dict[str, dict[str, Any]]:
        return self.state.tool_results

    @property
    def controls(self) -> list[tuple[int, dict[str, Any]]]:
        """Control messages queued and not yet acted on: (arrival ms, message). One list all call, changed in
        place (the player holds it)."""
        return self._controls.queue

    @property
    def step(self) -> int | None:
        """The index of the scenario step being played (None between steps)."""
        return self.state.step

    def __repr__(self) -> str:
        state = self.state
        where = f"ended={state.ended_reason}" if state.ended_reason else f"at {state.cursor / 1000:.3f}s"
        return f"CallSimulation({state.scenario.name!r}, seed={state.seed}, {len(state.events)} events, {where})"


# ---------------------------------------------------------------------------------------------
# Driving a simulation with its scripted replies


def natural_call_id(scenario: Scenario | LoadedScenario, seed: int | None = None) -> str:
    """The id a call of `scenario` gets with `seed` when it is given none (the first id its fakes draw),
    without building the call."""
    plain = scenario.scenario if isinstance(scenario, LoadedScenario) else scenario
    return Fakes(plain.seed if seed is None else seed).uuid()


def simulate(
    scenario: Scenario | LoadedScenario | str,
    *,
    seed: int | None = None,
    start_ms: int | None = None,
) -> Timeline:
    """Play a scenario with its scripted replies. A scenario that cannot be played raises ScenarioError."""
    loaded = load_text(scenario) if isinstance(scenario, str) else scenario
    return drive(CallSimulation(loaded, seed=seed, start_ms=start_ms, compact_events=False))


def drive(sim: CallSimulation) -> Timeline:
    """Run a simulation answering every Ask with its scripted reply."""
    try:
        generator = sim.run()
        item = next(generator)
        while True:
            item = generator.send(item.scripted if isinstance(item, Ask) else None)
    except StopIteration:
        pass
    except StepError as exc:
        raise step_error(sim, exc) from None
    return timeline_of(sim)


def timeline_of(sim: CallSimulation) -> Timeline:
    return Timeline(
        sim.scenario.name,
        sim.seed,
        sim.context,
        cast("list[Event]", sim.events),  # the compact log, listed on first read (Timeline.events)
        sim.rendered,
        sim.openai,
        sim.ended_reason,
        sim.problems,
        sim.state.history_base,
    )


def step_error(sim: CallSimulation, exc: StepError) -> ScenarioError:
    """A StepError as a ScenarioError pointing at the step's place in the file."""
    step = sim.state.step
    loaded = sim.state.loaded
    if loaded is None:
        where = SourceLocation("<scenario>", 1, 1)
        label = f"#{step + 1}" if step is not None else None
        return ScenarioError([ScenarioProblem(where, exc.message, label)])
    if step is None:
        path: tuple[str | int, ...] = exc.path
        return ScenarioError([loaded.problem(path, exc.message)])
    return ScenarioError([loaded.problem(("steps", step, *exc.path), exc.message, step=step)])
