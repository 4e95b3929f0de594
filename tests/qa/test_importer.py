from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mockvapi.cli import main
from mockvapi.engine.simulator import simulate
from mockvapi.engine.timeline import Timeline, render_message
from mockvapi.library import bundled_names, resolve
from mockvapi.qa.importer import CallImportError, import_call
from mockvapi.scenario.loader import load_text
from mockvapi.testing import MockVapi

from .webhook_app import handle


def end_of_call_report(timeline: Timeline) -> dict[str, Any]:
    """The end-of-call-report of a played call, as the webhook got it."""
    event = next(e for e in timeline.events if e.type == "end-of-call-report")
    ctx = timeline.context
    return render_message(event, ctx, timeline.history, timeline.history_openai, "realistic", "server")


def call_record(timeline: Timeline) -> dict[str, Any]:
    """What GET /call/{id} serves for the call once it ended (PROTOCOL.md section 4)."""
    report = end_of_call_report(timeline)
    ctx = timeline.context
    record = dict(ctx.call)
    record.update(
        status="ended",
        endedReason=timeline.ended_reason,
        startedAt=report["startedAt"],
        endedAt=report["endedAt"],
        cost=report["cost"],
        messages=timeline.history,
        artifact=report["artifact"],
        analysis=report["analysis"],
        assistant=ctx.assistant,
    )
    if ctx.customer is not None:
        record["customer"] = ctx.customer
    if ctx.phone_number is not None:
        record["phoneNumber"] = ctx.phone_number
    return record


def conversation(history: list[dict[str, Any]], substitute: Any = str) -> list[tuple[str, str]]:
    return [(item["role"], substitute(item.get("message") or item.get("result") or "")) for item in history]


@pytest.mark.parametrize("name", bundled_names())
@pytest.mark.parametrize("form", ["call", "report", "delivered"])
def test_round_trip_replays_the_same_conversation(name: str, form: str) -> None:
    original = simulate(resolve(name))
    data: dict[str, Any] = {
        "call": call_record(original),
        "report": end_of_call_report(original),
        "delivered": {"message": end_of_call_report(original)},
    }[form]
    imported = import_call(json.loads(json.dumps(data)), seed=5)
    replay = simulate(load_text(imported.yaml, "imported.yaml"))
    if original.history_base:
        # A squad member's contextEngineeringPlan trimmed the history, handoff and all: the record holds the
        # call from there, replayed as one assistant's call.
        assert "replayed as one assistant's call" in imported.yaml
        said = [i for i in replay.history if i["role"] in ("bot", "user")]
        held = [i for i in original.final_history if i["role"] in ("bot", "user")]
        assert conversation(said) == conversation(held, imported.substitute)
    else:
        assert conversation(replay.history) == conversation(original.history, imported.substitute)
        # A squad's call comes back as a squad, its members active in the same order.
        assert activations(replay) == [imported.substitute(n) for n in activations(original)]
    assert replay.ended_reason == original.ended_reason


def activations(timeline: Any) -> list[str]:
    return [a["assistantName"] for a in end_of_call_report(timeline)["artifact"].get("assistantActivations", [])]


@pytest.mark.parametrize(("name", "wanted"), [
    ("squad-dynamic-handoff", ['      reply: {"destination": {"type": "assistant", "assistantName": "Nurse"}']),
    ("squad-member-tools", ['      to: "Reservations"\n      via: transferCall',
                            '        tools:\n          - name: check_rooms',
                            '          message: "I\'ll put you through to reservations."']),
    ("squad-invalid-handoff-reply", ["  # A handoff the server refused", '"assistantName": "(no member)"']),
])
def test_a_squads_call_imports_as_a_squad_with_its_handoffs(name: str, wanted: list[str]) -> None:
    imported = import_call(end_of_call_report(simulate(resolve(name))), seed=5)
    assert "\nsquad:\n  members:\n    - assistant:\n" in imported.yaml and "\nassistant:" not in imported.yaml
    for text in wanted:
        assert text in imported.yaml


def test_personal_data_is_replaced_by_seeded_fakes() -> None:
    original = simulate(resolve("barge-in"))
    record = call_record(original)
    customer = original.context.customer
    assert customer is not None
    imported = import_call(record, seed=1)
    text = imported.yaml
    assert customer["name"] not in text and customer["number"] not in text
    assert original.context.call["id"] not in text
    assert imported.replacements[customer["name"]] in text  # "It's under <fake name>."
    assert import_call(record, seed=1).yaml == text  # same seed, same fakes
    assert import_call(record, seed=2).yaml != text
    assert "  - end: customer-ended-call" in text
    assert '        after: 14 tokens\n        by: "Tuesday at two thirty works."' in text


def test_numbers_emails_and_ids_inside_texts_and_tool_data() -> None:
    record = {
        "id": "0b7c2f0e-1111-4222-8333-444455556666",
        "type": "inboundPhoneCall",
        "customer": {"number": "+14155550100", "name": "Mrs. Ada Lovelace", "email": "ada@math.org"},
        "endedReason": "assistant-forwarded-call",
        "destination": {"type": "number", "number": "+14155550199"},
        "messages": [
            {"role": "system", "message": "You help callers.", "time": 1000, "secondsFromStart": 0},
            {"role": "bot", "message": "Hi, Ada!", "time": 1500, "endTime": 2500, "secondsFromStart": 0.5},
            {"role": "user", "message": "Mail ada@math.org or call (415) 555-0100.", "time": 3000, "endTime": 5000,
             "secondsFromStart": 2},
            {"role": "tool_calls", "message": "", "time": 5600, "secondsFromStart": 4.6, "toolCalls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "crm.lookup", "arguments": "{\"email\":\"ada@math.org\"}"}}]},
            {"role": "tool_call_result", "toolCallId": "call_1", "name": "crm.lookup", "time": 6400,
             "secondsFromStart": 5.4,
             "result": "{\"customer\":\"Ada Lovelace\",\"id\":\"0b7c2f0e-1111-4222-8333-444455556666\"}"},
            {"role": "bot", "message": "Thanks Ada, transferring you now.", "time": 7000, "endTime": 9000,
             "secondsFromStart": 6},
        ],
    }  # fmt: skip
    imported = import_call(record, seed=4)
    text = imported.yaml
    for secret in ("Ada", "Lovelace", "ada@math.org", "555-0100", "+14155550100", "0b7c2f0e"):
        assert secret not in text, secret
    assert "Mrs." not in imported.replacements  # titles are not names
    assert "name: crm_lookup" in text and "latency: 0.78s" in text
    assert "  - transfer:" in text and '      message: "Thanks ' in text
    replay = simulate(load_text(text))
    assert conversation(replay.history) == conversation(
        [i for i in record["messages"] if isinstance(i, dict)], imported.substitute
    )
    assert replay.ended_reason == "assistant-forwarded-call"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected one call, got a list of 0"),
        ("text", "expected a JSON object"),
        ({"type": "status-update"}, "no conversation found"),
        ({"messages": []}, "no conversation to replay"),
    ],
)
def test_unreadable_inputs_are_errors(data: Any, message: str) -> None:
    with pytest.raises(CallImportError, match=message):
        import_call(data)


def test_cli_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "call.json"
    source.write_text(json.dumps(call_record(simulate(resolve("tool-call")))))
    out = tmp_path / "imported.yaml"
    assert main(["import", str(source), "-o", str(out), "--seed", "3", "--name", "from-prod"]) == 0
    assert "wrote" in capsys.readouterr().err
    assert main(["validate", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}: ok\n"
    assert 'name: "from-prod"' in out.read_text()
    assert main(["import", str(source)]) == 0
    assert capsys.readouterr().out.startswith("# Imported by `mockvapi import`")
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["import", str(tmp_path / "bad.json")]) == 1
    assert "is not JSON" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.json")]) == 1
    assert "cannot read" in capsys.readouterr().err


async def test_round_trip_of_a_call_record_served_by_the_mock_server() -> None:
    """Acceptance: GET /call/{id} from the mock server -> import -> replay: the same conversation."""
    async with MockVapi(serve=True, webhook=handle, token="qa-token") as vapi:
        url = vapi.server.url
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer qa-token"}) as http:
            body = {"name": "Sam", "metadata": {"mockvapi": {"scenario": "double-barge-in"}}}
            async with http.post(f"{url}/assistant", json=body) as response:
                assert response.status == 201
                assistant = await response.json()
            async with http.post(f"{url}/call/web", json={"assistantId": assistant["id"]}) as response:
                assert response.status == 201
                call_id = (await response.json())["id"]
            call = vapi.find_call(call_id)
            assert call is not None
            await call.wait()
            async with http.get(f"{url}/call/{call_id}") as response:
                record = await response.json()
    assert record["status"] == "ended" and record["messages"]
    imported = import_call(record, seed=11)
    assert imported.yaml.count("interrupted:") == 2
    replay = simulate(load_text(imported.yaml, "imported.yaml"))
    assert conversation(replay.history) == conversation(record["artifact"]["messages"], imported.substitute)
    assert conversation(replay.history) == conversation(call.history, imported.substitute)
    assert replay.ended_reason == record["endedReason"] == call.ended_reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply to be a Vapi call record"),
        ('{"a":' * 500 + "1" + "}" * 500, "nested more than 64 levels deep"),
        ('{"call": {"cost": NaN}}', "NaN is not a JSON value"),
        ('{"call": {"cost": Infinity}}', "Infinity is not a JSON value"),
    ],
)
def test_cli_import_of_deep_or_non_finite_json_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    source = tmp_path / "hostile.json"
    source.write_text(text)
    assert main(["import", str(source)]) == 1
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err + captured.out
