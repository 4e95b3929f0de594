"""The assistant's settings shape the call (engine/settings.py, engine/endings.py): each setting through
the simulator, from the scenario and from an assistant the server returns, and through a real webhook
on 127.0.0.1 (port 0)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi import conformance
from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.events import Ask, Reply
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer
from mockvapi.engine.settings import CallSettings, read_settings, said_end_call_phrase
from mockvapi.engine.simulator import CallSimulation, simulate
from mockvapi.engine.timeline import Timeline
from mockvapi.errors import ScenarioError
from mockvapi.library import resolve
from mockvapi.models.enums import ENDED_REASONS
from mockvapi.scenario.loader import load_text
from mockvapi.transports.webhook import TargetPool, WebhookSink

from .invariants import check_invariants

Wire = dict[str, Any]

BASE = """
version: 1
name: settings
seed: 5
call:
  type: {call_type}
  customer: {{number: "+14155550123"}}
assistant:
  name: Sky
  firstMessage: "Hi, this is Sky from Lakeside Dental."
  serverMessages: [conversation-update, model-output, speech-update, transcript, status-update,
                   end-of-call-report, user-interrupted, tool-calls]
{settings}
steps:
{steps}
"""


def scenario(settings: str, steps: str, call_type: str = "webCall") -> str:
    indent = "\n".join(f"  {line}" for line in settings.strip().splitlines()) if settings.strip() else ""
    body = "\n".join(f"  {line}" for line in steps.strip().splitlines())
    return BASE.format(call_type=call_type, settings=indent, steps=body)


def play(text: str, seed: int | None = None) -> Timeline:
    timeline = simulate(load_text(text), seed=seed)
    violations = check_invariants(timeline)
    assert violations == [], "\n".join(violations[:10])
    return timeline


def server(timeline: Timeline) -> list[tuple[float, Wire]]:
    return list(timeline.messages(side="server"))


def bots(timeline: Timeline) -> list[str]:
    return [str(h["message"]) for h in timeline.history if h["role"] == "bot"]


def ended_at(timeline: Timeline) -> float:
    return next(at for at, m in server(timeline) if m["type"] == "status-update" and m["status"] == "ended")


def started_at(timeline: Timeline) -> float:
    return next(at for at, m in server(timeline) if m["type"] == "status-update" and m["status"] == "in-progress")


LONG = (
    "I'm sorry about the wait. I'll pass that on to the front desk. Could you also tell me how easy it "
    "was to book the appointment online, and whether the reminder text arrived in time?"
)

# -- reading the settings ----------------------------------------------------------------------


def test_defaults_come_from_the_spec() -> None:
    problems: list[str] = []
    assert read_settings({}, {}, problems.append) == CallSettings(
        max_duration=600, silence_timeout=30, first_message_mode="assistant-speaks-first",
        first_message_interruptions=False, end_call_phrases=(), end_call_message=None, voicemail_message=None,
        voicemail_detection=False, beep_max_await=30,
    )
    assert problems == []


def test_a_returned_assistant_out_of_range_keeps_the_default_and_says_why() -> None:
    problems: list[str] = []
    got = read_settings(
        {"maxDurationSeconds": 5, "silenceTimeoutSeconds": "long", "firstMessageMode": "talk",
         "endCallPhrases": ["x", "bye now"], "voicemailDetection": {"provider": "vapi", "beepMaxAwaitSeconds": 99}},
        {}, problems.append,
    )
    assert (got.max_duration, got.silence_timeout, got.first_message_mode) == (600, 30, "assistant-speaks-first")
    assert got.end_call_phrases == ("bye now",) and got.voicemail_detection and got.beep_max_await == 30
    assert problems == [
        "assistant.firstMessageMode 'talk' is not one of assistant-speaks-first, "
        "assistant-speaks-first-with-model-generated-message, assistant-waits-for-user",
        "assistant.endCallPhrases must be a list of 2-140 character strings; the others are ignored",
        "assistant.maxDurationSeconds 5 is outside 10..43200; Vapi's default 600 is used",
        "assistant.silenceTimeoutSeconds must be a number, got 'long'; Vapi's default 30 is used",
        "assistant.beepMaxAwaitSeconds 99 is outside 0..30; Vapi's default 30 is used",
    ]


def test_voicemail_detection_is_off_unless_a_provider_is_set() -> None:
    for value in (None, "off", {"provider": "twilio", "enabled": False}, {"provider": "nobody"}):
        assert not read_settings({"voicemailDetection": value}, {}, print).voicemail_detection


def test_end_call_phrases_match_case_and_spacing_insensitively() -> None:
    assert said_end_call_phrase("OK.  Have a GREAT day!", ("have a great  day",)) == "have a great  day"
    assert said_end_call_phrase("Have a good day", ("have a great day",)) is None


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("maxDurationSeconds: 9", "greater than or equal to 10"),
        ("silenceTimeoutSeconds: 4000", "less than or equal to 3600"),
        ("endCallPhrases: [x]", "at least 2 characters"),
        ("voicemailDetection: {provider: acme}", "Input should be 'vapi', 'google', 'openai' or 'twilio'"),
    ],
)
def test_a_scenario_setting_out_of_the_spec_range_is_a_scenario_error(settings: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as error:
        load_text(scenario(settings, '- user: "Hi."'))
    assert expected in str(error.value)
    assert str(error.value).startswith("<string>:13:")  # the setting's line


# -- maxDurationSeconds ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2024])
def test_max_duration_cuts_the_call_mid_utterance(seed: int) -> None:
    timeline = simulate(resolve("max-duration"), seed=seed)
    assert check_invariants(timeline) == []
    assert timeline.ended_reason == "exceeded-max-duration"
    assert round(ended_at(timeline) - started_at(timeline), 3) == 34.0
    said = bots(timeline)[-1]
    assert LONG.startswith(said) and len(said) < len(LONG)  # history keeps only the words said
    messages = server(timeline)
    cut = [m for at, m in messages if at == ended_at(timeline)]
    assert [m["type"] for m in cut][-2:] == ["conversation-update", "status-update"]
    assert messages[-1][1]["type"] == "end-of-call-report"
    assert messages[-1][1]["artifact"]["messages"][-1]["message"] == said
    assert all(at <= ended_at(timeline) for at, m in messages[:-1])


def test_max_duration_during_the_users_words_keeps_them_out_of_history() -> None:
    steps = '- user: "{}"\n- end: customer-ended-call'.format(" ".join(["word"] * 60))
    timeline = play(scenario("maxDurationSeconds: 10", steps))
    assert timeline.ended_reason == "exceeded-max-duration"
    assert [h["role"] for h in timeline.history] == ["bot"]
    user = [m["status"] for _, m in server(timeline) if m["type"] == "speech-update" and m["role"] == "user"]
    assert user == ["started", "stopped"]
    finals = [m for _, m in server(timeline) if m["type"] == "transcript" and m["role"] == "user"
              and m["transcriptType"] == "final"]
    assert finals == []


def test_max_duration_before_a_tool_call_asks_no_server() -> None:
    text = scenario(
        "maxDurationSeconds: 10\ntools: [{name: lookup, parameters: {q: string}}]",
        '- silence: 9s\n- tool: {name: lookup, arguments: {q: x}, result: ok, latency: 3s}\n- assistant: "Done."',
    )
    sim = CallSimulation(load_text(text))
    asks: list[Ask] = []
    generator = sim.run()
    item = next(generator)
    with pytest.raises(StopIteration):
        while True:
            if isinstance(item, Ask):
                asks.append(item)
            item = generator.send(item.scripted if isinstance(item, Ask) else None)
    assert asks == [] and sim.ended_reason == "exceeded-max-duration"


def test_max_duration_may_end_the_call_while_a_slow_tool_keeps_it_hanging() -> None:
    # The tool is slower than the hang threshold, and the call reaches maxDurationSeconds before it answers:
    # a hang, then the end, with nothing of the model between (the call could not go on).
    text = scenario(
        "maxDurationSeconds: 15\ntools: [{name: lookup, parameters: {q: string}}]",
        '- user: "Where is my order?"\n- tool: {name: lookup, arguments: {q: x}, result: ok, latency: 30s}\n'
        '- assistant: "Done."',
    )
    timeline = simulate(load_text(text))
    kinds = [m["type"] for _, m in timeline.messages(side="client")]
    assert kinds[-2:] == ["hang", "status-update"]
    assert timeline.ended_reason == "exceeded-max-duration"
    assert check_invariants(timeline) == []


def test_max_duration_from_the_assistant_the_server_returns() -> None:
    text = """
version: 1
name: returned
call: {type: inboundPhoneCall, assistant_request: true, customer: {number: "+14155550123"}}
assistant: {name: Sky, firstMessage: "Hello there."}
steps:
  - silence: 8s
  - user: "I have a question about my bill and the charges from last month that I do not understand."
  - assistant: "Let me look at that for you."
  - end: customer-ended-call
"""
    returned = {"name": "Brief", "firstMessage": "Billing, hello.", "maxDurationSeconds": 10,
                "endCallPhrases": ["look at that"]}
    sim = CallSimulation(load_text(text))
    generator = sim.run()
    item = next(generator)
    try:
        while True:
            if isinstance(item, Ask) and item.kind == "assistant-request":
                item = generator.send(Reply(200, {"assistant": returned}, 0.2))
            else:
                item = generator.send(item.scripted if isinstance(item, Ask) else None)
    except StopIteration:
        pass
    assert sim.ended_reason == "exceeded-max-duration"
    assert sim.ended_ms is not None and sim.started_ms is not None
    assert sim.ended_ms - sim.started_ms == 10_000


# -- silenceTimeoutSeconds ------------------------------------------------------------------------


def test_a_silence_longer_than_the_timeout_ends_the_call_at_the_timeout() -> None:
    timeline = simulate(resolve("silence-timeout-setting"))
    assert check_invariants(timeline) == []
    assert timeline.ended_reason == "silence-timed-out"
    spoken = [at for at, m in server(timeline) if m["type"] == "speech-update" and m["status"] == "stopped"]
    assert round(ended_at(timeline) - spoken[-1], 1) == 10.0  # the assistant's last words, then 10 s


@pytest.mark.parametrize(
    ("settings", "silence", "reason"),
    [("", "31s", "silence-timed-out"), ("", "30s", "customer-ended-call"),
     ("silenceTimeoutSeconds: 60", "45s", "customer-ended-call"),
     ("silenceTimeoutSeconds: 5", "6s", "silence-timed-out")],
)
def test_the_silence_timeout_defaults_to_30_seconds(settings: str, silence: str, reason: str) -> None:
    timeline = play(scenario(settings, f'- user: "Hello?"\n- silence: {silence}\n- end: customer-ended-call'))
    assert timeline.ended_reason == reason


# -- firstMessageMode and firstMessageInterruptionsEnabled ------------------------------------------


def test_waits_for_user_says_no_greeting_before_the_user_speaks() -> None:
    timeline = simulate(resolve("first-message-waits"))
    assert check_invariants(timeline) == []
    speech = [(m["role"], m["status"]) for _, m in server(timeline) if m["type"] == "speech-update"]
    assert speech[0] == ("user", "started")
    assert [h["role"] for h in timeline.history][:2] == ["user", "bot"]
    assert "Ridgeview Library, this is Theo" not in " ".join(bots(timeline))


def test_a_model_generated_greeting_streams_as_model_output() -> None:
    timeline = simulate(resolve("first-message-generated"))
    assert check_invariants(timeline) == []
    client = list(timeline.messages(side="client"))
    first_speech = next(i for i, (_, m) in enumerate(client) if m["type"] == "speech-update")
    tokens = [m for _, m in client[:first_speech] if m["type"] == "model-output"]
    assert len({m["turnId"] for m in tokens}) == 1
    assert "".join(m["output"] for m in tokens).strip().startswith("Good morning!")
    assert bots(timeline)[0] == "Good morning! You've reached Sunrise Yoga. Are you looking for a class today?"


def test_a_force_said_greeting_streams_no_model_output() -> None:
    timeline = play(scenario("", '- user: "Hi."\n- end: customer-ended-call'))
    assert not [m for _, m in server(timeline) if m["type"] == "model-output"]


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("mode", ["assistant-speaks-first", "assistant-speaks-first-with-model-generated-message"])
def test_the_first_message_is_cut_only_when_interruptions_are_enabled(enabled: bool, mode: str) -> None:
    greeting = "Hi, this is Sky from Lakeside Dental, calling about your appointment next week with Dana."
    settings = f'firstMessage: "{greeting}"\nfirstMessageMode: {mode}\nfirstMessageInterruptionsEnabled: {enabled}'
    text = scenario(settings, '- user: {say: "Sorry, who is this?", barge_in: 1.5s}\n- assistant: "Sky."\n'
                    '- end: customer-ended-call').replace('  firstMessage: "Hi, this is Sky from Lakeside Dental."\n',
                                                          "", 1)
    timeline = play(text)
    cuts = [m for _, m in server(timeline) if m["type"] == "user-interrupted"]
    roles = [h["role"] for h in timeline.history]
    assert roles == ["bot", "user", "bot"]
    if enabled:
        assert len(cuts) == 1 and greeting.startswith(bots(timeline)[0]) and bots(timeline)[0] != greeting
        assert ("turnId" in cuts[0]) == mode.endswith("generated-message")
    else:
        assert cuts == [] and bots(timeline)[0] == greeting
    # The user started speaking over the greeting either way.
    user_start = next(at for at, m in server(timeline) if m["type"] == "speech-update" and m["role"] == "user")
    assistant_stop = next(at for at, m in server(timeline) if m["type"] == "speech-update"
                          and m["role"] == "assistant" and m["status"] == "stopped")
    assert user_start < assistant_stop


def test_barge_in_belongs_on_the_first_step() -> None:
    text = scenario("", '- user: "Hi."\n- user: {say: "Hello?", barge_in: 1s}')
    with pytest.raises(ScenarioError) as error:
        simulate(load_text(text))
    assert "barge_in talks over the first message" in str(error.value)


# -- endCallPhrases, endCallMessage, voicemail ----------------------------------------------------


def test_an_end_call_phrase_ends_the_call_once_said() -> None:
    timeline = simulate(resolve("end-call-phrase"))
    assert check_invariants(timeline) == []
    assert timeline.ended_reason == "assistant-said-end-call-phrase"
    assert bots(timeline)[-1] == "See you soon, and have a great ride!"
    stop = [at for at, m in server(timeline) if m["type"] == "speech-update" and m["status"] == "stopped"][-1]
    assert stop < ended_at(timeline) < stop + 1


def test_an_end_call_phrase_in_the_greeting_skips_the_script() -> None:
    timeline = play(scenario('endCallPhrases: ["lakeside DENTAL"]', '- user: "Hi."\n- end: customer-ended-call'))
    assert timeline.ended_reason == "assistant-said-end-call-phrase"
    assert [h["role"] for h in timeline.history] == ["bot"]


def test_a_cut_answer_that_never_said_the_phrase_goes_on() -> None:
    steps = ('- user: "Hi."\n- assistant: {say: "Okay. Let me check that, and goodbye for now.", '
             'interrupted: {after: 1 token, by: "Wait."}}\n- end: customer-ended-call')
    timeline = play(scenario('endCallPhrases: ["goodbye"]', steps))
    assert timeline.ended_reason == "customer-ended-call"


@pytest.mark.parametrize(
    ("end", "said"),
    [("assistant-ended-call", "Thanks for calling. Goodbye!"), ("customer-ended-call", None),
     ("{reason: assistant-ended-call, say: See you.}", "See you.")],
)
def test_the_end_call_message_is_said_when_the_assistant_ends_the_call(end: str, said: str | None) -> None:
    text = scenario('endCallMessage: "Thanks for calling. Goodbye!"', f'- user: "Bye."\n- end: {end}')
    timeline = play(text)
    last = bots(timeline)[-1]
    assert (last if last != "Hi, this is Sky from Lakeside Dental." else None) == said


@pytest.mark.parametrize(
    ("call_type", "detection", "said"),
    [("outboundPhoneCall", "{provider: vapi}", True), ("outboundPhoneCall", "off", False),
     ("inboundPhoneCall", "{provider: vapi}", False)],
)
def test_the_voicemail_message_needs_detection_on_an_outbound_call(call_type: str, detection: str, said: bool) -> None:
    settings = f'voicemailDetection: {detection}\nvoicemailMessage: "Please call us back."'
    timeline = play(scenario(settings, '- user: "Leave a message."\n- end: voicemail', call_type))
    assert timeline.ended_reason == "voicemail"
    assert (bots(timeline)[-1] == "Please call us back.") == said


def test_the_voicemail_scenario_leaves_its_message_after_the_greeting() -> None:
    timeline = simulate(resolve("voicemail-detection"))
    assert check_invariants(timeline) == []
    assert [h["role"] for h in timeline.history][-2:] == ["user", "bot"]
    assert bots(timeline) == [
        "Hi, this is Lena from Brookside Vet. Milo is due for his checkup; please call us back. Thanks!"]


# -- through a real webhook ------------------------------------------------------------------------


class Hook:
    def __init__(self) -> None:
        self.received: list[Wire] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        message = json.loads(await request.read())["message"]
        self.received.append(message)
        if message["type"] == "tool-calls":
            return web.json_response({"results": [
                {"toolCallId": c["id"], "result": '{"line":"Thanks for waiting, have a great ride and see you soon."}'}
                for c in message["toolCallList"]]})
        return web.json_response({})


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    h = Hook()
    app = web.Application()
    app.router.add_post("/{tail:.*}", h.handle)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    h.base = str(test_server.make_url("")).rstrip("/")
    yield h
    await test_server.close()


async def play_to(hook: Hook, text: str) -> Timeline:
    clock, journal, pool = VirtualClock(), Journal(), TargetPool()
    loaded = load_text(text.replace("URL", hook.base + "/vapi"))
    player = CallPlayer(loaded, clock=clock, journal=journal, server=WebhookSink(pool, journal, clock))
    try:
        return await player.run()
    finally:
        await pool.aclose()


WEBHOOK = """
version: 1
name: webhook-settings
seed: 8
call: {type: webCall}
assistant:
  name: Kai
  firstMessage: "Spoke and Chain, Kai speaking."
  server: {url: URL}
  serverMessages: [conversation-update, speech-update, transcript, status-update, end-of-call-report, tool-calls]
  SETTINGS
  tools: [{name: status, parameters: {order: string}}]
steps:
  - user: "Is my bike ready? Order forty two."
  - tool: {name: status, arguments: {order: "42"}, result: {line: scripted}, latency: 200ms}
  - assistant: "{{ tools.status.json.line }}"
  - user: "Great, thanks."
  - assistant: "Anything else I can do?"
  - end: customer-ended-call
"""


async def test_the_servers_reply_makes_the_assistant_say_an_end_call_phrase(hook: Hook) -> None:
    timeline = await play_to(hook, WEBHOOK.replace("SETTINGS", 'endCallPhrases: ["have a great ride"]'))
    assert timeline.ended_reason == "assistant-said-end-call-phrase"
    assert [m["type"] for m in hook.received][-2:] == ["status-update", "end-of-call-report"]
    report = hook.received[-1]
    assert report["endedReason"] == "assistant-said-end-call-phrase"
    assert report["artifact"]["messages"][-1]["message"] == "Thanks for waiting, have a great ride and see you soon."
    assert hook.received == [m for _, m in timeline.messages(side="server")]
    assert check_invariants(hook.received, side="server") == []


async def test_max_duration_reaches_the_webhook_mid_utterance(hook: Hook) -> None:
    timeline = await play_to(hook, WEBHOOK.replace("SETTINGS", "maxDurationSeconds: 10"))
    assert timeline.ended_reason == "exceeded-max-duration"
    ended = [m for m in hook.received if m["type"] == "status-update" and m["status"] == "ended"]
    assert [m["endedReason"] for m in ended] == ["exceeded-max-duration"]
    assert hook.received[-1]["type"] == "end-of-call-report"
    assert hook.received == [m for _, m in timeline.messages(side="server")]
    assert check_invariants(hook.received, side="server") == []


SETTINGS_SCENARIOS = ("max-duration", "silence-timeout-setting", "first-message-waits", "first-message-generated",
                      "first-message-interruptions", "end-call-phrase", "end-call-message", "voicemail-detection")


@pytest.mark.parametrize("name", SETTINGS_SCENARIOS)
def test_each_settings_scenario_ends_with_a_reason_the_spec_names(name: str) -> None:
    timeline = simulate(resolve(name))
    assert timeline.ended_reason in ENDED_REASONS
    assert timeline.ended_reason == resolve(name).scenario.expect.ended_reason  # type: ignore[union-attr]
    for profile in ("strict", "realistic"):
        for side in ("server", "client"):
            timeline_profile = "spec" if profile == "strict" else "realistic"
            for _, message in timeline.messages(side=side, profile=timeline_profile):
                assert conformance.check(message, side=side, profile=profile) == [], message["type"]
