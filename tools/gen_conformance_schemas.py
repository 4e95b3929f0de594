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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT.parent / "shared" / "vapi" / "openapi.json"
OUT = ROOT / "mockvapi" / "conformance" / "spec_extract.json"
PREFIX = "#/components/schemas/"
MESSAGE_PREFIXES = ("ServerMessage", "ClientMessage")
SOURCE = "VapiAI/docs fern/apis/api/openapi.json"

sys.path.insert(0, str(ROOT))  # the package, and tools/ as a namespace package, whatever the working folder
from mockvapi.server.openapi import schema_closure, schema_refs  # noqa: E402
from tools.generated_files import write_or_check  # noqa: E402


def _operations() -> tuple[list[tuple[str, str]], Mapping[tuple[str, str], Any]]:
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
    roots += schema_refs(paths)
    roots += schema_refs([op for key, op in extra.items() if key in operations])
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
            "schemas": schema_closure(roots, raw),
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
    return write_or_check(OUT, render(), check="--check" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
