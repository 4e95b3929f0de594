from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from mockvapi.transports.auth import (
    USER_AGENT,
    authentication_plan,
    hmac_signature,
    verify_hmac,
    verify_vapi_signature,
    webhook_headers,
)

BODY = b'{"message":{"type":"end-of-call-report","endedReason":"customer-ended-call"}}'
TS = 1_767_258_000_123
URL = "https://example.test/vapi"


def hmac_credential(**plan: Any) -> dict[str, Any]:
    return {
        "provider": "webhook",
        "authenticationPlan": {"type": "hmac", "secretKey": "k3y", "algorithm": "sha256", **plan},
    }


def bearer_credential(**plan: Any) -> dict[str, Any]:
    return {"provider": "webhook", "authenticationPlan": {"type": "bearer", "token": "t0k", **plan}}


def test_base_headers() -> None:
    headers = webhook_headers({"url": URL}, BODY, timestamp_ms=TS)
    assert headers == {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    assert USER_AGENT.startswith("Vapi/")


def test_legacy_secret_and_static_headers() -> None:
    server = {"url": URL, "secret": "shh", "headers": {"X-Tenant": "acme", "X-Retry": 3}}
    headers = webhook_headers(server, BODY, timestamp_ms=TS)
    assert headers["X-Vapi-Secret"] == "shh"
    assert headers["X-Tenant"] == "acme"
    assert headers["X-Retry"] == "3"  # values are sent as strings


def test_bearer_defaults() -> None:
    headers = webhook_headers({"url": URL}, BODY, timestamp_ms=TS, credential=bearer_credential())
    assert headers["Authorization"] == "Bearer t0k"


def test_bearer_custom_header_without_prefix_replaces_legacy_secret_style() -> None:
    credential = bearer_credential(headerName="X-Vapi-Secret", bearerPrefixEnabled=False)
    headers = webhook_headers({"url": URL}, BODY, timestamp_ms=TS, credential=credential)
    assert headers["X-Vapi-Secret"] == "t0k"
    assert "Authorization" not in headers


def test_static_authorization_header_overrides_credential() -> None:
    server = {"url": URL, "headers": {"authorization": "Basic abc"}}
    headers = webhook_headers(server, BODY, timestamp_ms=TS, credential=bearer_credential())
    assert [k for k in headers if k.lower() == "authorization"] == ["authorization"]
    assert headers["authorization"] == "Basic abc"


def test_bare_plan_is_accepted_as_credential() -> None:
    plan = {"type": "bearer", "token": "t0k"}
    assert authentication_plan(plan) is plan
    assert webhook_headers({}, BODY, timestamp_ms=TS, credential=plan)["Authorization"] == "Bearer t0k"


def test_hmac_defaults_match_independent_computation() -> None:
    headers = webhook_headers({"url": URL}, BODY, timestamp_ms=TS, credential=hmac_credential())
    assert headers["x-timestamp"] == str(TS)
    expected = hmac.new(b"k3y", f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers["x-signature"] == expected
    assert verify_hmac(hmac_credential(), BODY, headers)


def test_hmac_timestamp_in_seconds_on_request() -> None:
    headers = webhook_headers({}, BODY, timestamp_ms=TS, credential=hmac_credential(), timestamp_unit="s")
    assert headers["x-timestamp"] == str(TS // 1000)
    assert verify_hmac(hmac_credential(), BODY, headers)


@pytest.mark.parametrize("algorithm", ["sha256", "sha512", "sha1"])
def test_hmac_algorithms_base64_and_prefix(algorithm: str) -> None:
    credential = hmac_credential(
        algorithm=algorithm,
        signatureEncoding="base64",
        signaturePrefix=f"{algorithm}=",
        signatureHeader="X-Hub-Signature",
        timestampHeader="X-Hub-Timestamp",
    )
    headers = webhook_headers({}, BODY, timestamp_ms=TS, credential=credential)
    digest = hmac.new(b"k3y", f"{TS}.".encode() + BODY, getattr(hashlib, algorithm)).digest()
    assert headers["X-Hub-Signature"] == f"{algorithm}=" + base64.b64encode(digest).decode()
    assert headers["X-Hub-Timestamp"] == str(TS)
    assert "x-signature" not in headers
    assert verify_hmac(credential, BODY, headers)


def test_hmac_without_timestamp_signs_body_only() -> None:
    credential = hmac_credential(includeTimestamp=False, signatureHeader="x-vapi-signature")
    headers = webhook_headers({}, BODY, timestamp_ms=TS, credential=credential)
    assert "x-timestamp" not in headers
    assert headers["x-vapi-signature"] == hmac.new(b"k3y", BODY, hashlib.sha256).hexdigest()
    assert verify_hmac(credential, BODY, headers)


def test_hmac_base64_secret() -> None:
    raw_key = b"\x00\x01binary-key\xff"
    credential = hmac_credential(secretKey=base64.b64encode(raw_key).decode(), secretIsBase64=True)
    headers = webhook_headers({}, BODY, timestamp_ms=TS, credential=credential)
    assert headers["x-signature"] == hmac.new(raw_key, f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(ValueError, match="base64"):
        webhook_headers(
            {}, BODY, timestamp_ms=TS, credential=hmac_credential(secretKey="!!", secretIsBase64=True)
        )


def test_hmac_custom_payload_format_with_svix_id_method_and_url() -> None:
    credential = hmac_credential(
        payloadFormat="{svix-id}.{timestamp}.{method}.{url}.{body}", messageIdHeader="svix-id"
    )
    headers = webhook_headers({"url": URL}, BODY, timestamp_ms=TS, credential=credential)
    msg_id = headers["svix-id"]
    assert msg_id.startswith("msg_")
    payload = f"{msg_id}.{TS}.POST.{URL}.".encode() + BODY
    assert headers["x-signature"] == hmac.new(b"k3y", payload, hashlib.sha256).hexdigest()
    assert verify_hmac(credential, BODY, headers, url=URL)
    assert not verify_hmac(credential, BODY, headers, url="https://elsewhere.test/")
    # Deterministic: the same message signs the same way on a replay.
    assert webhook_headers({"url": URL}, BODY, timestamp_ms=TS, credential=credential) == headers
    given = webhook_headers({"url": URL}, BODY, timestamp_ms=TS, credential=credential, message_id="msg_1")
    assert given["svix-id"] == "msg_1"


def test_hmac_body_containing_placeholders_is_not_substituted() -> None:
    body = b'{"text":"{timestamp} and {body}"}'
    headers = webhook_headers({}, body, timestamp_ms=TS, credential=hmac_credential())
    assert headers["x-signature"] == hmac.new(b"k3y", f"{TS}.".encode() + body, hashlib.sha256).hexdigest()


def test_verify_hmac_rejects_tampering_and_missing_headers() -> None:
    headers = webhook_headers({}, BODY, timestamp_ms=TS, credential=hmac_credential())
    assert not verify_hmac(hmac_credential(), BODY + b" ", headers)
    assert not verify_hmac(hmac_credential(secretKey="other"), BODY, headers)
    assert not verify_hmac(hmac_credential(), BODY, {**headers, "x-timestamp": str(TS + 1)})
    assert not verify_hmac(hmac_credential(), BODY, {"x-timestamp": str(TS)})
    assert not verify_hmac(hmac_credential(), BODY, {"x-signature": headers["x-signature"]})
    # Header names are matched case-insensitively, as a server hands them over.
    assert verify_hmac(hmac_credential(), BODY.decode(), {k.upper(): v for k, v in headers.items()})
    with pytest.raises(ValueError, match="HMAC credential"):
        verify_hmac(bearer_credential(), BODY, headers)


def test_hmac_signature_helper() -> None:
    plan = hmac_credential()["authenticationPlan"]
    assert hmac_signature(plan, BODY, timestamp=str(TS)) == (
        hmac.new(b"k3y", f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    )


def test_x_vapi_signature_is_opt_in() -> None:
    server = {"url": URL, "secret": "shh"}
    assert "X-Vapi-Signature" not in webhook_headers(server, BODY, timestamp_ms=TS)
    headers = webhook_headers(server, BODY, timestamp_ms=TS, x_vapi_signature=True)
    assert headers["X-Vapi-Signature"] == "sha256=" + hmac.new(b"shh", BODY, hashlib.sha256).hexdigest()
    assert verify_vapi_signature("shh", BODY, headers["X-Vapi-Signature"])
    assert not verify_vapi_signature("shh", BODY + b"x", headers["X-Vapi-Signature"])
    assert not verify_vapi_signature("shh", BODY, None)


def test_oauth2_uses_session_token_or_a_predictable_fake() -> None:
    plan = {"type": "oauth2", "url": "https://auth.test/token", "clientId": "cid", "clientSecret": "cs"}
    with_session = {
        "provider": "webhook",
        "authenticationPlan": plan,
        "authenticationSession": {"accessToken": "at-123"},
    }
    headers = webhook_headers({}, BODY, timestamp_ms=TS, credential=with_session)
    assert headers["Authorization"] == "Bearer at-123"
    fallback = webhook_headers({}, BODY, timestamp_ms=TS, credential={"authenticationPlan": plan})
    assert fallback["Authorization"] == "Bearer mockvapi-oauth2-cid"


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        ({"provider": "webhook"}, "no authenticationPlan"),
        ({"authenticationPlan": {"type": "aws-sts"}}, "unsupported authenticationPlan type 'aws-sts'"),
        ({"authenticationPlan": {"type": "bearer"}}, "needs a token"),
        ({"authenticationPlan": {"type": "hmac", "algorithm": "sha256"}}, "needs a secretKey"),
        ({"authenticationPlan": {"type": "hmac", "secretKey": "k", "algorithm": "md5"}}, "algorithm"),
        (hmac_credential(signatureEncoding="base32"), "signatureEncoding"),
    ],
)
def test_bad_credentials_are_explained(credential: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        webhook_headers({}, BODY, timestamp_ms=TS, credential=credential)
