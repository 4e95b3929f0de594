"""HTTP handlers of the fake Vapi API (moto's ``responses.py``): parse -> backend -> serialise.

Each handler is a few lines; rules live in `mockvapi.server.backend`. Errors are raised as
`mockvapi.errors.ApiError` and turned into Vapi's JSON error body by the app's middleware.

The call engine plugs in through `Hooks` (stored under `HOOKS_KEY`): ``on_call_created`` runs
after POST /call and /call/web store their records; the per-call routes
``GET /{callId}/transport`` (websocket), ``GET /{callId}/listen`` (websocket) and
``POST /{callId}/control`` hand the call's record and the request to ``on_transport_ws``,
``on_listen_ws`` and ``on_control``, which answer 404 "no live call" until an engine is set.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import hdrs, web

from mockvapi.errors import BadRequest, NotFound, Unauthorized
from mockvapi.models.nesting import MAX_JSON_DEPTH, nested_deeper_than
from mockvapi.server.backend import MAX_BATCH_CUSTOMERS, Backend, CallCreation, CallRecord
from mockvapi.server.guard import carries_body, declared_type, token_matches
from mockvapi.server.openapi import OpenApiDocument
from mockvapi.transports.envelope import finite_float
from mockvapi.web import cjs_source, esm_source

__all__ = [
    "BACKEND_KEY",
    "ERRORS_KEY",
    "HOOKS_KEY",
    "OPENAPI_KEY",
    "PUBLIC_URL_KEY",
    "TOKENS_KEY",
    "AdmitHook",
    "CallCreatedHook",
    "CallRequestHook",
    "WebJoinHook",
    "ErrorLog",
    "Handler",
    "Hooks",
    "Tokens",
    "authenticate",
    "base_url",
    "no_live_call",
    "no_web_call",
    "read_json",
    "requires_auth",
]

log = logging.getLogger("mockvapi.server")

CallCreatedHook = Callable[[CallRecord, Mapping[str, Any] | None], Awaitable[None] | None]
"""Called with each new call's record and its resolved assistant (or None)."""

CallRequestHook = Callable[[CallRecord, web.Request], Awaitable[web.StreamResponse]]
"""Answers a per-call request (websocket upgrade or control POST) for a known call."""

AdmitHook = Callable[[int], None]
"""Called with how many calls a request is about to create; raises an ApiError (429) to refuse them."""


WebJoinHook = Callable[[str, web.Request], Awaitable[web.StreamResponse]]
"""Answers the web stand-in joining a call by id (unknown ids included: it tells them with a close code)."""


async def no_web_call(call_id: str, request: web.Request) -> web.StreamResponse:
    """Default web hook: no call engine, so no web call can be joined."""
    raise NotFound(f"No live call {call_id}: no call engine is attached to this mockvapi server")


async def no_live_call(record: CallRecord, request: web.Request) -> web.StreamResponse:
    """Default per-call hook: nothing is playing the call, so there is nothing to connect to."""
    raise NotFound(f"No live call {record.id}: no call engine is attached to this mockvapi server")


@dataclass
class Hooks:
    """Where the call engine plugs into the REST surface; mutable after the app is built."""

    on_call_created: CallCreatedHook | None = None
    on_transport_ws: CallRequestHook = no_live_call
    on_listen_ws: CallRequestHook = no_live_call
    on_control: CallRequestHook = no_live_call
    admit_calls: AdmitHook | None = None
    on_web_ws: WebJoinHook = no_web_call


@dataclass(frozen=True)
class Tokens:
    """Accepted Bearer tokens; ``None`` accepts any non-empty token."""

    accepted: frozenset[str] | None = None

    def allows(self, token: str) -> bool:
        return bool(token) and (self.accepted is None or token_matches(token, self.accepted))


@dataclass
class ErrorLog:
    """Exceptions the server swallowed to keep answering JSON (hook failures, mockvapi bugs).

    Only the last `keep` are kept (each holds its traceback, and through it a request's objects, so a
    long-running server must not keep them all); `total` counts every one.
    """

    errors: list[BaseException] = field(default_factory=list)
    keep: int = 100
    total: int = 0

    def record(self, exc: BaseException) -> None:
        self.total += 1
        self.errors.append(exc)
        del self.errors[: -self.keep]


BACKEND_KEY = web.AppKey("mockvapi.backend", Backend)
HOOKS_KEY = web.AppKey("mockvapi.hooks", Hooks)
TOKENS_KEY = web.AppKey("mockvapi.tokens", Tokens)
ERRORS_KEY = web.AppKey("mockvapi.errors", ErrorLog)
OPENAPI_KEY = web.AppKey("mockvapi.openapi", OpenApiDocument)
PUBLIC_URL_KEY = web.AppKey("mockvapi.public_url", str)

_JSON_TYPES = ("application/json", "text/json")


def base_url(request: web.Request) -> str:
    """``http(s)://host:port`` of this server, for URLs pointing back here (listenUrl, controlUrl...).

    The configured public URL (``app[PUBLIC_URL_KEY]``), else the address of the socket the request came
    in on; never the request's ``Host`` header, which the client chooses."""
    public = request.app.get(PUBLIC_URL_KEY) or ""
    if public:
        return public.rstrip("/")
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if not sockname:
        return f"{request.scheme}://127.0.0.1"
    host, port = str(sockname[0]), int(sockname[1])
    return f"{request.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: web.Request) -> object:
    """The request body as JSON; an empty body is ``{}`` (as NestJS sees it). Raises BadRequest."""
    raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge -> 413 JSON
    if not raw.strip():
        return {}
    declared = request.headers.get(hdrs.CONTENT_TYPE)
    if declared is not None and not _is_json(request.content_type):
        raise BadRequest(f"Content-Type must be application/json, got {request.content_type!r}")
    try:
        body: object = json.loads(raw, parse_constant=_reject_constant, parse_float=finite_float)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{exc.msg} in JSON at position {exc.pos}") from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8, NaN/Infinity, absurd nesting
        raise BadRequest(f"Invalid JSON body: {exc}"[:300]) from None
    if nested_deeper_than(body):
        raise BadRequest(f"JSON body is nested more than {MAX_JSON_DEPTH} levels deep")
    return body


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def authenticate(request: web.Request) -> None:
    """Raise Unauthorized unless the request carries an accepted ``Authorization: Bearer`` token."""
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, token = header.strip().partition(" ")
    if not header:
        raise Unauthorized("Missing Authorization Header. Use `Authorization: Bearer <token>`.")
    if scheme.lower() != "bearer" or not request.app[TOKENS_KEY].allows(token.strip()):
        raise Unauthorized(
            "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa."
        )


def requires_auth(handler: Handler) -> Handler:
    """Wrap a handler so it answers 401 JSON without a valid Bearer token (all Vapi API routes)."""

    @functools.wraps(handler)
    async def authenticated(request: web.Request) -> web.StreamResponse:
        authenticate(request)
        return await handler(request)

    return authenticated


def _backend(request: web.Request) -> Backend:
    return request.app[BACKEND_KEY]


def _id(request: web.Request) -> str:
    return request.match_info["id"]


def _json(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


async def _announce(request: web.Request, creation: CallCreation) -> None:
    """Run ``on_call_created`` for each new call. A failing hook is logged and kept in
    ERRORS_KEY, not answered: the call exists, and a 5xx would make the SDK retry the POST."""
    hook = request.app[HOOKS_KEY].on_call_created
    if hook is None:
        return
    for n, record in enumerate(creation.records):
        if n:
            await asyncio.sleep(0)  # a batch starts its calls one by one, letting other requests in between
        try:
            result = hook(record, record.assistant)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            log.exception("mockvapi: on_call_created failed for %r", record)
            request.app[ERRORS_KEY].record(exc)


# -- assistants -------------------------------------------------------------------------------


async def create_assistant(request: web.Request) -> web.Response:
    return _json(_backend(request).create_assistant(await read_json(request)), status=201)


async def list_assistants(request: web.Request) -> web.Response:
    return _json(_backend(request).list_assistants(request.query))


async def get_assistant(request: web.Request) -> web.Response:
    return _json(_backend(request).get_assistant(_id(request)))


async def update_assistant(request: web.Request) -> web.Response:
    return _json(_backend(request).update_assistant(_id(request), await read_json(request)))


async def delete_assistant(request: web.Request) -> web.Response:
    return _json(_backend(request).delete_assistant(_id(request)))


# -- squads -----------------------------------------------------------------------------------


async def create_squad(request: web.Request) -> web.Response:
    return _json(_backend(request).create_squad(await read_json(request)), status=201)


async def list_squads(request: web.Request) -> web.Response:
    return _json(_backend(request).list_squads(request.query))


async def get_squad(request: web.Request) -> web.Response:
    return _json(_backend(request).get_squad(_id(request)))


async def update_squad(request: web.Request) -> web.Response:
    return _json(_backend(request).update_squad(_id(request), await read_json(request)))


async def delete_squad(request: web.Request) -> web.Response:
    return _json(_backend(request).delete_squad(_id(request)))


# -- phone numbers ----------------------------------------------------------------------------


async def create_phone_number(request: web.Request) -> web.Response:
    return _json(_backend(request).create_phone_number(await read_json(request)), status=201)


async def list_phone_numbers(request: web.Request) -> web.Response:
    return _json(_backend(request).list_phone_numbers(request.query))


async def get_phone_number(request: web.Request) -> web.Response:
    return _json(_backend(request).get_phone_number(_id(request)))


async def update_phone_number(request: web.Request) -> web.Response:
    return _json(_backend(request).update_phone_number(_id(request), await read_json(request)))


async def delete_phone_number(request: web.Request) -> web.Response:
    return _json(_backend(request).delete_phone_number(_id(request)))


# -- calls ------------------------------------------------------------------------------------


def _admit(request: web.Request, body: object) -> None:
    admit = request.app[HOOKS_KEY].admit_calls
    if admit is not None:
        customers = body.get("customers") if isinstance(body, dict) else None
        count = len(customers) if isinstance(customers, list) and customers else 1
        if count <= MAX_BATCH_CUSTOMERS:  # a larger batch is a 400 whatever runs (the backend says so)
            admit(count)


async def create_call(request: web.Request) -> web.Response:
    body = await read_json(request)
    _admit(request, body)
    creation = _backend(request).create_call(body, base_url=base_url(request))
    await _announce(request, creation)
    return _json(creation.body, status=201)


async def create_web_call(request: web.Request) -> web.Response:
    body = await read_json(request)
    _admit(request, body)
    creation = _backend(request).create_web_call(body, base_url=base_url(request))
    await _announce(request, creation)
    return _json(creation.body, status=201)


async def list_calls(request: web.Request) -> web.Response:
    return _json(_backend(request).list_calls(request.query))


async def get_call(request: web.Request) -> web.Response:
    # Serialised straight from the record (no deep copy first: dumps finishes before the call can change
    # it); a finished call's record carries every message, and copying it doubled this endpoint's cost.
    return _json(_backend(request).get_call(_id(request)).data)


async def update_call(request: web.Request) -> web.Response:
    return _json(_backend(request).update_call(_id(request), await read_json(request)))


async def delete_call(request: web.Request) -> web.Response:
    return _json(_backend(request).delete_call(_id(request), await read_json(request)))


# -- per-call endpoints (the engine answers these) ---------------------------------------------


def _record(request: web.Request) -> CallRecord:
    return _backend(request).get_call(request.match_info["call_id"])


async def call_transport(request: web.Request) -> web.StreamResponse:
    return await request.app[HOOKS_KEY].on_transport_ws(_record(request), request)


async def call_listen(request: web.Request) -> web.StreamResponse:
    return await request.app[HOOKS_KEY].on_listen_ws(_record(request), request)


async def call_control(request: web.Request) -> web.StreamResponse:
    # A controlUrl needs no token (the call id in it is the secret, as on Vapi), and a page in the
    # developer's browser may POST to it without a CORS preflight as text/plain, a form or a body with no
    # type at all. Vapi parses JSON bodies only (anything else reaches it empty: a 400), so do the same.
    if carries_body(request) and not _is_json(declared := declared_type(request)):
        raise BadRequest(f"Content-Type must be application/json, got {declared!r}")
    return await request.app[HOOKS_KEY].on_control(_record(request), request)


def _is_json(media_type: str) -> bool:
    return media_type in _JSON_TYPES or media_type.endswith("+json")


async def call_web(request: web.Request) -> web.StreamResponse:
    """A call's webCallUrl: the daily-js stand-in joins here (see mockvapi.transports.webcall)."""
    return await request.app[HOOKS_KEY].on_web_ws(request.match_info["call_id"], request)


async def daily_shim(request: web.Request) -> web.Response:
    """The daily-js stand-in itself (static code, no data): ``daily.js`` (ES module) or ``daily.cjs``."""
    source = cjs_source() if request.match_info["name"] == "daily.cjs" else esm_source()
    return web.Response(text=source, content_type="text/javascript", headers={"Cache-Control": "no-cache"})


# -- spec ---------------------------------------------------------------------------------------


async def api_json(request: web.Request) -> web.Response:
    text = request.app[OPENAPI_KEY].render(server_url=base_url(request))
    return web.Response(text=text, content_type="application/json")
