"""What a simulated call yields and is sent: its events, its questions to the customer's server
(`Ask`) and their answers (`Reply`, `Waiting`), and what it finds wrong (`SimProblem`, `StepError`)."""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from mockvapi.models.messages import ConversationUpdate, HistoryPrefix, Message, ModelToken, Transcript, WireModel

if TYPE_CHECKING:
    from mockvapi.engine.context import CallContext

__all__ = [
    "Abandon", "Ask", "AskKind", "Event", "EventLog", "Reply", "Retract", "SimProblem", "StepError", "Waiting",
]

AskKind = Literal[
    "tool-calls", "assistant-request", "transfer-destination-request", "knowledge-base-request",
    "call.endpointing.request", "handoff-destination-request",
]


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One message at one moment of the call."""

    at_ms: int
    message: Message
    history_len: int
    step: int | None
    seq: int
    # Where the history the message carries starts (a squad's handoff may trim it), and the objects it
    # carries (after a handoff: the new member, its subscriptions); None: the call's own context.
    history_base: int = 0
    context: CallContext | None = None
    # The Call's fields that change while it plays (status, startedAt, endedAt, endedReason, cost), as they
    # stand when this message goes out; set when the event is flushed (shared between events, never changed).
    live: Mapping[str, Any] | None = None

    def __init__(
        self,
        at_ms: int,
        message: Message,
        history_len: int,
        step: int | None,
        seq: int,
        history_base: int = 0,
        context: CallContext | None = None,
        live: Mapping[str, Any] | None = None,
    ) -> None:
        # The dataclass's own __init__ of a frozen class sets each field through `object.__setattr__` (0.6 µs
        # an event, made twice per event a call delivers); the slots' descriptors set them in half that.
        _set_at_ms(self, at_ms)
        _set_message(self, message)
        _set_history_len(self, history_len)
        _set_step(self, step)
        _set_seq(self, seq)
        _set_history_base(self, history_base)
        _set_context(self, context)
        _set_live(self, live)

    @property
    def at(self) -> float:
        return self.at_ms / 1000

    @property
    def type(self) -> str:
        return self.message.type_name

    def __repr__(self) -> str:
        return f"Event({self.at:.3f}s {self.type} step={self.step})"


# The setters of Event's slots (their member descriptors' __set__), for its __init__.
_set_at_ms, _set_message, _set_history_len, _set_step, _set_seq, _set_history_base, _set_context, _set_live = (
    vars(Event)[name].__set__
    for name in ("at_ms", "message", "history_len", "step", "seq", "history_base", "context", "live")
)

_NO_STEP = -(1 << 15)  # `step` None in the log's integer column (steps count from 0)
_OPAQUE = 0  # a message the log keeps as the object itself
_TOKEN = 1  # a ModelToken: its turn id and token
# A ModelToken right after a token of the same turn id object (a turn's tokens share one): only its token, 8
# bytes a token less in `_values` (tokens are about half of a call's events). Its turn id is the last value
# before its start (the run's `_TOKEN` kept it; the tokens between kept none).
_TOKEN_AGAIN = 255
_NO_TURN = object()  # `EventLog._turn` when the log's last event is not a token (or was popped)
_IN_TEXT = object()  # a field value that sits in the log's text buffer (a partial transcript's text)
_TRANSCRIPT_AT = tuple(Transcript.model_fields).index("transcript")  # in a Transcript's values, in model order
# Message layouts the log flattens, by code (from 2): the model class, the field names in order, the shared
# set of fields given, whether `__pydantic_private__` was set (a `model_construct`ed model lacks it), and the
# positions of the values that are a `HistoryPrefix` of the event's `history_len` items (a conversation-update's
# two histories), kept as their list: the prefix is made again on reading.
_LAYOUTS: list[tuple[type[WireModel], tuple[str, ...], set[str], bool, tuple[int, ...]]] = []
_LAYOUT_CODES: dict[tuple[type[WireModel], frozenset[str], bool], int] = {}
_MAX_LAYOUTS = 253  # codes fit a byte (255: `_TOKEN_AGAIN`); a message of any further layout is kept as it is
# The same by the identity of the (shared) fields-given set, which the entry holds so the id stays its own.
_BY_SET: dict[tuple[type[WireModel], int, bool], tuple[int, set[str]]] = {}


def _layout_code(message: WireModel) -> int:
    """The code of `message`'s layout (registered on first sight), or `_OPAQUE`."""
    if message.__pydantic_extra__ is not None:
        return _OPAQUE
    try:
        object.__getattribute__(message, "__pydantic_private__")
        private = True
    except AttributeError:
        private = False
    if private and message.__pydantic_private__ is not None:
        return _OPAQUE
    cls = type(message)
    given = message.__pydantic_fields_set__
    hit = _BY_SET.get((cls, id(given), private))
    if hit is not None and hit[1] is given:
        return hit[0]
    key = (cls, frozenset(given), private)
    code = _LAYOUT_CODES.get(key)
    if code is None:
        if len(_LAYOUTS) >= _MAX_LAYOUTS:
            return _OPAQUE
        names = tuple(cls.model_fields)
        code = _LAYOUT_CODES[key] = len(_LAYOUTS) + 2
        _LAYOUTS.append((cls, names, given, private, ()))
    if len(_BY_SET) < 4 * _MAX_LAYOUTS:
        _BY_SET[cls, id(given), private] = (code, given)
    return code


# The codes of layouts with prefixes, by (the code without them, their positions).
_PREFIXED_CODES: dict[int, int] = {}
# Where a conversation-update's two histories sit among its values (in model order).
_UPDATE_HISTORIES = tuple(
    tuple(ConversationUpdate.model_fields).index(name) for name in ("messages", "messages_openai_formatted")
)


def _prefixed_code(code: int) -> int:
    """The code of conversation-update layout `code` with its two histories kept as their lists (registered on
    first sight), or `_OPAQUE` when the codes are used up."""
    prefixed = _PREFIXED_CODES.get(code)
    if prefixed is None:
        if len(_LAYOUTS) >= _MAX_LAYOUTS:
            return _OPAQUE
        cls, names, given, private, _ = _LAYOUTS[code - 2]
        prefixed = _PREFIXED_CODES[code] = len(_LAYOUTS) + 2
        _LAYOUTS.append((cls, names, given, private, _UPDATE_HISTORIES))
    return prefixed


def _rebuild(code: int, values: list[Any]) -> Any:
    """The message flattened as `code` and `values`: equal to the one logged, field for field."""
    cls, names, given, private, _ = _LAYOUTS[code - 2]
    message = cls.__new__(cls)
    object.__setattr__(message, "__dict__", dict(zip(names, values, strict=True)))
    object.__setattr__(message, "__pydantic_fields_set__", given)
    object.__setattr__(message, "__pydantic_extra__", None)
    if private:
        object.__setattr__(message, "__pydantic_private__", None)
    return message


def _widened(offsets: array[int], value: int) -> array[int]:
    """`offsets` in 64 bits, then `value` (which did not fit)."""
    wide = array("q", offsets)
    wide.append(value)
    return wide


class EventLog(Sequence[Event]):
    """The events a call delivered, in order, kept compactly: a live call keeps every one for its timeline,
    and as objects (an `Event`, its time as an int object, a pydantic message with its `__dict__`) they were
    the largest part of a live call's memory. Here the numbers sit in arrays, a message's field values in
    one flat list (the values themselves shared with the message logged; the text of a model token or a
    partial transcript as UTF-8 in one buffer), and the context, live and history_base fields once per run of
    events that share them. Reading gives new `Event`s equal to the ones appended (the same values, field for field, the
    same shared objects but that text, an equal string); only identity differs.
    """

    __slots__ = (
        "_at", "_numbers", "_codes", "_starts", "_values", "_text", "_text_starts", "_run_starts", "_runs", "_turn",
    )

    _WIDTH = 3  # history_len, step, seq: counts and indexes (history_base, 0 but after a handoff, is in `_runs`)

    def __init__(self, events: Sequence[Event] = ()) -> None:
        # Narrow first (a minute of a call is ~120 events: 16 and 32 bits hold any call's counts and times
        # of less than 24 days), widened to 64 bits the first time a value does not fit.
        self._at = array("i")  # at_ms
        self._numbers = array("h")
        self._codes = bytearray()
        # Where each event's values start in `_values` (and its text in `_text`): 16 bits, widened (see `_widened`).
        self._starts = array("H")
        self._values: list[Any] = []
        # The text of model tokens and partial transcripts, UTF-8, one after another (each event's starts at its
        # `_text_starts`): as a string object of its own a token took ~55 bytes, and most events are tokens.
        self._text = bytearray()
        self._text_starts = array("H")
        self._run_starts = array("i")  # the first event of each run of equal (context, live, history_base)
        self._runs: list[tuple[CallContext | None, Mapping[str, Any] | None, int]] = []
        self._turn: Any = _NO_TURN  # the turn id of the log's last event, a token
        for event in events:
            self.append(event)

    def append(self, event: Event) -> None:
        codes, values = self._codes, self._values
        n = len(codes)
        step = event.step
        numbers = (event.history_len, _NO_STEP if step is None else step, event.seq)
        try:
            self._at.append(event.at_ms)
        except OverflowError:
            self._at = array("q", self._at)
            self._at.append(event.at_ms)
        try:
            self._numbers.extend(numbers)
        except OverflowError:
            del self._numbers[n * self._WIDTH:]  # what extend appended before the value that did not fit
            self._numbers = array("q", self._numbers)
            self._numbers.extend(numbers)
        try:
            self._starts.append(len(values))
        except OverflowError:
            self._starts = _widened(self._starts, len(values))
        text = self._text
        try:
            self._text_starts.append(len(text))
        except OverflowError:
            self._text_starts = _widened(self._text_starts, len(text))
        message = event.message
        if type(message) is ModelToken and type(message.token) is str:
            turn = message.turn_id
            if turn is self._turn:
                codes.append(_TOKEN_AGAIN)
            else:
                codes.append(_TOKEN)
                values.append(turn)
                self._turn = turn
            # "surrogatepass": a lone surrogate (JSON allows one in a reply the assistant says) reads back too.
            text += message.token.encode("utf-8", "surrogatepass")
        else:
            code = _layout_code(message) if isinstance(message, WireModel) else _OPAQUE
            fields = message.__dict__ if code != _OPAQUE else None
            if fields is not None and tuple(fields) == _LAYOUTS[code - 2][1]:  # the fields in model order
                flat = False
                if type(message) is ConversationUpdate:
                    # Its histories are prefixes of the call's shared lists (48 bytes each, two per update): kept
                    # as the list, the event's `history_len` is their length.
                    history, openai = fields.get("messages"), fields.get("messages_openai_formatted")
                    length = event.history_len
                    if (
                        type(history) is HistoryPrefix and type(openai) is HistoryPrefix
                        and history._length == length == openai._length
                        and type(history._items) is list and type(openai._items) is list
                    ):
                        prefixed = _PREFIXED_CODES.get(code) or _prefixed_code(code)
                        if prefixed != _OPAQUE:
                            codes.append(prefixed)
                            at = len(values)
                            values += fields.values()
                            values[at + _UPDATE_HISTORIES[0]] = history._items
                            values[at + _UPDATE_HISTORIES[1]] = openai._items
                            flat = True
                if not flat:
                    codes.append(code)
                    values += fields.values()
                if type(message) is Transcript and message.transcript_type == "partial":
                    # Each partial is a string of its own (every two words the customer says, all the words so
                    # far); a final is shared with history, so it stays the object.
                    at = len(values) - len(fields) + _TRANSCRIPT_AT
                    if type(values[at]) is str:
                        text += values[at].encode("utf-8", "surrogatepass")
                        values[at] = _IN_TEXT
            else:
                codes.append(_OPAQUE)
                values.append(message)
            self._turn = _NO_TURN
        context, live, base = event.context, event.live, event.history_base
        runs = self._runs
        if not runs or runs[-1][0] is not context or runs[-1][1] is not live or runs[-1][2] != base:
            self._run_starts.append(n)
            runs.append((context, live, base))

    def pop(self) -> Event:
        """Take the last event off (and return it)."""
        if not self._codes:
            raise IndexError("pop from an empty EventLog")
        event = self._event(len(self._codes) - 1)
        n = len(self._codes) - 1
        del self._at[n], self._numbers[n * self._WIDTH:], self._values[self._starts[n]:]
        del self._text[self._text_starts[n]:], self._text_starts[n]
        self._turn = _NO_TURN  # the next token keeps its turn id (no need to look back)
        del self._starts[n], self._codes[n]
        if self._run_starts[-1] == n:
            del self._run_starts[-1], self._runs[-1]
        return event

    def _event(self, i: int) -> Event:
        numbers, k = self._numbers, i * self._WIDTH
        step = numbers[k + 1]
        start = self._starts[i]
        end = self._starts[i + 1] if i + 1 < len(self._starts) else len(self._values)
        code = self._codes[i]
        if code == _TOKEN:
            message = ModelToken(self._values[start], self._text_of(i))
        elif code == _TOKEN_AGAIN:
            message = ModelToken(self._values[start - 1], self._text_of(i))
        elif code == _OPAQUE:
            message = self._values[start]
        else:
            fields = self._values[start:end]
            layout = _LAYOUTS[code - 2]
            if layout[0] is Transcript and _IN_TEXT in fields:
                fields[fields.index(_IN_TEXT)] = self._text_of(i)
            for at in layout[4]:
                fields[at] = HistoryPrefix(fields[at], numbers[k])
            message = _rebuild(code, fields)
        context, live, base = self._runs[bisect_right(self._run_starts, i) - 1]
        return Event(self._at[i], message, numbers[k], None if step == _NO_STEP else step, numbers[k + 2], base,
                     context, live)

    def _text_of(self, i: int) -> str:
        end = self._text_starts[i + 1] if i + 1 < len(self._text_starts) else len(self._text)
        return self._text[self._text_starts[i]:end].decode("utf-8", "surrogatepass")

    def __len__(self) -> int:
        return len(self._codes)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            return [self._event(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError("EventLog index out of range")
        return self._event(index % n)

    def __iter__(self) -> Iterator[Event]:
        return (self._event(i) for i in range(len(self)))

    def __reversed__(self) -> Iterator[Event]:
        return (self._event(i) for i in range(len(self) - 1, -1, -1))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EventLog({len(self)} events)"


@dataclass(frozen=True)
class Ask:
    """The call waits for the customer's server to answer `event` (at most `timeout` seconds)."""

    kind: AskKind
    event: Event
    timeout: float
    hang_after: float | None
    scripted: Reply
    server: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Reply:
    """What the customer's server answered (or failed to)."""

    status: int | None
    body: Any
    latency: float
    error: str | None = None
    scripted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Waiting:
    """Sent instead of a Reply when none has come within the hang threshold; the call sends `hang`
    and asks again."""

    elapsed: float


@dataclass(frozen=True)
class SimProblem:
    """Something the system under test did that Vapi would not accept, or an unmet expectation."""

    kind: str
    detail: str
    at: float
    step: int | None = None

    def __str__(self) -> str:
        where = f" (step #{self.step + 1})" if self.step is not None else ""
        return f"{self.kind} at {self.at:.3f}s{where}: {self.detail}"


@dataclass(frozen=True)
class Retract:
    """Sent back for an event the driver had not delivered yet when a control message arrived before its
    time: the call takes the event back and acts on the control first (live controls act on arrival)."""


class Abandon(Exception):
    """A live control ended the call or took it elsewhere mid-step: the rest of the step never happens."""


class StepError(Exception):
    """A scenario step that cannot be played; `path` is relative to the step."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def floored(reply: Reply, scripted: Reply) -> float:
    """A real reply faster than the scripted one counts as taking the scripted latency: the scenario's
    timing is the floor, so a fast local server does not squeeze the call."""
    return reply.latency if reply.scripted else max(reply.latency, scripted.latency)
