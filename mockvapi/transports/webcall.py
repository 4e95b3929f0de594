"""The web call transport: what mockvapi's daily-js stand-in connects to at a call's ``webCallUrl``.

It is the ``vapi.websocket`` transport with the web SDK's start handshake on top:

- the peer joins (``GET /{callId}/web``, upgraded to a websocket) and sends the raw text ``playable``
  once the SDK plays the assistant's track (``{"message": "playable"}`` from the mobile SDKs works too);
- only then does the call start: the peer gets ``listening`` and after it every client message, one
  text frame each (bare JSON, no envelope), and the assistant's audio in binary frames;
- text frames from the peer are what the SDK sent with ``sendAppMessage`` (``add-message``, ``say``,
  ``control``, ``end-call``...), applied as the websocket transport applies them; binary frames are
  the page's microphone. ``{"type": "mockvapi.local-audio", "enabled": false}`` says the page muted
  itself (``vapi.setMuted(true)``): journalled, and the frames that follow are silence.
- the peer leaving (the tab closed, ``vapi.stop()``) ends the call ``customer-ended-call``, as leaving
  Daily's room ends a Vapi web call.

A plain GET of the same URL answers JSON: 200 for a call that can be joined, 404 for an unknown call,
410 for an ended one; the upgrade to a websocket is refused with the same answer. The stand-in asks
this when its websocket fails to open, to report Daily's ``no-room`` error rather than a bare
connection failure. A call that ends between the upgrade and ``playable`` closes with code 4410.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from mockvapi.engine.audio import AudioSource
from mockvapi.engine.clock import Clock
from mockvapi.engine.journal import Delivery, Journal
from mockvapi.engine.player import CallPlayer
from mockvapi.transports.websocket import WebsocketClient, accept_control

__all__ = [
    "CLOSE_ENDED",
    "CLOSE_UNKNOWN",
    "LOCAL_AUDIO",
    "WebCallClient",
    "WebCallJoin",
    "is_playable",
    "serve_web_call",
]

MAX_HELD = 64  # app-messages kept from before `playable`; a page sending more has lost its way
CLOSE_UNKNOWN = 4404  # no call with this id
CLOSE_ENDED = 4410  # the call has ended
LOCAL_AUDIO = "mockvapi.local-audio"
# The stand-in always speaks 16 kHz 16-bit PCM: Daily's codec is Daily's business, not the call's format.
WEB_AUDIO = ("pcm_s16le", 16000)


def is_playable(text: str) -> bool:
    """The SDK's start signal: the raw string, or the mobile SDKs' ``{"message": "playable"}``."""
    if text == "playable":
        return True
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("message") == "playable" and len(parsed) == 1


class WebCallClient(WebsocketClient):
    """The stand-in's side of a started web call: ``listening`` first, then messages and audio."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        player: CallPlayer,
        journal: Journal,
        clock: Clock,
        *,
        abort: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(ws, player, journal, clock, channel="client", audio=True, abort=abort)
        self.audio = AudioSource(*WEB_AUDIO)
        self._out.put_nowait("listening")  # before any message: the SDK's call-start comes first
        self.muted = False
        self.heard_frames = 0  # microphone frames with sound in them, while not muted

    def hear(self, frame: bytes) -> None:
        self.bytes_received += len(frame)
        if not self.muted and any(frame):
            self.heard_frames += 1

    def __repr__(self) -> str:
        return f"WebCallClient(call {self.player.call_id[:8]}, frames={self.frames_sent}, muted={self.muted})"


@dataclass(frozen=True)
class WebCallJoin:
    """What the server answers a peer that wants to join: the call's player, or why it cannot join."""

    player: CallPlayer | None = None
    close_code: int = CLOSE_UNKNOWN
    reason: str = ""


# Called once the peer sent `playable`: starts the call if it waits for its peer, else finds it.
Joiner = Callable[[], Awaitable[WebCallJoin]]


async def serve_web_call(
    request: web.Request, join: Joiner, journal: Journal, clock: Clock, *, known: WebCallJoin | None = None
) -> web.StreamResponse:
    """Serve one stand-in peer of a web call until the call ends or the peer leaves.

    ``known``: an answer already decided before the handshake: an unknown (404) or ended (410) call.
    """
    ws = web.WebSocketResponse(heartbeat=None)
    if known is not None and known.player is None:
        status = 404 if known.close_code == CLOSE_UNKNOWN else 410
        phrase = "Not Found" if status == 404 else "Gone"
        return web.json_response({"message": known.reason, "error": phrase, "statusCode": status}, status=status)
    if not ws.can_prepare(request).ok:
        return web.json_response({"joinable": True, "message": "upgrade to a websocket to join this web call"})
    await ws.prepare(request)
    held: list[str] = []  # what the page sent before `playable` (applied once the call runs)
    muted = False
    client: WebCallClient | None = None
    player: CallPlayer | None = None
    try:
        async for frame in ws:
            if frame.type == WSMsgType.BINARY:
                if client is not None:
                    client.hear(frame.data)
                continue
            if frame.type != WSMsgType.TEXT:
                break
            text = str(frame.data)
            local = _local_audio(text)
            if local is not None:
                muted = not local
                if client is not None:
                    client.muted = muted
                _journal_local_audio(journal, player, request, local)
                continue
            if client is None:
                if not is_playable(text):
                    if len(held) < MAX_HELD:
                        held.append(text)
                    continue
                answer = await join()
                if answer.player is None:
                    await ws.close(code=answer.close_code, message=answer.reason.encode()[:120])
                    break
                player = answer.player
                transport = request.transport
                client = WebCallClient(
                    ws, player, journal, clock, abort=transport.abort if transport is not None else None
                )
                client.muted = muted
                player.add_client(client)
                for early in held:
                    accept_control(player, journal, early, channel="web")
                held.clear()
                continue
            if is_playable(text):
                continue  # a second track-started (renegotiation) plays again; the call is already on
            assert player is not None  # set together with client
            accept_control(player, journal, text, channel="web")
    finally:
        if client is not None and player is not None:
            player.remove_client(client)
            client.close()
            await client.finished()
            if not player.done.is_set():
                # Leaving Daily's room ends a Vapi web call (roomDeleteOnUserLeaveEnabled defaults to true).
                player.control({"type": "end-call"})
    return ws


def _local_audio(text: str) -> bool | None:
    if LOCAL_AUDIO not in text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if isinstance(parsed, dict) and parsed.get("type") == LOCAL_AUDIO and isinstance(parsed.get("enabled"), bool):
        return bool(parsed["enabled"])
    return None


def _journal_local_audio(journal: Journal, player: CallPlayer | None, request: web.Request, enabled: bool) -> None:
    journal.record(
        Delivery(
            call_id=player.call_id if player is not None else request.match_info.get("call_id", ""),
            channel="control",
            target="web",
            message_type=LOCAL_AUDIO,
            message={"type": LOCAL_AUDIO, "enabled": enabled},
            at=player.offset() if player is not None else 0.0,
        )
    )
