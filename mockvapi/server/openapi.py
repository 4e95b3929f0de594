"""The OpenAPI document served at ``GET /api-json``: only what mockvapi implements.

Operations and their schemas (with every transitively ``$ref``-ed component) are copied from the
official Vapi spec, found at, in order: the ``spec_path`` argument, the ``MOCKVAPI_OPENAPI``
environment variable, the extract of it that mockvapi ships (`mockvapi.conformance.extract`,
which holds every implemented operation). A named file that is missing or unreadable gives a
document that lists the implemented paths and says why it is thin.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mockvapi.conformance.extract import EXTRACT_PATH

__all__ = ["ENV_VAR", "EXTRA_OPERATIONS", "OpenApiDocument", "default_spec_path", "schema_closure", "schema_refs"]

log = logging.getLogger("mockvapi.server")

ENV_VAR = "MOCKVAPI_OPENAPI"
_SCHEMA_PREFIX = "#/components/schemas/"

# Endpoints Vapi serves that its spec does not list (PROTOCOL.md 1b: the web SDK's vapi.start()).
EXTRA_OPERATIONS: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("post", "/call/web"): {
        "operationId": "CallController_createWebCall",
        "summary": "Create Web Call",
        "description": "Used by the web SDK's vapi.start(); not in the official spec's paths.",
        "tags": ["Calls"],
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _SCHEMA_PREFIX + "CreateWebCallDTO"}}},
        },
        "responses": {
            "201": {
                "description": "",
                "content": {"application/json": {"schema": {"$ref": _SCHEMA_PREFIX + "Call"}}},
            }
        },
    },
}

_NOTE = (
    "The subset of the Vapi API that mockvapi implements. Per-call endpoints the call engine "
    "serves are not listed: GET /{callId}/transport and /{callId}/listen (websockets), "
    "POST /{callId}/control."
)


def default_spec_path() -> Path:
    """The spec MOCKVAPI_OPENAPI names, else the extract mockvapi ships."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return EXTRACT_PATH


def schema_refs(node: object) -> Iterable[str]:
    """The component schema names ``node`` refers to with ``$ref``, anywhere inside it."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(_SCHEMA_PREFIX):
                yield ref[len(_SCHEMA_PREFIX) :]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def schema_closure(roots: Iterable[str], schemas: Mapping[str, Any]) -> dict[str, Any]:
    """``roots`` and every schema they reference, transitively, sorted by name (unknown names are left out)."""
    found: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found or name not in schemas:
            continue
        found[name] = schemas[name]
        todo.extend(schema_refs(schemas[name]))
    return dict(sorted(found.items()))


class OpenApiDocument:
    """The document for ``operations`` ((method, path) pairs), built on first use.

    Builds are shared between instances (per operations, spec file and its mtime), since every
    test app gets its own instance and the spec takes a while to parse.
    """

    def __init__(self, operations: Iterable[tuple[str, str]], spec_path: str | os.PathLike[str] | None = None):
        self.operations = tuple((method.lower(), path) for method, path in operations)
        self.spec_path = Path(spec_path) if spec_path is not None else default_spec_path()

    def __repr__(self) -> str:
        return f"OpenApiDocument(spec_path={str(self.spec_path)!r}, operations={len(self.operations)})"

    def _built(self) -> dict[str, Any]:
        try:
            stat = self.spec_path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        return _build(self.operations, self.spec_path, stamp)

    def document(self, *, server_url: str | None = None) -> dict[str, Any]:
        """The document (a fresh copy); ``server_url`` becomes its only ``servers`` entry."""
        return copy.deepcopy(self._shallow(server_url))

    def render(self, *, server_url: str | None = None) -> str:
        """The document as JSON text (what GET /api-json serves), without copying it first."""
        return json.dumps(self._shallow(server_url))

    def _shallow(self, server_url: str | None) -> dict[str, Any]:
        doc = dict(self._built())
        if server_url is not None:
            doc["servers"] = [{"url": server_url}]
        return doc


def _load(spec_path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"official spec not found at {spec_path} (set {ENV_VAR})"
    except (OSError, ValueError) as exc:
        log.warning("mockvapi: cannot read the OpenAPI spec %s: %s", spec_path, exc)
        return None, f"official spec at {spec_path} is unreadable: {exc}"
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        return None, f"{spec_path} is not an OpenAPI document"
    if spec_path == EXTRACT_PATH:
        return spec, "copied from Vapi's openapi.json (the extract mockvapi ships)"
    return spec, f"copied from {spec_path.name}"


@functools.lru_cache(maxsize=8)
def _build(operations: tuple[tuple[str, str], ...], spec_path: Path, stamp: tuple[int, int] | None) -> dict[str, Any]:
    """Build the document; ``stamp`` (mtime, size) only keys the cache so an edited spec is re-read."""
    spec, source = _load(spec_path)
    spec_paths: Mapping[str, Any] = spec["paths"] if spec else {}
    paths: dict[str, dict[str, Any]] = {}
    for method, path in operations:
        operation = spec_paths.get(path, {}).get(method) or EXTRA_OPERATIONS.get((method, path))
        if spec is None or operation is None:
            params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
            operation = {
                "summary": f"{method.upper()} {path}",
                "parameters": [
                    {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
                ],
                "responses": {"default": {"description": "See the official Vapi API reference."}},
            }
        paths.setdefault(path, {})[method] = dict(operation)
    info = {
        "title": "Vapi API (mockvapi)",
        "version": str((spec or {}).get("info", {}).get("version", "1.0")),
        "description": f"{_NOTE} Schemas: {source}.",
    }
    doc: dict[str, Any] = {
        "openapi": str((spec or {}).get("openapi", "3.0.0")),
        "info": info,
        "paths": paths,
    }
    if spec is not None:
        components = spec.get("components", {})
        doc["components"] = {
            "securitySchemes": copy.deepcopy(components.get("securitySchemes", {})),
            "schemas": copy.deepcopy(schema_closure(schema_refs(paths), components.get("schemas", {}))),
        }
    return doc
