"""Fixtures for the fake Vapi API: a real server on 127.0.0.1:0, the official SDK pointed at it,
and a checker that validates every response body the tests see.

Every response passing through the `http` (raw httpx) fixture and test_sdk's `vapi` (official
AsyncVapi) fixture is
checked by an httpx response hook: errors must be Vapi's NestJS JSON shape, successes must match
the official spec's response schema for their endpoint. The spec half needs ../shared/vapi beside
the repository; without it only the error shape is checked (`test_spec_checker_is_active` skips
and says why).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.server import create_app
from mockvapi.server.openapi import EXTRA_OPERATIONS
from mockvapi.server.routes import API_ROUTES

REPO = Path(__file__).resolve().parents[2]
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


@cache
def official_spec() -> dict[str, Any] | None:
    """../shared/vapi/openapi.json, parsed once per session; None when absent."""
    path = SHARED / "openapi.json"
    if not path.is_file():
        return None
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


@cache
def load_shared_validate() -> ModuleType | None:
    """../shared/vapi/validate.py as a module, or None when the shared folder is absent."""
    path = SHARED / "validate.py"
    if not (path.is_file() and (SHARED / "openapi.json").is_file()):
        return None
    spec = importlib.util.spec_from_file_location("shared_vapi_validate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _route_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(path)) + "$")


_TEMPLATES = [(r.method, _route_pattern(r.path), r.path) for r in API_ROUTES if r.documented]


def template_for(method: str, path: str) -> str | None:
    return next((t for m, rx, t in _TEMPLATES if m == method and rx.match(path)), None)


def fix_enum_bugs(node: Any) -> Any:
    """A copy of spec ``node`` without its two enum bugs, which no real value can satisfy.

    ``{"type": "object", "enum": [strings]}`` (AudioFormat.format, BackoffPlan.type...): Vapi serves,
    and its docs show, the string. ``{"type": "array", "enum": [...], "items": {..., "enum"}}``
    (serverMessages, clientMessages...): the enum is the items'. tools/gen_request_schemas.py fixes
    the request side the same way.
    """
    if isinstance(node, list):
        return [fix_enum_bugs(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: fix_enum_bugs(value) for key, value in node.items()}
    if out.get("type") == "object" and all(isinstance(v, str) for v in out.get("enum", [0])):
        out["type"] = "string"
    if out.get("type") == "array" and "enum" in out:
        enum = out.pop("enum")
        if isinstance(out.get("items"), dict):
            out["items"].setdefault("enum", enum)
    return out


class SpecChecker:
    """Validators for the official spec's response schemas, keyed by (method, path, status)."""

    def __init__(self, module: ModuleType) -> None:
        self.components = fix_enum_bugs(module._components())
        spec = official_spec()
        assert spec is not None
        self.paths = spec["paths"]
        self.fix = module._fix
        self._validators: dict[tuple[str, str, int], jsonschema.protocols.Validator] = {}

    def schema_for(self, method: str, template: str, status: int) -> Mapping[str, Any]:
        operation = self.paths.get(template, {}).get(method.lower()) or EXTRA_OPERATIONS[(method.lower(), template)]
        response = operation["responses"][str(status)]
        schema: Mapping[str, Any] = response["content"]["application/json"]["schema"]
        return schema

    def validator(self, method: str, template: str, status: int) -> jsonschema.protocols.Validator:
        key = (method, template, status)
        if key not in self._validators:
            schema = self.fix(copy.deepcopy(dict(self.schema_for(method, template, status))))
            self._validators[key] = jsonschema.Draft202012Validator({"components": self.components, **schema})
        return self._validators[key]

    def errors(self, method: str, template: str, status: int, body: object) -> list[str]:
        validator = self.validator(method, template, status)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}" for e in validator.iter_errors(body)
        ]


@cache
def spec_checker() -> SpecChecker | None:
    module = load_shared_validate()
    return SpecChecker(module) if module is not None else None


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
        checker = spec_checker()
        template = template_for(method, path)
        if checker is not None and template is not None:
            problems = checker.errors(method, template, status, body)
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
