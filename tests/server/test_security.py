"""Security defaults of the mock: loopback by default, every REST route behind the Bearer token (401
JSON), bodies size-limited even when chunked (413 JSON), and secrets never in logs or serve's output.

Already covered elsewhere (not repeated here): the control token is enforced and the REST token does
not open it (test_control_plane), malformed Authorization headers (test_app), 413 with a
Content-Length (test_app, test_control_plane).
"""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from mockvapi.cli import _banner, build_parser
from mockvapi.engine.clock import VirtualClock
from mockvapi.server.routes import API_ROUTES
from mockvapi.testing import MockVapi

from .test_serve_cli import mockvapi_serve
from .webhook_receiver import WebhookReceiver

API_TOKEN = "api-tok-7Hq2ZxWm"
CONTROL_TOKEN = "ctl-tok-Pp93LkAa"
SECRET = "x-vapi-secret-Rb61QvTe"
HMAC_KEY = "hmac-key-Yc08NdJs"
BEARER = "cred-bearer-Kf47MwUo"
HEADER_TOKEN = "hdr-tok-Gz15VbEi"
SECRETS = (API_TOKEN, CONTROL_TOKEN, SECRET, HMAC_KEY, BEARER, HEADER_TOKEN)


def test_serve_binds_loopback_by_default() -> None:
    from mockvapi.serve import serve

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1"
    assert serve.__kwdefaults__ is not None and serve.__kwdefaults__["host"] == "127.0.0.1"
    assert MockVapi().host == "127.0.0.1"


async def test_the_served_api_listens_on_loopback_only() -> None:
    async with MockVapi(serve=True, port=0) as vapi:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", vapi.server.url)


@pytest.fixture
async def served() -> AsyncIterator[MockVapi]:
    async with MockVapi(serve=True, token=API_TOKEN, control_token=CONTROL_TOKEN, clock=VirtualClock(),
                        strict=False) as vapi:
        yield vapi


def _concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "00000000-0000-0000-0000-000000000000", path)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Bearer {CONTROL_TOKEN}"])
async def test_every_api_route_requires_the_bearer_token(served: MockVapi, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=served.server.url, headers=headers) as client:
        for route in (r for r in API_ROUTES if r.auth):
            response = await client.request(route.method, _concrete(route.path), json={})
            assert response.status_code == 401, (route.method, route.path, response.text)
            body = response.json()
            assert body["statusCode"] == 401 and body["error"] == "Unauthorized", body


def test_only_the_spec_and_per_call_capability_urls_are_public() -> None:
    # /api-json is public on Vapi too; a call's transport/listen/control URLs are capabilities handed
    # out in the call object (as Vapi's monitor URLs), not guarded by the API key.
    # A web call's webCallUrl is such a capability too; the daily-js stand-in is static code, no data.
    public = {(r.method, r.path) for r in API_ROUTES if not r.auth}
    assert public == {("GET", "/api-json"), ("GET", "/{call_id}/transport"), ("GET", "/{call_id}/listen"),
                      ("POST", "/{call_id}/control"), ("GET", "/{call_id}/web"),
                      ("GET", "/_mockvapi-web/{name:daily\\.c?js}")}


async def test_a_chunked_body_over_the_limit_is_413_json(served: MockVapi) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):  # 2.5 MB in 64 KB chunks, no Content-Length
            yield b"x" * 65536
        yield b'"}'

    async with httpx.AsyncClient(base_url=served.server.url,
                                 headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        response = await client.post("/assistant", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["statusCode"] == 413


SCENARIO = f"""\
version: 1
name: secrets
assistant:
  server:
    url: "{{url}}"
    secret: {SECRET}
    headers: {{{{Authorization: "Bearer {HEADER_TOKEN}"}}}}
    credential: {{{{type: hmac, secretKey: {HMAC_KEY}}}}}
    backoffPlan: {{{{maxRetries: 1, baseDelaySeconds: 0.1}}}}
steps:
  - user: "Hello there."
  - assistant: "Hi, how can I help?"
  - end: customer-ended-call
"""


async def test_secrets_never_reach_the_logs(served: MockVapi, caplog: pytest.LogCaptureFixture) -> None:
    receiver = await WebhookReceiver(fail={"status-update"}).start()  # failures log too
    try:
        with caplog.at_level(logging.DEBUG, logger="mockvapi"):
            call = await served.play(SCENARIO.format(url=receiver.url))
            async with httpx.AsyncClient(base_url=served.server.url) as client:
                created = await client.post(
                    "/call",
                    headers={"Authorization": f"Bearer {API_TOKEN}"},
                    json={"assistant": {"name": "Riley", "server": {
                        "url": receiver.url,
                        "headers": {"Authorization": f"Bearer {HEADER_TOKEN}", "X-Vapi-Secret": SECRET},
                    }}},
                )
                assert created.status_code == 201, created.text
                await receiver.wait_for("end-of-call-report", created.json()["id"])
                journal = await client.get("/_mockvapi/journal",
                                           headers={"Authorization": f"Bearer {CONTROL_TOKEN}"})
                assert journal.status_code == 200
                denied = await client.get("/_mockvapi/journal", headers={"Authorization": f"Bearer {API_TOKEN}"})
                assert denied.status_code == 401
    finally:
        await receiver.aclose()
    # The secrets were really used: the receiver saw them (so their absence from the log means something).
    sent = [r.headers for r in receiver.received if r.message["call"]["id"] == call.id]
    assert sent and all(h.get("X-Vapi-Secret") == SECRET for h in sent)
    assert any("X-Signature" in h or any("signature" in k.lower() for k in h) for h in sent)
    assert caplog.records, "nothing was logged: the check below would be empty"
    assert any(r.levelno >= logging.WARNING or "status-update" in r.getMessage() for r in caplog.records)
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} appears in the log"


def test_the_serve_banner_does_not_print_the_token() -> None:
    banner = _banner("http://127.0.0.1:8000", API_TOKEN, "happy-path")
    assert API_TOKEN not in banner
    assert "Authorization: Bearer" in banner  # still shows how to authenticate


async def test_serve_output_never_shows_secrets() -> None:
    receiver = await WebhookReceiver(fail={"status-update"}).start()
    try:
        async with mockvapi_serve("--token", API_TOKEN, "--control-token", CONTROL_TOKEN) as (served, url):
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
                created = await client.post("/call", json={"assistant": {"name": "Riley", "server": {
                    "url": receiver.url,
                    "headers": {"Authorization": f"Bearer {HEADER_TOKEN}", "X-Vapi-Secret": SECRET},
                }}})
                assert created.status_code == 201, created.text
                await receiver.wait_for("end-of-call-report", created.json()["id"], timeout=30)
                wrong = await client.get("/_mockvapi/journal")  # the API token, not the control one
                assert wrong.status_code == 401
            code, log = await served.stop(signal.SIGTERM)
            output = served.stdout + log
    finally:
        await receiver.aclose()
    assert code == 0, log
    assert created.json()["id"] in output  # the call was logged at all
    assert receiver.received[0].headers.get("X-Vapi-Secret") == SECRET
    for secret in (API_TOKEN, CONTROL_TOKEN, SECRET, HEADER_TOKEN):
        assert secret not in output, f"{secret!r} appears in serve's output"
