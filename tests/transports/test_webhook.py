"""WebhookSink and TargetPool: envelope, headers and auth, journal records, failures, timeouts, retries, order.

Calls play on a VirtualClock into a real aiohttp server on 127.0.0.1 (port 0) or an in-process callable.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.engine.clock import DEFAULT_EPOCH_MS, VirtualClock
from mockvapi.engine.events import Reply
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer, Outgoing
from mockvapi.engine.timeline import Timeline
from mockvapi.library import resolve
from mockvapi.models.encoding import WireEncoder
from mockvapi.transports.auth import verify_hmac
from mockvapi.transports.envelope import delivery_headers, envelope_body, parse_json
from mockvapi.transports.http import HttpRequest, HttpResponse
from mockvapi.transports.webhook import TargetPool, WebhookSink

# -- a real webhook server ------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes
    body: Any

    @property
    def message(self) -> dict[str, Any]:
        return dict(self.body["message"])

    @property
    def type(self) -> str:
        return str(self.body["message"]["type"])


Answer = Callable[[Received], Awaitable[web.StreamResponse | None]]


def tool_results(message: dict[str, Any], result: str = '{"v":"fresh"}') -> dict[str, Any]:
    return {
        "results": [
            {"toolCallId": call["id"], "name": call["function"]["name"], "result": result}
            for call in message["toolCallList"]
        ]
    }


@dataclass
class Hook:
    """Records every POST; `answer` may reply (None: 200 with tool results or an empty object)."""

    base: str = ""
    received: list[Received] = field(default_factory=list)
    answer: Answer | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def types(self) -> list[str]:
        return [r.type for r in self.received]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        got = Received(request.path, {k.lower(): v for k, v in request.headers.items()}, raw, json.loads(raw))
        self.received.append(got)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.answer is not None:
                response = await self.answer(got)
                if response is not None:
                    return response
            if got.type == "tool-calls":
                return web.json_response(tool_results(got.message))
            return web.json_response({})
        finally:
            self.in_flight -= 1


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    h = Hook()
    app = web.Application()
    app.router.add_post("/{tail:.*}", h.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    h.base = str(server.make_url("")).rstrip("/")
    yield h
    h.release.set()
    await server.close()


SCENARIO = """
version: 1
name: hooked
seed: 3
call:
  type: webCall
  customer: {name: Ada}
assistant:
  firstMessage: "Hi, this is Sam."
  server: SERVER
  tools:
    - name: lookup
      parameters: {q: string}
      TOOLSERVER
steps:
  - user: "Look it up please."
  - tool:
      name: lookup
      arguments: {q: x}
      result: {v: scripted}
      latency: 50ms
  - assistant: "It says {{ tools.lookup.json.v }}."
  - end: customer-ended-call
"""


def scenario(server: str, tool_server: str | None = None, extra: str = "") -> str:
    text = SCENARIO.replace("SERVER", server, 1).replace(
        "TOOLSERVER", f"server: {tool_server}" if tool_server else "", 1
    )
    return text.replace("assistant:\n", f"assistant:\n{extra}", 1) if extra else text


@dataclass
class Played:
    player: CallPlayer
    timeline: Timeline
    journal: Journal
    clock: VirtualClock

    def bots(self) -> list[str]:
        return [str(h["message"]) for h in self.timeline.history if h["role"] == "bot"]

    def problems(self) -> list[str]:
        return [p.kind for p in self.journal.problems_for(self.player.call_id)]


async def play(spec: str, pool: TargetPool | None = None, clock: VirtualClock | None = None) -> Played:
    clock = clock or VirtualClock()
    journal = Journal()
    pool = pool or TargetPool()
    player = CallPlayer(resolve(spec), clock=clock, journal=journal, server=WebhookSink(pool, journal, clock))
    try:
        timeline = await player.run()
    finally:
        await pool.aclose()
    return Played(player, timeline, journal, clock)


# -- envelope, headers, journal -------------------------------------------------------------------


async def test_messages_arrive_enveloped_in_order_with_secret_and_static_headers(hook: Hook) -> None:
    url = hook.url("/hook")
    played = await play(scenario(f"{{url: '{url}', secret: s3cret, headers: {{X-Org: acme}}}}"))

    expected = [m for _, m in played.timeline.messages(side="server")]
    assert [r.message for r in hook.received] == expected
    assert all(list(r.body) == ["message"] for r in hook.received)
    for r in hook.received:
        assert r.path == "/hook"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-vapi-secret"] == "s3cret"
        assert r.headers["x-org"] == "acme"
    assert played.bots()[-1] == "It says fresh."  # the real reply, not the scripted one
    assert played.timeline.ended_reason == "customer-ended-call"
    assert hook.types()[-1] == "end-of-call-report"

    deliveries = played.journal.deliveries(call_id=played.player.call_id)
    assert len(deliveries) == len(hook.received)
    for d, r in zip(deliveries, hook.received, strict=True):
        assert (d.channel, d.target, d.message_type, d.status) == ("webhook", url, r.type, 200)
        assert d.message == r.message
        assert d.request_body is not None and d.request_body.encode() == r.raw
        assert d.request_headers["X-Vapi-Secret"] == "s3cret"
        assert d.latency is not None and d.latency >= 0
        assert d.attempts == 1 and d.ok
    # Equal headers are kept once per call, not once per delivery (memory of a live call).
    assert len({id(d.request_headers) for d in deliveries}) == 1
    offsets = [d.at for d in deliveries]
    assert offsets == sorted(offsets)
    tool = played.journal.deliveries(type="tool-calls")[0]
    assert tool.response_json == tool_results(tool.message)
    assert played.problems() == []


async def test_hmac_credential_signs_timestamp_dot_body(hook: Hook) -> None:
    credential = {"type": "hmac", "secretKey": "k"}
    await play(scenario(f"{{url: '{hook.url()}', credential: {{type: hmac, secretKey: k}}}}"))
    assert hook.received
    for r in hook.received:
        timestamp = r.headers["x-timestamp"]
        assert timestamp == str(r.message["timestamp"])
        assert verify_hmac(credential, r.raw, r.headers)
        independent = hmac.new(b"k", f"{timestamp}.".encode() + r.raw, hashlib.sha256).hexdigest()
        assert r.headers["x-signature"] == independent
        assert not verify_hmac({"type": "hmac", "secretKey": "other"}, r.raw, r.headers)


async def test_hmac_credential_with_its_own_algorithm_encoding_and_header_names(hook: Hook) -> None:
    import base64

    server = (
        f"{{url: '{hook.url()}', credential: {{type: hmac, secretKey: k2, algorithm: sha512, "
        "signatureEncoding: base64, signatureHeader: X-Sig, timestampHeader: X-Ts}}"
    )
    await play(scenario(server))
    r = hook.received[0]
    digest = hmac.new(b"k2", f"{r.headers['x-ts']}.".encode() + r.raw, hashlib.sha512).digest()
    assert r.headers["x-sig"] == base64.b64encode(digest).decode()
    assert "x-signature" not in r.headers


async def test_bearer_credential(hook: Hook) -> None:
    await play(scenario(f"{{url: '{hook.url()}', credential: {{type: bearer, token: tok-1}}}}"))
    assert {r.headers["authorization"] for r in hook.received} == {"Bearer tok-1"}
    assert "x-vapi-secret" not in hook.received[0].headers


async def test_bearer_credential_with_header_name_and_no_prefix(hook: Hook) -> None:
    credential = "{type: bearer, token: t, headerName: X-Api-Key, bearerPrefixEnabled: false}"
    server = f"{{url: '{hook.url()}', credential: {credential}}}"
    await play(scenario(server))
    assert {r.headers["x-api-key"] for r in hook.received} == {"t"}
    assert "authorization" not in hook.received[0].headers


async def test_tool_server_gets_tool_calls_and_the_assistant_server_the_rest(hook: Hook) -> None:
    played = await play(
        scenario(f"{{url: '{hook.url('/assistant')}', secret: a}}", f"{{url: '{hook.url('/tool')}', secret: t}}")
    )
    by_path = {(r.path, r.type, r.headers["x-vapi-secret"]) for r in hook.received}
    assert ("/tool", "tool-calls", "t") in by_path
    assert {p for p, kind, _ in by_path if kind != "tool-calls"} == {"/assistant"}
    assert played.bots()[-1] == "It says fresh."


async def test_pool_override_takes_every_message_even_without_a_server_url(hook: Hook) -> None:
    played = await play(scenario("{secret: s}"), TargetPool(hook.url("/all")))
    assert {r.path for r in hook.received} == {"/all"}
    assert hook.types() == [m["type"] for _, m in played.timeline.messages(side="server")]


async def test_no_server_url_and_no_override_sends_nothing() -> None:
    played = await play(scenario("{secret: s}"))
    assert len(played.journal) == 0
    assert played.bots()[-1] == "It says scripted."
    assert played.timeline.ended_reason == "customer-ended-call"


# -- serverMessages -------------------------------------------------------------------------------

BARE = """
version: 1
name: subscriptions
call: {type: webCall}
assistant:
  firstMessage: "Hello there, how can I help you today?"
  SUBSCRIPTION
steps:
  - user: "I would like to know your opening hours please."
  - assistant: "We are open from nine in the morning until five in the afternoon."
  - end: customer-ended-call
"""


async def _types_with(subscription: str) -> list[str]:
    got: list[str] = []
    await play(BARE.replace("SUBSCRIPTION", subscription), TargetPool(lambda body: got.append(body["message"]["type"])))
    return got


async def test_default_server_messages_leave_out_model_output_transcript_and_voice_input() -> None:
    got = set(await _types_with(""))
    assert got == {"status-update", "assistant.started", "conversation-update", "speech-update", "end-of-call-report"}


async def test_subscribed_server_messages_are_exactly_what_is_sent() -> None:
    got = await _types_with("serverMessages: [model-output, transcript, voice-input]")
    assert set(got) == {"model-output", "transcript", "voice-input"}


async def test_final_transcript_filter_leaves_out_partials() -> None:
    finals: list[dict[str, Any]] = []
    all_transcripts: list[dict[str, Any]] = []
    clock = VirtualClock()  # one clock for both calls (see test_player's xfail on two clocks per loop)
    spec = BARE.replace("SUBSCRIPTION", """serverMessages: ['transcript[transcriptType="final"]']""")
    await play(spec, TargetPool(lambda body: finals.append(body["message"])), clock)
    await play(
        BARE.replace("SUBSCRIPTION", "serverMessages: [transcript]"),
        TargetPool(lambda body: all_transcripts.append(body["message"])),
        clock,
    )
    assert {m["transcriptType"] for m in finals} == {"final"}
    assert {m["transcriptType"] for m in all_transcripts} == {"partial", "final"}

    def said(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(m["role"], m["transcript"]) for m in messages if m["transcriptType"] == "final"]

    assert said(finals) == said(all_transcripts) and len(finals) == 3  # greeting, user, answer


# -- failing targets ------------------------------------------------------------------------------


def status_for(statuses: dict[str, list[int]]) -> Answer:
    """Answer the listed message types with these statuses in turn (then 200)."""

    async def answer(r: Received) -> web.StreamResponse | None:
        queue = statuses.get(r.type)
        if queue:
            return web.json_response({"error": "boom"}, status=queue.pop(0))
        return None

    return answer


async def test_failed_ordinary_deliveries_are_problems_and_the_call_still_reports(hook: Hook) -> None:
    hook.answer = status_for({"status-update": [500, 500, 500], "speech-update": [503]})
    played = await play(scenario(f"{{url: '{hook.url()}'}}"))

    failed = played.journal.deliveries(outcome="failed")
    assert [(d.message_type, d.status) for d in failed] == [
        ("status-update", 500),
        ("speech-update", 503),
        ("status-update", 500),
    ]
    problems = played.journal.problems_for(played.player.call_id)
    assert [p.kind for p in problems] == ["delivery-failed"] * 3
    assert [p.delivery_seq for p in problems] == [d.seq for d in failed]
    assert "HTTP 500" in problems[0].detail and hook.url() in problems[0].detail
    assert failed[0].response_json == {"error": "boom"} and failed[0].error == "HTTP 500"
    assert played.timeline.ended_reason == "customer-ended-call"
    report = played.journal.deliveries(type="end-of-call-report")
    assert len(report) == 1 and report[0].ok
    assert hook.types()[-1] == "end-of-call-report"


async def test_tool_reply_500_is_a_non_200_problem_not_a_delivery_failure(hook: Hook) -> None:
    hook.answer = status_for({"tool-calls": [500]})
    played = await play(scenario(f"{{url: '{hook.url()}'}}"))
    assert played.problems() == ["non-200-reply", "template"]
    assert [d.status for d in played.journal.deliveries(type="tool-calls")] == [500]
    tool_result = next(h for h in played.timeline.history if h["role"] == "tool_call_result")
    assert tool_result["result"] == "No result returned."
    assert played.timeline.ended_reason == "customer-ended-call"
    assert hook.types()[-1] == "end-of-call-report"


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (lambda m: {"results": [{"toolCallId": "call_wrong", "result": "x"}]}, "unknown-tool-call-id"),
        (lambda m: tool_results(m, "line one\nline two"), "bad-tool-result"),
        (lambda m: {"result": "no list"}, "bad-tool-result"),
        (lambda m: {"results": [{"toolCallId": m["toolCallList"][0]["id"]}]}, "bad-tool-result"),
    ],
    ids=["wrong-tool-call-id", "multi-line-result", "no-results-list", "neither-result-nor-error"],
)
async def test_bad_tool_replies_are_recorded_as_problems(
    hook: Hook, reply: Callable[[dict[str, Any]], Any], problem: str
) -> None:
    async def answer(r: Received) -> web.StreamResponse | None:
        return web.json_response(reply(r.message)) if r.type == "tool-calls" else None

    hook.answer = answer
    played = await play(scenario(f"{{url: '{hook.url()}'}}"))
    assert played.problems()[0] == problem
    assert next(h for h in played.timeline.history if h["role"] == "tool_call_result")["result"] == (
        "No result returned."
    )
    assert played.timeline.ended_reason == "customer-ended-call"


async def test_tool_error_result_is_passed_on(hook: Hook) -> None:
    async def answer(r: Received) -> web.StreamResponse | None:
        if r.type == "tool-calls":
            call = r.message["toolCallList"][0]
            return web.json_response({"results": [{"toolCallId": call["id"], "error": "Card declined"}]})
        return None

    hook.answer = answer
    played = await play(scenario(f"{{url: '{hook.url()}'}}"))
    assert next(h for h in played.timeline.history if h["role"] == "tool_call_result")["result"] == "Card declined"


async def test_tool_server_that_never_answers_times_out_and_the_call_goes_on(hook: Hook) -> None:
    async def answer(r: Received) -> web.StreamResponse | None:
        if r.type == "tool-calls":
            await hook.release.wait()  # set only at teardown
        return None

    hook.answer = answer
    played = await play(scenario(f"{{url: '{hook.url()}', timeoutSeconds: 0.1}}"))
    assert played.problems() == ["timeout", "template"]
    tool = played.journal.deliveries(type="tool-calls")[0]
    assert tool.status is None and tool.error is not None and "timeout" in tool.error
    asked = next(e for e in played.timeline.events if e.type == "tool-calls")
    result = next(e for e in played.timeline.events if e.type == "tool-calls-result")
    assert result.at_ms - asked.at_ms >= 100  # at least the timeout
    assert played.timeline.ended_reason == "customer-ended-call"
    assert hook.types()[-1] == "end-of-call-report"


async def test_no_retries_without_a_backoff_plan(hook: Hook) -> None:
    hook.answer = status_for({"end-of-call-report": [500, 500, 500]})
    played = await play(scenario(f"{{url: '{hook.url()}'}}"))
    assert hook.types().count("end-of-call-report") == 1
    assert played.journal.deliveries(type="end-of-call-report")[0].attempts == 1
    assert played.problems() == ["delivery-failed"]


async def test_backoff_plan_retries_failed_deliveries(hook: Hook) -> None:
    hook.answer = status_for({"end-of-call-report": [500, 500, 500, 500]})
    played = await play(
        scenario(f"{{url: '{hook.url()}', backoffPlan: {{type: fixed, maxRetries: 2, baseDelaySeconds: 3}}}}")
    )
    assert hook.types().count("end-of-call-report") == 3
    report = played.journal.deliveries(type="end-of-call-report")[0]
    assert report.attempts == 3 and report.status == 500
    assert report.latency is not None and report.latency >= 6  # the two 3 s waits count, in virtual time
    assert played.problems() == ["delivery-failed"]
    assert "after 3 attempts" in played.journal.problems[0].detail
    assert played.clock.now() - report.at >= 6


async def test_backoff_plan_retry_that_succeeds_is_not_a_problem(hook: Hook) -> None:
    hook.answer = status_for({"end-of-call-report": [503]})
    played = await play(
        scenario(f"{{url: '{hook.url()}', backoffPlan: {{type: exponential, maxRetries: 3, baseDelaySeconds: 1}}}}")
    )
    report = played.journal.deliveries(type="end-of-call-report")[0]
    assert (report.attempts, report.status, report.ok) == (2, 200, True)
    assert played.problems() == []


async def test_backoff_plan_excluded_status_is_not_retried(hook: Hook) -> None:
    hook.answer = status_for({"end-of-call-report": [500, 500]})
    played = await play(
        scenario(
            f"{{url: '{hook.url()}', backoffPlan: {{maxRetries: 2, baseDelaySeconds: 1, excludedStatusCodes: [500]}}}}"
        )
    )
    assert hook.types().count("end-of-call-report") == 1
    assert played.problems() == ["delivery-failed"]


async def test_unreachable_target_is_recorded_not_raised() -> None:
    played = await play(scenario("{url: 'http://127.0.0.1:9/closed', timeoutSeconds: 1}"))
    deliveries = played.journal.deliveries()
    assert deliveries and all(d.error is not None and d.status is None for d in deliveries)
    kinds = set(played.problems())
    assert kinds <= {"delivery-failed", "template"} and "delivery-failed" in kinds
    assert played.timeline.ended_reason == "customer-ended-call"


# -- order, journal -------------------------------------------------------------------------------


async def test_one_call_delivers_one_message_at_a_time_in_order(hook: Hook) -> None:
    async def answer(r: Received) -> web.StreamResponse | None:
        if len(hook.received) == 1:
            await asyncio.sleep(0.02)  # a slow first answer while the call races ahead in virtual time
        return None

    hook.answer = answer
    played = await play(scenario(f"{{url: '{hook.url()}'}}"))
    assert hook.max_in_flight == 1
    assert [r.message for r in hook.received] == [m for _, m in played.timeline.messages(side="server")]


CHATTY = """
version: 1
name: chatty
seed: 5
call: {type: webCall}
assistant:
  firstMessage: "Hi, this is Sam."
  server: SERVER
steps:
  - user: "I have a question about my order."
  - assistant: "Of course. What is the order number?"
  - user: "It is one two three four."
  - assistant: "Thanks. It shipped yesterday and arrives on Friday."
  - user: "Great, thank you."
  - assistant: "You're welcome. Anything else?"
  - end: customer-ended-call
"""


async def test_a_call_in_virtual_time_lets_its_webhooks_go_out_while_it_plays(hook: Hook) -> None:
    # The loop reads a webhook's answer (and so sends the next request) only between tasks' turns; a call
    # jumping through virtual time gave it none, so with no tool call to wait for, every message queued behind
    # the first request and reached the server only once the whole call had been simulated (lever 126).
    clock = VirtualClock()
    clock.io_poll_interval = 0  # ask the selector before every jump: the same interleaving on any machine
    arrived: list[float] = []

    async def answer(r: Received) -> web.StreamResponse | None:
        arrived.append(clock.now())
        return None

    hook.answer = answer
    played = await play(CHATTY.replace("SERVER", f"{{url: '{hook.url()}'}}"), clock=clock)
    assert [r.message for r in hook.received] == [m for _, m in played.timeline.messages(side="server")]
    # Each message reached the server at the very virtual instant it was sent, before the call went on.
    sent_at = [r.message["timestamp"] - DEFAULT_EPOCH_MS for r in hook.received]
    assert len(sent_at) >= 20 and sent_at[-1] > 20_000
    assert [round(t * 1000) for t in arrived] == sent_at


async def test_journal_queries_and_jsonl(hook: Hook) -> None:
    hook.answer = status_for({"speech-update": [500]})
    played = await play(scenario(f"{{url: '{hook.url()}', secret: s3cret}}"))
    journal, call_id = played.journal, played.player.call_id

    assert len(journal.deliveries(call_id=call_id)) == len(hook.received)
    assert journal.deliveries(call_id="someone-else") == []
    assert [d.message_type for d in journal.deliveries(type="tool-calls")] == ["tool-calls"]
    assert len(journal.deliveries(outcome="failed")) == 1
    assert len(journal.deliveries(outcome="ok")) == len(hook.received) - 1
    assert journal.deliveries(channel="webhook") == journal.deliveries()
    seqs = [d.seq for d in journal.deliveries()]
    assert seqs == sorted(seqs) == list(range(1, len(seqs) + 1))

    lines = [json.loads(line) for line in journal.to_jsonl().splitlines()]
    deliveries = [line for line in lines if "problem" not in line]
    problems = [line["problem"] for line in lines if "problem" in line]
    assert len(deliveries) == len(hook.received) and len(problems) == 1
    first = deliveries[0]
    assert first["request_headers"]["X-Vapi-Secret"] == "s3cret"
    assert json.loads(first["request_body"]) == {"message": first["message"]}
    assert (first["status"], first["ok"], first["channel"]) == (200, True, "webhook")
    assert problems[0]["kind"] == "delivery-failed" and problems[0]["call_id"] == call_id
    again = Journal.from_jsonl(journal.to_jsonl())
    assert [d.seq for d in again.deliveries()] == seqs


# -- pool and sink --------------------------------------------------------------------------------


async def test_target_pool_reuses_targets_and_closes_them() -> None:
    pool = TargetPool()
    assert pool.get(None) is None and pool.get("") is None
    a = pool.get("http://127.0.0.1:9/a")
    assert a is not None and pool.get("http://127.0.0.1:9/a") is a
    assert pool.get("http://127.0.0.1:9/b") is not a
    assert "http://127.0.0.1:9/a" in repr(pool)
    await pool.aclose()
    await pool.aclose()  # idempotent
    assert "urls=[]" in repr(pool)


async def test_target_pool_override_answers_every_url() -> None:
    def app(body: Any) -> None:
        return None

    pool = TargetPool(app, path="/webhook")
    target = pool.get(None)
    assert target is not None and pool.get("http://elsewhere.example/x") is target
    assert "CallableTarget" in repr(pool)
    await pool.aclose()


async def test_webhook_sink_repr_and_drain_when_idle() -> None:
    sink = WebhookSink(TargetPool(), Journal(), VirtualClock())
    await sink.drain()
    assert repr(sink).startswith("WebhookSink(pending=0")


@pytest.mark.parametrize("answer", [b"{}", b"{ }", b"", b'{"ok":true}', b"not json"])
async def test_every_answer_is_journaled_and_replied_as_parsed(hook: Hook, answer: bytes) -> None:
    # `{}` takes a path without the parser: the journal and the call's reply see what parsing gives, every time.
    async def reply(got: Received) -> web.StreamResponse | None:
        if got.type == "tool-calls":
            return None
        return web.Response(body=answer, content_type="application/json")

    hook.answer = reply
    played = await play(scenario(f"{{url: '{hook.url()}'}}"))
    deliveries = [d for d in played.journal.deliveries() if d.message_type != "tool-calls"]
    assert len(deliveries) > 2
    for d in deliveries:
        assert (d.status, d.response_body, d.response_json) == (200, answer.decode(), parse_json(answer))
        assert d.ok and d.error is None
    parsed = [d.response_json for d in deliveries if d.response_json is not None]
    if answer == b"{}":
        # The usual answer: one read-only `{}` the journal shares, not a dict per delivery (lever 72).
        assert len({id(value) for value in parsed}) == 1
        with pytest.raises(TypeError):
            parsed[0]["changed"] = True
        assert json.dumps(parsed[0]) == "{}" and type(copy.deepcopy(parsed[0])) is dict
        assert all(d.to_dict()["response_json"] == {} for d in deliveries)
    else:
        assert len({id(value) for value in parsed}) == len(parsed)  # each delivery its own value, never shared
    assert played.problems() == []


async def test_the_call_gets_a_dict_of_its_own_for_an_empty_answer(hook: Hook) -> None:
    # The journal shares one read-only `{}`; the reply the simulation reads is a plain dict, its own.
    messages = await server_messages(scenario(f"{{url: '{hook.url()}'}}"), 2)
    journal = Journal()
    pool = TargetPool()
    sink = WebhookSink(pool, journal, VirtualClock())
    replies = [await sink.submit(o) for o in messages]
    await pool.aclose()
    assert [r.body for r in replies if r is not None] == [{}, {}]
    bodies = [r.body for r in replies if r is not None]
    assert all(type(b) is dict for b in bodies) and bodies[0] is not bodies[1]
    first, second = journal.deliveries()
    assert first.response_json is second.response_json and first.response_json == {}


async def test_the_journal_gives_back_every_body_as_sent_even_after_the_call_changes(hook: Hook) -> None:
    # The journal encodes request bodies again when read; an assistant-request answered with an assistantId
    # changes the call object after the first message went out, and a tool result grows every later body.
    async def answer(r: Received) -> web.StreamResponse | None:
        if r.type == "assistant-request":
            return web.json_response({"assistantId": "asst-1"})
        if r.type == "tool-calls":
            call = r.message["toolCallList"][0]
            result = json.dumps({"v": "x" * 70_000})
            return web.json_response({"results": [{"toolCallId": call["id"], "result": result}]})
        return None

    hook.answer = answer
    spec = scenario(f"{{url: '{hook.url()}'}}").replace(
        "  type: webCall\n", f"  type: inboundPhoneCall\n  assistant_request: true\n"
        f"  phoneNumber: {{number: '+14155550199', server: {{url: '{hook.url()}'}}}}\n", 1)
    played = await play(spec)
    deliveries = played.journal.deliveries()
    assert [r.type for r in hook.received][:2] == ["assistant-request", "status-update"]
    assert hook.received[0].message["call"].get("assistantId") != "asst-1"
    assert hook.received[-1].message["call"]["assistantId"] == "asst-1"
    assert len(deliveries) == len(hook.received) > 10
    for d, r in zip(deliveries, hook.received, strict=True):
        assert d.request_body is not None and d.request_body.encode() == r.raw
    assert played.problems() == []
    # The 70 kB reply counts towards the journal's byte budget once the response is filled in.
    (tool,) = played.journal.deliveries(type="tool-calls")
    assert played.journal.held_bytes >= len(tool.response_body or "") > 70_000
    assert played.bots()[-1] == f"It says {'x' * 70_000}."


# -- encoding ahead -------------------------------------------------------------------------------


class _Capture:
    """A server sink that keeps the call's real server messages and answers none of them."""

    def __init__(self) -> None:
        self.outgoing: list[Outgoing] = []

    def submit(self, outgoing: Outgoing) -> Awaitable[Reply | None]:
        self.outgoing.append(outgoing)
        done: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def drain(self) -> None:
        pass


async def server_messages(spec: str, count: int) -> list[Outgoing]:
    capture = _Capture()
    await CallPlayer(resolve(spec), clock=VirtualClock(), journal=Journal(), server=capture).run()
    messages = [o for o in capture.outgoing if o.kind == "message"][:count]
    assert len(messages) == count
    return messages


class _HeldTarget:
    """Keeps every request; holds the answer to the first one until `gate` is set. `encoded_at_send`: how many
    messages the sink's spy encoder had encoded when each request arrived (set by `sink_with_spy`)."""

    description = "held"

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.arrived = asyncio.Event()
        self.gate = asyncio.Event()
        self.spy: _SpyEncoder | None = None
        self.encoded_at_send: list[int] = []

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        self.bodies.append(request.body)
        if self.spy is not None:
            self.encoded_at_send.append(len(self.spy.encoded))
        self.arrived.set()
        if len(self.bodies) == 1:
            await self.gate.wait()
        return HttpResponse(200, {}, b"{}", 0.0)

    async def aclose(self) -> None:
        pass


class _SpyEncoder(WireEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[Mapping[Any, Any]] = []

    def encode_parts(self, message: Mapping[Any, Any]) -> list[str]:
        self.encoded.append(message)
        return super().encode_parts(message)


def sink_with_spy(target: _HeldTarget) -> tuple[WebhookSink, Journal, _SpyEncoder]:
    journal = Journal()
    sink = WebhookSink(TargetPool(target), journal, VirtualClock())
    spy = sink._encoder = target.spy = _SpyEncoder()
    return sink, journal, spy


async def test_messages_submitted_while_a_delivery_is_out_are_encoded_at_once_in_order() -> None:
    # So that the next request is ready to write when the answer comes: the encoding overlaps the wait.
    messages = await server_messages(scenario("{url: 'http://127.0.0.1:9/hook', secret: s3cret}"), 5)
    target = _HeldTarget()
    sink, journal, spy = sink_with_spy(target)
    replies = [sink.submit(messages[0])]
    await target.arrived.wait()  # the first request is out; its answer is held
    assert spy.encoded == [messages[0].wire]
    replies += [sink.submit(o) for o in messages[1:]]
    assert spy.encoded == [o.wire for o in messages]  # all encoded already, in order, none sent yet
    assert len(target.bodies) == 1
    target.gate.set()
    await sink.drain()
    assert [getattr(r.result(), "status", None) for r in replies] == [200] * 5
    # The same bytes and headers as when each message was encoded at its turn, one at a time, in order.
    assert_sent_as_encoded_at_their_turn(target.bodies, journal, messages)
    assert journal.deliveries()[0].request_headers["X-Vapi-Secret"] == "s3cret"


def assert_sent_as_encoded_at_their_turn(sent: list[bytes], journal: Journal, messages: list[Outgoing]) -> None:
    """The same bytes and headers, sent and journaled, as each message encoded alone, in order."""
    bodies = [envelope_body(o.wire) for o in messages]
    assert sent == bodies
    assert [d.request_headers for d in journal.deliveries()] == [
        delivery_headers(o.server or {}, body, o.wire) for o, body in zip(messages, bodies, strict=True)
    ]
    assert [d.request_body for d in journal.deliveries()] == [b.decode() for b in bodies]


async def test_nothing_is_encoded_ahead_while_no_delivery_is_out() -> None:
    # A burst submitted at one instant: the first goes out as soon as it is encoded, not after the others.
    messages = await server_messages(scenario("{url: 'http://127.0.0.1:9/hook'}"), 3)
    target = _HeldTarget()
    sink, _, spy = sink_with_spy(target)
    for o in messages:
        sink.submit(o)
    assert spy.encoded == []
    await target.arrived.wait()
    assert target.encoded_at_send == [1]  # the first left encoded alone (the next only once it was out)
    target.gate.set()
    await sink.drain()
    assert target.bodies == [envelope_body(o.wire) for o in messages]


async def test_a_message_that_cannot_be_encoded_ahead_fails_at_its_turn_and_the_rest_go_out() -> None:
    first, second, third = await server_messages(scenario("{url: 'http://127.0.0.1:9/hook'}"), 3)
    broken = replace(second, wire={**second.wire, "bad": {1, 2}})  # a set: not JSON
    target = _HeldTarget()
    sink, journal, _ = sink_with_spy(target)
    replies = [sink.submit(first)]
    await target.arrived.wait()
    replies += [sink.submit(broken), sink.submit(third)]
    target.gate.set()
    await sink.drain()
    assert [getattr(replies[i].result(), "status", None) for i in (0, 2)] == [200, 200]
    failed = replies[1].result()
    assert failed is not None and failed.error is not None and "internal error: TypeError" in failed.error
    assert target.bodies == [envelope_body(first.wire), envelope_body(third.wire)]
    assert [d.message_type for d in journal.deliveries()] == [first.event.type, third.event.type]


async def test_encoding_ahead_stops_at_its_limits_and_resumes_in_order() -> None:
    # Every body carries the whole history: a call racing ahead of a slow server must not hold them all encoded.
    messages = await server_messages(scenario("{url: 'http://127.0.0.1:9/hook'}"), 8)
    target = _HeldTarget()
    sink, _, spy = sink_with_spy(target)
    sink.ahead_items = 3
    sink.submit(messages[0])
    await target.arrived.wait()
    for o in messages[1:6]:
        sink.submit(o)
    assert spy.encoded == [o.wire for o in messages[:4]]  # the first, out, and three more
    sink.ahead_bytes = 0
    sink.submit(messages[6])
    assert len(spy.encoded) == 4
    target.gate.set()
    await sink.drain()
    assert spy.encoded == [o.wire for o in messages[:7]]  # the rest at their turn, still in order
    assert target.bodies == [envelope_body(o.wire) for o in messages[:7]]


class _Stepped:
    """Holds the answer to every request until the test releases it (`release(n)`: the n-th, from 1)."""

    description = "stepped"

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self._gates: list[asyncio.Event] = []
        self._arrivals: list[asyncio.Event] = [asyncio.Event() for _ in range(32)]
        self.spy: _SpyEncoder | None = None

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        self.bodies.append(request.body)
        gate = asyncio.Event()
        self._gates.append(gate)
        self._arrivals[len(self.bodies) - 1].set()
        await gate.wait()
        return HttpResponse(200, {}, b"{}", 0.0)

    async def arrived(self, n: int) -> None:
        await self._arrivals[n - 1].wait()

    def release(self, n: int) -> None:
        self._gates[n - 1].set()

    async def aclose(self) -> None:
        pass


async def test_the_window_is_refilled_in_batches_once_half_of_it_is_out_while_an_answer_is_awaited() -> None:
    # A call waiting behind a backlog (for a tool's answer) submits nothing: without the refill, every message
    # past the window would be encoded at its turn, between one answer and the next request. The refill waits
    # for half the window to go out, then fills it in one go (warm caches, one callback per half window).
    messages = await server_messages(scenario("{url: 'http://127.0.0.1:9/hook', secret: s3cret}"), 10)
    wires = [o.wire for o in messages]
    target = _Stepped()
    journal = Journal()
    sink = WebhookSink(TargetPool(target), journal, VirtualClock())
    spy = sink._encoder = target.spy = _SpyEncoder()
    sink.ahead_items = 4
    replies = [sink.submit(messages[0])]
    await target.arrived(1)
    replies += [sink.submit(o) for o in messages[1:]]
    assert len(spy.encoded) == 5  # the first, out, and the window of four
    encoded_while_out = []
    for n in range(1, 8):
        target.release(n)
        await target.arrived(n + 1)
        await asyncio.sleep(0)  # a refill runs once the request is written
        encoded_while_out.append(len(spy.encoded))
    # The second out leaves three encoded: no refill; the third leaves two (half): the window is filled again.
    assert encoded_while_out == [5, 7, 7, 9, 9, 10, 10]
    for n in range(8, 11):
        target.release(n)
        if n < 10:
            await target.arrived(n + 1)
    await sink.drain()
    assert spy.encoded == wires  # each encoded once, in order
    assert [getattr(r.result(), "status", None) for r in replies] == [200] * 10
    assert_sent_as_encoded_at_their_turn(target.bodies, journal, messages)


# -- resting ----------------------------------------------------------------------------------------


async def test_a_resting_sink_lets_go_of_its_encoder_once_idle_and_sends_the_same_bytes() -> None:
    # The player says `rest()` when the call waits a while: the encoded history is not kept through the pause.
    # Told while a delivery is out, the sink keeps the encoder until that delivery is settled.
    messages = await server_messages(scenario("{url: 'http://127.0.0.1:9/hook'}"), 4)
    target = _HeldTarget()
    sink, _, spy = sink_with_spy(target)
    sink.submit(messages[0])
    await target.arrived.wait()
    sink.rest()
    assert sink._encoder is spy  # the first delivery's answer is still awaited
    target.gate.set()
    await sink.drain()
    await asyncio.sleep(0)  # the worker ends
    assert sink._encoder is None and sink._queue is None
    for o in messages[1:3]:
        await sink.submit(o)
    assert sink._encoder is not None  # encoding afresh: no history reused
    sink.rest()  # idle: at once
    assert sink._encoder is None and sink._queue is None
    await sink.submit(messages[3])
    await sink.drain()
    assert target.bodies == [envelope_body(o.wire) for o in messages]
    assert spy.encoded == [messages[0].wire]


async def test_a_sink_between_bursts_holds_no_queue_nor_worker_and_keeps_its_encoder() -> None:
    # A live call spends most of its time between bursts of messages: its sink keeps no (624-byte) queue then,
    # nor its worker's ended task, resting or not; the encoder stays (only `rest` lets it go), and the next burst
    # goes out in order.
    messages = await server_messages(scenario("{url: 'http://127.0.0.1:9/hook'}"), 5)
    target = _HeldTarget()
    sink, _, spy = sink_with_spy(target)
    replies = [sink.submit(o) for o in messages[:3]]
    await target.arrived.wait()
    assert sink._queue is not None  # the burst is under way
    target.gate.set()
    await asyncio.gather(*replies)  # (not `drain`: the end of a call, which lets the encoder go)
    await asyncio.sleep(0)  # the worker ends
    assert sink._queue is None and sink._worker is None and sink._encoder is spy
    replies += [sink.submit(o) for o in messages[3:]]
    assert sink._worker is not None  # the next burst has a worker of its own
    await sink.drain()
    assert [getattr(r.result(), "status", None) for r in replies] == [200] * 5
    assert target.bodies == [envelope_body(o.wire) for o in messages]
    assert spy.encoded == [o.wire for o in messages]  # one encoder throughout: the history reused
