"""Live control messages (from the websocket, the control URL or a client): say, add-message, end-call,
transfer, control (mute-assistant, unmute-assistant, say-first-message).

Each is queued with its arrival time. Those that change what is being said act when they arrive, even
mid-utterance (PROTOCOL.md section 1, "Live call control"): `end-call` and `transfer` cut the assistant off
and end the call; `say` with `interruptAssistantEnabled` cuts the current utterance and speaks at once;
`mute-assistant` silences the voice from that moment while the model's tokens still stream. A cut keeps in
history only the words spoken by then, as a barge-in does. The others wait for the assistant to finish:
`say` (queued after the current utterance), `add-message` (with `triggerResponseEnabled`, the assistant
answers it), `say-first-message`.

Acting on arrival works on the events of the current step not yet delivered (`CallState.flush` asks
`due()` before each one, and a driver that already holds the next event sends `Retract` for it). While the
call waits for a server's reply, `end-call` and `transfer` act at once too: the driver asks `ends_waiting()`
and plays `end_waiting()` instead of the rest of the step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from typing import Any

from mockvapi.engine.events import Abandon, Ask, Event, Reply, Waiting
from mockvapi.engine.lifecycle import Lifecycle
from mockvapi.engine.speech import Speech, chunks, tokenize
from mockvapi.engine.state import CallState, Utterance
from mockvapi.engine.transfer import Transfers
from mockvapi.models.messages import (
    AssistantSpeechStarted,
    BotMessage,
    ConversationUpdate,
    Hang,
    HistoryItem,
    ModelOutput,
    SpeechUpdate,
    StatusUpdate,
    SystemMessage,
    Transcript,
    UserInterrupted,
    UserMessage,
    VoiceInput,
)

__all__ = ["Controls", "TRIGGERED_ANSWER"]

Steps = Generator[Event | Ask, Reply | Waiting | None, None]

#: What the assistant answers to an add-message with triggerResponseEnabled when the script has no
#: `assistant:` step next to stand for the model's answer.
TRIGGERED_ANSWER = "Okay."

# Room left after a `say` said ahead of what is planned: its history item, and with endCallAfterSpoken the
# end of the call, come before the next planned event.
_FIT_MARGIN_MS = 1000

# An event's history bound that lets its artifact carry everything announced when it goes out.
_ANNOUNCED = 1 << 62

# The assistant's lane: what stops when the assistant is cut off or muted.
_VOICE_LANE = (VoiceInput, AssistantSpeechStarted, UserInterrupted)


class Controls:
    def __init__(self, call: CallState, speech: Speech, lifecycle: Lifecycle, transfers: Transfers) -> None:
        self.call = call
        self.speech = speech
        self.lifecycle = lifecycle
        self.transfers = transfers
        self.queue: list[tuple[int, dict[str, Any]]] = []  # (arrival ms, message), in arrival order
        self.triggered: list[int] = []  # ms of add-messages whose answer is due (see `answer_due`)
        self._started = False  # see `_in_progress`

    def add(self, message: Mapping[str, Any], at: float) -> None:
        """Queue an inbound control message that arrived `at` seconds into the call."""
        self.queue.append((int(round(at * 1000)), dict(message)))

    # -- acting on arrival ----------------------------------------------------------------------

    def _on_arrival(
        self, at_ms: int, quiet: bool = True, answering: bool = False, hanging: bool = False
    ) -> tuple[int, int] | None:
        """The first queued control that acts by `at_ms`: (queue index, when it acts). `quiet`: nothing
        still to come changes history (else a queued say or add-message waits for the step's end, so as not
        to overlap the turn under way). `hanging`: a `hang` is pending (see `_mood`): a say is not fitted
        into the silence before it, which a line said there would break (the hang would come too soon after
        it); it is said once the hang has gone out, as when the call waits for the server's reply."""
        started = self.call.started_ms
        if started is None or not self._in_progress():
            return None  # controls act once the call is in progress (its status-update delivered)
        last = max(self.call.last_ms, started)
        for index, (arrival, message) in enumerate(self.queue):
            if arrival > at_ms:
                continue
            t = max(arrival, last)
            kind = message.get("type")
            if kind in ("end-call", "transfer") or (
                kind == "control" and message.get("control") in ("mute-assistant", "unmute-assistant")
            ):
                return index, t
            if kind == "say" and message.get("interruptAssistantEnabled") and self._open_utterance():
                return index, t
            if kind in ("say", "add-message"):
                # Queued behind the utterance being said, if any; at once otherwise.
                utterance = self.speaking(t, until=60)
                when = max(int(round(utterance.end + 60)) if utterance is not None else t, last)
                if when > at_ms:
                    continue
                if kind == "add-message" and not answering and self._nothing_said_before(when):
                    return index, when
                if kind == "say" and ((quiet and not answering and not self._answer_planned(when))
                                      or (not hanging and self._fits(message, when, at_ms))):
                    return index, when
        return None

    def _fits(self, message: Mapping[str, Any], when: int, at_ms: int) -> bool:
        """A `say` spoken from `when` is over before anything still to come (`at_ms`, the next event) and
        before any turn under way: it is said then, ahead of what is planned (a long silence, say)."""
        text = message.get("content") or message.get("message")
        if not isinstance(text, str):
            return False
        done = when + self.speech.longest(text) + _FIT_MARGIN_MS
        return done <= at_ms and not self._answer_planned(when) and self._nothing_said_before(done) \
            and not self._user_speaking()

    def _answer_planned(self, when: int) -> bool:
        """An answer is planned to be spoken from `when` on (its speech turn already numbered): a say does not
        overtake it, as turns count up as spoken (even when nothing it plans changes history: an answer the
        call's end cuts short announces none), or its speech-update started is (the call's end cuts it before
        its first word: that speech-update still goes out, with its turn)."""
        if not self.call.utterances:
            return False
        last = self.call.utterances[-1]
        if last.segments:
            return last.start >= when
        return last.started_at is not None and last.started_at >= when

    def _user_speaking(self) -> bool:
        """The customer's speech-update started was delivered and its stopped not yet."""
        for event in reversed(self.call.events):
            m = event.message
            if isinstance(m, SpeechUpdate) and m.role == "user":
                return m.status == "started"
        return False

    def _in_progress(self) -> bool:
        """The call's in-progress status-update was delivered (found once, then remembered)."""
        if not self._started and self.call.started_ms is not None:
            self._started = any(
                isinstance(e.message, StatusUpdate) and e.message.status == "in-progress" for e in self.call.events
            )
        return self._started

    def _nothing_said_before(self, at_ms: int) -> bool:
        """No history item still to be announced began before `at_ms` (an item added then goes first)."""
        call = self.call
        return all(item.time >= call.start_ms + at_ms for item in call.history[call.announced :])

    def due(self, pending: list[Event], quiet: bool | None = None) -> bool:
        if not self.queue:
            return False  # checked per event of a flush: no scan of what is pending when nothing is queued
        if pending[0].at_ms <= self.call.taking_over_until:
            return False  # the member taking over is announced first: messages after it carry it
        still_quiet, answering, hanging = _mood(pending)
        return not self.call.ended() and self._on_arrival(
            pending[0].at_ms, still_quiet if quiet is None else quiet, answering, hanging
        ) is not None

    def speaking(self, at_ms: float, until: float = 40) -> Utterance | None:
        """The utterance the assistant is saying at `at_ms`, if any: until its speech-update stopped, or
        `until` ms after its last word (60: once its history item is committed)."""
        for utterance in reversed(self.call.utterances):
            if utterance.segments and utterance.start <= at_ms:
                return utterance if at_ms < utterance.end + until else None
        return None

    def act(self, pending: list[Event]) -> Generator[Event | Ask, Any, list[Event]]:
        found = self._on_arrival(pending[0].at_ms, *_mood(pending))
        assert found is not None
        return (yield from self._apply(*found, pending))

    # -- acting while the call waits for a reply ------------------------------------------------

    def _ending(self) -> tuple[int, int] | None:
        """The first queued control that ends the call (end-call, transfer), as (queue index, when it acts):
        it acts on arrival even while the call waits for the customer's server. None before the call is in
        progress, or when it would act past the max-duration deadline (the wait ends the call there)."""
        call = self.call
        started = call.started_ms
        if call.ended() or started is None or not self._in_progress():
            return None
        for index, (arrival, message) in enumerate(self.queue):
            if message.get("type") in ("end-call", "transfer"):
                t = max(arrival, call.last_ms, started)
                if call.deadline is not None and t + 100 > call.deadline:
                    return None
                return index, t
        return None

    def ends_waiting(self) -> bool:
        """Whether a queued control ends the call now, while it waits for a reply (see `end_waiting`)."""
        return bool(self.queue) and self._ending() is not None

    def end_waiting(self) -> Generator[Event | Ask, Any, None]:
        """End the call on the control `ends_waiting` found: the step that waited for a reply never goes on
        (its reply, if one comes, is ignored; a `hang` due later is never sent). The driver plays these
        events instead of the rest of the step."""
        found = self._ending()
        assert found is not None
        with contextlib.suppress(Abandon):  # it always ends the call
            yield from self._apply(*found, self.call.unflushed())
        self.call.step = None

    def _apply(self, index: int, t: int, pending: list[Event]) -> Generator[Event | Ask, Any, list[Event]]:
        """Act on the queued control at `index` from `t`; `pending` are the events not yet delivered."""
        call = self.call
        _, message = self.queue.pop(index)
        kind = message.get("type")
        if kind == "add-message":
            # Joins history now, before what is still to be announced.
            self.replan(t, pending, "keep", lambda: self._remember_added(message.get("message"), t))
            if message.get("triggerResponseEnabled"):
                self.triggered.append(t)
            return []
        if kind == "control":
            if message.get("control") == "unmute-assistant":
                call.muted = False
                return pending
            call.muted = True
            return self.replan(t, pending, "mute")
        if kind in ("end-call", "transfer") or (kind == "say" and message.get("endCallAfterSpoken")):
            # It ends the call: nothing planned after its arrival happens, so a plan that ran past the max-duration
            # deadline no longer makes the call end there (lifecycle.end reads `overran`; a say may still overrun).
            call.overran = False
        if kind == "say":
            interrupting = bool(message.get("interruptAssistantEnabled")) and self._open_utterance() is not None
            if interrupting or any(isinstance(e.message, ConversationUpdate) for e in pending):
                # Said over what is planned: cutting the utterance under way, or ahead of a turn still to
                # come (`_fits`). It takes its place in history by its start; with endCallAfterSpoken
                # nothing planned after the arrival happens.
                ends: list[int] = []
                start = t + 20 if interrupting else t
                voice = start + call.jitter_ms(call.timing.voice_latency)  # when its words begin
                after = bool(message.get("endCallAfterSpoken"))
                mode = "end" if after else "cut" if interrupting else "keep"
                say = (int(round(voice)), lambda: ends.append(self._say(message, start, voice)))
                self.replan(t, pending, mode, then=say)
                call.busy_until = max(call.busy_until, ends[0])
                if after:
                    yield from self.lifecycle.end(ends[0] + 200, "assistant-ended-call-after-message-spoken", None)
                    raise Abandon
                return []
            end = self._say(message, t)
            call.busy_until = max(call.busy_until, end)
            if message.get("endCallAfterSpoken"):
                self._close_user(end + 200)  # a customer talking over it stops as the call ends
                yield from self.lifecycle.end(end + 200, "assistant-ended-call-after-message-spoken", None)
                raise Abandon
            # What was planned still goes out, with what is announced by then (the said line, once it is).
            return [replace(event, history_len=_ANNOUNCED) for event in pending]
        # end-call, transfer: nothing planned after the arrival happens.
        # add-messages that came before still join history (they wait only so as not to split a turn).
        added = [m for arrival, m in self.queue[:index] if m.get("type") == "add-message"]
        # In place: the queue stays one list all call (the player holds it to see whether anything is queued).
        self.queue[:] = [(arrival, m) for arrival, m in self.queue if m.get("type") != "add-message" or m not in added]

        def add_first() -> None:
            for added_message in added:
                self._remember_added(added_message.get("message"), t)

        self.replan(t, pending, "end", add_first)
        destination = message.get("destination")
        if kind == "transfer" and isinstance(destination, dict):
            content = message.get("content")
            said = content if isinstance(content, str) and content else None
            yield from self.transfers.forward(t + 100, destination, said, "assistant-forwarded-call")
        else:
            yield from self.lifecycle.end(t + 100, "customer-ended-call", None)
        raise Abandon

    def replan(
        self,
        t: int,
        pending: list[Event],
        mode: str,
        first: Callable[[], None] | None = None,
        then: tuple[int, Callable[[], None]] | None = None,
    ) -> list[Event]:
        """Plan again what is still to come from `t`. `mode`: "keep" (everything), "mute" (the voice stops,
        tokens still stream), "cut" (the assistant's voice and tokens stop), "end" (nothing happens after
        `t`). A stopped utterance keeps in history the words spoken by `t`. `first` commits a history item
        before the ones still to be announced; `then` (ms, speak) says something from that time, placed in
        history among them by its start. What still happens is emitted again (with the history items it
        announces) and the caller is given nothing to deliver as planned."""
        call = self.call
        utterance = self._open_utterance() if mode != "keep" else None
        # A customer's cut under way (user-interrupted delivered, its stopped and last final planned after
        # `t`) still closes the assistant's voice when the call ends at `t`.
        closing_cut = mode == "end" and utterance is None and self._cut_under_way()
        base = call.announced
        taken = call.forget_unannounced()
        stopped_at: int | None = None  # when the stopped utterance's history item is announced

        def stop() -> None:
            nonlocal stopped_at
            assert utterance is not None
            stopped_at = self._stop(utterance, t)

        # What joins history here, each placed among the items planned again by when it began: the stopped
        # utterance, `first` (at `t`), `then`. Each one's announcement comes before the next item's, which
        # waits for it (CallState.remember).
        inserts: list[tuple[int, Callable[[], None]]] = []
        if utterance is not None:
            inserts.append((int(round(utterance.start)), stop))
        if first is not None:
            inserts.append((t, first))
        if then is not None:
            inserts.append(then)
        inserts.sort(key=lambda insert: insert[0])  # stable: the stop before what begins with it

        def place(begun: int | None) -> None:
            """Run the inserts that began no later than an item that began at `begun` (epoch ms; None: all)."""
            while inserts and (begun is None or begun >= call.epoch_ms(inserts[0][0])):
                inserts.pop(0)[1]()

        # The customer's words join history with their final transcript: one due after an end never comes.
        unheard = {e.message.transcript for e in pending if mode == "end" and e.at_ms > t
                   and isinstance(e.message, Transcript) and e.message.role == "user"
                   and e.message.transcript_type == "final"}

        def kept(item: HistoryItem) -> bool:
            dropped = mode == "end" or (mode != "keep" and isinstance(item, BotMessage))
            if dropped and not self._said_by(item, t):
                return False
            if isinstance(item, UserMessage) and item.message in unheard:
                return False
            # The utterance being stopped is committed by `stop`, cut.
            return not (dropped and utterance is not None and isinstance(item, BotMessage)
                        and item.time == call.epoch_ms(utterance.start))

        first_kept = next((item.time for item in taken if kept(item)), None)
        if first_kept is not None:
            place(first_kept)
        elif first is not None:
            while inserts and inserts[0][1] is not first:
                inserts.pop(0)[1]()
            place(call.epoch_ms(t))
        done = base
        for event in pending:
            m = event.message
            if isinstance(m, ConversationUpdate):
                upto = event.history_base + len(m.messages)  # after a handoff its messages start at the base
                for item in taken[done - base : upto - base]:
                    if not kept(item):
                        continue
                    place(item.time)
                    at = event.at_ms if stopped_at is None else max(event.at_ms, stopped_at)
                    # A call that ends at `t` announces what was said by then no later than that.
                    call.remember(item, min(at, t) if mode == "end" else at)
                done = max(done, upto)
                continue
            if mode == "end":
                # What closes the assistant's voice on the wire by `t` still goes out: a say's cut planned
                # just before (its utterance is marked stopped, so it is not stopped again here). An utterance
                # stopped here has its voice closed by `_stop` (its speech-update stopped, and a final for every
                # word said by `t`): what it planned at `t` itself would say its last words twice.
                if utterance is None and isinstance(m, SpeechUpdate | Transcript) and m.role == "assistant" \
                        and (event.at_ms <= t or closing_cut) \
                        and (not isinstance(m, SpeechUpdate) or m.status == "stopped"):
                    call.emit(min(event.at_ms, t), m, history_len=_ANNOUNCED)
                continue
            if mode != "keep" and isinstance(m, Hang):
                continue
            if isinstance(m, ModelOutput) and mode == "cut":
                continue
            voice = isinstance(m, _VOICE_LANE) or (isinstance(m, SpeechUpdate | Transcript) and m.role == "assistant")
            if voice and mode != "keep":
                continue
            # Planned again, it carries what is announced when it goes out (items committed later in this
            # replan, the stopped utterance's, may be announced before it).
            call.emit(event.at_ms, m, history_len=_ANNOUNCED)
        place(None)
        if mode == "end":
            self._close_user(t)
        return []

    def _open_utterance(self) -> Utterance | None:
        """The utterance whose speech-update started was delivered and its stopped not yet, unless the
        customer's user-interrupted has cut it already (its stopped follows 20 ms later, as planned)."""
        for event in reversed(self.call.events):
            m = event.message
            if isinstance(m, UserInterrupted):
                return None
            if isinstance(m, SpeechUpdate) and m.role == "assistant":
                if m.status != "started":
                    return None
                found = next((u for u in reversed(self.call.utterances) if u.turn == m.turn), None)
                return None if found is None or found.stopped else found
        return None

    def _cut_under_way(self) -> bool:
        """A user-interrupted was delivered after the assistant's last speech-update (a started)."""
        for event in reversed(self.call.events):
            m = event.message
            if isinstance(m, UserInterrupted):
                return True
            if isinstance(m, SpeechUpdate) and m.role == "assistant":
                return False
        return False

    def _said_by(self, item: HistoryItem, t: int) -> bool:
        """An item whose words had all been said by `t` stays in history."""
        end = getattr(item, "end_time", None) or getattr(item, "time", None)
        return isinstance(end, int | float) and end <= self.call.start_ms + t

    def _stop(self, utterance: Utterance, t: int) -> int:
        """The voice stops at `t`: speech-update stopped, a final for the words not yet transcribed, history.
        Returns when the history item is announced."""
        call = self.call
        call.emit(t, SpeechUpdate(status="stopped", role="assistant", turn=utterance.turn))
        if not utterance.segments:
            # The call's end cut it before its first word (Speech.cut_at_deadline): nothing was said.
            utterance.stopped = True
            return t
        # Once its speech has started a word is under way (as with a barge-in, engine/interruptions.py).
        spoken = utterance.spoken_by(t) or utterance.text.split()[0]
        transcribed: list[str] = []  # the finals of this turn already delivered
        for event in reversed(call.events):
            m = event.message
            if isinstance(m, SpeechUpdate) and m.role == "assistant":
                break
            if isinstance(m, Transcript) and m.role == "assistant" and m.transcript_type == "final":
                transcribed[:0] = m.transcript.split()
        rest = " ".join(spoken.split()[len(transcribed):])
        if rest:
            call.emit(t, Transcript(role="assistant", transcript_type="final", transcript=rest))
        utterance.stopped = True
        began = utterance.start
        utterance.segments = [(text, start, min(end, t)) for text, start, end in utterance.segments if start <= t]
        self.speech.bot(spoken, began, max(t, began))
        return int(round(max(t, began) + 50))  # as Speech.bot announces it

    def _close_user(self, t: int) -> None:
        """The call ends while the customer speaks: their speech stops there (no words are kept). A call that
        reaches maxDurationSeconds first ends at its deadline: the speech stops there, not after it (where
        nothing is sent)."""
        call = self.call
        if call.deadline is not None:
            t = min(t, call.deadline)
        for event in reversed(call.events):
            m = event.message
            if isinstance(m, SpeechUpdate) and m.role == "user":
                if m.status == "started":
                    call.emit(t, SpeechUpdate(status="stopped", role="user"))
                return

    def _say(self, message: Mapping[str, Any], t: float, voice: float | None = None) -> int:
        """Say the message's text from `t` (as a first message is said: straight to the voice), its words
        beginning at `voice` when given (else after the voice's latency). Returns when its speech ends."""
        text = message.get("content") or message.get("message")
        if not (isinstance(text, str) and text.strip()):
            return int(round(t))
        if voice is None:
            return self.speech.speak(text, t, streamed=False)
        sentences = chunks(tokenize(text))
        if not sentences or self.call.muted:
            return int(round(t + 60))  # muted: nothing is spoken (as Speech.speak)
        for sentence, _ in sentences:
            self.call.emit(t, VoiceInput(input=sentence))
        return self.speech.utter(sentences, voice, [t] * len(sentences), source="force-say")

    # -- acting at the next step boundary ---------------------------------------------------------

    def handle(self) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        """Act on the queued messages that have arrived, in order, until none is left or one ends the call."""
        call = self.call
        while self.queue and not call.ended():
            at, message = self.queue[0]
            if at > call.cursor:
                # Not arrived yet (queued ahead, as a test may): the call goes on and it acts on arrival,
                # during what comes next (`due`), instead of the call waiting for it here.
                return
            self.queue.pop(0)
            call.cursor = max(call.cursor, at)
            kind = message.get("type")
            if kind == "say":
                if isinstance(message.get("content") or message.get("message"), str):
                    call.cursor = self._say(message, call.cursor)
                    yield from call.flush()
                    if message.get("endCallAfterSpoken"):
                        yield from self.lifecycle.end(
                            call.cursor + 200, "assistant-ended-call-after-message-spoken", None
                        )
            elif kind == "add-message":
                yield from self._add_message(message.get("message"))
                if message.get("triggerResponseEnabled") and not call.ended():
                    self.triggered.append(call.cursor)
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
            elif kind == "control" and message.get("control") in ("mute-assistant", "unmute-assistant"):
                call.muted = message.get("control") == "mute-assistant"

    def answer_due(self) -> bool:
        """An add-message with triggerResponseEnabled is waiting for the assistant's answer (taken once)."""
        if not self.triggered:
            return False
        self.triggered.clear()
        return True

    def answer(self) -> Steps:
        """The model answers what was added, with no script step to stand for it."""
        call = self.call
        call.cursor = self.speech.speak(TRIGGERED_ANSWER, call.cursor, streamed=True)
        yield from call.flush()

    def _add_message(self, item: Any) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        self._remember_added(item, self.call.cursor)
        yield from self.call.flush()

    def _remember_added(self, item: Any, at_ms: int) -> None:
        """A user item, or (any other role) a system item, joins history at `at_ms` without being spoken."""
        if not (isinstance(item, dict) and isinstance(item.get("content"), str)):
            return
        call = self.call
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


def _mood(pending: list[Event]) -> tuple[bool, bool, bool]:
    """(quiet: nothing still to come changes history, answering: the model is working on an answer still to
    come, its tokens or hang pending; an add-message then waits for it, as for an utterance under way;
    hanging: a `hang` is pending, the model's silence until then is what makes it due)."""
    quiet, answering, hanging = True, False, False
    for event in pending:
        message = event.message
        if isinstance(message, ConversationUpdate):
            quiet = False
        elif isinstance(message, ModelOutput | Hang):
            answering = True
            if isinstance(message, Hang):
                hanging = True
        if hanging and not quiet:
            break
    return quiet, answering, hanging
