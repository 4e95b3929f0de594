"""Peers the transport benchmarks talk to, each in its own process so it does not share the measured loop.

    python -m bench._peers receiver   a minimal aiohttp webhook receiver on 127.0.0.1: answers every
                                      POST with `{}`; prints "port N" once listening.
    python -m bench._peers reader     a websocket reader: for each URL read from stdin, connects, reads
                                      every frame until the server closes, prints "TEXT BINARY" counts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from types import TracebackType

import aiohttp
from aiohttp import web


async def receiver() -> None:
    """Answers every POST `{}`; prints `port N`, then `received N` once the parent closes stdin."""
    received = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        received += 1
        return web.json_response({})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"port {runner.addresses[0][1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    print(f"received {received}", flush=True)
    await runner.cleanup()


async def reader() -> None:
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            text = binary = 0
            async with session.ws_connect(line.strip(), max_msg_size=0, heartbeat=None) as ws:
                async for frame in ws:
                    if frame.type == aiohttp.WSMsgType.TEXT:
                        text += 1
                    elif frame.type == aiohttp.WSMsgType.BINARY:
                        binary += 1
            print(f"{text} {binary}", flush=True)


class Peer:
    """A peer process: `async with Peer("receiver") as peer: peer.first_line`; `await peer.ask(line)`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.first_line = ""
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Peer:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench._peers", self.kind,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if self.kind == "receiver":
            self.first_line = await self._readline()
        return self

    async def _readline(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        async with asyncio.timeout(60):
            line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench peer {self.kind!r} exited (code {self._process.returncode})")
        return line.decode().strip()

    async def ask(self, line: str) -> str:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(line.encode() + b"\n")
        await self._process.stdin.drain()
        return await self._readline()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            async with asyncio.timeout(5):
                await process.wait()
        except TimeoutError:
            process.send_signal(signal.SIGKILL)
            await process.wait()


if __name__ == "__main__":
    asyncio.run({"receiver": receiver, "reader": reader}[sys.argv[1]]())
