"""Wire-exact models of the Vapi messages mockvapi emits.

Field names, required fields and enums follow the official OpenAPI spec (`ServerMessage*` and
`ClientMessage*` schemas). Models hold only what is specific to each message type; the fields every
message carries (`timestamp`, `call`, `assistant`, `customer`, `phoneNumber`, and on the server side a
live `artifact`) are attached by :mod:`mockvapi.models.wire` when a message is rendered, because they
are built once per call and shared by all of its messages.

Two wire profiles exist (see ``Profile``): ``realistic`` is what live Vapi sends and ``spec`` is
exactly the OpenAPI schemas. The three places where they differ are handled in ``to_wire``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, overload

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Profile = Literal["realistic", "spec"]
Side = Literal["server", "client"]
PROFILES: tuple[Profile, ...] = ("realistic", "spec")
SIDES: tuple[Side, ...] = ("server", "client")


def profile_named(value: object) -> Profile:
    """`value` as an emitting profile, or a ValueError naming the two there are.

    The conformance checker's profiles are named differently ("strict" is the spec there), and a
    misnamed profile must not quietly emit the realistic deviations to someone asking for the spec."""
    if value in PROFILES:
        return "spec" if value == "spec" else "realistic"
    hint = " (the checker's 'strict' is the spec: emit with profile='spec')" if value == "strict" else ""
    raise ValueError(f"mockvapi: profile must be 'realistic' or 'spec', got {value!r}{hint}")


def side_named(value: object) -> Side:
    """`value` as a side messages go out on, or a ValueError naming the two there are."""
    if value in SIDES:
        return "server" if value == "server" else "client"
    raise ValueError(f"mockvapi: side must be 'server' or 'client', got {value!r}")

CallStatus = Literal[
    "scheduled", "queued", "ringing", "in-progress", "forwarding", "ended", "not-found", "deletion-failed"
]
SpeechRole = Literal["assistant", "user"]


class WireModel(BaseModel):
    """camelCase on the wire, `None` left out, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        # Which fields were given: a set per model was ~40 % of a live call's pydantic memory (a call keeps
        # every message it sent). The models are frozen (pydantic never adds to the set of a frozen model),
        # so every model given the same fields shares one set (pydantic's serializer wants a real set); a
        # copy gets a set of its own again (`__copy__`), as `model_copy(update=...)` adds to it.
        given = self.__pydantic_fields_set__
        key = frozenset(given)
        shared = _FIELDS_GIVEN.get(key)
        if shared is None:
            if len(_FIELDS_GIVEN) >= 4096:
                return  # keeps a set of its own
            shared = _FIELDS_GIVEN[key] = given
        object.__setattr__(self, "__pydantic_fields_set__", shared)

    def __copy__(self) -> Self:
        copied = super().__copy__()
        object.__setattr__(copied, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        copied = super().__deepcopy__(memo)
        object.__setattr__(copied, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        return copied

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# Shared "fields given" sets of WireModels (see `WireModel.model_post_init`); bounded, though a handful of
# field combinations is all the engine makes.
_FIELDS_GIVEN: dict[frozenset[str], set[str]] = {}


# ---------------------------------------------------------------------------------------------
# Pieces shared by several messages


class ToolCallFunction(WireModel):
    name: str
    # The spec says a JSON string; live tool-calls carry an object (see Profile handling).
    arguments: dict[str, Any]


class ToolCall(WireModel):
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction

    def wire_with(self, *, arguments_as_object: bool) -> dict[str, Any]:
        args: Any = self.function.arguments
        if not arguments_as_object:
            args = compact_json(args)
        return {"id": self.id, "type": self.type, "function": {"name": self.function.name, "arguments": args}}


# ---------------------------------------------------------------------------------------------
# Conversation history items (`messages` in conversation-update and artifact)


class SystemMessage(WireModel):
    role: Literal["system"] = "system"
    message: str
    time: int
    seconds_from_start: float


class BotMessage(WireModel):
    role: Literal["bot"] = "bot"
    message: str
    time: int
    end_time: int
    seconds_from_start: float
    duration: int | None = None
    source: str | None = None


class UserMessage(WireModel):
    role: Literal["user"] = "user"
    message: str
    time: int
    end_time: int
    seconds_from_start: float
    duration: int | None = None
    confidence: float | None = None


class ToolCallMessage(WireModel):
    role: Literal["tool_calls"] = "tool_calls"
    message: str = ""
    tool_calls: tuple[ToolCall, ...]
    time: int
    seconds_from_start: float

    def wire(self) -> dict[str, Any]:
        # In history, arguments are always a JSON string (both profiles).
        return {
            "role": self.role,
            "message": self.message,
            "toolCalls": [tc.wire_with(arguments_as_object=False) for tc in self.tool_calls],
            "time": self.time,
            "secondsFromStart": self.seconds_from_start,
        }


class ToolCallResultMessage(WireModel):
    role: Literal["tool_call_result"] = "tool_call_result"
    tool_call_id: str
    name: str
    result: str
    time: int
    seconds_from_start: float


HistoryItem = SystemMessage | BotMessage | UserMessage | ToolCallMessage | ToolCallResultMessage


def openai_format(item: HistoryItem) -> dict[str, Any]:
    """The `messagesOpenAIFormatted` twin of one history item."""
    if isinstance(item, SystemMessage):
        return {"role": "system", "content": item.message}
    if isinstance(item, BotMessage):
        return {"role": "assistant", "content": item.message}
    if isinstance(item, UserMessage):
        return {"role": "user", "content": item.message}
    if isinstance(item, ToolCallMessage):
        return {
            "role": "assistant",
            "content": "",
            "tool_calls": [tc.wire_with(arguments_as_object=False) for tc in item.tool_calls],
        }
    return {"role": "tool", "tool_call_id": item.tool_call_id, "content": item.result}


# ---------------------------------------------------------------------------------------------
# Messages. `type_name` is the wire `type`; `sides` says where the spec (and live Vapi) has them.


class Message(WireModel):
    type_name: ClassVar[str]
    sides: ClassVar[frozenset[Side]] = frozenset(SIDES)

    def body(self, profile: Profile) -> dict[str, Any]:
        """Type-specific wire fields, `type` first."""
        return _plain_body(self) or {"type": self.type_name, **self.wire()}


class ModelOutput(Message):
    type_name: ClassVar[str] = "model-output"
    turn_id: str
    token: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None

    def body(self, profile: Profile) -> dict[str, Any]:
        output: Any
        if self.tool_calls is not None:
            calls = [tc.wire_with(arguments_as_object=False) for tc in self.tool_calls]
            output = calls if profile == "realistic" else {"toolCalls": calls}
        else:
            output = self.token if profile == "realistic" else {"content": self.token}
        return {"type": self.type_name, "turnId": self.turn_id, "output": output}


# Per message class: its fields' wire names (aliases), for `_plain_body`.
_WIRE_NAMES: dict[type[Message], dict[str, str]] = {}


def _plain_body(message: Message) -> dict[str, Any] | None:
    """`{"type": ..., **message.wire()}` without pydantic's serializer when every field holds a str, int,
    float, bool or None (most of a call's messages: speech-updates, transcripts, voice-inputs), whose JSON-mode
    dump is the value itself; None otherwise. The same dict, in the same (`__dict__`) order, in a third of the
    time: a call renders hundreds of them. A container (dict, tuple, model) is left to pydantic, which copies it."""
    cls = type(message)
    names = _WIRE_NAMES.get(cls)
    if names is None:
        names = _WIRE_NAMES[cls] = {
            name: field.serialization_alias or field.alias or name for name, field in cls.model_fields.items()
        }
    out: dict[str, Any] = {"type": message.type_name}
    for name, value in message.__dict__.items():
        if value is None:
            continue  # exclude_none
        kind = type(value)
        if not (kind is str or kind is int or kind is float or kind is bool) or name not in names:
            return None
        out[names[name]] = value
    return out


# To the type checker a ModelToken is the ModelOutput it stands for; at run time it is a plain slotted object
# whose `__class__` answers ModelOutput, so `isinstance(m, ModelOutput)` (and `Message`) holds for it
# (pydantic refuses virtual subclasses).
if TYPE_CHECKING:
    _TokenBase = ModelOutput
else:
    _TokenBase = object


class ModelToken(_TokenBase):
    """A `model-output` carrying one token: `ModelOutput(turn_id=..., token=...)` with the same wire body,
    without building (and validating) a pydantic model. A call streams hundreds of tokens and its timeline
    keeps every one: ~110 bytes each instead of ~490. Anything else asked of it (`model_dump`, `==` with a
    ModelOutput, ...) is answered by the ModelOutput it stands for, made on demand."""

    __slots__ = ("turn_id", "token")
    type_name: ClassVar[str] = "model-output"
    sides: ClassVar[frozenset[Side]] = frozenset(SIDES)

    turn_id: str
    token: str

    def __init__(self, turn_id: str, token: str) -> None:
        # Through the slots' descriptors (`__setattr__` refuses): half the time of `object.__setattr__`, and a
        # call makes hundreds of tokens.
        _set_turn_id(self, turn_id)
        _set_token(self, token)

    def body(self, profile: Profile) -> dict[str, Any]:
        output: Any = self.token if profile == "realistic" else {"content": self.token}
        return {"type": self.type_name, "turnId": self.turn_id, "output": output}

    def as_model(self) -> ModelOutput:
        """The pydantic model this token stands for."""
        return ModelOutput(turn_id=self.turn_id, token=self.token)

    if not TYPE_CHECKING:
        tool_calls = None  # a token never carries tool calls

        @property
        def __class__(self) -> type:
            return ModelOutput

        def __getattr__(self, name: str) -> Any:
            return getattr(self.as_model(), name)

        def __setattr__(self, name: str, value: Any) -> None:
            raise TypeError("ModelOutput is frozen")  # as the model is

    def __eq__(self, other: object) -> bool:
        if type(other) is ModelToken:
            return (self.turn_id, self.token) == (other.turn_id, other.token)
        return self.as_model() == other

    def __hash__(self) -> int:
        return hash(self.as_model())

    def __reduce__(self) -> tuple[Any, ...]:
        return (ModelToken, (self.turn_id, self.token))

    def __repr__(self) -> str:
        return repr(self.as_model())


_set_turn_id, _set_token = vars(ModelToken)["turn_id"].__set__, vars(ModelToken)["token"].__set__


class UserInterrupted(Message):
    type_name: ClassVar[str] = "user-interrupted"
    turn_id: str | None = None


class Hang(Message):
    type_name: ClassVar[str] = "hang"


class HistoryPrefix(Sequence[dict[str, Any]]):
    """The first `length` items of a call's append-only history list, without copying them.

    Every conversation-update carries the whole history so far; a copy per update would make a call cost
    time and memory quadratic in its steps, while a prefix of the one shared list costs two references."""

    __slots__ = ("_items", "_length")

    def __init__(self, items: list[dict[str, Any]], length: int | None = None) -> None:
        self._items = items
        self._length = len(items) if length is None else length

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._items[i] for i in range(*index.indices(self._length))]
        if not -self._length <= index < self._length:
            raise IndexError("history index out of range")
        return self._items[index % self._length]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return islice(self._items, self._length)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != self._length:
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HistoryPrefix({self._length} items)"


class ConversationUpdate(Message):
    type_name: ClassVar[str] = "conversation-update"
    # Pre-rendered history (items are immutable, so one rendering serves every snapshot): a tuple, or a
    # `HistoryPrefix` of the call's shared list.
    messages: Sequence[dict[str, Any]]
    messages_openai_formatted: Sequence[dict[str, Any]] = Field(alias="messagesOpenAIFormatted")

    def body(self, profile: Profile) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type_name,
            "messages": list(self.messages),
            "messagesOpenAIFormatted": list(self.messages_openai_formatted),
        }
        if profile == "realistic":
            out["conversation"] = out["messagesOpenAIFormatted"]
        return out


class StatusUpdate(Message):
    type_name: ClassVar[str] = "status-update"
    status: CallStatus
    ended_reason: str | None = None
    destination: dict[str, Any] | None = None


class SpeechUpdate(Message):
    type_name: ClassVar[str] = "speech-update"
    status: Literal["started", "stopped"]
    role: SpeechRole
    turn: int | None = None


class Transcript(Message):
    type_name: ClassVar[str] = "transcript"
    role: SpeechRole
    transcript_type: Literal["partial", "final"]
    transcript: str
    confidence: float | None = None

    def body(self, profile: Profile) -> dict[str, Any]:
        out = super().body(profile)
        if self.confidence is not None and profile == "spec":
            # The spec's transcript schema has no `confidence`; it only exists on live traffic.
            del out["confidence"]
        return out


class VoiceInput(Message):
    type_name: ClassVar[str] = "voice-input"
    input: str


class ToolCalls(Message):
    type_name: ClassVar[str] = "tool-calls"
    tool_call_list: tuple[ToolCall, ...]
    # Each entry is the tool's definition (function tool DTO) the call belongs to.
    tool_definitions: tuple[dict[str, Any], ...]

    def body(self, profile: Profile) -> dict[str, Any]:
        as_object = profile == "realistic"
        calls = [tc.wire_with(arguments_as_object=as_object) for tc in self.tool_call_list]
        with_calls = [
            {**definition, "toolCall": call}
            for definition, call in zip(self.tool_definitions, calls, strict=True)
        ]
        out: dict[str, Any] = {
            "type": self.type_name,
            "toolCallList": calls,
            "toolWithToolCallList": with_calls,
        }
        if profile == "realistic":
            out["toolCalls"] = calls
        return out


class ToolCallsResult(Message):
    type_name: ClassVar[str] = "tool-calls-result"
    sides: ClassVar[frozenset[Side]] = frozenset({"client"})
    tool_call_result: dict[str, Any]


class AssistantStarted(Message):
    type_name: ClassVar[str] = "assistant.started"
    new_assistant: dict[str, Any]


class TransferUpdate(Message):
    type_name: ClassVar[str] = "transfer-update"
    destination: dict[str, Any] | None = None
    # A transfer to another squad member names both assistants.
    to_assistant: dict[str, Any] | None = None
    from_assistant: dict[str, Any] | None = None


class TransferDestinationRequest(Message):
    type_name: ClassVar[str] = "transfer-destination-request"
    sides: ClassVar[frozenset[Side]] = frozenset({"server"})


class HandoffDestinationRequest(Message):
    """The model asked for a handoff whose destination is dynamic: the server names it."""

    type_name: ClassVar[str] = "handoff-destination-request"
    sides: ClassVar[frozenset[Side]] = frozenset({"server"})
    parameters: dict[str, Any]


class AssistantRequest(Message):
    type_name: ClassVar[str] = "assistant-request"
    sides: ClassVar[frozenset[Side]] = frozenset({"server"})


class AssistantSpeechStarted(Message):
    """One segment of an assistant utterance starts playing (opt-in); `text` is the whole turn's text."""

    type_name: ClassVar[str] = "assistant.speechStarted"
    text: str
    turn: int
    source: Literal["model", "force-say", "custom-voice"]
    timing: dict[str, Any] | None = None


class KnowledgeBaseRequest(Message):
    """A custom knowledge base is asked for documents before the model answers."""

    type_name: ClassVar[str] = "knowledge-base-request"
    sides: ClassVar[frozenset[Side]] = frozenset({"server"})
    messages: tuple[dict[str, Any], ...]
    messages_openai_formatted: tuple[dict[str, Any], ...] = Field(alias="messagesOpenAIFormatted")

    def body(self, profile: Profile) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "messages": list(self.messages),
            "messagesOpenAIFormatted": list(self.messages_openai_formatted),
        }


class CallEndpointingRequest(KnowledgeBaseRequest):
    """A custom endpointing model is asked how long to wait before the user's turn ends."""

    type_name: ClassVar[str] = "call.endpointing.request"


class LanguageChangeDetected(Message):
    """The transcriber switched language on what it heard."""

    type_name: ClassVar[str] = "language-change-detected"
    language: str


class EndOfCallReport(Message):
    type_name: ClassVar[str] = "end-of-call-report"
    sides: ClassVar[frozenset[Side]] = frozenset({"server"})
    ended_reason: str
    artifact: dict[str, Any]
    analysis: dict[str, Any]
    cost: float | None = None
    costs: tuple[dict[str, Any], ...] | None = None
    started_at: str | None = None
    ended_at: str | None = None
    destination: dict[str, Any] | None = None  # where the call was forwarded, after a transfer


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.type_name: cls
    for cls in (
        ModelOutput,
        UserInterrupted,
        Hang,
        ConversationUpdate,
        StatusUpdate,
        SpeechUpdate,
        Transcript,
        VoiceInput,
        ToolCalls,
        ToolCallsResult,
        AssistantStarted,
        TransferUpdate,
        TransferDestinationRequest,
        HandoffDestinationRequest,
        AssistantRequest,
        EndOfCallReport,
        AssistantSpeechStarted,
        KnowledgeBaseRequest,
        CallEndpointingRequest,
        LanguageChangeDetected,
    )
}

# Vapi's defaults when an assistant does not list its own (PROTOCOL.md section 2, spec descriptions).
DEFAULT_SERVER_MESSAGES: tuple[str, ...] = (
    "conversation-update",
    "end-of-call-report",
    "function-call",
    "hang",
    "speech-update",
    "status-update",
    "tool-calls",
    "transfer-destination-request",
    "handoff-destination-request",
    "user-interrupted",
    "assistant.started",
)
DEFAULT_CLIENT_MESSAGES: tuple[str, ...] = (
    "conversation-update",
    "function-call",
    "hang",
    "model-output",
    "speech-update",
    "status-update",
    "transfer-update",
    "transcript",
    "tool-calls",
    "user-interrupted",
    "voice-input",
    "workflow.node.started",
    "assistant.started",
)
# Messages Vapi sends whatever the subscription list says: the call cannot work without them.
# knowledge-base-request and call.endpointing.request are not in the spec's `serverMessages` enum: they go
# to the knowledge base's / endpointing plan's server whenever the assistant configures one.
ALWAYS_SENT_SERVER: frozenset[str] = frozenset(
    {"assistant-request", "knowledge-base-request", "call.endpointing.request"}
)
# Client messages sent under another name of the spec's clientMessages enum: tool-calls-result follows a
# subscribed tool-calls; the enum has no language-change-detected, its `language-changed` subscribes a
# client to ClientMessageLanguageChangeDetected (a reading: the spec names no other way to get it).
IMPLIED_CLIENT: dict[str, str] = {"tool-calls-result": "tool-calls", "language-change-detected": "language-changed"}


def subscribed(message_type: str, subscription: tuple[str, ...] | list[str], side: Side) -> bool:
    """Whether a message of `message_type` goes out on `side` given the assistant's list."""
    if side == "server" and message_type in ALWAYS_SENT_SERVER:
        return True
    if message_type in subscription:
        return True
    if message_type == "transcript" and 'transcript[transcriptType="final"]' in subscription:
        return True  # finer filter is applied by the caller, which knows the transcript type
    implied = IMPLIED_CLIENT.get(message_type)
    return side == "client" and implied is not None and implied in subscription


def compact_json(value: Any) -> str:
    """One-line JSON, as Vapi puts arguments and results in history."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
