"""Fixtures for the fake Vapi API: a real server on 127.0.0.1:0, the official SDK pointed at it,
and a checker that validates every response body the tests see.

Every response passing through the `http` (raw httpx) fixture and test_sdk's `vapi` (official
AsyncVapi) fixture is
checked by an httpx response hook: errors must be Vapi's NestJS JSON shape, successes must match
the official spec's response schema for their endpoint, read from the spec extract mockvapi ships
(`mockvapi.conformance`) and checked with jsonschema.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.conformance import check_against
from mockvapi.conformance.extract import extract
from mockvapi.server import create_app
from mockvapi.server.openapi import EXTRA_OPERATIONS
from mockvapi.server.routes import API_ROUTES

REPO = Path(__file__).resolve().parents[2]
# Only for the checks that a shipped extract still equals a fresh one, which skip without it.
SHARED = REPO.parent / "shared" / "vapi"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00.000Z
TOKEN = "test-token"
SEED = 7

ERROR_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["message", "error", "statusCode"],
    "additionalProperties": False,
    "properties": {
        "message": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "error": {"type": "string"},
        "statusCode": {"type": "integer"},
    },
}


class FakeClock:
    """Epoch-ms clock that moves only when told to."""

    def __init__(self, start: int = T0) -> None:
        self.ms = start

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms

    def __repr__(self) -> str:
        return f"FakeClock(ms={self.ms})"


def _route_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(path)) + "$")


_TEMPLATES = [(r.method, _route_pattern(r.path), r.path) for r in API_ROUTES if r.documented]


def template_for(method: str, path: str) -> str | None:
    return next((t for m, rx, t in _TEMPLATES if m == method and rx.match(path)), None)


class SpecChecker:
    """The official spec's response schemas for the implemented operations (from the shipped extract)."""

    def __init__(self) -> None:
        self.paths: Mapping[str, Any] = extract()["paths"]

    def __repr__(self) -> str:
        return f"SpecChecker(paths={len(self.paths)})"

    def schema_for(self, method: str, template: str, status: int) -> Mapping[str, Any]:
        operation = self.paths.get(template, {}).get(method.lower()) or EXTRA_OPERATIONS[(method.lower(), template)]
        response = operation["responses"][str(status)]
        schema: Mapping[str, Any] = response["content"]["application/json"]["schema"]
        return schema

    def errors(self, method: str, template: str, status: int, body: object) -> list[str]:
        return [str(violation) for violation in check_against(body, self.schema_for(method, template, status))]


@cache
def spec_checker() -> SpecChecker:
    return SpecChecker()


@dataclass
class ResponseLog:
    """Every (method, path, status, body) the hooked clients saw, each already validated."""

    seen: list[tuple[str, str, int, object]] = field(default_factory=list)

    async def hook(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        method, path, status = request.method, request.url.path, response.status_code
        if status == 204:  # CORS preflight: headers only
            assert response.content == b"", (method, path)
            return
        assert response.headers["content-type"].startswith("application/json"), (method, path, status)
        body = response.json()
        self.seen.append((method, path, status, body))
        if status >= 400:
            problems = [e.message for e in jsonschema.Draft202012Validator(ERROR_SCHEMA).iter_errors(body)]
            assert not problems, f"{method} {path} -> {status}: not a Vapi error body: {problems} {body}"
            assert body["statusCode"] == status
            assert status < 500, f"{method} {path} -> {status}: {body}"
            return
        template = template_for(method, path)
        if template is not None:
            problems = spec_checker().errors(method, template, status, body)
            assert not problems, f"{method} {template} -> {status} violates the spec: {problems[:5]}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> web.Application:
    return create_app(seed=SEED, now_ms=clock)


@pytest.fixture
async def server(app: web.Application) -> AsyncIterator[TestServer]:
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    yield srv
    await srv.close()


def loopback_client(responses: ResponseLog | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client for http://127.0.0.1 that validates every response through ``responses``.

    ``verify=False``: there is no TLS on loopback, and building httpx's default SSL context
    (loading the CA bundle) costs ~50 ms per client.
    """
    hooks = {"response": [responses.hook]} if responses is not None else {}
    return httpx.AsyncClient(verify=False, event_hooks=hooks, **kwargs)


@asynccontextmanager
async def serve(
    app: web.Application, responses: ResponseLog, *, token: str | None = TOKEN
) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` on 127.0.0.1:0; yield a client (validating every response) aimed at it."""
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        async with loopback_client(responses, base_url=str(srv.make_url("")), headers=headers) as client:
            yield client
    finally:
        await srv.close()


@pytest.fixture
def responses() -> ResponseLog:
    return ResponseLog()


@pytest.fixture
async def http(server: TestServer, responses: ResponseLog) -> AsyncIterator[httpx.AsyncClient]:
    """Raw client with a valid token; every response is validated."""
    async with loopback_client(
        responses, base_url=str(server.make_url("")), headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client
