"""When the user's turn ends, as the assistant's start-speaking plan says, and what the transcriber hears.

Custom endpointing (`startSpeakingPlan.smartEndpointingPlan.provider: custom-endpointing-model`, the spec's
`CustomEndpointingModelSmartEndpointingPlan`): once the user's final transcript is in, Vapi sends
`call.endpointing.request` to the server and waits the reply's `timeoutSeconds` (0 to 15, the spec's
`ServerMessageResponseCallEndpointingRequest`) before the user's turn ends and the model may answer. A reply
Vapi cannot use (an HTTP error, a timeout, no number in range) is recorded as a problem and the call falls
back to the plan's `waitSeconds`; a slow reply holds the turn open until it comes (at most the server's
timeout).

`language-change-detected` (opt-in on the server): the transcriber switched language on a user turn.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

from mockvapi.engine.context import server_for
from mockvapi.engine.events import Ask, Event, Reply, Waiting
from mockvapi.engine.state import CallState
from mockvapi.models.messages import CallEndpointingRequest, LanguageChangeDetected
from mockvapi.scenario.schema import UserTurn

__all__ = ["MAX_ENDPOINTING_SECONDS", "Endpointing"]

Steps = Generator[Event | Ask, Reply | Waiting | None, None]

#: `timeoutSeconds` maximum in the spec's reply schema.
MAX_ENDPOINTING_SECONDS = 15.0
#: Vapi's default server timeout [SPEC `Server.timeoutSeconds`].
DEFAULT_TIMEOUT = 20.0


class Endpointing:
    def __init__(self, call: CallState) -> None:
        self.call = call

    def custom(self) -> bool:
        """Whether the call's assistant asks a custom endpointing model when each user turn ends."""
        plan = (self.call.context.assistant or {}).get("startSpeakingPlan")
        smart = plan.get("smartEndpointingPlan") if isinstance(plan, dict) else None
        return isinstance(smart, dict) and smart.get("provider") == "custom-endpointing-model"

    def after_user(self, turn: UserTurn) -> Steps:
        """Deliver a `user:` step's speech (the cursor is where the model may answer) with the language it
        was heard in, and with custom endpointing, let the server say when the turn ends."""
        call = self.call
        wait_ms = call.timing.wait_seconds * 1000
        heard_end = call.cursor - wait_ms  # the user's speech-update stopped
        if turn.language is not None:
            call.emit(heard_end - 50, LanguageChangeDetected(language=turn.language))  # with the final transcript
        if not self.custom():
            yield from call.flush()
            return
        at = heard_end + 50  # the user's words are in history by then
        asked = call.emit(
            at,
            CallEndpointingRequest.model_construct(
                messages=tuple(call.rendered), messages_openai_formatted=tuple(call.openai)
            ),
        )
        yield from call.flush()
        server = server_for(call.scenario, call.servers, "")
        timeout = float(server.get("timeoutSeconds", DEFAULT_TIMEOUT)) if server else DEFAULT_TIMEOUT
        chosen = call.timing.wait_seconds if turn.endpointing is None else turn.endpointing
        scripted = Reply(200, {"timeoutSeconds": chosen}, 0.05, scripted=True)
        answer = yield Ask("call.endpointing.request", asked, timeout, None, scripted, server)
        reply = answer if isinstance(answer, Reply) else scripted
        latency = reply.latency if reply.scripted else max(reply.latency, scripted.latency)
        latency = min(latency, timeout)
        seconds = self.judge(reply, at)
        wait = call.timing.wait_seconds if seconds is None else seconds
        call.cursor = int(round(heard_end + max(wait, latency) * 1000))
        call.catch_up(int(round(at + latency * 1000)))

    def judge(self, reply: Reply, at_ms: float) -> float | None:
        """The reply's timeoutSeconds if Vapi can use it; otherwise a recorded problem and None."""
        if reply.error is not None:
            detail = f"no usable reply ({reply.error}); Vapi waits its own waitSeconds"
        elif not reply.ok:
            detail = f"HTTP {reply.status}; Vapi waits its own waitSeconds"
        else:
            value: Any = reply.body.get("timeoutSeconds") if isinstance(reply.body, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                if 0 <= value <= MAX_ENDPOINTING_SECONDS:
                    return float(value)
                detail = f"timeoutSeconds {value} is outside 0-{MAX_ENDPOINTING_SECONDS:g}"
            else:
                detail = f"the reply has no timeoutSeconds number: {reply.body!r:.120}"
        self.call.problem("endpointing-reply", detail, at_ms)
        return None
