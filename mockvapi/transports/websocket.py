"""The `vapi.websocket` transport and the call monitor (`listenUrl`, `controlUrl`).

- transport (`/{callId}/transport`): text frames out are bare client messages, binary frames out are
  audio (a quiet tone while the assistant speaks, silence otherwise) every 20 ms; text frames in are
  control messages (`say`, `add-message`, `end-call`, `control`, `transfer`), binary frames in are the
  caller's audio (accepted and counted).
- listen (`/{callId}/listen`): the same stream, listen-only.
- control (`POST /{callId}/control`): a flat JSON control message.

On a real clock audio follows the call's clock: one frame per 20 ms of call time, from when the peer
joined (or the call started) to the call's end, however the event loop is scheduled. On a virtual clock,
where a 10-minute call takes milliseconds, one frame goes with each message instead of 30,000 frames
nobody waits for.

Frames go out in one socket write per loop turn. On a virtual clock, a peer outside this event loop (another
process or thread) gets them in bursts instead: up to `HOLD_SECONDS` of real time or `HOLD_BYTES`, since each
write wakes that peer, which costs more than the rest of a message, and virtual time does not wait for such a
peer anyway (see engine.clock). A peer on this loop, which virtual time does wait for, gets every turn's frames
at once, so it still reacts to a message before the call moves on.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import math
import struct
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from mockvapi.engine.audio import DEFAULT_SAMPLE_RATES, AudioSource, sample_rate_problem
from mockvapi.engine.clock import Clock, RealClock, VirtualClock
from mockvapi.engine.faults import Tamper
from mockvapi.engine.journal import Delivery, Journal, Problem
from mockvapi.engine.player import CallPlayer
from mockvapi.models.encoding import WireEncoder
from mockvapi.models.nesting import MAX_JSON_DEPTH, nested_deeper_than

FRAME_SECONDS = 0.02  # one audio frame: 20 ms of the call
# How long (real seconds) and how much (bytes) a virtual call's frames may wait to go to a peer outside the loop.
HOLD_SECONDS = 0.001
HOLD_BYTES = 32 * 1024

CONTROL_TYPES = frozenset(
    {
        "say",
        "add-message",
        "end-call",
        "control",
        "transfer",
        "append-context",
        "send-transport-message",
        "handoff",
    }
)


def audio_format(player: CallPlayer) -> tuple[str, int]:
    """The call's audio encoding and rate; a rate the source cannot serve (a scenario's own choice: the
    REST API refuses them at creation) falls back to the encoding's default rather than drop the socket."""
    fmt = player.sim.audio_format or {}
    encoding = str(fmt.get("format", "pcm_s16le"))
    if encoding not in DEFAULT_SAMPLE_RATES:
        encoding = "pcm_s16le"
    rate = fmt.get("sampleRate") or DEFAULT_SAMPLE_RATES[encoding]
    if sample_rate_problem(rate) is not None:
        return encoding, DEFAULT_SAMPLE_RATES[encoding]
    return encoding, int(rate)


class WebsocketClient:
    """One websocket peer of one call: a ClientSink writing frames in order."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        player: CallPlayer,
        journal: Journal,
        clock: Clock,
        *,
        channel: str = "websocket",
        audio: bool = True,
        abort: Callable[[], None] | None = None,
        transport: asyncio.BaseTransport | None = None,
        hold: bool = False,
    ) -> None:
        self.ws = ws
        # The socket the frames go to: with it, a loop turn's frames are written there at once (see
        # _end_turn) rather than through a writer task; without it, always through aiohttp's writer.
        self._transport = transport if isinstance(transport, asyncio.WriteTransport) else None
        # Drops the connection with no close frame (an injected `close-websocket` fault).
        self.abort = abort
        self.player = player
        self.journal = journal
        self.clock = clock
        self.channel = channel
        self._call_id = player.call_id  # fixed for the call's life (read per message, it costs a lookup or two)
        self._target = f"ws peer of {self._call_id[:8]}"  # the journal's name for this peer
        encoding, rate = audio_format(player)
        asked = (player.sim.audio_format or {}).get("sampleRate")
        if audio and asked is not None and asked != rate:
            journal.problem(Problem(player.call_id, "audio-format", f"audioFormat.sampleRate {asked!r} "
                                    f"{sample_rate_problem(asked)}; streaming {rate} Hz instead", player.offset()))
        self.audio = AudioSource(encoding, rate) if audio else None
        frame_size = self.audio.frame_size if self.audio is not None else 0
        self._audio_header = _frame_header(_BINARY, frame_size), frame_size  # see _write_now
        self.frames_sent = 0
        self.bytes_received = 0
        self._speaking = False
        self._out: asyncio.Queue[str | bytes | _Close | None] = asyncio.Queue()
        self._turn: list[str | bytes | _Close | None] = []  # queued in this loop turn, not yet sent
        self._busy = False  # the writer task holds items it has not sent yet
        self._hold = hold and self._transport is not None  # bursts (see the module docstring)
        self._held = 0  # bytes in `_turn`, when holding
        self._flush: asyncio.Handle | None = None
        # The call's history and steady objects encoded once (see models.encoding): its messages come from
        # `render_message`, whose steady objects the engine changes in place only where it announces it.
        self._encoder = WireEncoder(announced=True)
        self._writer = asyncio.ensure_future(self._write())
        # The call offset the peer joined at (0 before the call starts): its frames start there.
        self._joined_at = player.offset()
        self._next_frame = math.floor(self._joined_at / FRAME_SECONDS) + 1  # frame k ends at k * 20 ms
        # On a real clock the call's audio is paced by the clock's one ticker (see _AudioTicker).
        self._paced = audio and isinstance(clock, RealClock)
        self._pacing = self._paced  # until the call ends or the peer leaves
        self._pacer = asyncio.ensure_future(self._start_pacing()) if self._paced else None
        if self.audio is not None and not self._paced:
            self._queue(self.audio.frames(False))

    def push(self, at: float, message: dict[str, Any], tamper: Tamper | None = None) -> None:
        text = self._encoder.encode(message)
        if tamper is not None:
            self._push_tampered(at, message, text, tamper)
            return
        self.journal.record(Delivery(call_id=self._call_id, channel=self.channel, target=self._target,
                                     message_type=str(message["type"]), message=message, at=at))
        if self.audio is None or self._paced:
            self._queue(text)
            return
        # The message and its audio frame, queued as _queue would queue them one after the other (this is
        # every message of a virtual-clock call: the one check of the hold for both is worth its lines).
        frame = self.audio.frames(self._speaking)
        turn = self._turn
        if not turn:
            loop = asyncio.get_running_loop()
            end = self._end_turn
            self._flush = loop.call_later(HOLD_SECONDS, end) if self._hold else loop.call_soon(end)
        turn += (text, frame)
        if self._hold:
            self._held += len(text) + len(frame)
            if self._held >= HOLD_BYTES:
                self._end_turn()

    def _push_tampered(self, at: float, message: dict[str, Any], text: str, tamper: Tamper) -> None:
        """`push` of a message an injected fault acts on (see mockvapi.engine.faults)."""
        self.journal.record(
            Delivery(
                call_id=self._call_id,
                channel=self.channel,
                target=self._target,
                message_type=str(message["type"]),
                message=message,
                at=tamper.at if tamper.at is not None else at,
                injected=tamper.injected,
                sent=tamper.send,
            )
        )
        if tamper.close:
            self._queue(_Close(tamper.close_code))  # after the frames already queued
            return
        if not tamper.send:
            return
        self._queue(text)
        if self.audio is not None and not self._paced:
            self._queue(self.audio.frames(self._speaking))

    def speaking(self, assistant: bool) -> None:
        self._speaking = assistant

    def close(self) -> None:
        if self._paced:
            # The frames of the call's last moments the ticker has not reached yet (it was late), so the
            # stream covers the call to its end; then no more.
            self._stop_pacing()
            while self._frame_due() and self._ended_before(self._next_frame * FRAME_SECONDS) is False:
                self._queue_frame()
        self._queue(None)
        self._end_turn()  # the peer left or the call ended: nothing more comes this turn

    def _queue(self, item: str | bytes | _Close | None) -> None:
        """Send `item` after everything queued before it; the items queued in one loop turn go out together."""
        if not self._turn:
            loop = asyncio.get_running_loop()
            end = self._end_turn
            self._flush = loop.call_later(HOLD_SECONDS, end) if self._hold else loop.call_soon(end)
        self._turn.append(item)
        if self._hold:
            if not isinstance(item, str | bytes):
                self._end_turn()  # a close is not held back
                return
            self._held += len(item)
            if self._held >= HOLD_BYTES:
                self._end_turn()

    def _end_turn(self) -> None:
        """This turn's frames, in one socket write when the writer task has nothing pending and the socket
        takes them now (no backlog); the rest (a close, or everything while the writer is behind) goes to
        the writer task, in order. Writing here saves a task switch and aiohttp's per-frame send path, a
        large share of a message's cost on a virtual clock."""
        items, self._turn = self._turn, []
        if self._flush is not None:
            self._flush.cancel()  # called before its time (a close, or enough bytes held)
            self._flush = None
        self._held = 0
        written = self._write_now(items) if self._out.empty() and not self._busy and self._writable() else 0
        for item in items[written:]:
            self._out.put_nowait(item)

    def _writable(self) -> bool:
        transport = self._transport
        return (
            transport is not None
            and not self.ws.closed
            and not self.ws.compress  # permessage-deflate: aiohttp's writer owns the compressor
            and not transport.is_closing()
            and transport.get_write_buffer_size() < DIRECT_WRITE_BACKLOG
        )

    def _write_now(self, items: list[str | bytes | _Close | None]) -> int:
        """The frames `items` starts with (up to a close), in one socket write; returns how many."""
        assert self._transport is not None
        chunks: list[bytes] = []
        audio = 0
        # An audio frame's header, made once: every frame of a call has one length (a text's varies).
        audio_header, audio_size = self._audio_header
        for item in items:
            if isinstance(item, str):
                data = item.encode()  # UTF-8; with no argument, no codec name to look up
                size = len(data)
                # A client message is 126 bytes to 64 kB: its header inline, no call (lever 121).
                chunks += (_LEN2(_TEXT_FIN, 126, size) if 125 < size < 65536 else _frame_header(_TEXT, size),
                           data)
            elif isinstance(item, bytes):
                size = len(item)
                chunks += (audio_header if size == audio_size else _frame_header(_BINARY, size), item)
                audio += 1
            else:
                break
        if chunks:
            self._transport.write(b"".join(chunks))
            self.frames_sent += audio
        return len(chunks) // 2

    async def _write(self) -> None:
        while True:
            self._busy = False
            item = await self._out.get()
            self._busy = True
            # Every frame already queued goes out with this one, in one socket write (see _Gather).
            batch: list[str | bytes] = []
            while isinstance(item, str | bytes):
                batch.append(item)
                if self._out.empty():
                    break
                item = self._out.get_nowait()
            if batch and not self.ws.closed:
                await self._send_batch(batch)
            if isinstance(item, str | bytes):
                continue  # the queue ran dry: wait for more
            if item is None:
                break
            if self.ws.closed:
                continue
            await self._close_abruptly(item.code)
            return
        self._stop_pacing()
        if not self.ws.closed:
            await self.ws.close()

    async def _send_batch(self, batch: list[str | bytes]) -> None:
        writer = getattr(self.ws, "_writer", None)
        transport = getattr(writer, "transport", None)
        gather = _Gather(transport) if transport is not None and len(batch) > 1 else None
        if gather is not None:
            writer.transport = gather  # type: ignore[union-attr]
        try:
            for item in batch:
                if isinstance(item, bytes):
                    await self.ws.send_bytes(item)
                    self.frames_sent += 1
                else:
                    await self.ws.send_str(item)
        except (ConnectionError, RuntimeError):
            pass  # the peer went away; the call plays on for everyone else
        finally:
            if gather is not None:
                writer.transport = transport  # type: ignore[union-attr]
                gather.flush()

    async def _close_abruptly(self, code: int | None) -> None:
        self._stop_pacing()
        if code is not None:
            await self.ws.close(code=code, message=b"mockvapi: injected close")
        elif self.abort is not None:
            self.abort()  # no close frame: the peer sees an abnormal closure (1006)
        else:
            await self.ws.close(code=1011)

    async def _start_pacing(self) -> None:
        await self.player.started.wait()
        if self._pacing:
            ticker_of(self.clock).add(self, self._frame_at())

    def _stop_pacing(self) -> None:
        self._pacing = False  # the ticker drops this peer when it next comes to it
        if self._pacer is not None:
            self._pacer.cancel()

    def _frame_at(self) -> float:
        """The clock time the next frame is due: the end of its 20 ms of the call."""
        start = self.player.started_at
        assert start is not None
        return start + self._next_frame * FRAME_SECONDS

    def _tick(self) -> float | None:
        """The ticker's visit when the next frame is due: queue it unless the call ended before it. Returns
        when the next one is due, None when no more come, or BEHIND when the player has not yet sent its
        events up to the frame's time (a stall): they go first, the frame is tried again in a moment."""
        if not self._pacing:
            return None
        at = self._next_frame * FRAME_SECONDS
        if self._ended_before(at) is not False:
            return None
        if self._player_behind(at):
            return BEHIND
        self._queue_frame()
        return self._frame_at()

    def _player_behind(self, at: float) -> bool:
        waiting = self.player.next_event_at
        return waiting is not None and waiting <= at and not self.player.done.is_set()

    def _frame_due(self) -> bool:
        """Whether the call has started and the next frame's time has come."""
        return self.player.started_at is not None and self._next_frame * FRAME_SECONDS <= self.player.offset()

    def _ended_before(self, at: float) -> bool | None:
        """True if the call ended before call offset `at`, False if not, None if it stopped with no end
        time (it failed or was cancelled: nothing more to send)."""
        ended_ms = self.player.sim.ended_ms
        if ended_ms is not None:
            return at > ended_ms / 1000
        return None if self.player.done.is_set() else False

    def _queue_frame(self) -> None:
        assert self.audio is not None
        self._queue(self.audio.frames(self._speaking))
        self._next_frame += 1

    async def finished(self) -> None:
        await self._writer

    def __repr__(self) -> str:
        return f"WebsocketClient({self.channel}, call {self.player.call_id[:8]}, frames={self.frames_sent})"


BEHIND = -1.0  # _tick: the frame must wait for the player


class _AudioTicker:
    """Paces the audio of every real-clock websocket peer of one clock: one task and one timer for all of
    them, instead of a task and a timer per peer for every 20 ms frame. Measured at 250 real-time calls
    (62 peers): 3,100 frame wake-ups a second were the largest cost of the run. Frames due within
    `QUANTUM_SECONDS` (real) of each other go out in one wake-up; none goes before the player has sent its
    events up to the frame's time, so a frame never overtakes a message due before it."""

    QUANTUM_SECONDS = 0.001

    def __init__(self, clock: Clock, loop: asyncio.AbstractEventLoop) -> None:
        self.clock = clock
        self.loop = loop
        self._heap: list[tuple[float, int, WebsocketClient]] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._sleep: asyncio.Future[None] | None = None
        self._sleeping_until = math.inf

    def add(self, client: WebsocketClient, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), client))
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._run())
        elif due < self._sleeping_until and self._sleep is not None:
            self._sleep.cancel()  # an earlier frame than the one it sleeps for

    async def _run(self) -> None:
        quantum = self.QUANTUM_SECONDS / self.clock.real_seconds(1.0)  # in clock seconds
        while self._heap:
            due = self._heap[0][0]
            if due > self.clock.now():
                self._sleeping_until = due
                self._sleep = asyncio.ensure_future(self.clock.sleep_until(due))
                try:
                    await asyncio.wait({self._sleep})
                finally:
                    self._sleep.cancel()
                    self._sleep, self._sleeping_until = None, math.inf
            now = self.clock.now()
            behind: list[tuple[float, int, WebsocketClient]] = []
            while self._heap and self._heap[0][0] <= now + quantum:
                entry = heapq.heappop(self._heap)
                following = entry[2]._tick()
                if following == BEHIND:
                    behind.append(entry)
                elif following is not None:
                    heapq.heappush(self._heap, (following, entry[1], entry[2]))
            for entry in behind:
                heapq.heappush(self._heap, entry)
            if behind:
                await asyncio.sleep(0)  # the players that are late go first

    def __repr__(self) -> str:
        return f"_AudioTicker(peers={len(self._heap)})"


_tickers: weakref.WeakKeyDictionary[Clock, _AudioTicker] = weakref.WeakKeyDictionary()


def ticker_of(clock: Clock) -> _AudioTicker:
    """The clock's audio ticker on the running loop (a new one on a new loop)."""
    loop = asyncio.get_running_loop()
    ticker = _tickers.get(clock)
    if ticker is None or ticker.loop is not loop:
        ticker = _tickers[clock] = _AudioTicker(clock, loop)
    return ticker


async def serve_transport(
    request: web.Request, player: CallPlayer, journal: Journal, clock: Clock, *, listen_only: bool = False
) -> web.WebSocketResponse:
    """Serve one websocket peer of a call until the call ends or the peer leaves."""
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    if player.done.is_set():
        await ws.close(message=b"call has ended")
        return ws
    transport = request.transport
    client = WebsocketClient(
        ws,
        player,
        journal,
        clock,
        channel="listen" if listen_only else "websocket",
        abort=transport.abort if transport is not None else None,
        transport=transport,
        hold=isinstance(clock, VirtualClock) and not _on_this_loop(transport),
    )
    player.add_client(client)
    try:
        async for frame in ws:
            if frame.type == WSMsgType.BINARY:
                client.bytes_received += len(frame.data)
            elif frame.type == WSMsgType.TEXT and not listen_only:
                accept_control(player, journal, frame.data, channel="websocket")
            elif frame.type == WSMsgType.ERROR:
                break
    finally:
        player.remove_client(client)
        client.close()
        await client.finished()
    return ws







def _on_this_loop(transport: asyncio.BaseTransport | None) -> bool:
    """Whether the peer at the other end of `transport` is a socket of the running event loop (an in-process
    client on the same loop). Unknown (no peer address, a loop without asyncio's transport table): True."""
    if transport is None:
        return True
    peer = transport.get_extra_info("peername")
    table = getattr(asyncio.get_running_loop(), "_transports", None)
    if peer is None or not isinstance(table, weakref.WeakValueDictionary):
        return True
    return any(other.get_extra_info("sockname") == peer for other in list(table.values()))


def accept_control(
    player: CallPlayer, journal: Journal, text: str | Mapping[str, Any], *, channel: str
) -> str | None:
    """Apply one inbound control message; returns an error text, or None when accepted."""
    try:
        message = json.loads(text) if isinstance(text, str) else dict(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return "body is not JSON"
    if nested_deeper_than(message):
        # Parsed, but too deep for what later walks it (the journal's JSON, copies): refused here.
        return f"control message is nested more than {MAX_JSON_DEPTH} levels deep"
    if not isinstance(message, dict) or message.get("type") not in CONTROL_TYPES:
        return f"expected a control message with type one of {sorted(CONTROL_TYPES)}"
    journal.record(
        Delivery(
            call_id=player.call_id,
            channel="control",
            target=channel,
            message_type=str(message["type"]),
            message=message,
            at=player.offset(),
        )
    )
    if not player.control(message):
        return "the call has ended"
    return None


async def serve_control(request: web.Request, player: CallPlayer, journal: Journal) -> web.Response:
    """`POST /{callId}/control` with a flat JSON control message."""
    raw = await request.read()
    try:
        text = raw.decode(request.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        error: str | None = f"body is not {request.charset or 'utf-8'} text"
    else:
        error = accept_control(player, journal, text, channel="controlUrl")
    if error is not None:
        status = 409 if error == "the call has ended" else 400
        phrase = "Conflict" if status == 409 else "Bad Request"
        return web.json_response({"message": error, "error": phrase, "statusCode": status}, status=status)
    return web.json_response({"success": True})


# A websocket frame's header as a server sends it (RFC 6455 5.2: final fragment, no mask, no extension bits),
# byte for byte what aiohttp's writer puts before an uncompressed frame.
_TEXT, _BINARY = 0x1, 0x2
_LEN2 = struct.Struct("!BBH").pack
_LEN8 = struct.Struct("!BBQ").pack
_TEXT_FIN = 0x80 | _TEXT  # the first byte of a text frame's header (see _write_now)
# Bytes already waiting in the socket's buffer above which frames go through aiohttp's writer instead,
# which waits for a slow peer to drain them (the direct write never waits).
DIRECT_WRITE_BACKLOG = 64 * 1024


def _frame_header(opcode: int, length: int) -> bytes:
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 65536:
        return _LEN2(0x80 | opcode, 126, length)
    return _LEN8(0x80 | opcode, 127, length)


class _Gather:
    """Stands in for a websocket writer's transport while a batch of frames is written: the frames'
    bytes go out in one `transport.write` (one send syscall) instead of one each."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.chunks: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.chunks.append(bytes(data))

    def is_closing(self) -> bool:
        return bool(self.transport.is_closing())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)

    def flush(self) -> None:
        if self.chunks and not self.transport.is_closing():
            self.transport.write(b"".join(self.chunks))
        self.chunks.clear()


@dataclass(frozen=True)
class _Close:
    """Queued after the frames that go out before an injected close."""

    code: int | None


PlayerLookup = Callable[[str], CallPlayer | None]


def call_endpoints(lookup: PlayerLookup, journal: Journal, clock: Clock) -> list[web.RouteDef]:
    """Routes for the transport, listen and control URLs of live calls, for any aiohttp app."""

    def find(request: web.Request) -> CallPlayer:
        player = lookup(request.match_info["call_id"])
        if player is None:
            raise web.HTTPNotFound(
                text=json.dumps({"message": "no live call with this id", "statusCode": 404}),
                content_type="application/json",
            )
        return player

    async def transport(request: web.Request) -> web.StreamResponse:
        return await serve_transport(request, find(request), journal, clock)

    async def listen(request: web.Request) -> web.StreamResponse:
        return await serve_transport(request, find(request), journal, clock, listen_only=True)

    async def control(request: web.Request) -> web.StreamResponse:
        return await serve_control(request, find(request), journal)

    return [
        web.get("/{call_id}/transport", transport),
        web.get("/{call_id}/listen", listen),
        web.post("/{call_id}/control", control),
    ]
