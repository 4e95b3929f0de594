"""Which assistant runs the call: the scenario's (with what the REST API overrode), or, on an inbound
call with assistant-request, what the phone number's server answers (an assistant, an assistantId, a
destination to forward to, or an error)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from mockvapi.engine.context import CallOverrides, apply_subscriptions, full_server, redacted, server_wire
from mockvapi.engine.events import Ask, Event, Reply, Waiting, floored
from mockvapi.engine.lifecycle import Lifecycle
from mockvapi.engine.squad import squad_reply
from mockvapi.engine.state import CallState
from mockvapi.engine.tools import tool_definition
from mockvapi.models.messages import AssistantRequest, StatusUpdate

__all__ = ["ASSISTANT_REQUEST_TIMEOUT", "AssistantSource"]

# Vapi waits 7.5 s for the answer to assistant-request.
ASSISTANT_REQUEST_TIMEOUT = 7.5


class AssistantSource:
    def __init__(self, call: CallState, overrides: CallOverrides, lifecycle: Lifecycle) -> None:
        self.call = call
        self.overrides = overrides
        self.lifecycle = lifecycle

    def scenario_assistant(self) -> dict[str, Any]:
        """The scenario's assistant as Vapi's assistant object, with the REST API's fields over it."""
        call = self.call
        a = call.scenario.assistant
        model: dict[str, Any] = {"provider": "openai", "model": a.model}
        if a.system:
            model["messages"] = [{"role": "system", "content": call.render(a.system, ("assistant", "system"))}]
        if a.tools:
            model["tools"] = [tool_definition(call.scenario, t.name) for t in a.tools]
        out: dict[str, Any] = {"name": a.name}
        if a.firstMessage:
            out["firstMessage"] = call.render(a.firstMessage, ("assistant", "firstMessage"))
        out["firstMessageMode"] = a.firstMessageMode
        out["model"] = model
        out["voice"] = {"provider": "vapi", "voiceId": "Elliot"}
        out["transcriber"] = {"provider": "deepgram", "model": "nova-3", "language": "en"}
        # serverMessages/clientMessages are kept in the CallContext, not in the embedded assistant: the
        # spec declares them as `array` with an item enum at the array level, which no list satisfies.
        if a.server is not None:
            out["server"] = server_wire(a.server.model_dump(exclude_none=True))
        for key in ("endCallPhrases", "voicemailMessage", "endCallMessage", "metadata"):
            value = getattr(a, key)
            if value is not None:
                out[key] = value
        if self.overrides.assistant is not None:
            out = {**out, **self.overrides.assistant}
        return out

    def request(self) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        """assistant-request to the phone number's server; its reply decides the call's assistant (or ends
        the call)."""
        call = self.call
        context = call.context
        event = call.emit(0, AssistantRequest())
        yield from call.flush()
        scripted = Reply(200, {"assistant": self.scenario_assistant()}, 0.25, scripted=True)
        answer = yield Ask(
            "assistant-request",
            event,
            ASSISTANT_REQUEST_TIMEOUT,
            None,
            scripted,
            context.phone_number.get("server") if context.phone_number else None,
        )
        reply = answer if isinstance(answer, Reply) else scripted
        at = int(round(min(floored(reply, scripted), ASSISTANT_REQUEST_TIMEOUT) * 1000))
        call.catch_up(at)
        body = reply.body if isinstance(reply.body, dict) else {}
        end = self.lifecycle.end
        if not reply.ok:
            detail = reply.error or f"status {reply.status}"
            call.problem("assistant-request-failed", f"assistant-request got no usable reply ({detail})", at)
            yield from end(at + 200, "assistant-request-failed", None)
            return
        if isinstance(body.get("error"), str):
            yield from end(at + 200, "assistant-request-returned-error", body["error"])
            return
        if isinstance(body.get("destination"), dict):
            context.assistant = None
            call.emit(at + 50, StatusUpdate(status="forwarding", destination=body["destination"]))
            yield from end(at + 1000, "assistant-request-returned-forwarding-phone-number", None)
            return
        assistant = body.get("assistant")
        spec = call.scenario.assistant
        if isinstance(body.get("squad"), dict) or isinstance(body.get("squadId"), str):
            assistant = squad_reply(call, body, at)  # the squad's first member runs the call (engine/squad.py)
            if assistant is None:
                yield from end(at + 200, "assistant-request-returned-invalid-assistant", None)
                return
        if isinstance(assistant, dict):
            merged = {**self.scenario_assistant(), **assistant}
            apply_subscriptions(context, merged, spec)
            merged.pop("serverMessages", None)
            merged.pop("clientMessages", None)
            call.servers["assistant"] = full_server(merged)
            context.assistant = redacted(merged)
            return
        elif isinstance(body.get("assistantId"), str):
            assistant_dict = self.scenario_assistant()
            call.servers["assistant"] = full_server(assistant_dict)
            context.assistant = redacted(assistant_dict)
            context.call["assistantId"] = body["assistantId"]
        else:
            call.problem(
                "assistant-request-failed", "reply has none of assistant, assistantId, destination, error", at
            )
            yield from end(at + 200, "assistant-request-returned-no-assistant", None)
            return
        apply_subscriptions(context, context.assistant, spec)
