"""Redaction: what leaves the process (control plane, logs) carries no secret, whatever it is called."""

from __future__ import annotations

import json

import pytest

from mockvapi.engine.journal import Delivery, Journal, Problem
from mockvapi.engine.redaction import REDACTED, is_secret_name, redact_headers, redact_json, redact_text, redact_url


@pytest.mark.parametrize(
    "name",
    ["secret", "X-Vapi-Secret", "secretKey", "clientSecret", "twilioAuthToken", "token", "accessToken",
     "Authorization", "x-signature", "X-Vapi-Signature", "x-api-key", "api_key", "password", "privateKey",
     "Cookie"],
)
def test_secret_names_are_recognised(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["maxTokens", "promptTokens", "name", "url", "credentialId", "timeoutSeconds"])
def test_ordinary_names_are_kept(name: str) -> None:
    assert not is_secret_name(name)


def test_url_credentials_are_replaced_anywhere_in_a_text() -> None:
    text = "POST http://user:p4ss@127.0.0.1:9/hook failed; see https://tok@example.test/x"
    assert redact_url(text) == (
        f"POST http://{REDACTED}@127.0.0.1:9/hook failed; see https://{REDACTED}@example.test/x"
    )
    assert redact_url("http://127.0.0.1:9/a@b") == "http://127.0.0.1:9/a@b"  # an @ in the path is no userinfo


def test_header_values_are_replaced_except_harmless_ones() -> None:
    headers = {"Content-Type": "application/json", "X-Custom-Auth": "s3cret", "Authorization": "Bearer t"}
    assert redact_headers(headers) == {"Content-Type": "application/json", "X-Custom-Auth": REDACTED,
                                       "Authorization": REDACTED}


def test_json_values_nested_anywhere_are_redacted_and_the_rest_kept() -> None:
    message = {"type": "status-update", "call": {"assistant": {
        "server": {"url": "http://u:pw@h/x", "secret": "s1", "headers": {"X-Anything": "s2"}},
        "credentials": [{"provider": "twilio", "authToken": "s3", "apiKey": "s4"}],
        "model": {"maxTokens": 250},
    }}}
    out = redact_json(message)
    text = json.dumps(out)
    for secret in ("pw", "s1", "s2", "s3", "s4"):
        assert f'"{secret}"' not in text and f":{secret}@" not in text
    assert out["call"]["assistant"]["model"] == {"maxTokens": 250}
    assert out["call"]["assistant"]["server"]["url"] == f"http://{REDACTED}@h/x"
    assert message["call"]["assistant"]["server"]["secret"] == "s1"  # the original is untouched


def test_bodies_are_redacted_as_json_when_they_are_json() -> None:
    assert json.loads(redact_text('{"secret": "s1", "n": 1}') or "") == {"secret": REDACTED, "n": 1}
    assert redact_text("not json http://a:b@h/") == f"not json http://{REDACTED}@h/"
    assert redact_text(None) is None


def test_a_redacted_delivery_keeps_its_shape_and_the_journal_keeps_the_real_headers() -> None:
    journal = Journal()
    delivery = journal.record(Delivery(
        call_id="c1", channel="webhook", target="http://u:p4ss@127.0.0.1:9/hook", message_type="status-update",
        message={"type": "status-update", "call": {"assistant": {"server": {"secret": "s1"}}}}, at=0.0,
        request_headers={"X-Vapi-Secret": "s1", "Content-Type": "application/json"},
        request_body='{"message": {"secret": "s1"}}', error="cannot reach http://u:p4ss@127.0.0.1:9/hook",
    ))
    assert "p4ss" not in delivery.target  # kept nowhere
    assert delivery.request_headers["X-Vapi-Secret"] == "s1"  # in process, the test may assert what was sent
    shown = delivery.to_dict(redact=True)
    assert set(shown) == set(delivery.to_dict())
    assert "s1" not in json.dumps(shown) and "p4ss" not in json.dumps(shown)
    problem = Problem("c1", "delivery-failed", "status-update -> http://u:p4ss@h/: refused", 0.0)
    assert "p4ss" not in json.dumps(problem.to_dict(redact=True)) and "p4ss" in problem.to_dict()["detail"]
