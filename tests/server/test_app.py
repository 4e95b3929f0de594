"""Whatever a client sends, the app answers JSON in Vapi's NestJS error shape, never a 5xx.

The `http` fixture's hook also asserts, for every response here, the error body shape, that
``statusCode`` equals the HTTP status, and that the status is below 500.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mockvapi.server import ERRORS_KEY, create_app
from mockvapi.server.app import cors_granted

from .conftest import ResponseLog, loopback_client, serve


async def _error(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status
    return body["message"]


# -- auth -------------------------------------------------------------------------------------------


async def test_missing_token_is_401(http: httpx.AsyncClient) -> None:
    response = await http.get("/assistant", headers={"Authorization": ""})
    assert "Missing Authorization" in await _error(response, 401)
    assert response.json()["error"] == "Unauthorized"


@pytest.mark.parametrize("header", ["Bearer", "Basic dGVzdA==", "token test-token"])
async def test_malformed_authorization_is_401(http: httpx.AsyncClient, header: str) -> None:
    assert "Invalid Key" in await _error(await http.get("/call", headers={"Authorization": header}), 401)


async def test_configured_tokens_make_auth_strict(responses: ResponseLog) -> None:
    app = create_app(tokens="secret")  # a single string is one token, not a set of characters
    async with serve(app, responses, token=None) as c:
        assert (await c.get("/assistant", headers={"Authorization": "Bearer s"})).status_code == 401
        assert (await c.get("/assistant", headers={"Authorization": "Bearer other"})).status_code == 401
        assert (await c.get("/assistant", headers={"Authorization": "bearer secret"})).status_code == 200


async def test_api_json_and_unknown_routes_need_no_token(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api-json", headers={"Authorization": ""})).status_code == 200
    await _error(await http.get("/nowhere", headers={"Authorization": ""}), 404)


# -- bad requests ------------------------------------------------------------------------------------


async def test_malformed_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post("/assistant", content=b'{"name": "x",', headers={"Content-Type": "application/json"})
    assert "in JSON at position 13" in await _error(response, 400)


@pytest.mark.parametrize(
    "raw",
    [
        b"NaN",
        b'{"maxDurationSeconds": Infinity}',
        b'{"metadata": {"x": 1e999}}',
        b'{"metadata": {"x": -1E400}}',
        b"\xff\xfe{}",
        b"[" * 100_000,
        b"[" * 100 + b"]" * 100,
    ],
    ids=["nan", "infinity", "overflow", "negative-overflow", "not-utf8", "recursion", "too-deep"],
)
async def test_unparseable_or_absurd_json_is_400(http: httpx.AsyncClient, raw: bytes) -> None:
    await _error(await http.post("/assistant", content=raw, headers={"Content-Type": "application/json"}), 400)


async def test_non_json_content_type_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post("/assistant", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert "Content-Type must be application/json" in await _error(response, 400)


async def test_body_that_is_not_an_object_is_400(http: httpx.AsyncClient) -> None:
    assert await _error(await http.post("/call", json=[1, 2]), 400) == ["request body must be a JSON object"]


async def test_wrong_types_list_every_field_like_class_validator(http: httpx.AsyncClient) -> None:
    body = {"assistantId": 5, "name": "n" * 41, "customer": {"number": 1}, "transport": {"provider": "carrier-pigeon"}}
    assert await _error(await http.post("/call", json=body), 400) == [
        "transport.provider must be one of the following values: "
        "vapi.websocket, vonage, twilio, vapi.sip, telnyx, daily",
        "name must be shorter than or equal to 40 characters",
        "assistantId must be a string",
        "customer.number must be a string",
    ]


async def test_unknown_property_is_rejected(http: httpx.AsyncClient) -> None:
    assert await _error(await http.post("/assistant", json={"nmae": "typo"}), 400) == ["property nmae should not exist"]


async def test_bad_list_query_is_400(http: httpx.AsyncClient) -> None:
    response = await http.get("/call", params={"limit": "1001", "createdAtGt": "yesterday", "assistant_id": "x"})
    assert await _error(response, 400) == [
        "property assistant_id should not exist",
        "limit must not be greater than 1000",
        "createdAtGt must be a valid ISO 8601 date string",
    ]


async def test_call_needs_something_to_run(http: httpx.AsyncClient) -> None:
    assert "Need Either `assistant`" in await _error(await http.post("/call", json={}), 400)
    assert "Need Either `assistant`" in await _error(await http.post("/call"), 400)  # empty body is {}


async def test_call_references_must_exist(http: httpx.AsyncClient) -> None:
    assert "Not Found" in await _error(await http.post("/call", json={"assistantId": "missing"}), 400)
    body = {"assistant": {"name": "x"}, "phoneNumberId": "missing", "customer": {"number": "+15550100"}}
    assert "Not Found" in await _error(await http.post("/call", json=body), 400)
    body = {"assistant": {"name": "x"}, "customer": {"number": "+15550100"}}
    assert "phoneNumberId" in await _error(await http.post("/call", json=body), 400)


async def test_phone_number_needs_a_known_provider(http: httpx.AsyncClient) -> None:
    message = await _error(await http.post("/phone-number", json={"provider": "sprint"}), 400)
    assert message == ["provider must be one of the following values: byo-phone-number, twilio, vonage, vapi, telnyx"]
    twilio = await _error(await http.post("/phone-number", json={"provider": "twilio"}), 400)
    assert "twilioAccountSid should not be empty" in twilio


async def test_two_megabyte_body_is_413(http: httpx.AsyncClient) -> None:
    response = await http.post("/assistant", json={"firstMessage": "x" * (2 * 1024 * 1024)})
    assert "too large" in await _error(response, 413)
    assert response.json()["error"] == "Payload Too Large"


# -- not found -----------------------------------------------------------------------------------------


async def test_unknown_endpoint_says_not_implemented_in_mockvapi(http: httpx.AsyncClient) -> None:
    message = await _error(await http.get("/workflow"), 404)
    assert message == "Cannot GET /workflow: this endpoint is not implemented in mockvapi"


async def test_wrong_method_is_404_like_nestjs(http: httpx.AsyncClient) -> None:
    assert "Cannot PUT /assistant" in await _error(await http.put("/assistant", json={}), 404)


@pytest.mark.parametrize("path", ["/assistant/none", "/phone-number/none", "/call/none"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_ids_are_404(http: httpx.AsyncClient, method: str, path: str) -> None:
    await _error(await http.request(method, path, json={}), 404)


# -- internal errors -------------------------------------------------------------------------------------


async def test_a_bug_answers_json_500_and_is_kept_for_the_harness(caplog: pytest.LogCaptureFixture) -> None:
    async def buggy(request: web.Request) -> web.Response:
        raise KeyError("oops")

    app = create_app(extra_routes=[web.get("/_mockvapi/buggy", buggy)])
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    async with loopback_client(base_url=str(srv.make_url(""))) as c:  # unhooked: this one is a 500
        response = await c.get("/_mockvapi/buggy")
    await srv.close()
    assert response.status_code == 500
    assert response.json()["error"] == "Internal Server Error"
    assert "Traceback" not in response.text
    assert [type(e) for e in app[ERRORS_KEY].errors] == [KeyError]
    assert "internal error" in caplog.text


async def test_browsers_get_cors_for_the_web_sdks_post_call_web_only(http: httpx.AsyncClient) -> None:
    page = {"Origin": "http://localhost:3000"}
    preflight = await http.options("/call/web", headers={**page, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    created = await http.post("/call/web", headers=page, json={"assistant": {"name": "Riley"}})
    assert created.status_code == 201 and created.headers["Access-Control-Allow-Origin"] == "*"
    refused = await http.post("/call/web", headers={**page, "Authorization": ""}, json={})
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == "*"  # SDK reads it
    # Anything else would let any page read calls (their capability URLs) and assistants (their secrets).
    for path in ("/call", "/assistant", "/call/some-id", "/nowhere"):
        asked = await http.options(path, headers={**page, "Access-Control-Request-Method": "GET"})
        assert "Access-Control-Allow-Origin" not in asked.headers, path
        assert "Access-Control-Allow-Origin" not in (await http.get(path, headers=page)).headers, path


def test_the_swallowed_error_log_keeps_the_last_ones_and_counts_all() -> None:
    from mockvapi.server.handlers import ErrorLog

    log = ErrorLog(keep=3)
    for n in range(5):
        log.record(ValueError(n))
    assert [str(e) for e in log.errors] == ["2", "3", "4"]
    assert log.total == 5


@pytest.mark.parametrize(
    ("method", "path", "granted"),
    [
        ("POST", "/call/web", True),  # @vapi-ai/web's start(), with the public key
        ("POST", "/call", True),  # a web call made with a web transport
        ("GET", "/5b7e7d1c-0000-4000-8000-000000000000/web", True),  # the stand-in asks whether the call exists
        ("GET", "/_mockvapi-web/daily.js", True),
        ("GET", "/_mockvapi-web/daily.cjs", True),
        ("GET", "/call", False),  # would hand any page the capability URLs of every call
        ("GET", "/call/5b7e7d1c-0000-4000-8000-000000000000", False),
        ("DELETE", "/call/web", False),
        ("GET", "/_mockvapi/web", False),
        ("GET", "/_mockvapi/journal", False),
        ("POST", "/_mockvapi/scenarios", False),
        ("POST", "/assistant", False),
    ],
)
def test_cors_is_granted_only_where_the_web_sdk_needs_it(method: str, path: str, granted: bool) -> None:
    assert cors_granted(method, path) is granted
