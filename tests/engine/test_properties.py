"""Property tests: random valid scenarios simulate into calls that satisfy every invariant.

Hypothesis runs derandomized, so CI sees the same examples on every run. For a longer hunt:
`MOCKVAPI_PROPERTY_EXAMPLES=2000 .venv/bin/pytest tests/engine/test_properties.py`.
The assistant's settings that shape a call (maxDurationSeconds, silenceTimeoutSeconds, endCallPhrases,
endCallMessage, voicemail, firstMessageInterruptionsEnabled with a barging first step) are drawn too.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.events import Reply
from mockvapi.engine.player import CallPlayer, Outgoing
from mockvapi.engine.simulator import CallSimulation, drive, simulate
from mockvapi.engine.speech import tokenize
from mockvapi.scenario.schema import Scenario
from mockvapi.scenario.squad import squad_problems

from .invariants import check_invariants, hang_threshold, structure

EXAMPLES = int(os.environ.get("MOCKVAPI_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

WORDS = ("sure", "let", "me", "check", "that", "for", "you", "tuesday", "morning", "works", "I'd", "like",
         "to", "book", "a", "cleaning", "09:00", "don't", "we", "have", "openings", "in", "the", "afternoon",
         "great", "thanks", "bye", "okay", "one", "moment", "please", "hub", "sensor", "light", "blue", "it's")
ENDINGS = (".", "?", "!", ",", "")
TOOLS = ("check_availability", "book_slot", "lookup_order", "log_call")
ASYNC_TOOL = "log_call"  # Vapi does not wait for async tools
REASONS = ("customer-ended-call", "assistant-ended-call", "assistant-said-end-call-phrase", "silence-timed-out",
           "voicemail", "exceeded-max-duration")
VERBOSE_SERVER = ["conversation-update", "model-output", "user-interrupted", "hang", "tool-calls", "speech-update",
                  "transcript", "status-update", "end-of-call-report", "voice-input", "assistant.started",
                  "transfer-destination-request", "transfer-update", "assistant.speechStarted",
                  "language-change-detected"]


def seconds(low: float, high: float) -> st.SearchStrategy[str]:
    """A duration in the scenario's own notation, in whole milliseconds."""
    return st.integers(int(low * 1000), int(high * 1000)).map(lambda ms: f"{ms}ms")


@st.composite
def sentence(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))
    return " ".join(words) + draw(st.sampled_from(ENDINGS))


@st.composite
def utterance(draw: st.DrawFn) -> str:
    text = " ".join(draw(st.lists(sentence(), min_size=1, max_size=3)))
    return text[0].upper() + text[1:]


@st.composite
def assistant_step(draw: st.DrawFn, *, interrupted: bool, hangup: bool) -> dict[str, Any]:
    say = draw(utterance())
    body: dict[str, Any] = {"say": say}
    if draw(st.booleans()):
        body["delay"] = draw(seconds(0, 8))
    if draw(st.integers(0, 4)) == 0:
        body["hang_after"] = draw(seconds(1, 6))
    if not interrupted and draw(st.integers(0, 3)) == 0:
        # The scripted knowledge-base-request reply (used when the assistant has a custom knowledge base).
        knowledge: dict[str, Any] = {"documents": [{"content": draw(sentence()), "similarity": 0.5}]}
        if draw(st.booleans()):
            knowledge["message"] = draw(utterance())
        knowledge["latency"] = draw(seconds(0, 3))
        body["knowledge"] = knowledge
    if interrupted:
        count = len(tokenize(say))
        if count >= 2 and draw(st.booleans()):
            after = f"{draw(st.integers(1, count - 1))} tokens"
        else:
            after = draw(seconds(0, 4))
        body["interrupted"] = {"after": after, "hangup": True} if hangup else {"after": after, "by": draw(utterance())}
    return {"assistant": body}


@st.composite
def tool_step(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"name": draw(st.sampled_from(TOOLS)),
                            "arguments": {"date": draw(st.sampled_from(WORDS))}}
    outcome = draw(st.sampled_from(("json", "text", "error", "status")))
    if outcome == "json":
        body["result"] = {"slots": draw(st.lists(st.sampled_from(("09:00", "10:30", "14:00")), max_size=3))}
    elif outcome == "text":
        body["result"] = draw(utterance())
    elif outcome == "error":
        body["error"] = draw(utterance())
    else:
        body["status"] = draw(st.sampled_from((400, 404, 500, 503)))
    body["latency"] = draw(seconds(0, 9))
    if draw(st.integers(0, 4)) == 0:
        body["hang_after"] = draw(seconds(1, 6))
    return {"tool": body}


@st.composite
def middle_step(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(("user", "user", "assistant", "assistant", "interrupted", "tool", "silence")))
    if kind == "user":
        body: dict[str, Any] = {"say": draw(utterance())}
        if draw(st.booleans()):
            body["after"] = draw(seconds(0, 3))
        if draw(st.integers(0, 3)) == 0:
            body["endpointing"] = draw(seconds(0, 15))  # the scripted call.endpointing.request reply
        if draw(st.integers(0, 5)) == 0:
            body["language"] = draw(st.sampled_from(("es", "fr", "de-DE")))
        return {"user": body}
    if kind == "assistant":
        return draw(assistant_step(interrupted=False, hangup=False))
    if kind == "interrupted":
        return draw(assistant_step(interrupted=True, hangup=False))
    if kind == "tool":
        return draw(tool_step())
    return {"silence": draw(seconds(0, 20))}


@st.composite
def last_step(draw: st.DrawFn) -> list[dict[str, Any]]:
    kind = draw(st.sampled_from(("none", "end", "end-say", "hangup", "transfer", "transfer-ask")))
    if kind == "end":
        return [{"end": draw(st.sampled_from(REASONS))}]
    if kind == "end-say":
        return [{"end": {"reason": draw(st.sampled_from(REASONS)), "say": draw(utterance())}}]
    if kind == "hangup":
        return [draw(assistant_step(interrupted=True, hangup=True))]
    if kind == "transfer":
        return [{"transfer": {"number": "+14155550123", "message": draw(utterance())}}]
    if kind == "transfer-ask":
        return [{"transfer": {}}]  # the destination comes from transfer-destination-request
    return []


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid scenario document (the dict a YAML file would load into)."""
    call_type = draw(st.sampled_from(("webCall", "inboundPhoneCall", "outboundPhoneCall", "vapi.websocketCall")))
    call: dict[str, Any] = {"type": call_type}
    if call_type == "inboundPhoneCall" and draw(st.booleans()):
        call["assistant_request"] = True
    assistant: dict[str, Any] = {
        "name": "Riley",
        "tools": [{"name": name, "parameters": {"date": "string"}, "async": name == ASYNC_TOOL} for name in TOOLS],
    }
    if draw(st.booleans()):
        assistant["system"] = draw(utterance())
    if draw(st.integers(0, 3)):
        assistant["firstMessage"] = draw(utterance())
        assistant["firstMessageMode"] = draw(st.sampled_from((
            "assistant-speaks-first", "assistant-waits-for-user",
            "assistant-speaks-first-with-model-generated-message")))
    if draw(st.booleans()):
        assistant["serverMessages"] = VERBOSE_SERVER
    # The assistant's settings that shape the call (engine/settings.py), often tight enough to act.
    if draw(st.integers(0, 2)) == 0:
        assistant["maxDurationSeconds"] = draw(st.integers(10, 90))
    if draw(st.integers(0, 2)) == 0:
        assistant["silenceTimeoutSeconds"] = draw(st.integers(5, 25))
    if draw(st.integers(0, 3)) == 0:
        assistant["endCallPhrases"] = draw(st.lists(st.sampled_from(WORDS[:12]), min_size=1, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        assistant["endCallMessage"] = draw(utterance())
    if call_type == "outboundPhoneCall" and draw(st.booleans()):
        assistant["voicemailDetection"] = {"provider": "vapi", "beepMaxAwaitSeconds": draw(st.integers(0, 30))}
        assistant["voicemailMessage"] = draw(utterance())
    if draw(st.integers(0, 2)) == 0:
        assistant["server"] = {"url": "https://example.test/hook"}
        assistant["knowledgeBase"] = {"provider": "custom-knowledge-base"}
    if draw(st.integers(0, 2)) == 0:
        assistant["startSpeakingPlan"] = {"smartEndpointingPlan": {"provider": "custom-endpointing-model"}}
    timing = {
        "tokens_per_second": draw(st.integers(5, 120)),
        "first_token_latency": draw(seconds(0, 3)),
        "jitter": draw(st.sampled_from((0, 0.05, 0.15, 0.3))),
        "words_per_minute": draw(st.integers(90, 260)),
        "user_words_per_minute": draw(st.integers(90, 260)),
        "user_pause": draw(seconds(0, 2)),
        "wait_seconds": draw(seconds(0, 1)),
        "voice_latency": draw(seconds(0, 1)),
        "voice_seconds": draw(seconds(0, 1)),
        "backoff_seconds": draw(seconds(0, 2)),
        "hang_after": draw(seconds(1, 8)),
    }
    steps = draw(st.lists(middle_step(), min_size=1, max_size=8)) + draw(last_step())
    speaks_first = assistant.get("firstMessage") and assistant["firstMessageMode"] != "assistant-waits-for-user"
    if speaks_first and draw(st.integers(0, 2)) == 0:
        # The user talks over the first message; it stops there only if the setting allows it.
        assistant["firstMessageInterruptionsEnabled"] = draw(st.booleans())
        steps.insert(0, {"user": {"say": draw(utterance()), "barge_in": draw(seconds(0, 4))}})
    return {"version": 1, "name": "random", "seed": draw(st.integers(0, 2**31)), "call": call,
            "assistant": assistant, "timing": timing, "steps": steps}


MEMBERS = ("Reception", "Billing", "Support")
PLANS = ({"type": "all"}, {"type": "none"}, {"type": "lastNMessages", "maxMessages": 0},
         {"type": "lastNMessages", "maxMessages": 3})


@st.composite
def squad_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid squad scenario: members with their own settings, and handoffs of every kind (static
    through the handoff tool or transferCall, dynamic with a scripted reply that hands off, refuses, or
    names no member) between the other steps."""
    document = draw(scenarios())
    base = document.pop("assistant")
    for step in document["steps"]:
        # A barge-in belongs on the first step; handoffs put steps before it (barge-in has its own test).
        if isinstance(step.get("user"), dict):
            step["user"].pop("barge_in", None)
    names = MEMBERS[: draw(st.integers(2, 3))]
    members = []
    for name in names:
        assistant = {**base, "name": name}
        if draw(st.booleans()):
            assistant["system"] = draw(utterance())
        if draw(st.booleans()):
            assistant["firstMessage"] = draw(utterance())
            assistant["firstMessageMode"] = draw(st.sampled_from((
                "assistant-speaks-first", "assistant-waits-for-user",
                "assistant-speaks-first-with-model-generated-message")))
        else:
            assistant.pop("firstMessage", None)
        if draw(st.booleans()):
            assistant["serverMessages"] = VERBOSE_SERVER + ["handoff-destination-request"]
        destinations = [{"assistantName": other, "contextEngineeringPlan": draw(st.sampled_from(PLANS)),
                         **({"message": draw(utterance())} if draw(st.booleans()) else {})}
                        for other in names if other != name]
        members.append({"assistant": assistant, "assistantDestinations": destinations})
    document["squad"] = {"members": members}
    steps: list[dict[str, Any]] = document["steps"]
    active = names[0]
    out: list[dict[str, Any]] = []
    for step in steps:
        if "end" not in step and "transfer" not in step and draw(st.integers(0, 2)) == 0:
            target = draw(st.sampled_from([n for n in names if n != active]))
            how = draw(st.sampled_from(("static", "transferCall", "dynamic", "refused", "invalid")))
            out.append({"user": {"say": draw(utterance())}})  # something said between handoffs: no cycle
            if how == "static":
                out.append({"handoff": target})
            elif how == "transferCall":
                out.append({"handoff": {"to": target, "via": "transferCall"}})
            elif how == "dynamic":
                out.append({"handoff": {"reply": target, "latency": draw(seconds(0, 9))}})
            elif how == "refused":
                out.append({"handoff": {"reply": {"error": draw(utterance())}}})
            else:
                out.append({"handoff": {"reply": {"destination": {"type": "assistant", "assistantName": "Nobody"}}}})
            if how in ("static", "transferCall", "dynamic"):
                active = target
        out.append(step)
    document["steps"] = out
    return document


def squad_scenario(document: dict[str, Any]) -> Scenario:
    scenario = Scenario.model_validate(document)
    assert squad_problems(scenario, scenario.model_fields_set) == []  # what the loader would check
    return scenario


@SETTINGS
@given(squad_scenarios(), st.integers(0, 2**31))
def test_random_squads_satisfy_the_invariants(document: dict[str, Any], seed: int) -> None:
    scenario = squad_scenario(document)
    timeline = simulate(scenario, seed=seed)
    violations = check_invariants(timeline, hang_after=hang_threshold(scenario))
    assert violations == [], "\n".join(violations[:20])
    # The report names every member that took the call, in order, and each handoff's member carries on.
    report = next(m for _, m in timeline.messages() if m["type"] == "end-of-call-report")
    activations = [a["assistantName"] for a in report["artifact"]["assistantActivations"]]
    carried = [m["assistant"]["name"] for _, m in timeline.messages() if "assistant" in m]
    assert activations[0] == MEMBERS[0]
    assert [n for i, n in enumerate(carried) if i == 0 or carried[i - 1] != n] == activations


@SETTINGS
@given(squad_scenarios(), st.integers(0, 2**31))
def test_random_squads_are_deterministic(document: dict[str, Any], seed: int) -> None:
    scenario = squad_scenario(document)
    first, second = simulate(scenario, seed=seed), simulate(scenario, seed=seed)
    for side in ("server", "client"):
        assert first.jsonl(side=side) == second.jsonl(side=side)


@SETTINGS
@given(scenarios(), st.integers(0, 2**31))
def test_random_scenarios_satisfy_the_invariants(document: dict[str, Any], seed: int) -> None:
    scenario = Scenario.model_validate(document)
    timeline = simulate(scenario, seed=seed)
    violations = check_invariants(timeline, hang_after=hang_threshold(scenario))
    assert violations == [], "\n".join(violations[:20])


@SETTINGS
@given(scenarios(), st.integers(0, 2**31))
def test_simulation_is_deterministic(document: dict[str, Any], seed: int) -> None:
    scenario = Scenario.model_validate(document)
    first, second = simulate(scenario, seed=seed), simulate(scenario, seed=seed)
    for side in ("server", "client"):
        assert first.jsonl(side=side) == second.jsonl(side=side)
    assert first.jsonl(profile="spec") == second.jsonl(profile="spec")


@SETTINGS
@given(scenarios(), st.integers(0, 2**31))
def test_another_seed_keeps_the_structure(document: dict[str, Any], seed: int) -> None:
    # Generated texts embed no faker values, so only ids, names and jitter may change with the seed.
    # Without jitter: random timings put events within a few ms of each other, where jitter may
    # legitimately reorder them (a partial transcript just before or after a token).
    document["timing"]["jitter"] = 0
    scenario = Scenario.model_validate(document)
    one, other = simulate(scenario, seed=seed), simulate(scenario, seed=seed + 1)
    for side in ("server", "client"):
        assert structure(one.messages(side=side)) == structure(other.messages(side=side))


LIVE_CONTROLS = st.sampled_from([
    {"type": "end-call"},
    {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": True},
    {"type": "say", "content": "Calls may be recorded."},
    {"type": "say", "content": "Goodbye for now.", "endCallAfterSpoken": True},
    {"type": "add-message", "message": {"role": "system", "content": "Be brief."}, "triggerResponseEnabled": True},
    # mute-assistant is left out: a muted answer after a `hang` shows a server without model-output
    # nothing more, which the hang invariant reads as a stalled call (tested in tests/transports).
    {"type": "transfer", "destination": {"type": "number", "number": "+14155550100"}},
])


async def _run_while_sending(player: CallPlayer, sending: Coroutine[Any, Any, None]) -> Any:
    """Play the call while `sending` sends its controls; the sender stops with the call."""
    sender = asyncio.ensure_future(sending)
    try:
        return await player.run()
    finally:
        sender.cancel()


def _play_sending_at(scenario: Scenario, seconds_in: float, *controls: dict[str, Any]) -> Any:
    """Play on a virtual clock against a server taking 10 s to answer, sending `controls` `seconds_in` into
    the call (seed 0)."""

    async def play() -> Any:
        clock = VirtualClock(io_speed=1e-3)
        player = CallPlayer(scenario, clock=clock, seed=0, server=SlowReplies(clock, 10.0))

        async def send() -> None:
            await player.started.wait()
            assert player.started_at is not None
            await clock.sleep_until(player.started_at + seconds_in)
            for control in controls:
                player.control(control)

        return await _run_while_sending(player, send())

    return asyncio.run(play())


def _assert_invariants(timeline: Any, scenario: Scenario, controls: Sequence[object]) -> None:
    violations = check_invariants(timeline, hang_after=hang_threshold(scenario))
    assert violations == [], "\n".join(violations[:20]) + f"\ncontrols: {controls}"


def _assert_invariants_with_controls(scenario: Scenario, seed: int, controls: list[tuple[dict[str, Any], int]]) -> None:
    """Simulate with `controls` given before driving (each acts at its arrival) and check the invariants."""
    sim = CallSimulation(scenario, seed=seed)
    for message, at_ms in sorted(controls, key=lambda c: c[1]):
        sim.control(message, at_ms / 1000)
    _assert_invariants(drive(sim), scenario, controls)


@SETTINGS
@given(scenarios(), st.integers(0, 2**31), st.lists(st.tuples(LIVE_CONTROLS, st.integers(0, 30_000)), max_size=3))
def test_live_controls_at_any_moment_keep_the_invariants(
    document: dict[str, Any], seed: int, controls: list[tuple[dict[str, Any], int]]
) -> None:
    """Live controls arriving at any moment (sim.control before driving: each acts at its arrival)."""
    scenario = Scenario.model_validate(document)
    _assert_invariants_with_controls(scenario, seed, controls)


@SETTINGS
@given(squad_scenarios(), st.integers(0, 2**31), st.lists(st.tuples(LIVE_CONTROLS, st.integers(0, 30_000)), max_size=3))
def test_live_controls_during_a_squads_call_keep_the_invariants(
    document: dict[str, Any], seed: int, controls: list[tuple[dict[str, Any], int]]
) -> None:
    """Live controls arriving before, during or after a handoff act on the member active then."""
    scenario = squad_scenario(document)
    _assert_invariants_with_controls(scenario, seed, controls)


@SETTINGS
@given(scenarios(), st.integers(0, 2**31), st.lists(st.tuples(LIVE_CONTROLS, st.integers(0, 30_000)), max_size=3))
def test_live_controls_through_the_player_keep_the_invariants(
    document: dict[str, Any], seed: int, controls: list[tuple[dict[str, Any], int]]
) -> None:
    """Live controls sent while the player plays on a virtual clock: each arrives while the player waits
    for an event (which it then gives back, `Retract`) or between events, as from a websocket."""
    scenario = Scenario.model_validate(document)

    async def play() -> Any:
        clock = VirtualClock()
        player = CallPlayer(scenario, clock=clock, seed=seed)

        async def send() -> None:
            await player.started.wait()
            base = player.started_at
            assert base is not None
            for message, at_ms in sorted(controls, key=lambda c: c[1]):
                await clock.sleep_until(base + at_ms / 1000)
                if not player.control(message):
                    return

        return await _run_while_sending(player, send())

    _assert_invariants(asyncio.run(play()), scenario, controls)


class SlowReplies:
    """A server that answers every request the call waits on (tool-calls, assistant-request, ...) after
    `delay` seconds of the call's clock, with nothing (the call uses its scripted reply)."""

    def __init__(self, clock: VirtualClock, delay: float) -> None:
        self.clock = clock
        self.delay = delay
        self.asked = asyncio.Event()  # set for each request the call waits on

    def submit(self, outgoing: Outgoing) -> Awaitable[Reply | None]:
        return self._answer(outgoing.kind != "message")

    async def _answer(self, asked: bool) -> Reply | None:
        if asked:
            self.asked.set()
            await self.clock.sleep(self.delay)
        return None

    async def drain(self) -> None:
        return None


@SETTINGS
@given(scenarios(), st.integers(0, 2**31),
       st.lists(st.tuples(LIVE_CONTROLS, st.integers(0, 30_000), st.booleans()), max_size=3))
def test_live_controls_while_the_player_waits_for_replies_keep_the_invariants(
    document: dict[str, Any], seed: int, controls: list[tuple[dict[str, Any], int, bool]]
) -> None:
    """As above, with a server that takes 10 s to answer what the call waits on. An end-call or transfer
    marked True is sent that many ms (modulo 10 s) after the next request the call waits on, so it arrives
    during the wait and acts at once; the others at their time."""
    scenario = Scenario.model_validate(document)

    async def play() -> Any:
        # io_speed: the hang threshold is real time while the 10 s pass in none; a loaded machine must not
        # reach it (a reply that is nothing then answers as scripted, before the `hang`).
        clock = VirtualClock(io_speed=1e-3)
        server = SlowReplies(clock, 10.0)
        player = CallPlayer(scenario, clock=clock, seed=seed, server=server)

        async def send() -> None:
            await player.started.wait()
            base = player.started_at
            assert base is not None
            for message, at_ms, in_wait in controls:
                # Only the controls that act at once during a wait are aimed at one: a say or add-message
                # that arrives during a wait acts once the reply is in (docs/fidelity.md).
                if in_wait and message["type"] in ("end-call", "transfer"):
                    server.asked.clear()
                    await server.asked.wait()
                    await clock.sleep(at_ms % 10_000 / 1000)
                else:
                    await clock.sleep_until(base + at_ms / 1000)
                if not player.control(message):
                    return

        return await _run_while_sending(player, send())

    _assert_invariants(asyncio.run(play()), scenario, controls)


def test_a_live_transfer_just_after_a_hang_ends_the_call_and_keeps_the_invariants() -> None:
    # Found by a 3,000-example hunt: the transfer forwards the call 1 ms after the `hang`, so nothing but
    # the end follows it, which is right (the call ends as assistant-forwarded-call, not stalled).
    from mockvapi.library import resolve

    scenario = resolve("slow-tool-hang").scenario
    hang_at = next(at for at, m in simulate(scenario, seed=1).messages(side="server") if m["type"] == "hang")
    transfer = {"type": "transfer", "destination": {"type": "number", "number": "+14155550100"}}
    sim = CallSimulation(scenario, seed=1)
    sim.control(transfer, hang_at + 0.001)
    timeline = drive(sim)
    ended = [m for _, m in timeline.messages(side="server") if m["type"] == "status-update" and m["status"] == "ended"]
    assert [m["endedReason"] for m in ended] == ["assistant-forwarded-call"]
    types = [m["type"] for _, m in timeline.messages(side="server")]
    assert types[types.index("hang"):] == ["hang", "status-update", "status-update", "end-of-call-report"]
    _assert_invariants(timeline, scenario, [transfer])


SAID_OVER_AFTER_A_WAITING_ADD_MESSAGE = {
    "version": 1, "name": "said-over", "seed": 0,
    "assistant": {"name": "Riley", "firstMessage": "Sure."},
    "timing": {"tokens_per_second": 5.0, "first_token_latency": 0.0, "jitter": 0.0, "words_per_minute": 90.0,
               "user_words_per_minute": 90.0, "user_pause": 0.0, "wait_seconds": 0.0, "voice_latency": 0.04,
               "voice_seconds": 0.0, "backoff_seconds": 0.0, "hang_after": 1.0, "ring": 3.0, "report_delay": 2.0},
    "steps": [
        {"user": {"say": "Sure.", "barge_in": 0.0}},
        {"user": {"say": "Sure.", "endpointing": 0.0, "language": "es"}},
        {"assistant": {"say": "Sure sure."}},
        {"user": {"say": "Sure.", "endpointing": 0.0}},
        {"assistant": {"say": "Sure.", "interrupted": {"after": "0ms", "by": "Sure."}}},
    ],
}


def test_a_say_cutting_the_assistant_after_a_waiting_add_message_keeps_the_invariants() -> None:
    # Found by a 1,500-example hunt: a say that cuts the assistant as it begins, and an add-message right after
    # it, which waits for the turn's end the cut brings. History then holds the cut item, the added system
    # message, the said line; the invariant read the cut as an uninterrupted turn whose tokens went unsaid.
    scenario = Scenario.model_validate(SAID_OVER_AFTER_A_WAITING_ADD_MESSAGE)
    add = {"type": "add-message", "message": {"role": "system", "content": "Be brief."}, "triggerResponseEnabled": True}
    say = {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": True}
    # The assistant begins "Sure sure." then (a simulation without controls; the player plays it alike).
    begins = [at for at, m in simulate(scenario, seed=0).messages(side="client")
              if m["type"] == "speech-update" and m["role"] == "assistant" and m["status"] == "started"][1]

    timeline = _play_sending_at(scenario, begins + 0.05, say, add)
    roles = [(item["role"], item.get("message")) for item in timeline.history]
    cut = roles.index(("bot", "Sure"))
    assert roles[cut:cut + 3] == [("bot", "Sure"), ("system", "Be brief."), ("bot", "One moment, please.")]
    _assert_invariants(timeline, scenario, [say, add])


@pytest.mark.parametrize("voice_latency", [0.0, 0.081])
def test_a_say_cutting_the_first_message_as_the_customer_barges_in_keeps_the_invariants(voice_latency: float) -> None:
    # Found by 1,500- and 3,000-example hunts: a say queued at once cuts the generated first message as it
    # begins, just as the customer starts talking over it; the customer's words began first, so history holds
    # the cut item, the customer's item, then the said line (its words begin 20 ms + the voice latency after
    # the cut, while the customer still talks).
    scenario = Scenario.model_validate({
        "version": 1, "name": "said-over-barge-in", "seed": 0,
        "assistant": {"name": "Riley", "firstMessage": "Sure sure.", "system": "Sure.",
                      "firstMessageMode": "assistant-speaks-first-with-model-generated-message",
                      "firstMessageInterruptionsEnabled": False},
        "timing": {"tokens_per_second": 5.0, "first_token_latency": 0.0, "jitter": 0.0, "words_per_minute": 90.0,
                   "user_words_per_minute": 90.0, "user_pause": 0.0, "wait_seconds": 0.0,
                   "voice_latency": voice_latency, "voice_seconds": 0.0, "hang_after": 1.0, "ring": 3.0},
        "steps": [{"user": {"say": "Sure.", "barge_in": 0.0}},
                  {"assistant": {"say": "Sure.", "interrupted": {"after": "0ms", "by": "Sure."}}}],
    })
    say = {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": True}
    sim = CallSimulation(scenario, seed=0)
    sim.control(say, 0)
    timeline = drive(sim)
    roles = [(item["role"], item.get("message")) for item in timeline.history]
    assert roles[1:4] == [("bot", "Sure"), ("user", "Sure."), ("bot", "One moment, please.")]
    _assert_invariants(timeline, scenario, [say])


def test_a_say_and_an_end_call_arriving_together_close_the_assistant_speech_before_the_end() -> None:
    # Found by 3,000-example hunts: the say cuts the utterance (its stop planned, not yet sent) and the end-call
    # that arrives with it dropped everything planned, that stop too: the call ended with the speech open.
    from mockvapi.library import resolve

    scenario = resolve("happy-path").scenario
    speaking = [at for at, m in simulate(scenario, seed=1).messages(side="client")
                if m["type"] == "speech-update" and m["role"] == "assistant" and m["status"] == "started"][1]
    say = {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": True}

    async def play() -> Any:
        clock = VirtualClock()
        player = CallPlayer(scenario, clock=clock, seed=1)

        async def send() -> None:
            await player.started.wait()
            assert player.started_at is not None
            await clock.sleep_until(player.started_at + speaking + 0.3)
            player.control(say)
            player.control({"type": "end-call"})

        return await _run_while_sending(player, send())

    timeline = asyncio.run(play())
    assistant = [m["status"] for _, m in timeline.messages(side="server")
                 if m["type"] == "speech-update" and m["role"] == "assistant"]
    assert assistant[-2:] == ["started", "stopped"]
    assert timeline.ended_reason == "customer-ended-call"
    _assert_invariants(timeline, scenario, [say, {"type": "end-call"}])


SAY_AFTER_A_TURN_WITH_AN_ANSWER_PLANNED = {
    "version": 1, "name": "random", "seed": 0, "call": {"type": "webCall", "customer": {}},
    "assistant": {
        "name": "Riley", "firstMessage": "Sure.", "model": "gpt-4o", "maxDurationSeconds": 17.0,
        "tools": [{"name": "check_availability", "parameters": {"date": "string"}},
                  {"name": "book_slot", "parameters": {"date": "string"}},
                  {"name": "lookup_order", "parameters": {"date": "string"}},
                  {"name": "log_call", "parameters": {"date": "string"}, "async_": True}],
        "startSpeakingPlan": {"smartEndpointingPlan": {"provider": "custom-endpointing-model"}},
    },
    "timing": {"tokens_per_second": 5.0, "first_token_latency": 0.096, "jitter": 0.0, "words_per_minute": 90.0,
               "user_words_per_minute": 124.0, "user_pause": 0.0, "wait_seconds": 0.155, "voice_latency": 1.0,
               "voice_seconds": 0.001, "backoff_seconds": 0.008, "hang_after": 1.017},
    "steps": [
        {"user": {"say": "Sure sure sure sure sure sure sure.", "barge_in": 0.0}},
        {"assistant": {"say": "Let sure let?", "delay": 0.461}},
        {"silence": {"duration": 4.275}},
        {"assistant": {"say": "Sure.", "knowledge": {"documents": [{"content": "sure.", "similarity": 0.5}]},
                       "delay": 1.395}},
        {"user": {"say": "Sure.", "endpointing": 0.0, "language": "es"}},
    ],
}


def test_a_say_does_not_overtake_an_answer_planned_that_the_calls_end_cuts_short() -> None:
    # Found by a 3,000-example hunt: a say arriving just after a turn, with the next answer already planned
    # (its speech turn numbered) but cut short by the max duration (so it announces no history), was said at
    # once as the next turn; the planned answer then began with a lower turn number than the say's.
    scenario = Scenario.model_validate(SAY_AFTER_A_TURN_WITH_AN_ANSWER_PLANNED)
    say = {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": True}

    timeline = _play_sending_at(scenario, 9.969, say)
    turns = [m["turn"] for _, m in timeline.messages(side="client")
             if m["type"] == "speech-update" and m["role"] == "assistant" and m["status"] == "started"]
    assert turns == sorted(turns) and len(set(turns)) == len(turns)
    _assert_invariants(timeline, scenario, [say])


def _answer_past_the_deadline(delay: float) -> Scenario:
    """A call whose second answer the max duration (10 s) cuts: with `delay` 6.386 its speech-update started
    falls on the deadline itself (no word is said), with 6.387 after it (nothing of it goes out); either way
    its model is late enough for a `hang` 1 s after the first message ends."""
    return Scenario.model_validate({
        "version": 1, "name": "answer-past-the-deadline", "seed": 0, "call": {"type": "webCall", "customer": {}},
        "assistant": {"name": "Riley", "firstMessage": "Sure sure sure sure.", "model": "gpt-4o",
                      "maxDurationSeconds": 10.0},
        "timing": {"tokens_per_second": 5.0, "first_token_latency": 0.0, "jitter": 0.0, "words_per_minute": 253.0,
                   "voice_latency": 0.0, "hang_after": 1.0},
        "steps": [{"silence": {"duration": 2.0}}, {"assistant": {"say": "Sure.", "delay": delay}}],
    })


@pytest.mark.parametrize("delay", [6.386, 6.387])
@pytest.mark.parametrize("say_at", [3.0, 5.0, 7.0])
def test_a_say_waits_for_an_answer_the_max_duration_cuts_before_its_first_word(delay: float, say_at: float) -> None:
    # Found by a 3,000-example hunt (a knowledge-base reply that came late): a say arriving while the model
    # worked on an answer whose first word the max duration cuts was said at once, ahead of it: with the
    # answer's speech-update started on the deadline the say took the next turn number and that speech-update
    # went out after it with a lower one; with nothing of the answer going out, the `hang` still planned went
    # out just after the say's words. A say now waits while the model is answering (tokens or a hang to come),
    # and cutting an utterance that has no word yet commits nothing to history.
    scenario = _answer_past_the_deadline(delay)
    say = {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": True}
    sim = CallSimulation(scenario, seed=0)
    sim.control(say, say_at)
    timeline = drive(sim)
    _assert_invariants(timeline, scenario, [say])
    history = [(item["role"], item.get("message")) for item in timeline.history]
    assert ("bot", "Sure.") not in history  # no word of the cut answer was said


def _slow_tool(latency: float) -> Scenario:
    """The assistant's first move is a tool call whose server answers after `latency` s (threshold 1.828 s)."""
    return Scenario.model_validate({
        "version": 1, "name": "slow-tool", "seed": 0, "call": {"type": "outboundPhoneCall", "customer": {}},
        "assistant": {"name": "Riley", "model": "gpt-4o", "firstMessageMode": "assistant-speaks-first",
                      "tools": [{"name": "check_availability", "parameters": {"date": "string"}}]},
        "timing": {"tokens_per_second": 5.0, "first_token_latency": 0.0, "jitter": 0.0, "words_per_minute": 238.0,
                   "voice_latency": 0.0, "hang_after": 1.828, "ring": 3.0},
        "steps": [{"tool": {"name": "check_availability", "arguments": {"date": "sure"},
                            "result": {"slots": []}, "latency": latency}}],
    })


@pytest.mark.parametrize("latency", [1.829, 3.0])
@pytest.mark.parametrize("interrupting", [True, False])
def test_a_say_arriving_while_a_slow_tool_keeps_the_model_silent_is_said_after_the_hang(
        latency: float, interrupting: bool) -> None:
    # Found by a 1,500-example hunt (seed 7106): a say arriving while the call waited for a tool's reply slower
    # than the hang threshold was fitted into the silence before the `hang`, which then came ~1 s after the
    # said line instead of the threshold after the last progress. A line said there would break the silence
    # that makes the hang due, so the say now waits for the hang (as the player already said it once the
    # reply was in); a reply quick enough for no hang still leaves the say its place at its arrival.
    scenario = _slow_tool(latency)
    asked = next(at for at, m in simulate(scenario, seed=0).messages(side="server") if m["type"] == "tool-calls")
    say = {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": interrupting}
    sim = CallSimulation(scenario, seed=0)
    sim.control(say, asked - 0.019)
    timeline = drive(sim)
    _assert_invariants(timeline, scenario, [say])
    order = [m["type"] for _, m in timeline.messages(side="server")
             if m["type"] in ("hang", "tool-calls", "speech-update")]
    assert order.index("hang") < order.index("speech-update")


def test_a_say_arriving_while_a_quick_tool_is_out_is_said_at_its_arrival() -> None:
    scenario = _slow_tool(1.5)  # under the threshold: no hang, the wait is a plain silence
    asked = next(at for at, m in simulate(scenario, seed=0).messages(side="server") if m["type"] == "tool-calls")
    say = {"type": "say", "content": "One."}
    sim = CallSimulation(scenario, seed=0)
    sim.control(say, asked)
    timeline = drive(sim)
    _assert_invariants(timeline, scenario, [say])
    said = next(at for at, m in timeline.messages(side="client") if m["type"] == "speech-update")
    result = next(at for at, m in timeline.messages(side="client") if m["type"] == "tool-calls-result")
    assert said < result


@pytest.mark.parametrize("words", ["Okay.", "Okay, let me check that for you right now."])
def test_an_end_call_arriving_as_an_utterances_final_transcript_is_due_transcribes_its_words_once(words: str) -> None:
    # Found by a 1,500-example hunt (seed 7109, a squad's call): an end-call arriving on the very millisecond of
    # the assistant's planned final transcript stopped the utterance (a final for every word said by then) and
    # still sent the planned final, due "by the end": the last words were transcribed twice.
    scenario = Scenario.model_validate({
        "version": 1, "name": "end-on-the-final", "seed": 0, "call": {"type": "webCall", "customer": {}},
        "assistant": {"name": "Riley", "model": "gpt-4o"},
        "timing": {"jitter": 0.0, "voice_latency": 0.0},
        "steps": [{"user": {"say": "Hello?"}}, {"assistant": {"say": words}}, {"user": {"say": "Thanks."}}],
    })
    finals = [at for at, m in simulate(scenario, seed=0).messages(side="client")
              if m["type"] == "transcript" and m["role"] == "assistant" and m["transcriptType"] == "final"]
    end = {"type": "end-call"}
    sim = CallSimulation(scenario, seed=0)
    sim.control(end, finals[-1])
    timeline = drive(sim)
    _assert_invariants(timeline, scenario, [end])
    said = [m["transcript"] for _, m in timeline.messages(side="client")
            if m["type"] == "transcript" and m["role"] == "assistant" and m["transcriptType"] == "final"]
    assert " ".join(said) == words


def test_a_say_cutting_the_first_message_as_it_starts_while_the_customer_barges_in_keeps_the_invariants() -> None:
    # Found by a 1,500-example hunt (seed 7114): an interrupting say cut the model-generated first message the
    # moment its speech started, the customer barged in a millisecond later, and the said line began exactly as
    # the customer's words ended (their history item's endTime). The checker took a said line beginning *at*
    # that end for an answer to the customer, and the cut turn for an uninterrupted one; an answer begins only
    # after endpointing and the model, so it now takes a line beginning no later than that end as said over.
    scenario = Scenario.model_validate({
        "version": 1, "name": "said-over-a-barge-in", "seed": 0, "call": {"type": "outboundPhoneCall", "customer": {}},
        "assistant": {"name": "Riley", "firstMessage": "Let sure.", "system": "Sure.", "model": "gpt-4o",
                      "firstMessageMode": "assistant-speaks-first-with-model-generated-message",
                      "firstMessageInterruptionsEnabled": True},
        "timing": {"tokens_per_second": 5.0, "first_token_latency": 0.0, "jitter": 0.0, "words_per_minute": 90.0,
                   "user_words_per_minute": 90.0, "user_pause": 0.0, "voice_latency": 0.648, "hang_after": 1.0,
                   "ring": 3.0},
        "steps": [{"user": {"say": "Sure.", "barge_in": 0.0}}, {"user": {"say": "Sure.", "endpointing": 0.0}},
                  {"assistant": {"say": "Sure.", "interrupted": {"after": "0ms", "by": "Sure."}}}],
    })
    say = {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": True}
    sim = CallSimulation(scenario, seed=0)
    sim.control(say, 0.0)
    timeline = drive(sim)
    _assert_invariants(timeline, scenario, [say])
    history = [(h["role"], h.get("message")) for h in timeline.history]
    assert history[1:4] == [("bot", "Let"), ("user", "Sure."), ("bot", "One moment, please.")]


def test_a_say_and_end_past_the_max_duration_closes_the_customers_speech_at_the_deadline() -> None:
    # Found by a 1,500-example hunt (seed 7115): a say with endCallAfterSpoken arriving while the customer
    # talked, too late to be over before maxDurationSeconds, closed the customer's speech after its line
    # (200 ms after it), past the deadline, where nothing is sent: the call ended at the deadline with the
    # customer's speech still open.
    scenario = _customer_talking_past_the_deadline()
    last_turn = [at for at, m in simulate(scenario, seed=0).messages(side="server")
                 if m["type"] == "speech-update" and m["role"] == "user" and m["status"] == "started"][-1]
    assert last_turn < 9.0
    control = {"type": "say", "content": "Goodbye for now.", "endCallAfterSpoken": True}
    sim = CallSimulation(scenario, seed=0)
    sim.control(control, 9.5)
    timeline = drive(sim)
    _assert_invariants(timeline, scenario, [control])
    messages = timeline.messages(side="server")
    ended = next(at for at, m in messages if m["type"] == "status-update" and m["status"] == "ended")
    stopped = [at for at, m in messages if m["type"] == "speech-update" and m["role"] == "user"
               and m["status"] == "stopped"]
    assert timeline.ended_reason == "exceeded-max-duration" and stopped[-1] == ended


def _customer_talking_past_the_deadline() -> Scenario:
    """Three short customer turns, then a long one that the max duration (10 s) cuts: its plan runs past the
    deadline while it is still under way."""
    return Scenario.model_validate({
        "version": 1, "name": "talking-past-the-deadline", "seed": 0, "call": {"type": "webCall", "customer": {}},
        "assistant": {"name": "Riley", "model": "gpt-4o", "maxDurationSeconds": 10.0},
        "timing": {"jitter": 0.0, "user_pause": 0.0, "voice_latency": 0.0, "hang_after": 1.0},
        "steps": [{"user": {"say": "Sure.", "endpointing": 0.0}}, {"user": {"say": "Sure sure.", "endpointing": 0.0}},
                  {"user": {"say": "Sure sure.", "endpointing": 0.0}},
                  {"user": {"say": " ".join(["sure"] * 30) + ".", "endpointing": 0.0}}],
    })


@pytest.mark.parametrize("control", [
    {"type": "end-call"},
    {"type": "say", "content": "Goodbye for now.", "endCallAfterSpoken": True},
])
def test_a_control_ending_the_call_before_the_deadline_ends_it_then_while_the_plan_ran_past_it(
        control: dict[str, Any]) -> None:
    # Found by a 1,500-example hunt: the customer's last turn was planned past the max-duration deadline, which
    # marked the call as overrunning; an end-call (or a say that ends the call) arriving mid-turn abandons that
    # plan, yet the call still ended at the deadline as exceeded-max-duration, and after a say-and-end the
    # customer's speech was left open.
    scenario = _customer_talking_past_the_deadline()
    last_turn = [at for at, m in simulate(scenario, seed=0).messages(side="server")
                 if m["type"] == "speech-update" and m["role"] == "user" and m["status"] == "started"][-1]
    sim = CallSimulation(scenario, seed=0)
    sim.control(control, last_turn + 0.1)
    timeline = drive(sim)
    _assert_invariants(timeline, scenario, [control])
    ended = [(at, m["endedReason"]) for at, m in timeline.messages(side="server")
             if m["type"] == "status-update" and m["status"] == "ended"]
    assert len(ended) == 1 and ended[0][0] < 10.0
    assert ended[0][1] != "exceeded-max-duration"
