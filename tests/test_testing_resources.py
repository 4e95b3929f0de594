"""MockVapi releases each call's webhook targets when the call ends (found by the soak: one aiohttp
session, with its keep-alive socket, per call stayed open until MockVapi closed)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from mockvapi.testing import MockVapi
from mockvapi.transports.http import HttpRequest, HttpResponse, UrlTarget


async def _receiver() -> tuple[web.AppRunner, str]:
    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def test_each_calls_url_target_is_closed_when_the_call_ends(monkeypatch: Any) -> None:
    closed: list[UrlTarget] = []
    original = UrlTarget.aclose

    async def spy(self: UrlTarget) -> None:
        closed.append(self)
        await original(self)

    monkeypatch.setattr(UrlTarget, "aclose", spy)
    runner, url = await _receiver()
    try:
        async with MockVapi(webhook=url) as vapi:
            for seed in range(3):
                call = await vapi.play("happy-path", seed=seed)
                assert call.deliveries() and all(d.ok for d in call.deliveries())
            await asyncio.gather(*vapi._closing)  # the closes the ended calls scheduled
            assert len(closed) == 3
            assert vapi._pools == []
    finally:
        await runner.cleanup()


class SharedTarget:
    """A target object the caller owns and passes in: it serves every call and is not closed early."""

    description = "shared"

    def __init__(self) -> None:
        self.sent = 0
        self.closed = 0

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        self.sent += 1
        return HttpResponse(200, {}, b"{}", 0.0)

    async def aclose(self) -> None:
        self.closed += 1


async def test_a_target_object_passed_in_is_kept_until_mockvapi_closes() -> None:
    target = SharedTarget()
    async with MockVapi(webhook=target) as vapi:
        await vapi.play("happy-path", seed=1)
        await vapi.play("happy-path", seed=2)
        assert target.closed == 0
        assert target.sent > 0
    assert target.closed >= 1
