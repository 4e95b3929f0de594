"""Regenerate mockvapi/conformance/spec_extract.json from the official spec (../shared/vapi/openapi.json).

Users have no copy of Vapi's 3 MB spec, so mockvapi ships the part it needs: a small OpenAPI
document holding

* every ``ServerMessage*`` and ``ClientMessage*`` schema (what `mockvapi.conformance` checks
  messages against, and the replies Vapi expects to them);
* the operations the fake REST API implements (`mockvapi.server.routes.documented_operations`,
  plus the web SDK's ``POST /call/web``, which the spec's paths lack): what ``GET /api-json``
  serves and what the tests check response bodies against;
* every schema those reference, transitively.

Everything is copied verbatim (descriptions and examples too: ``/api-json`` serves them, and
schemathesis reads the examples). The spec's bugs are NOT fixed here but where the schemas are
read, in one place: `mockvapi.conformance.normalise`.

Run: ``.venv/bin/python tools/gen_conformance_schemas.py`` (``--check`` exits 1 when the file is
stale; tests/conformance/test_extract.py runs the same comparison whenever the spec is at hand).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT.parent / "shared" / "vapi" / "openapi.json"
OUT = ROOT / "mockvapi" / "conformance" / "spec_extract.json"
PREFIX = "#/components/schemas/"
MESSAGE_PREFIXES = ("ServerMessage", "ClientMessage")
SOURCE = "VapiAI/docs fern/apis/api/openapi.json"


def _refs(node: Any) -> Iterable[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(PREFIX):
                yield ref[len(PREFIX) :]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _operations() -> tuple[list[tuple[str, str]], Mapping[tuple[str, str], Any]]:
    sys.path.insert(0, str(ROOT))
    from mockvapi.server.openapi import EXTRA_OPERATIONS
    from mockvapi.server.routes import documented_operations

    return [(method.lower(), path) for method, path in documented_operations()], EXTRA_OPERATIONS


def build(
    spec: Mapping[str, Any],
    operations: list[tuple[str, str]],
    extra: Mapping[tuple[str, str], Any],
) -> dict[str, Any]:
    """The extract of ``spec``: ``operations`` found in its paths, message schemas, their closure."""
    raw: Mapping[str, Any] = spec["components"]["schemas"]
    paths: dict[str, dict[str, Any]] = {}
    for method, path in operations:
        operation = spec["paths"].get(path, {}).get(method)
        if operation is not None:
            paths.setdefault(path, {})[method] = operation
    roots = [name for name in raw if name.startswith(MESSAGE_PREFIXES)]
    roots += _refs(paths)
    roots += _refs([op for key, op in extra.items() if key in operations])
    found: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in found:
            found[name] = raw[name]
            todo.extend(_refs(raw[name]))
    info = spec.get("info", {})
    return {
        "openapi": spec.get("openapi", "3.0.0"),
        "info": {
            "title": info.get("title", "Vapi API"),
            "version": info.get("version", ""),
            "description": (
                f"An extract of Vapi's official OpenAPI spec ({SOURCE}), made by "
                "tools/gen_conformance_schemas.py: the message schemas and the operations mockvapi implements."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": spec.get("components", {}).get("securitySchemes", {}),
            "schemas": dict(sorted(found.items())),
        },
    }


def render_extract(data: Mapping[str, Any]) -> str:
    """Compact JSON with one line per path and per schema, so a regeneration diffs readably."""

    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def block(mapping: Mapping[str, Any]) -> str:
        return "{\n" + ",\n".join(f"{one(key)}:{one(value)}" for key, value in mapping.items()) + "\n}"

    head = ",".join(f"{one(key)}:{one(data[key])}" for key in ("openapi", "info"))
    components = data["components"]
    return (
        f"{{{head},\n\"paths\":{block(data['paths'])},\n\"components\":{{"
        f"\"securitySchemes\":{one(components['securitySchemes'])},\n\"schemas\":{block(components['schemas'])}}}}}\n"
    )


def render(spec_path: Path = SPEC) -> str:
    operations, extra = _operations()
    return render_extract(build(json.loads(spec_path.read_text(encoding="utf-8")), operations, extra))


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        stale = not OUT.exists() or OUT.read_text(encoding="utf-8") != text
        print(f"{OUT.name}: {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
