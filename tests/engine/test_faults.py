"""Fault injection: for every kind, what the receiver actually got (order, bodies, headers), and the
journal's marker; scenario-level, step-level and server-wide plans; determinism; the pure layer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockvapi.engine.journal import Journal
from mockvapi.errors import ScenarioError
from mockvapi.scenario.fault_files import load_fault_text
from mockvapi.scenario.faults import Fault, FaultPlan, parse_compact, plan_of
from mockvapi.scenario.loader import load_text
from mockvapi.testing import MockVapi

SUBSCRIBED = (
    "[status-update, speech-update, conversation-update, end-of-call-report, hang, user-interrupted, "
    "model-output, tool-calls]"
)


def scenario(faults: str = "", steps: str = "", extra: str = "") -> str:
    steps = steps or """
  - user: "Book me in for Tuesday"
  - assistant: "Sure, one moment while I check the calendar."
  - end: customer-ended-call"""
    return f"""version: 1
name: faults-test
seed: 3
assistant:
  firstMessage: "Hi, Riley here."
  serverMessages: {SUBSCRIBED}
{extra}
steps:{steps}
{faults}
"""


BARGE_IN = """
  - user: "Book me in"
  - id: cut
    assistant:
      say: "Sure, let me check the calendar for the whole of next week for you right now."
      interrupted: {after: 3 tokens, by: "Actually, tomorrow"}
  - assistant: "Tomorrow it is."
  - end: customer-ended-call"""

SLOW_TOOL = """
  - user: "Is Tuesday free?"
  - tool: {name: check, latency: 7s, hang_after: 5s}
  - assistant: "Tuesday is free."
  - end: customer-ended-call"""
TOOLS = "  tools: [{name: check}]"
SECRET = "  server: {url: 'http://127.0.0.1:9/hook', secret: s3cret}"


class Receiver:
    """An in-process webhook that records what it got, and may answer some deliveries with a status."""

    def __init__(self, statuses: dict[str, list[int]] | None = None) -> None:
        self.got: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.statuses = statuses or {}

    def __call__(self, body: dict[str, Any], headers: Any) -> Any:
        message = body["message"]
        self.got.append((message, dict(headers)))
        queue = self.statuses.get(message["type"])
        if queue:
            return (queue.pop(0), "")
        if message["type"] == "tool-calls":
            return {"results": [{"toolCallId": c["id"], "result": "free"} for c in message["toolCallList"]]}
        return None

    @property
    def types(self) -> list[str]:
        return [m["type"] for m, _ in self.got]


async def play(text: str, *, faults: Any = None, receiver: Receiver | None = None, **options: Any) -> Any:
    receiver = receiver or Receiver()
    async with MockVapi(webhook=receiver, faults=faults, strict=False) as vapi:
        call = await vapi.play(load_text(text), **options)
    return call, receiver


def injected(call: Any, channel: str = "webhook") -> list[tuple[str, str | None, bool]]:
    return [(d.message_type, d.injected, d.sent) for d in call.deliveries(channel=channel, injected=True)]


# -- each kind ----------------------------------------------------------------------------------------


async def test_duplicate_delivers_the_same_body_again_right_after_and_is_marked() -> None:
    base, plain = await play(scenario())
    call, got = await play(scenario("faults:\n  - duplicate: {type: speech-update, nth: 2}"))
    i = [n for n, t in enumerate(plain.types) if t == "speech-update"][1]
    assert got.types == plain.types[: i + 1] + ["speech-update"] + plain.types[i + 1 :]
    assert got.got[i][0] == got.got[i + 1][0]  # byte-for-byte the same message
    assert injected(call) == [("speech-update", "duplicate", True)]
    assert call.timeline.jsonl() == base.timeline.jsonl()  # what Vapi meant to send is unchanged


async def test_reorder_delivers_a_message_after_the_one_that_follows_it() -> None:
    _, plain = await play(scenario())
    call, got = await play(scenario("faults:\n  - reorder: status-update"))
    i = plain.types.index("status-update")
    expected = list(plain.got)
    expected[i], expected[i + 1] = expected[i + 1], expected[i]
    assert [m for m, _ in got.got] == [m for m, _ in expected]
    assert injected(call) == [("status-update", "reorder", True)]


async def test_drop_sends_nothing_but_records_the_delivery_as_not_sent() -> None:
    _, plain = await play(scenario())
    call, got = await play(scenario("faults:\n  - drop: {type: conversation-update, every: true}"))
    assert got.types == [t for t in plain.types if t != "conversation-update"]
    dropped = call.deliveries(type="conversation-update")
    assert dropped and all(d.injected == "drop" and not d.sent for d in dropped)
    assert "conversation-update" not in call.delivered_types()
    assert "not sent" in repr(dropped[0]) and "injected='drop'" in repr(dropped[0])


async def test_delay_moves_a_message_later_in_call_time_and_others_overtake_it() -> None:
    _, plain = await play(scenario())
    call, got = await play(scenario("faults:\n  - delay: {type: speech-update, by: 2s}"))
    first = plain.types.index("speech-update")
    delayed = plain.got[first][0]
    bodies = [m for m, _ in got.got]
    assert bodies.index(delayed) > first + 1  # overtaken by the messages of the next two seconds
    assert [m for m in bodies if m != delayed] == [m for m, _ in plain.got if m != delayed]
    [late] = call.deliveries(injected=True)
    original = next(at for at, m in call.timeline.messages() if m["type"] == "speech-update")
    assert late.injected == "delay 2s" and late.at == pytest.approx(original + 2)
    assert [d.at for d in call.deliveries()] == sorted(d.at for d in call.deliveries())


async def test_stale_token_of_the_cut_turn_arrives_after_user_interrupted() -> None:
    call, got = await play(scenario("faults:\n  - stale-token", BARGE_IN))
    i = got.types.index("user-interrupted")
    cut = got.got[i][0]["turnId"]
    stale = got.got[i + 1][0]
    assert stale["type"] == "model-output" and stale["turnId"] == cut
    tokens = [m for m, _ in got.got[:i] if m["type"] == "model-output" and m.get("turnId") == cut]
    assert stale == tokens[-1]
    assert injected(call) == [("model-output", "stale-token", True)]
    # the in-process client stream (model-output goes to clients by default) gets it too
    assert [marker for marker, _ in call.client.injected] == ["stale-token"]
    stream = [m["type"] for m in call.client.received]
    assert stream[stream.index("user-interrupted") + 1] == "model-output"


async def test_conversation_update_before_a_hang_arrives_after_it() -> None:
    _, plain = await play(scenario("", SLOW_TOOL, TOOLS))
    call, got = await play(scenario("faults:\n  - update-after-hang", SLOW_TOOL, TOOLS))
    h = plain.types.index("hang")
    assert plain.types[h - 1] == "conversation-update"
    assert got.types[h - 1 : h + 1] == ["hang", "conversation-update"]
    assert got.got[h][0] == plain.got[h - 1][0]
    assert injected(call) == [("conversation-update", "update-after-hang", True)]
    assert len(got.types) == len(plain.types)


async def test_wrong_secret_replaces_x_vapi_secret_on_chosen_deliveries() -> None:
    call, got = await play(scenario("faults:\n  - wrong-secret: {type: status-update, value: nope}", extra=SECRET))
    secrets = [(m["type"], h["X-Vapi-Secret"]) for m, h in got.got]
    assert secrets[0] == ("status-update", "nope")  # the first status-update only (nth defaults to 1)
    assert {secret for _, secret in secrets[1:]} == {"s3cret"}
    marked = call.deliveries(injected=True)
    assert {d.injected for d in marked} == {"wrong-secret"}
    assert all(d.request_headers["X-Vapi-Secret"] == "nope" for d in marked)
    assert all(d.request_headers["X-Vapi-Secret"] == "s3cret" for d in call.deliveries(injected=False))
    # a webhook that accepts a wrong secret is told so
    assert {p.kind for p in call.problems} == {"wrong-secret-accepted"}


async def test_a_webhook_refusing_the_wrong_secret_is_not_a_problem() -> None:
    receiver = Receiver({"status-update": [401] * 10})
    call, _ = await play(
        scenario("faults:\n  - wrong-secret: {type: status-update, every: true}", extra=SECRET),
        receiver=receiver,
    )
    assert call.problems == []


async def test_retry_after_5xx_resends_n_times_with_a_delay_without_a_backoff_plan() -> None:
    receiver = Receiver({"end-of-call-report": [500, 503]})
    call, got = await play(scenario("faults:\n  - retry-5xx: {times: 3, delay: 2s}"), receiver=receiver)
    reports = [m for m, _ in got.got if m["type"] == "end-of-call-report"]
    assert len(reports) == 3 and reports[0] == reports[1] == reports[2]  # the same delivery, idempotency
    rows = [(d.injected, d.status) for d in call.deliveries(type="end-of-call-report")]
    assert rows == [(None, 500), ("retry-5xx 1/3", 503), ("retry-5xx 2/3", 200)]
    ats = [d.at for d in call.deliveries(type="end-of-call-report")]
    assert ats[1] - ats[0] == pytest.approx(2) and ats[2] - ats[0] == pytest.approx(4)
    assert call.problems == []  # it got through in the end


async def test_retries_stop_at_the_limit_and_the_failure_is_a_problem() -> None:
    receiver = Receiver({"end-of-call-report": [500] * 5})
    call, got = await play(scenario("faults:\n  - retry-5xx: {type: end-of-call-report, times: 2}"), receiver=receiver)
    assert got.types.count("end-of-call-report") == 3
    assert [p.kind for p in call.problems] == ["delivery-failed"]


async def test_close_websocket_ends_the_in_process_client_stream_before_the_chosen_message() -> None:
    call, _ = await play(scenario("faults:\n  - close-websocket: {type: speech-update, nth: 2}"))
    assert call.client is not None
    types = [m["type"] for m in call.client.received]
    assert types.count("speech-update") == 1 and call.client.closed
    assert call.client.injected[0][0] == "close"
    assert [m["type"] async for m in call.client] == types


# -- scopes -------------------------------------------------------------------------------------------


async def test_step_level_faults_hit_only_that_steps_messages() -> None:
    steps = """
  - user: "Hi"
  - user:
      say: "Book me in"
    faults: [drop: {type: speech-update, every: true}]
  - end: customer-ended-call"""
    call, got = await play(scenario(steps=steps))
    dropped = call.deliveries(injected=True)
    assert dropped and {d.message["role"] for d in dropped} == {"user"}
    steps_of = {e.seq: e.step for e in call.timeline.events}
    assert len(dropped) == 2 and got.types.count("speech-update") > 2
    assert steps_of  # the timeline still has every event
    assert call.timeline.jsonl().count('"speech-update"') == got.types.count("speech-update") + 2


async def test_top_level_step_selector_by_id_and_by_number() -> None:
    by_id, _ = await play(scenario("faults:\n  - drop: {type: user-interrupted, step: cut}", BARGE_IN))
    by_number, _ = await play(scenario("faults:\n  - drop: {type: user-interrupted, step: 2}", BARGE_IN))
    other, _ = await play(scenario("faults:\n  - drop: {type: user-interrupted, step: 3}", BARGE_IN))
    assert injected(by_id) == injected(by_number) == [("user-interrupted", "drop", False)]
    assert injected(other) == []


async def test_at_selects_the_first_match_at_or_after_a_call_offset() -> None:
    call, _ = await play(scenario("faults:\n  - duplicate: {type: speech-update, at: 4s}"))
    [copy] = call.deliveries(injected=True)
    assert copy.at >= 4
    earlier = [d for d in call.deliveries(type="speech-update") if d.at < 4]
    assert earlier and all(d.injected is None for d in earlier)


async def test_channel_selector_keeps_a_fault_off_the_other_channel() -> None:
    call, _ = await play(scenario("faults:\n  - stale-token: {channel: websocket}", BARGE_IN))
    assert injected(call) == []  # nothing on the webhook
    assert [marker for marker, _ in call.client.injected] == ["stale-token"]


async def test_server_wide_faults_apply_to_every_call_and_combine_with_the_scenarios() -> None:
    receiver = Receiver()
    async with MockVapi(webhook=receiver, faults=["duplicate:status-update,every=true"], strict=False) as vapi:
        one = await vapi.play(load_text(scenario("faults:\n  - drop: hang")))
        vapi.faults = None
        two = await vapi.play(load_text(scenario()), seed=9)
        three = await vapi.play(load_text(scenario()), seed=10, faults={"drop": "end-of-call-report"})
    assert {d.injected for d in one.deliveries(injected=True)} == {"duplicate"}
    assert len(one.deliveries(injected=True)) == one.delivered_types().count("status-update") // 2
    assert two.deliveries(injected=True) == []
    assert injected(three) == [("end-of-call-report", "drop", False)]


# -- determinism, journal ------------------------------------------------------------------------------


async def test_same_seed_and_plan_give_the_same_deliveries() -> None:
    plan = ["reorder:speech-update,every=true", "duplicate:conversation-update", "delay:hang,by=1s", "stale-token"]
    runs = [await play(scenario(steps=BARGE_IN), faults=plan) for _ in range(2)]
    (a, ra), (b, rb) = runs
    assert json.dumps([m for m, _ in ra.got]) == json.dumps([m for m, _ in rb.got])
    assert injected(a) == injected(b) and injected(a)


async def test_injected_markers_round_trip_through_jsonl() -> None:
    call, _ = await play(scenario("faults:\n  - drop: status-update\n  - duplicate: hang"))
    journal = call.vapi.journal
    again = Journal.from_jsonl(journal.to_jsonl())
    assert [(d.injected, d.sent) for d in again] == [(d.injected, d.sent) for d in journal]
    assert any(d.injected == "drop" and not d.sent for d in again)


async def test_timeline_text_shows_injected_deliveries() -> None:
    call, _ = await play(scenario("faults:\n  - drop: status-update"))
    assert "[injected: drop]" in call.timeline_text(focus_type="status-update")


# -- the plan -----------------------------------------------------------------------------------------


def test_compact_form_round_trips() -> None:
    for text in ["drop:transcript,nth=2", "delay:hang,by=2s", "retry-5xx,times=3,delay=0.5s", "stale-token",
                 "close-websocket,at=4s,code=1011", "wrong-secret:status-update,every=true,value=x"]:
        fault = Fault.model_validate(text)
        assert Fault.model_validate(fault.compact()) == fault, text
    assert parse_compact("delay:hang,by=2s") == {"delay": {"type": "hang", "by": "2s"}}
    assert repr(plan_of("drop:hang")) == "FaultPlan(['drop:hang'])"


def test_plan_errors_say_what_and_where() -> None:
    with pytest.raises(ScenarioError, match=r"'drp' is not a fault kind; did you mean 'drop'\?"):
        plan_of("drp:hang")
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.delay\.by: missing required key 'by'"):
        plan_of([{"delay": "hang"}])
    with pytest.raises(ScenarioError) as err:
        load_fault_text("- drop: hang\n- delay: {type: hang, by: soon}\n", "plan.yaml")
    assert str(err.value).startswith("plan.yaml:2:27: expected a duration")
    assert load_fault_text("faults:\n  - stale-token\n").compact() == ["stale-token"]
    assert plan_of(FaultPlan()) == FaultPlan() and not plan_of(None)


def test_faults_appear_in_the_editor_schema_with_descriptions() -> None:
    from mockvapi.qa.schema import editor_schema

    schema = editor_schema()
    fault = schema["$defs"]["Fault"]
    assert set(fault["properties"]) >= {"duplicate", "stale-token", "retry-5xx", "close-websocket"}
    assert all(p.get("description") for p in fault["properties"].values())
    assert schema["properties"]["faults"]["description"]
    assert schema["$defs"]["Step"]["properties"]["faults"]["description"]
