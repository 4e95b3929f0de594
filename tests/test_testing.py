"""`MockVapi` and `Call` (mockvapi.testing) used directly, without the pytest plugin."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from mockvapi.engine.clock import RealClock, VirtualClock
from mockvapi.errors import ExpectationFailed, MockVapiError, ScenarioError
from mockvapi.library import resolve
from mockvapi.testing import MockVapi

SHORT = """
version: 1
name: short
steps:
  - user: "Are you open on Sunday?"
  - assistant: "Yes, from eight to two."
  - end: customer-ended-call
expect:
  ended_reason: customer-ended-call
"""


def ok(body: dict[str, Any], headers: Any) -> dict[str, Any]:
    return {}


def failing(body: dict[str, Any], headers: Any) -> tuple[int, dict[str, Any]]:
    return 500, {"error": "down"}


class Recorder:
    """A webhook that keeps the bare messages it gets."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any], headers: Any) -> dict[str, Any]:
        self.messages.append(body["message"])
        return {}


# -- lifecycle ---------------------------------------------------------------------------------------


async def test_async_context_manager_plays_into_a_webhook() -> None:
    hook = Recorder()
    async with MockVapi(webhook=hook) as vapi:
        call = await vapi.play("barge-in")
    assert call.done and call.ended_reason == "customer-ended-call"
    assert [d.message for d in call.deliveries()] == hook.messages
    assert call.delivered_types() == [m["type"] for m in hook.messages]
    assert vapi.calls == [call] and vapi.find_call(call.id) is call
    call.check()


def test_sync_context_manager_runs_its_loop_in_a_thread() -> None:
    with MockVapi(webhook=ok) as vapi:
        assert any(t.name == "mockvapi-loop" for t in threading.enumerate())
        call = vapi.play_sync(SHORT)
        assert call.ended_reason == "customer-ended-call"
    assert not any(t.name == "mockvapi-loop" for t in threading.enumerate())
    vapi.stop()  # idempotent


def test_play_sync_starts_the_loop_itself() -> None:
    vapi = MockVapi()
    try:
        assert vapi.play_sync(SHORT).done
    finally:
        vapi.stop()


def test_start_call_before_start_says_how_to_start() -> None:
    with pytest.raises(MockVapiError, match=r"async with MockVapi\(...\)"):
        MockVapi().start_call(SHORT)


def test_clock_options() -> None:
    assert isinstance(MockVapi().clock, VirtualClock)
    real = MockVapi(clock="real", speed=50).clock
    assert isinstance(real, RealClock) and real.speed == 50
    with pytest.raises(ValueError, match="clock must be 'virtual' or 'real'"):
        MockVapi(clock="fast")  # type: ignore[arg-type]


async def test_scenarios_from_name_path_yaml_object_and_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(SHORT.replace("name: short", "name: mine"))
    async with MockVapi(scenarios=tmp_path) as vapi:
        played = [
            await vapi.play("happy-path"),
            await vapi.play(resolve("happy-path").file),
            await vapi.play(SHORT),
            await vapi.play(resolve("barge-in")),
            await vapi.play(resolve("barge-in").scenario),
            await vapi.play("mine"),
            await vapi.play(),  # the default scenario
        ]
    assert [c.name for c in played] == ["happy-path", "happy-path", "short", "barge-in", "barge-in", "mine",
                                        "happy-path"]


async def test_unknown_scenario_raises_scenario_error() -> None:
    async with MockVapi() as vapi:
        with pytest.raises(ScenarioError, match="no such file or bundled scenario"):
            await vapi.play("no-such-scenario")


async def test_play_many_plays_concurrently_with_distinct_ids() -> None:
    async with MockVapi(webhook=ok) as vapi:
        calls = await vapi.play_many(["happy-path", "barge-in", "happy-path"])
    assert [c.name for c in calls] == ["happy-path", "barge-in", "happy-path"]
    assert len({c.id for c in calls}) == 3 and all(c.done for c in calls)
    vapi.check()


async def test_seed_and_profile_apply_to_every_call() -> None:
    async with MockVapi(seed=5, profile="spec") as vapi:
        first, second = await vapi.play("barge-in"), await vapi.play("barge-in")
        other = await vapi.play("barge-in", seed=6)
    assert first.seed == second.seed == 5 and other.seed == 6
    said = [[m["message"] for m in c.history] for c in (first, second)]
    assert said[0] == said[1] and first.player.profile == "spec"


def test_the_same_scenario_twice_gets_two_reproducible_call_ids() -> None:
    def ids() -> list[str]:
        with MockVapi(webhook=ok) as vapi:
            calls = [vapi.play_sync("happy-path") for _ in range(3)]
            for call in calls:
                assert {d.call_id for d in call.deliveries()} == {call.id}
                assert vapi.find_call(call.id) is call
            return [c.id for c in calls]

    first = ids()
    assert len(set(first)) == 3 and first == ids()


async def test_serve_starts_the_rest_api_on_a_loopback_port() -> None:
    async with MockVapi(serve=True) as vapi:
        assert vapi.server.url.startswith("http://127.0.0.1:") and not vapi.server.url.endswith(":0")
        assert "serving http://127.0.0.1:" in repr(vapi)


# -- the in-process client ---------------------------------------------------------------------------


async def test_client_iterates_the_calls_client_messages_until_it_ends() -> None:
    async with MockVapi() as vapi:
        call = vapi.start_call("barge-in")
        assert call.client is not None
        seen = [message async for message in call.client]
        await call.wait()
    assert seen == call.client.received == call.messages("client")
    assert "user-interrupted" in [m["type"] for m in seen]
    assert [m async for m in call.client] == []  # stays exhausted


# -- assertions --------------------------------------------------------------------------------------


async def test_assertions_that_hold() -> None:
    async with MockVapi(webhook=ok) as vapi:
        call = await vapi.play("barge-in")
    call.assert_delivered("status-update", "model-output", "user-interrupted", "end-of-call-report")
    call.assert_delivered("end-of-call-report", "status-update", in_order=False)
    call.assert_delivered("user-interrupted", channel="webhook")
    call.assert_not_delivered("hang", "tool-calls")
    call.assert_ended("customer-ended-call")
    call.assert_no_problems()
    call.assert_replied("conversation-update", status=200, within=1.0)


async def test_assert_delivered_out_of_order_names_the_position_and_the_nearest_candidate() -> None:
    async with MockVapi(webhook=ok) as vapi:
        call = await vapi.play("barge-in")
    with pytest.raises(ExpectationFailed) as failed:
        call.assert_delivered("end-of-call-report", "user-interrupted")
    text = str(failed.value)
    types = call.delivered_types()
    report, first = types.index("end-of-call-report") + 1, types.index("user-interrupted") + 1
    assert text.splitlines()[0] == (
        f"mockvapi: 'user-interrupted' was delivered only before 'end-of-call-report' (delivery #{report}), "
        "never after it; expected 'end-of-call-report', 'user-interrupted' in that order; "
        f"the first 'user-interrupted' was delivery #{first}"
    )
    assert "seed 2002" in text and call.id in text
    with pytest.raises(ExpectationFailed) as failed:
        call.assert_delivered("status-update", "user-interupted")
    assert str(failed.value).splitlines()[0].startswith(
        "mockvapi: 'user-interupted' was never delivered; expected 'status-update', 'user-interupted' in that "
        "order; nearest delivered type: 'user-interrupted'; delivered: status-update×"
    )
    with pytest.raises(ExpectationFailed, match=r"never delivered: \['user-interupted'\]; nearest delivered type"):
        call.assert_delivered("status-update", "user-interupted", in_order=False)


async def test_failure_timeline_centres_on_the_point_of_failure() -> None:
    async with MockVapi(webhook=ok) as vapi:
        call = await vapi.play("barge-in")
    with pytest.raises(ExpectationFailed) as failed:
        call.assert_not_delivered("user-interrupted")
    lines = str(failed.value).splitlines()
    centre = next(line for line in lines if line.startswith("  > "))
    assert "webhook   user-interrupted" in centre and "-> 200 in 0ms" in centre
    assert lines[-1].strip().startswith("... ") and lines[-1].endswith("later")
    assert sum(1 for line in lines if "s  webhook" in line) == 13  # 6 either side


async def test_assert_ended_and_assert_replied_failures() -> None:
    async with MockVapi(webhook=failing, strict=False) as vapi:
        call = await vapi.play(SHORT)
    with pytest.raises(ExpectationFailed, match="expected the call to end with 'silence-timed-out', it ended with"):
        call.assert_ended("silence-timed-out")
    with pytest.raises(ExpectationFailed, match=r"'status-update' #\d+ got status 500 .* expected 200; body: "):
        call.assert_replied("status-update")
    with pytest.raises(ExpectationFailed, match="no 'tool-calls' was delivered to a webhook"):
        call.assert_replied("tool-calls")
    with pytest.raises(ExpectationFailed, match=r"problem\(s\) recorded:\n  - delivery-failed at \d+\.\d{3}s: "):
        call.assert_no_problems()


async def test_expectation_failed_is_an_assertion_error() -> None:
    async with MockVapi() as vapi:
        call = await vapi.play(SHORT)
    with pytest.raises(AssertionError):
        call.assert_ended("voicemail")


# -- checks and problem budgets ----------------------------------------------------------------------


async def test_check_lists_problems_once_when_strict() -> None:
    async with MockVapi(webhook=failing) as vapi:
        call = await vapi.play(SHORT)
    faults = len(call.problems)
    assert faults == len(call.deliveries()) > 8
    with pytest.raises(ExpectationFailed) as failed:
        vapi.check()
    text = str(failed.value)
    assert f"{faults} problem(s) recorded, none allowed:" in text
    # Every delivery got the same 500: one line says so, not one per delivery.
    assert text.count("delivery-failed at") == 1
    assert (f"delivery-failed at {call.problems[0].at:.3f}s: every delivery to callable:failing answered "
            f"HTTP 500 ({faults} deliveries)\n") in text
    assert call.problem_budget(strict=True) == 0 and call.problem_budget(strict=False) is None


async def test_lenient_check_ignores_problems_but_not_expectations() -> None:
    async with MockVapi(webhook=failing, strict=False) as vapi:
        await vapi.play(SHORT)
        vapi.check()
        await vapi.play(SHORT.replace("ended_reason: customer-ended-call", "ended_reason: voicemail"))
    with pytest.raises(ExpectationFailed, match="ended with 'customer-ended-call', expected 'voicemail'"):
        vapi.check()


async def test_a_scenario_problem_budget_wins_over_strictness() -> None:
    budget = SHORT + "  problems: 40\n"
    async with MockVapi(webhook=failing) as vapi:
        call = await vapi.play(budget)
        vapi.check()  # strict, but the scenario allows them
    assert call.problem_budget(strict=True) == 40
    assert call.expectation_failures() == []


async def test_expectation_failures_keep_the_scenario_default_budget() -> None:
    # The QA runner reads expectation_failures(): an `expect` block allows no problems by default.
    async with MockVapi(webhook=failing, strict=False) as vapi:
        call = await vapi.play(SHORT)
    [failure] = call.expectation_failures()
    assert failure.startswith(f"{len(call.problems)} problem(s) recorded, at most 0 expected: delivery-failed")
    assert call.expectation_failures(problem_budget=False) == []
    with pytest.raises(ExpectationFailed, match="expectations not met"):
        call.check()


# -- a call given no webhook -------------------------------------------------------------------------


async def test_a_call_sent_nowhere_counts_what_its_server_would_have_been_sent() -> None:
    async with MockVapi() as vapi:
        calls = [await vapi.play(name) for name in ("barge-in", "tool-call", "slow-tool-hang")]
        vapi.check()  # their expect blocks (delivered: user-interrupted, tool-calls, hang) hold
    call = calls[0]
    assert call.sent_nowhere and call.deliveries() == []
    assert call.delivered_types() == [m["type"] for m in call.messages("server")]
    assert call.delivered_types("webhook") == []
    call.assert_delivered("model-output", "user-interrupted")
    timeline = call.timeline_text(focus_type="user-interrupted")
    assert timeline.splitlines()[0] == "    (no webhook: the messages Vapi would have sent, not delivered)"
    assert "  > " in timeline and "(none)    user-interrupted" in timeline


async def test_a_call_with_a_webhook_is_not_sent_nowhere() -> None:
    async with MockVapi(webhook=ok) as vapi:
        call = await vapi.play(SHORT)
    assert not call.sent_nowhere and call.targeted


# -- what users read ---------------------------------------------------------------------------------


async def test_reprs() -> None:
    async with MockVapi(webhook=ok, seed=3) as vapi:
        call = await vapi.play(SHORT)
        assert repr(call) == f"Call('short', id={call.id[:8]}, seed=3, ended=customer-ended-call, " \
            f"{len(call.deliveries())} deliveries)"
        assert repr(vapi).startswith("MockVapi(VirtualClock, seed=3, 1 calls, Journal(")


# -- failure messages a newcomer can act on ----------------------------------------------------------


async def test_a_wrong_webhook_path_is_said_once_naming_the_path_and_the_app() -> None:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/webhook")
    def hook(body: dict[str, Any]) -> dict[str, Any]:
        return {}

    async with MockVapi(webhook=app, webhook_path="/wrong") as vapi:
        call = await vapi.play(SHORT)
    with pytest.raises(ExpectationFailed) as failed:
        vapi.check()
    text = str(failed.value)
    deliveries = len(call.deliveries())
    assert text.splitlines()[:3] == [
        "mockvapi: call failed:",
        f"  - {deliveries} problem(s) recorded, none allowed:",
        f"      delivery-failed at {call.problems[0].at:.3f}s: every delivery to asgi:FastAPI POST /wrong answered "
        f"HTTP 404 ({deliveries} deliveries); nothing is routed at that path: check webhook_path (in-process "
        "apps) or the server URL's path",
    ]
    assert " at 0x" not in text and " at 0x" not in repr(vapi)


async def test_teardown_check_focuses_the_first_problem_and_lists_problems_in_time_order() -> None:
    from mockvapi.engine.journal import Problem

    def late_failure(body: dict[str, Any], headers: Any) -> Any:
        return (500, {}) if body["message"]["type"] == "end-of-call-report" else {}

    async with MockVapi(webhook=late_failure) as vapi:
        call = await vapi.play(SHORT)
    # Recorded after the report's failure, but it happened earlier: it is the one to read first.
    vapi.journal.problem(Problem(call.id, "non-200-reply", "tool 'x' reply had status 500", 1.25))
    with pytest.raises(ExpectationFailed) as failed:
        vapi.check()
    lines = str(failed.value).splitlines()
    report_at = call.deliveries(type="end-of-call-report")[0].at
    assert lines[1:4] == [
        "  - 2 problem(s) recorded, none allowed:",
        "      non-200-reply at 1.250s: tool 'x' reply had status 500",
        f"      delivery-failed at {report_at:.3f}s: end-of-call-report -> callable:late_failure: HTTP 500",
    ]
    centre = next(line for line in lines if line.startswith("  > "))
    nearest = min(call.deliveries(), key=lambda d: abs(d.at - 1.25))
    assert centre.startswith(f"  > {nearest.at:8.3f}s") and nearest.message_type != "end-of-call-report"


async def test_a_failing_expect_reply_names_its_step_by_id_else_by_number() -> None:
    scenario = """
version: 1
name: tools
assistant:
  tools:
    - name: check
steps:
  - user: "Book me in."
  - tool:
      name: check
      result: {slots: ["09:00"]}
      expect_reply: {result_contains: "09:00"}
  - id: confirm-booking
    tool:
      name: check
      result: {slots: ["09:00"]}
      expect_reply: {result_contains: "09:00"}
  - end: customer-ended-call
"""

    def no_slots(body: dict[str, Any], headers: Any) -> dict[str, Any]:
        message = body["message"]
        if message["type"] != "tool-calls":
            return {}
        return {"results": [{"toolCallId": message["toolCallList"][0]["id"], "result": "none"}]}

    async with MockVapi(webhook=no_slots, strict=False) as vapi:
        call = await vapi.play(scenario)
    assert [p.detail for p in call.problems if p.kind == "expectation"] == [
        "step #2: tool 'check': result 'none' does not contain '09:00'",
        "step 'confirm-booking': tool 'check': result 'none' does not contain '09:00'",
    ]


async def test_a_misnamed_profile_is_refused_where_it_is_given() -> None:
    with pytest.raises(ValueError, match="profile must be 'realistic' or 'spec', got 'strict'"):
        MockVapi(profile="strict")  # type: ignore[arg-type]
    async with MockVapi(clock=VirtualClock()) as vapi:
        with pytest.raises(ValueError, match="profile must be 'realistic' or 'spec', got 'Spec'"):
            vapi.start_call("happy-path", profile="Spec")  # type: ignore[arg-type]
        for profile, confidence in (("spec", False), ("realistic", True)):
            call = await vapi.play("happy-path", profile=profile)
            finals = [m for m in call.messages("client") if m["type"] == "transcript" and m["role"] == "user"]
            assert finals and any("confidence" in m for m in finals) is confidence
