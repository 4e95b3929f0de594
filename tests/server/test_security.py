"""Security defaults of the mock: loopback by default, every REST route behind the Bearer token (401
JSON), bodies size-limited even when chunked (413 JSON), and secrets never in logs or serve's output.

Already covered elsewhere (not repeated here): the control token is enforced and the REST token does
not open it (test_control_plane), malformed Authorization headers (test_app), 413 with a
Content-Length (test_app, test_control_plane).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mockvapi.cli import _banner, build_parser
from mockvapi.engine.clock import VirtualClock
from mockvapi.server.backend import Backend
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


# -- issue 14: attacks from a web page, a request naming files, guessable ids, malformed HTTP --------

JSON = {"Content-Type": "application/json"}
# A file outside the allowed folder, as /etc/shadow would be (its lines must never come back)...
SHADOW = "root:*:20228:0:99999:7:::\n"
# ...and one whose YAML keys would show in a scenario error.
KEYS = "aws_secret_access_key: AKIA-outside-Zq81\nother_private_key: outside-Lm20\n"
LEAKS = ("root:", "20228", "aws_secret_access_key", "AKIA-outside", "other_private_key")
ALLOWED = """\
version: 1
name: allowed-one
steps:
  - user: "Hi."
  - assistant: "Hello."
  - end: customer-ended-call
"""


def _files(tmp_path: Path) -> tuple[Path, Path]:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "allowed-one.yaml").write_text(ALLOWED, encoding="utf-8")
    (outside / "shadow").write_text(SHADOW, encoding="utf-8")
    (outside / "keys.yaml").write_text(KEYS, encoding="utf-8")
    (allowed / "escape.yaml").symlink_to(outside / "keys.yaml")
    return allowed, outside


def _no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked: {text[:300]}"


async def test_a_default_serve_reads_no_file_a_request_names(tmp_path: Path) -> None:
    allowed, outside = _files(tmp_path)
    async with mockvapi_serve("--scenarios", str(allowed)) as (served, url):
        async with httpx.AsyncClient(base_url=url, headers=JSON, timeout=30) as client:
            async def load(path: str) -> httpx.Response:
                return await client.post("/_mockvapi/scenarios", json={"path": path})

            answers = {p: await load(p) for p in (str(outside / "shadow"), str(outside / "keys.yaml"),
                                                 str(outside / "missing.yaml"), "../outside/keys.yaml",
                                                 "escape.yaml", "/dev/stdin", "/etc/shadow")}
            for path, answer in answers.items():
                assert answer.status_code == 403, (path, answer.text)
                _no_leak(answer.text)
            # An existing file and a missing one get the same answer: existence is not revealed.
            said = {answers[str(outside / n)].json()["message"].replace(n, "X") for n in ("keys.yaml", "missing.yaml")}
            assert len(said) == 1

            # A FIFO inside the folder: refused at once, and the server keeps answering (item 2).
            os.mkfifo(allowed / "pipe.yaml")
            fifo = await load("pipe.yaml")
            assert fifo.status_code == 400 and "not a regular file" in fifo.text
            assert (await client.get("/_mockvapi/status")).status_code == 200

            ok = await load(str(allowed / "allowed-one.yaml"))  # what the command line allowed still loads
            assert ok.status_code == 201 and ok.json() == {"loaded": ["allowed-one"]}

            # A scenario "name" in an assistant's metadata is never a path either.
            api = {"Authorization": "Bearer any"}
            for name in (str(outside / "keys.yaml"), "../outside/keys", "pipe"):
                created = await client.post("/call", headers=api, json={"assistant": {
                    "name": "Riley", "metadata": {"mockvapi": {"scenario": name}}}})
                # Refused at creation, as Vapi refuses a bad assistant, in the same words for every name.
                assert created.status_code == 400, created.text
                assert "is not a scenario this server plays" in created.text
                _no_leak(created.text)
            problems = await client.get("/_mockvapi/problems")
            assert problems.json()["problems"] == []  # no call was started
        code, log = await served.stop(signal.SIGTERM)
    assert code == 0, log
    assert "skipped escape.yaml" in log and "outside the scenario folders" in log  # the symlink, at start
    _no_leak(log + served.stdout)
    assert "Traceback" not in log


async def test_a_page_on_another_site_can_neither_read_nor_change_the_control_plane() -> None:
    async with MockVapi(serve=True, clock=VirtualClock(), strict=False) as vapi:
        url = vapi.server.url
        page = {"Origin": "http://evil.example"}
        async with httpx.AsyncClient(base_url=url) as client:
            read = await client.get("/_mockvapi/journal", headers=page)
            assert read.status_code == 403 and "Access-Control-Allow-Origin" not in read.headers
            preflight = await client.options("/_mockvapi/scenarios", headers={
                **page, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
            assert "Access-Control-Allow-Origin" not in preflight.headers
            # A text/plain POST is a "simple" request: no preflight, the browser just sends it.
            forged = {"content": ALLOWED, "headers": {"Content-Type": "text/plain;charset=UTF-8"}}
            assert (await client.post("/_mockvapi/scenarios", headers={**page, **forged["headers"]},
                                      content=ALLOWED)).status_code == 403
            assert (await client.post("/_mockvapi/scenarios", **forged)).status_code == 415  # even without Origin
            assert (await client.post("/_mockvapi/reset", headers=page)).status_code == 403
            beacon = await client.get("/_mockvapi/status", headers={"Sec-Fetch-Site": "cross-site"})
            assert beacon.status_code == 403
            # A page whose DNS name was rebound to 127.0.0.1 is same-origin with itself: its Host gives it away.
            port = url.rsplit(":", 1)[1]
            for path in ("/_mockvapi/journal", "/call"):
                rebound = await client.get(path, headers={"Host": f"evil.example:{port}", "Authorization": "Bearer x"})
                assert rebound.status_code == 403, path
            assert "allowed-one" not in (await client.get("/_mockvapi/scenarios")).json()["scenarios"]
            # Scripts and curl (no Origin) still work, and the web SDK's POST /call/web keeps its CORS.
            assert (await client.get("/_mockvapi/status")).status_code == 200
            sdk = {"Origin": "http://localhost:5173", "Authorization": "Bearer public-key"}
            asked = await client.options("/call/web", headers={
                **page, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"})
            assert asked.status_code == 204 and asked.headers["Access-Control-Allow-Origin"] == "*"
            web_call = await client.post("/call/web", headers=sdk, json={"assistant": {"name": "Riley"}})
            assert web_call.status_code == 201 and web_call.headers["Access-Control-Allow-Origin"] == "*"


async def test_the_control_plane_shows_no_secret(served: MockVapi, caplog: pytest.LogCaptureFixture) -> None:
    receiver = await WebhookReceiver(fail={"status-update"}).start()
    password = "url-pass-Wq30Xc"
    hook_url = receiver.url.replace("http://", f"http://hook-user:{password}@")
    control = {"Authorization": f"Bearer {CONTROL_TOKEN}"}
    try:
        with caplog.at_level(logging.DEBUG, logger="mockvapi"):
            call = await served.play(SCENARIO.format(url=hook_url))
            phone = await _inbound_phone(served, receiver.url)
            async with httpx.AsyncClient(base_url=served.server.url, headers=control) as client:
                inbound = await client.post("/_mockvapi/inbound-call", json={"phoneNumberId": phone})
                assert inbound.status_code == 201, inbound.text
                shown = [
                    (await client.get("/_mockvapi/journal")).text,
                    (await client.get("/_mockvapi/journal", params={"format": "jsonl"})).text,
                    (await client.get("/_mockvapi/problems")).text,
                    (await client.get("/_mockvapi/status")).text,
                    inbound.text,
                ]
    finally:
        await receiver.aclose()
    # The secrets were sent (in process the journal keeps what went out), so their absence means something.
    sent = served.journal.deliveries(call_id=call.id, channel="webhook")
    assert sent and all(d.request_headers.get("X-Vapi-Secret") == SECRET for d in sent)
    assert any(p.kind == "delivery-failed" for p in served.journal.problems)
    assert json.loads(shown[0])["deliveries"]
    for text in shown:
        for secret in (*SECRETS, password):
            assert secret not in text, f"{secret!r} in {text[:200]}"
    assert all(password not in d.target for d in sent)
    assert password not in caplog.text and "hook-user" not in caplog.text


async def _inbound_phone(vapi: MockVapi, server_url: str) -> str:
    async with httpx.AsyncClient(base_url=vapi.server.url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as c:
        created = await c.post("/phone-number", json={
            "provider": "byo-phone-number", "credentialId": "cred-1", "number": "+15550001111",
            "server": {"url": server_url, "headers": {"X-Api-Key": HEADER_TOKEN}},
        })
        assert created.status_code == 201, created.text
        phone: str = created.json()["id"]
    return phone


async def test_served_call_ids_cannot_be_computed_offline() -> None:
    offline = Backend(seed=0)  # what the attack computed: the ids a default server used to hand out
    guesses = {offline.new_id() for _ in range(20)}
    ids: list[str] = []
    for _ in range(2):
        async with MockVapi(serve=True, clock=VirtualClock(), strict=False) as vapi, \
                httpx.AsyncClient(base_url=vapi.server.url, headers={"Authorization": "Bearer t"}) as client:
            created = (await client.post("/call", json={"assistant": {"name": "Riley"},
                                                         "transport": {"provider": "vapi.websocket"}})).json()
            ids.append(created["id"])
            for guess in guesses:
                said = await client.post(f"/{guess}/control", json={"type": "say", "content": "pwned"})
                assert said.status_code == 404
            assert created["monitor"]["controlUrl"].endswith(f"/{created['id']}/control")
    assert ids[0] != ids[1] and not guesses & set(ids)
    seeded = []
    for _ in range(2):  # with a seed, as asked, the same ids again
        async with MockVapi(serve=True, clock=VirtualClock(), strict=False, seed=5) as vapi, \
                httpx.AsyncClient(base_url=vapi.server.url, headers={"Authorization": "Bearer t"}) as client:
            seeded.append((await client.post("/call", json={"assistant": {"name": "Riley"}})).json()["id"])
    assert seeded[0] == seeded[1]


async def test_urls_handed_out_come_from_the_server_not_the_host_header() -> None:
    body = {"assistant": {"name": "Riley"}, "transport": {"provider": "vapi.websocket"}}
    async with MockVapi(serve=True, clock=VirtualClock(), strict=False) as vapi, \
            httpx.AsyncClient(base_url=vapi.server.url, headers={"Authorization": "Bearer t"}) as client:
        port = vapi.server.url.rsplit(":", 1)[1]
        forged = {"Host": f"10.9.8.7:{port}"}  # an IP literal passes the Host check, and still is not used
        call = (await client.post("/call", json=body, headers=forged)).json()
        spec = (await client.get("/api-json", headers=forged)).json()
    for url in (call["monitor"]["listenUrl"], call["monitor"]["controlUrl"], call["transport"]["websocketCallUrl"],
                spec["servers"][0]["url"]):
        assert "10.9.8.7" not in url and f"127.0.0.1:{port}" in url, url
    public = "http://mockvapi.test:9999"
    async with MockVapi(serve=True, clock=VirtualClock(), strict=False, public_url=public) as vapi, \
            httpx.AsyncClient(base_url=vapi.server.address, headers={"Authorization": "Bearer t"}) as client:
        assert vapi.server.url == public
        call = (await client.post("/call", json=body, headers={"Host": "mockvapi.test:9999"})).json()
    assert call["monitor"]["controlUrl"] == f"{public}/{call['id']}/control"
    assert call["transport"]["websocketCallUrl"] == f"ws://mockvapi.test:9999/{call['id']}/transport"


MALFORMED = {
    "CL+TE": b"POST /call HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + API_TOKEN.encode()
             + b"\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "1000 headers": b"GET /call HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + b"".join(b"X-H%d: v\r\n" % i for i in range(1000)) + b"\r\n",
    "huge header": b"GET /call HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
}


async def _raw(url: str, payload: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(payload)
        await writer.drain()
        async with asyncio.timeout(30):
            return await reader.read()
    finally:
        writer.close()


async def test_malformed_http_is_a_400_and_one_log_line(served: MockVapi, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        for payload in MALFORMED.values():
            answer = await _raw(served.server.url, payload)
            assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0], answer[:100]
    lines = [r for r in caplog.records if r.name == "mockvapi.server.http"]
    assert len(lines) == len(MALFORMED), [r.getMessage() for r in caplog.records]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in lines)
    assert "bad HTTP request from 127.0.0.1: 400" in lines[0].getMessage()
    assert "Traceback" not in caplog.text and API_TOKEN not in caplog.text and "aaaaaaaaaa" * 20 not in caplog.text


async def test_a_connection_that_never_finishes_its_headers_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockvapi.server.harness import MockServer

    monkeypatch.setattr(MockServer, "header_timeout", 0.2)
    async with MockVapi(serve=True, clock=VirtualClock(), strict=False) as vapi:
        for half in (b"", b"GET /call HTTP/1.1\r\nHost: 127.0.0.1\r\n"):  # silent, then stalled mid-headers
            assert await _raw(vapi.server.url, half) == b""  # closed by the server, without an answer
        async with httpx.AsyncClient(base_url=vapi.server.url) as client:  # others are served meanwhile
            assert (await client.get("/_mockvapi/status")).status_code == 200


def test_serve_takes_several_scenario_folders_and_a_public_url() -> None:
    args = build_parser().parse_args(["serve", "--scenarios", "a", "--scenarios", "b", "--public-url", "http://m:1"])
    assert args.scenarios == ["a", "b"] and args.public_url == "http://m:1"
    assert build_parser().parse_args(["serve"]).scenarios is None  # no folder: no path is read


@pytest.mark.parametrize("url", ["mockvapi:8000", "ftp://m", "http://m:1/base", "http://m:1?x=1"])
def test_serve_refuses_a_public_url_it_cannot_use(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from mockvapi.cli import main

    assert main(["serve", "--port", "0", "--public-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mockvapi: cannot serve: --public-url") and "Traceback" not in err


async def test_a_startup_folder_with_a_fifo_serves_the_rest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    allowed, _ = _files(tmp_path)
    os.mkfifo(allowed / "pipe.yaml")
    with caplog.at_level(logging.WARNING, logger="mockvapi"):
        async with MockVapi(serve=True, clock=VirtualClock(), strict=False, scenarios=[allowed]) as vapi:
            assert set(vapi.server.loaded) == {"allowed-one"}
    assert "skipped pipe.yaml" in caplog.text and "not a regular file" in caplog.text


async def test_a_slow_file_read_does_not_hold_other_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mockvapi.server.files import ScenarioFolders

    allowed, _ = _files(tmp_path)
    release = threading.Event()
    reading = threading.Event()
    real_read = ScenarioFolders.read

    def slow_read(self: ScenarioFolders, path: Path, limits: object = None) -> object:
        reading.set()
        assert release.wait(30), "never released"  # a disk (or a FIFO) that takes its time
        return real_read(self, path)

    async with MockVapi(serve=True, clock=VirtualClock(), strict=False, scenarios=allowed) as vapi, \
            httpx.AsyncClient(base_url=vapi.server.url, timeout=30) as client:
        monkeypatch.setattr(ScenarioFolders, "read", slow_read)
        load = asyncio.ensure_future(client.post("/_mockvapi/scenarios", json={"path": "allowed-one.yaml"}))
        try:
            assert await asyncio.to_thread(reading.wait, 30)
            # While the read blocks its thread, the loop keeps answering.
            assert (await client.get("/_mockvapi/status")).status_code == 200
            assert not load.done()
        finally:
            release.set()
        assert (await load).status_code == 201


async def test_a_request_without_a_host_header_is_served(served: MockVapi) -> None:
    answer = await _raw(served.server.url, b"GET /api-json HTTP/1.0\r\n\r\n")  # HTTP/1.0: no Host, no browser
    assert answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n")[0]
