"""What every message of one call carries, built once per call: the call, customer, phone number and
assistant objects (`CallContext`), who subscribed to which messages, the servers webhooks go to, and
the names a scenario's templates can use."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mockvapi.fakes import Fakes
from mockvapi.models.messages import (
    DEFAULT_CLIENT_MESSAGES,
    DEFAULT_SERVER_MESSAGES,
    Message,
    Side,
    Transcript,
    subscribed,
)
from mockvapi.scenario import templating
from mockvapi.scenario.schema import Assistant, Scenario

__all__ = [
    "DEFAULT_START_MS",
    "CallContext",
    "CallOverrides",
    "CallSetup",
    "apply_subscriptions",
    "build_context",
    "full_server",
    "iso",
    "public_server",
    "redacted",
    "server_for",
    "server_wire",
    "template_context",
]

# 2026-01-05T09:00:00Z: a Monday morning, so default timestamps look like a real office call.
DEFAULT_START_MS = 1_767_603_600_000

# Fields of a REST Call record that change while it plays; messages carry the call as it was created.
VOLATILE_CALL_FIELDS = frozenset({"status", "endedReason", "startedAt", "endedAt", "messages", "artifact",
                                  "analysis", "cost", "costs", "costBreakdown", "endedMessage"})
_SECRET_SERVER_KEYS = ("secret", "credential")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Render = Callable[[Any, tuple[str | int, ...]], Any]


@dataclass(frozen=True)
class CallOverrides:
    """What the REST API (or a test) decided about a call before it plays: these replace the scenario's."""

    call: Mapping[str, Any] | None = None  # the Call object as created (id, type, customer, transport...)
    assistant: Mapping[str, Any] | None = None  # the assistant the call runs, merged over the scenario's
    phone_number: Mapping[str, Any] | None = None
    assistant_request: bool | None = None  # ask the server for the assistant first (inbound calls)
    # The assistants the REST API holds, by id (the server layer's lookup): how an assistant-request reply's
    # `assistantId` is resolved. None: no REST API behind the call; the scenario's assistant stands in.
    find_assistant: Callable[[str], Mapping[str, Any] | None] | None = None
    # The squad the call was created with (POST /call `squad`/`squadId`), members' assistants resolved:
    # a scenario's squad member takes the REST member of the same name (and membersOverrides) over it.
    squad: Mapping[str, Any] | None = None
    # The squads the REST API holds, by id, members' assistants resolved: how an assistant-request reply's
    # `squadId` is resolved. None: no REST API behind the call; the scenario's squad stands in.
    find_squad: Callable[[str], Mapping[str, Any] | None] | None = None


@dataclass
class CallContext:
    """The objects every message of one call carries, built once per call."""

    call: dict[str, Any]
    customer: dict[str, Any] | None
    phone_number: dict[str, Any] | None
    assistant: dict[str, Any] | None
    start_ms: int
    server_messages: tuple[str, ...] = DEFAULT_SERVER_MESSAGES
    client_messages: tuple[str, ...] = DEFAULT_CLIENT_MESSAGES
    # The Call as the last rendered message carried it: (its live fields, `call` as it was then, the merged
    # dict, `encoding.steady_changes` when `call` last equalled that copy), so messages between two status
    # changes share one Call object (see timeline.render_message).
    live_call: tuple[Mapping[str, Any], dict[str, Any], dict[str, Any], int] | None = field(
        default=None, init=False, repr=False, compare=False)
    # The artifact the last rendered message carried: its (base, n) slice of the history, shared by the next
    # messages while the history up to n is the same (see timeline.render_message).
    artifact: tuple[int, int, dict[str, Any]] | None = field(default=None, init=False, repr=False, compare=False)
    # `wants`'s answers on each side: (the subscription, the answers by message type), see `_answers`.
    _server_answers: tuple[tuple[str, ...], dict[str, bool]] | None = field(
        default=None, init=False, repr=False, compare=False)
    _client_answers: tuple[tuple[str, ...], dict[str, bool]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def wants(self, message: Message, side: Side) -> bool:
        if side not in message.sides:
            return False
        server = side == "server"
        subscription = self.server_messages if server else self.client_messages
        type_name = message.type_name
        if type_name == "transcript" and isinstance(message, Transcript) and message.transcript_type == "partial":
            return "transcript" in subscription
        # Asked for every message on each side (a scan of the subscription and a few set lookups): the answer for
        # a type is kept while the side's subscription is the same tuple.
        held = self._server_answers if server else self._client_answers
        if held is None or held[0] is not subscription:
            try:
                held = (subscription, _answers(subscription, side))
            except TypeError:  # an unhashable entry (a malformed list): this call's own answers
                held = (subscription, {})
            if server:
                self._server_answers = held
            else:
                self._client_answers = held
        answer = held[1].get(type_name)
        if answer is None:
            answer = held[1][type_name] = subscribed(type_name, subscription, side)
        return answer


@functools.lru_cache(maxsize=64)
def _answers(subscription: tuple[str, ...], side: Side) -> dict[str, bool]:
    """`subscribed`'s answers by message type for one subscription, filled in as asked: shared by every call with
    an equal subscription (most have the default one), so a live call holds a reference, not a dict of its own."""
    return {}


@dataclass
class CallSetup:
    """A built context and what the simulation keeps beside it."""

    context: CallContext
    assistant_request: bool
    audio_format: dict[str, Any] | None
    # Full server configs (with secrets) for delivery, by owner ("phone", "assistant"); messages carry
    # redacted copies.
    servers: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def build_context(
    scenario: Scenario,
    fakes: Fakes,
    start_ms: int,
    overrides: CallOverrides,
    call_id: str | None,
    render: Render,
    scenario_assistant: Callable[[], dict[str, Any]],
) -> CallSetup:
    """The call's context from the scenario and the overrides (the order of the fakes drawn is fixed:
    the same seed gives the same ids)."""
    s = scenario
    ids = fakes
    audio_format: dict[str, Any] | None = None
    cid = call_id or ids.uuid()
    org_id = ids.uuid()
    assistant_id = ids.uuid()
    customer_spec = s.call.customer
    name = render(customer_spec.name, ("call", "customer", "name")) if customer_spec.name else None
    number = render(customer_spec.number, ("call", "customer", "number")) if customer_spec.number else None
    phone_call = s.call.type in ("inboundPhoneCall", "outboundPhoneCall")
    customer: dict[str, Any] | None = None
    if phone_call or customer_spec.number or customer_spec.name:
        customer = {"number": number or ids.e164()}
        if name or phone_call:
            customer["name"] = name or fakes.faker.name()
        if customer_spec.email:
            customer["email"] = render(customer_spec.email, ("call", "customer", "email"))
    phone_number: dict[str, Any] | None = None
    phone_number_id = None
    if phone_call:
        spec = s.call.phoneNumber
        phone_number_id = ids.uuid()
        phone_number = {
            "provider": "byo-phone-number",
            "credentialId": ids.uuid(),
            "number": (spec.number if spec and spec.number else ids.e164()),
            "name": (spec.name if spec and spec.name else "Main line"),
        }
        if spec and spec.server and spec.server.url:
            phone_number["server"] = server_wire(spec.server.model_dump(exclude_none=True))
    created = iso(start_ms)
    call: dict[str, Any] = {
        "id": cid,
        "orgId": org_id,
        "createdAt": created,
        "updatedAt": created,
        "type": s.call.type,
        "assistantId": assistant_id,
    }
    if s.call.name:
        call["name"] = s.call.name
    if phone_call:
        call["phoneNumberId"] = phone_number_id
        call["phoneCallProvider"] = "vapi"
        call["phoneCallTransport"] = "pstn"
    if s.call.type == "vapi.websocketCall":
        fmt = s.call.audioFormat.model_dump(exclude_none=True) if s.call.audioFormat else {}
        fmt.setdefault("format", "pcm_s16le")
        fmt.setdefault("container", "raw")
        fmt.setdefault("sampleRate", 16000 if fmt["format"] == "pcm_s16le" else 8000)
        # The audio format stays off the wire: the spec types AudioFormat.format as an object, so no
        # real value validates. The websocket transport reads it from the simulation.
        audio_format = fmt
        call["transport"] = {"provider": "vapi.websocket"}
    if customer is not None:
        call["customer"] = customer
    o = overrides
    if o.call is not None:
        call = {k: v for k, v in o.call.items() if k not in VOLATILE_CALL_FIELDS}
        transport = call.get("transport")
        if isinstance(transport, dict) and "audioFormat" in transport:
            audio_format = dict(transport["audioFormat"])
            call["transport"] = {k: v for k, v in transport.items() if k != "audioFormat"}
        customer = dict(call["customer"]) if isinstance(call.get("customer"), dict) else customer
    if o.phone_number is not None:
        phone_number = dict(o.phone_number)
    assistant_request = s.call.assistant_request if o.assistant_request is None else o.assistant_request
    assistant = None if assistant_request else scenario_assistant()
    servers = {"phone": full_server(phone_number)}
    phone_number = redacted(phone_number)
    servers["assistant"] = full_server(assistant)
    assistant = redacted(assistant)
    ctx = CallContext(call, customer, phone_number, assistant, start_ms)
    apply_subscriptions(ctx, assistant, s.assistant)
    if assistant is not None:
        for key in ("serverMessages", "clientMessages"):
            assistant.pop(key, None)
    return CallSetup(ctx, assistant_request, audio_format, servers)


def apply_subscriptions(ctx: CallContext, assistant: Mapping[str, Any] | None, spec: Assistant | None) -> None:
    """The assistant's serverMessages/clientMessages (else the scenario's, if `spec` is given, else Vapi's
    defaults) decide what each side receives."""
    if assistant is None:
        return
    server = assistant.get("serverMessages", spec.serverMessages if spec is not None else None)
    client = assistant.get("clientMessages", spec.clientMessages if spec is not None else None)
    ctx.server_messages = tuple(server) if isinstance(server, list) else DEFAULT_SERVER_MESSAGES
    ctx.client_messages = tuple(client) if isinstance(client, list) else DEFAULT_CLIENT_MESSAGES


# -- servers ---------------------------------------------------------------------------------


def server_for(
    scenario: Scenario,
    servers: Mapping[str, dict[str, Any] | None],
    tool_name: str,
    tools: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """tool's server > assistant's > phone number's (PROTOCOL.md section 1a). `tools`: the tools of an
    assistant the server returned (by name), which replace the scenario's."""
    if tools is not None:
        server = (tools.get(tool_name) or {}).get("server") if tool_name else None
        if isinstance(server, Mapping) and server.get("url"):
            return dict(server)
    else:
        for tool in scenario.assistant.tools:
            if tool.name == tool_name and tool.server is not None and tool.server.url:
                return server_wire(tool.server.model_dump(exclude_none=True))
    for owner in ("assistant", "phone"):
        server = servers.get(owner)
        if server is not None and server.get("url"):
            return dict(server)
    return None


def public_server(server: Mapping[str, Any]) -> dict[str, Any]:
    """A server config as messages may show it: Vapi never echoes secrets (it refers to credentialId)."""
    return {k: v for k, v in server.items() if k not in _SECRET_SERVER_KEYS}


def full_server(owner: Mapping[str, Any] | None) -> dict[str, Any] | None:
    server = (owner or {}).get("server")
    return dict(server) if isinstance(server, Mapping) else None


def redacted(owner: dict[str, Any] | None) -> dict[str, Any] | None:
    if owner is None or not isinstance(owner.get("server"), Mapping):
        return owner
    return {**owner, "server": public_server(owner["server"])}


def server_wire(server: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's server block as Vapi's `server` object (with the legacy secret, inline credential)."""
    return {k: v for k, v in server.items() if v not in (None, {}, [])}


# -- templates -------------------------------------------------------------------------------


def template_context(
    fakes: Fakes,
    start_ms: int,
    assistant_name: str,
    context: CallContext | None,
    tool_results: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The names a scenario's `{{ }}` templates see (`context` is None while the context is built)."""
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC).date()
    return {
        "faker": fakes.faker,
        "customer": dict(context.customer or {}) if context is not None else {},
        "assistant": {"name": assistant_name},
        "call": {"id": context.call["id"]} if context is not None else {},
        "tools": tool_results,
        "next_weekday": lambda day: next_weekday(start, day),
        # A fake phone number in E.164 form, as Vapi's phone calls carry them (faker.phone_number is not).
        "e164_phone_number": fakes.e164_phone_number,
        "today": lambda: start.isoformat(),
    }


def next_weekday(start: date, day: str) -> str:
    name = day.strip().lower()
    if name not in _WEEKDAYS:
        raise templating.TemplateError(f"next_weekday wants a day name like 'tuesday', got {day!r}")
    ahead = (_WEEKDAYS.index(name) - start.weekday() - 1) % 7 + 1
    return (start + timedelta(days=ahead)).isoformat()
