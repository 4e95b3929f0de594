from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from aiohttp import web
from fastapi import FastAPI, Request
from flask import Flask
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from mockvapi.transports.auth import verify_hmac, webhook_headers
from mockvapi.transports.http import DeliveryFailure, HttpRequest, HttpResponse, deliver
from mockvapi.transports.inprocess import (
    AiohttpAppTarget,
    AsgiTarget,
    CallableTarget,
    WsgiTarget,
)
from mockvapi.transports.targets import resolve_target
from tests.imports import imported_after

from .conftest import Recorder, comparable

BODY = json.dumps({"message": {"type": "tool-calls", "timestamp": 1, "text": "héllo"}}).encode()
TS = 1_767_258_000_000
SEND_TIMEOUT = 60.0  # for sends that must succeed: only a hang guard, generous for a busy machine
CREDENTIAL = {
    "provider": "webhook",
    "authenticationPlan": {"type": "hmac", "secretKey": "k", "algorithm": "sha256"},
}
SERVER = {"secret": "shh", "headers": {"X-Tenant": "acme"}}
HEADERS = webhook_headers(SERVER, BODY, timestamp_ms=TS, credential=CREDENTIAL)
REPLY = {"results": [{"toolCallId": "call_1", "result": "ok"}]}

# What each app saw: (header pairs, body bytes, path, query).
Seen = list[tuple[list[tuple[str, str]], bytes, str, str]]


async def no_sleep(seconds: float) -> None:
    raise AssertionError("no retries expected")


def request(url: str = "/webhook?x=1") -> HttpRequest:
    return HttpRequest(url, HEADERS, BODY)


# --- apps, one per framework, each recording what it received ------------------------------------


def fastapi_app(seen: Seen) -> FastAPI:
    app = FastAPI()

    @app.post("/webhook")
    async def hook(req: Request) -> dict[str, Any]:
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in req.headers.raw]
        seen.append((raw, await req.body(), req.url.path, req.url.query))
        return REPLY

    @app.post("/boom")
    async def boom() -> None:
        raise ValueError("boom")

    return app


def starlette_app(seen: Seen) -> Starlette:
    async def hook(req: StarletteRequest) -> JSONResponse:
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in req.headers.raw]
        seen.append((raw, await req.body(), req.url.path, req.url.query))
        return JSONResponse(REPLY)

    return Starlette(routes=[Route("/webhook", hook, methods=["POST"])])


def flask_app(seen: Seen) -> Flask:
    app = Flask(__name__)

    @app.post("/webhook")
    def hook() -> Any:
        pairs = list(flask_request.headers.items())
        seen.append(
            (pairs, flask_request.get_data(), flask_request.path, flask_request.query_string.decode())
        )
        return REPLY

    @app.post("/boom")
    def boom() -> Any:
        raise ValueError("flask boom")

    return app


def aiohttp_app(seen: Seen) -> web.Application:
    async def hook(req: web.Request) -> web.Response:
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in req.raw_headers]
        seen.append((pairs, await req.read(), req.path, req.query_string))
        return web.json_response(REPLY)

    app = web.Application()
    app.router.add_post("/webhook", hook)
    return app


def sync_callable(seen: Seen) -> Callable[[Any, Any], Any]:
    def hook(body: Any, headers: Any) -> Any:
        seen.append((list(headers.items()), json.dumps(body).encode(), "", ""))
        return REPLY

    return hook


def async_callable(seen: Seen) -> Callable[[Any, Any], Any]:
    async def hook(body: Any, headers: Any) -> Any:
        seen.append((list(headers.items()), json.dumps(body).encode(), "", ""))
        return REPLY

    return hook


APPS: dict[str, tuple[Callable[[Seen], Any], type]] = {
    "fastapi": (fastapi_app, AsgiTarget),
    "starlette": (starlette_app, AsgiTarget),
    "flask": (flask_app, WsgiTarget),
    "aiohttp": (aiohttp_app, AiohttpAppTarget),
    "sync-callable": (sync_callable, CallableTarget),
    "async-callable": (async_callable, CallableTarget),
}


@pytest.mark.parametrize("kind", list(APPS))
async def test_in_process_apps_receive_what_a_socket_server_receives(recorder: Recorder, kind: str) -> None:
    # Reference: the same request over a real socket.
    wire = resolve_target(recorder.url())
    try:
        assert (await wire.send(request(), timeout=SEND_TIMEOUT)).ok
    finally:
        await wire.aclose()
    [reference] = recorder.requests

    factory, target_type = APPS[kind]
    seen: Seen = []
    target = resolve_target(factory(seen), path="/webhook")
    assert type(target) is target_type
    try:
        outcome = await deliver(target, request(), timeout=1, sleep=no_sleep)
    finally:
        await target.aclose()

    assert outcome.ok, outcome
    assert outcome.response is not None and outcome.response.json() == REPLY
    [(headers, body, path, query)] = seen
    assert comparable(headers) == comparable(reference.headers)
    assert verify_hmac(CREDENTIAL, BODY, dict(headers))
    if kind.endswith("callable"):
        assert json.loads(body) == json.loads(BODY)  # callables get the parsed body
    else:
        assert body == reference.body == BODY
        assert (path, query) == ("/webhook", "x=1")


async def test_in_process_host_header_follows_the_request_url() -> None:
    seen: Seen = []
    target = resolve_target(fastapi_app(seen))
    await target.send(request("https://api.example.test:8443/webhook"), timeout=SEND_TIMEOUT)
    await target.send(request("/webhook"), timeout=SEND_TIMEOUT)
    hosts = [dict(headers)["host"] for headers, *_ in seen]
    assert hosts == ["api.example.test:8443", "localhost"]


async def test_resolve_target_path_is_used_when_request_has_no_url() -> None:
    seen: Seen = []
    target = resolve_target(starlette_app(seen), path="/webhook")
    assert target.description == "asgi:Starlette POST /webhook"  # the app by its class, no memory address
    response = await target.send(HttpRequest("", HEADERS, BODY), timeout=SEND_TIMEOUT)
    assert response.status == 200 and seen[0][2] == "/webhook"
    with pytest.raises(ValueError, match="must start with '/'"):
        resolve_target(starlette_app(seen), path="webhook")


# --- detection --------------------------------------------------------------------------------------


def test_detection_of_raw_asgi_wsgi_and_callables() -> None:
    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        pass

    def wsgi(environ: Any, start_response: Any) -> Iterable[bytes]:
        return []

    def handler(body: Any, headers: Any) -> None:
        pass

    async def async_handler(body: Any, headers: Any) -> None:
        pass

    def body_only(body: Any) -> None:
        pass

    class AsgiMiddleware:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            pass

    assert isinstance(resolve_target(asgi), AsgiTarget)
    assert isinstance(resolve_target(AsgiMiddleware()), AsgiTarget)
    assert isinstance(resolve_target(wsgi), WsgiTarget)
    assert isinstance(resolve_target(handler), CallableTarget)
    assert isinstance(resolve_target(async_handler), CallableTarget)
    assert isinstance(resolve_target(body_only), CallableTarget)
    assert isinstance(resolve_target(lambda body, headers: None), CallableTarget)


# --- errors become 500s or app-errors, never tracebacks ------------------------------------------


async def test_fastapi_exception_becomes_500() -> None:
    target = resolve_target(fastapi_app([]))
    outcome = await deliver(target, request("/boom"), timeout=1, sleep=no_sleep)
    assert outcome.response is not None and outcome.response.status == 500
    assert outcome.response.app_error == "ValueError: boom"
    assert outcome.error == "HTTP 500: ValueError: boom"


async def test_raw_asgi_app_errors_and_incomplete_responses_become_500() -> None:
    async def raising(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("before start")

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    first = await AsgiTarget(raising, "/").send(request(), timeout=SEND_TIMEOUT)
    assert (first.status, first.body, first.app_error) == (
        500,
        b"Internal Server Error",
        "RuntimeError: before start",
    )
    second = await AsgiTarget(silent, "/").send(request(), timeout=SEND_TIMEOUT)
    assert second.status == 500 and second.app_error is not None and "without completing" in second.app_error


async def test_asgi_streams_chunks_and_sees_disconnect_after_response() -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        events.append(message["type"])
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "http.response.body", "body": b"c"})
        events.append((await receive())["type"])

    response = await AsgiTarget(app, "/").send(request(), timeout=SEND_TIMEOUT)
    assert (response.status, response.body, response.headers["X-A"]) == (201, b"abc", "1")
    assert events == ["http.request", "http.disconnect"]


async def test_flask_exception_becomes_500() -> None:
    app = flask_app([])
    app.logger.disabled = True  # Flask logs the traceback itself; keep the test output quiet
    response = await resolve_target(app).send(request("/boom"), timeout=SEND_TIMEOUT)
    assert response.status == 500
    app.testing = True  # Flask now propagates: mockvapi answers the 500 as a server would
    response = await resolve_target(app).send(request("/boom"), timeout=SEND_TIMEOUT)
    assert response.status == 500 and response.app_error == "ValueError: flask boom"


async def test_raw_wsgi_environ_and_errors() -> None:
    environs: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environs.append(environ)
        if environ["PATH_INFO"] == "/boom":
            raise KeyError("nope")
        if environ["PATH_INFO"] == "/silent":
            return [b"x"]
        start_response("202 Accepted", [("X-Reply", "yes")])
        return [environ["wsgi.input"].read()]

    target = resolve_target(app)
    ok = await target.send(request("http://hooks.test/a%20b?q=1"), timeout=SEND_TIMEOUT)
    assert (ok.status, ok.body, ok.headers["x-reply"]) == (202, BODY, "yes")
    env = environs[0]
    assert env["PATH_INFO"] == "/a b" and env["QUERY_STRING"] == "q=1"
    assert env["CONTENT_TYPE"] == "application/json" and env["CONTENT_LENGTH"] == str(len(BODY))
    assert env["HTTP_X_VAPI_SECRET"] == "shh" and env["HTTP_HOST"] == "hooks.test"
    assert (env["SERVER_NAME"], env["SERVER_PORT"], env["wsgi.url_scheme"]) == ("hooks.test", "80", "http")
    assert "HTTP_CONTENT_TYPE" not in env

    boom = await target.send(request("/boom"), timeout=SEND_TIMEOUT)
    assert (boom.status, boom.app_error) == (500, "KeyError: 'nope'")
    silent = await target.send(request("/silent"), timeout=SEND_TIMEOUT)
    assert silent.status == 500 and silent.app_error == "WSGI app returned without calling start_response"


async def test_callable_exception_is_an_app_error() -> None:
    def hook(body: Any, headers: Any) -> None:
        raise ValueError("bad handler")

    outcome = await deliver(resolve_target(hook), request(), timeout=1, sleep=no_sleep)
    assert outcome.response is None
    assert outcome.attempts[0].failure == "app-error"
    assert outcome.error is not None and outcome.error.endswith("raised ValueError: bad handler")


# --- timeouts ---------------------------------------------------------------------------------------


async def test_asgi_timeout() -> None:
    never = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await never.wait()

    outcome = await deliver(AsgiTarget(app, "/"), request(), timeout=0.05, sleep=no_sleep)
    assert outcome.attempts[0].failure == "timeout"
    assert outcome.error is not None and "within 50.0ms" in outcome.error


async def test_wsgi_timeout_does_not_block_the_loop() -> None:
    release = threading.Event()

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        release.wait(5)
        start_response("200 OK", [])
        return []

    try:
        with pytest.raises(DeliveryFailure) as info:
            await WsgiTarget(app, "/").send(request(), timeout=0.05)
    finally:
        release.set()
    assert info.value.kind == "timeout"


async def test_async_callable_timeout() -> None:
    never = asyncio.Event()

    async def hook(body: Any, headers: Any) -> None:
        await never.wait()

    with pytest.raises(DeliveryFailure, match="timeout: no response from callable:"):
        await resolve_target(hook).send(request(), timeout=0.05)


async def test_sync_callable_that_overruns_counts_as_timeout() -> None:
    def hook(body: Any, headers: Any) -> None:
        time.sleep(0.02)  # stands for a slow handler: the point is that it overruns

    with pytest.raises(DeliveryFailure) as info:
        await resolve_target(hook).send(request(), timeout=0.01)
    assert info.value.kind == "timeout"


async def test_aiohttp_app_timeout_names_the_app() -> None:
    never = asyncio.Event()

    async def hang(req: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/", hang)
    target = resolve_target(app)
    try:
        with pytest.raises(DeliveryFailure) as info:
            await target.send(request("/"), timeout=0.05)
    finally:
        never.set()  # let the handler finish so the server closes at once
        await target.aclose()
        await target.aclose()  # idempotent
    assert info.value.kind == "timeout"
    assert info.value.detail == "no response from aiohttp:Application / within 50.0ms"


# --- callable replies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "status", "body", "content_type"),
    [
        (None, 200, b"", None),
        ({"a": 1}, 200, b'{"a": 1}', "application/json"),
        ([1, 2], 200, b"[1, 2]", "application/json"),
        ("hi", 200, b"hi", "text/plain; charset=utf-8"),
        (b"\x7f\x7f", 200, b"\x7f\x7f", "application/octet-stream"),
        ((201, {"b": 2}), 201, b'{"b": 2}', "application/json"),
        ((204, None), 204, b"", None),
        (HttpResponse(418, {"X-T": "pot"}, b"short", 0.0), 418, b"short", None),
    ],
)
async def test_callable_reply_conversion(
    reply: Any, status: int, body: bytes, content_type: str | None
) -> None:
    response = await resolve_target(lambda b, h: reply).send(request(), timeout=SEND_TIMEOUT)
    assert (response.status, response.body, response.headers.get("Content-Type")) == (
        status,
        body,
        content_type,
    )


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (object(), "returned object; expected None, dict"),
        ((1, 2, 3), "a tuple reply must be (status, body)"),
        ({"x": object()}, "not JSON-serialisable"),
    ],
)
async def test_callable_bad_reply_is_an_app_error(reply: Any, message: str) -> None:
    with pytest.raises(DeliveryFailure, match=re.escape(message)) as info:
        await resolve_target(lambda b, h: reply).send(request(), timeout=SEND_TIMEOUT)
    assert info.value.kind == "app-error"


async def test_callable_taking_only_the_body() -> None:
    bodies: list[Any] = []
    response = await resolve_target(bodies.append).send(request(), timeout=SEND_TIMEOUT)
    assert response.status == 200 and bodies == [json.loads(BODY)]


async def test_aiohttp_app_target_restarts_after_aclose() -> None:
    seen: Seen = []
    target = resolve_target(aiohttp_app(seen), path="/webhook")
    assert repr(target) == "AiohttpAppTarget(Application, path='/webhook')"
    for _ in range(2):
        assert (await target.send(request(""), timeout=SEND_TIMEOUT)).ok
        await target.aclose()
    assert len(seen) == 2


def test_importing_mockvapi_leaves_aiohttp_unimported_and_an_aiohttp_app_still_resolves() -> None:
    # aiohttp's import is ~100 ms of `import mockvapi` (and of every user's pytest run, through the
    # plugin); only an aiohttp app target needs it, and that app's module imports it first.
    assert imported_after("import mockvapi; from mockvapi import MockVapi", ("aiohttp", "aiohttp.web")) == []
    resolved = ("from mockvapi.transports.targets import resolve_target; from aiohttp import web; "
                "print(type(resolve_target(web.Application())).__name__)")
    assert "AiohttpAppTarget" in subprocess.run([sys.executable, "-c", resolved], capture_output=True,
                                                text=True, check=True).stdout.split()
