"""Compact JSON for wire messages, with the call's history encoded once instead of in every message.

Every server message carries the whole history so far (`artifact.messages` and
`artifact.messagesOpenAIFormatted`; conversation-update its own `messages`, `messagesOpenAIFormatted` and
`conversation` too), so the bytes of a call grow with the square of its length and plain `json.dumps`
re-encodes the same history items in every message. History items never change once made and each list
is a prefix of the next one (see `ConversationUpdate`), so a `WireEncoder` (one per call and sink) keeps,
per place in the message, the last list it encoded with its text, and encodes only the items added since
(checked item by item, by identity). The output is byte-for-byte `compact(message)`.

The `call`, `assistant`, `customer` (and `phoneNumber`) objects ride along in every message too (about half of a client
message's bytes) and seldom change within a call: their text is kept with a snapshot of the value, and
reused while the value still equals the snapshot (an equality check, mostly pointer comparisons, costs
far less than encoding; a value changed in place no longer equals its snapshot, so it is encoded again).

The steady objects end every wire message (a client message: its own few fields, then `call`,
`assistant`...; a server message: the same after its `artifact`). The encoder keeps, per run of steady keys,
the whole tail's text (`,"call":{...},"assistant":{...}}`) and checks all of its objects at once, then encodes
the message without them (a copy; its history lists spliced in as above, if it has any) and puts the tail
after it: for a client message a handful of C calls, where a key-by-key splice in Python cost more than the
encoding itself.

An encoder made with `announced=True` (the engine's sinks) checks that equality only after someone said a steady
object changed in place (`steady_changed`, called wherever the engine changes one: an assistant-request or squad
answer setting the call's `assistantId` or `squadId`, a squad handoff): while nothing was announced, the very
objects encoded last time are their text, one integer compared instead of the objects walked (lever 120). Whoever
else changes a live call's steady objects in place (through a message it was handed, say) must announce it too;
the test suite checks every announced encoder's text against its snapshots (`CHECK_ANNOUNCED`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from math import isfinite
from operator import is_, itemgetter
from typing import Any

__all__ = ["HISTORY_KEYS", "WireEncoder", "compact", "steady_changed"]

# Same settings as `json.dumps(value, separators=(",", ":"), ensure_ascii=False)`; one instance, reused.
_plain = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# `JSONEncoder.encode` makes a new C encoder on every call, most of the cost of a small message: this one is
# made once. It skips the circular-reference check (`markers` None): wire messages are trees the engine builds,
# and a cycle still fails (RecursionError) rather than loop.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode_c = None if _c_make_encoder is None else _c_make_encoder(
    None, _plain.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
)


def compact(value: Any) -> str:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False)`."""
    if _encode_c is not None and isinstance(value, dict | list):
        return "".join(_encode_c(value, 0))
    return _plain.encode(value)


# How many in-place changes to steady objects were announced (`steady_changed`): an `announced` encoder's text
# of the very objects it encoded stands while this is what it was then.
steady_changes = 0
# Tests set this: an `announced` encoder then also compares the objects with their snapshots, and notes each
# in-place change nobody announced in `unannounced` (and encodes the object again, as an unannounced encoder does).
CHECK_ANNOUNCED = False
unannounced: list[str] = []


def steady_changed() -> None:
    """Say that an object a call's messages carry as `call`, `assistant`, `customer` or `phoneNumber` (or
    anything inside one) was changed in place: every `announced` encoder compares its snapshots again once.
    Call it after the change, before the next message is rendered. (Global, not per call: such changes are a
    few per call, at its start or a handoff, and cost every live call's encoders one comparison each.)"""
    global steady_changes
    steady_changes += 1


#: Keys whose list values are history items (at the top of a message and inside its `artifact`).
HISTORY_KEYS = frozenset({"messages", "messagesOpenAIFormatted", "conversation"})

#: Top-level keys whose (object) values are usually the same all call long.
STEADY_KEYS = frozenset({"call", "assistant", "customer", "phoneNumber"})
_SHORTCUT_KEYS = HISTORY_KEYS | STEADY_KEYS | {"artifact"}
_STEADY_KEY_TEXT = {key: f",{compact(key)}:" for key in STEADY_KEYS}  # what precedes a steady object's text
_ARTIFACT_KEY_TEXT = {key: f",{compact(key)}:[" for key in HISTORY_KEYS}  # what precedes a history list's items
_TOP_KEY_TEXT = {key: f"{compact(key)}:[" for key in HISTORY_KEYS}  # the same at the top, after its separator


def _marker(n: int) -> str:
    """What stands for a message's `n`th spliced piece while it is encoded (see `WireEncoder._spliced`)."""
    return f"\x00mockvapi-history-{n}\x00"


# Their JSON text, made once: a string goes through json's Python-level path (~0.3 us, a few per message).
_QUOTED_MARKERS = {_marker(n): compact(_marker(n)) for n in range(8)}


# A message's steady keys at its end, a getter giving their values as a tuple, whether the rest of the
# message holds nothing to splice (no history list, artifact or steady key, and only string keys), whether
# the rest ends with `artifact` after only such plain keys (a server message's usual shape), whether the
# rest's keys are all strings (see `WireEncoder._listed_parts`), and for a rest of such plain keys its
# template and a getter of its values (see `_plain_head`).
_Head = tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]
_TailShape = tuple[tuple[str, ...], Callable[[Mapping[str, Any]], tuple[Any, ...]], bool, bool, bool, _Head | None]
# A message's keys -> its tail shape, or None when no steady object ends it (memoised: wire messages come in a
# few dozen shapes; bounded, past it shapes are worked out each time).
_tail_shapes: dict[tuple[Any, ...], _TailShape | None] = {}
_UNKNOWN: Any = object()  # a shape not memoised (see WireEncoder.encode)
_MAX_TAIL_SHAPES = 1024


def _tail_shape(message: dict[Any, Any]) -> _TailShape | None:
    keys = tuple(message)
    try:
        return _tail_shapes[keys]
    except KeyError:
        pass
    start = len(keys)
    while start and keys[start - 1] in STEADY_KEYS:
        start -= 1
    rest = keys[:start]
    shape: _TailShape | None = None
    if start < len(keys):
        steady = keys[start:]
        plain = all(type(key) is str for key in rest)
        only_plain = plain and _SHORTCUT_KEYS.isdisjoint(rest)
        head: _Head | None = None
        if only_plain and rest:
            # The rest's text with a slot for each value: '{"type":%s,"turnId":%s,...' (no closing brace).
            template = "{" + ",".join(compact(key).replace("%", "%%") + ":%s" for key in rest)
            head = (template, _getter(rest))
        shape = (steady, _getter(steady), only_plain,
                 plain and rest[-1:] == ("artifact",) and _SHORTCUT_KEYS.isdisjoint(rest[:-1]), plain, head)
    if len(_tail_shapes) < _MAX_TAIL_SHAPES:
        _tail_shapes[keys] = shape
    return shape


def _getter(keys: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """What gives the values of `keys` (one or more) in a message, as a tuple."""
    if len(keys) > 1:
        return itemgetter(*keys)
    key = keys[0]
    return lambda message: (message[key],)


def _plain_head(head: _Head, message: Mapping[str, Any]) -> str | None:
    """The text of a message's plain fields (its keys before the steady objects), from its opening brace,
    when each holds a str, int, float, bool or None, as a client message's own fields do; None otherwise.
    Each value is encoded as json's C encoder would (the same functions) into the shape's template: no copy
    of the message without its steady objects and no C encoder call, whose set-up alone costs more than
    encoding four fields this way (lever 99)."""
    template, values_of = head
    texts = []
    for value in values_of(message):
        kind = type(value)
        if kind is str:
            texts.append(_quote(value))
        elif kind is int:
            texts.append(int.__repr__(value))
        elif kind is float and isfinite(value):
            texts.append(float.__repr__(value))
        elif kind is bool or value is None:
            texts.append(_CONSTANTS[value])
        else:
            return None  # NaN and infinities, containers, subclasses: json itself
    return template % tuple(texts)


_quote = json.encoder.encode_basestring  # what the C encoder calls for a string (ensure_ascii=False)
_CONSTANTS = {True: "true", False: "false", None: "null"}


def _without(message: dict[Any, Any], keys: tuple[str, ...]) -> dict[Any, Any]:
    rest = message.copy()
    for key in keys:
        del rest[key]
    return rest


class WireEncoder:
    """`encode(message)` == `compact(message)`, reusing the text of history lists it encoded before.

    Memory: one list (references, not copies) and its text per place, the text shared between places holding
    the same items, so about one encoded history per kind of list (plain and OpenAI-formatted)."""

    def __init__(self, *, announced: bool = False) -> None:
        """`announced`: every in-place change to a steady object is announced (`steady_changed`), so the objects
        are compared with their snapshots only after one was; otherwise at every message."""
        self._announced = announced
        self._last: dict[str, tuple[tuple[object, ...], str]] = {}
        # key -> (the value, a snapshot of it, its text, `steady_changes` when they were last seen equal)
        self._steady: dict[str, tuple[object, object, str, int]] = {}
        # steady keys at a message's end -> (their values, snapshots of them, the tail's text from the first comma,
        # `steady_changes` when the values were last seen equal to the snapshots)
        self._tails: dict[tuple[str, ...], tuple[tuple[object, ...], tuple[object, ...], str, int]] = {}

    def encode(self, message: Mapping[Any, Any]) -> str:
        if type(message) is dict:
            shape = _tail_shapes.get(tuple(message), _UNKNOWN)  # `_tail_shape`'s memo, inline (lever 122)
            if shape is _UNKNOWN:
                shape = _tail_shape(message)
            if shape is not None and shape[2]:
                # `_tail`'s commonest answer, inline: the very objects of last time, no change announced since.
                held = self._tails.get(shape[0]) if self._announced else None
                if (held is not None and held[3] == steady_changes and not CHECK_ANNOUNCED
                        and all(map(is_, held[0], shape[1](message)))):
                    tail: str | None = held[2]
                else:
                    tail = self._tail(message, shape)
                if tail is not None:
                    head = None if shape[5] is None else _plain_head(shape[5], message)
                    if head is not None:
                        return head + tail
                    rest = _without(message, shape[0])
                    return compact(rest)[:-1] + tail if rest else "{" + tail[1:]
        return "".join(self.encode_parts(message))

    def encode_parts(self, message: Mapping[Any, Any]) -> list[str]:
        """`encode(message)` as pieces to join: the history texts are the encoder's own strings, not copies,
        so a caller joining them with more around (the webhook envelope) copies a large history once."""
        if not isinstance(message, dict) or _SHORTCUT_KEYS.isdisjoint(message):
            return [compact(message)]
        shape = _tail_shape(message) if type(message) is dict else None
        tail = None if shape is None else self._tail(message, shape)
        if shape is None or tail is None:
            return self._spliced(message)
        rest = _without(message, shape[0])
        if not rest:
            return ["{" + tail[1:]]
        if shape[3]:
            artifact = self._artifact_parts(rest["artifact"])
            if artifact is not None:
                # The plain fields in one C call, then the artifact's pieces, then the tail: no marker
                # splicing for the commonest server message (lever 46).
                del rest["artifact"]
                head = compact(rest)
                return [head[:-1] + ',"artifact":' if rest else '{"artifact":', *artifact, tail]
        if shape[2]:
            return [compact(rest)[:-1], tail]
        parts = self._listed_parts(rest) if shape[4] else None
        if parts is None:
            parts = self._spliced(rest)
            parts[-1] = parts[-1][:-1]  # the rest's closing brace: the tail brings its own
        parts.append(tail)
        return parts

    def _listed_parts(self, rest: dict[str, Any]) -> list[str] | None:
        """The text of `rest` without its closing brace, as pieces, when its history lists sit at its top or in
        an artifact of history lists only (a conversation-update, on either side): each list's text from
        `_history`, each run of the other keys in one C call; no markers to splice. None otherwise."""
        parts: list[str] = []
        run: dict[str, Any] = {}  # plain keys since the last list
        sep = "{"
        for key, value in rest.items():
            if key in HISTORY_KEYS and isinstance(value, list | tuple):
                pieces = [_TOP_KEY_TEXT[key], self._history(key, value), "]"]
            elif key == "artifact":
                artifact = self._artifact_parts(value)
                if artifact is None:
                    return None
                pieces = ['"artifact":', *artifact]
            else:
                run[key] = value
                continue
            if run:
                parts += (sep, compact(run)[1:-1])
                sep, run = ",", {}
            parts.append(sep)
            parts += pieces
            sep = ","
        if run:
            parts += (sep, compact(run)[1:-1])
        return parts

    def _tail(self, message: dict[str, Any], shape: _TailShape) -> str | None:
        """The text of the steady objects ending `message` (`shape`), from the comma before the first to the
        message's closing brace; None if one of them is not an object (then no shortcut)."""
        steady, values_of = shape[0], shape[1]
        values = values_of(message)
        held = self._tails.get(steady)
        # The very objects encoded last time, each still equal to its snapshot (see _steady_text): with no
        # in-place change announced since they were (an `announced` encoder), or compared.
        if held is not None and all(map(is_, held[0], values)):
            if self._announced and held[3] == steady_changes:
                if not CHECK_ANNOUNCED or self._unchanged(steady, held[1], values):
                    return held[2]
            elif held[1] == values:
                if self._announced:
                    self._tails[steady] = (held[0], held[1], held[2], steady_changes)
                return held[2]
        if not all(type(value) is dict for value in values):
            return None
        tail = "".join([_STEADY_KEY_TEXT[key] + self._steady_text(key, value)
                        for key, value in zip(steady, values, strict=True)]) + "}"
        self._tails[steady] = (values, tuple(self._steady[key][1] for key in steady), tail, steady_changes)
        return tail

    @staticmethod
    def _unchanged(keys: tuple[str, ...], snapshots: object, values: object) -> bool:
        """Under CHECK_ANNOUNCED: whether the objects still equal their snapshots; notes it when not."""
        if snapshots == values:
            return True
        unannounced.append(f"{', '.join(keys)} changed in place with no steady_changed()")
        return False

    def _artifact_parts(self, artifact: object) -> list[str] | None:
        """The text of an artifact holding history lists only (`messages`, `messagesOpenAIFormatted`), as
        pieces, each list's text from `_history`; None for any other artifact (an end-of-call-report's)."""
        if type(artifact) is not dict or not artifact or not HISTORY_KEYS.issuperset(artifact):
            return None
        parts: list[str] = []
        for key, items in artifact.items():
            if type(items) is not list:
                return None
            parts += (_ARTIFACT_KEY_TEXT[key], self._history("artifact." + key, items), "]")
        parts[0] = "{" + parts[0][1:]
        parts.append("}")
        return parts

    def _spliced(self, message: dict[Any, Any]) -> list[str]:
        """One C-level encode of the message with each history list (and each steady call/assistant/customer
        object) swapped for a marker, then the text cut at each marker's JSON and that piece's text put there:
        a per-key loop in Python costs more than it saves."""
        pieces: dict[str, tuple[str, ...]] = {}
        shallow = self._swap(message, "", pieces)
        if shallow is None:
            return [compact(message)]
        rest = compact(shallow)
        quoted = [_QUOTED_MARKERS.get(marker) or compact(marker) for marker in pieces]
        if any(rest.count(q) != 1 for q in quoted):  # the message itself holds a marker's text: no shortcut
            return [compact(message)]
        parts: list[str] = []
        for q, inner in zip(quoted, pieces.values(), strict=True):
            head, found, rest = rest.partition(q)
            if not found:  # markers out of order (never for wire messages): no shortcut
                return [compact(message)]
            parts += (head, *inner)
        parts.append(rest)
        return parts

    def _swap(self, obj: Mapping[Any, Any], where: str, pieces: dict[str, tuple[str, ...]]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                return None  # json's own key coercion; never the case for wire messages
            if key in HISTORY_KEYS and isinstance(value, list | tuple):
                marker = _marker(len(pieces))
                pieces[marker] = ("[", self._history(where + key, value), "]")
                out[key] = marker
            elif not where and key in STEADY_KEYS and isinstance(value, dict):
                marker = _marker(len(pieces))
                pieces[marker] = (self._steady_text(key, value),)
                out[key] = marker
            elif not where and key == "artifact" and isinstance(value, dict):
                inner = self._swap(value, "artifact.", pieces)
                if inner is None:
                    return None
                out[key] = inner
            else:
                out[key] = value
        return out

    def _steady_text(self, key: str, value: dict[str, Any]) -> str:
        last = self._steady.get(key)
        # The same object, unchanged since it was encoded. (An in-place change to an equal value of
        # another type, 0 to 0.0, would slip through; the engine's call objects never do that.)
        if last is not None and last[0] is value:
            if self._announced and last[3] == steady_changes:
                if not CHECK_ANNOUNCED or self._unchanged((key,), last[1], value):
                    return last[2]
            elif last[1] == value:
                if self._announced:
                    self._steady[key] = (last[0], last[1], last[2], steady_changes)
                return last[2]
        text = compact(value)
        self._steady[key] = (value, copy.deepcopy(value), text, steady_changes)
        return text

    def _history(self, where: str, items: Sequence[Any]) -> str:
        """The JSON text of `items` without its brackets, reusing what was encoded before."""
        for done, inner in self._last.values():
            # The same items at another place (a conversation-update's `messages` and `artifact.messages`,
            # its three OpenAI-formatted lists): share that text, so a large history is held once, not per place.
            if len(done) == len(items) and done and all(map(is_, done, items)):
                self._last[where] = (done, inner)
                return inner
        last = self._last.get(where)
        if last is not None and 0 < len(last[0]) <= len(items) and all(map(is_, last[0], items)):
            done, inner = last
            if len(done) < len(items):
                inner += "," + ",".join(map(compact, items[len(done):]))
        else:
            inner = ",".join(map(compact, items))
        self._last[where] = (tuple(items), inner)
        return inner

    def __repr__(self) -> str:
        sizes = ", ".join(f"{where}: {len(items)}" for where, (items, _) in sorted(self._last.items()))
        return f"WireEncoder({sizes or 'nothing encoded yet'})"
