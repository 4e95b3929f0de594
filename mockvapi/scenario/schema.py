"""The scenario language (version 1), as pydantic models.

Keys the scenario defines itself are snake_case (`tokens_per_second`, `expect_reply`); keys that mirror
a Vapi object keep Vapi's camelCase (`firstMessage`, `serverMessages`, `timeoutSeconds`), so a QA author
can paste from Vapi's dashboard. Unknown keys are errors everywhere.

A step is a one-key mapping naming its kind (`user`, `assistant`, `tool`, `silence`, `transfer`,
`handoff`, `end`), optionally with an `id` beside it. Plain strings are shorthands: `user: "Hi"` is
`user: {say: "Hi"}`, `end: voicemail` is `end: {reason: voicemail}`.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from mockvapi.models.enums import CLIENT_MESSAGE_NAMES, ENDED_REASONS, SERVER_MESSAGE_NAMES
from mockvapi.scenario.faults import FAULT_KINDS, Fault
from mockvapi.scenario.values import CutPoint, Duration, Fraction

CallType = Literal["webCall", "inboundPhoneCall", "outboundPhoneCall", "vapi.websocketCall"]
STEP_KINDS: tuple[str, ...] = ("user", "assistant", "tool", "silence", "transfer", "handoff", "end")


# Words authors reach for that difflib would match to the wrong Vapi value.
_SYNONYMS = {
    "customer-hung-up": "customer-ended-call",
    "customer-hangup": "customer-ended-call",
    "hangup": "customer-ended-call",
    "hung-up": "customer-ended-call",
    "assistant-hung-up": "assistant-ended-call",
    "transferred": "assistant-forwarded-call",
    "silence": "silence-timed-out",
    "timeout": "silence-timed-out",
}


def one_of(allowed: frozenset[str], what: str) -> AfterValidator:
    """Check a string against a spec enum, suggesting the nearest value when it is not in it."""

    def check(value: str) -> str:
        if value not in allowed:
            near = [_SYNONYMS[value]] if _SYNONYMS.get(value) in allowed else []
            near = near or difflib.get_close_matches(value, sorted(allowed), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ValueError(f"{value!r} is not a Vapi {what}{hint}")
        return value

    return AfterValidator(check)


EndedReason = Annotated[str, one_of(ENDED_REASONS, "endedReason")]
ServerMessageName = Annotated[str, one_of(SERVER_MESSAGE_NAMES, "server message type")]
ClientMessageName = Annotated[str, one_of(CLIENT_MESSAGE_NAMES, "client message type")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _expand_scalar(field: str, value: Any) -> Any:
    """Shorthand: a bare scalar stands for `{field: scalar}`."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {field: value}
    return value


# ---------------------------------------------------------------------------------------------
# Call set-up


class Customer(Strict):
    number: str | None = None
    name: str | None = None
    email: str | None = None


class BackoffPlan(Strict):
    type: Literal["fixed", "exponential"] = "fixed"
    maxRetries: int = Field(default=0, ge=0, le=10)
    baseDelaySeconds: float = Field(default=1.0, ge=0, le=10, allow_inf_nan=False)
    excludedStatusCodes: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=list)


class Credential(Strict):
    """Inline credential (Vapi keeps these behind `credentialId`; a scenario states them directly)."""

    type: Literal["bearer", "hmac"]
    token: str | None = None
    headerName: str | None = None
    bearerPrefixEnabled: bool | None = None
    secretKey: str | None = None
    algorithm: Literal["sha256", "sha512", "sha1"] = "sha256"
    signatureHeader: str | None = None
    timestampHeader: str | None = None
    signatureEncoding: Literal["hex", "base64"] | None = None

    @model_validator(mode="after")
    def _needs_its_secret(self) -> Credential:
        if self.type == "bearer" and not self.token:
            raise ValueError("a bearer credential needs `token`")
        if self.type == "hmac" and not self.secretKey:
            raise ValueError("an hmac credential needs `secretKey`")
        return self


class Server(Strict):
    """Where server messages go (Vapi's `server` object, plus the legacy `secret`)."""

    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    secret: str | None = None
    timeoutSeconds: float = Field(default=20.0, gt=0, le=300, allow_inf_nan=False)
    backoffPlan: BackoffPlan | None = None
    credential: Credential | None = None


class PhoneNumber(Strict):
    number: str | None = None
    name: str | None = None
    provider: Literal["vapi", "twilio", "vonage", "telnyx", "byo-phone-number"] = "vapi"
    server: Server | None = None


class AudioFormat(Strict):
    format: Literal["pcm_s16le", "mulaw"] = "pcm_s16le"
    container: Literal["raw"] = "raw"
    # Vapi allows up to 192 kHz; audio goes out in 20 ms frames, so the rate must give whole samples.
    sampleRate: int | None = Field(default=None, ge=8000, le=192000, multiple_of=50)


class CallSetup(Strict):
    type: CallType = "webCall"
    customer: Customer = Field(default_factory=Customer)
    phoneNumber: PhoneNumber | None = None
    name: str | None = None
    audioFormat: AudioFormat | None = None
    assistant_request: bool = Field(
        default=False,
        description="Inbound call whose assistant is asked of the server with assistant-request first.",
    )


class Tool(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    # Either a shorthand {arg: type} or a full JSON Schema object (with "type": "object").
    parameters: dict[str, Any] = Field(default_factory=dict)
    async_: bool = Field(default=False, alias="async")
    server: Server | None = None

    def json_schema(self) -> dict[str, Any]:
        if self.parameters.get("type") == "object":
            return dict(self.parameters)
        props = {
            name: (spec if isinstance(spec, dict) else {"type": str(spec)})
            for name, spec in self.parameters.items()
        }
        return {"type": "object", "properties": props, "required": list(props)}


class VoicemailDetection(Strict):
    """The spec's *VoicemailDetectionPlan: which provider listens for a machine, and how long for the beep."""

    provider: Literal["vapi", "google", "openai", "twilio"]
    beepMaxAwaitSeconds: float | None = Field(default=None, ge=0, le=30, description="Default 30.")
    type: Literal["audio", "transcript"] | None = None
    enabled: bool | None = Field(default=None, description="Twilio only; default true.")


class SmartEndpointingPlan(Strict):
    provider: Literal["vapi", "livekit", "custom-endpointing-model"]


class StartSpeakingPlan(Strict):
    smartEndpointingPlan: SmartEndpointingPlan | None = None


class KnowledgeBase(Strict):
    provider: Literal["custom-knowledge-base"] = "custom-knowledge-base"
    server: Server | None = Field(default=None, description="Where knowledge-base-request goes (default: "
                                  "the assistant's server).")


class Assistant(Strict):
    name: str = "Riley"
    firstMessage: str | None = None
    firstMessageMode: Literal[
        "assistant-speaks-first",
        "assistant-waits-for-user",
        "assistant-speaks-first-with-model-generated-message",
    ] = "assistant-speaks-first"
    system: str | None = Field(default=None, description="The system prompt (model.messages[0]).")
    model: str = "gpt-4o"
    serverMessages: list[ServerMessageName] | None = None
    clientMessages: list[ClientMessageName] | None = None
    server: Server | None = None
    tools: list[Tool] = Field(default_factory=list)
    firstMessageInterruptionsEnabled: bool | None = Field(
        default=None, description="Whether the user can cut the first message (Vapi's default: false)."
    )
    # Ranges from the spec: CreateAssistantDTO.maxDurationSeconds, TransferAssistant.silenceTimeoutSeconds.
    maxDurationSeconds: float | None = Field(default=None, ge=10, le=43200, description="Default 600.")
    silenceTimeoutSeconds: float | None = Field(default=None, ge=5, le=3600, description="Default 30.")
    endCallPhrases: list[Annotated[str, Field(min_length=2, max_length=140)]] | None = None
    voicemailMessage: str | None = Field(default=None, max_length=1000)
    endCallMessage: str | None = Field(default=None, max_length=1000)
    voicemailDetection: Literal["off"] | VoicemailDetection | None = Field(
        default=None, description="Off unless set (outbound calls only)."
    )
    knowledgeBase: KnowledgeBase | None = Field(
        default=None, description="A custom knowledge base (model.knowledgeBase): each answer first asks the "
        "server (knowledge-base-request).",
    )
    startSpeakingPlan: StartSpeakingPlan | None = Field(
        default=None, description="With smartEndpointingPlan.provider custom-endpointing-model, each user turn "
        "asks the server (call.endpointing.request) how long to wait.",
    )
    metadata: dict[str, Any] | None = None

    @field_validator("voicemailDetection", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML reads a bare `off` as false


class Timing(Strict):
    """How fast things happen. Defaults follow Vapi's documented defaults and typical live traffic."""

    tokens_per_second: float = Field(default=35.0, ge=0.1, le=1000, allow_inf_nan=False)
    first_token_latency: Duration = 0.6
    jitter: Fraction = 0.1
    words_per_minute: float = Field(
        default=165.0, ge=1, le=600, allow_inf_nan=False, description="Assistant speech rate."
    )
    user_words_per_minute: float = Field(default=150.0, ge=1, le=600, allow_inf_nan=False)
    user_pause: Duration = Field(default=0.8, description="Silence before the user answers.")
    wait_seconds: Duration = Field(default=0.4, description="startSpeakingPlan.waitSeconds.")
    voice_latency: Duration = Field(default=0.3, description="First audio after the first sentence.")
    voice_seconds: Duration = Field(default=0.2, description="stopSpeakingPlan.voiceSeconds.")
    backoff_seconds: Duration = Field(default=1.0, description="stopSpeakingPlan.backoffSeconds.")
    hang_after: Duration = Field(default=5.0, description="Silence of model or tool before Vapi sends hang.")
    ring: Duration = Field(default=3.0, description="How long a phone call rings.")
    report_delay: Duration = Field(default=2.0, description="From the end to the end-of-call-report.")


# ---------------------------------------------------------------------------------------------
# Steps


class UserTurn(Strict):
    say: str = Field(min_length=1)
    after: Duration | None = Field(default=None, description="Pause before the user starts speaking.")
    confidence: float = Field(default=0.95, ge=0, le=1, allow_inf_nan=False)
    barge_in: Duration | None = Field(
        default=None,
        description="First step only: the user starts speaking this long into the first message, which "
        "stops there if firstMessageInterruptionsEnabled (else it plays on and the user's turn follows it).",
    )
    endpointing: Duration | None = Field(
        default=None,
        description="Custom endpointing: the scripted reply's timeoutSeconds to call.endpointing.request (0-15).",
    )
    language: str | None = Field(
        default=None, min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="The transcriber detects this language on the turn (language-change-detected).",
    )

    @model_validator(mode="after")
    def _endpointing_in_range(self) -> UserTurn:
        if self.endpointing is not None and self.endpointing > 15:
            raise ValueError(f"endpointing is at most 15 seconds (the spec's timeoutSeconds), got {self.endpointing}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _expand_scalar("say", value)


class Interruption(Strict):
    after: CutPoint = Field(description="`N tokens` into the answer, or a time after speech starts.")
    by: str | None = Field(default=None, min_length=1, description="The user's words that cut in.")
    hangup: bool = Field(default=False, description="The customer hangs up instead of speaking.")

    @model_validator(mode="after")
    def _by_or_hangup(self) -> Interruption:
        if (self.by is None) == (not self.hangup):
            raise ValueError("an interruption needs either `by: <words>` or `hangup: true`")
        return self


class KnowledgeDocument(Strict):
    content: str = Field(min_length=1)
    similarity: float = Field(default=1.0, ge=0, le=1, allow_inf_nan=False)


class KnowledgeReply(Strict):
    """The scripted reply to knowledge-base-request before this answer (a custom knowledge base)."""

    documents: list[KnowledgeDocument] = Field(default_factory=list, max_length=100)
    message: str | None = Field(default=None, min_length=1, description="Spoken instead of the model's answer.")
    latency: Duration = Field(default=0.1, description="How long the knowledge base takes to answer.")


class AssistantTurn(Strict):
    say: str = Field(min_length=1)
    interrupted: Interruption | None = None
    knowledge: KnowledgeReply | None = Field(
        default=None, description="With a custom knowledge base: the scripted knowledge-base-request reply."
    )
    delay: Duration = Field(default=0.0, description="Extra model latency before the first token.")
    hang_after: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _expand_scalar("say", value)


class ReplyExpectation(Strict):
    """Checks on what the system under test answers to a tool call."""

    within: Duration | None = None
    status: int | None = Field(default=None, ge=100, le=599)
    result_contains: str | None = None
    result_equals: Any = None
    error: bool | None = Field(default=None, description="Whether the reply is an error result.")


class ToolStep(Strict):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = Field(default="Success.", description="Scripted reply when no server answers.")
    error: str | None = Field(default=None, description="Scripted error reply instead of a result.")
    status: int = Field(default=200, ge=100, le=599, description="Scripted HTTP status of the reply.")
    latency: Duration = Field(default=0.3, description="Scripted reply latency (a floor for real replies).")
    hang_after: Duration | None = None
    expect_reply: ReplyExpectation | None = None


class Silence(Strict):
    duration: Duration

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _expand_scalar("duration", value)


class Transfer(Strict):
    number: str | None = None
    sip: str | None = None
    message: str | None = Field(default=None, description="What the assistant says before transferring.")
    # Without a destination the mock asks the server (transfer-destination-request).
    reason: EndedReason = "assistant-forwarded-call"


class Handoff(Strict):
    """The active squad member hands the call to another member (scenario/squad.py checks the names).

    With `to`, the destination is static: the member's handoff tool names it (`via: handoff`), or its
    transferCall tool transfers to an assistant destination (`via: transferCall`). Without `to`, the
    destination is dynamic: Vapi asks the server (handoff-destination-request) and `reply` is the scripted
    answer used when no server answers: a member name, or a raw reply body such as `{error: ...}`.
    """

    to: str | None = Field(
        default=None, min_length=1,
        description="The member handed to (static), or the assistantId of a saved assistant among the active "
        "member's assistantDestinations.",
    )
    via: Literal["handoff", "transferCall"] = "handoff"
    arguments: dict[str, Any] = Field(default_factory=dict, description="What the model passes the tool.")
    reply: str | dict[str, Any] | None = Field(
        default=None, description="Scripted reply to handoff-destination-request: a member name or a body."
    )
    status: int = Field(default=200, ge=100, le=599, description="Scripted HTTP status of the reply.")
    latency: Duration = Field(default=0.3, description="Scripted reply latency (a floor for real replies).")
    hang_after: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _expand_scalar("to", value)

    @model_validator(mode="after")
    def _static_or_dynamic(self) -> Handoff:
        if self.to is not None and self.reply is not None:
            raise ValueError("a handoff has either `to` (static) or `reply` (dynamic: the server decides)")
        if self.to is None and self.via == "transferCall":
            raise ValueError("a transferCall handoff needs `to`: the assistant destination it transfers to")
        return self


class End(Strict):
    reason: EndedReason = "customer-ended-call"
    say: str | None = Field(default=None, description="The assistant's last words before ending.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _expand_scalar("reason", value)


class Step(Strict):
    id: str | None = Field(default=None, description="A name for this step, used in reports.")
    user: UserTurn | None = None
    assistant: AssistantTurn | None = None
    tool: ToolStep | None = None
    silence: Silence | None = None
    transfer: Transfer | None = None
    handoff: Handoff | None = None
    end: End | None = None
    faults: list[Fault] = Field(
        default_factory=list, description="Faults injected into the messages this step produces."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, value: Any) -> Any:
        if isinstance(value, dict):
            kinds = [k for k in STEP_KINDS if k in value]
            if len(kinds) > 1:
                raise ValueError(
                    f"a step has exactly one kind, this one has {len(kinds)}: {', '.join(kinds)}"
                )
            if not kinds and not (set(value) - {"id", "faults"}):
                raise ValueError(f"a step needs one of: {', '.join(STEP_KINDS)}")
            if kinds and value[kinds[0]] is None:
                # `- user:` with nothing after it would validate to a step of no kind at all.
                raise ValueError(f"`{kinds[0]}:` is empty; give it a value")
        return value

    @property
    def kind(self) -> str:
        for kind in STEP_KINDS:
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated steps always have a kind")

    @property
    def body(self) -> Any:
        return getattr(self, self.kind)


# ---------------------------------------------------------------------------------------------
# Squads


class ContextPlan(Strict):
    """Vapi's contextEngineeringPlan: how much history the next member keeps."""

    type: Literal["all", "lastNMessages", "none"] = "all"
    maxMessages: int | None = Field(default=None, ge=0, le=10_000)

    @model_validator(mode="after")
    def _needs_max(self) -> ContextPlan:
        if (self.type == "lastNMessages") != (self.maxMessages is not None):
            raise ValueError("`maxMessages` goes with `type: lastNMessages`, and only with it")
        return self


class SquadDestination(Strict):
    """Where this member may hand off to (Vapi's HandoffDestinationAssistant): another member by
    assistantName, or a saved assistant outside the squad by assistantId."""

    assistantName: str | None = Field(default=None, min_length=1)
    assistantId: str | None = Field(
        default=None, min_length=1, description="A saved assistant (the REST API's) outside the squad."
    )
    description: str | None = None
    message: str | None = Field(default=None, description="Said before the new member takes over.")
    contextEngineeringPlan: ContextPlan = Field(default_factory=ContextPlan)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"assistantName": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_target(self) -> SquadDestination:
        if (self.assistantName is None) == (self.assistantId is None):
            raise ValueError("a destination has either `assistantName` (a member) or `assistantId` (a saved "
                             "assistant outside the squad)")
        return self

    @property
    def target(self) -> str:
        """What a static handoff's `to` names it by."""
        return self.assistantName or self.assistantId or ""


class SquadMember(Strict):
    """One member: an assistant inline or the key of one in the scenario's `assistants:`."""

    assistant: str | Assistant
    assistantOverrides: dict[str, Any] | None = None
    assistantDestinations: list[SquadDestination] = Field(default_factory=list)
    timing: dict[str, Any] | None = Field(
        default=None, description="This member's voice and model timing (keys of `timing:`), over the scenario's."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"assistant": value} if isinstance(value, str) else value


class Squad(Strict):
    """Vapi's CreateSquadDTO: the call starts with the first member."""

    name: str | None = None
    members: list[SquadMember] = Field(min_length=1, max_length=50)
    membersOverrides: dict[str, Any] | None = None


class Expect(Strict):
    """Call-level expectations, checked after the call by the harness and `mockvapi run`."""

    ended_reason: EndedReason | None = None
    delivered: list[str] | None = Field(default=None, description="Message types that must be delivered.")
    not_delivered: list[str] | None = None
    max_reply_latency: Duration | None = None
    problems: int | None = Field(default=0, ge=0, le=1_000_000, description="How many problems may be recorded.")


class Scenario(Strict):
    version: Literal[1]
    name: str = Field(min_length=1)
    description: str | None = None
    seed: int = Field(default=0, ge=-(2**63), le=2**63 - 1)
    call: CallSetup = Field(default_factory=CallSetup)
    assistant: Assistant = Field(default_factory=Assistant)
    assistants: dict[str, Assistant] = Field(
        default_factory=dict, description="Named assistants squad members refer to by key."
    )
    squad: Squad | None = Field(default=None, description="Several assistants in one call (replaces `assistant`).")
    timing: Timing = Field(default_factory=Timing)
    steps: list[Step] = Field(min_length=1)
    expect: Expect | None = None
    faults: list[Fault] = Field(
        default_factory=list,
        description="Faults injected at delivery (duplicate, reorder, drop, delay, stale-token, "
        "update-after-hang, close-websocket, wrong-secret, retry-5xx); the timeline itself is unchanged.",
    )


def _fault_schema(defs: dict[str, Any]) -> None:
    """Faults accept what their `before` validators do: a compact string for the whole fault
    (`drop:transcript,nth=2`), a bare message type for a typed kind's body, no body at all."""
    fault = defs["Fault"]
    for kind in FAULT_KINDS:
        prop = fault["properties"][kind]
        variants = prop.pop("anyOf", None) or [dict(prop)]
        keep = {k: v for k, v in prop.items() if k in ("description", "title", "default")}
        ref = next((v["$ref"] for v in variants if "$ref" in v), None)
        body = defs.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
        if "description" in body:
            keep["description"] = body["description"]
        typed = "type" in body.get("properties", {})
        extra: list[dict[str, Any]] = [{"type": "string", "description": "The message type hit."}] if typed else []
        fault["properties"][kind] = {**keep, "anyOf": [*extra, *variants]}
    fault["oneOf"] = [{"required": [kind]} for kind in FAULT_KINDS]


def _fault_item() -> dict[str, Any]:
    """A fault list item: a Fault, or one compact string."""
    compact = "Compact form: KIND[:TYPE][,KEY=VALUE...], e.g. drop:transcript,nth=2"
    return {"anyOf": [{"type": "string", "description": compact}, {"$ref": "#/$defs/Fault"}]}


_SHORTHANDS = {"user": "string", "assistant": "string", "silence": "duration", "handoff": "string", "end": "string"}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario language, for editors' YAML language servers.

    pydantic's own schema misses what the `before` validators accept: the scalar shorthands
    (`user: "Hi"`, `silence: 30s`) and "exactly one kind per step"; both are added here.
    """
    schema = Scenario.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    step = defs["Step"]
    for kind, short in _SHORTHANDS.items():
        prop = step["properties"][kind]
        scalar: dict[str, Any] = {"type": "string"}
        if short == "duration":
            scalar = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]}
        variants = prop.pop("anyOf", None) or [dict(prop)]
        keep = {k: v for k, v in prop.items() if k in ("description", "title", "default")}
        step["properties"][kind] = {**keep, "anyOf": [scalar, *variants]}
    step["oneOf"] = [{"required": [kind]} for kind in STEP_KINDS]
    for name, short in (("SquadMember", "The key of an assistant in `assistants:`."),
                        ("SquadDestination", "A member's name (assistantName).")):
        defs[name] = {"anyOf": [{"type": "string", "description": short}, defs[name]]}
    _fault_schema(defs)
    schema["properties"]["faults"]["items"] = _fault_item()
    step["properties"]["faults"]["items"] = _fault_item()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mockvapi scenario"
    return schema
