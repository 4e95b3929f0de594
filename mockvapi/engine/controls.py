"""Live control messages (from the websocket, the control URL or a client): say, add-message, end-call,
transfer, say-first-message. Each is queued with its arrival time and takes effect at the next step
boundary."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from mockvapi.engine.events import Ask, Event, Reply, Waiting
from mockvapi.engine.lifecycle import Lifecycle
from mockvapi.engine.speech import Speech
from mockvapi.engine.state import CallState
from mockvapi.engine.transfer import Transfers
from mockvapi.models.messages import SystemMessage, UserMessage

__all__ = ["Controls"]


class Controls:
    def __init__(self, call: CallState, speech: Speech, lifecycle: Lifecycle, transfers: Transfers) -> None:
        self.call = call
        self.speech = speech
        self.lifecycle = lifecycle
        self.transfers = transfers
        self.queue: list[tuple[int, dict[str, Any]]] = []  # (arrival ms, message), in arrival order

    def add(self, message: Mapping[str, Any], at: float) -> None:
        """Queue an inbound control message that arrived `at` seconds into the call."""
        self.queue.append((int(round(at * 1000)), dict(message)))

    def handle(self) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        """Act on the queued messages, in order, until the queue is empty or one ends the call."""
        call = self.call
        while self.queue and not call.ended():
            at, message = self.queue.pop(0)
            call.cursor = max(call.cursor, at)
            kind = message.get("type")
            if kind == "say":
                text = message.get("content") or message.get("message")
                if isinstance(text, str) and text.strip():
                    call.cursor = self.speech.speak(text, call.cursor, streamed=False)
                    yield from call.flush()
                    if message.get("endCallAfterSpoken"):
                        yield from self.lifecycle.end(
                            call.cursor + 200, "assistant-ended-call-after-message-spoken", None
                        )
            elif kind == "add-message":
                yield from self._add_message(message.get("message"))
            elif kind == "end-call":
                yield from self.lifecycle.end(call.cursor + 100, "customer-ended-call", None)
            elif kind == "transfer" and isinstance(message.get("destination"), dict):
                content = message.get("content")
                said = content if isinstance(content, str) and content else None
                yield from self.transfers.forward(call.cursor, message["destination"], said, "assistant-forwarded-call")
            elif kind == "control" and message.get("control") == "say-first-message":
                first = (call.context.assistant or {}).get("firstMessage")
                if first:
                    call.cursor = self.speech.speak(str(first), call.cursor, streamed=False)
                    yield from call.flush()

    def _add_message(self, item: Any) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        """A user item, or (any other role) a system item, joins history now without being spoken."""
        if not (isinstance(item, dict) and isinstance(item.get("content"), str)):
            return
        call = self.call
        at_ms = call.cursor
        text = item["content"]
        if item.get("role") == "user":
            call.remember(
                UserMessage(
                    message=text,
                    time=call.start_ms + at_ms,
                    end_time=call.start_ms + at_ms,
                    seconds_from_start=call.seconds(at_ms),
                ),
                at_ms,
            )
        else:
            call.remember(
                SystemMessage(message=text, time=call.start_ms + at_ms, seconds_from_start=call.seconds(at_ms)),
                at_ms,
            )
        yield from call.flush()
