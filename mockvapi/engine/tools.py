"""Tool calls: the model calls a tool, the call asks the customer's server (tool-calls) and waits, with
`hang` past the threshold; the reply becomes the result in history as Vapi would judge it, and a
step's `expect_reply` is checked against it."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

from mockvapi.engine.context import public_server, server_for, server_wire
from mockvapi.engine.events import Ask, Event, Reply, StepError, Waiting
from mockvapi.engine.state import CallState
from mockvapi.models.messages import (
    Hang,
    ModelOutput,
    ToolCall,
    ToolCallFunction,
    ToolCallMessage,
    ToolCallResultMessage,
    ToolCalls,
    ToolCallsResult,
    compact_json,
)
from mockvapi.scenario.schema import Scenario, ToolStep

__all__ = ["NO_RESULT", "Tools", "tool_definition"]

# What Vapi puts in history when a tool's reply cannot be used.
NO_RESULT = "No result returned."
# Vapi's default tool server timeout, when the server sets no timeoutSeconds.
DEFAULT_TOOL_TIMEOUT = 20.0


def tool_definition(scenario: Scenario, name: str) -> dict[str, Any]:
    """The tool as the assistant's model declares it (and as tool-calls messages describe it)."""
    for tool in scenario.assistant.tools:
        if tool.name == name:
            definition: dict[str, Any] = {"type": "function", "function": {"name": tool.name}}
            if tool.description:
                definition["function"]["description"] = tool.description
            definition["function"]["parameters"] = tool.json_schema()
            if tool.async_:
                definition["async"] = True
            server = tool.server or scenario.assistant.server
            if server is not None and server.url:
                definition["server"] = public_server(server_wire(server.model_dump(exclude_none=True)))
            definition["messages"] = []
            return definition
    raise StepError(("tool", "name"), f"tool {name!r} is not declared in assistant.tools")


class Tools:
    def __init__(self, call: CallState) -> None:
        self.call = call

    def step(self, step: ToolStep) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        """A `tool:` step: the model's tool call, the server's reply (or the scripted one), the result."""
        call = self.call
        definition = self.definition(step.name)
        arguments = call.render(step.arguments, ("tool", "arguments"))
        tool_call = ToolCall(
            id=call.fakes.tool_call_id(), function=ToolCallFunction(name=step.name, arguments=arguments)
        )
        start = call.cursor + call.jitter_ms(call.timing.first_token_latency)
        if call.past_deadline(start + 30):
            return  # the call reaches maxDurationSeconds before the tool is called
        call.emit(start, ModelOutput(turn_id=call.fakes.uuid(), tool_calls=(tool_call,)))
        asked = call.emit(start + 20, ToolCalls(tool_call_list=(tool_call,), tool_definitions=(definition,)))
        call.remember(
            ToolCallMessage(tool_calls=(tool_call,), time=call.epoch_ms(start), seconds_from_start=call.seconds(start)),
            start + 30,
        )
        yield from call.flush()
        server = server_for(call.scenario, call.servers, step.name, call.assistant_tools)
        timeout = float(server.get("timeoutSeconds", DEFAULT_TOOL_TIMEOUT)) if server else DEFAULT_TOOL_TIMEOUT
        hang_after = call.timing.hang_after if step.hang_after is None else step.hang_after
        scripted = self.scripted_reply(step, tool_call.id)
        answer = yield Ask("tool-calls", asked, timeout, hang_after, scripted, server)
        hung = False
        if isinstance(answer, Waiting):
            # The driver saw the threshold pass before any reply: Vapi says `hang` now, then keeps waiting.
            hung = True
            call.emit(asked.at_ms + hang_after * 1000, Hang())
            yield from call.flush()
            answer = yield Ask("tool-calls", asked, timeout, None, scripted, server)
        reply = answer if isinstance(answer, Reply) else scripted
        latency = max(reply.latency, step.latency) if not reply.scripted else reply.latency
        if reply.error == "timeout":
            latency = max(latency, timeout)
        if definition.get("async"):
            latency = min(latency, 0.05)
        elif latency > hang_after and not hung:
            call.emit(asked.at_ms + hang_after * 1000, Hang())
        at = asked.at_ms + latency * 1000
        result = self.result(reply, tool_call, step, at)
        self.check_reply(step, reply, result, latency, at)
        call.emit(
            at,
            ToolCallsResult(tool_call_result={"toolCallId": tool_call.id, "name": step.name, "result": result}),
        )
        call.remember(
            ToolCallResultMessage(
                tool_call_id=tool_call.id,
                name=step.name,
                result=result,
                time=call.epoch_ms(at),
                seconds_from_start=call.seconds(at),
            ),
            at + 10,
        )
        try:
            parsed: Any = json.loads(result)
        except ValueError:
            parsed = None
        call.tool_results[step.name] = {"result": result, "json": parsed, "status": reply.status}
        call.cursor = int(round(at + 50))
        yield from call.flush()

    def definition(self, name: str) -> dict[str, Any]:
        """The tool as the running assistant declares it: the scenario's, or the one of the assistant the
        server returned (without its server's secret)."""
        call = self.call
        tools = call.assistant_tools
        if tools is None:
            return tool_definition(call.scenario, name)
        if name in tools:
            tool = tools[name]
            server = tool.get("server")
            return {**tool, "server": public_server(server)} if isinstance(server, dict) else dict(tool)
        call.problem(
            "unknown-tool",
            f"the assistant the server returned has no tool {name!r}; Vapi's model could not call it "
            "(the scenario's declaration is used)",
            call.cursor,
        )
        return tool_definition(call.scenario, name)

    def scripted_reply(self, step: ToolStep, call_id: str) -> Reply:
        """The reply the scenario scripts for this step (what `simulate()` answers)."""
        render = self.call.render
        entry: dict[str, Any] = {"name": step.name, "toolCallId": call_id}
        if step.error is not None:
            entry["error"] = render(step.error, ("tool", "error"))
        else:
            value = render(step.result, ("tool", "result"))
            entry["result"] = value if isinstance(value, str) else compact_json(value)
        # Any 2xx is an answer (docs/decisions/tool-reply-status.md); other statuses carry a failure body.
        body = {"results": [entry]} if 200 <= step.status < 300 else {"error": "scripted failure"}
        return Reply(step.status, body, step.latency, scripted=True)

    def result(self, reply: Reply, tool_call: ToolCall, step: ToolStep, at: float) -> str:
        """What Vapi puts in history for this reply; problems are recorded the way Vapi would see them."""
        problem = self.call.problem
        if reply.error is not None:
            problem(
                "timeout" if reply.error == "timeout" else "delivery-failed",
                f"tool {step.name!r} got no reply: {reply.error}",
                at,
            )
            return NO_RESULT
        if not reply.ok:
            problem("non-200-reply", f"tool {step.name!r} reply had status {reply.status} (Vapi ignores it)", at)
            return NO_RESULT
        body = reply.body
        results = body.get("results") if isinstance(body, dict) else None
        if results is None and isinstance(body, dict) and isinstance(body.get("error"), str):
            # ServerMessageResponseToolCalls.error: the call as a whole failed; its text is the result.
            return self._single_line(body["error"], step, at)
        if not isinstance(results, list):
            problem("bad-tool-result", f"tool {step.name!r} reply has no `results` list: {body!r:.80}", at)
            return NO_RESULT
        match = next((r for r in results if isinstance(r, dict) and r.get("toolCallId") == tool_call.id), None)
        if match is None:
            ids = [r.get("toolCallId") for r in results if isinstance(r, dict)]
            problem(
                "unknown-tool-call-id",
                f"tool {step.name!r} reply has no result for toolCallId {tool_call.id!r} (got {ids})",
                at,
            )
            return NO_RESULT
        key = "error" if match.get("error") is not None else "result"
        value: Any = match.get(key)
        if value is None:
            problem("bad-tool-result", f"tool {step.name!r} result for {tool_call.id} has neither result nor error", at)
            return NO_RESULT
        if not isinstance(value, str):
            # ToolCallResult.result/error are strings; Vapi's troubleshooting page lists objects and arrays
            # among the shapes that give "No result returned" (docs/fidelity.md).
            problem(
                "bad-tool-result",
                f"tool {step.name!r} {key} is {type(value).__name__}, not a string: {compact_json(value):.60}",
                at,
            )
            return NO_RESULT
        return self._single_line(value, step, at)

    def _single_line(self, text: str, step: ToolStep, at: float) -> str:
        if "\n" in text or "\r" in text:
            self.call.problem(
                "bad-tool-result", f"tool {step.name!r} result is multi-line; Vapi needs a single-line string", at
            )
            return NO_RESULT
        return text

    def check_reply(self, step: ToolStep, reply: Reply, result: str, latency: float, at: float) -> None:
        """The step's `expect_reply`: each unmet expectation is a problem."""
        expect = step.expect_reply
        if expect is None:
            return
        failures = []
        if expect.within is not None and latency > expect.within:
            failures.append(f"reply took {latency:.3f}s, expected within {expect.within:.3f}s")
        if expect.status is not None and reply.status != expect.status:
            failures.append(f"status {reply.status}, expected {expect.status}")
        if expect.result_contains is not None and expect.result_contains not in result:
            failures.append(f"result {result!r:.80} does not contain {expect.result_contains!r}")
        if expect.result_equals is not None:
            wanted = (
                expect.result_equals
                if isinstance(expect.result_equals, str)
                else compact_json(expect.result_equals)
            )
            if result != wanted:
                failures.append(f"result {result!r:.80} != {wanted!r:.80}")
        if expect.error is not None:
            body = reply.body if isinstance(reply.body, dict) else {}
            is_error = any(isinstance(r, dict) and r.get("error") for r in body.get("results") or [])
            if is_error != expect.error:
                failures.append("expected an error result" if expect.error else "expected no error result")
        for failure in failures:
            self.call.problem("expectation", f"tool {step.name!r}: {failure}", at)
