"""The engine's encoders trust announced in-place changes (models.encoding `steady_changed`, lever 120): every kind
of in-place change the engine makes to a call's steady objects still goes out, byte for byte what a fresh
encoding of each message gives at the moment it is sent, on the websocket and in webhook bodies."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.context import CallOverrides
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer, Outgoing
from mockvapi.engine.simulator import simulate
from mockvapi.engine.timeline import render_message
from mockvapi.library import resolve
from mockvapi.models import encoding
from mockvapi.models.encoding import WireEncoder, compact, steady_changed
from mockvapi.transports.envelope import envelope_text
from mockvapi.transports.http import HttpRequest, HttpResponse
from mockvapi.transports.webhook import TargetPool, WebhookSink
from mockvapi.transports.websocket import WebsocketClient


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    """What runs outside the tests: announced encoders compare nothing while no change was announced."""
    monkeypatch.setattr(encoding, "CHECK_ANNOUNCED", False)


def test_an_announced_encoder_compares_its_steady_objects_only_after_a_change_is_announced(trusting: None) -> None:
    call: dict[str, Any] = {"id": "c1", "assistantId": "a1"}
    assistant: dict[str, Any] = {"name": "Morgan", "model": {"messages": [{"role": "system", "content": "x"}]}}

    def message(token: str) -> dict[str, Any]:
        return {"type": "model-output", "output": token, "call": call, "assistant": assistant}

    announced, plain = WireEncoder(announced=True), WireEncoder()
    for encoder in (announced, plain):
        assert encoder.encode(message("a")) == compact(message("a"))
    call["assistantId"] = "a2"  # in place, not announced: the announced encoder keeps the text it made
    assert announced.encode(message("b")) == compact({**message("b"), "call": {"id": "c1", "assistantId": "a1"}})
    assert plain.encode(message("b")) == compact(message("b"))  # compares at every message
    steady_changed()
    assert announced.encode(message("c")) == compact(message("c"))  # compared once, encoded again
    assistant["model"]["messages"][0]["content"] = "deep inside"
    steady_changed()
    assert announced.encode(message("d")) == compact(message("d")) and "deep inside" in announced.encode(message("e"))
    # The same once a tail is made again for another shape, from each object's own text.
    server_like = {"type": "status-update", "status": "ended", "call": call, "assistant": assistant}
    call["assistantId"] = "a3"
    steady_changed()
    assert announced.encode(server_like) == compact(server_like)


def test_under_the_tests_check_an_unannounced_change_is_noted_and_still_encoded_afresh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoding, "CHECK_ANNOUNCED", True)
    encoder = WireEncoder(announced=True)
    call: dict[str, Any] = {"id": "c1"}
    message = {"type": "x", "call": call}
    encoder.encode(message)
    call["status"] = "changed"
    try:
        assert encoder.encode(message) == compact(message)
        assert set(encoding.unannounced) == {"call changed in place with no steady_changed()"}
    finally:
        encoding.unannounced.clear()  # what this test made on purpose (the suite's own check looks at it)


def test_the_players_rendering_reuses_its_merged_call_until_a_change_is_announced(trusting: None) -> None:
    timeline = simulate(resolve("happy-path"), seed=1)
    context, event = timeline.context, timeline.events[-1]
    assert event.live

    def rendered(announced: bool) -> dict[str, Any]:
        wire = render_message(event, context, timeline.history, timeline.history_openai, "spec", "client",
                              announced=announced)
        return dict(wire["call"])

    first = rendered(True)
    context.call["assistantId"] = "changed-in-place"
    assert rendered(True) == first  # not announced: the player's renders trust the merged call
    assert rendered(False)["assistantId"] == "changed-in-place"  # anyone else's compare (Timeline.messages)
    context.call["assistantId"] = "again"
    steady_changed()
    assert rendered(True) == {**context.call, **event.live}


# -- every kind of in-place change, played --------------------------------------------------------------


class _Answering:
    """An HTTP target answering each message type in `replies` with its body and the rest with `{}`; keeps
    each body it is sent."""

    description = "answering"

    def __init__(self, replies: Mapping[str, Any]) -> None:
        self.replies = replies
        self.bodies: list[bytes] = []

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        self.bodies.append(request.body)
        answer = self.replies.get(json.loads(request.body)["message"]["type"], {})
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps(answer).encode(), 0.0)

    async def aclose(self) -> None:
        pass


class _FreshSink(WebhookSink):
    """The real sink, noting each message's body as a fresh encoding gives it when submitted."""

    def __init__(self, target: _Answering) -> None:
        super().__init__(TargetPool(target), Journal(), VirtualClock())
        self.fresh: list[bytes] = []

    def submit(self, outgoing: Outgoing) -> Any:
        self.fresh.append(envelope_text(outgoing.wire).encode())
        return super().submit(outgoing)


class _FreshClient:
    """A client noting each message as a fresh encoding gives it when pushed (before the websocket peer)."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def push(self, at: float, message: dict[str, Any], tamper: object = None) -> None:
        self.texts.append(compact(message))

    def speaking(self, assistant: bool) -> None:
        pass

    def close(self) -> None:
        pass


class _Socket(asyncio.WriteTransport):
    """Keeps the bytes a websocket peer would read."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class _Ws:
    """What the client asks of its aiohttp response when it writes straight to the socket."""

    closed = False
    compress = 0

    async def close(self) -> None:
        self.closed = True


def text_frames(data: bytes) -> list[str]:
    """The text frames a server wrote (RFC 6455, unmasked), in order."""
    texts, at = [], 0
    while at < len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, at)
            at += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, at)
            at += 8
        if opcode == 0x1:
            texts.append(data[at:at + length].decode())
        at += length
    return texts


async def play_both_ways(spec: str, replies: Mapping[str, Any], overrides: CallOverrides) -> tuple[
        list[str], list[str], list[bytes], list[bytes]]:
    """The call played with a websocket peer and a webhook server: (websocket texts sent, fresh encodings of
    the client messages, webhook bodies sent, fresh encodings of the server messages)."""
    clock, journal = VirtualClock(), Journal()
    target = _Answering(replies)
    sink = _FreshSink(target)
    fresh = _FreshClient()
    player = CallPlayer(resolve(spec), clock=clock, journal=journal, server=sink, clients=[fresh],
                        overrides=overrides)
    socket = _Socket()
    peer = WebsocketClient(_Ws(), player, journal, clock, audio=False, transport=socket)  # type: ignore[arg-type]
    player.add_client(peer)
    await player.run()
    peer.close()
    await peer.finished()
    await sink.drain()
    return text_frames(bytes(socket.data)), fresh.texts, target.bodies, sink.fresh


INBOUND = """
version: 1
name: asks-first
seed: 5
call:
  type: vapi.websocketCall
  assistant_request: true
assistant:
  name: Scripted
  firstMessage: "Hello there."
  clientMessages: [status-update, transcript, conversation-update, model-output, speech-update]
  serverMessages: [status-update, conversation-update, end-of-call-report]
steps:
  - user: "Hi."
  - assistant: "Hi, how can I help?"
  - end: customer-ended-call
"""
_PHONE = {"number": "+14155550199", "server": {"url": "http://127.0.0.1:9/hook"}}
_SAVED = {"name": "Saved", "firstMessage": "Saved here.", "model": {"provider": "openai", "model": "gpt-4o"}}
_SQUAD = {"name": "Desk", "members": [{"assistant": {"name": "Front", "firstMessage": "Front desk."}}]}


def _lookup(value: Mapping[str, Any]) -> Callable[[str], Mapping[str, Any] | None]:
    return lambda _id: value


@pytest.mark.parametrize(("reply", "rest", "seen"), [
    # assistant-request answered with an assistantId and no REST API behind the call: the call's assistantId
    ({"assistantId": "asst-no-rest"}, {}, '"assistantId":"asst-no-rest"'),
    # ... with the REST API's saved assistant: the assistantId too, and the saved assistant
    ({"assistantId": "asst-saved"}, {"find_assistant": _lookup(_SAVED)}, '"assistantId":"asst-saved"'),
    # assistant-request answered with a squadId: the call's squadId (no REST API, then the REST API's squad)
    ({"squadId": "squad-no-rest"}, {}, '"squadId":"squad-no-rest"'),
    ({"squadId": "squad-saved"}, {"find_squad": _lookup(_SQUAD)}, '"squadId":"squad-saved"'),
], ids=["assistantId", "assistantId-rest", "squadId", "squadId-rest"])
async def test_an_assistant_request_answer_changing_the_call_in_place_goes_out(
        trusting: None, reply: dict[str, Any], rest: dict[str, Any], seen: str) -> None:
    overrides = CallOverrides(phone_number=_PHONE, **rest)
    sent, fresh, bodies, fresh_bodies = await play_both_ways(INBOUND, {"assistant-request": reply}, overrides)
    assert sent == fresh and len(sent) > 5
    assert bodies == fresh_bodies and len(bodies) > 3
    assert seen not in bodies[0].decode()  # the assistant-request itself went out before the answer
    assert all(seen in text for text in sent[-3:]) and seen in bodies[-1].decode()


async def test_a_squad_handoff_goes_out_with_the_new_member(trusting: None) -> None:
    nurse = {"destination": {"type": "assistant", "assistantName": "Nurse"}}
    sent, fresh, bodies, fresh_bodies = await play_both_ways(
        "squad-dynamic-handoff", {"handoff-destination-request": nurse}, CallOverrides())
    assert sent == fresh and bodies == fresh_bodies
    assert '"assistant":{"name":"Triage"' in sent[0]
    assert '"assistant":{"name":"Nurse"' in sent[-1] and '"assistant":{"name":"Nurse"' in bodies[-1].decode()
