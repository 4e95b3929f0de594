"""Live controls act when they arrive, mid-utterance, through real transports (the websocket and the
control URL on 127.0.0.1, port 0) on a virtual clock: time stops mid-sentence, the control goes over the
socket, and time runs again once the player has it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mockvapi.engine.simulator import simulate
from mockvapi.library import resolve
from tests.engine.invariants import check_invariants
from tests.transports.test_websocket import Rig, bots, notified, pause_at, rig, ws_call

__all__ = ["rig"]


def first_utterance() -> tuple[float, float, str]:
    """When the greeting is spoken (speech-update started, stopped) and what it says, as simulate() plays it."""
    timeline = simulate(resolve(ws_call()))
    updates = [(e.at, e.message) for e in timeline.events if e.type == "speech-update"]
    started = next(at for at, m in updates if getattr(m, "role", "") == "assistant" and m.status == "started")
    stopped = next(at for at, m in updates if getattr(m, "role", "") == "assistant" and m.status == "stopped")
    return started, stopped, bots(timeline)[0]


async def control_mid_greeting(rig: Rig, message: dict[str, Any], *, via: str = "websocket") -> tuple[Any, Any]:
    rig.clock.autojump = False
    player = rig.player(ws_call())
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    peer = await rig.connect(player)
    applied = notified(player, "control")
    started, stopped, _ = first_utterance()
    await pause_at(rig, player, peer, round((started + stopped) / 2, 3))
    if via == "websocket":
        await peer.ws.send_str(json.dumps(message))
    else:
        assert rig.session is not None
        async with rig.session.post(rig.url(f"/{player.call_id}/control"), json=message) as r:
            assert r.status == 200
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
