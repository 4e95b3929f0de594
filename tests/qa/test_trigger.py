"""`mockvapi trigger TYPE --to URL`: one realistic message, its reply, and Vapi's verdict on it."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from mockvapi.cli import main
from mockvapi.qa.trigger import trigger, trigger_types


def _message(out: str) -> dict[str, Any]:
    """The message block `trigger` prints (between its first line and the reply)."""
    body = out.split("\n", 1)[1].split("\nreply: ")[0].split("\ntarget unreachable")[0]
    sent: dict[str, Any] = json.loads(body)["message"]
    return sent


@pytest.mark.parametrize(
    "kind", ["tool-calls", "assistant-request", "transfer-destination-request", "status-update",
             "end-of-call-report", "conversation-update", "hang", "user-interrupted"],
)
def test_each_type_is_sent_once_and_a_right_reply_is_accepted(
    kind: str, webhook_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["trigger", kind, "--to", webhook_url])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"POST {webhook_url}  {kind}  (from a '")
    assert _message(out)["type"] == kind
    assert f"Vapi would accept this reply to {kind}." in lines


def test_a_wrong_tool_reply_is_refused_with_the_players_own_check() -> None:
    import asyncio

    seen: list[str] = []

    def wrong(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body["message"]["type"])
        return {"result": "09:00"}  # Vapi wants {"results": [{"toolCallId": ..., "result": ...}]}

    result = asyncio.run(trigger("tool-calls", wrong))
    assert seen == ["tool-calls"]  # one message, nothing before or after it
    seen.clear()
    assert asyncio.run(trigger("status-update", wrong)).accepted  # Vapi reads no body here
    assert seen == ["status-update"]
    assert not result.accepted and result.delivery is not None
    assert [(p.kind, p.detail) for p in result.problems] == [
        ("bad-tool-result", "tool 'check_availability' reply has no `results` list: {'result': '09:00'}")
    ]
    assert result.delivery.message_type == "tool-calls" and result.delivery.status == 200


def test_a_wrong_path_is_refused_and_exits_1(webhook_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = webhook_url + "/nowhere"
    code = main(["trigger", "end-of-call-report", "--to", url])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[-2:] == [
        "Vapi would NOT accept this reply to end-of-call-report:",
        f"  - delivery-failed: end-of-call-report -> {url}: HTTP 404",
    ]


def test_an_unreachable_server_is_said_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    code = main(["trigger", "status-update", "--to", url])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[-3:] == [
        "reply: none",
        "Vapi would NOT accept this reply to status-update:",
        f"  - target unreachable: {url} (connection refused)",
    ]
    assert "Traceback" not in out and "Errno" not in out


def test_set_changes_the_call_the_message_comes_from(webhook_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["trigger", "tool-calls", "--to", webhook_url, "--set", "call.customer.name=Zed Quist"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert _message(out)["call"]["customer"]["name"] == "Zed Quist"


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trigger", "tool-call", "--to", "http://127.0.0.1:9/"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "mockvapi trigger: no call sends 'tool-call' as a webhook; did you mean 'tool-calls'? (types: "
    )
    assert main(["trigger", "tool-calls", "--to", "ftp://x"]) == 2
    assert capsys.readouterr().err == "mockvapi trigger: --to ftp://x: expected an http:// or https:// URL\n"
    assert main(["trigger", "tool-calls", "--to", "http://127.0.0.1:9/", "--set", "nothing"]) == 2
    assert "expected key.path=value" in capsys.readouterr().err


def test_the_types_it_knows_include_every_message_vapi_waits_on() -> None:
    assert {"tool-calls", "assistant-request", "transfer-destination-request"} <= set(trigger_types())
