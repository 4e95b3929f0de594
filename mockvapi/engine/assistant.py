"""Which assistant runs the call: the scenario's (with what the REST API overrode), or, on an inbound
call with assistant-request, what the phone number's server answers (an assistant, an assistantId, a
destination to forward to, or an error)."""

from __future__ import annotations

import copy
from collections.abc import Generator
from typing import Any

from mockvapi.engine.context import (
    CallOverrides,
    apply_subscriptions,
    full_server,
    public_server,
    redacted,
    server_wire,
)
from mockvapi.engine.events import Ask, Event, Reply, Waiting, floored
from mockvapi.engine.lifecycle import Lifecycle
from mockvapi.engine.squad import squad_reply
from mockvapi.engine.state import CallState
from mockvapi.engine.tools import tool_definition
from mockvapi.models.dto import request_schemas
from mockvapi.models.encoding import steady_changed
from mockvapi.models.messages import AssistantRequest, StatusUpdate

__all__ = ["ASSISTANT_REQUEST_TIMEOUT", "AssistantSource", "destination_errors", "redacted_assistant"]

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
        knowledge_server = a.knowledgeBase.server or a.server if a.knowledgeBase is not None else None
        if a.knowledgeBase is not None and knowledge_server is not None:
            model["knowledgeBase"] = {
                "provider": a.knowledgeBase.provider,
                "server": public_server(server_wire(knowledge_server.model_dump(exclude_none=True))),
            }
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
        # The call settings the spec's assistant carries (silenceTimeoutSeconds is not one: engine/settings.py).
        for key in ("firstMessageInterruptionsEnabled", "maxDurationSeconds"):
            value = getattr(a, key)
            if value is not None:
                out[key] = value
        if isinstance(a.voicemailDetection, str):
            out["voicemailDetection"] = a.voicemailDetection
        elif a.voicemailDetection is not None:
            out["voicemailDetection"] = a.voicemailDetection.model_dump(exclude_none=True)
        if a.startSpeakingPlan is not None:
            out["startSpeakingPlan"] = a.startSpeakingPlan.model_dump(exclude_none=True)
        if self.overrides.assistant is not None:
            out = {**out, **self.overrides.assistant}
        return out

    def scripted_reply(self) -> dict[str, Any]:
        """What the scenario's own server answers to assistant-request: the scenario's assistant, with its
        subscriptions (a reply is used as returned, so it must carry them itself)."""
        assistant = self.scenario_assistant()
        spec = self.call.scenario.assistant
        for key in ("serverMessages", "clientMessages"):
            value = getattr(spec, key)
            if value is not None and key not in assistant:
                assistant[key] = list(value)
        return {"assistant": assistant}

    def request(self) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        """assistant-request to the phone number's server; its reply decides the call's assistant (or ends
        the call), judged as Vapi judges it (ServerMessageResponseAssistantRequest): `error` first, then
        `destination`, then `assistant` / `assistantId` (with `assistantOverrides`)."""
        call = self.call
        context = call.context
        event = call.emit(0, AssistantRequest())
        yield from call.flush()
        scripted = Reply(200, self.scripted_reply(), 0.25, scripted=True)
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
        destination = body.get("destination")
        if destination is not None:
            problems = destination_errors(destination)
            if problems:
                yield from self._invalid(at, "destination", problems)
                return
            context.assistant = None
            call.emit(at + 50, StatusUpdate(status="forwarding", destination=destination))
            yield from end(at + 1000, "assistant-request-returned-forwarding-phone-number", None)
            return
        assistant: Any = body.get("assistant")
        assistant_id = body.get("assistantId")
        judged = reply.scripted  # the assistant needs no validation of its own (below)
        if isinstance(body.get("squad"), dict) or isinstance(body.get("squadId"), str):
            # The squad's first member runs the call (engine/squad.py records the squad for handoffs).
            squad = squad_reply(call, body, at, find_assistant=self.overrides.find_assistant,
                                find_squad=self.overrides.find_squad)
            if squad.failure is not None:
                reason, kind, detail = squad.failure
                call.problem(kind, detail, at)
                yield from end(at + 200, reason, None)
                return
            if not squad.assistant:
                # No REST API to look the squad up in: the scenario's assistant stands in, as for assistantId.
                self.use(self.scripted_reply()["assistant"], scenario_routing=True)
                return
            # Validated with its squad (an inline member), or created through the REST API (an id).
            assistant, assistant_id, judged = squad.assistant, None, True
        if assistant is None and isinstance(assistant_id, str):
            if self.overrides.find_assistant is None:
                # No REST API behind this call (simulate(), `mockvapi run`): the scenario's assistant stands
                # in for the one the id names.
                context.call["assistantId"] = assistant_id
                steady_changed()  # the call every message carries, changed in place (see models.encoding)
                self.use(self.scripted_reply()["assistant"], scenario_routing=True)
                return
            else:
                stored = self.overrides.find_assistant(assistant_id)
                if stored is None:
                    call.problem("assistant-not-found", f"assistant-request returned assistantId "
                                 f"{assistant_id!r}, which names no assistant", at)
                    yield from end(at + 200, "assistant-not-found", None)
                    return
                assistant = copy.deepcopy(dict(stored))
            context.call["assistantId"] = assistant_id
            steady_changed()
        elif assistant is not None and not judged:
            # The scenario's own assistant (the scripted reply) may use mockvapi's legacy `server.secret`,
            # which the spec's Server lacks; a real reply is held to the spec.
            problems = request_schemas().body_errors(assistant, "CreateAssistantDTO")
            if problems:
                yield from self._invalid(at, "assistant", problems)
                return
        if not isinstance(assistant, dict):
            call.problem(
                "assistant-request-failed", "reply has none of assistant, assistantId, destination, error", at
            )
            yield from end(at + 200, "assistant-request-returned-no-assistant", None)
            return
        overrides = body.get("assistantOverrides")
        if overrides is not None:
            problems = request_schemas().body_errors(overrides, "AssistantOverrides")
            if problems:
                yield from self._invalid(at, "assistantOverrides", problems)
                return
            assistant = {**assistant, **{k: v for k, v in overrides.items() if k != "variableValues"}}
        self.use(assistant, scenario_routing=reply.scripted)

    def use(self, assistant: dict[str, Any], *, scenario_routing: bool) -> None:
        """Run the call with `assistant` as returned: nothing of the scenario's assistant (server, tools,
        subscriptions) leaks in; what it omits takes Vapi's defaults, and with no `server` of its own its
        webhooks go to the phone number's server (routing falls back to it).

        `scenario_routing`: the assistant is the scenario's own (its scripted reply), whose tool servers
        (with their secrets, which the assistant object never shows) route its tool calls."""
        call = self.call
        apply_subscriptions(call.context, assistant, None)
        used = {k: v for k, v in assistant.items() if k not in ("serverMessages", "clientMessages")}
        call.servers["assistant"] = full_server(used)
        tools: dict[str, dict[str, Any]] = {}
        model = used.get("model")
        for tool in (model.get("tools") if isinstance(model, dict) else None) or []:
            function = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                tools[function["name"]] = tool
        call.assistant_tools = None if scenario_routing else tools
        call.context.assistant = redacted_assistant(used)

    def _invalid(self, at: int, what: str, problems: list[str]) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        """The reply's `what` fails the spec's validation: Vapi ends the call, the messages are recorded."""
        shown = "; ".join(problems[:8]) + (f" (and {len(problems) - 8} more)" if len(problems) > 8 else "")
        self.call.problem("invalid-assistant", f"assistant-request reply's {what} is invalid: {shown}", at)
        yield from self.lifecycle.end(at + 200, "assistant-request-returned-invalid-assistant", None)


def destination_errors(destination: object) -> list[str]:
    """The spec's validation of a transfer destination (a number or a SIP address), as Vapi words it."""
    kind = destination.get("type") if isinstance(destination, dict) else None
    dto = {"number": "TransferDestinationNumber", "sip": "TransferDestinationSip"}.get(kind) if isinstance(
        kind, str) else None
    if dto is None:
        return ["destination.type must be one of the following values: number, sip"]
    out = []
    for message in request_schemas().body_errors(destination, dto):
        lead = "property " if message.startswith("property ") else ""
        out.append(f"{lead}destination.{message.removeprefix(lead)}")
    return out


def redacted_assistant(assistant: dict[str, Any]) -> dict[str, Any]:
    """The assistant as messages carry it: no server secret, its own or its tools'."""
    out = redacted(assistant) or {}
    model = out.get("model")
    if isinstance(model, dict) and isinstance(model.get("tools"), list):
        tools = [
            {**t, "server": public_server(t["server"])} if isinstance(t, dict) and isinstance(t.get("server"), dict)
            else t
            for t in model["tools"]
        ]
        out = {**out, "model": {**model, "tools": tools}}
    return out
