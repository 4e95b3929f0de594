"""The route table of the fake Vapi API (moto's ``urls.py``): one line per endpoint.

Vapi API routes require a Bearer token (`Route.auth`); ``/api-json`` and the per-call
endpoints the call engine answers do not (Vapi's monitor URLs are open unless the assistant's
monitorPlan turns authentication on). Paths use the spec's spelling, so the OpenAPI document
can copy each documented operation from the official spec.
"""

from __future__ import annotations

from typing import NamedTuple

from aiohttp import web

from mockvapi.server import handlers as h

__all__ = ["API_ROUTES", "Route", "documented_operations", "route_defs"]


class Route(NamedTuple):
    method: str
    path: str
    handler: h.Handler
    name: str
    auth: bool = True
    documented: bool = True  # listed in GET /api-json


API_ROUTES: tuple[Route, ...] = (
    Route("POST", "/assistant", h.create_assistant, "assistant.create"),
    Route("GET", "/assistant", h.list_assistants, "assistant.list"),
    Route("GET", "/assistant/{id}", h.get_assistant, "assistant.get"),
    Route("PATCH", "/assistant/{id}", h.update_assistant, "assistant.update"),
    Route("DELETE", "/assistant/{id}", h.delete_assistant, "assistant.delete"),
    Route("POST", "/squad", h.create_squad, "squad.create"),
    Route("GET", "/squad", h.list_squads, "squad.list"),
    Route("GET", "/squad/{id}", h.get_squad, "squad.get"),
    Route("PATCH", "/squad/{id}", h.update_squad, "squad.update"),
    Route("DELETE", "/squad/{id}", h.delete_squad, "squad.delete"),
    Route("POST", "/phone-number", h.create_phone_number, "phone-number.create"),
    Route("GET", "/phone-number", h.list_phone_numbers, "phone-number.list"),
    Route("GET", "/phone-number/{id}", h.get_phone_number, "phone-number.get"),
    Route("PATCH", "/phone-number/{id}", h.update_phone_number, "phone-number.update"),
    Route("DELETE", "/phone-number/{id}", h.delete_phone_number, "phone-number.delete"),
    Route("POST", "/call/web", h.create_web_call, "call.create-web"),
    Route("POST", "/call", h.create_call, "call.create"),
    Route("GET", "/call", h.list_calls, "call.list"),
    Route("GET", "/call/{id}", h.get_call, "call.get"),
    Route("PATCH", "/call/{id}", h.update_call, "call.update"),
    Route("DELETE", "/call/{id}", h.delete_call, "call.delete"),
    Route("GET", "/api-json", h.api_json, "api-json", auth=False, documented=False),
    # Per-call endpoints; registered last so the resource routes above win for /call/..., etc.
    Route("GET", "/{call_id}/transport", h.call_transport, "call.transport", auth=False, documented=False),
    Route("GET", "/{call_id}/listen", h.call_listen, "call.listen", auth=False, documented=False),
    Route("POST", "/{call_id}/control", h.call_control, "call.control", auth=False, documented=False),
    Route("GET", "/{call_id}/web", h.call_web, "call.web", auth=False, documented=False),
    # The daily-js stand-in for Vapi's web SDK: static code at a stable public path.
    Route("GET", "/_mockvapi-web/{name:daily\\.c?js}", h.daily_shim, "web.daily-shim", auth=False, documented=False),
)


def route_defs(routes: tuple[Route, ...] = API_ROUTES) -> list[web.RouteDef]:
    """aiohttp route definitions for ``routes``, with the Bearer check wrapped around API routes."""
    return [
        web.route(r.method, r.path, h.requires_auth(r.handler) if r.auth else r.handler, name=r.name) for r in routes
    ]


def documented_operations(routes: tuple[Route, ...] = API_ROUTES) -> list[tuple[str, str]]:
    """(method, path) of every route the OpenAPI document lists."""
    return [(r.method, r.path) for r in routes if r.documented]
