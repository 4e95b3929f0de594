"""Acceptance: Vapi's web SDK, unchanged from npm, runs against `mockvapi serve` in Debian's Chromium.

The page (tests/web/page/harness.js) is bundled twice, with the pinned SDK and with its previous minor
version, each time with @daily-co/daily-js aliased to the stand-in `mockvapi web-shim` writes. The page
is served from its own origin, so every call to the mock is cross-origin (CORS, preflight included).
The mock plays on a real clock sped up SPEED times; nothing here waits on a timer for something to
happen: the page reports when the SDK's call-end came.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mockvapi.testing import MockVapi

from .conftest import SDKS, PageServer, drive

PUBLIC_KEY = "pk-web-test"
SPEED = 10.0
SCENARIOS = ("barge-in", "double-barge-in", "slow-tool-hang", "customer-hangs-up")
TIME_KEYS = frozenset({"timestamp", "time", "endTime"})
# Random ids: uuids (turnId...) and OpenAI-style tool call ids.
RANDOM_ID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|call_[A-Za-z0-9]{24})$")

pytestmark = pytest.mark.parametrize("sdk", sorted(SDKS))


@pytest.fixture(scope="module")
def web_scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled scenarios as web calls (what `POST /call/web` makes of them)."""
    folder = tmp_path_factory.mktemp("web-scenarios")
    bundled = resources.files("mockvapi.scenarios")
    for name in (*SCENARIOS, "long-call"):
        data = yaml.safe_load(bundled.joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
        data["call"]["type"] = "webCall"
        data["call"].pop("phoneNumber", None)
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def played(path: Path) -> list[dict[str, Any]]:
    """The client messages `mockvapi play --side client` prints for a scenario file (its own seed)."""
    done = subprocess.run(
        [sys.executable, "-m", "mockvapi", "play", str(path), "--side", "client", "--jsonl"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line)["message"] for line in done.stdout.splitlines()]


def shifted(value: Any, delta: int) -> Any:
    """``value`` with its epoch-millisecond times moved by ``delta`` (the served call started later)."""
    if isinstance(value, dict):
        return {
            k: v + delta if k in TIME_KEYS and isinstance(v, int) else shifted(v, delta) for k, v in value.items()
        }
    if isinstance(value, list):
        return [shifted(v, delta) for v in value]
    return value


def renamed(value: Any, names: dict[str, str]) -> Any:
    """``value`` with each random id (turnId, tool call id...) replaced by the order it first appeared in.

    A served call's ids come from the same seeded generator as `play`'s, but `play` also draws the
    call's own id from it (a served call has the id POST /call/web made), so the draws are offset.
    Which messages share an id, and which turn a user-interrupted names, is what the page relies on."""
    if isinstance(value, dict):
        return {k: renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(v, names) for v in value]
    if isinstance(value, str) and RANDOM_ID.match(value):
        return names.setdefault(value, f"id#{len(names)}")
    return value


def events(log: list[dict[str, Any]], name: str) -> list[int]:
    return [i for i, e in enumerate(log) if e["ev"] == name]


def page_url(page_server: PageServer, sdk: str) -> str:
    return f"{page_server.url}/{sdk}.html"


def assistant_of(folder: Path, name: str) -> dict[str, Any]:
    """What the page passes to vapi.start(): the scenario's own assistant name, so the call's assistant
    is the scenario's and the messages can equal what `play` prints."""
    data = yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))
    return {"name": data["assistant"]["name"]}


async def journal(vapi: MockVapi, call_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=str(vapi.server.url)) as http:  # type: ignore[union-attr]
        answer = await http.get("/_mockvapi/journal", params={"callId": call_id})
        deliveries: list[dict[str, Any]] = answer.json()["deliveries"]
        return deliveries


async def record(vapi: MockVapi, call_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=str(vapi.server.url)) as http:  # type: ignore[union-attr]
        answer = await http.get(f"/call/{call_id}", headers={"Authorization": f"Bearer {PUBLIC_KEY}"})
        body: dict[str, Any] = answer.json()
        return body


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_the_sdk_gets_every_client_message_in_order(
    sdk: str, scenario: str, web_scenarios: Path, page_server: PageServer
) -> None:
    expected = played(web_scenarios / f"{scenario}.yaml")
    async with MockVapi(
        serve=True, clock="real", speed=SPEED, token=PUBLIC_KEY, scenarios=web_scenarios, default_scenario=scenario
    ) as vapi:
        out = await drive(
            page_url(page_server, sdk),
            [{"fn": "runCall", "arg": {"key": PUBLIC_KEY, "apiUrl": vapi.server.url,  # type: ignore[union-attr]
                                       "assistant": assistant_of(web_scenarios, scenario)}}],
        )
        result = out["results"][0]
        log = result["log"]
        call_id = next(e for e in log if e["ev"] == "start-returned")["result"]["id"]
        rest = await record(vapi, call_id)
    assert out["pageErrors"] == []
    assert [e for e in log if e["ev"] == "error"] == []

    # call-start comes from "listening", after join resolved, before any message.
    listening = [i for i in events(log, "daily:app-message") if log[i]["data"] == "listening"]
    (start,) = events(log, "call-start")
    assert len(listening) == 1 and events(log, "join-completed")[0] < listening[0] < start
    messages = [log[i]["m"] for i in events(log, "message")]
    assert events(log, "message")[0] > start

    # Byte for byte (after parsing) what `mockvapi play` prints, but for the call itself (the served call
    # has the id and record POST /call/web made) and its start time.
    assert [m["call"]["id"] for m in messages] == [call_id] * len(messages)
    assert {m["call"]["type"] for m in messages} == {"webCall"}
    delta = messages[0]["timestamp"] - expected[0]["timestamp"]
    got = renamed([{k: v for k, v in m.items() if k != "call"} for m in messages], {})
    want = renamed([shifted({k: v for k, v in m.items() if k != "call"}, delta) for m in expected], {})
    assert [m["type"] for m in got] == [m["type"] for m in want]
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"message {i} ({g['type']}) differs"
    types = {m["type"] for m in messages}
    assert {"model-output", "conversation-update"} <= types
    if "barge" in scenario:
        cut = [m["turnId"] for m in messages if m["type"] == "user-interrupted"]
        assert cut and set(cut) <= {m["turnId"] for m in messages if m["type"] == "model-output"}
    if scenario == "slow-tool-hang":
        assert "hang" in types

    # Audio: levels rise and fall with the assistant's speech.
    assert events(log, "speech-start") and events(log, "speech-end")
    levels = [e["v"] for e in log if e["ev"] == "volume-level"]
    assert max(levels) > 0.1 and min(levels) == 0
    # The microphone's level (Chromium's fake device beeps), for a page that listens for it.
    assert max(e["v"] for e in log if e["ev"] == "local-volume-level") > 0

    # call-end once, after the ended status-update; the record agrees.
    (end,) = events(log, "call-end")
    assert result["callEnds"] == 1
    ended = [i for i in events(log, "message") if log[i]["m"]["type"] == "status-update"
             and log[i]["m"]["status"] == "ended"]
    assert len(ended) == 1 and ended[0] < end
    assert rest["type"] == "webCall" and rest["status"] == "ended"
    assert rest["endedReason"] == log[ended[0]]["m"]["endedReason"]


async def test_a_squad_started_from_the_page_hands_off_to_its_second_member(
    sdk: str, page_server: PageServer, tmp_path: Path
) -> None:
    """`vapi.start(undefined, undefined, squad)`: POST /call/web with `squad`; the scenario's squad members take
    the page's members of the same name, and the page hears the handoff (assistant.started per member)."""
    data = yaml.safe_load(resources.files("mockvapi.scenarios").joinpath("squad-receptionist-billing.yaml")
                          .read_text(encoding="utf-8"))
    data["call"]["type"] = "webCall"
    data["call"].pop("phoneNumber", None)
    (tmp_path / "squad-web.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    greeting = "Billing here, from the squad the page started."
    squad = {"members": [
        {"assistant": {"name": "Reception"},
         "assistantDestinations": [{"type": "assistant", "assistantName": "Billing"}]},
        {"assistant": {"name": "Billing", "firstMessage": greeting}},
    ]}
    async with MockVapi(
        serve=True, clock="real", speed=SPEED, token=PUBLIC_KEY, scenarios=tmp_path, default_scenario="squad-web"
    ) as vapi:
        out = await drive(page_url(page_server, sdk), [{"fn": "runCall", "arg": {
            "key": PUBLIC_KEY, "apiUrl": vapi.server.url, "squad": squad}}])  # type: ignore[union-attr]
        log = out["results"][0]["log"]
        call_id = next(e for e in log if e["ev"] == "start-returned")["result"]["id"]
        rest = await record(vapi, call_id)
    assert out["pageErrors"] == [] and [e for e in log if e["ev"] == "error"] == []
    messages = [log[i]["m"] for i in events(log, "message")]
    assert [m["newAssistant"]["name"] for m in messages if m["type"] == "assistant.started"] == ["Reception", "Billing"]
    assert messages[-1]["assistant"]["name"] == "Billing"
    finals = [m["transcript"] for m in messages if m["type"] == "transcript" and m["role"] == "assistant"
              and m["transcriptType"] == "final"]
    assert " ".join(finals).count(greeting) == 1  # the page's member over the scenario's
    assert rest["squad"] == squad and rest["status"] == "ended" and rest["endedReason"] == "customer-ended-call"
    assert events(log, "call-end")


async def test_what_the_page_sends_reaches_the_call(sdk: str, web_scenarios: Path, page_server: PageServer) -> None:
    actions = [
        {"when": "call-start", "do": "send", "message": {
            "type": "add-message", "message": {"role": "system", "content": "The caller is a premium member."},
            "triggerResponseEnabled": False}},
        {"when": "call-start", "do": "say", "text": "One moment while I check."},
        {"when": "call-start", "do": "mute"},
        # end-call acts on arrival, mid-sentence (as on Vapi): the page leaves once its line was spoken.
        {"when": "said", "text": "One moment while I check.", "do": "end"},
    ]
    async with MockVapi(
        serve=True, clock="real", speed=SPEED, token=PUBLIC_KEY, scenarios=web_scenarios, default_scenario="long-call"
    ) as vapi:
        out = await drive(
            page_url(page_server, sdk),
            [{"fn": "runCall", "arg": {"key": PUBLIC_KEY, "apiUrl": vapi.server.url,  # type: ignore[union-attr]
                                       "assistant": assistant_of(web_scenarios, "long-call"), "actions": actions}}],
        )
        log = out["results"][0]["log"]
        call_id = next(e for e in log if e["ev"] == "start-returned")["result"]["id"]
        call = vapi.find_call(call_id)
        assert call is not None
        await call.wait()
        rows = await journal(vapi, call_id)
        rest = await record(vapi, call_id)
    assert out["pageErrors"] == []
    assert {"ev": "muted", "value": True} in log
    inbound = [(r["message_type"], r["message"]) for r in rows if r["channel"] == "control"]
    kinds = [kind for kind, _ in inbound]
    assert kinds[:4] == ["add-message", "say", "mockvapi.local-audio", "end-call"], kinds
    assert inbound[2][1] == {"type": "mockvapi.local-audio", "enabled": False}
    assert inbound[0][1]["triggerResponseEnabled"] is False
    # The outcome: the page ended the call, and what it added and said is in the call's record.
    assert rest["endedReason"] == "customer-ended-call"
    said = [m for m in rest["messages"] if m.get("message") == "One moment while I check."]
    added = [m for m in rest["messages"] if m.get("message") == "The caller is a premium member."]
    assert said and said[0]["role"] == "bot" and added and added[0]["role"] == "system"
    assert len(events(log, "call-end")) == 1


async def test_refused_start_and_a_vanishing_mock(sdk: str, web_scenarios: Path, page_server: PageServer) -> None:
    async with MockVapi(
        serve=True, clock="real", speed=SPEED, token=PUBLIC_KEY, scenarios=web_scenarios, default_scenario="long-call"
    ) as vapi:
        server = vapi.server
        assert server is not None

        async def vanish() -> None:
            await server.aclose()

        page_server.hooks["vanish"] = vanish
        assistant = assistant_of(web_scenarios, "long-call")
        out = await drive(
            page_url(page_server, sdk),
            [
                {"fn": "runCall", "arg": {"key": "pk-wrong", "apiUrl": server.url, "assistant": assistant}},
                {"fn": "runCall", "arg": {"key": PUBLIC_KEY, "apiUrl": server.url, "assistant": assistant,
                                          "actions": [{"when": "model-output", "do": "fetch",
                                                       "url": f"{page_server.url}/hook/vanish"}]}},
                {"fn": "pageAlive", "arg": None},
            ],
        )
    refused, vanished, alive = out["results"]
    assert out["pageErrors"] == []
    # 401: the SDK reports an error and start() resolves null; it had no call object, so no call-end.
    assert [e["type"] for e in refused["log"] if e["ev"] == "error"] == ["start-method-error"]
    assert next(e for e in refused["log"] if e["ev"] == "start-returned")["result"] is None
    assert events(refused["log"], "call-end") == []
    # The mock goes away mid-call: Daily's error, then left-meeting, so the SDK's error and one call-end.
    log = vanished["log"]
    assert page_server.hits == ["vanish"]
    daily_errors = [e for e in log if e["ev"] == "daily:error"]
    assert [e["type"] for e in daily_errors] == ["connection-error"]
    assert [e["type"] for e in log if e["ev"] == "error"] == ["daily-error"]
    assert events(log, "daily:error")[0] < events(log, "daily:left-meeting")[0] < events(log, "call-end")[0]
    assert len(events(log, "call-end")) == 1
    assert alive == "alive"


async def test_joining_an_unknown_or_unreachable_call(sdk: str, page_server: PageServer) -> None:
    async with MockVapi(serve=True, clock="real", token=PUBLIC_KEY) as vapi:
        url = str(vapi.server.url)  # type: ignore[union-attr]
        out = await drive(
            page_url(page_server, sdk),
            [
                {"fn": "joinDirect", "arg": f"{url}/00000000-0000-4000-8000-000000000000/web"},
                {"fn": "joinDirect", "arg": "http://127.0.0.1:9/00000000-0000-4000-8000-000000000000/web"},
            ],
        )
    unknown, refused = (r["log"] for r in out["results"])
    assert [(e["ev"], e.get("type")) for e in unknown][-3:] == [
        ("error", "no-room"), ("left-meeting", None), ("join-rejected", None)]
    assert [(e["ev"], e.get("type")) for e in refused][-3:] == [
        ("error", "connection-error"), ("left-meeting", None), ("join-rejected", None)]
    assert out["pageErrors"] == []
