"""schemathesis against the mock's own `/api-json`: no 5xx, every response conforms to its schema
and content type, for every documented operation.

The server runs in a thread (`MockVapi.start_sync`) because schemathesis calls it synchronously;
the schema is loaded from its URL. It serves the extract the package ships (`mockvapi.conformance.extract.EXTRACT_PATH`,
the official operations and schemas), so the test is the same on a user's clone as beside the spec;
a document without schemas would leave negative generation nothing to violate, so the fixture
refuses one instead of letting hypothesis report `Unsatisfiable`. Generation is deterministic
(`derandomize=True`) and bounded: positive cases for every operation; negative cases
(schema-violating requests, which must be 4xx JSON, never 5xx, and whose answer must conform too: a
body the mock accepted is echoed back) where the request schema is small. For the four huge bodies
(POST /assistant, PATCH /assistant/{id}, POST /call, POST /call/web) schemathesis' negative
generation is not usable in CI (two examples of POST /call/web took 2 minutes and 2.4 GB), so a
hand-made set of invalid nested values stands in (`test_big_bodies_with_invalid_nested_values`),
checked with the same schemathesis checks.

Narrow exclusions, each a genuine property of Vapi's spec rather than of the mock:
* `oneOf` is read as `anyOf` (as Vapi's reference validator does): the spec's unions are not
  exclusive (a Call's `messages` item with role "bot" also matches UserMessage, neither forbids
  the other's properties), so every real Vapi call object would fail `oneOf`.
* status_code_conformance is applied to 2xx answers only: the official spec documents only success
  codes, while Vapi (and the mock) answer 400/401/404 with the NestJS error body. Error answers
  are checked against that body's shape instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mockvapi.conformance.extract import EXTRACT_PATH
from mockvapi.server.openapi import ENV_VAR
from mockvapi.server.routes import documented_operations
from mockvapi.testing import MockVapi

TOKEN = "schemathesis-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPERATIONS = documented_operations()
# Request bodies too large to mutate in CI time (see the module docstring).
NO_NEGATIVE = {("POST", "/assistant"), ("PATCH", "/assistant/{id}"), ("POST", "/call"), ("POST", "/call/web")}
EXAMPLES = 6
# Enough to reach inside nested objects (15 finds an invalid fallbackDestination the mock would echo).
NEGATIVE_EXAMPLES = 15
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Any]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_VAR, str(EXTRACT_PATH))
        vapi = MockVapi(serve=True, token=TOKEN, strict=False)
        vapi.start_sync()
    try:
        url = vapi.server.url
        document = httpx.get(f"{url}/api-json", timeout=30).raise_for_status().json()
        _assert_complete(document)
        yield url, schemathesis.openapi.from_dict(_any_of(document))
    finally:
        vapi.stop()


def _assert_complete(document: dict[str, Any]) -> None:
    """Every operation has its request and response schemas (else there is nothing to check)."""
    assert document.get("components", {}).get("schemas"), document["info"]["description"]
    for method, path in OPERATIONS:
        operation = document["paths"][path][method.lower()]
        assert any(code.startswith("2") for code in operation["responses"]), (method, path)
        if method in ("POST", "PATCH"):
            assert "requestBody" in operation, (method, path)


def _any_of(node: Any) -> Any:
    """The document with every `oneOf` read as `anyOf` (see the module docstring)."""
    if isinstance(node, list):
        return [_any_of(item) for item in node]
    if isinstance(node, dict):
        return {("anyOf" if key == "oneOf" else key): _any_of(value) for key, value in node.items()}
    return node


def _error_shape(response: Any) -> None:
    body = response.json()
    assert set(body) == {"message", "error", "statusCode"}, body
    assert body["statusCode"] == response.status_code, body


def _modes(method: str, path: str) -> list[Any]:
    modes = [pytest.param(GenerationMode.POSITIVE, id="positive")]
    if (method, path) not in NO_NEGATIVE:
        modes.append(pytest.param(GenerationMode.NEGATIVE, id="negative"))
    return modes


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [pytest.param(m, p, mode.values[0], id=f"{m} {p} {mode.id}") for m, p in OPERATIONS for mode in _modes(m, p)],
)
def test_operation_holds_its_schema(server: tuple[str, Any], method: str, path: str, mode: GenerationMode) -> None:
    url, schema = server
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES if mode is GenerationMode.POSITIVE else NEGATIVE_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        response = case.call(base_url=url, headers=AUTH)
        checks = list(CHECKS)
        if response.status_code < 400:
            checks.append(status_code_conformance)
        case.validate_response(response, checks=checks, headers=AUTH)
        if response.status_code >= 400:
            _error_shape(response)

    check()


# One invalid nested value per case, deep inside each big body (see the module docstring). Everything
# else in a body is valid, so a mock that skipped the nested check would answer 201 and fail.
_VOICE = {"provider": "11labs", "voiceId": "rachel"}
_PHONE = {"twilioPhoneNumber": "+15550001111", "twilioAccountSid": "AC1"}
_WS = {"provider": "vapi.websocket"}
BIG_INVALID: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/assistant", {"voice": {**_VOICE, "stability": 2}}),
    ("POST", "/assistant", {"voice": {"provider": "carrier-pigeon"}}),
    ("POST", "/assistant", {"model": {"provider": "openai", "model": "gpt-4o", "messages": [{"role": "robot"}]}}),
    ("POST", "/assistant", {"server": {"url": "https://example.com", "backoffPlan": {"type": "never"}}}),
    ("POST", "/assistant", {"transcriber": {"provider": "deepgram", "extra": 1}}),
    ("POST", "/assistant", {"serverMessages": ["not-a-message"]}),
    ("PATCH", "/assistant/{id}", {"voice": {**_VOICE, "foo": "bar"}}),
    ("PATCH", "/assistant/{id}", {"hooks": [{"on": "call.ending", "do": [{"type": "dance"}]}]}),
    ("POST", "/call", {"assistant": {"voice": {"provider": "openai", "voiceId": 7}}}),
    ("POST", "/call", {"assistant": {}, "transport": {**_WS, "audioFormat": {"format": "mp3", "sampleRate": 8000}}}),
    ("POST", "/call", {"assistant": {}, "phoneNumber": _PHONE, "customer": {"assistantOverrides": {"voice": "x"}}}),
    (
        "POST",
        "/call",
        {"assistant": {}, "phoneNumber": {**_PHONE, "fallbackDestination": {"type": "sip"}}, "customer": {}},
    ),
    ("POST", "/call/web", {"assistant": {}, "assistantOverrides": {"firstMessageMode": "shout"}}),
    ("POST", "/call/web", {"squad": {"members": [{"assistant": {"voice": {"provider": "?"}}}]}}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [pytest.param(*case, id=f"{case[0]} {case[1]} {i}") for i, case in enumerate(BIG_INVALID)],
)
def test_big_bodies_with_invalid_nested_values(server: tuple[str, Any], method: str, path: str, body: Any) -> None:
    url, schema = server
    path_parameters = {}
    if "{id}" in path:
        created = httpx.post(f"{url}/assistant", json={"name": "target"}, headers=AUTH, timeout=10)
        path_parameters = {"id": created.json()["id"]}
    case = schema[path][method].Case(body=body, path_parameters=path_parameters, media_type="application/json")
    response = case.call(base_url=url, headers=AUTH)
    case.validate_response(response, checks=CHECKS, headers=AUTH)
    assert response.status_code == 400, response.text
    _error_shape(response)
