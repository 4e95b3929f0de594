"""The simulator's outputs as sha256 digests: the golden table behind tests/engine/test_split_identity.py.

Every bundled scenario x side x profile x seed, played with its scripted replies, plus a set of driven
calls that reach what the bundled scenarios do not (real replies of every shape to each Ask, live
control messages, REST overrides, lenient templates). Each digest covers the exact JSONL a side
receives (the end-of-call-report, with its artifact and analysis, is in it); a per-call digest covers
the end reason, the problems, the call's repr and what the transports read off the simulation.

The table was written from the code before `engine/simulator.py` was split, so the test proves the
split changed no byte. Regenerate only for an intended change of output, and say so in the commit:

    PYTHONPATH=$PWD python tools/golden_outputs.py   # writes tests/engine/golden/outputs.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mockvapi.engine.context import CallOverrides
from mockvapi.engine.events import Ask, Event, Reply, Waiting
from mockvapi.engine.simulator import CallSimulation, drive, timeline_of
from mockvapi.engine.timeline import Timeline
from mockvapi.library import bundled_names, resolve
from mockvapi.models.messages import Profile, Side
from mockvapi.scenario.loader import load_text

TABLE = Path(__file__).resolve().parents[1] / "tests" / "engine" / "golden" / "outputs.json"
SEEDS = (0, 1, 2024)
SIDES: tuple[Side, ...] = ("server", "client")
PROFILES: tuple[Profile, ...] = ("spec", "realistic")

Answer = Callable[[Ask], "Reply | Waiting | None"]
OnEvent = Callable[[CallSimulation, Event], None]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digests(prefix: str, sim: CallSimulation, timeline: Timeline) -> Iterator[tuple[str, str]]:
    for side in SIDES:
        for profile in PROFILES:
            yield f"{prefix}/{side}/{profile}", _sha(timeline.jsonl(profile=profile, side=side))
    call: dict[str, Any] = {
        "ended": timeline.ended_reason,
        "problems": [str(p) for p in timeline.problems],
        "timeline": repr(timeline),
        "events": [repr(e) for e in timeline.events],
    }
    call.update(
        sim=repr(sim),
        audio=sim.audio_format,
        phone_server=sim.phone_server(),
        tool_results=sim.tool_results,
        started=sim.started_ms,
        ended_ms=sim.ended_ms,
        transcript=sim.transcript(),
    )
    yield f"{prefix}/call", _sha(json.dumps(call, sort_keys=True, default=str))


def _play(
    text: str,
    seed: int,
    answer: Answer | None = None,
    on_event: OnEvent | None = None,
    **options: Any,
) -> tuple[CallSimulation, Timeline]:
    """Drive a call, answering each Ask with `answer(ask)` (None: the scripted reply)."""
    sim = CallSimulation(load_text(text), seed=seed, **options)
    generator = sim.run()
    try:
        item = next(generator)
        while True:
            if isinstance(item, Ask):
                reply = answer(item) if answer is not None else None
                item = generator.send(item.scripted if reply is None else reply)
            else:
                if on_event is not None:
                    on_event(sim, item)
                item = generator.send(None)
    except StopIteration:
        pass
    return sim, timeline_of(sim)


def _tool(body: Callable[[str], Any] | None, status: int | None = 200, latency: float = 0.2,
          error: str | None = None) -> Answer:
    def answer(ask: Ask) -> Reply | None:
        if ask.kind != "tool-calls":
            return None
        call_id = ask.event.message.tool_call_list[0].id  # type: ignore[attr-defined]
        return Reply(status, None if body is None else body(call_id), latency, error=error)

    return answer


def _waiting_then(reply: Callable[[str], Reply]) -> Answer:
    asked: list[bool] = []

    def answer(ask: Ask) -> Reply | Waiting | None:
        if ask.kind != "tool-calls":
            return None
        call_id = ask.event.message.tool_call_list[0].id  # type: ignore[attr-defined]
        if not asked:
            asked.append(True)
            return Waiting(5.0)
        return reply(call_id)

    return answer


def _kind(kind: str, reply: Reply) -> Answer:
    return lambda ask: reply if ask.kind == kind else None


def _controls(*messages: tuple[dict[str, Any], float]) -> OnEvent:
    """Queue each (message, delay) once the first user turn is in history."""
    sent: list[bool] = []

    def on_event(sim: CallSimulation, event: Event) -> None:
        if not sent and event.type == "conversation-update" and sim.history[-1].role == "user":
            sent.append(True)
            for message, delay in messages:
                sim.control(message, event.at + delay)

    return on_event


TOOL_YAML = """
version: 1
name: tool
assistant:
  system: "You book tables."
  server: {url: "http://127.0.0.1:9/hook", secret: "s3cret", timeoutSeconds: 9}
  tools:
    - {name: lookup, parameters: {date: string}}
    - {name: notify, async: true, parameters: {text: string}}
steps:
  - user: "Any slots on Tuesday?"
  - tool: {name: lookup, arguments: {date: tuesday}, result: {slots: ["09:00"]}}
  - assistant: "The first slot is {{ tools.lookup.json.slots[0] }}."
  - tool: {name: notify, arguments: {text: booked}, result: "ok"}
  - assistant: "Done."
"""
EXPECT_YAML = """
version: 1
name: expect
assistant:
  tools: [{name: lookup, parameters: {date: string}}]
steps:
  - user: "Slots?"
  - tool:
      name: lookup
      arguments: {date: tuesday}
      result: "nine"
      expect_reply: {within: 0.1, status: 200, result_contains: "ten", result_equals: "eleven", error: true}
  - assistant: "Okay."
"""
ASSISTANT_REQUEST_YAML = """
version: 1
name: inbound
call:
  type: inboundPhoneCall
  assistant_request: true
  phoneNumber: {number: "+14155550123", server: {url: "http://127.0.0.1:9/phone", secret: "p"}}
assistant:
  firstMessage: "Scripted hello."
  system: "Be brief."
  serverMessages: [status-update, end-of-call-report, conversation-update]
steps:
  - user: "Hi there."
  - assistant: "How can I help?"
"""
TRANSFER_YAML = """
version: 1
name: transfer
steps:
  - user: "Can I talk to a person?"
  - transfer: {}
"""
CONTROL_YAML = """
version: 1
name: control
assistant: {firstMessage: "Hello, this is the desk."}
steps:
  - user: "I have a question."
  - assistant: "Sure, go ahead."
  - user: "Thanks."
"""
WEBSOCKET_YAML = """
version: 1
name: ws
call: {type: vapi.websocketCall, audioFormat: {format: mulaw}}
steps:
  - user: "Hello?"
  - assistant: "Hi."
"""

ASSISTANT = {"firstMessage": "Hello from your server.", "serverMessages": ["status-update", "end-of-call-report"],
             "server": {"url": "http://127.0.0.1:9/other", "secret": "x"}}
TRANSFER_BODY = {"destination": {"type": "number", "number": "+14155550100"},
                 "message": {"type": "request-start", "content": "Connecting you now."}}


def _driven() -> dict[str, Callable[[int], tuple[CallSimulation, Timeline]]]:
    one_result = _tool(lambda cid: {"results": [{"toolCallId": cid, "result": {"slots": ["10:30"]}}]})
    cases: dict[str, Callable[[int], tuple[CallSimulation, Timeline]]] = {
        # An object result is "No result returned." (docs/fidelity.md): the template after it renders empty.
        "tool/object-result": lambda s: _play(TOOL_YAML, s, one_result, lenient_templates=True),
        "tool/error": lambda s: _play(TOOL_YAML, s, _tool(lambda cid: {"results": [{"toolCallId": cid,
                                                                                      "error": "down"}]}),
                                      lenient_templates=True),
        "tool/unknown-id": lambda s: _play(TOOL_YAML, s, _tool(lambda cid: {"results": [{"toolCallId": "x",
                                                                                           "result": "r"}]}),
                                           lenient_templates=True),
        "tool/no-results": lambda s: _play(TOOL_YAML, s, _tool(lambda cid: {"ok": True}), lenient_templates=True),
        "tool/empty-entry": lambda s: _play(TOOL_YAML, s, _tool(lambda cid: {"results": [{"toolCallId": cid}]}),
                                            lenient_templates=True),
        "tool/multiline": lambda s: _play(TOOL_YAML, s, _tool(lambda cid: {"results": [{"toolCallId": cid,
                                                                                          "result": "a\nb"}]}),
                                          lenient_templates=True),
        "tool/500": lambda s: _play(TOOL_YAML, s, _tool(lambda cid: {"error": "x"}, status=500),
                                    lenient_templates=True),
        "tool/timeout": lambda s: _play(TOOL_YAML, s, _tool(None, status=None, latency=9.0, error="timeout"),
                                        lenient_templates=True),
        "tool/refused": lambda s: _play(TOOL_YAML, s, _tool(None, status=None, latency=0.01, error="refused"),
                                        lenient_templates=True),
        "tool/slow": lambda s: _play(TOOL_YAML, s, _tool(lambda cid: {"results": [{"toolCallId": cid,
                                                                                     "result": '{"slots":["x"]}'}]},
                                                         latency=6.5)),
        "tool/waiting": lambda s: _play(TOOL_YAML, s, _waiting_then(
            lambda cid: Reply(200, {"results": [{"toolCallId": cid, "result": '{"slots":["late"]}'}]}, 6.5))),
        "tool/expect": lambda s: _play(EXPECT_YAML, s, _tool(lambda cid: {"results": [{"toolCallId": cid,
                                                                                         "result": "nine"}]},
                                                             latency=0.4)),
        "assistant-request/scripted": lambda s: _play(ASSISTANT_REQUEST_YAML, s),
        "assistant-request/assistant": lambda s: _play(
            ASSISTANT_REQUEST_YAML, s, _kind("assistant-request", Reply(200, {"assistant": ASSISTANT}, 0.3))),
        "assistant-request/assistant-id": lambda s: _play(
            ASSISTANT_REQUEST_YAML, s, _kind("assistant-request", Reply(200, {"assistantId": "asst-1"}, 0.3))),
        "assistant-request/error": lambda s: _play(
            ASSISTANT_REQUEST_YAML, s, _kind("assistant-request", Reply(200, {"error": "We are closed."}, 0.3))),
        "assistant-request/destination": lambda s: _play(
            ASSISTANT_REQUEST_YAML, s,
            _kind("assistant-request", Reply(200, {"destination": {"type": "number", "number": "+1415"}}, 0.3))),
        "assistant-request/timeout": lambda s: _play(
            ASSISTANT_REQUEST_YAML, s, _kind("assistant-request", Reply(None, None, 7.5, error="timeout"))),
        "assistant-request/500": lambda s: _play(
            ASSISTANT_REQUEST_YAML, s, _kind("assistant-request", Reply(500, {"assistant": {}}, 0.2))),
        "assistant-request/empty": lambda s: _play(
            ASSISTANT_REQUEST_YAML, s, _kind("assistant-request", Reply(200, {"other": 1}, 0.2))),
        "transfer/scripted": lambda s: _play(TRANSFER_YAML, s),
        "transfer/destination": lambda s: _play(
            TRANSFER_YAML, s, _kind("transfer-destination-request", Reply(200, TRANSFER_BODY, 0.4))),
        "transfer/none": lambda s: _play(
            TRANSFER_YAML, s, _kind("transfer-destination-request", Reply(200, {}, 0.2))),
        "controls/say-add-first": lambda s: _play(CONTROL_YAML, s, on_event=_controls(
            ({"type": "say", "content": "Hold on."}, 0.0),
            ({"type": "add-message", "message": {"role": "user", "content": "Note this."}}, 0.1),
            ({"type": "add-message", "message": {"role": "system", "content": "Be kind."}}, 0.2),
            ({"type": "add-message", "message": {"role": "user"}}, 0.2),
            ({"type": "control", "control": "say-first-message"}, 3.0),
            ({"type": "say", "message": "   "}, 3.0),
            ({"type": "unknown"}, 3.1),
        )),
        "controls/end-call": lambda s: _play(CONTROL_YAML, s, on_event=_controls(({"type": "end-call"}, 0.5))),
        "controls/say-then-end": lambda s: _play(CONTROL_YAML, s, on_event=_controls(
            ({"type": "say", "content": "Goodbye now.", "endCallAfterSpoken": True}, 0.0))),
        "controls/transfer": lambda s: _play(CONTROL_YAML, s, on_event=_controls(
            ({"type": "transfer", "destination": {"type": "number", "number": "+14155550100"},
              "content": "Transferring you."}, 0.0))),
        "controls/transfer-silent": lambda s: _play(CONTROL_YAML, s, on_event=_controls(
            ({"type": "transfer", "destination": {"type": "sip", "sipUri": "sip:a@b.c"}}, 0.0))),
        "overrides/websocket": lambda s: _play(WEBSOCKET_YAML, s),
        "overrides/rest-call": lambda s: _play(
            CONTROL_YAML, s, call_id="call-fixed", start_ms=1_700_000_000_000,
            overrides=CallOverrides(
                call={"id": "call-rest", "type": "vapi.websocketCall", "status": "queued",
                      "transport": {"provider": "vapi.websocket", "audioFormat": {"format": "pcm_s16le"}},
                      "customer": {"number": "+14155550111"}},
                assistant={"firstMessage": "Override hello.", "clientMessages": ["transcript"]},
            )),
        "overrides/assistant-request": lambda s: _play(
            CONTROL_YAML.replace("steps:", "call: {type: inboundPhoneCall}\nsteps:"), s,
            overrides=CallOverrides(assistant_request=True, phone_number={"number": "+1999", "server": {
                "url": "http://127.0.0.1:9/p", "secret": "q"}})),
    }
    return cases


def outputs() -> dict[str, str]:
    table: dict[str, str] = {}
    for name in bundled_names():
        loaded = resolve(name)
        for seed in SEEDS:
            sim = CallSimulation(loaded, seed=seed)
            table.update(_digests(f"bundled/{name}/{seed}", sim, drive(sim)))
    for case, play in _driven().items():
        for seed in SEEDS:
            sim, timeline = play(seed)
            table.update(_digests(f"driven/{case}/{seed}", sim, timeline))
    return table


def main() -> int:
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(json.dumps(outputs(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
