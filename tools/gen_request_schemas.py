"""Regenerate mockvapi/models/request_schemas.json from the official spec (../shared/vapi/openapi.json).

The fake REST API checks request bodies at two depths: backend.py's hand-written DTO tables (top
level, class-validator messages) and, below them, these schemas. The file holds the request-body
DTOs of the implemented operations and every schema they ``$ref``, cut down to the keywords the
runtime checker (mockvapi/models/dto.py) understands and normalised for the spec's known bugs:

* ``oneOf`` -> ``anyOf``: the unions overlap (as ../shared/vapi/validate.py reads them); each union of
  objects gets ``x-discriminator`` ({"property", "mapping": value -> member indices}), inferred from
  the property (``provider``, ``type``, ``role``...) whose enum tells the members apart, which is how
  Vapi's class-transformer picks the nested DTO class;
* ``allOf`` of one ``$ref`` (how NestJS swagger spells a nested DTO), also beside a ``oneOf`` of the
  same single ref (``observabilityPlan``, ``encryptionPlan``) -> the ``$ref``;
* an ``enum`` declared on an array (``serverMessages``, ``redaction``...) -> on its items;
* ``type: object`` beside an enum of strings (``AudioFormat.format``, ``BackoffPlan.type``...) -> string;
* JavaScript regex literals (``/^...$/u``) -> Python patterns (``\\p{L}`` spelled for ``re``);
* ``nullable`` kept as is (the checker lets null through, as class-validator's @IsOptional does).

Objects with ``properties`` are closed (NestJS ``forbidNonWhitelisted``), except the deviations in
``OPEN``: tool parameter JSON Schemas, where users paste standard keywords the spec does not list.

Run: ``.venv/bin/python tools/gen_request_schemas.py`` (``--check`` exits 1 when the file is stale).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT.parent / "shared" / "vapi" / "openapi.json"
OUT = ROOT / "mockvapi" / "models" / "request_schemas.json"
PREFIX = "#/components/schemas/"

sys.path.insert(0, str(ROOT))  # the package, and tools/ as a namespace package, whatever the working folder
from mockvapi.server.openapi import schema_closure  # noqa: E402
from tools.generated_files import write_or_check  # noqa: E402

# Request bodies of the implemented operations (routes.py); /call/web is not in the spec's paths.
ROOTS = (
    "CreateAssistantDTO",
    "UpdateAssistantDTO",
    "CreateCallDTO",
    "CreateWebCallDTO",
    "UpdateCallDTO",
    "DeleteCallDTO",
    "CreateSquadDTO",
    "UpdateSquadDTO",
    *(
        f"{verb}{p}PhoneNumberDTO"
        for verb in ("Create", "Update")
        for p in ("Byo", "Twilio", "Vonage", "Vapi", "Telnyx")
    ),
)

# Objects whose unknown properties are let through (a documented deviation from the spec).
OPEN = frozenset({"JsonSchema", "OpenAIFunctionParameters"})

KEEP = frozenset(
    {"type", "enum", "required", "properties", "additionalProperties", "items", "anyOf", "oneOf", "allOf", "$ref",
     "minimum", "maximum", "minLength", "maxLength", "pattern", "format", "nullable"}
)  # fmt: skip

# JS patterns Python's re cannot read, spelled for it (\p{L}: a letter; [^\W\d_] is re's letter).
PATTERNS = {
    r"^\p{L}[\p{L}\d]*(?::[+-]?\d+)?$": r"^[^\W\d_][^\W_]*(?::[+-]?\d+)?$",
}


def _python_pattern(literal: str) -> tuple[str, str]:
    """``/^x$/u`` -> (Python pattern, the literal for messages)."""
    body = literal[1 : literal.rfind("/")] if literal.startswith("/") else literal
    body = PATTERNS.get(body, body)
    re.compile(body)  # fail the generation, not a request, on a pattern re cannot read
    shown = literal if literal.startswith("/") else f"/{literal}/"
    return body, shown


def _ref_name(node: Any) -> str | None:
    if isinstance(node, dict) and set(node) == {"$ref"} and node["$ref"].startswith(PREFIX):
        return str(node["$ref"][len(PREFIX) :])
    return None


def _only_ref(node: Any) -> Any:
    return {"$ref": node["$ref"]} if isinstance(node, dict) and "$ref" in node else node


def normalise(node: Any) -> Any:
    """One schema node in the checker's subset (see the module docstring)."""
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:  # OpenAPI 3.0: siblings of $ref (title, description) are ignored
        return {"$ref": node["$ref"][len(PREFIX) :]}
    all_of = node.pop("allOf", None)
    one_of = node.pop("oneOf", None)
    if all_of is not None:
        refs = {_ref_name(_only_ref(m)) for m in all_of} | (
            {_ref_name(_only_ref(m)) for m in one_of} if one_of is not None else set()
        )
        if len(refs) != 1 or None in refs:
            raise SystemExit(f"unexpected allOf: {all_of} / {one_of}")
        return {"$ref": next(iter(refs))}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in KEEP:
            continue
        if key == "properties":
            out[key] = {name: normalise(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = normalise(value)
        elif key == "anyOf":
            out[key] = [normalise(m) for m in value]
        elif key == "pattern":
            out["pattern"], out["x-pattern"] = _python_pattern(value)
        else:
            out[key] = value
    if one_of is not None:
        out["anyOf"] = [normalise(m) for m in one_of]
    if out.get("type") == "array" and "enum" in out:
        enum = out.pop("enum")
        items = out.setdefault("items", {"type": "string"})
        items.setdefault("enum", enum)
    if out.get("type") == "object" and "enum" in out and all(isinstance(v, str) for v in out["enum"]):
        out["type"] = "string"
    return out


def _discriminator(members: list[Any], schemas: dict[str, Any]) -> dict[str, Any] | None:
    """The property whose enum tells a union's object members apart, and value -> member indices.

    ``default`` lists the member (at most one) whose property is a free string: it takes the
    values no other member claims.
    """
    objects: dict[int, dict[str, Any]] = {}
    for i, member in enumerate(members):
        name = member.get("$ref")
        if name is not None:
            objects[i] = schemas[name]
        elif member.get("type") == "object" and "properties" in member:
            objects[i] = member
    if len(objects) < 2:
        return None
    candidates: list[tuple[int, str, dict[str, list[int]], list[int]]] = []
    common = set.intersection(*(set(s.get("properties", {})) for s in objects.values()))
    for prop in sorted(common):
        mapping: dict[str, list[int]] = {}
        default: list[int] = []  # members that take any value (CallHookCustomerSpeechTimeout's `on`)
        for i, schema in objects.items():
            enum = schema["properties"][prop].get("enum")
            if enum is None and schema["properties"][prop].get("type") == "string":
                default.append(i)
                continue
            if not enum or not all(isinstance(v, str) for v in enum):
                break
            for value in enum:
                mapping.setdefault(value, []).append(i)
        else:
            if len(mapping) >= 2 and len(default) <= 1:
                overlap = sum(len(v) - 1 for v in mapping.values()) + len(default)
                candidates.append((overlap, prop, mapping, default))
    if not candidates:
        return None
    _, prop, mapping, default = min(candidates, key=lambda c: (c[0], c[1] != "provider", c[1]))
    out: dict[str, Any] = {"property": prop, "mapping": mapping}
    if default:
        out["default"] = default
    return out


def build(spec: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = spec["components"]["schemas"]
    schemas = {name: normalise(node) for name, node in schema_closure(ROOTS, raw).items()}
    schemas = {name: _with_discriminators(node, schemas) for name, node in schemas.items()}
    for name in OPEN:
        if name in schemas:
            schemas[name]["additionalProperties"] = True
    version = str(spec.get("info", {}).get("version", ""))
    return {"source": f"openapi.json {version}".strip(), "roots": list(ROOTS), "schemas": schemas}


def _with_discriminators(node: Any, schemas: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_with_discriminators(v, schemas) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _with_discriminators(v, schemas) for k, v in node.items()}
    if "anyOf" in out:
        discriminator = _discriminator(out["anyOf"], schemas)
        if discriminator is not None:
            out["x-discriminator"] = discriminator
    return out


def render(spec_path: Path = SPEC) -> str:
    data = build(json.loads(spec_path.read_text(encoding="utf-8")))
    return json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    return write_or_check(OUT, render(), check="--check" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
