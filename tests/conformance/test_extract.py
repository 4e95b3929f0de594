"""The spec extract mockvapi ships (mockvapi/conformance/spec_extract.json): complete and current."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mockvapi.conformance.extract import EXTRACT_PATH, extract, schemas
from mockvapi.server.openapi import EXTRA_OPERATIONS, OpenApiDocument
from mockvapi.server.routes import documented_operations

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO.parent / "shared" / "vapi" / "openapi.json"
PREFIX = "#/components/schemas/"


def _generator() -> ModuleType:
    path = REPO / "tools" / "gen_conformance_schemas.py"
    spec = importlib.util.spec_from_file_location("gen_conformance_schemas", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"][len(PREFIX) :]} if isinstance(node.get("$ref"), str) else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_shipped_extract_equals_a_fresh_extract_of_the_spec() -> None:
    """The one test that needs Vapi's spec beside the repository (users and clean clones have none)."""
    if not SPEC.is_file():
        pytest.skip(f"the official spec is not at hand ({SPEC} is absent): nothing to compare the extract with")
    fresh = _generator().render(SPEC)
    assert fresh == EXTRACT_PATH.read_text(encoding="utf-8"), "stale: run tools/gen_conformance_schemas.py"
    # and GET /api-json is the same whether it is built from the extract or from the whole spec
    operations = documented_operations()
    from_spec = OpenApiDocument(operations, SPEC).document()
    from_extract = OpenApiDocument(operations, EXTRACT_PATH).document()
    for doc in (from_spec, from_extract):
        del doc["info"]["description"]
    assert from_extract == from_spec


def test_extract_holds_every_message_schema_and_implemented_operation() -> None:
    found = schemas()
    for union in ("ServerMessage", "ClientMessage"):
        members = {m["$ref"][len(PREFIX) :] for m in found[union]["properties"]["message"]["oneOf"]}
        assert len(members) > 20 and members <= set(found)
    paths = extract()["paths"]
    for method, path in documented_operations():
        assert (method.lower(), path) in EXTRA_OPERATIONS or method.lower() in paths[path], (method, path)
    referenced = _refs(dict(found)) | _refs(dict(paths)) | _refs(dict(EXTRA_OPERATIONS))
    assert referenced <= set(found), f"dangling $refs: {sorted(referenced - set(found))[:5]}"


def test_extract_is_the_spec_verbatim_with_one_line_per_schema() -> None:
    """Nothing is fixed in the file (mockvapi.conformance.normalise does that on reading), and each
    schema is one line, so a regeneration diffs readably."""
    audio = schemas()["AudioFormat"]["properties"]["format"]
    assert audio["type"] == "object" and audio["enum"] == ["pcm_s16le", "mulaw"]  # the spec's bug, kept
    lines = EXTRACT_PATH.read_text(encoding="utf-8").splitlines()
    assert len(lines) > len(schemas())
    audio_line = next(line for line in lines if line.startswith('"AudioFormat":'))
    assert json.loads(audio_line.removeprefix('"AudioFormat":').rstrip(",")) == schemas()["AudioFormat"]


def test_generator_builds_the_closure_of_messages_and_operations() -> None:
    """The generator on a tiny spec: messages and operations are roots, refs are followed, the rest left out."""
    spec = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "2"},
        "paths": {"/call": {"get": {"responses": {"200": {"$ref": PREFIX + "Call"}}}, "put": {"x": 1}}},
        "components": {
            "securitySchemes": {"bearer": {}},
            "schemas": {
                "ServerMessageHang": {"properties": {"call": {"$ref": PREFIX + "Call"}}},
                "Call": {"properties": {"a": {"$ref": PREFIX + "Assistant"}}},
                "Assistant": {},
                "Unused": {},
                "WebDTO": {},
            },
        },
    }
    extra = {("post", "/call/web"): {"requestBody": {"$ref": PREFIX + "WebDTO"}}}
    built = _generator().build(spec, [("get", "/call"), ("post", "/call/web")], extra)
    assert list(built["components"]["schemas"]) == ["Assistant", "Call", "ServerMessageHang", "WebDTO"]
    assert built["paths"] == {"/call": {"get": spec["paths"]["/call"]["get"]}}  # type: ignore[index]
    assert json.loads(_generator().render_extract(built)) == built
