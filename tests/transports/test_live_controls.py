"""Live controls act when they arrive, mid-utterance, through real transports (the websocket and the
control URL on 127.0.0.1, port 0) on a virtual clock: time stops mid-sentence, the control goes over the
socket, and time runs again once the player has it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.engine.clock import RealClock
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer
from mockvapi.engine.simulator import simulate
from mockvapi.engine.timeline import Timeline
from mockvapi.library import resolve
from mockvapi.transports.webhook import TargetPool, WebhookSink
from mockvapi.transports.websocket import call_endpoints
from tests.engine.invariants import check_invariants
from tests.transports.test_websocket import Peer, Rig, bots, notified, pause_at, rig, ws_call

__all__ = ["rig"]


def first_utterance() -> tuple[float, float, str]:
    """When the greeting is spoken (speech-update started, stopped) and what it says, as simulate() plays it."""
    timeline = simulate(resolve(ws_call()))
    updates = [(e.at, e.message) for e in timeline.events if e.type == "speech-update"]
    started = next(at for at, m in updates if getattr(m, "role", "") == "assistant" and m.status == "started")
    stopped = next(at for at, m in updates if getattr(m, "role", "") == "assistant" and m.status == "stopped")
    return started, stopped, bots(timeline)[0]


async def send_control(rig: Rig, player: CallPlayer, peer: Peer, message: dict[str, Any], via: str) -> None:
    """Send a live control down the call's websocket, or POST it to the call's control URL."""
    if via == "websocket":
        await peer.ws.send_str(json.dumps(message))
    else:
        assert rig.session is not None
        async with rig.session.post(rig.url(f"/{player.call_id}/control"), json=message) as r:
            assert r.status == 200


async def control_mid_greeting(rig: Rig, message: dict[str, Any], *, via: str = "websocket") -> tuple[Any, Any]:
    rig.clock.autojump = False
    player = rig.player(ws_call())
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    applied = notified(player, "control")
    started, stopped, _ = first_utterance()
    await pause_at(rig, player, peer, round((started + stopped) / 2, 3))
    await send_control(rig, player, peer, message, via)
    await applied.wait()
    rig.clock.autojump = True
    timeline = await run
    await peer.finish()
    return timeline, peer


async def test_end_call_ends_mid_sentence(rig: Rig) -> None:
    started, stopped, greeting = first_utterance()
    timeline, peer = await control_mid_greeting(rig, {"type": "end-call"})
    assert timeline.ended_reason == "customer-ended-call"
    said = bots(timeline)
    assert len(said) == 1 and greeting.startswith(said[0]) and said[0] != greeting  # cut mid-sentence
    ended = next(m for m in peer.texts if m["type"] == "status-update" and m["status"] == "ended")
    assert ended["timestamp"] < timeline.context.start_ms + stopped * 1000
    stops = [m for m in peer.texts if m["type"] == "speech-update" and m["status"] == "stopped"]
    assert stops and stops[0]["role"] == "assistant"
    assert check_invariants(timeline) == []


async def test_say_with_interrupt_cuts_the_greeting(rig: Rig) -> None:
    _, _, greeting = first_utterance()
    said = "Sorry, one moment please."
    message = {"type": "say", "content": said, "interruptAssistantEnabled": True}
    timeline, peer = await control_mid_greeting(rig, message, via="controlUrl")
    spoken = bots(timeline)
    assert greeting.startswith(spoken[0]) and spoken[0] != greeting
    assert spoken[1] == said
    finals = [m["transcript"] for m in peer.texts if m["type"] == "transcript" and m["role"] == "assistant"]
    assert said in finals
    assert check_invariants(timeline) == []


async def test_say_without_interrupt_queues_after_the_greeting(rig: Rig) -> None:
    _, _, greeting = first_utterance()
    said = "Calls may be recorded."
    timeline, _ = await control_mid_greeting(rig, {"type": "say", "content": said})
    assert bots(timeline)[:2] == [greeting, said]
    assert check_invariants(timeline) == []


async def test_mute_assistant_silences_speech_while_tokens_stream(rig: Rig) -> None:
    _, _, greeting = first_utterance()
    timeline, peer = await control_mid_greeting(rig, {"type": "control", "control": "mute-assistant"})
    spoken = bots(timeline)
    assert len(spoken) == 1 and greeting.startswith(spoken[0]) and spoken[0] != greeting
    assert any(m["type"] == "model-output" for m in peer.texts)  # the model's later answers still stream
    mute_at = max(m["timestamp"] for m in peer.texts if m["type"] == "speech-update" and m["role"] == "assistant")
    assert not any(m["type"] == "voice-input" and m["timestamp"] > mute_at for m in peer.texts)
    assert check_invariants(timeline) == []


async def test_add_message_with_trigger_makes_the_assistant_answer(rig: Rig) -> None:
    _, _, greeting = first_utterance()
    full = simulate(resolve(ws_call()))
    message = {"type": "add-message", "message": {"role": "system", "content": "Mention the outage."},
               "triggerResponseEnabled": True}
    timeline, _ = await control_mid_greeting(rig, message)
    roles = [(h["role"], h["message"]) for h in timeline.history]
    at = roles.index(("system", "Mention the outage."))
    assert roles[at - 1] == ("bot", greeting)  # after the greeting, not inside it
    assert len(bots(timeline)) == len(bots(full)) + 1  # the assistant answered it
    assert check_invariants(timeline) == []


QUIET_SPELL = """
version: 1
name: quiet-spell
seed: 23
call: {type: vapi.websocketCall}
assistant:
  firstMessage: "Hello, this is Alex from Northwind support."
steps:
  - user: "Let me find my router's serial number."
  - assistant: "Sure, take your time."
  - silence: 25s
  - user: "Found it, it is A B 1 2 3."
  - assistant: "Thanks, I have it."
  - end: customer-ended-call
"""


async def control_in_the_silence(rig: Rig, message: dict[str, Any]) -> tuple[Any, float]:
    """Send `message` over the websocket 5 s into the silence (the player then waits for the caller's next
    words, 20 s ahead); returns the timeline and the call time the control was sent at."""
    rig.clock.autojump = False
    player = rig.player(QUIET_SPELL)
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    applied = notified(player, "control")
    plain = simulate(resolve(QUIET_SPELL))
    said = next(h for h in plain.history if h["message"] == "Sure, take your time.")
    sent_at = round((said["endTime"] - plain.context.start_ms) / 1000 + 5, 3)
    await pause_at(rig, player, peer, sent_at)
    await peer.ws.send_str(json.dumps(message))
    await applied.wait()
    rig.clock.autojump = True
    timeline = await run
    await peer.finish()
    return timeline, sent_at


async def test_say_in_a_silence_is_spoken_when_it_arrives(rig: Rig) -> None:
    timeline, sent_at = await control_in_the_silence(rig, {"type": "say", "content": "I am still here."})
    items = [(h["role"], h["message"], h["secondsFromStart"]) for h in timeline.history]
    at = [i for i, (_, text, _) in enumerate(items) if text == "I am still here."]
    assert len(at) == 1
    role, _, seconds = items[at[0]]
    assert role == "bot" and sent_at <= seconds < sent_at + 1  # at its arrival, not with the caller's next turn
    assert items[at[0] + 1][:2] == ("user", "Found it, it is A B 1 2 3.")  # history keeps time order
    assert check_invariants(timeline) == []


async def test_say_that_ends_the_call_in_a_silence(rig: Rig) -> None:
    message = {"type": "say", "content": "I will call you back.", "endCallAfterSpoken": True}
    timeline, sent_at = await control_in_the_silence(rig, message)
    assert timeline.ended_reason == "assistant-ended-call-after-message-spoken"
    assert [h["message"] for h in timeline.history][-1] == "I will call you back."
    assert timeline.duration < sent_at + 5  # the caller's next words never came
    assert check_invariants(timeline) == []


async def test_say_with_end_call_after_spoken_mid_greeting(rig: Rig) -> None:
    _, _, greeting = first_utterance()
    message = {"type": "say", "content": "Goodbye for now.", "endCallAfterSpoken": True}
    timeline, peer = await control_mid_greeting(rig, message)
    assert bots(timeline) == [greeting, "Goodbye for now."]  # queued after the greeting, then the end
    assert timeline.ended_reason == "assistant-ended-call-after-message-spoken"
    assert peer.texts[-1]["type"] == "status-update" and peer.texts[-1]["endedReason"] == timeline.ended_reason
    assert check_invariants(timeline) == []


async def test_add_message_in_a_silence_joins_history_when_it_arrives(rig: Rig) -> None:
    message = {"type": "add-message", "message": {"role": "system", "content": "The caller is on a train."}}
    timeline, sent_at = await control_in_the_silence(rig, message)
    items = [(h["role"], h["message"], h.get("secondsFromStart")) for h in timeline.history]
    at = next(i for i, item in enumerate(items) if item[1] == "The caller is on a train.")
    assert items[at][0] == "system" and items[at][2] == sent_at
    assert items[at + 1][:2] == ("user", "Found it, it is A B 1 2 3.")
    updates = [e for e in timeline.events if e.type == "conversation-update"]
    update = next(e for e in updates if any(m.get("message") == "The caller is on a train."
                                            for m in e.message.body("realistic")["messages"]))
    assert update.at == sent_at  # announced then, not with the caller's next words
    assert check_invariants(timeline) == []


async def test_transfer_forwards_mid_sentence_and_the_report_says_where(rig: Rig) -> None:
    _, _, greeting = first_utterance()
    destination = {"type": "number", "number": "+14155550100"}
    message = {"type": "transfer", "destination": destination, "content": "Connecting you to billing."}
    timeline, peer = await control_mid_greeting(rig, message, via="controlUrl")
    assert timeline.ended_reason == "assistant-forwarded-call"
    spoken = bots(timeline)
    assert greeting.startswith(spoken[0]) and spoken[0] != greeting  # cut mid-sentence
    assert spoken[-1] == "Connecting you to billing."
    report = next(m for _, m in timeline.messages(side="server") if m["type"] == "end-of-call-report")
    assert report["destination"] == destination
    assert any(m["type"] == "transfer-update" and m["destination"] == destination for m in peer.texts)
    assert check_invariants(timeline) == []


# -- controls while the call waits for the customer's server ------------------------------------------


SLOW_TOOL = """
version: 1
name: slow-tool
seed: 9
call: {type: vapi.websocketCall}
assistant:
  firstMessage: "Hello, pharmacy."
  server: {url: 'URL', timeoutSeconds: 300}
  serverMessages: [tool-calls, hang, status-update, end-of-call-report]
  tools:
    - name: lookup
      parameters: {rx: string}
steps:
  - user: "Is my refill ready?"
  - tool: {name: lookup, arguments: {rx: "42"}, result: {status: unknown}, latency: 100ms, hang_after: 30m}
  - assistant: "Your refill is {{ tools.lookup.json.status }}."
  - end: customer-ended-call
"""


class SlowTarget:
    """A webhook target on 127.0.0.1 that answers everything at once but a tool call, which it answers only
    once released (then with a result the call must ignore: it ended meanwhile)."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self.asked = asyncio.Event()
        self.release = asyncio.Event()
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hook"))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        message = (await request.json())["message"]
        self.types.append(message["type"])
        if message["type"] != "tool-calls":
            return web.json_response({})
        self.asked.set()
        await self.release.wait()
        call_id = message["toolCallList"][0]["id"]
        return web.json_response({"results": [{"toolCallId": call_id, "result": '{"status":"ready"}'}]})


@pytest.fixture
async def slow() -> AsyncIterator[SlowTarget]:
    target = SlowTarget()
    app = web.Application()
    app.router.add_post("/{tail:.*}", target.handle)
    target.server = TestServer(app, host="127.0.0.1", port=0)
    await target.server.start_server()
    yield target
    target.release.set()
    await target.server.close()


def release_once_reported(player: CallPlayer, slow: SlowTarget) -> None:
    """The tool's answer comes only after the call's end-of-call-report went out (so it comes too late)."""

    def listener(_: CallPlayer, __: Any, wire: dict[str, Any]) -> None:
        if wire["type"] == "end-of-call-report":
            slow.release.set()

    player.listeners.append(listener)


async def control_while_the_tool_waits(
    rig: Rig, slow: SlowTarget, message: dict[str, Any], *, via: str = "websocket"
) -> tuple[Timeline, Peer, float]:
    """Send `message` 1.5 s (call time) after the tool call went out, while its server has not answered.

    The server's timeout (300 s) and the hang threshold (30 min) are far off, in real time too: a call that
    waited for the reply before acting would not end within the guard below."""
    spec = SLOW_TOOL.replace("URL", slow.url)
    pool = TargetPool()
    rig.clock.autojump = False
    player = rig.player(spec, server=WebhookSink(pool, rig.journal, rig.clock))
    release_once_reported(player, slow)
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    applied = notified(player, "control")
    asked = next(e.at for e in simulate(resolve(spec)).events if e.type == "tool-calls")
    sent_at = round(asked + 1.5, 3)
    await pause_at(rig, player, peer, sent_at)
    await slow.asked.wait()  # the request is at the server, unanswered
    await send_control(rig, player, peer, message, via)
    await applied.wait()
    rig.clock.autojump = True
    timeline = await ended_before_the_reply(run, slow, pool)
    await peer.finish()
    return timeline, peer, sent_at


async def ended_before_the_reply(run: asyncio.Future[Timeline], slow: SlowTarget, pool: TargetPool) -> Timeline:
    """The call's timeline, once it ended without the tool's reply. A guard, not a measure: a call that acted
    only once the reply is in would wait for minutes; after 20 s the reply is let go and the test fails."""
    ended, _ = await asyncio.wait({run}, timeout=20)
    slow.release.set()
    try:
        timeline = await run
    finally:
        await pool.aclose()
    assert ended, "the call waited for the tool's reply before acting on the control"
    return timeline


def waited_for_nothing(timeline: Timeline, slow: SlowTarget, sent_at: float) -> None:
    """The step that waited never went on: no result, no hang, nothing said after; the call ended then."""
    types = [e.type for e in timeline.events]
    assert "tool-calls-result" not in types and "hang" not in types
    assert not any("refill is" in text for text in bots(timeline))
    assert [h["role"] for h in timeline.history][-1] == "tool_calls"  # the call, never its result
    ended = next(e for e in timeline.events if e.type == "status-update" and e.message.status == "ended")
    assert sent_at <= ended.at < sent_at + 1
    assert "hang" not in slow.types and slow.types[-1] == "end-of-call-report"
    assert check_invariants(timeline) == []


async def test_end_call_while_a_tool_call_waits_ends_the_call_then(rig: Rig, slow: SlowTarget) -> None:
    timeline, peer, sent_at = await control_while_the_tool_waits(rig, slow, {"type": "end-call"})
    assert timeline.ended_reason == "customer-ended-call"
    waited_for_nothing(timeline, slow, sent_at)
    assert peer.texts[-1]["type"] == "status-update" and peer.texts[-1]["status"] == "ended"


async def test_transfer_while_a_tool_call_waits_forwards_the_call_then(rig: Rig, slow: SlowTarget) -> None:
    destination = {"type": "number", "number": "+14155550100"}
    message = {"type": "transfer", "destination": destination, "content": "Connecting you to the pharmacist."}
    timeline, peer, sent_at = await control_while_the_tool_waits(rig, slow, message, via="controlUrl")
    assert timeline.ended_reason == "assistant-forwarded-call"
    assert bots(timeline)[-1] == "Connecting you to the pharmacist."
    report = next(m for _, m in timeline.messages(side="server") if m["type"] == "end-of-call-report")
    assert report["destination"] == destination
    types = [e.type for e in timeline.events]
    assert "tool-calls-result" not in types and "hang" not in types
    assert any(m["type"] == "transfer-update" and m["destination"] == destination for m in peer.texts)
    assert check_invariants(timeline) == []


async def test_end_call_while_a_tool_call_waits_on_a_real_clock(slow: SlowTarget) -> None:
    clock = RealClock(speed=10)  # the server's timeout is 30 s of real time, the hang threshold 3 min
    journal = Journal()
    players: dict[str, CallPlayer] = {}
    app = web.Application()
    app.add_routes(call_endpoints(players.get, journal, clock))
    pool = TargetPool()
    async with TestServer(app, host="127.0.0.1", port=0) as server, aiohttp.ClientSession() as session:
        player = CallPlayer(resolve(SLOW_TOOL.replace("URL", slow.url)), clock=clock, journal=journal,
                            server=WebhookSink(pool, journal, clock))
        players[player.call_id] = player
        release_once_reported(player, slow)
        waiting = asyncio.Event()  # the tool call's history went out: the player now waits for the reply

        def announced(_: CallPlayer, __: Any, wire: dict[str, Any]) -> None:
            if wire["type"] == "conversation-update" and wire["messages"][-1]["role"] == "tool_calls":
                waiting.set()

        player.listeners.append(announced)
        applied = notified(player, "control")
        run = asyncio.ensure_future(player.run(wait_for_client=5))
        peer = Peer(await session.ws_connect(server.make_url(f"/{player.call_id}/transport")))
        await slow.asked.wait()
        await waiting.wait()
        await peer.ws.send_str(json.dumps({"type": "end-call"}))
        await applied.wait()
        sent_at = player.offset()
        timeline = await ended_before_the_reply(run, slow, pool)
        await peer.finish()
    assert timeline.ended_reason == "customer-ended-call"
    # On a real clock the control is stamped when the player took it, a little before `sent_at`.
    waited_for_nothing(timeline, slow, sent_at - 0.5)
