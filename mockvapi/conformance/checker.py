"""Check one Vapi message (or any value) against the shipped spec extract, with ``jsonschema``.

A message is checked against the schema of its own ``type`` (``ServerMessage<Type>`` or
``ClientMessage<Type>``), found through the side's union (``ServerMessage.message`` or
``ClientMessage.message``), so each violation names the field at fault. Two types reach a side
whose union lacks them, and are checked with the other side's schema: the spec's
``clientMessages`` enum lists ``status-update`` (which has only a server schema) and its
``serverMessages`` enum lists ``assistant.started`` (which has only a client schema). Such a
message also carries the fields every message of its side has (a server message's ``artifact``
and ``chat``), as the spec declares them there.

jsonschema's errors are turned into `Violation`s: the JSON path, what the spec expects there, what
was found, and the innermost named schema. A failed union (``anyOf``) is explained by its best
fitting member (the one the spec's ``discriminator`` names, else the member that the value's JSON
type, ``type``/``role``/``provider`` and field names fit best, with the fewest errors); when that
choosing field is missing or fits no member, by what it may be; else as one violation listing the
members.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mockvapi.conformance import extract
from mockvapi.conformance.normalise import normalise, normalise_schemas, realistic, strict

if TYPE_CHECKING:
    # No stubs are installed for jsonschema (types-jsonschema is not a test dependency): these are Any.
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]
    from jsonschema.protocols import Validator  # type: ignore[import-untyped]

__all__ = ["PROFILES", "SIDES", "Profile", "Side", "Violation", "check", "check_against", "message_types"]

Side = Literal["server", "client"]
Profile = Literal["strict", "realistic"]
SIDES: tuple[Side, ...] = ("server", "client")
PROFILES: tuple[Profile, ...] = ("strict", "realistic")

_PREFIX = "#/components/schemas/"
_UNION = {"server": "ServerMessage", "client": "ClientMessage"}
_DISCRIMINATING = ("type", "role", "provider")
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ENUM_SHOWN = 5
_ENUM_ALL = 10  # longer enums are cut to their first _ENUM_SHOWN values


@dataclass(frozen=True)
class Violation:
    """One place where a value breaks the spec.

    ``path``: where, as a JSON path from the message (``$.call.status``, ``$.toolCallList[0].id``);
    ``expected``: what the spec wants there (``type string``, ``one of "queued", "ringing"``,
    ``a required field``...); ``found``: what is there; ``schema``: the spec schema that says so.
    """

    path: str
    expected: str
    found: str
    schema: str

    def __str__(self) -> str:
        return f"{self.path}: expected {self.expected}, found {self.found} ({self.schema})"


def check(message: object, side: Side = "server", profile: Profile = "strict") -> list[Violation]:
    """Every way ``message`` (bare, or wrapped as a webhook body ``{"message": {...}}``) breaks the spec.

    ``side``: ``"server"`` for what Vapi POSTs to a server URL, ``"client"`` for what a client SDK
    receives. ``profile``: ``"strict"`` is the spec (and a message may carry no field its schema
    does not list); ``"realistic"`` also accepts the documented deviations of live Vapi traffic
    (``model-output.output`` as a string or a list of tool calls, tool-call ``arguments`` as an
    object, the legacy ``conversation`` and ``toolCalls`` fields, a transcript's ``confidence``). An
    empty list: it conforms.
    """
    checker = _checker(_side(side), _profile(profile))
    return checker.check(unwrap(message))


def check_against(value: object, schema: str | Mapping[str, Any], profile: Profile = "strict") -> list[Violation]:
    """Every way ``value`` breaks ``schema``: a schema's name in the spec (``"Call"``) or a spec schema
    node, which may ``$ref`` the spec's schemas (``{"type": "array", "items": {"$ref":
    "#/components/schemas/Call"}}``)."""
    checker = _checker("server", _profile(profile))
    if isinstance(schema, str):
        if schema not in checker.schemas:
            raise ValueError(f"no schema named {schema!r} in mockvapi's spec extract")
        return checker.violations(schema, value)
    node = normalise(dict(schema))
    return checker.violations(str(schema.get("title", "schema")), value, node=node)


def message_types(side: Side = "server") -> dict[str, str]:
    """Every message ``type`` the spec sends to ``side``, with the schema it is checked against."""
    return dict(_checker(_side(side), "strict").types)


def unwrap(message: object) -> object:
    """The message inside a webhook body (``{"message": {...}}``) or a ``mockvapi play --jsonl`` line
    (``{"at": s, "message": {...}}``); anything else as it is."""
    if isinstance(message, Mapping) and "type" not in message and isinstance(message.get("message"), Mapping):
        return message["message"]
    return message


def _side(side: str) -> Side:
    if side not in SIDES:
        raise ValueError(f"side must be 'server' or 'client', not {side!r}")
    return "server" if side == "server" else "client"


def _profile(profile: str) -> Profile:
    if profile not in PROFILES:
        hint = " (the checker's name for the spec is 'strict')" if profile == "spec" else ""
        raise ValueError(f"profile must be 'strict' or 'realistic', not {profile!r}{hint}")
    return "strict" if profile == "strict" else "realistic"


@functools.cache
def _normalised() -> Mapping[str, Any]:
    return normalise_schemas(extract.schemas())


@functools.cache
def _profile_schemas(profile: Profile) -> Mapping[str, Any]:
    closed = strict(_normalised())
    return realistic(closed) if profile == "realistic" else closed


def _union_types(union: str) -> dict[str, str]:
    """type -> schema name for the members of ``ServerMessage``/``ClientMessage``, from the raw spec."""
    raw = extract.schemas()
    out: dict[str, str] = {}
    for member in raw[union]["properties"]["message"]["oneOf"]:
        name = member["$ref"][len(_PREFIX) :]
        for kind in raw[name]["properties"]["type"].get("enum", []):
            out[kind] = name
    return out


def _assistant_enum(field: str) -> set[str]:
    prop = extract.schemas()["CreateAssistantDTO"]["properties"][field]
    return set(prop.get("enum") or prop.get("items", {}).get("enum") or [])


@functools.cache
def _checker(side: Side, profile: Profile) -> _Checker:
    own = _union_types(_UNION[side])
    other = _union_types(_UNION["client" if side == "server" else "server"])
    # A type the assistant can ask Vapi to send to this side, that only the other side's union has.
    cross = {k: other[k] for k in sorted(_assistant_enum(f"{side}Messages") - set(own)) if k in other}
    schemas = dict(_profile_schemas(profile))
    common = _common_fields(schemas, set(own.values()))
    for name in cross.values():
        schemas[name] = {**schemas[name], "properties": {**common, **schemas[name].get("properties", {})}}
    return _Checker(side, profile, {**own, **cross}, other, schemas)


def _common_fields(schemas: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    """The fields (name -> schema) that every message schema in ``names`` declares."""
    ordered = sorted(names)
    first = schemas[ordered[0]].get("properties", {})
    shared = set(first).intersection(*(schemas[n].get("properties", {}) for n in ordered[1:]))
    return {field: first[field] for field in first if field in shared}


class _Checker:
    def __init__(
        self,
        side: Side,
        profile: Profile,
        types: Mapping[str, str],
        other_side: Mapping[str, str],
        schemas: Mapping[str, Any],
    ) -> None:
        self.side = side
        self.profile = profile
        self.types = dict(types)
        self.other_side = dict(other_side)
        self.schemas = schemas
        self._root = {"components": {"schemas": self.schemas}}
        self._validators: dict[str, Validator] = {}

    def __repr__(self) -> str:
        return f"_Checker(side={self.side!r}, profile={self.profile!r}, types={len(self.types)})"

    def check(self, message: object) -> list[Violation]:
        union = _UNION[self.side]
        if not isinstance(message, Mapping):
            return [Violation("$", "an object (a Vapi message)", _describe(message), union)]
        if "type" not in message:
            return [Violation("$.type", "a required field", "nothing", union)]
        kind = message["type"]
        if not isinstance(kind, str):
            return [Violation("$.type", "type string (a message type)", _describe(kind), union)]
        name = self.types.get(kind)
        if name is not None:
            return self.violations(name, message)
        expected = f"a {self.side} message type"
        if kind in self.other_side:
            other = "client" if self.side == "server" else "server"
            return [Violation("$.type", expected, f"{_json(kind)}, a {other} message (check it with side={other!r})",
                              union)]
        close = difflib.get_close_matches(kind, list(self.types), n=1)
        if close:
            expected += f" (did you mean {_json(close[0])}?)"
        return [Violation("$.type", expected, _json(kind), union)]

    def _validator(self, name: str, node: Mapping[str, Any] | None) -> Validator:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # imported on first use: ~0.1 s

        if node is not None:  # an inline schema: not kept, so repeated calls cannot pile validators up
            return Draft202012Validator({**node, **self._root})
        validator = self._validators.get(name)
        if validator is None:
            validator = self._validators[name] = Draft202012Validator({"$ref": _PREFIX + name, **self._root})
        return validator

    def violations(self, name: str, value: object, *, node: Mapping[str, Any] | None = None) -> list[Violation]:
        """``value`` against the schema ``name`` (or the inline ``node``, shown as ``name``)."""
        root = node if node is not None else {"$ref": _PREFIX + name}
        out: dict[Violation, None] = {}  # in order, once each
        for error in self._validator(name, node).iter_errors(value):
            out.update(dict.fromkeys(self._explain(error, root, name)))
        return list(out)

    # -- explaining jsonschema's errors ----------------------------------------------------------

    def _explain(self, error: ValidationError, root: Mapping[str, Any], root_name: str) -> Iterator[Violation]:
        path = list(error.absolute_path)
        schema = self._schema_name(root, root_name, error.absolute_schema_path)
        keyword = error.validator
        value = error.instance
        wanted = error.validator_value
        if keyword == "required" and isinstance(value, Mapping):
            for field in wanted:
                if field not in value:
                    yield Violation(_json_path([*path, field]), "a required field", "nothing", schema)
        elif keyword == "additionalProperties" and isinstance(value, Mapping):
            known = list(error.schema.get("properties", {}))
            for field in value:
                if field not in known:
                    close = difflib.get_close_matches(str(field), known, n=1)
                    hint = f" (did you mean {_json(close[0])}?)" if close else ""
                    if self.profile == "strict" and field in _realistic_fields(schema):
                        hint = " in the spec (live Vapi sends it: the realistic profile accepts it)"
                    yield Violation(_json_path([*path, field]), f"no such field{hint}", _describe(value[field]),
                                    schema)
        elif keyword in ("anyOf", "oneOf") and error.context:
            yield from self._explain_union(error, root, root_name, schema)
        else:
            expected = _expected(str(keyword), wanted, error.message)
            if keyword == "enum" and isinstance(value, str) and len(wanted) > 1:
                close = difflib.get_close_matches(value, [v for v in wanted if isinstance(v, str)], n=1)
                if close:
                    expected += f" (did you mean {_json(close[0])}?)"
            yield Violation(_json_path(path), expected, _found(keyword, value), schema)

    def _explain_union(
        self, error: ValidationError, root: Mapping[str, Any], root_name: str, schema: str
    ) -> Iterator[Violation]:
        members: Sequence[Any] = error.validator_value
        by_member: dict[int, list[ValidationError]] = {i: [] for i in range(len(members))}
        for sub in error.context or ():
            by_member.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        value = error.instance
        chosen = _discriminated(error.schema, members, value)
        missing = _missing_variant_field(by_member, value) if chosen is None else None
        if missing is not None:  # every member needs a `provider` (`type`, `role`) the value lacks
            yield Violation(_json_path([*error.absolute_path, missing]), "a required field", "nothing", schema)
            return
        if chosen is None:
            ranks = {i: _rank(errors, members[i], value, self.schemas) for i, errors in by_member.items()}
            best = min(ranks.values())
            fits = [i for i, rank in ranks.items() if rank == best]
            if len(fits) == 1 and best[:2] == (0, 0):
                chosen = fits[0]
        if chosen is None:
            variant = _variant_values(by_member)
            if variant is not None:  # every member wants another `provider` (`type`, `role`): say which
                field, allowed = variant
                expected = _expected("enum", allowed, "")
                found = value.get(field) if isinstance(value, Mapping) else None
                if isinstance(found, str):
                    close = difflib.get_close_matches(found, [v for v in allowed if isinstance(v, str)], n=1)
                    expected += f" (did you mean {_json(close[0])}?)" if close else ""
                yield Violation(_json_path([*error.absolute_path, field]), expected, _found("enum", found), schema)
                return
            names = ", ".join(dict.fromkeys(_member_name(m) for m in members))
            yield Violation(_json_path(list(error.absolute_path)), f"one of: {names}", _describe(value), schema)
            return
        for sub in by_member.get(chosen, []):
            yield from self._explain(sub, root, root_name)

    def _schema_name(self, root: Mapping[str, Any], root_name: str, schema_path: Iterable[Any]) -> str:
        """The innermost named schema along ``schema_path`` (jsonschema's paths step through ``$ref``
        silently: a key missing from a node that has a ``$ref`` is looked up in the referenced schema)."""
        name, node = root_name, root
        for key in schema_path:
            while isinstance(node, Mapping) and key not in node and isinstance(node.get("$ref"), str):
                name = node["$ref"][len(_PREFIX) :]
                node = self.schemas.get(name, {})
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                break
        return name


def _missing_variant_field(by_member: Mapping[int, list[ValidationError]], value: object) -> str | None:
    """The ``type``/``role``/``provider`` field every member of a union requires and ``value`` lacks."""
    if not isinstance(value, Mapping):
        return None
    for field in _DISCRIMINATING:
        if field not in value and all(
            any(e.validator == "required" and not e.relative_path and field in e.validator_value for e in errors)
            for errors in by_member.values()
        ):
            return field
    return None


def _variant_values(by_member: Mapping[int, list[ValidationError]]) -> tuple[str, list[Any]] | None:
    """(field, every value the members allow) when each member of a union refused the value only for
    its ``type``/``role``/``provider`` field; else None."""
    fields: set[str] = set()
    allowed: dict[str, None] = {}
    for errors in by_member.values():
        wrong = [e for e in errors if e.validator in ("enum", "const") and len(e.relative_path) == 1
                 and e.relative_path[0] in _DISCRIMINATING]
        if not wrong:
            return None
        fields.add(str(wrong[0].relative_path[0]))
        values = wrong[0].validator_value
        allowed.update(dict.fromkeys(values if wrong[0].validator == "enum" else [values]))
    if len(fields) != 1:
        return None
    return fields.pop(), list(allowed)


def _realistic_fields(name: str) -> Mapping[str, Any]:
    schema = _profile_schemas("realistic").get(name, {})
    fields: Mapping[str, Any] = schema.get("properties", {})
    return fields


def _discriminated(union: Mapping[str, Any], members: Sequence[Any], value: object) -> int | None:
    """The member the spec's ``discriminator`` picks for ``value``, if it declares one that applies."""
    discriminator = union.get("discriminator")
    if not isinstance(discriminator, Mapping) or not isinstance(value, Mapping):
        return None
    chosen = value.get(discriminator.get("propertyName"))
    target = discriminator.get("mapping", {}).get(chosen) if isinstance(chosen, str) else None
    if not isinstance(target, str):
        return None
    for i, member in enumerate(members):
        if _member_ref(member) == target:
            return i
    return None


def _member_ref(member: Any) -> str | None:
    if isinstance(member, Mapping):
        if isinstance(member.get("$ref"), str):
            return str(member["$ref"])
        all_of = member.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            return _member_ref(all_of[0])
    return None


def _member_name(member: Any) -> str:
    ref = _member_ref(member)
    if ref is not None:
        return ref[len(_PREFIX) :]
    if isinstance(member, Mapping):
        if "title" in member:
            return str(member["title"])
        if "enum" in member:
            return " or ".join(_json(v) for v in member["enum"][:_ENUM_SHOWN])
        kind = member.get("type")
        if kind is not None:
            return kind if isinstance(kind, str) else " or ".join(map(str, kind))
    return "a schema"


def _rank(errors: list[ValidationError], member: Any, value: object, schemas: Mapping[str, Any]) -> tuple[int, ...]:
    """How badly ``value`` fits a union member: lower is better (see the module docstring)."""
    wrong_kind = any(e.validator in ("type", "enum", "const") and not e.relative_path for e in errors)
    wrong_variant = any(
        e.validator in ("enum", "const") and len(e.relative_path) == 1 and e.relative_path[0] in _DISCRIMINATING
        for e in errors
    )
    undeclared = 0
    if isinstance(value, Mapping):
        ref = _member_ref(member)
        target = schemas.get(ref[len(_PREFIX) :], {}) if ref else member
        declared = target.get("properties", {}) if isinstance(target, Mapping) else {}
        undeclared = sum(1 for key in value if key not in declared)
    return (int(wrong_kind), int(wrong_variant), undeclared, len(errors))


# -- words ---------------------------------------------------------------------------------------


def _json(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _describe(value: object) -> str:
    """``integer 42``, ``string "x"``, ``an object``, ``an array of 3``, ``null``."""
    kind = _json_type(value)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)}"
    if value is None:
        return "null"
    if kind in ("boolean", "integer", "number", "string"):
        return f"{kind} {_json(value)}"
    return kind


def _found(keyword: object, value: object) -> str:
    if isinstance(value, str) and keyword != "type":
        return _json(value)
    return _describe(value)


def _expected(keyword: str, wanted: Any, message: str) -> str:
    if keyword == "type":
        kinds = [wanted] if isinstance(wanted, str) else list(wanted)
        return "type " + " or ".join(kinds)
    if keyword == "enum":
        values = list(wanted)
        if len(values) == 1:
            return _json(values[0])
        shown = ", ".join(_json(v) for v in values[: _ENUM_SHOWN if len(values) > _ENUM_ALL else None])
        return f"one of {shown}" + (f", ... ({len(values)} values)" if len(values) > _ENUM_ALL else "")
    if keyword == "const":
        return _json(wanted)
    words = {
        "minimum": "at least {}",
        "maximum": "at most {}",
        "exclusiveMinimum": "more than {}",
        "exclusiveMaximum": "less than {}",
        "minLength": "at least {} characters",
        "maxLength": "at most {} characters",
        "minItems": "at least {} items",
        "maxItems": "at most {} items",
        "multipleOf": "a multiple of {}",
        "pattern": "a match for /{}/",
        "format": "format {}",
    }
    if keyword in words:
        return words[keyword].format(wanted)
    if keyword == "uniqueItems":
        return "unique items"
    return message  # a keyword the spec does not use today: jsonschema's own words


def _json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return out
