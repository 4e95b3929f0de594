"""The call's life from its first status to its last: how it starts for each call type (queued and
ringing, in-progress, assistant-started, the system prompt, the first message as firstMessageMode says)
and how it ends (what is said last, the ended status, the end-of-call-report after the report delay).
The assistant's settings (engine/settings.py) are read as the call starts; a call still going when
maxDurationSeconds runs out ends `exceeded-max-duration` at that moment.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from mockvapi.engine.events import Ask, Event, Reply, Waiting
from mockvapi.engine.interruptions import Interruptions
from mockvapi.engine.report import Report
from mockvapi.engine.settings import read_settings
from mockvapi.engine.speech import Speech
from mockvapi.engine.state import CallState
from mockvapi.models.messages import AssistantStarted, StatusUpdate, SystemMessage
from mockvapi.scenario.schema import UserTurn

__all__ = ["Lifecycle", "system_prompt"]

Steps = Generator[Event | Ask, Reply | Waiting | None, None]


def system_prompt(assistant: Mapping[str, Any]) -> str | None:
    """The assistant's system prompt (its model's first system message), if it has one."""
    model = assistant.get("model")
    if isinstance(model, dict):
        for message in model.get("messages") or []:
            if (
                isinstance(message, dict)
                and message.get("role") == "system"
                and isinstance(message.get("content"), str)
            ):
                return str(message["content"])
    return None


class Lifecycle:
    def __init__(self, call: CallState, speech: Speech, report: Report, interruptions: Interruptions) -> None:
        self.call = call
        self.speech = speech
        self.report = report
        self.interruptions = interruptions
        self.took_first_step = False  # the first step (a user barging in) was played with the first message

    def barge_in(self) -> UserTurn | None:
        """The first step, when it is a user talking over the first message."""
        steps = self.call.scenario.steps
        body = steps[0].body if steps else None
        return body if isinstance(body, UserTurn) and body.barge_in is not None else None

    def start(self) -> Steps:
        """From the first status to the end of the first message (the cursor then points past it)."""
        call = self.call
        t = 0.0
        call_type = call.context.call.get("type", call.scenario.call.type)
        if call_type == "outboundPhoneCall":
            call.emit(t, StatusUpdate(status="queued"))
            t += 300
            call.emit(t, StatusUpdate(status="ringing"))
            t += call.jitter_ms(call.timing.ring)
        elif call_type == "inboundPhoneCall":
            t = max(t, call.last_ms + 50)
            call.emit(t, StatusUpdate(status="ringing"))
            t += call.jitter_ms(min(call.timing.ring, 1.0))
        else:
            t += call.jitter_ms(0.6)
        assistant = call.context.assistant or {}
        call.settings = read_settings(
            assistant,
            {"silenceTimeoutSeconds": call.scenario.assistant.silenceTimeoutSeconds},
            lambda detail: call.problem("assistant-setting", detail, t),
        )
        call.started_ms = int(round(t))
        call.deadline = call.started_ms + int(round(call.settings.max_duration * 1000))
        call.emit(t, StatusUpdate(status="in-progress"))
        call.emit(t + 10, AssistantStarted(new_assistant=assistant))
        system = system_prompt(assistant)
        if system:
            call.remember(
                SystemMessage(message=system, time=call.epoch_ms(t), seconds_from_start=call.seconds(t)),
                t + 20,
            )
        yield from call.flush()
        call.cursor = int(round(t + 400))
        first = assistant.get("firstMessage")
        mode = call.settings.first_message_mode
        if first and mode != "assistant-waits-for-user":
            generated = mode == "assistant-speaks-first-with-model-generated-message"
            barging = self.barge_in()
            if barging is not None:
                call.cursor = self.interruptions.first_message(str(first), generated, barging, ("steps", 0, "user"))
                self.took_first_step = True
                yield from call.flush()
                return
            end = self.speech.speak(str(first), call.cursor, streamed=generated)
            yield from call.flush()
            call.cursor = end

    def end(self, at_ms: float, reason: str, say: str | None) -> Steps:
        """The call ends at `at_ms` (after saying `say`, if given) with `reason`."""
        call = self.call
        if say and not call.overran:
            at_ms = self.speech.speak(say, at_ms, streamed=False) + 200
        if call.deadline is not None and (call.overran or round(at_ms) > call.deadline):
            # maxDurationSeconds ran out first: the call ends at that moment, whatever was under way.
            at_ms, reason = call.deadline, "exceeded-max-duration"
        # Nothing flushed goes back in time: the ended status-update (and the report's endedAt) come no
        # earlier than what was already sent (a reply may have been waited for past `at_ms` or the deadline).
        at_ms = max(at_ms, call.last_ms)
        call.deadline = None  # the end's own messages come at and after it
        call.ended_reason = reason
        call.ended_ms = int(round(at_ms))
        call.emit(at_ms, StatusUpdate(status="ended", ended_reason=reason))
        report_at = at_ms + call.jitter_ms(call.timing.report_delay)
        call.emit(report_at, self.report.end_of_call_report(reason))
        yield from call.flush()
