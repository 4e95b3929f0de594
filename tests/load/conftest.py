"""Load tests: Locust runs in child processes (it monkey-patches on import); the receiver runs here.

The receiver is an aiohttp server on 127.0.0.1, port 0, in the test's event loop. It counts
deliveries per message type and answers as told.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Receiver:
    """Answers 200 (a correct tool reply for tool-calls), except: `fail` message types get 500, `hang`
    ones no answer, and with `wrong_tool_id` tool-calls get a result for a toolCallId that was not asked."""

    fail: frozenset[str] = frozenset()
    hang: frozenset[str] = frozenset()  # never answered (until teardown): the sender's timeout decides
    wrong_tool_id: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    call_ids: set[str] = field(default_factory=set)
    secrets: Counter[str] = field(default_factory=Counter)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/webhook"))

    async def handle(self, request: web.Request) -> web.Response:
        message = (await request.json())["message"]
        kind = message["type"]
        self.counts[kind] += 1
        self.call_ids.add(message["call"]["id"])
        self.secrets[request.headers.get("X-Vapi-Secret", "")] += 1
        if kind in self.hang:
            await self.release.wait()
        if kind in self.fail:
            return web.json_response({"error": "boom"}, status=500)
        if kind == "tool-calls":
            return web.json_response({"results": [
                {"name": c["function"]["name"], "toolCallId": "call_not_asked" if self.wrong_tool_id else c["id"],
                 "result": json.dumps({"ok": True})}
                for c in message["toolCallList"]
            ]})
        return web.Response(status=200)


@pytest.fixture
async def receiver() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    servers: list[TestServer] = []
    receivers: list[Receiver] = []

    async def go(**kwargs: Any) -> Receiver:
        rec = Receiver(**kwargs)
        app = web.Application()
        app.router.add_post("/{tail:.*}", rec.handle)
        rec.server = TestServer(app, host="127.0.0.1", port=0)
        await rec.server.start_server()
        servers.append(rec.server)
        receivers.append(rec)
        return rec

    yield go
    for rec in receivers:
        rec.release.set()  # let hanging handlers finish so the servers close at once
    while servers:
        await servers.pop().close()


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


async def run_child(*argv: str, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run `python argv...` to its end, the event loop (and the receiver) serving meanwhile."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=child_env(), cwd=str(ROOT),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"child did not finish in {timeout}s: {err.decode()[-2000:]}") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
