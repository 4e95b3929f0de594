"""A webhook receiver for end-to-end server tests: a real aiohttp app on 127.0.0.1:0.

It records every POST (path, headers, JSON body) in arrival order and answers each message by
its type: a JSON body from ``replies`` (or a callable building one), ``{}`` otherwise, or an
HTTP error for the types listed in ``fail``; types in ``hold`` are answered only once their event
is set (a delivery kept in flight). Tests wait for a message with `wait_for`, which wakes on
arrival (no polling, no sleeps).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Reply = Mapping[str, Any] | Callable[[dict[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Received:
    """One POST the receiver took."""

    path: str
    headers: dict[str, str]
    body: Any

    @property
    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = self.body["message"]
        return message

    def __repr__(self) -> str:
        kind = self.body.get("message", {}).get("type") if isinstance(self.body, dict) else None
        return f"Received({self.path}, {kind!r})"


class WebhookReceiver:
    """Records webhook deliveries; `url` is where to point `server.url`."""

    def __init__(
        self,
        replies: Mapping[str, Reply] | None = None,
        *,
        fail: Collection[str] = (),
        hold: Mapping[str, asyncio.Event] | None = None,
    ) -> None:
        self.replies = dict(replies or {})
        self.fail = frozenset(fail)
        self.hold = dict(hold or {})
        self.received: list[Received] = []
        self.url = ""
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/webhook"
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _take(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        async with self._arrived:
            self.received.append(Received(request.path, dict(request.headers), body))
            self._arrived.notify_all()
        kind = body.get("message", {}).get("type") if isinstance(body, dict) else None
        if kind in self.hold:
            await self.hold[kind].wait()
        if kind in self.fail:
            return web.json_response({"error": "receiver told to fail"}, status=500)
        reply = self.replies.get(str(kind), {})
        return web.json_response(dict(reply(body["message"]) if callable(reply) else reply))

    def messages(self, call_id: str | None = None) -> list[dict[str, Any]]:
        """The inner messages received (for one call, if given), in arrival order."""
        return [r.message for r in self.received if call_id is None or r.message["call"]["id"] == call_id]

    def types(self, call_id: str | None = None) -> list[str]:
        return [m["type"] for m in self.messages(call_id)]

    async def wait_for(self, kind: str, call_id: str | None = None, *, timeout: float = 10.0) -> dict[str, Any]:
        """The first `kind` message (of `call_id`), waiting up to `timeout` real seconds for it."""

        def found() -> dict[str, Any] | None:
            return next((m for m in self.messages(call_id) if m["type"] == kind), None)

        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: found() is not None)
        message = found()
        assert message is not None
        return message

    def __repr__(self) -> str:
        return f"WebhookReceiver({self.url or 'not started'}, {len(self.received)} received)"
