"""The webhook transport: server messages POSTed as `{"message": {...}}`, in order, on the record.

One `WebhookSink` per call. Deliveries go out one after another (a slow answer delays the next
message rather than reordering it), each through `deliver()` with the server's timeout, auth headers
and backoff plan, and each is recorded in the journal with its request, response, latency and retries.

Encoding ahead: while a delivery is out (written, its answer awaited), a message submitted meanwhile is
encoded at once (body and headers), with every one queued before it, in order; so when the answer comes,
the next request only has to be written, and the encoding overlaps the wait instead of following it. The
bytes are the same: the same encoder, the same order, and nothing a submitted message holds changes later.
At most `ahead_items` deliveries (and `ahead_bytes` of bodies) wait encoded: a call on a virtual clock may
queue all its messages behind a slow server, and every body carries the whole history so far. The window is
refilled while deliveries are out too, once half of it has gone out (`_refill`): a call waiting for an
answer (a tool's) behind a backlog submits nothing, and without it everything past the window would be
encoded at its turn, between one answer and the next request, with the receiver idle.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Any

from mockvapi.engine.clock import Clock
from mockvapi.engine.events import Reply
from mockvapi.engine.flag import Flag
from mockvapi.engine.journal import Delivery, Journal, OfMessage, Problem
from mockvapi.engine.player import Outgoing
from mockvapi.models.encoding import WireEncoder
from mockvapi.transports.envelope import delivery_headers, envelope_text, reply_of
from mockvapi.transports.http import (
    AttemptRecord,
    DeliveryOutcome,
    HttpRequest,
    HttpTarget,
    deliver,
)
from mockvapi.transports.targets import resolve_target

log = logging.getLogger("mockvapi.deliveries")

# Replies awaited aside (see `_work`), kept from the garbage collector until done: one set for every sink.
_ASIDE: set[asyncio.Task[None]] = set()

# How the journal keeps a webhook's body: encoded again from the message it records (see `_deliver`).
_ENVELOPE_OF_MESSAGE = OfMessage(envelope_text)


class _EmptyReply(dict[str, Any]):
    """The parsed `{}` the journal keeps for every delivery answered `{}` (most of them): one shared, read-only
    dict instead of one each (64 bytes per delivery). It equals `{}`, encodes as `{}` and copies as a dict;
    changing it raises TypeError. The simulation gets a dict of its own (see `_reply`)."""

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("a journaled reply is read-only; copy it with dict(...) to change it")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __copy__(self) -> dict[str, Any]:
        return {}

    def __deepcopy__(self, memo: object) -> dict[str, Any]:
        return {}

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[()]]:
        return dict, ()


_EMPTY_REPLY = _EmptyReply()


def _latency(attempts: list[AttemptRecord]) -> float:
    """Seconds spent on a delivery's attempts and the backoff before each (one attempt: no generator)."""
    if len(attempts) == 1:
        only = attempts[0]
        return only.latency + only.delay
    return sum(a.latency + a.delay for a in attempts)


class TargetPool:
    """Targets by URL, created once and closed together. An override sends everything to one target."""

    def __init__(self, override: object | None = None, *, path: str = "/") -> None:
        self.override: HttpTarget | None = (
            resolve_target(override, path=path) if override is not None else None
        )
        self._by_url: dict[str, HttpTarget] = {}

    def get(self, url: str | None) -> HttpTarget | None:
        if self.override is not None:
            return self.override
        if not url:
            return None
        if url not in self._by_url:
            self._by_url[url] = resolve_target(url)
        return self._by_url[url]

    async def aclose(self) -> None:
        targets = list(self._by_url.values()) + ([self.override] if self.override is not None else [])
        self._by_url.clear()
        for target in targets:
            await target.aclose()

    def __repr__(self) -> str:
        return f"TargetPool(override={self.override!r}, urls={sorted(self._by_url)})"


class _Queued:
    """A delivery waiting its turn, with its body and headers once encoded (`failure`: encoding raised)."""

    __slots__ = ("body", "failure", "future", "headers", "outgoing")

    def __init__(self, outgoing: Outgoing, future: asyncio.Future[Reply | None]) -> None:
        self.outgoing = outgoing
        self.future = future
        self.body: bytes | None = None
        self.headers: dict[str, str] | None = None
        self.failure: Exception | None = None


class WebhookSink:
    """Delivers one call's server messages in order to the URL each message's server config names."""

    ahead_items = 16  # deliveries encoded ahead at most (module docstring)
    ahead_bytes = 1 << 20  # and their bodies' bytes

    def __init__(self, pool: TargetPool, journal: Journal, clock: Clock) -> None:
        self.pool = pool
        self.journal = journal
        self.clock = clock
        # None while nothing is queued and no worker runs (see `_work`): an empty deque is 624 bytes.
        self._queue: deque[_Queued] | None = None
        self._unprepared = 0  # queued deliveries not yet encoded: always the last ones (encoded in order)
        self._ahead = self._ahead_bytes = 0  # queued deliveries encoded, and their bodies' bytes
        self._out = 0  # deliveries under way (sent or being sent, their answer awaited)
        self._worker: asyncio.Task[None] | None = None
        self._pending = 0
        self._idle = Flag()  # not an asyncio.Event: see engine.flag
        self._idle.set()
        # One call's history, encoded once (see models.encoding); None until needed, and let go while the
        # call rests (see `rest`).
        self._encoder: WireEncoder | None = None
        self._resting = False  # the player said the call waits a while: let go of the encoder once idle
        self._unusable: set[str] | None = None  # server URLs that cannot be sent to, reported once each
        self._last_headers: dict[str, str] | None = None  # the headers the journal kept last (see _kept_headers)
        self._refill_due = False  # a `_refill` is queued on the loop

    def submit(self, outgoing: Outgoing) -> Awaitable[Reply | None]:
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        url = (outgoing.server or {}).get("url")
        try:
            target = self.pool.get(url if isinstance(url, str) else None)
        except ValueError as exc:  # a URL nothing can be sent to (the REST API refuses them; a scenario may not)
            if self._unusable is None:
                self._unusable = set()
            if url not in self._unusable:
                self._unusable.add(str(url))
                self.journal.problem(Problem(outgoing.call_id, "delivery-failed",
                                             f"{outgoing.event.type} -> {url!r}: {exc}", outgoing.event.at))
            future.set_result(None if outgoing.kind == "message" else Reply(None, None, 0.0, error=str(exc)))
            return future
        if target is None:
            future.set_result(None)  # no server configured for this message: Vapi sends nothing
            return future
        self._pending += 1
        self._resting = False
        self._idle.clear()
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(_Queued(outgoing, future))
        self._unprepared += 1
        if self._out:
            self._prepare_queued()  # encode ahead (module docstring)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())
        return future

    def _prepare_queued(self) -> None:
        """Encode queued deliveries not yet encoded, in queue order, up to the limits."""
        queue = self._queue
        assert queue is not None  # called with something queued
        for item in itertools.islice(queue, len(queue) - self._unprepared, None):
            if self._ahead >= self.ahead_items or self._ahead_bytes >= self.ahead_bytes:
                return
            self._prepare(item)
            self._unprepared -= 1
            self._ahead += 1
            self._ahead_bytes += len(item.body or b"")

    def _refill(self) -> None:
        """Queued by `_settle` as a request starts, once half the window has gone out: runs once the request is
        written and its answer awaited, and fills the window again. In batches, not one message per request:
        encoding several in a row runs on warm caches (between two requests the receiver, often on this very
        core, has run), and it is one callback per half window instead of one per request."""
        self._refill_due = False
        if self._out and self._unprepared:
            self._prepare_queued()

    def _prepare(self, item: _Queued) -> None:
        outgoing = item.outgoing
        try:
            encoder = self._encoder
            if encoder is None:
                encoder = self._encoder = WireEncoder(announced=True)  # see WebsocketClient's
            body = envelope_text(outgoing.wire, encoder).encode()
            item.headers = delivery_headers(outgoing.server or {}, body, outgoing.wire)
            item.body = body
        except Exception as exc:  # raised when the delivery's turn comes, as if encoded then
            item.failure = exc

    async def drain(self) -> None:
        await self._idle.wait()
        if not self._pending:
            # Everything went out: the encoded history (as large as the call's replies) is not kept with a
            # finished call. A later message is encoded afresh, with the same bytes.
            self._encoder = None

    def rest(self) -> None:
        """The call waits a while for its next message (the player's REST_AFTER): once everything submitted
        has gone out, let go of the encoder. Its texts (the history so far, the call, assistant and
        customer objects: ~6 kB a minute into a call) would only make the next message cheaper; that one is
        encoded afresh, with the same bytes, for a few microseconds per pause."""
        if self._pending:
            self._resting = True  # see `_settle`
        else:
            self._encoder = None

    async def _work(self) -> None:
        queue = self._queue
        assert queue is not None  # started by `submit`, which made it
        while queue:
            item = queue.popleft()
            if item.body is None and item.failure is None:
                self._unprepared -= 1  # the first unencoded one: everything behind it is unencoded too
                self._prepare(item)
            else:
                self._ahead -= 1
                self._ahead_bytes -= len(item.body or b"")
            if item.outgoing.kind == "message":
                await self._settle(item)
            else:
                # Vapi waits for this reply, but not before sending what follows (a `hang` while the
                # tool is slow, say): the request goes out in order, its answer is awaited aside.
                task = asyncio.ensure_future(self._settle(item))
                _ASIDE.add(task)
                task.add_done_callback(_ASIDE.discard)
                for _ in range(3):  # let the request leave before the next message does
                    await asyncio.sleep(0)
        if self._queue is queue:
            # Everything went out: let the queue go with the worker (a deque is 624 bytes, and a live call spends
            # most of its time between bursts of messages); the next `submit` makes a queue and a worker. The
            # worker's own task goes too (~250 bytes once done): nothing runs between here and its end.
            self._queue = None
            self._worker = None

    async def _settle(self, item: _Queued) -> None:
        future = item.future
        self._out += 1
        if (
            self._unprepared
            and not self._refill_due
            and self._ahead <= self.ahead_items // 2
            and self._ahead_bytes <= self.ahead_bytes // 2
        ):
            self._refill_due = True  # encode ahead while this request's answer is awaited (module docstring)
            asyncio.get_running_loop().call_soon(self._refill)
        try:
            reply = await self._deliver(item)
        except Exception as exc:  # never let one delivery stop the others
            reply = Reply(None, None, 0.0, error=f"internal error: {exc!r}")
        finally:
            self._out -= 1
        if not future.done():
            future.set_result(reply)
        self._pending -= 1
        if not self._pending:
            self._idle.set()
            if self._resting:
                self._encoder = None

    async def _deliver(self, item: _Queued) -> Reply:
        outgoing = item.outgoing
        server: Mapping[str, Any] = outgoing.server or {}
        url = server.get("url")
        target = self.pool.get(url if isinstance(url, str) else None)
        assert target is not None
        tamper = outgoing.tamper
        if item.failure is not None:
            raise item.failure
        body, headers = item.body, item.headers
        assert body is not None and headers is not None
        if tamper is not None and tamper.secret is not None:
            headers = {k: v for k, v in headers.items() if k.lower() != "x-vapi-secret"}
            headers["X-Vapi-Secret"] = tamper.secret
        at = tamper.at if tamper is not None and tamper.at is not None else outgoing.event.at
        if tamper is not None and not tamper.send:
            self._record(outgoing, target, headers, at, tamper.injected, sent=False)
            # Vapi never hears back from a request the network lost: for a request it waits on, a timeout.
            return Reply(None, None, outgoing.timeout, error="timeout")
        delivery = self._record(outgoing, target, headers, at, tamper.injected if tamper is not None else None)
        outcome = await self._send(target, url, headers, body, outgoing, server)
        self._fill(delivery, outcome)
        retries = tamper.retries if tamper is not None else 0
        for n in range(1, retries + 1):
            # Faults may re-send after a 5xx whatever the backoffPlan says, so idempotency gets tested.
            if outcome.response is None or outcome.response.status < 500:
                break
            await self.clock.sleep(tamper.retry_delay if tamper is not None else 0.0)
            delivery = self._record(outgoing, target, headers, at, f"retry-5xx {n}/{retries}",
                                    later=n * tamper.retry_delay if tamper else 0.0)
            outcome = await self._send(target, url, headers, body, outgoing, server)
            self._fill(delivery, outcome)
        if log.isEnabledFor(logging.INFO):
            log.info("call %s %-20s -> %s %s", outgoing.call_id[:8], outgoing.event.type, target.description,
                     delivery.status if delivery.status is not None else delivery.error)
        refused = tamper is not None and tamper.secret is not None and outcome.response is not None and (
            400 <= outcome.response.status < 500
        )
        if not outcome.ok and outgoing.kind == "message" and not refused:
            # Vapi ignores failed deliveries of ordinary messages; the test should hear about them.
            self.journal.problem(
                Problem(
                    outgoing.call_id,
                    "delivery-failed",
                    f"{outgoing.event.type} -> {target.description}: "
                    f"{str(outcome.error).replace(f' {target.description}:', '')}",  # the URL once
                    outgoing.event.at,
                    delivery.seq,
                )
            )
        if tamper is not None and tamper.secret is not None and outcome.ok:
            self.journal.problem(
                Problem(
                    outgoing.call_id,
                    "wrong-secret-accepted",
                    f"{outgoing.event.type} with a wrong X-Vapi-Secret was answered {delivery.status}; "
                    "a webhook should refuse it (401)",
                    outgoing.event.at,
                    delivery.seq,
                )
            )
        return self._reply(outcome, delivery.response_json)

    def _record(
        self, outgoing: Outgoing, target: HttpTarget, headers: Mapping[str, str], at: float, injected: str | None,
        *, sent: bool = True, later: float = 0.0,
    ) -> Delivery:
        """The delivery, in the journal (a method: a closure made per delivery, with six cells, cost ~1 us)."""
        return self.journal.record_webhook(  # a row of the call's run once settled (engine.journal `_Run`)
            Delivery(
                call_id=outgoing.call_id,
                channel="webhook",
                target=target.description,
                message_type=outgoing.event.type,
                message=outgoing.wire if outgoing.kept is None else outgoing.kept,
                at=at + later,
                request_headers=self._kept_headers(headers),
                # The journal keeps the body as the way to encode it again from the message it records anyway (same
                # bytes: the encoder is byte-for-byte `json.dumps`, and nothing a sent message holds changes later).
                # Every body carries the whole history so far, so a call's bodies as text grow with the square of
                # its length: they were the largest part of a live call's memory.
                request_body=_ENVELOPE_OF_MESSAGE,  # the delivery's message is `outgoing.wire`
                injected=injected,
                sent=sent,
            )
        )

    def _kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """A copy of `headers` for the journal, shared by the call's deliveries while they are equal (they are,
        unless a credential signs each body): one dict per call, not per delivery."""
        last = self._last_headers
        if last is not None and last == headers:
            return last
        self._last_headers = kept = dict(headers)
        return kept

    def _send(
        self,
        target: HttpTarget,
        url: object,
        headers: Mapping[str, str],
        body: bytes,
        outgoing: Outgoing,
        server: Mapping[str, Any],
    ) -> Coroutine[Any, Any, DeliveryOutcome]:
        """`deliver()`'s coroutine itself (awaited by the caller: one coroutine less per delivery)."""
        plan = server.get("backoffPlan")
        return deliver(
            target,
            HttpRequest(url if isinstance(url, str) and self.pool.override is None else "", headers, body),
            timeout=self.clock.real_seconds(outgoing.timeout),
            backoff_plan=plan if plan is not None and isinstance(plan, Mapping) else None,
            sleep=self.clock.sleep,
        )

    def _fill(self, delivery: Delivery, outcome: DeliveryOutcome) -> None:
        response = outcome.response
        delivery.attempts = len(outcome.attempts)
        delivery.latency = _latency(outcome.attempts)
        delivery.error = outcome.error
        if response is not None:
            delivery.status = response.status
            delivery.response_body = response.text
            # The usual answer: the shared read-only `{}`, not a dict of its own per delivery.
            delivery.response_json = _EMPTY_REPLY if response.body == b"{}" else response.json()
            if response.app_error and not delivery.error:
                delivery.error = f"app raised after answering: {response.app_error}"
        self.journal.settled(delivery)  # the reply now counts towards the journal's byte budget

    def _reply(self, outcome: DeliveryOutcome, parsed: Any) -> Reply:
        """The outcome in the simulation's terms, with latency in call seconds."""
        per_second = self.clock.real_seconds(1.0)
        latency = _latency(outcome.attempts) / per_second
        response = outcome.response
        if response is None:
            last = outcome.attempts[-1] if outcome.attempts else None
            return reply_of(None, None, latency, failure=last.failure if last else None, error=outcome.error)
        # The body as the journal parsed it: a large reply is parsed once, and held once; the shared empty one
        # as a dict the simulation may change.
        return reply_of(response.status, {} if parsed is _EMPTY_REPLY else parsed, latency)

    def __repr__(self) -> str:
        return f"WebhookSink(pending={self._pending}, pool={self.pool!r})"
