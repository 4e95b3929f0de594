"""Invariants every call mockvapi produces must satisfy, as a reusable checker.

`check_invariants(source)` takes either a simulator `Timeline` (checked on both sides, in both
profiles, plus the timeline's own bookkeeping) or a plain list of `(offset seconds, bare wire
message)` for one side of one call, which is what the player and the transports produce. It returns
human-readable violations; an empty list means the call is consistent.

The checks work from the wire only: a side that is not subscribed to a message type simply has
nothing to check for it (the default server subscription has no model-output, for instance).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mockvapi.engine.timeline import Timeline
from mockvapi.models.messages import PROFILES, SIDES, Profile, Side
from mockvapi.scenario.schema import Scenario

Wire = Mapping[str, Any]
Timed = tuple[float, Wire]

SHARED_OBJECTS = ("call", "assistant", "customer", "phoneNumber")
# Fields of message.call that follow the call's progress (the rest of the Call never changes in a call).
LIVE_CALL_FIELDS = ("status", "startedAt", "endedAt", "endedReason", "cost")
OPENAI_ROLE = {"bot": "assistant", "user": "user", "system": "system", "tool_calls": "assistant",
               "tool_call_result": "tool"}
# What counts as the model, voice or a tool making progress (a hang must not be followed by silence).
PROGRESS_TYPES = frozenset({"model-output", "voice-input", "tool-calls-result", "speech-update", "transcript",
                            "conversation-update", "tool-calls", "user-interrupted", "transfer-update"})
# Messages that flow all through a call: a side that gets any of them shows whether a call goes on.
STREAM_TYPES = frozenset({"model-output", "voice-input", "tool-calls-result", "speech-update", "transcript",
                          "conversation-update"})
# Tolerance for hang timing: the simulator measures model silence from the moment the model may start,
# which is at most this long before the conversation-update that precedes it.
HANG_SLACK = 0.06


def check_invariants(
    source: Timeline | Sequence[Timed] | Sequence[Wire],
    *,
    side: Side | None = None,
    profile: Profile | None = None,
    hang_after: float | None = None,
    start_ms: int | None = None,
) -> list[str]:
    """Every violated invariant of one call, as readable lines (empty: all good).

    `source` is a Timeline (checked on both sides and in both profiles unless `side`/`profile`
    narrow it) or one side's `(offset, message)` list (side and profile are inferred when not given).
    Bare messages are accepted too, timed by their `timestamp` from `start_ms` (default: the start the
    history items imply, else the first message's timestamp).
    `hang_after`, when given, is the silence threshold every step of the call uses: hangs must not come
    sooner, and a tool reply slower than it must have one.
    """
    if isinstance(source, Timeline):
        out = _check_timeline(source)
        for prof in (profile,) if profile else PROFILES:
            for sd in (side,) if side else SIDES:
                messages = source.messages(profile=prof, side=sd)
                checker = SideChecker(messages, side=sd, profile=prof, hang_after=hang_after,
                                      start_ms=source.context.start_ms, final_history=source.final_history)
                out.extend(f"[{prof}/{sd}] {v}" for v in checker.run())
        return out
    items: list[Timed | Wire] = list(source)
    if start_ms is None and items and isinstance(items[0], Mapping):
        start_ms = _call_start(items)
    timed: list[Timed] = [_timed(item, start_ms) for item in items]
    return SideChecker(timed, side=side or infer_side(timed), profile=profile or infer_profile(timed),
                       hang_after=hang_after, start_ms=start_ms).run()


def _call_start(messages: Sequence[Timed | Wire]) -> int | None:
    """The call's start (epoch ms) as bare messages tell it: from a history item, else the first message."""
    for item in messages:
        m = item if isinstance(item, Mapping) else item[1]
        history = m.get("messages") or (m.get("artifact") or {}).get("messages") or []
        for entry in history:
            if isinstance(entry.get("time"), int | float) and isinstance(entry.get("secondsFromStart"), int | float):
                return int(round(entry["time"] - entry["secondsFromStart"] * 1000))
    first = messages[0] if isinstance(messages[0], Mapping) else messages[0][1]
    ts = first.get("timestamp")
    return int(ts) if isinstance(ts, int | float) else None


def _timed(item: Timed | Wire, start_ms: int | None) -> Timed:
    """(offset, message) as given, or a bare message timed by its `timestamp` (what a client holds)."""
    if isinstance(item, Mapping):
        ts = item.get("timestamp")
        return ((ts - start_ms) / 1000 if isinstance(ts, int | float) and start_ms is not None else 0.0), item
    return item


def infer_side(messages: Sequence[Timed]) -> Side:
    """Server messages carry a live `artifact`; only the client gets tool-calls-result."""
    for _, m in messages:
        if m.get("type") in ("end-of-call-report", "assistant-request") or "artifact" in m:
            return "server"
        if m.get("type") == "tool-calls-result":
            return "client"
    return "client"


def infer_profile(messages: Sequence[Timed]) -> Profile | None:
    """`realistic` or `spec` from the first message whose shape tells them apart (None: no evidence)."""
    for _, m in messages:
        kind = m.get("type")
        if kind == "model-output":
            return "realistic" if isinstance(m.get("output"), str | list) else "spec"
        if kind == "conversation-update":
            return "realistic" if "conversation" in m else "spec"
        if kind == "tool-calls":
            return "realistic" if "toolCalls" in m else "spec"
    return None


MODEL_LANE = frozenset({"model-output", "voice-input"})


def structure(messages: Iterable[Timed], *, lanes: bool = False) -> list[tuple[Any, ...]]:
    """The call's shape without ids, names or timing: (type, role, status, transcriptType), deduplicated.

    With `lanes`, the model's stream (model-output, voice-input) is compared apart from the rest:
    the assistant starts speaking after its first sentence while later tokens still stream, so where
    the jittered speech start falls among the tokens legitimately changes with the seed.
    """
    timed = list(messages)
    if lanes:
        model = [x for x in timed if x[1].get("type") in MODEL_LANE]
        rest = [x for x in timed if x[1].get("type") not in MODEL_LANE]
        return [*structure(rest), ("-- model lane --",), *structure(model)]
    out: list[tuple[Any, ...]] = []
    for _, m in timed:
        key = (m.get("type"), m.get("role"), m.get("status"), m.get("transcriptType"))
        if not out or out[-1] != key:
            out.append(key)
    return out


def hang_threshold(scenario: Scenario) -> float | None:
    """The hang threshold of a Scenario when no step overrides it (the checker takes one per call)."""
    if any(getattr(step.body, "hang_after", None) is not None for step in scenario.steps):
        return None
    return float(scenario.timing.hang_after)


def overlap(previous: Sequence[Any], items: Sequence[Any]) -> int:
    """How many of `previous`'s last items `items` starts with (a handoff keeps the end of the history)."""
    for k in range(min(len(previous), len(items)), 0, -1):
        if list(items[:k]) == list(previous[len(previous) - k:]):
            return k
    return 0


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _check_timeline(timeline: Timeline) -> list[str]:
    out: list[str] = []
    last = -math.inf
    seqs: set[int] = set()
    for event in timeline.events:
        if event.at_ms < last:
            out.append(f"[timeline] {event!r} comes before the previous event ({last} ms)")
        last = event.at_ms
        if event.seq in seqs:
            out.append(f"[timeline] {event!r} reuses seq {event.seq}")
        seqs.add(event.seq)
    updates = [e for e in timeline.events if e.type == "conversation-update"]
    if updates:
        final = list(getattr(updates[-1].message, "messages", ()))
        if final != timeline.final_history:
            out.append("[timeline] Timeline.history differs from the last conversation-update")
    out.extend(_turn_discipline(timeline))
    ended = [e for e in timeline.events if e.type == "status-update" and getattr(e.message, "status", "") == "ended"]
    if ended and getattr(ended[-1].message, "ended_reason", None) != timeline.ended_reason:
        out.append(f"[timeline] ended_reason {timeline.ended_reason!r} differs from the status-update's")
    return out


def _turn_discipline(timeline: Timeline) -> list[str]:
    """turnIds over every event the call produced, whoever was subscribed (a squad's members each decide
    what their sides get, so one side may see a member's cut but not its tokens): a response streams under
    one turnId no later response reuses, and a user-interrupted cuts the text turn streaming last, after
    its first token and before any token after the cut."""
    out: list[str] = []
    kinds: dict[str, str] = {}
    cut: set[str] = set()
    current: str | None = None
    last_text: str | None = None
    for event in timeline.events:
        message = event.message
        if event.type == "model-output":
            turn = str(getattr(message, "turn_id", ""))
            kind = "tool" if getattr(message, "tool_calls", None) is not None else "text"
            if turn in cut:
                out.append(f"[timeline] {event!r}: token of turn {turn} after its user-interrupted")
            if turn != current and turn in kinds:
                out.append(f"[timeline] {event!r}: turnId {turn} is reused by a later response")
            current = turn
            kinds.setdefault(turn, kind)
            if kind == "text":
                last_text = turn
        elif event.type == "user-interrupted":
            turn_id = getattr(message, "turn_id", None)
            if turn_id is None:
                if kinds:
                    out.append(f"[timeline] {event!r}: user-interrupted without turnId after a model turn")
                continue
            if turn_id not in kinds:
                out.append(f"[timeline] {event!r}: interrupts turn {turn_id}, which streamed no token before it")
            elif turn_id != last_text:
                out.append(f"[timeline] {event!r}: interrupts turn {turn_id}, but the turn speaking is {last_text}")
            cut.add(turn_id)
    return out


class SideChecker:
    """The invariants of one side (server or client) of one call."""

    def __init__(
        self,
        messages: Sequence[Timed],
        *,
        side: Side,
        profile: Profile | None,
        hang_after: float | None = None,
        start_ms: int | None = None,
        final_history: Sequence[Wire] | None = None,
    ) -> None:
        self.messages = messages
        self.side = side
        self.profile = profile
        self.hang_after = hang_after
        self.start_ms = start_ms
        self.final_history = final_history
        self.violations: list[str] = []

    def run(self) -> list[str]:
        if not self.messages:
            return ["no messages at all"]
        checks = (self._offsets_and_timestamps, self._shared_objects, self._ending, self._speech_updates,
                  self._conversation_updates, self._artifacts, self._turns, self._hangs, self._transcripts,
                  self._profile_shapes)
        for check in checks:
            check()
        return self.violations

    def _bad(self, index: int | None, text: str) -> None:
        if index is None:
            self.violations.append(text)
            return
        at, m = self.messages[index]
        self.violations.append(f"#{index} {m.get('type')} @{at:.3f}s: {text}")

    def _of(self, *types: str) -> list[int]:
        return [i for i, (_, m) in enumerate(self.messages) if m.get("type") in types]

    # -- time --------------------------------------------------------------------------------

    def _offsets_and_timestamps(self) -> None:
        start = self.start_ms
        if start is None:
            at0, m0 = self.messages[0]
            ts = m0.get("timestamp")
            start = int(ts) - round(at0 * 1000) if isinstance(ts, int | float) else None
        self.start_ms = start
        previous = -math.inf
        for i, (at, m) in enumerate(self.messages):
            if at < previous:
                self._bad(i, f"offset goes back in time (previous {previous:.3f}s)")
            previous = at
            ts = m.get("timestamp")
            if not isinstance(ts, int | float):
                self._bad(i, "no numeric `timestamp`")
            elif start is not None and ts != start + round(at * 1000):
                self._bad(i, f"timestamp {ts} != start {start} + offset {round(at * 1000)} ms")

    def _check_item_times(self, index: int, item: Wire, where: str) -> None:
        time, sfs = item.get("time"), item.get("secondsFromStart")
        if not isinstance(time, int | float) or not isinstance(sfs, int | float):
            self._bad(index, f"{where} lacks time/secondsFromStart: {dict(item)!r:.120}")
            return
        if self.start_ms is not None and abs(time - (self.start_ms + sfs * 1000)) > 1:
            self._bad(index, f"{where}: time {time} != start + secondsFromStart {sfs}")
        end = item.get("endTime")
        if end is not None:
            if end < time:
                self._bad(index, f"{where}: endTime {end} < time {time}")
            duration = item.get("duration")
            if duration is not None and end - time != duration:
                self._bad(index, f"{where}: endTime - time = {end - time} != duration {duration}")
        ts = self.messages[index][1].get("timestamp")
        if isinstance(ts, int | float) and max(time, end or time) > ts:
            self._bad(index, f"{where} ends after the message that announces it ({max(time, end or time)} > {ts})")

    # -- objects every message carries ------------------------------------------------------------

    def _shared_objects(self) -> None:
        sees_starts = bool(self._of("assistant.started"))
        for key in SHARED_OBJECTS:
            first: tuple[int, Any] | None = None
            for i, (_, m) in enumerate(self.messages):
                if key not in m:
                    continue
                value = m[key]
                if key == "call" and isinstance(value, Mapping):
                    value = {k: v for k, v in value.items() if k not in LIVE_CALL_FIELDS}
                if first is None:
                    first = (i, value)
                elif value != first[1]:
                    # A squad's handoff changes the assistant, announced by assistant.started (when this
                    # side is subscribed to it): every later message carries the new member.
                    if key == "assistant" and (m.get("type") == "assistant.started" or not sees_starts):
                        first = (i, value)
                    else:
                        self._bad(i, f"`{key}` differs from the one in #{first[0]}")
        for i in self._of("assistant.started"):
            m = self.messages[i][1]
            if "assistant" in m and m.get("newAssistant") != m["assistant"]:
                self._bad(i, "newAssistant is not the assistant the message (and the call from here) carries")
        self._live_call()

    def _live_call(self) -> None:
        """message.call carries the Call as it stands: the last status-update's status (from the message
        that announces it on), startedAt once in progress, endedAt/endedReason once ended, and the cost
        on the end-of-call-report, equal to the report's own."""
        status: str | None = None
        reason: str | None = None
        started = False
        if not any(m.get("type") == "status-update" for _, m in self.messages):
            return  # this side is not subscribed to status-update: nothing to compare with
        for i, (_, m) in enumerate(self.messages):
            if m.get("type") == "status-update":
                status = m.get("status")
                started = started or status == "in-progress"
                reason = m.get("endedReason", reason)
            call = m.get("call")
            if not isinstance(call, Mapping) or "status" not in call:
                continue
            if status is not None and call["status"] != status:
                self._bad(i, f"call.status {call['status']!r} but the last status-update said {status!r}")
            if started != ("startedAt" in call):
                self._bad(i, f"call.startedAt {'missing once' if started else 'set before'} in-progress")
            ended = call["status"] == "ended"
            if ended != ("endedAt" in call) or ended != ("endedReason" in call):
                self._bad(i, "call.endedAt/endedReason must come exactly with status ended")
            if ended and reason is not None and call.get("endedReason") != reason:
                self._bad(i, f"call.endedReason {call.get('endedReason')!r} != the status-update's {reason!r}")
            if m.get("type") == "end-of-call-report":
                if call.get("cost") != m.get("cost") or call.get("endedReason") != m.get("endedReason"):
                    self._bad(i, "call.cost/endedReason differ from the end-of-call-report's")
            elif "cost" in call:
                self._bad(i, "call.cost before the end-of-call-report")
        if self.side == "server":
            for i, (_, m) in enumerate(self.messages):
                if not isinstance(m.get("call"), Mapping):
                    self._bad(i, "server message without a `call` object")
        has_assistant = any("assistant" in m for _, m in self.messages)
        if has_assistant:
            for i, (_, m) in enumerate(self.messages):
                if "assistant" not in m and m.get("type") != "assistant-request":
                    self._bad(i, "no `assistant` although other messages of the call have one")

    # -- the end ------------------------------------------------------------------------------

    def _ending(self) -> None:
        statuses = self._of("status-update")
        ended = [i for i in statuses if self.messages[i][1].get("status") == "ended"]
        reports = self._of("end-of-call-report")
        last = len(self.messages) - 1
        if statuses and len(ended) != 1:
            self._bad(None, f"expected exactly one status-update ended, got {len(ended)}")
        if self.side == "client" and reports:
            self._bad(reports[0], "end-of-call-report is server-only")
        if self.side == "server" and (statuses or reports):
            if len(reports) != 1:
                self._bad(None, f"expected exactly one end-of-call-report, got {len(reports)}")
            elif reports[0] != last:
                self._bad(reports[0], "end-of-call-report is not the last message")
        if ended:
            e = ended[0]
            for i in range(e + 1, last + 1):
                if self.messages[i][1].get("type") != "end-of-call-report":
                    self._bad(i, "message after status-update ended")
            reason = self.messages[e][1].get("endedReason")
            if not reason:
                self._bad(e, "status-update ended without endedReason")
            for r in reports:
                report = self.messages[r][1]
                if r < e:
                    self._bad(r, "end-of-call-report before status-update ended")
                if report.get("endedReason") != reason:
                    self._bad(r, f"endedReason {report.get('endedReason')!r} != status-update's {reason!r}")
                ended_ts = self.messages[e][1].get("timestamp")
                if isinstance(ended_ts, int) and report.get("endedAt") != iso(ended_ts):
                    self._bad(r, f"endedAt {report.get('endedAt')} != status-update ended time {iso(ended_ts)}")
        for i in statuses:
            m = self.messages[i][1]
            if m.get("status") != "ended" and "endedReason" in m:
                self._bad(i, "endedReason on a status other than ended")
            if m.get("status") == "in-progress":
                for r in reports:
                    if self.messages[r][1].get("startedAt") != iso(int(m["timestamp"])):
                        self._bad(r, f"startedAt != in-progress time {iso(int(m['timestamp']))}")

    # -- speech ---------------------------------------------------------------------------------

    def _speech_updates(self) -> None:
        open_: dict[str, tuple[int, Any]] = {}
        last_turn: int | None = None
        for i in self._of("speech-update", "status-update"):
            m = self.messages[i][1]
            if m.get("type") == "status-update":
                if m.get("status") == "ended":
                    for speaker, (j, _) in open_.items():
                        self._bad(i, f"call ends while {speaker} speech from #{j} is still open")
                continue
            role, status = m.get("role"), m.get("status")
            if role not in ("assistant", "user") or status not in ("started", "stopped"):
                self._bad(i, f"bad speech-update role/status {role!r}/{status!r}")
                continue
            if status == "started":
                if role in open_:
                    self._bad(i, f"{role} started twice (previous start #{open_[role][0]})")
                open_[role] = (i, m.get("turn"))
                if role == "assistant":
                    turn = m.get("turn")
                    if isinstance(turn, int) and last_turn is not None and turn <= last_turn:
                        self._bad(i, f"assistant turn {turn} does not increase (previous {last_turn})")
                    last_turn = turn if isinstance(turn, int) else last_turn
            else:
                if role not in open_:
                    self._bad(i, f"{role} stopped without a start")
                    continue
                _, turn = open_.pop(role)
                if role == "assistant" and m.get("turn") != turn:
                    self._bad(i, f"assistant stopped turn {m.get('turn')} but started turn {turn}")

    def _transcripts(self) -> None:
        """Final transcripts agree with history: assistant finals spell the bot items, user finals the users'."""
        history, _ = self._whole_history()
        if history is None:
            return
        finals: dict[str, list[str]] = {"assistant": [], "user": []}
        for i in self._of("transcript"):
            m = self.messages[i][1]
            if m.get("transcriptType") == "final" and m.get("role") in finals:
                finals[str(m["role"])].append(str(m.get("transcript", "")))
        if not finals["assistant"] and not finals["user"]:
            return
        if len({repr(m.get("assistant")) for _, m in self.messages}) > 1:
            # A squad: each member's subscriptions decide whether this side got transcripts while it was
            # active, so the finals are the history's texts in order with some left out.
            for role, wanted in (("assistant", "bot"), ("user", "user")):
                texts = [str(h.get("message", "")) for h in history if h.get("role") == wanted]
                at = 0
                for final in finals[role]:
                    # An assistant message is transcribed sentence by sentence; a user's in one final.
                    while at < len(texts) and not (final in texts[at] if role == "assistant" else final == texts[at]):
                        at += 1
                    if at == len(texts):
                        self._bad(None, f"{role} final transcript {final!r:.100} is not, in order, in the history")
                        break
                    at += role == "user"
            return
        bots = " ".join(str(h.get("message", "")) for h in history if h.get("role") == "bot")
        if finals["assistant"] and " ".join(finals["assistant"]) != bots:
            self._bad(None, f"assistant final transcripts {' '.join(finals['assistant'])!r:.200} do not spell "
                            f"the bot messages {bots!r:.200}")
        spoken_users = [str(h.get("message")) for h in history if h.get("role") == "user" and "duration" in h]
        if finals["user"] and finals["user"] != spoken_users:
            self._bad(None, f"user final transcripts {finals['user']!r:.200} != user history {spoken_users!r:.200}")

    # -- history -------------------------------------------------------------------------------

    def _whole_history(self) -> tuple[list[Wire] | None, dict[int, int]]:
        """Every history item the call ever announced, in order (a squad's handoff may trim what later
        updates carry, never what was said), and how many were known at each conversation-update."""
        updates = self._of("conversation-update")
        if not updates:
            return self._final_history(), {}
        log: list[Wire] = []
        previous: list[Any] = []
        known: dict[int, int] = {}
        for i in updates:
            items = list(self.messages[i][1].get("messages") or [])
            log.extend(items[overlap(previous, items):])
            previous = items
            known[i] = len(log)
        return log, known

    def _final_history(self) -> list[Wire] | None:
        updates = self._of("conversation-update")
        if updates:
            return list(self.messages[updates[-1]][1].get("messages") or [])
        reports = self._of("end-of-call-report")
        if reports:
            return list((self.messages[reports[-1]][1].get("artifact") or {}).get("messages") or [])
        return None

    def _conversation_updates(self) -> None:
        previous: list[Any] = []
        seen_items = 0
        previous_assistant: Any = None
        for i in self._of("conversation-update"):
            m = self.messages[i][1]
            items = m.get("messages")
            openai = m.get("messagesOpenAIFormatted")
            if not isinstance(items, list) or not isinstance(openai, list):
                self._bad(i, "messages / messagesOpenAIFormatted missing")
                continue
            kept = overlap(previous, items)
            handed_off = previous_assistant is not None and m.get("assistant") != previous_assistant
            previous_assistant = m.get("assistant")
            if handed_off and any(item.get("role") != "system" for item in items[kept:]):
                # The member's contextEngineeringPlan keeps the end of the history (all of it, the last N
                # items, or none); the new member adds only its system prompt.
                self._bad(i, "after the handoff the history is not the end of the previous one plus the new "
                             "member's system prompt")
            elif not handed_off and items[: len(previous)] != previous:
                self._bad(i, "does not extend the previous conversation-update")
            elif len(items) == len(previous) and not handed_off:
                self._bad(i, "repeats the previous conversation-update without a new item")
            self._pair(i, items, openai)
            previous_time = -math.inf
            for k, item in enumerate(items):
                if k >= (kept if handed_off else seen_items):
                    self._check_item_times(i, item, f"history[{k}] ({item.get('role')})")
                t = item.get("time")
                if isinstance(t, int | float):
                    if t < previous_time:
                        self._bad(i, f"history[{k}] starts before history[{k - 1}]")
                    previous_time = t
            seen_items = len(items)
            previous = items
        history = self._final_history()
        if self.final_history is not None and history is not None and history != list(self.final_history):
            self._bad(None, "the last history on this side differs from the call's final history")

    def _pair(self, index: int, items: Sequence[Wire], openai: Sequence[Wire]) -> None:
        """`messages` and `messagesOpenAIFormatted` describe the same history."""
        if len(items) != len(openai):
            self._bad(index, f"{len(items)} messages but {len(openai)} messagesOpenAIFormatted")
            return
        for k, (item, oa) in enumerate(zip(items, openai, strict=True)):
            role = item.get("role")
            want = OPENAI_ROLE.get(str(role))
            if want is None or oa.get("role") != want:
                self._bad(index, f"history[{k}] role {role!r} pairs with OpenAI role {oa.get('role')!r}")
                continue
            if role in ("bot", "user", "system"):
                if oa.get("content") != item.get("message"):
                    self._bad(index, f"history[{k}] content differs: {item.get('message')!r:.60} vs "
                                     f"{oa.get('content')!r:.60}")
            elif role == "tool_calls":
                if oa.get("tool_calls") != item.get("toolCalls") or oa.get("content") not in ("", None):
                    self._bad(index, f"history[{k}] tool calls differ from the OpenAI form")
                for call in item.get("toolCalls") or []:
                    if not isinstance(call.get("function", {}).get("arguments"), str):
                        self._bad(index, f"history[{k}] tool call arguments are not a JSON string")
            elif oa.get("tool_call_id") != item.get("toolCallId") or oa.get("content") != item.get("result"):
                self._bad(index, f"history[{k}] tool result differs from the OpenAI form")

    def _artifacts(self) -> None:
        """Server messages carry the history as it stands when they are sent; the report carries all of it."""
        if self.side != "server":
            return
        announced: list[Any] = []
        has_updates = bool(self._of("conversation-update"))
        longest: list[Any] = []
        for i, (_, m) in enumerate(self.messages):
            kind = m.get("type")
            if kind == "conversation-update":
                announced = list(m.get("messages") or [])
            artifact = m.get("artifact")
            if kind == "assistant-request":
                continue
            if not isinstance(artifact, Mapping):
                self._bad(i, "server message without `artifact`")
                continue
            snapshot = list(artifact.get("messages") or [])
            if kind == "end-of-call-report":
                final = self._final_history()
                if has_updates and snapshot != final:
                    self._bad(i, "artifact.messages is not the final history (last conversation-update)")
                if has_updates and list(artifact.get("messagesOpenAIFormatted") or []) != list(
                    self.messages[self._of("conversation-update")[-1]][1].get("messagesOpenAIFormatted") or []
                ):
                    self._bad(i, "artifact.messagesOpenAIFormatted is not the final OpenAI history")
                self._report_transcript(i, artifact, self._whole_history()[0] or snapshot)
                continue
            if has_updates and snapshot != announced:
                self._bad(i, f"artifact has {len(snapshot)} history items but {len(announced)} were announced "
                             "by then")
            if not has_updates and snapshot[: len(longest)] != longest:
                self._bad(i, "artifact history does not extend the previous message's")
            longest = snapshot
            self._pair(i, snapshot, list(artifact.get("messagesOpenAIFormatted") or []))

    def _report_transcript(self, index: int, artifact: Mapping[str, Any], history: Sequence[Wire]) -> None:
        lines = []
        for item in history:
            if item.get("role") == "bot" and item.get("message"):
                lines.append(f"AI: {item['message']}\n")
            elif item.get("role") == "user":
                lines.append(f"User: {item.get('message')}\n")
        if "transcript" in artifact and artifact["transcript"] != "".join(lines):
            self._bad(index, "artifact.transcript does not follow the history")

    # -- model turns and interruptions -----------------------------------------------------------

    def _output(self, index: int) -> tuple[str, str | None]:
        """("text", token) or ("tool", None) for one model-output."""
        output = self.messages[index][1].get("output")
        if isinstance(output, str):
            return "text", output
        if isinstance(output, list):
            return "tool", None
        if isinstance(output, Mapping):
            if isinstance(output.get("content"), str):
                return "text", str(output["content"])
            if "toolCalls" in output:
                return "tool", None
        self._bad(index, f"unrecognised model output {output!r:.80}")
        return "bad", None

    def _turns(self) -> None:
        tokens: dict[str, list[str]] = {}
        kinds: dict[str, str] = {}
        first_index: dict[str, int] = {}
        known_at_first: dict[str, int] = {}
        closed: set[str] = set()
        interrupted: dict[str, int] = {}
        current: str | None = None
        last_text_turn: str | None = None
        known = 0
        _, known_at = self._whole_history()
        streaming = {repr(m.get("assistant")) for _, m in self.messages if m.get("type") == "model-output"}
        for i, (_, m) in enumerate(self.messages):
            kind = m.get("type")
            if kind == "conversation-update":
                known = max(known, known_at.get(i, 0))
            artifact = m.get("artifact")
            if isinstance(artifact, Mapping):
                known = max(known, len(artifact.get("messages") or []))
            if kind == "model-output":
                turn = m.get("turnId")
                if not isinstance(turn, str) or not turn:
                    self._bad(i, "model-output without turnId")
                    continue
                if turn in interrupted:
                    self._bad(i, f"token of turn {turn} after its user-interrupted (#{interrupted[turn]})")
                if turn != current:
                    if turn in tokens:
                        self._bad(i, f"turnId {turn} is reused by a later response")
                    if current is not None:
                        closed.add(current)
                    current = turn
                output_kind, token = self._output(i)
                if turn not in kinds:
                    kinds[turn] = output_kind
                    first_index[turn] = i
                    known_at_first[turn] = known
                    tokens[turn] = []
                elif kinds[turn] != output_kind:
                    self._bad(i, f"turn {turn} mixes text tokens and tool calls")
                if token is not None:
                    tokens[turn].append(token)
                if output_kind == "text":
                    last_text_turn = turn
            elif kind == "user-interrupted":
                turn = m.get("turnId")
                if not isinstance(turn, str):
                    # Optional in the spec: only a cut force-said first message, before any model turn, has none.
                    if tokens:
                        self._bad(i, "user-interrupted without turnId")
                    continue
                if turn in interrupted:
                    self._bad(i, f"turn {turn} interrupted twice")
                interrupted[turn] = i
                # Each squad member's subscriptions decide whether this side gets its tokens: the cut turn
                # must have streamed here when its member streams here at all (the whole call, without a
                # squad). _turn_discipline checks the cut against every token, whoever got it.
                if repr(m.get("assistant")) in streaming:
                    if turn not in tokens:
                        self._bad(i, f"interrupts turn {turn}, which sent no token before it")
                    elif turn != last_text_turn:
                        self._bad(i, f"interrupts turn {turn}, but the turn speaking is {last_text_turn}")
        self._turn_texts(tokens, kinds, known_at_first, interrupted, first_index)
        self._interruptions(interrupted)

    def _turn_texts(self, tokens: Mapping[str, list[str]], kinds: Mapping[str, str],
                    known_at_first: Mapping[str, int], interrupted: Mapping[str, int],
                    first_index: Mapping[str, int]) -> None:
        """Each text turn's tokens spell the bot item it produced (truncated when interrupted)."""
        history, _ = self._whole_history()
        if history is None:
            return
        firsts = sorted(first_index.values())
        sees_speech = bool(self._of("speech-update"))
        sees_voice = bool(self._of("voice-input"))

        def voiced(turn: str) -> bool:
            # A muted assistant (mute-assistant), or a call ended by a live control before the answer's
            # speech began, streams tokens and says nothing; history keeps only spoken words, so none.
            start = first_index[turn]
            stop = next((f for f in firsts if f > start), len(self.messages))
            window = [m for _, m in self.messages[start:stop]]
            spoken = any(m.get("type") == "speech-update" and m.get("role") == "assistant" for m in window)
            if not spoken and any(m.get("type") == "status-update" and m.get("status") == "ended" for m in window):
                return False  # the call ended (a live end-call) before the answer was voiced
            if sees_speech:
                return any(m.get("type") == "speech-update" and m.get("role") == "assistant"
                           and m.get("status") == "started" for m in window)
            return not sees_voice or any(m.get("type") == "voice-input" for m in window)

        claimed: dict[int, str] = {}
        text_turns = [turn for turn in tokens if kinds.get(turn) == "text"]
        for turn, parts in tokens.items():
            if kinds.get(turn) != "text":
                continue
            k = known_at_first[turn]
            index = next((n for n in range(k, len(history)) if history[n].get("role") == "bot"), None)
            if index is None and turn == text_turns[-1] and self._ended_reason() == "exceeded-max-duration":
                continue  # streamed, but the call reached maxDurationSeconds before a word of it was said
            if index is None:
                if voiced(turn):
                    self._bad(None, f"turn {turn} ({''.join(parts)!r:.60}) never reaches the history as a bot message")
                continue
            if not voiced(turn):
                continue
            if index in claimed:
                self._bad(None, f"turns {claimed[index]} and {turn} both map to history[{index}]")
            claimed[index] = turn
            text = "".join(parts).strip()
            message = history[index].get("message")
            # A cut the side cannot see (user-interrupted not subscribed, or the customer hanging up
            # mid-answer) truncates history the same way.
            # A live `say` that cuts the assistant off (interruptAssistantEnabled) is spoken right after the cut
            # (20 ms): the next bot item begins as the cut one ends. Other items may come between them in
            # history: an add-message's system item that waited for the turn's end, or the customer's words
            # begun (barging in) before the say.
            said_over = _said_over(history, index)
            unseen_cut = not self._of("user-interrupted") or index == self._last_bot(history) or said_over
            if turn in interrupted or (unseen_cut and text != message):
                # The LLM streams ahead of speech: history holds only the words spoken by the cut, a
                # word-wise prefix of what streamed, and not all of it unless the cut came at the end.
                spoken = str(message or "")
                if not spoken or not text.startswith(spoken):
                    self._bad(None, f"interrupted turn {turn}: bot message {message!r:.120} is not what was "
                                    f"spoken of the tokens {text!r:.120}")
            elif text != message:
                self._bad(None, f"uninterrupted turn {turn}: tokens {text!r:.120} != bot message {message!r:.120}")
            if turn in interrupted:
                cut_ts = self.messages[interrupted[turn]][1].get("timestamp")
                end = history[index].get("endTime")
                if isinstance(cut_ts, int | float) and isinstance(end, int | float) and end > cut_ts:
                    self._bad(interrupted[turn], f"the cut bot message ends at {end}, after the interruption")

    def _ended_reason(self) -> str | None:
        for _, m in self.messages:
            if m.get("type") in ("status-update", "end-of-call-report") and m.get("endedReason"):
                return str(m["endedReason"])
        return None

    @staticmethod
    def _last_bot(history: list[Any]) -> int | None:
        return max((n for n, item in enumerate(history) if item.get("role") == "bot"), default=None)

    def _interruptions(self, interrupted: Mapping[str, int]) -> None:
        """The user is speaking at the cut, and the assistant stops right after it (PROTOCOL.md section 3)."""
        speaking = False
        for i in sorted({*self._of("speech-update"), *interrupted.values()}):
            m = self.messages[i][1]
            if m.get("type") == "speech-update" and m.get("role") == "user":
                speaking = m.get("status") == "started"
            elif m.get("type") == "user-interrupted" and self._of("speech-update") and not speaking:
                self._bad(i, "user-interrupted while the user is not speaking")
        for turn, i in interrupted.items():
            following = [j for j in self._of("speech-update") if j > i]
            assistant = [j for j in following if self.messages[j][1].get("role") == "assistant"]
            if assistant and self.messages[assistant[0]][1].get("status") != "stopped":
                self._bad(i, f"assistant speech does not stop after the cut of {turn}")

    # -- hang --------------------------------------------------------------------------------------

    def _hangs(self) -> None:
        hangs = self._of("hang")
        last = len(self.messages) - 1
        # A side subscribed to little (say tool-calls, hang, status-update) cannot see the call go on.
        streamed = {m.get("type") for _, m in self.messages} & STREAM_TYPES
        for i in hangs:
            after = {self.messages[j][1].get("type") for j in range(i + 1, last + 1)}
            # The customer may give up after the assistant hangs (a live end-call, which ends the call 100 ms
            # after it arrives): the call ends there.
            hung_up = any(m.get("type") == "status-update" and m.get("endedReason") == "customer-ended-call"
                          and at >= self.messages[i][0] + 0.1 for at, m in self.messages[i + 1:])
            # maxDurationSeconds may run out while the model is still silent: the call ends at its deadline;
            # a live transfer forwards the call at once, whatever the model is doing.
            cut_short = any(m.get("type") == "status-update"
                            and m.get("endedReason") in ("exceeded-max-duration", "assistant-forwarded-call")
                            for _, m in self.messages[i + 1:])
            if streamed and not after & STREAM_TYPES and not hung_up and not cut_short:
                self._bad(i, "nothing but the end follows the hang: the call must go on")
            if self.hang_after is not None:
                at = self.messages[i][0]
                previous = [j for j in range(i) if self.messages[j][1].get("type") in PROGRESS_TYPES]
                if previous and at - self.messages[previous[-1]][0] < self.hang_after - HANG_SLACK:
                    self._bad(i, f"hang only {at - self.messages[previous[-1]][0]:.3f}s after #{previous[-1]} "
                                 f"(threshold {self.hang_after}s)")
        self._assistant_silent_at_hang(hangs)
        if self.hang_after is None:
            return
        # A tool reply slower than the threshold must have produced a hang in between.
        for i in self._of("tool-calls"):
            at, m = self.messages[i]
            ids = {c.get("id") for c in m.get("toolCallList") or [] if isinstance(c, Mapping)}
            if any(isinstance(t, Mapping) and t.get("async") for t in m.get("toolWithToolCallList") or []):
                continue
            done = self._tool_resolution(i, ids)
            if done is None:
                continue
            if self.messages[done][0] - at > self.hang_after + HANG_SLACK and not any(i < h < done for h in hangs):
                self._bad(i, f"tool answered after {self.messages[done][0] - at:.3f}s without a hang "
                             f"(threshold {self.hang_after}s)")

    def _tool_resolution(self, index: int, ids: set[Any]) -> int | None:
        for j in range(index + 1, len(self.messages)):
            m = self.messages[j][1]
            if m.get("type") == "tool-calls-result" and (m.get("toolCallResult") or {}).get("toolCallId") in ids:
                return j
            items = m.get("messages") or [] if m.get("type") == "conversation-update" else []
            if any(item.get("role") == "tool_call_result" and item.get("toolCallId") in ids for item in items):
                return j
        return None

    def _assistant_silent_at_hang(self, hangs: Sequence[int]) -> None:
        speaking = False
        for i, (_, m) in enumerate(self.messages):
            if m.get("type") == "speech-update" and m.get("role") == "assistant":
                speaking = m.get("status") == "started"
            if i in hangs and speaking:
                self._bad(i, "hang while the assistant is speaking")

    # -- profiles ------------------------------------------------------------------------------------

    def _profile_shapes(self) -> None:
        profile = self.profile
        if profile is None:
            return
        realistic = profile == "realistic"
        for i, (_, m) in enumerate(self.messages):
            kind = m.get("type")
            if kind == "model-output":
                output = m.get("output")
                if realistic and not isinstance(output, str | list):
                    self._bad(i, "realistic model-output must be a string (or a list of tool calls)")
                if not realistic and not isinstance(output, Mapping):
                    self._bad(i, "spec model-output must be an object")
            elif kind == "conversation-update":
                if realistic and m.get("conversation") != m.get("messagesOpenAIFormatted"):
                    self._bad(i, "realistic conversation-update needs `conversation` == messagesOpenAIFormatted")
                if not realistic and "conversation" in m:
                    self._bad(i, "spec conversation-update has the legacy `conversation`")
            elif kind == "tool-calls":
                for call in m.get("toolCallList") or []:
                    args = call.get("function", {}).get("arguments")
                    if realistic and not isinstance(args, Mapping):
                        self._bad(i, "realistic tool-calls arguments must be an object")
                    if not realistic and not isinstance(args, str):
                        self._bad(i, "spec tool-calls arguments must be a JSON string")
                if realistic and m.get("toolCalls") != m.get("toolCallList"):
                    self._bad(i, "realistic tool-calls needs `toolCalls` == toolCallList")
                if not realistic and "toolCalls" in m:
                    self._bad(i, "spec tool-calls has the legacy `toolCalls`")


def _said_over(history: list[dict[str, Any]], index: int) -> bool:
    """Whether a live say follows the cut item `history[index]`: the next bot item comes with only system items
    between (an add-message that waited for the turn's end), or it begins while the customer's words that came
    between (begun first, barging in) still go on, or as they end: an answer to them would begin only after
    their end (endpointing and the model take time), so an item that begins no later is not one."""
    following = next((n for n in range(index + 1, len(history)) if history[n].get("role") == "bot"), None)
    if following is None:
        return False
    begins = history[following].get("time")
    for item in history[index + 1:following]:
        if item.get("role") == "user":
            end = item.get("endTime")
            if not (isinstance(begins, int | float) and isinstance(end, int | float) and begins <= end):
                return False
    return True
