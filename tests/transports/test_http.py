from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest

from mockvapi.transports.auth import verify_hmac, webhook_headers
from mockvapi.transports.envelope import parse_json
from mockvapi.transports.http import (
    ASSISTANT_REQUEST_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    AttemptRecord,
    DeliveryFailure,
    DeliveryOutcome,
    HttpRequest,
    HttpResponse,
    HttpTarget,
    UrlTarget,
    deliver,
    retry_delays,
)
from mockvapi.transports.inprocess import CallableTarget
from mockvapi.transports.targets import resolve_target

from .conftest import Recorder

BODY = json.dumps({"message": {"type": "status-update", "status": "in-progress", "timestamp": 1}}).encode()
TS = 1_767_258_000_000
HMAC_CREDENTIAL = {
    "provider": "webhook",
    "authenticationPlan": {"type": "hmac", "secretKey": "s3cret", "algorithm": "sha256"},
}


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def post(headers: dict[str, str] | None = None, url: str = "") -> HttpRequest:
    return HttpRequest(url, headers or {"Content-Type": "application/json"}, BODY)


def test_timeout_constants_match_vapi() -> None:
    assert DEFAULT_TIMEOUT_SECONDS == 20.0
    assert ASSISTANT_REQUEST_TIMEOUT_SECONDS == 7.5


# --- socket delivery -----------------------------------------------------------------------------


async def test_url_target_sends_exact_body_and_headers(recorder: Recorder) -> None:
    server = {"url": recorder.url(), "secret": "shh", "headers": {"X-Tenant": "acme"}}
    headers = webhook_headers(server, BODY, timestamp_ms=TS, credential=HMAC_CREDENTIAL)
    target = resolve_target(recorder.url())
    try:
        outcome = await deliver(target, post(headers), timeout=1, sleep=FakeSleep())
    finally:
        await target.aclose()

    assert outcome.ok and outcome.error is None
    assert outcome.response is not None and outcome.response.json() == {"ok": True, "n": 1}
    [got] = recorder.requests
    assert got.method == "POST" and got.path == "/webhook"
    assert got.body == BODY
    # Exactly the headers given, plus Host and Content-Length: no client extras.
    assert [name for name, _ in got.headers] == ["Host", *headers, "Content-Length"]
    received = dict(got.headers)
    assert received["X-Vapi-Secret"] == "shh"
    assert received["X-Tenant"] == "acme"
    assert received["Content-Type"] == "application/json"
    assert received["Content-Length"] == str(len(BODY))
    assert verify_hmac(HMAC_CREDENTIAL, got.body, received)
    expected = hmac.new(b"s3cret", f"{TS}.".encode() + got.body, hashlib.sha256).hexdigest()
    assert received["x-signature"] == expected
    assert received["x-timestamp"] == str(TS)


async def test_url_target_sends_bearer_credential(recorder: Recorder) -> None:
    credential = {"provider": "webhook", "authenticationPlan": {"type": "bearer", "token": "tok"}}
    headers = webhook_headers({"url": recorder.url()}, BODY, timestamp_ms=TS, credential=credential)
    target = UrlTarget(recorder.url())
    try:
        response = await target.send(post(headers), timeout=1)
    finally:
        await target.aclose()
    assert response.status == 200
    assert dict(recorder.requests[0].headers)["Authorization"] == "Bearer tok"


async def test_url_target_joins_a_path_request_url(recorder: Recorder) -> None:
    target = UrlTarget(recorder.url("/base/hook"))
    try:
        await target.send(post(url="/other?x=1"), timeout=1)
        await target.send(post(url=recorder.url("/abs")), timeout=1)
        await target.send(post(), timeout=1)
    finally:
        await target.aclose()
    assert [(r.path, r.query) for r in recorder.requests] == [
        ("/other", "x=1"),
        ("/abs", ""),
        ("/base/hook", ""),
    ]


async def test_url_target_reports_status_and_headers(recorder: Recorder) -> None:
    recorder.statuses = [503]
    target = UrlTarget(recorder.url())
    try:
        response = await target.send(post(), timeout=1)
    finally:
        await target.aclose()
    assert response.status == 503 and not response.ok
    assert response.headers["content-type"].startswith("application/json")  # case-insensitive
    assert response.latency > 0


async def test_url_target_timeout_is_recorded(recorder: Recorder) -> None:
    target = UrlTarget(recorder.url("/hang"))
    try:
        outcome = await deliver(target, post(), timeout=0.05, sleep=FakeSleep())
    finally:
        await target.aclose()
    assert not outcome.ok and outcome.response is None
    [attempt] = outcome.attempts
    assert attempt.failure == "timeout" and attempt.status is None
    assert attempt.latency >= 0.05
    assert outcome.error is not None and outcome.error.startswith("timeout: no response from")


async def test_url_target_aclose_is_idempotent_and_reopens(recorder: Recorder) -> None:
    target = UrlTarget(recorder.url())
    await target.aclose()
    await target.send(post(), timeout=1)
    await target.aclose()
    await target.aclose()
    await target.send(post(), timeout=1)
    await target.aclose()
    assert len(recorder.requests) == 2


def test_url_target_rejects_non_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        resolve_target("ftp://127.0.0.1/x")
    with pytest.raises(ValueError, match="http"):
        resolve_target("/just/a/path")


def test_resolve_target_passes_targets_through_and_rejects_junk() -> None:
    target = UrlTarget("http://127.0.0.1:1/x")
    assert resolve_target(target) is target
    assert isinstance(target, HttpTarget)
    assert resolve_target("http://127.0.0.1:1/x").description == "http://127.0.0.1:1/x"
    with pytest.raises(TypeError, match="cannot deliver webhooks to 42"):
        resolve_target(42)

    class Handler:  # forgot __call__: named by its class, not by a memory address
        pass

    with pytest.raises(TypeError, match=r"cannot deliver webhooks to a Handler object; expected a URL") as raised:
        resolve_target(Handler())
    assert " at 0x" not in str(raised.value)


async def test_invalid_timeout_is_refused() -> None:
    target = UrlTarget("http://127.0.0.1:1/x")
    with pytest.raises(ValueError, match="timeout"):
        await target.send(post(), timeout=0)
    with pytest.raises(ValueError, match="timeout"):
        await deliver(target, post(), timeout=-1, sleep=FakeSleep())


# --- responses ------------------------------------------------------------------------------------


def test_response_json_never_raises() -> None:
    assert HttpResponse(200, {}, b"", 0.0).json() is None
    assert HttpResponse(200, {}, b"not json", 0.0).json() is None
    assert HttpResponse(200, {}, b"\xff\xfe", 0.0).json() is None
    assert HttpResponse(200, {}, b'{"a": [1]}', 0.0).json() == {"a": [1]}
    assert HttpResponse(200, {"Content-Type": "x"}, b"", 0.0).headers["content-type"] == "x"


def test_an_empty_object_answer_is_what_the_parser_gives_and_a_new_dict_each_time() -> None:
    # `{}` skips the parser (the usual answer to a message that asks for none); anything else is parsed as before.
    first, second = HttpResponse(200, {}, b"{}", 0.0), HttpResponse(200, {}, b"{}", 0.0)
    assert first.json() == parse_json(b"{}") == {}
    assert first.json() is not first.json() and first.json() is not second.json()  # a caller may change its own
    for body in (b"{ }", b" {}", b"{}\n", b"{}}", b"{}x", b'{"":{}}', b"[{}]", b"{", b"\xef\xbb\xbf{}"):
        assert HttpResponse(200, {}, body, 0.0).json() == parse_json(body), body


def test_reprs_are_readable() -> None:
    response = HttpResponse(500, {}, b"x" * 200, 0.0031, app_error="ValueError: boom")
    assert repr(response).startswith("HttpResponse(500, b'xxx")
    assert "(200 bytes), 3.1ms, app_error='ValueError: boom')" in repr(response)
    assert repr(post()).startswith('HttpRequest(POST <target>, b\'{"message"')
    attempts = [
        AttemptRecord(1, None, "timeout", "slow", 0.05),
        AttemptRecord(2, 200, None, None, 0.002, 1.0),
    ]
    outcome = DeliveryOutcome(response, attempts, "HTTP 500")
    assert repr(outcome) == (
        "DeliveryOutcome(ok=False, attempts=[AttemptRecord(#1 timeout after 50.0ms), "
        "AttemptRecord(#2 200 in 2.0ms, after 1s backoff)], error='HTTP 500')"
    )
    assert repr(DeliveryFailure("timeout", "slow")) == "DeliveryFailure(kind='timeout', detail='slow')"


# --- retries ----------------------------------------------------------------------------------------


def statuses(*codes: int) -> tuple[CallableTarget, list[int]]:
    """A target answering the given statuses in order (then 200), and the list of what it answered."""
    queue, answered = list(codes), []

    def handler(body: Any, headers: Any) -> tuple[int, Any]:
        code = queue.pop(0) if queue else 200
        answered.append(code)
        return code, {"status": code}

    return CallableTarget(handler), answered


async def test_no_backoff_plan_means_one_attempt() -> None:
    target, answered = statuses(500)
    sleep = FakeSleep()
    outcome = await deliver(target, post(), timeout=1, backoff_plan=None, sleep=sleep)
    assert answered == [500] and sleep.delays == []
    assert not outcome.ok and outcome.error == "HTTP 500"
    assert outcome.response is not None and outcome.response.json() == {"status": 500}


async def test_fixed_backoff_retries_non_2xx_until_max() -> None:
    target, answered = statuses(500, 502, 503, 504, 200)
    sleep = FakeSleep()
    plan = {"type": "fixed", "maxRetries": 3, "baseDelaySeconds": 2}
    outcome = await deliver(target, post(), timeout=1, backoff_plan=plan, sleep=sleep)
    assert answered == [500, 502, 503, 504]
    assert sleep.delays == [2.0, 2.0, 2.0]
    assert [a.status for a in outcome.attempts] == [500, 502, 503, 504]
    assert [a.delay for a in outcome.attempts] == [0.0, 2.0, 2.0, 2.0]
    assert outcome.error == "HTTP 504 (after 4 attempts)"


async def test_exponential_backoff_doubles_and_stops_on_success() -> None:
    target, answered = statuses(500, 429)
    sleep = FakeSleep()
    plan = {"type": "exponential", "maxRetries": 5, "baseDelaySeconds": 0.5}
    outcome = await deliver(target, post(), timeout=1, backoff_plan=plan, sleep=sleep)
    assert answered == [500, 429, 200]
    assert sleep.delays == [0.5, 1.0]
    assert outcome.ok and outcome.error is None
    assert retry_delays(plan) == [0.5, 1.0, 2.0, 4.0, 8.0]


async def test_excluded_status_codes_are_not_retried() -> None:
    target, answered = statuses(404)
    sleep = FakeSleep()
    plan = {"type": "fixed", "maxRetries": 3, "baseDelaySeconds": 1, "excludedStatusCodes": [400, "404"]}
    outcome = await deliver(target, post(), timeout=1, backoff_plan=plan, sleep=sleep)
    assert answered == [404] and sleep.delays == []
    assert outcome.error == "HTTP 404"


async def test_timeouts_are_retried_and_recorded() -> None:
    never = asyncio.Event()
    calls = 0

    async def slow(body: Any, headers: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await never.wait()

    sleep = FakeSleep()
    plan = {"type": "fixed", "maxRetries": 2, "baseDelaySeconds": 1}
    outcome = await deliver(CallableTarget(slow), post(), timeout=0.05, backoff_plan=plan, sleep=sleep)
    assert [(a.status, a.failure) for a in outcome.attempts] == [(None, "timeout"), (200, None)]
    assert sleep.delays == [1.0]
    assert outcome.ok


async def test_connection_failures_are_retried(recorder: Recorder) -> None:
    failures = [DeliveryFailure("connection", "reset by peer")]

    def flaky(body: Any, headers: Any) -> dict[str, bool]:
        if failures:
            raise failures.pop()
        return {"ok": True}

    plan = {"type": "exponential", "maxRetries": 1, "baseDelaySeconds": 3}
    sleep = FakeSleep()
    outcome = await deliver(CallableTarget(flaky), post(), timeout=1, backoff_plan=plan, sleep=sleep)
    assert [a.failure for a in outcome.attempts] == ["connection", None]
    assert outcome.attempts[0].detail == "reset by peer"
    assert sleep.delays == [3.0] and outcome.ok


async def test_all_attempts_failing_gives_last_failure() -> None:
    def broken(body: Any, headers: Any) -> None:
        raise RuntimeError("db down")

    plan = {"type": "fixed", "maxRetries": 1, "baseDelaySeconds": 0}
    outcome = await deliver(CallableTarget(broken), post(), timeout=1, backoff_plan=plan, sleep=FakeSleep())
    assert [a.failure for a in outcome.attempts] == ["app-error", "app-error"]
    assert outcome.response is None
    assert outcome.error is not None
    assert outcome.error.startswith("app-error: callable:")
    assert outcome.error.endswith("raised RuntimeError: db down (after 2 attempts)")


async def test_broken_custom_target_is_recorded_not_raised() -> None:
    class Broken:
        description = "broken"

        async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
            raise KeyError("oops")

        async def aclose(self) -> None:
            pass

    outcome = await deliver(Broken(), post(), timeout=1, sleep=FakeSleep())
    assert outcome.attempts[0].failure == "app-error"
    assert outcome.error == "app-error: KeyError: 'oops'"


def test_backoff_plan_defaults_and_validation() -> None:
    assert retry_delays(None) == []
    assert retry_delays({}) == []
    assert retry_delays({"maxRetries": 2, "baseDelaySeconds": 1.5}) == [1.5, 1.5]  # type defaults to fixed
    assert retry_delays({"type": "exponential", "baseDelaySeconds": 1}) == []  # maxRetries defaults to 0
    with pytest.raises(ValueError, match="fixed' or 'exponential"):
        retry_delays({"type": "linear", "maxRetries": 1, "baseDelaySeconds": 1})
    with pytest.raises(ValueError, match=">= 0"):
        retry_delays({"type": "fixed", "maxRetries": -1, "baseDelaySeconds": 1})
