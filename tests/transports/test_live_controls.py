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
