"""The browser guard: Host names DNS rebinding cannot produce, the requests a page can forge, and
tokens compared in constant time. (tests/server/test_security.py drives the same over real HTTP.)"""

from __future__ import annotations

import hmac

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from mockvapi.errors import Forbidden, UnsupportedMediaType
from mockvapi.server import guard
from mockvapi.server.guard import check_control_request, host_allowed, host_name, token_matches


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "::1",
                                  "10.0.0.7:80", "app.localhost:3000", "mockvapi:8000"])
def test_hosts_that_cannot_be_rebound_pass(host: str) -> None:
    assert host_allowed(host, {"mockvapi"})


@pytest.mark.parametrize("host", ["evil.example:8000", "127.0.0.1.nip.io:8000", "localhost.evil.example", "",
                                  "mockvapi.evil.example"])
def test_dns_names_not_configured_are_refused(host: str) -> None:
    assert not host_allowed(host, {"mockvapi"})


def test_host_name_strips_port_and_brackets() -> None:
    assert [host_name(h) for h in ("[::1]:80", "A.B:1", "::1", "x")] == ["::1", "a.b", "::1", "x"]


def test_token_matches_compares_every_token_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(guard.hmac, "compare_digest", spy)
    assert token_matches("tok-2", ["tok-1", "tok-2", "tok-3"])
    assert len(compared) == 3  # no early exit on the match
    assert not token_matches("tok", ["tok-1"]) and not token_matches("", ["x"])


def _request(method: str, headers: dict[str, str], body: bytes = b"") -> object:
    all_headers = CIMultiDict({"Host": "127.0.0.1:8000", **headers})
    if body:
        all_headers["Content-Length"] = str(len(body))
    return make_mocked_request(method, "/_mockvapi/scenarios", headers=all_headers)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://localhost:3000"},
     {"Origin": "http://127.0.0.1:8001"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
)
def test_what_another_page_sends_is_forbidden(headers: dict[str, str]) -> None:
    with pytest.raises(Forbidden):
        check_control_request(_request("GET", headers))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                  "multipart/form-data; boundary=x", None])
def test_bodies_a_page_can_post_without_a_preflight_are_refused(kind: str | None) -> None:
    headers = {"Content-Type": kind} if kind else {}
    with pytest.raises(UnsupportedMediaType):
        check_control_request(_request("POST", headers, b'{"path": "x"}'))  # type: ignore[arg-type]


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://127.0.0.1:8000"}, {"Sec-Fetch-Site": "same-origin"},
                                     {"Sec-Fetch-Site": "none"}, {"Content-Type": "application/json"},
                                     {"Content-Type": "application/yaml"}])
def test_scripts_curl_and_the_servers_own_pages_pass(headers: dict[str, str]) -> None:
    method = "POST" if "Content-Type" in headers else "GET"
    check_control_request(_request(method, headers, b"{}" if method == "POST" else b""))  # type: ignore[arg-type]
    check_control_request(_request("POST", {"Origin": "http://mock:9"}), "http://mock:9")  # type: ignore[arg-type]
