"""A lean keep-alive HTTP/1.1 client for webhook POSTs to ``http://`` URLs (``UrlTarget``'s socket path).

Why not aiohttp here: a webhook delivery is one small POST and one small answer, and aiohttp's client
request costs ~0.2 ms of CPU per delivery, as much as the rest of mockvapi's work on the message. This
client writes the request in one ``transport.write`` and parses the answer with llhttp
(``httptools.HttpResponseParser``) in an ``asyncio.Protocol``. ``https://`` URLs stay on aiohttp.

What it does:

* **Keep-alive pool** per ``Http1Pool`` (one per ``UrlTarget``): idle connections by origin, most
  recently used first. One request at a time per connection (never pipelined); concurrent requests
  (several calls sharing a target, a tool-calls reply awaited aside) each take their own connection,
  up to ``max_connections`` (then they wait for one, within the caller's timeout).
* **Reconnects** when the server closed a connection (``Connection: close``, HTTP/1.0, EOF while idle,
  idle longer than ``idle_seconds``). A request that fails on a *reused* connection before any byte of
  the response arrived is sent once more on a fresh one (see ``Http1Pool.request``).
* **Bodies** framed by Content-Length, chunked, or by the server closing the connection; 1xx interim
  responses are skipped; gzip/deflate bodies are decoded (as aiohttp did: its auto_decompress).
* **Refuses** responses over ``max_response_bytes`` (16 MB), anything that is not HTTP, an upgrade,
  a reset or close mid-response: ``Http1Error`` (``UrlTarget`` reports it as a "connection" failure).
* **Redirects are not followed**: a 3xx is the answer. aiohttp followed up to 10 by default (turning
  the POST into a bodiless GET on 301/302/303); Vapi documents no redirect handling
  (shared/vapi/PROTOCOL.md), and a webhook URL that redirects is a misconfiguration a test should
  see: the delivery is recorded as a non-2xx answer, as the status says.
* **Timeouts** are the caller's (``asyncio.timeout`` around ``request``, on the loop's real clock, so a
  ``VirtualClock`` does not touch them); a request cancelled mid-exchange closes its connection, whose
  state is then unknown.

On the wire: the request line, ``Host`` (first, unless the caller gives one), exactly the caller's
headers in their order, ``Authorization: Basic`` if the URL has credentials and the caller gave no
Authorization, and ``Content-Length`` last; the caller's own Content-Length/Transfer-Encoding are
dropped (the body is always sent whole, with its real length). Same bytes as the aiohttp client
configured as ``UrlTarget`` had it (tests compare them).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import re
import time
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any

import yarl

__all__ = ["MAX_RESPONSE_BYTES", "Http1Error", "Http1Pool", "Http1Response"]

#: Answers larger than this (headers and body as received, or the decoded body) are refused.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024

_Key = tuple[str, int]
_JOINED_BODY_BYTES = 64 * 1024  # bodies up to this go out in the same write as their head
_NAME_BAD = re.compile(r"[\x00-\x20:\x7f()<>@,;\\\"/\[\]?={}]")
_DROPPED = frozenset(("content-length", "transfer-encoding"))  # the framing is ours: the body goes whole
_CLOCK_RESOLUTION = time.get_clock_info("monotonic").resolution  # what the event loop allows its timers


class Http1Error(Exception):
    """The exchange failed without a complete HTTP answer; ``detail`` says how (one line)."""

    def __init__(self, detail: str, *, untouched: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        #: Nothing of the response had arrived: the request may be sent again on a fresh connection.
        self.untouched = untouched


class Http1Response:
    """A complete answer: status, header pairs as received, body (decoded if gzip/deflate)."""

    __slots__ = ("body", "headers", "status")  # a plain class: dataclasses cost ~1 ms at import

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Http1Response({self.status}, {len(self.body)} bytes)"


class _Origin:
    """What a (method, URL) pair needs on the wire, worked out once."""

    __slots__ = ("basic", "host", "key", "request_line")

    def __init__(self, key: _Key, request_line: str, host: str, basic: str | None) -> None:
        self.key = key
        self.request_line = request_line
        self.host = host  # the Host header's value
        self.basic = basic  # "Basic ..." from credentials in the URL


# What each (method, URL) needs on the wire, shared by every pool: a call has a pool of its own, and parsing its URL
# again (yarl) cost its first delivery ~10 us and each pool ~0.4 kB. Bounded: cleared when full.
_ORIGINS: dict[tuple[str, str], _Origin] = {}


def _new_origin(method: str, url: str) -> _Origin:
    if len(_ORIGINS) >= 256:
        _ORIGINS.clear()
    origin = _ORIGINS[(method, url)] = _origin(method, url)
    return origin


def _origin(method: str, url: str) -> _Origin:
    parsed = yarl.URL(url)  # the same normalisation (quoting, dot segments) aiohttp applied
    if parsed.scheme != "http" or not parsed.raw_host:
        raise ValueError(f"mockvapi: the HTTP/1.1 client sends to http://host/... URLs only, got {url!r}")
    raw_host = parsed.raw_host
    host = f"[{raw_host}]" if ":" in raw_host else raw_host
    port = parsed.port or 80
    if parsed.explicit_port is not None and not parsed.is_default_port():
        host = f"{host}:{port}"
    basic = None
    if parsed.raw_user or parsed.raw_password:
        pair = f"{parsed.user or ''}:{parsed.password or ''}".encode("latin-1")
        basic = "Basic " + base64.b64encode(pair).decode("ascii")
    return _Origin((raw_host, port), f"{method} {parsed.raw_path_qs or '/'} HTTP/1.1\r\n", host, basic)


def _head_prefix(origin: _Origin, headers: Mapping[str, str]) -> bytes:
    """The request's head up to its Content-Length value (the same for every webhook of a call)."""
    host = f"Host: {origin.host}\r\n"
    lines = []
    authorized = False
    for name, value in headers.items():
        lower = _NAMES.get(name)
        if lower is None:
            lower = _check_name(name)
        if "\n" in value or "\r" in value or "\x00" in value:
            # As aiohttp: a newline in a header would let a value forge headers (request splitting).
            raise ValueError(f"mockvapi: invalid HTTP header {name!r}: {value!r}")
        if lower == "host":
            host = f"{name}: {value}\r\n"
        elif lower not in _DROPPED:
            authorized = authorized or lower == "authorization"
            lines.append(f"{name}: {value}\r\n")
    if origin.basic is not None and not authorized:
        lines.append(f"Authorization: {origin.basic}\r\n")
    return f"{origin.request_line}{host}{''.join(lines)}Content-Length: ".encode()


_NAMES: dict[str, str] = {}  # header names already checked, lower-cased (the same few every request)


def _check_name(name: str) -> str:
    if not name or _NAME_BAD.search(name):
        raise ValueError(f"mockvapi: invalid HTTP header name {name!r}")
    if len(_NAMES) < 1024:
        _NAMES[name] = name.lower()
    return name.lower()


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _decode(encoding: str, body: bytes, limit: int) -> bytes:
    """A gzip/deflate body decoded (others as they are), at most ``limit`` bytes."""
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        # Some servers send raw deflate without the zlib wrapper (as aiohttp, accept both).
        wbits = zlib.MAX_WBITS if body[:1] and body[0] & 0x0F == 8 else -zlib.MAX_WBITS
    else:
        return body
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Http1Error(f"invalid {encoding} response body ({exc})") from None
    if len(out) > limit:
        raise Http1Error(f"response over {limit} bytes once decoded ({encoding})")
    return out


class _Connection(asyncio.Protocol):
    """One socket: sends one request at a time and parses its answer (httptools calls the on_* hooks).

    A parser is made for each request and let go with its answer (~0.3 us): a connection idling between a call's
    deliveries then holds neither it (~0.9 kB with the bound methods it keeps of this protocol, a reference cycle)
    nor the last answer's future and headers. Slots, no instance dict, for the same reason."""

    __slots__ = (
        "_body", "_encoding", "_framed", "_headers", "_headers_done", "_parser", "_received", "_status", "_waiter",
        "generation", "idle_since", "key", "pool", "transport", "usable",
    )

    _parser_type: Any = None  # httptools.HttpResponseParser, imported with the first connection

    def __init__(self, pool: Http1Pool, key: _Key) -> None:
        self.pool = pool
        self.key = key
        self.generation = pool._generation
        self.transport: asyncio.Transport | None = None
        self.usable = True  # False once closed, closing, or out of step with the server
        self.idle_since = 0.0
        if _Connection._parser_type is None:
            import httptools  # here, not at the top: `import mockvapi` need not load it (~2 ms)

            _Connection._parser_type = httptools.HttpResponseParser
        self._parser: Any = None  # while a request is out (see `send`)
        self._waiter: asyncio.Future[Http1Response] | None = None
        self._received = 0
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._framed = False  # Content-Length or chunked: the end is in the stream, not at EOF
        self._headers_done = False
        self._encoding = ""

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes nobody asked for (after a complete answer, or while idle): out of step; drop it.
            self.close()
            return
        self._received += len(data)
        if self._received > self.pool.max_response_bytes:
            self._fail(f"response over {self.pool.max_response_bytes} bytes")
            return
        try:
            self._parser.feed_data(data)
        except Exception as exc:  # httptools' HttpParserError (garbage), HttpParserUpgrade (after a 101)
            if waiter.done():  # the answer was complete (or refused); what followed it is junk
                self.close()
            else:
                self._fail(f"invalid HTTP response ({describe(exc)})")

    def eof_received(self) -> bool:
        self.usable = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._headers_done and not self._framed and self._status >= 200:
                self._complete()  # a body delimited by the end of the connection
            else:
                self._fail_closed(None)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._fail_closed(exc)
        # The parser holds this protocol's bound methods (a cycle, freed only by a collection): let it go, and let
        # nothing keep the last answer (its body may be megabytes) alive after the requester has it.
        self._parser = None
        self._waiter = None
        self._headers = []
        self._body = []

    # -- httptools callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.usable = False  # a second answer to one request: the connection is out of step

    def on_header(self, name: bytes, value: bytes) -> None:
        text = name.decode("utf-8", "surrogateescape")
        decoded = value.decode("utf-8", "surrogateescape")
        self._headers.append((text, decoded))
        lower = text.lower()
        if lower == "content-length" or (lower == "transfer-encoding" and "chunked" in decoded.lower()):
            self._framed = True
        elif lower == "content-encoding":
            self._encoding = decoded.strip().lower()

    def on_headers_complete(self) -> None:
        if self._waiter is None:  # junk after a complete answer (`on_message_begin` has marked it unusable)
            return
        self._status = self._parser.get_status_code()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._waiter is None:  # junk after a complete answer, as above
            return
        if self._status == 101:  # we never ask for an upgrade: whatever follows is not an HTTP answer
            self._fail("invalid HTTP response (unexpected 101 Switching Protocols)")
            return
        if 100 <= self._status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows.
            self._headers = []
            self._body = []
            self._framed = self._headers_done = False
            self._encoding = ""
            return
        if not self._parser.should_keep_alive():
            self.usable = False
        self._complete()

    # -- driving ----------------------------------------------------------------------------------

    def send(self, data: tuple[bytes, bytes], loop: asyncio.AbstractEventLoop) -> asyncio.Future[Http1Response]:
        assert self.transport is not None
        waiter: asyncio.Future[Http1Response] = loop.create_future()
        self._waiter = waiter
        self._parser = self._parser_type(self)  # one per answer (class docstring)
        self._received = 0
        self._status = 0
        self._headers = []
        self._body = []
        self._framed = self._headers_done = False
        self._encoding = ""
        head, body = data
        if len(body) <= _JOINED_BODY_BYTES:
            self.transport.write(head + body)  # one write, one segment: the usual small webhook body
        else:
            self.transport.write(head)  # a large body is not copied onto its head first
            self.transport.write(body)
        return waiter

    def _complete(self) -> None:
        waiter = self._waiter
        assert waiter is not None
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        self._body = []
        if self._encoding:
            try:
                body = _decode(self._encoding, body, self.pool.max_response_bytes)
            except Http1Error as exc:
                self._fail(exc.detail)
                return
        if not waiter.done():
            waiter.set_result(Http1Response(self._status, self._headers, body))
        # Idle from here: keep nothing of this answer (class docstring). A parser still feeding the rest of the
        # received bytes (junk after the answer) runs on: `on_message_begin` finds no waiter.
        self._parser = self._waiter = None
        self._headers = []
        if not self.usable:
            self.close()

    def _fail(self, detail: str, *, untouched: bool = False) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(Http1Error(detail, untouched=untouched))
        self.abort()

    def _fail_closed(self, exc: Exception | None) -> None:
        untouched = self._received == 0
        if exc is None:
            how = "the server closed the connection"
        else:
            how = f"the connection was lost ({type(exc).__name__}: {exc})" if str(exc) else (
                f"the connection was lost ({type(exc).__name__})"
            )
        self._fail(f"{how} {'before answering' if untouched else 'mid-response'}", untouched=untouched)

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.abort()

    def __repr__(self) -> str:
        state = "usable" if self.usable else "closed"
        return f"_Connection({self.key[0]}:{self.key[1]}, {state})"


class Http1Pool:
    """Keep-alive HTTP/1.1 connections to ``http://`` origins (see the module docstring).

    ``connections_opened`` counts sockets opened so far (for tests and diagnostics).
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,  # aiohttp's default connector limit
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        idle_seconds: float = 15.0,  # aiohttp's keepalive_timeout
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"mockvapi: max_connections must be >= 1, got {max_connections!r}")
        self.max_connections = max_connections
        self.max_response_bytes = max_response_bytes
        self.idle_seconds = idle_seconds
        self.connections_opened = 0
        self._idle: dict[_Key, list[_Connection]] = {}
        self._busy = 0
        # Requests waiting for a connection (all `max_connections` busy): made on the first (a deque is 0.6 kB).
        self._waiters: deque[asyncio.Future[None]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0  # bumped by aclose: connections of an older generation are not kept
        # Answers awaited, by deadline, under one loop timer armed for the earliest deadline it knows (see
        # `_exchange`): a timer per request was a handle made, pushed, cancelled and skipped per webhook.
        self._last_head: tuple[_Origin, tuple[tuple[str, str], ...], bytes] | None = None  # see `request`
        self._in_flight: dict[asyncio.Future[Http1Response], float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def __repr__(self) -> str:
        idle = sum(len(v) for v in self._idle.values())
        return f"Http1Pool(busy={self._busy}, idle={idle}, opened={self.connections_opened})"

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, timeout: float | None = None
    ) -> Http1Response:
        """Send one request and read its answer. Raises ``Http1Error`` (no complete answer), ``OSError``
        (could not connect), ``ValueError`` (bad URL or header), or ``TimeoutError`` once ``timeout``
        seconds (waiting for a connection, connecting and the exchange; None: no limit) have passed on
        the loop's clock, as ``asyncio.timeout`` would (the pool's one timer, not a wrapper: a task switch less)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._rebind(loop)
        deadline = None if timeout is None else loop.time() + timeout
        origin = _ORIGINS.get((method, url))
        if origin is None:
            origin = _new_origin(method, url)
        # A call's webhooks share their headers (unless a credential signs each body): their head is built once.
        items = tuple(headers.items())
        last = self._last_head
        if last is not None and last[0] is origin and last[1] == items:
            prefix = last[2]
        else:
            prefix = _head_prefix(origin, headers)
            self._last_head = (origin, items, prefix)
        data = (prefix + b"%d\r\n\r\n" % len(body), body)
        if self._busy >= self.max_connections:
            async with asyncio.timeout_at(deadline):
                await self._wait_for_slot(loop)
        self._busy += 1
        try:
            conn = self._take_idle(origin.key, loop)
            if conn is not None:
                try:
                    return await self._exchange(conn, data, loop, deadline)
                except Http1Error as exc:
                    # The server may close an idle keep-alive connection just as we reuse it. If nothing
                    # of the answer arrived, it did not process the request (or dropped it unanswered),
                    # so it is sent once more on a fresh connection, as HTTP clients do (aiohttp, urllib3)
                    # for this reuse race. Never on a fresh connection, and never after a partial answer.
                    if not exc.untouched:
                        raise
            async with asyncio.timeout_at(deadline):
                conn = await self._connect(origin.key, loop)
            return await self._exchange(conn, data, loop, deadline)
        finally:
            self._busy -= 1
            waiters = self._waiters
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    break

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._busy >= self.max_connections:
            waiter: asyncio.Future[None] = loop.create_future()
            waiters = self._waiters
            if waiters is None:
                waiters = self._waiters = deque()
            waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and self._busy < self.max_connections:
                    # Woken and cancelled at once: pass the turn on rather than lose it.
                    for other in waiters:
                        if not other.done():
                            other.set_result(None)
                            break
                raise

    def _take_idle(self, key: _Key, loop: asyncio.AbstractEventLoop) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = loop.time()
        while idle:
            conn = idle.pop()  # most recently used: the least likely to have been closed by the server
            if conn.usable and now - conn.idle_since < self.idle_seconds:
                return conn
            conn.close()
        return None

    async def _connect(self, key: _Key, loop: asyncio.AbstractEventLoop) -> _Connection:
        # DNS names (localhost) resolve through the loop's getaddrinfo; IPv6 literals come unbracketed.
        _, conn = await loop.create_connection(lambda: _Connection(self, key), key[0], key[1])
        self.connections_opened += 1
        return conn

    async def _exchange(
        self, conn: _Connection, data: tuple[bytes, bytes], loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> Http1Response:
        waiter = conn.send(data, loop)
        if deadline is not None:
            self._in_flight[waiter] = deadline
            if deadline < self._timer_at:
                self._arm(loop, deadline)
        try:
            response = await waiter
        except BaseException:
            conn.abort()  # timed out, cancelled or failed mid-exchange: its state is unknown
            raise
        finally:
            if deadline is not None:
                in_flight = self._in_flight
                if len(in_flight) == 1:
                    in_flight.clear()  # frees its table (~150 bytes), which `del` keeps, while the pool idles
                else:
                    del in_flight[waiter]
        if conn.usable and conn.generation == self._generation:
            conn.idle_since = loop.time()
            self._idle.setdefault(conn.key, []).append(conn)
        else:
            conn.close()
        return response

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(at, self._expire_due, loop)
        self._timer_at = at

    def _expire_due(self, loop: asyncio.AbstractEventLoop) -> None:
        """The timer: every answer awaited past its deadline fails with TimeoutError, as a timer of its own would
        have in this loop turn; then the timer is armed again for the earliest deadline left, if any. (A request
        that ended keeps its deadline's timer until it fires: re-armed then, not per request.)"""
        if loop is not self._loop:
            return  # the pool has moved to another loop (`_rebind`): what was in flight here is not its business
        self._timer, self._timer_at = None, math.inf
        due = loop.time() + _CLOCK_RESOLUTION  # the loop runs a timer whose time is before this (base_events)
        later = math.inf
        for waiter, deadline in list(self._in_flight.items()):
            if deadline < due:
                if not waiter.done():
                    waiter.set_exception(TimeoutError())
            elif deadline < later:
                later = deadline
        if later != math.inf:
            self._arm(loop, later)

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        """First use, or use from another event loop: connections of the old loop cannot be used here."""
        old, self._idle = self._idle, {}
        for conns in old.values():
            for conn in conns:
                with contextlib.suppress(RuntimeError):  # its loop is closed: the socket went with it
                    conn.abort()
        self._busy = 0
        self._waiters = None
        self._in_flight.clear()
        self._timer, self._timer_at = None, math.inf  # the old loop's timer, if it ever runs, finds it moved
        self._loop = loop

    async def aclose(self) -> None:
        """Close idle connections; those in use close when their request ends. Idempotent, and the pool
        stays usable (a later request opens new connections)."""
        self._generation += 1
        if not self._in_flight and self._timer is not None:
            self._timer.cancel()  # nothing left to time out: let the loop forget this pool
            self._timer, self._timer_at = None, math.inf
        old, self._idle = self._idle, {}
        for conns in old.values():
            for conn in conns:
                conn.close()
