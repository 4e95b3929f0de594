"""Peers the transport benchmarks talk to, each in its own process so it does not share the measured loop.

    python -m bench._peers receiver   a minimal aiohttp webhook receiver on 127.0.0.1: answers every
                                      POST with `{}`; prints "port N" once listening.
    python -m bench._peers reader     a websocket reader: for each URL read from stdin, connects, reads
                                      every frame until the server closes, prints "TEXT BINARY" counts.
    python -m bench._peers stamper    the receiver, also noting for every POST when it arrived
                                      (`time.monotonic()`, one clock for all processes on Linux) and the
                                      message's call id and `timestamp`; a `collect` line on stdin prints
                                      them as one JSON line and forgets them.
    python -m bench._peers listeners  websocket clients: every URL on stdin is connected at once, in the
                                      background; each text frame's arrival and `timestamp` are noted; a
                                      `collect` line waits for every connection to close and prints them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
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


async def stamper() -> None:
    """The receiver, noting (call id, message timestamp ms, arrival) of every POST for `collect`."""
    stamps: list[tuple[str, float, float]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.monotonic()
        message = json.loads(body).get("message") or {}
        stamps.append((str((message.get("call") or {}).get("id")), float(message.get("timestamp") or 0), arrived))
        return web.json_response({})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"port {runner.addresses[0][1]}", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() == "collect":
            print(json.dumps(stamps), flush=True)
            stamps = []
    await runner.cleanup()


async def listeners() -> None:
    """Websocket clients of many calls at once; `collect` prints (url, timestamp ms, arrival) of every
    text frame, (url, connected at) of every connection and the errors, once all have closed."""
    loop = asyncio.get_running_loop()
    stamps: list[tuple[str, float, float]] = []
    joined: list[tuple[str, float]] = []
    errors: list[str] = []
    tasks: set[asyncio.Task[None]] = set()
    # No connection limit: aiohttp's default of 100 held the 101st client's join until another call's
    # socket closed (a 500-call step has 125 clients: join p99 27 s).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def listen(url: str) -> None:
            try:
                async with session.ws_connect(url, max_msg_size=0, heartbeat=None) as ws:
                    joined.append((url, time.monotonic()))
                    async for frame in ws:
                        if frame.type == aiohttp.WSMsgType.TEXT:
                            arrived = time.monotonic()
                            stamp = json.loads(frame.data).get("timestamp") or 0
                            stamps.append((url, float(stamp), arrived))
            except Exception as exc:  # a failed connection is reported, the others go on
                errors.append(f"{url}: {exc!r}")

        while line := await loop.run_in_executor(None, sys.stdin.readline):
            line = line.strip()
            if line == "collect":
                if tasks:
                    await asyncio.wait(tasks, timeout=60)
                print(json.dumps({"stamps": stamps, "joined": joined, "errors": errors}), flush=True)
                stamps, joined, errors = [], [], []
                tasks.clear()
            elif line:
                task = asyncio.ensure_future(listen(line))
                tasks.add(task)


class Peer:
    """A peer process: `async with Peer("receiver") as peer: peer.first_line`; `await peer.ask(line)`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.first_line = ""
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Peer:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench._peers", self.kind,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 30,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if self.kind in ("receiver", "stamper"):
            self.first_line = await self._readline()
        return self

    async def _readline(self, timeout: float = 60) -> str:
        assert self._process is not None and self._process.stdout is not None
        async with asyncio.timeout(timeout):
            line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench peer {self.kind!r} exited (code {self._process.returncode})")
        return line.decode().strip()

    def tell(self, line: str) -> None:
        """Write a line to the peer without waiting for an answer."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(line.encode() + b"\n")

    async def ask(self, line: str, timeout: float = 60) -> str:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(line.encode() + b"\n")
        await self._process.stdin.drain()
        return await self._readline(timeout)

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
    asyncio.run({"receiver": receiver, "reader": reader, "stamper": stamper,
                 "listeners": listeners}[sys.argv[1]]())
