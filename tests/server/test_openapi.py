"""GET /api-json: only what mockvapi implements, with schemas copied from the official spec (the
extract mockvapi ships, unless MOCKVAPI_OPENAPI names a copy of the spec)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockvapi.conformance.extract import EXTRACT_PATH
from mockvapi.server.openapi import ENV_VAR, OpenApiDocument, default_spec_path
from mockvapi.server.routes import documented_operations

from .conftest import spec_checker

IMPLEMENTED = {
    "/assistant": {"get", "post"},
    "/assistant/{id}": {"get", "patch", "delete"},
    "/phone-number": {"get", "post"},
    "/phone-number/{id}": {"get", "patch", "delete"},
    "/call": {"get", "post"},
    "/call/{id}": {"get", "patch", "delete"},
    "/call/web": {"post"},
    "/squad": {"get", "post"},
    "/squad/{id}": {"get", "patch", "delete"},
}


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


async def test_api_json_lists_only_implemented_operations_with_closed_refs(http: httpx.AsyncClient) -> None:
    response = await http.get("/api-json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    assert {path: set(ops) for path, ops in doc["paths"].items()} == IMPLEMENTED
    assert doc["servers"] == [{"url": str(http.base_url).rstrip("/")}]
    assert doc["paths"]["/call"]["post"]["operationId"] == "CallController_create"
    schemas = doc["components"]["schemas"]
    assert {"Call", "Assistant", "CreateWebCallDTO", "CallBatchResponse"} <= set(schemas)
    missing = {r for r in _refs(doc) if r.removeprefix("#/components/schemas/") not in schemas}
    assert not missing
    assert "bearer" in doc["components"]["securitySchemes"]
    assert doc["info"]["description"].endswith("Schemas: copied from Vapi's openapi.json (the extract mockvapi ships).")
    assert doc["paths"]["/call/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Call"
    }


def test_missing_spec_gives_a_thin_document_that_says_why(tmp_path: Path) -> None:
    doc = OpenApiDocument(documented_operations(), tmp_path / "absent.json").document()
    assert {path: set(ops) for path, ops in doc["paths"].items()} == IMPLEMENTED
    assert "not found" in doc["info"]["description"] and ENV_VAR in doc["info"]["description"]
    assert "components" not in doc
    assert doc["paths"]["/call/{id}"]["get"]["parameters"][0]["name"] == "id"


def test_unreadable_spec_is_reported_not_raised(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    doc = OpenApiDocument(documented_operations(), broken).document()
    assert "unreadable" in doc["info"]["description"]


def test_env_var_names_the_spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "spec.json"))
    assert default_spec_path() == tmp_path / "spec.json"
    monkeypatch.delenv(ENV_VAR)
    assert default_spec_path() == EXTRACT_PATH


def test_a_named_spec_is_served_instead_of_the_extract(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    call = {"type": "object", "properties": {"id": {"type": "string"}}}
    spec.write_text(json.dumps({
        "openapi": "3.0.0", "info": {"version": "9"},
        "paths": {"/call/{id}": {"get": {"operationId": "mine", "responses": {"200": {"content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Call"}}}}}}}},
        "components": {"schemas": {"Call": call, "Unused": {}}},
    }))
    doc = OpenApiDocument([("GET", "/call/{id}")], spec).document()
    assert doc["paths"]["/call/{id}"]["get"]["operationId"] == "mine"
    assert doc["components"]["schemas"] == {"Call": call}
    assert doc["info"]["description"].endswith("Schemas: copied from spec.json.")


def test_response_checker_rejects_a_body_that_breaks_the_spec() -> None:
    """The hook every server test's responses pass through checks against the spec, for real."""
    checker = spec_checker()
    assert checker.errors("GET", "/call/{id}", 200, {"id": "c1", "orgId": "o", "createdAt": "2026-01-01T00:00:00Z",
                                                      "updatedAt": "2026-01-01T00:00:00Z", "type": "webCall"}) == []
    assert checker.errors("GET", "/call/{id}", 200, {"id": 5, "orgId": "o", "createdAt": "x", "updatedAt": "x",
                                                      "type": "pigeonCall"}) == [
        '$.type: expected one of "inboundPhoneCall", "outboundPhoneCall", "webCall", "vapi.websocketCall", '
        'found "pigeonCall" (Call)',
        '$.id: expected type string, found integer 5 (Call)',
    ]
    assert checker.errors("GET", "/phone-number", 200, [{"provider": "twilio"}])[0].startswith("$[0].")
