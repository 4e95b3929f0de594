from __future__ import annotations

from pathlib import Path

import pytest

from mockvapi.errors import ScenarioError
from mockvapi.qa.overrides import Override, OverrideError, apply_overrides, load_scenario, parse_override

SCENARIO = """\
version: 1
name: small
steps:
  - user: "Hi there."
  - assistant: "Hello! How can I help?"
  - end: customer-ended-call
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SCENARIO)
    return path


def test_values_are_read_as_yaml() -> None:
    assert parse_override("timing.tokens_per_second=80") == Override(
        ("timing", "tokens_per_second"), 80, "timing.tokens_per_second=80"
    )
    assert parse_override("timing.jitter=15%").value == "15%"
    assert parse_override("expect.delivered=[hang, tool-calls]").value == ["hang", "tool-calls"]
    assert parse_override("call.assistant_request=true").value is True
    assert parse_override("assistant.firstMessage=a=b").value == "a=b"  # only the first '=' splits
    with pytest.raises(OverrideError, match="expected key.path=value"):
        parse_override("timing.tokens_per_second")
    with pytest.raises(OverrideError, match="empty key"):
        parse_override("timing..x=1")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "[1, .nan]", "{a: 1.0e+999}", "99999999999999999999999"])
def test_values_are_as_finite_as_a_files(value: str) -> None:
    with pytest.raises(OverrideError, match="finite|64 bits"):
        parse_override(f"assistant.metadata.a={value}")


def test_overrides_reach_keys_the_file_leaves_out(small: Path) -> None:
    loaded = load_scenario(
        small,
        [parse_override(t) for t in ("timing.tokens_per_second=80", "timing.hang_after=2s", "seed=9")],
    )
    assert loaded.scenario.timing.tokens_per_second == 80
    assert loaded.scenario.timing.hang_after == 2.0
    assert loaded.scenario.seed == 9


def test_shorthand_steps_expand_when_a_key_below_them_is_set(small: Path) -> None:
    loaded = load_scenario(
        small, [parse_override("steps.1.assistant.delay=7s"), parse_override("steps.-1.end.say=Bye!")]
    )
    assistant = loaded.scenario.steps[1].assistant
    assert assistant is not None and assistant.say == "Hello! How can I help?" and assistant.delay == 7.0
    end = loaded.scenario.steps[2].end
    assert end is not None and end.reason == "customer-ended-call" and end.say == "Bye!"


def test_the_file_data_is_not_changed() -> None:
    data = {"version": 1, "name": "x", "steps": [{"user": "hi"}]}
    out = apply_overrides(data, [parse_override("steps.0.user.say=yo")])
    assert data["steps"] == [{"user": "hi"}] and out["steps"] == [{"user": {"say": "yo"}}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "timing.tokens_per_secnd=80",
            "unknown key 'tokens_per_secnd' under timing; did you mean 'tokens_per_second'?",
        ),
        ("timng.hang_after=1", "unknown key 'timng' under the top level; did you mean 'timing'?"),
        ("steps.7.user.say=x", "steps has 3 item(s); there is no item 7"),
        ("steps.first.user=x", "steps is a list; expected an index there, got 'first'"),
        ("timing.jitter.max=1", "timing.jitter is a single value; it has no key 'max'"),
        ("assistant.tools.0.name=x", "assistant.tools is not in this scenario"),
        ("steps.0.user.loud=true",
         "unknown key 'loud' under steps.0.user; known keys: say, after, confidence, barge_in, endpointing, language"),
    ],
)
def test_unknown_paths_are_errors_naming_the_path(small: Path, text: str, message: str) -> None:
    with pytest.raises(OverrideError) as info:
        load_scenario(small, [parse_override(text)])
    assert str(info.value) == f"--set {text}: {message}"


def test_invalid_values_point_at_the_set(small: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(small, [parse_override("expect.ended_reason=voicemial")])
    (problem,) = info.value.problems
    assert problem.location.file == f"{small} (--set expect.ended_reason=voicemial)"
    assert "did you mean 'voicemail'?" in problem.message
    with pytest.raises(ScenarioError) as info:
        load_scenario(small, [parse_override("steps.0.user.after=soon")])
    (problem,) = info.value.problems
    assert problem.location.file.endswith("(--set steps.0.user.after=soon)")
    assert (problem.location.line, problem.step) == (4, "#1")


def test_bundled_names_and_missing_files() -> None:
    assert load_scenario("happy-path", [parse_override("seed=3")]).scenario.seed == 3
    with pytest.raises(ScenarioError, match="no such file or bundled scenario"):
        load_scenario("no-such-scenario")
