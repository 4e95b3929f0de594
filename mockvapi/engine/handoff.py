"""Squads: the active member hands the call to another member, and from then on the call is that
member's: every message carries it as `assistant`, webhooks go to its server (else the phone number's,
as Vapi falls back), its subscriptions decide who hears what, `assistant.started` names it, its first
message is spoken with its voice timing, and history continues as the destination's
contextEngineeringPlan says (all, the last N messages, none), appended with the member's system prompt.

A handoff is static (the member's handoff tool, or its transferCall tool to an assistant destination)
or dynamic: Vapi asks the server with handoff-destination-request, waits with `hang` past the
threshold as for tools, and judges the reply: a destination outside the spec or the squad is a
problem and the member stays, an `error` is said by the member, which stays.

A reply may also hand the call to an assistant outside the squad, as Vapi allows: a saved one by
`assistantId` (looked up as an assistant-request reply's assistantId is: the REST API's assistants; an id
that names none is a problem and the member stays) or a transient `assistant` given inline (validated
with the reply). It then runs the call as a member would, with its own server, tools, subscriptions and
first message; the reply's `assistantOverrides` go over it. The destination's contextEngineeringPlan
decides the history it keeps (the plans the mock models: all, lastNMessages, none; the others keep all).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Generator, Mapping
from typing import Any

from pydantic import ValidationError

from mockvapi.engine.assistant import AssistantSource, redacted_assistant
from mockvapi.engine.context import CallOverrides, apply_subscriptions, full_server, redacted, server_for
from mockvapi.engine.events import Ask, Event, Reply, StepError, Waiting, floored
from mockvapi.engine.lifecycle import Lifecycle, system_prompt
from mockvapi.engine.speech import Speech
from mockvapi.engine.squad import rest_member
from mockvapi.engine.state import CallState
from mockvapi.models.dto import request_schemas
from mockvapi.models.encoding import steady_changed
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
from mockvapi.scenario.schema import Assistant, ContextPlan, Handoff, Scenario, Timing
from mockvapi.scenario.squad import Member, members

__all__ = [
    "HANDOFF_FAILED_RESULT", "HANDOFF_REQUEST_TIMEOUT", "Handoffs", "Outside", "destination_failure", "squad_start",
]

Steps = Generator[Event | Ask, Reply | Waiting | None, None]
# How long Vapi waits for the answer to handoff-destination-request (the tool server default).
HANDOFF_REQUEST_TIMEOUT = 20.0
# What the member says when the server answers with no usable destination.
HANDOFF_FAILED_SAY = "I'm sorry, I couldn't transfer you right now."
# The handoff tool's result when no usable destination came back (what `mockvapi import` recognises).
HANDOFF_FAILED_RESULT = "Handoff failed."

Lookup = Callable[[str], Mapping[str, Any] | None]


@dataclasses.dataclass(frozen=True)
class Outside:
    """A destination outside the squad: a saved assistant (by assistantId) or a transient one given inline,
    as Vapi's assistant object (assistantOverrides applied)."""

    name: str
    assistant: dict[str, Any]
    assistant_id: str | None = None

    def __repr__(self) -> str:
        return f"Outside({self.name!r}, assistantId={self.assistant_id!r})"


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
    if isinstance(destination.get("assistant"), dict) or isinstance(destination.get("assistantId"), str):
        return None  # outside the squad: Handoffs resolves it (an unknown id is its own problem)
    name = destination.get("assistantName")
    if not isinstance(name, str):
        return "the destination names no assistant (assistantName or assistantId)"
    if name not in squad:
        return f"no squad member is named {name!r} (members: {', '.join(squad)})"
    return None


class Handoffs:
    def __init__(
        self, call: CallState, speech: Speech, lifecycle: Lifecycle, rest_squad: Mapping[str, Any] | None = None,
        *, find_assistant: Lookup | None = None, written: Scenario | None = None,
    ) -> None:
        """`find_assistant`: the REST API's saved assistants by id (CallOverrides.find_assistant; None: no
        REST API behind the call). `written`: the scenario as written, before `squad_start` made its first
        member the call's (default: the call's): members without timing of their own, and an assistant
        from outside the squad, speak with its timing, not the first member's."""
        call.rest_squad = rest_squad
        self.call = call
        self.speech = speech
        self.lifecycle = lifecycle
        self.find_assistant = find_assistant
        written = written or call.scenario
        self.timing = written.timing
        self.squad = {m.name: m for m in members(written)}
        self.active = next(iter(self.squad), None)
        # The assistant from outside the squad running the call (None: the member `active`), and the
        # tools the members route by, kept while it runs.
        self.outside: Outside | None = None
        self._member_tools: dict[str, dict[str, Any]] | None = None
        if self.active is not None:
            call.activations.append((self.active, 0))

    def step(self, step: Handoff) -> Steps:
        call = self.call
        if self.active is None:  # the loader refuses these; a Scenario built in code may still have them
            raise StepError(("handoff",), "a handoff needs a `squad:` whose members it hands between")
        current = self.squad[self.active]
        # A static handoff to a saved assistant outside the squad (a destination by assistantId).
        saved = current.saved_destination(step.to) if step.to is not None and self.outside is None else None
        if step.to is not None and step.to not in self.squad and (saved is None or step.via == "transferCall"):
            raise StepError(("handoff", "to"), f"no member is named {step.to!r} (members: {', '.join(self.squad)})")
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
        given: ContextPlan | None = None
        if saved is not None and saved.assistantId is not None:
            target: str | Outside | None = self._outside({"assistantId": saved.assistantId}, at)
            if target is None:  # an id no saved assistant has: _outside recorded it, the member stays
                self._result(tool_call, name, HANDOFF_FAILED_RESULT, at)
                call.cursor = self.speech.speak(HANDOFF_FAILED_SAY, at + 100, streamed=False)
                yield from call.flush()
                return
        elif step.to is not None:
            target = step.to
        else:
            outcome = yield from self._ask(step, arguments, start + 20)
            at, target, result, said, given = outcome
            if target is None:
                self._result(tool_call, name, result or HANDOFF_FAILED_RESULT, at)
                call.cursor = self.speech.speak(said, at + 100, streamed=False) if said else int(round(at + 50))
                yield from call.flush()
                return
        assert target is not None
        # The member's destination settings (message, plan); an assistant from outside the squad has none of
        # the scenario's, and a reply's own assistant destination carries its plan itself.
        key = step.to if step.to is not None else target if isinstance(target, str) else None
        destination = current.destination(key) if key is not None and self.outside is None else None
        plan = given or (destination.contextEngineeringPlan if destination else ContextPlan())
        label = target.name if isinstance(target, Outside) else target
        self._result(tool_call, name, result or f"Handed off to {label}.", at)
        t = at + 50
        message = destination.message if destination and destination.message else None
        if message:
            t = self.speech.speak(call.render(message, ("handoff",)), t, streamed=False)
        yield from call.flush()
        if isinstance(target, Outside):
            yield from self.switch_outside(target, plan, t + 100)
            return
        if step.via == "transferCall":
            new = self._assistant_of(self.squad[target])
            call.emit(t, TransferUpdate(destination={"type": "assistant", "assistantName": target},
                                        to_assistant=redacted(new), from_assistant=call.context.assistant))
            yield from call.flush()
        yield from self.switch(self.squad[target], plan, t + 100)

    def _ask(self, step: Handoff, arguments: dict[str, Any], at_ms: float) -> Generator[
        Event | Ask, Reply | Waiting | None,
        tuple[float, str | Outside | None, str | None, str | None, ContextPlan | None],
    ]:
        """handoff-destination-request: (when it was answered, the member or outside assistant to hand to
        or None, the tool result, what the member says when it stays, the destination's plan if it gives
        one)."""
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
            return at, None, None, HANDOFF_FAILED_SAY, None
        if isinstance(body.get("error"), str):
            return at, None, body["error"], body["error"], None
        if "destination" not in body:
            call.problem("bad-handoff-destination",
                         f"handoff-destination-request reply has no destination: {body!r:.80}", at)
            return at, None, None, HANDOFF_FAILED_SAY, None
        destination = body["destination"]
        why = destination_failure(destination, self.squad)
        if why is not None:
            call.problem("bad-handoff-destination", f"handoff-destination-request reply: {why}", at)
            return at, None, None, HANDOFF_FAILED_SAY, None
        plan = _plan(destination.get("contextEngineeringPlan"))
        outside = self._outside(destination, at)
        if outside is not None:
            return at, outside, result, None, plan
        if isinstance(destination.get("assistant"), dict) or isinstance(destination.get("assistantId"), str):
            return at, None, None, HANDOFF_FAILED_SAY, None  # an id no saved assistant has: _outside recorded it
        name = destination["assistantName"]
        if name == self.active and self.outside is None:
            return at, None, result, None, None
        return at, name, result, None, plan

    def _outside(self, destination: Mapping[str, Any], at: float) -> Outside | None:
        """The assistant outside the squad a destination names (inline `assistant` first, then
        `assistantId`), or None: it names a squad member, or an id no saved assistant has (a problem)."""
        call = self.call
        inline = destination.get("assistant")
        assistant_id = destination.get("assistantId")
        if isinstance(inline, dict):
            assistant = copy.deepcopy(inline)
            assistant_id = None
        elif isinstance(assistant_id, str):
            stored = self.find_assistant(assistant_id) if self.find_assistant is not None else None
            if stored is None:
                # Without a REST API (simulate(), `mockvapi run`) nothing holds saved assistants either.
                held = "names no assistant" if self.find_assistant is not None else (
                    "cannot be looked up: no REST API holds saved assistants for this call")
                call.problem("assistant-not-found",
                             f"handoff-destination-request reply's assistantId {assistant_id!r} {held}", at)
                return None
            assistant = copy.deepcopy(dict(stored))
        else:
            return None
        overrides = destination.get("assistantOverrides")
        if isinstance(overrides, dict):
            assistant.update({k: v for k, v in overrides.items() if k != "variableValues"})
        name = assistant.get("name")
        return Outside(name if isinstance(name, str) and name else assistant_id or "assistant", assistant,
                       assistant_id)

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
        """`member` takes over the call at `at_ms`, or once a live control's say ends (see `_after_said`)."""
        call = self.call
        at_ms = _after_said(call, at_ms)
        if call.past_deadline(at_ms + 10):
            return  # maxDurationSeconds runs out first: the call ends before the member takes over
        assistant = self._assistant_of(member)
        if self.outside is not None:
            call.assistant_tools = self._member_tools  # the members' tools route again
            self.outside = None
        self.active = member.name
        yield from self._take_over(member.name, assistant, redacted(assistant), member.assistant, member.timing,
                                   plan, at_ms)

    def switch_outside(self, outside: Outside, plan: ContextPlan, at_ms: float) -> Steps:
        """An assistant from outside the squad takes over the call at `at_ms`: it is used as returned (its
        server, tools and subscriptions, Vapi's defaults for what it omits), as assistant-request's is."""
        call = self.call
        at_ms = _after_said(call, at_ms)
        if call.past_deadline(at_ms + 10):
            return
        if self.outside is None:
            self._member_tools = call.assistant_tools
        self.outside = outside
        tools: dict[str, dict[str, Any]] = {}
        model = outside.assistant.get("model")
        for tool in (model.get("tools") if isinstance(model, dict) else None) or []:
            function = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                tools[function["name"]] = tool
        call.assistant_tools = tools
        # The concerns that read the scenario's assistant (templates, the silence timeout) see its name and
        # defaults. Its tools are `assistant_tools`; the scenario's declarations stay only for a tool step it
        # lacks (an unknown-tool problem, as after assistant-request).
        spec = Assistant(name=outside.name, tools=call.scenario.assistant.tools)
        shown = redacted_assistant({k: v for k, v in outside.assistant.items()
                                    if k not in ("serverMessages", "clientMessages")})
        yield from self._take_over(outside.name, outside.assistant, shown, None, self.timing, plan, at_ms, spec)

    def _take_over(self, name: str, assistant: dict[str, Any], shown: dict[str, Any] | None,
                   member: Assistant | None, timing: Timing, plan: ContextPlan, at_ms: float,
                   spec: Assistant | None = None) -> Steps:
        """`assistant` (Vapi's object, secrets included; `shown`: as messages carry it) runs the call from
        `at_ms`; `member`: the scenario's member it is, whose subscriptions apply where it sets none."""
        call = self.call
        call.scenario = call.scenario.model_copy(update={"assistant": member or spec, "timing": timing})
        call.timing = timing  # its voice and model speed from now on
        call.servers["assistant"] = full_server(assistant)
        context = dataclasses.replace(call.context, assistant=shown)
        apply_subscriptions(context, assistant, member)
        if context.assistant is not None:
            for key in ("serverMessages", "clientMessages"):
                context.assistant.pop(key, None)
            # A new object no message carried yet (`_assistant_of`, `redacted`), said anyway: a steady object
            # changed in place (see models.encoding).
            steady_changed()
        call.context = context
        t = int(round(at_ms))
        call.activations.append((name, t))
        call.taking_over_until = t + 20
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


def _after_said(call: CallState, at_ms: float) -> float:
    """A take-over planned at `at_ms` waits for what a live control said meanwhile (a say arriving during the
    handoff is spoken first): its events go out after the say's anyway, and the new member's system
    message must carry that time too, or history would list it before the say's line."""
    return max(at_ms, call.busy_until)


def _plan(value: Any) -> ContextPlan | None:
    """The destination's contextEngineeringPlan as the mock models it (the spec validated it already): all,
    lastNMessages, none; the other plans (userAndAssistantMessages, previousAssistantMessages) keep all."""
    if not isinstance(value, dict):
        return None
    try:
        return ContextPlan.model_validate({k: value[k] for k in ("type", "maxMessages") if k in value})
    except ValidationError:
        return ContextPlan()
