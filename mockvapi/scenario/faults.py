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

__all__ = [
    "ASK_TYPES",
    "FAULT_KINDS",
    "Fault",
    "FaultPlan",
    "load_fault_file",
    "load_fault_text",
    "parse_compact",
    "plan_of",
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


Body = Duplicate | Reorder | Drop | Delay | StaleToken | UpdateAfterHang | CloseWebsocket | WrongSecret | Retry5xx


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
        kind_type = data.pop("type", None)
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
    body: dict[str, Any] = {"type": kind_type} if kind_type else {}
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
    return _validate(items, source, None)


def _validate(items: Any, file: str, smap: Any) -> FaultPlan:
    """Validate a list of fault entries; problems point into `smap` (a loader SourceMap) when there is one."""
    from mockvapi.scenario.loader import _describe, _suggest  # the loader imports the schema, which imports us

    try:
        return FaultPlan.model_validate({"faults": items})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            message = _describe(error) + _suggest(error, None)
            if smap is not None:
                where = smap.locate(loc[1:], key=error["type"] == "extra_forbidden")
            else:
                where = SourceLocation(file, 1, 1)
                path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
                message = f"faults{path}: {message}"
            problems.append(ScenarioProblem(where, message))
        raise ScenarioError(problems) from None


def load_fault_text(text: str, file: str = "<faults>") -> FaultPlan:
    """A fault plan from YAML: a list of faults, or a mapping with a `faults:` list; errors carry file:line:col."""
    from mockvapi.scenario.loader import SourceMap, parse_yaml

    data, smap = parse_yaml(text, file)
    if isinstance(data, Mapping) and set(data) == {"faults"} and isinstance(data["faults"], list):
        inner = SourceMap(file)
        inner.values = {k[1:]: v for k, v in smap.values.items() if k[:1] == ("faults",)}
        inner.keys = {k[1:]: v for k, v in smap.keys.items() if k[:1] == ("faults",)}
        data, smap = data["faults"], inner
    if not isinstance(data, list):
        where = smap.locate(())
        raise ScenarioError([ScenarioProblem(where, "expected a list of faults (or a mapping with `faults:`)")])
    return _validate(data, file, smap)


def load_fault_file(path: str) -> FaultPlan:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([ScenarioProblem(SourceLocation(path, 1, 1), f"cannot read file: {exc}")]) from None
    return load_fault_text(text, path)


def step_problems(faults: Sequence[Fault], steps: Sequence[Any], *, inside_step: bool) -> list[tuple[Any, str]]:
    """References a fault makes that the schema cannot check: `step:` must name a step of this scenario
    (top level), and is not allowed inside a step. Returns (path below the fault list, message)."""
    found: list[tuple[Any, str]] = []
    ids: list[str] = []
    for index, fault in enumerate(faults):
        ref = fault.body.step
        if ref is None:
            continue
        # Collected only when a fault refers to a step: the loader calls this once per step.
        ids = ids or [s.id for s in steps if getattr(s, "id", None)]
        path = (index, fault.kind, "step")
        if inside_step:
            found.append((path, "a fault inside a step applies to that step's messages; remove `step`"))
        elif isinstance(ref, int) and not isinstance(ref, bool):
            if not 1 <= ref <= len(steps):
                found.append((path, f"step {ref} does not exist: steps are numbered 1 to {len(steps)}"))
        elif ref not in ids:
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
