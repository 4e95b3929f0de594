from __future__ import annotations

from pathlib import Path

import pytest

from mockvapi.cli import main
from mockvapi.qa.lint import CODES, lint
from mockvapi.scenario.loader import load_text

SUSPICIOUS = """\
version: 1
name: suspicious
assistant:
  serverMessages: [status-update, end-of-call-report, tool-calls, hang]
  tools:
    - name: lookup
    - name: never_called
timing:
  tokens_per_second: 2
  words_per_minute: 400
  hang_after: 25s
steps:
  - user: "Where is my order?"
  - assistant:
      say: "Let me check."
      interrupted:
        after: 30s
        by: "It's order 42."
  - tool:
      name: lookup
      latency: 22s
      error: "not found"
      status: 500
      expect_reply:
        within: 1s
  - end: customer-ended-call
expect:
  ended_reason: voicemail
  delivered: [user-interrupted, tool-calls, tool-call]
  not_delivered: [transcript]
"""


def _codes(text: str) -> dict[str, str]:
    """code -> "line:col" of its warning."""
    return {w.code: f"{w.location.line}:{w.location.column}" for w in lint(load_text(text, "s.yaml"))}


def test_every_check_fires_at_its_place() -> None:
    found = _codes(SUSPICIOUS)
    assert found == {
        "unused-tool": "7:13",
        "token-rate": "9:22",
        "speech-rate": "10:21",
        "hang-after-timeout": "11:15",
        "late-interruption": "17:16",
        "latency-timeout": "21:16",
        "error-ignored": "22:14",
        "reply-within-latency": "25:17",
        "ended-reason-mismatch": "28:17",
        "never-delivered": "29:15",
        "unknown-message-type": "29:45",
        "always-absent": "30:19",
    }
    assert set(CODES) - set(found) == {"reply-within-hang", "fault-never-matches", "ended-by-setting",
                                       "voicemail-undetected", "speaks-before-user",
                                       "customer-number-not-e164", "unreached-member"}


SETTINGS = """\
version: 1
name: settings
call: {type: inboundPhoneCall}
assistant:
  firstMessage: "Hi."
  firstMessageMode: assistant-waits-for-user
  MORE
steps:
  - assistant: "Hello? Goodbye then."
  - silence: 20s
  - user: "Hi."
  - end: voicemail
"""


@pytest.mark.parametrize(
    ("more", "ends"),
    [
        ("silenceTimeoutSeconds: 10", "'silence-timed-out'"),
        ("maxDurationSeconds: 12", "'exceeded-max-duration'"),
        ("endCallPhrases: [goodbye]", "'assistant-said-end-call-phrase'"),
    ],
)
def test_settings_that_end_the_call_before_the_script_does(more: str, ends: str) -> None:
    warnings = lint(load_text(SETTINGS.replace("MORE", more), "s.yaml"))
    assert {w.code: f"{w.location.line}:{w.location.column}" for w in warnings} == {
        "speaks-before-user": "9:5",
        "ended-by-setting": "10:5" if "end-call-phrase" in ends else "11:5",
        "voicemail-undetected": "12:10",
    }
    [ended] = [w for w in warnings if w.code == "ended-by-setting"]
    setting = {"silence-timed-out": "silenceTimeoutSeconds", "exceeded-max-duration": "maxDurationSeconds",
               "assistant-said-end-call-phrase": "endCallPhrases"}[ends.strip("'")]
    assert f"never play: the call ends {ends} at " in ended.message and f"as assistant.{setting}" in ended.message


def test_settings_that_leave_the_script_alone_say_nothing() -> None:
    text = SETTINGS.replace("MORE", "silenceTimeoutSeconds: 25\n  voicemailDetection: {provider: vapi}")
    text = text.replace("inboundPhoneCall", "outboundPhoneCall")
    text = text.replace('  - assistant: "Hello? Goodbye then."\n', "")
    assert _codes(text) == {}


PHONE_CALL = """\
version: 1
name: phone
call:
  type: {type}
  customer:
    number: "{number}"
steps:
  - user: "Hello?"
"""


@pytest.mark.parametrize(("call_type", "number", "warned"), [
    ("inboundPhoneCall", "{{ faker.phone_number }}", True),
    ("outboundPhoneCall", "(269)575-9870", True),
    ("inboundPhoneCall", "+1 415 555 0123", True),
    ("inboundPhoneCall", "+14155550123", False),
    ("outboundPhoneCall", "{{ e164_phone_number }}", False),
    ("webCall", "(269)575-9870", False),  # only phone calls carry E.164 numbers
])
def test_a_phone_calls_customer_number_must_be_e164(call_type: str, number: str, warned: bool) -> None:
    found = _codes(PHONE_CALL.format(type=call_type, number=number))
    assert ("customer-number-not-e164" in found) == warned
    if warned:
        assert found["customer-number-not-e164"] == "6:13"


def test_the_e164_fake_is_e164_and_seeded() -> None:
    from mockvapi.fakes import Fakes
    from mockvapi.qa.lint import E164

    numbers = [Fakes(seed).e164_phone_number() for seed in range(50)]
    assert all(E164.match(n) for n in numbers)
    assert numbers == [Fakes(seed).e164_phone_number() for seed in range(50)]
    assert len(set(numbers)) > 40


def test_a_squad_member_no_step_reaches_is_a_warning_at_the_member() -> None:
    text = """version: 1
name: squad
squad:
  members:
    - assistant: {name: Reception}
      assistantDestinations: [Billing, Sales]
    - assistant: {name: Billing}
    - assistant: {name: Sales}
steps:
  - user: "Billing please"
  - handoff: Billing
  - end: customer-ended-call
"""
    warnings = [w for w in lint(load_text(text, "s.yaml")) if w.code == "unreached-member"]
    assert [(w.location.line, w.location.column) for w in warnings] == [(8, 7)]
    assert "'Sales' never takes the call" in warnings[0].message
    # A dynamic handoff whose scripted reply names the member reaches it.
    reached = text.replace("  - end: customer-ended-call", "  - user: 'and sales'\n  - handoff: {reply: Sales}\n"
                                                           "  - end: customer-ended-call")
    assert not [w for w in lint(load_text(reached, "s.yaml")) if w.code == "unreached-member"]


def test_faults_that_can_never_be_injected() -> None:
    text = """version: 1
name: faults
steps:
  - user: "Hi"
    faults: [duplicate: {type: transcript, channel: webhook}]
faults:
  - drop: {type: model-output, channel: webhook}
  - wrong-secret: status-update
  - stale-token
  - close-websocket: {type: model-output}
  - delay: {type: transcript, by: 1s}
"""
    warnings = [(w.code, w.location.line, w.message) for w in lint(load_text(text, "s.yaml"))]
    assert [(code, line) for code, line, _ in warnings] == [
        ("fault-never-matches", 5),
        ("fault-never-matches", 7),
    ]
    assert "'model-output' delivered to the server URL" in warnings[1][2]


def test_messages_say_what_will_happen() -> None:
    warnings = {w.code: w for w in lint(load_text(SUSPICIOUS, "s.yaml"))}
    late = warnings["late-interruption"]
    assert "comes 30s after the assistant starts speaking, but this answer takes only about" in late.message
    assert late.step == "#2 assistant"
    assert str(late).startswith("s.yaml:17:16: warning: ") and str(late).endswith("[late-interruption]")
    assert "25s is not shorter than the server timeout (20s) of tool 'lookup'" in warnings["hang-after-timeout"].message
    assert "did you mean 'tool-calls'?" in warnings["unknown-message-type"].message
    assert "ends with 'customer-ended-call', not 'voicemail'" in warnings["ended-reason-mismatch"].message


def test_reply_within_longer_than_hang_after_and_server_timeouts() -> None:
    text = """\
version: 1
name: t
assistant:
  server: {url: "https://example.test/hook", timeoutSeconds: 4}
  tools: [{name: lookup}]
steps:
  - tool:
      name: lookup
      hang_after: 2s
      expect_reply: {within: 3s}
"""
    found = _codes(text)
    assert found == {"reply-within-hang": "10:30"}
    no_tools = "version: 1\nname: t\nassistant:\n  server: {timeoutSeconds: 4}\nsteps:\n  - user: hi\n"
    assert _codes(no_tools) == {"hang-after-timeout": "1:1"}  # timing.hang_after (5s default) >= 4s


def test_a_time_based_interruption_within_the_speech_is_fine() -> None:
    text = """\
version: 1
name: t
steps:
  - user: "Tell me about your plans."
  - assistant:
      say: "We have three plans: basic, plus and premium, and each comes with a free first month."
      interrupted: {after: 1.5s, by: "Premium, please."}
"""
    assert _codes(text) == {}


def test_bundled_scenarios_lint_cleanly_or_with_known_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    from mockvapi.library import bundled_dir

    assert main(["lint", str(bundled_dir())]) == 0
    out = capsys.readouterr().out
    for line in out.splitlines():
        assert ": warning: " in line and line.endswith("]")


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SUSPICIOUS)
    assert main(["lint", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.count(": warning: ") == 12 and "1 file(s): 12 warning(s)" in err
    assert main(["lint", "--strict", str(path)]) == 1
    capsys.readouterr()
    disabled = ["--disable", "unused-tool,token-rate", "--disable", "speech-rate"]
    assert main(["lint", str(path), *disabled]) == 0
    assert capsys.readouterr().out.count(": warning: ") == 9
    assert main(["lint", str(path), "--disable", "no-such-check"]) == 2
    assert "unknown check(s): no-such-check" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: b\nsteps: []\n")
    assert main(["lint", str(bad)]) == 1
    assert "bad.yaml:3:8:" in capsys.readouterr().out


def test_lint_fails_what_validate_rejects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario that loads but cannot play (its tool step calls an undeclared tool) is invalid to
    `lint` as to `validate`, with or without --strict (issue 14, item 14)."""
    path = tmp_path / "unplayable.yaml"
    path.write_text("version: 1\nname: u\nsteps:\n  - user: hi\n  - tool: {name: lookup}\n")
    assert main(["validate", str(path)]) == 1
    assert "not declared in assistant.tools" in capsys.readouterr().out
    for strict in ([], ["--strict"]):
        assert main(["lint", *strict, str(path)]) == 1
        out, err = capsys.readouterr()
        assert "unplayable.yaml:5:" in out and "not declared in assistant.tools" in out and "[invalid]" in out
        assert "1 invalid" in err
