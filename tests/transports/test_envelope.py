"""transports.envelope: the pure parts of a webhook delivery."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockvapi.transports.envelope import delivery_headers, envelope_body, loads_json, parse_json, reply_of


def test_the_body_is_the_compact_envelope_and_headers_carry_the_secret() -> None:
    wire = {"type": "hang", "timestamp": 1767603600000, "text": "é"}
    body = envelope_body(wire)
    assert body == '{"message":{"type":"hang","timestamp":1767603600000,"text":"é"}}'.encode()
    assert json.loads(body) == {"message": wire}
    headers = delivery_headers({"url": "http://x/", "secret": "s"}, body, wire)
    assert headers["X-Vapi-Secret"] == "s"
    assert headers["Content-Type"] == "application/json"


def test_answers_become_replies() -> None:
    assert parse_json(b"") is None and parse_json(b"{bad") is None and parse_json(b"[1]") == [1]
    ok = reply_of(200, {"results": []}, 0.5)
    assert ok.ok and ok.latency == 0.5
    assert reply_of(None, None, 1.0, failure="timeout", error="timeout: slow").error == "timeout"
    assert reply_of(None, None, 1.0, failure="connection", error="connection: refused").error == "connection: refused"
    assert not reply_of(500, None, 0.1).ok


@pytest.mark.parametrize("body", [b"NaN", b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e999}', b"[" * 100_000])
def test_replies_that_are_not_strict_json_parse_as_nothing(body: bytes) -> None:
    """Python's json reads these, but no other JSON parser does, and mockvapi would echo them back as
    `Infinity` (not JSON) in tool results and the journal."""
    assert parse_json(body) is None


def test_loads_json_refuses_non_finite_numbers_and_keeps_the_rest() -> None:
    assert loads_json('{"a": 1.5e300, "b": -2, "c": [0.1]}') == {"a": 1.5e300, "b": -2, "c": [0.1]}
    for text in ("NaN", '{"a": 1e999}', "[-Infinity]"):
        with pytest.raises(ValueError):
            loads_json(text)


@pytest.mark.parametrize(
    "text",
    ['{"a": [1, 2e3, "x"]}', b'{"a": 1}', b"\xef\xbb\xbf{}", "\ufeff{}", b"\xff\xfe{\x00}\x00", '{"a":', 3],
)
def test_loads_json_answers_as_json_loads_does_for_strict_json(text: object) -> None:
    # One shared decoder instead of json.loads(..., parse_float=...), which builds one per call.
    def outcome(parse: Any) -> tuple[str, object]:
        try:
            return "value", parse(text)
        except Exception as exc:  # noqa: BLE001 - the very error is what is compared
            return type(exc).__name__, str(exc)

    assert outcome(loads_json) == outcome(json.loads)
