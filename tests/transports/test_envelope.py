"""transports.envelope: the pure parts of a webhook delivery."""

from __future__ import annotations

import json

from mockvapi.transports.envelope import delivery_headers, envelope_body, parse_json, reply_of


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
