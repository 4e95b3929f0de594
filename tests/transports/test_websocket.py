"""The vapi.websocket transport, listen and control endpoints (call_endpoints served on 127.0.0.1, port 0).

Control tests stop virtual time (autojump off), move it to a chosen offset, let the peer react to what
it has received, wait until the player has the control message, then let time run again: the
control lands at a known point of the call, with no race against the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.engine.audio import MULAW_SILENCE
from mockvapi.engine.clock import RealClock, VirtualClock
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer
from mockvapi.engine.simulator import simulate
from mockvapi.engine.timeline import Timeline
from mockvapi.library import resolve
from mockvapi.transports.websocket import FRAME_SECONDS, WebsocketClient, call_endpoints

START_MS = 1_767_603_600_000

WS_CALL = """
version: 1
name: ws-call
seed: 21
call:
  type: vapi.websocketCall
  AUDIO
assistant:
  firstMessage: "Hello, this is Alex from Northwind support."
steps:
  - user: "My internet keeps dropping every few minutes."
  - assistant: "Sorry to hear that. Let me run a line test for you right now."
  - user: "Okay, thanks."
  - assistant: "The line looks fine. I will send a new router today."
  - user: "Great, bye."
  - end: customer-ended-call
"""


def ws_call(audio: str = "") -> str:
    return WS_CALL.replace("AUDIO", audio)


@dataclass
class Rig:
    clock: VirtualClock = field(default_factory=VirtualClock)
    journal: Journal = field(default_factory=Journal)
    players: dict[str, CallPlayer] = field(default_factory=dict)
    server: TestServer | None = None
    session: aiohttp.ClientSession | None = None

    def player(self, spec: str, **kw: Any) -> CallPlayer:
        player = CallPlayer(resolve(spec), clock=self.clock, journal=self.journal, **kw)
        self.players[player.call_id] = player
        return player

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def connect(self, player: CallPlayer, kind: str = "transport") -> Peer:
        assert self.session is not None
        ws = await self.session.ws_connect(self.url(f"/{player.call_id}/{kind}"))
        return Peer(ws)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = Rig()
    app = web.Application()
    app.add_routes(call_endpoints(r.players.get, r.journal, r.clock))
    r.server = TestServer(app, host="127.0.0.1", port=0)
    await r.server.start_server()
    r.session = aiohttp.ClientSession()
    yield r
    await r.session.close()
    await r.server.close()


class Peer:
    """A websocket client reading every frame in the background."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.texts: list[dict[str, Any]] = []
        self.raw_texts: list[str] = []
        self.frames: list[bytes] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.raw_texts.append(msg.data)
                self.texts.append(json.loads(msg.data))
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.frames.append(msg.data)
            self._changed.set()
        self.closed.set()
        self._changed.set()

    async def wait_texts(self, count: int) -> None:
        while len(self.texts) < count:
            assert not self.closed.is_set(), f"closed after {len(self.texts)} of {count} texts"
            self._changed.clear()
            await self._changed.wait()

    async def finish(self) -> None:
        await self.closed.wait()
        await self._reader

    def types(self) -> list[str]:
        return [str(m["type"]) for m in self.texts]


def notified(player: CallPlayer, method: str) -> asyncio.Event:
    """An event set each time `player.<method>` has run (a seam to await the server's side)."""
    event = asyncio.Event()
    original = getattr(player, method)

    def wrapper(*args: Any) -> Any:
        result = original(*args)
        event.set()
        return result

    setattr(player, method, wrapper)
    return event


async def pause_at(rig: Rig, player: CallPlayer, peer: Peer, offset: float) -> None:
    """Move virtual time to `offset` and wait until the peer has every text pushed so far."""
    await rig.clock.advance_to(offset)
    pushed = rig.journal.deliveries(call_id=player.call_id, channel="websocket")
    await peer.wait_texts(len(pushed))


def expected_client(spec: str) -> list[dict[str, Any]]:
    return [m for _, m in simulate(resolve(spec), start_ms=START_MS).messages(side="client")]


def bots(timeline: Timeline) -> list[str]:
    return [str(h["message"]) for h in timeline.history if h["role"] == "bot"]


# -- frames ---------------------------------------------------------------------------------------


async def test_text_frames_are_bare_client_messages_and_equal_simulate(rig: Rig) -> None:
    spec = "interrupt-after-first-token"
    player = rig.player(spec, start_ms=START_MS)
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    timeline = await run
    await peer.finish()

    assert peer.texts == expected_client(spec)
    assert all("message" not in m or m["type"] == "conversation-update" for m in peer.texts)
    assert peer.texts[0]["type"] == "status-update" and peer.texts[0]["status"] == "in-progress"
    assert all(json.loads(raw) == m for raw, m in zip(peer.raw_texts, peer.texts, strict=True))
    assert timeline.ended_reason == "customer-ended-call"
    records = rig.journal.deliveries(call_id=player.call_id, channel="websocket")
    assert [d.message for d in records] == peer.texts
    assert [d.at for d in records] == sorted(d.at for d in records)


@pytest.mark.parametrize(
    ("audio", "size"),
    [
        ("", 640),
        ("audioFormat: {format: pcm_s16le, sampleRate: 16000}", 640),
        ("audioFormat: {format: pcm_s16le, sampleRate: 8000}", 320),
        ("audioFormat: {format: mulaw}", 160),
        ("audioFormat: {format: mulaw, sampleRate: 8000}", 160),
    ],
    ids=["default", "pcm16k", "pcm8k", "mulaw", "mulaw8k"],
)
async def test_audio_frames_are_20ms_binary_frames(rig: Rig, audio: str, size: int) -> None:
    player = rig.player(ws_call(audio))
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    await run
    await peer.finish()
    assert peer.frames and {len(f) for f in peer.frames} == {size}
    # On a virtual clock one frame goes with each text frame, plus one on joining.
    assert len(peer.frames) == len(peer.texts) + 1
    silence = peer.frames[0]
    assert any(f != silence for f in peer.frames)  # a tone while the assistant speaks
    if "mulaw" in audio:
        assert set(silence) == {MULAW_SILENCE}
    else:
        assert set(silence) == {0}


def stall(seconds: float) -> None:
    """Hold the event loop for `seconds` of real time, as a busy machine does."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


Joined = tuple[CallPlayer, "asyncio.Future[Timeline]", Peer]


@contextlib.asynccontextmanager
async def on_a_real_clock() -> AsyncIterator[Callable[[int | None], Awaitable[Joined]]]:
    """A transport server on one real clock at speed 50; `join(seed)` starts a short call there and
    connects a peer to it (the server has added the peer when it returns)."""
    clock = RealClock(speed=50)
    journal = Journal()
    players: dict[str, CallPlayer] = {}
    app = web.Application()
    app.add_routes(call_endpoints(players.get, journal, clock))
    short = ws_call().split("steps:")[0] + "steps:\n  - user: Hi.\n  - end: customer-ended-call\n"
    async with TestServer(app, host="127.0.0.1", port=0) as server, aiohttp.ClientSession() as session:

        async def join(seed: int | None = None) -> Joined:
            player = CallPlayer(resolve(short), clock=clock, journal=journal, seed=seed)
            players[player.call_id] = player
            joined = notified(player, "add_client")
            run = asyncio.ensure_future(player.run(wait_for_client=5))
            peer = Peer(await session.ws_connect(server.make_url(f"/{player.call_id}/transport")))
            await joined.wait()
            return player, run, peer

        yield join


async def play_on_a_real_clock(stall_each_push: float = 0.0) -> tuple[CallPlayer, Timeline, Peer]:
    async with on_a_real_clock() as join:
        player, run, peer = await join(None)
        if stall_each_push:
            client = player.clients[0]
            push = client.push

            def push_then_stall(*args: Any) -> None:
                push(*args)
                stall(stall_each_push)

            client.push = push_then_stall  # type: ignore[method-assign]
        timeline = await run
        await peer.finish()
    return player, timeline, peer


def whole_frames(player: CallPlayer) -> int:
    """Frames of 20 ms that end within the call (the peer joined before it started)."""
    assert player.sim.ended_ms is not None
    return next(k for k in itertools.count(1) if k * FRAME_SECONDS > player.sim.ended_ms / 1000) - 1


async def test_audio_frames_on_a_real_clock_follow_the_call_clock_not_the_messages() -> None:
    player, timeline, peer = await play_on_a_real_clock()
    assert peer.frames and {len(f) for f in peer.frames} == {640}
    # One frame per 20 ms of the call, start to end, however the loop was scheduled (this machine's load).
    assert len(peer.frames) == whole_frames(player)
    assert len(peer.frames) <= timeline.duration / FRAME_SECONDS + 2  # never more than one per 20 ms of call
    assert len(peer.texts) == len(timeline.messages(side="client"))


async def test_audio_frames_after_loop_stalls_catch_up_to_the_call_and_stop_at_its_end() -> None:
    # Each message holds the loop for 10 ms of real time (half a second of this call at speed 50),
    # the last ones right before the call's end: missed frames go out late, none beyond the end.
    player, timeline, peer = await play_on_a_real_clock(stall_each_push=0.01)
    assert len(peer.frames) == whole_frames(player)
    assert len(peer.texts) == len(timeline.messages(side="client"))


async def test_peers_of_many_calls_on_one_real_clock_share_one_ticker_and_each_get_every_frame() -> None:
    # One task and one timer pace the audio of every peer of a clock (not one per peer per frame); each
    # call still gets one frame per 20 ms of its own time, from its start to its end.
    async with on_a_real_clock() as join:
        joined = [await join(seed) for seed in range(3)]
        calls = [player for player, _, _ in joined]
        runs = [run for _, run, _ in joined]
        peers = [peer for _, _, peer in joined]
        await asyncio.gather(*(player.started.wait() for player in calls))
        for _ in range(3):
            await asyncio.sleep(0)  # each peer's pacing starts once its call has
        tasks = {id(t) for t in asyncio.all_tasks() if "_AudioTicker._run" in repr(t.get_coro())}
        await asyncio.gather(*runs)
        for peer in peers:
            await peer.finish()
    assert len(tasks) == 1
    for player, peer in zip(calls, peers, strict=True):
        assert len(peer.frames) == whole_frames(player)


async def test_listen_gets_the_same_stream_and_ignores_text(rig: Rig) -> None:
    rig.clock.autojump = False  # both peers join before the first message
    player = rig.player(ws_call())
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    transport = await rig.connect(player)
    listen = await rig.connect(player, "listen")
    await listen.ws.send_str(json.dumps({"type": "end-call"}))  # not a control channel
    await listen.ws.send_bytes(b"\x00" * 640)
    rig.clock.autojump = True
    timeline = await run
    await transport.finish()
    await listen.finish()
    assert listen.texts == transport.texts and listen.texts
    assert len(listen.frames) == len(transport.frames)
    assert timeline.ended_reason == "customer-ended-call" and len(bots(timeline)) == 3  # played in full
    assert rig.journal.deliveries(channel="control") == []
    assert len(rig.journal.deliveries(channel="listen")) == len(listen.texts)


async def test_caller_audio_frames_are_accepted_and_counted(rig: Rig) -> None:
    rig.clock.autojump = False
    player = rig.player(ws_call())
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    applied = notified(player, "control")
    for _ in range(3):
        await peer.ws.send_bytes(b"\x01\x00" * 320)
    await peer.ws.send_str(json.dumps({"type": "add-message", "message": {"role": "system", "content": "x"}}))
    await applied.wait()  # frames are read in order, so the audio before it has been counted
    client = player.clients[0]
    assert isinstance(client, WebsocketClient)
    assert client.bytes_received == 3 * 640
    assert repr(client).startswith("WebsocketClient(websocket, call ")
    rig.clock.autojump = True
    await run
    await peer.finish()


# -- control --------------------------------------------------------------------------------------


async def test_end_call_over_the_websocket_ends_the_call_early(rig: Rig) -> None:
    rig.clock.autojump = False
    player = rig.player(ws_call())
    full = simulate(resolve(ws_call()))
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    applied = notified(player, "control")
    await pause_at(rig, player, peer, 6.0)
    assert "status-update" in peer.types()
    await peer.ws.send_str(json.dumps({"type": "end-call"}))
    await applied.wait()
    rig.clock.autojump = True
    timeline = await run
    await peer.finish()  # the server closes the socket when the call ends

    assert timeline.ended_reason == "customer-ended-call"
    assert timeline.duration < full.duration / 2
    assert len(bots(timeline)) < len(bots(full))
    assert peer.texts[-1]["type"] == "status-update" and peer.texts[-1]["endedReason"] == "customer-ended-call"
    control = rig.journal.deliveries(channel="control")
    assert [(d.message_type, d.target, d.at) for d in control] == [("end-call", "websocket", 6.0)]


async def test_say_over_the_websocket_is_spoken(rig: Rig) -> None:
    rig.clock.autojump = False
    said = "Please hold the reset button for ten seconds."
    player = rig.player(ws_call())
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    applied = notified(player, "control")
    await pause_at(rig, player, peer, 3.0)
    await peer.ws.send_str(json.dumps({"type": "say", "content": said}))
    await applied.wait()
    rig.clock.autojump = True
    timeline = await run
    await peer.finish()
    assert said in bots(timeline)
    finals = [m["transcript"] for m in peer.texts if m["type"] == "transcript" and m["role"] == "assistant"]
    assert said in finals
    assert timeline.ended_reason == "customer-ended-call"


async def test_bad_text_frames_are_ignored(rig: Rig) -> None:
    rig.clock.autojump = False
    player = rig.player(ws_call())
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    applied = notified(player, "control")
    await peer.ws.send_str("not json")
    await peer.ws.send_str(json.dumps({"type": "dance"}))
    await peer.ws.send_str(json.dumps({"type": "say", "content": "Still here."}))
    await applied.wait()
    rig.clock.autojump = True
    timeline = await run
    await peer.finish()
    assert [d.message_type for d in rig.journal.deliveries(channel="control")] == ["say"]
    assert "Still here." in bots(timeline)


async def test_control_url_say_and_end_call(rig: Rig) -> None:
    assert rig.session is not None
    rig.clock.autojump = False
    said = "A quick word from the supervisor."
    player = rig.player(ws_call())
    full = simulate(resolve(ws_call()))
    run = asyncio.ensure_future(player.run())
    await rig.clock.advance_to(2.0)
    async with rig.session.post(rig.url(f"/{player.call_id}/control"), json={"type": "say", "content": said}) as r:
        assert (r.status, await r.json()) == (200, {"success": True})
    await rig.clock.advance_to(12.0)
    async with rig.session.post(rig.url(f"/{player.call_id}/control"), json={"type": "end-call"}) as r:
        assert r.status == 200
    rig.clock.autojump = True
    timeline = await run

    assert said in bots(timeline)
    assert timeline.ended_reason == "customer-ended-call"
    assert timeline.duration < full.duration
    control = rig.journal.deliveries(channel="control")
    assert [(d.message_type, d.target) for d in control] == [("say", "controlUrl"), ("end-call", "controlUrl")]
    assert [d.at for d in control] == [2.0, 12.0]

    async with rig.session.post(rig.url(f"/{player.call_id}/control"), json={"type": "end-call"}) as r:
        assert r.status == 409
        assert (await r.json())["statusCode"] == 409


@pytest.mark.parametrize(
    ("body", "status"),
    [("not json", 400), (json.dumps({"type": "dance"}), 400), (json.dumps(["say"]), 400)],
    ids=["not-json", "unknown-type", "not-an-object"],
)
async def test_control_url_rejects_bad_bodies_with_json_errors(rig: Rig, body: str, status: int) -> None:
    assert rig.session is not None
    player = rig.player(ws_call())
    async with rig.session.post(rig.url(f"/{player.call_id}/control"), data=body) as r:
        assert r.status == status
        error = await r.json()
    assert error["statusCode"] == status and isinstance(error["message"], str)
    assert rig.journal.deliveries() == []


async def test_unknown_call_is_a_json_404(rig: Rig) -> None:
    assert rig.session is not None
    async with rig.session.post(rig.url("/no-such-call/control"), json={"type": "end-call"}) as r:
        assert r.status == 404
        assert (await r.json())["statusCode"] == 404
    async with rig.session.get(rig.url("/no-such-call/transport")) as r:
        assert r.status == 404


async def test_joining_an_ended_call_closes_at_once(rig: Rig) -> None:
    player = rig.player(ws_call())
    await player.run()
    peer = await rig.connect(player)
    await peer.finish()
    assert peer.texts == [] and peer.frames == []
    assert peer.ws.close_code is not None


async def test_peer_leaving_early_does_not_stop_the_call(rig: Rig) -> None:
    rig.clock.autojump = False
    player = rig.player(ws_call())
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    left = notified(player, "remove_client")
    await pause_at(rig, player, peer, 4.0)
    seen = len(peer.texts)
    await peer.ws.close()
    await left.wait()
    rig.clock.autojump = True
    timeline = await run
    assert timeline.ended_reason == "customer-ended-call" and len(bots(timeline)) == 3
    assert len(rig.journal.deliveries(channel="websocket")) == seen


def test_frames_queued_together_leave_in_one_socket_write() -> None:
    import asyncio
    from types import SimpleNamespace

    from mockvapi.transports.websocket import WebsocketClient

    class Transport:
        def __init__(self) -> None:
            self.writes: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.writes.append(data)

        def is_closing(self) -> bool:
            return False

    transport = Transport()
    writer = SimpleNamespace(transport=transport)

    class Ws:
        _writer = writer

        async def send_str(self, text: str) -> None:
            writer.transport.write(text.encode())

        async def send_bytes(self, data: bytes) -> None:
            writer.transport.write(b"[" + data + b"]")

    client = SimpleNamespace(ws=Ws(), frames_sent=0)
    asyncio.run(WebsocketClient._send_batch(client, ["a", b"1", "b"]))  # type: ignore[arg-type]
    assert transport.writes == [b"a[1]b"] and client.frames_sent == 1
    assert writer.transport is transport  # the real transport is back
    asyncio.run(WebsocketClient._send_batch(client, ["c"]))  # type: ignore[arg-type]
    assert transport.writes[-1] == b"c"


class _Socket:
    """A transport recording each write."""

    def __init__(self, backlog: int = 0) -> None:
        self.writes: list[bytes] = []
        self.backlog = backlog

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.backlog


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_direct_frames_are_byte_for_byte_what_aiohttp_writes(size: int) -> None:
    from types import SimpleNamespace

    from aiohttp.http_websocket import WebSocketWriter

    from mockvapi.transports.websocket import _frame_header

    for opcode, payload in ((aiohttp.WSMsgType.TEXT, b"x" * size), (aiohttp.WSMsgType.BINARY, b"\x00" * size)):
        socket = _Socket()
        writer = WebSocketWriter(SimpleNamespace(_paused=False), socket)  # type: ignore[arg-type]
        asyncio.run(writer.send_frame(payload, opcode))
        assert b"".join(socket.writes) == _frame_header(int(opcode), size) + payload


def _client_of_one_turn(socket: _Socket, *, busy: bool = False) -> Any:
    """Just what WebsocketClient._end_turn uses, with the real _write_now and _writable."""
    from types import SimpleNamespace

    client = SimpleNamespace(_turn=[], _out=asyncio.Queue(), _busy=busy, _transport=socket, frames_sent=0,
                             ws=SimpleNamespace(closed=False, compress=0), _hold=False, _held=0, _flush=None,
                             _audio_header=(b"\x82\x7e\x02\x80", 640))  # as a 640-byte audio source's
    client._write_now = lambda frames: WebsocketClient._write_now(client, frames)  # type: ignore[arg-type]
    client._writable = lambda: WebsocketClient._writable(client)  # type: ignore[arg-type]
    return client


def test_a_loop_turns_frames_go_straight_to_the_socket_in_one_write() -> None:
    from mockvapi.transports.websocket import _Close

    socket = _Socket()
    client = _client_of_one_turn(socket)
    client._turn = ["hé", b"\x01\x02", _Close(None), "after the close"]
    WebsocketClient._end_turn(client)
    assert socket.writes == [b"\x81\x03h\xc3\xa9\x82\x02\x01\x02"] and client.frames_sent == 1
    # What follows a close goes to the writer task, in order, behind it.
    assert [client._out.get_nowait() for _ in range(2)] == [_Close(None), "after the close"]
    # Frames of the audio source's length take its header made once; any other length gets its own.
    audio, other = bytes(640), bytes(200)
    client._turn = [audio, "x", other, audio]
    WebsocketClient._end_turn(client)
    assert socket.writes[1] == (b"\x82\x7e\x02\x80" + audio + b"\x81\x01x" + b"\x82\x7e\x00\xc8" + other
                                + b"\x82\x7e\x02\x80" + audio)
    assert client.frames_sent == 4 and client._out.empty()


@pytest.mark.parametrize("size", [0, 125, 126, 1000, 65535, 65536])
def test_a_text_frame_of_any_length_goes_out_with_the_header_aiohttp_would_write(size: int) -> None:
    from mockvapi.transports.websocket import _TEXT, _frame_header

    socket = _Socket()
    client = _client_of_one_turn(socket)
    text = "é" * (size // 2) + "x" * (size % 2)  # `size` bytes of UTF-8
    client._turn = [text, bytes(640)]
    WebsocketClient._end_turn(client)
    assert socket.writes == [_frame_header(_TEXT, size) + text.encode() + b"\x82\x7e\x02\x80" + bytes(640)]


@pytest.mark.parametrize("why", ["writer busy", "writer has a queue", "socket backlog", "compressed"])
def test_frames_go_through_the_writer_task_when_a_direct_write_could_overtake_or_flood(why: str) -> None:
    socket = _Socket(backlog=10**6 if why == "socket backlog" else 0)
    client = _client_of_one_turn(socket, busy=why == "writer busy")
    if why == "writer has a queue":
        client._out.put_nowait("earlier")
    if why == "compressed":
        client.ws.compress = 15
    client._turn = ["later"]
    WebsocketClient._end_turn(client)
    assert socket.writes == []
    assert client._out.get_nowait() == ("earlier" if why == "writer has a queue" else "later")


def test_frames_to_a_peer_off_the_loop_go_in_bursts_on_a_virtual_clock() -> None:
    from mockvapi.transports.websocket import HOLD_BYTES, HOLD_SECONDS

    async def play() -> None:
        socket = _Socket()
        client = _client_of_one_turn(socket)
        client._hold = True
        client._end_turn = lambda: WebsocketClient._end_turn(client)
        WebsocketClient._queue(client, "a")
        await asyncio.sleep(0)
        WebsocketClient._queue(client, b"\x01")  # a later turn: held with the first
        await asyncio.sleep(0)
        assert socket.writes == []
        await asyncio.sleep(HOLD_SECONDS * 20)
        assert socket.writes == [b"\x81\x01a\x82\x01\x01"]
        WebsocketClient._queue(client, "b")
        WebsocketClient._queue(client, "x" * HOLD_BYTES)  # enough held: out at once
        assert len(socket.writes) == 2 and socket.writes[1].startswith(b"\x81\x01b")
        WebsocketClient._queue(client, "c")
        WebsocketClient._queue(client, None)  # the end is not held back either, nor what came before it
        assert socket.writes[2] == b"\x81\x01c" and client._out.get_nowait() is None
        await asyncio.sleep(HOLD_SECONDS * 20)
        assert len(socket.writes) == 3

    asyncio.run(play())


def test_a_peer_is_on_this_loop_only_if_one_of_its_sockets_is_the_other_end() -> None:
    import socket as sockets

    from mockvapi.transports.websocket import _on_this_loop

    async def play() -> None:
        accepted: list[asyncio.StreamWriter] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, same_loop = await asyncio.open_connection("127.0.0.1", port)
        elsewhere = sockets.create_connection(("127.0.0.1", port))  # not the loop's (as another process's)
        while len(accepted) < 2:
            await asyncio.sleep(0.001)
        assert [_on_this_loop(w.transport) for w in accepted] == [True, False]
        assert _on_this_loop(None)
        for writer in (*accepted, same_loop):
            writer.close()
        elsewhere.close()
        server.close()
        await server.wait_closed()

    asyncio.run(play())
