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
from collections.abc import Callable, Iterable

from aiohttp import web

from mockvapi.errors import ApiError, NotFound, PayloadTooLarge
from mockvapi.server.backend import Backend
from mockvapi.server.handlers import (
    BACKEND_KEY,
    ERRORS_KEY,
    HOOKS_KEY,
    OPENAPI_KEY,
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
    "MAX_BODY_KEY",
    "OPENAPI_KEY",
    "TOKENS_KEY",
    "cors_middleware",
    "create_app",
    "error_middleware",
    "error_response",
]

log = logging.getLogger("mockvapi.server")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_KEY = web.AppKey("mockvapi.max_body_bytes", int)


def error_response(exc: ApiError) -> web.Response:
    return web.json_response(exc.body(), status=exc.status)


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
    "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE, OPTIONS",
    "Access-Control-Max-Age": "600",
}


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let browsers in (the web SDK calls POST /call/web from a page, as it does against Vapi)."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return web.Response(status=204, headers=_CORS_HEADERS)
    response = await handler(request)
    if not response.prepared:  # a websocket upgrade has already sent its headers
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    return response


def create_app(
    *,
    backend: Backend | None = None,
    seed: int = 0,
    now_ms: Callable[[], int] | None = None,
    tokens: Iterable[str] | None = None,
    openapi_spec: str | os.PathLike[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_call_created: CallCreatedHook | None = None,
    on_transport_ws: CallRequestHook | None = None,
    on_listen_ws: CallRequestHook | None = None,
    on_control: CallRequestHook | None = None,
    on_web_ws: WebJoinHook | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
) -> web.Application:
    """The fake Vapi API.

    ``backend`` (else a new ``Backend(seed=seed, now_ms=now_ms)``) holds the state.
    ``tokens``: accepted Bearer tokens; None accepts any non-empty token. ``openapi_spec``:
    the official spec for ``GET /api-json`` (else $MOCKVAPI_OPENAPI, else
    ../shared/vapi/openapi.json). The ``on_*`` hooks connect a call engine (see `Hooks`; they
    can also be set later on ``app[HOOKS_KEY]``). ``extra_routes`` are registered before the
    API routes, so they may add endpoints (the ``/_mockvapi/`` control plane) or override one.
    """
    if isinstance(tokens, str):  # a single token, not an iterable of characters
        tokens = (tokens,)
    app = web.Application(middlewares=[cors_middleware, error_middleware], client_max_size=max_body_bytes)
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
    app[OPENAPI_KEY] = OpenApiDocument(documented_operations(), openapi_spec)
    app.router.add_routes(list(extra_routes))
    app.router.add_routes(route_defs())
    return app
