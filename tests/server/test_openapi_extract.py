"""The OpenAPI extract the package ships: GET /api-json is complete on a machine without the spec."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from mockvapi.server import openapi
from mockvapi.server.openapi import ENV_VAR, SHIPPED_EXTRACT, OpenApiDocument
from mockvapi.server.routes import documented_operations

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO.parent / "shared" / "vapi" / "openapi.json"


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


@pytest.fixture
def no_spec_beside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A user's machine: no MOCKVAPI_OPENAPI and no ../shared beside the package."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(openapi, "default_spec_path", lambda: tmp_path / "shared" / "vapi" / "openapi.json")


@pytest.mark.usefixtures("no_spec_beside")
def test_without_the_spec_the_shipped_extract_gives_the_full_document() -> None:
    document = OpenApiDocument(documented_operations())
    assert document.spec_path == SHIPPED_EXTRACT
    doc: dict[str, Any] = document.document()
    assert "openapi_extract.json" in doc["info"]["description"]
    schemas = doc["components"]["schemas"]
    assert {"Call", "Assistant", "CreateAssistantDTO", "CreateWebCallDTO", "CallBatchResponse"} <= set(schemas)
    assert doc["paths"]["/call"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateCallDTO"
    }
    assert doc["paths"]["/call/web"]["post"]["operationId"] == "CallController_createWebCall"
    missing = {r for r in _refs(doc) if r.removeprefix("#/components/schemas/") not in schemas}
    assert not missing
    assert "bearer" in doc["components"]["securitySchemes"]


def test_a_named_spec_that_is_missing_still_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The extract stands in only for the default location, never for a spec the user named."""
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "absent.json"))
    doc = OpenApiDocument(documented_operations()).document()
    assert "not found" in doc["info"]["description"] and "components" not in doc


def test_the_extract_is_package_data() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"openapi_extract.json"' in pyproject
    assert SHIPPED_EXTRACT.parent == Path(openapi.__file__).resolve().parent


@pytest.mark.skipif(not SPEC.is_file(), reason=f"official spec not available at {SPEC} (only needed to regenerate)")
def test_shipped_extract_equals_a_fresh_extract_from_the_spec() -> None:
    spec = importlib.util.spec_from_file_location("gen_openapi_extract", REPO / "tools" / "gen_openapi_extract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(SPEC) == SHIPPED_EXTRACT.read_text(encoding="utf-8"), "run tools/gen_openapi_extract.py"
    from_spec = OpenApiDocument(documented_operations(), SPEC).document()
    from_extract = OpenApiDocument(documented_operations(), SHIPPED_EXTRACT).document()
    for doc in (from_spec, from_extract):
        doc["info"].pop("description")
    assert from_spec == from_extract
