"""`create_app()`: the fake Vapi REST API as an aiohttp application.

Everything a client can send gets a JSON answer in Vapi's NestJS shape
(``{"message": ..., "error": ..., "statusCode": ...}``): bad bodies 400, missing or wrong
Bearer token 401, unknown ids and endpoints 404 (the message says when mockvapi does not
implement an endpoint), bodies over ``max_body_bytes`` 413. Only a bug in mockvapi (or in a
hook) answers 500, with JSON too; the exception is logged and kept in ``app[ERRORS_KEY]`` so a
harness can re-raise it in the test.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from mockvapi.errors import ApiError, Forbidden, NotFound, PayloadTooLarge
from mockvapi.server.backend import Backend
from mockvapi.server.guard import host_allowed, host_name
from mockvapi.server.handlers import (
    BACKEND_KEY,
    ERRORS_KEY,
    HOOKS_KEY,
    OPENAPI_KEY,
    PUBLIC_URL_KEY,
    TOKENS_KEY,
    CallCreatedHook,
    CallRequestHook,
    ErrorLog,
    Handler,
    Hooks,
    Tokens,
    WebJoinHook,
    no_live_call,
    no_web_call,
)
from mockvapi.server.openapi import OpenApiDocument
from mockvapi.server.routes import documented_operations, route_defs

__all__ = [
    "BACKEND_KEY",
    "DEFAULT_MAX_BODY_BYTES",
    "ERRORS_KEY",
    "HOOKS_KEY",
    "CORS_ROUTES",
    "cors_granted",
    "HOST_NAMES_KEY",
    "MAX_BODY_KEY",
    "OPENAPI_KEY",
    "PUBLIC_URL_KEY",
    "TOKENS_KEY",
    "cors_middleware",
    "create_app",
    "error_middleware",
    "error_response",
    "host_middleware",
]

log = logging.getLogger("mockvapi.server")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_KEY = web.AppKey("mockvapi.max_body_bytes", int)
# Host names (besides IP literals and localhost) requests may address this server by.
HOST_NAMES_KEY: web.AppKey[frozenset[str]] = web.AppKey("mockvapi.host_names")


def error_response(exc: ApiError) -> web.Response:
    retry_after = getattr(exc, "retry_after", None)  # TooManyRequests
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response(exc.body(), status=exc.status, headers=headers)


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    if exc.status in (404, 405):
        # No route (404) or no such method on a route (405): NestJS answers both with 404.
        return error_response(
            NotFound(f"Cannot {request.method} {request.path}: this endpoint is not implemented in mockvapi")
        )
    if exc.status == 413:
        limit = request.app[MAX_BODY_KEY]
        return error_response(PayloadTooLarge(f"request entity too large (limit {limit} bytes)"))
    text = exc.text or ""
    message = exc.reason if not text or text.startswith(f"{exc.status}:") else text
    body = {"message": message, "error": exc.reason, "statusCode": exc.status}
    return web.json_response(body, status=exc.status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a JSON answer; never HTML, never a traceback on the wire."""
    try:
        return await handler(request)
    except ApiError as exc:
        log.debug("mockvapi: %s %s -> %r", request.method, request.path, exc)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like pass through
            raise
        return _from_http_exception(request, exc)
    except Exception as exc:
        log.exception("mockvapi: internal error answering %s %s", request.method, request.path)
        request.app[ERRORS_KEY].record(exc)
        if request.writer.output_size > 0:
            # A hook already started its answer (say, upgraded to a websocket): a JSON body now
            # would be written into that stream. Let aiohttp drop the connection instead.
            raise
        body = {
            "message": f"mockvapi internal error (a bug in mockvapi or a hook, not in the request): {exc!r}"[:500],
            "error": "Internal Server Error",
            "statusCode": 500,
        }
        return web.json_response(body, status=500)


_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Max-Age": "600",
}
# Where a page on another origin may call, by method: what @vapi-ai/web's start() posts with the public key
# (POST /call/web, or POST /call with a web transport), the web call's own URL the daily-js stand-in reads
# (whether the call exists), and the stand-in itself (static code, no data). Nothing else: a grant on
# GET /call or the control plane would let any page read calls, capability URLs, secrets.
CORS_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(r"/call/web")),
    ("POST", re.compile(r"/call")),
    ("GET", re.compile(r"/(?!_mockvapi)[^/]+/web")),
    ("GET", re.compile(r"/_mockvapi-web/daily\.c?js")),
)


def cors_granted(method: str, path: str) -> bool:
    """Whether a page on another origin may send `method` to `path` (see `CORS_ROUTES`)."""
    return any(method == allowed and pattern.fullmatch(path) for allowed, pattern in CORS_ROUTES)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let browsers call `CORS_ROUTES` (preflight included), and nothing else."""
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    method = request.headers["Access-Control-Request-Method"].upper() if preflight else request.method
    granted = cors_granted(method, request.path)
    if preflight and granted:
        return web.Response(status=204, headers={**_CORS_HEADERS, "Access-Control-Allow-Methods": f"{method}, OPTIONS"})
    response = await handler(request)
    if granted and not response.prepared:  # a websocket upgrade has already sent its headers
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    return response


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a ``Host`` that DNS rebinding could produce (a page's own name resolving to 127.0.0.1)."""
    names: frozenset[str] = request.app[HOST_NAMES_KEY]
    host = request.headers.get(hdrs.HOST)  # absent (HTTP/1.0): no browser, so no rebinding
    if host is not None and not host_allowed(host, names):
        return error_response(Forbidden(
            f"unknown Host {host_name(host)[:100]!r}: address this server by IP, localhost, or the host of "
            "its public URL (mockvapi serve --public-url)"
        ))
    return await handler(request)


def create_app(
    *,
    backend: Backend | None = None,
    seed: int | None = 0,
    now_ms: Callable[[], int] | None = None,
    tokens: Iterable[str] | None = None,
    openapi_spec: str | os.PathLike[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    public_url: str | None = None,
    on_call_created: CallCreatedHook | None = None,
    on_transport_ws: CallRequestHook | None = None,
    on_listen_ws: CallRequestHook | None = None,
    on_control: CallRequestHook | None = None,
    on_web_ws: WebJoinHook | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
) -> web.Application:
    """The fake Vapi API.

    ``backend`` (else a new ``Backend(seed=seed, now_ms=now_ms)``) holds the state; ``seed=None`` makes
    its ids (and the per-call URLs built from them) unguessable instead of reproducible.
    ``tokens``: accepted Bearer tokens; None accepts any non-empty token. ``openapi_spec``:
    the official spec for ``GET /api-json`` (else $MOCKVAPI_OPENAPI, else the extract of it that
    mockvapi ships). ``public_url``: where clients reach this server, the base of the URLs
    it hands out (listenUrl, controlUrl...; default: the address each request came in on); its host is
    accepted in ``Host`` besides IP literals and localhost. The ``on_*`` hooks connect a call engine (see `Hooks`; they
    can also be set later on ``app[HOOKS_KEY]``). ``extra_routes`` are registered before the
    API routes, so they may add endpoints (the ``/_mockvapi/`` control plane) or override one.
    """
    if isinstance(tokens, str):  # a single token, not an iterable of characters
        tokens = (tokens,)
    app = web.Application(
        middlewares=[host_middleware, cors_middleware, error_middleware], client_max_size=max_body_bytes
    )
    app[BACKEND_KEY] = backend if backend is not None else Backend(seed=seed, now_ms=now_ms)
    app[TOKENS_KEY] = Tokens(None if tokens is None else frozenset(tokens))
    app[HOOKS_KEY] = Hooks(
        on_call_created=on_call_created,
        on_transport_ws=on_transport_ws or no_live_call,
        on_listen_ws=on_listen_ws or no_live_call,
        on_control=on_control or no_live_call,
        on_web_ws=on_web_ws or no_web_call,
    )
    app[ERRORS_KEY] = ErrorLog()
    app[MAX_BODY_KEY] = max_body_bytes
    app[PUBLIC_URL_KEY] = (public_url or "").rstrip("/")
    app[HOST_NAMES_KEY] = frozenset({host_name(urlsplit(public_url).netloc)} if public_url else ())
    app[OPENAPI_KEY] = OpenApiDocument(documented_operations(), openapi_spec)
    app.router.add_routes(list(extra_routes))
    app.router.add_routes(route_defs())
    return app
