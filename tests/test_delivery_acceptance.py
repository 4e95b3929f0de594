"""Acceptance: bundled and inline scenarios played end to end into every kind of target.

Targets: a real aiohttp server on 127.0.0.1 (port 0), a FastAPI app and a Flask app in process, and a
websocket client. Every call runs on a VirtualClock; nothing waits on wall time except the few
deliberate timeouts (a tenth of a second or so).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from flask import Flask
from flask import request as flask_request

from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.events import Ask, Reply
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer, MemoryClient
from mockvapi.engine.simulator import CallSimulation, drive, simulate
from mockvapi.engine.timeline import Timeline
from mockvapi.library import bundled_names, resolve
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.transports.webhook import TargetPool, WebhookSink
from mockvapi.transports.websocket import call_endpoints

START_MS = 1_767_603_600_000


# -- a webhook that answers as the scenario scripts it --------------------------------------------


def reply_key(message: dict[str, Any], earlier: int) -> str:
    """What a scripted reply is filed under: a tool call's id, else the message type and how many of that
    type came before it (a call asks knowledge-base-request or call.endpointing.request once per turn, and
    each turn has its own scripted reply)."""
    if message["type"] == "tool-calls":
        return str(message["toolCallList"][0]["id"])
    return f"{message['type']}#{earlier}"


def scripted_replies(loaded: LoadedScenario, call_id: str | None = None) -> dict[str, Reply]:
    """The scripted reply of every Ask in the call, filed by `reply_key`."""
    sim = CallSimulation(loaded, start_ms=START_MS, call_id=call_id)
    replies: dict[str, Reply] = {}
    asked: dict[str, int] = {}
    generator = sim.run()
    try:
        item = next(generator)
        while True:
            if isinstance(item, Ask):
                message = item.event.message.body("realistic") if item.kind == "tool-calls" else {"type": item.kind}
                earlier = asked.get(item.kind, 0)
                asked[item.kind] = earlier + 1
                replies[reply_key(message, earlier)] = item.scripted
                item = generator.send(item.scripted)
            else:
                item = generator.send(None)
    except StopIteration:
        pass
    return replies


@dataclass
class Scripted:
    """Records every webhook message and answers each ask with the scenario's scripted reply."""

    replies: dict[str, Reply]
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # reply_key of each received message

    def __call__(self, body: Any, headers: Any = None) -> tuple[int, Any]:
        assert isinstance(body, dict) and list(body) == ["message"], "webhooks carry {'message': {...}}"
        message = body["message"]
        self.keys.append(reply_key(message, sum(m["type"] == message["type"] for m in self.received)))
        self.received.append(message)
        self.headers.append({k.lower(): v for k, v in dict(headers or {}).items()})
        reply = self.replies.get(self.keys[-1])
        if reply is None:
            return 200, {}
        return reply.status or 200, reply.body

    def types(self) -> list[str]:
        return [str(m["type"]) for m in self.received]

    def statuses(self) -> list[int]:
        """The HTTP status answered to each received message, in order."""
        replies = [self.replies.get(key) for key in self.keys]
        return [reply.status or 200 if reply is not None else 200 for reply in replies]


def fastapi_app(respond: Scripted) -> FastAPI:
    app = FastAPI()

    @app.post("/webhook")
    async def webhook(request: Request) -> JSONResponse:
        status, body = respond(await request.json(), request.headers)
        return JSONResponse(body, status_code=status)

    return app


def flask_app(respond: Scripted) -> Flask:
    app = Flask(__name__)

    @app.post("/webhook")
    def webhook() -> Any:
        status, body = respond(flask_request.get_json(), flask_request.headers)
        return body, status

    return app


@pytest.fixture
async def aiohttp_url() -> AsyncIterator[Callable[[Scripted], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def serve(respond: Scripted) -> str:
        async def webhook(request: web.Request) -> web.Response:
            status, body = respond(await request.json(), request.headers)
            return web.json_response(body, status=status)

        app = web.Application()
        app.router.add_post("/webhook", webhook)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/webhook"))

    yield serve
    while servers:
        await servers.pop().close()


async def play_into(target: object, loaded: LoadedScenario, *, path: str = "/webhook") -> tuple[CallPlayer, Journal]:
    clock = VirtualClock()
    journal = Journal()
    pool = TargetPool(target, path=path)
    player = CallPlayer(
        loaded, clock=clock, journal=journal, server=WebhookSink(pool, journal, clock), start_ms=START_MS
    )
    try:
        await player.run()
    finally:
        await pool.aclose()
    return player, journal


def server_messages(loaded: LoadedScenario) -> list[dict[str, Any]]:
    return [m for _, m in simulate(loaded, start_ms=START_MS).messages(side="server")]


def check_journal(journal: Journal, player: CallPlayer, respond: Scripted) -> None:
    deliveries = journal.deliveries(call_id=player.call_id)
    assert [d.message for d in deliveries] == respond.received
    assert all(d.channel == "webhook" and d.latency is not None for d in deliveries)
    offsets = [d.at for d in deliveries]
    assert offsets == sorted(offsets)
    assert [m["timestamp"] for m in respond.received] == sorted(m["timestamp"] for m in respond.received)


# Replies faster than a step's scripted latency count as that latency, so every scenario's output
# equals simulate()'s when an in-process target answers at once.
EXACT = bundled_names()
# long-call (13 minutes, 179 webhooks) is played once, into a callable, by
# test_longest_bundled_call_plays_in_virtual_time; the per-target tests skip it to keep the suite quick.
SHORTER = [n for n in bundled_names() if n != "long-call"]


# -- bundled scenarios into every target ----------------------------------------------------------


@pytest.mark.parametrize("name", SHORTER)
async def test_bundled_scenario_into_a_real_aiohttp_server(
    name: str, aiohttp_url: Callable[[Scripted], Awaitable[str]]
) -> None:
    loaded = resolve(name)
    respond = Scripted(scripted_replies(loaded))
    player, journal = await play_into(await aiohttp_url(respond), loaded)
    expected = server_messages(loaded)
    assert respond.types() == [m["type"] for m in expected]
    if name in EXACT:
        assert respond.received == expected
    assert {h["content-type"] for h in respond.headers} == {"application/json"}
    assert [d.status for d in journal.deliveries()] == respond.statuses()
    check_journal(journal, player, respond)
    assert respond.types()[-1] == "end-of-call-report"
    assert player.ended_reason == respond.received[-1]["endedReason"]


@pytest.mark.parametrize("name", SHORTER)
@pytest.mark.parametrize("framework", ["fastapi", "flask"])
async def test_bundled_scenario_into_an_in_process_app(name: str, framework: str) -> None:
    loaded = resolve(name)
    respond = Scripted(scripted_replies(loaded))
    app = fastapi_app(respond) if framework == "fastapi" else flask_app(respond)
    player, journal = await play_into(app, loaded)
    expected = server_messages(loaded)
    assert respond.types() == [m["type"] for m in expected]
    if name in EXACT:
        assert respond.received == expected
    check_journal(journal, player, respond)
    assert [d.status for d in journal.deliveries()] == respond.statuses()


async def test_fast_assistant_request_reply_gives_simulate_output() -> None:
    loaded = resolve("inbound-assistant-request")
    respond = Scripted(scripted_replies(loaded))
    await play_into(respond, loaded)
    assert respond.received == server_messages(loaded)


@pytest.mark.parametrize("name", SHORTER)
async def test_bundled_scenario_over_a_websocket(name: str) -> None:
    loaded = resolve(name)
    clock = VirtualClock()
    journal = Journal()
    player = CallPlayer(loaded, clock=clock, journal=journal, start_ms=START_MS)
    app = web.Application()
    app.add_routes(call_endpoints({player.call_id: player}.get, journal, clock))
    texts: list[dict[str, Any]] = []
    frames: list[int] = []
    async with TestServer(app, host="127.0.0.1", port=0) as server, aiohttp.ClientSession() as session:
        run = asyncio.ensure_future(player.run(wait_for_client=5))
        async with session.ws_connect(server.make_url(f"/{player.call_id}/transport")) as ws:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    texts.append(json.loads(frame.data))
                elif frame.type == aiohttp.WSMsgType.BINARY:
                    frames.append(len(frame.data))
        await run
    expected = [m for _, m in simulate(loaded, start_ms=START_MS).messages(side="client")]
    assert texts == expected
    assert set(frames) == {640}  # pcm_s16le 16 kHz: 20 ms
    offsets = [d.at for d in journal.deliveries(channel="websocket")]
    assert offsets == sorted(offsets) and len(offsets) == len(texts)


# -- replies drive the call -----------------------------------------------------------------------


async def test_tool_reply_changes_what_the_assistant_says_next() -> None:
    loaded = resolve("tool-call")
    respond = Scripted(scripted_replies(loaded))
    for key, reply in list(respond.replies.items()):
        if reply.body["results"][0]["name"] == "find_table":
            result = json.dumps({"available": True, "time": "8:15 PM", "table_id": "T7", "area": "the bar"})
            body = {"results": [{"toolCallId": key, "name": "find_table", "result": result}]}
            respond.replies[key] = Reply(200, body, 0.01)
    player, journal = await play_into(fastapi_app(respond), loaded)
    timeline = player.timeline()
    bots = [h["message"] for h in timeline.history if h["role"] == "bot"]
    assert bots[1] == "The closest I have is 8:15 PM on the bar. Shall I book it?"
    book = [m for m in respond.received if m["type"] == "tool-calls"][1]
    assert book["toolCallList"][0]["function"]["arguments"]["table_id"] == "T7"  # realistic: an object
    assert "8:15 PM" in bots[2]
    assert [p.kind for p in journal.problems] == []


SLOW_TOOL = """
version: 1
name: slow-tool
seed: 9
call: {type: webCall}
assistant:
  firstMessage: "Pharmacy, how can I help?"
  server: {url: URL}
  serverMessages: [tool-calls, hang, status-update, end-of-call-report]
  clientMessages: [tool-calls, tool-calls-result, hang, status-update]
  tools:
    - name: lookup
      parameters: {rx: string}
steps:
  - user: "Is my refill ready?"
  - tool:
      name: lookup
      arguments: {rx: "42"}
      latency: 10ms
      hang_after: 20ms
  - assistant: "Your refill is {{ tools.lookup.json.status }}."
  - end: customer-ended-call
"""


@dataclass
class SlowHook:
    """An aiohttp webhook whose tool-calls answer takes `delay` real seconds."""

    delay: float
    received: list[str] = field(default_factory=list)
    in_flight_tool: bool = False
    arrived_while_tool_in_flight: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        message = (await request.json())["message"]
        self.received.append(message["type"])
        if self.in_flight_tool:
            self.arrived_while_tool_in_flight.append(message["type"])
        if message["type"] != "tool-calls":
            return web.json_response({})
        self.in_flight_tool = True
        try:
            await asyncio.sleep(self.delay)  # a slow tool server, not a wait for the test
        finally:
            self.in_flight_tool = False
        call = message["toolCallList"][0]
        return web.json_response({"results": [{"toolCallId": call["id"], "result": '{"status":"ready"}'}]})


@pytest.fixture
async def slow_hook() -> AsyncIterator[tuple[SlowHook, str]]:
    hook = SlowHook(0.1)
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        yield hook, str(server.make_url("/hook"))


async def play_with_client(spec: str, clock: VirtualClock | None = None) -> tuple[CallPlayer, Journal, MemoryClient]:
    clock = clock or VirtualClock()
    journal = Journal()
    pool = TargetPool()
    client = MemoryClient()
    player = CallPlayer(
        resolve(spec), clock=clock, journal=journal, server=WebhookSink(pool, journal, clock), clients=[client]
    )
    try:
        await player.run()
    finally:
        await pool.aclose()
    return player, journal, client


async def test_slow_tool_reply_sends_hang_before_the_result_and_the_call_goes_on(
    slow_hook: tuple[SlowHook, str],
) -> None:
    hook, url = slow_hook
    player, journal, client = await play_with_client(SLOW_TOOL.replace("URL", url))
    kinds = [m["type"] for m in client.received]
    assert kinds.index("tool-calls") < kinds.index("hang") < kinds.index("tool-calls-result")
    hang = journal.deliveries(type="hang", channel="webhook")
    result_at = next(e.at for e in player.timeline().events if e.type == "tool-calls-result")
    assert len(hang) == 1 and hang[0].at < result_at and hang[0].ok
    assert hang[0].at - journal.deliveries(type="tool-calls")[0].at == pytest.approx(0.02)
    timeline = player.timeline()
    assert [h["message"] for h in timeline.history if h["role"] == "bot"][-1] == "Your refill is ready."
    assert timeline.ended_reason == "customer-ended-call"
    assert hook.received[-1] == "end-of-call-report"


async def test_hang_reaches_the_webhook_while_the_tool_call_is_still_in_flight(
    slow_hook: tuple[SlowHook, str],
) -> None:
    hook, url = slow_hook
    await play_with_client(SLOW_TOOL.replace("URL", url))
    assert "hang" in hook.arrived_while_tool_in_flight


# -- assistant-request ----------------------------------------------------------------------------

INBOUND = """
version: 1
name: inbound
seed: 31
call:
  type: inboundPhoneCall
  assistant_request: true
  phoneNumber: {number: "+16125550117", server: {url: PHONE, secret: phone-secret}}
assistant:
  firstMessage: "Scripted greeting."
steps:
  - user: "Hello?"
  - assistant: "How can I help?"
  - end: customer-ended-call
"""


@dataclass
class AssistantServer:
    """Answers assistant-request with `reply` (None: never answers); records (path, type) of everything."""

    reply: dict[str, Any] | None
    received: list[tuple[str, str]] = field(default_factory=list)
    never: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        message = (await request.json())["message"]
        self.received.append((request.path, message["type"]))
        if message["type"] == "assistant-request":
            if self.reply is None:
                await self.never.wait()
            return web.json_response(self.reply)
        return web.json_response({})


@pytest.fixture
async def assistant_server() -> AsyncIterator[tuple[AssistantServer, str]]:
    handler = AssistantServer(None)
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler.handle)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        yield handler, str(server.make_url("")).rstrip("/")
        handler.never.set()


async def test_assistant_request_reply_assistant_speaks_its_first_message(
    assistant_server: tuple[AssistantServer, str],
) -> None:
    handler, base = assistant_server
    handler.reply = {
        "assistant": {"firstMessage": "Thanks for calling Twin Cities Plumbing.", "server": {"url": base + "/asst"}}
    }
    player, journal, client = await play_with_client(INBOUND.replace("PHONE", base + "/phone"))
    timeline = player.timeline()
    bots = [h["message"] for h in timeline.history if h["role"] == "bot"]
    assert bots[0] == "Thanks for calling Twin Cities Plumbing."
    assert timeline.ended_reason == "customer-ended-call"
    assert handler.received[0] == ("/phone", "assistant-request")
    assert {path for path, _ in handler.received[1:]} == {"/asst"}  # the new assistant's server from then on
    first = journal.deliveries(type="assistant-request")[0]
    assert first.request_headers["X-Vapi-Secret"] == "phone-secret"
    assert "assistant" not in first.message  # the assistant is what is being asked for
    started = [m for m in client.received if m["type"] == "assistant.started"]
    assert started and started[0]["newAssistant"]["firstMessage"] == "Thanks for calling Twin Cities Plumbing."


async def test_assistant_request_error_ends_the_call(assistant_server: tuple[AssistantServer, str]) -> None:
    handler, base = assistant_server
    handler.reply = {"error": "Sorry, we are closed."}
    player, journal, _ = await play_with_client(INBOUND.replace("PHONE", base + "/phone"))
    timeline = player.timeline()
    assert timeline.ended_reason == "assistant-request-returned-error"
    assert [h["message"] for h in timeline.history if h["role"] == "bot"] == ["Sorry, we are closed."]
    assert [t for _, t in handler.received][-1] == "end-of-call-report"


async def test_assistant_request_without_a_reply_in_time_fails(
    assistant_server: tuple[AssistantServer, str],
) -> None:
    handler, base = assistant_server
    # io_speed=100: Vapi's fixed 7.5 s limit is 75 ms of real waiting.
    player, journal, _ = await play_with_client(INBOUND.replace("PHONE", base + "/phone"), VirtualClock(io_speed=100))
    timeline = player.timeline()
    assert timeline.ended_reason == "assistant-request-failed"
    assert [p.kind for p in journal.problems] == ["assistant-request-failed"]
    request = journal.deliveries(type="assistant-request")[0]
    assert request.error is not None and "timeout" in request.error
    assert [t for _, t in handler.received][-1] == "end-of-call-report"
    assert not [h for h in timeline.history if h["role"] in ("bot", "user")]


# -- transfer-destination-request -----------------------------------------------------------------

TRANSFER = """
version: 1
name: transfer-ask
seed: 41
call: {type: inboundPhoneCall}
assistant:
  firstMessage: "Law office, how can I help?"
  server: {url: URL}
  serverMessages: [transfer-destination-request, transfer-update, status-update, end-of-call-report]
steps:
  - user: "I need a lawyer tonight."
  - transfer: {}
"""


async def test_transfer_destination_reply_is_where_the_call_goes() -> None:
    destination = {"type": "number", "number": "+14155550123"}
    got: list[dict[str, Any]] = []

    def webhook(body: Any) -> Any:
        got.append(body["message"])
        if body["message"]["type"] == "transfer-destination-request":
            return {
                "destination": destination,
                "message": {"type": "request-start", "content": "Transferring you now."},
            }
        return None

    clock = VirtualClock()
    journal = Journal()
    pool = TargetPool(webhook)
    player = CallPlayer(
        resolve(TRANSFER.replace("URL", "http://x.invalid/h")),
        clock=clock,
        journal=journal,
        server=WebhookSink(pool, journal, clock),
    )
    timeline = await player.run()
    kinds = [m["type"] for m in got]
    assert kinds.index("transfer-destination-request") < kinds.index("transfer-update")
    update = next(m for m in got if m["type"] == "transfer-update")
    assert update["destination"] == destination
    forwarding = next(m for m in got if m["type"] == "status-update" and m["status"] == "forwarding")
    assert forwarding["destination"] == destination
    assert timeline.ended_reason == "assistant-forwarded-call"
    assert got[-1]["type"] == "end-of-call-report" and got[-1]["endedReason"] == "assistant-forwarded-call"
    assert got[-1]["destination"] == destination  # where the reply sent the call
    assert [h["message"] for h in timeline.history if h["role"] == "bot"][-1] == "Transferring you now."


async def test_transfer_destination_reply_without_destination_fails_the_transfer() -> None:
    clock = VirtualClock()
    journal = Journal()
    pool = TargetPool(lambda body: {"nothing": True})
    player = CallPlayer(
        resolve(TRANSFER.replace("URL", "http://x.invalid/h")),
        clock=clock,
        journal=journal,
        server=WebhookSink(pool, journal, clock),
    )
    timeline = await player.run()
    assert timeline.ended_reason == "call.in-progress.error-transfer-failed"
    assert [p.kind for p in journal.problems] == ["bad-transfer-destination"]


# -- many calls at once ---------------------------------------------------------------------------

# Small calls (default serverMessages: ~15 webhooks each), so a hundred of them stay quick.
SMALL_CHAT = """
version: 1
name: small-chat
seed: 51
call: {type: webCall}
assistant: {firstMessage: "Hi, bakery here."}
steps:
  - user: "Are you open on Sunday?"
  - assistant: "Yes, from eight until two."
  - end: customer-ended-call
"""

SMALL_TOOL = """
version: 1
name: small-tool
seed: 52
call: {type: webCall}
assistant:
  firstMessage: "Hi, trattoria here."
  tools: [{name: find_table, parameters: {size: integer}}]
steps:
  - user: "A table for two?"
  - tool: {name: find_table, arguments: {size: 2}, result: {time: "7 PM"}, latency: 300ms}
  - assistant: "I have {{ tools.find_table.json.time }}."
  - end: customer-ended-call
"""


@dataclass
class Template:
    """One scenario played with a fixed call id: other call ids give the same call with that id swapped."""

    loaded: LoadedScenario
    replies: dict[str, Reply]
    expected: str  # the server messages as JSON, with TEMPLATE_ID as the call id

    @classmethod
    def of(cls, spec: str) -> Template:
        loaded = resolve(spec)
        sim = CallSimulation(loaded, start_ms=START_MS, call_id=TEMPLATE_ID)
        messages = [m for _, m in drive(sim).messages(side="server")]
        return cls(loaded, scripted_replies(loaded, TEMPLATE_ID), json.dumps(messages))

    def messages(self, call_id: str) -> list[dict[str, Any]]:
        return list(json.loads(self.expected.replace(TEMPLATE_ID, call_id)))

    def player(self, call_id: str, clock: VirtualClock, journal: Journal, target: object) -> CallPlayer:
        sink = WebhookSink(TargetPool(target), journal, clock)
        return CallPlayer(self.loaded, clock=clock, journal=journal, start_ms=START_MS, call_id=call_id, server=sink)


TEMPLATE_ID = "00000000-0000-4000-8000-template0000"


async def test_a_hundred_concurrent_calls_do_not_interfere() -> None:
    clock = VirtualClock()
    journal = Journal()
    templates = [Template.of(SMALL_CHAT), Template.of(SMALL_TOOL)]
    calls: list[tuple[CallPlayer, Scripted, list[dict[str, Any]]]] = []
    for i in range(100):
        template = templates[i % 2]
        call_id = f"00000000-0000-4000-8000-{i:012d}"
        respond = Scripted(dict(template.replies))
        calls.append((template.player(call_id, clock, journal, respond), respond, template.messages(call_id)))

    timelines = await asyncio.gather(*(player.run() for player, _, _ in calls))

    assert len({player.call_id for player, _, _ in calls}) == 100
    for (player, respond, expected), timeline in zip(calls, timelines, strict=True):
        assert respond.received == expected, player
        mine = journal.deliveries(call_id=player.call_id)
        assert [d.message for d in mine] == expected
        assert [d.at for d in mine] == sorted(d.at for d in mine)
        assert mine[-1].message_type == "end-of-call-report" and mine[-1].ok
        assert timeline.ended_reason == "customer-ended-call"
    assert len(journal) == sum(len(expected) for _, _, expected in calls)
    assert journal.problems == []
    bots = {tuple(h["message"] for h in t.history if h["role"] == "bot") for t in timelines}
    assert ("Hi, trattoria here.", "I have 7 PM.") in bots


async def test_a_stalled_target_does_not_hold_up_the_other_calls() -> None:
    """The stalled target answers only once every other call has finished; were the calls coupled, its
    first delivery would time out after timeoutSeconds (5 s) and the assertions below would fail."""
    clock = VirtualClock()
    journal = Journal()
    finished: list[str] = []
    others_done = asyncio.Event()
    stalls = [True]  # only its first delivery stalls

    async def stalled(body: Any) -> None:
        if stalls and stalls.pop():
            await others_done.wait()
            finished.append("stalled-delivery-answered")

    template = Template.of(SMALL_CHAT)
    stalled_yaml = SMALL_CHAT.replace(
        'assistant: {firstMessage: "Hi, bakery here."}',
        'assistant: {firstMessage: "Hi, bakery here.", server: {url: "http://stalled.invalid/", timeoutSeconds: 5}}',
    )
    slow = Template.of(stalled_yaml).player("stalled-call", clock, journal, stalled)
    others = [template.player(f"other-{i:02d}", clock, journal, Scripted(dict(template.replies))) for i in range(20)]

    async def run(player: CallPlayer) -> None:
        await player.run()
        finished.append(player.call_id)

    async def run_others() -> None:
        await asyncio.gather(*(run(p) for p in others))
        others_done.set()

    await asyncio.gather(run(slow), run_others())
    assert set(finished[:20]) == {p.call_id for p in others}
    assert finished[20:] == ["stalled-delivery-answered", "stalled-call"]
    first = journal.deliveries(call_id="stalled-call")[0]
    assert first.ok and first.message_type == "status-update"
    assert journal.problems == []
    assert journal.deliveries(call_id="stalled-call")[-1].message_type == "end-of-call-report"
    assert all(p.timeline().ended_reason == "customer-ended-call" for p in [slow, *others])


async def test_a_target_that_never_answers_times_out_without_slowing_the_others() -> None:
    clock = VirtualClock()
    journal = Journal()
    never = asyncio.Event()
    stalls = [True]

    async def stalled(body: Any) -> None:
        if stalls and stalls.pop():
            await never.wait()

    stalled_yaml = SMALL_CHAT.replace(
        'assistant: {firstMessage: "Hi, bakery here."}',
        'assistant: {firstMessage: "Hi, bakery here.", server: {url: "http://stalled.invalid/", timeoutSeconds: 0.2}}',
    )
    template = Template.of(SMALL_CHAT)
    slow = Template.of(stalled_yaml).player("stalled-call", clock, journal, stalled)
    other = template.player("other", clock, journal, Scripted(dict(template.replies)))
    other_run = asyncio.ensure_future(other.run())
    slow_run = asyncio.ensure_future(slow.run())
    await other_run
    assert not slow_run.done()  # still waiting on its first delivery
    await slow_run
    first = journal.deliveries(call_id="stalled-call")[0]
    assert first.error is not None and "timeout" in first.error
    assert [p.kind for p in journal.problems] == ["delivery-failed"]
    assert journal.deliveries(call_id="stalled-call")[-1].message_type == "end-of-call-report"


# -- virtual time ---------------------------------------------------------------------------------


TEN_MINUTES = """
version: 1
name: ten-minutes
steps:
  - user: "Hold on, I need to find my account number."
  - silence: 600s
  - user: "Found it."
  - end: customer-ended-call
"""


async def test_longest_bundled_call_plays_in_virtual_time() -> None:
    loaded = resolve("long-call" if "long-call" in bundled_names() else TEN_MINUTES)
    respond = Scripted(scripted_replies(loaded))
    clock = VirtualClock()
    journal = Journal()
    player = CallPlayer(
        loaded, clock=clock, journal=journal, start_ms=START_MS, server=WebhookSink(TargetPool(respond), journal, clock)
    )
    timeline: Timeline = await player.run()
    assert timeline.duration > 600  # ten minutes of call time
    assert clock.now() == pytest.approx(timeline.duration)
    assert respond.received == server_messages(loaded)
