"""Faults a QA author scripts into delivery: the network and Vapi misbehaving on purpose.

A fault is a one-key mapping naming its kind, like a step; its body selects the deliveries it hits
and gives its parameters:

    faults:
      - duplicate: tool-calls                     # shorthand: the message type
      - drop: {type: transcript, nth: 2, channel: websocket}
      - delay: {type: end-of-call-report, by: 3s}
      - retry-5xx: {times: 2, delay: 1s}
      - stale-token                               # a bare kind: its defaults
      - "reorder:speech-update,every=true"        # the compact form `mockvapi serve --fault` takes

The `api` kind is for the server (`serve --fault`, `PUT /_mockvapi/faults`, `MockVapi(faults=...)`), not
for scenarios: it makes the mock's REST API misbehave, per route and method, as Vapi's sometimes does:

      - api: {route: POST /call, status: 429}        # the first POST /call answered 429 (Retry-After: 1)
      - api: {route: GET /call/{id}, status: 503, times: 2, nth: 3}   # the 3rd and 4th
      - api: {route: POST /assistant, delay: 2s, every: true}
      - "api:PATCH /assistant/{id},drop=true"        # the connection closed with no answer

Selectors: `type` (a message type), `nth` (the nth matching delivery on a channel, from 1; default the
first) or `every: true`, `step` (top level only: a step id, or its number from 1), `at` (only messages at
or after this call offset), `channel` (`webhook` or `websocket`; default both). A fault inside a step
applies to the messages that step produces.

These are plain models (no I/O): the engine applies them at delivery, so the simulated timeline (what
Vapi meant to send) stays the same and only what was delivered differs.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from mockvapi.errors import ScenarioError, ScenarioProblem, SourceLocation
from mockvapi.models.messages import MESSAGE_TYPES
from mockvapi.scenario.values import Duration
from mockvapi.scenario.wording import describe, suggest

__all__ = [
    "API_METHODS",
    "ASK_TYPES",
    "FAULT_KINDS",
    "Api",
    "Fault",
    "FaultPlan",
    "parse_compact",
    "plan_of",
    "validate_plan",
]

FAULT_KINDS: tuple[str, ...] = (
    "duplicate",
    "reorder",
    "drop",
    "delay",
    "stale-token",
    "update-after-hang",
    "close-websocket",
    "wrong-secret",
    "retry-5xx",
    "api",
)
# Where Vapi waits for the server's answer: a held or dropped one of these changes the call.
ASK_TYPES = frozenset({"tool-calls", "assistant-request", "transfer-destination-request"})
FaultChannel = Literal["webhook", "websocket"]
# Close codes a server may not put in a close frame (RFC 6455 7.4.1).
_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})


def _message_type(value: str) -> str:
    if value not in MESSAGE_TYPES:
        near = difflib.get_close_matches(value, sorted(MESSAGE_TYPES), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ValueError(f"{value!r} is not a message type mockvapi sends{hint}")
    return value


MessageType = Annotated[str, AfterValidator(_message_type)]


class _Strict(BaseModel):
    # The scenario language's own settings (schema.Strict; not imported: schema imports this module).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class _Select(_Strict):
    """Which deliveries a fault hits."""

    nth: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Hit the nth matching delivery on each channel (from 1; default 1).",
    )
    every: bool = Field(default=False, description="Hit every matching delivery.")
    step: str | int | None = Field(
        default=None,
        description="Top-level faults only: the step (its id, or its number from 1) whose messages are hit.",
    )
    at: Duration | None = Field(default=None, description="Only messages at or after this call offset.")

    # Kinds that hit every match unless `nth` says otherwise.
    every_by_default: ClassVar[bool] = False

    @model_validator(mode="after")
    def _nth_or_every(self) -> _Select:
        if self.nth is not None and self.every:
            raise ValueError("give `nth` or `every: true`, not both")
        return self

    @property
    def hits_every(self) -> bool:
        return self.every or (self.every_by_default and self.nth is None)

    @property
    def which(self) -> int:
        return self.nth if self.nth is not None else 1


class _Typed(_Select):
    type: MessageType | None = Field(default=None, description="The message type hit (default: any).")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


def _channel_field() -> Any:
    return Field(default=None, description="`webhook` or `websocket` (client streams); default both.")


class Duplicate(_Typed):
    """Deliver the message again right after itself."""

    channel: FaultChannel | None = _channel_field()
    copies: int = Field(default=1, ge=1, le=10, description="How many extra copies.")


class Reorder(_Typed):
    """Deliver the message after the one that follows it on the same channel."""

    channel: FaultChannel | None = _channel_field()


class Drop(_Typed):
    """Do not deliver the message (the journal still records it, as not sent)."""

    channel: FaultChannel | None = _channel_field()


class Delay(_Typed):
    """Deliver the message later (in call time: a virtual clock makes it instant); others overtake it."""

    channel: FaultChannel | None = _channel_field()
    by: Duration = Field(description="How much later, e.g. 2s.")


class StaleToken(_Select):
    """Vapi's race: after a `user-interrupted`, deliver a `model-output` token of the cut-off turn again."""

    channel: FaultChannel | None = _channel_field()


class UpdateAfterHang(_Select):
    """The `conversation-update` sent just before a `hang` arrives after it."""

    channel: FaultChannel | None = _channel_field()


class CloseWebsocket(_Typed):
    """Close the call's websocket abruptly just before the selected message (or at `at:`)."""

    code: int | None = Field(
        default=None,
        ge=1000,
        le=4999,
        description="Close with this code; without it the TCP connection is dropped with no close frame "
        "(the peer sees 1006).",
    )

    @model_validator(mode="after")
    def _sendable(self) -> CloseWebsocket:
        if self.code in _RESERVED_CODES:
            raise ValueError(f"close code {self.code} cannot be sent in a close frame; leave `code` out for 1006")
        return self


class WrongSecret(_Typed):
    """Send a wrong `X-Vapi-Secret` on the selected webhook deliveries."""

    value: str = Field(default="wrong-secret", min_length=1, description="The header value sent instead.")


class Retry5xx(_Typed):
    """A webhook delivery answered with a 5xx is sent again, `times` times `delay` apart, backoffPlan or not."""

    every_by_default: ClassVar[bool] = True
    times: int = Field(default=2, ge=1, le=10, description="Retries at most.")
    delay: Duration = Field(default=1.0, description="Wait before each retry (call time).")


API_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE", "*")
API_STATUSES = (408, 429, 500, 502, 503, 504)


class Api(_Select):
    """A request to the mock's REST API answered with an error status, late, or not at all.

    Selected per route: `METHOD /path` as the API spells it (`POST /call`, `GET /call/{id}`, `POST
    /{call_id}/control`), a concrete path (`GET /call/0b7c...`), or `*` for any method. Requests are counted per
    fault from when its plan was set; `nth` (default 1), `times` (that many from the nth on) or `every: true`.
    The control plane (`/_mockvapi/...`) is never hit."""

    route: str = Field(description="`METHOD /path`, e.g. `POST /call` or `GET /call/{id}`; METHOD may be `*`.")
    status: Literal[408, 429, 500, 502, 503, 504] | None = Field(
        default=None, description="Answer this status with Vapi's JSON error body instead of the real answer."
    )
    retry_after: int | None = Field(
        default=None, ge=0, le=3600, description="Retry-After seconds sent with a 429 or 503 (default 1)."
    )
    delay: Duration | None = Field(default=None, description="Answer this much later (on the server's clock).")
    drop: bool = Field(default=False, description="Close the connection without answering.")
    times: int | None = Field(default=None, ge=1, le=1000, description="Hit this many requests from the nth on.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"route": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_action(self) -> Api:
        actions = [name for name, on in (("status", self.status is not None), ("delay", self.delay is not None),
                                         ("drop", self.drop)) if on]
        if len(actions) != 1:
            raise ValueError("an api fault needs exactly one of `status`, `delay` or `drop: true`"
                             + (f", not {' and '.join(actions)}" if actions else ""))
        if self.retry_after is not None and self.status not in (429, 503):
            raise ValueError("`retry_after` goes with `status: 429` or `status: 503`")
        if self.times is not None and self.every:
            raise ValueError("give `times` or `every: true`, not both")
        if self.step is not None or self.at is not None:
            raise ValueError("an api fault selects requests by `route`, `nth`, `times` or `every`, not `step` or `at`")
        method, _, path = self.route.strip().partition(" ")
        if method.upper() not in API_METHODS or not path.strip().startswith("/"):
            raise ValueError(f"route must be `METHOD /path` with METHOD one of {', '.join(API_METHODS)}, "
                             f"got {self.route!r}")
        if path.strip().startswith("/_mockvapi"):
            raise ValueError("the control plane (/_mockvapi/...) cannot be given faults")
        return self

    @property
    def method(self) -> str:
        return self.route.strip().partition(" ")[0].upper()

    @property
    def path(self) -> str:
        return self.route.strip().partition(" ")[2].strip()

    def matches(self, method: str, route: str, path: str) -> bool:
        """Whether a request (`route`: its path as the API's route table spells it) is one this fault selects."""
        return self.method in ("*", method.upper()) and self.path in (route, path)

    def hits(self, count: int) -> bool:
        """Whether the `count`-th matching request (from 1) is hit."""
        if self.every:
            return True
        return self.which <= count < self.which + (self.times or 1)


Body = (Duplicate | Reorder | Drop | Delay | StaleToken | UpdateAfterHang | CloseWebsocket | WrongSecret | Retry5xx
        | Api)


class Fault(_Strict):
    """One fault: exactly one of the kinds below."""

    duplicate: Duplicate | None = None
    reorder: Reorder | None = None
    drop: Drop | None = None
    delay: Delay | None = None
    stale_token: StaleToken | None = Field(default=None, alias="stale-token")
    update_after_hang: UpdateAfterHang | None = Field(default=None, alias="update-after-hang")
    close_websocket: CloseWebsocket | None = Field(default=None, alias="close-websocket")
    wrong_secret: WrongSecret | None = Field(default=None, alias="wrong-secret")
    retry_5xx: Retry5xx | None = Field(default=None, alias="retry-5xx")
    api: Api | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_compact(value)
        if isinstance(value, Mapping):
            kinds = [k for k in FAULT_KINDS if k in value or k.replace("-", "_") in value]
            if len(kinds) > 1:
                raise ValueError(f"a fault has exactly one kind, this one has {len(kinds)}: {', '.join(kinds)}")
            if not kinds and not value:
                raise ValueError(f"a fault needs one of: {', '.join(FAULT_KINDS)}")
            # `- stale-token:` (no body) or `stale-token: true`: the kind with its defaults.
            return {k: ({} if v is None or v is True else v) for k, v in value.items()}
        return value

    @property
    def kind(self) -> str:
        for kind in FAULT_KINDS:
            if getattr(self, kind.replace("-", "_")) is not None:
                return kind
        raise AssertionError("validated faults always have a kind")

    @property
    def body(self) -> Body:
        body: Body = getattr(self, self.kind.replace("-", "_"))
        return body

    def compact(self) -> str:
        """The one-line form `parse_compact` reads back (`drop:transcript,nth=2`)."""
        data = self.body.model_dump(exclude_defaults=True, by_alias=True)
        kind_type = data.pop("route" if self.kind == "api" else "type", None)
        parts = [self.kind + (f":{kind_type}" if kind_type else "")]
        parts += [f"{k}={_compact_value(v)}" for k, v in data.items()]
        return ",".join(parts)

    def __repr__(self) -> str:
        return f"Fault({self.compact()!r})"


def _compact_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}s"
    return str(value)


def parse_compact(text: str) -> dict[str, Any]:
    """`KIND[:TYPE][,KEY=VALUE...]` -> the mapping form, e.g. `delay:hang,by=2s` ->
    `{"delay": {"type": "hang", "by": "2s"}}`. Values are YAML scalars (`2`, `true`, `3s`)."""
    head, *pairs = [part.strip() for part in text.split(",")]
    kind, _, kind_type = (part.strip() for part in head.partition(":"))
    if kind not in FAULT_KINDS:
        near = difflib.get_close_matches(kind, FAULT_KINDS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; expected one of: {', '.join(FAULT_KINDS)}"
        raise ValueError(f"{kind!r} is not a fault kind{hint}")
    body: dict[str, Any] = {"route" if kind == "api" else "type": kind_type} if kind_type else {}
    for pair in pairs:
        key, eq, raw = (part.strip() for part in pair.partition("="))
        if not eq or not key:
            raise ValueError(f"expected KEY=VALUE after the fault kind, got {pair!r} (in {text!r})")
        try:
            body[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            body[key] = raw
    return {kind: body}


class FaultPlan(_Strict):
    """Faults for every call of a server (`MockVapi(faults=...)`, `mockvapi serve --fault`)."""

    faults: list[Fault] = Field(default_factory=list)

    def __add__(self, other: FaultPlan) -> FaultPlan:
        return FaultPlan(faults=[*self.faults, *other.faults])

    def __bool__(self) -> bool:
        return bool(self.faults)

    def __len__(self) -> int:
        return len(self.faults)

    def compact(self) -> list[str]:
        return [f.compact() for f in self.faults]

    def __repr__(self) -> str:
        return f"FaultPlan({self.compact()!r})"


PlanLike = FaultPlan | Fault | str | Mapping[str, Any] | Sequence[Fault | str | Mapping[str, Any]]


def plan_of(value: PlanLike | None, *, source: str = "<faults>") -> FaultPlan:
    """A FaultPlan from what a user hands over: a plan, one fault, a compact string, a mapping
    (`{"drop": "transcript"}` or `{"faults": [...]}`), or a list of those. Bad input: ScenarioError."""
    if value is None:
        return FaultPlan()
    if isinstance(value, FaultPlan):
        return value
    if isinstance(value, Fault):
        return FaultPlan(faults=[value])
    data: Any
    if isinstance(value, str | Mapping):
        data = list(value["faults"]) if isinstance(value, Mapping) and "faults" in value else [value]
    else:
        data = list(value)
    items = [f.model_dump(by_alias=True, exclude_defaults=True) if isinstance(f, Fault) else f for f in data]
    return validate_plan(items, source, None)


def validate_plan(items: Any, file: str, smap: Any) -> FaultPlan:
    """Validate a list of fault entries; problems point into `smap` (a loader SourceMap) when there is one."""
    try:
        return FaultPlan.model_validate({"faults": items})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            message = describe(error) + suggest(error, FaultPlan)
            if smap is not None:
                where = smap.locate(loc[1:], key=error["type"] == "extra_forbidden")
            else:
                where = SourceLocation(file, 1, 1)
                path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
                message = f"faults{path}: {message}"
            problems.append(ScenarioProblem(where, message))
        raise ScenarioError(problems) from None


def step_problems(faults: Sequence[Fault], steps: Sequence[Any], *, inside_step: bool) -> list[tuple[Any, str]]:
    """References a fault makes that the schema cannot check: `step:` must name a step of this scenario
    (top level), and is not allowed inside a step. Returns (path below the fault list, message)."""
    found: list[tuple[Any, str]] = []
    ids: list[str] = []
    known: set[str] | None = None  # looked up per fault: a list made many faults x many steps quadratic
    for index, fault in enumerate(faults):
        if fault.kind == "api":
            found.append(((index, "api"), "an api fault makes the mock's REST API misbehave: give it to the server "
                          "(serve --fault, PUT /_mockvapi/faults, MockVapi(faults=...)), not to a scenario"))
            continue
        ref = fault.body.step
        if ref is None:
            continue
        # Collected only when a fault refers to a step: the loader calls this once per step.
        if known is None:
            ids = [s.id for s in steps if getattr(s, "id", None)]
            known = set(ids)
        path = (index, fault.kind, "step")
        if inside_step:
            found.append((path, "a fault inside a step applies to that step's messages; remove `step`"))
        elif isinstance(ref, int) and not isinstance(ref, bool):
            if not 1 <= ref <= len(steps):
                found.append((path, f"step {ref} does not exist: steps are numbered 1 to {len(steps)}"))
        elif ref not in known:
            near = difflib.get_close_matches(str(ref), ids, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else (f"; step ids: {', '.join(ids)}" if ids else
                                                                "; no step has an `id`")
            found.append((path, f"no step has id {ref!r}{hint}"))
    return found


def resolve_step(ref: str | int | None, steps: Sequence[Any]) -> int | None:
    """A `step:` reference as a step index (0-based); -1 when it names no step of this scenario."""
    if ref is None:
        return None
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref - 1 if 1 <= ref <= len(steps) else -1
    for index, step in enumerate(steps):
        if getattr(step, "id", None) == ref:
            return index
    return -1
