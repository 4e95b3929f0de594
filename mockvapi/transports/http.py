"""HTTP webhook delivery: targets, requests and responses, and Vapi's retry rules.

A *target* is where webhook POSTs go (the ``HttpTarget`` protocol).
``mockvapi.transports.targets.resolve_target`` turns what a user hands mockvapi into one: a URL (sent
over a real socket with aiohttp), or an app served in-process (ASGI, WSGI, ``aiohttp.web.Application``,
plain callable; see :mod:`mockvapi.transports.inprocess`).

Where a request goes: targets resolve ``HttpRequest.url`` against their own destination. An empty
url means the target's own URL (or path, for in-process apps); a path is joined to it; an absolute
URL is used as is (in-process apps are handed its path and query, with its host as ``Host``).

``deliver`` sends one request with Vapi's semantics [SPEC ``Server``, ``BackoffPlan``]:

* a per-attempt timeout: ``server.timeoutSeconds`` (default 20 s), 7.5 s for ``assistant-request``;
* no retries unless a ``backoffPlan`` is given. With one, an attempt that gets no answer (timeout,
  connection error) or a non-2xx status not listed in ``excludedStatusCodes`` is retried up to
  ``maxRetries`` times, after ``baseDelaySeconds`` (``fixed``) or ``baseDelaySeconds * 2**n``
  (``exponential``: the base is the first delay, then it doubles). Waits go through the injected
  ``sleep`` so virtual clocks make them instant.

Failing targets never raise out of ``deliver``: the ``DeliveryOutcome`` records every attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import urljoin, urlsplit

import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from mockvapi.engine.redaction import redact_url
from mockvapi.errors import DeliveryError
from mockvapi.transports.envelope import parse_json
from mockvapi.transports.http1 import MAX_RESPONSE_BYTES, Http1Error, Http1Pool

if TYPE_CHECKING:
    import ssl

    # Imported where used: aiohttp's client costs ~0.1 s at import (it loads the system's CA certificates),
    # which `import mockvapi` should not pay before anything is sent over a socket.
    import aiohttp

__all__ = [
    "ASSISTANT_REQUEST_TIMEOUT_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "AttemptRecord",
    "DeliveryFailure",
    "DeliveryOutcome",
    "FailureKind",
    "HttpRequest",
    "HttpResponse",
    "HttpTarget",
    "UrlTarget",
    "deliver",
    "retry_delays",
]

#: ``Server.timeoutSeconds`` default [SPEC].
DEFAULT_TIMEOUT_SECONDS = 20.0
#: Vapi's fixed limit for ``assistant-request`` answers, whatever the server config says [EV].
ASSISTANT_REQUEST_TIMEOUT_SECONDS = 7.5

FailureKind = Literal["timeout", "connection", "app-error"]


class DeliveryFailure(DeliveryError):
    """One attempt got no HTTP answer: it timed out, the connection failed, or an in-process callable raised.

    In-process callables may raise it themselves to simulate a network failure.
    """

    def __init__(self, kind: FailureKind, detail: str) -> None:
        self.kind: FailureKind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}")

    def __repr__(self) -> str:
        return f"DeliveryFailure(kind={self.kind!r}, detail={self.detail!r})"


def _preview(body: bytes, limit: int = 80) -> str:
    if len(body) <= limit:
        return repr(body)
    return f"{body[:limit]!r}... ({len(body)} bytes)"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms" if seconds < 1 else f"{seconds:.2f}s"


def describe_exception(exc: BaseException) -> str:
    """``"ValueError: boom"``: the one line a journal shows for an exception (no traceback)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True)
class HttpRequest:
    """What a real webhook POST carries. ``url``: see the module docstring."""

    url: str
    headers: Mapping[str, str]
    body: bytes
    method: str = "POST"

    def json(self) -> Any:
        """The parsed body, or None if it is empty or not JSON."""
        return parse_json(self.body)

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {self.url or '<target>'}, {_preview(self.body)})"


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP answer. ``headers`` is case-insensitive; ``app_error`` names the exception an in-process
    app raised while producing it (the app's own 500, or one raised after the response was complete)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    latency: float
    app_error: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.headers, CIMultiDictProxy):
            object.__setattr__(self, "headers", CIMultiDictProxy(CIMultiDict(self.headers)))

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The parsed body, or None if it is empty or not JSON (never raises)."""
        body = self.body
        if body == b"{}":
            # The usual answer to a message that asks for none: the value parsing gives, a new dict each time
            # (a caller may keep or change it), without the parser (~4 us per webhook in a live call).
            return {}
        return parse_json(body)

    def __repr__(self) -> str:
        error = f", app_error={self.app_error!r}" if self.app_error else ""
        return f"HttpResponse({self.status}, {_preview(self.body)}, {_duration(self.latency)}{error})"


@runtime_checkable
class HttpTarget(Protocol):
    """Where webhook requests go. Built-in targets also have ``url``: their own destination."""

    description: str

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        """Send one request; raise ``DeliveryFailure`` if no HTTP answer came within ``timeout`` s."""
        ...

    async def aclose(self) -> None:
        """Release sockets/servers; idempotent."""
        ...


def check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise ValueError(f"mockvapi: timeout must be > 0 seconds, got {timeout!r}")


# Sent as is: the wire carries exactly the caller's headers plus Host and Content-Length, as Vapi's
# own requests would, so in-process targets can be handed the same set.
_SKIPPED_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class _Reused:
    """Set by aiohttp's tracing when a request goes out on a kept-alive connection."""

    __slots__ = ("reused",)

    def __init__(self) -> None:
        self.reused = False


async def _on_reuse(session: object, context: Any, params: object) -> None:
    request_context = context.trace_request_ctx
    if isinstance(request_context, _Reused):
        request_context.reused = True


class _TooLarge(Exception):
    """The answer grew past the target's limit (the connection is released unread)."""


class _Untouched(ConnectionError):
    """The request failed before any of its answer arrived; `reused`: on a kept-alive connection."""

    def __init__(self, reused: bool) -> None:
        super().__init__("no answer")
        self.reused = reused


class UrlTarget:
    """POSTs over a real socket: ``http://`` URLs with mockvapi's keep-alive HTTP/1.1 client
    (:mod:`mockvapi.transports.http1`), ``https://`` with one aiohttp session; both made on first use.

    Both paths follow the same rules: redirects are not followed (a 3xx is the answer, see ``http1``'s
    docstring); answers over ``max_response_bytes`` (16 MB, received or decoded) are refused as a
    connection failure; a request that fails on a kept-alive connection before any of its answer
    arrived (the server closed it as it was reused) is sent once more on a fresh one.
    ``ssl_context``: how ``https://`` servers are verified (default: the system's CAs).
    """

    def __init__(
        self, url: str, *, ssl_context: ssl.SSLContext | None = None, max_response_bytes: int = MAX_RESPONSE_BYTES
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"mockvapi: a webhook URL must look like http(s)://host/path, got {redact_url(url)!r}")
        self.url = url
        self.description = redact_url(url)  # logged and journaled: never a URL's password
        self._session: aiohttp.ClientSession | None = None
        self._pool: Http1Pool | None = None
        self._joined: tuple[str, str] = ("", url)  # the last request url and where it resolved to
        self.ssl_context = ssl_context
        self.max_response_bytes = max_response_bytes

    def __repr__(self) -> str:
        return f"UrlTarget({self.url!r})"

    def _ensure_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            tracing = aiohttp.TraceConfig()
            tracing.on_connection_reuseconn.append(_on_reuse)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.ssl_context if self.ssl_context is not None else True),
                trace_configs=[tracing],
                skip_auto_headers=_SKIPPED_AUTO_HEADERS,
                # Vapi does not replay cookies a webhook server sets.
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),  # send() applies the per-attempt timeout
            )
        return self._session

    def _resolve(self, url: str) -> str:
        if not url:
            return self.url
        last, joined = self._joined
        if url != last:  # a sink sends every message to the same url: join once
            joined = urljoin(self.url, url)
            self._joined = (url, joined)
        return joined

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        check_timeout(timeout)
        url = self._resolve(request.url)
        if url[:6].lower() == "https:":  # schemes are case-insensitive
            return await self._send_aiohttp(url, request, timeout)
        pool = self._pool
        if pool is None:
            pool = self._pool = Http1Pool(max_response_bytes=self.max_response_bytes)
        start = time.perf_counter()
        try:
            # On the loop's own (real) clock, as asyncio.timeout: a VirtualClock does not move it.
            answer = await pool.request(request.method, url, request.headers, request.body, timeout=timeout)
        except TimeoutError:
            raise DeliveryFailure("timeout", f"no response from {url} within {_duration(timeout)}") from None
        except Http1Error as exc:  # no complete answer: reset, closed, garbage, too large
            raise DeliveryFailure("connection", f"{url}: {exc.detail}") from None
        except OSError as exc:  # could not connect (refused, unreachable, DNS)
            raise DeliveryFailure("connection", f"{url}: {describe_exception(exc)}") from None
        return HttpResponse(
            answer.status, CIMultiDictProxy(CIMultiDict(answer.headers)), answer.body, time.perf_counter() - start
        )

    async def _send_aiohttp(self, url: str, request: HttpRequest, timeout: float) -> HttpResponse:
        import aiohttp

        session = self._ensure_session()
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                try:
                    status, headers, body = await self._exchange(session, url, request)
                except (aiohttp.ClientConnectionError, OSError) as exc:
                    if not isinstance(exc, _Untouched) or not exc.reused:
                        raise
                    # As http1's pool: the server closed a kept-alive connection as it was reused, and nothing
                    # of the answer came, so the request is sent once more (aiohttp opens a fresh connection).
                    status, headers, body = await self._exchange(session, url, request)
        except TimeoutError:  # also aiohttp's ServerTimeoutError
            raise DeliveryFailure("timeout", f"no response from {url} within {_duration(timeout)}") from None
        except _TooLarge:
            raise DeliveryFailure("connection", f"{url}: response over {self.max_response_bytes} bytes") from None
        except (aiohttp.ClientError, OSError) as exc:
            cause = exc.__cause__ if isinstance(exc, _Untouched) and exc.__cause__ is not None else exc
            raise DeliveryFailure("connection", f"{url}: {describe_exception(cause)}") from None
        return HttpResponse(status, CIMultiDictProxy(headers), body, time.perf_counter() - start)

    async def _exchange(
        self, session: aiohttp.ClientSession, url: str, request: HttpRequest
    ) -> tuple[int, CIMultiDict[str], bytes]:
        import aiohttp

        tracked = _Reused()
        try:
            response = await session.request(
                request.method, yarl.URL(url), data=request.body, headers=request.headers,
                allow_redirects=False, trace_request_ctx=tracked,
            )
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise _Untouched(tracked.reused) from exc
        async with response:
            declared = response.content_length
            if declared is not None and declared > self.max_response_bytes:
                raise _TooLarge
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_any():  # decoded if gzip/deflate, as http1's cap
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise _TooLarge
                chunks.append(chunk)
            return response.status, CIMultiDict(response.headers), b"".join(chunks)

    async def aclose(self) -> None:
        """Close connections (idempotent; a later send opens new ones)."""
        session, self._session = self._session, None
        if self._pool is not None:
            await self._pool.aclose()
        if session is not None:
            await session.close()


@dataclass(frozen=True)
class AttemptRecord:
    """One try: its HTTP status, or the kind of failure; ``delay`` is the backoff waited before it."""

    number: int
    status: int | None
    failure: FailureKind | None
    detail: str | None
    latency: float
    delay: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def __repr__(self) -> str:
        what = (
            f"{self.status} in {_duration(self.latency)}"
            if self.status is not None
            else f"{self.failure} after {_duration(self.latency)}"
        )
        waited = f", after {self.delay:g}s backoff" if self.number > 1 else ""
        return f"AttemptRecord(#{self.number} {what}{waited})"


@dataclass(frozen=True)
class DeliveryOutcome:
    """The result of ``deliver``: the last response (None if the last attempt got none), every attempt,
    and a one-line ``error`` when the delivery did not end with a 2xx."""

    response: HttpResponse | None
    attempts: list[AttemptRecord]
    error: str | None

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.ok

    def __repr__(self) -> str:
        error = f", error={self.error!r}" if self.error else ""
        return f"DeliveryOutcome(ok={self.ok}, attempts={self.attempts!r}{error})"


@dataclass(frozen=True)
class _Backoff:
    delays: tuple[float, ...]
    excluded: frozenset[int]


_NO_BACKOFF = _Backoff((), frozenset())


def _parse_backoff(plan: Mapping[str, Any] | None) -> _Backoff:
    if not plan:
        return _NO_BACKOFF  # the usual case: not rebuilt for every delivery
    kind = plan.get("type") or "fixed"
    if kind not in ("fixed", "exponential"):
        raise ValueError(f"mockvapi: backoffPlan.type must be 'fixed' or 'exponential', got {kind!r}")
    retries = int(plan.get("maxRetries") or 0)
    base = float(plan.get("baseDelaySeconds") or 0.0)
    if retries < 0 or base < 0:
        raise ValueError(f"mockvapi: backoffPlan maxRetries and baseDelaySeconds must be >= 0, got {plan!r}")
    delays = tuple(base for _ in range(retries)) if kind == "fixed" else tuple(base * 2 ** n for n in range(retries))
    # The spec types the items as "object"; accept ints and numeric strings alike.
    excluded = frozenset(int(code) for code in plan.get("excludedStatusCodes") or ())
    return _Backoff(delays, excluded)


def retry_delays(backoff_plan: Mapping[str, Any] | None) -> list[float]:
    """The waits before each retry a ``BackoffPlan`` allows (empty without a plan)."""
    return list(_parse_backoff(backoff_plan).delays)


async def deliver(
    target: HttpTarget,
    request: HttpRequest,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    backoff_plan: Mapping[str, Any] | None = None,
    sleep: Callable[[float], Awaitable[None]],
) -> DeliveryOutcome:
    """Send ``request`` with Vapi's timeout and retry rules (module docstring); never raises for a
    failing target. ``sleep`` is the clock's sleep, used for the waits between retries."""
    check_timeout(timeout)
    backoff = _parse_backoff(backoff_plan)
    attempts: list[AttemptRecord] = []
    response: HttpResponse | None = None
    failure: DeliveryFailure | None = None
    for number in range(1, len(backoff.delays) + 2):
        delay = backoff.delays[number - 2] if number > 1 else 0.0
        if number > 1:
            await sleep(delay)
        start = time.perf_counter()
        try:
            response, failure = await target.send(request, timeout=timeout), None
        except DeliveryFailure as exc:
            response, failure = None, exc
        except Exception as exc:  # a broken custom target is recorded like any failing target
            response, failure = None, DeliveryFailure("app-error", describe_exception(exc))
        if response is not None:
            attempts.append(AttemptRecord(number, response.status, None, None, response.latency, delay))
            if response.ok or response.status in backoff.excluded:
                break
        else:
            assert failure is not None
            latency = time.perf_counter() - start
            attempts.append(AttemptRecord(number, None, failure.kind, failure.detail, latency, delay))
    return DeliveryOutcome(response, attempts, _outcome_error(response, failure, len(attempts)))


def _outcome_error(response: HttpResponse | None, failure: DeliveryFailure | None, tries: int) -> str | None:
    if response is not None and response.ok:
        return None
    after = f" (after {tries} attempts)" if tries > 1 else ""
    if response is not None:
        cause = f": {response.app_error}" if response.app_error else ""
        return f"HTTP {response.status}{cause}{after}"
    return f"{failure}{after}"
