"""One call played in real time under gevent: the pure simulator, driven from a greenlet.

This is the delivery layer's behaviour (`CallPlayer` + `WebhookSink`) for a gevent process such as a
Locust worker, where an asyncio loop would fight the monkey-patched sockets. The pure parts are
shared, not copied: `engine.routing.route` (server config, timeout, kind), `render_message`,
`transports.envelope` (the `{"message": ...}` body, the auth headers, the answer as a `Reply`) and
`engine.expectations.expect_failures`. What is specific here is only the waiting and the socket:

* events leave at their offsets (`gevent.sleep`), scaled by `speed` (1 = real time);
* deliveries of one call go out one after another, in order; a tool-calls / assistant-request /
  transfer-destination-request request goes out in order and its answer is awaited aside, so a
  `hang` can follow while the tool is slow, and the answer feeds back into the call;
* each POST uses geventhttpclient (the client under Locust's FastHttpUser) with the server's
  timeout (7.5 s for assistant-request) as the socket timeout, and the server's backoffPlan.

Every finished delivery is handed to `on_delivery` as a `DeliveryRecord`; for asking messages that
happens once the call has read the answer, so a reply the call could not use (wrong toolCallId, no
result, no destination...) is the delivery's `failure`. Nothing here imports locust.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# gevent ships no type information; its objects are Any here.
import gevent  # type: ignore[import-untyped]
import gevent.event  # type: ignore[import-untyped]
import gevent.queue  # type: ignore[import-untyped]
from geventhttpclient import HTTPClient
from geventhttpclient.url import URL

from mockvapi.engine.events import Ask, Event, Reply, StepError, Waiting
from mockvapi.engine.expectations import expect_failures
from mockvapi.engine.routing import route
from mockvapi.engine.simulator import CallSimulation, step_error
from mockvapi.engine.timeline import render_message
from mockvapi.models.messages import Profile
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.scenario.schema import Scenario
from mockvapi.transports.envelope import delivery_headers, envelope_body, parse_json, reply_of
from mockvapi.transports.http import retry_delays

__all__ = ["REPLY_PROBLEMS", "CallResult", "DeliveryRecord", "GeventCall", "WebhookClient"]

#: Problems the simulation records when the target's answer to an asking message is unusable.
REPLY_PROBLEMS = frozenset(
    {"unknown-tool-call-id", "bad-tool-result", "assistant-request-failed", "bad-transfer-destination"}
)


@dataclass
class DeliveryRecord:
    """One webhook POST of a call and what the target answered (the last attempt's answer)."""

    call_id: str
    message_type: str
    kind: str  # "message" or the asking message's type
    at: float  # call seconds
    status: int | None = None
    body: Any = None  # the parsed JSON answer, or None
    response_length: int = 0
    latency: float = 0.0  # real seconds, every attempt and backoff wait included
    lateness: float = 0.0  # real seconds the first attempt left after its scheduled time (queueing included)
    attempts: int = 0
    error: str | None = None  # no 2xx: "HTTP 500", "timeout: ...", "connection: ..."
    failure: str | None = None  # error, or why the call could not use the answer
    reason: str | None = None  # the failure in a few stable words ("HTTP 500", "timeout", a problem kind)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def __repr__(self) -> str:
        outcome = self.failure or f"{self.status} in {self.latency * 1000:.1f}ms"
        return f"DeliveryRecord({self.message_type} at {self.at:.3f}s: {outcome})"


@dataclass
class CallResult:
    """How one played call went."""

    scenario: str
    seed: int
    call_id: str
    ended_reason: str | None = None
    wall: float = 0.0  # real seconds
    deliveries: list[DeliveryRecord] = field(default_factory=list)
    problems: list[tuple[float, str, str]] = field(default_factory=list)  # (call seconds, kind, detail)
    failures: list[str] = field(default_factory=list)  # the scenario's expect/expect_reply that did not hold
    error: str | None = None  # the call could not be played to its end (ScenarioError, internal error)

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None

    def __repr__(self) -> str:
        state = "passed" if self.passed else f"{len(self.failures)} failure(s)" + (
            f", error {self.error!r}" if self.error else "")
        return (f"CallResult({self.scenario!r}, seed={self.seed}, {len(self.deliveries)} deliveries, "
                f"ended={self.ended_reason}, {state})")


class _NoAnswer(Exception):
    def __init__(self, kind: str, detail: str, reason: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.reason = reason or kind


class WebhookClient:
    """POSTs to one target URL over geventhttpclient, keep-alive, one pool per timeout.

    The timeout is geventhttpclient's connect and network (per socket operation) timeout: for a
    webhook answer, which comes as one response, that is the reply deadline. Sends exactly the given
    headers plus Host and Content-Length, as the asyncio transport does.
    """

    def __init__(self, url: str, *, concurrency: int = 4) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"mockvapi: a webhook URL must look like http(s)://host/path, got {url!r}")
        self.url = url
        self.path = parsed.request_uri or "/"
        self.concurrency = concurrency
        self._clients: dict[float, HTTPClient] = {}

    def _client(self, timeout: float) -> HTTPClient:
        client = self._clients.get(timeout)
        if client is None:
            client = HTTPClient.from_url(
                self.url, concurrency=self.concurrency, connection_timeout=timeout, network_timeout=timeout
            )
            self._clients[timeout] = client
        return client

    def post(self, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        """(status, body); raises _NoAnswer on a timeout or a connection failure."""
        try:
            response = self._client(timeout).request("POST", self.path, body=body, headers=dict(headers))
            try:
                return response.status_code, bytes(response.read())
            finally:
                response.release()
        except TimeoutError:  # socket.timeout, connect or read
            raise _NoAnswer("timeout", f"no response from {self.url} within {timeout:g}s") from None
        except Exception as exc:  # refused, reset, closed mid-response, unparsable HTTP
            raise _NoAnswer("connection", f"{self.url}: {type(exc).__name__}: {exc}",
                            f"connection: {type(exc).__name__}") from None

    def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __repr__(self) -> str:
        return f"WebhookClient({self.url!r}, pools={sorted(self._clients)})"


@dataclass(frozen=True)
class _Outgoing:
    event: Event
    wire: dict[str, Any]
    server: Mapping[str, Any]
    timeout: float
    kind: str


_Settled = tuple[Reply, DeliveryRecord]


class GeventCall:
    """Plays one scenario's call to `client` in real time (scaled by `speed`); `run()` returns its result.

    `on_delivery(record)` hears of each delivery once it is final (see the module docstring). `clock` is the
    monotonic clock the call's offsets are read from (seconds).
    """

    def __init__(
        self,
        scenario: Scenario | LoadedScenario,
        client: WebhookClient,
        *,
        seed: int | None = None,
        speed: float = 1.0,
        profile: Profile = "realistic",
        start_ms: int | None = None,
        on_delivery: Callable[[DeliveryRecord], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"mockvapi: speed must be > 0, got {speed!r}")
        self.client = client
        self.speed = speed
        self.profile: Profile = profile
        self.on_delivery = on_delivery
        # gevent's own sleeps and timeouts run on time.monotonic; another clock is for tests that set the time.
        self._now = clock
        self.sim = CallSimulation(
            scenario,
            seed=seed,
            start_ms=start_ms if start_ms is not None else int(time.time() * 1000),
            lenient_templates=True,
        )
        self.result = CallResult(self.sim.scenario.name, self.sim.seed, str(self.sim.context.call["id"]))
        self._queue: gevent.queue.Queue[tuple[_Outgoing, gevent.event.AsyncResult]] = gevent.queue.Queue()
        self._greenlets: set[gevent.Greenlet] = set()
        self._worker: gevent.Greenlet | None = None
        self._pending = 0
        self._idle = gevent.event.Event()
        self._idle.set()
        self._base = 0.0
        self._hung: set[int] = set()
        self._faults: list[tuple[float, str, str]] = []  # failed ordinary deliveries, as WebhookSink records

    def offset(self) -> float:
        """Call seconds since the call started."""
        return (self._now() - self._base) * self.speed

    def run(self) -> CallResult:
        """Play the call to its end and judge it. Never raises for a failing target or a bad scenario."""
        started = time.perf_counter()
        self._base = self._now()
        try:
            try:
                self._play()
            except StepError as exc:
                self.result.error = str(step_error(self.sim, exc))
            except Exception as exc:  # never a traceback out of a load test: a broken call is a result
                self.result.error = f"internal error: {exc!r}"
            self._idle.wait()  # as the player drains its server sink before the call is over
        finally:
            self.kill()  # a no-op after a full call; stops deliveries when Locust kills the user mid-call
        self.result.wall = time.perf_counter() - started
        self._judge()
        return self.result

    def kill(self) -> None:
        """Stop every greenlet of this call (Locust stopping a user mid-call)."""
        greenlets = list(self._greenlets) + ([self._worker] if self._worker is not None else [])
        self._greenlets.clear()
        gevent.killall(greenlets, block=False)

    # -- the call, as CallPlayer._play ---------------------------------------------------------

    def _play(self) -> None:
        generator = self.sim.run()
        to_send: Reply | Waiting | None = None
        # Each request's pending answer, and how late (s of the call's clock) the request went out.
        pending: dict[int, tuple[gevent.event.AsyncResult, float]] = {}
        answered: DeliveryRecord | None = None
        while True:
            mark = len(self.sim.problems)
            try:
                item = generator.send(to_send) if to_send is not None else next(generator)
            except StopIteration:
                return
            finally:
                if answered is not None:  # the call has now read that answer: report it
                    self._answered(answered, mark)
                    answered = None
            to_send = None
            if isinstance(item, Event):
                delay = self._base + item.at / self.speed - self._now()
                gevent.sleep(max(0.0, delay))
                result = self._dispatch(item)
                if result is not None:
                    pending[item.seq] = (result, self.offset() - item.at)
            else:
                to_send, answered = self._answer(item, *pending.get(item.event.seq, (None, 0.0)))
                if not isinstance(to_send, Waiting):
                    pending.pop(item.event.seq, None)

    def _dispatch(self, event: Event) -> gevent.event.AsyncResult | None:
        context = self.sim.context
        if not context.wants(event.message, "server"):
            return None
        wire = render_message(event, context, self.sim.rendered, self.sim.openai, self.profile, "server")
        server, timeout, kind = route(self.sim, event)
        # Everything goes to the one target, as with MockVapi(webhook=URL): no server config means no
        # auth headers, not no delivery.
        return self._submit(_Outgoing(event, wire, server or {}, timeout, kind))

    def _answer(
        self, ask: Ask, result: gevent.event.AsyncResult | None, behind: float = 0.0
    ) -> tuple[Reply | Waiting, DeliveryRecord | None]:
        """Wait for the real answer to an Ask, telling the simulation when the hang threshold passes.
        `behind`: how late the request went out; the threshold counts from then (as CallPlayer._answer)."""
        if result is None:
            return ask.scripted, None
        if ask.hang_after is not None and ask.event.seq not in self._hung:
            waited = self.offset() - ask.event.at - max(0.0, behind)
            result.wait(max(0.0, ask.hang_after - waited) / self.speed)
            if not result.ready():
                self._hung.add(ask.event.seq)
                return Waiting(ask.hang_after), None
        reply, record = result.get()
        return reply, record

    def _answered(self, record: DeliveryRecord, mark: int) -> None:
        if record.failure is None:
            for problem in self.sim.problems[mark:]:
                if problem.kind in REPLY_PROBLEMS:
                    record.failure = f"{problem.kind}: {problem.detail}"
                    record.reason = problem.kind
                    break
        self._report(record)

    # -- deliveries, as WebhookSink ------------------------------------------------------------

    def _submit(self, outgoing: _Outgoing) -> gevent.event.AsyncResult:
        result = gevent.event.AsyncResult()
        self._pending += 1
        self._idle.clear()
        self._queue.put((outgoing, result))
        if self._worker is None or self._worker.dead:
            self._worker = gevent.spawn(self._work)
        return result

    def _work(self) -> None:
        while self._queue.qsize():
            outgoing, result = self._queue.get_nowait()
            if outgoing.kind == "message":
                self._settle(outgoing, result)
            else:
                # Vapi waits for this answer, but not before sending what follows: the request goes out
                # in order, its answer is awaited aside.
                self._greenlets.add(gevent.spawn(self._settle, outgoing, result))
                for _ in range(3):  # let the request leave before the next message does
                    gevent.sleep(0)

    def _settle(self, outgoing: _Outgoing, result: gevent.event.AsyncResult) -> None:
        try:
            reply, record = self._deliver(outgoing)
        except Exception as exc:  # never let one delivery stop the others
            record = DeliveryRecord(self.result.call_id, outgoing.event.type, outgoing.kind, outgoing.event.at,
                                    error=f"internal error: {exc!r}")
            record.failure = record.reason = record.error
            reply = Reply(None, None, 0.0, error=record.error)
        self.result.deliveries.append(record)
        if outgoing.kind == "message":
            self._report(record)
        result.set((reply, record))
        self._greenlets.discard(gevent.getcurrent())
        self._pending -= 1
        if not self._pending:
            self._idle.set()

    def _deliver(self, outgoing: _Outgoing) -> _Settled:
        server = outgoing.server
        body = envelope_body(outgoing.wire)
        headers = delivery_headers(server, body, outgoing.wire)
        plan = server.get("backoffPlan") if isinstance(server.get("backoffPlan"), Mapping) else None
        delays = retry_delays(plan)
        excluded = frozenset(int(code) for code in (plan or {}).get("excludedStatusCodes") or ())
        record = DeliveryRecord(self.result.call_id, outgoing.event.type, outgoing.kind, outgoing.event.at)
        record.lateness = max(0.0, self._now() - (self._base + outgoing.event.at / self.speed))
        timeout = outgoing.timeout / self.speed
        failure: _NoAnswer | None = None
        status: int | None = None
        answer = b""
        for number in range(len(delays) + 1):
            if number:
                gevent.sleep(delays[number - 1] / self.speed)
                record.latency += delays[number - 1] / self.speed
            record.attempts += 1
            start = time.perf_counter()
            try:
                (status, answer), failure = self.client.post(body, headers, timeout), None
            except _NoAnswer as exc:
                status, answer, failure = None, b"", exc
            record.latency += time.perf_counter() - start
            if status is not None and (200 <= status < 300 or status in excluded):
                break
        after = f" (after {record.attempts} attempts)" if record.attempts > 1 else ""
        record.status, record.response_length = status, len(answer)
        record.body = parse_json(answer)
        if status is None:
            assert failure is not None
            record.error = f"{failure}{after}"
            record.reason = failure.reason
        elif not 200 <= status < 300:
            record.error = record.reason = f"HTTP {status}{after}"
        record.failure = record.error
        if record.error is not None and outgoing.kind == "message":
            # Vapi ignores failed deliveries of ordinary messages; the judge should hear about them.
            self._faults.append((outgoing.event.at, "delivery-failed",
                                 f"{outgoing.event.type} -> {self.client.url}: {record.error}"))
        latency = record.latency * self.speed  # call seconds
        if status is None:
            assert failure is not None
            return reply_of(None, None, latency, failure=failure.kind, error=record.error), record
        return reply_of(status, record.body, latency), record

    def _report(self, record: DeliveryRecord) -> None:
        if self.on_delivery is not None:
            self.on_delivery(record)

    # -- the verdict ---------------------------------------------------------------------------

    def _judge(self) -> None:
        sim = self.sim
        problems = [(p.at, p.kind, p.detail) for p in sim.problems] + self._faults
        problems.sort(key=lambda p: p[0])
        self.result.problems = problems
        self.result.ended_reason = sim.ended_reason
        if self.result.error is not None:
            return
        self.result.failures = expect_failures(
            sim.scenario.expect,
            ended_reason=sim.ended_reason,
            delivered=[d.message_type for d in self.result.deliveries],
            problems=[(kind, detail) for _, kind, detail in problems],
            reply_latencies=[(d.message_type, d.latency * self.speed) for d in self.result.deliveries],
        )

    def __repr__(self) -> str:
        return (f"GeventCall({self.sim.scenario.name!r}, call_id={self.result.call_id[:8]}, "
                f"at={self.offset():.3f}s, speed={self.speed:g})")
