"""The bundled scenario library: every file is valid, well-formed, and does what it promises."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
import yaml

from mockvapi import cli
from mockvapi.engine.simulator import simulate
from mockvapi.engine.timeline import Timeline
from mockvapi.library import bundled_names, bundled_paths, resolve

LEGACY = "booking-with-barge-in-and-slow-tool"  # predates the library conventions (not ours to edit)
REQUIRED = (
    "happy-path", "barge-in", "double-barge-in", "interrupt-after-first-token", "slow-model-hang",
    "slow-tool-hang", "tool-call", "tool-error", "customer-hangs-up", "assistant-ends-call",
    "silence-timeout", "transfer", "long-call", "outbound-voicemail", "inbound-assistant-request", LEGACY,
)


@cache
def timeline(name: str) -> Timeline:
    return simulate(resolve(name))


@cache
def raw(name: str) -> dict[str, Any]:
    data = yaml.safe_load(next(p for p in bundled_paths() if p.stem == name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def types(name: str) -> list[str]:
    """Every message type of the call, whatever the subscriptions."""
    return [event.type for event in timeline(name).events]


def bodies(name: str, kind: str) -> list[dict[str, Any]]:
    return [event.message.body("realistic") for event in timeline(name).events if event.type == kind]


def turns(name: str, role: str | None = None) -> list[dict[str, Any]]:
    roles = {"user", "bot"} if role is None else {role}
    return [item for item in timeline(name).history if item["role"] in roles]


def legacy_xfail(name: str) -> Any:
    return pytest.param(name, id=name)


# ---------------------------------------------------------------------------------------------
# Every file


def test_library_has_every_scenario() -> None:
    missing = sorted(set(REQUIRED) - set(bundled_names()))
    assert not missing, f"missing bundled scenarios: {missing}"


def test_every_bundled_file_validates(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(p) for p in bundled_paths()]
    code = cli.main(["validate", *paths])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines() == [f"{p}: ok" for p in paths]


@pytest.mark.parametrize("name", [legacy_xfail(n) for n in bundled_names()])
def test_bundled_file_follows_the_library_conventions(name: str) -> None:
    data = raw(name)
    assert data["version"] == 1
    assert data["name"] == name, "the scenario's name must equal its file stem"
    assert isinstance(data.get("description"), str) and len(data["description"]) > 40
    assert isinstance(data.get("seed"), int), "a bundled scenario pins its seed"
    assert isinstance(data.get("expect"), dict) and data["expect"].get("ended_reason"), "expect.ended_reason"
    if name != "long-call":
        assert 5 <= len(data["steps"]) <= 20, f"{len(data['steps'])} steps"


@pytest.mark.parametrize("name", [legacy_xfail(n) for n in bundled_names()])
def test_expectations_hold(name: str) -> None:
    loaded = resolve(name)
    expect = loaded.scenario.expect
    assert expect is not None
    tl = timeline(name)
    assert tl.ended_reason == expect.ended_reason
    sent = set(types(name))
    missing = sorted(set(expect.delivered or ()) - sent)
    assert not missing, f"expected {missing} in the call, got {sorted(sent)}"
    unwanted = sorted(set(expect.not_delivered or ()) & sent)
    assert not unwanted, f"did not expect {unwanted}"
    assert len(tl.problems) == (expect.problems or 0), [str(p) for p in tl.problems]


@pytest.mark.parametrize("name", bundled_names())
def test_no_template_is_left_unrendered(name: str) -> None:
    text = timeline(name).jsonl(side="client") + timeline(name).jsonl(side="server")
    assert "{{" not in text


def test_the_library_uses_faker_and_subscriptions() -> None:
    texts = {p.stem: p.read_text(encoding="utf-8") for p in bundled_paths()}
    assert sum("{{ faker." in t for t in texts.values()) >= 5
    assert sum("serverMessages:" in t for t in texts.values()) >= 3
    assert sum("clientMessages:" in t for t in texts.values()) >= 2
    # A faker name really becomes a name (not the template, not empty).
    customer = timeline("barge-in").context.customer
    assert customer is not None and customer["name"] and " " in customer["name"]
    assert customer["number"].strip()


def test_bundled_scenarios_are_reproducible() -> None:
    for name in ("happy-path", "tool-call"):
        assert simulate(resolve(name)).jsonl() == timeline(name).jsonl()


# ---------------------------------------------------------------------------------------------
# What each scenario promises


def test_happy_path_is_a_plain_web_call() -> None:
    tl = timeline("happy-path")
    assert tl.context.call["type"] == "webCall"
    assert not {"user-interrupted", "hang", "tool-calls"} & set(types("happy-path"))
    assert len(turns("happy-path", "user")) >= 3


def test_barge_in_interrupts_once() -> None:
    interrupts = bodies("barge-in", "user-interrupted")
    assert len(interrupts) == 1
    outputs = [m for m in bodies("barge-in", "model-output") if m["turnId"] == interrupts[0]["turnId"]]
    assert outputs, "user-interrupted names the turn whose tokens were streaming"
    cut = next(item for item in turns("barge-in", "bot") if item["message"].endswith("Monday at ten"))
    assert "Friday" not in cut["message"], "history keeps only what was said before the cut"


def test_double_barge_in_cuts_two_turns_in_a_row() -> None:
    interrupts = bodies("double-barge-in", "user-interrupted")
    assert len(interrupts) == 2
    assert interrupts[0]["turnId"] != interrupts[1]["turnId"]
    kinds = [t for t in types("double-barge-in") if t in ("user-interrupted", "model-output")]
    first = kinds.index("user-interrupted")
    second = kinds.index("user-interrupted", first + 1)
    assert "model-output" in kinds[first + 1 : second], "the assistant starts again before the second cut"
    history = [item["role"] for item in timeline("double-barge-in").history]
    # bot (cut), user (cut-in words), bot (cut again), user (cut-in words), bot, then the goodbye
    assert history[-6:] == ["bot", "user", "bot", "user", "bot", "user"]


def test_interruption_after_the_first_token() -> None:
    (interrupt,) = bodies("interrupt-after-first-token", "user-interrupted")
    tokens = [m for m in bodies("interrupt-after-first-token", "model-output")
              if m["turnId"] == interrupt["turnId"]]
    # The LLM streamed ahead (clients must drop those tokens); only the first token's word was spoken.
    assert tokens[0]["output"] == "Okay" and len(tokens) >= 1
    assert turns("interrupt-after-first-token", "bot")[1]["message"] == "Okay"


@pytest.mark.parametrize("name", ["slow-model-hang", "slow-tool-hang", LEGACY])
def test_slow_scenarios_hang_and_go_on(name: str) -> None:
    kinds = types(name)
    assert kinds.count("hang") == 1
    assert "speech-update" in kinds[kinds.index("hang"):], "the call continues after hang"
    assert timeline(name).ended_reason == "customer-ended-call"


def test_slow_model_hang_is_caused_by_the_model() -> None:
    tl = timeline("slow-model-hang")
    hang = next(e for e in tl.events if e.type == "hang")
    first_token = next(e for e in tl.events if e.at_ms > hang.at_ms and e.type == "model-output")
    assert first_token.at - hang.at > 1, "the model's first token comes well after hang"
    assert "tool-calls" not in types("slow-model-hang")


def test_slow_tool_hang_is_caused_by_the_tool() -> None:
    tl = timeline("slow-tool-hang")
    asked = next(e for e in tl.events if e.type == "tool-calls")
    hang = next(e for e in tl.events if e.type == "hang")
    answered = next(e for e in tl.events if e.type == "tool-calls-result")
    assert asked.at < hang.at < answered.at
    assert hang.at - asked.at == pytest.approx(5.0)


def test_tool_call_result_is_used_by_the_assistant() -> None:
    (find, book) = bodies("tool-call", "tool-calls")
    assert find["toolCallList"][0]["function"]["name"] == "find_table"
    assert book["toolCallList"][0]["function"]["arguments"]["table_id"] == "T12"
    said = " ".join(item["message"] for item in turns("tool-call", "bot"))
    assert "7:45 PM on the garden terrace" in said
    assert "SOLE-4471" in said


def test_tool_error_replies_and_the_assistant_apologises() -> None:
    results = [item["result"] for item in timeline("tool-error").history if item["role"] == "tool_call_result"]
    assert results == ["Card declined: insufficient funds", "No result returned."]
    assert [p.kind for p in timeline("tool-error").problems] == ["non-200-reply"]
    bots = [item["message"] for item in turns("tool-error", "bot")]
    assert any(text.startswith("I'm sorry") for text in bots)
    assert any(text.startswith("I apologise") for text in bots)


def test_customer_hangs_up_mid_answer() -> None:
    tl = timeline("customer-hangs-up")
    assert "user-interrupted" not in types("customer-hangs-up")
    last_bot = turns("customer-hangs-up", "bot")[-1]["message"]
    assert last_bot.startswith("I understand.") and "three months" not in last_bot
    ended = next(e for e in tl.events if e.type == "status-update" and e.message.body("realistic")["status"] == "ended")
    stopped = max(e.at for e in tl.events if e.type == "speech-update"
                  and e.message.body("realistic")["role"] == "assistant")
    assert ended.at - stopped < 1, "the call ends as the customer hangs up, mid-answer"


def test_assistant_ends_the_call_with_its_goodbye() -> None:
    assert turns("assistant-ends-call")[-1] == turns("assistant-ends-call", "bot")[-1]
    assert turns("assistant-ends-call", "bot")[-1]["message"].endswith("Goodbye!")
    assert timeline("assistant-ends-call").context.call["type"] == "outboundPhoneCall"


def test_silence_times_out() -> None:
    tl = timeline("silence-timeout")
    last_speech = max(e.at for e in tl.events if e.type == "speech-update")
    ended = next(e for e in tl.events if e.type == "status-update" and e.message.body("realistic")["status"] == "ended")
    assert ended.at - last_speech >= 30


def test_transfer_forwards_to_a_number_with_a_message() -> None:
    (update,) = bodies("transfer", "transfer-update")
    assert update["destination"] == {"type": "number", "number": "+14155550123"}
    statuses = [m["status"] for m in bodies("transfer", "status-update")]
    assert statuses[-2:] == ["forwarding", "ended"]
    assert turns("transfer", "bot")[-1]["message"] == "Please hold while I transfer you to Ms. Crane."


def test_outbound_voicemail_leaves_the_message() -> None:
    tl = timeline("outbound-voicemail")
    assert tl.context.call["type"] == "outboundPhoneCall"
    statuses = [m["status"] for m in bodies("outbound-voicemail", "status-update")]
    assert statuses[:3] == ["queued", "ringing", "in-progress"]
    *greeting, message = turns("outbound-voicemail")
    assert [item["role"] for item in greeting] == ["user"] * 3
    assert "after the tone" in greeting[-1]["message"]
    assert message["role"] == "bot"
    voicemail = resolve("outbound-voicemail").scenario.assistant.voicemailMessage
    assert voicemail is not None and message["message"] == " ".join(voicemail.split())


def test_inbound_assistant_request_comes_first() -> None:
    tl = timeline("inbound-assistant-request")
    assert tl.events[0].type == "assistant-request"
    assert tl.context.assistant is not None and tl.context.assistant["name"] == "Quinn"
    assert resolve("inbound-assistant-request").scenario.call.assistant_request


def test_long_call_lasts_ten_minutes_and_fifty_turns() -> None:
    tl = timeline("long-call")
    assert tl.duration >= 600
    assert len(turns("long-call")) >= 50


def test_no_bundled_scenario_sends_anything_off_this_machine() -> None:
    # Played as they are (no webhook override), bundled scenarios must never reach a real host.
    for path in bundled_paths():
        for url in re.findall(r"\bhttps?://[^\s\"']+", path.read_text(encoding="utf-8")):
            host = url.split("/")[2].split(":")[0]
            assert host in ("127.0.0.1", "localhost"), f"{path.name} names {url}"
