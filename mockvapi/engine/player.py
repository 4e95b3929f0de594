"""The player: one call from a scenario, played on a clock into the call's transports.

The player drives a `CallSimulation` step by step. Each message is handed, at its offset, to the
server sink (webhooks) and to every client sink (websocket, in-process streams). Where Vapi waits
for the customer's server (tool-calls, assistant-request, transfer-destination-request) the player
waits for the real reply and feeds it back, so what the system under test answers changes the call.

Replies faster than a step's scripted latency count as taking exactly that latency: a fast in-process
handler then gives byte-for-byte the simulator's output, and only genuinely slow replies move the
timeline. With no interaction at all, the player's output equals `simulate()`'s for the same seed.

The engine knows transports only through the `ServerSink` and `ClientSink` protocols below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

from mockvapi.engine.clock import Clock, VirtualClock
from mockvapi.engine.context import CallOverrides
from mockvapi.engine.events import Ask, Event, Reply, Retract, StepError, Waiting
from mockvapi.engine.expectations import at_step
from mockvapi.engine.faults import ChannelFaults, Send, Tamper, rules_for
from mockvapi.engine.flag import Flag
from mockvapi.engine.journal import Journal, KeptMessage, Problem
from mockvapi.engine.routing import ASKING, route
from mockvapi.engine.simulator import CallSimulation, step_error, timeline_of
from mockvapi.engine.timeline import KeptMessages, Timeline, render_message
from mockvapi.models.messages import Profile, SpeechUpdate, StatusUpdate
from mockvapi.scenario.faults import FaultPlan
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.scenario.schema import Scenario

log = logging.getLogger("mockvapi.calls")

#: How a call the mock could not play to its end ends (the spec's endedReason values): before it was in
#: progress, as a call whose resources failed validation; after, as one whose worker died.
FAILED_BEFORE_START = "call.start.error-get-resources-validation"
FAILED_IN_PROGRESS = "call.in-progress.error-vapifault-worker-died"


@dataclass(frozen=True)
class Outgoing:
    """One server message on its way to a webhook."""

    call_id: str
    event: Event
    wire: dict[str, Any]
    server: Mapping[str, Any] | None
    timeout: float  # call seconds
    kind: str  # "message" or the Ask kind
    tamper: Tamper | None = None  # what injected faults do to this delivery
    kept: KeptMessage | None = None  # what the journal keeps as the message (rendered again on read), if not `wire`


#: Call seconds of waiting for the next event (no virtual jump there) past which the player tells its server
#: sink `rest()`, if the sink has that method: the call is in a pause (a silence, a device rebooting), and
#: what a sink keeps to make its next message cheaper (the webhook sink's encoded history) costs memory for
#: the whole pause. A short gap between turns is not a rest.
REST_AFTER = 5.0

#: After the virtual clock declined a jump for a waiting socket, how many loop turns a call yields for what
#: the socket woke before it sleeps on the clock (see `_yield_to_io`).
IO_TURNS = 16


class ServerSink(Protocol):
    """Where server messages go (webhooks). Deliveries of one call must keep their order."""

    def submit(self, outgoing: Outgoing) -> Awaitable[Reply | None]:
        """Queue a delivery; the awaitable gives the reply (None if nothing was sent)."""
        ...

    async def drain(self) -> None:
        """Wait until everything submitted has been delivered (or failed)."""
        ...


class ClientSink(Protocol):
    """Where client messages go (bare, no envelope).

    `push` is given a `tamper` only when faults are injected (see mockvapi.engine.faults): a sink that
    journals records `tamper.injected`, and does not send when `tamper.send` is false."""

    def push(self, at: float, message: dict[str, Any], tamper: Tamper | None = None) -> None: ...

    def speaking(self, assistant: bool) -> None: ...

    def close(self) -> None: ...


Listener = Callable[["CallPlayer", Event, dict[str, Any]], None]


class CallPlayer:
    """Plays one call. `await player.run()` returns its Timeline; `control()` steers it while it runs."""

    def __init__(
        self,
        scenario: Scenario | LoadedScenario,
        *,
        clock: Clock,
        journal: Journal | None = None,
        seed: int | None = None,
        profile: Profile = "realistic",
        start_ms: int | None = None,
        call_id: str | None = None,
        server: ServerSink | None = None,
        clients: Sequence[ClientSink] = (),
        listeners: Sequence[Listener] = (),
        overrides: CallOverrides | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.clock = clock
        # A virtual clock can be jumped straight to an event's time when nothing else is due first.
        self._virtual = clock if isinstance(clock, VirtualClock) else None
        self.journal = journal if journal is not None else Journal()
        self.profile: Profile = profile
        self.sim = CallSimulation(
            scenario,
            seed=seed,
            start_ms=start_ms if start_ms is not None else clock.epoch_ms(),
            call_id=call_id,
            lenient_templates=True,
            overrides=overrides,
        )
        self.server = server
        # The server messages as the journal keeps them (engine.timeline.KeptMessages).
        self._kept = KeptMessages(self.sim.events, self.sim.rendered, self.sim.openai, profile)
        # A sink's optional `rest()`: told when the call waits at least REST_AFTER seconds for its next event.
        self._server_rest: Callable[[], None] | None = getattr(server, "rest", None)
        self.clients: list[ClientSink] = list(clients)
        self.listeners: list[Listener] = list(listeners)
        self.status = "queued"
        # Flags, not asyncio.Events: most are never waited on, and an Event's waiter deque is 624 bytes.
        self.done = Flag()
        self.client_joined = Flag()
        self.started = Flag()  # the call's clock runs: offset() counts from `started_at`
        self.next_event_at: float | None = None  # the offset of the event it waits for, if any
        self.error: BaseException | None = None
        # Set when the call stopped on an error (self.error) rather than by its script: see `_failed`.
        self.failed_reason: str | None = None
        self._base: float | None = None
        self._problems_seen = 0
        self._hung: set[int] = set()
        # Fault injection: one ChannelFaults for the webhooks and one per client sink (by id).
        self.fault_rules = rules_for(self.sim.scenario, faults)
        self._server_faults: ChannelFaults[Outgoing] | None = (
            ChannelFaults(self.fault_rules, "webhook", self.offset) if self.fault_rules else None
        )
        self._client_faults: dict[int, ChannelFaults[dict[str, Any]]] = {}
        for client in self.clients:
            self._watch(client)
        self._replies: dict[int, asyncio.Future[Reply | None]] = {}
        self._delayed: set[asyncio.Task[None]] = set()
        self._controlled = Flag()  # set when a control message arrives (it may act before the next event)
        self._wake: asyncio.Future[None] | None = None  # the wait for the next event, which a control ends early

    @property
    def call_id(self) -> str:
        return str(self.sim.context.call["id"])

    @property
    def name(self) -> str:
        return self.sim.scenario.name

    @property
    def ended_reason(self) -> str | None:
        return self.sim.ended_reason if self.sim.ended_reason is not None else self.failed_reason

    def offset(self) -> float:
        """Seconds since the call started, on the call's clock."""
        return 0.0 if self._base is None else self.clock.now() - self._base

    @property
    def started_at(self) -> float | None:
        """The clock's reading when the call started (offset 0), or None before."""
        return self._base

    def add_client(self, sink: ClientSink) -> None:
        self._watch(sink)
        self.clients.append(sink)
        self.client_joined.set()

    def remove_client(self, sink: ClientSink) -> None:
        if sink in self.clients:
            self.clients.remove(sink)
        self._client_faults.pop(id(sink), None)

    def _watch(self, sink: ClientSink) -> None:
        channel = ChannelFaults[dict[str, Any]](self.fault_rules, "websocket", self.offset)
        if channel:
            self._client_faults[id(sink)] = channel

    def control(self, message: Mapping[str, Any]) -> bool:
        """Feed an inbound control message (say, add-message, end-call, control, transfer).

        Returns False once the call has ended."""
        if self.done.is_set() or self.sim.ended_reason is not None:
            return False
        self.sim.control(message, self.offset())
        self._controlled.set()
        if self._wake is not None:
            _resolve(self._wake)
        return True

    def timeline(self) -> Timeline:
        return timeline_of(self.sim)

    async def run(self, *, wait_for_client: float | None = None) -> Timeline:
        """Play the call to its end. Scenario errors raise ScenarioError; failing targets never raise.

        `wait_for_client`: real seconds to wait for a client (a websocket peer) to join before the call
        starts, as a `vapi.websocket` call waits for its transport. When none joins, a `vapi.websocket`
        call ends `silence-timed-out` (no audio reached Vapi), recorded; any other call starts anyway.
        """
        if wait_for_client is not None and not self.clients:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.client_joined.wait(), wait_for_client)
            if not self.clients and self.sim.context.call.get("type") == "vapi.websocketCall":
                self.sim.unjoined(wait_for_client)
        self._base = self.clock.now()
        self.started.set()
        try:
            await self._play()
        except StepError as exc:
            self.error = step_error(self.sim, exc)
            self._failed(self.error)
            raise self.error from None
        except Exception as exc:
            self.error = exc
            self._failed(exc)
            raise
        except BaseException as exc:  # cancelled (reset, forget, shutdown): the caller stopped it
            self.error = exc
            raise
        finally:
            self._record_problems()
            await self._finish_faults(cancelled=isinstance(self.error, asyncio.CancelledError))
            if self.server is not None:
                await self.server.drain()
            self._record_problems()
            for client in list(self.clients):
                client.close()
            self.done.set()
        return self.timeline()

    def _failed(self, exc: BaseException) -> None:
        """The call cannot go on: record why (problem, log line), and end it as Vapi ends a call whose worker
        failed, with a status-update and an end-of-call-report carrying the endedReason, so no listener (the
        REST record), webhook or client is left with a call in progress."""
        if self.sim.ended_reason is not None:
            return  # the script had ended it; the failure came after (a delivery), and is the caller's
        reason = FAILED_IN_PROGRESS if self.status not in ("queued", "scheduled", "ringing") else FAILED_BEFORE_START
        self.failed_reason = reason
        detail = f"{type(exc).__name__}: {exc}"[:500]
        self.journal.problem(Problem(self.call_id, "call-failed", f"the call stopped ({reason}): {detail}",
                                     self.offset()))
        log.warning("call %s (%r) failed, ended with %s: %s", self.call_id, self.name, reason, detail)
        at_ms = self.sim.events[-1].at_ms if self.sim.events else 0
        history = len(self.sim.rendered)
        endings: tuple[Callable[[], Any], ...] = (
            lambda: StatusUpdate(status="ended", ended_reason=reason),
            lambda: self.sim.end_of_call_report(reason),
        )
        for ending in endings:
            try:
                self._dispatch(Event(at_ms, ending(), history, None, -1, self.sim.state.history_base))
            except Exception as again:  # the failure may be in the very sinks the ending goes to
                log.warning("call %s: could not send the end of the call: %r", self.call_id, again)

    async def _play(self) -> None:
        generator = self.sim.run()
        to_send: Reply | Waiting | Retract | None = None
        # The reply each kept request waits for, and how late (s of the call's clock) the request went out.
        pending: dict[int, tuple[asyncio.Future[Reply | None], float]] = {}
        upcoming = -1  # the event the fault channels were last told is next
        # No fault rules: no channel of this call ever holds a fault (see _watch), so there is nothing to tell
        # them per event. The rest of the loop's per-event work is read once here: this loop runs once per
        # message of the call, and its glue was a tenth of a message's cost (lever 45).
        faulted = bool(self.fault_rules)
        jump = None if self._virtual is None else self._virtual.try_jump
        sim, problems, base = self.sim, self.sim.problems, self._base_or_zero()
        controls = sim.controls  # the queue itself, one list all call: no property call per event (lever 125)
        now = self.clock.now
        while True:
            try:
                item = generator.send(to_send)  # send(None) is next()
            except StopIteration:
                return
            to_send = None
            if isinstance(item, Event):
                if faulted and item.seq != upcoming:
                    upcoming = item.seq
                    self._fault_step("upcoming", item)
                at = self.next_event_at = item.at_ms / 1000  # `item.at`, without the property's call
                deadline = base + at
                # The common case on a virtual clock, as `_sleep_until_event` takes it first: no control
                # queued, the event still ahead, nothing else ready on the loop: jump without a coroutine.
                # (When that jump fails, `_sleep_until_event` yields before it tries again.)
                tried = jump is not None and not controls and now() < deadline
                if not (tried and jump is not None and jump(deadline)):
                    arrived = await self._sleep_until_event(item, jumped=tried)
                    if not arrived:
                        self.next_event_at = None
                        to_send = Retract()  # a control came first: the call acts on it, then plans again
                        continue
                self.next_event_at = None
                reply = self._dispatch(item, logged=True)
                if reply is not None:
                    future = asyncio.ensure_future(reply)
                    if item.message.type_name in ASKING:  # no other reply is asked for: not kept all call
                        pending[item.seq] = (future, self.offset() - item.at)
                if len(problems) != self._problems_seen:
                    self._record_problems()
            else:
                if faulted:
                    self._fault_step("waiting", item.event)
                answer = await self._answer(item, *pending.get(item.event.seq, (None, 0.0)))
                if answer is None:
                    # A control that ends the call came while it waited: the step never goes on (its reply,
                    # still awaited by the sink, is ignored); the call ends from the control's arrival.
                    generator.close()
                    arrivals = self.sim.state.arrivals
                    assert arrivals is not None
                    generator = arrivals.end_waiting()
                    continue
                to_send = answer
                if not isinstance(to_send, Waiting):
                    pending.pop(item.event.seq, None)

    async def _sleep_until_event(self, event: Event, *, jumped: bool = False) -> bool:
        """Wait for `event`'s time; False if a control message that acts before it arrived meanwhile.
        `jumped`: the caller has just tried the virtual clock's jump to it, and failed."""
        deadline = self._base_or_zero() + event.at
        while True:
            self._controlled.clear()
            if self.sim.controls and self.sim.acts_before(event):
                return False
            if self.clock.now() >= deadline:
                await self.clock.sleep_until(deadline)
                return True
            virtual = self._virtual
            if virtual is not None:
                # Virtual time: take the jump the clock's driver would make (two tasks and a loop turn or
                # two less per event). With nothing else ready there is no one to yield to; else yield
                # once first, unless a control arrived meanwhile.
                if not jumped and virtual.try_jump(deadline):
                    return True
                jumped = False
                first = virtual.next_wakeup
                if first is None or first > deadline:
                    await asyncio.sleep(0)
                    if self._controlled.is_set():
                        continue
                    if virtual.try_jump(deadline):
                        return True
                    if await self._yield_to_io(virtual, deadline):
                        return True
                    if self._controlled.is_set():
                        continue
                # else another call's event comes first: no jump is possible until the driver has woken it,
                # so sleep on the clock at once rather than yield for a jump that cannot happen (lever 128)
            if self._server_rest is not None and deadline - self.clock.now() >= REST_AFTER:
                self._server_rest()  # a long wait: the sink may let go of what only the next message reuses
            loop = asyncio.get_running_loop()
            if virtual is not None:
                # One future that the clock (at the deadline) or a control resolves (lever 127).
                wake = self._wake = loop.create_future()
                virtual.wake_at(deadline, wake)
                try:
                    await wake
                finally:
                    self._wake = None
                if not self._controlled.is_set():
                    return True
                continue
            # One task for the sleep and one future that either the sleep or a control resolves.
            sleep = loop.create_task(self.clock.sleep_until(deadline))
            wake = self._wake = loop.create_future()
            sleep.add_done_callback(partial(_resolve, wake))
            try:
                await wake
            except BaseException:
                sleep.cancel()
                raise
            finally:
                self._wake = None
            if sleep.done():
                return True
            sleep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sleep

    async def _yield_to_io(self, clock: VirtualClock, deadline: float) -> bool:
        """Just after the clock declined a jump for a waiting socket, the loop is busy with what it woke (a
        webhook's answer read, the next request written: a few turns). Yield for those turns, jumping once the
        loop is idle, rather than queue a sleeper and a driver wake-up for each (lever 126). True once jumped;
        False (sleep as usual) if a control arrived, someone waits for an earlier time, or the turns ran out.
        Without sockets the clock never declines for one, and this returns at once."""
        for _ in range(IO_TURNS):
            if not clock.declined_for_io:
                return False
            first = clock.next_wakeup
            if first is not None and first <= deadline:
                return False  # its wake-up comes first, from the driver once the loop is idle
            await asyncio.sleep(0)
            if self._controlled.is_set():
                return False
            if clock.try_jump(deadline):
                return True
        return False

    def _base_or_zero(self) -> float:
        return self._base if self._base is not None else 0.0

    def _dispatch(self, event: Event, logged: bool = False) -> Awaitable[Reply | None] | None:
        """Send `event` where it goes. `logged`: it is the newest event of the call's log (one the simulation
        yielded), so the journal can keep its server message as the way to render it again."""
        context = event.context or self.sim.context
        message = event.message
        # Told by exact type (neither has subclasses): `isinstance` against a pydantic model class goes through
        # ABCMeta's check, and a model token (most events) answers it through its Python-level `__class__`.
        if type(message) is StatusUpdate:
            self.status = message.status
        elif type(message) is SpeechUpdate and message.role == "assistant":
            for client in self.clients:
                client.speaking(message.status == "started")
        reply: Awaitable[Reply | None] | None = None
        wants_server = self.server is not None and context.wants(message, "server")
        if wants_server or self.listeners:  # rendered only for whoever reads it (a websocket-only call: nobody)
            state = self.sim.state
            wire = render_message(event, context, state.rendered, state.openai, self.profile, "server", announced=True)
            # Listeners (e.g. the REST call record) see every message, subscribed or not.
            for listener in self.listeners:
                listener(self, event, wire)
            if self.server is not None and wants_server:
                server, timeout, kind = self._route(event)
                kept = self._kept.keep(len(self.sim.events) - 1, context, wire) if logged else None
                outgoing = Outgoing(self.call_id, event, wire, server, timeout, kind, kept=kept)
                if self._server_faults is not None:
                    reply = self._replies[event.seq] = asyncio.get_running_loop().create_future()
                    self._send_all(None, self._server_faults.offer(event, outgoing))
                else:
                    reply = self.server.submit(outgoing)
        if self.clients and context.wants(message, "client"):
            # The history lists read from the call's state (slots) rather than through the simulation's
            # properties: two Python calls per message less (lever 123).
            state = self.sim.state
            wire = render_message(event, context, state.rendered, state.openai, self.profile, "client", announced=True)
            if not self._client_faults:  # no client has faults injected: each gets the message as it is
                at = event.at_ms / 1000  # `event.at`, without the property's call
                for client in tuple(self.clients):
                    client.push(at, wire)
                return reply
            for client in list(self.clients):
                faults = self._client_faults.get(id(client))
                if faults is not None:
                    self._send_all(client, faults.offer(event, wire))
                else:
                    client.push(event.at, wire)
        return reply

    # -- faults -------------------------------------------------------------------------------

    def _channels(self) -> list[tuple[ClientSink | None, ChannelFaults[Any]]]:
        found: list[tuple[ClientSink | None, ChannelFaults[Any]]] = []
        if self._server_faults is not None and self.server is not None:
            found.append((None, self._server_faults))
        for client in list(self.clients):
            faults = self._client_faults.get(id(client))
            if faults is not None:
                found.append((client, faults))
        return found

    def _fault_step(self, what: str, event: Event) -> None:
        """Tell every channel the call's next event (`upcoming`) or that it waits for a reply."""
        for client, faults in self._channels():
            sends = faults.upcoming(event) if what == "upcoming" else faults.waiting(event.seq)
            self._send_all(client, sends)

    def _send_all(self, client: ClientSink | None, sends: Sequence[Send[Any]]) -> None:
        for send in sends:
            if send.delay:
                task = asyncio.ensure_future(self._send_later(client, send))
                self._delayed.add(task)
                task.add_done_callback(self._delayed.discard)
            else:
                self._send(client, send)

    async def _send_later(self, client: ClientSink | None, send: Send[Any]) -> None:
        await self.clock.sleep_until(self._base_or_zero() + send.event.at + send.delay)
        self._send(client, send)

    def _send(self, client: ClientSink | None, send: Send[Any]) -> None:
        if client is not None:
            if send.tamper is None:
                client.push(send.event.at, send.payload)
            else:
                client.push(send.event.at, send.payload, send.tamper)
            return
        assert self.server is not None
        outgoing: Outgoing = replace(send.payload, tamper=send.tamper)
        reply = asyncio.ensure_future(self.server.submit(outgoing))
        waiter = self._replies.pop(send.event.seq, None) if send.primary else None
        if waiter is not None:
            reply.add_done_callback(lambda done: _settle(waiter, done, send.delay))

    async def _finish_faults(self, *, cancelled: bool) -> None:
        """Release what faults still hold, let delayed deliveries go (or drop them if the call was
        cancelled), and answer any request that never went out."""
        if not cancelled:
            for client, faults in self._channels():
                self._send_all(client, faults.finish())
        while self._delayed:
            if cancelled:
                for task in list(self._delayed):
                    task.cancel()
            await asyncio.wait(list(self._delayed))
        for waiter in self._replies.values():
            if not waiter.done():
                waiter.set_result(None)
        self._replies.clear()

    def _route(self, event: Event) -> tuple[Mapping[str, Any] | None, float, str]:
        """The server config a message goes to, its timeout, and what kind of delivery it is."""
        return route(self.sim, event)

    async def _answer(
        self, ask: Ask, task: asyncio.Future[Reply | None] | None, behind: float = 0.0
    ) -> Reply | Waiting | None:
        """Wait for the real reply to an Ask, telling the simulation when the hang threshold passes. None: a
        control that ends the call (end-call, transfer) arrived meanwhile, and acts at once, as on Vapi.
        `behind`: how late the request went out; the threshold counts from then, not from its planned time
        (a call that waited on a slow reply answered as scripted runs that much behind its plan)."""
        if task is None:
            return ask.scripted
        loop = asyncio.get_running_loop()
        hang_at: float | None = None  # the loop's time when the hang threshold passes
        if ask.hang_after is not None and ask.event.seq not in self._hung:
            waited = self.offset() - ask.event.at - max(0.0, behind)
            hang_at = loop.time() + self.clock.real_seconds(max(0.0, ask.hang_after - waited))
        arrivals = self.sim.state.arrivals
        while not task.done():
            self._controlled.clear()
            if arrivals is not None and arrivals.ends_waiting():
                return None
            woken = asyncio.ensure_future(self._controlled.wait())
            either: set[asyncio.Future[Any]] = {task, woken}
            timeout = None if hang_at is None else max(0.0, hang_at - loop.time())
            try:
                done, _ = await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
            if not done:
                self._hung.add(ask.event.seq)
                return Waiting(ask.hang_after if ask.hang_after is not None else 0.0)
        reply = await task
        return reply if reply is not None else ask.scripted

    def _record_problems(self) -> None:
        problems = self.sim.problems
        while self._problems_seen < len(problems):
            p = problems[self._problems_seen]
            self._problems_seen += 1
            detail = at_step(p.kind, p.detail, p.step, self.sim.scenario)
            self.journal.problem(Problem(self.call_id, p.kind, detail, p.at))

    def __repr__(self) -> str:
        return (
            f"CallPlayer({self.name!r}, call_id={self.call_id[:8]}, status={self.status}, "
            f"at={self.offset():.3f}s, ended={self.ended_reason})"
        )


def _resolve(future: asyncio.Future[None], _done: object = None) -> None:
    """Resolve `future` unless it already is (also as a done callback: `_done` is the future that finished)."""
    if not future.done():
        future.set_result(None)


def _settle(waiter: asyncio.Future[Reply | None], done: asyncio.Future[Reply | None], delay: float) -> None:
    """Pass a delivery's reply to whoever waits for it; a delayed request's answer came that much later."""
    if waiter.done():
        return
    error = None if done.cancelled() else done.exception()
    if done.cancelled():
        waiter.set_result(None)
    elif error is not None:
        waiter.set_exception(error)
    else:
        reply = done.result()
        waiter.set_result(replace(reply, latency=reply.latency + delay) if reply is not None and delay else reply)


@dataclass
class MemoryClient:
    """An in-process client transport: an async iterator of the call's client messages."""

    queue: asyncio.Queue[tuple[float, dict[str, Any]] | None] = field(default_factory=asyncio.Queue)
    received: list[dict[str, Any]] = field(default_factory=list)
    assistant_speaking: bool = False
    # Faults injected into this stream: (journal marker, message), dropped ones included.
    injected: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closed: bool = False

    def push(self, at: float, message: dict[str, Any], tamper: Tamper | None = None) -> None:
        if self.closed:
            return
        if tamper is not None and tamper.injected:
            self.injected.append((tamper.injected, message))
        if tamper is not None and tamper.close:
            self.close()  # the in-process stream ends, as a websocket peer's would
            self.closed = True
            return
        if tamper is not None and not tamper.send:
            return
        self.received.append(message)
        self.queue.put_nowait((at, message))

    def speaking(self, assistant: bool) -> None:
        self.assistant_speaking = assistant

    def close(self) -> None:
        self.queue.put_nowait(None)

    def __aiter__(self) -> MemoryClient:
        return self

    async def __anext__(self) -> dict[str, Any]:
        item = await self.queue.get()
        if item is None:
            self.queue.put_nowait(None)  # stay exhausted for later readers
            raise StopAsyncIteration
        return item[1]

    def __repr__(self) -> str:
        return f"MemoryClient({len(self.received)} messages)"
