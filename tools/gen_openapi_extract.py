"""Regenerate mockvapi/server/openapi_extract.json from the official spec (../shared/vapi/openapi.json).

``GET /api-json`` serves the operations mockvapi implements with their schemas copied from Vapi's
spec (mockvapi/server/openapi.py). Users have no copy of the 3 MB spec, so the package ships this
extract: the spec's ``openapi`` and ``info.version``, the implemented operations (routes.py) as the
spec spells them, the ``bearer`` security scheme, and every schema those operations (and
``EXTRA_OPERATIONS``, such as ``POST /call/web``) ``$ref``, transitively. Nothing is rewritten: the
served document is the official text whether it comes from the spec or from this extract.

Run: ``.venv/bin/python tools/gen_openapi_extract.py`` (``--check`` exits 1 when the file is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mockvapi.server.openapi import EXTRA_OPERATIONS, SHIPPED_EXTRACT, _closure, _refs  # noqa: E402
from mockvapi.server.routes import documented_operations  # noqa: E402

SPEC = ROOT.parent / "shared" / "vapi" / "openapi.json"


def build(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path in documented_operations():
        operation = spec["paths"].get(path, {}).get(method.lower())
        if operation is not None:
            paths.setdefault(path, {})[method.lower()] = operation
    components = spec.get("components", {})
    roots = list(_refs(paths)) + [ref for op in EXTRA_OPERATIONS.values() for ref in _refs(op)]
    return {
        "openapi": spec.get("openapi", "3.0.0"),
        "info": {"version": str(spec.get("info", {}).get("version", "1.0"))},
        "paths": paths,
        "components": {
            "securitySchemes": components.get("securitySchemes", {}),
            "schemas": _closure(roots, components.get("schemas", {})),
        },
    }


def render(spec_path: Path = SPEC) -> str:
    data = build(json.loads(spec_path.read_text(encoding="utf-8")))
    return json.dumps(data, separators=(",", ":")) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        stale = not SHIPPED_EXTRACT.exists() or SHIPPED_EXTRACT.read_text(encoding="utf-8") != text
        print(f"{SHIPPED_EXTRACT.name}: {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    SHIPPED_EXTRACT.write_text(text, encoding="utf-8")
    print(f"wrote {SHIPPED_EXTRACT.relative_to(ROOT)} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
