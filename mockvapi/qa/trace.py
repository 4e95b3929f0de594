"""A played call as the reports draw it: what the caller and the assistant did, what the server got
and answered, and where things went wrong.

Built from the call's `Timeline` (every event, whether or not it went out) and, for a live run, the
journal's webhook deliveries (the replies). Payloads are kept without the objects every message of
a call shares (`call`, `assistant`, `customer`, `phoneNumber`, the `artifact` history); those are
stored once per call and put back when a payload is shown, so a report of a long call stays small.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mockvapi.engine.journal import Delivery
from mockvapi.engine.timeline import Timeline
from mockvapi.models.messages import Profile, ToolCalls

Lane = Literal["caller", "assistant", "webhook"]
LANES: tuple[Lane, ...] = ("caller", "assistant", "webhook")
ASKS = frozenset({"tool-calls", "assistant-request", "transfer-destination-request"})


@dataclass
class ReplyInfo:
    """What the server answered to one delivery (live), or the scripted answer (no target)."""

    status: int | None
    latency: float | None  # seconds of real time the HTTP exchange took (None: scripted)
    error: str | None
    body: Any
    attempts: int = 1
    scripted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and (self.status is None or 200 <= self.status < 300)


@dataclass
class TraceItem:
    """One message of the call."""

    at: float
    type: str
    lane: Lane | None  # the caller/assistant lane it belongs to, if any
    label: str
    payload: dict[str, Any]  # the message without the shared objects
    history_len: int
    sent: bool  # went (or, without a target, would go) to the server URL
    reply: ReplyInfo | None = None
    wait: float | None = None  # for asks: call seconds until the answer took effect


@dataclass
class Span:
    """A stretch of speech (or of waiting for the server) drawn as a bar."""

    lane: Lane
    start: float
    end: float
    text: str
    kind: str  # "speech", "cut" (interrupted speech), "wait"
    item: int | None = None  # index into CallTrace.items of the message it belongs to
    history: int | None = None  # index into the history (speech)


@dataclass
class Mark:
    """A moment marked across all lanes."""

    at: float
    kind: str  # "interrupt", "hang", "end", "problem"
    text: str
    item: int | None = None


@dataclass
class CallTrace:
    duration: float
    start_ms: int
    items: list[TraceItem]
    spans: list[Span]
    marks: list[Mark]
    shared: dict[str, Any]
    history: list[dict[str, Any]]
    history_openai: list[dict[str, Any]]
    server_side: bool = True  # payloads were rendered as the server sees them

    def payload(self, index: int) -> dict[str, Any]:
        """The full wire message of item `index`, as it went out."""
        item = self.items[index]
        out = expand(item.payload, self.history, self.history_openai)
        out["timestamp"] = self.start_ms + round(item.at * 1000)
        if self.server_side and "artifact" not in out and item.type != "assistant-request":
            n = item.history_len
            out["artifact"] = {"messages": self.history[:n], "messagesOpenAIFormatted": self.history_openai[:n]}
        for key in ("call", "assistant", "customer", "phoneNumber"):
            # A squad member after a handoff: the item carries its own assistant.
            if key in self.shared and key not in out and not (key == "assistant" and item.type == "assistant-request"):
                out[key] = self.shared[key]
        return out

    def excerpt(self, focus_at: float | None = None, context: int = 6) -> str:
        """The messages the server got around `focus_at` (default: the end), one line each."""
        rows = [i for i in self.items if i.sent] or self.items
        if not rows:
            return "    (no messages)"
        center = len(rows) - 1
        if focus_at is not None:
            center = min(range(len(rows)), key=lambda k: (abs(rows[k].at - focus_at), k))
        lo, hi = max(0, center - context), min(len(rows), center + context + 1)
        lines = [f"    ... {lo} earlier"] if lo else []
        for k in range(lo, hi):
            lines.append(("  > " if k == center else "    ") + _row(rows[k]))
        if hi < len(rows):
            lines.append(f"    ... {len(rows) - hi} later")
        return "\n".join(lines)


def _row(item: TraceItem) -> str:
    reply = ""
    if item.reply is not None:
        r = item.reply
        reply = f" -> {r.status if r.status is not None else 'no reply'}"
        if r.latency is not None:
            reply += f" in {r.latency * 1000:.0f}ms"
        if r.error:
            reply += f" ({r.error})"
        if r.scripted:
            reply += " (scripted)"
    return f"{item.at:8.3f}s  {item.type:<20}{reply}  {item.label}"


def build_trace(
    timeline: Timeline,
    *,
    profile: Profile = "realistic",
    deliveries: Sequence[Delivery] | None = None,
    problems: Sequence[tuple[float, str, str]] = (),
) -> CallTrace:
    """The trace of a played call; `deliveries` are its webhook deliveries (None: scripted run)."""
    ctx = timeline.events[0].context or timeline.context if timeline.events else timeline.context
    shared: dict[str, Any] = {"call": ctx.call}
    if ctx.assistant is not None:
        shared["assistant"] = ctx.assistant
    if ctx.customer is not None:
        shared["customer"] = ctx.customer
    if ctx.phone_number is not None:
        shared["phoneNumber"] = ctx.phone_number
    by_key: dict[tuple[str, int], deque[Delivery]] = defaultdict(deque)
    for d in deliveries or ():
        if d.channel == "webhook":
            by_key[(d.message_type, int(d.message.get("timestamp", -1)))].append(d)
    items: list[TraceItem] = []
    results: dict[str, tuple[float, Any]] = {}  # toolCallId -> (at, toolCallResult) for scripted replies
    for event in timeline.events:
        body = event.message.body(profile)
        if body.get("type") == "tool-calls-result":
            result = body.get("toolCallResult") or {}
            results[str(result.get("toolCallId"))] = (event.at, result)
        # After a squad's handoff the message is the new member's (its assistant, its subscriptions) and
        # its artifact holds the history the member's contextEngineeringPlan kept.
        own = event.context or ctx
        sent = own.wants(event.message, "server")
        if own.assistant is not None and own.assistant != ctx.assistant and event.type != "assistant-request":
            body["assistant"] = own.assistant
        if event.history_base:
            window = slice(event.history_base, event.history_len)
            body.setdefault("artifact", {"messages": timeline.history[window],
                                         "messagesOpenAIFormatted": timeline.history_openai[window]})
        item = TraceItem(
            at=event.at,
            type=event.type,
            lane=_lane(body),
            label=describe(body),
            payload=compact(body, timeline.history, timeline.history_openai),
            history_len=event.history_len,
            sent=sent,
        )
        if sent and deliveries is not None:
            queue = by_key.get((event.type, ctx.start_ms + event.at_ms))
            if queue:
                item.reply = _reply(queue.popleft())
            else:
                item.sent = False  # no server URL for it: Vapi sends nothing
        items.append(item)
    for item in items:
        if isinstance(item.payload.get("toolCallList"), list) and item.type == ToolCalls.type_name:
            for call in item.payload["toolCallList"]:
                found = results.get(str(call.get("id")))
                if found is not None:
                    item.wait = max(item.wait or 0.0, found[0] - item.at)
                    if item.reply is None and item.sent:
                        item.reply = ReplyInfo(200, None, None, {"results": [found[1]]}, scripted=True)
    spans = _spans(timeline, items)
    marks = _marks(items, problems)
    return CallTrace(
        duration=timeline.duration,
        start_ms=ctx.start_ms,
        items=items,
        spans=spans,
        marks=marks,
        shared=shared,
        history=list(timeline.history),
        history_openai=list(timeline.history_openai),
    )


def compact(body: dict[str, Any], history: list[dict[str, Any]], openai: list[dict[str, Any]]) -> dict[str, Any]:
    """`body` with copies of the history (conversation-update, end-of-call-report) replaced by
    `{"$history": n}` / `{"$openai": n}`: the first n items of the call's history."""

    def ref(value: Any) -> Any:
        if isinstance(value, list) and value:
            n = len(value)
            if value == history[:n]:
                return {"$history": n}
            if value == openai[:n]:
                return {"$openai": n}
        return value

    out = {key: ref(value) for key, value in body.items()}
    if isinstance(out.get("artifact"), dict):
        out["artifact"] = {key: ref(value) for key, value in out["artifact"].items()}
    return out


def expand(body: dict[str, Any], history: list[dict[str, Any]], openai: list[dict[str, Any]]) -> dict[str, Any]:
    """The inverse of `compact`."""

    def deref(value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            if "$history" in value:
                return history[: int(value["$history"])]
            if "$openai" in value:
                return openai[: int(value["$openai"])]
        return value

    out = {key: deref(value) for key, value in body.items()}
    if isinstance(out.get("artifact"), dict):
        out["artifact"] = {key: deref(value) for key, value in out["artifact"].items()}
    return out


def _reply(d: Delivery) -> ReplyInfo:
    body: Any = d.response_json if d.response_json is not None else d.response_body
    return ReplyInfo(d.status, d.latency, d.error, body, d.attempts)


def _lane(body: dict[str, Any]) -> Lane | None:
    kind = body.get("type")
    role = body.get("role")
    if kind in ("speech-update", "transcript"):
        return "caller" if role == "user" else "assistant"
    if kind == "user-interrupted":
        return "caller"
    if kind in ("model-output", "voice-input", "tool-calls", "transfer-update", "assistant.speechStarted"):
        return "assistant"
    return None


def _spans(timeline: Timeline, items: list[TraceItem]) -> list[Span]:
    start = timeline.context.start_ms
    interrupts = [i.at for i in items if i.type == "user-interrupted"]
    spans: list[Span] = []
    for index, entry in enumerate(timeline.history):
        role = entry.get("role")
        if role not in ("bot", "user") or "endTime" not in entry:
            continue
        begin = (int(entry["time"]) - start) / 1000
        end = (int(entry["endTime"]) - start) / 1000
        cut = role == "bot" and any(abs(at - end) < 0.05 for at in interrupts)
        spans.append(
            Span(
                "assistant" if role == "bot" else "caller",
                begin,
                max(end, begin),
                str(entry.get("message", "")),
                "cut" if cut else "speech",
                history=index,
            )
        )
    for index, item in enumerate(items):
        if item.type in ASKS and item.wait is not None and item.sent:
            names = ", ".join(
                str((c.get("function") or {}).get("name")) for c in item.payload.get("toolCallList") or []
            )
            spans.append(Span("webhook", item.at, item.at + item.wait, names or item.type, "wait", item=index))
    return spans


def _marks(items: list[TraceItem], problems: Sequence[tuple[float, str, str]]) -> list[Mark]:
    marks: list[Mark] = []
    for index, item in enumerate(items):
        if item.type == "user-interrupted":
            marks.append(Mark(item.at, "interrupt", "user interrupts", index))
        elif item.type == "hang":
            marks.append(Mark(item.at, "hang", "hang: the model or a tool is slow", index))
        elif item.type == "status-update" and item.payload.get("status") == "ended":
            marks.append(Mark(item.at, "end", f"ended: {item.payload.get('endedReason')}", index))
    for at, kind, detail in problems:
        marks.append(Mark(at, "problem", f"{kind}: {detail}"))
    return marks


def describe(message: dict[str, Any]) -> str:
    """A short human label for a message."""
    kind = message.get("type")
    if kind == "model-output":
        out = message.get("output")
        if isinstance(out, dict):
            out = out.get("content", out.get("toolCalls"))
        return json.dumps(out, ensure_ascii=False) if not isinstance(out, str) else repr(out)
    if kind == "transcript":
        return f"{message.get('role')} [{message.get('transcriptType')}] {message.get('transcript')}"
    if kind == "speech-update":
        return f"{message.get('role')} {message.get('status')}"
    if kind == "status-update":
        reason = message.get("endedReason")
        return str(message.get("status")) + (f" ({reason})" if reason else "")
    if kind == "user-interrupted":
        return f"interrupts turn {str(message.get('turnId'))[:8]}"
    if kind == "conversation-update":
        history = message.get("messages") or []
        if isinstance(history, dict):
            return f"{history.get('$history')} items"
        last = history[-1] if history else {}
        text = last.get("message") or last.get("result") or ""
        return f"{len(history)} items, last {last.get('role')}: {text}"[:120]
    if kind == "voice-input":
        return f"tts: {message.get('input')}"
    if kind == "tool-calls":
        calls = message.get("toolCallList") or []
        return ", ".join(
            f"{c['function']['name']}({json.dumps(c['function'].get('arguments'), ensure_ascii=False)})"
            for c in calls
            if isinstance(c, dict) and isinstance(c.get("function"), dict)
        )
    if kind == "tool-calls-result":
        result = message.get("toolCallResult") or {}
        return f"{result.get('name')} -> {result.get('result')}"
    if kind == "end-of-call-report":
        return f"{message.get('endedReason')}, cost {message.get('cost')}"
    if kind == "hang":
        return "the model or a tool is slow"
    if kind == "transfer-update":
        return f"to {json.dumps(message.get('destination'), ensure_ascii=False)}"
    return str(kind)
