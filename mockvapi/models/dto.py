"""Request-body checks below the DTO tables: the spec's nested DTOs, in class-validator's words.

The REST API (mockvapi/server/backend.py) checks a body's top-level properties with its tables;
what lies inside an object they only know as ``Field("object")`` (a phone number's
``fallbackDestination``, an assistant's ``voice``, ``model``, ``server.backoffPlan``...) is checked
here against the schemas tools/gen_request_schemas.py extracted from the official spec into
``request_schemas.json`` (shipped with the package; the 3 MB spec is not). Vapi validates nested DTOs
too (NestJS ValidationPipe, whitelist + forbidNonWhitelisted), so a bad nested value is a 400, and
the mock never echoes it back. The call engine checks an assistant-request reply's assistant with the
same schemas (`RequestSchemas.body_errors`), which is why they live below it.

The checker understands the subset of JSON Schema the extracted file uses: ``type`` (string,
number, integer, boolean, object, array), ``enum``, ``required``, ``properties`` (closed unless
``additionalProperties`` says otherwise), ``additionalProperties``, ``items``, ``anyOf`` (the spec's
``oneOf``) with ``x-discriminator`` (how class-transformer picks a union member by ``provider``,
``type``...), ``minimum``/``maximum``, ``minLength``/``maxLength``, ``pattern``, ``format``
(uri, date-time, uuid), ``nullable`` and ``$ref``. Messages follow class-validator:
``voice.voiceId must be a string``, ``property voice.foo should not exist``,
``each value in serverMessages must be one of the following values: ...``.
"""

from __future__ import annotations

import functools
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from mockvapi.models.nesting import MAX_JSON_DEPTH

__all__ = ["RequestSchemas", "Schema", "request_schemas", "server_url_errors"]

Schema = Mapping[str, Any]

_RESOURCE = "request_schemas.json"
_PRIMITIVES = frozenset({"string", "number", "integer", "boolean"})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer(value: object) -> bool:
    # class-validator's IsInt is JS Number.isInteger: 3.0 counts.
    return _is_number(value) and float(value).is_integer()  # type: ignore[arg-type]


_TYPE_CHECKS: Mapping[str, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
_KIND_OF: Mapping[type, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
}
_TYPE_MESSAGES: Mapping[str, str] = {
    "string": "must be a string",
    "number": "must be a number conforming to the specified constraints",
    "integer": "must be an integer number",
    "boolean": "must be a boolean value",
    "object": "must be an object",
    "array": "must be an array",
}


def _is_uri(text: str) -> bool:
    parts = urlsplit(text)
    return bool(parts.scheme) and bool(parts.netloc)


def _is_date_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return False
    return True


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


_FORMATS: Mapping[str, tuple[Callable[[str], bool], str]] = {
    "uri": (_is_uri, "must be a URL address"),
    "date-time": (_is_date_time, "must be a valid ISO 8601 date string"),
    "uuid": (_is_uuid, "must be a UUID"),
}


@functools.lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class RequestSchemas:
    """The extracted request-body schemas (``{"schemas": {name: schema}, ...}``) and their checker."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.schemas: Mapping[str, Schema] = data["schemas"]
        self.source = str(data.get("source", ""))

    def __repr__(self) -> str:
        return f"RequestSchemas(source={self.source!r}, schemas={len(self.schemas)})"

    def resolve(self, node: Schema) -> Schema:
        """``node`` with its ``$ref`` (a schema name) followed."""
        while "$ref" in node:
            node = self.schemas[node["$ref"]]
        return node

    def property(self, schema: Schema | None, name: str) -> Schema | None:
        """The schema of property ``name`` of an object ``schema`` (None when either is unknown)."""
        if schema is None:
            return None
        props: Mapping[str, Schema] | None = self.resolve(schema).get("properties")
        return None if props is None else props.get(name)

    def object_schema(self, node: Schema | None) -> Schema | None:
        """``node`` resolved, when it is one object with properties (not a union); else None."""
        if node is None:
            return None
        node = self.resolve(node)
        return node if "properties" in node else None

    def items(self, node: Schema | None) -> Schema | None:
        """The items schema of an array schema ``node``."""
        if node is None:
            return None
        items: Schema | None = self.resolve(node).get("items")
        return items

    def body_errors(self, body: object, dto: str) -> list[str]:
        """class-validator messages for a whole request body against the spec's schema ``dto``
        (``CreateAssistantDTO``...), worded as the REST API words them (``property foo should not exist``,
        ``model.systemPrompt ...``). The call engine judges an assistant-request reply's assistant with it."""
        if not isinstance(body, dict):
            return ["request body must be a JSON object"]
        out: list[str] = []
        self._object(body, self.resolve(self.schemas[dto]), "", out)
        # The walk names paths from a root of "": drop the leading dot it leaves.
        out = [m.replace(" .", " ", 1) if m.startswith("property .") else _undot(m) for m in out]
        server_url_errors(body, "", out)  # as the REST API adds them (server.backend.validate_body)
        return list(dict.fromkeys(out))

    def nested_errors(self, value: object, dto: str, path: str) -> list[str]:
        """class-validator messages for ``value`` found at ``path`` of a body (or reply) against the spec's
        schema ``dto``, server URLs checked as ``body_errors`` checks them: how the call engine judges the
        parts of a server's reply (a squad, a handoff destination) by the DTOs Vapi validates them with."""
        out = self.errors(value, {"$ref": dto}, path) if value is not None else [f"{path} should not be empty"]
        server_url_errors(value, path, out)
        return list(dict.fromkeys(out))

    def errors(self, value: object, node: Schema, path: str) -> list[str]:
        """class-validator messages for ``value`` (present, not null) at ``path`` against ``node``."""
        out: list[str] = []
        self._check(value, node, path, out, "")
        return out

    # -- the checker -------------------------------------------------------------------------------

    def _check(self, value: object, node: Schema, path: str, out: list[str], each: str) -> None:
        while "$ref" in node:
            node = self.schemas[node["$ref"]]
        kind = node.get("type")
        if kind is None:
            if "anyOf" in node:
                if value is not None or not node.get("nullable"):
                    self._union(value, node, path, out, each)
                return
        # json.loads gives exact builtins: one dict lookup settles the common cases.
        elif _KIND_OF.get(type(value)) != kind and not _TYPE_CHECKS[kind](value):
            if value is not None or not node.get("nullable"):
                out.append(f"{each}{path} {_TYPE_MESSAGES[kind]}")
            return
        enum = node.get("enum")
        if enum is not None and value not in enum:
            out.append(f"{each}{path} must be one of the following values: {', '.join(map(str, enum))}")
        if kind == "string":
            if len(node) > 1:
                self._string(value, node, path, out, each)  # type: ignore[arg-type]
        elif kind == "object":
            self._object(value, node, path, out)  # type: ignore[arg-type]
        elif kind == "array":
            items = node.get("items")
            if items is not None:
                self._items(value, items, path, out)  # type: ignore[arg-type]
        elif kind == "number" or kind == "integer":
            if not math.isfinite(value):  # type: ignore[arg-type]
                out.append(f"{each}{path} {_TYPE_MESSAGES[kind]}")
                return
            minimum, maximum = node.get("minimum"), node.get("maximum")
            if minimum is not None and value < minimum:
                out.append(f"{each}{path} must not be less than {minimum:g}")
            if maximum is not None and value > maximum:
                out.append(f"{each}{path} must not be greater than {maximum:g}")

    def _string(self, value: str, node: Schema, path: str, out: list[str], each: str) -> None:
        max_length, min_length = node.get("maxLength"), node.get("minLength")
        if max_length is not None and len(value) > max_length:
            out.append(f"{each}{path} must be shorter than or equal to {max_length} characters")
        if min_length is not None and len(value) < min_length:
            out.append(f"{each}{path} must be longer than or equal to {min_length} characters")
        pattern = node.get("pattern")
        if pattern is not None and _regex(pattern).search(value) is None:
            out.append(f"{each}{path} must match {node.get('x-pattern', pattern)} regular expression")
        fmt = _FORMATS.get(node.get("format", ""))
        if fmt is not None and not fmt[0](value):
            out.append(f"{each}{path} {fmt[1]}")

    def _object(self, value: Mapping[str, Any], node: Schema, path: str, out: list[str]) -> None:
        props: Mapping[str, Schema] | None = node.get("properties")
        extra = node.get("additionalProperties")
        if props is None and not isinstance(extra, dict):
            return  # a free-form object (metadata, headers, variableValues...)
        props = props or {}
        closed = extra is None or extra is False
        required: list[str] = node.get("required", [])
        # Walk the body's keys, not the schema's (DTOs declare dozens of optional properties);
        # messages are put in class-validator's order (unknown ones, then declaration order) after.
        unknown: list[str] = []
        found: list[tuple[str, list[str]]] = []
        for name, item in value.items():
            sub = props.get(name)
            if sub is None:
                if closed:
                    unknown.append(f"property {path}.{name} should not exist")
                elif isinstance(extra, dict) and item is not None:
                    self._collect(item, extra, f"{path}.{name}", name, found)
            elif item is not None:
                self._collect(item, sub, f"{path}.{name}", name, found)
            elif name in required and not self.resolve(sub).get("nullable"):
                found.append((name, self._missing(sub, f"{path}.{name}")))
        for name in required:
            if name not in value:
                found.append((name, self._missing(props[name], f"{path}.{name}")))
        out.extend(unknown)
        if found:
            position = {name: i for i, name in enumerate(props)}
            found.sort(key=lambda pair: position.get(pair[0], -1))
            for _, messages in found:
                out.extend(messages)

    def _collect(self, item: object, sub: Schema, where: str, name: str, found: list[tuple[str, list[str]]]) -> None:
        messages: list[str] = []
        self._check(item, sub, where, messages, "")
        if messages:
            found.append((name, messages))

    def _missing(self, sub: Schema, where: str) -> list[str]:
        # class-validator's @IsOptional lets null through; a required property reports both checks.
        kind = self.resolve(sub).get("type")
        if kind in _PRIMITIVES:
            return [f"{where} should not be empty", f"{where} {_TYPE_MESSAGES[kind]}"]
        return [f"{where} should not be empty"]

    def _items(self, value: list[Any], items: Schema, path: str, out: list[str]) -> None:
        resolved = self.resolve(items)
        if resolved.get("type") in _PRIMITIVES:
            # Primitive items: one message per broken rule ("each value in x ..."), as @IsString({each}).
            before = len(out)
            for item in value:
                self._check(item, resolved, path, out, "each value in ")
            out[before:] = list(dict.fromkeys(out[before:]))
        else:
            for i, item in enumerate(value):
                self._check(item, resolved, f"{path}.{i}", out, "")

    def _union(self, value: object, node: Schema, path: str, out: list[str], each: str) -> None:
        members: list[Schema] = node["anyOf"]
        discriminator: Mapping[str, Any] | None = node.get("x-discriminator")
        candidates = members
        if discriminator is not None and isinstance(value, dict):
            key = discriminator["property"]
            tag = value.get(key)
            chosen = discriminator["mapping"].get(tag) if isinstance(tag, str) else None
            if chosen is None:
                chosen = discriminator.get("default")
            if chosen is None:
                values = ", ".join(discriminator["mapping"])
                out.append(f"{path}.{key} must be one of the following values: {values}")
                return
            candidates = [members[i] for i in chosen]
        # No member fits: report the closest, preferring members of the value's own type.
        best: tuple[int, int, list[str]] | None = None
        for member in candidates:
            found: list[str] = []
            self._check(value, member, path, found, each)
            if not found:
                return
            kind = self.resolve(member).get("type")
            rank = (0 if kind is None or _TYPE_CHECKS[kind](value) else 1, len(found))
            if best is None or rank < best[:2]:
                best = (*rank, found)
        out.extend(best[2] if best is not None else ())


def _undot(message: str) -> str:
    for lead in ("each value in .", "."):
        if message.startswith(lead):
            return lead[:-1] + message[len(lead):]
    return message


@functools.lru_cache(maxsize=1024)  # bounded: the URLs come from request bodies
def _is_webhook_url(url: str) -> bool:
    """An ``http(s)://host[:port]/...`` URL mockvapi can send to (what Vapi's @IsUrl lets through, plus
    loopback hosts without a TLD, which tests use)."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
    except ValueError:  # "http://[::1": an unclosed IPv6 literal
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def server_url_errors(value: object, path: str, out: list[str], depth: int = 0) -> None:
    """`<path>.server.url must be a URL address` for every server config in a body whose url mockvapi
    could not send to (``file:///etc/passwd``, ``http://[::1``, ``ftp://...``): a 400 at creation, as on
    Vapi, rather than a call that fails later."""
    if depth > MAX_JSON_DEPTH:  # request bodies are refused past that
        return
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            url = child.get("url") if key == "server" and isinstance(child, dict) else None
            if isinstance(url, str) and not _is_webhook_url(url):
                out.append(f"{where}.url must be a URL address")
            server_url_errors(child, where, out, depth + 1)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            server_url_errors(child, f"{path}.{i}", out, depth + 1)


@functools.cache
def request_schemas() -> RequestSchemas:
    """The schemas shipped with the package, read once (every request body is checked against them: read
    per call, parsing the 1 MB file cost ~25 ms each time, up to 0.3 s per request)."""
    text = resources.files("mockvapi.models").joinpath(_RESOURCE).read_text(encoding="utf-8")
    return RequestSchemas(json.loads(text))
