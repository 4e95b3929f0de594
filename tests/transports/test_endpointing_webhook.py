"""call.endpointing.request through a real webhook on 127.0.0.1 (port 0): the server's timeoutSeconds
decides when the user's turn ends; a bad reply is a recorded problem and the call goes on."""

from __future__ import annotations

from aiohttp import web

from mockvapi.conformance import check
from mockvapi.engine.timeline import Timeline
from tests.engine.invariants import check_invariants
from tests.transports.test_webhook import Answer, Hook, Received, hook, play

__all__ = ["hook"]

SCENARIO = """
version: 1
name: ep-hook
seed: 8
call: {type: webCall}
assistant:
  firstMessage: "Hi there."
  server: {url: "URL"}
  startSpeakingPlan: {smartEndpointingPlan: {provider: custom-endpointing-model}}
steps:
  - user: "My number is four four one."
  - assistant: "Thanks."
  - end: customer-ended-call
"""


def gap(timeline: Timeline) -> float:
    """Seconds from the user's speech stop to the assistant's next speech start."""
    updates = [(e.at, e.message) for e in timeline.events if e.type == "speech-update"]
    user_stop = next(at for at, m in updates if getattr(m, "role", "") == "user" and m.status == "stopped")
    return next(at for at, m in updates if at > user_stop and getattr(m, "role", "") == "assistant") - user_stop


def answering(body: object, status: int = 200) -> Answer:
    async def answer(got: Received) -> web.StreamResponse | None:
        if got.type == "call.endpointing.request":
            return web.json_response(body, status=status)
        return None

    return answer


async def test_the_servers_timeout_decides_when_the_assistant_answers(hook: Hook) -> None:
    spec = SCENARIO.replace("URL", hook.url("/hook"))
    hook.answer = answering({"timeoutSeconds": 0.1})
    short = await play(spec)
    requests = [r.message for r in hook.received if r.type == "call.endpointing.request"]
    assert len(requests) == 1 and requests[0]["messages"][-1]["message"] == "My number is four four one."
    assert check(requests[0], "server", "strict") == []
    hook.received.clear()
    hook.answer = answering({"timeoutSeconds": 4})
    long = await play(spec)
    assert gap(long.timeline) - gap(short.timeline) > 3.5
    assert short.problems() == [] and long.problems() == []
    assert check_invariants(long.timeline) == []


async def test_a_bad_reply_is_a_problem_and_the_call_goes_on(hook: Hook) -> None:
    hook.answer = answering({"timeoutSeconds": "soon"})
    played = await play(SCENARIO.replace("URL", hook.url("/hook")))
    assert "endpointing-reply" in played.problems()
    assert played.timeline.ended_reason == "customer-ended-call"
    assert played.bots()[-1] == "Thanks."
