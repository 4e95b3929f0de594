"""In-memory state and rules of the fake Vapi REST API (moto's ``models.py``): no HTTP here.

`Backend` holds assistants, phone numbers and calls in insertion-ordered dicts and applies the
same rules Vapi does: request bodies are checked against the DTO field tables below (NestJS
class-validator messages, unknown properties rejected), ids are uuid4 drawn from a seeded
`random.Random`, timestamps come from an injected ``now_ms`` clock, so two runs with the same
seed and clock produce byte-identical responses.

A call is a `CallRecord`: the Call dict the API serves plus `apply()`, which the call engine uses
to move it along (status, endedReason, messages, artifact...). Status changes follow
`CALL_STATUS_TRANSITIONS`, a table rather than if-chains.

The DTO tables mirror the official spec's top-level properties (a test checks them against
openapi.json when it is available). Below where a table stops (``Field("object")``, arrays,
unions: model, voice, transcriber, fallbackDestination...), values are checked against the spec's
nested DTOs shipped in request_schemas.json (`mockvapi.server.nested`), so an invalid nested value
is a 400 as on Vapi, never echoed back.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from mockvapi.engine.audio import sample_rate_problem
from mockvapi.errors import BadRequest, NotFound
from mockvapi.models.dto import server_url_errors
from mockvapi.server.nested import RequestSchemas, Schema, request_schemas

__all__ = [
    "ASSISTANT_FIELDS",
    "CALL_LIST_QUERY",
    "CALL_STATUS_TRANSITIONS",
    "CREATE_CALL_FIELDS",
    "CREATE_PHONE_NUMBER_FIELDS",
    "CREATE_WEB_CALL_FIELDS",
    "LIST_QUERY",
    "MAX_BATCH_CUSTOMERS",
    "SQUAD_FIELDS",
    "UPDATE_PHONE_NUMBER_FIELDS",
    "Backend",
    "CallCreation",
    "CallRecord",
    "Field",
    "iso_from_ms",
    "ms_from_iso",
    "validate_body",
]

Json = dict[str, Any]
Kind = Literal["string", "number", "boolean", "object", "array", "any"]

# --------------------------------------------------------------------------------------------
# Time and ids


def iso_from_ms(ms: int) -> str:
    """Epoch milliseconds -> ``2026-01-01T00:00:00.000Z`` (the form Vapi serves)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ms_from_iso(text: str) -> int:
    """ISO 8601 -> epoch milliseconds; naive times count as UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------------------------
# Validation: DTO field tables and class-validator style messages


@dataclass(frozen=True)
class Field:
    """One DTO property: its JSON kind and the class-validator constraints Vapi puts on it.

    ``fields`` describes a nested object; with ``open=False`` properties outside it are
    rejected (NestJS ``forbidNonWhitelisted``), with ``open=True`` only the listed ones are
    checked (used for unions whose members have different properties).
    """

    kind: Kind
    required: bool = False
    enum: tuple[str, ...] = ()
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    items: Field | None = None
    fields: Mapping[str, Field] | None = None
    open: bool = False


def _s(max_length: int | None = None, *, required: bool = False, min_length: int | None = None) -> Field:
    return Field("string", required=required, min_length=min_length, max_length=max_length)


_OBJ = Field("object")
_BOOL = Field("boolean")
_ANY = Field("any")
_ARR = Field("array")
_STR = _s()
_STR_LIST = Field("array", items=_STR)

SERVER_FIELDS: Mapping[str, Field] = {
    "timeoutSeconds": Field("number", minimum=1, maximum=300),
    "credentialId": _STR,
    "staticIpAddressesEnabled": _BOOL,
    "encryptedPaths": _STR_LIST,
    "url": _STR,
    "headers": _OBJ,
    "backoffPlan": _OBJ,
}
_SERVER = Field("object", fields=SERVER_FIELDS)

ASSISTANT_FIELDS: Mapping[str, Field] = {
    "transcriber": _OBJ,
    "model": _OBJ,
    "voice": _OBJ,
    "firstMessage": _STR,
    "firstMessageInterruptionsEnabled": _BOOL,
    "firstMessageMode": Field(
        "string",
        enum=(
            "assistant-speaks-first",
            "assistant-speaks-first-with-model-generated-message",
            "assistant-waits-for-user",
        ),
    ),
    "voicemailDetection": _ANY,  # "off" or a plan object
    "clientMessages": _STR_LIST,
    "serverMessages": _STR_LIST,
    "maxDurationSeconds": Field("number", minimum=10, maximum=43200),
    "backgroundSound": _STR,
    "modelOutputInMessagesEnabled": _BOOL,
    "transportConfigurations": _ARR,
    "observabilityPlan": _OBJ,
    "credentials": _ARR,
    "hooks": _ARR,
    "name": _s(40),
    "voicemailMessage": _s(1000),
    "endCallMessage": _s(1000),
    "endCallPhrases": Field("array", items=_s(140, min_length=2)),
    "compliancePlan": _OBJ,
    "metadata": _OBJ,
    "backgroundSpeechDenoisingPlan": _OBJ,
    "analysisPlan": _OBJ,
    "artifactPlan": _OBJ,
    "startSpeakingPlan": _OBJ,
    "stopSpeakingPlan": _OBJ,
    "monitorPlan": _OBJ,
    "credentialIds": _STR_LIST,
    "server": _SERVER,
    "keypadInputPlan": _OBJ,
}

PHONE_PROVIDERS = ("byo-phone-number", "twilio", "vonage", "vapi", "telnyx")
# provider -> the spec's DTO name after Create/Update
_PHONE_DTO: Mapping[str, str] = {
    "byo-phone-number": "ByoPhoneNumberDTO",
    "twilio": "TwilioPhoneNumberDTO",
    "vonage": "VonagePhoneNumberDTO",
    "vapi": "VapiPhoneNumberDTO",
    "telnyx": "TelnyxPhoneNumberDTO",
}

_PHONE_COMMON: Mapping[str, Field] = {
    "fallbackDestination": _OBJ,
    "hooks": _ARR,
    "name": _s(40),
    "assistantId": _STR,
    "workflowId": _STR,
    "squadId": _STR,
    "server": _SERVER,
}

_PHONE_SPECIFIC: Mapping[str, Mapping[str, Field]] = {
    "byo-phone-number": {
        "numberE164CheckEnabled": _BOOL,
        "number": _s(40, min_length=3),
        "credentialId": _s(required=True),
    },
    "twilio": {
        "smsEnabled": _BOOL,
        "number": _s(required=True),
        "twilioAccountSid": _s(required=True),
        "twilioAuthToken": _STR,
        "twilioApiKey": _STR,
        "twilioApiSecret": _STR,
    },
    "vonage": {"number": _s(required=True), "credentialId": _s(required=True)},
    "vapi": {
        "numberDesiredAreaCode": _s(3, min_length=3),
        "sipUri": _STR,
        "authentication": _OBJ,
    },
    "telnyx": {"number": _s(required=True), "credentialId": _s(required=True)},
}


def _phone_fields(provider: str, *, update: bool) -> Mapping[str, Field]:
    specific = dict(_PHONE_SPECIFIC[provider])
    if update:
        # Update DTOs make everything optional; a Vapi number's area code is fixed at purchase.
        specific = {k: dataclasses.replace(f, required=False) for k, f in specific.items()}
        specific.pop("numberDesiredAreaCode", None)
    provider_field = Field("string", required=not update, enum=(provider,))
    return {**_PHONE_COMMON, "provider": provider_field, **specific}


CREATE_PHONE_NUMBER_FIELDS: Mapping[str, Mapping[str, Field]] = {
    p: _phone_fields(p, update=False) for p in PHONE_PROVIDERS
}
UPDATE_PHONE_NUMBER_FIELDS: Mapping[str, Mapping[str, Field]] = {
    p: _phone_fields(p, update=True) for p in PHONE_PROVIDERS
}

CUSTOMER_FIELDS: Mapping[str, Field] = {
    "numberE164CheckEnabled": _BOOL,
    "extension": _s(10),
    "assistantOverrides": _OBJ,
    "squadOverrides": _OBJ,
    "number": _s(40, min_length=3),
    "sipUri": _STR,
    "name": _s(40),
    "email": _s(40),
    "externalId": _s(40),
}
_CUSTOMER = Field("object", fields=CUSTOMER_FIELDS)

# A union of six shapes told apart by `provider`: the spec's schemas check it (nested.py).
_TRANSPORT = _OBJ

_PHONE_TRANSPORTS = frozenset({"vonage", "twilio", "vapi.sip", "telnyx"})

_ASSISTANT = Field("object", fields=ASSISTANT_FIELDS)
_VERSION = _STR  # nullable in the spec; null is always accepted for optional fields

_ASSISTANT_SOURCE: Mapping[str, Field] = {
    "assistantId": _STR,
    "assistant": _ASSISTANT,
    "assistantOverrides": _OBJ,
    "squadId": _STR,
    "squad": _OBJ,
    "squadOverrides": _OBJ,
    "workflowId": _STR,
    "workflow": _OBJ,
    "workflowOverrides": _OBJ,
}

CREATE_CALL_FIELDS: Mapping[str, Field] = {
    "assistantVersion": _VERSION,
    "squadVersion": _VERSION,  # sent by vapi-server-sdk 3.0.0, not (yet) in the spec's DTO
    "transport": _TRANSPORT,
    "customers": Field("array", items=_CUSTOMER),
    "name": _s(40),
    "schedulePlan": _OBJ,
    **_ASSISTANT_SOURCE,
    "phoneNumberId": _STR,
    "phoneNumber": _OBJ,
    "customerId": _STR,
    "customer": _CUSTOMER,
}

CREATE_WEB_CALL_FIELDS: Mapping[str, Field] = {
    "assistantVersion": _VERSION,
    "roomDeleteOnUserLeaveEnabled": _BOOL,
    **_ASSISTANT_SOURCE,
}

# POST /squad and PATCH /squad/{id} (both DTOs require `members`); members are checked against the
# spec's SquadMemberDTO (and the assistants inside them against CreateAssistantDTO) by nested.py.
SQUAD_FIELDS: Mapping[str, Field] = {
    "name": _STR,
    "members": Field("array", required=True, items=_OBJ),
    "membersOverrides": _OBJ,
}

UPDATE_CALL_FIELDS: Mapping[str, Field] = {"name": _s(40)}
DELETE_CALL_FIELDS: Mapping[str, Field] = {"ids": _STR_LIST}

_DATE_FILTERS = tuple(f"{k}{op}" for k in ("createdAt", "updatedAt") for op in ("Gt", "Lt", "Ge", "Le"))
LIST_QUERY: tuple[str, ...] = ("limit", *_DATE_FILTERS)
CALL_LIST_QUERY: tuple[str, ...] = ("id", "assistantId", "phoneNumberId", *LIST_QUERY)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# The spec gives `customers` no maxItems and Vapi documents no batch limit; one request starting thousands of
# calls at once is a load test by accident, so mockvapi refuses more than this (class-validator's wording).
MAX_BATCH_CUSTOMERS = 1000


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_TYPE_MESSAGES: Mapping[Kind, str] = {
    "string": "must be a string",
    "number": "must be a number conforming to the specified constraints",
    "boolean": "must be a boolean value",
    "object": "must be an object",
    "array": "must be an array",
    "any": "",
}
_TYPE_CHECKS: Mapping[Kind, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "any": lambda v: True,
}


def _check_value(
    value: object, spec: Field, path: str, out: list[str], each: str = "", schema: Schema | None = None
) -> None:
    """Append class-validator messages for one present, non-null value.

    ``schema`` is the spec's schema for the value: where the table stops (no ``fields``), the
    value is checked against it too (its messages repeat the table's for rules both know; the
    caller drops the repeats).
    """
    if not _TYPE_CHECKS[spec.kind](value):
        out.append(f"{each}{path} {_TYPE_MESSAGES[spec.kind]}")
        return
    if spec.enum and value not in spec.enum:
        out.append(f"{each}{path} must be one of the following values: {', '.join(spec.enum)}")
    if isinstance(value, str):
        if spec.max_length is not None and len(value) > spec.max_length:
            out.append(f"{each}{path} must be shorter than or equal to {spec.max_length} characters")
        if spec.min_length is not None and len(value) < spec.min_length:
            out.append(f"{each}{path} must be longer than or equal to {spec.min_length} characters")
    if _is_number(value):
        number = float(value)  # type: ignore[arg-type]
        if spec.minimum is not None and number < spec.minimum:
            out.append(f"{each}{path} must not be less than {spec.minimum:g}")
        if spec.maximum is not None and number > spec.maximum:
            out.append(f"{each}{path} must not be greater than {spec.maximum:g}")
    nested = request_schemas() if schema is not None else None
    if isinstance(value, list) and spec.items is not None and spec.items.fields is not None:
        items = nested.items(schema) if nested is not None else None
        for i, item in enumerate(value):
            _check_value(item, spec.items, f"{path}.{i}", out, schema=items)
    elif isinstance(value, dict) and spec.fields is not None:
        sub = nested.object_schema(schema) if nested is not None else None
        out.extend(_errors(value, spec.fields, prefix=f"{path}.", open_=spec.open, schema=sub))
    else:
        if isinstance(value, list) and spec.items is not None:
            for item in value:
                if item is not None:
                    _check_value(item, spec.items, path, out, each="each value in ")
        if nested is not None and schema is not None and not each:
            out.extend(nested.errors(value, schema, path))


def _errors(
    body: Mapping[str, Any],
    fields: Mapping[str, Field],
    *,
    prefix: str = "",
    open_: bool = False,
    schema: Schema | None = None,
) -> list[str]:
    """Messages for an object against a table; ``schema`` is its resolved spec schema, if known."""
    nested: RequestSchemas | None = request_schemas() if schema is not None else None
    out: list[str] = []
    if not open_:
        out.extend(f"property {prefix}{name} should not exist" for name in body if name not in fields)
    for name, spec in fields.items():
        value = body.get(name)
        path = f"{prefix}{name}"
        if value is None:
            # class-validator's @IsOptional lets null through; required fields report both checks.
            if spec.required:
                out.append(f"{path} should not be empty")
                if spec.kind != "any":
                    out.append(f"{path} {_TYPE_MESSAGES[spec.kind]}")
            continue
        sub = nested.property(schema, name) if nested is not None else None
        _check_value(value, spec, path, out, schema=sub)
    return out


def validate_body(body: object, fields: Mapping[str, Field], dto: str | None = None) -> Json:
    """Check a request body against a DTO table; raise BadRequest with every message found.

    ``dto`` names the spec's schema for the body (``CreateAssistantDTO``...): values the table only
    knows as objects, arrays or unions are then checked against the spec's nested DTOs as well.
    """
    if not isinstance(body, dict):
        raise BadRequest(["request body must be a JSON object"])
    schema = request_schemas().schemas[dto] if dto is not None else None
    problems = _errors(body, fields, schema=schema)
    server_url_errors(body, "", problems)
    if problems:
        raise BadRequest(list(dict.fromkeys(problems)))
    return body


def _without_nulls(body: Mapping[str, Any]) -> Json:
    # An explicit null on an optional property means "not set" (create) or "clear it" (update).
    return {k: copy.deepcopy(v) for k, v in body.items() if v is not None}


@dataclass(frozen=True)
class _ListQuery:
    limit: int
    bounds: tuple[tuple[str, str, int], ...]  # (field, op, epoch ms)
    equals: tuple[tuple[str, str], ...]

    def matches(self, item: Mapping[str, Any]) -> bool:
        for key, value in self.equals:
            if item.get(key) != value:
                return False
        for key, op, ms in self.bounds:
            have = ms_from_iso(item[key])
            ok = {"Gt": have > ms, "Lt": have < ms, "Ge": have >= ms, "Le": have <= ms}[op]
            if not ok:
                return False
        return True


def _parse_query(query: Mapping[str, str], allowed: tuple[str, ...]) -> _ListQuery:
    problems = [f"property {name} should not exist" for name in query if name not in allowed]
    limit = DEFAULT_LIMIT
    bounds: list[tuple[str, str, int]] = []
    equals: list[tuple[str, str]] = []
    for name in allowed:
        if name not in query:
            continue
        raw = query[name]
        if name == "limit":
            try:
                number = float(raw)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                problems.append("limit must be a number conforming to the specified constraints")
            elif number < 0:
                problems.append("limit must not be less than 0")
            elif number > MAX_LIMIT:
                problems.append(f"limit must not be greater than {MAX_LIMIT}")
            else:
                limit = int(number)
        elif name in _DATE_FILTERS:
            try:
                bounds.append((name[:-2], name[-2:], ms_from_iso(raw)))
            except ValueError:
                problems.append(f"{name} must be a valid ISO 8601 date string")
        else:
            equals.append((name, raw))
    if problems:
        raise BadRequest(problems)
    return _ListQuery(limit=limit, bounds=tuple(bounds), equals=tuple(equals))


# --------------------------------------------------------------------------------------------
# Calls


CALL_STATUSES = (
    "scheduled",
    "queued",
    "ringing",
    "in-progress",
    "forwarding",
    "ended",
    "not-found",
    "deletion-failed",
)

# Which status may follow which. "not-found"/"deletion-failed" are Vapi's bookkeeping states and
# may be reached from anywhere; "ended" is final otherwise. Re-applying the current status is a no-op.
CALL_STATUS_TRANSITIONS: Mapping[str, frozenset[str]] = {
    status: frozenset(nxt) | {"not-found", "deletion-failed"}
    for status, nxt in {
        "scheduled": {"queued", "ended"},
        "queued": {"ringing", "in-progress", "ended"},
        "ringing": {"in-progress", "ended"},
        "in-progress": {"forwarding", "ended"},
        "forwarding": {"in-progress", "ended"},
        "ended": set(),
        "not-found": set(),
        "deletion-failed": set(),
    }.items()
}

_IMMUTABLE_CALL_KEYS = frozenset({"id", "orgId", "createdAt"})


class CallRecord:
    """One call as the API serves it, plus the handle the call engine moves it along with.

    ``data`` is the live Call dict (serve copies of it with `to_json`). ``assistant`` is the
    assistant the call runs (inline, by id, or the phone number's), resolved at creation.
    ``statuses`` lists every status the call has had, in order; ``deleted`` turns true when
    ``DELETE /call/{id}`` removes it from the backend. ``for_browser`` is true for a web call a
    browser is to join (made by ``POST /call/web``, or ``POST /call`` with the ``daily`` transport).
    """

    def __init__(self, data: Json, *, assistant: Json | None, now_ms: Callable[[], int]) -> None:
        self.data = data
        self.assistant = assistant
        self.statuses: list[str] = [data["status"]]
        self.deleted = False
        self.for_browser = False
        self._now_ms = now_ms

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def type(self) -> str:
        return str(self.data["type"])

    def apply(self, update: Mapping[str, Any]) -> None:
        """Merge ``update`` (top-level Call fields) into the call and bump ``updatedAt``.

        A status change must follow `CALL_STATUS_TRANSITIONS`; entering ``in-progress`` or
        ``ended`` stamps ``startedAt``/``endedAt`` unless the update gives them. A value of
        None removes the field. Raises `BadRequest` (nothing applied) for an illegal status
        change or an attempt to change id/orgId/createdAt.
        """
        frozen = sorted(k for k in update if k in _IMMUTABLE_CALL_KEYS and update[k] != self.data.get(k))
        if frozen:
            raise BadRequest(f"call {self.id}: {', '.join(frozen)} cannot change")
        new_status = update.get("status", self.status)
        if new_status != self.status:
            if new_status not in CALL_STATUS_TRANSITIONS:
                raise BadRequest(f"call {self.id}: unknown status {new_status!r}; one of {', '.join(CALL_STATUSES)}")
            if new_status not in CALL_STATUS_TRANSITIONS[self.status]:
                allowed = ", ".join(sorted(CALL_STATUS_TRANSITIONS[self.status])) or "none"
                raise BadRequest(f"call {self.id}: {self.status!r} can't become {new_status!r} (allowed: {allowed})")
        now = iso_from_ms(self._now_ms())
        for key, value in update.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = copy.deepcopy(value)
        if new_status != self.statuses[-1]:
            self.statuses.append(new_status)
            if new_status == "in-progress":
                self.data.setdefault("startedAt", now)
            elif new_status == "ended":
                self.data.setdefault("endedAt", now)
        self.data["updatedAt"] = now

    def to_json(self) -> Json:
        """A deep copy of the Call, safe to serialise or hand out."""
        return copy.deepcopy(self.data)

    def __repr__(self) -> str:
        gone = ", deleted" if self.deleted else ""
        return f"CallRecord(id={self.id!r}, type={self.type!r}, status={self.status!r}{gone})"


@dataclass
class CallCreation:
    """What POST /call (or /call/web) produced: the response body and the new records."""

    body: Json
    records: list[CallRecord] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Backend


class Backend:
    """The state of one fake Vapi org: assistants, phone numbers and calls, plus the rules.

    Deterministic: ids come from ``random.Random(seed)`` and times from ``now_ms`` (epoch
    ms; defaults to the wall clock). ``seed=None``: ids from the OS's secure random source instead, so
    the capability URLs built from call ids (listen, control, transport) cannot be guessed. Every method
    raises `mockvapi.errors.ApiError` subclasses (BadRequest, NotFound) that the HTTP layer serialises
    unchanged.
    """

    def __init__(self, *, seed: int | None = 0, now_ms: Callable[[], int] | None = None) -> None:
        self.seed = seed
        self.now_ms: Callable[[], int] = now_ms or _wall_clock_ms
        self.rng = self._rng()
        self.org_id = self.new_id()
        self.assistants: dict[str, Json] = {}
        self.squads: dict[str, Json] = {}
        self.phone_numbers: dict[str, Json] = {}
        self.calls: dict[str, CallRecord] = {}
        # Refuses an assistant the engine cannot play (BadRequest), as Vapi refuses one at creation;
        # set by the server that plays the calls (MockServer: a scenario name it does not know).
        self.assistant_check: Callable[[Mapping[str, Any], str], None] | None = None

    def _check_assistant(self, assistant: Mapping[str, Any] | None, where: str) -> None:
        if assistant is not None and self.assistant_check is not None:
            self.assistant_check(assistant, where)

    def __repr__(self) -> str:
        return (
            f"Backend(seed={self.seed}, assistants={len(self.assistants)}, "
            f"phone_numbers={len(self.phone_numbers)}, calls={len(self.calls)})"
        )

    def reset(self) -> None:
        """Forget every resource and restart the id sequence (the org id stays)."""
        self.rng = self._rng()
        self.new_id()  # the draw that made org_id
        self.assistants.clear()
        self.squads.clear()
        self.phone_numbers.clear()
        self.calls.clear()

    def _rng(self) -> random.Random:
        return random.Random(self.seed) if self.seed is not None else secrets.SystemRandom()

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _stamp(self, body: Json) -> Json:
        now = iso_from_ms(self.now_ms())
        return {"id": self.new_id(), "orgId": self.org_id, **body, "createdAt": now, "updatedAt": now}

    @staticmethod
    def _listed(items: Iterable[Json], query: _ListQuery) -> list[Json]:
        # Newest first, as Vapi lists; equal timestamps keep reverse insertion order.
        chosen = [item for item in reversed(list(items)) if query.matches(item)]
        chosen.sort(key=lambda item: ms_from_iso(item["createdAt"]), reverse=True)
        return copy.deepcopy(chosen[: query.limit])

    @staticmethod
    def _patched(item: Json, changes: Json, now_ms: int) -> Json:
        for key, value in changes.items():
            if value is None:
                item.pop(key, None)
            else:
                item[key] = copy.deepcopy(value)
        item["updatedAt"] = iso_from_ms(now_ms)
        return copy.deepcopy(item)

    # -- assistants ---------------------------------------------------------------------------

    def create_assistant(self, body: object) -> Json:
        dto = _without_nulls(validate_body(body, ASSISTANT_FIELDS, "CreateAssistantDTO"))
        self._check_assistant(dto, "")
        assistant = self._stamp(dto)
        self.assistants[assistant["id"]] = assistant
        return copy.deepcopy(assistant)

    def _assistant(self, assistant_id: str) -> Json:
        try:
            return self.assistants[assistant_id]
        except KeyError:
            raise NotFound(f"Assistant {assistant_id} not found") from None

    def get_assistant(self, assistant_id: str) -> Json:
        return copy.deepcopy(self._assistant(assistant_id))

    def list_assistants(self, query: Mapping[str, str]) -> list[Json]:
        return self._listed(self.assistants.values(), _parse_query(query, LIST_QUERY))

    def update_assistant(self, assistant_id: str, body: object) -> Json:
        assistant = self._assistant(assistant_id)
        dto = validate_body(body, ASSISTANT_FIELDS, "UpdateAssistantDTO")
        self._check_assistant(dto, "")
        return self._patched(assistant, dto, self.now_ms())

    def delete_assistant(self, assistant_id: str) -> Json:
        self._assistant(assistant_id)
        return self.assistants.pop(assistant_id)

    # -- squads -------------------------------------------------------------------------------

    def create_squad(self, body: object) -> Json:
        dto = _without_nulls(validate_body(body, SQUAD_FIELDS, "CreateSquadDTO"))
        self._check_squad(dto)
        squad = self._stamp(dto)
        self.squads[squad["id"]] = squad
        return copy.deepcopy(squad)

    def _squad(self, squad_id: str) -> Json:
        try:
            return self.squads[squad_id]
        except KeyError:
            raise NotFound(f"Squad {squad_id} not found") from None

    def get_squad(self, squad_id: str) -> Json:
        return copy.deepcopy(self._squad(squad_id))

    def list_squads(self, query: Mapping[str, str]) -> list[Json]:
        return self._listed(self.squads.values(), _parse_query(query, LIST_QUERY))

    def update_squad(self, squad_id: str, body: object) -> Json:
        squad = self._squad(squad_id)
        dto = validate_body(body, SQUAD_FIELDS, "UpdateSquadDTO")
        self._check_squad(dto)
        return self._patched(squad, dto, self.now_ms())

    def delete_squad(self, squad_id: str) -> Json:
        self._squad(squad_id)
        return self.squads.pop(squad_id)

    def _check_squad(self, squad: Mapping[str, Any]) -> None:
        """Members need an assistant (inline or an existing assistantId), as Vapi refuses one without."""
        members = squad.get("members") or []
        if not members:
            raise BadRequest(["members must contain at least 1 elements"])
        for index, member in enumerate(members):
            inline, assistant_id = member.get("assistant"), member.get("assistantId")
            if assistant_id is not None and assistant_id not in self.assistants:
                raise BadRequest(f"Couldn't Get Assistant. `members[{index}].assistantId` {assistant_id} Not Found.")
            if inline is None and assistant_id is None:
                raise BadRequest([f"members.{index}.Need Either `assistant` Or `assistantId`."])
            self._check_assistant(inline, f"members.{index}.assistant.")

    def call_squad(self, call: Mapping[str, Any]) -> Json | None:
        """The squad a call runs (inline or by squadId), each member's assistant resolved from its assistantId."""
        squad = call.get("squad")
        if not isinstance(squad, dict):
            squad = self.squads.get(str(call.get("squadId")))
        if not isinstance(squad, dict):
            return None
        squad = copy.deepcopy(squad)
        for member in squad.get("members") or []:
            if not isinstance(member.get("assistant"), dict) and member.get("assistantId") in self.assistants:
                member["assistant"] = copy.deepcopy(self.assistants[member["assistantId"]])
        return squad

    def squad_first_assistant(self, squad: Mapping[str, Any]) -> Json:
        """The assistant a squad's call starts with: its first member, with membersOverrides and the member's
        assistantOverrides over it (the call's later members come from the scenario it plays)."""
        first = (squad.get("members") or [{}])[0]
        inline = first.get("assistant")
        base = copy.deepcopy(inline) if isinstance(inline, dict) else copy.deepcopy(self.assistants.get(
            str(first.get("assistantId")), {}))
        for overrides in (squad.get("membersOverrides"), first.get("assistantOverrides")):
            if isinstance(overrides, dict):
                base.update(copy.deepcopy(overrides))
        return base

    # -- phone numbers ------------------------------------------------------------------------

    def create_phone_number(self, body: object) -> Json:
        provider = body.get("provider") if isinstance(body, dict) else None
        if provider not in CREATE_PHONE_NUMBER_FIELDS:
            if not isinstance(body, dict):
                raise BadRequest(["request body must be a JSON object"])
            raise BadRequest([f"provider must be one of the following values: {', '.join(PHONE_PROVIDERS)}"])
        dto = _without_nulls(
            validate_body(body, CREATE_PHONE_NUMBER_FIELDS[str(provider)], f"Create{_PHONE_DTO[str(provider)]}")
        )
        if provider == "vapi" and "sipUri" not in dto:
            area = dto.get("numberDesiredAreaCode") or str(self.rng.randint(201, 989))
            dto["number"] = f"+1{area}{self.rng.randint(2_000_000, 9_999_999)}"
        number = self._stamp({**dto, "status": "active"})
        self.phone_numbers[number["id"]] = number
        return copy.deepcopy(number)

    def _phone_number(self, phone_number_id: str) -> Json:
        try:
            return self.phone_numbers[phone_number_id]
        except KeyError:
            raise NotFound(f"Phone number {phone_number_id} not found") from None

    def get_phone_number(self, phone_number_id: str) -> Json:
        return copy.deepcopy(self._phone_number(phone_number_id))

    def list_phone_numbers(self, query: Mapping[str, str]) -> list[Json]:
        return self._listed(self.phone_numbers.values(), _parse_query(query, LIST_QUERY))

    def update_phone_number(self, phone_number_id: str, body: object) -> Json:
        number = self._phone_number(phone_number_id)
        provider = number["provider"]
        changes = validate_body(body, UPDATE_PHONE_NUMBER_FIELDS[provider], f"Update{_PHONE_DTO[provider]}")
        return self._patched(number, changes, self.now_ms())

    def delete_phone_number(self, phone_number_id: str) -> Json:
        self._phone_number(phone_number_id)
        return self.phone_numbers.pop(phone_number_id)

    # -- calls --------------------------------------------------------------------------------

    def _resolve_assistant(self, dto: Mapping[str, Any], phone: Mapping[str, Any] | None) -> Json | None:
        inline = dto.get("assistant")
        if isinstance(inline, dict):
            return copy.deepcopy(inline)
        squad = dto.get("squad")
        if isinstance(squad, dict):
            self._check_squad(squad)
            return self.squad_first_assistant(squad)
        squad_id = dto.get("squadId") or (None if dto.get("assistantId") else (phone or {}).get("squadId"))
        if squad_id is not None:
            if squad_id not in self.squads:
                raise BadRequest(f"Couldn't Get Squad. `squadId` {squad_id} Not Found.")
            return self.squad_first_assistant(self.squads[squad_id])
        assistant_id = dto.get("assistantId") or (phone or {}).get("assistantId")
        if assistant_id is None:
            return None
        if assistant_id not in self.assistants:
            raise BadRequest(f"Couldn't Get Assistant. `assistantId` {assistant_id} Not Found.")
        return copy.deepcopy(self.assistants[assistant_id])

    @staticmethod
    def _require_runner(dto: Mapping[str, Any], phone: Mapping[str, Any] | None) -> None:
        sources = ("assistant", "assistantId", "squad", "squadId", "workflow", "workflowId")
        if any(dto.get(k) is not None for k in sources):
            return
        if phone is not None and any(phone.get(k) for k in ("assistantId", "squadId", "workflowId", "server")):
            return
        raise BadRequest(
            "Need Either `assistant`, `assistantId`, `squad`, `squadId`, `workflow`, Or `workflowId`"
            + (" (or a phone number with an assistant or server url)." if phone is not None else ".")
        )

    def _new_call(self, fields: Json, *, assistant: Json | None, base_url: str) -> CallRecord:
        call = self._stamp({**fields, "status": "scheduled" if "schedulePlan" in fields else "queued"})
        call.setdefault("cost", 0)
        urls = _CallUrls(base_url, call["id"])
        call["monitor"] = {"listenUrl": urls.listen, "controlUrl": urls.control}
        if call["type"] == "vapi.websocketCall":
            call["transport"] = {**call["transport"], "websocketCallUrl": urls.transport}
        elif call["type"] == "webCall":
            call["webCallUrl"] = urls.web
            call["transport"] = {**call.get("transport", {}), "provider": "daily", "callUrl": urls.web}
        record = CallRecord(call, assistant=assistant, now_ms=self.now_ms)
        self.calls[record.id] = record
        return record

    def create_call(self, body: object, *, base_url: str) -> CallCreation:
        """POST /call: a web, websocket or outbound phone call, or one call per ``customers[]``.

        ``base_url`` (``http://host:port`` of this server) makes the call's transport,
        listen and control URLs point back here.
        """
        customers_given = body.get("customers") if isinstance(body, dict) else None
        if isinstance(customers_given, list) and len(customers_given) > MAX_BATCH_CUSTOMERS:
            # Before validating each of them: refused by its length alone.
            raise BadRequest([f"customers must contain no more than {MAX_BATCH_CUSTOMERS} elements"])
        dto = _without_nulls(validate_body(body, CREATE_CALL_FIELDS, "CreateCallDTO"))
        transport = dto.get("transport") or {}
        phone: Json | None = None
        if "phoneNumberId" in dto:
            phone = self.phone_numbers.get(dto["phoneNumberId"])
            if phone is None:
                raise BadRequest(f"Couldn't Get Phone Number. `phoneNumberId` {dto['phoneNumberId']} Not Found.")
        self._require_runner(dto, phone)
        assistant = self._resolve_assistant(dto, phone)
        self._check_assistant(assistant, "assistant." if isinstance(dto.get("assistant"), dict) else "")
        customers = dto.pop("customers", None)
        has_customer = customers is not None or "customer" in dto or "customerId" in dto
        has_phone = phone is not None or "phoneNumber" in dto

        if transport.get("provider") == "vapi.websocket":
            audio = transport.get("audioFormat") or {
                "format": "pcm_s16le",
                "container": "raw",
                "sampleRate": 16000,
            }
            rate = audio.get("sampleRate") if isinstance(audio, dict) else None
            rate_problem = sample_rate_problem(rate) if rate is not None else None
            if rate_problem is not None:
                # The spec allows any rate from 0 to 192000; the mock refuses at creation what its audio
                # source cannot stream, rather than accept the call and drop its websocket later.
                raise BadRequest([f"transport.audioFormat.sampleRate {rate_problem}"])
            dto["transport"] = {**transport, "audioFormat": audio}
            call_type = "vapi.websocketCall"
        elif has_phone or has_customer or transport.get("provider") in _PHONE_TRANSPORTS:
            if not has_phone:
                raise BadRequest("Need Either `phoneNumberId` Or `phoneNumber` to call a customer.")
            if not has_customer:
                raise BadRequest("Need Either `customer`, `customers` Or `customerId` for an outbound call.")
            call_type = "outboundPhoneCall"
            provider = "twilio" if phone is None else phone["provider"]
            dto.setdefault("phoneCallProvider", "vapi" if provider == "byo-phone-number" else provider)
            dto.setdefault("phoneCallTransport", "pstn")
        else:
            call_type = "webCall"

        fields = {"type": call_type, **dto}
        if customers is None:
            record = self._new_call(fields, assistant=assistant, base_url=base_url)
            record.for_browser = call_type == "webCall" and transport.get("provider") == "daily"
            return CallCreation(body=record.to_json(), records=[record])
        records = [
            self._new_call({**fields, "customer": customer}, assistant=assistant, base_url=base_url)
            for customer in customers
        ]
        return CallCreation(body={"results": [r.to_json() for r in records], "errors": []}, records=records)

    def create_web_call(self, body: object, *, base_url: str) -> CallCreation:
        """POST /call/web (what the web SDK's ``vapi.start()`` calls): a webCall with ``webCallUrl``."""
        dto = _without_nulls(validate_body(body, CREATE_WEB_CALL_FIELDS, "CreateWebCallDTO"))
        self._require_runner(dto, None)
        assistant = self._resolve_assistant(dto, None)
        self._check_assistant(assistant, "assistant." if isinstance(dto.get("assistant"), dict) else "")
        room_delete = dto.pop("roomDeleteOnUserLeaveEnabled", True)
        fields = {"type": "webCall", **dto, "transport": {"roomDeleteOnUserLeaveEnabled": room_delete}}
        record = self._new_call(fields, assistant=assistant, base_url=base_url)
        record.for_browser = True
        return CallCreation(body=record.to_json(), records=[record])

    def create_inbound_call(
        self, phone_number_id: str, *, base_url: str, customer: Mapping[str, Any] | None = None
    ) -> CallRecord:
        """An inbound call to one of the org's phone numbers (for the control plane; no HTTP route).

        The call runs the number's assistant (``record.assistant``; None when the number only
        has a server url, i.e. an assistant-request).
        """
        phone = self._phone_number(phone_number_id)
        self._require_runner({}, phone)
        assistant = self._resolve_assistant({}, phone)
        provider = phone["provider"]
        fields: Json = {
            "type": "inboundPhoneCall",
            "phoneNumberId": phone_number_id,
            "phoneCallProvider": "vapi" if provider == "byo-phone-number" else provider,
            "phoneCallTransport": "pstn",
            "customer": copy.deepcopy(dict(customer)) if customer else {"number": "+15555550100"},
        }
        for key in ("assistantId", "squadId", "workflowId"):
            if key in phone:
                fields[key] = phone[key]
        return self._new_call(fields, assistant=assistant, base_url=base_url)

    def get_call(self, call_id: str) -> CallRecord:
        try:
            return self.calls[call_id]
        except KeyError:
            raise NotFound(f"Call {call_id} not found") from None

    def list_calls(self, query: Mapping[str, str]) -> list[Json]:
        return self._listed((r.data for r in self.calls.values()), _parse_query(query, CALL_LIST_QUERY))

    def update_call(self, call_id: str, body: object) -> Json:
        record = self.get_call(call_id)
        record.apply(validate_body(body, UPDATE_CALL_FIELDS, "UpdateCallDTO"))
        return record.to_json()

    def delete_call(self, call_id: str, body: object = None) -> Json:
        """DELETE /call/{id}; a body ``{"ids": [...]}`` deletes those instead (unknown ones skipped).

        Answers the deleted call: the one named in the path when it was among them, else the
        first one deleted; 404 when nothing was deleted.
        """
        dto = validate_body({} if body is None else body, DELETE_CALL_FIELDS, "DeleteCallDTO")
        ids = dto.get("ids") or [call_id]
        deleted = [self.calls.pop(i) for i in dict.fromkeys(ids) if i in self.calls]
        if not deleted:
            raise NotFound(f"Call {call_id} not found")
        for record in deleted:
            record.deleted = True
        chosen = next((r for r in deleted if r.id == call_id), deleted[0])
        return chosen.to_json()

    def iter_calls(self) -> Iterator[CallRecord]:
        return iter(list(self.calls.values()))


@dataclass(frozen=True)
class _CallUrls:
    base_url: str  # http(s)://host:port
    call_id: str

    @property
    def _ws_base(self) -> str:
        return "ws" + self.base_url.removeprefix("http")

    @property
    def transport(self) -> str:
        return f"{self._ws_base}/{self.call_id}/transport"

    @property
    def listen(self) -> str:
        return f"{self._ws_base}/{self.call_id}/listen"

    @property
    def control(self) -> str:
        return f"{self.base_url}/{self.call_id}/control"

    @property
    def web(self) -> str:
        return f"{self.base_url}/{self.call_id}/web"
