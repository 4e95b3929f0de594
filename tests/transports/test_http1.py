"""The keep-alive HTTP/1.1 client behind UrlTarget's http:// path, against real loopback servers.

Misbehaving servers are raw asyncio servers (`RawServer`): each connection reads requests and runs a
script for each, which writes whatever bytes it likes (or nothing) and says whether to keep going.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from mockvapi.errors import DeliveryError
from mockvapi.testing import MockVapi
from mockvapi.transports.http import DeliveryFailure, HttpRequest, UrlTarget
from mockvapi.transports.http1 import MAX_RESPONSE_BYTES, Http1Error, Http1Pool

from .conftest import Recorder

BODY = b'{"message":{"type":"status-update","status":"in-progress"}}'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

# A script answers the n-th request (from 0, over all connections) on connection c (from 0); it
# returns False to close the connection after it.
Script = Callable[["Exchange"], Awaitable[bool]]


@dataclass
class Exchange:
    n: int
    connection: int
    request: bytes
    writer: asyncio.StreamWriter

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0) rather than a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


async def answer_ok(ex: Exchange) -> bool:
    ex.write(OK)
    return True


@dataclass
class RawServer:
    script: Script = answer_ok
    host: str = "127.0.0.1"
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    closed_by_client: list[int] = field(default_factory=list)  # connections the client closed (EOF seen)
    eof: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None
    handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = field(default_factory=dict)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def url(self, path: str = "/hook") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    async def start(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers[task] = writer
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed_by_client.append(index)
                    self.eof.set()
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                keep = await self.script(Exchange(len(self.requests) - 1, index, request, writer))
                await writer.drain()
                if not keep or writer.transport.is_closing():
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def close(self) -> None:
        """Stop listening and end every connection's handler (none is left for the loop to cancel)."""
        self.release.set()
        if self.server is not None:
            self.server.close()
        for writer in self.handlers.values():
            writer.transport.abort()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = await RawServer().start()
    yield server
    await server.close()


def post(url: str = "", body: bytes = BODY, headers: dict[str, str] | None = None) -> HttpRequest:
    return HttpRequest(url, {"Content-Type": "application/json"} if headers is None else headers, body)


async def send_all(target: UrlTarget, count: int, timeout: float = 2) -> list[int]:
    return [(await target.send(post(), timeout=timeout)).status for _ in range(count)]


@pytest.fixture
async def target(raw: RawServer) -> AsyncIterator[UrlTarget]:
    target = UrlTarget(raw.url())
    yield target
    await target.aclose()


def opened(target: UrlTarget) -> int:
    assert target._pool is not None
    return target._pool.connections_opened


# --- keep-alive -------------------------------------------------------------------------------------


async def test_keep_alive_reuses_one_connection(raw: RawServer, target: UrlTarget) -> None:
    assert await send_all(target, 5) == [200] * 5
    assert raw.connections == 1 and opened(target) == 1
    assert len(raw.requests) == 5


async def test_keep_alive_against_an_aiohttp_server(recorder: Recorder) -> None:
    target = UrlTarget(recorder.url())
    try:
        for _ in range(4):
            response = await target.send(post(), timeout=2)
            assert response.status == 200 and response.json()["ok"] is True
        assert opened(target) == 1
    finally:
        await target.aclose()
    assert len(recorder.requests) == 4


async def test_server_closing_after_each_response_gets_a_new_connection_each_time(raw: RawServer,
                                                                                 target: UrlTarget) -> None:
    async def close_after(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
        return False

    raw.script = close_after
    assert await send_all(target, 3) == [200] * 3
    assert raw.connections == 3 and len(raw.requests) == 3


async def test_http_1_0_answers_are_not_reused(raw: RawServer, target: UrlTarget) -> None:
    async def http10(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        return True  # the server would keep it open; HTTP/1.0 without keep-alive means close

    raw.script = http10
    assert await send_all(target, 2) == [200, 200]
    assert raw.connections == 2


async def test_silent_close_after_answering_reconnects(raw: RawServer, target: UrlTarget) -> None:
    async def answer_then_close(ex: Exchange) -> bool:
        ex.write(OK)  # keep-alive advertised, then the server closes anyway (an idle timeout)
        return False

    raw.script = answer_then_close
    assert await send_all(target, 3) == [200] * 3
    assert raw.connections == 3 and len(raw.requests) == 3


async def test_reused_connection_closed_before_answering_is_retried_once_on_a_new_one(
    raw: RawServer, target: UrlTarget
) -> None:
    async def drop_second(ex: Exchange) -> bool:
        if ex.n == 1:
            return False  # the reuse race: the server closed the idle connection as the request came
        ex.write(OK)
        return True

    raw.script = drop_second
    assert await send_all(target, 2) == [200, 200]
    assert raw.connections == 2
    assert len(raw.requests) == 3 and raw.requests[1] == raw.requests[2]  # sent again, same bytes


async def test_fresh_connection_closed_before_answering_is_not_retried(raw: RawServer,
                                                                      target: UrlTarget) -> None:
    async def drop(ex: Exchange) -> bool:
        return False

    raw.script = drop
    with pytest.raises(DeliveryFailure) as info:
        await target.send(post(), timeout=2)
    assert info.value.kind == "connection"
    assert info.value.detail == f"{raw.url()}: the server closed the connection before answering"
    assert len(raw.requests) == 1


async def test_partial_answer_on_a_reused_connection_is_not_retried(raw: RawServer, target: UrlTarget) -> None:
    async def half_second(ex: Exchange) -> bool:
        ex.write(OK if ex.n != 1 else b"HTTP/1.1 200 OK\r\nContent-Len")
        return ex.n != 1

    raw.script = half_second
    await target.send(post(), timeout=2)
    with pytest.raises(DeliveryFailure) as info:
        await target.send(post(), timeout=2)
    assert info.value.kind == "connection" and info.value.detail.endswith("closed the connection mid-response")
    assert len(raw.requests) == 2
    assert await send_all(target, 1) == [200]  # and the next request is fine, on a new connection
    assert raw.connections == 2


async def test_unsolicited_bytes_after_an_answer_drop_the_connection(raw: RawServer, target: UrlTarget) -> None:
    async def extra(ex: Exchange) -> bool:
        ex.write(OK + b"HTTP/1.1 200 OK\r\n")
        return True

    raw.script = extra
    assert await send_all(target, 2) == [200, 200]
    assert raw.connections == 2  # never read an answer that belongs to no request


async def test_a_whole_second_answer_after_the_first_is_junk_and_leaves_the_first_as_it_came(raw: RawServer) -> None:
    async def twice(ex: Exchange) -> bool:
        ex.write(OK.replace(b"{}", b"[]") + b"HTTP/1.1 201 Created\r\nX-Junk: 1\r\nContent-Length: 0\r\n\r\n")
        return True

    raw.script = twice
    pool = Http1Pool()
    try:
        first = await pool.request("POST", raw.url(), {}, BODY, timeout=2)
        assert (first.status, first.body) == (200, b"[]")
        assert first.headers == [("Content-Type", "application/json"), ("Content-Length", "2")]  # not the junk's
        await pool.request("POST", raw.url(), {}, BODY, timeout=2)
        assert raw.connections == 2  # the connection that carried junk was not reused
    finally:
        await pool.aclose()


async def test_an_idle_connection_holds_no_parser_and_nothing_of_its_last_answer(raw: RawServer) -> None:
    # Between a call's deliveries its connection idles: it keeps only what the next request needs.
    pools = [Http1Pool(), Http1Pool()]
    try:
        for pool in pools:
            response = await pool.request("POST", raw.url(), {}, BODY, timeout=2)
            assert response.status == 200
            (conn,) = [c for conns in pool._idle.values() for c in conns]
            assert conn._parser is None and conn._waiter is None and conn._headers == [] and conn._body == []
            assert not hasattr(conn, "__dict__")
            assert pool._waiters is None and pool._in_flight == {}
        assert pools[0]._last_head is not None and pools[1]._last_head is not None
        assert pools[0]._last_head[0] is pools[1]._last_head[0]  # one parsed origin for both pools
        assert (await pools[0].request("POST", raw.url(), {}, BODY, timeout=2)).status == 200  # and it is reused
        assert raw.connections == 2
    finally:
        for pool in pools:
            await pool.aclose()


# --- bodies -----------------------------------------------------------------------------------------


async def test_chunked_body(raw: RawServer, target: UrlTarget) -> None:
    async def chunked(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n")
        await ex.writer.drain()
        ex.write(b"5\r\n{\"a\":\r\n")
        await ex.writer.drain()
        ex.write(b"3\r\n 1}\r\n0\r\n\r\n")
        return True

    raw.script = chunked
    response = await target.send(post(), timeout=2)
    assert response.body == b'{"a": 1}' and response.json() == {"a": 1}
    assert await send_all(target, 1) == [200]
    assert raw.connections == 1  # a chunked answer ends in the stream: the connection is kept


async def test_close_delimited_body(raw: RawServer, target: UrlTarget) -> None:
    async def until_close(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")
        await ex.writer.drain()
        ex.write(b"this")
        return False

    raw.script = until_close
    response = await target.send(post(), timeout=2)
    assert (response.status, response.body) == (200, b"all of this")
    assert (await target.send(post(), timeout=2)).body == b"all of this"
    assert raw.connections == 2


async def test_a_closed_connection_does_not_keep_its_last_answer(raw: RawServer) -> None:
    # The connection and its parser refer to each other (a cycle, freed only by a collection): once closed,
    # it must not hold the answer (a reply may be megabytes) after the requester has it.
    async def answer_and_close(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
        return True  # the client closes; the server sees its EOF after the client's connection_lost

    raw.script = answer_and_close
    pool = Http1Pool()
    enabled = gc.isenabled()
    gc.disable()
    try:
        response = await pool.request("POST", raw.url(), {"Content-Type": "application/json"}, BODY, timeout=2)
        await asyncio.wait_for(raw.eof.wait(), 2)
        assert response.body == b"{}"
        assert [r for r in gc.get_referrers(response) if isinstance(r, asyncio.Future)] == []
    finally:
        if enabled:
            gc.enable()
        await pool.aclose()


async def test_large_body_in_pieces(raw: RawServer, target: UrlTarget) -> None:
    big = bytes(range(256)) * 20_000  # 5 MB

    async def large(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big))
        for i in range(0, len(big), 1 << 20):
            ex.write(big[i:i + (1 << 20)])
            await ex.writer.drain()
        return True

    raw.script = large
    assert (await target.send(post(body=big), timeout=5)).body == big
    assert raw.requests[0].endswith(big)


async def test_answers_over_the_size_limit_are_refused(raw: RawServer, target: UrlTarget) -> None:
    assert MAX_RESPONSE_BYTES == 16 * 1024 * 1024
    chunk = b"x" * (1 << 20)

    async def huge(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (17 * len(chunk)))
        for _ in range(17):
            ex.write(chunk)
            await ex.writer.drain()
        return True

    raw.script = huge
    with pytest.raises(DeliveryFailure) as info:
        await target.send(post(), timeout=5)
    assert info.value.kind == "connection"
    assert info.value.detail == f"{raw.url()}: response over {MAX_RESPONSE_BYTES} bytes"


async def test_interim_1xx_answers_are_skipped(raw: RawServer, target: UrlTarget) -> None:
    async def continue_first(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        await ex.writer.drain()
        ex.write(b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone")
        return True

    raw.script = continue_first
    response = await target.send(post(), timeout=2)
    assert (response.status, response.body) == (201, b"done")
    assert "Link" not in response.headers
    assert await send_all(target, 1) == [201] and raw.connections == 1


async def test_no_content_and_headers_are_case_insensitive_multi(raw: RawServer, target: UrlTarget) -> None:
    async def no_content(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 204 No Content\r\nX-Id: 1\r\nx-id: 2\r\n\r\n")
        return True

    raw.script = no_content
    response = await target.send(post(), timeout=2)
    assert response.status == 204 and response.body == b"" and response.ok
    assert isinstance(response.headers, CIMultiDictProxy)
    assert response.headers.getall("X-ID") == ["1", "2"]
    assert await send_all(target, 1) == [204] and raw.connections == 1


async def test_gzip_answers_are_decoded(raw: RawServer, target: UrlTarget) -> None:
    packed = gzip.compress(b'{"results": []}')

    async def gzipped(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed)
        return True

    raw.script = gzipped
    response = await target.send(post(), timeout=2)
    assert response.json() == {"results": []}
    assert response.headers["Content-Encoding"] == "gzip"  # as aiohttp: decoded, header kept


# --- failures ---------------------------------------------------------------------------------------


async def test_garbage_is_an_invalid_http_response(raw: RawServer, target: UrlTarget) -> None:
    async def garbage(ex: Exchange) -> bool:
        ex.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        return True

    raw.script = garbage
    with pytest.raises(DeliveryFailure) as info:
        await target.send(post(), timeout=2)
    assert info.value.kind == "connection"
    assert info.value.detail.startswith(f"{raw.url()}: invalid HTTP response (HttpParserError: ")
    raw.script = answer_ok
    assert await send_all(target, 1) == [200] and raw.connections == 2


async def test_upgrade_is_refused(raw: RawServer, target: UrlTarget) -> None:
    async def upgrade(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        return True

    raw.script = upgrade
    with pytest.raises(DeliveryFailure, match="unexpected 101 Switching Protocols"):
        await target.send(post(), timeout=2)


async def test_reset_mid_response_is_a_connection_failure(raw: RawServer, target: UrlTarget) -> None:
    async def reset(ex: Exchange) -> bool:
        ex.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial")
        await ex.writer.drain()
        ex.reset()
        return False

    raw.script = reset
    with pytest.raises(DeliveryFailure) as info:
        await target.send(post(), timeout=2)
    assert info.value.kind == "connection"
    assert "mid-response" in info.value.detail
    assert "ConnectionResetError" in info.value.detail or "closed the connection" in info.value.detail


async def test_hang_times_out_then_the_next_request_uses_a_new_connection(raw: RawServer,
                                                                         target: UrlTarget) -> None:
    async def hang_first(ex: Exchange) -> bool:
        if ex.n == 0:
            await raw.release.wait()
            return False
        ex.write(OK)
        return True

    raw.script = hang_first
    with pytest.raises(DeliveryFailure) as info:
        await target.send(post(), timeout=0.05)
    assert info.value.kind == "timeout"
    assert info.value.detail == f"no response from {raw.url()} within 50.0ms"
    assert await send_all(target, 2) == [200, 200]
    assert raw.connections == 2 and opened(target) == 2
    raw.release.set()


async def times_out(request: Awaitable[object]) -> bool:
    """Whether `request` failed with its own TimeoutError (False if it did not end within 10 s: "never")."""
    task = asyncio.ensure_future(request)
    done, _ = await asyncio.wait([task], timeout=10)
    if not done:
        task.cancel()
        return False
    return isinstance(task.exception(), TimeoutError)


def answering_only_asked(raw: RawServer) -> Script:
    """A script answering a request whose body ends in `answer`; any other waits for the server's close."""

    async def script(ex: Exchange) -> bool:
        if ex.request.endswith(b"answer"):
            ex.write(OK)
            return True
        await raw.release.wait()
        return False

    return script


async def test_every_request_times_out_at_its_own_deadline_under_the_pools_one_timer(raw: RawServer) -> None:
    # One loop timer serves every answer awaited: armed for the earliest deadline known, armed again for the next
    # one when it fires.
    raw.script = answering_only_asked(raw)
    pool = Http1Pool()

    async def request(timeout: float, body: bytes = b"hang") -> int:
        return (await pool.request("POST", raw.url(), {}, body, timeout=timeout)).status

    try:
        # A long deadline, answered, then a shorter one: it times out at its own (the timer is moved earlier).
        assert await request(60, b"answer") == 200
        assert await times_out(request(0.05))
        # A short deadline, answered (its timer stays armed), then a longer one: the timer, fired for nobody, is
        # armed again for it.
        assert await request(0.05, b"answer") == 200
        assert pool._timer is not None and pool._in_flight == {}
        assert await times_out(request(0.1))
        # Two at once: each at its own deadline, the shorter first.
        first = asyncio.ensure_future(request(0.1))
        second = asyncio.ensure_future(request(0.05))
        done, _ = await asyncio.wait([first, second], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert done == {second} and isinstance(second.exception(), TimeoutError)
        assert await times_out(first)
        assert await request(60, b"answer") == 200  # a new connection: each timed-out one was closed
        assert pool._in_flight == {}
    finally:
        await pool.aclose()
    assert pool._timer is None  # nothing in flight at close: the loop holds no timer for the pool


async def test_a_pool_used_from_a_new_loop_times_out_there(raw: RawServer) -> None:
    # The timer belongs to a loop: a pool carried over to another one arms a new one there, even for a deadline
    # later than the one the old loop's timer is armed for; and the old timer, when it fires, touches nothing.
    raw.script = answering_only_asked(raw)
    pool = Http1Pool()
    assert (await pool.request("POST", raw.url(), {}, b"answer", timeout=0.25)).status == 200
    assert pool._timer is not None  # armed on this loop for that deadline, and left armed

    async def on_another_loop() -> bool:
        server = RawServer()

        async def hang(ex: Exchange) -> bool:
            await server.release.wait()  # set by close()
            return False

        server.script = hang
        await server.start()
        try:
            return await times_out(pool.request("POST", server.url(), {}, b"hang", timeout=0.3))
        finally:
            await server.close()

    assert await asyncio.get_running_loop().run_in_executor(None, lambda: asyncio.run(on_another_loop()))
    assert await times_out(pool.request("POST", raw.url(), {}, b"hang", timeout=0.05))  # and back here
    await pool.aclose()


async def test_timed_out_connection_is_closed_by_the_client(raw: RawServer, target: UrlTarget) -> None:
    async def never(ex: Exchange) -> bool:
        return True  # reads the next request, which never comes: it sees the client's close

    raw.script = never
    with pytest.raises(DeliveryFailure):
        await target.send(post(), timeout=0.05)
    await asyncio.wait_for(raw.eof.wait(), 5)
    assert raw.closed_by_client == [0]


async def test_connection_refused() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = UrlTarget(f"http://127.0.0.1:{port}/hook")
    try:
        with pytest.raises(DeliveryFailure) as info:
            await target.send(post(), timeout=2)
    finally:
        await target.aclose()
    assert info.value.kind == "connection"
    assert isinstance(info.value, DeliveryError)  # what callers catch
    assert info.value.detail.startswith(f"http://127.0.0.1:{port}/hook: ConnectionRefusedError: ")


async def test_redirects_are_answers_not_followed(recorder: Recorder) -> None:
    recorder.statuses = [307]
    target = UrlTarget(recorder.url())
    try:
        response = await target.send(post(), timeout=2)
    finally:
        await target.aclose()
    assert response.status == 307 and not response.ok
    assert len(recorder.requests) == 1


async def test_scheme_is_case_insensitive(raw: RawServer) -> None:
    target = UrlTarget(raw.url().replace("http://", "HTTP://"))
    try:
        assert await send_all(target, 1) == [200]
    finally:
        await target.aclose()


async def test_https_urls_stay_on_aiohttp(recorder: Recorder) -> None:
    target = UrlTarget(recorder.url().replace("http://", "https://"))  # a plain HTTP server: TLS fails
    try:
        with pytest.raises(DeliveryFailure) as info:
            await target.send(post(), timeout=2)
    finally:
        await target.aclose()
    assert info.value.kind == "connection" and target._pool is None and recorder.requests == []


async def test_header_injection_is_refused(raw: RawServer, target: UrlTarget) -> None:
    with pytest.raises(ValueError, match="invalid HTTP header"):
        await target.send(post(headers={"X-A": "1\r\nX-Forged: 2"}), timeout=2)
    with pytest.raises(ValueError, match="invalid HTTP header name"):
        await target.send(post(headers={"X-A: 1\r\nX-Forged": "2"}), timeout=2)
    assert raw.requests == []


# --- concurrency and pool ---------------------------------------------------------------------------


async def test_concurrent_requests_on_one_target_use_separate_connections(raw: RawServer,
                                                                         target: UrlTarget) -> None:
    both = asyncio.Event()

    async def wait_for_both(ex: Exchange) -> bool:
        if len(raw.requests) == 2:
            both.set()
        await both.wait()  # neither is answered until both arrived: they cannot share a connection
        ex.write(OK)
        return True

    raw.script = wait_for_both
    first, second = await asyncio.gather(target.send(post(), timeout=2), target.send(post(), timeout=2))
    assert first.status == second.status == 200
    assert raw.connections == 2
    assert await send_all(target, 3) == [200] * 3
    assert raw.connections == 2  # both kept, one reused


async def test_pool_limit_queues_requests_beyond_it(raw: RawServer) -> None:
    pool = Http1Pool(max_connections=1)
    try:
        answers = await asyncio.gather(*(pool.request("POST", raw.url(), {}, b"x") for _ in range(3)))
    finally:
        await pool.aclose()
    assert [a.status for a in answers] == [200] * 3
    assert raw.connections == 1 and pool.connections_opened == 1


async def test_waiting_for_a_connection_counts_towards_the_timeout(raw: RawServer) -> None:
    arrived = asyncio.Event()

    async def hang(ex: Exchange) -> bool:
        arrived.set()
        await raw.release.wait()
        ex.write(OK)
        return True

    raw.script = hang
    pool = Http1Pool(max_connections=1)
    try:
        first = asyncio.ensure_future(pool.request("POST", raw.url(), {}, b"", timeout=5))
        await arrived.wait()  # the first request holds the only connection
        with pytest.raises(TimeoutError):
            await pool.request("POST", raw.url(), {}, b"", timeout=0.05)
        raw.release.set()
        assert (await first).status == 200
        assert (await pool.request("POST", raw.url(), {}, b"", timeout=5)).status == 200
    finally:
        await pool.aclose()
    assert raw.connections == 1 and len(raw.requests) == 2


async def test_aclose_closes_idle_connections_and_is_idempotent(raw: RawServer, target: UrlTarget) -> None:
    await send_all(target, 1)
    await target.aclose()
    await target.aclose()
    await asyncio.wait_for(raw.eof.wait(), 5)
    assert raw.closed_by_client == [0]
    assert await send_all(target, 1) == [200]  # usable again, on a new connection
    assert raw.connections == 2


async def test_idle_connections_older_than_idle_seconds_are_not_reused(raw: RawServer) -> None:
    pool = Http1Pool(idle_seconds=0.0)
    try:
        for _ in range(2):
            assert (await pool.request("POST", raw.url(), {}, b"")).status == 200
    finally:
        await pool.aclose()
    assert raw.connections == 2


async def test_pool_errors_are_http1_errors(raw: RawServer) -> None:
    async def drop(ex: Exchange) -> bool:
        return False

    raw.script = drop
    pool = Http1Pool()
    try:
        with pytest.raises(Http1Error) as info:
            await pool.request("POST", raw.url(), {}, b"")
    finally:
        await pool.aclose()
    assert info.value.untouched
    assert repr(pool) == "Http1Pool(busy=0, idle=0, opened=1)"


# --- what goes on the wire --------------------------------------------------------------------------


async def test_request_bytes_are_exact(raw: RawServer, target: UrlTarget) -> None:
    await target.send(post(headers={"Content-Type": "application/json", "X-Vapi-Secret": "s"}), timeout=2)
    assert raw.requests[0] == (
        b"POST /hook HTTP/1.1\r\n"
        b"Host: 127.0.0.1:%d\r\n"
        b"Content-Type: application/json\r\n"
        b"X-Vapi-Secret: s\r\n"
        b"Content-Length: %d\r\n"
        b"\r\n" % (raw.port, len(BODY))
    ) + BODY


async def test_a_head_built_once_is_reused_only_for_the_same_headers_in_the_same_order(
    raw: RawServer, target: UrlTarget
) -> None:
    def expected(lines: bytes, body: bytes) -> bytes:
        return b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sContent-Length: %d\r\n\r\n%s" % (
            raw.port, lines, len(body), body)

    same = {"Content-Type": "application/json", "X-Vapi-Secret": "s"}
    sent = [
        (dict(same), BODY),
        (dict(same), b"{}"),  # the same head, another length
        ({"X-Vapi-Secret": "s", "Content-Type": "application/json"}, BODY),  # equal dict, another order
        ({"Content-Type": "application/json", "X-Vapi-Secret": "t"}, BODY),  # another value
        ({"Content-Type": "application/json"}, b""),
    ]
    for headers, body in sent:
        await target.send(post(headers=headers, body=body), timeout=2)
    assert raw.requests == [
        expected(b"Content-Type: application/json\r\nX-Vapi-Secret: s\r\n", BODY),
        expected(b"Content-Type: application/json\r\nX-Vapi-Secret: s\r\n", b"{}"),
        expected(b"X-Vapi-Secret: s\r\nContent-Type: application/json\r\n", BODY),
        expected(b"Content-Type: application/json\r\nX-Vapi-Secret: t\r\n", BODY),
        expected(b"Content-Type: application/json\r\n", b""),
    ]
    # A header refused after a good head was kept is still refused.
    with pytest.raises(ValueError, match="invalid HTTP header"):
        await target.send(post(headers={"Content-Type": "application/json", "X-A": "1\r\nX-Forged: 2"}), timeout=2)
    assert len(raw.requests) == 5


@pytest.mark.parametrize(
    ("path", "request_url", "headers", "body"),
    [
        ("/hook", "", {"Content-Type": "application/json", "x-signature": "abc", "X-Tenant": "acme"}, BODY),
        ("/base/hook?tenant=a&x=1 2", "", {"Authorization": "Bearer t"}, b""),
        ("/base/", "other/../path?q=%C3%A9", {"Host": "example.test", "X-A": "b"}, BODY),
        ("/p", "/abs?x=ü#frag", {"Content-Type": "text/plain; charset=utf-8"}, "é".encode()),
    ],
)
async def test_request_bytes_equal_aiohttp_s(
    raw: RawServer, path: str, request_url: str, headers: dict[str, str], body: bytes
) -> None:
    target = UrlTarget(raw.url(path))
    try:
        await target.send(HttpRequest(request_url, headers, body), timeout=2)
    finally:
        await target.aclose()
    ours = raw.requests.pop()
    # aiohttp configured as UrlTarget configured it before this client.
    async with aiohttp.ClientSession(
        skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        url = target._resolve(request_url)
        async with session.request("POST", url, data=body, headers=headers, allow_redirects=False) as resp:
            await resp.read()
    assert ours == raw.requests.pop()


async def test_a_callers_framing_headers_are_replaced_by_the_true_length(raw: RawServer, target: UrlTarget) -> None:
    # aiohttp sent a caller's Content-Length as given, even a wrong one (the server then waits forever).
    await target.send(post(headers={"Content-Length": "999", "Transfer-Encoding": "chunked", "X-A": "1"}), timeout=2)
    assert raw.requests[0] == b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-A: 1\r\nContent-Length: %d\r\n\r\n%s" % (
        raw.port, len(BODY), BODY)


async def test_query_and_ipv6_literal_host() -> None:
    try:
        server = await RawServer(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    target = UrlTarget(server.url("/hook?tenant=a&b=2"))
    port = server.port
    try:
        assert await send_all(target, 2) == [200, 200]
    finally:
        await target.aclose()
        await server.close()
    assert server.requests[0].startswith(b"POST /hook?tenant=a&b=2 HTTP/1.1\r\nHost: [::1]:%d\r\n" % port)
    assert server.connections == 1


async def test_dns_names_resolve_through_the_loop(raw: RawServer) -> None:
    target = UrlTarget(f"http://localhost:{raw.port}/hook")
    try:
        assert await send_all(target, 2) == [200, 200]
    finally:
        await target.aclose()
    assert raw.requests[0].startswith(b"POST /hook HTTP/1.1\r\nHost: localhost:%d\r\n" % raw.port)


async def test_url_credentials_become_basic_auth(raw: RawServer) -> None:
    target = UrlTarget(f"http://user:p%40ss@127.0.0.1:{raw.port}/hook")
    try:
        await target.send(post(headers={}), timeout=2)
    finally:
        await target.aclose()
    assert b"\r\nAuthorization: Basic dXNlcjpwQHNz\r\n" in raw.requests[0]  # user:p@ss


# --- in a call ----------------------------------------------------------------------------------------


async def test_a_call_on_a_virtual_clock_delivers_everything_on_one_connection(raw: RawServer) -> None:
    async with MockVapi(webhook=raw.url()) as vapi:
        call = await vapi.play()
        sent = vapi.deliveries(channel="webhook", call_id=call.id)
    assert sent and all(d.ok for d in sent)
    assert len(raw.requests) == len(sent) and raw.connections == 1
    bodies = [r.split(b"\r\n\r\n", 1)[1].decode() for r in raw.requests]
    assert bodies == [d.request_body for d in sent]


async def test_aiohttp_web_server_sees_what_the_journal_says(recorder: Recorder) -> None:
    async with MockVapi(webhook=recorder.url()) as vapi:
        call = await vapi.play()
        sent = vapi.deliveries(channel="webhook", call_id=call.id)
    assert [r.body.decode() for r in recorder.requests] == [d.request_body for d in sent]
    assert all(d.status == 200 and d.response_json["ok"] for d in sent)

