"""The call simulator: tokens and timing, interruptions, replies from the customer's server, control
messages, wire profiles, side filtering, and the invariants over every bundled scenario."""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mockvapi.engine.events import Ask, Event, Reply, Waiting
from mockvapi.engine.simulator import CallSimulation, drive, natural_call_id, simulate, timeline_of
from mockvapi.engine.speech import chunks, tokenize, tokens_for_words
from mockvapi.engine.timeline import Timeline
from mockvapi.engine.tools import NO_RESULT
from mockvapi.errors import ScenarioError
from mockvapi.library import bundled_paths
from mockvapi.models.messages import DEFAULT_SERVER_MESSAGES, compact_json
from mockvapi.scenario.loader import LoadedScenario, load_file, load_text

from .invariants import check_invariants, hang_threshold, structure

Wire = dict[str, Any]
Answer = Callable[[Ask], Reply | Waiting | None]


def load(yaml_text: str) -> LoadedScenario:
    return load_text(textwrap.dedent(yaml_text), "<test>")


def drive_with(sim: CallSimulation, answer: Answer, on_event: Callable[[Event], None] | None = None) -> Timeline:
    """Run a simulation answering each Ask with `answer(ask)` (None: the scripted reply)."""
    generator = sim.run()
    try:
        item = next(generator)
        while True:
            if isinstance(item, Ask):
                item = generator.send(answer(item))
            else:
                if on_event is not None:
                    on_event(item)
                item = generator.send(None)
    except StopIteration:
        pass
    return timeline_of(sim)


def play(yaml_text: str, answer: Answer = lambda ask: None, *, seed: int = 0,
         on_event: Callable[[CallSimulation, Event], None] | None = None) -> tuple[CallSimulation, Timeline]:
    sim = CallSimulation(load(yaml_text), seed=seed)
    timeline = drive_with(sim, answer, None if on_event is None else (lambda event: on_event(sim, event)))
    return sim, timeline


def of_type(messages: list[tuple[float, Wire]], *types: str) -> list[tuple[float, Wire]]:
    return [(at, m) for at, m in messages if m["type"] in types]


def history(timeline: Timeline) -> list[tuple[str, str]]:
    return [(item["role"], item.get("message") or item.get("result", "")) for item in timeline.history]


def text_turns(messages: list[tuple[float, Wire]]) -> dict[str, list[tuple[float, str]]]:
    """turnId -> [(offset, token)] for text model-outputs (realistic profile)."""
    turns: dict[str, list[tuple[float, str]]] = {}
    for at, m in of_type(messages, "model-output"):
        if isinstance(m["output"], str):
            turns.setdefault(m["turnId"], []).append((at, m["output"]))
    return turns


def assert_clean(timeline: Timeline, hang_after: float | None = None) -> None:
    violations = check_invariants(timeline, hang_after=hang_after)
    assert violations == [], "\n".join(violations[:20])


# ---------------------------------------------------------------------------------------------
# tokenize and chunks


def test_tokens_keep_their_leading_space_and_punctuation_stands_apart() -> None:
    assert tokenize("Sure! Let me check.") == ["Sure", "!", " Let", " me", " check", "."]


def test_contractions_times_and_tags_tokenize_like_an_llm_stream() -> None:
    assert tokenize("I'd say 09:00 <flush /> ok") == ["I'd", " say", " 09", ":", "00", " <flush />", " ok"]


@pytest.mark.parametrize("text", [
    "Hello.", "  padded text  ", "Café – déjà vu… right?", "Line one.\nLine two!", "a,b;c:d", "Mr. O’Brien's 3.5%",
])
def test_tokens_concatenate_to_the_stripped_text(text: str) -> None:
    assert "".join(tokenize(text)) == text.strip()


def test_blank_text_has_no_tokens() -> None:
    assert tokenize("") == []
    assert tokenize("   ") == []
    assert chunks([]) == []


def test_chunks_split_at_sentence_ends_followed_by_a_spaced_token() -> None:
    tokens = tokenize("Sure! Let me look at 09:00. Okay")
    # "09:00" keeps its colon: the next token has no leading space, so it is not a sentence end.
    assert chunks(tokens) == [("Sure!", 1), ("Let me look at 09:00.", 9), ("Okay", 10)]


def test_chunk_indexes_point_at_each_chunks_last_token() -> None:
    tokens = tokenize("One. Two? Three; four: five")
    for text, last in chunks(tokens):
        assert "".join(tokens[: last + 1]).strip().endswith(text)


def test_tokens_for_words_takes_the_punctuation_after_the_last_word() -> None:
    tokens = tokenize("Sure! Let me look, okay?")
    assert [tokens_for_words(tokens, n) for n in range(6)] == [0, 2, 3, 4, 6, 8]


# ---------------------------------------------------------------------------------------------
# timing

TIMING_YAML = """
version: 1
name: timing
timing:
  tokens_per_second: 20
  first_token_latency: 600ms
  wait_seconds: 400ms
  words_per_minute: 120
  jitter: {jitter}
steps:
  - user: "Please tell me the hours."
  - assistant: "We open at nine and close at five every single weekday."
"""


def test_tokens_are_spaced_one_over_tokens_per_second_without_jitter() -> None:
    timeline = simulate(load(TIMING_YAML.format(jitter=0)))
    messages = timeline.messages(side="client")
    (tokens,) = text_turns(messages).values()
    gaps = [round((b - a) * 1000) for (a, _), (b, _) in zip(tokens, tokens[1:], strict=False)]
    assert set(gaps) == {50}
    user_update = [at for at, m in of_type(messages, "conversation-update") if m["messages"][-1]["role"] == "user"]
    # The model starts waitSeconds after the user's speech stop, which is 50 ms before the update.
    assert abs((tokens[0][0] - user_update[0]) * 1000 - (400 - 50 + 600)) <= 1
    assert_clean(timeline)


def test_assistant_speech_lasts_words_over_words_per_minute_without_jitter() -> None:
    timeline = simulate(load(TIMING_YAML.format(jitter=0)))
    bot = timeline.history[-1]
    assert bot["role"] == "bot"
    assert bot["duration"] == 11 * 60_000 // 120  # 11 words at 120 wpm, one sentence


@pytest.mark.parametrize("seed", range(5))
def test_jitter_stays_within_its_bounds(seed: int) -> None:
    timeline = simulate(load(TIMING_YAML.format(jitter="20%")), seed=seed)
    (tokens,) = text_turns(timeline.messages(side="client")).values()
    gaps = [(b - a) * 1000 for (a, _), (b, _) in zip(tokens, tokens[1:], strict=False)]
    assert all(40 - 1 <= gap <= 60 + 1 for gap in gaps)
    assert len({round(gap) for gap in gaps}) > 1, "jitter should vary the spacing"
    assert 11 * 500 * 0.8 - 1 <= timeline.history[-1]["duration"] <= 11 * 500 * 1.2 + 1
    assert_clean(timeline)


def test_a_slow_model_sends_hang_and_the_call_goes_on() -> None:
    timeline = simulate(load("""
        version: 1
        name: slow model
        steps:
          - user: "Are you there?"
          - assistant: {say: "Yes, sorry for the wait.", delay: 6s}
          - user: "Okay."
    """))
    messages = timeline.messages(side="client")
    (hang_at, _), = of_type(messages, "hang")
    first_token = of_type(messages, "model-output")[0][0]
    assert hang_at < first_token
    assert [m["type"] for _, m in messages][-1] == "status-update"
    assert_clean(timeline, hang_after=5.0)


def test_a_prompt_model_sends_no_hang() -> None:
    timeline = simulate(load(TIMING_YAML.format(jitter=0)))
    assert not of_type(timeline.messages(side="client"), "hang")


# ---------------------------------------------------------------------------------------------
# interruptions

BARGE_IN_YAML = """
version: 1
name: barge-in
timing: {{jitter: 0}}
steps:
  - user: "What are the options?"
  - assistant:
      say: "We have three options. The first is cheap, the second is fast and the third is both."
      interrupted: {{after: {after}, by: "The cheap one."}}
  - assistant: "The cheap one it is."
"""


def test_an_interruption_by_tokens_cuts_the_turn_after_that_many_tokens() -> None:
    timeline = simulate(load(BARGE_IN_YAML.format(after="4 tokens")))
    messages = timeline.messages(side="client")
    (cut_at, cut), = of_type(messages, "user-interrupted")
    turns = text_turns(messages)
    cut_turn = turns[cut["turnId"]]
    # The LLM streams ahead of speech: at least the 4 spoken tokens went out, all before the cut...
    assert [token for _, token in cut_turn][:4] == ["We", " have", " three", " options"]
    assert len(cut_turn) > 4
    assert cut_turn[-1][0] <= cut_at
    # ...and history keeps only the 4 tokens' words, spoken by the time the user cut in.
    assert history(timeline)[1:] == [("bot", "We have three options"), ("user", "The cheap one."),
                                     ("bot", "The cheap one it is.")]
    assert len(turns) == 2 and list(turns)[-1] != cut["turnId"]
    assert_clean(timeline)


def test_an_interruption_by_time_keeps_only_the_words_spoken_by_then() -> None:
    timeline = simulate(load(BARGE_IN_YAML.format(after="1.5s")))
    messages = timeline.messages(side="client")
    (cut_at, cut), = of_type(messages, "user-interrupted")
    bot = timeline.history[1]
    # 1.5 s at the default 165 words per minute: 4 words, with the period that follows them.
    assert bot["message"] == "We have three options."
    assert abs(bot["duration"] - 1500) <= 1
    assert "".join(token for _, token in text_turns(messages)[cut["turnId"]]).startswith(bot["message"])
    assert_clean(timeline)


def test_an_interruption_past_the_last_token_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match=r"interruption after 40 tokens, but the answer has only \d+ tokens"):
        simulate(load(BARGE_IN_YAML.format(after="40 tokens")))


def test_a_blank_interrupted_answer_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="blank"):
        simulate(load("""
            version: 1
            name: blank
            steps:
              - assistant: {say: " ", interrupted: {after: 1 token, by: "Hi"}}
        """))


def test_blank_assistant_text_says_nothing() -> None:
    timeline = simulate(load("""
        version: 1
        name: blank
        steps:
          - user: "Hello?"
          - assistant: " "
    """))
    assert [role for role, _ in history(timeline)] == ["user"]
    assert_clean(timeline)


def test_a_hangup_mid_answer_ends_the_call_without_user_interrupted() -> None:
    timeline = simulate(load("""
        version: 1
        name: hangup
        timing: {jitter: 0}
        steps:
          - user: "How much is it?"
          - assistant:
              say: "It depends on the plan you pick and on how many people are in your household."
              interrupted: {after: 5 tokens, hangup: true}
    """))
    client = timeline.messages(side="client")
    assert not of_type(client, "user-interrupted")
    assert history(timeline)[-1] == ("bot", "It depends on the plan")
    assert timeline.ended_reason == "customer-ended-call"
    server_types = [m["type"] for _, m in timeline.messages(side="server")]
    assert server_types[-2:] == ["status-update", "end-of-call-report"]
    after_cut = [m for at, m in client if at > of_type(client, "model-output")[-1][0]]
    assert not [m for m in after_cut if m["type"] == "speech-update" and m["role"] == "user"]
    assert_clean(timeline)


# ---------------------------------------------------------------------------------------------
# tool replies sent into run()

TOOL_YAML = """
version: 1
name: tool
assistant:
  tools: [{name: lookup, parameters: {date: string}}]
steps:
  - user: "Any slots on Tuesday?"
  - tool: {name: lookup, arguments: {date: tuesday}, result: {slots: ["09:00"]}}
  - assistant: "Let me see what else I can do."
"""
TOOL_TEMPLATE_YAML = TOOL_YAML.replace("Let me see what else I can do.",
                                       "The first slot is {{ tools.lookup.json.slots[0] }}.")


def tool_answer(body: Callable[[str], Any] | None = None, *, status: int | None = 200, latency: float = 0.2,
                error: str | None = None) -> Answer:
    """Answer tool-calls with `body(tool_call_id)`; every other Ask gets its scripted reply."""

    def answer(ask: Ask) -> Reply | None:
        if ask.kind != "tool-calls":
            return None
        call_id = ask.event.message.tool_call_list[0].id  # type: ignore[attr-defined]
        return Reply(status, None if body is None else body(call_id), latency, error=error)

    return answer


def tool_result(timeline: Timeline) -> str:
    (item,) = [i for i in timeline.history if i["role"] == "tool_call_result"]
    return str(item["result"])


def test_a_reply_result_changes_what_the_assistant_says_next() -> None:
    answer = tool_answer(lambda cid: {"results": [{"toolCallId": cid, "result": '{"slots":["11:15"]}'}]})
    sim, timeline = play(TOOL_TEMPLATE_YAML, answer)
    assert tool_result(timeline) == '{"slots":["11:15"]}'
    assert history(timeline)[-1] == ("bot", "The first slot is 11:15.")
    (_, result), = of_type(timeline.messages(side="client"), "tool-calls-result")
    assert result["toolCallResult"]["result"] == '{"slots":["11:15"]}'
    assert sim.problems == []
    assert_clean(timeline)


def test_an_error_result_is_stored_as_its_text() -> None:
    sim, timeline = play(TOOL_YAML, tool_answer(lambda cid: {"results": [{"toolCallId": cid, "error": "Closed."}]}))
    assert tool_result(timeline) == "Closed."
    assert sim.problems == []


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_2xx_reply_is_an_answer(status: int) -> None:
    sim, timeline = play(TOOL_YAML, tool_answer(lambda cid: {"results": [{"toolCallId": cid, "result": "ok"}]},
                                                status=status))
    assert tool_result(timeline) == "ok"
    assert sim.problems == []


def test_a_top_level_error_is_the_result() -> None:
    # ServerMessageResponseToolCalls.error: the tool call as a whole was not successful.
    sim, timeline = play(TOOL_YAML, tool_answer(lambda cid: {"error": "Booking system down."}))
    assert tool_result(timeline) == "Booking system down."
    assert sim.problems == []


@pytest.mark.parametrize(("answer", "kind"), [
    (tool_answer(lambda cid: {"results": [{"toolCallId": cid, "result": "ok"}]}, status=500), "non-200-reply"),
    (tool_answer(lambda cid: {"results": [{"toolCallId": "call_wrong", "result": "ok"}]}), "unknown-tool-call-id"),
    (tool_answer(lambda cid: {"results": [{"toolCallId": cid, "result": "two\nlines"}]}), "bad-tool-result"),
    (tool_answer(lambda cid: {"result": "no list"}), "bad-tool-result"),
    (tool_answer(lambda cid: {"results": [{"toolCallId": cid}]}), "bad-tool-result"),
    (tool_answer(error="connection refused"), "delivery-failed"),
    (tool_answer(lambda cid: {"results": [{"toolCallId": cid, "result": {"a": [1]}}]}), "bad-tool-result"),
    (tool_answer(lambda cid: {"results": [{"toolCallId": cid, "result": ["a"]}]}), "bad-tool-result"),
    (tool_answer(lambda cid: {"results": [{"toolCallId": cid, "error": {"code": 1}}]}), "bad-tool-result"),
    (tool_answer(lambda cid: {"results": [{"toolCallId": cid, "result": "ok"}]}, status=302), "non-200-reply"),
    (tool_answer(lambda cid: {"error": "two\nlines"}), "bad-tool-result"),
    (tool_answer(None, status=204), "bad-tool-result"),
], ids=["non-200", "wrong-id", "multi-line", "no-results-list", "no-result", "refused", "object-result",
        "array-result", "object-error", "redirect", "multi-line-error", "no-body"])
def test_an_unusable_reply_gives_no_result_and_a_problem(answer: Answer, kind: str) -> None:
    sim, timeline = play(TOOL_YAML, answer)
    assert tool_result(timeline) == NO_RESULT
    assert [p.kind for p in sim.problems] == [kind]
    assert sim.problems[0].step == 1
    assert_clean(timeline)


def test_a_tool_timeout_sends_hang_then_no_result() -> None:
    sim, timeline = play(TOOL_YAML, tool_answer(status=None, latency=20.0, error="timeout"))
    assert tool_result(timeline) == NO_RESULT
    assert [p.kind for p in sim.problems] == ["timeout"]
    client = timeline.messages(side="client")
    (asked_at, _), = of_type(client, "tool-calls")
    (hang_at, _), = of_type(client, "hang")
    (result_at, _), = of_type(client, "tool-calls-result")
    assert round((hang_at - asked_at) * 1000) == 5000
    assert round((result_at - asked_at) * 1000) == 20000
    assert_clean(timeline, hang_after=5.0)


def test_waiting_sends_hang_once_and_asks_again() -> None:
    asks: list[Ask] = []

    def answer(ask: Ask) -> Reply | Waiting | None:
        if ask.kind != "tool-calls":
            return None
        asks.append(ask)
        if len(asks) == 1:
            return Waiting(elapsed=5.0)
        call_id = ask.event.message.tool_call_list[0].id  # type: ignore[attr-defined]
        return Reply(200, {"results": [{"toolCallId": call_id, "result": "late"}]}, 6.5)

    _, timeline = play(TOOL_YAML, answer)
    assert len(asks) == 2 and asks[1].hang_after is None
    assert len(of_type(timeline.messages(side="client"), "hang")) == 1
    assert tool_result(timeline) == "late"
    assert_clean(timeline, hang_after=5.0)


def test_a_reply_faster_than_the_scripted_latency_counts_as_that_latency() -> None:
    _, timeline = play(TOOL_YAML, tool_answer(lambda cid: {"results": [{"toolCallId": cid, "result": "x"}]},
                                              latency=0.01))
    client = timeline.messages(side="client")
    (asked_at, _), = of_type(client, "tool-calls")
    (result_at, _), = of_type(client, "tool-calls-result")
    assert round((result_at - asked_at) * 1000) == 300


def test_a_template_on_a_missing_tool_result_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="step #3"):
        drive_with_scenario_error(TOOL_TEMPLATE_YAML, tool_answer(status=500, body=lambda cid: {}))


def drive_with_scenario_error(yaml_text: str, answer: Answer) -> None:
    from mockvapi.engine.events import StepError
    from mockvapi.engine.simulator import step_error

    sim = CallSimulation(load(yaml_text))
    try:
        drive_with(sim, answer)
    except StepError as exc:
        raise step_error(sim, exc) from None


# ---------------------------------------------------------------------------------------------
# assistant-request

ASSISTANT_REQUEST_YAML = """
version: 1
name: inbound
call: {type: inboundPhoneCall, assistant_request: true}
assistant: {firstMessage: "Scripted hello."}
steps:
  - user: "Hi there."
"""


def assistant_answer(reply: Reply) -> Answer:
    return lambda ask: reply if ask.kind == "assistant-request" else None


def test_the_assistant_from_the_reply_is_the_one_that_speaks() -> None:
    reply = Reply(200, {"assistant": {"firstMessage": "Hello from your server."}}, 0.3)
    _, timeline = play(ASSISTANT_REQUEST_YAML, assistant_answer(reply))
    assert ("bot", "Hello from your server.") in history(timeline)
    assert ("bot", "Scripted hello.") not in history(timeline)
    server = timeline.messages(side="server")
    assert server[0][1]["type"] == "assistant-request" and "assistant" not in server[0][1]
    assert all(m["assistant"]["firstMessage"] == "Hello from your server." for _, m in server[1:])
    (_, started), = of_type(timeline.messages(side="client"), "assistant.started")
    assert started["newAssistant"]["firstMessage"] == "Hello from your server."
    assert_clean(timeline)


def test_the_replys_server_messages_decide_what_the_server_gets() -> None:
    reply = Reply(200, {"assistant": {"serverMessages": ["status-update", "end-of-call-report"]}}, 0.3)
    _, timeline = play(ASSISTANT_REQUEST_YAML, assistant_answer(reply))
    types = {m["type"] for _, m in timeline.messages(side="server")}
    assert types == {"assistant-request", "status-update", "end-of-call-report"}
    assert "serverMessages" not in timeline.context.assistant  # type: ignore[operator]


def test_an_assistant_id_reply_sets_the_calls_assistant_id() -> None:
    _, timeline = play(ASSISTANT_REQUEST_YAML, assistant_answer(Reply(200, {"assistantId": "asst-123"}, 0.3)))
    assert all(m["call"]["assistantId"] == "asst-123" for _, m in timeline.messages(side="server"))
    assert_clean(timeline)


def test_an_error_reply_is_spoken_and_ends_the_call() -> None:
    _, timeline = play(ASSISTANT_REQUEST_YAML, assistant_answer(Reply(200, {"error": "We are closed."}, 0.3)))
    assert timeline.ended_reason == "assistant-request-returned-error"
    assert history(timeline) == [("bot", "We are closed.")]
    assert_clean(timeline)


def test_a_destination_reply_forwards_the_call() -> None:
    destination = {"type": "number", "number": "+14155550100"}
    _, timeline = play(ASSISTANT_REQUEST_YAML, assistant_answer(Reply(200, {"destination": destination}, 0.3)))
    assert timeline.ended_reason == "assistant-request-returned-forwarding-phone-number"
    statuses = [m for _, m in of_type(timeline.messages(side="server"), "status-update")]
    assert [m["status"] for m in statuses] == ["forwarding", "ended"]
    assert statuses[0]["destination"] == destination
    assert timeline.context.assistant is None
    assert_clean(timeline)


@pytest.mark.parametrize("reply", [
    Reply(None, None, 7.5, error="timeout"), Reply(500, {"assistant": {}}, 0.2), Reply(200, "not json", 0.2),
], ids=["timeout", "500", "not-an-object"])
def test_no_usable_assistant_request_reply_fails_the_call(reply: Reply) -> None:
    sim, timeline = play(ASSISTANT_REQUEST_YAML, assistant_answer(reply))
    assert timeline.ended_reason in ("assistant-request-failed", "assistant-request-returned-no-assistant")
    assert [p.kind for p in sim.problems] == ["assistant-request-failed"]
    assert [m["type"] for _, m in timeline.messages(side="server")] == [
        "assistant-request", "status-update", "end-of-call-report"]
    assert_clean(timeline)


# ---------------------------------------------------------------------------------------------
# transfer-destination-request

TRANSFER_YAML = """
version: 1
name: transfer
steps:
  - user: "Can I talk to a person?"
  - transfer: {}
"""


def transfer_answer(reply: Reply) -> Answer:
    return lambda ask: reply if ask.kind == "transfer-destination-request" else None


def test_the_transfer_destination_reply_is_where_the_call_goes() -> None:
    destination = {"type": "number", "number": "+14155550100"}
    body = {"destination": destination, "message": {"type": "request-start", "content": "Connecting you now."}}
    _, timeline = play(TRANSFER_YAML, transfer_answer(Reply(200, body, 0.4)))
    assert history(timeline)[-1] == ("bot", "Connecting you now.")
    client = timeline.messages(side="client")
    (_, update), = of_type(client, "transfer-update")
    assert update["destination"] == destination
    assert [m["status"] for _, m in of_type(client, "status-update")][-2:] == ["forwarding", "ended"]
    assert timeline.ended_reason == "assistant-forwarded-call"
    assert of_type(timeline.messages(side="server"), "transfer-destination-request")
    assert not of_type(client, "transfer-destination-request")
    assert_clean(timeline)


def test_a_transfer_reply_without_destination_fails_the_transfer() -> None:
    sim, timeline = play(TRANSFER_YAML, transfer_answer(Reply(200, {}, 0.2)))
    assert timeline.ended_reason == "call.in-progress.error-transfer-failed"
    assert [p.kind for p in sim.problems] == ["bad-transfer-destination"]
    assert_clean(timeline)


# ---------------------------------------------------------------------------------------------
# control messages

CONTROL_YAML = """
version: 1
name: control
steps:
  - user: "I have a question."
  - assistant: "Sure, go ahead."
  - user: "Thanks."
"""


def control_after_first_user_turn(message: dict[str, Any], delay: float = 0.0
                                  ) -> Callable[[CallSimulation, Event], None]:
    """Queue `message` when the first user turn is committed (it acts at the end of that step)."""
    sent: list[bool] = []

    def on_event(sim: CallSimulation, event: Event) -> None:
        if not sent and event.type == "conversation-update" and sim.history[-1].role == "user":
            sent.append(True)
            sim.control(message, event.at + delay)

    return on_event


def test_a_say_control_is_spoken_between_steps() -> None:
    _, timeline = play(CONTROL_YAML, on_event=control_after_first_user_turn({"type": "say", "content": "Hold on."}))
    assert history(timeline) == [("user", "I have a question."), ("bot", "Hold on."), ("bot", "Sure, go ahead."),
                                 ("user", "Thanks.")]
    assert_clean(timeline)


def test_a_control_due_after_the_call_is_over_never_acts_and_does_not_hold_the_call() -> None:
    # Queued ahead (30 s after the first user turn, when the script is long over): the call does not know of
    # it before it arrives, so the script plays as without it and ends before it comes.
    on_event = control_after_first_user_turn({"type": "say", "content": "Hold on."}, delay=30.0)
    _, timeline = play(CONTROL_YAML, on_event=on_event)
    _, plain = play(CONTROL_YAML)
    assert timeline.messages() == plain.messages()
    assert history(timeline) == [("user", "I have a question."), ("bot", "Sure, go ahead."), ("user", "Thanks.")]
    assert_clean(timeline)


def test_an_end_call_queued_ahead_acts_on_arrival_during_the_next_step() -> None:
    # The end-call arrives 2 s after the first user turn, while the assistant answers: the answer is cut
    # there, not skipped (the call does not wait at the step boundary for a control still to come).
    on_event = control_after_first_user_turn({"type": "end-call"}, delay=2.0)
    _, timeline = play(CONTROL_YAML, on_event=on_event)
    _, plain = play(CONTROL_YAML)
    arrival = round(next(at for at, m in timeline.messages() if m["type"] == "conversation-update") + 2.0, 3)
    assert timeline.ended_reason == "customer-ended-call"
    spoken = [(at, m["status"]) for at, m in timeline.messages()
              if m["type"] == "speech-update" and m["role"] == "assistant"]
    assert [status for _, status in spoken] == ["started", "stopped"]
    assert spoken[0][0] < arrival <= spoken[1][0]  # cut short by the end-call
    assert spoken[0][0] == next(at for at, m in plain.messages()
                                if m["type"] == "speech-update" and m["role"] == "assistant")
    assert history(timeline)[0] == ("user", "I have a question.")
    assert_clean(timeline)


def test_an_end_call_control_ends_the_call_and_skips_the_rest() -> None:
    _, timeline = play(CONTROL_YAML, on_event=control_after_first_user_turn({"type": "end-call"}))
    assert timeline.ended_reason == "customer-ended-call"
    assert history(timeline) == [("user", "I have a question.")]
    assert_clean(timeline)


def test_say_with_end_call_after_spoken_ends_the_call() -> None:
    message = {"type": "say", "content": "Goodbye.", "endCallAfterSpoken": True}
    _, timeline = play(CONTROL_YAML, on_event=control_after_first_user_turn(message))
    assert timeline.ended_reason == "assistant-ended-call-after-message-spoken"
    assert history(timeline)[-1] == ("bot", "Goodbye.")
    assert_clean(timeline)


def test_add_message_controls_extend_the_history() -> None:
    on_event = control_after_first_user_turn({"type": "add-message",
                                              "message": {"role": "system", "content": "The caller is a VIP."}})
    _, timeline = play(CONTROL_YAML, on_event=on_event)
    assert history(timeline)[1] == ("system", "The caller is a VIP.")
    assert_clean(timeline)


def test_a_transfer_control_forwards_the_call() -> None:
    destination = {"type": "number", "number": "+14155550100"}
    message = {"type": "transfer", "destination": destination, "content": "Transferring you."}
    _, timeline = play(CONTROL_YAML, on_event=control_after_first_user_turn(message))
    assert timeline.ended_reason == "assistant-forwarded-call"
    assert history(timeline)[-1] == ("bot", "Transferring you.")
    assert_clean(timeline)


# ---------------------------------------------------------------------------------------------
# wire profiles

PROFILE_YAML = """
version: 1
name: profiles
call: {type: inboundPhoneCall}
assistant:
  serverMessages: [conversation-update, model-output, tool-calls, transcript, status-update, end-of-call-report]
  tools: [{name: lookup, parameters: {date: string}}]
steps:
  - user: "Any slots on Tuesday?"
  - tool: {name: lookup, arguments: {date: tuesday}}
  - assistant: "Yes, at nine."
"""


@pytest.fixture(scope="module")
def profiled() -> Timeline:
    return simulate(load(PROFILE_YAML))


def test_model_output_is_a_string_in_realistic_and_an_object_in_spec(profiled: Timeline) -> None:
    realistic = [m["output"] for _, m in of_type(profiled.messages(profile="realistic"), "model-output")]
    spec = [m["output"] for _, m in of_type(profiled.messages(profile="spec"), "model-output")]
    assert isinstance(realistic[0], list) and realistic[0][0]["function"]["name"] == "lookup"
    assert spec[0] == {"toolCalls": realistic[0]}
    assert realistic[1:] == ["Yes", ",", " at", " nine", "."]
    assert spec[1:] == [{"content": token} for token in realistic[1:]]


def test_tool_call_arguments_are_an_object_in_realistic_and_a_string_in_spec(profiled: Timeline) -> None:
    (_, realistic), = of_type(profiled.messages(profile="realistic"), "tool-calls")
    (_, spec), = of_type(profiled.messages(profile="spec"), "tool-calls")
    assert realistic["toolCallList"][0]["function"]["arguments"] == {"date": "tuesday"}
    assert spec["toolCallList"][0]["function"]["arguments"] == compact_json({"date": "tuesday"})
    assert spec["toolWithToolCallList"][0]["toolCall"] == spec["toolCallList"][0]
    # History keeps arguments as a JSON string in both profiles.
    (item,) = [i for i in profiled.history if i["role"] == "tool_calls"]
    assert item["toolCalls"][0]["function"]["arguments"] == '{"date":"tuesday"}'


def test_legacy_fields_only_in_realistic(profiled: Timeline) -> None:
    realistic, spec = profiled.messages(profile="realistic"), profiled.messages(profile="spec")
    assert all("conversation" in m for _, m in of_type(realistic, "conversation-update"))
    assert not any("conversation" in m for _, m in of_type(spec, "conversation-update"))
    assert all("toolCalls" in m for _, m in of_type(realistic, "tool-calls"))
    assert not any("toolCalls" in m for _, m in of_type(spec, "tool-calls"))
    finals = [m for _, m in of_type(realistic, "transcript") if m["role"] == "user" and m["transcriptType"] == "final"]
    assert finals and all("confidence" in m for m in finals)
    assert not any("confidence" in m for _, m in of_type(spec, "transcript"))


def test_profiles_differ_only_in_shape(profiled: Timeline) -> None:
    realistic, spec = profiled.messages(profile="realistic"), profiled.messages(profile="spec")
    assert [(at, m["type"]) for at, m in realistic] == [(at, m["type"]) for at, m in spec]
    assert_clean(profiled)


# ---------------------------------------------------------------------------------------------
# sides

SIDES_YAML = """
version: 1
name: sides
assistant:
  tools: [{{name: lookup}}]
  {subscriptions}
steps:
  - user: "Look it up please."
  - tool: {{name: lookup}}
  - assistant: "Found it, it's right here."
"""


def types_on(yaml_text: str, side: str) -> set[str]:
    return {m["type"] for _, m in simulate(load(yaml_text)).messages(side=side)}  # type: ignore[arg-type]


def test_by_default_the_server_gets_only_its_default_subscription() -> None:
    server = types_on(SIDES_YAML.format(subscriptions=""), "server")
    assert server <= set(DEFAULT_SERVER_MESSAGES)
    assert not server & {"model-output", "transcript", "voice-input", "tool-calls-result"}
    assert {"tool-calls", "conversation-update", "end-of-call-report"} <= server


def test_by_default_the_client_gets_the_stream_but_no_report() -> None:
    client = types_on(SIDES_YAML.format(subscriptions=""), "client")
    assert {"model-output", "transcript", "voice-input", "tool-calls", "tool-calls-result"} <= client
    assert "end-of-call-report" not in client


def test_the_server_gets_exactly_what_it_subscribes_to() -> None:
    yaml_text = SIDES_YAML.format(subscriptions="serverMessages: [status-update, end-of-call-report]")
    assert types_on(yaml_text, "server") == {"status-update", "end-of-call-report"}


def test_a_final_only_transcript_subscription_drops_partials() -> None:
    yaml_text = SIDES_YAML.format(subscriptions="""serverMessages: ['transcript[transcriptType="final"]']""")
    transcripts = of_type(simulate(load(yaml_text)).messages(side="server"), "transcript")
    assert transcripts and {m["transcriptType"] for _, m in transcripts} == {"final"}


def test_tool_calls_result_follows_a_client_tool_calls_subscription() -> None:
    yaml_text = SIDES_YAML.format(subscriptions="clientMessages: [tool-calls]")
    assert types_on(yaml_text, "client") == {"tool-calls", "tool-calls-result"}
    yaml_text = SIDES_YAML.format(subscriptions="clientMessages: [transcript]")
    assert types_on(yaml_text, "client") == {"transcript"}


def test_every_server_message_carries_the_call_and_a_live_artifact() -> None:
    timeline = simulate(load(SIDES_YAML.format(subscriptions="")))
    live = ("status", "startedAt", "endedAt", "endedReason", "cost")
    for _, m in timeline.messages(side="server"):
        assert {k: v for k, v in m["call"].items() if k not in live} == timeline.context.call
        assert "artifact" in m
    assert not any("artifact" in m for _, m in timeline.messages(side="client"))


# ---------------------------------------------------------------------------------------------
# every bundled scenario

BUNDLED = bundled_paths()


def speaks_faker_values(loaded: LoadedScenario) -> bool:
    """Whether a spoken text embeds a faker value (its length then changes the call's shape)."""
    scenario = loaded.scenario
    texts = [scenario.assistant.firstMessage or ""]
    for step in scenario.steps:
        body = step.body
        texts += [str(getattr(body, key, "") or "") for key in ("say", "message")]
        interrupted = getattr(body, "interrupted", None)
        texts.append(str(getattr(interrupted, "by", "") or ""))
    return any("faker" in text for text in texts)


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bundled_scenarios_satisfy_the_invariants(path: Path, seed: int) -> None:
    loaded = load_file(path)
    timeline = simulate(loaded, seed=seed)
    violations = check_invariants(timeline, hang_after=hang_threshold(loaded.scenario))
    assert violations == [], "\n".join(violations[:20])


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenarios_are_deterministic(path: Path) -> None:
    loaded = load_file(path)
    first, second = simulate(loaded, seed=7), simulate(load_file(path), seed=7)
    for side in ("server", "client"):
        for profile in ("realistic", "spec"):
            assert first.jsonl(side=side, profile=profile) == second.jsonl(side=side, profile=profile)


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_another_seed_changes_ids_but_not_the_structure(path: Path) -> None:
    loaded = load_file(path)
    if speaks_faker_values(loaded):
        pytest.skip("spoken texts embed faker values")
    one, other = simulate(loaded, seed=0), simulate(loaded, seed=1)
    assert one.context.call["id"] != other.context.call["id"]
    for side in ("server", "client"):
        first, second = one.messages(side=side), other.messages(side=side)
        assert structure(first, lanes=True) == structure(second, lanes=True)


def test_the_bundled_library_is_not_empty() -> None:
    assert len(BUNDLED) >= 1


# ---------------------------------------------------------------------------------------------
# the checker itself: it works on a plain list and finds what is wrong


@pytest.fixture(scope="module")
def barge_in() -> Timeline:
    return simulate(load(BARGE_IN_YAML.format(after="6 tokens").replace("jitter: 0", "jitter: 0.1")))


def client_messages(timeline: Timeline) -> list[tuple[float, Wire]]:
    # A JSON round trip: what a websocket or webhook receiver holds.
    return json.loads(json.dumps(timeline.messages(side="client")))  # type: ignore[no-any-return]


def test_the_checker_accepts_one_sides_plain_messages(barge_in: Timeline) -> None:
    assert check_invariants(client_messages(barge_in)) == []
    server = json.loads(json.dumps(barge_in.messages(side="server", profile="spec")))
    assert check_invariants(server) == []


def test_the_checker_accepts_bare_messages_timed_by_their_timestamps(barge_in: Timeline) -> None:
    bare = [m for _, m in client_messages(barge_in)]
    assert check_invariants(bare) == []
    bare[4]["timestamp"] = bare[3]["timestamp"] - 10
    assert any("back in time" in v for v in check_invariants(bare))


def index_of(messages: list[tuple[float, Wire]], kind: str, nth: int = 0) -> int:
    return [i for i, (_, m) in enumerate(messages) if m["type"] == kind][nth]


def _token_after_cut(messages: list[tuple[float, Wire]]) -> None:
    cut = index_of(messages, "user-interrupted")
    at, interrupted = messages[cut]
    token = next(m for _, m in messages[:cut] if m["type"] == "model-output" and m["turnId"] == interrupted["turnId"])
    messages.insert(cut + 1, (at, {**token, "timestamp": interrupted["timestamp"]}))


def _drop_history_item(messages: list[tuple[float, Wire]]) -> None:
    i = index_of(messages, "conversation-update", 2)
    messages[i][1]["messages"] = messages[i][1]["messages"][1:]


def _shift_timestamp(messages: list[tuple[float, Wire]]) -> None:
    messages[5][1]["timestamp"] += 5


def _openai_mismatch(messages: list[tuple[float, Wire]]) -> None:
    i = index_of(messages, "conversation-update", 1)
    messages[i][1]["messagesOpenAIFormatted"][-1]["content"] = "something else"


def _two_ends(messages: list[tuple[float, Wire]]) -> None:
    messages.append(copy.deepcopy(messages[-1]))


def _changed_call(messages: list[tuple[float, Wire]]) -> None:
    messages[3][1]["call"] = {**messages[3][1]["call"], "id": "other"}


def _full_text_after_cut(messages: list[tuple[float, Wire]]) -> None:
    for _, m in messages:
        for item in m.get("messages", []):
            if item["role"] == "bot" and item["message"].startswith("We have"):
                item["message"] = "We have four options."  # not what was spoken of the streamed tokens


def _silent_hang(messages: list[tuple[float, Wire]]) -> None:
    at, last = messages[-1]
    hang: Wire = {"type": "hang", **{k: last[k] for k in ("timestamp", "call", "assistant", "customer") if k in last}}
    messages.insert(len(messages) - 1, (at, hang))


def _stray_speech(messages: list[tuple[float, Wire]]) -> None:
    i = index_of(messages, "speech-update")
    messages.insert(i, copy.deepcopy(messages[i]))


def _going_back(messages: list[tuple[float, Wire]]) -> None:
    messages[8] = (messages[8][0] - 1, messages[8][1])


@pytest.mark.parametrize(("mutate", "expected"), [
    (_token_after_cut, "after its user-interrupted"),
    (_drop_history_item, "does not extend"),
    (_shift_timestamp, "timestamp"),
    (_openai_mismatch, "content differs"),
    (_two_ends, "exactly one status-update ended"),
    (_changed_call, "`call` differs"),
    (_full_text_after_cut, "is not what was spoken"),
    (_silent_hang, "the call must go on"),
    (_stray_speech, "started twice"),
    (_going_back, "back in time"),
], ids=lambda v: v.__name__.strip("_") if callable(v) else None)
def test_the_checker_finds_each_kind_of_violation(barge_in: Timeline, mutate: Callable[..., None],
                                                  expected: str) -> None:
    messages = client_messages(barge_in)
    mutate(messages)
    violations = check_invariants(messages)
    assert any(expected in v for v in violations), violations


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_natural_call_id_is_the_id_a_call_draws_without_being_built(path: Path) -> None:
    loaded = load_file(path)
    for seed in (None, 0, 5):
        assert natural_call_id(loaded, seed) == CallSimulation(loaded, seed=seed).context.call["id"]
    assert natural_call_id(loaded.scenario) == CallSimulation(loaded).context.call["id"]


_CONTROLS_AT_A_CUT = [
    {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": True},
    {"type": "say", "content": "Goodbye for now.", "interruptAssistantEnabled": True, "endCallAfterSpoken": True},
    {"type": "end-call"},
    {"type": "transfer", "destination": {"type": "number", "number": "+14155550100"}},
]


@pytest.mark.parametrize("control", _CONTROLS_AT_A_CUT, ids=lambda c: c["type"] + ("-end" if len(c) > 3 else ""))
@pytest.mark.parametrize("name", ["barge-in", "double-barge-in"])
def test_a_control_arriving_as_the_customer_cuts_the_assistant_keeps_the_cut_where_it_was(
    control: dict[str, Any], name: str
) -> None:
    # Found by a 3,000-example hunt: an interrupting say arriving after the user-interrupted but before the
    # speech-update stopped 20 ms later cut the utterance again, so its history item ended after the
    # interruption; and an end arriving then dropped the planned stopped, leaving the assistant's voice open.
    scenario = next(p for p in bundled_paths() if p.stem == name)
    loaded = load_file(scenario)
    cuts = [at for at, m in simulate(loaded, seed=0).messages(side="server") if m["type"] == "user-interrupted"]
    assert cuts
    for offset_ms in (0, 1, 10, 19, 20):
        sim = CallSimulation(loaded, seed=0)
        sim.control(control, cuts[0] + offset_ms / 1000)
        timeline = drive(sim)
        assert check_invariants(timeline, hang_after=hang_threshold(loaded.scenario)) == [], offset_ms


@pytest.mark.parametrize("name", ["happy-path", "tool-call"])
def test_an_end_arriving_before_the_customers_final_transcript_leaves_their_words_out_of_history(name: str) -> None:
    # Found by a 3,000-example hunt: an end-call after the customer's last word but before their final
    # transcript (~150 ms later) kept their history item, whose final never went out.
    loaded = load_file(next(p for p in bundled_paths() if p.stem == name))
    finals = [at for at, m in simulate(loaded, seed=0).messages(side="client")
              if m["type"] == "transcript" and m["role"] == "user" and m["transcriptType"] == "final"]
    assert finals
    for final in finals:
        sim = CallSimulation(loaded, seed=0)
        sim.control({"type": "end-call"}, final - 0.01)
        timeline = drive(sim)
        assert check_invariants(timeline, hang_after=hang_threshold(loaded.scenario)) == [], final
