"""Webhook targets served in-process: ASGI, WSGI and aiohttp apps, and plain callables.

Each one is handed exactly what a real POST would carry: the request's headers and body bytes, plus
``Host`` and ``Content-Length``.

* **ASGI** (FastAPI, Starlette, any ``async (scope, receive, send)``): called directly with a
  synthetic ``http`` scope; no server, no socket. Lifespan events are not run.
* **WSGI** (Flask, Django, any ``(environ, start_response)``): called with a PEP 3333 environ in a
  daemon thread, so a blocking app can time out without holding up the event loop or interpreter exit.
* **aiohttp** ``web.Application``: aiohttp has no public socketless entry point, so it is served by
  ``aiohttp.test_utils.TestServer`` on 127.0.0.1, port 0, started on first send and closed by
  ``aclose`` (its startup/cleanup signals run as usual).
* **Callables** ``(body, headers) -> reply`` (or ``(body) -> reply``), sync or async, run on the event
  loop. ``body`` is the parsed JSON; ``headers`` a case-insensitive mapping. The reply may be None
  (200, empty), a dict or list (200, JSON), a str or bytes (200), a ``(status, body)`` tuple, or an
  ``HttpResponse``. A sync callable cannot be interrupted; one that returns after the timeout counts
  as timed out.

Apps that raise get a 500, as a server would answer (``HttpResponse.app_error`` names the exception);
callables that raise give ``DeliveryFailure(kind="app-error")``. Nothing propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import io
import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from mockvapi.transports.envelope import parse_json
from mockvapi.transports.http import (
    DeliveryFailure,
    HttpRequest,
    HttpResponse,
    HttpTarget,
    UrlTarget,
    _duration,
    check_timeout,
    describe_exception,
)

if TYPE_CHECKING:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

__all__ = [
    "AiohttpAppTarget",
    "AsgiTarget",
    "CallableTarget",
    "WsgiTarget",
    "resolve_app",
]

_T = TypeVar("_T")

#: ``Host`` for requests addressed by path only.
DEFAULT_HOST = "localhost"

_INTERNAL_ERROR = (500, [("Content-Type", "text/plain; charset=utf-8")], b"Internal Server Error")


@dataclass(frozen=True)
class _Address:
    scheme: str
    host: str
    path: str  # percent-encoded, as on the request line
    query: str


def _address(url: str, default_path: str) -> _Address:
    parts = urlsplit(url or default_path)
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return _Address(parts.scheme or "http", parts.netloc or DEFAULT_HOST, path, parts.query)


def _wire_headers(headers: Mapping[str, str], host: str, length: int) -> list[tuple[str, str]]:
    """The request's headers plus Host (unless given) and the true Content-Length, like an HTTP client."""
    names = {name.lower() for name in headers}
    wire = [] if "host" in names else [("Host", host)]
    wire += [(name, str(value)) for name, value in headers.items() if name.lower() != "content-length"]
    wire.append(("Content-Length", str(length)))
    return wire


def _latin1(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def app_name(app: object) -> str:
    """An app as a reader knows it: a function by its name, an app object by its class (a default
    repr's memory address means nothing to anyone and differs on every run)."""
    qualname = getattr(app, "__qualname__", None)
    if isinstance(qualname, str) and not isinstance(app, type):
        return qualname.rsplit("<locals>.", 1)[-1]  # a handler defined in a test: its own name
    return type(app).__name__


def _shown(value: object) -> str:
    """A value for a message: its repr, unless that is the default one with a memory address."""
    text = repr(value)
    return f"a {type(value).__name__} object" if " object at 0x" in text else text[:80]


def _check_path(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"mockvapi: an in-process path must start with '/', got {path!r}")
    return path


_Exchange = tuple[int, list[tuple[str, str]], bytes, str | None]


class _InProcessTarget:
    """Shared send(): address, headers, deadline, latency. Subclasses implement ``_exchange``."""

    kind = "app"

    def __init__(self, app: Any, path: str = "/") -> None:
        self.app = app
        self.url = _check_path(path)
        self.description = f"{self.kind}:{app_name(app)} POST {self.url}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({app_name(self.app)}, path={self.url!r})"

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        check_timeout(timeout)
        address = _address(request.url, self.url)
        headers = _wire_headers(request.headers, address.host, len(request.body))
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                status, out_headers, body, app_error = await self._exchange(
                    request.method, address, headers, request.body
                )
        except TimeoutError:
            raise DeliveryFailure(
                "timeout", f"no response from {self.description} within {_duration(timeout)}"
            ) from None
        return HttpResponse(status, CIMultiDict(out_headers), body, time.perf_counter() - start, app_error)

    async def _exchange(
        self, method: str, address: _Address, headers: list[tuple[str, str]], body: bytes
    ) -> _Exchange:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Nothing to release (idempotent)."""


class AsgiTarget(_InProcessTarget):
    """Calls an ASGI 3 app directly with a synthetic ``http`` scope."""

    kind = "asgi"

    async def _exchange(
        self, method: str, address: _Address, headers: list[tuple[str, str]], body: bytes
    ) -> _Exchange:
        host, _, port = address.host.partition(":")
        default_port = 443 if address.scheme == "https" else 80
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": address.scheme,
            "path": unquote(address.path),
            "raw_path": address.path.encode("ascii", errors="replace"),
            "query_string": address.query.encode("ascii", errors="replace"),
            "root_path": "",
            "headers": [(_latin1(name.lower()), _latin1(value)) for name, value in headers],
            "client": ("127.0.0.1", 50000),
            "server": (host, int(port) if port.isdigit() else default_port),
            "extensions": {},
        }
        body_sent = False
        finished = asyncio.Event()
        status: int | None = None
        out_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()  # like a server: the client disconnects once the answer is complete
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out_headers[:] = [
                    (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                    for k, v in message.get("headers", ())
                ]
            elif message["type"] == "http.response.body" and status is not None and not finished.is_set():
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    finished.set()

        app_error: str | None = None
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # Starlette re-raises after sending its own 500; keep that response
            app_error = describe_exception(exc)
        finally:
            complete = finished.is_set()
            finished.set()
        if not complete or status is None:
            return *_INTERNAL_ERROR, app_error or "ASGI app returned without completing a response"
        return status, out_headers, b"".join(chunks), app_error


async def _in_daemon_thread(fn: Callable[[], _T]) -> _T:
    """Like ``asyncio.to_thread`` but on a daemon thread: a stuck app neither blocks loop shutdown
    (which joins the default executor) nor interpreter exit; its late result is dropped."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: _T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            value, error = context.run(fn), None
        except BaseException as exc:
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=run, name="mockvapi-wsgi", daemon=True).start()
    return await future


class WsgiTarget(_InProcessTarget):
    """Calls a WSGI app with a PEP 3333 environ in a daemon thread."""

    kind = "wsgi"

    async def _exchange(
        self, method: str, address: _Address, headers: list[tuple[str, str]], body: bytes
    ) -> _Exchange:
        environ = self._environ(method, address, headers, body)
        return await _in_daemon_thread(lambda: self._call(environ))

    @staticmethod
    def _environ(
        method: str, address: _Address, headers: list[tuple[str, str]], body: bytes
    ) -> dict[str, Any]:
        host, _, port = address.host.partition(":")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            # PEP 3333: the decoded path, as latin-1 text.
            "PATH_INFO": unquote(address.path, encoding="latin-1"),
            "QUERY_STRING": address.query,
            "SERVER_NAME": host,
            "SERVER_PORT": port or ("443" if address.scheme == "https" else "80"),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": address.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        for name, value in headers:
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                key = "HTTP_" + key
                # Repeated headers are folded with commas, as WSGI servers do.
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _call(self, environ: dict[str, Any]) -> _Exchange:
        started: list[tuple[str, list[tuple[str, str]]]] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            # Nothing is sent before the app returns, so a later call (with exc_info) just replaces it.
            started[:] = [(status, list(response_headers))]
            return chunks.append

        try:
            result: Iterable[bytes] = self.app(environ, start_response)
            try:
                for chunk in result:
                    chunks.append(bytes(chunk))
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as exc:
            return *_INTERNAL_ERROR, describe_exception(exc)
        if not started:
            return *_INTERNAL_ERROR, "WSGI app returned without calling start_response"
        status_line, out_headers = started[0]
        try:
            status = int(status_line.split(" ", 1)[0])
        except ValueError:
            return *_INTERNAL_ERROR, f"WSGI app gave an invalid status {status_line!r}"
        return status, out_headers, b"".join(chunks), None


class AiohttpAppTarget:
    """Serves an ``aiohttp.web.Application`` on 127.0.0.1, port 0, and POSTs to it (see module doc)."""

    def __init__(self, app: web.Application, path: str = "/") -> None:
        self.app = app
        self.url = _check_path(path)
        self.description = f"aiohttp:{app_name(app)} POST {self.url}"
        self._server: TestServer | None = None
        self._client: UrlTarget | None = None
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"AiohttpAppTarget({app_name(self.app)}, path={self.url!r})"

    async def _ensure_client(self) -> UrlTarget:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is None:
                from aiohttp.test_utils import TestServer

                server = TestServer(self.app, host="127.0.0.1", port=0)
                await server.start_server()
                self._server = server
                self._client = UrlTarget(str(server.make_url("/")))
        return self._client

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        check_timeout(timeout)
        client = await self._ensure_client()
        address = _address(request.url, self.url)
        headers = dict(request.headers)
        if request.url.startswith(("http://", "https://")) and not any(k.lower() == "host" for k in headers):
            headers["Host"] = address.host  # the app sees the host the request was addressed to
        target = address.path + (f"?{address.query}" if address.query else "")
        try:
            return await client.send(
                HttpRequest(target, headers, request.body, request.method), timeout=timeout
            )
        except DeliveryFailure as exc:
            # Name the app, not the loopback port it happens to be served on.
            detail = exc.detail.replace(client.url.rstrip("/"), f"aiohttp:{app_name(self.app)} ")
            raise DeliveryFailure(exc.kind, detail) from None

    async def aclose(self) -> None:
        """Stop the server (idempotent)."""
        client, server = self._client, self._server
        self._client = self._server = None
        if client is not None:
            await client.aclose()
        if server is not None:
            await server.close()


_Reply = Any


def _positional_arity(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments ``fn`` takes (None: any number, or unknown)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    count = 0
    for param in signature.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            return None
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


class CallableTarget:
    """Calls ``fn(body, headers)`` (or ``fn(body)``), sync or async, on the event loop."""

    def __init__(self, fn: Callable[..., _Reply], path: str = "/") -> None:
        self.fn = fn
        self.url = _check_path(path)
        self.description = f"callable:{app_name(fn)}"
        self._pass_headers = _positional_arity(fn) != 1

    def __repr__(self) -> str:
        return f"CallableTarget({app_name(self.fn)})"

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        check_timeout(timeout)
        address = _address(request.url, self.url)
        headers = CIMultiDictProxy(
            CIMultiDict(_wire_headers(request.headers, address.host, len(request.body)))
        )
        payload = parse_json(request.body)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                try:
                    reply = self.fn(payload, headers) if self._pass_headers else self.fn(payload)
                    if inspect.isawaitable(reply):
                        reply = await reply
                except DeliveryFailure:
                    raise  # deliberate: the callable simulates a network failure
                except Exception as exc:
                    raise DeliveryFailure(
                        "app-error", f"{self.description} raised {describe_exception(exc)}"
                    ) from exc
        except TimeoutError:
            raise DeliveryFailure("timeout", self._late(timeout)) from None
        latency = time.perf_counter() - start
        if latency > timeout:  # a sync callable overran; asyncio could not interrupt it
            raise DeliveryFailure("timeout", self._late(timeout))
        status, out_headers, body = self._convert(reply)
        return HttpResponse(status, CIMultiDict(out_headers), body, latency)

    def _late(self, timeout: float) -> str:
        return f"no response from {self.description} within {_duration(timeout)}"

    def _convert(self, reply: _Reply) -> tuple[int, Mapping[str, str], bytes]:
        if isinstance(reply, HttpResponse):
            return reply.status, reply.headers, reply.body
        status = 200
        if isinstance(reply, tuple):
            if len(reply) != 2 or not isinstance(reply[0], int) or isinstance(reply[0], bool):
                raise DeliveryFailure(
                    "app-error",
                    f"{self.description} returned {reply!r}; a tuple reply must be (status, body)",
                )
            status, reply = reply
        if reply is None:
            return status, {}, b""
        if isinstance(reply, bytes | bytearray):
            return status, {"Content-Type": "application/octet-stream"}, bytes(reply)
        if isinstance(reply, str):
            return status, {"Content-Type": "text/plain; charset=utf-8"}, reply.encode()
        if isinstance(reply, dict | list):
            try:
                body = json.dumps(reply).encode()
            except (TypeError, ValueError) as exc:
                raise DeliveryFailure(
                    "app-error",
                    f"{self.description} returned a reply that is not "
                    f"JSON-serialisable: {describe_exception(exc)}",
                ) from None
            return status, {"Content-Type": "application/json"}, body
        raise DeliveryFailure(
            "app-error",
            f"{self.description} returned {type(reply).__name__}; expected "
            "None, dict, list, str, bytes, (status, body) or HttpResponse",
        )

    async def aclose(self) -> None:
        """Nothing to release (idempotent)."""


def _is_coroutine_callable(obj: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(type(obj).__call__)


def _param_names(fn: Callable[..., Any]) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _is_asgi(obj: Callable[..., Any]) -> bool:
    return _is_coroutine_callable(obj) and _positional_arity(obj) == 3


def _is_wsgi(obj: Callable[..., Any]) -> bool:
    if _is_coroutine_callable(obj):
        return False
    if hasattr(obj, "wsgi_app"):  # Flask, and apps wrapping it
        return True
    names = _param_names(obj)
    # Name-based: a (body, headers) callable also takes two arguments.
    return _positional_arity(obj) == 2 and (names[0] in ("environ", "env") or names[1] == "start_response")


def resolve_app(app: object, *, path: str = "/") -> HttpTarget:
    """Pick the in-process target for ``app``.

    aiohttp ``web.Application`` by type; ASGI: an async callable taking 3 positional arguments
    (scope, receive, send); WSGI: a sync callable taking (environ, start_response), recognised by
    those names or Flask's ``wsgi_app``; any other callable is a ``(body, headers)`` handler. Wrap
    the app in ``AsgiTarget`` / ``WsgiTarget`` / ``CallableTarget`` yourself if the guess is wrong.
    """
    # aiohttp costs ~100 ms to import and an app of it can only exist once it is imported.
    aiohttp_web = sys.modules.get("aiohttp.web")
    if aiohttp_web is not None and isinstance(app, aiohttp_web.Application):
        return AiohttpAppTarget(app, path)
    if not callable(app):
        raise TypeError(
            f"mockvapi: cannot deliver webhooks to {_shown(app)}; expected a URL, an ASGI/WSGI/aiohttp app, "
            "or a callable (body, headers) -> reply"
        )
    if _is_asgi(app):
        return AsgiTarget(app, path)
    if _is_wsgi(app):
        return WsgiTarget(app, path)
    return CallableTarget(app, path)
