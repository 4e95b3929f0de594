"""The stand-alone mock (`MockVapi(serve=True)`, i.e. `MockServer`) over real HTTP: calls created
through the REST API play scenarios into a real webhook receiver, and the `/_mockvapi/` control
plane (scenarios, inbound calls, the clock, journal, problems, reset, forget, token).

Every response seen through the `api`/`control` clients is checked by conftest's response hook
(Vapi's error shape for 4xx, never 5xx, the official spec's schema for documented endpoints).
No SDK here: this module stays fast.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from mockvapi.engine.clock import Clock, RealClock, VirtualClock
from mockvapi.server import ERRORS_KEY
from mockvapi.testing import MockVapi

from .conftest import ResponseLog, loopback_client
from .webhook_receiver import WebhookReceiver

TOKEN = "api-token"
CONTROL = "control-token"
# The control plane reads bodies of these types only (a page could post text/plain without a preflight).
JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "text/yaml"}

POSTED = """\
version: 1
name: posted-greeting
assistant:
  firstMessage: "Hello from a posted scenario."
steps:
  - user: "Hi, who is this?"
  - assistant: "A scenario the control plane loaded a moment ago."
  - end:
      reason: assistant-ended-call
"""


@dataclass
class Served:
    """A running mock plus two validated clients: the Vapi API (API token) and the control plane."""

    vapi: MockVapi
    api: httpx.AsyncClient
    control: httpx.AsyncClient

    async def assistant(self, **body: Any) -> dict[str, Any]:
        response = await self.api.post("/assistant", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def call(self, **body: Any) -> dict[str, Any]:
        response = await self.api.post("/call", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def record(self, call_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/call/{call_id}")
        assert response.status_code == 200, response.text
        record: dict[str, Any] = response.json()
        return record

    async def played(self, call_id: str) -> dict[str, Any]:
        """Wait for the engine to finish the call, then its REST record."""
        call = self.vapi.find_call(call_id)
        assert call is not None, f"no engine call {call_id}"
        async with asyncio.timeout(10):
            await call.wait()
        return await self.record(call_id)


@asynccontextmanager
async def served(
    responses: ResponseLog, *, clock: Clock | None = None, control_token: str | None = CONTROL,
    scenarios: Path | None = None,
) -> AsyncIterator[Served]:
    vapi = MockVapi(
        serve=True, token=TOKEN, control_token=control_token, clock=clock or VirtualClock(), strict=False,
        scenarios=scenarios,
    )
    async with vapi:
        url = vapi.server.url
        control_headers = {"Authorization": f"Bearer {control_token}"} if control_token else {}
        async with (
            loopback_client(responses, base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as api,
            loopback_client(responses, base_url=url, headers=control_headers) as control,
        ):
            yield Served(vapi, api, control)
        assert not vapi.server.app[ERRORS_KEY].errors, vapi.server.app[ERRORS_KEY].errors


@pytest.fixture
async def mock(responses: ResponseLog) -> AsyncIterator[Served]:
    async with served(responses) as s:
        yield s


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = await WebhookReceiver().start()
    yield r
    await r.aclose()


def _scenario(name: str) -> dict[str, Any]:
    return {"mockvapi": {"scenario": name}}


# -- scenarios ------------------------------------------------------------------------------------


async def test_scenarios_lists_the_bundled_library_and_the_default(mock: Served) -> None:
    body = (await mock.control.get("/_mockvapi/scenarios")).json()
    assert {"happy-path", "barge-in", "assistant-ends-call"} <= set(body["scenarios"])
    assert body["scenarios"] == sorted(body["scenarios"])
    assert body["default"] == "happy-path"


async def test_posted_yaml_is_listed_and_played_by_an_assistant_naming_it(
    mock: Served, receiver: WebhookReceiver
) -> None:
    loaded = await mock.control.post("/_mockvapi/scenarios", content=POSTED, headers={"Content-Type": "text/yaml"})
    assert loaded.status_code == 201 and loaded.json() == {"loaded": ["posted-greeting"]}
    assert "posted-greeting" in (await mock.control.get("/_mockvapi/scenarios")).json()["scenarios"]

    assistant = await mock.assistant(server={"url": receiver.url}, metadata=_scenario("posted-greeting"))
    call = await mock.call(assistantId=assistant["id"])
    record = await mock.played(call["id"])

    assert record["status"] == "ended" and record["endedReason"] == "assistant-ended-call"
    spoken = [m["message"] for m in record["messages"] if m["role"] == "bot"]
    assert spoken == ["Hello from a posted scenario.", "A scenario the control plane loaded a moment ago."]
    report = await receiver.wait_for("end-of-call-report", call["id"])
    assert report["endedReason"] == "assistant-ended-call"


async def test_scenarios_load_from_a_folder_by_path(responses: ResponseLog, tmp_path: Path) -> None:
    # Only inside a folder serve was given (tests/server/test_serve_security.py has the refusals).
    async with served(responses, scenarios=tmp_path) as mock:
        (tmp_path / "posted.yaml").write_text(POSTED, encoding="utf-8")
        (tmp_path / "renamed.yaml").write_text(POSTED.replace("posted-greeting", "renamed-greeting"),
                                               encoding="utf-8")
        response = await mock.control.post("/_mockvapi/scenarios", json={"path": str(tmp_path)})
        assert response.status_code == 201
        assert response.json() == {"loaded": ["posted-greeting", "renamed-greeting"]}

        assistant = await mock.assistant(metadata=_scenario("renamed-greeting"))
        record = await mock.played((await mock.call(assistantId=assistant["id"]))["id"])
        assert record["endedReason"] == "assistant-ended-call"


async def test_broken_yaml_is_a_400_naming_the_place(mock: Served) -> None:
    response = await mock.control.post("/_mockvapi/scenarios", content=POSTED.replace("steps:", "steps: ["),
                                       headers=YAML)
    assert response.status_code == 400
    (message,) = response.json()["message"]
    assert message.startswith("<posted>:")
    assert (await mock.control.get("/_mockvapi/scenarios")).json()["scenarios"].count("posted-greeting") == 0


async def test_an_assistant_naming_an_unknown_scenario_is_refused_with_the_scenarios(mock: Served) -> None:
    names = ", ".join(mock.vapi.server.scenario_names())
    response = await mock.api.post("/assistant", json={"name": "Riley", "metadata": _scenario("barge_in")})
    assert response.status_code == 400
    assert response.json() == {
        "message": [f"metadata.mockvapi.scenario 'barge_in' is not a scenario this server plays; did you mean "
                    f"'barge-in'? (scenarios: {names})"],
        "error": "Bad Request",
        "statusCode": 400,
    }
    inline = {"assistant": {"name": "Riley", "metadata": _scenario("no-such-scenario")}}
    response = await mock.api.post("/call", json=inline)
    assert response.status_code == 400
    assert response.json()["message"] == [
        f"assistant.metadata.mockvapi.scenario 'no-such-scenario' is not a scenario this server plays "
        f"(scenarios: {names})"
    ]
    assistant = await mock.assistant(name="Riley")
    response = await mock.api.patch(f"/assistant/{assistant['id']}", json={"metadata": _scenario("nope")})
    assert response.status_code == 400
    assert (await mock.api.post("/call/web", json=inline)).status_code == 400
    assert not mock.vapi.calls and not (await mock.api.get("/call")).json()


async def test_a_call_whose_scenario_cannot_load_ends_at_once_with_a_problem(mock: Served) -> None:
    assistant = await mock.assistant(metadata=_scenario("happy-path"))
    mock.vapi.server.loaded["happy-path"] = "no-such-scenario"  # type: ignore[assignment]  # breaks it after the check
    call = await mock.call(assistantId=assistant["id"])
    record = await mock.record(call["id"])
    assert record["status"] == "ended"
    assert record["endedReason"] == "call.start.error-get-assistant"
    problems = (await mock.control.get("/_mockvapi/problems")).json()["problems"]
    assert [(p["call_id"], p["kind"]) for p in problems] == [(call["id"], "scenario")]
    assert "no-such-scenario" in problems[0]["detail"]


async def test_calls_played_at_once_each_get_their_own_messages_in_order(
    mock: Served, receiver: WebhookReceiver
) -> None:
    names = ["happy-path", "assistant-ends-call", "customer-hangs-up", "barge-in", "happy-path"]
    assistants = [await mock.assistant(server={"url": receiver.url}, metadata=_scenario(n)) for n in names]
    calls = await asyncio.gather(*(mock.call(assistantId=a["id"]) for a in assistants))
    records = await asyncio.gather(*(mock.played(c["id"]) for c in calls))
    for call, record in zip(calls, records, strict=True):
        messages = receiver.messages(call["id"])
        sent = mock.vapi.journal.deliveries(call_id=call["id"], channel="webhook")
        assert messages == [d.message for d in sent]  # this call's own, in its own order
        assert messages[-1]["type"] == "end-of-call-report"
        assert record["endedReason"] == messages[-1]["endedReason"]
    reasons = [r["endedReason"] for r in records]
    assert reasons[0] == reasons[4] == "customer-ended-call" and reasons[1] == "assistant-ended-call"


async def test_websocket_peers_of_ended_or_unknown_calls_are_turned_away(mock: Served) -> None:
    call = await mock.call(assistant={"name": "Done"})
    await mock.played(call["id"])
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(call["monitor"]["listenUrl"])
        assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE  # the call is over
        await ws.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as unknown:
            await session.ws_connect(call["monitor"]["listenUrl"].replace(call["id"], "does-not-exist"))
        assert unknown.value.status == 404


# -- inbound calls ----------------------------------------------------------------------------------


async def test_inbound_call_asks_the_phone_numbers_server_for_an_assistant_first(mock: Served) -> None:
    greeting = "Thanks for calling the dynamic line!"
    receiver = await WebhookReceiver(
        {"assistant-request": {"assistant": {"name": "Dynamic", "firstMessage": greeting}}}
    ).start()
    try:
        number = (await mock.api.post("/phone-number", json={"provider": "vapi", "server": {"url": receiver.url}}))
        assert number.status_code == 201 and "assistantId" not in number.json()
        response = await mock.control.post(
            "/_mockvapi/inbound-call",
            json={"phoneNumberId": number.json()["id"], "customer": {"number": "+15551230000"}},
        )
        assert response.status_code == 201
        call = response.json()
        assert call["type"] == "inboundPhoneCall" and call["customer"] == {"number": "+15551230000"}

        record = await mock.played(call["id"])
        types = receiver.types(call["id"])
        assert types[0] == "assistant-request" and types[-1] == "end-of-call-report"
        first = receiver.messages(call["id"])[0]
        assert first["phoneNumber"]["id"] == number.json()["id"]
        assert first["customer"] == {"number": "+15551230000"}
        spoken = [m["message"] for m in record["messages"] if m["role"] == "bot"]
        assert spoken[0] == greeting
        assert record["status"] == "ended"
    finally:
        await receiver.aclose()


async def test_inbound_call_may_name_its_scenario(mock: Served) -> None:
    assistant = await mock.assistant(name="Front desk")
    number = (await mock.api.post("/phone-number", json={"provider": "vapi", "assistantId": assistant["id"]})).json()
    response = await mock.control.post(
        "/_mockvapi/inbound-call", json={"phoneNumberId": number["id"], "scenario": "assistant-ends-call"}
    )
    assert response.status_code == 201
    record = await mock.played(response.json()["id"])
    assert record["endedReason"] == "assistant-ended-call"


async def test_inbound_call_naming_an_unknown_scenario_is_a_400_and_leaves_no_call(mock: Served) -> None:
    assistant = await mock.assistant(name="Front desk")
    number = (await mock.api.post("/phone-number", json={"provider": "vapi", "assistantId": assistant["id"]})).json()
    response = await mock.control.post(
        "/_mockvapi/inbound-call", json={"phoneNumberId": number["id"], "scenario": "no-such-scenario"}
    )
    assert response.status_code == 400 and "no-such-scenario" in str(response.json()["message"])
    assert (await mock.api.get("/call")).json() == []


# -- the clock --------------------------------------------------------------------------------------


async def test_a_manual_clock_holds_the_call_until_advanced(responses: ResponseLog) -> None:
    clock = VirtualClock(autojump=False)
    async with served(responses, clock=clock) as mock:
        call = await mock.call(assistant={"name": "Held"})
        # Round trips through the server give the call every chance to run; it must not move.
        for _ in range(3):
            assert (await mock.record(call["id"]))["status"] == "queued"
        assert mock.vapi.journal.deliveries(call_id=call["id"]) == []
        assert clock.now() == 0.0

        advanced = await mock.control.post("/_mockvapi/clock/advance", json={"seconds": 1})
        assert advanced.status_code == 200 and advanced.json() == {"now": 1.0}
        record = await mock.record(call["id"])
        assert record["status"] == "in-progress" and "endedAt" not in record

        advanced = await mock.control.post("/_mockvapi/clock/advance", json={"seconds": 600})
        assert advanced.json() == {"now": 601.0}
        record = await mock.played(call["id"])
        assert record["status"] == "ended" and record["endedReason"] == "customer-ended-call"


async def test_advancing_an_autojump_clock_with_a_call_in_flight_returns(mock: Served) -> None:
    call = await mock.call(assistant={"name": "Busy"})  # plays on the autojump clock meanwhile
    async with asyncio.timeout(5):
        advanced = await mock.control.post("/_mockvapi/clock/advance", json={"seconds": 30})
    assert advanced.status_code == 200
    assert (await mock.played(call["id"]))["status"] == "ended"


async def test_a_real_clock_cannot_be_advanced(responses: ResponseLog) -> None:
    async with served(responses, clock=RealClock()) as mock:
        response = await mock.control.post("/_mockvapi/clock/advance", json={"seconds": 1})
        assert response.status_code == 400 and "real" in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        '{"seconds": -1}',
        '{"seconds": "1"}',
        '{"seconds": true}',
        "{}",
        '{"seconds": NaN}',
        '{"seconds": Infinity}',
        '{"seconds": 1e308}',
    ],
)
async def test_advance_rejects_what_is_not_a_sane_number_of_seconds(mock: Served, body: str) -> None:
    response = await mock.control.post("/_mockvapi/clock/advance", content=body, headers=JSON)
    assert response.status_code == 400
    clock = mock.vapi.clock
    assert isinstance(clock, VirtualClock) and math.isfinite(clock.now()) and clock.now() < 1e6


# -- journal, problems, reset, forget -----------------------------------------------------------


async def test_journal_filters_by_call_type_and_outcome_and_speaks_jsonl(mock: Served) -> None:
    receiver = await WebhookReceiver(fail={"status-update"}).start()
    try:
        assistant = await mock.assistant(server={"url": receiver.url})
        first = (await mock.call(assistantId=assistant["id"]))["id"]
        await mock.played(first)
        second = (await mock.call(assistantId=assistant["id"]))["id"]
        await mock.played(second)
    finally:
        await receiver.aclose()

    everything = (await mock.control.get("/_mockvapi/journal")).json()
    assert everything["dropped"] == 0
    assert {d["call_id"] for d in everything["deliveries"]} == {first, second}
    seqs = [d["seq"] for d in everything["deliveries"]]
    assert seqs == sorted(seqs)

    one = (await mock.control.get("/_mockvapi/journal", params={"callId": first})).json()["deliveries"]
    assert one and {d["call_id"] for d in one} == {first}
    assert [d["message_type"] for d in one if d["channel"] == "webhook"] == receiver.types(first)

    reports = (await mock.control.get("/_mockvapi/journal", params={"type": "end-of-call-report"})).json()
    assert [d["call_id"] for d in reports["deliveries"]] == [first, second]

    failed = (await mock.control.get("/_mockvapi/journal", params={"outcome": "failed"})).json()["deliveries"]
    assert failed and {d["message_type"] for d in failed} == {"status-update"}
    assert {d["status"] for d in failed} == {500}
    ok = (await mock.control.get("/_mockvapi/journal", params={"outcome": "ok"})).json()["deliveries"]
    assert len(ok) + len(failed) == len(everything["deliveries"])

    # jsonl: one JSON object per line, the same rows (not through the JSON-only response hook).
    async with loopback_client(base_url=str(mock.control.base_url), headers=mock.control.headers) as raw:
        response = await raw.get("/_mockvapi/journal", params={"callId": first, "format": "jsonl"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    assert [json.loads(line) for line in lines] == one


async def test_problems_name_the_call_and_what_went_wrong(mock: Served) -> None:
    receiver = await WebhookReceiver(fail={"end-of-call-report"}).start()
    try:
        assistant = await mock.assistant(server={"url": receiver.url})
        call = (await mock.call(assistantId=assistant["id"]))["id"]
        await mock.played(call)
    finally:
        await receiver.aclose()
    problems = (await mock.control.get("/_mockvapi/problems")).json()["problems"]
    assert problems, "a 500 from the webhook is a problem"
    assert {p["call_id"] for p in problems} == {call}
    assert any("end-of-call-report" in p["detail"] or "500" in p["detail"] for p in problems)


async def test_reset_forgets_every_call_assistant_number_and_delivery(mock: Served, receiver: WebhookReceiver) -> None:
    assistant = await mock.assistant(server={"url": receiver.url})
    await mock.api.post("/phone-number", json={"provider": "vapi", "assistantId": assistant["id"]})
    call = (await mock.call(assistantId=assistant["id"]))["id"]
    await mock.played(call)
    assert (await mock.control.get("/_mockvapi/journal")).json()["deliveries"]

    response = await mock.control.post("/_mockvapi/reset")
    assert response.status_code == 200 and response.json() == {"reset": True}
    assert (await mock.api.get("/call")).json() == []
    assert (await mock.api.get("/assistant")).json() == []
    assert (await mock.api.get("/phone-number")).json() == []
    assert (await mock.control.get("/_mockvapi/journal")).json() == {"deliveries": [], "dropped": 0}
    assert (await mock.control.get("/_mockvapi/problems")).json() == {"problems": []}
    assert (await mock.api.get(f"/call/{call}")).status_code == 404
    assert mock.vapi.calls == []


async def test_reset_stops_a_call_in_flight(responses: ResponseLog) -> None:
    async with served(responses, clock=VirtualClock(autojump=False)) as mock:
        call = await mock.call(assistant={"name": "Held"})
        task = mock.vapi.calls[0].task
        assert task is not None and not task.done()
        assert (await mock.control.post("/_mockvapi/reset")).status_code == 200
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await mock.api.get(f"/call/{call['id']}")).status_code == 404


async def test_reset_lets_deliveries_in_flight_finish_first_so_none_lands_in_the_fresh_journal(
    responses: ResponseLog,
) -> None:
    release = asyncio.Event()
    receiver = await WebhookReceiver(fail={"speech-update"}, hold={"speech-update": release}).start()
    try:
        async with served(responses, clock=VirtualClock(autojump=False)) as mock:
            assistant = await mock.assistant(server={"url": receiver.url})
            await mock.call(assistantId=assistant["id"])
            await mock.control.post("/_mockvapi/clock/advance", json={"seconds": 2})
            await receiver.wait_for("speech-update")  # held: its 500 is still to come
            task = mock.vapi.calls[0].task
            assert task is not None

            reset = asyncio.ensure_future(mock.control.post("/_mockvapi/reset"))
            async with asyncio.timeout(5):
                while not task.cancelling():  # the server has taken the reset
                    await asyncio.sleep(0.001)
            release.set()
            assert (await reset).status_code == 200
            assert task.done()
            assert (await mock.control.get("/_mockvapi/journal")).json()["deliveries"] == []
            assert (await mock.control.get("/_mockvapi/problems")).json() == {"problems": []}
    finally:
        release.set()
        await receiver.aclose()


async def test_forgetting_one_call_keeps_the_others(mock: Served, receiver: WebhookReceiver) -> None:
    assistant = await mock.assistant(server={"url": receiver.url})
    gone = (await mock.call(assistantId=assistant["id"]))["id"]
    kept = (await mock.call(assistantId=assistant["id"]))["id"]
    await mock.played(gone)
    await mock.played(kept)

    response = await mock.control.delete(f"/_mockvapi/calls/{gone}")
    assert response.status_code == 200 and response.json() == {"forgotten": gone}
    assert (await mock.api.get(f"/call/{gone}")).status_code == 404
    assert [c["id"] for c in (await mock.api.get("/call")).json()] == [kept]
    assert (await mock.control.get("/_mockvapi/journal", params={"callId": gone})).json()["deliveries"] == []
    assert (await mock.control.get("/_mockvapi/journal", params={"callId": kept})).json()["deliveries"]
    assert mock.vapi.find_call(gone) is None and mock.vapi.find_call(kept) is not None

    again = await mock.control.delete(f"/_mockvapi/calls/{gone}")
    assert again.status_code == 404


# -- the control token ----------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Bearer {TOKEN}", CONTROL])
async def test_the_control_token_is_enforced(mock: Served, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    async with loopback_client(ResponseLog(), base_url=str(mock.control.base_url), headers=headers) as client:
        for method, path in [("GET", "/_mockvapi/scenarios"), ("POST", "/_mockvapi/reset"),
                             ("GET", "/_mockvapi/journal"), ("DELETE", "/_mockvapi/calls/x")]:
            response = await client.request(method, path)
            assert response.status_code == 401, (method, path)
            assert response.json()["error"] == "Unauthorized"


async def test_the_control_token_does_not_open_the_api_and_no_token_leaves_the_plane_open(
    responses: ResponseLog,
) -> None:
    async with served(responses, control_token=None) as mock:
        assert (await mock.control.get("/_mockvapi/scenarios")).status_code == 200
    async with served(responses) as mock:
        response = await mock.control.get("/assistant")  # control token, not the API's
        assert response.status_code == 401


# -- bad requests against the running server ------------------------------------------------------------

HUGE = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/assistant", {"content": b"{bad", "headers": JSON}, 400),
        ("POST", "/assistant", {"json": {"name": 5}}, 400),
        ("POST", "/assistant", {"json": [1, 2]}, 400),
        ("POST", "/assistant", {"content": b"\xff\xfe", "headers": JSON}, 400),
        ("POST", "/assistant", {"content": HUGE, "headers": JSON}, 413),
        ("POST", "/assistant", {"json": {"name": "x"}, "headers": {"Authorization": ""}}, 401),
        ("POST", "/call", {"json": {"assistantId": 5}}, 400),
        ("POST", "/call", {"json": {"transport": "websocket"}}, 400),
        ("POST", "/call", {"content": b'{"assistant": {"name": NaN}}', "headers": JSON}, 400),
        ("GET", "/call?limit=abc", {}, 400),
        ("GET", "/call?createdAtGt=yesterday", {}, 400),
        ("GET", "/call/does-not-exist", {}, 404),
        ("PATCH", "/call/does-not-exist", {"json": {"name": "x"}}, 404),
        ("GET", "/does-not-exist/transport", {}, 404),
        ("POST", "/does-not-exist/control", {"json": {"type": "say", "content": "hi"}}, 404),
        ("GET", "/nothing/here/at/all", {}, 404),
        ("POST", "/_mockvapi/scenarios", {"content": b"\xff\xfe", "headers": YAML}, 400),
        ("POST", "/_mockvapi/scenarios", {"content": b"- just\n- a list\n", "headers": YAML}, 400),
        ("POST", "/_mockvapi/scenarios", {"content": b"", "headers": YAML}, 400),
        ("POST", "/_mockvapi/scenarios", {"json": {"path": 5}}, 400),
        ("POST", "/_mockvapi/scenarios", {"json": {"path": "/does/not/exist.yaml"}}, 403),
        ("POST", "/_mockvapi/scenarios", {"content": b"{bad", "headers": JSON}, 400),
        ("POST", "/_mockvapi/scenarios", {"content": HUGE, "headers": YAML}, 413),
        ("POST", "/_mockvapi/inbound-call", {"json": {}}, 400),
        ("POST", "/_mockvapi/inbound-call", {"json": {"phoneNumberId": 5}}, 400),
        ("POST", "/_mockvapi/inbound-call", {"json": {"phoneNumberId": "does-not-exist"}}, 404),
        ("POST", "/_mockvapi/inbound-call", {"content": b"{bad", "headers": JSON}, 400),
        ("POST", "/_mockvapi/inbound-call", {"content": b"\xff", "headers": JSON}, 400),
        ("POST", "/_mockvapi/inbound-call", {"content": b"[]", "headers": JSON}, 400),
        ("POST", "/_mockvapi/clock/advance", {"content": b"\xff", "headers": JSON}, 400),
        ("GET", "/_mockvapi/journal?outcome=maybe", {}, 400),
        ("DELETE", "/_mockvapi/calls/does-not-exist", {}, 404),
        ("PUT", "/_mockvapi/reset", {}, 404),
    ],
)
async def test_bad_requests_to_the_running_server_get_4xx_json(
    mock: Served, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    client = mock.control if path.startswith("/_mockvapi/") else mock.api
    response = await client.request(method, path, **kwargs)  # the hook checks: JSON, Vapi's shape, < 500
    assert response.status_code == status, response.text


async def test_bad_requests_to_a_live_calls_urls_get_4xx_json(mock: Served, responses: ResponseLog) -> None:
    call = await mock.call(assistant={"name": "Live"}, transport={"provider": "vapi.websocket"})
    cid = call["id"]
    for path in (f"/{cid}/transport", f"/{cid}/listen"):  # not a websocket upgrade
        response = await mock.api.get(path)
        assert response.status_code == 400
    huge = await mock.api.post(f"/{cid}/control", content=HUGE, headers={"Content-Type": "application/json"})
    assert huge.status_code == 413


async def test_control_url_errors_have_vapis_error_shape(mock: Served) -> None:
    call = await mock.call(assistant={"name": "Live"}, transport={"provider": "vapi.websocket"})
    response = await mock.api.post(f"/{call['id']}/control", content=b"{not json",
                                   headers={"Content-Type": "application/json"})
    # The conftest hook asserts the shape {message, error, statusCode}.
    assert response.status_code == 400


async def test_a_control_url_reads_json_bodies_only(mock: Served) -> None:
    call = await mock.call(assistant={"name": "Live"}, transport={"provider": "vapi.websocket"})
    url = f"/{call['id']}/control"
    say = json.dumps({"type": "say", "content": "pwned"}).encode()
    # What a page in the developer's browser may send without a CORS preflight: text/plain, a form, no type.
    for headers in ({"Content-Type": "text/plain;charset=UTF-8"},
                    {"Content-Type": "application/x-www-form-urlencoded"}, {}):
        refused = await mock.api.post(url, content=say, headers=headers)
        assert refused.status_code == 400 and "Content-Type must be application/json" in refused.json()["message"]
    assert mock.vapi.deliveries(channel="control") == []
    taken = await mock.api.post(url, content=say, headers={"Content-Type": "application/json"})
    assert taken.status_code == 200 and len(mock.vapi.deliveries(channel="control")) == 1


async def test_virtual_clock_advance_returns_with_autojump_and_a_sleeper() -> None:
    clock = VirtualClock()
    sleeper = asyncio.ensure_future(clock.sleep(100))
    await asyncio.sleep(0)
    try:
        async with asyncio.timeout(0.3):
            await clock.advance(10)
    finally:
        sleeper.cancel()
    assert clock.now() == 10.0


async def test_a_served_folder_s_file_names_are_accepted_as_scenarios(tmp_path: Path) -> None:
    from mockvapi.errors import BadRequest

    (tmp_path / "greeting-file.yaml").write_text(POSTED, encoding="utf-8")
    async with MockVapi(serve=True, scenarios=str(tmp_path)) as vapi:
        server = vapi.server
        for name in ("posted-greeting", "greeting-file", "greeting-file.yaml", "barge-in", "barge-in.yaml"):
            server.check_assistant({"metadata": {"mockvapi": {"scenario": name}}})
        for name in ("../greeting-file", str(tmp_path / "greeting-file.yaml"), "nope", 42):
            with pytest.raises(BadRequest):
                server.check_assistant({"metadata": {"mockvapi": {"scenario": name}}})
