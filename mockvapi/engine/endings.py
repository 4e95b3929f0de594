"""Endings the assistant's settings decide (engine/settings.py; docs/fidelity.md has the sources):

- maxDurationSeconds: the call ends `exceeded-max-duration` when it runs out, mid-utterance if need be
  (CallState holds back everything later; speech keeps only the words said by then);
- silenceTimeoutSeconds: a `silence` step longer than it ends the call `silence-timed-out` once it
  has lasted that long;
- endCallPhrases: an answer that says one (case-insensitive) ends the call
  `assistant-said-end-call-phrase` once it has been said;
- endCallMessage / voicemailMessage: what the assistant says when an `end` step has no `say` of its own
  and ends the call `assistant-ended-call`, or `voicemail` with voicemailDetection on an outbound call.

A call these end skips the rest of the script (`mockvapi lint` warns about such steps).
"""

from __future__ import annotations

from collections.abc import Generator

from mockvapi.engine.events import Ask, Event, Reply, Waiting
from mockvapi.engine.lifecycle import Lifecycle
from mockvapi.engine.settings import said_end_call_phrase
from mockvapi.engine.state import CallState
from mockvapi.models.messages import BotMessage
from mockvapi.scenario.schema import End, Silence

__all__ = ["Endings", "end_message"]

Steps = Generator[Event | Ask, Reply | Waiting | None, None]


def end_message(call: CallState, step: End) -> str | None:
    """What the assistant says as an `end` step ends the call."""
    if step.say:
        return str(call.render(step.say, ("end", "say")))
    settings = call.settings
    if step.reason == "assistant-ended-call":
        return settings.end_call_message
    outbound = call.context.call.get("type") == "outboundPhoneCall"
    if step.reason == "voicemail" and settings.voicemail_detection and outbound:
        return settings.voicemail_message
    return None


class Endings:
    def __init__(self, call: CallState, lifecycle: Lifecycle) -> None:
        self.call = call
        self.lifecycle = lifecycle
        self.ended = False  # a setting ended the call: the rest of the script never happens

    def end_step(self, step: End) -> Steps:
        call = self.call
        yield from self.lifecycle.end(call.cursor + 300, step.reason, end_message(call, step))

    def silence(self, step: Silence) -> Steps:
        call = self.call
        timeout = call.settings.silence_timeout
        if step.duration > timeout:
            self.ended = True
            yield from self.lifecycle.end(call.cursor + timeout * 1000, "silence-timed-out", None)
        else:
            call.cursor += int(step.duration * 1000)

    def after(self, history_mark: int, *, spoke: bool) -> Steps:
        """After a step (or the first message): end the call if the max duration ran out, or if the
        assistant's words since `history_mark` hold an end-call phrase (`spoke`: they were its own answer)."""
        call = self.call
        if call.ended():
            return
        if call.deadline is not None and (call.overran or call.cursor > call.deadline):
            self.ended = True
            yield from self.lifecycle.end(call.deadline, "exceeded-max-duration", None)
            return
        phrases = call.settings.end_call_phrases
        if spoke and phrases:
            said = " ".join(item.message for item in call.history[history_mark:] if isinstance(item, BotMessage))
            if said_end_call_phrase(said, phrases) is not None:
                self.ended = True
                yield from self.lifecycle.end(call.cursor + 200, "assistant-said-end-call-phrase", None)
