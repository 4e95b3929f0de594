"""`MockVapi`: the one entry point. Plays scenarios into webhooks, apps and clients, serves the mock
REST API if asked, keeps the journal, and checks what happened.

Three ways to hold it, all the same object:

    async with MockVapi(webhook=app) as vapi:          # async tests
        call = await vapi.play("barge-in")

    with MockVapi(webhook="http://127.0.0.1:8000/hook") as vapi:   # sync code: loop in a thread
        call = vapi.play_sync("barge-in")

    def test_it(mockvapi): ...                           # the pytest fixture (mockvapi.pytest_plugin)
"""

from __future__ import annotations

import asyncio
import difflib
import threading
import uuid
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from mockvapi.engine.clock import Clock, RealClock, VirtualClock
from mockvapi.engine.context import CallOverrides
from mockvapi.engine.digest import DigestLine, digest
from mockvapi.engine.expectations import EXPECTATION, expect_failures
from mockvapi.engine.gcpace import GcPacer, pace, release
from mockvapi.engine.journal import Delivery, Journal, Problem
from mockvapi.engine.player import CallPlayer, ClientSink, MemoryClient
from mockvapi.engine.simulator import natural_call_id
from mockvapi.engine.timeline import Timeline
from mockvapi.errors import ExpectationFailed, MockVapiError
from mockvapi.library import resolve
from mockvapi.models.messages import Profile, profile_named
from mockvapi.scenario.faults import FaultPlan, PlanLike, plan_of
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.scenario.schema import Scenario
from mockvapi.transports.http import HttpTarget
from mockvapi.transports.webhook import TargetPool, WebhookSink

_T = TypeVar("_T")
# A bundled name, a file path, YAML text, a mapping (a scenario file's content), or a loaded scenario.
ScenarioLike = str | Path | Mapping[str, Any] | Scenario | LoadedScenario

# Problems listed in a failure message; the rest are counted.
_LISTED = 8
# Calls held by default before the oldest ended ones are forgotten: above what any test plays (so
# `calls`, `find_call` and `check()` see every call of a test), small enough that a long-running
# `mockvapi serve` stays flat (a held happy-path call, its timeline and REST record, is about 0.1 MB).
MAX_CALLS = 1_000
# Calls running at once before `serve`'s POST /call answers 429: far above what a test or a load run on one
# machine plays, low enough that one request (a `customers[]` batch) cannot take the process to gigabytes.
MAX_RUNNING_CALLS = 1_000


class Call:
    """One call played by MockVapi: its journal entries, timeline, and assertions that read well."""

    def __init__(
        self, vapi: MockVapi, player: CallPlayer, client: MemoryClient | None, *, targeted: bool = True
    ) -> None:
        self.vapi = vapi
        self.player = player
        self.client = client
        self.task: asyncio.Task[Timeline] | None = None
        # False when the call was given no webhook: see `sent_nowhere`.
        self.targeted = targeted

    # -- what happened ------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.player.call_id

    @property
    def name(self) -> str:
        return self.player.name

    @property
    def seed(self) -> int:
        return self.player.sim.seed

    @property
    def done(self) -> bool:
        return self.player.done.is_set()

    @property
    def ended_reason(self) -> str | None:
        return self.player.ended_reason

    @property
    def timeline(self) -> Timeline:
        return self.player.timeline()

    @property
    def history(self) -> list[dict[str, Any]]:
        """The final conversation history (`messages` items), as the end-of-call-report carries it."""
        sim = self.player.sim
        return sim.rendered[sim.state.history_base:]  # a squad member's contextEngineeringPlan may trim it

    @property
    def transcript(self) -> str:
        return self.player.sim.transcript()

    def deliveries(
        self,
        *,
        type: str | None = None,
        channel: str | None = None,
        outcome: Literal["ok", "failed"] | None = None,
        injected: bool | None = None,
    ) -> list[Delivery]:
        return self.vapi.journal.deliveries(
            call_id=self.id, type=type, channel=channel, outcome=outcome, injected=injected
        )

    def delivered_types(self, channel: str | None = None) -> list[str]:
        """Types delivered, in order. A call sent nowhere counts what its server would have been sent,
        as a scripted QA run does, so a scenario's `expect` block holds without a webhook."""
        if channel is None and self.sent_nowhere:
            return [m["type"] for m in self.messages("server")]
        return [d.message_type for d in self.deliveries(channel=channel) if d.sent]

    @property
    def sent_nowhere(self) -> bool:
        """The call had no webhook (none given, none in the scenario) and no websocket peer."""
        return not self.targeted and not self.deliveries()

    @property
    def problems(self) -> list[Problem]:
        return self.vapi.journal.problems_for(self.id)

    def messages(self, side: Literal["server", "client"] = "server") -> list[dict[str, Any]]:
        """Every message of the call on `side`, as rendered (whether or not a target took it)."""
        return [m for _, m in self.timeline.messages(profile=self.player.profile, side=side)]

    async def wait(self) -> Call:
        if self.task is not None:
            await asyncio.shield(self.task)
        return self

    def wait_sync(self, timeout: float | None = None) -> Call:
        """`wait()` from sync code, for a call started on the background loop of `start_sync()`;
        raises TimeoutError after `timeout` real seconds."""
        return self.vapi._submit(self.wait()).result(timeout)

    # -- checks -------------------------------------------------------------------------------

    def expectation_failures(self, *, problem_budget: bool = True) -> list[str]:
        """The scenario's `expect` block and `expect_reply` checks that did not hold.

        `problem_budget=False` leaves out the count of recorded problems (`expect.problems`), for
        callers that apply their own (MockVapi.check, by strictness).
        """
        return expect_failures(
            self.player.sim.scenario.expect,
            ended_reason=self.ended_reason,
            delivered=self.delivered_types(),
            problems=[(p.kind, p.detail) for p in self.problems],
            reply_latencies=[(d.message_type, d.latency) for d in self.deliveries(channel="webhook")
                             if d.latency is not None],
            problem_budget=problem_budget,
            listed=[f"{line.kind}: {line.detail}" for line in self.problem_digest()],
        )

    def problem_budget(self, strict: bool) -> int | None:
        """How many problems this call may record: the scenario's `expect.problems` where it sets one,
        else none when strict, else any number (None)."""
        expect = self.player.sim.scenario.expect
        if expect is not None and "problems" in expect.model_fields_set:
            return expect.problems
        return 0 if strict else None

    def problem_digest(self) -> list[DigestLine]:
        """The recorded problems (not expectations) in time order, with a target that failed every
        delivery the same way (a wrong path, a server that is not running) said once."""
        return digest(self.problems, self.deliveries(channel="webhook"))

    def first_problem_at(self) -> float | None:
        """When the first problem other than an expectation was recorded, if any."""
        return min((p.at for p in self.problems if p.kind != EXPECTATION), default=None)

    def _over_budget(self, budget: int | None) -> list[str]:
        faults = [p for p in self.problems if p.kind != EXPECTATION]
        if budget is None or len(faults) <= budget:
            return []
        allowed = "none allowed" if budget == 0 else f"at most {budget} allowed"
        lines = self.problem_digest()
        listed = [str(line) for line in lines[:_LISTED]]
        if len(lines) > _LISTED:
            listed.append(f"... and {len(lines) - _LISTED} more")
        return [f"{len(faults)} problem(s) recorded, {allowed}:\n      " + "\n      ".join(listed)]

    def check(self) -> None:
        """Raise ExpectationFailed if the scenario's expectations did not hold."""
        failures = self.expectation_failures()
        if failures:
            first = min((p.at for p in self.problems), default=None)  # where it first went wrong
            raise ExpectationFailed(
                self._explain("expectations not met:\n  - " + "\n  - ".join(failures), focus_at=first)
            )

    def assert_delivered(self, *types: str, in_order: bool = True, channel: str | None = None) -> None:
        """Each of `types` was delivered (as a subsequence, in this order, unless `in_order=False`)."""
        got = self.delivered_types(channel)
        if in_order:
            position = 0
            for kind in types:
                try:
                    position = got.index(kind, position) + 1
                except ValueError:
                    where = f" to {channel}" if channel else ""
                    order = f"expected {', '.join(map(repr, types))} in that order; " if len(types) > 1 else ""
                    if position and kind in got:
                        # It came, but too early: say where, in the order the user asked for.
                        what = (f"{kind!r} was delivered{where} only before {got[position - 1]!r} "
                                f"(delivery #{position}), never after it; {order}"
                                f"the first {kind!r} was delivery #{got.index(kind) + 1}")
                        focus = kind
                    else:
                        what = f"{kind!r} was never delivered{where}; {order}{_nearest(kind, got)}"
                        focus = _closest(kind, got) or kind
                    raise ExpectationFailed(self._explain(what, focus_type=focus)) from None
        else:
            missing = [k for k in types if k not in got]
            if missing:
                raise ExpectationFailed(
                    self._explain(
                        f"never delivered: {missing}; {_nearest(missing[0], got)}",
                        focus_type=_closest(missing[0], got),
                    )
                )

    def assert_not_delivered(self, *types: str, channel: str | None = None) -> None:
        got = self.delivered_types(channel)
        present = [k for k in types if k in got]
        if present:
            raise ExpectationFailed(
                self._explain(f"delivered but should not be: {present}", focus_type=present[0])
            )

    def assert_ended(self, reason: str) -> None:
        if self.ended_reason != reason:
            near = difflib.get_close_matches(reason, [self.ended_reason or ""], n=1)
            raise ExpectationFailed(
                self._explain(
                    f"expected the call to end with {reason!r}, it ended with {self.ended_reason!r}"
                    + (" (close spelling)" if near else ""),
                    focus_type="status-update",
                )
            )

    def assert_no_problems(self, *, including_expectations: bool = True) -> None:
        problems = sorted(
            (p for p in self.problems if including_expectations or p.kind != EXPECTATION), key=lambda p: p.at
        )
        if problems:
            listed = "\n  - ".join(f"{p.kind} at {p.at:.3f}s: {p.detail}" for p in problems)
            raise ExpectationFailed(
                self._explain(f"{len(problems)} problem(s) recorded:\n  - {listed}", focus_at=problems[0].at)
            )

    def assert_replied(self, type: str, *, status: int = 200, within: float | None = None) -> None:
        """Every webhook delivery of `type` got `status` (and within `within` seconds, if given)."""
        deliveries = self.deliveries(type=type, channel="webhook")
        if not deliveries:
            raise ExpectationFailed(
                self._explain(
                    f"no {type!r} was delivered to a webhook; "
                    f"{_nearest(type, self.delivered_types('webhook'))}"
                )
            )
        for d in deliveries:
            if d.status != status:
                raise ExpectationFailed(
                    self._explain(
                        f"{type!r} #{d.seq} got status {d.status} (error {d.error!r}), expected {status}; "
                        f"body: {d.response_body!r:.200}",
                        focus_at=d.at,
                    )
                )
            if within is not None and d.latency is not None and d.latency > within:
                raise ExpectationFailed(
                    self._explain(
                        f"{type!r} #{d.seq} answered in {d.latency:.3f}s, expected within {within}s",
                        focus_at=d.at,
                    )
                )

    # -- failure reports ----------------------------------------------------------------------

    def timeline_text(
        self, *, focus_at: float | None = None, focus_type: str | None = None, context: int = 6
    ) -> str:
        """The call's deliveries as a readable timeline (offset, channel, message, reply).

        A call sent nowhere shows the messages its server would have been sent, without replies."""
        if self.sent_nowhere:
            rows = [
                _Row(at, "(none)", m["type"], m, "")
                for at, m in self.timeline.messages(profile=self.player.profile, side="server")
            ]
            header = ["    (no webhook: the messages Vapi would have sent, not delivered)"]
        else:
            rows = [
                _Row(d.at, d.channel, d.message_type, d.message, _reply(d), d.injected) for d in self.deliveries()
            ]
            header = []
        if not rows:
            return "    (nothing was delivered)"
        center = len(rows) - 1
        if focus_at is not None:
            center = min(range(len(rows)), key=lambda i: abs(rows[i].at - focus_at))
        elif focus_type is not None:
            matches = [i for i, r in enumerate(rows) if r.type == focus_type]
            center = matches[0] if matches else len(rows) - 1
        lo, hi = max(0, center - context), min(len(rows), center + context + 1)
        lines = header
        if lo > 0:
            lines.append(f"    ... {lo} earlier")
        for i in range(lo, hi):
            lines.append(("  > " if i == center else "    ") + str(rows[i]))
        if hi < len(rows):
            lines.append(f"    ... {len(rows) - hi} later")
        return "\n".join(lines)

    def _explain(self, what: str, *, focus_at: float | None = None, focus_type: str | None = None) -> str:
        return (
            f"mockvapi: {what}\n  call {self.id} ({self.name!r}, seed {self.seed}, "
            f"ended {self.ended_reason})\n  timeline:\n"
            + self.timeline_text(focus_at=focus_at, focus_type=focus_type)
        )

    def __repr__(self) -> str:
        state = f"ended={self.ended_reason}" if self.done else "playing"
        return f"Call({self.name!r}, id={self.id[:8]}, seed={self.seed}, {state}, {len(self.deliveries())} deliveries)"


@dataclass(frozen=True)
class _Row:
    """One line of a timeline: a delivery, or a message that went nowhere."""

    at: float
    channel: str
    type: str
    message: dict[str, Any]
    reply: str
    injected: str | None = None

    def __str__(self) -> str:
        fault = f"  [injected: {self.injected}]" if self.injected else ""
        return (
            f"{self.at:8.3f}s  {self.channel:<9} {self.type:<20}{self.reply}  {_summary(self.message)}".rstrip()
            + fault
        )


def _reply(d: Delivery) -> str:
    if d.channel != "webhook":
        return ""
    reply = f" -> {d.status if d.status is not None else 'no reply'}"
    if d.latency is not None:
        reply += f" in {d.latency * 1000:.0f}ms"
    if d.error:
        reply += f" ({d.error})"
    return reply


def _summary(message: dict[str, Any]) -> str:
    for key in ("transcript", "input", "status", "endedReason"):
        value = message.get(key)
        if isinstance(value, str):
            return repr(value)[:60]
    output = message.get("output")
    if isinstance(output, str):
        return repr(output)
    if "turnId" in message:
        return f"turn {str(message['turnId'])[:8]}"
    return ""


def _closest(wanted: str, got: Sequence[str]) -> str | None:
    near = difflib.get_close_matches(wanted, sorted(set(got)), n=1)
    return near[0] if near else None


def _nearest(wanted: str, got: Sequence[str]) -> str:
    """The nearest candidate (a close spelling) and what was delivered instead."""
    if not got:
        return "nothing was delivered"
    near = _closest(wanted, got)
    counts = ", ".join(f"{k}×{got.count(k)}" for k in dict.fromkeys(got))
    hint = f"nearest delivered type: {near!r}; " if near else ""
    return f"{hint}delivered: {counts}"


def _scenario_name(scenario: Scenario | LoadedScenario) -> str:
    return scenario.scenario.name if isinstance(scenario, LoadedScenario) else scenario.name


class MockVapi:
    """Plays Vapi calls into your code. See the module docstring for the three ways to use it.

    webhook: where every server message goes (it overrides the server URLs a scenario names): a URL,
        an ASGI or WSGI app, an aiohttp Application, or a callable `(body, headers) -> reply`. Without
        it, messages go to the URLs the scenario (or the REST assistant) names, if any.
    clock: "virtual" (default: a 10-minute call plays in milliseconds) or "real" (at `speed`), or a Clock.
    seed: overrides every scenario's seed. profile: "realistic" (default) or "spec".
    serve: also serve the mock REST API and the websocket/control URLs on `host:port` (port 0: any).
        Served call ids (and so their listen/control URLs) are random unless `seed` is given.
        scenarios: with serve, the folders (one or a list) whose scenarios requests may load by path or
        name; public_url: where clients reach the server (the base of the URLs it hands out).
    strict: `check()` (and the pytest fixture at teardown) fails on any recorded problem.
    default_scenario: what `play()`/`play_sync()` play when given no scenario (default "happy-path");
        anything `play` takes. A scenario is a bundled name, a file path, YAML text, or a mapping.
    faults: faults injected into every call (a FaultPlan, or what `plan_of` takes: compact strings such
        as "drop:transcript,nth=2", mappings, a list of those); the calls' scenarios may add their own.
        Settable later through `vapi.faults` (and the control plane's /_mockvapi/faults).
    max_calls: how many calls `calls` holds (default 1,000). Past that the oldest ended calls are
        forgotten (their Call objects, players and timelines, and with `serve` their REST records, so
        GET /call/{id} answers 404), counted in `forgotten_calls`; a running call never is. Their journal
        entries stay: the journal has its own bound (`journal_size`). `check()` sees only held calls.
    max_running_calls: with `serve`, calls running at once (default 1,000); a POST /call (or its
        `customers[]` batch, itself at most 1,000) that would pass it is answered 429 with Retry-After.
    """

    def __init__(
        self,
        *,
        webhook: object | None = None,
        webhook_path: str = "/",
        clock: Literal["virtual", "real"] | Clock = "virtual",
        speed: float = 1.0,
        seed: int | None = None,
        profile: Profile = "realistic",
        serve: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        journal_size: int = 100_000,
        strict: bool = True,
        scenarios: str | Path | Sequence[str | Path] | None = None,
        default_scenario: ScenarioLike = "happy-path",
        control_token: str | None = None,
        public_url: str | None = None,
        faults: PlanLike | None = None,
        max_calls: int = MAX_CALLS,
        max_running_calls: int = MAX_RUNNING_CALLS,
    ) -> None:
        if isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1:
            raise ValueError(f"mockvapi: max_calls must be a whole number >= 1, got {max_calls!r}")
        if isinstance(max_running_calls, bool) or not isinstance(max_running_calls, int) or max_running_calls < 1:
            raise ValueError(f"mockvapi: max_running_calls must be a whole number >= 1, got {max_running_calls!r}")
        self.max_running_calls = max_running_calls
        if isinstance(clock, str):
            if clock not in ("virtual", "real"):
                raise ValueError(f"mockvapi: clock must be 'virtual' or 'real', got {clock!r}")
            self.clock: Clock = VirtualClock() if clock == "virtual" else RealClock(speed)
        else:
            self.clock = clock
        self.webhook = webhook
        self.webhook_path = webhook_path
        self.seed = seed
        self.profile: Profile = profile_named(profile)
        self.serve = serve
        self.host = host
        self.port = port
        self.token = token
        self.strict = strict
        folders = [scenarios] if isinstance(scenarios, str | Path) else list(scenarios or ())
        # With `serve`, the only places a request may make the server read scenario files from.
        self.scenario_folders: tuple[Path, ...] = tuple(Path(f) for f in folders)
        self.scenarios_dir = self.scenario_folders[0] if self.scenario_folders else None
        self.public_url = public_url
        # What `play()` with no scenario plays: a name (bundled, or in `scenarios`), or one loaded here.
        self._default_loaded: Scenario | LoadedScenario | None = None
        if isinstance(default_scenario, str):
            self.default_scenario = default_scenario
        else:
            self._default_loaded = self.load(default_scenario)
            self.default_scenario = _scenario_name(self._default_loaded)
        self.control_token = control_token
        self._faults: FaultPlan = plan_of(faults)
        self.journal = Journal(journal_size)
        self.calls: list[Call] = []
        self.max_calls = max_calls
        self.forgotten_calls = 0  # ended calls dropped from `calls` because of `max_calls`
        # Natural id -> the last n of its derived ids (`natural#n`), forgotten calls included: their journal
        # entries may outlive them, so an id is never handed out twice (REST calls bring their own ids).
        self._repeats: dict[str, int] = {}
        self.server: Any = None  # mockvapi.server.MockServer when serve=True
        self._pools: list[TargetPool] = []
        self._closing: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = False
        self._gc_pacer: GcPacer | None = None

    @property
    def faults(self) -> FaultPlan:
        """Faults injected into every call started from now on."""
        return self._faults

    @faults.setter
    def faults(self, value: PlanLike | None) -> None:
        self._faults = plan_of(value)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> MockVapi:
        if self._started:
            return self
        self._loop = asyncio.get_running_loop()
        if self.serve:
            from mockvapi.server.harness import MockServer

            self.server = MockServer(self, control_token=self.control_token)
            await self.server.start()
        if isinstance(self.clock, RealClock):
            # Real-time calls: the GC's pauses go into the loop's idle gaps (see engine.gcpace).
            self._gc_pacer = pace(self._loop)
        self._started = True
        return self

    async def aclose(self) -> None:
        """Stop: let calls in flight finish their deliveries, then close servers and targets. Idempotent."""
        if not self._started:
            return
        self._started = False
        running = [c.task for c in self.calls if c.task is not None and not c.task.done()]
        for task in running:
            task.cancel()  # each player drains its queued deliveries as it stops
        if running:
            await asyncio.wait(running, timeout=30)
        if self.server is not None:
            await self.server.aclose()
        for pool in self._pools:
            await pool.aclose()
        self._pools.clear()
        if self._closing:
            await asyncio.wait(list(self._closing))
        if self._gc_pacer is not None:
            release(self._gc_pacer)
            self._gc_pacer = None

    async def __aenter__(self) -> MockVapi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- sync use: the loop runs in a background thread ---------------------------------------

    def start_sync(self) -> MockVapi:
        """Start on a private event loop in a daemon thread, for sync code (Flask, Django, plain tests)."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="mockvapi-loop", daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop
        self._submit(self.start()).result()
        return self

    def stop(self) -> None:
        """Stop the background loop started by `start_sync()`. Idempotent."""
        if self._thread is None or self._loop is None:
            return
        loop = self._loop
        self._submit(self.aclose()).result()
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        loop.close()
        self._thread = None

    def __enter__(self) -> MockVapi:
        return self.start_sync()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _submit(self, coro: Coroutine[Any, Any, _T]) -> Future[_T]:
        if self._loop is None:
            raise MockVapiError("mockvapi: start() or start_sync() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def play_sync(self, scenario: ScenarioLike | None = None, **options: Any) -> Call:
        """`play()` from sync code; starts the background loop if needed. With no scenario it plays the
        `default_scenario` (the fixture's marker sets it; else "happy-path")."""
        if self._thread is None and not self._started:
            self.start_sync()
        return self._submit(self.play(scenario, **options)).result()

    # -- playing ------------------------------------------------------------------------------

    def load(self, scenario: ScenarioLike) -> Scenario | LoadedScenario:
        if isinstance(scenario, Scenario | LoadedScenario):
            return scenario
        if self.scenarios_dir is not None and isinstance(scenario, str) and "\n" not in scenario:
            candidate = self.scenarios_dir / f"{scenario.removesuffix('.yaml')}.yaml"
            if candidate.exists():
                return resolve(candidate)
        return resolve(scenario)

    def start_call(
        self,
        scenario: ScenarioLike | None = None,
        *,
        webhook: object | None = None,
        webhook_path: str | None = None,
        seed: int | None = None,
        profile: Profile | None = None,
        client: bool = True,
        clients: Iterable[ClientSink] = (),
        call_id: str | None = None,
        wait_for_client: float | None = None,
        listeners: Sequence[Any] = (),
        overrides: CallOverrides | None = None,
        faults: PlanLike | None = None,
    ) -> Call:
        """Start a call in the background and return its handle at once (await `call.wait()`).

        `faults` are injected into this call only, after the server-wide `self.faults`. From sync code
        (after `start_sync()`), the call starts on the background loop; wait with `call.wait_sync()`."""
        if not self._started:
            raise MockVapiError(
                "mockvapi: use `async with MockVapi(...)`, `await start()` or `start_sync()` first"
            )
        if not self._on_own_loop():
            async def start_there() -> Call:
                return self.start_call(
                    scenario, webhook=webhook, webhook_path=webhook_path, seed=seed, profile=profile, client=client,
                    clients=clients, call_id=call_id, wait_for_client=wait_for_client, listeners=listeners,
                    overrides=overrides, faults=faults,
                )

            return self._submit(start_there()).result()
        if scenario is None:
            scenario = self._default_loaded or self.default_scenario
        target = webhook if webhook is not None else self.webhook
        pool = TargetPool(target, path=webhook_path or self.webhook_path)
        self._pools.append(pool)
        memory = MemoryClient() if client else None
        sinks: list[ClientSink] = list(clients) + ([memory] if memory is not None else [])
        loaded = self.load(scenario)
        plan = self.faults + plan_of(faults)

        call_seed = seed if seed is not None else self.seed
        if call_id is None:
            natural = natural_call_id(loaded, call_seed)
            repeats = self._repeats.get(natural)
            if repeats is not None or self.find_call(natural) is not None:
                # The same scenario and seed give the same call id; a second such call gets its own
                # (derived, so still reproducible), or the journal and find_call would mix them up. The
                # count is kept: trying n = 2, 3, ... afresh made the k-th repeat cost k uuid5s.
                n = (repeats or 1) + 1
                call_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{natural}#{n}"))
                self._repeats[natural] = n
            else:
                self._repeats[natural] = 1
        player = CallPlayer(
            loaded,
            clock=self.clock,
            journal=self.journal,
            seed=call_seed,
            profile=self.profile if profile is None else profile_named(profile),
            call_id=call_id,  # None: the player draws the natural id, with the same fakes as ever
            server=WebhookSink(pool, self.journal, self.clock),
            clients=sinks,
            listeners=listeners,
            overrides=overrides,
            faults=plan,
        )
        call = Call(self, player, memory, targeted=pool.override is not None)
        self.calls.append(call)
        call.task = asyncio.ensure_future(player.run(wait_for_client=wait_for_client))
        call.task.add_done_callback(_consume_exception)
        # The pool (an aiohttp session with its sockets, or an app server) is this call's own: closed when the
        # call ends, or a long run leaks one per call. A target object the caller passed in is theirs, shared by
        # calls, and closed with the rest at aclose(). One partial, not two closures (~0.7 kB of a live call).
        call.task.add_done_callback(partial(self._call_ended, None if isinstance(target, HttpTarget) else pool))
        self._retain()
        return call

    def _call_ended(self, pool: TargetPool | None, _task: object) -> None:
        if pool is not None:
            self._release(pool)
        # Over the bound with every held call running, nothing went at the start: the first to end makes room.
        self._retain()

    def _on_own_loop(self) -> bool:
        """True on the loop MockVapi runs on; False from sync code beside `start_sync()`'s thread.

        Anything else (another event loop, or sync code while MockVapi's loop is not running in a thread
        of its own) cannot start a call: its task would sit on a loop that never runs it."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return True
        if running is None and self._thread is not None and self._thread is not threading.current_thread():
            return False
        raise MockVapiError(
            "mockvapi: start_call() runs on MockVapi's own event loop: call it from the coroutine that started "
            "MockVapi, or from sync code after `start_sync()` (or `with MockVapi(...)`), not from another loop"
        )

    def _retain(self) -> None:
        """Forget the oldest ended calls while more than `max_calls` are held; never a running one."""
        excess = len(self.calls) - self.max_calls
        if excess <= 0:
            return
        # The oldest ended calls, found from the front (usually the first `excess` of them), and deleted
        # in place: a caller holding `vapi.calls` sees the same list.
        ended: list[int] = []
        for index, call in enumerate(self.calls):
            if call.task is not None and call.task.done():
                ended.append(index)
                if len(ended) == excess:
                    break
        if not ended:
            return
        forgotten = [self.calls[index] for index in ended]
        for index in reversed(ended):
            del self.calls[index]
        self.forgotten_calls += len(forgotten)
        if self.server is not None:
            self.server.forget_records([c.id for c in forgotten])

    def _release(self, pool: TargetPool) -> None:
        if pool in self._pools:
            self._pools.remove(pool)
            closing = asyncio.ensure_future(pool.aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def play(self, scenario: ScenarioLike | None = None, **options: Any) -> Call:
        """Play one call to its end and return it; with no scenario, the `default_scenario` (the
        fixture's marker sets it; else "happy-path"). A scenario is a bundled name (`"barge-in"`), a
        file path, YAML text, a mapping (a scenario file's content as a dict), or a loaded scenario.

        Scenario errors raise ScenarioError; a failing target never raises, it is recorded.
        """
        if not self._started:
            await self.start()
        call = self.start_call(scenario, **options)
        assert call.task is not None
        await call.task
        return call

    async def play_many(self, scenarios: Iterable[ScenarioLike], **options: Any) -> list[Call]:
        """Play several calls concurrently."""
        calls = [self.start_call(s, **options) for s in scenarios]
        await asyncio.gather(*(c.task for c in calls if c.task is not None))
        return calls

    @property
    def running_calls(self) -> int:
        """Calls started and not yet ended."""
        return sum(1 for c in self.calls if c.task is None or not c.task.done())

    def find_call(self, call_id: str) -> Call | None:
        return next((c for c in self.calls if c.id == call_id), None)

    # -- records ------------------------------------------------------------------------------

    @property
    def problems(self) -> list[Problem]:
        return self.journal.problems

    def deliveries(self, **filters: Any) -> list[Delivery]:
        return self.journal.deliveries(**filters)

    def check(self) -> None:
        """Raise ExpectationFailed for unmet scenario expectations and for recorded problems beyond each
        call's budget: the scenario's `expect.problems` where it sets one, else none when strict.

        Only the calls held are checked (the last `max_calls`, and any still running)."""
        failures = []
        for call in self.calls:
            errors = call.expectation_failures(problem_budget=False)
            errors += call._over_budget(call.problem_budget(self.strict))
            if errors:
                # The first problem is usually the cause of the rest: the timeline centres on it.
                what = "\n  - ".join(["call failed:", *errors])
                failures.append(call._explain(what, focus_at=call.first_problem_at()))
        if failures:
            raise ExpectationFailed("\n\n".join(failures))

    def __repr__(self) -> str:
        clock = type(self.clock).__name__
        served = f", serving {self.server.url}" if self.server is not None else ""
        forgotten = f" ({self.forgotten_calls} forgotten)" if self.forgotten_calls else ""
        return (
            f"MockVapi({clock}, seed={self.seed}, {len(self.calls)} calls{forgotten}, {self.journal!r}{served})"
        )


def _consume_exception(task: asyncio.Task[Timeline]) -> None:
    # The exception is re-raised to whoever awaits the call; this only stops asyncio's "never retrieved" noise.
    if not task.cancelled():
        task.exception()
