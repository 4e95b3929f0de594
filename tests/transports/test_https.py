"""``https://`` webhook targets follow the rules of ``http://`` ones (issue 14, item 10), against real TLS
servers on loopback (a self-signed certificate for 127.0.0.1, in tls/): answers over the 16 MB cap are
refused without being read whole, and a kept-alive connection the server closed as it was reused is
retried once on a fresh one."""

from __future__ import annotations

import asyncio
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from mockvapi.errors import DeliveryError
from mockvapi.transports.http import DeliveryFailure, HttpRequest, UrlTarget
from mockvapi.transports.http1 import MAX_RESPONSE_BYTES

TLS = Path(__file__).parent / "tls"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]
MB = 1024 * 1024


def client_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(TLS / "cert.pem"))


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    await reader.readexactly(length)


@asynccontextmanager
async def tls_server(handle: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A TLS server; `handle(reader, writer, n)` answers the n-th request of a connection (from 1) and
    says whether to keep the connection. Yields the URL and, per connection, how many requests it read."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    served: list[int] = []

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(0)
        index = len(served) - 1
        try:
            while True:
                await _read_request(reader)
                served[index] += 1
                if not await handle(reader, writer, served[index]):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(connection, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}/hook", served
    finally:
        server.close()
        await server.wait_closed()


def _ok(body: bytes = b'{"ok":true}', *, chunked: bool = False) -> bytes:
    if chunked:
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


REQUEST = HttpRequest("", {"Content-Type": "application/json"}, b'{"message":{}}')


def test_both_paths_share_the_cap() -> None:
    target = UrlTarget("https://127.0.0.1/hook")
    assert target.max_response_bytes == MAX_RESPONSE_BYTES == 16 * MB


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_answer_over_the_cap_is_refused_without_reading_it_whole(chunked: bool) -> None:
    size = 8 * MB

    piece = b"x" * 65536

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        # Written piece by piece, so that the server's own buffers stay small in the figure.
        writer.write(_ok(chunked=True) if chunked else b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // len(piece)):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            await writer.drain()
        writer.write(b"0\r\n\r\n" if chunked else b"")
        await writer.drain()
        return True

    async with tls_server(huge) as (url, _):
        target = UrlTarget(url, ssl_context=client_context(), max_response_bytes=MB)
        tracemalloc.start()
        try:
            with pytest.raises(DeliveryFailure) as failure:
                await target.send(REQUEST, timeout=30)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await target.aclose()
    assert failure.value.kind == "connection" and f"response over {MB} bytes" in failure.value.detail
    assert isinstance(failure.value, DeliveryError)
    assert peak < size / 2, f"peak {peak / MB:.1f} MB reading an {size / MB:.0f} MB answer capped at 1 MB"


async def test_an_answer_under_the_cap_is_read_whole() -> None:
    body = b'{"results":"' + b"y" * (2 * MB) + b'"}'

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(_ok(body))
        await writer.drain()
        return True

    async with tls_server(answer) as (url, _):
        target = UrlTarget(url, ssl_context=client_context())
        try:
            response = await target.send(REQUEST, timeout=30)
        finally:
            await target.aclose()
    assert response.status == 200 and response.body == body


async def test_a_kept_alive_connection_the_server_closed_is_retried_once_on_a_fresh_one() -> None:
    async def one_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        if n > 1:
            return False  # closes the kept-alive connection as the client reuses it, unanswered
        writer.write(_ok(b'{"n":%d}' % n))  # no Connection: close, so the client keeps it
        await writer.drain()
        return True

    async with tls_server(one_per_connection) as (url, served):
        target = UrlTarget(url, ssl_context=client_context())
        try:
            first = await target.send(REQUEST, timeout=30)
            second = await target.send(REQUEST, timeout=30)
        finally:
            await target.aclose()
    assert (first.status, second.status) == (200, 200)
    assert served == [2, 1]  # the second request went out on the kept connection, then on a fresh one


async def test_a_fresh_connection_closed_unanswered_is_not_retried() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        return False

    async with tls_server(drop) as (url, served):
        target = UrlTarget(url, ssl_context=client_context())
        try:
            with pytest.raises(DeliveryFailure) as failure:
                await target.send(REQUEST, timeout=30)
        finally:
            await target.aclose()
    assert failure.value.kind == "connection"
    assert served == [1]
