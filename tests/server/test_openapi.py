"""GET /api-json: only what mockvapi implements, with schemas copied from the official spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from mockvapi.server.openapi import ENV_VAR, OpenApiDocument, default_spec_path
from mockvapi.server.routes import documented_operations

from .conftest import SHARED, spec_checker

needs_spec = pytest.mark.skipif(
    not (SHARED / "openapi.json").is_file(), reason=f"official spec not available at {SHARED}/openapi.json"
)

IMPLEMENTED = {
    "/assistant": {"get", "post"},
    "/assistant/{id}": {"get", "patch", "delete"},
    "/phone-number": {"get", "post"},
    "/phone-number/{id}": {"get", "patch", "delete"},
    "/call": {"get", "post"},
    "/call/{id}": {"get", "patch", "delete"},
    "/call/web": {"post"},
}


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


@needs_spec
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
    assert default_spec_path().parts[-3:] == ("shared", "vapi", "openapi.json")


@needs_spec
def test_spec_checker_is_active() -> None:
    """Without ../shared the other tests still run but only check the error shape; say so here."""
    assert spec_checker() is not None
