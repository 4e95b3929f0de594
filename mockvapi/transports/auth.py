"""The headers Vapi puts on a webhook POST, and helpers to check them.

From a ``server`` config (spec schema ``Server``, camelCase) and, when ``server.credentialId`` points
at one, a webhook credential (``CreateWebhookCredentialDTO``: its ``authenticationPlan`` is one of):

* legacy ``server.secret`` -> ``X-Vapi-Secret: <secret>`` [AUTH];
* ``BearerAuthenticationPlan`` -> ``<headerName, default Authorization>: [Bearer ]<token>``
  (``bearerPrefixEnabled`` defaults to true);
* ``HMACAuthenticationPlan`` -> ``<signatureHeader, default x-signature>: <signaturePrefix><sig>`` and,
  when ``includeTimestamp`` (default true), ``<timestampHeader, default x-timestamp>: <timestamp>``.
  The signed payload is ``payloadFormat`` (default ``{timestamp}.{body}``; placeholders ``{body}``,
  ``{timestamp}``, ``{method}``, ``{url}``, ``{svix-id}``), or just the body when ``includeTimestamp``
  is false and no format is given. ``signatureEncoding`` hex (default) or base64; ``secretIsBase64``
  decodes the key first; ``messageIdHeader`` carries the ``{svix-id}``.
* ``OAuth2AuthenticationPlan`` -> ``Authorization: Bearer <token>``. mockvapi never calls the token
  URL: the token is the credential's ``authenticationSession.accessToken``, else
  ``mockvapi-oauth2-<clientId>``.

``server.headers`` come last and win over anything above (the spec: they override the credential's
``Authorization``). The spec does not say whether the HMAC timestamp is in seconds or milliseconds;
mockvapi sends milliseconds (like every ``timestamp`` in Vapi messages) unless told otherwise.

The docs' sample code verifies ``X-Vapi-Signature: sha256=<hex HMAC of the body keyed by the
secret>``; real Vapi does not send it, so it is opt-in (``x_vapi_signature=True``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "USER_AGENT",
    "authentication_plan",
    "hmac_signature",
    "vapi_signature",
    "verify_hmac",
    "verify_vapi_signature",
    "webhook_headers",
]

USER_AGENT = "Vapi/1.0 (mockvapi)"

_ALGORITHMS = ("sha256", "sha512", "sha1")
_DEFAULT_PAYLOAD_FORMAT = "{timestamp}.{body}"
_PLACEHOLDER = re.compile(rb"\{(body|timestamp|method|url|svix-id)\}")


def authentication_plan(credential: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The ``authenticationPlan`` of a credential; a bare plan (with ``type``) is returned as is."""
    if credential is None:
        return None
    plan = credential.get("authenticationPlan")
    if plan is None and credential.get("type") in ("bearer", "hmac", "oauth2"):
        plan = credential
    if not isinstance(plan, Mapping):
        raise ValueError(f"mockvapi: credential has no authenticationPlan: {credential!r}")
    return plan


def _timestamp_text(timestamp_ms: int, unit: Literal["ms", "s"]) -> str:
    return str(timestamp_ms if unit == "ms" else timestamp_ms // 1000)


def _message_id(timestamp: str, body: bytes) -> str:
    # Deterministic, so a replayed scenario signs identically.
    return "msg_" + hashlib.sha256(timestamp.encode() + b"." + body).hexdigest()[:24]


def _needs_message_id(plan: Mapping[str, Any]) -> bool:
    return bool(plan.get("messageIdHeader")) or "{svix-id}" in str(plan.get("payloadFormat") or "")


def _hmac_key(plan: Mapping[str, Any]) -> bytes:
    secret = str(plan.get("secretKey") or "")
    if not secret:
        raise ValueError("mockvapi: HMACAuthenticationPlan needs a secretKey")
    if plan.get("secretIsBase64"):
        try:
            return base64.b64decode(secret, validate=True)
        except binascii.Error:
            raise ValueError(
                "mockvapi: HMAC secretKey is not valid base64 (secretIsBase64 is true)"
            ) from None
    return secret.encode()


def _hmac_algorithm(plan: Mapping[str, Any]) -> str:
    algorithm = str(plan.get("algorithm") or "sha256").lower()
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"mockvapi: HMAC algorithm must be one of {_ALGORITHMS}, got {algorithm!r}")
    return algorithm


def hmac_signature(
    plan: Mapping[str, Any],
    body: bytes | str,
    *,
    timestamp: str = "",
    method: str = "POST",
    url: str = "",
    message_id: str = "",
) -> str:
    """The signature header value (prefix included) an ``HMACAuthenticationPlan`` gives for ``body``."""
    raw = body.encode() if isinstance(body, str) else body
    payload_format = plan.get("payloadFormat")
    if not payload_format:
        payload_format = _DEFAULT_PAYLOAD_FORMAT if plan.get("includeTimestamp", True) else "{body}"
    values = {
        b"body": raw,
        b"timestamp": timestamp.encode(),
        b"method": method.upper().encode(),
        b"url": url.encode(),
        b"svix-id": message_id.encode(),
    }
    # One pass, so a body that happens to contain "{timestamp}" is not substituted into.
    payload = _PLACEHOLDER.sub(lambda m: values[m.group(1)], str(payload_format).encode())
    digest = hmac.new(_hmac_key(plan), payload, _hmac_algorithm(plan)).digest()
    encoding = str(plan.get("signatureEncoding") or "hex").lower()
    if encoding not in ("hex", "base64"):
        raise ValueError(f"mockvapi: HMAC signatureEncoding must be 'hex' or 'base64', got {encoding!r}")
    encoded = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return f"{plan.get('signaturePrefix') or ''}{encoded}"


def _plan_headers(
    plan: Mapping[str, Any],
    credential: Mapping[str, Any],
    body: bytes,
    *,
    timestamp: str,
    method: str,
    url: str,
    message_id: str | None,
) -> dict[str, str]:
    kind = plan.get("type")
    if kind == "bearer":
        token = plan.get("token")
        if not token:
            raise ValueError("mockvapi: BearerAuthenticationPlan needs a token")
        prefix = "Bearer " if plan.get("bearerPrefixEnabled", True) else ""
        return {str(plan.get("headerName") or "Authorization"): f"{prefix}{token}"}
    if kind == "oauth2":
        session = credential.get("authenticationSession") or {}
        token = session.get("accessToken") or f"mockvapi-oauth2-{plan.get('clientId', '')}"
        return {"Authorization": f"Bearer {token}"}
    if kind == "hmac":
        headers: dict[str, str] = {}
        msg_id = ""
        if _needs_message_id(plan):
            msg_id = message_id or _message_id(timestamp, body)
            if plan.get("messageIdHeader"):
                headers[str(plan["messageIdHeader"])] = msg_id
        if not plan.get("includeTimestamp", True):
            timestamp = ""  # so {timestamp} in a custom payloadFormat signs what a verifier can rebuild
        elif plan.get("timestampHeader", "x-timestamp"):
            headers[str(plan.get("timestampHeader", "x-timestamp"))] = timestamp
        signature = hmac_signature(plan, body, timestamp=timestamp, method=method, url=url, message_id=msg_id)
        headers[str(plan.get("signatureHeader") or "x-signature")] = signature
        return headers
    raise ValueError(
        f"mockvapi: unsupported authenticationPlan type {kind!r} (expected bearer, hmac or oauth2)"
    )


def _merge(headers: dict[str, str], extra: Mapping[str, Any]) -> None:
    """Set ``extra`` over ``headers``, replacing names case-insensitively (HTTP header names are)."""
    for name, value in extra.items():
        for existing in [key for key in headers if key.lower() == str(name).lower()]:
            del headers[existing]
        headers[str(name)] = str(value)


def webhook_headers(
    server: Mapping[str, Any],
    body: bytes,
    *,
    timestamp_ms: int,
    credential: Mapping[str, Any] | None = None,
    method: str = "POST",
    url: str | None = None,
    message_id: str | None = None,
    x_vapi_signature: bool = False,
    timestamp_unit: Literal["ms", "s"] = "ms",
) -> dict[str, str]:
    """The headers of a webhook POST of ``body`` for ``server`` (module docstring has the rules).

    ``url`` (default ``server.url``) and ``method`` feed HMAC ``payloadFormat`` placeholders;
    ``message_id`` is the ``{svix-id}`` (derived from timestamp and body if not given).
    """
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    secret = server.get("secret")
    if secret:
        headers["X-Vapi-Secret"] = str(secret)
    plan = authentication_plan(credential)
    if plan is not None:
        assert credential is not None
        timestamp = _timestamp_text(timestamp_ms, timestamp_unit)
        target = str(server.get("url") or "") if url is None else url
        _merge(
            headers,
            _plan_headers(
                plan, credential, body, timestamp=timestamp, method=method, url=target, message_id=message_id
            ),
        )
    if x_vapi_signature and secret:
        headers["X-Vapi-Signature"] = vapi_signature(str(secret), body)
    _merge(headers, server.get("headers") or {})
    return headers


def vapi_signature(secret: str, body: bytes | str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the body keyed by the secret (the docs' sample format)."""
    raw = body.encode() if isinstance(body, str) else body
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def verify_vapi_signature(secret: str, body: bytes | str, header_value: str | None) -> bool:
    """Check an ``X-Vapi-Signature`` value (constant-time)."""
    return header_value is not None and hmac.compare_digest(vapi_signature(secret, body), header_value)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_hmac(
    credential: Mapping[str, Any],
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    method: str = "POST",
    url: str = "",
) -> bool:
    """Check the HMAC headers of a received request against a credential (or bare HMAC plan).

    Reads the signature, timestamp and message id from the plan's headers (names matched
    case-insensitively); ``url`` must be the one signed if ``payloadFormat`` uses ``{url}``.
    False when a header is missing or the signature differs (constant-time compare).
    """
    plan = authentication_plan(credential)
    if plan is None or plan.get("type") != "hmac":
        raise ValueError(f"mockvapi: verify_hmac needs an HMAC credential, got {credential!r}")
    received = _header(headers, str(plan.get("signatureHeader") or "x-signature"))
    if received is None:
        return False
    timestamp = ""
    if plan.get("includeTimestamp", True) and plan.get("timestampHeader", "x-timestamp"):
        found = _header(headers, str(plan.get("timestampHeader", "x-timestamp")))
        if found is None:
            return False
        timestamp = found
    message_id = ""
    if plan.get("messageIdHeader"):
        message_id = _header(headers, str(plan["messageIdHeader"])) or ""
    expected = hmac_signature(plan, body, timestamp=timestamp, method=method, url=url, message_id=message_id)
    return hmac.compare_digest(expected.encode(), received.encode())
