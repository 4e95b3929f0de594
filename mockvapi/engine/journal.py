"""The journal: every delivery mockvapi attempts, and every problem it saw in the system under test.

The engine and transports record; tests, the control plane and the CLI read. Reads may come from another
thread (a server loop in a background thread, assertions in the main one), so every access takes a short
``threading.Lock`` and readers get list snapshots, never live views.
"""

from __future__ import annotations

import json
import threading
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from os import PathLike
from typing import Any, Literal, overload

from mockvapi.engine.redaction import redact_headers, redact_json, redact_text, redact_url

__all__ = [
    "CHANNELS", "DEFAULT_MAX_BYTES", "Channel", "Delivery", "Journal", "KeptMessage", "MessageSource", "OfMessage",
    "Outcome", "Problem",
]

# "api": a REST request an injected `api` fault hit (the mock's own API misbehaving on purpose).
Channel = Literal["webhook", "websocket", "listen", "client", "control", "memory", "api"]
CHANNELS: tuple[str, ...] = ("webhook", "websocket", "listen", "client", "control", "memory", "api")
Outcome = Literal["ok", "failed"]


class OfMessage:
    """A request body kept as ``encode(delivery.message)``: one object shared by every delivery that keeps
    its body this way (a per-delivery closure cost more than the rest of the delivery)."""

    __slots__ = ("encode",)

    def __init__(self, encode: Callable[[dict[str, Any]], str]) -> None:
        self.encode = encode

    def __repr__(self) -> str:
        return f"OfMessage({getattr(self.encode, '__qualname__', self.encode)!r})"


class MessageSource:
    """What renders the messages a `KeptMessage` stands for (engine.timeline.KeptMessages: a call's own)."""

    __slots__ = ()

    def render(self, index: int, frame: tuple[Any, ...]) -> dict[str, Any]:
        raise NotImplementedError


class KeptMessage:
    """A delivery's message kept as the way to render it again: ``source.render(index, frame)`` (a live call's
    journal held a rendered dict per delivery, the largest part of what it grows). Reading
    ``Delivery.message`` renders it: a new dict each time, equal to the one sent."""

    __slots__ = ("frame", "index", "source")

    def __init__(self, source: MessageSource, index: int, frame: tuple[Any, ...]) -> None:
        self.source, self.index, self.frame = source, index, frame

    def render(self) -> dict[str, Any]:
        return self.source.render(self.index, self.frame)

    def __repr__(self) -> str:
        return f"KeptMessage(#{self.index})"


class _Message:
    """`Delivery.message`: its slot holds the message, or a `KeptMessage`; reading always gives the message."""

    def __init__(self, slot: Any = None) -> None:
        self._slot = slot  # the slot's own descriptor (see below `Delivery`)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> dict[str, Any]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> dict[str, Any]: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> dict[str, Any]:
        if obj is None:
            raise AttributeError("message")  # a required field (no default)
        value = self._slot.__get__(obj)
        return value.render() if type(value) is KeptMessage else value

    def __set__(self, obj: object, value: dict[str, Any] | KeptMessage) -> None:
        self._slot.__set__(obj, value)


class _Text:
    """`Delivery.request_body`: its slot holds text, or a function that makes it on each read (never kept),
    or `OfMessage`; reading always gives the text.

    A webhook body carries the call's whole history, so once a large reply is in it, every later body is
    at least that large: the journal keeps large bodies as the way to re-encode them from the message it
    already holds, so a 10 MB tool result costs 10 MB once, not once per later message."""

    def __init__(self, slot: Any = None) -> None:
        self._slot = slot  # the slot's own descriptor (see below `Delivery`)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> None: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> str | None: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> str | None:
        if obj is None:
            return None  # the field's default
        value = self._slot.__get__(obj)
        if isinstance(value, OfMessage):
            message: dict[str, Any] = getattr(obj, "message")  # noqa: B009
            return value.encode(message)
        return value() if callable(value) else value  # type: ignore[no-any-return]

    def __set__(self, obj: object, value: str | Callable[[], str] | OfMessage | None) -> None:
        self._slot.__set__(obj, value)


class _Counted:
    """`Delivery`'s slot for what the journal counted it as (see `_COUNTED`): a slot, not a field (it is
    neither compared, shown nor exported)."""

    __slots__ = ("_journal_counted",)


@dataclass(kw_only=True, slots=True, init=False)  # its own __init__, below
class Delivery(_Counted):
    """One message delivered (or not) on one channel to one target.

    ``seq`` is assigned by ``Journal.record``; ``at`` is the call offset in clock seconds. Transports may
    fill in the response fields after recording (the journal keeps the same object). Slots: a live call
    keeps a delivery per message, and an instance dict (its values array sized for every field) cost ~60
    bytes more each.
    """

    seq: int = 0
    call_id: str
    channel: str  # one of CHANNELS
    target: str
    message_type: str
    # The message, or a `KeptMessage` rendering it again (see `_Message`); reading it always gives the message.
    message: _Message = _Message()
    at: float
    request_headers: dict[str, str] = field(default_factory=dict)
    # Text, or a function re-encoding it, or `OfMessage` (see `_Text`); reading it always gives the text.
    request_body: _Text = _Text()
    status: int | None = None
    response_body: str | None = None
    response_json: Any = None
    latency: float | None = None
    attempts: int = 1
    error: str | None = None
    # Fault injection: what was done to this delivery ("duplicate", "drop", "delay 2s", "retry-5xx 1/2"...),
    # and whether it went out at all (a dropped message, or the one a websocket closed before, did not).
    injected: str | None = None
    sent: bool = True

    def __init__(
        self,
        *,
        seq: int = 0,
        call_id: str,
        channel: str,
        target: str,
        message_type: str,
        message: dict[str, Any] | KeptMessage,
        at: float,
        request_headers: dict[str, str] | None = None,  # None: a new empty dict
        request_body: str | Callable[[], str] | OfMessage | None = None,
        status: int | None = None,
        response_body: str | None = None,
        response_json: Any = None,
        latency: float | None = None,
        attempts: int = 1,
        error: str | None = None,
        injected: str | None = None,
        sent: bool = True,
    ) -> None:
        # The dataclass's own __init__, but `message` and `request_body` go straight to their slots (through
        # `_Message` and `_Text` they cost a Python call each) and the journal's slot starts empty (reading an
        # unset slot raises inside `getattr`): a live call makes a delivery per message (lever 97).
        self.seq = seq
        self.call_id = call_id
        self.channel = channel
        self.target = target
        self.message_type = message_type
        _set_raw_message(self, message)
        self.at = at
        self.request_headers = {} if request_headers is None else request_headers
        _set_raw_request_body(self, request_body)
        self.status = status
        self.response_body = response_body
        self.response_json = response_json
        self.latency = latency
        self.attempts = attempts
        self.error = error
        self.injected = injected
        self.sent = sent
        setattr(self, _COUNTED, None)

    def held_chars(self) -> int:
        """Characters of text this delivery holds of its own (what the journal's byte budget counts): the
        response body, once more for its parsed value (whose strings are about as long; the call's history
        shares it only while the call is held), and the request body when it is kept as text rather than
        as a way to encode it."""
        request = _raw_request_body(self)
        response = len(self.response_body or "")
        if self.response_json is not None:
            response *= 2
        return response + (len(request) if isinstance(request, str) else 0)

    @property
    def ok(self) -> bool:
        """No error, and no HTTP status or a 2xx one."""
        return self.error is None and (self.status is None or 200 <= self.status < 300)

    def to_dict(self, *, redact: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict (``ok`` included for readers; ignored by ``from_dict``).

        ``redact``: secrets replaced (header values, secret-named fields, URL credentials), for
        anything that leaves the process (the control plane)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["request_headers"] = dict(self.request_headers)
        out["ok"] = self.ok
        if redact:
            out["request_headers"] = redact_headers(self.request_headers)
            out["message"] = redact_json(self.message)
            out["response_json"] = redact_json(self.response_json)
            out["request_body"] = redact_text(self.request_body, known=(self.message, out["message"]))
            out["response_body"] = redact_text(self.response_body)
            out["error"] = None if self.error is None else redact_url(self.error)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def __repr__(self) -> str:
        if self.error is not None:
            outcome = f"error={self.error!r}"
        elif self.status is not None:
            outcome = f"status={self.status}"
        else:
            outcome = "ok" if self.ok else "failed"
        if not self.sent:
            outcome = "not sent"
        retries = f", attempts={self.attempts}" if self.attempts != 1 else ""
        injected = f", injected={self.injected!r}" if self.injected else ""
        return (
            f"Delivery(#{self.seq} {self.message_type} -> {self.channel} {self.target}, "
            f"call={self.call_id}, at={self.at:.3f}s, {outcome}{retries}{injected})"
        )


# `request_body` read through `_Text` (installed after @dataclass made the slot: it wraps the slot's descriptor),
# and the slot's raw value (text, a function or OfMessage) for the journal's accounting.
_raw_request_body = vars(Delivery)["request_body"].__get__
_set_raw_request_body = vars(Delivery)["request_body"].__set__
_set_raw_message = vars(Delivery)["message"].__set__
_raw_message = vars(Delivery)["message"].__get__
Delivery.request_body = _Text(vars(Delivery)["request_body"])  # type: ignore[misc]  # replaces the slot's descriptor
Delivery.message = _Message(vars(Delivery)["message"])  # type: ignore[misc]


@dataclass
class Problem:
    """Something the system under test did wrong, as Vapi would see it.

    ``kind`` is a short slug: "non-200-reply", "timeout", "bad-tool-result", "unknown-tool-call-id",
    "expectation", ...
    """

    call_id: str
    kind: str
    detail: str
    at: float
    delivery_seq: int | None = None

    def to_dict(self, *, redact: bool = False) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if redact:
            out["detail"] = redact_url(self.detail)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def __str__(self) -> str:
        ref = f" (delivery #{self.delivery_seq})" if self.delivery_seq is not None else ""
        return f"call {self.call_id} at {self.at:.3f}s: {self.kind}: {self.detail}{ref}"


def _plural(n: int, word: str, words: str) -> str:
    return f"{n} {word if n == 1 else words}"


# The attribute a kept delivery carries with its held_chars() as its journal counted them (None once evicted
# or cleared): a delivery is in one journal at a time.
_COUNTED = "_journal_counted"

# Short reply texts, shared: most servers answer most messages alike ("{}", '{"ok":true}'), a string of its
# own per delivery (~50 bytes each, 27 a minute of a live call). Strings are immutable; the table is bounded.
_SHORT_REPLY = 64
_SHORT_REPLIES: dict[str, str] = {}


def _share_short_reply(delivery: Delivery) -> None:
    text = delivery.response_body
    if text is not None and len(text) <= _SHORT_REPLY:
        shared = _SHORT_REPLIES.get(text)
        if shared is None:
            if len(_SHORT_REPLIES) >= 1024:
                return
            shared = _SHORT_REPLIES[text] = text
        delivery.response_body = shared


# -- compact deliveries ------------------------------------------------------------------------------------
#
# A live call's journal grows a delivery per webhook: as a `Delivery` (176 bytes), its `KeptMessage` (56) and
# its `at`, `latency` and `seq` objects (~80), ~310 bytes each, 27 a minute of a call. Once a transport has
# settled one, every field but five is what the call's previous delivery had too; the journal then keeps it as
# a row of a `_Run` (~60 bytes) and makes the `Delivery` again on each read (equal to the one recorded).

_EXACT = 1 << 53  # seq and a message's index sit in a double: exact below this


class _Shared:
    """What a run of a call's compact deliveries has in common: every field but `seq`, `message_type`, the
    message's index and frame, `at` and `latency`; and what the journal counted each as (see `held_chars`)."""

    __slots__ = ("attempts", "channel", "counted", "error", "headers", "injected", "request_body", "response_body",
                 "response_json", "sent", "source", "status", "target")

    def __init__(self, delivery: Delivery, source: MessageSource, counted: int) -> None:
        self.channel, self.target, self.headers = delivery.channel, delivery.target, delivery.request_headers
        self.request_body = _raw_request_body(delivery)
        self.status, self.response_body, self.response_json = (
            delivery.status, delivery.response_body, delivery.response_json,
        )
        self.attempts, self.error, self.injected, self.sent = (
            delivery.attempts, delivery.error, delivery.injected, delivery.sent,
        )
        self.source, self.counted = source, counted


_UNSET = array("d", bytes(4 * 8))  # a row's numbers until its delivery is settled


class _Run:
    """One call's deliveries whose message is a `KeptMessage` (its webhooks), in seq order. The journal's deque
    holds the run once per such delivery, at the delivery's place: the run's n-th place in the deque is its n-th
    row. A row is the `Delivery` itself until a transport settles it (and if it cannot be made compact), then
    compact: four numbers (`seq`, `at`, `latency`, the message's index) and three references (the `_Shared` it
    has in common with its neighbours, `message_type`, the message's frame)."""

    __slots__ = ("base", "call_id", "first", "numbers", "refs", "shared")

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.numbers = array("d")  # four per row
        self.refs: list[Any] = []  # three per row: the Delivery or its _Shared, message_type, frame
        self.base = 0  # the row number of numbers[0] and refs[0] (rows before it were let go)
        self.first = 0  # the row number of the first row still in the journal
        self.shared: _Shared | None = None  # the last row's

    def __len__(self) -> int:
        return len(self.refs) // 3 + self.base - self.first

    def hold(self, delivery: Delivery) -> None:
        """A new last row: the delivery itself until `settle` makes it compact."""
        self.refs.extend((delivery, None, None))
        self.numbers.extend(_UNSET)

    def settle(self, delivery: Delivery, counted: int) -> bool:
        """Make `delivery`'s row compact, if it is one of this run's rows and its values read back exactly
        (floats, and integers a double holds). Returns whether it did."""
        refs = self.refs
        j = len(refs) - 3
        first = 3 * (self.first - self.base)
        while j >= first and refs[j] is not delivery:  # from the newest: it is the last row, or close to it
            j -= 3
        if j < first:
            return False
        kept, at, latency, seq = _raw_message(delivery), delivery.at, delivery.latency, delivery.seq
        if (
            type(kept) is not KeptMessage or type(at) is not float or type(latency) is not float
            or type(kept.index) is not int or not 0 <= kept.index < _EXACT or type(seq) is not int
            or not 0 <= seq < _EXACT
        ):
            return False  # the row stays the Delivery
        shared = self.shared
        # Objects a reader could change in place (headers, the parsed reply, the request body's encoder) must be
        # the very ones; values are compared.
        if shared is None or not (
            delivery.request_headers is shared.headers
            and delivery.response_json is shared.response_json
            and _raw_request_body(delivery) is shared.request_body
            and kept.source is shared.source
            and delivery.status == shared.status
            and delivery.response_body == shared.response_body
            and delivery.error == shared.error
            and delivery.attempts == shared.attempts
            and delivery.injected == shared.injected
            and delivery.sent == shared.sent
            and delivery.target == shared.target
            and delivery.channel == shared.channel
        ):
            shared = self.shared = _Shared(delivery, kept.source, counted)
        numbers, i = self.numbers, 4 * (j // 3)
        numbers[i] = seq
        numbers[i + 1] = at
        numbers[i + 2] = latency
        numbers[i + 3] = kept.index
        refs[j] = shared
        refs[j + 1] = delivery.message_type
        refs[j + 2] = kept.frame
        setattr(delivery, _COUNTED, None)  # no longer in the journal: its row is
        return True

    def delivery(self, row: int) -> Delivery:
        """The row's delivery: the very object until settled, else one made again (equal to it)."""
        k = row - self.base
        j = 3 * k
        refs = self.refs
        shared = refs[j]
        if type(shared) is not _Shared:
            return shared  # type: ignore[no-any-return]
        numbers, i = self.numbers, 4 * k
        return Delivery(
            seq=int(numbers[i]),
            call_id=self.call_id,
            channel=shared.channel,
            target=shared.target,
            message_type=refs[j + 1],
            message=KeptMessage(shared.source, int(numbers[i + 3]), refs[j + 2]),
            at=numbers[i + 1],
            request_headers=shared.headers,
            request_body=shared.request_body,
            status=shared.status,
            response_body=shared.response_body,
            response_json=shared.response_json,
            latency=numbers[i + 2],
            attempts=shared.attempts,
            error=shared.error,
            injected=shared.injected,
            sent=shared.sent,
        )

    def _let_go(self, k: int) -> int:
        """Row `base + k` leaves the journal; returns what it was counted as."""
        refs, j = self.refs, 3 * k
        held = refs[j]
        if type(held) is _Shared:
            return held.counted
        counted: int = getattr(held, _COUNTED, None) or 0
        setattr(held, _COUNTED, None)
        return counted

    def popleft(self) -> int:
        """The first row leaves the journal; returns what it was counted as."""
        k = self.first - self.base
        counted = self._let_go(k)
        refs, j = self.refs, 3 * k
        refs[j] = refs[j + 1] = refs[j + 2] = None
        self.first += 1
        gone = self.first - self.base
        if gone >= 16 and 2 * gone >= len(refs) // 3:  # the rows let go, dropped in one go (amortised)
            del refs[: 3 * gone]
            del self.numbers[: 4 * gone]
            self.base = self.first
        return counted

    def clear(self) -> int:
        """Every row leaves the journal; returns what they were counted as."""
        counted = sum(self._let_go(k) for k in range(self.first - self.base, len(self.refs) // 3))
        self.refs, self.numbers, self.shared = [], array("d"), None
        self.base = self.first = 0
        return counted

    def __repr__(self) -> str:
        return f"_Run({self.call_id!r}, {len(self)} rows)"


#: The journal's default byte budget: characters of reply (and kept request) text its deliveries may hold,
#: a parsed reply counted as its text once more. Only large replies reach it (request bodies are kept as the
#: way to encode them again), and each held byte of budget is a byte of RSS: a test double's default.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class Journal:
    """Bounded record of deliveries and problems; the oldest entries are evicted first.

    ``max_entries`` bounds deliveries and problems separately; ``max_bytes`` bounds the text the deliveries
    hold of their own (reply bodies and their parsed values: a server answering 10 MB to every tool call
    would otherwise grow the journal by twice that per call until ``max_entries``), never evicting the
    newest delivery; ``dropped`` counts every kind of eviction.
    """

    def __init__(self, max_entries: int = 100_000, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_entries < 1:
            raise ValueError(f"mockvapi: max_entries must be >= 1, got {max_entries!r}")
        if max_bytes < 1:
            raise ValueError(f"mockvapi: max_bytes must be >= 1, got {max_bytes!r}")
        self._max = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        # A delivery, or the `_Run` of its call standing for its row (a call's webhooks: see `_Run`).
        self._deliveries: deque[Delivery | _Run] = deque()
        self._runs: dict[str, _Run] = {}  # by call id: the run a call's next kept-message delivery joins
        self._problems: deque[Problem] = deque()
        self._dropped = 0
        self._seq = 0
        self._held = 0  # the deliveries' held_chars(), as last counted

    @property
    def max_entries(self) -> int:
        return self._max

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def held_bytes(self) -> int:
        """The text the kept deliveries hold (characters; what ``max_bytes`` bounds)."""
        return self._held

    # -- writing ---------------------------------------------------------------------------------------

    def record(self, delivery: Delivery) -> Delivery:
        """Append ``delivery``, assigning the next ``seq`` (from 1); returns it. A target URL's credentials
        are never kept (the journal is shown and exported)."""
        delivery.target = redact_url(delivery.target)
        with self._lock:
            self._seq += 1
            delivery.seq = self._seq
            self._deliveries.append(delivery)
            if (
                delivery.response_body is None
                and delivery.response_json is None
                and not isinstance(_raw_request_body(delivery), str)
            ):
                # Nothing of its own to count (held_chars() is 0): a client message, a webhook not answered
                # yet. Most deliveries; `_count` and the budget's walk, inline.
                self._held -= getattr(delivery, _COUNTED, None) or 0
                setattr(delivery, _COUNTED, 0)
            else:
                _share_short_reply(delivery)
                self._count(delivery)
            if len(self._deliveries) > self._max:
                self._evict_oldest()
            if self._held > self._max_bytes:
                self._keep_budget()
        return delivery

    def record_webhook(self, delivery: Delivery) -> Delivery:
        """`record` for a webhook not answered yet whose message is a `KeptMessage` and body `OfMessage` (the
        webhook sink's): it takes a row of its call's `_Run`, made compact once `settled`. Anything else is
        recorded by `record`. (Its own method: `record`, on every client message's path, tests nothing more.)"""
        if (
            type(_raw_message(delivery)) is not KeptMessage or type(_raw_request_body(delivery)) is not OfMessage
            or delivery.response_body is not None or delivery.response_json is not None
        ):
            return self.record(delivery)
        delivery.target = redact_url(delivery.target)
        with self._lock:
            self._seq += 1
            delivery.seq = self._seq
            run = self._runs.get(delivery.call_id)
            if run is None:
                run = self._runs[delivery.call_id] = _Run(delivery.call_id)
            run.hold(delivery)
            self._deliveries.append(run)
            # Nothing of its own to count yet (held_chars() is 0), as in `record`.
            self._held -= getattr(delivery, _COUNTED, None) or 0
            setattr(delivery, _COUNTED, 0)
            if len(self._deliveries) > self._max:
                self._evict_oldest()
            if self._held > self._max_bytes:
                self._keep_budget()
        return delivery

    def settled(self, delivery: Delivery) -> None:
        """A transport filled in ``delivery``'s response after recording it: count what it holds now (and
        evict the oldest deliveries if that takes the journal over ``max_bytes``)."""
        with self._lock:
            if getattr(delivery, _COUNTED, None) is not None:
                _share_short_reply(delivery)
                self._count(delivery)
                # Only what `record_webhook` gave a row (its message kept as a way to render it) is looked for in a run.
                run = self._runs.get(delivery.call_id) if type(_raw_message(delivery)) is KeptMessage else None
                if run is not None:
                    run.settle(delivery, getattr(delivery, _COUNTED))
                self._keep_budget()

    def _count(self, delivery: Delivery) -> None:
        # What a kept delivery was counted as is kept on it (None once it leaves): a dict by id(delivery)
        # cost ~60 bytes per delivery, a live call's 27 a minute.
        size = delivery.held_chars()
        self._held += size - (getattr(delivery, _COUNTED, None) or 0)
        setattr(delivery, _COUNTED, size)

    def _forget(self, delivery: Delivery) -> None:
        self._held -= getattr(delivery, _COUNTED, None) or 0
        setattr(delivery, _COUNTED, None)

    def _evict_oldest(self) -> None:
        oldest = self._deliveries.popleft()
        if isinstance(oldest, _Run):
            self._held -= oldest.popleft()
            if not oldest and self._runs.get(oldest.call_id) is oldest:
                del self._runs[oldest.call_id]  # nothing of it left
        else:
            self._forget(oldest)
        self._dropped += 1

    def _keep_budget(self) -> None:
        while self._held > self._max_bytes and len(self._deliveries) > 1:
            self._evict_oldest()

    def problem(self, problem: Problem) -> None:
        with self._lock:
            self._problems.append(problem)
            if len(self._problems) > self._max:
                self._problems.popleft()
                self._dropped += 1

    def clear(self, call_id: str | None = None) -> None:
        """Forget everything (seq and ``dropped`` restart), or only what belongs to ``call_id``."""
        with self._lock:
            if call_id is None:
                for d in self._deliveries:
                    if type(d) is _Run:
                        d.clear()
                    else:
                        setattr(d, _COUNTED, None)
                self._deliveries.clear()
                self._runs.clear()
                self._problems.clear()
                self._dropped = 0
                self._seq = 0
                self._held = 0
            else:
                for d in self._deliveries:
                    if d.call_id == call_id:
                        if isinstance(d, _Run):
                            self._held -= d.clear()  # once (an emptied run has nothing more to count)
                        else:
                            self._forget(d)
                self._deliveries = deque(d for d in self._deliveries if d.call_id != call_id)
                self._runs.pop(call_id, None)
                self._problems = deque(p for p in self._problems if p.call_id != call_id)

    # -- reading ---------------------------------------------------------------------------------------

    def deliveries(
        self,
        *,
        call_id: str | None = None,
        type: str | None = None,
        channel: str | None = None,
        outcome: Outcome | None = None,
        injected: bool | None = None,
    ) -> list[Delivery]:
        """Deliveries in ``seq`` order, filtered by every argument given (``injected``: whether a fault
        was injected into it)."""
        with self._lock:
            snapshot = self._snapshot(call_id)
        return [
            d
            for d in snapshot
            if (type is None or d.message_type == type)
            and (channel is None or d.channel == channel)
            and (outcome is None or d.ok == (outcome == "ok"))
            and (injected is None or (d.injected is not None) == injected)
        ]

    def _snapshot(self, call_id: str | None = None) -> list[Delivery]:
        """The deliveries (of `call_id`, if given) as a list, in seq order; under the lock."""
        out: list[Delivery] = []
        rows: dict[_Run, int] = {}  # each run's next row
        for entry in self._deliveries:
            if isinstance(entry, _Run):
                if call_id is None or entry.call_id == call_id:
                    row = rows.get(entry, entry.first)
                    rows[entry] = row + 1
                    out.append(entry.delivery(row))
            elif call_id is None or entry.call_id == call_id:
                out.append(entry)
        return out

    @property
    def problems(self) -> list[Problem]:
        with self._lock:
            return list(self._problems)

    def problems_for(self, call_id: str) -> list[Problem]:
        with self._lock:
            return [p for p in self._problems if p.call_id == call_id]

    @property
    def dropped(self) -> int:
        """Entries evicted because of ``max_entries`` (oldest first)."""
        return self._dropped

    # -- export ----------------------------------------------------------------------------------------

    def to_jsonl(self) -> str:
        """One JSON object per line: deliveries (``Delivery.to_dict``) in seq order, then problems as
        ``{"problem": {...}}``, then ``{"dropped": N}`` if anything was evicted."""
        with self._lock:
            deliveries = self._snapshot()
            problems = list(self._problems)
            dropped = self._dropped
        lines = [json.dumps(d.to_dict(), ensure_ascii=False, default=str) for d in deliveries]
        lines += [json.dumps({"problem": p.to_dict()}, ensure_ascii=False) for p in problems]
        if dropped:
            lines.append(json.dumps({"dropped": dropped}))
        return "".join(line + "\n" for line in lines)

    def write_jsonl(self, path: str | PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_jsonl())

    @classmethod
    def from_jsonl(cls, text: str, max_entries: int = 100_000) -> Journal:
        """Rebuild a journal from ``to_jsonl`` output (seq numbers are kept as written)."""
        journal = cls(max_entries)
        for line in text.splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            if "problem" in obj:
                journal._problems.append(Problem.from_dict(obj["problem"]))
            elif "dropped" in obj and len(obj) == 1:
                journal._dropped = int(obj["dropped"])
            else:
                delivery = Delivery.from_dict(obj)
                journal._deliveries.append(delivery)
                journal._count(delivery)
                journal._seq = max(journal._seq, delivery.seq)
        return journal

    # -- dunder ----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._deliveries)

    def __iter__(self) -> Iterator[Delivery]:
        with self._lock:
            return iter(self._snapshot())

    def __repr__(self) -> str:
        with self._lock:
            n, p, dropped = len(self._deliveries), len(self._problems), self._dropped
        return (
            f"Journal({_plural(n, 'delivery', 'deliveries')}, {_plural(p, 'problem', 'problems')}, "
            f"{dropped} dropped)"
        )
