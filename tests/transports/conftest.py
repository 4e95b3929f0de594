"""A real aiohttp server on 127.0.0.1, port 0, recording every request it receives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes


def comparable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header pairs as every HTTP stack agrees on them: lower-case names, sorted, Host left out."""
    return sorted((name.lower(), value) for name, value in headers if name.lower() != "host")


@dataclass
class Recorder:
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    release: asyncio.Event = field(default_factory=asyncio.Event)  # /hang waits for it
    server: TestServer | None = None

    def url(self, path: str = "/webhook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        body = await request.read()
        self.requests.append(Received(request.method, request.path, request.query_string, headers, body))
        if request.path == "/hang":
            await self.release.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"ok": True, "n": len(self.requests)}, status=status)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    rec.server = server
    yield rec
    rec.release.set()  # let hanging handlers finish so the server closes at once
    await server.close()
