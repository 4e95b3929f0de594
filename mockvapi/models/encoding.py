"""Compact JSON for wire messages, with the call's history encoded once instead of in every message.

Every server message carries the whole history so far (`artifact.messages` and
`artifact.messagesOpenAIFormatted`; conversation-update its own `messages`, `messagesOpenAIFormatted` and
`conversation` too), so the bytes of a call grow with the square of its length and plain `json.dumps`
re-encodes the same history items in every message. History items never change once made and each list
is a prefix of the next one (see `ConversationUpdate`), so a `WireEncoder` (one per call and sink) keeps,
per place in the message, the last list it encoded with its text, and encodes only the items added since
(checked item by item, by identity). The output is byte-for-byte `compact(message)`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from operator import is_
from typing import Any

__all__ = ["HISTORY_KEYS", "WireEncoder", "compact"]

# Same settings as `json.dumps(value, separators=(",", ":"), ensure_ascii=False)`; one instance, reused.
compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

#: Keys whose list values are history items (at the top of a message and inside its `artifact`).
HISTORY_KEYS = frozenset({"messages", "messagesOpenAIFormatted", "conversation"})


class WireEncoder:
    """`encode(message)` == `compact(message)`, reusing the text of history lists it encoded before.

    Memory: one list (references, not copies) and its text per place, the text shared between places holding
    the same items, so about one encoded history per kind of list (plain and OpenAI-formatted)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[tuple[object, ...], str]] = {}

    def encode(self, message: Mapping[Any, Any]) -> str:
        return "".join(self.encode_parts(message))

    def encode_parts(self, message: Mapping[Any, Any]) -> list[str]:
        """`encode(message)` as pieces to join: the history texts are the encoder's own strings, not copies,
        so a caller joining them with more around (the webhook envelope) copies a large history once."""
        if not isinstance(message, dict) or (HISTORY_KEYS.isdisjoint(message) and "artifact" not in message):
            return [compact(message)]
        # One C-level encode of the message with each history list swapped for a marker, then the text cut at
        # each marker's JSON and that list's text put there: a per-key loop in Python costs more than it saves.
        pieces: dict[str, str] = {}
        shallow = self._swap(message, "", pieces)
        if shallow is None:
            return [compact(message)]
        rest = compact(shallow)
        quoted = [compact(marker) for marker in pieces]
        if any(rest.count(q) != 1 for q in quoted):  # the message itself holds a marker's text: no shortcut
            return [compact(message)]
        parts: list[str] = []
        for q, inner in zip(quoted, pieces.values(), strict=True):
            head, found, rest = rest.partition(q)
            if not found:  # markers out of order (never for wire messages): no shortcut
                return [compact(message)]
            parts += (head, "[", inner, "]")
        parts.append(rest)
        return parts

    def _swap(self, obj: Mapping[Any, Any], where: str, pieces: dict[str, str]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                return None  # json's own key coercion; never the case for wire messages
            if key in HISTORY_KEYS and isinstance(value, list | tuple):
                marker = f"\x00mockvapi-history-{len(pieces)}\x00"
                pieces[marker] = self._history(where + key, value)
                out[key] = marker
            elif not where and key == "artifact" and isinstance(value, dict):
                inner = self._swap(value, "artifact.", pieces)
                if inner is None:
                    return None
                out[key] = inner
            else:
                out[key] = value
        return out

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
