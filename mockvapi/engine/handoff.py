"""Squads: the active member hands the call to another member, and from then on the call is that
member's: every message carries it as `assistant`, webhooks go to its server (else the phone number's,
as Vapi falls back), its subscriptions decide who hears what, `assistant.started` names it, its first
message is spoken with its voice timing, and history continues as the destination's
contextEngineeringPlan says (all, the last N messages, none), appended with the member's system prompt.

A handoff is static (the member's handoff tool, or its transferCall tool to an assistant destination)
or dynamic: Vapi asks the server with handoff-destination-request, waits with `hang` past the
threshold as for tools, and judges the reply: a destination outside the spec or the squad is a
problem and the member stays, an `error` is said by the member, which stays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Mapping
from typing import Any

from mockvapi.engine.assistant import AssistantSource
from mockvapi.engine.context import CallOverrides, apply_subscriptions, full_server, redacted, server_for
from mockvapi.engine.events import Ask, Event, Reply, StepError, Waiting, floored
from mockvapi.engine.lifecycle import Lifecycle, system_prompt
from mockvapi.engine.speech import Speech
from mockvapi.engine.squad import rest_member
from mockvapi.engine.state import CallState
from mockvapi.models.dto import request_schemas
from mockvapi.models.messages import (
    AssistantStarted,
    HandoffDestinationRequest,
    Hang,
    ModelOutput,
    SystemMessage,
    ToolCall,
    ToolCallFunction,
    ToolCallMessage,
    ToolCallResultMessage,
    TransferUpdate,
)
from mockvapi.scenario.schema import ContextPlan, Handoff, Scenario
from mockvapi.scenario.squad import Member, members

__all__ = ["HANDOFF_FAILED_RESULT", "HANDOFF_REQUEST_TIMEOUT", "Handoffs", "destination_failure", "squad_start"]

Steps = Generator[Event | Ask, Reply | Waiting | None, None]
# How long Vapi waits for the answer to handoff-destination-request (the tool server default).
HANDOFF_REQUEST_TIMEOUT = 20.0
# What the member says when the server answers with no usable destination.
HANDOFF_FAILED_SAY = "I'm sorry, I couldn't transfer you right now."
# The handoff tool's result when no usable destination came back (what `mockvapi import` recognises).
HANDOFF_FAILED_RESULT = "Handoff failed."


def squad_start(scenario: Scenario) -> Scenario:
    """The scenario as its first squad member runs it (unchanged without a squad): the engine's concerns
    read `scenario.assistant`, so the active member is the scenario's assistant while it is active."""
    squad = members(scenario)
    if not squad:
        return scenario
    return scenario.model_copy(update={"assistant": squad[0].assistant, "timing": squad[0].timing})


def destination_failure(destination: Any, squad: Mapping[str, Member]) -> str | None:
    """Why a handoff-destination-request reply's destination cannot be used, or None.

    Checked against the spec's HandoffDestinationAssistant with the nested validation every reply and
    request body gets (models/dto.py: class-validator's words), then against the squad."""
    problems = request_schemas().nested_errors(destination, "HandoffDestinationAssistant", "destination")
    if problems or not isinstance(destination, dict):
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        return shown or "destination must be an object"
    name = destination.get("assistantName")
    if name is None and ("assistant" in destination or "assistantId" in destination):
        return "the mock hands off only to squad members by assistantName"
    if not isinstance(name, str):
        return "the destination names no assistant (assistantName or assistantId)"
    if name not in squad:
        return f"no squad member is named {name!r} (members: {', '.join(squad)})"
    return None


class Handoffs:
    def __init__(
        self, call: CallState, speech: Speech, lifecycle: Lifecycle, rest_squad: Mapping[str, Any] | None = None
    ) -> None:
        call.rest_squad = rest_squad
        self.call = call
        self.speech = speech
        self.lifecycle = lifecycle
        self.squad = {m.name: m for m in members(call.scenario)}
        self.active = next(iter(self.squad), None)
        if self.active is not None:
            call.activations.append((self.active, 0))

    def step(self, step: Handoff) -> Steps:
        call = self.call
        if self.active is None:  # the loader refuses these; a Scenario built in code may still have them
            raise StepError(("handoff",), "a handoff needs a `squad:` whose members it hands between")
        if step.to is not None and step.to not in self.squad:
            raise StepError(("handoff", "to"), f"no member is named {step.to!r} (members: {', '.join(self.squad)})")
        current = self.squad[self.active]
        start = call.cursor + call.jitter_ms(call.timing.first_token_latency)
        arguments = call.render(step.arguments, ("handoff", "arguments"))
        if step.to is not None and step.via == "transferCall":
            name, arguments = "transferCall", {**arguments, "destination": step.to}
        elif step.to is not None:
            name = f"handoff_to_{step.to}"
        else:
            name = "handoff"
        tool_call = ToolCall(id=call.fakes.tool_call_id(), function=ToolCallFunction(name=name, arguments=arguments))
        call.emit(start, ModelOutput(turn_id=call.fakes.uuid(), tool_calls=(tool_call,)))
        call.remember(
            ToolCallMessage(tool_calls=(tool_call,), time=call.epoch_ms(start), seconds_from_start=call.seconds(start)),
            start + 30,
        )
        yield from call.flush()
        at = start + 50
        result: str | None = None
        if step.to is not None:
            target: str | None = step.to
        else:
            outcome = yield from self._ask(step, arguments, start + 20)
            at, target, result, said = outcome
            if target is None:
                self._result(tool_call, name, result or HANDOFF_FAILED_RESULT, at)
                call.cursor = self.speech.speak(said, at + 100, streamed=False) if said else int(round(at + 50))
                yield from call.flush()
                return
        assert target is not None
        destination = current.destination(target)
        plan = destination.contextEngineeringPlan if destination else ContextPlan()
        self._result(tool_call, name, result or f"Handed off to {target}.", at)
        t = at + 50
        message = destination.message if destination and destination.message else None
        if message:
            t = self.speech.speak(call.render(message, ("handoff",)), t, streamed=False)
        yield from call.flush()
        if step.via == "transferCall":
            new = self._assistant_of(self.squad[target])
            call.emit(t, TransferUpdate(destination={"type": "assistant", "assistantName": target},
                                        to_assistant=redacted(new), from_assistant=call.context.assistant))
            yield from call.flush()
        yield from self.switch(self.squad[target], plan, t + 100)

    def _ask(self, step: Handoff, arguments: dict[str, Any], at_ms: float) -> Generator[
        Event | Ask, Reply | Waiting | None, tuple[float, str | None, str | None, str | None]
    ]:
        """handoff-destination-request: (when it was answered, the member to hand to or None, the tool
        result, what the member says when it stays)."""
        call = self.call
        asked = call.emit(at_ms, HandoffDestinationRequest(parameters=arguments))
        yield from call.flush()
        server = server_for(call.scenario, call.servers, "")
        timeout = float(server.get("timeoutSeconds", HANDOFF_REQUEST_TIMEOUT)) if server else HANDOFF_REQUEST_TIMEOUT
        hang_after = call.timing.hang_after if step.hang_after is None else step.hang_after
        scripted = self.scripted_reply(step)
        answer = yield Ask("handoff-destination-request", asked, timeout, hang_after, scripted, server)
        hung = False
        if isinstance(answer, Waiting):
            hung = True
            call.emit(asked.at_ms + hang_after * 1000, Hang())
            yield from call.flush()
            answer = yield Ask("handoff-destination-request", asked, timeout, None, scripted, server)
        reply = answer if isinstance(answer, Reply) else scripted
        latency = floored(reply, scripted)
        if reply.error == "timeout":
            latency = max(latency, timeout)
        if latency > hang_after and not hung:
            call.emit(asked.at_ms + hang_after * 1000, Hang())
        at = asked.at_ms + latency * 1000
        body = reply.body if isinstance(reply.body, dict) else {}
        result = body.get("result") if isinstance(body.get("result"), str) else None
        if not reply.ok:
            detail = reply.error or f"status {reply.status}"
            call.problem("handoff-destination-failed", f"handoff-destination-request got no usable reply ({detail})",
                         at)
            return at, None, None, HANDOFF_FAILED_SAY
        if isinstance(body.get("error"), str):
            return at, None, body["error"], body["error"]
        if "destination" not in body:
            call.problem("bad-handoff-destination",
                         f"handoff-destination-request reply has no destination: {body!r:.80}", at)
            return at, None, None, HANDOFF_FAILED_SAY
        why = destination_failure(body["destination"], self.squad)
        if why is not None:
            call.problem("bad-handoff-destination", f"handoff-destination-request reply: {why}", at)
            return at, None, None, HANDOFF_FAILED_SAY
        name = body["destination"]["assistantName"]
        if name == self.active:
            return at, None, result, None
        return at, name, result, None

    def scripted_reply(self, step: Handoff) -> Reply:
        """The reply the scenario scripts (what `simulate()` answers): a member name or a raw body."""
        body: Any
        if isinstance(step.reply, str):
            body = {"destination": {"type": "assistant", "assistantName": step.reply}}
        elif step.reply is not None:
            body = self.call.render(step.reply, ("handoff", "reply"))
        else:
            body = {"error": "No destination was scripted for this handoff."}
        return Reply(step.status, body, step.latency, scripted=True)

    def _result(self, tool_call: ToolCall, name: str, result: str, at: float) -> None:
        self.call.remember(
            ToolCallResultMessage(tool_call_id=tool_call.id, name=name, result=result,
                                  time=self.call.epoch_ms(at), seconds_from_start=self.call.seconds(at)),
            at + 10,
        )

    def _assistant_of(self, member: Member) -> dict[str, Any]:
        """The member as Vapi's assistant object (full server config: secrets included), with what the
        REST API's squad says of the member of that name over the scenario's."""
        call = self.call
        scenario = call.scenario
        call.scenario = scenario.model_copy(update={"assistant": member.assistant})
        try:
            # The REST API's assistant overrides were for the call's first assistant, not this member.
            overrides = CallOverrides(assistant=rest_member(call.rest_squad, member.name))
            return AssistantSource(call, overrides, self.lifecycle).scenario_assistant()
        finally:
            call.scenario = scenario

    def switch(self, member: Member, plan: ContextPlan, at_ms: float) -> Steps:
        """`member` takes over the call at `at_ms`."""
        call = self.call
        if call.past_deadline(at_ms + 10):
            return  # maxDurationSeconds runs out first: the call ends before the member takes over
        assistant = self._assistant_of(member)
        call.scenario = call.scenario.model_copy(update={"assistant": member.assistant, "timing": member.timing})
        call.timing = member.timing  # its voice and model speed from now on
        call.servers["assistant"] = full_server(assistant)
        context = dataclasses.replace(call.context, assistant=redacted(assistant))
        apply_subscriptions(context, assistant, member.assistant)
        if context.assistant is not None:
            for key in ("serverMessages", "clientMessages"):
                context.assistant.pop(key, None)
        call.context = context
        self.active = member.name
        t = int(round(at_ms))
        call.activations.append((member.name, t))
        # assistant.started still carries the history as announced; the trimmed history comes with the
        # conversation-update that follows it.
        call.emit(t + 10, AssistantStarted(new_assistant=context.assistant or {}))
        log = len(call.history)
        if plan.type == "none":
            call.history_base = log
        elif plan.type == "lastNMessages":
            call.history_base = max(call.history_base, log - (plan.maxMessages or 0))
        system = system_prompt(assistant)
        if system:
            call.remember(SystemMessage(message=system, time=call.epoch_ms(t), seconds_from_start=call.seconds(t)),
                          t + 20)
        else:
            call.announce(t + 20)
        yield from call.flush()
        call.cursor = t + 400
        first = assistant.get("firstMessage")
        mode = assistant.get("firstMessageMode", "assistant-speaks-first")
        if first and mode != "assistant-waits-for-user":
            generated = mode == "assistant-speaks-first-with-model-generated-message"
            call.cursor = self.speech.speak(str(first), call.cursor, streamed=generated)
            yield from call.flush()
